//! Per-request DataLoaders: one statement per level of a nested query, not one per parent.
//!
//! They are built for each request around its tenant-scoped handle, so a batch can never mix
//! tenants, and they live and die with the request.

use std::collections::HashMap;
use std::hash::Hash;
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::dataloader::{DataLoader, Loader};
use entity::TenantOwned;
use sea_orm::sea_query::{Expr, ExprTrait, Func};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::error::ApiError;
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

/// A kind of nested list: which rows are children of which parent, and how they filter and
/// order. Implemented once per nested connection (`Customer.contacts`, `Customer.sales`).
pub trait Children: Send + Sync + 'static {
    type Entity: TenantOwned + Send + Sync + 'static;
    type Filter: Hash + Eq + Send + Sync + 'static;
    type Order: Hash + Eq + Send + Sync + 'static;
    /// Names the ordering a cursor is bound to.
    const NAME: &'static str;
    fn parent_column() -> <Self::Entity as EntityTrait>::Column;
    fn parent_of(row: &<Self::Entity as EntityTrait>::Model) -> Uuid;
    fn condition(filter: &Self::Filter) -> Result<Condition, ApiError>;
    fn ordering(order_by: &[Self::Order]) -> Ordering<<Self::Entity as EntityTrait>::Model>;
}

/// The arguments of one nested list field: the key of its batch, shared by all its parents.
pub struct ChildArgs<S: Children> {
    filter: Option<S::Filter>,
    order_by: Vec<S::Order>,
    first: u64,
    /// The decoded position of `after`.
    after: Option<Vec<SortValue>>,
    with_total: bool,
    lookup: Lookup,
}

impl<S: Children> PartialEq for ChildArgs<S> {
    fn eq(&self, other: &Self) -> bool {
        self.filter == other.filter
            && self.order_by == other.order_by
            && self.first == other.first
            && self.after == other.after
            && self.with_total == other.with_total
            && self.lookup == other.lookup
    }
}

impl<S: Children> Eq for ChildArgs<S> {}

impl<S: Children> Hash for ChildArgs<S> {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.filter.hash(state);
        self.order_by.hash(state);
        self.first.hash(state);
        self.after.hash(state);
        self.with_total.hash(state);
        self.lookup.hash(state);
    }
}

/// Pages of children (a customer's contacts or sales) for a batch of parents.
pub struct ChildPages<S> {
    scope: TenantHandle,
    cursors: CursorKey,
    kind: PhantomData<fn() -> S>,
}

pub type ChildKey<S> = (Uuid, Arc<ChildArgs<S>>);
type Model<S> = <<S as Children>::Entity as EntityTrait>::Model;

impl<S: Children> Loader<ChildKey<S>> for ChildPages<S>
where
    Model<S>: Clone + Send + Sync + 'static,
{
    type Value = Arc<Page<Model<S>>>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ChildKey<S>],
    ) -> Result<HashMap<ChildKey<S>, Self::Value>, LoadError> {
        // Keys of one list field share their arguments; different arguments are different batches.
        let mut groups: HashMap<Arc<ChildArgs<S>>, Vec<Uuid>> = HashMap::new();
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

impl<S: Children> ChildPages<S>
where
    Model<S>: Send + Sync,
{
    async fn load_group(
        &self,
        args: &ChildArgs<S>,
        parents: &[Uuid],
    ) -> Result<Vec<(Uuid, Page<Model<S>>)>, ApiError> {
        let ordering = S::ordering(&args.order_by);
        let mut base = S::Entity::find().filter(S::parent_column().is_in(parents.iter().copied()));
        if let Some(filter) = &args.filter {
            base = base.filter(S::condition(filter)?);
        }
        let mut select = base.clone();
        if let Some(after) = &args.after {
            select = select.filter(ordering.after(after.clone())?);
        }
        let rows = self
            .scope
            .all_ranked(
                select,
                S::parent_column(),
                &ordering.order_exprs(),
                args.first + 1,
            )
            .await?;
        let mut by_parent: HashMap<Uuid, Vec<_>> = HashMap::new();
        let mut matched: HashMap<Uuid, Vec<Uuid>> = HashMap::new();
        for row in rows {
            let parent = S::parent_of(&row);
            if args.lookup == Lookup::Personal {
                // The rows returned, and the one past each page that `hasNextPage` reveals.
                matched
                    .entry(parent)
                    .or_default()
                    .extend(crate::tenancy::id_of::<S::Entity>(&row));
            }
            by_parent.entry(parent).or_default().push(row);
        }
        let totals: HashMap<Uuid, i64> = match (args.with_total, args.lookup) {
            (false, _) => HashMap::new(),
            (true, Lookup::Plain) => self
                .scope
                .tuples::<S::Entity, (Uuid, i64)>(
                    base.select_only()
                        .column(S::parent_column())
                        .expr(Func::cast_as(
                            Expr::col(S::Entity::id_column()).count(),
                            sea_orm::sea_query::Alias::new("BIGINT"),
                        ))
                        .group_by(S::parent_column()),
                )
                .await?
                .into_iter()
                .collect(),
            // A count by personal data names everyone it counts.
            (true, Lookup::Personal) => {
                let counted = self
                    .scope
                    .tuples::<S::Entity, (Uuid, Uuid)>(
                        base.select_only()
                            .column(S::parent_column())
                            .column(S::Entity::id_column())
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
            ordering: ordering.signature(S::NAME),
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
pub async fn children<S: Children>(
    ctx: &async_graphql::Context<'_>,
    loader: &DataLoader<ChildPages<S>>,
    parent: Uuid,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<S::Filter>,
    order_by: Vec<S::Order>,
    lookup: Lookup,
) -> Result<Page<Model<S>>, ApiError>
where
    Model<S>: Clone + Send + Sync + 'static,
{
    let rc = crate::graphql::context::RequestContext::of(ctx);
    let after = after
        .map(|c| {
            let signature = S::ordering(&order_by).signature(S::NAME);
            rc.cursors.decode(rc.scope.tenant_id(), &signature, &c)
        })
        .transpose()?;
    let args = Arc::new(ChildArgs::<S> {
        filter,
        order_by,
        first: crate::graphql::page::page_size(first)?,
        after,
        with_total: crate::graphql::page::wants_total(ctx),
        lookup,
    });
    let page = loader
        .load_one((parent, args))
        .await
        .map_err(crate::graphql::loader_err)?
        .ok_or_else(|| ApiError::internal(anyhow::anyhow!("{} page missing", S::NAME)))?;
    Ok(Page {
        rows: page.rows.clone(),
        has_next: page.has_next,
        has_previous: page.has_previous,
        total: page.total,
        matched: page.matched.clone(),
    })
}

/// The loaders of one request.
pub struct Loaders {
    pub customers: DataLoader<ById<entity::customer::Entity>>,
    pub contacts: DataLoader<ById<entity::contact::Entity>>,
    pub contact_pages: DataLoader<ChildPages<crate::graphql::contact::ContactsOf>>,
    pub sale_pages: DataLoader<ChildPages<crate::graphql::sale::SalesOf>>,
    pub stats: DataLoader<crate::graphql::customer::StatsLoader>,
    pub consents: DataLoader<crate::graphql::consent::ConsentsOf>,
}

impl Loaders {
    pub fn new(scope: &TenantHandle, cursors: &CursorKey) -> Loaders {
        fn by_id<E>(scope: &TenantHandle) -> ById<E> {
            ById {
                scope: scope.clone(),
                entity: PhantomData,
            }
        }
        fn pages<Q>(scope: &TenantHandle, cursors: &CursorKey) -> ChildPages<Q> {
            ChildPages {
                scope: scope.clone(),
                cursors: cursors.clone(),
                kind: PhantomData,
            }
        }
        Loaders {
            customers: DataLoader::new(by_id(scope), tokio::spawn),
            contacts: DataLoader::new(by_id(scope), tokio::spawn),
            contact_pages: DataLoader::new(pages(scope, cursors), tokio::spawn),
            sale_pages: DataLoader::new(pages(scope, cursors), tokio::spawn),
            stats: DataLoader::new(
                crate::graphql::customer::StatsLoader::new(scope.clone()),
                tokio::spawn,
            ),
            consents: DataLoader::new(
                crate::graphql::consent::ConsentsOf::new(scope.clone()),
                tokio::spawn,
            ),
        }
    }
}
