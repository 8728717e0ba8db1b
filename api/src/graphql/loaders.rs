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
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QuerySelect, Select};
use uuid::Uuid;

use crate::error::ApiError;
use crate::graphql::page::{CursorKey, Ordering, Page, SortValue};
use crate::tenancy::Scope;

type LoadError = async_graphql::Error;

fn gql(err: ApiError) -> LoadError {
    err.into()
}

/// Rows by id.
pub struct ById<E> {
    scope: Scope,
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
            .filter_map(|row| id_of::<E>(&row).map(|id| (id, row)))
            .collect())
    }
}

fn id_of<E: TenantOwned>(row: &E::Model) -> Option<Uuid> {
    use sea_orm::ModelTrait;
    match row.get(E::id_column()) {
        sea_orm::Value::Uuid(Some(id)) => Some(id),
        _ => None,
    }
}

/// A nested connection's arguments (filter, ordering, page) for one list field of a query.
pub trait ChildQuery: Hash + Eq + Send + Sync + 'static {
    type Entity: TenantOwned + Send + Sync + 'static;
    const NAME: &'static str;
    fn parent_column() -> <Self::Entity as EntityTrait>::Column;
    fn parent_of(row: &<Self::Entity as EntityTrait>::Model) -> Uuid;
    /// The filtered select, without ordering or paging.
    fn select(&self) -> Result<Select<Self::Entity>, ApiError>;
    fn ordering(&self) -> Ordering<<Self::Entity as EntityTrait>::Model>;
    fn first(&self) -> u64;
    /// The decoded position of `after`.
    fn after(&self) -> Option<&Vec<SortValue>>;
    fn with_total(&self) -> bool;
}

/// Pages of children (a customer's contacts or sales) for a batch of parents.
pub struct ChildPages<Q> {
    scope: Scope,
    cursors: CursorKey,
    query: PhantomData<fn() -> Q>,
}

pub type ChildKey<Q> = (Uuid, Arc<Q>);

impl<Q: ChildQuery> Loader<ChildKey<Q>> for ChildPages<Q>
where
    <Q::Entity as EntityTrait>::Model: Clone + Send + Sync + 'static,
{
    type Value = Arc<Page<<Q::Entity as EntityTrait>::Model>>;
    type Error = LoadError;

    async fn load(
        &self,
        keys: &[ChildKey<Q>],
    ) -> Result<HashMap<ChildKey<Q>, Self::Value>, LoadError> {
        // Keys of one list field share their arguments; different arguments are different batches.
        let mut groups: HashMap<Arc<Q>, Vec<Uuid>> = HashMap::new();
        for (parent, query) in keys {
            groups.entry(query.clone()).or_default().push(*parent);
        }
        let mut out = HashMap::new();
        for (query, parents) in groups {
            let pages = self.load_group(&query, &parents).await.map_err(gql)?;
            for (parent, page) in pages {
                out.insert((parent, query.clone()), Arc::new(page));
            }
        }
        Ok(out)
    }
}

impl<Q: ChildQuery> ChildPages<Q>
where
    <Q::Entity as EntityTrait>::Model: Send + Sync,
{
    async fn load_group(
        &self,
        query: &Q,
        parents: &[Uuid],
    ) -> Result<Vec<(Uuid, Page<<Q::Entity as EntityTrait>::Model>)>, ApiError> {
        let ordering = query.ordering();
        let base = query
            .select()?
            .filter(Q::parent_column().is_in(parents.iter().copied()));
        let mut select = base.clone();
        if let Some(after) = query.after() {
            select = select.filter(ordering.after(after.clone())?);
        }
        let first = query.first();
        let rows = self
            .scope
            .all_ranked(
                select,
                Q::parent_column(),
                &ordering.order_exprs(),
                first + 1,
            )
            .await?;
        let mut by_parent: HashMap<Uuid, Vec<_>> = HashMap::new();
        for row in rows {
            by_parent.entry(Q::parent_of(&row)).or_default().push(row);
        }
        let totals: HashMap<Uuid, i64> = if query.with_total() {
            self.scope
                .tuples::<Q::Entity, (Uuid, i64)>(
                    base.select_only()
                        .column(Q::parent_column())
                        .expr(Func::cast_as(
                            Expr::col(Q::Entity::id_column()).count(),
                            sea_orm::sea_query::Alias::new("BIGINT"),
                        ))
                        .group_by(Q::parent_column()),
                )
                .await?
                .into_iter()
                .collect()
        } else {
            HashMap::new()
        };
        let tenant = self.scope.tenant_id();
        let signature = ordering.signature(Q::NAME);
        Ok(parents
            .iter()
            .map(|parent| {
                let rows = by_parent.remove(parent).unwrap_or_default();
                let mut page = Page::from_rows(rows, first, query.after().is_some(), |row| {
                    self.cursors
                        .encode(tenant, &signature, ordering.values(row))
                });
                if query.with_total() {
                    page.total = Some(totals.get(parent).copied().unwrap_or(0) as u64);
                }
                (*parent, page)
            })
            .collect())
    }
}

/// The loaders of one request.
pub struct Loaders {
    pub customers: DataLoader<ById<entity::customer::Entity>>,
    pub contacts: DataLoader<ById<entity::contact::Entity>>,
    pub contact_pages: DataLoader<ChildPages<crate::graphql::contact::ContactsOf>>,
    pub sale_pages: DataLoader<ChildPages<crate::graphql::sale::SalesOf>>,
    pub stats: DataLoader<crate::graphql::customer::StatsLoader>,
}

impl Loaders {
    pub fn new(scope: &Scope, cursors: &CursorKey) -> Loaders {
        fn by_id<E>(scope: &Scope) -> ById<E> {
            ById {
                scope: scope.clone(),
                entity: PhantomData,
            }
        }
        fn pages<Q>(scope: &Scope, cursors: &CursorKey) -> ChildPages<Q> {
            ChildPages {
                scope: scope.clone(),
                cursors: cursors.clone(),
                query: PhantomData,
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
        }
    }
}
