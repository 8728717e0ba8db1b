//! `legal_holds`: a hold on a contact or a customer (litigation, an open investigation) that
//! keeps retention from erasing it and refuses its erasure until released.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "legal_holds")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// `Contact` or `Customer`.
    pub entity: String,
    pub entity_id: Uuid,
    pub reason: String,
    pub placed_at: DateTimeUtc,
    pub placed_by: String,
    pub released_at: Option<DateTimeUtc>,
    pub released_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);
