//! Relay cursor pagination: keyset ordering, opaque tenant-bound cursors, page-size rules.
//!
//! A cursor is the sort-key values of a row and the ordering it was issued for, encrypted and
//! authenticated (ChaCha20-Poly1305) under a key derived from the server's secret, with the
//! caller's tenant as associated data. A sort key can be personal data (`orderBy: EMAIL`), so
//! a cursor shows nothing of its row to whoever sees it — a log, a proxy, a browser history.
//! A cursor from another tenant, another ordering, or edited by hand is refused with
//! `BAD_USER_INPUT`; and even a valid one only positions a query that the tenant-scoped handle
//! has already restricted to the caller's rows.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Nonce};
use chrono::{DateTime, Utc};
use entity::TenantOwned;
use hmac::{Hmac, Mac};
use sea_orm::sea_query::{Expr, ExprTrait, Order};
use sea_orm::{Condition, QueryFilter, QueryOrder, QuerySelect, Select};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use std::sync::Arc;
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::tenancy::TenantHandle;

pub const DEFAULT_PAGE_SIZE: i32 = 50;
pub const MAX_PAGE_SIZE: i32 = 500;

/// The key cursors are sealed with, derived from the server's secret so that every API node
/// behind a load balancer accepts the cursors of the others.
#[derive(Clone)]
pub struct CursorKey(ChaCha20Poly1305);

/// A random nonce per cursor: 96 bits, so that no two cursors ever share one.
const NONCE_BYTES: usize = 12;

impl CursorKey {
    pub fn derive(secret: &[u8]) -> CursorKey {
        // HMAC takes keys of any length, so `new_from_slice` cannot fail.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        mac.update(b"dossier cursor key v2");
        let key = mac.finalize().into_bytes();
        CursorKey(ChaCha20Poly1305::new(&key))
    }

    pub fn encode(&self, tenant: Uuid, ordering: &str, values: &[SortValue]) -> String {
        let payload = serde_json::to_vec(&CursorPayloadRef {
            o: ordering,
            v: values,
        })
        .unwrap_or_default();
        let nonce: [u8; NONCE_BYTES] = rand::random();
        let sealed = self
            .0
            .encrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: &payload,
                    aad: tenant.as_bytes(),
                },
            )
            // Encryption fails only for messages of gigabytes.
            .unwrap_or_default();
        let mut cursor = nonce.to_vec();
        cursor.extend_from_slice(&sealed);
        URL_SAFE_NO_PAD.encode(cursor)
    }

    pub fn decode(&self, tenant: Uuid, ordering: &str, cursor: &str) -> ApiResult<Vec<SortValue>> {
        let (sealed_for, values) = self.open(tenant, cursor)?;
        if sealed_for != ordering {
            return Err(ApiError::BadUserInput(
                "this cursor belongs to another ordering".into(),
            ));
        }
        Ok(values)
    }

    /// The ordering a cursor of `tenant` was sealed for, and the position it holds.
    pub fn open(&self, tenant: Uuid, cursor: &str) -> ApiResult<(String, Vec<SortValue>)> {
        let invalid = || ApiError::BadUserInput("invalid cursor".into());
        let sealed = URL_SAFE_NO_PAD.decode(cursor).map_err(|_| invalid())?;
        if sealed.len() < NONCE_BYTES {
            return Err(invalid());
        }
        let (nonce, sealed) = sealed.split_at(NONCE_BYTES);
        let nonce: [u8; NONCE_BYTES] = nonce.try_into().map_err(|_| invalid())?;
        let payload = self
            .0
            .decrypt(
                &Nonce::from(nonce),
                Payload {
                    msg: sealed,
                    aad: tenant.as_bytes(),
                },
            )
            .map_err(|_| invalid())?;
        let decoded: CursorPayload = serde_json::from_slice(&payload).map_err(|_| invalid())?;
        Ok((decoded.o, decoded.v))
    }
}

/// What seals the cursors of one page: shared by its rows.
pub struct CursorSigner {
    pub key: CursorKey,
    pub tenant: Uuid,
    pub ordering: String,
}

/// A row's position, sealed into an opaque string only when a response asks for it.
#[derive(Clone)]
pub struct Cursor {
    signer: Arc<CursorSigner>,
    values: Vec<SortValue>,
}

impl Cursor {
    pub fn encode(&self) -> String {
        self.signer
            .key
            .encode(self.signer.tenant, &self.signer.ordering, &self.values)
    }
}

#[derive(Serialize)]
struct CursorPayloadRef<'a> {
    o: &'a str,
    v: &'a [SortValue],
}

#[derive(Serialize, Deserialize)]
struct CursorPayload {
    o: String,
    v: Vec<SortValue>,
}

/// One sort-key value of a row, as carried in a cursor.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SortValue {
    S(String),
    T(DateTime<Utc>),
    I(i64),
    U(Uuid),
}

impl SortValue {
    pub fn into_value(self) -> sea_orm::Value {
        match self {
            SortValue::S(s) => s.into(),
            SortValue::T(t) => t.into(),
            SortValue::I(i) => i.into(),
            SortValue::U(u) => u.into(),
        }
    }
}

/// One column (or expression) of an ordering, with how to read its value off a row.
pub struct SortKey<M> {
    pub name: &'static str,
    pub expr: Expr,
    pub order: Order,
    pub value: Box<dyn Fn(&M) -> SortValue + Send + Sync>,
}

/// An ordering: the requested keys, then the id ascending as the last tie-breaker so that
/// every row has one position and cursors are stable.
pub struct Ordering<M> {
    pub keys: Vec<SortKey<M>>,
    /// Tables a key reads from (a customer's aggregates), joined to the rows' table.
    pub joins: Vec<Join>,
    /// Loads what such keys need to read their values off a page's rows (by id), before the
    /// page's cursors are made.
    pub prepare: Option<Prepare>,
}

/// `JOIN table AS alias ON on`, where `table` holds exactly one row for every row listed (a
/// customer's aggregates, kept by triggers from the customer's creation): an inner join that
/// neither drops nor repeats a row, so that the database may read a page in the order of an
/// index on the joined table and stop after it.
#[derive(Clone)]
pub struct Join {
    pub table: sea_orm::sea_query::Alias,
    pub alias: sea_orm::sea_query::Alias,
    pub on: Condition,
}

/// See [`Ordering::prepare`].
pub type Prepare = Box<
    dyn Fn(TenantHandle, Vec<Uuid>) -> futures_util::future::BoxFuture<'static, ApiResult<()>>
        + Send
        + Sync,
>;

impl<M> Ordering<M> {
    pub fn new<E: TenantOwned>(
        mut keys: Vec<SortKey<M>>,
        id: Box<dyn Fn(&M) -> SortValue + Send + Sync>,
    ) -> Self
    where
        E::Column: sea_orm::sea_query::IntoColumnRef,
    {
        keys.push(SortKey {
            name: "id",
            expr: Expr::col((E::default(), E::id_column())),
            order: Order::Asc,
            value: id,
        });
        Ordering {
            keys,
            joins: Vec::new(),
            prepare: None,
        }
    }

    /// The name cursors are bound to, e.g. `customers:name:desc,id:asc`.
    pub fn signature(&self, table: &str) -> String {
        signature(
            table,
            self.keys
                .iter()
                .map(|k| (k.name, matches!(k.order, Order::Desc))),
        )
    }

    pub fn values(&self, row: &M) -> Vec<SortValue> {
        self.keys.iter().map(|k| (k.value)(row)).collect()
    }

    /// Rows strictly after the position `values` in this ordering.
    pub fn after(&self, values: Vec<SortValue>) -> ApiResult<Condition> {
        if values.len() != self.keys.len() {
            return Err(ApiError::BadUserInput("invalid cursor".into()));
        }
        let values: Vec<sea_orm::Value> = values.into_iter().map(SortValue::into_value).collect();
        let mut any = Condition::any();
        for (i, key) in self.keys.iter().enumerate() {
            let mut all = Condition::all();
            for (prev, value) in self.keys[..i].iter().zip(&values) {
                all = all.add(prev.expr.clone().eq(value.clone()));
            }
            let value = values[i].clone();
            all = all.add(match key.order {
                Order::Desc => key.expr.clone().lt(value),
                _ => key.expr.clone().gt(value),
            });
            any = any.add(all);
        }
        Ok(any)
    }

    pub fn order_exprs(&self) -> Vec<(Expr, Order)> {
        self.keys
            .iter()
            .map(|k| (k.expr.clone(), k.order.clone()))
            .collect()
    }

    pub fn apply<E: sea_orm::EntityTrait>(&self, mut select: Select<E>) -> Select<E> {
        for join in &self.joins {
            sea_orm::QueryTrait::query(&mut select).join_as(
                sea_orm::JoinType::InnerJoin,
                join.table.clone(),
                join.alias.clone(),
                join.on.clone(),
            );
        }
        for key in &self.keys {
            select = select.order_by(key.expr.clone(), key.order.clone());
        }
        select
    }
}

/// The name cursors of an ordering are bound to: the table, then each key's name and whether
/// it descends (`customers:name:desc,id:asc`). Compiled reads name theirs with it too.
pub fn signature<'a>(table: &str, keys: impl IntoIterator<Item = (&'a str, bool)>) -> String {
    let keys: Vec<String> = keys
        .into_iter()
        .map(|(name, descending)| {
            let direction = if descending { "desc" } else { "asc" };
            format!("{name}:{direction}")
        })
        .collect();
    format!("{table}:{}", keys.join(","))
}

/// `first` as a row count: defaults to 50, refused (not clamped) outside 0..=500.
pub fn page_size(first: Option<i32>) -> ApiResult<u64> {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE);
    if !(0..=MAX_PAGE_SIZE).contains(&first) {
        return Err(ApiError::BadUserInput(format!(
            "`first` must be between 0 and {MAX_PAGE_SIZE}"
        )));
    }
    Ok(first as u64)
}

/// The complexity of a list field: its page size times what each node costs.
pub fn list_complexity(first: Option<i32>, child: usize) -> usize {
    let first = first.unwrap_or(DEFAULT_PAGE_SIZE).clamp(1, MAX_PAGE_SIZE) as usize;
    first.saturating_mul(child.max(1))
}

/// Relay page information.
pub struct PageInfo {
    has_next_page: bool,
    has_previous_page: bool,
    start: Option<Cursor>,
    end: Option<Cursor>,
}

#[async_graphql::Object]
impl PageInfo {
    async fn has_next_page(&self) -> bool {
        self.has_next_page
    }
    /// True when the page starts after a cursor.
    async fn has_previous_page(&self) -> bool {
        self.has_previous_page
    }
    async fn start_cursor(&self) -> Option<String> {
        self.start.as_ref().map(Cursor::encode)
    }
    async fn end_cursor(&self) -> Option<String> {
        self.end.as_ref().map(Cursor::encode)
    }
}

/// Whether a list is a lookup by personal data (a filter or an ordering on a personal
/// field). Such a lookup is an access even when it returns no personal field (invariant 3):
/// its page names every row its answer depends on — the rows returned, the row that makes
/// `hasNextPage` true, and every row `totalCount` counted — for the request's audit event.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Lookup {
    Plain,
    Personal,
}

/// Most rows a `totalCount` of a personal lookup may count: each is named in the audit event.
pub const PERSONAL_COUNT_MAX: u64 = 10_000;

pub fn personal_count_too_large() -> ApiError {
    ApiError::BadUserInput(format!(
        "totalCount: a count by personal data names everyone it counts in the audit log, at most {PERSONAL_COUNT_MAX}: narrow the filter"
    ))
}

/// One page of rows, with the position of each.
pub struct Page<M> {
    pub rows: Vec<(Cursor, M)>,
    pub has_next: bool,
    pub has_previous: bool,
    pub total: Option<u64>,
    /// For a [`Lookup::Personal`]: the ids of every row the answer depends on.
    pub matched: Vec<Uuid>,
}

impl<M> Page<M> {
    pub fn page_info(&self) -> PageInfo {
        PageInfo {
            has_next_page: self.has_next,
            has_previous_page: self.has_previous,
            start: self.rows.first().map(|(c, _)| c.clone()),
            end: self.rows.last().map(|(c, _)| c.clone()),
        }
    }

    /// Cuts a fetch of `first + 1` rows into a page.
    pub fn from_rows(
        mut rows: Vec<M>,
        first: u64,
        has_previous: bool,
        signer: &Arc<CursorSigner>,
        values: impl Fn(&M) -> Vec<SortValue>,
    ) -> Page<M> {
        let has_next = rows.len() as u64 > first;
        rows.truncate(first as usize);
        Page {
            rows: rows
                .into_iter()
                .map(|m| {
                    let cursor = Cursor {
                        signer: signer.clone(),
                        values: values(&m),
                    };
                    (cursor, m)
                })
                .collect(),
            has_next,
            has_previous,
            total: None,
            matched: Vec::new(),
        }
    }
}

/// A whole page of a top-level connection. `select` already carries the caller's filter.
/// [`fetch`] for a connection field: the page size, the cursor key and whether the response
/// asks for `totalCount` come from the request.
pub async fn fetch_field<E: TenantOwned>(
    ctx: &async_graphql::Context<'_>,
    scope: &TenantHandle,
    select: Select<E>,
    ordering: &Ordering<E::Model>,
    first: Option<i32>,
    after: Option<&str>,
    lookup: Lookup,
) -> ApiResult<Page<E::Model>>
where
    E::Model: Send + Sync,
{
    fetch(
        scope,
        &crate::graphql::context::RequestContext::of(ctx).cursors,
        select,
        ordering,
        page_size(first)?,
        after,
        wants_total(ctx),
        lookup,
    )
    .await
}

#[allow(clippy::too_many_arguments)]
pub async fn fetch<E: TenantOwned>(
    scope: &TenantHandle,
    key: &CursorKey,
    select: Select<E>,
    ordering: &Ordering<E::Model>,
    first: u64,
    after: Option<&str>,
    with_total: bool,
    lookup: Lookup,
) -> ApiResult<Page<E::Model>>
where
    E::Model: Send + Sync,
{
    let signature = ordering.signature(E::default().table_name());
    let mut matched = Vec::new();
    let total = match (with_total, lookup) {
        (false, _) => None,
        (true, Lookup::Plain) => Some(scope.count(select.clone()).await?),
        (true, Lookup::Personal) => {
            matched = scope.ids(select.clone(), PERSONAL_COUNT_MAX + 1).await?;
            if matched.len() as u64 > PERSONAL_COUNT_MAX {
                return Err(personal_count_too_large());
            }
            Some(matched.len() as u64)
        }
    };
    let mut query = select;
    if let Some(after) = after {
        let values = key.decode(scope.tenant_id(), &signature, after)?;
        query = query.filter(ordering.after(values)?);
    }
    let rows = scope.all(ordering.apply(query).limit(first + 1)).await?;
    if let Some(prepare) = &ordering.prepare {
        let ids = rows.iter().filter_map(crate::tenancy::id_of::<E>).collect();
        prepare(scope.clone(), ids).await?;
    }
    if lookup == Lookup::Personal {
        // The rows returned, and the one past the page that `hasNextPage` reveals.
        matched.extend(rows.iter().filter_map(crate::tenancy::id_of::<E>));
    }
    let signer = Arc::new(CursorSigner {
        key: key.clone(),
        tenant: scope.tenant_id(),
        ordering: signature,
    });
    let mut page = Page::from_rows(rows, first, after.is_some(), &signer, |row| {
        ordering.values(row)
    });
    page.total = total;
    page.matched = matched;
    Ok(page)
}

/// Declares a Relay connection type and its edge type for a node type.
macro_rules! connection {
    ($connection:ident, $edge:ident, $node:ty) => {
        pub struct $edge {
            cursor: $crate::graphql::page::Cursor,
            node: $node,
        }

        // `serial`: two cheap fields per row; the edges of a page resolve concurrently.
        #[async_graphql::Object(serial)]
        impl $edge {
            /// This row's position, for `after`.
            async fn cursor(&self) -> String {
                self.cursor.encode()
            }
            async fn node(&self) -> &$node {
                &self.node
            }
        }

        #[derive(async_graphql::SimpleObject)]
        pub struct $connection {
            pub edges: Vec<$edge>,
            pub page_info: $crate::graphql::page::PageInfo,
            /// How many rows match the filter, on all pages.
            pub total_count: i64,
        }

        impl<M> From<$crate::graphql::page::Page<M>> for $connection
        where
            $node: From<M>,
        {
            fn from(page: $crate::graphql::page::Page<M>) -> Self {
                let page_info = page.page_info();
                let total_count = page.total.unwrap_or(0) as i64;
                $connection {
                    edges: page
                        .rows
                        .into_iter()
                        .map(|(cursor, row)| $edge {
                            cursor,
                            node: <$node>::from(row),
                        })
                        .collect(),
                    page_info,
                    total_count,
                }
            }
        }
    };
}
pub(crate) use connection;

/// Whether the connection being resolved asks for `totalCount` (so the count is run only then).
pub fn wants_total(ctx: &async_graphql::Context<'_>) -> bool {
    ctx.look_ahead().field("totalCount").exists()
}
