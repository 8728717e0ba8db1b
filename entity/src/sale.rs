//! `sales`: orders and invoices. They stay when a contact is erased (accounting law).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "sales")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub contact_id: Option<Uuid>,
    /// Order or invoice number.
    pub reference: Option<String>,
    pub sku: String,
    pub quantity: i32,
    /// The amount in ten-thousandths of the currency's unit (fixed scale 4, like SQL Server's
    /// `money`): exact, summable and orderable in SQL on PostgreSQL and SQLite alike, where
    /// SeaORM would store a `Decimal` as a float.
    pub amount_scaled: i64,
    /// ISO 4217.
    pub currency: String,
    pub sold_at: DateTimeUtc,
    pub external_ref: Option<String>,
    pub created_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);
