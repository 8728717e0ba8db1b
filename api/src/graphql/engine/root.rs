//! The root fields of every declared entity: `customer(id)` and `customers(filter, orderBy,
//! first, after)` on `Query`; `createCustomer`, `updateCustomer`, `deleteCustomer` on
//! `Mutation`. A list's personal-data lookup (a filter or an ordering on a personal field) is
//! gated and audited here, for root and nested lists alike.

use std::borrow::Cow;
use std::marker::PhantomData;

use async_graphql::parser::types::Field as QueryField;
use async_graphql::registry::{MetaField, MetaTypeId, Registry};
use async_graphql::resolver_utils::resolve_container;
use async_graphql::{
    ContainerType, Context, ContextSelectionSet, ObjectType, OutputType, Positioned, ServerError,
    ServerResult, Value,
};
use futures_util::future::BoxFuture;
use sea_orm::{Condition, DatabaseTransaction, QueryFilter};
use uuid::Uuid;

use super::filter::Filter;
use super::node::{Connection, Node, resolve_at};
use super::order::Order;
use super::relation::fail;
use super::write::{CreateInput, UpdateInput};
use super::{Declared, meta};
use crate::audit::{NewEvent, Outcome};
use crate::auth::Principal;
use crate::error::ApiResult;
use crate::graphql::context::RequestContext;
use crate::graphql::page;
use crate::tenancy::Scoped;

/// The arguments of a list field.
pub struct ListArgs<C: Declared> {
    pub filter: Option<Filter<C>>,
    pub order_by: Vec<Order<C>>,
    pub first: Option<i32>,
    pub after: Option<String>,
}

/// An argument of the field `ctx` resolves; one that does not parse is an error at the
/// field's path (`BAD_USER_INPUT`), as in a hand-written resolver.
pub fn arg<T: async_graphql::InputType>(ctx: &Context<'_>, name: &str) -> Result<T, ServerError> {
    ctx.param_value::<T>(name, None)
        .map(|(_, value)| value)
        .map_err(|err| ctx.set_error_path(err))
}

impl<C: Declared> ListArgs<C> {
    pub fn of(ctx: &Context<'_>) -> Result<Self, ServerError> {
        Ok(ListArgs {
            filter: arg(ctx, "filter")?,
            order_by: arg::<Option<Vec<Order<C>>>>(ctx, "orderBy")?.unwrap_or_default(),
            first: arg(ctx, "first")?,
            after: arg(ctx, "after")?,
        })
    }
}

/// Whether a list is a lookup by personal data, and by which fields (invariant 3): such a
/// lookup is an access even when it returns no personal field, since it tells whether someone
/// is in the file. It needs `pii:read`; refused, it is audited as denied; allowed, it is
/// audited with the fields used and every row the answer depended on ([`page::Lookup`]).
pub struct Lookup<C: Declared> {
    personal: Vec<&'static str>,
    /// Related-row filters by personal data: each also names the related rows it matched.
    related: Vec<std::sync::Arc<dyn super::filter::SomeFilter>>,
    entity: PhantomData<fn() -> C>,
}

impl<C: Declared> Lookup<C> {
    /// Validates the list's filter, and gates and notes its lookup before any row is read
    /// (so that a lookup refused on the way — too many to count — is on record too).
    pub fn prepare(rc: &RequestContext, args: &ListArgs<C>) -> ApiResult<(Condition, Self)> {
        // What the filter and the ordering read of other rows needs those rows' read scopes,
        // as reading them would.
        let mut scopes = Vec::new();
        if let Some(filter) = &args.filter {
            filter.scopes(&mut scopes);
        }
        for order in &args.order_by {
            let computed = C::decl().computed_sorts.iter();
            scopes.extend(
                computed
                    .filter(|c| c.name == order.field)
                    .filter_map(|c| c.scope),
            );
        }
        rc.principal.require_all(&scopes)?;
        let mut personal = Vec::new();
        let mut related = Vec::new();
        let cond = match &args.filter {
            Some(filter) => {
                filter.personal_fields(&mut personal);
                filter.personal_relations(&mut related);
                filter.condition()?
            }
            None => Condition::all(),
        };
        Order::personal_fields(&args.order_by, &mut personal);
        personal.sort_unstable();
        personal.dedup();
        let lookup = Lookup {
            personal,
            related,
            entity: PhantomData,
        };
        rc.gate_lookup(
            C::decl().name,
            &lookup.personal,
            "filtering or ordering by personal data",
        )?;
        Ok((cond, lookup))
    }

    pub fn kind(&self) -> page::Lookup {
        if self.personal.is_empty() {
            page::Lookup::Plain
        } else {
            page::Lookup::Personal
        }
    }

    /// Notes the rows the answer depended on.
    pub fn note(&self, rc: &RequestContext, matched: &[Uuid]) {
        if !self.personal.is_empty() {
            rc.reads
                .note_all(C::decl().name, matched, &self.personal, Outcome::Allowed);
        }
    }

    /// Notes the related rows a lookup by their personal data matched among `matched`.
    pub async fn note_related(&self, rc: &RequestContext, matched: &[Uuid]) -> ApiResult<()> {
        for some in &self.related {
            let (entity, fields, ids) = some
                .looked_up(&rc.scope, matched, page::PERSONAL_COUNT_MAX + 1)
                .await?;
            if ids.len() as u64 > page::PERSONAL_COUNT_MAX {
                return Err(page::personal_count_too_large());
            }
            rc.reads.note_all(entity, &ids, &fields, Outcome::Allowed);
        }
        Ok(())
    }
}

/// An entity as the root types see it, whatever it is.
pub trait RootEntity: Send + Sync {
    /// The connection fields this entity's relations give other types, by type.
    fn reverse_fields(&self) -> Vec<(&'static str, super::dependents::ReverseField)>;
    /// See [`super::dependents::keeps`].
    fn keeps<'a>(
        &'a self,
        tx: &'a Scoped<&'a DatabaseTransaction>,
        parent: &'static str,
        id: Uuid,
        erasing: bool,
    ) -> BoxFuture<'a, ApiResult<()>>;
    /// See [`super::dependents::follow`].
    fn follow<'a>(
        &'a self,
        tx: &'a Scoped<&'a DatabaseTransaction>,
        principal: Option<&'a Principal>,
        parent: &'static str,
        id: Uuid,
        erasing: bool,
    ) -> BoxFuture<'a, ApiResult<Vec<NewEvent>>>;
    /// See [`super::dependents::export`].
    fn export<'a>(
        &'a self,
        tx: &'a Scoped<&'a DatabaseTransaction>,
        parent: &'static str,
        id: Uuid,
    ) -> BoxFuture<'a, ApiResult<Vec<(&'static str, serde_json::Value)>>>;
    /// What `search` matches on, when the entity is searched.
    fn searched(&self) -> Option<super::search::Searched>;
    /// The entity as compiled reads see it.
    fn table(&self) -> &'static dyn super::compile::Table;
    /// The root field of one row by id (`customer`).
    fn one_field(&self) -> &'static str;
    /// The root field of the connection (`customers`).
    fn many_field(&self) -> &'static str;
    /// Registers the entity's object type; its name.
    fn node_type(&self, registry: &mut Registry) -> String;
    /// See [`super::search::search`].
    fn search<'a>(
        &'a self,
        ctx: &'a Context<'_>,
        text: &'a str,
        first: u64,
    ) -> BoxFuture<'a, ApiResult<Vec<super::search::SearchHit>>>;
    fn query_fields(&self, registry: &mut Registry) -> Vec<MetaField>;
    fn mutation_fields(&self, registry: &mut Registry) -> Vec<MetaField>;
    fn resolve_query<'a>(
        &'a self,
        ctx: &'a Context<'_>,
    ) -> Option<BoxFuture<'a, ServerResult<Option<Value>>>>;
    fn resolve_mutation<'a>(
        &'a self,
        ctx: &'a Context<'_>,
    ) -> Option<BoxFuture<'a, ServerResult<Option<Value>>>>;
}

/// The root fields of `E`.
pub struct Root<E>(PhantomData<fn() -> E>);

impl<E: Declared> Root<E> {
    pub fn entity() -> std::sync::Arc<dyn RootEntity> {
        std::sync::Arc::new(Root::<E>(PhantomData))
    }

    fn names() -> [String; 3] {
        let name = E::decl().name;
        [
            format!("create{name}"),
            format!("update{name}"),
            format!("delete{name}"),
        ]
    }

    async fn one(ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        let id = arg::<Uuid>(ctx, "id")?;
        let rc = RequestContext::of(ctx);
        rc.principal
            .require(E::decl().read)
            .map_err(|e| fail(ctx, e))?;
        let row = rc
            .loaders
            .by_id::<E>()
            .load_one(id)
            .await
            .map_err(|e| fail(ctx, crate::graphql::loader_err(e)))?;
        match row {
            Some(row) => resolve_at(ctx, &Node::<E>(row)).await,
            None => Ok(Some(Value::Null)),
        }
    }

    async fn many(ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        let args = ListArgs::<E>::of(ctx)?;
        let connection = list::<E>(ctx, args).await.map_err(|e| fail(ctx, e))?;
        resolve_at(ctx, &connection).await
    }
}

/// A root list of `E` — the one path of `customers(…)` and of a segment's customers: read
/// scope, the lookup's gate and audit, derived data brought up to date, the page.
pub async fn list<E: Declared>(ctx: &Context<'_>, args: ListArgs<E>) -> ApiResult<Connection<E>> {
    let rc = RequestContext::of(ctx);
    let scope = rc.scope_for(E::decl().read)?;
    let (cond, lookup) = Lookup::prepare(rc, &args)?;
    (E::decl().hooks.before_list)(rc).await?;
    let page = page::fetch_field(
        ctx,
        scope,
        E::find().filter(cond),
        &Order::ordering(&args.order_by, Some(&rc.tenant)),
        args.first,
        args.after.as_deref(),
        lookup.kind(),
    )
    .await?;
    lookup.note(rc, &page.matched);
    lookup.note_related(rc, &page.matched).await?;
    Ok(Connection::<E>::from(page))
}

impl<E: Declared> RootEntity for Root<E> {
    fn reverse_fields(&self) -> Vec<(&'static str, super::dependents::ReverseField)> {
        super::dependents::reverse_fields_of::<E>()
    }

    fn keeps<'a>(
        &'a self,
        tx: &'a Scoped<&'a DatabaseTransaction>,
        parent: &'static str,
        id: Uuid,
        erasing: bool,
    ) -> BoxFuture<'a, ApiResult<()>> {
        Box::pin(super::dependents::keeps::<E>(tx, parent, id, erasing))
    }

    fn follow<'a>(
        &'a self,
        tx: &'a Scoped<&'a DatabaseTransaction>,
        principal: Option<&'a Principal>,
        parent: &'static str,
        id: Uuid,
        erasing: bool,
    ) -> BoxFuture<'a, ApiResult<Vec<NewEvent>>> {
        Box::pin(super::dependents::follow::<E>(
            tx, principal, parent, id, erasing,
        ))
    }

    fn export<'a>(
        &'a self,
        tx: &'a Scoped<&'a DatabaseTransaction>,
        parent: &'static str,
        id: Uuid,
    ) -> BoxFuture<'a, ApiResult<Vec<(&'static str, serde_json::Value)>>> {
        Box::pin(super::dependents::export::<E>(tx, parent, id))
    }

    fn searched(&self) -> Option<super::search::Searched> {
        super::search::Searched::of::<E>()
    }

    fn table(&self) -> &'static dyn super::compile::Table {
        super::compile::table::<E>()
    }

    fn one_field(&self) -> &'static str {
        E::decl().one
    }

    fn many_field(&self) -> &'static str {
        E::decl().many
    }

    fn node_type(&self, registry: &mut Registry) -> String {
        <Node<E> as OutputType>::create_type_info(registry);
        E::decl().name.to_owned()
    }

    fn search<'a>(
        &'a self,
        ctx: &'a Context<'_>,
        text: &'a str,
        first: u64,
    ) -> BoxFuture<'a, ApiResult<Vec<super::search::SearchHit>>> {
        Box::pin(super::search::search::<E>(ctx, text, first))
    }

    fn query_fields(&self, registry: &mut Registry) -> Vec<MetaField> {
        let decl = E::decl();
        let one_doc = format!(
            "A {} by id; `null` when the caller's tenant has none with this id.",
            decl.one
        );
        let one = meta::with_args(
            meta::field(
                decl.one,
                <Option<Node<E>> as OutputType>::create_type_info(registry),
                Some(&one_doc),
            ),
            vec![meta::input("id", "UUID!".into(), None)],
        );
        let args = vec![
            meta::input(
                "filter",
                <Option<Filter<E>> as async_graphql::InputType>::create_type_info(registry),
                None,
            ),
            meta::input(
                "orderBy",
                <Option<Vec<Order<E>>> as async_graphql::InputType>::create_type_info(registry),
                None,
            ),
            meta::input("first", "Int".into(), None),
            meta::input("after", "String".into(), None),
        ];
        let mut many = meta::with_args(
            meta::field(
                decl.many,
                <Connection<E> as OutputType>::create_type_info(registry),
                decl.many_doc,
            ),
            args,
        );
        many.compute_complexity = Some(meta::list_complexity);
        vec![one, many]
    }

    fn mutation_fields(&self, registry: &mut Registry) -> Vec<MetaField> {
        let decl = E::decl();
        let [create, update, delete] = Self::names();
        let node = <Node<E> as OutputType>::create_type_info(registry);
        vec![
            meta::with_args(
                meta::field(&create, node.clone(), None),
                vec![meta::input(
                    "input",
                    <CreateInput<E> as async_graphql::InputType>::create_type_info(registry),
                    None,
                )],
            ),
            meta::with_args(
                meta::field(&update, node, None),
                vec![
                    meta::input("id", "UUID!".into(), None),
                    meta::input(
                        "input",
                        <UpdateInput<E> as async_graphql::InputType>::create_type_info(registry),
                        None,
                    ),
                ],
            ),
            meta::with_args(
                meta::field(&delete, "UUID!".into(), decl.delete_doc),
                vec![meta::input("id", "UUID!".into(), None)],
            ),
        ]
    }

    fn resolve_query<'a>(
        &'a self,
        ctx: &'a Context<'_>,
    ) -> Option<BoxFuture<'a, ServerResult<Option<Value>>>> {
        let decl = E::decl();
        let name = ctx.item.node.name.node.as_str();
        if name == decl.one {
            Some(Box::pin(Self::one(ctx)))
        } else if name == decl.many {
            Some(Box::pin(Self::many(ctx)))
        } else {
            None
        }
    }

    fn resolve_mutation<'a>(
        &'a self,
        ctx: &'a Context<'_>,
    ) -> Option<BoxFuture<'a, ServerResult<Option<Value>>>> {
        let [create, update, delete] = Self::names();
        let name = ctx.item.node.name.node.as_str();
        if name == create {
            Some(Box::pin(async move {
                let input = arg::<CreateInput<E>>(ctx, "input")?;
                let row = super::write::create::<E>(ctx, input)
                    .await
                    .map_err(|e| fail(ctx, e))?;
                resolve_at(ctx, &Node::<E>(row)).await
            }))
        } else if name == update {
            Some(Box::pin(async move {
                let id = arg::<Uuid>(ctx, "id")?;
                let input = arg::<UpdateInput<E>>(ctx, "input")?;
                let row = super::write::update::<E>(ctx, id, input)
                    .await
                    .map_err(|e| fail(ctx, e))?;
                resolve_at(ctx, &Node::<E>(row)).await
            }))
        } else if name == delete {
            Some(Box::pin(async move {
                let id = arg::<Uuid>(ctx, "id")?;
                let id = super::write::delete::<E>(ctx, id)
                    .await
                    .map_err(|e| fail(ctx, e))?;
                Ok(Some(Value::String(id.to_string())))
            }))
        } else {
            None
        }
    }
}

/// The `Query` fields of every declared entity, merged into the schema's `Query`.
#[derive(Default)]
pub struct EngineQuery;

/// The `Mutation` fields of every declared entity, merged into the schema's `Mutation`.
#[derive(Default)]
pub struct EngineMutation;

macro_rules! root_type {
    ($ty:ident, $name:literal, $fields:ident, $resolve:ident) => {
        impl OutputType for $ty {
            fn type_name() -> Cow<'static, str> {
                Cow::Borrowed($name)
            }

            fn create_type_info(registry: &mut Registry) -> String {
                registry.create_output_type::<Self, _>(MetaTypeId::Object, |registry| {
                    let fields = crate::graphql::entities()
                        .iter()
                        .flat_map(|entity| entity.$fields(registry))
                        .collect();
                    meta::object($name, std::any::type_name::<Self>(), None, fields)
                })
            }

            async fn resolve(
                &self,
                ctx: &ContextSelectionSet<'_>,
                _field: &Positioned<QueryField>,
            ) -> ServerResult<Value> {
                resolve_container(ctx, self).await
            }
        }

        impl ContainerType for $ty {
            async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
                for entity in crate::graphql::entities() {
                    if let Some(resolving) = entity.$resolve(ctx) {
                        return resolving.await;
                    }
                }
                Ok(None)
            }
        }

        impl ObjectType for $ty {}
    };
}

root_type!(EngineQuery, "EngineQuery", query_fields, resolve_query);
root_type!(
    EngineMutation,
    "EngineMutation",
    mutation_fields,
    resolve_mutation
);
