//! The audit log as the compliance officer reads it: `auditEvents` and `verifyAuditChain`
//! (scope `audit:read`).

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::audit_event::{self, Column};
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{
    ColumnTrait, Condition, DbBackend, EntityTrait, QueryFilter, QueryOrder, QuerySelect,
};
use uuid::Uuid;

use crate::audit::{self, Action, AuditChainReport, Outcome};
use crate::auth::Scope as AuthScope;
use crate::error::{ApiError, ApiResult, GqlResult};
use crate::graphql::context::RequestContext;
use crate::graphql::filter::{DateTimeFilter, StringFilter};
use crate::graphql::page::{self, Ordering, SortKey, SortValue, connection, list_complexity};

/// One access to personal data, or one write. Never holds the values read or written.
#[derive(SimpleObject)]
pub struct AuditEvent {
    pub id: Uuid,
    /// Position in the tenant's hash chain, from 1.
    pub seq: i64,
    pub at: DateTime<Utc>,
    pub actor: String,
    pub actor_role: String,
    pub client_id: Option<String>,
    /// The server's id of the request.
    pub request_id: String,
    /// The `X-Request-Id` the caller sent, if any (the caller chooses it freely).
    pub caller_request_id: Option<String>,
    pub action: Action,
    /// The GraphQL type of the rows, e.g. `Contact`.
    pub entity: String,
    pub entity_ids: Vec<Uuid>,
    /// GraphQL field names.
    pub fields: Vec<String>,
    pub purpose: Option<String>,
    pub outcome: Outcome,
    pub prev_hash: String,
    pub hash: String,
}

impl From<audit_event::Model> for AuditEvent {
    fn from(m: audit_event::Model) -> Self {
        AuditEvent {
            id: m.id,
            seq: m.seq.unwrap_or_default(),
            at: m.at,
            actor: m.actor,
            actor_role: m.actor_role,
            client_id: m.client_id,
            request_id: m.request_id,
            caller_request_id: m.caller_request_id,
            action: Action::parse(&m.action).unwrap_or(Action::Read),
            entity: m.entity,
            entity_ids: serde_json::from_value(m.entity_ids).unwrap_or_default(),
            fields: serde_json::from_value(m.fields).unwrap_or_default(),
            purpose: m.purpose,
            outcome: Outcome::parse(&m.outcome).unwrap_or(Outcome::Denied),
            prev_hash: m.prev_hash.unwrap_or_default(),
            hash: m.hash.unwrap_or_default(),
        }
    }
}

connection!(AuditEventConnection, AuditEventEdge, AuditEvent);

impl AuditEvent {
    fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "seq": self.seq,
            "at": self.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            "actor": self.actor,
            "actorRole": self.actor_role,
            "clientId": self.client_id,
            "requestId": self.request_id,
            "callerRequestId": self.caller_request_id,
            "action": self.action.as_str(),
            "entity": self.entity,
            "entityIds": self.entity_ids,
            "fields": self.fields,
            "purpose": self.purpose,
            "outcome": self.outcome.as_str(),
            "prevHash": self.prev_hash,
            "hash": self.hash,
        })
    }
}

/// Records that the compliance tooling itself was looked at (a `READ` of `entity`, with no
/// ids), so the officers' own searches leave a trace like everyone else's reads.
pub fn note_oversight(rc: &RequestContext, entity: &'static str) {
    rc.reads
        .note_access(Action::Read, entity, &[], &[], Outcome::Allowed);
}

/// Most events one export holds.
const AUDIT_EXPORT_MAX: u64 = 10_000;

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Default)]
pub enum AuditExportFormat {
    #[default]
    Csv,
    Json,
}

/// A downloadable export of audit events.
#[derive(SimpleObject)]
pub struct AuditExport {
    pub format: AuditExportFormat,
    pub content_type: String,
    pub filename: String,
    /// Events in the export.
    pub count: i32,
    pub content: String,
}

/// RFC 4180 CSV, one event per line; ids and fields joined with spaces. Cells are written by
/// [`crate::csv`]: quoted, and never a formula.
fn audit_csv(events: &[AuditEvent]) -> String {
    let mut out = crate::csv::row([
        "seq",
        "at",
        "actor",
        "actorRole",
        "clientId",
        "requestId",
        "callerRequestId",
        "action",
        "entity",
        "entityIds",
        "fields",
        "purpose",
        "outcome",
        "id",
        "prevHash",
        "hash",
    ]);
    for e in events {
        let ids = e
            .entity_ids
            .iter()
            .map(Uuid::to_string)
            .collect::<Vec<_>>()
            .join(" ");
        out.push_str(&crate::csv::row([
            e.seq.to_string(),
            e.at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
            e.actor.clone(),
            e.actor_role.clone(),
            e.client_id.clone().unwrap_or_default(),
            e.request_id.clone(),
            e.caller_request_id.clone().unwrap_or_default(),
            e.action.as_str().to_owned(),
            e.entity.clone(),
            ids,
            e.fields.join(" "),
            e.purpose.clone().unwrap_or_default(),
            e.outcome.as_str().to_owned(),
            e.id.to_string(),
            e.prev_hash.clone(),
            e.hash.clone(),
        ]));
    }
    out
}

#[derive(InputObject, Clone, Debug, Default)]
pub struct AuditEventFilter {
    pub actor: Option<StringFilter>,
    pub actor_role: Option<StringFilter>,
    pub action: Option<Vec<Action>>,
    pub entity: Option<StringFilter>,
    pub outcome: Option<Outcome>,
    pub request_id: Option<StringFilter>,
    pub caller_request_id: Option<StringFilter>,
    pub client_id: Option<StringFilter>,
    pub purpose: Option<StringFilter>,
    /// Events that name this row (a contact, a customer…) among their ids.
    pub subject_id: Option<Uuid>,
    /// The time range, e.g. `{gte: "2026-01-01T00:00:00Z", lt: "2026-02-01T00:00:00Z"}`.
    pub at: Option<DateTimeFilter>,
}

impl AuditEventFilter {
    fn condition(&self, backend: DbBackend) -> ApiResult<Condition> {
        let mut cond = Condition::all();
        for (filter, column) in [
            (&self.actor, Column::Actor),
            (&self.actor_role, Column::ActorRole),
            (&self.entity, Column::Entity),
            (&self.request_id, Column::RequestId),
            (&self.caller_request_id, Column::CallerRequestId),
            (&self.client_id, Column::ClientId),
            (&self.purpose, Column::Purpose),
        ] {
            if let Some(f) = filter {
                cond = cond.add(f.condition(Expr::col(column))?);
            }
        }
        if let Some(actions) = &self.action {
            cond = cond.add(Column::Action.is_in(actions.iter().map(|a| a.as_str())));
        }
        if let Some(outcome) = self.outcome {
            cond = cond.add(Column::Outcome.eq(outcome.as_str()));
        }
        if let Some(subject) = self.subject_id {
            cond = cond.add(audit::about(backend, subject));
        }
        if let Some(f) = &self.at {
            cond = cond.add(f.condition(Expr::col(Column::At))?);
        }
        Ok(cond)
    }
}

#[derive(Default)]
pub struct AuditQuery;

/// The tenant's sealed events, once every committed one is sealed: the log as the chain
/// holds it, in the chain's order. (What commits after the sealing shows on the next read.)
async fn sealed(
    scope: &crate::tenancy::TenantHandle,
    rc: &RequestContext,
) -> GqlResult<sea_orm::Select<audit_event::Entity>> {
    audit::seal_pending(scope, &rc.audit_key, audit::Lock::Wait).await?;
    Ok(audit_event::Entity::find().filter(Column::Seq.is_not_null()))
}

#[Object]
impl AuditQuery {
    /// The tenant's audit log, newest first.
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn audit_events(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<AuditEventConnection> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::AuditRead)?;
        let mut select = sealed(scope, rc).await?;
        if let Some(f) = &filter {
            select = select.filter(f.condition(scope.backend())?);
        }
        note_oversight(rc, "AuditEvent");
        let ordering = Ordering::new::<audit_event::Entity>(
            vec![SortKey {
                name: "seq",
                expr: Expr::col(Column::Seq),
                order: Order::Desc,
                value: Box::new(|m: &audit_event::Model| SortValue::I(m.seq.unwrap_or_default())),
            }],
            Box::new(|m| SortValue::U(m.id)),
        );
        let page = page::fetch_field(
            ctx,
            scope,
            select,
            &ordering,
            first,
            after.as_deref(),
            page::Lookup::Plain,
        )
        .await?;
        Ok(page.into())
    }

    /// The events matching `filter`, newest first, as one CSV or JSON document to download
    /// (at most 10,000 events: narrow the range for more). The export is itself audited.
    #[graphql(complexity = "crate::graphql::WHOLE_LOG_COST")]
    async fn audit_export(
        &self,
        ctx: &Context<'_>,
        filter: Option<AuditEventFilter>,
        #[graphql(default)] format: AuditExportFormat,
    ) -> GqlResult<AuditExport> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::AuditRead)?;
        let mut select = sealed(scope, rc)
            .await?
            .order_by_desc(Column::Seq)
            .limit(AUDIT_EXPORT_MAX + 1);
        if let Some(f) = &filter {
            select = select.filter(f.condition(scope.backend())?);
        }
        let rows = scope.all(select).await?;
        if rows.len() as u64 > AUDIT_EXPORT_MAX {
            return Err(ApiError::BadUserInput(format!(
                "more than {AUDIT_EXPORT_MAX} events match: narrow the filter (e.g. `at`)"
            ))
            .into());
        }
        let events: Vec<AuditEvent> = rows.into_iter().map(AuditEvent::from).collect();
        rc.reads
            .note_access(Action::Export, "AuditEvent", &[], &[], Outcome::Allowed);
        let stamp = Utc::now().format("%Y%m%dT%H%M%SZ");
        Ok(match format {
            AuditExportFormat::Csv => AuditExport {
                format,
                content_type: "text/csv; charset=utf-8".into(),
                filename: format!("audit-events-{stamp}.csv"),
                count: events.len() as i32,
                content: audit_csv(&events),
            },
            AuditExportFormat::Json => AuditExport {
                format,
                content_type: "application/json".into(),
                filename: format!("audit-events-{stamp}.json"),
                count: events.len() as i32,
                content: serde_json::to_string_pretty(
                    &events.iter().map(AuditEvent::to_json).collect::<Vec<_>>(),
                )
                .map_err(ApiError::internal)?,
            },
        })
    }

    /// Recomputes the tenant's chain — every link, hash and seal — and reports the first
    /// break, if any. It is held against the checkpoints given here (JSON lines printed by
    /// `dossier audit checkpoint`) and those in the server's checkpoint file, which show a log
    /// whose newest events were cut off.
    #[graphql(complexity = "crate::graphql::WHOLE_LOG_COST")]
    async fn verify_audit_chain(
        &self,
        ctx: &Context<'_>,
        checkpoints: Option<Vec<String>>,
    ) -> GqlResult<AuditChainReport> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::AuditRead)?;
        note_oversight(rc, "AuditEvent");
        let key = &rc.audit_key;
        let mut held = Vec::new();
        for line in checkpoints.unwrap_or_default() {
            held.push(
                audit::Checkpoint::parse(&line, key)
                    .map_err(|why| ApiError::BadUserInput(format!("checkpoints: {why}")))?,
            );
        }
        if let Some(path) = &rc.audit_checkpoints {
            // A configured file that is gone is not an empty one: someone removed the
            // evidence the chain is held against.
            let text = match std::fs::read_to_string(path) {
                Ok(text) => text,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
                    return Ok(AuditChainReport {
                        ok: false,
                        reason: Some("the server's checkpoint file is missing".into()),
                        ..Default::default()
                    });
                }
                Err(err) => return Err(ApiError::internal(err).into()),
            };
            match audit::Checkpoint::parse_all(&text, key) {
                Ok(kept) => held.extend(kept),
                Err(why) => {
                    return Ok(AuditChainReport {
                        ok: false,
                        reason: Some(format!("the server's checkpoint file: {why}")),
                        ..Default::default()
                    });
                }
            }
        }
        Ok(audit::verify_chain(scope, key, &held).await?)
    }
}
