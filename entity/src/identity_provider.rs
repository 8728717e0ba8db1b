//! `identity_providers`: an external identity provider a tenant trusts — its issuer, its
//! public keys (a JWKS document or one PEM key), and the roles and scopes its tokens may
//! carry. Disabled, never deleted.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "identity_providers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// A JWKS document (`{"keys": […]}`) or one PEM public key.
    #[sea_orm(column_type = "Text")]
    pub keys: String,
    /// Space-separated roles its tokens may claim.
    pub roles: String,
    /// Space-separated scopes its tokens may hold.
    pub scopes: String,
    pub created_at: DateTimeUtc,
    pub created_by: String,
    pub disabled_at: Option<DateTimeUtc>,
    pub disabled_by: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);
