//! `customer_totals`: what each customer bought, per currency, kept by the database's triggers
//! from `sales` (migration `customer_stats`). Sums are exact as `high · 2^32 + low`.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customer_totals")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub customer_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub currency: String,
    pub sales_count: i64,
    pub total_high: i64,
    pub total_low: i64,
    pub last_purchase_at: Option<DateTimeUtc>,
    /// Spent since `recent_since`; recomputed by the API when the twelve-month window moved.
    pub recent_high: i64,
    pub recent_low: i64,
    pub recent_since: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "(Column::TenantId, Column::CustomerId)",
        to = "(super::customer::Column::TenantId, super::customer::Column::Id)"
    )]
    Customer,
}

impl ActiveModelBehavior for ActiveModel {}

impl crate::TenantOwned for Entity {
    fn tenant_column() -> Column {
        Column::TenantId
    }
    fn id_column() -> Column {
        Column::CustomerId
    }
}
