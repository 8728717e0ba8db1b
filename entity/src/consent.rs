//! `consents`: a person's consent (or its withdrawal) to one purpose of processing, one row
//! per change, so the history stays; the newest row per contact and purpose is the current
//! state. Whether and where a person consented is personal data.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "consents")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub contact_id: Uuid,
    /// A processing purpose, e.g. `marketing_email`.
    pub purpose: String,
    /// `true` when granted, `false` when withdrawn or refused.
    pub granted: bool,
    /// GDPR Art. 6(1) basis, e.g. `CONSENT`.
    pub legal_basis: String,
    /// Where the decision was collected, e.g. `web_form:newsletter`.
    pub source: String,
    pub recorded_at: DateTimeUtc,
    /// The actor who recorded it.
    pub recorded_by: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);

impl crate::PersonalData for Entity {
    const GRAPHQL_TYPE: &'static str = "Consent";
    fn personal_columns() -> &'static [Column] {
        &[Column::Granted, Column::Source]
    }
}
