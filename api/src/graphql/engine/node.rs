//! The object type of an entity (`Customer`), its connection and its edge, generated from the
//! declaration. A personal field resolves through the one gate
//! ([`personal_field`](crate::graphql::personal_field)): without `pii:read` it is `null` with a `FORBIDDEN` error at
//! its path, and either way the access is noted for the request's audit event.

use std::borrow::Cow;
use std::marker::PhantomData;

use async_graphql::parser::types::Field as QueryField;
use async_graphql::registry::{MetaTypeId, Registry};
use async_graphql::resolver_utils::{resolve_container, resolve_container_serial};
use async_graphql::{
    ContainerType, Context, ContextSelectionSet, ObjectType, OutputType, Positioned, ServerResult,
    Value,
};

use super::{Declared, Member, meta};
use crate::graphql::page::{Cursor, Page, PageInfo};
use crate::graphql::{personal_data, personal_field};

/// One row of an entity, as its GraphQL object.
pub struct Node<E: Declared>(pub E::Model);

impl<E: Declared> Node<E> {
    pub fn id(&self) -> uuid::Uuid {
        crate::tenancy::id_of::<E>(&self.0).unwrap_or_default()
    }
}

/// Resolves `value` for the field `ctx` is at: what a generated resolver returns.
pub async fn resolve_at<T: OutputType>(
    ctx: &Context<'_>,
    value: &T,
) -> ServerResult<Option<Value>> {
    let inner = ctx.with_selection_set(&ctx.item.node.selection_set);
    OutputType::resolve(value, &inner, ctx.item).await.map(Some)
}

impl<E: Declared> OutputType for Node<E> {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed(E::decl().name)
    }

    fn create_type_info(registry: &mut Registry) -> String {
        registry.create_output_type::<Self, _>(MetaTypeId::Object, |registry| {
            let decl = E::decl();
            let mut extras = meta::fields_of::<E::Extras<'static>>(registry);
            let mut fields = Vec::new();
            for member in &decl.members {
                match member {
                    Member::Field(field) => {
                        if let Some(output) = &field.output {
                            let mut meta =
                                meta::field(field.name, (output.type_info)(registry), field.doc);
                            if super::Decl::<E>::is_personal(field) {
                                meta = meta::with_directive(meta, personal_data::apply());
                            }
                            fields.push(meta);
                        } else if field.from_extras
                            && let Some(meta) = extras.shift_remove(field.name)
                        {
                            fields.push(meta);
                        }
                    }
                    Member::ToOne(relation) => fields.push(relation.meta(registry)),
                }
            }
            for reverse in super::dependents::reverse_fields(decl.name) {
                fields.push(reverse.target.meta(reverse.name, reverse.doc, registry));
            }
            fields.extend(extras.into_values());
            meta::object(
                decl.name,
                std::any::type_name::<Self>(),
                Some(decl.doc),
                fields,
            )
        })
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<QueryField>,
    ) -> ServerResult<Value> {
        if E::decl().concurrent {
            resolve_container(ctx, self).await
        } else {
            resolve_container_serial(ctx, self).await
        }
    }
}

impl<E: Declared> ContainerType for Node<E> {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        let name = ctx.item.node.name.node.as_str();
        let decl = E::decl();
        for member in &decl.members {
            match member {
                Member::Field(field) if field.name == name => {
                    let Some(output) = &field.output else { break };
                    let value = (output.value)(&self.0);
                    if !super::Decl::<E>::is_personal(field) {
                        return Ok(Some(value));
                    }
                    // The one gate of personal fields, as hand-written types use it.
                    let gated = personal_field::<E, _>(ctx, field.column(), self.id(), Some(value));
                    return Ok(Some(gated.unwrap_or(Value::Null)));
                }
                Member::ToOne(relation) if relation.name == name => {
                    return relation.resolve(ctx, &self.0).await;
                }
                _ => {}
            }
        }
        if let Some(reverse) = super::dependents::reverse_fields(decl.name)
            .iter()
            .find(|r| r.name == name)
        {
            return reverse.target.resolve(ctx, self.id()).await;
        }
        E::extras(&self.0).resolve_field(ctx).await
    }
}

impl<E: Declared> ObjectType for Node<E> {}

/// One row of a page with its position.
pub struct Edge<E: Declared> {
    cursor: Cursor,
    node: Node<E>,
}

impl<E: Declared> OutputType for Edge<E> {
    fn type_name() -> Cow<'static, str> {
        super::named(E::decl().name, "Edge")
    }

    fn create_type_info(registry: &mut Registry) -> String {
        meta::register_object::<Self>(registry, None, |registry| {
            vec![
                meta::field(
                    "cursor",
                    "String!".into(),
                    Some("This row's position, for `after`."),
                ),
                meta::field(
                    "node",
                    <Node<E> as OutputType>::create_type_info(registry),
                    None,
                ),
            ]
        })
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        _field: &Positioned<QueryField>,
    ) -> ServerResult<Value> {
        // Two cheap fields per row; the edges of a page resolve concurrently.
        resolve_container_serial(ctx, self).await
    }
}

impl<E: Declared> ContainerType for Edge<E> {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        match ctx.item.node.name.node.as_str() {
            "cursor" => Ok(Some(Value::String(self.cursor.encode()))),
            "node" => resolve_at(ctx, &self.node).await,
            _ => Ok(None),
        }
    }
}

impl<E: Declared> ObjectType for Edge<E> {}

/// A Relay connection over an entity's rows.
pub struct Connection<E: Declared> {
    edges: Vec<Edge<E>>,
    page_info: PageInfo,
    total: Option<u64>,
    entity: PhantomData<fn() -> E>,
}

impl<E: Declared> From<Page<E::Model>> for Connection<E> {
    fn from(page: Page<E::Model>) -> Self {
        let page_info = page.page_info();
        Connection {
            edges: page
                .rows
                .into_iter()
                .map(|(cursor, row)| Edge {
                    cursor,
                    node: Node(row),
                })
                .collect(),
            page_info,
            total: page.total,
            entity: PhantomData,
        }
    }
}

impl<E: Declared> OutputType for Connection<E> {
    fn type_name() -> Cow<'static, str> {
        super::named(E::decl().name, "Connection")
    }

    fn create_type_info(registry: &mut Registry) -> String {
        meta::register_object::<Self>(registry, None, |registry| {
            vec![
                meta::field(
                    "edges",
                    <Vec<Edge<E>> as OutputType>::create_type_info(registry),
                    None,
                ),
                meta::field(
                    "pageInfo",
                    <PageInfo as OutputType>::create_type_info(registry),
                    None,
                ),
                meta::field(
                    "totalCount",
                    "Int!".into(),
                    Some("How many rows match the filter, on all pages."),
                ),
            ]
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

impl<E: Declared> ContainerType for Connection<E> {
    async fn resolve_field(&self, ctx: &Context<'_>) -> ServerResult<Option<Value>> {
        match ctx.item.node.name.node.as_str() {
            "edges" => resolve_at(ctx, &self.edges).await,
            "pageInfo" => resolve_at(ctx, &self.page_info).await,
            "totalCount" => Ok(Some(Value::from(self.total.unwrap_or(0) as i64))),
            _ => Ok(None),
        }
    }
}

impl<E: Declared> ObjectType for Connection<E> {}
