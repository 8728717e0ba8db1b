//! Nested relations: a row another row names (`Sale.customer`, through the per-request by-id
//! loader) and the rows that name a row, as a connection (`Customer.contacts`, through the
//! per-request page loader: one statement per level, whatever the number of parents). Both
//! check the target's read scope; a nested list is gated and audited as a lookup like a root
//! list.

use std::marker::PhantomData;

use async_graphql::registry::{MetaField, Registry};
use async_graphql::{Context, OutputType, ServerError, ServerResult, Value};
use futures_util::future::BoxFuture;
use sea_orm::ModelTrait;
use uuid::Uuid;

use std::sync::Arc;

use super::filter::{Filter, SomeFilter};
use super::node::{Connection, Node, resolve_at};
use super::order::Order;
use super::{Declared, meta, root};
use crate::error::{ApiError, ApiResult};
use crate::graphql::context::RequestContext;
use crate::graphql::loader_err;
use crate::graphql::loaders::children;

/// An error of a generated resolver at the field it resolves.
pub fn fail(ctx: &Context<'_>, err: ApiError) -> ServerError {
    let err: async_graphql::Error = err.into();
    ctx.set_error_path(err.into_server_error(ctx.item.pos))
}

/// A row this row names by a foreign key.
pub struct ToOne<E: sea_orm::EntityTrait> {
    pub name: &'static str,
    pub doc: Option<&'static str>,
    /// The foreign key.
    pub column: E::Column,
    pub optional: bool,
    pub target: Box<dyn OneTarget>,
    /// The rows of this entity as a connection on the row they name, and what becomes of them
    /// when that row goes.
    pub reverse: Option<Reverse>,
}

/// A required relation to `T` through `column`, to be completed with the methods below.
pub fn belongs_to<T: Declared, C>(name: &'static str, column: C) -> ToOne<C::EntityName>
where
    C: sea_orm::ColumnTrait,
    C::EntityName: sea_orm::EntityTrait<Column = C>,
{
    ToOne {
        name,
        doc: None,
        column,
        optional: false,
        target: One::<T>::target(),
        reverse: None,
    }
}

impl<E: sea_orm::EntityTrait> ToOne<E> {
    /// The row may name none (`null`).
    pub fn optional(mut self) -> Self {
        self.optional = true;
        self
    }
    pub fn doc(mut self, doc: &'static str) -> Self {
        self.doc = Some(doc);
        self
    }
    /// The connection `name` on the other type, and what becomes of these rows when the row
    /// they name is deleted, or erased.
    pub fn reverse(
        mut self,
        name: &'static str,
        doc: &'static str,
        on_delete: Fate,
        on_erase: Fate,
    ) -> Self {
        self.reverse = Some(Reverse {
            name,
            doc: Some(doc),
            on_delete,
            on_erase,
        });
        self
    }
}

/// The other side of a to-one relation: `Customer.sales` for `Sale.customer`.
pub struct Reverse {
    pub name: &'static str,
    pub doc: Option<&'static str>,
    /// When the row they name is deleted.
    pub on_delete: Fate,
    /// When the row they name is erased (a person, GDPR Art. 17).
    pub on_erase: Fate,
}

/// What becomes of the rows that name a row when it goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fate {
    /// They must be kept, so the row cannot go (`CONFLICT`), for this reason.
    Keep(&'static str),
    /// They go with it (each with what their own dependents' declarations say), under their
    /// entity's write scope.
    Delete,
    /// They stay, without the link.
    Unlink,
}

impl<E: sea_orm::EntityTrait> ToOne<E> {
    pub fn meta(&self, registry: &mut Registry) -> MetaField {
        meta::field(
            self.name,
            self.target.type_info(registry, self.optional),
            self.doc,
        )
    }

    pub async fn resolve(&self, ctx: &Context<'_>, row: &E::Model) -> ServerResult<Option<Value>> {
        match row.get(self.column) {
            sea_orm::Value::Uuid(Some(id)) => self.target.resolve(ctx, id, self.optional).await,
            _ => Ok(Some(Value::Null)),
        }
    }
}

/// The entity a to-one relation reaches, whatever it is.
pub trait OneTarget: Send + Sync {
    /// The GraphQL type reached.
    fn type_name(&self) -> &'static str;
    fn type_info(&self, registry: &mut Registry, optional: bool) -> String;
    fn resolve<'a>(
        &'a self,
        ctx: &'a Context<'_>,
        id: Uuid,
        optional: bool,
    ) -> BoxFuture<'a, ServerResult<Option<Value>>>;
    /// `NOT_FOUND` unless the caller's tenant has a row with this id: what a write naming it
    /// must check first (another tenant's row does not exist for the caller).
    fn exists<'a>(&'a self, tx: &'a super::WriteTx<'a>, id: Uuid) -> BoxFuture<'a, ApiResult<()>>;
    /// The row as compiled reads see it.
    fn compiled(&self) -> &'static dyn super::compile::Table;
}

/// A to-one relation to `T`.
pub struct One<T>(PhantomData<fn() -> T>);

impl<T: Declared> One<T> {
    pub fn target() -> Box<dyn OneTarget> {
        Box::new(One::<T>(PhantomData))
    }
}

impl<T: Declared> OneTarget for One<T> {
    fn type_name(&self) -> &'static str {
        T::decl().name
    }

    fn type_info(&self, registry: &mut Registry, optional: bool) -> String {
        if optional {
            <Option<Node<T>> as OutputType>::create_type_info(registry)
        } else {
            <Node<T> as OutputType>::create_type_info(registry)
        }
    }

    fn resolve<'a>(
        &'a self,
        ctx: &'a Context<'_>,
        id: Uuid,
        optional: bool,
    ) -> BoxFuture<'a, ServerResult<Option<Value>>> {
        Box::pin(async move {
            let rc = RequestContext::of(ctx);
            rc.principal
                .require(T::decl().read)
                .map_err(|e| fail(ctx, e))?;
            let row = rc
                .loaders
                .by_id::<T>()
                .load_one(id)
                .await
                .map_err(|e| fail(ctx, loader_err(e)))?;
            match row {
                Some(row) => resolve_at(ctx, &Node::<T>(row)).await,
                None if optional => Ok(Some(Value::Null)),
                None => Err(fail(ctx, ApiError::NotFound)),
            }
        })
    }

    fn exists<'a>(&'a self, tx: &'a super::WriteTx<'a>, id: Uuid) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(async move { tx.tx.get::<T>(id).await.map(drop) })
    }

    fn compiled(&self) -> &'static dyn super::compile::Table {
        super::compile::table::<T>()
    }
}

/// The entity a to-many relation reaches, whatever it is.
pub trait ManyTarget: Send + Sync {
    fn meta(&self, name: &str, doc: Option<&str>, registry: &mut Registry) -> MetaField;
    /// The rows' filter input, as a filter field of the parent ("some row matches").
    fn filter_type(&self, registry: &mut Registry) -> String;
    fn parse_some(&self, value: Value) -> Result<Arc<dyn SomeFilter>, String>;
    fn resolve<'a>(
        &'a self,
        ctx: &'a Context<'_>,
        parent: Uuid,
    ) -> BoxFuture<'a, ServerResult<Option<Value>>>;
    /// The rows as compiled reads see them, and the column naming the parent.
    fn compiled(&self) -> (&'static dyn super::compile::Table, &'static str);
}

/// The rows of `C` whose `parent` column names the row.
pub struct Many<C: Declared> {
    parent: C::Column,
}

impl<C: Declared> Many<C> {
    pub fn target(parent: C::Column) -> Box<dyn ManyTarget> {
        Box::new(Many::<C> { parent })
    }
}

/// Some row of `C` naming the parent row through `parent` matches `filter`.
struct SomeOf<C: Declared> {
    parent: C::Column,
    filter: Filter<C>,
    key: String,
}

impl<C: Declared> SomeFilter for SomeOf<C> {
    fn key(&self) -> &str {
        &self.key
    }

    fn condition(
        &self,
        parent_tenant: sea_orm::sea_query::Expr,
        parent_id: sea_orm::sea_query::Expr,
        depth: usize,
    ) -> ApiResult<sea_orm::Condition> {
        use sea_orm::sea_query::{Expr, ExprTrait, Query};
        let mut rows = Query::select()
            .expr(Expr::val(1))
            .from(C::default())
            .and_where(Expr::col((C::default(), C::tenant_column())).eq(parent_tenant))
            .and_where(Expr::col((C::default(), self.parent)).eq(parent_id))
            .to_owned();
        rows.cond_where(self.filter.condition_at(depth + 1)?);
        Ok(sea_orm::Condition::all().add(Expr::exists(rows)))
    }

    fn personal(&self) -> bool {
        let mut fields = Vec::new();
        self.filter.personal_fields(&mut fields);
        !fields.is_empty()
    }

    fn scopes(&self, out: &mut Vec<crate::auth::Scope>) {
        out.push(C::decl().read);
        self.filter.scopes(out);
    }

    fn looked_up<'a>(
        &'a self,
        scope: &'a crate::tenancy::TenantHandle,
        parents: &'a [Uuid],
        limit: u64,
    ) -> BoxFuture<'a, ApiResult<super::filter::LookedUp>> {
        Box::pin(async move {
            use sea_orm::{ColumnTrait, QueryFilter};
            let mut fields = Vec::new();
            self.filter.personal_fields(&mut fields);
            fields.sort_unstable();
            fields.dedup();
            let ids = if parents.is_empty() {
                Vec::new()
            } else {
                let select = C::find()
                    .filter(self.parent.is_in(parents.iter().copied()))
                    .filter(self.filter.condition()?);
                scope.ids(select, limit).await?
            };
            Ok((C::decl().name, fields, ids))
        })
    }
}

impl<C: Declared> ManyTarget for Many<C> {
    fn compiled(&self) -> (&'static dyn super::compile::Table, &'static str) {
        (
            super::compile::table::<C>(),
            sea_orm::IdenStatic::as_str(&self.parent),
        )
    }

    fn filter_type(&self, registry: &mut Registry) -> String {
        <Option<Filter<C>> as async_graphql::InputType>::create_type_info(registry)
    }

    fn parse_some(&self, value: Value) -> Result<Arc<dyn SomeFilter>, String> {
        let filter = <Filter<C> as async_graphql::InputType>::parse(Some(value.clone()))
            .map_err(|e| e.into_server_error(Default::default()).message)?;
        Ok(Arc::new(SomeOf::<C> {
            parent: self.parent,
            filter,
            key: value.to_string(),
        }))
    }

    fn meta(&self, name: &str, doc: Option<&str>, registry: &mut Registry) -> MetaField {
        let args = vec![
            meta::input("first", "Int".into(), None),
            meta::input("after", "String".into(), None),
            meta::input(
                "filter",
                <Option<Filter<C>> as async_graphql::InputType>::create_type_info(registry),
                None,
            ),
            meta::input(
                "orderBy",
                <Option<Vec<Order<C>>> as async_graphql::InputType>::create_type_info(registry),
                None,
            ),
        ];
        let mut field = meta::with_args(
            meta::field(
                name,
                <Connection<C> as OutputType>::create_type_info(registry),
                doc,
            ),
            args,
        );
        field.compute_complexity = Some(meta::list_complexity);
        field
    }

    fn resolve<'a>(
        &'a self,
        ctx: &'a Context<'_>,
        parent: Uuid,
    ) -> BoxFuture<'a, ServerResult<Option<Value>>> {
        Box::pin(async move {
            let rc = RequestContext::of(ctx);
            rc.principal
                .require(C::decl().read)
                .map_err(|e| fail(ctx, e))?;
            let args = root::ListArgs::<C>::of(ctx)?;
            let (_, lookup) = root::Lookup::<C>::prepare(rc, &args).map_err(|e| fail(ctx, e))?;
            let page = children::<C>(
                ctx,
                self.parent,
                parent,
                args.first,
                args.after,
                args.filter,
                args.order_by,
                lookup.kind(),
            )
            .await
            .map_err(|e| fail(ctx, e))?;
            lookup.note(rc, &page.matched);
            lookup
                .note_related(rc, &page.matched)
                .await
                .map_err(|e| fail(ctx, e))?;
            resolve_at(ctx, &Connection::<C>::from(page)).await
        })
    }
}
