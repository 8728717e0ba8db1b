//! What a resolver knows about the request it serves: who calls, the tenant-scoped data
//! handle, and the collector of personal-data reads. Put into the GraphQL request data by
//! `graphql::execute`; resolvers get it with [`RequestContext::of`].

use entity::PersonalData;
use sea_orm::IdenStatic;
use uuid::Uuid;

use crate::audit::{Actor, Outcome, ReadAudit};
use crate::auth::{Principal, Scope as AuthScope};
use crate::error::{ApiError, ApiResult};
use crate::gdpr::SubjectKeys;
use crate::graphql::loaders::Loaders;
use crate::graphql::page::CursorKey;
use crate::tenancy::TenantHandle;

pub struct RequestContext {
    pub principal: Principal,
    pub tenant: entity::tenant::Model,
    pub ids: crate::graphql::RequestIds,
    pub audit_key: crate::audit::AuditKey,
    /// The operator's checkpoint file (`DOSSIER_AUDIT_CHECKPOINTS`), if any.
    pub audit_checkpoints: Option<std::sync::Arc<std::path::Path>>,
    pub scope: TenantHandle,
    pub reads: ReadAudit,
    pub loaders: Loaders,
    pub cursors: CursorKey,
    pub subject_keys: SubjectKeys,
    /// Set when the request changed its tenant's settings, so the tenant cache forgets it.
    pub tenant_changed: std::sync::atomic::AtomicBool,
    /// Set when the request registered or disabled an identity provider, likewise.
    pub providers_changed: std::sync::atomic::AtomicBool,
    /// The data of a compiled read, as the JSON text the database built
    /// (`engine::compile`): it is the response's data.
    pub compiled: std::sync::Mutex<Option<String>>,
}

impl RequestContext {
    pub fn of<'a>(ctx: &async_graphql::Context<'a>) -> &'a RequestContext {
        // `graphql::execute` is the only way a request reaches the schema, and it always
        // puts the context in; a missing one is a programming error caught by every test.
        ctx.data_unchecked::<std::sync::Arc<RequestContext>>()
    }

    /// The scoped data handle, once the caller holds `scope`.
    pub fn scope_for(&self, scope: AuthScope) -> ApiResult<&TenantHandle> {
        self.principal.require(scope)?;
        Ok(&self.scope)
    }

    pub fn actor(&self) -> Actor {
        Actor {
            actor: self.principal.actor.clone(),
            role: self.principal.role,
            client_id: self.principal.client_id.clone(),
            request_id: self.ids.server.clone(),
            caller_request_id: self.ids.caller.clone(),
            purpose: self.principal.purpose.clone(),
            key: self.audit_key.clone(),
        }
    }

    /// Whether this request may read personal data at all: it needs `pii:read`, and a stated
    /// purpose when its tenant requires one.
    pub fn may_read_personal(&self) -> ApiResult<()> {
        if !self.principal.has(AuthScope::PiiRead) {
            return Err(ApiError::missing_scope(AuthScope::PiiRead));
        }
        if self.tenant.require_purpose && self.principal.purpose.is_none() {
            return Err(ApiError::Forbidden(
                "this tenant requires a purpose for reading personal data: set the token's `purpose` claim or an `X-Purpose` header".into(),
            ));
        }
        Ok(())
    }

    /// The one gate of a lookup by personal data (a filter, an ordering or a search over
    /// personal `fields` of `entity`): refused as `may_read_personal` says, prefixed with
    /// `what` was attempted, and audited as denied; allowed, it is noted before any row is
    /// read, so that a lookup failing on the way is on record too. No personal field: no
    /// lookup.
    pub fn gate_lookup(
        &self,
        entity: &'static str,
        fields: &[&'static str],
        what: &str,
    ) -> ApiResult<()> {
        if fields.is_empty() {
            return Ok(());
        }
        if let Err(refused) = self.may_read_personal() {
            self.reads.note_all(entity, &[], fields, Outcome::Denied);
            return Err(match refused {
                ApiError::Forbidden(why) => ApiError::Forbidden(format!("{what}: {why}")),
                other => other,
            });
        }
        self.reads.note_all(entity, &[], fields, Outcome::Allowed);
        Ok(())
    }

    /// The one gate of every personal-data field: without `pii:read` (or without a purpose
    /// where the tenant requires one) the field is refused, and either way the access is
    /// noted for the request's audit event.
    pub fn personal<E: PersonalData, T>(
        &self,
        column: E::Column,
        id: Uuid,
        value: T,
    ) -> ApiResult<T> {
        debug_assert!(
            E::personal_columns()
                .iter()
                .any(|c| c.as_str() == column.as_str()),
            "{} is not marked as personal data",
            column.as_str()
        );
        self.gate_read(E::GRAPHQL_TYPE, id, column.as_str())?;
        Ok(value)
    }

    /// The gate of one read of personal data, `field` of the row `id` of `entity`: allowed
    /// or refused as `may_read_personal` says, and noted either way. [`Self::personal`] for a
    /// marked column; directly for a field whose value is personal only sometimes (a
    /// segment's filter naming personal fields).
    pub fn gate_read(&self, entity: &'static str, id: Uuid, field: &'static str) -> ApiResult<()> {
        let allowed = self.may_read_personal();
        let outcome = match allowed {
            Ok(()) => Outcome::Allowed,
            Err(_) => Outcome::Denied,
        };
        self.reads.note(entity, id, field, outcome);
        allowed
    }
}
