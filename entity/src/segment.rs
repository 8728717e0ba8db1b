//! `segments`: named, saved filters over a tenant's customers, evaluated live. The filter is
//! kept as the GraphQL value the user gave (JSON).

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "segments")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    pub description: Option<String>,
    /// A `CustomerFilter`, as JSON.
    pub filter: String,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);

impl crate::PersonalData for Entity {
    const GRAPHQL_TYPE: &'static str = "Segment";
    fn personal_columns() -> &'static [Column] {
        &[]
    }
}
