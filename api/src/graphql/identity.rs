//! The tenant's external identity providers as GraphQL: list, register, disable. Only a
//! tenant administrator signed in with the operator's own key may touch them — a provider's
//! token never registers another provider — and a registration grants at most the scopes
//! the administrator holds. The work is in [`crate::providers`], shared with the CLI.

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::identity_provider;
use uuid::Uuid;

use crate::auth::{ProviderKeys, Role};
use crate::error::{ApiError, ApiResult, GqlResult};
use crate::graphql::context::RequestContext;
use crate::providers::{self, Registration};
use crate::tenancy::TenantHandle;

/// An identity provider the tenant trusts: tokens its keys sign are accepted for this tenant
/// only, with these roles and at most these scopes.
#[derive(SimpleObject)]
pub struct IdentityProvider {
    pub id: Uuid,
    pub name: String,
    /// The `iss` its tokens carry.
    pub issuer: String,
    /// The `kid`s of its JWKS keys (empty for a single PEM key).
    pub key_ids: Vec<String>,
    pub roles: Vec<Role>,
    pub scopes: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub created_by: String,
    /// Set once disabled: its tokens are refused from then on.
    pub disabled_at: Option<DateTime<Utc>>,
    pub disabled_by: Option<String>,
}

impl From<identity_provider::Model> for IdentityProvider {
    fn from(m: identity_provider::Model) -> Self {
        IdentityProvider {
            key_ids: ProviderKeys::parse(&m.keys)
                .map(|keys| keys.kids())
                .unwrap_or_default(),
            roles: m.roles.split(' ').filter_map(Role::parse).collect(),
            scopes: m
                .scopes
                .split(' ')
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .collect(),
            id: m.id,
            name: m.name,
            issuer: m.issuer,
            created_at: m.created_at,
            created_by: m.created_by,
            disabled_at: m.disabled_at,
            disabled_by: m.disabled_by,
        }
    }
}

#[derive(InputObject)]
pub struct RegisterIdentityProviderInput {
    /// A name for people, e.g. the partner's (≤ 200 characters).
    pub name: String,
    /// The `iss` its tokens carry (≤ 500 characters).
    pub issuer: String,
    /// Its public keys: a JWKS document (`{"keys": […]}`, each key with a `kid`) or one PEM
    /// public key; RS256 or ES256.
    pub keys: String,
    /// The roles its tokens may claim.
    pub roles: Vec<Role>,
    /// The most its tokens may hold, e.g. `["customers:read", "sales:read"]`.
    pub scopes: Vec<String>,
}

/// The handle for managing identity providers: a tenant administrator signed in with the
/// operator's own key.
fn administrator<'a>(ctx: &Context<'a>) -> ApiResult<&'a TenantHandle> {
    let rc = RequestContext::of(ctx);
    // A token narrowed to some scopes is meant for less than this.
    if rc.principal.role != Role::Admin
        || rc.principal.provider.is_some()
        || rc.principal.scopes != Role::Admin.allowed_scopes()
    {
        return Err(ApiError::Forbidden(
            "identity providers are managed by a tenant administrator signed in with the operator's own key, with all of the role's scopes".into(),
        ));
    }
    Ok(&rc.scope)
}

#[derive(Default)]
pub struct IdentityProviderQuery;

#[Object]
impl IdentityProviderQuery {
    /// The identity providers this tenant registered, newest first, disabled ones included.
    async fn identity_providers(&self, ctx: &Context<'_>) -> GqlResult<Vec<IdentityProvider>> {
        let scope = administrator(ctx)?;
        Ok(providers::list(scope)
            .await?
            .into_iter()
            .map(IdentityProvider::from)
            .collect())
    }
}

#[derive(Default)]
pub struct IdentityProviderMutation;

#[Object]
impl IdentityProviderMutation {
    /// Trusts an external identity provider for this tenant. Audited.
    async fn register_identity_provider(
        &self,
        ctx: &Context<'_>,
        input: RegisterIdentityProviderInput,
    ) -> GqlResult<IdentityProvider> {
        let scope = administrator(ctx)?;
        let rc = RequestContext::of(ctx);
        let actor = rc.actor();
        let grantable = rc.principal.scopes;
        let registered = scope
            .write(async |tx| {
                providers::register(
                    tx,
                    &actor,
                    Registration {
                        name: input.name,
                        issuer: input.issuer,
                        keys: input.keys,
                        roles: input.roles,
                        scopes: input.scopes,
                    },
                    grantable,
                )
                .await
            })
            .await?;
        rc.providers_changed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(registered.into())
    }

    /// Stops trusting an identity provider: its tokens are refused from now on. Audited.
    async fn disable_identity_provider(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
    ) -> GqlResult<IdentityProvider> {
        let scope = administrator(ctx)?;
        let rc = RequestContext::of(ctx);
        let actor = rc.actor();
        let disabled = scope
            .write(async |tx| providers::disable(tx, &actor, id).await)
            .await?;
        rc.providers_changed
            .store(true, std::sync::atomic::Ordering::Relaxed);
        Ok(disabled.into())
    }
}
