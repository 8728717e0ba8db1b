//! `me`: who the caller is, as the server understood their token.

use async_graphql::{Context, Object, SimpleObject};
use uuid::Uuid;

use crate::auth::Role;
use crate::graphql::context::RequestContext;

#[derive(SimpleObject)]
pub struct Principal {
    pub actor: String,
    pub tenant_id: Uuid,
    pub tenant_name: String,
    pub role: Role,
    pub scopes: Vec<String>,
    /// Why personal data is accessed, as the token states it.
    pub purpose: Option<String>,
}

#[derive(Default)]
pub struct MeQuery;

#[Object]
impl MeQuery {
    async fn me(&self, ctx: &Context<'_>) -> Principal {
        let rc = RequestContext::of(ctx);
        let p = &rc.principal;
        Principal {
            actor: p.actor.clone(),
            tenant_id: p.tenant_id,
            tenant_name: rc.tenant.name.clone(),
            role: p.role,
            scopes: p.scopes.iter().map(|s| s.as_str().to_owned()).collect(),
            purpose: p.purpose.clone(),
        }
    }
}
