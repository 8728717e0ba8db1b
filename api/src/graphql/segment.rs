//! Segments: named, saved filters over the customers, in the customers' own filter language
//! (their fields, their aggregates, their contacts', sales' and interactions' fields), evaluated
//! live through the same path as `customers(filter: …)` — so a segment that reads personal
//! data needs `pii:read` and is audited as a lookup, like the filter it holds.

use async_graphql::{Context, InputType, Object, Value};
use entity::customer;
use entity::segment::{Column, Model};
use sea_orm::ActiveValue::Set;

use crate::auth::Scope;
use crate::error::{ApiError, ApiResult, GqlResult};
use crate::graphql::context::RequestContext;
use crate::graphql::engine::filter::Filter;
use crate::graphql::engine::node::Connection;
use crate::graphql::engine::order::Order;
use crate::graphql::engine::root::{ListArgs, list};
use crate::graphql::engine::{Decl, FilterKind, Hooks, SortKind, field, text, time_field};
use crate::graphql::page::list_complexity;

crate::declared!(
    entity::segment::Entity,
    declare,
    SegmentMore,
    crate::graphql::engine::NoFilterExtras
);

type CustomerFilter = Filter<customer::Entity>;

/// The segment's filter as stored, parsed again (it was checked when it was saved).
fn stored(model: &Model) -> ApiResult<CustomerFilter> {
    let json: serde_json::Value = serde_json::from_str(&model.filter)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("segment {}: {e}", model.id)))?;
    let value = Value::from_json(json)
        .map_err(|e| ApiError::internal(anyhow::anyhow!("segment {}: {e}", model.id)))?;
    CustomerFilter::parse(Some(value)).map_err(|e| {
        ApiError::internal(anyhow::anyhow!(
            "segment {}: {}",
            model.id,
            e.into_server_error(Default::default()).message
        ))
    })
}

fn declare() -> Decl<entity::segment::Entity> {
    Decl {
        name: "Segment",
        doc: "A named, saved filter over the customers, evaluated live.",
        one: "segment",
        many: "segments",
        many_doc: None,
        read: Scope::CustomersRead,
        write: Scope::CustomersWrite,
        members: vec![
            crate::graphql::engine::id_field(Column::Id, |m| m.id).into(),
            field("name", Column::Name)
                .show(|m: &Model| m.name.clone())
                .filter(FilterKind::text())
                .sort(SortKind::Plain)
                .required_text(100)
                .into(),
            text("description", Column::Description, 1_000).into(),
            field("filter", Column::Filter)
                .doc("The customers' filter it holds, as given.")
                .extra()
                .required::<CustomerFilter>(|m, filter, _| {
                    // Refused now, with the filter's own error, rather than when evaluated.
                    filter.condition()?;
                    let json = filter
                        .to_value()
                        .into_json()
                        .map_err(|e| ApiError::BadUserInput(e.to_string()))?;
                    m.filter = Set(json.to_string());
                    Ok(())
                })
                .into(),
            time_field("createdAt", Column::CreatedAt, |m| m.created_at).into(),
            time_field("updatedAt", Column::UpdatedAt, |m| m.updated_at).into(),
        ],
        default_order: vec![("name", crate::graphql::OrderDirection::Asc)],
        created_at: Some(Column::CreatedAt),
        updated_at: Some(Column::UpdatedAt),
        concurrent: false,
        delete_doc: None,
        search: Vec::new(),
        computed_sorts: Vec::new(),
        derived: Vec::new(),
        hooks: Hooks::default(),
    }
}

/// The fields of a segment that are not plain columns.
pub struct SegmentMore<'a>(&'a Model);

#[Object]
impl SegmentMore<'_> {
    /// The customers' filter it holds, as given. It shows what it reads, so it is shown
    /// under the read scopes evaluating it needs and, when it reads personal data, under
    /// `pii:read` — a read that is audited.
    async fn filter(&self, ctx: &Context<'_>) -> GqlResult<async_graphql::Json<serde_json::Value>> {
        let rc = RequestContext::of(ctx);
        let filter = stored(self.0)?;
        let mut scopes = Vec::new();
        filter.scopes(&mut scopes);
        rc.principal.require_all(&scopes)?;
        let mut personal = Vec::new();
        filter.personal_fields(&mut personal);
        if !personal.is_empty() {
            rc.gate_read("Segment", self.0.id, "filter")?;
        }
        let json = serde_json::from_str(&self.0.filter)
            .map_err(|e| ApiError::internal(anyhow::anyhow!("segment {}: {e}", self.0.id)))?;
        Ok(async_graphql::Json(json))
    }

    /// Whether evaluating it reads personal data (a filter on contacts' names, say): it then
    /// needs `pii:read`, and each evaluation is audited as a lookup.
    async fn uses_personal_data(&self) -> GqlResult<bool> {
        let mut fields = Vec::new();
        stored(self.0)?.personal_fields(&mut fields);
        Ok(!fields.is_empty())
    }

    /// The customers it matches now, as `customers(filter: …)` would list them.
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        order_by: Option<Vec<Order<customer::Entity>>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<Connection<customer::Entity>> {
        let args = ListArgs {
            filter: Some(stored(self.0)?),
            order_by: order_by.unwrap_or_default(),
            first,
            after,
        };
        Ok(list::<customer::Entity>(ctx, args).await?)
    }
}
