//! The tenant-scoped data handle: the only way resolvers and loaders reach the database.
//!
//! DESIGN §5.1. A request that carries a verified token gets one database transaction which,
//! on PostgreSQL, first sets `app.tenant_id` for the row-level-security policies (the second
//! wall). Resolvers see it only through [`Scoped`], whose every select, count, update and
//! delete adds `tenant_id = caller` itself, whatever query it was handed, and whose inserts
//! set the tenant on the row. No resolver holds a connection it could query unscoped.

use std::borrow::Borrow;
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use entity::TenantOwned;
use sea_orm::sea_query::{Alias, Asterisk, Expr, ExprTrait, Order, Query, WindowStatement};
use sea_orm::{
    ActiveModelTrait, ColumnTrait, ConnectionTrait, DatabaseConnection, DatabaseTransaction,
    DbBackend, DbErr, EntityTrait, FromQueryResult, IntoActiveModel, PaginatorTrait, QueryFilter,
    QuerySelect, QueryTrait, Select, Statement, TransactionTrait,
};
use uuid::Uuid;

use crate::auth::{AuthError, Principal};
use crate::error::{ApiError, ApiResult, still_referenced};

/// A connection (the request's transaction, or a savepoint inside it) bound to one tenant.
pub struct Scoped<C> {
    tenant_id: Uuid,
    conn: C,
    writes: Arc<Writes>,
}

/// Why a write on a read-only handle failed: the request runs again on the writer.
#[derive(Debug, thiserror::Error)]
#[error("a write on a read connection: the request runs again on the writer")]
pub struct NeedsWriter;

/// What a request's handles know of its writes, shared by all of them (savepoints included).
#[derive(Default)]
struct Writes {
    /// Set once the request has written: its read events then join its transaction.
    wrote: AtomicBool,
    /// The handle is on one of SQLite's read connections, which cannot write.
    read_only: bool,
    /// A write was asked of a read-only handle: the request must run again on the writer.
    needed: AtomicBool,
}

/// The request-wide handle, cheap to clone into DataLoaders.
pub type TenantHandle = Scoped<Arc<DatabaseTransaction>>;

impl Clone for TenantHandle {
    fn clone(&self) -> Self {
        Scoped {
            tenant_id: self.tenant_id,
            conn: self.conn.clone(),
            writes: self.writes.clone(),
        }
    }
}

/// Tenants recently seen to exist, so that most requests skip the lookup. Only existing
/// tenants are kept, briefly: a token for an unknown tenant is looked up (and refused) every
/// time, and a change to a tenant shows within [`TenantCache::TTL`].
///
/// A request that changed its tenant's settings forgets the tenant *after* its commit; a
/// request that read the old row before that commit must not put it back, so every
/// forgetting moves a generation, and a row read under an older generation is not kept.
#[derive(Default)]
pub struct TenantCache {
    entries: std::sync::RwLock<HashMap<Uuid, (entity::tenant::Model, Instant)>>,
    generation: std::sync::atomic::AtomicU64,
}

impl TenantCache {
    pub const TTL: Duration = Duration::from_secs(30);

    fn get(&self, id: Uuid) -> Option<entity::tenant::Model> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        entries
            .get(&id)
            .filter(|(_, seen)| seen.elapsed() < Self::TTL)
            .map(|(tenant, _)| tenant.clone())
    }

    /// Drops a tenant whose row changed (call it once the change committed), so the next
    /// request reads it again.
    pub fn forget(&self, id: Uuid) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        self.generation
            .fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        entries.remove(&id);
    }

    fn generation(&self) -> u64 {
        self.generation.load(std::sync::atomic::Ordering::SeqCst)
    }

    /// Keeps a row read under `generation`, unless a tenant was forgotten since.
    fn put(&self, tenant: &entity::tenant::Model, generation: u64) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if self.generation() != generation {
            return;
        }
        entries.retain(|_, (_, seen)| seen.elapsed() < Self::TTL);
        entries.insert(tenant.id, (tenant.clone(), Instant::now()));
    }
}

/// Opens the request's transaction for an authenticated principal, and checks that its
/// tenant exists (with the tenant already set, so on PostgreSQL even this lookup is scoped).
/// Returns the handle and the tenant.
///
/// `read_only` marks a handle on one of SQLite's read connections: a write asked of it fails
/// and is noted ([`TenantHandle::needs_writer`]) so the request can run again on the writer.
pub async fn open(
    db: &DatabaseConnection,
    tenants: &TenantCache,
    principal: &Principal,
    read_only: bool,
) -> Result<(TenantHandle, entity::tenant::Model), OpenError> {
    let txn = db.begin().await.map_err(OpenError::Db)?;
    set_tenant(&txn, principal.tenant_id)
        .await
        .map_err(OpenError::Db)?;
    let tenant = match tenants.get(principal.tenant_id) {
        Some(tenant) => Some(tenant),
        None => {
            let generation = tenants.generation();
            let found = entity::tenant::Entity::find_by_id(principal.tenant_id)
                .one(&txn)
                .await
                .map_err(OpenError::Db)?;
            if let Some(tenant) = &found {
                tenants.put(tenant, generation);
            }
            found
        }
    };
    match tenant {
        Some(tenant) => Ok((
            Scoped {
                tenant_id: principal.tenant_id,
                conn: Arc::new(txn),
                writes: Arc::new(Writes {
                    read_only,
                    ..Writes::default()
                }),
            },
            tenant,
        )),
        None => {
            txn.rollback().await.map_err(OpenError::Db)?;
            Err(OpenError::Auth(AuthError::Tenant))
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error(transparent)]
    Auth(AuthError),
    #[error("database unavailable")]
    Db(#[source] DbErr),
}

impl TenantHandle {
    /// Whether the request has written (through [`TenantHandle::write`]).
    pub fn wrote(&self) -> bool {
        self.writes.wrote.load(Ordering::Relaxed)
    }

    /// Whether a write was asked of this read-only handle: what the request did is void, and
    /// it must run again on the writer.
    pub fn needs_writer(&self) -> bool {
        self.writes.needed.load(Ordering::Relaxed)
    }

    /// Commits the request's transaction. Fails if a loader still holds the handle.
    ///
    /// A success is a commit (invariant 7): on PostgreSQL a statement that fails aborts the
    /// transaction, and COMMIT then answers ROLLBACK *without an error*. So a transaction
    /// that wrote is probed first: in an aborted transaction the probe fails, the write is
    /// reported lost, and the request fails instead of returning ids of rows that never
    /// landed. (SQLite keeps its transaction after a failed statement, and its COMMIT fails
    /// when the transaction is gone.)
    pub async fn commit(self) -> Result<(), DbErr> {
        let wrote = self.wrote();
        let txn = Arc::try_unwrap(self.conn)
            .map_err(|_| DbErr::Custom("request transaction still in use at commit".into()))?;
        if wrote && txn.get_database_backend() == DbBackend::Postgres {
            txn.execute_unprepared("SELECT 1").await.map_err(|err| {
                DbErr::Custom(format!(
                    "the transaction failed after its writes and cannot commit: {err}"
                ))
            })?;
        }
        txn.commit().await
    }

    pub async fn rollback(self) -> Result<(), DbErr> {
        match Arc::try_unwrap(self.conn) {
            Ok(txn) => txn.rollback().await,
            // Dropping the last handle rolls back too; nothing was committed.
            Err(_) => Ok(()),
        }
    }

    /// Runs `work` inside a savepoint: all of it lands (with its audit event), or none.
    pub async fn write<T, F>(&self, work: F) -> ApiResult<T>
    where
        F: AsyncFnOnce(&Scoped<DatabaseTransaction>) -> ApiResult<T>,
    {
        self.may_write()?;
        self.writes.wrote.store(true, Ordering::Relaxed);
        let savepoint = Scoped {
            tenant_id: self.tenant_id,
            conn: self.conn.begin().await?,
            writes: self.writes.clone(),
        };
        match work(&savepoint).await {
            Ok(value) => {
                savepoint.conn.commit().await?;
                Ok(value)
            }
            Err(err) => {
                if let Err(rollback) = savepoint.conn.rollback().await {
                    tracing::error!(error = %rollback, "rolling back a savepoint failed");
                }
                Err(err)
            }
        }
    }
}

impl<C: Borrow<DatabaseTransaction>> Scoped<C> {
    pub fn tenant_id(&self) -> Uuid {
        self.tenant_id
    }

    /// The same handle, borrowed: what code that serves every kind of handle takes.
    pub fn view(&self) -> Scoped<&DatabaseTransaction> {
        Scoped {
            tenant_id: self.tenant_id,
            conn: self.conn.borrow(),
            writes: self.writes.clone(),
        }
    }

    pub(crate) fn conn(&self) -> &DatabaseTransaction {
        self.conn.borrow()
    }

    /// Whether the handle is on one of SQLite's read connections.
    pub fn read_only(&self) -> bool {
        self.writes.read_only
    }

    /// Every write passes here first. On a read-only handle it fails and notes that the
    /// request needs the writer; the connection itself is opened read-only as well, so a
    /// write that missed this check fails in SQLite instead of landing.
    pub(crate) fn may_write(&self) -> ApiResult<()> {
        if self.writes.read_only {
            self.writes.needed.store(true, Ordering::Relaxed);
            return Err(ApiError::internal(NeedsWriter));
        }
        Ok(())
    }

    pub fn backend(&self) -> DbBackend {
        self.conn().get_database_backend()
    }

    fn scoped<E: TenantOwned>(&self, select: Select<E>) -> Select<E> {
        select.filter(E::tenant_column().eq(self.tenant_id))
    }

    pub async fn all<E: TenantOwned>(&self, select: Select<E>) -> ApiResult<Vec<E::Model>>
    where
        E::Model: Send + Sync,
    {
        Ok(self.scoped(select).all(self.conn()).await?)
    }

    pub async fn one<E: TenantOwned>(&self, select: Select<E>) -> ApiResult<Option<E::Model>>
    where
        E::Model: Send + Sync,
    {
        Ok(self.scoped(select).one(self.conn()).await?)
    }

    pub async fn count<E: TenantOwned>(&self, select: Select<E>) -> ApiResult<u64>
    where
        E::Model: Send + Sync,
    {
        Ok(self.scoped(select).count(self.conn()).await?)
    }

    /// The row with this id, or `NOT_FOUND` (also for another tenant's id).
    pub async fn get<E: TenantOwned>(&self, id: Uuid) -> ApiResult<E::Model>
    where
        E::Model: Send + Sync,
    {
        self.one(E::find().filter(E::id_column().eq(id)))
            .await?
            .ok_or(ApiError::NotFound)
    }

    /// At most `limit` rows per value of `partition`, in `order`: one statement for a whole
    /// batch of parents (nested connections), bounded by the index instead of by the data.
    pub async fn all_ranked<E: TenantOwned>(
        &self,
        select: Select<E>,
        partition: E::Column,
        order: &[(Expr, Order)],
        limit: u64,
    ) -> ApiResult<Vec<E::Model>>
    where
        E::Model: FromQueryResult + Send + Sync,
    {
        let rank = Alias::new("dossier_rank");
        let mut window = WindowStatement::partition_by(partition);
        for (expr, direction) in order {
            window.order_by_expr(expr.clone(), direction.clone());
        }
        let mut inner = self.scoped(select).into_query();
        inner.expr_window_as(Expr::cust("ROW_NUMBER()"), window, rank.clone());
        let ranked = Alias::new("ranked");
        let outer = Query::select()
            .column(Asterisk)
            .from_subquery(inner, ranked.clone())
            .and_where(Expr::col((ranked.clone(), rank.clone())).lte(limit))
            .order_by((ranked, rank), Order::Asc)
            .to_owned();
        let statement = self.backend().build(&outer);
        Ok(E::find().from_raw_sql(statement).all(self.conn()).await?)
    }

    /// The rows of `select` as the database sent them, still scoped to the tenant: for
    /// selections of computed columns.
    pub async fn rows<E: TenantOwned>(
        &self,
        select: Select<E>,
    ) -> ApiResult<Vec<sea_orm::QueryResult>> {
        let statement = self.backend().build(&self.scoped(select).into_query());
        Ok(self.conn().query_all_raw(statement).await?)
    }

    /// PostgreSQL: the ids of `table`'s rows whose searched text holds `text` or, when none
    /// does, comes close to it, with their scores, best first, at most `limit`. Read by
    /// `dossier_search()`, which sees the search documents of the transaction's tenant only
    /// (`migration::search` says why they are not read through the tables' own policies).
    pub async fn search_ranked(
        &self,
        table: &str,
        text: &str,
        limit: u64,
    ) -> ApiResult<Vec<(Uuid, f64)>> {
        let statement = Statement::from_sql_and_values(
            DbBackend::Postgres,
            format!(
                "SELECT row_id, score FROM {}($1, $2, $3)",
                migration::search::SEARCH
            ),
            [
                table.into(),
                text.into(),
                i32::try_from(limit).unwrap_or(i32::MAX).into(),
            ],
        );
        let rows = self.conn().query_all_raw(statement).await?;
        rows.iter()
            .map(|row| Ok((row.try_get("", "row_id")?, row.try_get("", "score")?)))
            .collect()
    }

    /// The one text column of the one row (if any) of `sql`, whose first parameter (`$1`,
    /// `?1`) is this handle's tenant and the others `values`: compiled reads, whose
    /// statements state the tenant condition on every table they read with that parameter.
    pub async fn tenant_text(
        &self,
        sql: String,
        values: Vec<sea_orm::Value>,
    ) -> ApiResult<Option<String>> {
        let mut bound = Vec::with_capacity(values.len() + 1);
        bound.push(self.tenant_id().into());
        bound.extend(values);
        let row = self
            .conn()
            .query_one_raw(Statement::from_sql_and_values(self.backend(), sql, bound))
            .await?;
        Ok(match row {
            Some(row) => Some(row.try_get_by_index(0)?),
            None => None,
        })
    }

    /// The ids of at most `limit` rows of `select`.
    pub async fn ids<E: TenantOwned>(&self, select: Select<E>, limit: u64) -> ApiResult<Vec<Uuid>>
    where
        E::Model: Send + Sync,
    {
        Ok(self
            .scoped(select)
            .select_only()
            .column(E::id_column())
            .limit(limit)
            .into_tuple::<Uuid>()
            .all(self.conn())
            .await?)
    }

    /// Rows of `select` as tuples (aggregates, grouped counts), still scoped to the tenant.
    pub async fn tuples<E: TenantOwned, T>(&self, select: Select<E>) -> ApiResult<Vec<T>>
    where
        T: sea_orm::TryGetableMany + Send + Sync,
    {
        Ok(self
            .scoped(select)
            .into_tuple::<T>()
            .all(self.conn())
            .await?)
    }

    /// Inserts a row of the caller's tenant, whatever tenant the model carried.
    pub async fn insert<E, A>(&self, mut model: A) -> ApiResult<E::Model>
    where
        E: TenantOwned,
        A: ActiveModelTrait<Entity = E> + sea_orm::ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        self.may_write()?;
        model.set(E::tenant_column(), self.tenant_id.into());
        Ok(model.insert(self.conn()).await?)
    }

    /// Inserts rows of the caller's tenant in one statement.
    pub async fn insert_many<E, A>(&self, models: Vec<A>) -> ApiResult<()>
    where
        E: TenantOwned,
        A: ActiveModelTrait<Entity = E> + sea_orm::ActiveModelBehavior + Send,
    {
        self.may_write()?;
        let models = models.into_iter().map(|mut model| {
            model.set(E::tenant_column(), self.tenant_id.into());
            model
        });
        E::insert_many(models)
            .exec_without_returning(self.conn())
            .await?;
        Ok(())
    }

    /// Updates a row of the caller's tenant; `NOT_FOUND` when no such row is theirs.
    pub async fn update<E, A>(&self, mut model: A) -> ApiResult<E::Model>
    where
        E: TenantOwned,
        A: ActiveModelTrait<Entity = E> + sea_orm::ActiveModelBehavior + Send,
        E::Model: IntoActiveModel<A>,
    {
        self.may_write()?;
        model.set(E::tenant_column(), self.tenant_id.into());
        match model.update(self.conn()).await {
            Err(DbErr::RecordNotUpdated) => Err(ApiError::NotFound),
            other => Ok(other?),
        }
    }

    /// Deletes the caller's row with this id; `NOT_FOUND` when there is none.
    pub async fn delete<E: TenantOwned>(&self, id: Uuid) -> ApiResult<()> {
        self.may_write()?;
        let result = E::delete_many()
            .filter(E::tenant_column().eq(self.tenant_id))
            .filter(E::id_column().eq(id))
            .exec(self.conn())
            .await
            .map_err(still_referenced)?;
        if result.rows_affected == 0 {
            return Err(ApiError::NotFound);
        }
        Ok(())
    }

    /// The caller's own tenant row.
    pub async fn own_tenant(&self) -> ApiResult<entity::tenant::Model> {
        entity::tenant::Entity::find_by_id(self.tenant_id)
            .one(self.conn())
            .await?
            .ok_or(ApiError::NotFound)
    }

    /// Changes the caller's own tenant row: the only tenant a handle can write.
    pub async fn update_own_tenant(
        &self,
        mut model: entity::tenant::ActiveModel,
    ) -> ApiResult<entity::tenant::Model> {
        self.may_write()?;
        model.id = sea_orm::ActiveValue::Unchanged(self.tenant_id);
        Ok(model.update(self.conn()).await?)
    }

    /// Deletes the caller's rows matching `filter`; returns how many went.
    pub async fn delete_where<E: TenantOwned>(&self, filter: sea_orm::Condition) -> ApiResult<u64> {
        self.may_write()?;
        let result = E::delete_many()
            .filter(E::tenant_column().eq(self.tenant_id))
            .filter(filter)
            .exec(self.conn())
            .await
            .map_err(still_referenced)?;
        Ok(result.rows_affected)
    }

    /// Sets `column = value` on the caller's rows matching `filter`; returns how many changed.
    pub async fn update_where<E: TenantOwned>(
        &self,
        filter: sea_orm::Condition,
        column: E::Column,
        value: sea_orm::Value,
    ) -> ApiResult<u64> {
        self.may_write()?;
        let result = E::update_many()
            .col_expr(column, Expr::val(value))
            .filter(E::tenant_column().eq(self.tenant_id))
            .filter(filter)
            .exec(self.conn())
            .await?;
        Ok(result.rows_affected)
    }
}

/// The id of a row of a tenant-owned entity.
pub fn id_of<E: TenantOwned>(row: &E::Model) -> Option<Uuid> {
    use sea_orm::ModelTrait;
    match row.get(E::id_column()) {
        sea_orm::Value::Uuid(Some(id)) => Some(id),
        _ => None,
    }
}

/// The tenant's handle on a transaction someone else owns (the audit sealer's), with the
/// tenant set for the row-level-security policies.
pub async fn within(
    txn: &DatabaseTransaction,
    tenant_id: Uuid,
) -> Result<Scoped<&DatabaseTransaction>, DbErr> {
    set_tenant(txn, tenant_id).await?;
    Ok(Scoped {
        tenant_id,
        conn: txn,
        writes: Default::default(),
    })
}

/// A handle for system work on one tenant outside any request (the CLI, the demo seed).
pub async fn for_tenant(db: &DatabaseConnection, tenant_id: Uuid) -> Result<TenantHandle, DbErr> {
    let txn = db.begin().await?;
    set_tenant(&txn, tenant_id).await?;
    Ok(Scoped {
        tenant_id,
        conn: Arc::new(txn),
        writes: Default::default(),
    })
}

async fn set_tenant(txn: &DatabaseTransaction, tenant_id: Uuid) -> Result<(), DbErr> {
    let backend = txn.get_database_backend();
    if backend == DbBackend::Postgres {
        txn.execute_raw(Statement::from_sql_and_values(
            backend,
            "SELECT set_config('app.tenant_id', $1, true)",
            [tenant_id.to_string().into()],
        ))
        .await?;
    }
    Ok(())
}

/// Creates a tenant. On PostgreSQL the row-level policy on `tenants` only admits the row of
/// the transaction's own tenant, so the new id is set first.
pub async fn create_tenant(
    db: &DatabaseConnection,
    name: &str,
    slug: &str,
    default_currency: &str,
) -> anyhow::Result<entity::tenant::Model> {
    use sea_orm::ActiveValue::Set;
    let id = Uuid::now_v7();
    let scope = for_tenant(db, id).await?;
    let tenant = entity::tenant::ActiveModel {
        id: Set(id),
        name: Set(name.to_owned()),
        slug: Set(slug.to_owned()),
        retention_months: Set(None),
        default_currency: Set(default_currency.to_owned()),
        created_at: Set(chrono::SubsecRound::trunc_subsecs(chrono::Utc::now(), 6)),
        audit_retention_months: Set(None),
        require_purpose: Set(false),
    }
    .insert(scope.conn())
    .await?;
    scope.commit().await?;
    Ok(tenant)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> entity::tenant::Model {
        entity::tenant::Model {
            id: Uuid::now_v7(),
            name: "Acme".into(),
            slug: "acme".into(),
            retention_months: None,
            default_currency: "EUR".into(),
            created_at: chrono::Utc::now(),
            audit_retention_months: None,
            require_purpose: false,
        }
    }

    #[test]
    fn a_row_read_before_a_change_committed_is_not_cached_after_it() {
        let cache = TenantCache::default();
        let old = tenant();
        // A request reads the tenant row; meanwhile another commits a change and forgets it.
        let generation = cache.generation();
        cache.forget(old.id);
        cache.put(&old, generation);
        assert!(cache.get(old.id).is_none(), "the old settings came back");
        // A row read after the change is kept.
        let generation = cache.generation();
        cache.put(&old, generation);
        assert_eq!(cache.get(old.id).map(|t| t.id), Some(old.id));
    }
}
