//! The audit log as the compliance officer reads it: `auditEvents` and `verifyAuditChain`
//! (scope `audit:read`).

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, Utc};
use entity::audit_event::{self, Column};
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::audit::{self, Action, AuditChainReport, Outcome};
use crate::auth::Scope as AuthScope;
use crate::context::RequestContext;
use crate::error::{ApiResult, GqlResult};
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
    pub request_id: String,
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
            seq: m.seq,
            at: m.at,
            actor: m.actor,
            actor_role: m.actor_role,
            client_id: m.client_id,
            request_id: m.request_id,
            action: Action::parse(&m.action).unwrap_or(Action::Read),
            entity: m.entity,
            entity_ids: serde_json::from_value(m.entity_ids).unwrap_or_default(),
            fields: serde_json::from_value(m.fields).unwrap_or_default(),
            purpose: m.purpose,
            outcome: Outcome::parse(&m.outcome).unwrap_or(Outcome::Denied),
            prev_hash: m.prev_hash,
            hash: m.hash,
        }
    }
}

connection!(AuditEventConnection, AuditEventEdge, AuditEvent);

#[derive(InputObject, Clone, Debug, Default)]
pub struct AuditEventFilter {
    pub actor: Option<StringFilter>,
    pub actor_role: Option<StringFilter>,
    pub action: Option<Vec<Action>>,
    pub entity: Option<StringFilter>,
    pub outcome: Option<Outcome>,
    pub request_id: Option<StringFilter>,
    pub at: Option<DateTimeFilter>,
}

impl AuditEventFilter {
    fn condition(&self) -> ApiResult<Condition> {
        let mut cond = Condition::all();
        for (filter, column) in [
            (&self.actor, Column::Actor),
            (&self.actor_role, Column::ActorRole),
            (&self.entity, Column::Entity),
            (&self.request_id, Column::RequestId),
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
        if let Some(f) = &self.at {
            cond = cond.add(f.condition(Expr::col(Column::At))?);
        }
        Ok(cond)
    }
}

#[derive(Default)]
pub struct AuditQuery;

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
        let mut select = audit_event::Entity::find();
        if let Some(f) = &filter {
            select = select.filter(f.condition()?);
        }
        let ordering = Ordering::new::<audit_event::Entity>(
            vec![SortKey {
                name: "seq",
                expr: Expr::col(Column::Seq),
                order: Order::Desc,
                value: |m: &audit_event::Model| SortValue::I(m.seq),
            }],
            |m| SortValue::U(m.id),
        );
        let page = page::fetch(
            scope,
            &rc.cursors,
            select,
            &ordering,
            page::page_size(first)?,
            after.as_deref(),
            page::wants_total(ctx),
        )
        .await?;
        Ok(page.into())
    }

    /// Recomputes the tenant's hash chain and reports the first broken link, if any.
    async fn verify_audit_chain(&self, ctx: &Context<'_>) -> GqlResult<AuditChainReport> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::AuditRead)?;
        Ok(audit::verify_chain(scope).await?)
    }
}
