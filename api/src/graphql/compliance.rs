//! The compliance officer's rights of the data subject as GraphQL: the subject export
//! (`gdpr:export`), erasure and legal holds (`gdpr:erase`), and the erasure tombstones. The
//! work itself is in [`crate::gdpr`], shared with the retention command.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject, types::Json};
use chrono::{DateTime, SubsecRound, Utc};
use entity::{PersonalData, contact, customer, erasure, legal_hold};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{ColumnTrait, EntityTrait, IdenStatic, QueryFilter, QueryOrder};
use uuid::Uuid;

use crate::audit::{Action, NewEvent, Outcome};
use crate::auth::Scope as AuthScope;
use crate::error::{ApiError, ApiResult, GqlResult};
use crate::gdpr::{self, Via};
use crate::graphql::audit_log::note_oversight;
use crate::graphql::context::RequestContext;
use crate::graphql::engine::dependents::Declarations;
use crate::graphql::page::{self, Ordering, SortKey, SortValue, connection, list_complexity};
use crate::graphql::{owned, record};
use crate::validate;

/// The record an erasure leaves: when, by whom, through which door and why — never who.
#[derive(SimpleObject)]
pub struct Erasure {
    pub id: Uuid,
    /// The erased contact's id; audit events keep naming it.
    pub contact_id: Uuid,
    pub customer_id: Option<Uuid>,
    pub erased_at: DateTime<Utc>,
    pub erased_by: String,
    pub actor_role: String,
    pub reason: String,
    pub via: Via,
}

impl From<erasure::Model> for Erasure {
    fn from(m: erasure::Model) -> Self {
        Erasure {
            id: m.id,
            contact_id: m.contact_id,
            customer_id: m.customer_id,
            erased_at: m.erased_at,
            erased_by: m.erased_by,
            actor_role: m.actor_role,
            reason: m.reason,
            via: Via::parse(&m.via),
        }
    }
}

connection!(ErasureConnection, ErasureEdge, Erasure);

/// What a legal hold covers.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq)]
pub enum LegalHoldEntity {
    Contact,
    Customer,
}

impl LegalHoldEntity {
    fn as_str(self) -> &'static str {
        match self {
            LegalHoldEntity::Contact => "Contact",
            LegalHoldEntity::Customer => "Customer",
        }
    }
}

/// A hold that keeps a contact (or every contact of a customer) from being erased, by
/// request or by retention, until it is released.
#[derive(SimpleObject)]
pub struct LegalHold {
    pub id: Uuid,
    pub entity: LegalHoldEntity,
    pub entity_id: Uuid,
    pub reason: String,
    pub placed_at: DateTime<Utc>,
    pub placed_by: String,
    pub released_at: Option<DateTime<Utc>>,
    pub released_by: Option<String>,
    pub active: bool,
}

impl From<legal_hold::Model> for LegalHold {
    fn from(m: legal_hold::Model) -> Self {
        LegalHold {
            id: m.id,
            entity: if m.entity == "Customer" {
                LegalHoldEntity::Customer
            } else {
                LegalHoldEntity::Contact
            },
            entity_id: m.entity_id,
            reason: m.reason,
            placed_at: m.placed_at,
            placed_by: m.placed_by,
            active: m.released_at.is_none(),
            released_at: m.released_at,
            released_by: m.released_by,
        }
    }
}

#[derive(InputObject)]
pub struct PlaceLegalHoldInput {
    pub entity: LegalHoldEntity,
    pub entity_id: Uuid,
    /// Why (≤ 500 characters), e.g. a case reference.
    pub reason: String,
}

/// The tenant's compliance settings.
#[derive(SimpleObject)]
pub struct ComplianceSettings {
    /// Contacts with no sale and no change for this many months are erased by
    /// `dossier retention run`; `null` keeps them.
    pub retention_months: Option<i32>,
    /// Months audit events are kept; `null` keeps them for good.
    pub audit_retention_months: Option<i32>,
    /// Whether reads of personal data must state their purpose.
    pub require_purpose: bool,
}

impl From<entity::tenant::Model> for ComplianceSettings {
    fn from(t: entity::tenant::Model) -> Self {
        ComplianceSettings {
            retention_months: t.retention_months,
            audit_retention_months: t.audit_retention_months,
            require_purpose: t.require_purpose,
        }
    }
}

/// Only the fields given change; `null` clears a period (keep for good).
#[derive(InputObject, Default)]
pub struct UpdateComplianceSettingsInput {
    /// 1 to 1200.
    pub retention_months: async_graphql::MaybeUndefined<i32>,
    /// 12 to 1200: the audit log records the officers' own accesses too, so those who may
    /// set its retention may not shorten it below a year.
    pub audit_retention_months: async_graphql::MaybeUndefined<i32>,
    pub require_purpose: Option<bool>,
}

fn months(field: &'static str, value: Option<i32>, shortest: i32) -> ApiResult<Option<i32>> {
    match value {
        Some(m) if !(shortest..=1200).contains(&m) => Err(ApiError::BadUserInput(format!(
            "{field}: between {shortest} and 1200 months"
        ))),
        other => Ok(other),
    }
}

#[derive(Default)]
pub struct ComplianceQuery;

#[Object]
impl ComplianceQuery {
    /// Everything held about one person, as one JSON document (GDPR Art. 15 and 20): their
    /// contact record, their customer, the sales linked to them, their consents with history,
    /// legal holds, and every access to their data recorded in the audit log. The export is
    /// itself audited (`EXPORT` of the contact).
    #[graphql(complexity = "crate::graphql::DOCUMENT_COST")]
    async fn export_subject(
        &self,
        ctx: &Context<'_>,
        contact_id: Uuid,
    ) -> GqlResult<Json<serde_json::Value>> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::GdprExport)?;
        if let Err(refused) = rc.may_read_personal() {
            rc.reads.note_access(
                Action::Export,
                "Contact",
                &[contact_id],
                &[],
                Outcome::Denied,
            );
            return Err(refused.into());
        }
        let document = gdpr::subject_export(scope, &Declarations, contact_id, &rc.actor()).await?;
        let fields: Vec<&'static str> = contact::Entity::personal_columns()
            .iter()
            .map(|c| c.as_str())
            .collect();
        rc.reads.note_access(
            Action::Export,
            "Contact",
            &[contact_id],
            &fields,
            Outcome::Allowed,
        );
        Ok(Json(document))
    }

    /// The tombstones of erased people, newest first (`audit:read` or `gdpr:erase`).
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn erasures(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<ErasureConnection> {
        let rc = RequestContext::of(ctx);
        rc.principal
            .require_any(&[AuthScope::AuditRead, AuthScope::GdprErase])?;
        note_oversight(rc, "Erasure");
        let ordering = Ordering::new::<erasure::Entity>(
            vec![SortKey {
                name: "erasedAt",
                expr: Expr::col(erasure::Column::ErasedAt),
                order: Order::Desc,
                value: Box::new(|m: &erasure::Model| SortValue::T(m.erased_at)),
            }],
            Box::new(|m| SortValue::U(m.id)),
        );
        let page = page::fetch_field(
            ctx,
            &rc.scope,
            erasure::Entity::find(),
            &ordering,
            first,
            after.as_deref(),
            page::Lookup::Plain,
        )
        .await?;
        Ok(page.into())
    }

    /// Retention periods and the purpose requirement (`audit:read` or `gdpr:erase`).
    async fn compliance_settings(&self, ctx: &Context<'_>) -> GqlResult<ComplianceSettings> {
        let rc = RequestContext::of(ctx);
        rc.principal
            .require_any(&[AuthScope::AuditRead, AuthScope::GdprErase])?;
        Ok(rc.scope.own_tenant().await?.into())
    }

    /// Legal holds, newest first; only the active ones unless `activeOnly` is false
    /// (`audit:read` or `gdpr:erase`).
    async fn legal_holds(
        &self,
        ctx: &Context<'_>,
        #[graphql(default = true)] active_only: bool,
    ) -> GqlResult<Vec<LegalHold>> {
        let rc = RequestContext::of(ctx);
        rc.principal
            .require_any(&[AuthScope::AuditRead, AuthScope::GdprErase])?;
        note_oversight(rc, "LegalHold");
        let mut select = legal_hold::Entity::find()
            .order_by_desc(legal_hold::Column::PlacedAt)
            .order_by_desc(legal_hold::Column::Id);
        if active_only {
            select = select.filter(legal_hold::Column::ReleasedAt.is_null());
        }
        Ok(rc
            .scope
            .all(select)
            .await?
            .into_iter()
            .map(LegalHold::from)
            .collect())
    }
}

#[derive(Default)]
pub struct ComplianceMutation;

#[Object]
impl ComplianceMutation {
    /// Erases a person (GDPR Art. 17): their contact record and consents are deleted, their
    /// sales stay with the customer without the link to them, and a tombstone records the
    /// erasure. `CONFLICT` while a legal hold covers the contact or its customer.
    async fn erase_contact(
        &self,
        ctx: &Context<'_>,
        contact_id: Uuid,
        reason: String,
    ) -> GqlResult<Erasure> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::GdprErase)?;
        validate::required_text("reason", &reason, 500)?;
        let actor = rc.actor();
        let tombstone = scope
            .write(async |tx| {
                gdpr::erase_contact(
                    tx,
                    &rc.subject_keys,
                    &Declarations,
                    &actor,
                    contact_id,
                    &reason,
                    Via::Api,
                )
                .await
            })
            .await?;
        Ok(tombstone.into())
    }

    /// Sets retention periods and the purpose requirement (`gdpr:erase`). Audited.
    async fn update_compliance_settings(
        &self,
        ctx: &Context<'_>,
        input: UpdateComplianceSettingsInput,
    ) -> GqlResult<ComplianceSettings> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::GdprErase)?;
        let updated = scope
            .write(async |tx| {
                let mut model: entity::tenant::ActiveModel = tx.own_tenant().await?.into();
                let mut changed = Vec::new();
                if let Some(v) = crate::graphql::given(input.retention_months) {
                    changed.push("retentionMonths");
                    model.retention_months = Set(months("retentionMonths", v, 1)?);
                }
                if let Some(v) = crate::graphql::given(input.audit_retention_months) {
                    changed.push("auditRetentionMonths");
                    model.audit_retention_months = Set(months(
                        "auditRetentionMonths",
                        v,
                        crate::audit::MIN_AUDIT_RETENTION_MONTHS as i32,
                    )?);
                }
                if let Some(v) = input.require_purpose {
                    changed.push("requirePurpose");
                    model.require_purpose = Set(v);
                }
                let updated = tx.update_own_tenant(model).await?;
                rc.tenant_changed
                    .store(true, std::sync::atomic::Ordering::Relaxed);
                record(
                    tx,
                    rc,
                    NewEvent::write(Action::Update, "Tenant", tx.tenant_id(), owned(&changed)),
                )
                .await?;
                Ok(updated)
            })
            .await?;
        Ok(updated.into())
    }

    /// Places a legal hold on a contact or a customer.
    async fn place_legal_hold(
        &self,
        ctx: &Context<'_>,
        input: PlaceLegalHoldInput,
    ) -> GqlResult<LegalHold> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::GdprErase)?;
        validate::required_text("reason", &input.reason, 500)?;
        let hold = scope
            .write(async |tx| {
                // Another tenant's row does not exist for the caller.
                match input.entity {
                    LegalHoldEntity::Contact => {
                        tx.get::<contact::Entity>(input.entity_id).await?;
                    }
                    LegalHoldEntity::Customer => {
                        tx.get::<customer::Entity>(input.entity_id).await?;
                    }
                }
                let hold = tx
                    .insert(legal_hold::ActiveModel {
                        tenant_id: NotSet,
                        id: Set(Uuid::now_v7()),
                        entity: Set(input.entity.as_str().to_owned()),
                        entity_id: Set(input.entity_id),
                        reason: Set(input.reason.clone()),
                        placed_at: Set(Utc::now().trunc_subsecs(6)),
                        placed_by: Set(rc.principal.actor.clone()),
                        released_at: Set(None),
                        released_by: Set(None),
                    })
                    .await?;
                record(
                    tx,
                    rc,
                    NewEvent::write(
                        Action::Create,
                        "LegalHold",
                        input.entity_id,
                        owned(&["entity", "entityId", "reason"]),
                    ),
                )
                .await?;
                Ok(hold)
            })
            .await?;
        Ok(hold.into())
    }

    /// Releases a legal hold; `CONFLICT` if it was released already.
    async fn release_legal_hold(&self, ctx: &Context<'_>, id: Uuid) -> GqlResult<LegalHold> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::GdprErase)?;
        let hold = scope
            .write(async |tx| {
                let hold = tx.get::<legal_hold::Entity>(id).await?;
                if hold.released_at.is_some() {
                    return Err(ApiError::Conflict(
                        "this legal hold was released already".into(),
                    ));
                }
                let entity_id = hold.entity_id;
                let mut model: legal_hold::ActiveModel = hold.into();
                model.released_at = Set(Some(Utc::now().trunc_subsecs(6)));
                model.released_by = Set(Some(rc.principal.actor.clone()));
                let released = tx.update(model).await?;
                record(
                    tx,
                    rc,
                    NewEvent::write(
                        Action::Update,
                        "LegalHold",
                        entity_id,
                        owned(&["releasedAt", "releasedBy"]),
                    ),
                )
                .await?;
                Ok(released)
            })
            .await?;
        Ok(hold.into())
    }
}
