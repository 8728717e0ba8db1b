//! `search(text, first, kinds)`: one box that finds customers and people by what a caller has
//! in hand — a company name, a registration number, a city, a person's name, email or phone —
//! ranked, across every entity whose declaration names search columns ([`super::Decl::search`]).
//!
//! PostgreSQL matches on trigrams (`pg_trgm`), case and accents folded, typo-tolerant and
//! served by the indexes of the search migration (the searched text is one expression, taken
//! from `migration::search` by both). SQLite matches substrings with `LIKE` (ASCII case
//! folded), ranked exact, then prefix, then word prefix, then inside a word.
//!
//! An entity whose search columns are personal data is a lookup by personal data (invariant
//! 3): searched only under `pii:read` (and the tenant's purpose rule), refused and audited as
//! denied when asked for without it, and audited with the rows it returned when allowed.

use std::borrow::Cow;

use async_graphql::parser::types::Field as QueryField;
use async_graphql::registry::{MetaType, MetaTypeId, Registry};
use async_graphql::{
    Context, ContextSelectionSet, InputType, InputValueError, InputValueResult, Name, Object,
    OutputType, Positioned, ServerResult, Value,
};
use futures_util::future::BoxFuture;
use sea_orm::sea_query::{Alias, Expr, Order};
use sea_orm::{DbBackend, FromQueryResult, IdenStatic, QueryFilter, QueryOrder};
use sea_orm::{QuerySelect, Select};
use uuid::Uuid;

use super::{Declared, Node, meta, screaming};
use crate::audit::Outcome;
use crate::auth::Scope;
use crate::error::{ApiError, ApiResult, GqlResult};
use crate::graphql::context::RequestContext;

/// The shortest text searched: one letter would match nearly every row.
pub const MIN_CHARS: usize = 2;
pub const MAX_CHARS: usize = 100;
/// `first` when not given, and its most.
pub const DEFAULT_FIRST: i32 = 10;
pub const MAX_FIRST: i32 = 50;

/// An entity the search covers, as its declaration says.
pub struct Searched {
    /// Its GraphQL type (`Contact`).
    pub name: &'static str,
    pub table: &'static str,
    /// The searched columns, by column name.
    pub columns: Vec<&'static str>,
    pub read: Scope,
    /// The searched columns that are personal data: a search over them is a lookup.
    pub personal: Vec<&'static str>,
}

impl Searched {
    pub fn of<E: Declared>() -> Option<Searched> {
        let decl = E::decl();
        if decl.search.is_empty() {
            return None;
        }
        let personal = decl
            .search
            .iter()
            .filter(|c| super::Decl::<E>::is_personal_column(c))
            .map(|c| c.as_str())
            .collect();
        Some(Searched {
            name: decl.name,
            table: E::default().table_name(),
            columns: decl.search.iter().map(|c| c.as_str()).collect(),
            read: decl.read,
            personal,
        })
    }

    /// The value naming the entity in `kinds` (`CONTACT`).
    fn kind(&self) -> String {
        screaming(self.name).trim_start_matches('_').to_owned()
    }

    /// Whether the caller may search it, when they did not name what to search.
    fn allowed(&self, rc: &RequestContext) -> bool {
        rc.principal.has(self.read) && (self.personal.is_empty() || rc.may_read_personal().is_ok())
    }
}

type SearchedEntity = (Searched, &'static dyn super::root::RootEntity);

/// The entities the search covers, in the schema's order (read off their declarations once).
fn searched() -> impl Iterator<Item = &'static SearchedEntity> {
    static SEARCHED: std::sync::LazyLock<Vec<SearchedEntity>> = std::sync::LazyLock::new(|| {
        crate::graphql::entities()
            .iter()
            .filter_map(|entity| Some((entity.searched()?, entity.as_ref())))
            .collect()
    });
    SEARCHED.iter()
}

/// A row of any searched entity, resolved as its own object type.
pub trait HitNode: Send + Sync {
    fn type_name(&self) -> &'static str;
    fn id(&self) -> Uuid;
    fn resolve<'a>(
        &'a self,
        ctx: &'a ContextSelectionSet<'_>,
        field: &'a Positioned<QueryField>,
    ) -> BoxFuture<'a, ServerResult<Value>>;
}

impl<E: Declared> HitNode for Node<E> {
    fn type_name(&self) -> &'static str {
        E::decl().name
    }

    fn id(&self) -> Uuid {
        Node::id(self)
    }

    fn resolve<'a>(
        &'a self,
        ctx: &'a ContextSelectionSet<'_>,
        field: &'a Positioned<QueryField>,
    ) -> BoxFuture<'a, ServerResult<Value>> {
        Box::pin(OutputType::resolve(self, ctx, field))
    }
}

/// The rows of `E` matching `text`, best first, at most `first`: the tenant's only (the scoped
/// handle), gated and noted as a lookup when the searched columns are personal.
pub async fn search<E: Declared>(
    ctx: &Context<'_>,
    text: &str,
    first: u64,
) -> ApiResult<Vec<SearchHit>> {
    let rc = RequestContext::of(ctx);
    let decl = E::decl();
    let scope = rc.scope_for(decl.read)?;
    let (searched, _) = searched()
        .find(|(s, _)| s.name == decl.name)
        .unwrap_or_else(|| unreachable!("searched entities only"));
    rc.gate_lookup(
        decl.name,
        &searched.personal,
        &format!("searching {} by personal data", decl.many),
    )?;
    let ranked = match scope.backend() {
        DbBackend::Postgres => {
            let ranked = scope.search_ranked(searched.table, text, first).await?;
            let mut rows = rc
                .loaders
                .by_id::<E>()
                .load_many(ranked.iter().map(|(id, _)| *id))
                .await
                .map_err(crate::graphql::loader_err)?;
            // In the order and with the scores the search gave; a row gone since is left out.
            ranked
                .into_iter()
                .filter_map(|(id, score)| Some((rows.remove(&id)?, score)))
                .collect()
        }
        backend => {
            let select = like_matching::<E>(backend, &searched.columns, text).limit(first);
            let mut ranked = Vec::new();
            for row in scope.rows(select).await? {
                ranked.push((
                    E::Model::from_query_result(&row, "")?,
                    row.try_get("", SCORE)?,
                ));
            }
            ranked
        }
    };
    Ok(ranked
        .into_iter()
        .map(|(model, score)| SearchHit {
            score,
            node: SearchResult(Box::new(Node::<E>(model))),
        })
        .collect())
}

const SCORE: &str = "search_score";

/// `text` as a `LIKE` pattern's literal part.
fn escape_like(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// SQLite: the rows of `E` with `text` in one of `columns` (`LIKE`, ASCII case folded), with
/// their score: 1 for the whole field, 0.75 for its start, 0.5 for a word's start, 0.25
/// inside a word; best first.
fn like_matching<E: Declared>(backend: DbBackend, columns: &[&str], text: &str) -> Select<E> {
    let escaped = escape_like(text);
    let any = || {
        columns
            .iter()
            .map(|c| format!("\"{c}\" LIKE ? ESCAPE '\\'"))
            .collect::<Vec<_>>()
            .join(" OR ")
    };
    // Each `?` of `any()` binds the same pattern.
    let each = |pattern: String| vec![pattern; columns.len()];
    let matches = Expr::cust_with_values(format!("({})", any()), each(format!("%{escaped}%")));
    let tiers = [
        escaped.clone(),
        format!("{escaped}%"),
        format!("% {escaped}%"),
    ];
    let score = Expr::cust_with_values(
        format!(
            "CASE WHEN {} THEN 1.0 WHEN {} THEN 0.75 WHEN {} THEN 0.5 ELSE 0.25 END",
            any(),
            any(),
            any()
        ),
        tiers.into_iter().flat_map(each),
    );
    debug_assert_eq!(
        backend,
        DbBackend::Sqlite,
        "PostgreSQL searches with dossier_search()"
    );
    E::find()
        .expr_as(score, SCORE)
        .filter(matches)
        .order_by(Expr::col(Alias::new(SCORE)), Order::Desc)
        .order_by(E::id_column(), Order::Asc)
}

/// An entity to search, as `kinds` names it (`CUSTOMER`, `CONTACT`).
#[derive(Clone, PartialEq, Eq)]
pub struct SearchKind(&'static str);

impl InputType for SearchKind {
    type RawValueType = Self;

    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed("SearchKind")
    }

    fn create_type_info(registry: &mut Registry) -> String {
        registry.create_input_type::<Self, _>(MetaTypeId::Enum, |_| {
            let values = searched().map(|(s, _)| (s.kind(), None)).collect();
            meta::enumeration(
                "SearchKind",
                std::any::type_name::<Self>(),
                Some("What `search` looks through."),
                values,
            )
        })
    }

    fn parse(value: Option<Value>) -> InputValueResult<Self> {
        let name = match &value {
            Some(Value::Enum(name)) => name.as_str(),
            Some(Value::String(name)) => name.as_str(),
            _ => return Err(InputValueError::expected_type(value.unwrap_or_default())),
        };
        searched()
            .find(|(s, _)| s.kind() == name)
            .map(|(s, _)| SearchKind(s.name))
            .ok_or_else(|| InputValueError::custom(format!("no kind `{name}`")))
    }

    fn to_value(&self) -> Value {
        let kind = searched()
            .find(|(s, _)| s.name == self.0)
            .map(|(s, _)| s.kind());
        Value::Enum(Name::new(kind.unwrap_or_default()))
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }
}

/// A found row: a `Customer` or a `Contact` (every searched entity's object type).
pub struct SearchResult(Box<dyn HitNode>);

impl OutputType for SearchResult {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed("SearchResult")
    }

    fn introspection_type_name(&self) -> Cow<'static, str> {
        Cow::Borrowed(self.0.type_name())
    }

    fn create_type_info(registry: &mut Registry) -> String {
        registry.create_output_type::<Self, _>(MetaTypeId::Union, |registry| {
            let possible_types = searched()
                .map(|(_, entity)| entity.node_type(registry))
                .collect();
            MetaType::Union {
                name: "SearchResult".to_owned(),
                description: Some("A row `search` found.".to_owned()),
                possible_types,
                visible: None,
                inaccessible: false,
                tags: Vec::new(),
                rust_typename: Some(std::any::type_name::<Self>()),
                directive_invocations: Vec::new(),
            }
        })
    }

    async fn resolve(
        &self,
        ctx: &ContextSelectionSet<'_>,
        field: &Positioned<QueryField>,
    ) -> ServerResult<Value> {
        self.0.resolve(ctx, field).await
    }
}

/// One result of `search`.
pub struct SearchHit {
    score: f64,
    node: SearchResult,
}

#[Object]
impl SearchHit {
    /// How well the row matched, from 0 to 1; results come in descending order of it: the
    /// text as a whole word or field above the text at a word's start, above the text inside
    /// a word. On PostgreSQL, when no row holds the text, rows that come close to it (a typo
    /// away) score below 0.5.
    async fn score(&self) -> f64 {
        self.score
    }

    async fn node(&self) -> &SearchResult {
        &self.node
    }
}

#[derive(Default)]
pub struct SearchQuery;

#[Object]
impl SearchQuery {
    /// Customers by name, registration number, city or external reference, and people by
    /// name, email or phone, best match first. On PostgreSQL the match forgives case, accents
    /// and typos; on SQLite it finds the text inside a field (case-insensitive for ASCII).
    /// People are searched only with `pii:read`, and such a search is recorded in the audit
    /// log as a lookup with the people it returned.
    #[graphql(complexity = "crate::graphql::page::list_complexity(first, child_complexity)")]
    async fn search(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "At least 2 and at most 100 characters.")] text: String,
        #[graphql(desc = "At most 50; 10 when not given.")] first: Option<i32>,
        #[graphql(desc = "What to search; everything the caller may read when not given.")]
        kinds: Option<Vec<SearchKind>>,
    ) -> GqlResult<Vec<SearchHit>> {
        let rc = RequestContext::of(ctx);
        let first = first.unwrap_or(DEFAULT_FIRST);
        let text = text.trim();
        crate::validate::text("text", text, MAX_CHARS)?;
        if text.chars().count() < MIN_CHARS {
            return Err(ApiError::BadUserInput(format!(
                "text: must be at least {MIN_CHARS} characters long"
            ))
            .into());
        }
        if !(1..=MAX_FIRST).contains(&first) {
            return Err(ApiError::BadUserInput(format!(
                "first: must be between 1 and {MAX_FIRST}"
            ))
            .into());
        }
        let chosen: Vec<_> = match &kinds {
            Some(kinds) if kinds.is_empty() => {
                return Err(ApiError::BadUserInput("kinds: name at least one".into()).into());
            }
            Some(kinds) => searched()
                .filter(|(s, _)| kinds.contains(&SearchKind(s.name)))
                .collect(),
            None => searched().filter(|(s, _)| s.allowed(rc)).collect(),
        };
        if chosen.is_empty() {
            let scopes: Vec<_> = searched().map(|(s, _)| s.read.as_str()).collect();
            return Err(ApiError::Forbidden(format!(
                "searching needs one of the scopes `{}`",
                scopes.join("`, `")
            ))
            .into());
        }
        let mut hits = Vec::new();
        for (_, entity) in &chosen {
            hits.extend(entity.search(ctx, text, first as u64).await?);
        }
        // Stable: among equal scores, the schema's order of entities.
        hits.sort_by(|a, b| b.score.total_cmp(&a.score));
        hits.truncate(first as usize);
        for (searched, _) in chosen.iter().filter(|(s, _)| !s.personal.is_empty()) {
            let ids: Vec<Uuid> = hits
                .iter()
                .filter(|h| h.node.0.type_name() == searched.name)
                .map(|h| h.node.0.id())
                .collect();
            rc.reads
                .note_all(searched.name, &ids, &searched.personal, Outcome::Allowed);
        }
        Ok(hits)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_searched_entity_is_indexed_on_the_columns_it_searches() {
        let mut seen = 0;
        for (searched, _) in searched() {
            assert_eq!(
                migration::search::indexed(searched.table),
                Some(searched.columns.as_slice()),
                "{}: the search migration indexes other columns than the declaration searches",
                searched.name
            );
            seen += 1;
        }
        assert_eq!(seen, 2, "customers and contacts are searched");
    }

    #[test]
    fn like_metacharacters_match_themselves() {
        assert_eq!(escape_like(r"50%_off\"), r"50\%\_off\\");
    }
}
