//! Per-request DataLoaders: one statement per level of a nested query, not one per parent.
//!
//! They are built for each request around its tenant-scoped handle, so a batch can never mix
//! tenants, and they live and die with the request.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::TenantOwned;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, IdenStatic, ModelTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::ApiError;
use crate::graphql::engine::Declared;
use crate::graphql::engine::filter::Filter;
use crate::graphql::engine::order::Order;
use crate::graphql::page::{
    CursorKey, CursorSigner, Lookup, Ordering, PERSONAL_COUNT_MAX, Page, SortValue,
    personal_count_too_large,
};
use crate::tenancy::TenantHandle;

type LoadError = async_graphql::Error;

fn gql(err: ApiError) -> LoadError {
    err.into()
}

/// Rows by id.
pub struct ById<E> {
    scope: TenantHandle,
    entity: PhantomData<fn() -> E>,
}

impl<E> Loader<Uuid> for ById<E>
where
    E: TenantOwned + Send + Sync + 'static,
    E::Model: Clone + Send + Sync + 'static,
{
    type Value = E::Model;
    type Error = LoadError;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, E::Model>, LoadError> {
        let rows = self
            .scope
            .all(E::find().filter(E::id_column().is_in(keys.iter().copied())))
            .await
            .map_err(gql)?;
        Ok(rows
            .into_iter()
            .filter_map(|row| crate::tenancy::id_of::<E>(&row).map(|id| (id, row)))
            .collect())
    }
}

/// The arguments of one nested list field: the key of its batch, shared by all its parents.
pub struct ChildArgs<C: Declared> {
    /// The column of the child rows that names their parent.
    parent: C::Column,
    filter: Option<Filter<C>>,
    order_by: Vec<Order<C>>,
    first: u64,
    /// The decoded position of `after`.
    after: Option<Vec<SortValue>>,
    with_total: bool,
    lookup: Lookup,
}

impl<C: Declared> PartialEq for ChildArgs<C> {
    fn eq(&self, other: &Self) -> bool {
        self.parent.as_str() == other.parent.as_str()
            && self.filter == other.filter
            && self.order_by == other.order_by
            && self.first == other.first
            && self.after == other.after
            && self.with_total == other.with_total
            && self.lookup == other.lookup
    }
}

impl<C: Declared> Eq for ChildArgs<C> {}

impl<C: Declared> Hash for ChildArgs<C> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.parent.as_str().hash(state);
        self.filter.hash(state);
        self.order_by.hash(state);
        self.first.hash(state);
        self.after.hash(state);
        self.with_total.hash(state);
        self.lookup.hash(state);
    }
}

/// Pages of children (a customer's contacts or sales) for a batch of parents.
pub struct ChildPages<C> {
    scope: TenantHandle,
    tenant: entity::tenant::Model,
    cursors: CursorKey,
    kind: PhantomData<fn() -> C>,
}

pub type ChildKey<C> = (Uuid, Arc<ChildArgs<C>>);

impl<C: Declared> Loader<ChildKey<C>> for ChildPages<C> {
    type Value = Arc<Page<C::Model>>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ChildKey<C>],
    ) -> Result<HashMap<ChildKey<C>, Self::Value>, LoadError> {
        // Keys of one list field share their arguments; different arguments are different batches.
        let mut groups: HashMap<Arc<ChildArgs<C>>, Vec<Uuid>> = HashMap::new();
        for (parent, args) in keys {
            groups.entry(args.clone()).or_default().push(*parent);
        }
        let mut out = HashMap::new();
        for (args, parents) in groups {
            let pages = self.load_group(&args, &parents).await.map_err(gql)?;
            for (parent, page) in pages {
                out.insert((parent, args.clone()), Arc::new(page));
            }
        }
        Ok(out)
    }
}

/// The cursor signature of a nested list: its table and ordering.
fn signature<C: Declared>(ordering: &Ordering<C::Model>) -> String {
    ordering.signature(C::default().table_name())
}

fn parent_of<C: Declared>(row: &C::Model, parent: C::Column) -> Uuid {
    match row.get(parent) {
        sea_orm::Value::Uuid(Some(id)) => id,
        _ => Uuid::nil(),
    }
}

impl<C: Declared> ChildPages<C> {
    async fn load_group(
        &self,
        args: &ChildArgs<C>,
        parents: &[Uuid],
    ) -> Result<Vec<(Uuid, Page<C::Model>)>, ApiError> {
        let ordering = Order::ordering(&args.order_by, Some(&self.tenant));
        let mut base = C::find().filter(args.parent.is_in(parents.iter().copied()));
        if let Some(filter) = &args.filter {
            base = base.filter(filter.condition()?);
        }
        let mut select = base.clone();
        if let Some(after) = &args.after {
            select = select.filter(ordering.after(after.clone())?);
        }
        let rows = self
            .scope
            .all_ranked(select, args.parent, &ordering.order_exprs(), args.first + 1)
            .await?;
        let mut by_parent: HashMap<Uuid, Vec<_>> = HashMap::new();
        let mut matched: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for row in rows {
            let parent = parent_of::<C>(&row, args.parent);
            if args.lookup == Lookup::Personal {
                // The rows returned, and the one past each page that `hasNextPage` reveals.
                matched
                    .entry(parent)
                    .or_default()
                    .extend(crate::tenancy::id_of::<C>(&row));
            }
            by_parent.entry(parent).or_default().push(row);
        }
        let totals: HashMap<Uuid, i64> = match (args.with_total, args.lookup) {
            (false, _) => HashMap::new(),
            (true, Lookup::Plain) => self
                .scope
                .tuples::<C, (Uuid, i64)>(
                    base.select_only()
                        .column(args.parent)
                        .expr(Func::cast_as(
                            Expr::col(C::id_column()).count(),
                            sea_orm::sea_query::Alias::new("BIGINT"),
                        ))
                        .group_by(args.parent),
                )
                .await?
                .into_iter()
                .collect(),
            // A count by personal data names everyone it counts.
            (true, Lookup::Personal) => {
                let counted = self
                    .scope
                    .tuples::<C, (Uuid, Uuid)>(
                        base.select_only()
                            .column(args.parent)
                            .column(C::id_column())
                            .limit(PERSONAL_COUNT_MAX + 1),
                    )
                    .await?;
                if counted.len() as u64 > PERSONAL_COUNT_MAX {
                    return Err(personal_count_too_large());
                }
                let mut totals = HashMap::new();
                for (parent, id) in counted {
                    *totals.entry(parent).or_default() += 1;
                    matched.entry(parent).or_default().push(id);
                }
                totals
            }
        };
        let signer = Arc::new(CursorSigner {
            key: self.cursors.clone(),
            tenant: self.scope.tenant_id(),
            ordering: signature::<C>(&ordering),
        });
        Ok(parents
            .iter()
            .map(|parent| {
                let rows = by_parent.remove(parent).unwrap_or_default();
                let mut page =
                    Page::from_rows(rows, args.first, args.after.is_some(), &signer, |row| {
                        ordering.values(row)
                    });
                if args.with_total {
                    page.total = Some(totals.get(parent).copied().unwrap_or(0) as u64);
                }
                page.matched = matched.remove(parent).unwrap_or_default();
                (*parent, page)
            })
            .collect())
    }
}

/// One parent's page of a nested list, through the request's batch loader. The caller has
/// already checked scopes and validated `filter`.
#[allow(clippy::too_many_arguments)]
pub async fn children<C: Declared>(
    ctx: &async_graphql::Context<'_>,
    parent_column: C::Column,
    parent: Uuid,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<Filter<C>>,
    order_by: Vec<Order<C>>,
    lookup: Lookup,
) -> Result<Page<C::Model>, ApiError> {
    let rc = crate::graphql::context::RequestContext::of(ctx);
    let after = after
        .map(|c| {
            let signature = signature::<C>(&Order::ordering(&order_by, Some(&rc.tenant)));
            rc.cursors.decode(rc.scope.tenant_id(), &signature, &c)
        })
        .transpose()?;
    let args = Arc::new(ChildArgs::<C> {
        parent: parent_column,
        filter,
        order_by,
        first: crate::graphql::page::page_size(first)?,
        after,
        with_total: crate::graphql::page::wants_total(ctx),
        lookup,
    });
    let page = rc
        .loaders
        .pages::<C>()
        .load_one((parent, args))
        .await
        .map_err(crate::graphql::loader_err)?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("{} page missing", C::decl().many)))?;
    Ok(Page {
        rows: page.rows.clone(),
        has_next: page.has_next,
        has_previous: page.has_previous,
        total: page.total,
        matched: page.matched.clone(),
    })
}

/// The loaders of one request: by id and by parent for every declared entity (made on first
/// use), and the typed ones of hand-written fields.
pub struct Loaders {
    scope: TenantHandle,
    tenant: entity::tenant::Model,
    cursors: CursorKey,
    made: std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>,
    pub stats: DataLoader<crate::graphql::customer_stats::StatsLoader>,
    /// Shared by the customer lists and `stats`, so the window is refreshed once a request.
    pub stats_window: crate::graphql::customer_stats::Window,
    pub consents: DataLoader<crate::graphql::consent::ConsentsOf>,
}

impl Loaders {
    pub fn new(
        scope: &TenantHandle,
        tenant: &entity::tenant::Model,
        cursors: &CursorKey,
        folds: &crate::graphql::customer_stats::Folds,
    ) -> Loaders {
        let stats_window = crate::graphql::customer_stats::Window::new(folds);
        Loaders {
            stats_window: stats_window.clone(),
            scope: scope.clone(),
            tenant: tenant.clone(),
            cursors: cursors.clone(),
            made: Default::default(),
            stats: DataLoader::new(
                crate::graphql::customer_stats::StatsLoader::new(scope.clone(), stats_window),
                tokio::spawn,
            ),
            consents: DataLoader::new(
                crate::graphql::consent::ConsentsOf::new(scope.clone()),
                tokio::spawn,
            ),
        }
    }

    fn made<L: Send + Sync + 'static>(&self, make: impl FnOnce() -> L) -> Arc<L> {
        let mut made = self.made.lock().unwrap_or_else(|e| e.into_inner());
        let any = made
            .entry(TypeId::of::<L>())
            .or_insert_with(|| Arc::new(make()))
            .clone();
        // The entry of `TypeId::of::<L>()` holds an `L`.
        any.downcast::<L>().unwrap_or_else(|_| unreachable!())
    }

    /// Rows of `E` by id.
    pub fn by_id<E: Declared>(&self) -> Arc<DataLoader<ById<E>>> {
        self.made(|| {
            DataLoader::new(
                ById {
                    scope: self.scope.clone(),
                    entity: PhantomData,
                },
                tokio::spawn,
            )
        })
    }

    /// Pages of `C` by parent.
    pub fn pages<C: Declared>(&self) -> Arc<DataLoader<ChildPages<C>>> {
        self.made(|| {
            DataLoader::new(
                ChildPages {
                    scope: self.scope.clone(),
                    tenant: self.tenant.clone(),
                    cursors: self.cursors.clone(),
                    kind: PhantomData,
                },
                tokio::spawn,
            )
        })
    }
}
