//! The external identity providers each tenant registered (DESIGN §4): registering and
//! disabling them (audited writes, from the admin mutations and the CLI alike) and finding
//! the one a token names, through a short-lived cache.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use chrono::{SubsecRound, Utc};
use entity::identity_provider::{self, Column};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{
    ColumnTrait, DatabaseConnection, DatabaseTransaction, EntityTrait, QueryFilter, QueryOrder,
};
use uuid::Uuid;

use crate::audit::{self, Action, Actor, NewEvent};
use crate::auth::{Provider, ProviderKeys, Role, Scope, Scopes};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scoped;

/// Registered providers by tenant and issuer, kept briefly so that most tokens cost no
/// lookup. A token naming a provider can be made up by anyone (its signature is checked only
/// once the provider is found), so lookups of unknown pairs are limited for the whole server
/// and kept apart from the registrations found: a stream of made-up tokens costs a bounded
/// number of lookups and evicts no real registration. A change made on this node shows at
/// once — a lookup that raced with it is not kept (the generation moved) — and on other nodes
/// within [`ProviderCache::TTL`].
pub struct ProviderCache {
    found: std::sync::RwLock<HashMap<Pair, (Arc<Provider>, Instant)>>,
    unknown: std::sync::RwLock<HashMap<Pair, Instant>>,
    /// Lookups of pairs not in the cache, for the whole server.
    misses: governor::DefaultDirectRateLimiter,
    generation: std::sync::atomic::AtomicU64,
}

/// A tenant and an issuer.
type Pair = (Uuid, String);

impl Default for ProviderCache {
    fn default() -> Self {
        let per_second =
            std::num::NonZeroU32::new(Self::MISSES_PER_SECOND).unwrap_or(std::num::NonZeroU32::MIN);
        ProviderCache {
            found: Default::default(),
            unknown: Default::default(),
            misses: governor::RateLimiter::direct(governor::Quota::per_second(per_second)),
            generation: Default::default(),
        }
    }
}

impl ProviderCache {
    pub const TTL: Duration = Duration::from_secs(30);
    const UNKNOWN_TTL: Duration = Duration::from_secs(5);
    const MAX_UNKNOWN: usize = 4096;
    /// Lookups of uncached (tenant, issuer) pairs per second, for the whole server.
    const MISSES_PER_SECOND: u32 = 50;

    /// The active provider `tenant` registered for `issuer`: `Ok(None)` when there is none —
    /// or, past the server's lookup rate, when it is not known already.
    pub async fn find(
        &self,
        db: &DatabaseConnection,
        tenant: Uuid,
        issuer: &str,
    ) -> ApiResult<Option<Arc<Provider>>> {
        let key = (tenant, issuer.to_owned());
        if let Some((provider, seen)) = self
            .found
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            && seen.elapsed() < Self::TTL
        {
            return Ok(Some(provider.clone()));
        }
        if self
            .unknown
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(&key)
            .is_some_and(|seen| seen.elapsed() < Self::UNKNOWN_TTL)
        {
            return Ok(None);
        }
        if self.misses.check().is_err() {
            tracing::warn!(%tenant, "identity provider lookups over their rate: token refused");
            return Ok(None);
        }
        let generation = self.generation.load(std::sync::atomic::Ordering::SeqCst);
        let scope = crate::tenancy::for_tenant(db, tenant).await?;
        let row = active(&scope, issuer).await;
        scope.rollback().await?;
        let found = match row? {
            Some(row) => Some(Arc::new(provider(&row)?)),
            None => None,
        };
        if self.generation.load(std::sync::atomic::Ordering::SeqCst) == generation {
            match &found {
                Some(provider) => {
                    let mut cached = self.found.write().unwrap_or_else(|e| e.into_inner());
                    cached.retain(|_, (_, seen)| seen.elapsed() < Self::TTL);
                    cached.insert(key, (provider.clone(), Instant::now()));
                }
                None => {
                    let mut unknown = self.unknown.write().unwrap_or_else(|e| e.into_inner());
                    if unknown.len() >= Self::MAX_UNKNOWN {
                        unknown.retain(|_, seen| seen.elapsed() < Self::UNKNOWN_TTL);
                    }
                    if unknown.len() < Self::MAX_UNKNOWN {
                        unknown.insert(key, Instant::now());
                    }
                }
            }
        }
        Ok(found)
    }

    /// Forgets a tenant's providers (after one was registered or disabled).
    pub fn forget(&self, tenant: Uuid) {
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        self.found
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, _), _| *t != tenant);
        self.unknown
            .write()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(t, _), _| *t != tenant);
    }
}

async fn active<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
    issuer: &str,
) -> ApiResult<Option<identity_provider::Model>> {
    scope
        .one(
            identity_provider::Entity::find()
                .filter(Column::Issuer.eq(issuer))
                .filter(Column::DisabledAt.is_null()),
        )
        .await
}

fn provider(row: &identity_provider::Model) -> ApiResult<Provider> {
    Ok(Provider {
        id: row.id,
        tenant_id: row.tenant_id,
        issuer: row.issuer.clone(),
        keys: ProviderKeys::parse(&row.keys).map_err(ApiError::internal)?,
        roles: parse_roles(&row.roles).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("identity provider {}: roles", row.id))
        })?,
        scopes: Scopes::parse(&row.scopes).ok_or_else(|| {
            ApiError::internal(anyhow::anyhow!("identity provider {}: scopes", row.id))
        })?,
    })
}

fn parse_roles(roles: &str) -> Option<Vec<Role>> {
    roles
        .split(' ')
        .filter(|r| !r.is_empty())
        .map(Role::parse)
        .collect()
}

/// What a registration asks for.
pub struct Registration {
    pub name: String,
    pub issuer: String,
    /// A JWKS document or one PEM public key.
    pub keys: String,
    pub roles: Vec<Role>,
    pub scopes: Vec<String>,
}

/// Registers a provider for the scope's tenant, validated before anything is written, with
/// its `CREATE` event. One active registration per issuer and tenant: `CONFLICT` otherwise.
/// `grantable` bounds the scopes (the registering admin's own, through the API).
pub async fn register<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
    actor: &Actor,
    registration: Registration,
    grantable: Scopes,
) -> ApiResult<identity_provider::Model> {
    crate::validate::required_text("name", &registration.name, 200)?;
    crate::validate::single_line("issuer", &registration.issuer, 500)?;
    if registration.issuer.trim().is_empty() {
        return Err(ApiError::BadUserInput("issuer: must not be empty".into()));
    }
    ProviderKeys::parse(&registration.keys)
        .map_err(|err| ApiError::BadUserInput(format!("keys: {err}")))?;
    if registration.roles.is_empty() {
        return Err(ApiError::BadUserInput(
            "roles: name at least one role its tokens may claim".into(),
        ));
    }
    let mut scopes = Scopes::default();
    for name in &registration.scopes {
        let scope = Scope::parse(name)
            .ok_or_else(|| ApiError::BadUserInput(format!("scopes: unknown scope `{name}`")))?;
        scopes = scopes.with(scope);
    }
    if !scopes.is_subset_of(grantable) {
        return Err(ApiError::Forbidden(
            "scopes: a registration may grant only scopes you hold yourself".into(),
        ));
    }
    if active(scope, &registration.issuer).await?.is_some() {
        return Err(ApiError::Conflict(
            "issuer: this tenant already trusts a provider with this issuer; disable it first"
                .into(),
        ));
    }
    let mut roles: Vec<&str> = registration.roles.iter().map(|r| r.as_str()).collect();
    roles.sort_unstable();
    roles.dedup();
    let row = scope
        .insert(identity_provider::ActiveModel {
            tenant_id: NotSet,
            id: Set(Uuid::now_v7()),
            name: Set(registration.name.trim().to_owned()),
            issuer: Set(registration.issuer.clone()),
            keys: Set(registration.keys.clone()),
            roles: Set(roles.join(" ")),
            scopes: Set(scopes.to_string()),
            created_at: Set(Utc::now().trunc_subsecs(6)),
            created_by: Set(actor.actor.clone()),
            disabled_at: Set(None),
            disabled_by: Set(None),
        })
        .await?;
    audit::append(
        scope,
        actor,
        vec![NewEvent::write(
            Action::Create,
            "IdentityProvider",
            row.id,
            ["issuer", "keys", "name", "roles", "scopes"]
                .map(str::to_owned)
                .to_vec(),
        )],
    )
    .await
    .map_err(audit::unavailable)?;
    Ok(row)
}

/// Disables a provider: its tokens are refused from now on (on other API nodes within the
/// cache's lifetime). `CONFLICT` when it was disabled already.
pub async fn disable<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
    actor: &Actor,
    id: Uuid,
) -> ApiResult<identity_provider::Model> {
    let row = scope.get::<identity_provider::Entity>(id).await?;
    if row.disabled_at.is_some() {
        return Err(ApiError::Conflict(
            "this identity provider was disabled already".into(),
        ));
    }
    let mut model: identity_provider::ActiveModel = row.into();
    model.disabled_at = Set(Some(Utc::now().trunc_subsecs(6)));
    model.disabled_by = Set(Some(actor.actor.clone()));
    let row = scope.update(model).await?;
    audit::append(
        scope,
        actor,
        vec![NewEvent::write(
            Action::Update,
            "IdentityProvider",
            id,
            vec!["disabledAt".into(), "disabledBy".into()],
        )],
    )
    .await
    .map_err(audit::unavailable)?;
    Ok(row)
}

/// The tenant's registrations, newest first.
pub async fn list<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
) -> ApiResult<Vec<identity_provider::Model>> {
    scope
        .all(identity_provider::Entity::find().order_by_desc(Column::CreatedAt))
        .await
}
