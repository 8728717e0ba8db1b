//! `processing_purposes`: why the tenant processes personal data (GDPR Art. 30(1)(b)): each
//! purpose with its legal basis, the personal fields it uses and how long it keeps them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "processing_purposes")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// e.g. `marketing_email`; unique per tenant.
    pub name: String,
    pub description: String,
    /// GDPR Art. 6(1) basis, e.g. `LEGITIMATE_INTERESTS`.
    pub legal_basis: String,
    /// JSON array of personal fields as `Type.field` (`Contact.email`).
    pub fields: Json,
    pub retention_months: Option<i32>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);
