//! The audit recorder: events, the per-tenant keyed hash chain, checkpoints, and
//! verification.
//!
//! DESIGN §5.3–5.4. An event names the actor, the entity, the row ids and the field names —
//! never the values. Writes append their event in the savepoint of the write itself; reads
//! of personal fields are collected per request by [`ReadAudit`] and appended, one event per
//! entity type and outcome, before the request's transaction commits and before the response
//! leaves (see `graphql::execute`).
//!
//! Tamper evidence, also against the database's administrator: each event carries the hash
//! of the previous event of its tenant, and a *seal* — an HMAC of its hash under the audit
//! key ([`AuditKey`]), which the API holds and the database never does. Editing a row breaks
//! its hash; deleting one breaks the link after it; re-hashing the chain after either breaks
//! the seals. What a keyed chain alone cannot show — that its newest events were cut off — a
//! [`Checkpoint`] kept outside the database shows: a signed note of the head at some moment.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Mutex;

use chrono::{DateTime, SubsecRound, Utc};
use entity::{audit_anchor, audit_event};
use hmac::{Hmac, Mac};
use sea_orm::{
    ActiveValue::Set, ConnectionTrait, DatabaseTransaction, DbBackend, EntityTrait, QueryFilter,
    QueryOrder, QuerySelect, Statement,
};
use sha2::{Digest, Sha256};
use std::borrow::Borrow;
use uuid::Uuid;

use crate::auth::Role;
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scoped;

/// The hash that the first event of a tenant points back to.
pub const GENESIS_HASH: &str = "0000000000000000000000000000000000000000000000000000000000000000";

/// What an audit event records.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, async_graphql::Enum)]
#[graphql(name = "AuditAction")]
pub enum Action {
    Read,
    Create,
    Update,
    Delete,
    Export,
    Erase,
}

/// Whether the access was granted or refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, async_graphql::Enum)]
#[graphql(name = "AuditOutcome")]
pub enum Outcome {
    Allowed,
    Denied,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Read => "READ",
            Action::Create => "CREATE",
            Action::Update => "UPDATE",
            Action::Delete => "DELETE",
            Action::Export => "EXPORT",
            Action::Erase => "ERASE",
        }
    }
    pub fn parse(value: &str) -> Option<Action> {
        [
            Action::Read,
            Action::Create,
            Action::Update,
            Action::Delete,
            Action::Export,
            Action::Erase,
        ]
        .into_iter()
        .find(|a| a.as_str() == value)
    }
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Allowed => "ALLOWED",
            Outcome::Denied => "DENIED",
        }
    }
    pub fn parse(value: &str) -> Option<Outcome> {
        [Outcome::Allowed, Outcome::Denied]
            .into_iter()
            .find(|o| o.as_str() == value)
    }
}

/// The key that seals the audit log (HMAC-SHA256). It comes from the environment or a key
/// file, never from the database, so that whoever administers the database cannot forge a
/// seal. Cheap to clone.
#[derive(Clone)]
pub struct AuditKey(std::sync::Arc<Hmac<Sha256>>);

impl std::fmt::Debug for AuditKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AuditKey(…)")
    }
}

/// The fewest bytes an audit key may have.
pub const MIN_AUDIT_KEY_BYTES: usize = 32;

impl AuditKey {
    pub fn new(raw: &[u8]) -> anyhow::Result<AuditKey> {
        anyhow::ensure!(
            raw.len() >= MIN_AUDIT_KEY_BYTES,
            "the audit key must be at least {MIN_AUDIT_KEY_BYTES} bytes"
        );
        let mac = <Hmac<Sha256> as Mac>::new_from_slice(raw)?;
        Ok(AuditKey(std::sync::Arc::new(mac)))
    }

    /// HMAC over `parts`, each length-prefixed so that no two part lists collide.
    fn mac(&self, domain: &str, parts: &[&[u8]]) -> String {
        let mut mac = (*self.0).clone();
        mac.update(domain.as_bytes());
        for part in parts {
            mac.update(&(part.len() as u64).to_be_bytes());
            mac.update(part);
        }
        hex(&mac.finalize().into_bytes())
    }

    fn seal_event(&self, event: &audit_event::Model) -> String {
        self.mac(
            "dossier audit event v1",
            &[
                event.tenant_id.as_bytes(),
                event.hash.as_deref().unwrap_or_default().as_bytes(),
            ],
        )
    }

    /// The HMAC of an event's content alone — its hash with no position and no link — which
    /// it carries from its insert until it is sealed.
    fn mark_event(&self, event: &audit_event::Model) -> String {
        let content = audit_event::Model {
            seq: None,
            prev_hash: None,
            hash: None,
            seal: None,
            mark: None,
            ..event.clone()
        };
        self.mac(
            "dossier audit record v1",
            &[event.tenant_id.as_bytes(), event_hash(&content).as_bytes()],
        )
    }

    fn seal_anchor(&self, anchor: &audit_anchor::Model) -> String {
        self.mac(
            "dossier audit anchor v1",
            &[
                anchor.tenant_id.as_bytes(),
                anchor.id.as_bytes(),
                &anchor.seq.to_be_bytes(),
                anchor.hash.as_bytes(),
                format_at(anchor.last_at).as_bytes(),
                format_at(anchor.pruned_at).as_bytes(),
                anchor.pruned_by.as_bytes(),
            ],
        )
    }

    fn sign_checkpoint(&self, tenant: Uuid, seq: i64, hash: &str, at: &str) -> String {
        self.mac(
            "dossier audit checkpoint v1",
            &[
                tenant.as_bytes(),
                &seq.to_be_bytes(),
                hash.as_bytes(),
                at.as_bytes(),
            ],
        )
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Who acts, for every event of a request, and the key their events are sealed with.
#[derive(Debug, Clone)]
pub struct Actor {
    pub actor: String,
    pub role: Role,
    pub client_id: Option<String>,
    /// The server's id of the request.
    pub request_id: String,
    /// The `X-Request-Id` the caller sent, kept beside the server's id.
    pub caller_request_id: Option<String>,
    pub purpose: Option<String>,
    pub key: AuditKey,
}

/// An event before it has its place in the chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewEvent {
    pub action: Action,
    /// The GraphQL type name, e.g. `Contact`.
    pub entity: &'static str,
    pub entity_ids: Vec<Uuid>,
    /// GraphQL field names, sorted.
    pub fields: Vec<String>,
    pub outcome: Outcome,
}

impl NewEvent {
    pub fn write(action: Action, entity: &'static str, id: Uuid, fields: Vec<String>) -> NewEvent {
        NewEvent {
            action,
            entity,
            entity_ids: vec![id],
            fields,
            outcome: Outcome::Allowed,
        }
    }
}

/// Appends events to the tenant's log, inside the caller's transaction or savepoint, so that
/// they commit or roll back with what they record. On PostgreSQL they are written unsealed and
/// the [`Sealer`] seals them once committed; SQLite, with its one writer, seals them here.
pub async fn append<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
    actor: &Actor,
    events: Vec<NewEvent>,
) -> ApiResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let at = Utc::now().trunc_subsecs(6);
    let mut rows: Vec<audit_event::Model> = events
        .into_iter()
        .map(|event| record(scope.tenant_id(), actor, event, at))
        .collect();
    if scope.backend() != DbBackend::Postgres {
        let head = head(scope).await?;
        link(&mut rows, head, &actor.key);
    }
    scope
        .insert_many(rows.into_iter().map(active).collect())
        .await
}

/// An event as written: its content and mark, not yet in the chain.
fn record(tenant: Uuid, actor: &Actor, event: NewEvent, at: DateTime<Utc>) -> audit_event::Model {
    let mut model = audit_event::Model {
        tenant_id: tenant,
        id: Uuid::now_v7(),
        seq: None,
        at,
        actor: actor.actor.clone(),
        actor_role: actor.role.as_str().to_owned(),
        client_id: actor.client_id.clone(),
        request_id: actor.request_id.clone(),
        caller_request_id: actor.caller_request_id.clone(),
        action: event.action.as_str().to_owned(),
        entity: event.entity.to_owned(),
        entity_ids: serde_json::json!(event.entity_ids),
        fields: serde_json::json!(event.fields),
        purpose: actor.purpose.clone(),
        outcome: event.outcome.as_str().to_owned(),
        prev_hash: None,
        hash: None,
        seal: None,
        mark: None,
    };
    model.mark = Some(actor.key.mark_event(&model));
    model
}

/// Gives `events` their places after `head`: position, link, hash and seal.
fn link(events: &mut [audit_event::Model], head: (i64, String), key: &AuditKey) {
    let (mut seq, mut prev_hash) = head;
    for event in events {
        seq += 1;
        event.seq = Some(seq);
        event.prev_hash = Some(prev_hash);
        let hash = event_hash(event);
        event.hash = Some(hash.clone());
        event.seal = Some(key.seal_event(event));
        prev_hash = hash;
    }
}

/// Where the next event goes: after the newest sealed event, or — once retention pruned every
/// sealed one — after the anchor the pruning left, or at the genesis.
async fn head<C: Borrow<DatabaseTransaction>>(scope: &Scoped<C>) -> ApiResult<(i64, String)> {
    Ok(match chain_head(scope).await? {
        Some(head) => head,
        None => match latest_anchor(scope).await? {
            Some(anchor) => (anchor.seq, anchor.hash),
            None => (0, GENESIS_HASH.to_owned()),
        },
    })
}

/// The position and hash of the tenant's newest sealed event. On PostgreSQL this also takes
/// the tenant's chain lock, held until commit, so that two sealers cannot link to the same
/// head (the unique (tenant_id, seq) index would refuse a fork anyway); the migration that
/// creates `audit_chain_head` says why it is a function. SQLite has one writer: appends cannot
/// interleave there.
async fn chain_head<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
) -> ApiResult<Option<(i64, String)>> {
    use sea_orm::ColumnTrait;
    if scope.backend() == DbBackend::Postgres {
        let head = scope
            .conn()
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT head_seq, head_hash FROM audit_chain_head($1)",
                [scope.tenant_id().into()],
            ))
            .await?;
        return Ok(match head {
            Some(row) => Some((row.try_get_by_index(0)?, row.try_get_by_index(1)?)),
            None => None,
        });
    }
    let head = scope
        .one(
            audit_event::Entity::find()
                .filter(audit_event::Column::Seq.is_not_null())
                .order_by_desc(audit_event::Column::Seq)
                .limit(1),
        )
        .await?;
    Ok(head.and_then(|head| Some((head.seq?, head.hash?))))
}

/// Appends one request's events in a transaction of their own on `db`: for a request whose
/// own transaction cannot hold them (a query that ran on one of SQLite's read connections).
/// Returns once they are committed.
pub async fn append_alone(
    db: &sea_orm::DatabaseConnection,
    tenant: Uuid,
    actor: &Actor,
    events: Vec<NewEvent>,
) -> ApiResult<()> {
    if events.is_empty() {
        return Ok(());
    }
    let txn = sea_orm::TransactionTrait::begin(db).await?;
    let scope = crate::tenancy::within(&txn, tenant).await?;
    append(&scope, actor, events).await.map_err(unavailable)?;
    txn.commit().await?;
    Ok(())
}

/// Whether a sealing pass waits for the tenant's chain lock, and how much it seals.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Lock {
    /// Everything due, waiting for the lock: what readers of the chain do first.
    Wait,
    /// One batch, and only if nobody holds the lock: the sealer's pass, which comes back for
    /// the rest (so that one tenant's backlog does not hold up the others').
    IfFree,
}

/// What one sealing pass did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Sealed {
    /// When the oldest event it sealed was written.
    pub oldest: Option<DateTime<Utc>>,
    /// The chain lock was held by someone else: nothing was done.
    pub busy: bool,
    /// More events were due than one pass seals.
    pub more: bool,
}

/// Whether an unsealed event may join the chain: its mark verifies (the API wrote it, with
/// the audit key), and it is younger than everything retention pruned (an old event copied
/// back in would otherwise come back to life at the chain's head).
fn sealable(event: &audit_event::Model, key: &AuditKey, pruned: Option<DateTime<Utc>>) -> bool {
    event.mark.as_deref() == Some(key.mark_event(event).as_str())
        && pruned.is_none_or(|last_at| event.at > last_at)
}

/// Seals the tenant's committed, unsealed events (PostgreSQL; SQLite seals on append), oldest
/// first, in the caller's transaction: it holds the tenant's chain lock until it ends. An event
/// that is not [`sealable`] stays out of the chain, and verification reports it. Readers of the
/// chain (verification, checkpoints, the audit log, exports, retention) call this first.
pub async fn seal_pending<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
    key: &AuditKey,
    lock: Lock,
) -> ApiResult<Sealed> {
    const BATCH: u64 = 2000;
    let mut sealed = Sealed::default();
    if scope.backend() != DbBackend::Postgres {
        return Ok(sealed);
    }
    if lock == Lock::IfFree {
        let free = scope
            .conn()
            .query_one_raw(Statement::from_sql_and_values(
                DbBackend::Postgres,
                "SELECT pg_try_advisory_xact_lock(hashtextextended($1::text, 7))",
                [scope.tenant_id().to_string().into()],
            ))
            .await?
            .map(|row| row.try_get_by_index::<bool>(0))
            .transpose()?
            .unwrap_or(false);
        if !free {
            sealed.busy = true;
            return Ok(sealed);
        }
    }
    // Takes the lock when it is not held yet; immediate when it is.
    let mut head = head(scope).await?;
    let pruned = latest_anchor(scope).await?.map(|anchor| anchor.last_at);
    let mut after = None;
    loop {
        let mut batch = scope.all(unsealed_page(after, BATCH)).await?;
        let full = batch.len() as u64 == BATCH;
        after = batch.last().map(|event| (event.at, event.id));
        let before = batch.len();
        batch.retain(|event| sealable(event, key, pruned));
        if batch.len() < before {
            tracing::error!(
                tenant = %scope.tenant_id(),
                refused = before - batch.len(),
                "unsealed audit events the API did not write were left out of the chain"
            );
        }
        if let Some(last) = batch.len().checked_sub(1) {
            sealed.oldest = sealed.oldest.or(Some(batch[0].at));
            link(&mut batch, head, key);
            let seals: Vec<serde_json::Value> = batch
                .iter()
                .map(|event| {
                    serde_json::json!({
                        "id": event.id,
                        "seq": event.seq,
                        "prev_hash": event.prev_hash,
                        "hash": event.hash,
                        "seal": event.seal,
                    })
                })
                .collect();
            let written = scope
                .conn()
                .query_one_raw(Statement::from_sql_and_values(
                    DbBackend::Postgres,
                    "SELECT audit_seal($1::jsonb)",
                    [serde_json::Value::Array(seals).into()],
                ))
                .await?
                .map(|row| row.try_get_by_index::<i64>(0))
                .transpose()?
                .unwrap_or(0);
            if written != batch.len() as i64 {
                return Err(ApiError::internal(anyhow::anyhow!(
                    "sealing wrote {written} of {} audit events",
                    batch.len()
                )));
            }
            head = (
                batch[last].seq.unwrap_or_default(),
                batch[last].hash.clone().unwrap_or_default(),
            );
        }
        if !full {
            return Ok(sealed);
        }
        if lock == Lock::IfFree {
            sealed.more = true;
            return Ok(sealed);
        }
    }
}

/// The tenant's unsealed events, oldest first (the order they are sealed in), `limit` of them
/// after the event `after` (its time and id).
fn unsealed_page(
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: u64,
) -> sea_orm::Select<audit_event::Entity> {
    use sea_orm::ColumnTrait;
    use sea_orm::sea_query::{Condition, Expr, ExprTrait};
    let mut select = audit_event::Entity::find()
        .filter(audit_event::Column::Seq.is_null())
        .order_by_asc(audit_event::Column::At)
        .order_by_asc(audit_event::Column::Id)
        .limit(limit);
    if let Some((at, id)) = after {
        select = select.filter(
            Condition::any().add(audit_event::Column::At.gt(at)).add(
                Expr::col(audit_event::Column::At)
                    .eq(at)
                    .and(Expr::col(audit_event::Column::Id).gt(id)),
            ),
        );
    }
    select
}

/// Seals each tenant's events within a second of their commit (PostgreSQL). Requests that
/// committed events [`touch`](Sealer::touch) their tenant; every second the sealer also picks
/// up every tenant with unsealed events (`audit_unsealed_tenants()`), so that events a stopped
/// or crashed server — or another server process — left unsealed are sealed too. Each
/// tenant is sealed in a transaction of its own, a batch at a time, several tenants at once. A
/// tenant whose chain lock is held (a reader sealing first) is left to that holder and tried
/// again on the next pass, so no tenant waits for another (invariant 9).
#[derive(Clone)]
pub struct Sealer {
    touched: std::sync::Arc<Mutex<std::collections::HashSet<Uuid>>>,
    wake: std::sync::Arc<tokio::sync::Notify>,
}

impl Sealer {
    /// How long a pass waits after the first touch, so that one pass seals many requests'
    /// events.
    const GATHER: std::time::Duration = std::time::Duration::from_millis(50);
    /// How often every tenant's unsealed events are looked for.
    const SWEEP: std::time::Duration = std::time::Duration::from_secs(1);
    /// Most tenants sealed at once: each holds a pooled connection.
    const MAX_TENANTS: usize = 4;
    /// Passes a tenant may find its chain lock held before it is reported (about a second).
    const BUSY_REPORTED: u32 = 20;

    /// Starts the sealing task on the current runtime; each pass's lag goes to `lag`.
    pub fn start(
        db: sea_orm::DatabaseConnection,
        key: AuditKey,
        lag: std::sync::Arc<crate::metrics::SealLag>,
    ) -> Sealer {
        let sealer = Sealer {
            touched: Default::default(),
            wake: Default::default(),
        };
        tokio::spawn(sealer.clone().run(db, key, lag));
        sealer
    }

    /// The tenant has committed events to seal.
    pub fn touch(&self, tenant: Uuid) {
        let first = {
            let mut touched = self.touched.lock().unwrap_or_else(|e| e.into_inner());
            touched.insert(tenant) && touched.len() == 1
        };
        if first {
            self.wake.notify_one();
        }
    }

    async fn run(
        self,
        db: sea_orm::DatabaseConnection,
        key: AuditKey,
        lag: std::sync::Arc<crate::metrics::SealLag>,
    ) {
        use futures_util::StreamExt;
        let mut sweep = tokio::time::interval(Self::SWEEP);
        sweep.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut busy: std::collections::HashMap<Uuid, u32> = Default::default();
        loop {
            tokio::select! {
                () = self.wake.notified() => tokio::time::sleep(Self::GATHER).await,
                _ = sweep.tick() => match pending_tenants(&db).await {
                    Ok(tenants) => tenants.into_iter().for_each(|tenant| self.touch(tenant)),
                    Err(err) => tracing::error!(error = %err, "reading the tenants with audit events to seal failed"),
                },
            }
            let tenants: Vec<Uuid> =
                std::mem::take(&mut *self.touched.lock().unwrap_or_else(|e| e.into_inner()))
                    .into_iter()
                    .collect();
            let passes: Vec<(Uuid, anyhow::Result<Sealed>)> = futures_util::stream::iter(tenants)
                .map(|tenant| {
                    let (db, key) = (db.clone(), key.clone());
                    async move { (tenant, seal_tenant(&db, tenant, &key).await) }
                })
                .buffer_unordered(Self::MAX_TENANTS)
                .collect()
                .await;
            for (tenant, pass) in passes {
                match pass {
                    Ok(sealed) if sealed.busy => {
                        let passes = busy.entry(tenant).or_default();
                        *passes += 1;
                        if passes.is_multiple_of(Self::BUSY_REPORTED) {
                            tracing::warn!(%tenant, passes, "a tenant's audit chain lock stays held: its events wait to be sealed");
                        }
                    }
                    Ok(sealed) => {
                        busy.remove(&tenant);
                        if let Some(oldest) = sealed.oldest {
                            lag.observe((Utc::now() - oldest).to_std().unwrap_or_default());
                        }
                        if !sealed.more {
                            continue;
                        }
                    }
                    Err(err) => {
                        tracing::error!(error = %format!("{err:#}"), %tenant, "audit sealing failed");
                    }
                }
                self.touch(tenant);
            }
        }
    }
}

/// The tenants with unsealed events: ids only, found across tenants by the owner's function.
async fn pending_tenants(db: &sea_orm::DatabaseConnection) -> Result<Vec<Uuid>, sea_orm::DbErr> {
    let rows = db
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT audit_unsealed_tenants()",
        ))
        .await?;
    rows.iter().map(|row| row.try_get_by_index(0)).collect()
}

/// One pass of the sealer over one tenant, in a transaction of its own.
async fn seal_tenant(
    db: &sea_orm::DatabaseConnection,
    tenant: Uuid,
    key: &AuditKey,
) -> anyhow::Result<Sealed> {
    let txn = sea_orm::TransactionTrait::begin(db).await?;
    let scope = crate::tenancy::within(&txn, tenant).await?;
    let sealed = seal_pending(&scope, key, Lock::IfFree)
        .await
        .map_err(|err| anyhow::anyhow!("{err:?}"))?;
    txn.commit().await?;
    Ok(sealed)
}

fn active(model: audit_event::Model) -> audit_event::ActiveModel {
    audit_event::ActiveModel {
        tenant_id: Set(model.tenant_id),
        id: Set(model.id),
        seq: Set(model.seq),
        at: Set(model.at),
        actor: Set(model.actor),
        actor_role: Set(model.actor_role),
        client_id: Set(model.client_id),
        request_id: Set(model.request_id),
        caller_request_id: Set(model.caller_request_id),
        action: Set(model.action),
        entity: Set(model.entity),
        entity_ids: Set(model.entity_ids),
        fields: Set(model.fields),
        purpose: Set(model.purpose),
        outcome: Set(model.outcome),
        prev_hash: Set(model.prev_hash),
        hash: Set(model.hash),
        seal: Set(model.seal),
        mark: Set(model.mark),
    }
}

/// SHA-256 over a canonical JSON array of every column but the hash and the seal. The
/// caller's request id joins the array only when there is one, so that events written before
/// it existed keep their hash.
pub fn event_hash(event: &audit_event::Model) -> String {
    let mut canonical = serde_json::json!([
        event.tenant_id,
        event.id,
        event.seq,
        format_at(event.at),
        event.actor,
        event.actor_role,
        event.client_id,
        event.request_id,
        event.action,
        event.entity,
        event.entity_ids,
        event.fields,
        event.purpose,
        event.outcome,
        event.prev_hash,
    ]);
    if let (Some(caller), Some(array)) = (&event.caller_request_id, canonical.as_array_mut()) {
        array.push(serde_json::json!(caller));
    }
    hex(&Sha256::digest(canonical.to_string().as_bytes()))
}

fn format_at(at: DateTime<Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%S%.6fZ").to_string()
}

/// The result of walking a tenant's chain.
#[derive(Debug, Clone, Default, serde::Serialize, async_graphql::SimpleObject)]
#[serde(rename_all = "camelCase")]
pub struct AuditChainReport {
    pub ok: bool,
    /// Events checked.
    pub checked: i64,
    /// The position where the chain first breaks: an edited row, the first row after a
    /// deleted one, a seal that does not verify, or — cut off at its end — the first position
    /// a checkpoint saw that is gone.
    pub first_broken_seq: Option<i64>,
    /// The event found at that position: the edited row, the row after a deleted one, or an
    /// unsealed row the API did not write.
    pub first_broken_id: Option<Uuid>,
    pub expected_hash: Option<String>,
    pub found_hash: Option<String>,
    /// Why the chain is broken, in one sentence.
    pub reason: Option<String>,
    /// Events up to this position were pruned by the retention policy; the chain is checked
    /// from the next one.
    pub pruned_through_seq: Option<i64>,
    /// Checkpoints of this tenant held against the chain.
    pub checkpoints_checked: i32,
    /// Events committed but not sealed yet (PostgreSQL seals within a second of the commit;
    /// verification seals what is due first, so these committed while it ran).
    pub unsealed: i64,
}

impl AuditChainReport {
    fn broken(mut self, seq: i64, reason: &str) -> AuditChainReport {
        self.ok = false;
        self.first_broken_seq = Some(seq);
        self.reason = Some(reason.to_owned());
        self
    }

    fn found(mut self, id: Option<Uuid>, expected: Option<String>, found: Option<String>) -> Self {
        self.first_broken_id = id;
        self.expected_hash = expected;
        self.found_hash = found;
        self
    }
}

/// A signed note of a tenant's chain head at one moment, kept outside the database (printed
/// by `dossier audit checkpoint`, appended to a file the operator keeps). Verification holds
/// the chain against it: the event at `seq` must still have `hash`, and the chain must still
/// reach `seq` — which shows a log cut off at its end, or re-hashed from the start.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Checkpoint {
    pub tenant: Uuid,
    pub seq: i64,
    pub hash: String,
    pub at: String,
    pub sig: String,
}

impl Checkpoint {
    /// One JSON line.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Parses one JSON line; `Err` says why it is refused (malformed, or not signed by this
    /// key).
    pub fn parse(line: &str, key: &AuditKey) -> Result<Checkpoint, String> {
        let checkpoint: Checkpoint = serde_json::from_str(line.trim())
            .map_err(|_| "a checkpoint is not valid JSON".to_owned())?;
        let expected = key.sign_checkpoint(
            checkpoint.tenant,
            checkpoint.seq,
            &checkpoint.hash,
            &checkpoint.at,
        );
        if expected != checkpoint.sig {
            return Err(format!(
                "the checkpoint of #{} taken {} is not signed by this audit key",
                checkpoint.seq, checkpoint.at
            ));
        }
        Ok(checkpoint)
    }

    /// Every checkpoint in a file of JSON lines (blank lines skipped).
    pub fn parse_all(text: &str, key: &AuditKey) -> Result<Vec<Checkpoint>, String> {
        text.lines()
            .filter(|line| !line.trim().is_empty())
            .map(|line| Checkpoint::parse(line, key))
            .collect()
    }
}

/// The tenant's chain head, signed, once every committed event is sealed: `None` while its
/// log is empty.
pub async fn checkpoint<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
    key: &AuditKey,
) -> ApiResult<Option<Checkpoint>> {
    seal_pending(scope, key, Lock::Wait).await?;
    Ok(chain_head(scope).await?.map(|(seq, hash)| {
        let at = format_at(Utc::now().trunc_subsecs(6));
        Checkpoint {
            tenant: scope.tenant_id(),
            seq,
            sig: key.sign_checkpoint(scope.tenant_id(), seq, &hash, &at),
            hash,
            at,
        }
    }))
}

/// The shortest audit retention there is, in months: the log also records the accesses of
/// those who may set its retention, so nobody prunes events younger than this — not through
/// the API, not through the retention run, whatever the tenant's row says.
pub const MIN_AUDIT_RETENTION_MONTHS: u32 = 12;

/// The `entity` of the event that records a pruning.
const PRUNED_ENTITY: &str = "AuditEvent";

/// What an audit retention run pruned — or, dry, would prune.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AuditPrune {
    pub cutoff: DateTime<Utc>,
    /// The last event pruned (or due); `None` when no event is older than the cutoff.
    pub through_seq: Option<i64>,
    pub events: u64,
}

/// Applies an audit retention period (GDPR Art. 5(1)(e)): deletes the tenant's events older
/// than `months`, oldest first, leaves an anchor (the last pruned position and hash) where the
/// chain now starts, and records the pruning as a `DELETE` event of `AuditEvent` naming the
/// anchor. On PostgreSQL the append-only trigger lets this one delete through because the
/// transaction says so; nothing else can delete.
pub async fn prune<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
    actor: &Actor,
    months: u32,
    now: DateTime<Utc>,
    dry_run: bool,
) -> ApiResult<AuditPrune> {
    use sea_orm::ColumnTrait;
    if months < MIN_AUDIT_RETENTION_MONTHS {
        return Err(ApiError::BadUserInput(format!(
            "auditRetentionMonths: at least {MIN_AUDIT_RETENTION_MONTHS}: refusing to prune younger events"
        )));
    }
    let cutoff = now
        .checked_sub_months(chrono::Months::new(months))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    seal_pending(scope, &actor.key, Lock::Wait).await?;
    let last = scope
        .one(
            audit_event::Entity::find()
                .filter(audit_event::Column::At.lt(cutoff))
                .filter(audit_event::Column::Seq.is_not_null())
                .order_by_desc(audit_event::Column::Seq)
                .limit(1),
        )
        .await?;
    let Some((last_seq, last_hash, last_at)) =
        last.and_then(|last| Some((last.seq?, last.hash?, last.at)))
    else {
        return Ok(AuditPrune {
            cutoff,
            through_seq: None,
            events: 0,
        });
    };
    let through = audit_event::Column::Seq.lte(last_seq);
    let events = scope
        .count(audit_event::Entity::find().filter(through.clone()))
        .await?;
    if dry_run {
        return Ok(AuditPrune {
            cutoff,
            through_seq: Some(last_seq),
            events,
        });
    }
    // On PostgreSQL only the log's owner may delete from it (the append-only trigger and the
    // grants): the retention run connects as that role, the API's runtime role cannot.
    scope
        .delete_where::<audit_event::Entity>(sea_orm::Condition::all().add(through))
        .await?;
    let mut anchor = audit_anchor::Model {
        tenant_id: scope.tenant_id(),
        id: Uuid::now_v7(),
        seq: last_seq,
        hash: last_hash,
        last_at,
        pruned_at: now.trunc_subsecs(6),
        pruned_by: actor.actor.clone(),
        seal: None,
    };
    anchor.seal = Some(actor.key.seal_anchor(&anchor));
    let anchor = scope
        .insert(audit_anchor::ActiveModel {
            tenant_id: sea_orm::ActiveValue::NotSet,
            id: Set(anchor.id),
            seq: Set(anchor.seq),
            hash: Set(anchor.hash),
            last_at: Set(anchor.last_at),
            pruned_at: Set(anchor.pruned_at),
            pruned_by: Set(anchor.pruned_by),
            seal: Set(anchor.seal),
        })
        .await?;
    let recorder = Actor {
        purpose: Some(format!(
            "audit retention: {events} events through #{} pruned",
            last_seq
        )),
        ..actor.clone()
    };
    append(
        scope,
        &recorder,
        vec![NewEvent {
            action: Action::Delete,
            entity: PRUNED_ENTITY,
            entity_ids: vec![anchor.id],
            fields: Vec::new(),
            outcome: Outcome::Allowed,
        }],
    )
    .await?;
    Ok(AuditPrune {
        cutoff,
        through_seq: Some(last_seq),
        events,
    })
}

async fn latest_anchor<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
) -> ApiResult<Option<audit_anchor::Model>> {
    scope
        .one(
            audit_anchor::Entity::find()
                .order_by_desc(audit_anchor::Column::Seq)
                .limit(1),
        )
        .await
}

/// Walks the tenant's chain in order, page by page, from the genesis or — once retention
/// pruned the oldest events — from the anchor the pruning left, which must be sealed and
/// recorded by a pruning event in the chain. Each event's link, hash and seal are checked,
/// and the chain is held against the tenant's `checkpoints` (others' are ignored).
pub async fn verify_chain<C: Borrow<DatabaseTransaction>>(
    scope: &Scoped<C>,
    key: &AuditKey,
    checkpoints: &[Checkpoint],
) -> ApiResult<AuditChainReport> {
    use sea_orm::ColumnTrait;
    const PAGE: u64 = 1000;
    seal_pending(scope, key, Lock::Wait).await?;
    let mut checkpoints: Vec<&Checkpoint> = checkpoints
        .iter()
        .filter(|c| c.tenant == scope.tenant_id())
        .collect();
    checkpoints.sort_by_key(|c| c.seq);
    let mut report = AuditChainReport {
        ok: true,
        ..Default::default()
    };
    let mut expected_prev = GENESIS_HASH.to_owned();
    let mut expected_seq = 1i64;
    let anchor = latest_anchor(scope).await?;
    report.pruned_through_seq = anchor.as_ref().map(|a| a.seq);
    let pruned = anchor.as_ref().map(|a| a.last_at);
    if let Some(anchor) = anchor {
        let recorded = scope
            .count(
                audit_event::Entity::find()
                    .filter(about(scope.backend(), anchor.id))
                    .filter(sea_orm::ColumnTrait::eq(
                        &audit_event::Column::Action,
                        Action::Delete.as_str(),
                    ))
                    .filter(sea_orm::ColumnTrait::eq(
                        &audit_event::Column::Entity,
                        PRUNED_ENTITY,
                    )),
            )
            .await?;
        if recorded == 0 {
            return Ok(report
                .broken(
                    anchor.seq + 1,
                    "the chain starts at an anchor that no recorded pruning explains: events were deleted and the start moved",
                )
                .found(None, None, Some(anchor.hash)));
        }
        if anchor.seal.as_deref() != Some(key.seal_anchor(&anchor).as_str()) {
            return Ok(report
                .broken(
                    anchor.seq + 1,
                    "the anchor's seal does not verify: it was moved or forged without the audit key",
                )
                .found(None, None, Some(anchor.hash)));
        }
        let youngest_prunable = Utc::now()
            .checked_sub_months(chrono::Months::new(MIN_AUDIT_RETENTION_MONTHS))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        if anchor.last_at > youngest_prunable {
            return Ok(report
                .broken(
                    anchor.seq + 1,
                    "events younger than the shortest audit retention were pruned",
                )
                .found(None, None, Some(anchor.hash)));
        }
        for checkpoint in checkpoints.iter().filter(|c| c.seq <= anchor.seq) {
            if checkpoint.seq == anchor.seq && checkpoint.hash != anchor.hash {
                return Ok(report
                    .broken(
                        anchor.seq,
                        "the anchor differs from a checkpoint of the same position: the log was rewritten",
                    )
                    .found(None, Some(checkpoint.hash.clone()), Some(anchor.hash)));
            }
        }
        expected_prev = anchor.hash;
        expected_seq = anchor.seq + 1;
    }
    let first_kept = expected_seq;
    let mut pending: std::collections::VecDeque<&Checkpoint> = checkpoints
        .iter()
        .copied()
        .filter(|c| c.seq >= first_kept)
        .collect();
    loop {
        let page = scope
            .all(
                audit_event::Entity::find()
                    .filter(sea_orm::ColumnTrait::gte(
                        &audit_event::Column::Seq,
                        expected_seq,
                    ))
                    .order_by_asc(audit_event::Column::Seq)
                    .limit(PAGE),
            )
            .await?;
        let done = (page.len() as u64) < PAGE;
        for event in page {
            let at = |report: AuditChainReport, reason: &str| report.broken(expected_seq, reason);
            if event.seq != Some(expected_seq)
                || event.prev_hash.as_deref() != Some(expected_prev.as_str())
            {
                return Ok(at(report, "a link is broken: an event before this one was deleted, or this one's link was rewritten")
                    .found(Some(event.id), Some(expected_prev), event.prev_hash));
            }
            let recomputed = event_hash(&event);
            if event.hash.as_deref() != Some(recomputed.as_str()) {
                return Ok(at(
                    report,
                    "this event's hash does not match its content: it was edited",
                )
                .found(Some(event.id), Some(recomputed), event.hash));
            }
            // A seal that does not verify, or none at all (stripped, or written by someone
            // without the key — or by a Dossier from before events were sealed).
            let expected = key.seal_event(&event);
            if event.seal.as_deref() != Some(expected.as_str()) {
                return Ok(at(report, "this event's seal does not verify: the chain was re-hashed or written without the audit key")
                    .found(Some(event.id), Some(expected), event.seal));
            }
            while let Some(checkpoint) = pending.pop_front() {
                if Some(checkpoint.seq) != event.seq {
                    pending.push_front(checkpoint);
                    break;
                }
                report.checkpoints_checked += 1;
                if checkpoint.hash != recomputed {
                    return Ok(at(
                        report,
                        "this event differs from a checkpoint taken of it: the log was rewritten",
                    )
                    .found(
                        Some(event.id),
                        Some(checkpoint.hash.clone()),
                        Some(recomputed),
                    ));
                }
            }
            report.checked += 1;
            expected_seq += 1;
            expected_prev = recomputed;
        }
        if done {
            break;
        }
    }
    if let Some(beyond) = pending.front() {
        return Ok(report.broken(
            expected_seq,
            &format!(
                "the log ends at #{} but a checkpoint taken {} saw #{}: events were removed from its end",
                expected_seq - 1,
                beyond.at,
                beyond.seq
            ),
        ));
    }
    // Every sealed event is one of those walked: none sits at a position outside the chain.
    let sealed = scope
        .count(audit_event::Entity::find().filter(audit_event::Column::Seq.is_not_null()))
        .await? as i64;
    if sealed != report.checked {
        let outside = sealed - report.checked;
        return Ok(report.broken(
            expected_seq,
            &format!(
                "{outside} sealed events sit at positions outside the chain: they were inserted or renumbered behind the API's back"
            ),
        ));
    }
    // Sealed above, so what is still unsealed committed since — or was inserted behind the
    // API's back, and is never sealed.
    report.unsealed = scope
        .count(audit_event::Entity::find().filter(audit_event::Column::Seq.is_null()))
        .await? as i64;
    let mut after = None;
    let mut more = report.unsealed > 0;
    while more {
        let page = scope.all(unsealed_page(after, PAGE)).await?;
        if let Some(forged) = page.iter().find(|event| !sealable(event, key, pruned)) {
            return Ok(report
                .broken(
                    expected_seq,
                    "an event the API did not write is in the log (its mark does not verify, or it is older than what retention pruned), so it was never sealed",
                )
                .found(Some(forged.id), None, None));
        }
        more = page.len() as u64 == PAGE;
        after = page.last().map(|event| (event.at, event.id));
    }
    Ok(report)
}

/// Events that name this row among their ids: what the audit log knows about one subject.
/// On PostgreSQL a containment test the GIN index on `entity_ids` answers; on SQLite a text
/// search (ids are canonical UUID strings, which contain no LIKE wildcard).
pub fn about(backend: DbBackend, subject: Uuid) -> sea_orm::sea_query::SimpleExpr {
    use sea_orm::sea_query::{Alias, Expr, ExprTrait, extension::postgres::PgBinOper};
    let ids = Expr::col(audit_event::Column::EntityIds);
    match backend {
        DbBackend::Postgres => ids.binary(
            PgBinOper::Contains,
            Expr::val(serde_json::json!([subject.to_string()])),
        ),
        _ => ids.cast_as(Alias::new("TEXT")).like(format!("%{subject}%")),
    }
}

/// Ids and field names accessed, per action, entity type and outcome.
type Reads = BTreeMap<(Action, &'static str, Outcome), (BTreeSet<Uuid>, BTreeSet<&'static str>)>;

/// The personal-data reads of one request, gathered while it resolves.
#[derive(Debug, Default)]
pub struct ReadAudit {
    reads: Mutex<Reads>,
}

impl ReadAudit {
    /// Notes one field of one row. `field` is a column or GraphQL field name (both are turned
    /// into the GraphQL name when the event is written, so the hot path allocates nothing).
    pub fn note(&self, entity: &'static str, id: Uuid, field: &'static str, outcome: Outcome) {
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        let (ids, fields) = reads.entry((Action::Read, entity, outcome)).or_default();
        ids.insert(id);
        fields.insert(field);
    }

    /// Notes fields used on many rows at once, such as a personal field in a filter; with no
    /// ids when the request was refused before any row was read.
    pub fn note_all(
        &self,
        entity: &'static str,
        ids: &[Uuid],
        fields: &[&'static str],
        outcome: Outcome,
    ) {
        self.note_access(Action::Read, entity, ids, fields, outcome);
    }

    /// Notes an access that is not a plain read, such as an `EXPORT`: it is written with the
    /// request's read events, before the response leaves.
    pub fn note_access(
        &self,
        action: Action,
        entity: &'static str,
        ids: &[Uuid],
        fields: &[&'static str],
        outcome: Outcome,
    ) {
        let mut reads = self.reads.lock().unwrap_or_else(|e| e.into_inner());
        let (all_ids, all_fields) = reads.entry((action, entity, outcome)).or_default();
        all_ids.extend(ids.iter().copied());
        all_fields.extend(fields.iter().copied());
    }

    /// One event per action, entity type and outcome.
    pub fn take_events(&self) -> Vec<NewEvent> {
        let reads = std::mem::take(&mut *self.reads.lock().unwrap_or_else(|e| e.into_inner()));
        reads
            .into_iter()
            .map(|((action, entity, outcome), (ids, fields))| NewEvent {
                action,
                entity,
                entity_ids: ids.into_iter().collect(),
                fields: fields
                    .into_iter()
                    .map(entity::graphql_field_name)
                    .collect::<BTreeSet<_>>()
                    .into_iter()
                    .collect(),
                outcome,
            })
            .collect()
    }
}

/// Rejects a request the caller cannot fix; kept here so the reason is logged once.
pub fn unavailable(err: ApiError) -> ApiError {
    tracing::error!(error = %err, "audit event could not be written; refusing the request");
    match err {
        ApiError::Internal(cause) => ApiError::Internal(cause.context("audit write failed")),
        other => ApiError::internal(anyhow::anyhow!("audit write failed: {other}")),
    }
}
