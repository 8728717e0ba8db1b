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
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "(Column::TenantId, Column::CustomerId)",
        to = "(super::customer::Column::TenantId, super::customer::Column::Id)"
    )]
    Customer,
    /// The person who bought, when known.
    #[sea_orm(
        belongs_to = "super::contact::Entity",
        from = "(Column::TenantId, Column::ContactId)",
        to = "(super::contact::Column::TenantId, super::contact::Column::Id)"
    )]
    Contact,
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl Related<super::contact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contact.def()
    }
}

impl crate::PersonalData for Entity {
    const GRAPHQL_TYPE: &'static str = "Sale";
    fn personal_columns() -> &'static [Column] {
        &[]
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);
