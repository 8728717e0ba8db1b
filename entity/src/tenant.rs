//! `tenants`: one row per company using Dossier; every other row belongs to one of them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "tenants")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    #[sea_orm(unique)]
    pub slug: String,
    /// Months after which contacts with no activity are erased; `None` keeps them.
    pub retention_months: Option<i32>,
    pub default_currency: String,
    pub created_at: DateTimeUtc,
    /// Months audit events are kept; `None` keeps them for good.
    pub audit_retention_months: Option<i32>,
    /// Whether a read of personal data must state its purpose (token claim or `X-Purpose`).
    pub require_purpose: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}
