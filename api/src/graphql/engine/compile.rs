//! Compiled reads: a validated query whose selection the engine understands becomes one SQL
//! statement per root field that builds the field's JSON in the database (PostgreSQL:
//! `json_build_object` and `json_agg`; SQLite: `json_object` and `json_group_array`), instead
//! of a resolver per field and a statement per nested level.
//!
//! async-graphql still parses and validates the operation (every limit applies); the
//! [`CompiledReads`] extension then answers it here when [`plan`] covers all of it, and hands
//! it to the resolvers otherwise — they stay the reference path, and the differential tests
//! run the same operations through both. What is covered: the engine's root fields (`customer(id)`,
//! `customers(first)`…), their columns, connections (root and nested) by `first`, `after`,
//! `filter` and `orderBy` on the row's own columns, with their `totalCount`, `pageInfo` and
//! edges' `cursor`, the rows a row names (`Sale.customer`), computed objects an entity
//! declares for the compiler ([`Derived`]: a customer's `stats`), aliases, fragments,
//! `@skip`/`@include` and `__typename`. Anything else — filters on related rows or stats,
//! orderings on stats, a cursor the resolvers would refuse, an error they would report — is
//! declined before any SQL runs. A list filtered or ordered by personal data (a lookup)
//! compiles for a caller who may read personal data (a nested one with `totalCount` aside:
//! the resolvers cap the count over all parents together), and brings out every row its answer
//! depended on (`#l<site>`: the page, the row past it, every row `totalCount` counted), which
//! [`run`] takes out and notes as the resolvers do. A filter is the one the resolvers apply
//! ([`super::filter::Filter::condition_on`]), rendered by SeaQuery with its values bound as
//! parameters. A cursor is the resolvers' too: `after` is opened with the request's key and
//! tenant into a keyset condition, and each row's position comes out of the statement as
//! `{"#c<site>": [values]}`, which [`run`] seals (a random nonce each) before the response
//! leaves.
//!
//! The rules hold inside the statement: every table is reached through [`scan`], which adds
//! the tenant condition (row-level security stays on beneath it); an operation selecting a
//! personal field compiles only when the caller may read personal data, and each object
//! carrying personal fields brings its row's id under a key no GraphQL name can take (`#n`),
//! which [`answer`] removes while noting the read for the request's audit event — the same
//! notes the resolvers' gate makes, written before the response leaves.

use std::any::TypeId;
use std::collections::HashMap;
use std::marker::PhantomData;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering as Atomic};

use async_graphql::extensions::{
    Extension, ExtensionContext, ExtensionFactory, NextExecute, NextParseQuery,
};
use async_graphql::parser::types::{
    DocumentOperations, ExecutableDocument, Field, FragmentDefinition, OperationDefinition,
    OperationType, Selection, SelectionSet,
};
use async_graphql::{Name, Positioned, ServerResult, Value, Variables};
use async_graphql_value::Value as Argument;
use chrono::{DateTime, Utc};
use futures_util::future::BoxFuture;
use sea_orm::{DbBackend, IdenStatic};
use uuid::Uuid;

use super::{Declared, SortKind};
use crate::audit::Outcome;
use crate::auth::Scope;
use crate::error::{ApiError, ApiResult};
use crate::graphql::context::RequestContext;
use crate::graphql::page::{CursorKey, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, SortValue};
use crate::graphql::scalars::Date;

/// How a field's value is built in SQL from its row.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Shape {
    /// Text or a number, as stored.
    Plain,
    Bool,
    Uuid,
    /// A point in time, as RFC 3339 with as many fractional digits as it needs.
    Time,
    /// A calendar date, `YYYY-MM-DD`.
    Date,
    /// An enum stored as text: the stored value (lower case) and the GraphQL name.
    Enum(Vec<(String, String)>),
    /// Money stored as ten-thousandths, shown with its `currency` column's decimal places.
    Money {
        currency: &'static str,
    },
    /// An object of the field's text columns (`billingAddress`), `null` when all are: the
    /// GraphQL type and the names of its fields, one per column in the field's order.
    Group {
        type_name: &'static str,
        names: Vec<&'static str>,
    },
}

impl Shape {
    /// The shape of a column shown as `T`, when the compiler knows how to build it.
    pub fn of<T: 'static>() -> Option<Shape> {
        let t = TypeId::of::<T>();
        let is = |types: &[TypeId]| types.contains(&t);
        if is(&[
            TypeId::of::<String>(),
            TypeId::of::<Option<String>>(),
            TypeId::of::<i32>(),
            TypeId::of::<Option<i32>>(),
            TypeId::of::<i64>(),
            TypeId::of::<Option<i64>>(),
        ]) {
            Some(Shape::Plain)
        } else if is(&[TypeId::of::<bool>(), TypeId::of::<Option<bool>>()]) {
            Some(Shape::Bool)
        } else if is(&[TypeId::of::<Uuid>(), TypeId::of::<Option<Uuid>>()]) {
            Some(Shape::Uuid)
        } else if is(&[
            TypeId::of::<DateTime<Utc>>(),
            TypeId::of::<Option<DateTime<Utc>>>(),
        ]) {
            Some(Shape::Time)
        } else if is(&[TypeId::of::<Date>(), TypeId::of::<Option<Date>>()]) {
            Some(Shape::Date)
        } else {
            None
        }
    }

    /// An enum stored as text ([`super::filter::stored`]).
    pub fn stored_enum<T: async_graphql::EnumType + Copy + PartialEq>() -> Shape {
        Shape::Enum(
            T::items()
                .iter()
                .map(|item| (super::filter::stored(item.value), item.name.to_owned()))
                .collect(),
        )
    }
}

/// A field of a [`Table`] as the compiler reads it.
pub struct Column {
    /// The column it is read from; a group's first.
    pub column: &'static str,
    /// Every column it is stored in (a group's, in order).
    pub columns: Vec<&'static str>,
    pub shape: &'static Shape,
    /// Personal data: compiled only for a caller who may read it, and noted.
    pub personal: bool,
}

/// An entity as the compiler sees it, whatever its type.
pub trait Table: Send + Sync {
    /// The GraphQL type (`Customer`).
    fn name(&self) -> &'static str;
    /// The `entity` of its audit notes.
    fn audited_as(&self) -> &'static str;
    fn sql_table(&self) -> &'static str;
    fn tenant_column(&self) -> &'static str;
    fn id_column(&self) -> &'static str;
    fn read(&self) -> Scope;
    /// A shown field, when it is compiled.
    fn column(&self, name: &str) -> Option<Column>;
    /// A connection field another entity's relation gives this type: its rows and the column
    /// naming this row.
    fn many(&self, name: &str) -> Option<(&'static dyn Table, &'static str)>;
    /// A row this row names (`Sale.customer`).
    fn one(&self, name: &str) -> Option<ToOne>;
    /// A list's ordering, the id last: `orderBy` as given (`None`, `null` or empty: the
    /// default), and the personal fields it sorts by when given (a lookup). Declined for a
    /// key that is not one of the row's columns (a customer's stats).
    fn order(&self, order_by: Option<Value>) -> Planned<Ordered>;
    /// A list's `filter`, when it reads only the row's own columns and is valid (an error is
    /// the resolvers' to report), with the personal fields it reads (a lookup).
    fn filter(&self, filter: Value) -> Planned<(Box<dyn RowFilter>, Vec<&'static str>)>;
    /// A computed object field the compiler builds (`stats`).
    fn derived(&self, name: &str) -> Option<&'static Derived>;
    /// Brings the derived data its lists and computed fields read up to date (`before_list`).
    fn bring_up_to_date<'a>(&self, rc: &'a RequestContext) -> BoxFuture<'a, ApiResult<()>>;
}

/// A computed object field built in SQL from rows of other tables that name the row
/// (`Customer.stats`, from `customer_totals` and `customer_activity`): the same rows the
/// resolvers' loader reads, shown as it shows them.
pub struct Derived {
    pub name: &'static str,
    pub type_name: &'static str,
    /// The scope its resolver requires.
    pub scope: Scope,
    pub members: Vec<(&'static str, Figure)>,
}

/// The rows a derived member reads: those of `table` (keyed by the tenant, like every table)
/// whose `key` column names the row.
#[derive(Clone, Copy)]
pub struct Source {
    pub table: &'static str,
    pub key: &'static str,
}

/// One member of a [`Derived`] object.
pub enum Figure {
    /// A column of the one row of `from`, or `default` (an SQL literal) without one.
    Value {
        from: Source,
        column: &'static str,
        shape: Shape,
        default: &'static str,
    },
    /// `Money` of the one row of `from`; `null` when either column is.
    Money {
        from: Source,
        scaled: &'static str,
        currency: &'static str,
    },
    /// `[Money]`, one per row of `from` where `only` holds (an SQL condition on the alias it
    /// is given), by currency: each row's sum, kept as `high · 2^32 + low`.
    Sums {
        from: Source,
        high: &'static str,
        low: &'static str,
        currency: &'static str,
        only: fn(&str) -> String,
    },
}

/// A list's filter, as a condition on the row under whatever alias the statement gives it.
pub trait RowFilter: Send + Sync {
    fn condition_on(&self, row: &str) -> ApiResult<sea_orm::Condition>;
}

impl<E: Declared> RowFilter for super::filter::Filter<E> {
    fn condition_on(&self, row: &str) -> ApiResult<sea_orm::Condition> {
        super::filter::Filter::condition_on(self, row)
    }
}

/// A to-one relation as the compiler reads it.
pub struct ToOne {
    pub target: &'static dyn Table,
    /// The column of this row naming the other.
    pub column: &'static str,
    /// Whether the row may name none (`null`); a required one that is not found is the
    /// resolvers' `NOT_FOUND`.
    pub optional: bool,
}

/// A list's ordering, planned.
pub struct Ordered {
    keys: Vec<OrderKey>,
    /// The personal fields it sorts by, as asked (the default ordering is no lookup).
    personal: Vec<&'static str>,
}

/// One key of an ordering: the column, whether `NULL` sorts as `''`, the direction.
pub struct OrderKey {
    /// The field's name, as cursors are bound to it (`page::Ordering::signature`).
    name: &'static str,
    column: &'static str,
    or_empty: bool,
    descending: bool,
    /// How a cursor carries its value (`page::SortValue`); `None`: cursors are not compiled.
    carried: Option<Carried>,
}

/// The kind of `page::SortValue` a key's value is carried as in a cursor, by its column's
/// type, as the resolvers read it off a row (`order::sort_value`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Carried {
    Text,
    Int,
    Time,
    Uuid,
}

impl Carried {
    fn of(column: &impl sea_orm::ColumnTrait) -> Option<Carried> {
        use sea_orm::ColumnType;
        Some(match column.def().get_column_type() {
            ColumnType::String(_) | ColumnType::Text | ColumnType::Char(_) => Carried::Text,
            ColumnType::Integer | ColumnType::BigInteger | ColumnType::SmallInteger => Carried::Int,
            ColumnType::TimestampWithTimeZone => Carried::Time,
            ColumnType::Uuid => Carried::Uuid,
            _ => return None,
        })
    }
}

struct Tabled<E>(PhantomData<fn() -> E>);

/// The compiler's view of `E`.
pub fn table<E: Declared>() -> &'static dyn Table {
    &Tabled::<E>(PhantomData)
}

impl<E: Declared> Table for Tabled<E> {
    fn name(&self) -> &'static str {
        E::decl().name
    }
    fn audited_as(&self) -> &'static str {
        <E as entity::PersonalData>::GRAPHQL_TYPE
    }
    fn sql_table(&self) -> &'static str {
        E::default().table_name()
    }
    fn tenant_column(&self) -> &'static str {
        E::tenant_column().as_str()
    }
    fn id_column(&self) -> &'static str {
        E::id_column().as_str()
    }
    fn read(&self) -> Scope {
        E::decl().read
    }
    fn column(&self, name: &str) -> Option<Column> {
        let field = E::decl().field(name)?;
        if field.output.is_none() && !field.from_extras {
            return None;
        }
        Some(Column {
            column: field.column().as_str(),
            columns: field.columns.iter().map(|c| c.as_str()).collect(),
            shape: field.compiled.as_ref()?,
            personal: super::Decl::<E>::is_personal(field),
        })
    }
    fn many(&self, name: &str) -> Option<(&'static dyn Table, &'static str)> {
        super::dependents::reverse_fields(E::decl().name)
            .iter()
            .find(|r| r.name == name)
            .map(|r| r.target.compiled())
    }
    fn one(&self, name: &str) -> Option<ToOne> {
        E::decl().members.iter().find_map(|member| match member {
            super::Member::ToOne(relation) if relation.name == name => Some(ToOne {
                target: relation.target.compiled(),
                column: relation.column.as_str(),
                optional: relation.optional,
            }),
            _ => None,
        })
    }
    fn order(&self, order_by: Option<Value>) -> Planned<Ordered> {
        use async_graphql::InputType;
        let decl = E::decl();
        let given = match order_by {
            None | Some(Value::Null) => Vec::new(),
            Some(value) => <Vec<super::order::Order<E>>>::parse(Some(value))
                .map_err(|_| Declined)?
                .into_iter()
                .map(|order| (order.field, order.direction))
                .collect(),
        };
        // Only an ordering asked for is a lookup: the default one is not the caller's.
        let asked = !given.is_empty();
        let requested = if asked {
            given
        } else {
            decl.default_order.clone()
        };
        let (mut keys, mut personal) = (Vec::new(), Vec::new());
        for (name, direction) in &requested {
            let field = decl.field(name).ok_or(Declined)?;
            let (kind, _) = field.sort.ok_or(Declined)?;
            if asked && super::Decl::<E>::is_personal(field) {
                personal.push(field.name);
            }
            keys.push(OrderKey {
                name: field.name,
                column: field.column().as_str(),
                or_empty: kind == SortKind::TextOrEmpty,
                descending: *direction == crate::graphql::OrderDirection::Desc,
                carried: Carried::of(&field.column()),
            });
        }
        // The tie-breaker of `page::Ordering`.
        keys.push(OrderKey {
            name: "id",
            column: E::id_column().as_str(),
            or_empty: false,
            descending: false,
            carried: Carried::of(&E::id_column()),
        });
        Ok(Ordered { keys, personal })
    }
    fn filter(&self, filter: Value) -> Planned<(Box<dyn RowFilter>, Vec<&'static str>)> {
        use async_graphql::InputType;
        let filter = super::filter::Filter::<E>::parse(Some(filter)).map_err(|_| Declined)?;
        if !filter.reads_only_columns() {
            return Err(Declined);
        }
        let mut personal = Vec::new();
        filter.personal_fields(&mut personal);
        filter.condition_on("t").map_err(|_| Declined)?;
        Ok((Box::new(filter), personal))
    }
    fn derived(&self, name: &str) -> Option<&'static Derived> {
        E::decl().derived.iter().find(|d| d.name == name)
    }
    fn bring_up_to_date<'a>(&self, rc: &'a RequestContext) -> BoxFuture<'a, ApiResult<()>> {
        (E::decl().hooks.before_list)(rc)
    }
}

/// The engine's root fields, by name: the entity and whether the field is its list.
fn root_field(name: &str) -> Option<(&'static dyn Table, bool)> {
    crate::graphql::entities().iter().find_map(|entity| {
        let table = entity.table();
        if entity.one_field() == name {
            Some((table, false))
        } else if entity.many_field() == name {
            Some((table, true))
        } else {
            None
        }
    })
}

// ----- plan -----------------------------------------------------------------------------

/// Most members an object of the response may have when compiled: PostgreSQL's
/// `json_build_object` takes 100 arguments, and an object may carry two hidden members.
const MAX_MEMBERS: usize = 48;

/// Most parameters a statement binds (SQLite takes 32,766): each list's filter is bound once,
/// and an operation of many lists with very large filters goes to the resolvers.
const MAX_PARAMETERS: usize = 30_000;

/// Why an operation is not compiled: it runs on the resolvers instead.
#[derive(Debug)]
pub struct Declined;

type Planned<T> = Result<T, Declined>;

/// What an object shows, in the order of the response's keys.
struct Object {
    table: &'static dyn Table,
    items: Vec<(String, Item)>,
    /// The site of its personal fields in the request's notes, if it selects any.
    personal: Option<usize>,
}

enum Item {
    Typename(&'static str),
    Column(Column),
    /// `billingAddress { line1 }`: the group's selected columns (`None`: `__typename`), and
    /// all of them (the group is `null` when they all are).
    Group {
        chosen: Vec<(String, Option<&'static str>)>,
        type_name: &'static str,
        all: Vec<&'static str>,
    },
    Connection(Connection),
    /// The row this row names, as its own object: `null` when it names none.
    One {
        column: &'static str,
        optional: bool,
        node: Box<Object>,
    },
    /// `stats { … }`: the members chosen, in response order.
    Derived {
        derived: &'static Derived,
        chosen: Vec<(String, Chosen)>,
    },
}

/// A member of a derived object, as selected.
enum Chosen {
    Typename,
    /// A figure, and what its `Money` shows (empty for other figures).
    Figure(&'static Figure, Vec<(String, MoneyPart)>),
}

enum MoneyPart {
    Typename,
    Amount,
    Currency,
}

struct Connection {
    table: &'static dyn Table,
    /// The column of the rows naming the parent; `None` at the root.
    parent: Option<&'static str>,
    first: u64,
    filter: Option<Box<dyn RowFilter>>,
    order: Vec<OrderKey>,
    /// The position `after` names: rows strictly after it in `order`.
    after: Option<Vec<SortValue>>,
    /// The cursor site of the rows' cursors, when the response shows any.
    cursors: Option<usize>,
    /// The lookup site, for a list filtered or ordered by personal data.
    lookup: Option<usize>,
    items: Vec<(String, ConnectionItem)>,
}

impl Connection {
    /// Whether the response asks for `totalCount`.
    fn counts(&self) -> bool {
        self.items
            .iter()
            .any(|(_, item)| matches!(item, ConnectionItem::TotalCount))
    }
}

enum ConnectionItem {
    Typename(String),
    Edges(Vec<(String, EdgeItem)>),
    /// Every row of the connection (of its parent, nested), not only the page's.
    TotalCount,
    PageInfo(Vec<(String, PageInfoItem)>),
}

/// What `pageInfo` shows.
enum PageInfoItem {
    Typename,
    HasNextPage,
    /// Whether the page starts after a cursor (`after`), as the resolvers answer it.
    HasPreviousPage,
    /// The cursors of the page's first and last rows (`null` for an empty page).
    StartCursor,
    EndCursor,
}

enum EdgeItem {
    Typename(String),
    Node(Object),
    Cursor,
}

/// A connection's arguments, planned.
struct Arguments {
    first: u64,
    filter: Option<Box<dyn RowFilter>>,
    order: Vec<OrderKey>,
    after: Option<Vec<SortValue>>,
    /// The personal fields the filter and the ordering read: a lookup when any.
    looked_up: Vec<&'static str>,
}

/// One root field, planned.
enum Root {
    Typename,
    One { id: Uuid, node: Object },
    Many(Connection),
}

/// A compiled operation: its root fields, and the personal fields of each site.
pub struct Plan {
    roots: Vec<(String, Root)>,
    /// Per site: the entity and the personal fields (columns) its rows show.
    sites: Vec<(&'static str, Vec<&'static str>)>,
    /// Per cursor site: the ordering its cursors are bound to and how they carry each key.
    cursor_sites: Vec<(String, Vec<Carried>)>,
    /// Per lookup site: the entity and the personal fields its list is filtered or ordered by.
    lookups: Vec<(&'static str, Vec<&'static str>)>,
    /// The tables whose derived data it shows, brought up to date before it runs.
    derived_from: Vec<&'static dyn Table>,
}

/// What a plan may show its caller: the scopes they hold, and whether they may read personal
/// data ([`RequestContext::may_read_personal`]: `pii:read`, and a purpose where the tenant
/// requires one).
#[derive(Clone, Copy)]
pub struct Access<'a> {
    pub scopes: crate::auth::Scopes,
    pub personal: bool,
    /// The key the caller's cursors are sealed with, and their tenant: an `after` is read
    /// with them (`None`: cursors decline).
    pub cursors: Option<(&'a CursorKey, Uuid)>,
}

impl Access<'_> {
    pub fn of(rc: &RequestContext) -> Access<'_> {
        Access {
            scopes: rc.principal.scopes,
            personal: rc.may_read_personal().is_ok(),
            cursors: Some((&rc.cursors, rc.scope.tenant_id())),
        }
    }
}

struct Planner<'a> {
    fragments: &'a HashMap<Name, Positioned<FragmentDefinition>>,
    variables: &'a Variables,
    defaults: HashMap<&'a str, Value>,
    access: Access<'a>,
    sites: Vec<(&'static str, Vec<&'static str>)>,
    /// Per cursor site: the ordering its cursors are bound to and how they carry each key.
    cursor_sites: Vec<(String, Vec<Carried>)>,
    lookups: Vec<(&'static str, Vec<&'static str>)>,
    derived_from: Vec<&'static dyn Table>,
}

impl<'a> Planner<'a> {
    /// The value of an argument or directive argument, variables resolved (a variable left
    /// out takes its default, else `null`).
    fn value(&self, value: &Argument) -> Value {
        let resolved = value.clone().into_const_with(|name| {
            Ok::<_, std::convert::Infallible>(
                self.variables
                    .get(&name)
                    .cloned()
                    .or_else(|| self.defaults.get(name.as_str()).cloned())
                    .unwrap_or(Value::Null),
            )
        });
        match resolved {
            Ok(value) => value,
            Err(never) => match never {},
        }
    }

    /// Whether `@skip`/`@include` keep the selection; any other directive declines.
    fn kept(
        &self,
        directives: &[Positioned<async_graphql::parser::types::Directive>],
    ) -> Planned<bool> {
        let mut kept = true;
        for directive in directives {
            let directive = &directive.node;
            // async-graphql skips by the variables sent, a variable's default aside: the
            // resolvers' answer is theirs to give.
            if let Some(Argument::Variable(name)) = directive.get_argument("if").map(|v| &v.node)
                && self.variables.get(name).is_none()
            {
                return Err(Declined);
            }
            let condition = match directive.get_argument("if").map(|v| self.value(&v.node)) {
                Some(Value::Boolean(b)) => b,
                _ => return Err(Declined),
            };
            match directive.name.node.as_str() {
                "skip" => kept &= !condition,
                "include" => kept &= condition,
                _ => return Err(Declined),
            }
        }
        Ok(kept)
    }

    /// The fields of `set` on the type `on`, fragments flattened, in response order. Two
    /// fields under one response key are merged only when they are the same argument-free
    /// leaf; anything else declines.
    fn fields(&self, set: &'a SelectionSet, on: &str) -> Planned<Vec<(String, &'a Field)>> {
        let mut out: Vec<(String, &'a Field)> = Vec::new();
        self.collect(set, on, &mut out, 0)?;
        // Everything skipped: async-graphql answers `null` for such an object. More members
        // than a JSON object function takes (PostgreSQL: 100 arguments, 50 members, hidden
        // ones included): the resolvers answer.
        if out.is_empty() || out.len() > MAX_MEMBERS {
            return Err(Declined);
        }
        Ok(out)
    }

    fn collect(
        &self,
        set: &'a SelectionSet,
        on: &str,
        out: &mut Vec<(String, &'a Field)>,
        depth: usize,
    ) -> Planned<()> {
        if depth > 16 {
            return Err(Declined);
        }
        for item in &set.items {
            match &item.node {
                Selection::Field(field) => {
                    let field = &field.node;
                    if !self.kept(&field.directives)? {
                        continue;
                    }
                    let key = field.response_key().node.to_string();
                    if let Some((_, seen)) = out.iter().find(|(k, _)| *k == key) {
                        let same_leaf = seen.name.node == field.name.node
                            && seen.arguments.is_empty()
                            && field.arguments.is_empty()
                            && seen.selection_set.node.items.is_empty()
                            && field.selection_set.node.items.is_empty();
                        if !same_leaf {
                            return Err(Declined);
                        }
                        continue;
                    }
                    out.push((key, field));
                }
                Selection::InlineFragment(inline) => {
                    let inline = &inline.node;
                    if !self.kept(&inline.directives)? {
                        continue;
                    }
                    if let Some(condition) = &inline.type_condition
                        && condition.node.on.node.as_str() != on
                    {
                        return Err(Declined);
                    }
                    self.collect(&inline.selection_set.node, on, out, depth + 1)?;
                }
                Selection::FragmentSpread(spread) => {
                    let spread = &spread.node;
                    if !self.kept(&spread.directives)? {
                        continue;
                    }
                    let fragment = &self
                        .fragments
                        .get(&spread.fragment_name.node)
                        .ok_or(Declined)?
                        .node;
                    if fragment.type_condition.node.on.node.as_str() != on
                        || !fragment.directives.is_empty()
                    {
                        return Err(Declined);
                    }
                    self.collect(&fragment.selection_set.node, on, out, depth + 1)?;
                }
            }
        }
        Ok(())
    }

    /// A connection's arguments: `first` (checked as the resolvers check it), `filter` and
    /// `orderBy` as the table compiles them, and `after` opened as the resolvers open it
    /// (a cursor they would refuse declines, for them to answer).
    fn arguments(&self, table: &dyn Table, field: &Field) -> Planned<Arguments> {
        let mut first = i64::from(DEFAULT_PAGE_SIZE);
        let (mut filter, mut order_by, mut after) = (None, None, None);
        let mut looked_up = Vec::new();
        for (name, value) in &field.arguments {
            match (name.node.as_str(), self.value(&value.node)) {
                ("first", Value::Number(n)) => first = n.as_i64().ok_or(Declined)?,
                ("first" | "filter" | "orderBy" | "after", Value::Null) => {}
                ("filter", value) => {
                    let (planned, personal) = table.filter(value)?;
                    filter = Some(planned);
                    looked_up.extend(personal);
                }
                ("orderBy", value) => order_by = Some(value),
                ("after", Value::String(cursor)) => after = Some(cursor),
                _ => return Err(Declined),
            }
        }
        if !(0..=i64::from(MAX_PAGE_SIZE)).contains(&first) {
            return Err(Declined);
        }
        let Ordered {
            keys: order,
            personal,
        } = table.order(order_by)?;
        looked_up.extend(personal);
        let after = match after {
            None => None,
            Some(cursor) => {
                let (key, tenant) = self.access.cursors.ok_or(Declined)?;
                let values = key
                    .decode(tenant, &signature(table, &order), &cursor)
                    .map_err(|_| Declined)?;
                if values.len() != order.len() {
                    return Err(Declined);
                }
                Some(values)
            }
        };
        Ok(Arguments {
            first: first as u64,
            filter,
            order,
            after,
            looked_up,
        })
    }

    /// The cursor site of a connection's rows (their ordering, and how each key is
    /// carried), made the first time the response asks for a cursor.
    fn cursor_site(
        &mut self,
        site: &mut Option<usize>,
        table: &dyn Table,
        order: &[OrderKey],
    ) -> Planned<()> {
        if site.is_none() {
            let carried = order
                .iter()
                .map(|key| key.carried.ok_or(Declined))
                .collect::<Planned<Vec<Carried>>>()?;
            self.cursor_sites.push((signature(table, order), carried));
            *site = Some(self.cursor_sites.len() - 1);
        }
        Ok(())
    }

    fn object(&mut self, table: &'static dyn Table, set: &'a SelectionSet) -> Planned<Object> {
        let mut items = Vec::new();
        let mut personal = Vec::new();
        for (key, field) in self.fields(set, table.name())? {
            let name = field.name.node.as_str();
            if name == "__typename" {
                items.push((key, Item::Typename(table.name())));
                continue;
            }
            if let Some((rows, parent)) = table.many(name) {
                if !self.access.scopes.contains(rows.read()) {
                    return Err(Declined);
                }
                let connection = self.connection(rows, Some(parent), field)?;
                items.push((key, Item::Connection(connection)));
                continue;
            }
            if let Some(one) = table.one(name) {
                if !self.access.scopes.contains(one.target.read()) || !field.arguments.is_empty() {
                    return Err(Declined);
                }
                let node = self.object(one.target, &field.selection_set.node)?;
                items.push((
                    key,
                    Item::One {
                        column: one.column,
                        optional: one.optional,
                        node: Box::new(node),
                    },
                ));
                continue;
            }
            if let Some(derived) = table.derived(name) {
                let item = self.derived(table, derived, field)?;
                items.push((key, item));
                continue;
            }
            let column = table.column(name).ok_or(Declined)?;
            if !field.arguments.is_empty() {
                return Err(Declined);
            }
            if column.personal {
                if !self.access.personal {
                    return Err(Declined);
                }
                if !personal.contains(&column.column) {
                    personal.push(column.column);
                }
            }
            let item = match column.shape {
                Shape::Group { type_name, names } => {
                    let mut chosen = Vec::new();
                    for (key, sub) in self.fields(&field.selection_set.node, type_name)? {
                        let sub_name = sub.name.node.as_str();
                        if sub_name == "__typename" {
                            chosen.push((key, None));
                        } else {
                            let at = names.iter().position(|n| *n == sub_name).ok_or(Declined)?;
                            chosen.push((key, Some(*column.columns.get(at).ok_or(Declined)?)));
                        }
                    }
                    Item::Group {
                        chosen,
                        type_name,
                        all: column.columns,
                    }
                }
                _ if !field.selection_set.node.items.is_empty() => return Err(Declined),
                _ => Item::Column(column),
            };
            items.push((key, item));
        }
        let personal = if personal.is_empty() {
            None
        } else {
            self.sites.push((table.audited_as(), personal));
            Some(self.sites.len() - 1)
        };
        Ok(Object {
            table,
            items,
            personal,
        })
    }

    /// `stats { … }`, under the scope its resolver requires.
    fn derived(
        &mut self,
        table: &'static dyn Table,
        derived: &'static Derived,
        field: &'a Field,
    ) -> Planned<Item> {
        if !self.access.scopes.contains(derived.scope) || !field.arguments.is_empty() {
            return Err(Declined);
        }
        let mut chosen = Vec::new();
        for (key, member) in self.fields(&field.selection_set.node, derived.type_name)? {
            let name = member.name.node.as_str();
            if name == "__typename" {
                chosen.push((key, Chosen::Typename));
                continue;
            }
            let (_, figure) = derived
                .members
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or(Declined)?;
            let mut parts = Vec::new();
            if let Figure::Money { .. } | Figure::Sums { .. } = figure {
                for (key, part) in self.fields(&member.selection_set.node, "Money")? {
                    parts.push((
                        key,
                        match part.name.node.as_str() {
                            "__typename" => MoneyPart::Typename,
                            "amount" => MoneyPart::Amount,
                            "currency" => MoneyPart::Currency,
                            _ => return Err(Declined),
                        },
                    ));
                }
            } else if !member.selection_set.node.items.is_empty() {
                return Err(Declined);
            }
            chosen.push((key, Chosen::Figure(figure, parts)));
        }
        if !self.derived_from.iter().any(|t| t.name() == table.name()) {
            self.derived_from.push(table);
        }
        Ok(Item::Derived { derived, chosen })
    }

    fn connection(
        &mut self,
        table: &'static dyn Table,
        parent: Option<&'static str>,
        field: &'a Field,
    ) -> Planned<Connection> {
        let Arguments {
            first,
            filter,
            order,
            after,
            mut looked_up,
        } = self.arguments(table, field)?;
        let mut cursors = None;
        // A lookup by personal data: gated, and noted with every row the answer depended on.
        let lookup = if looked_up.is_empty() {
            None
        } else if !self.access.personal {
            return Err(Declined);
        } else {
            looked_up.sort_unstable();
            looked_up.dedup();
            self.lookups.push((table.audited_as(), looked_up));
            Some(self.lookups.len() - 1)
        };
        let connection_type = format!("{}Connection", table.name());
        let edge_type = format!("{}Edge", table.name());
        let mut items = Vec::new();
        for (key, field) in self.fields(&field.selection_set.node, &connection_type)? {
            match field.name.node.as_str() {
                "__typename" => {
                    items.push((key, ConnectionItem::Typename(connection_type.clone())));
                }
                "edges" => {
                    let mut edges = Vec::new();
                    for (key, field) in self.fields(&field.selection_set.node, &edge_type)? {
                        match field.name.node.as_str() {
                            "__typename" => {
                                edges.push((key, EdgeItem::Typename(edge_type.clone())));
                            }
                            "node" => {
                                let node = self.object(table, &field.selection_set.node)?;
                                edges.push((key, EdgeItem::Node(node)));
                            }
                            "cursor" => {
                                self.cursor_site(&mut cursors, table, &order)?;
                                edges.push((key, EdgeItem::Cursor));
                            }
                            _ => return Err(Declined),
                        }
                    }
                    items.push((key, ConnectionItem::Edges(edges)));
                }
                "totalCount" => items.push((key, ConnectionItem::TotalCount)),
                "pageInfo" => {
                    let mut page = Vec::new();
                    for (key, field) in self.fields(&field.selection_set.node, "PageInfo")? {
                        let item = match field.name.node.as_str() {
                            "__typename" => PageInfoItem::Typename,
                            "hasNextPage" => PageInfoItem::HasNextPage,
                            "hasPreviousPage" => PageInfoItem::HasPreviousPage,
                            "startCursor" | "endCursor" => {
                                self.cursor_site(&mut cursors, table, &order)?;
                                if field.name.node == "startCursor" {
                                    PageInfoItem::StartCursor
                                } else {
                                    PageInfoItem::EndCursor
                                }
                            }
                            _ => return Err(Declined),
                        };
                        page.push((key, item));
                    }
                    items.push((key, ConnectionItem::PageInfo(page)));
                }
                _ => return Err(Declined),
            }
        }
        let connection = Connection {
            table,
            parent,
            first,
            filter,
            order,
            after,
            cursors,
            lookup,
            items,
        };
        // A nested list counted by personal data: the resolvers count every parent's rows
        // together, up to the cap, where a statement would gather up to the cap per parent.
        if connection.lookup.is_some() && connection.parent.is_some() && connection.counts() {
            return Err(Declined);
        }
        Ok(connection)
    }
}

/// The ordering cursors of `table`'s rows are bound to, named as the resolvers name it.
fn signature(table: &dyn Table, order: &[OrderKey]) -> String {
    crate::graphql::page::signature(
        table.sql_table(),
        order.iter().map(|key| (key.name, key.descending)),
    )
}

/// Plans the operation `operation_name` of `document`, or declines.
pub fn plan(
    document: &ExecutableDocument,
    operation_name: Option<&str>,
    variables: &Variables,
    access: Access,
) -> Planned<Plan> {
    let operation: &OperationDefinition = match (&document.operations, operation_name) {
        (DocumentOperations::Single(op), _) => &op.node,
        (DocumentOperations::Multiple(ops), Some(name)) => &ops.get(name).ok_or(Declined)?.node,
        (DocumentOperations::Multiple(ops), None) if ops.len() == 1 => {
            &ops.values().next().ok_or(Declined)?.node
        }
        _ => return Err(Declined),
    };
    if operation.ty != OperationType::Query || !operation.directives.is_empty() {
        return Err(Declined);
    }
    let mut planner = Planner {
        fragments: &document.fragments,
        variables,
        defaults: operation
            .variable_definitions
            .iter()
            .filter_map(|v| {
                let default = v.node.default_value.as_ref()?;
                Some((v.node.name.node.as_str(), default.node.clone()))
            })
            .collect(),
        access,
        sites: Vec::new(),
        cursor_sites: Vec::new(),
        lookups: Vec::new(),
        derived_from: Vec::new(),
    };
    let mut roots = Vec::new();
    for (key, field) in planner.fields(&operation.selection_set.node, "Query")? {
        let name = field.name.node.as_str();
        if name == "__typename" {
            roots.push((key, Root::Typename));
            continue;
        }
        let (table, many) = root_field(name).ok_or(Declined)?;
        if !access.scopes.contains(table.read()) {
            return Err(Declined);
        }
        let root = if many {
            Root::Many(planner.connection(table, None, field)?)
        } else {
            let [(arg, value)] = field.arguments.as_slice() else {
                return Err(Declined);
            };
            let id = match (arg.node.as_str(), planner.value(&value.node)) {
                ("id", Value::String(text)) => Uuid::parse_str(&text).map_err(|_| Declined)?,
                _ => return Err(Declined),
            };
            Root::One {
                id,
                node: planner.object(table, &field.selection_set.node)?,
            }
        };
        roots.push((key, root));
    }
    Ok(Plan {
        roots,
        sites: planner.sites,
        cursor_sites: planner.cursor_sites,
        lookups: planner.lookups,
        derived_from: planner.derived_from,
    })
}

// ----- SQL ------------------------------------------------------------------------------

/// Builds one root field's statement for a backend.
struct Sql {
    backend: DbBackend,
    aliases: usize,
    /// The values of the parameters after the tenant, in order.
    values: Vec<sea_orm::Value>,
    /// A part could not be built: the resolvers answer instead.
    failed: bool,
}

impl Sql {
    fn new(backend: DbBackend) -> Sql {
        Sql {
            backend,
            aliases: 0,
            values: Vec::new(),
            failed: false,
        }
    }

    fn pg(&self) -> bool {
        self.backend == DbBackend::Postgres
    }

    /// A parameter of the statement bound to `value`.
    fn bind(&mut self, value: sea_orm::Value) -> String {
        if self.values.len() >= MAX_PARAMETERS {
            self.failed = true;
        }
        self.values.push(value);
        self.parameter(1 + self.values.len())
    }

    /// A filter's condition on the row `t`, rendered by SeaQuery for the backend with its
    /// values as the statement's next parameters. Only the placeholders hold values (the
    /// text is operators and our own identifiers), so renumbering them is all it takes.
    fn condition(&mut self, filter: &dyn RowFilter, t: &str) -> String {
        use sea_orm::sea_query::{PostgresQueryBuilder, Query, SqliteQueryBuilder};
        let Ok(condition) = filter.condition_on(t) else {
            self.failed = true;
            return "1 = 0".to_owned();
        };
        let select = Query::select()
            // Not a value: a value would be the first placeholder.
            .expr(sea_orm::sea_query::Expr::cust("1"))
            .cond_where(condition)
            .to_owned();
        let (text, values) = if self.pg() {
            select.build(PostgresQueryBuilder)
        } else {
            select.build(SqliteQueryBuilder)
        };
        let Some((_, condition)) = text.split_once(" WHERE ") else {
            return "1 = 1".to_owned();
        };
        let mut out = String::with_capacity(condition.len());
        let mut chars = condition.chars().peekable();
        let mut values = values.0.into_iter();
        while let Some(c) = chars.next() {
            let placeholder = match c {
                '$' if self.pg() => {
                    while chars.peek().is_some_and(char::is_ascii_digit) {
                        chars.next();
                    }
                    true
                }
                '?' if !self.pg() => true,
                _ => false,
            };
            if !placeholder {
                out.push(c);
                continue;
            }
            // SeaQuery numbers its values in the order they appear.
            match values.next() {
                Some(value) => out.push_str(&self.bind(value)),
                None => {
                    self.failed = true;
                    return "1 = 0".to_owned();
                }
            }
        }
        if values.next().is_some() {
            self.failed = true;
        }
        out
    }

    /// The statement's `n`th parameter. The first is always the tenant, bound by the
    /// scoped handle ([`crate::tenancy::Scoped::tenant_text`]).
    fn parameter(&self, n: usize) -> String {
        if self.pg() {
            format!("${n}")
        } else {
            format!("?{n}")
        }
    }

    fn alias(&mut self) -> String {
        self.aliases += 1;
        format!("t{}", self.aliases)
    }

    fn object(&self, pairs: &[(String, String)]) -> String {
        let function = if self.pg() {
            "json_build_object"
        } else {
            "json_object"
        };
        let args: Vec<String> = pairs
            .iter()
            .map(|(key, value)| format!("{}, {value}", literal(key)))
            .collect();
        format!("{function}({})", args.join(", "))
    }

    /// A JSON array of the values.
    fn array(&self, values: &[String]) -> String {
        let function = if self.pg() {
            "json_build_array"
        } else {
            "json_array"
        };
        format!("{function}({})", values.join(", "))
    }

    /// What the statement shows for a value it cannot build (a sum beyond SQLite's integers,
    /// a required row not found), so that the resolvers answer instead: an object whose
    /// member no GraphQL name makes.
    fn resolvers(&self) -> String {
        self.object(&[("#resolvers".to_owned(), "1".to_owned())])
    }

    /// A condition as a JSON boolean (SQLite has no boolean type: `json_object` would show 0
    /// or 1).
    fn boolean(&self, condition: &str) -> String {
        if self.pg() {
            format!("({condition})")
        } else {
            format!("CASE WHEN {condition} THEN json('true') ELSE json('false') END")
        }
    }

    /// A JSON value computed in a sub-query, as a value of the enclosing JSON.
    fn nested(&self, subquery: String) -> String {
        if self.pg() {
            format!("({subquery})")
        } else {
            format!("json(({subquery}))")
        }
    }

    /// The value of `column` of the row `t` as `shape` shows it.
    fn value(&self, t: &str, column: &str, shape: &Shape) -> String {
        let c = format!("{t}.{}", quoted(column));
        match shape {
            Shape::Plain | Shape::Date => c,
            Shape::Bool if self.pg() => c,
            Shape::Bool => format!(
                "CASE WHEN {c} IS NULL THEN NULL WHEN {c} THEN json('true') ELSE json('false') END"
            ),
            Shape::Uuid if self.pg() => c,
            // `hex(NULL)` is '' (not NULL).
            Shape::Uuid => format!(
                "CASE WHEN {c} IS NULL THEN NULL ELSE lower(substr(hex({c}), 1, 8) || '-' || substr(hex({c}), 9, 4) || '-' || \
                 substr(hex({c}), 13, 4) || '-' || substr(hex({c}), 17, 4) || '-' || substr(hex({c}), 21)) END"
            ),
            // SQLite keeps the text chrono wrote (RFC 3339, as many digits as needed).
            Shape::Time if !self.pg() => c,
            Shape::Time => format!(
                "to_char({c} AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS') || \
                 CASE WHEN extract(microseconds FROM {c})::bigint % 1000000 = 0 THEN '' \
                 WHEN extract(microseconds FROM {c})::bigint % 1000 = 0 THEN to_char({c}, '.MS') \
                 ELSE to_char({c}, '.US') END || '+00:00'"
            ),
            Shape::Enum(values) => {
                let arms: String = values
                    .iter()
                    .map(|(stored, name)| {
                        format!(" WHEN {} THEN {}", literal(stored), literal(name))
                    })
                    .collect();
                format!("CASE lower({c}){arms} END")
            }
            Shape::Money { currency } => {
                self.money(&c, &format!("{t}.{}", quoted(currency)), false)
            }
            Shape::Group { .. } => unreachable!("groups are planned as `Item::Group`"),
        }
    }

    /// Ten-thousandths as a decimal with at least the currency's places (`19.90`, `1990`,
    /// `0.0005`), as `money::amount_in` shows them; `wide` for a sum beyond `bigint`
    /// (PostgreSQL's `numeric`, whose `/` does not truncate).
    fn money(&self, scaled: &str, currency: &str, wide: bool) -> String {
        let places = currency_places(currency);
        // `%` binds tighter than `+`: a sum must stay one operand.
        let scaled = &format!("({scaled})");
        // `abs` after `/` and `%` (both truncate toward zero, on both backends): the smallest
        // 64-bit integer has no absolute value of its own type.
        let (integer, four, greatest) = if self.pg() {
            let integer = if wide {
                format!("abs(div({scaled}, 10000))::text")
            } else {
                format!("abs({scaled} / 10000)::text")
            };
            (
                integer,
                format!("lpad(abs({scaled} % 10000)::text, 4, '0')"),
                "greatest",
            )
        } else {
            (
                format!("abs({scaled} / 10000)"),
                format!("substr('000' || abs({scaled} % 10000), -4, 4)"),
                "max",
            )
        };
        // The currency's places are looked up once, and the fraction's own places come from
        // the integer: cheaper than trimming its text (Q1's statement, measured).
        let own = format!(
            "CASE WHEN {scaled} % 10000 = 0 THEN 0 WHEN {scaled} % 1000 = 0 THEN 1 \
             WHEN {scaled} % 100 = 0 THEN 2 WHEN {scaled} % 10 = 0 THEN 3 ELSE 4 END"
        );
        // `rtrim(…, '.')` drops the point when no place is shown; NULL stays NULL.
        format!(
            "(CASE WHEN {scaled} < 0 THEN '-' ELSE '' END) || {integer} || \
             rtrim(substr('.' || {four}, 1, 1 + {greatest}({places}, {own})), '.')"
        )
    }

    fn group(
        &self,
        t: &str,
        chosen: &[(String, Option<&'static str>)],
        all: &[&str],
        type_name: &str,
    ) -> String {
        let pairs: Vec<(String, String)> = chosen
            .iter()
            .map(|(key, column)| match column {
                Some(column) => (key.clone(), format!("{t}.{}", quoted(column))),
                None => (key.clone(), literal(type_name)),
            })
            .collect();
        let any: Vec<String> = all
            .iter()
            .map(|c| format!("{t}.{} IS NOT NULL", quoted(c)))
            .collect();
        format!(
            "CASE WHEN {} THEN {} ELSE NULL END",
            any.join(" OR "),
            self.object(&pairs)
        )
    }

    fn node(&mut self, t: &str, object: &Object) -> String {
        let mut pairs = Vec::new();
        for (key, item) in &object.items {
            let value = match item {
                Item::Typename(name) => literal(name),
                Item::Column(column) => self.value(t, column.column, column.shape),
                Item::Group {
                    chosen,
                    type_name,
                    all,
                } => self.group(t, chosen, all, type_name),
                Item::Connection(connection) => {
                    self.connection(connection, Some((object.table, t)))
                }
                Item::One {
                    column,
                    optional,
                    node,
                } => {
                    let a = self.alias();
                    let row = format!(
                        "SELECT {} FROM {} AND {a}.{} = {t}.{}",
                        self.node(&a, node),
                        self.scan(node.table, &a),
                        quoted(node.table.id_column()),
                        quoted(column)
                    );
                    let row = self.nested(row);
                    if *optional {
                        row
                    } else {
                        // Never null: should the row not be found, the resolvers answer
                        // (`NOT_FOUND` at its path).
                        format!(
                            "CASE WHEN {t}.{} IS NULL THEN NULL ELSE COALESCE({row}, {}) END",
                            quoted(column),
                            self.resolvers()
                        )
                    }
                }
                Item::Derived { derived, chosen } => {
                    let mut members = Vec::new();
                    for (key, chosen) in chosen {
                        let value = match chosen {
                            Chosen::Typename => literal(derived.type_name),
                            Chosen::Figure(figure, parts) => {
                                self.figure(t, object.table, figure, parts)
                            }
                        };
                        members.push((key.clone(), value));
                    }
                    self.object(&members)
                }
            };
            pairs.push((key.clone(), value));
        }
        if let Some(site) = object.personal {
            pairs.push((
                format!("#{site}"),
                self.value(t, object.table.id_column(), &Shape::Uuid),
            ));
        }
        self.object(&pairs)
    }

    /// `FROM table AS t WHERE t.tenant = <the tenant>`: the one way a statement reaches a
    /// table.
    fn scan(&self, table: &dyn Table, t: &str) -> String {
        self.scan_of(table.sql_table(), table.tenant_column(), t)
    }

    fn scan_of(&self, table: &str, tenant_column: &str, t: &str) -> String {
        format!(
            "{} AS {t} WHERE {t}.{} = {}",
            quoted(table),
            quoted(tenant_column),
            self.parameter(1)
        )
    }

    /// A member of a derived object of the row `t` of `table`.
    fn figure(
        &mut self,
        t: &str,
        table: &dyn Table,
        figure: &Figure,
        parts: &[(String, MoneyPart)],
    ) -> String {
        let a = self.alias();
        // The rows naming the row `t`, through the same tenant scan as every table.
        let rows = |sql: &Self, from: &Source| {
            format!(
                "{} AND {a}.{} = {t}.{}",
                sql.scan_of(from.table, table.tenant_column(), &a),
                quoted(from.key),
                quoted(table.id_column())
            )
        };
        let money = |sql: &Self, scaled: &str, currency: &str, wide: bool| {
            let currency = format!("{a}.{}", quoted(currency));
            let pairs: Vec<(String, String)> = parts
                .iter()
                .map(|(key, part)| {
                    let value = match part {
                        MoneyPart::Typename => literal("Money"),
                        MoneyPart::Amount => sql.money(scaled, &currency, wide),
                        MoneyPart::Currency => currency.clone(),
                    };
                    (key.clone(), value)
                })
                .collect();
            sql.object(&pairs)
        };
        match figure {
            Figure::Value {
                from,
                column,
                shape,
                default,
            } => format!(
                "COALESCE((SELECT {} FROM {}), {default})",
                self.value(&a, column, shape),
                rows(self, from)
            ),
            Figure::Money {
                from,
                scaled,
                currency,
            } => {
                let amount = money(self, &format!("{a}.{}", quoted(scaled)), currency, false);
                self.nested(format!(
                    "SELECT CASE WHEN {a}.{} IS NULL OR {a}.{} IS NULL THEN NULL ELSE {amount} END FROM {}",
                    quoted(scaled),
                    quoted(currency),
                    rows(self, from)
                ))
            }
            Figure::Sums {
                from,
                high,
                low,
                currency,
                only,
            } => {
                let (high, low) = (
                    format!("{a}.{}", quoted(high)),
                    format!("{a}.{}", quoted(low)),
                );
                let order = format!("{a}.{}", quoted(currency));
                let rows = format!("{} AND ({})", rows(self, from), only(&a));
                let array = if self.pg() {
                    let sum = format!("({high}::numeric * 4294967296 + {low})");
                    let item = money(self, &sum, currency, true);
                    format!(
                        "SELECT COALESCE(json_agg({item} ORDER BY {order}), '[]'::json) FROM {rows}"
                    )
                } else {
                    // SQLite's integers are 64 bits: a sum beyond them is answered by the
                    // resolvers (`Run::Resolvers`), which sum in 128.
                    let sum = format!("({high} * 4294967296 + {low})");
                    let item = format!(
                        "CASE WHEN {high} BETWEEN -2147483647 AND 2147483646 THEN {} ELSE {} END",
                        money(self, &sum, currency, true),
                        self.resolvers()
                    );
                    format!("SELECT json_group_array(json({item}) ORDER BY {order}) FROM {rows}")
                };
                self.nested(array)
            }
        }
    }

    /// A key's value on the row `t`, as the ordering compares it.
    fn key(&self, key: &OrderKey, t: &str) -> String {
        let c = format!("{t}.{}", quoted(key.column));
        if key.or_empty {
            format!("COALESCE({c}, '')")
        } else {
            c
        }
    }

    /// `ORDER BY` of the keys on the row `t`, or of their exact reverse (`NULL`s included:
    /// both backends put them at one end, flipped with the direction).
    fn order_by(&self, keys: &[OrderKey], t: &str, reversed: bool) -> String {
        keys.iter()
            .map(|key| {
                let descending = key.descending != reversed;
                format!(
                    "{} {}",
                    self.key(key, t),
                    if descending { "DESC" } else { "ASC" }
                )
            })
            .collect::<Vec<_>>()
            .join(", ")
    }

    fn order(&self, keys: &[OrderKey], t: &str) -> String {
        self.order_by(keys, t, false)
    }

    /// The rows strictly after the position `values` in the ordering `keys`, as
    /// `page::Ordering::after` has them.
    fn after(&mut self, keys: &[OrderKey], values: &[SortValue], t: &str) -> String {
        let mut any = Vec::new();
        for (i, key) in keys.iter().enumerate() {
            let mut all = Vec::new();
            for (previous, value) in keys[..i].iter().zip(values) {
                let value = self.bind(value.clone().into_value());
                all.push(format!("{} = {value}", self.key(previous, t)));
            }
            let value = self.bind(values[i].clone().into_value());
            let beyond = if key.descending { "<" } else { ">" };
            all.push(format!("{} {beyond} {value}", self.key(key, t)));
            any.push(format!("({})", all.join(" AND ")));
        }
        any.join(" OR ")
    }

    /// The row `t`'s position for its cursor, sealed by [`run`]: `{"#c<site>": [values]}`,
    /// each value as `page::SortValue` carries it.
    fn cursor(&self, site: usize, keys: &[OrderKey], t: &str) -> String {
        let values: Vec<String> = keys
            .iter()
            .map(|key| match key.carried {
                Some(Carried::Time) => self.value(t, key.column, &Shape::Time),
                Some(Carried::Uuid) => self.value(t, key.column, &Shape::Uuid),
                Some(Carried::Text) => format!("COALESCE({t}.{}, '')", quoted(key.column)),
                _ => format!("{t}.{}", quoted(key.column)),
            })
            .collect();
        self.object(&[(format!("#c{site}"), self.array(&values))])
    }

    /// A connection's JSON; nested, `parent` is the table and alias of the row it hangs from.
    fn connection(
        &mut self,
        connection: &Connection,
        parent: Option<(&dyn Table, &str)>,
    ) -> String {
        let table = connection.table;
        // One alias for the rows in every part that reads them (the count, the page, the row
        // past it, the first and last cursors, a lookup's rows), each a sub-query of its own:
        // the filter and the cursor's condition are rendered once, their values bound once
        // and `gteAgo`'s moment taken once.
        let t = self.alias();
        // The connection's rows (of its parent, nested): `FROM … WHERE tenant [AND parent]
        // [AND filter]` …
        let mut rows = self.scan(table, &t);
        if let (Some(column), Some((parent, p))) = (connection.parent, parent) {
            rows.push_str(&format!(
                " AND {t}.{} = {p}.{}",
                quoted(column),
                quoted(parent.id_column())
            ));
        }
        if let Some(filter) = &connection.filter {
            let condition = self.condition(filter.as_ref(), &t);
            rows.push_str(&format!(" AND ({condition})"));
        }
        // … and past the cursor `after`: what the page and `hasNextPage` read, and the count
        // does not.
        let mut past = rows.clone();
        if let Some(values) = &connection.after {
            let condition = self.after(&connection.order, values, &t);
            past.push_str(&format!(" AND ({condition})"));
        }
        let order = self.order(&connection.order, &t);
        // The page's rows, in order.
        let page = format!(
            "SELECT * FROM {past} ORDER BY {order} LIMIT {}",
            connection.first
        );
        let mut pairs = Vec::new();
        for (key, item) in &connection.items {
            let value = match item {
                ConnectionItem::Typename(name) => literal(name),
                ConnectionItem::TotalCount => format!("(SELECT COUNT(*) FROM {rows})"),
                ConnectionItem::PageInfo(members) => {
                    let mut info = Vec::new();
                    for (key, item) in members {
                        let value = match item {
                            PageInfoItem::Typename => literal("PageInfo"),
                            PageInfoItem::HasNextPage => {
                                // A row past the page: the resolvers fetch `first + 1` too.
                                let more = format!(
                                    "EXISTS (SELECT 1 FROM {past} ORDER BY {order} LIMIT 1 OFFSET {})",
                                    connection.first
                                );
                                self.boolean(&more)
                            }
                            PageInfoItem::HasPreviousPage if connection.after.is_some() => {
                                self.boolean("1 = 1")
                            }
                            PageInfoItem::HasPreviousPage => self.boolean("1 = 0"),
                            PageInfoItem::StartCursor | PageInfoItem::EndCursor => {
                                let Some(site) = connection.cursors else {
                                    self.failed = true;
                                    continue;
                                };
                                let cursor = self.cursor(site, &connection.order, &t);
                                let end = matches!(item, PageInfoItem::EndCursor);
                                let first = self.order_by(&connection.order, &t, end);
                                self.nested(format!(
                                    "SELECT {cursor} FROM ({page}) AS {t} ORDER BY {first} LIMIT 1"
                                ))
                            }
                        };
                        info.push((key.clone(), value));
                    }
                    self.object(&info)
                }
                ConnectionItem::Edges(edges) => {
                    let mut edge = Vec::new();
                    for (key, item) in edges {
                        let value = match item {
                            EdgeItem::Typename(name) => literal(name),
                            EdgeItem::Node(object) => self.node(&t, object),
                            EdgeItem::Cursor => match connection.cursors {
                                Some(site) => self.cursor(site, &connection.order, &t),
                                None => {
                                    self.failed = true;
                                    continue;
                                }
                            },
                        };
                        edge.push((key.clone(), value));
                    }
                    let edge = self.object(&edge);
                    let array = if self.pg() {
                        format!(
                            "SELECT COALESCE(json_agg({edge} ORDER BY {order}), '[]'::json) FROM ({page}) AS {t}"
                        )
                    } else {
                        format!(
                            "SELECT json_group_array(json({edge}) ORDER BY {order}) FROM ({page}) AS {t}"
                        )
                    };
                    self.nested(array)
                }
            };
            pairs.push((key.clone(), value));
        }
        if let Some(site) = connection.lookup {
            // Every row the answer depended on: the page's and the one past it (the
            // resolvers fetch `first + 1`), and every row `totalCount` counted, up to one past
            // the most a count by personal data may count.
            let ids = |sql: &mut Self, t: &str, rows: String| {
                let id = sql.value(t, table.id_column(), &Shape::Uuid);
                sql.nested(if sql.pg() {
                    format!("SELECT COALESCE(json_agg({id}), '[]'::json) FROM ({rows}) AS {t}")
                } else {
                    format!("SELECT json_group_array({id}) FROM ({rows}) AS {t}")
                })
            };
            let shown = ids(
                self,
                &t,
                format!(
                    "SELECT * FROM {past} ORDER BY {order} LIMIT {}",
                    connection.first + 1
                ),
            );
            let counted = if connection.counts() {
                ids(
                    self,
                    &t,
                    format!(
                        "SELECT * FROM {rows} LIMIT {}",
                        crate::graphql::page::PERSONAL_COUNT_MAX + 1
                    ),
                )
            } else {
                "NULL".to_owned()
            };
            pairs.push((format!("#l{site}"), self.array(&[shown, counted])));
        }
        self.object(&pairs)
    }

    /// The statement of a row by id.
    fn one(&mut self, id: Uuid, node: &Object) -> String {
        let t = self.alias();
        let object = self.node(&t, node);
        let id = self.bind(id.into());
        format!(
            "SELECT CAST({object} AS TEXT) FROM {} AND {t}.{} = {id}",
            self.scan(node.table, &t),
            quoted(node.table.id_column()),
        )
    }

    /// The statement of a root connection.
    fn many(&mut self, connection: &Connection) -> String {
        format!("SELECT CAST({} AS TEXT)", self.connection(connection, None))
    }
}

/// The start of what a statement shows for a value it cannot build ([`Sql::resolvers`]).
/// `{"#` cannot be inside a JSON string, where a quote is escaped.
const RESOLVERS_JSON: &str = "{\"#resolvers\"";

fn quoted(identifier: &str) -> String {
    format!("\"{}\"", identifier.replace('"', "\"\""))
}

fn literal(text: &str) -> String {
    format!("'{}'", text.replace('\'', "''"))
}

/// `CASE` over the active currencies' decimal places.
fn currency_places(currency: &str) -> String {
    static ARMS: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        let mut by_places: std::collections::BTreeMap<u32, Vec<String>> = Default::default();
        for (code, places) in crate::validate::currencies() {
            by_places.entry(*places).or_default().push(literal(code));
        }
        by_places
            .iter()
            .map(|(places, codes)| format!(" WHEN {{c}} IN ({}) THEN {places}", codes.join(", ")))
            .collect()
    });
    // Not an active currency: the amount's own places, as `money::amount_in` leaves it.
    format!("(CASE{} ELSE 0 END)", ARMS.replace("{c}", currency))
}

// ----- running --------------------------------------------------------------------------

/// A statement and the values of its parameters after the tenant.
type Statement = (String, Vec<sea_orm::Value>);

/// The statement of a root field on `backend`: `None` for `__typename`, answered without
/// one; declined when a part of it cannot be built (the resolvers answer).
fn statement(root: &Root, backend: DbBackend) -> Planned<Option<Statement>> {
    let mut sql = Sql::new(backend);
    let text = match root {
        Root::Typename => return Ok(None),
        Root::One { id, node } => sql.one(*id, node),
        Root::Many(connection) => sql.many(connection),
    };
    if sql.failed {
        return Err(Declined);
    }
    Ok(Some((text, sql.values)))
}

/// What running a plan gave.
pub enum Run {
    /// The data object as JSON text.
    Answered(String),
    /// A value the statement could not build ([`Sql::resolvers`], [`Sql::failed`]): the
    /// resolvers answer instead.
    Resolvers,
}

/// Runs a plan in the request's transaction: the data object as JSON text, written from the
/// database's own JSON (never parsed into values and serialised again), with the personal rows
/// noted. The derived data it shows is brought up to date first, as the resolvers' lists do.
pub async fn run(plan: &Plan, rc: &RequestContext) -> ApiResult<Run> {
    for table in &plan.derived_from {
        table.bring_up_to_date(rc).await?;
    }
    let mut data = String::from("{");
    for (n, (key, root)) in plan.roots.iter().enumerate() {
        if n > 0 {
            data.push(',');
        }
        // A response key is a GraphQL name: nothing in it to escape.
        data.push_str(&format!("\"{key}\":"));
        let Ok(statement) = statement(root, rc.scope.backend()) else {
            // A caller can ask for this (filters too large to bind in one statement): not a
            // warning.
            tracing::debug!(field = %key, "a compiled statement could not be built: the resolvers answer");
            return Ok(Run::Resolvers);
        };
        let Some((text, values)) = statement else {
            data.push_str("\"Query\"");
            continue;
        };
        let json = match rc.scope.tenant_text(text, values).await? {
            Some(json) if json.contains(RESOLVERS_JSON) => return Ok(Run::Resolvers),
            Some(json) if !plan.cursor_sites.is_empty() => {
                // A position the resolvers would carry differently (a time outside the years
                // RFC 3339 writes, kept before they were refused): theirs to answer.
                let mut unreadable = false;
                let sealed = seal_cursors(&json, |site, row| {
                    let (ordering, carried) = plan.cursor_sites.get(site).ok_or_else(invalid)?;
                    Ok(match sort_values(carried, row) {
                        Some(values) => rc.cursors.encode(rc.scope.tenant_id(), ordering, &values),
                        None => {
                            unreadable = true;
                            String::new()
                        }
                    })
                })?;
                if unreadable {
                    return Ok(Run::Resolvers);
                }
                Some(sealed)
            }
            json => json,
        };
        let json = match json {
            Some(json) if !plan.lookups.is_empty() => {
                let mut found: Vec<(usize, Vec<Uuid>)> = Vec::new();
                let mut counted: HashMap<usize, usize> = HashMap::new();
                let json = take_lookups(&json, |site, (shown, all)| {
                    *counted.entry(site).or_default() += all.as_ref().map_or(0, Vec::len);
                    found.push((
                        site,
                        shown.into_iter().chain(all.into_iter().flatten()).collect(),
                    ));
                    Ok(())
                })?;
                // Past the most a count by personal data may count, the resolvers refuse it.
                if counted
                    .values()
                    .any(|n| *n as u64 > crate::graphql::page::PERSONAL_COUNT_MAX)
                {
                    return Ok(Run::Resolvers);
                }
                for (site, ids) in found {
                    let (entity, fields) = plan.lookups.get(site).ok_or_else(invalid)?;
                    rc.reads.note_all(entity, &ids, fields, Outcome::Allowed);
                }
                Some(json)
            }
            json => json,
        };
        match json {
            None => data.push_str("null"),
            Some(json) if plan.sites.is_empty() => data.push_str(&json),
            Some(json) => {
                let mut rows = vec![Vec::new(); plan.sites.len()];
                data.push_str(&take_personal_rows(&json, |site, id| {
                    rows.get_mut(site).ok_or_else(invalid)?.push(id);
                    Ok(())
                })?);
                for ((entity, fields), ids) in plan.sites.iter().zip(&rows) {
                    if !ids.is_empty() {
                        rc.reads.note_all(entity, ids, fields, Outcome::Allowed);
                    }
                }
            }
        }
    }
    data.push('}');
    Ok(Run::Answered(data))
}

/// The database's JSON with each row position (`{"#c<site>": [values]}`, [`Sql::cursor`])
/// replaced by the cursor `seal` makes of it, as a JSON string (URL-safe base64: nothing to
/// escape). `{"#` cannot be inside a JSON string, where a quote is escaped.
fn seal_cursors(
    json: &str,
    mut seal: impl FnMut(usize, Vec<serde_json::Value>) -> ApiResult<String>,
) -> ApiResult<String> {
    const MARK: &str = "{\"#c";
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(at) = rest.find(MARK) {
        out.push_str(&rest[..at]);
        let (site, row, after) = hidden_member(&rest[at + MARK.len()..])?.ok_or_else(invalid)?;
        rest = after.trim_start().strip_prefix('}').ok_or_else(invalid)?;
        out.push('"');
        out.push_str(&seal(site, row)?);
        out.push('"');
    }
    out.push_str(rest);
    Ok(out)
}

/// The rows a lookup's answer depended on, taken out of the database's JSON: each
/// connection's `, "#l<site>": [[shown], [counted] | null]` member ([`Sql::connection`]),
/// handed to `noted` as the ids of the page and the row past it, and of every row counted.
/// A key `"#l<site>"` can only be ours: a quote inside a JSON string is escaped, and a string
/// value is never followed by `:`.
#[allow(clippy::type_complexity)]
fn take_lookups(
    json: &str,
    mut noted: impl FnMut(usize, (Vec<Uuid>, Option<Vec<Uuid>>)) -> ApiResult<()>,
) -> ApiResult<String> {
    let mut out = String::with_capacity(json.len());
    let mut rest = json;
    while let Some(at) = rest.find("\"#l") {
        let before = rest[..at].trim_end();
        let tail = &rest[at + 3..];
        let member = if before.ends_with(',') {
            hidden_member::<(Vec<Uuid>, Option<Vec<Uuid>>)>(tail)?
        } else {
            None
        };
        let Some((site, ids, after)) = member else {
            out.push_str(&rest[..at + 3]);
            rest = tail;
            continue;
        };
        noted(site, ids)?;
        out.push_str(&before[..before.len() - 1]);
        rest = after;
    }
    out.push_str(rest);
    Ok(out)
}

/// A hidden member after its marker (`{"#c` or `"#l`): its site's digits, the closing quote
/// and `:` (`None` when the text is not a member), then its value, returned with the text
/// after it (malformed: an error).
fn hidden_member<T: serde::de::DeserializeOwned>(
    tail: &str,
) -> ApiResult<Option<(usize, T, &str)>> {
    let digits = tail.bytes().take_while(u8::is_ascii_digit).count();
    let key = tail[..digits].parse().ok().zip(
        tail[digits..]
            .strip_prefix('"')
            .and_then(|t| t.trim_start().strip_prefix(':')),
    );
    let Some((site, value)) = key else {
        return Ok(None);
    };
    let mut parsed = serde_json::Deserializer::from_str(value).into_iter::<T>();
    let member = parsed.next().ok_or_else(invalid)?.map_err(|_| invalid())?;
    Ok(Some((site, member, &value[parsed.byte_offset()..])))
}

/// A row's position as the resolvers' cursors carry it (`order::sort_value`: a missing value
/// as the empty text).
fn sort_values(carried: &[Carried], row: Vec<serde_json::Value>) -> Option<Vec<SortValue>> {
    use serde_json::Value as Json;
    if row.len() != carried.len() {
        return None;
    }
    carried
        .iter()
        .zip(row)
        .map(|(carried, value)| {
            Some(match (carried, value) {
                (_, Json::Null) => SortValue::S(String::new()),
                (Carried::Text, Json::String(text)) => SortValue::S(text),
                (Carried::Int, Json::Number(n)) => SortValue::I(n.as_i64()?),
                (Carried::Time, Json::String(text)) => SortValue::T(
                    DateTime::parse_from_rfc3339(&text)
                        .ok()?
                        .with_timezone(&Utc),
                ),
                (Carried::Uuid, Json::String(text)) => SortValue::U(Uuid::parse_str(&text).ok()?),
                _ => return None,
            })
        })
        .collect()
}

/// The database's JSON without each object's `#n` member (the row of a site with personal
/// fields, added last to its object as `, "#n" : "<id>"`), each one handed to `noted`. A
/// GraphQL name never starts with `#`, and inside a string the scan does not look.
fn take_personal_rows(
    json: &str,
    mut noted: impl FnMut(usize, Uuid) -> ApiResult<()>,
) -> ApiResult<String> {
    let bytes = json.as_bytes();
    let mut out = String::with_capacity(json.len());
    let (mut copied, mut at) = (0, 0);
    // Between strings only a quote (a string opens) or a comma (perhaps before our member)
    // matters; inside one, only a backslash (the byte after it is escaped) or its closing
    // quote. `memchr` jumps to them: a page of contacts is tens of kilobytes.
    while let Some(found) = memchr::memchr2(b'"', b',', &bytes[at..]) {
        at += found;
        if bytes[at] == b',' {
            if let Some((site, id, end)) = personal_member(bytes, at) {
                noted(site, id)?;
                out.push_str(&json[copied..at]);
                copied = end;
                at = end;
            } else {
                at += 1;
            }
            continue;
        }
        at += 1;
        loop {
            match memchr::memchr2(b'"', b'\\', &bytes[at..]) {
                Some(n) if bytes[at + n] == b'"' => {
                    at += n + 1;
                    break;
                }
                Some(n) => at = (at + n + 2).min(bytes.len()),
                None => {
                    at = bytes.len();
                    break;
                }
            }
        }
    }
    out.push_str(&json[copied..]);
    Ok(out)
}

/// At `comma`, the member `, "#<site>" : "<uuid>"` closing its object: the site, the id and
/// where the closing `}` is.
fn personal_member(bytes: &[u8], comma: usize) -> Option<(usize, Uuid, usize)> {
    let skip = |mut at: usize| {
        while bytes.get(at).is_some_and(u8::is_ascii_whitespace) {
            at += 1;
        }
        at
    };
    let mut at = skip(comma + 1);
    if bytes.get(at..at + 2)? != b"\"#" {
        return None;
    }
    at += 2;
    let digits = bytes[at..]
        .iter()
        .take_while(|b| b.is_ascii_digit())
        .count();
    let site = std::str::from_utf8(&bytes[at..at + digits])
        .ok()?
        .parse()
        .ok()?;
    at += digits;
    if bytes.get(at) != Some(&b'"') {
        return None;
    }
    at = skip(at + 1);
    if bytes.get(at) != Some(&b':') {
        return None;
    }
    at = skip(at + 1);
    let id = bytes.get(at + 1..at + 37)?;
    if bytes.get(at) != Some(&b'"') || bytes.get(at + 37) != Some(&b'"') {
        return None;
    }
    let id = Uuid::parse_str(std::str::from_utf8(id).ok()?).ok()?;
    let end = skip(at + 38);
    (bytes.get(end) == Some(&b'}')).then_some((site, id, end))
}

fn invalid() -> ApiError {
    ApiError::internal(anyhow::anyhow!("compiled JSON: a malformed row key"))
}

// ----- the extension --------------------------------------------------------------------

/// Whether reads are compiled, and how many operations were compiled or ran on the
/// resolvers (`/metrics`).
#[derive(Debug)]
pub struct CompiledReads {
    enabled: AtomicBool,
    compiled: AtomicU64,
    fallback: AtomicU64,
}

impl CompiledReads {
    pub fn new(enabled: bool) -> Arc<Self> {
        Arc::new(CompiledReads {
            enabled: AtomicBool::new(enabled),
            compiled: AtomicU64::new(0),
            fallback: AtomicU64::new(0),
        })
    }

    /// Turns compiling on or off (the differential tests run both ways on one database).
    pub fn set_enabled(&self, enabled: bool) {
        self.enabled.store(enabled, Atomic::Relaxed);
    }

    /// Operations compiled, and operations that ran on the resolvers.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.compiled.load(Atomic::Relaxed),
            self.fallback.load(Atomic::Relaxed),
        )
    }

    /// The counters in Prometheus' text format.
    pub fn render(&self) -> String {
        let (compiled, fallback) = self.counts();
        format!(
            "# HELP dossier_graphql_operations_total GraphQL operations executed, by how: \
             compiled to SQL or on the resolvers.\n\
             # TYPE dossier_graphql_operations_total counter\n\
             dossier_graphql_operations_total{{executor=\"compiled\"}} {compiled}\n\
             dossier_graphql_operations_total{{executor=\"resolvers\"}} {fallback}\n"
        )
    }
}

/// Installs [`CompiledReads`] in a schema: it plans each request's operations once parsed
/// and, after validation, answers the operation that runs when it was planned.
pub struct Compiler;

impl ExtensionFactory for Compiler {
    fn create(&self) -> Arc<dyn Extension> {
        Arc::new(CompilerRun {
            plans: std::sync::Mutex::new(Vec::new()),
        })
    }
}

/// A request's plans, by operation name (`None` for a document of one operation).
struct CompilerRun {
    plans: std::sync::Mutex<Vec<(Option<String>, Plan)>>,
}

#[async_graphql::async_trait::async_trait]
impl Extension for CompilerRun {
    async fn parse_query(
        &self,
        ctx: &ExtensionContext<'_>,
        query: &str,
        variables: &Variables,
        next: NextParseQuery<'_>,
    ) -> ServerResult<ExecutableDocument> {
        let document = next.run(ctx, query, variables).await?;
        let enabled = ctx
            .data_opt::<Arc<CompiledReads>>()
            .is_some_and(|reads| reads.enabled.load(Atomic::Relaxed));
        if let (true, Some(rc)) = (enabled, ctx.data_opt::<Arc<RequestContext>>()) {
            // Planned here, where the document is at hand (the request names the operation
            // only later): usually one.
            let names: Vec<Option<&str>> = match &document.operations {
                DocumentOperations::Single(_) => vec![None],
                DocumentOperations::Multiple(ops) => {
                    ops.keys().map(|name| Some(name.as_str())).collect()
                }
            };
            let plans = names
                .into_iter()
                .filter_map(|name| {
                    let plan = plan(&document, name, variables, Access::of(rc)).ok()?;
                    Some((name.map(str::to_owned), plan))
                })
                .collect();
            *self.plans.lock().unwrap_or_else(|e| e.into_inner()) = plans;
        }
        Ok(document)
    }

    async fn execute(
        &self,
        ctx: &ExtensionContext<'_>,
        operation_name: Option<&str>,
        next: NextExecute<'_>,
    ) -> async_graphql::Response {
        let (Some(reads), Some(rc)) = (
            ctx.data_opt::<Arc<CompiledReads>>(),
            ctx.data_opt::<Arc<RequestContext>>(),
        ) else {
            return next.run(ctx, operation_name).await;
        };
        let planned = {
            let mut plans = self.plans.lock().unwrap_or_else(|e| e.into_inner());
            // Unnamed, the request runs the document's only operation (async-graphql refuses
            // it otherwise before this point).
            let at = match (operation_name, plans.len()) {
                (None, 1) => Some(0),
                _ => plans
                    .iter()
                    .position(|(name, _)| name.as_deref() == operation_name),
            };
            at.map(|at| plans.swap_remove(at).1)
        };
        // Counted once it is known which executor answered: a request that ran on one of
        // SQLite's read connections and needs the writer runs again, and counts then.
        let count = |counter: &AtomicU64| {
            if !rc.scope.needs_writer() {
                counter.fetch_add(1, Atomic::Relaxed);
            }
        };
        let ran = match planned {
            Some(planned) => run(&planned, rc).await,
            None => Ok(Run::Resolvers),
        };
        match ran {
            Ok(Run::Resolvers) => {
                let response = next.run(ctx, operation_name).await;
                count(&reads.fallback);
                response
            }
            // The data goes out as the database wrote it (`graphql::Answer`); async-graphql's
            // own is left `null`.
            Ok(Run::Answered(data)) => {
                count(&reads.compiled);
                *rc.compiled.lock().unwrap_or_else(|e| e.into_inner()) = Some(data);
                async_graphql::Response::new(Value::Null)
            }
            Err(err) => {
                count(&reads.compiled);
                let err: async_graphql::Error = err.into();
                async_graphql::Response::from_errors(vec![
                    err.into_server_error(Default::default()),
                ])
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A caller who may read every entity and personal data (cursors aside).
    fn reader_of_everything() -> Access<'static> {
        use crate::auth::{Scope, Scopes};
        Access {
            scopes: Scopes::of(&[Scope::CustomersRead, Scope::ContactsRead, Scope::SalesRead]),
            personal: true,
            cursors: None,
        }
    }

    /// The rows of `table` showing `fields`, with `nested` connections.
    fn object(table: &'static dyn Table, fields: &[&str], nested: Vec<Connection>) -> Object {
        let mut items: Vec<(String, Item)> = fields
            .iter()
            .map(|f| {
                let column = table.column(f).unwrap_or_else(|| panic!("{f} compiles"));
                let item = match column.shape {
                    Shape::Group { type_name, .. } => Item::Group {
                        chosen: vec![("city".into(), Some("billing_city"))],
                        type_name,
                        all: column.columns.clone(),
                    },
                    _ => Item::Column(column),
                };
                (f.to_string(), item)
            })
            .collect();
        items.extend(
            nested
                .into_iter()
                .enumerate()
                .map(|(n, c)| (format!("nested{n}"), Item::Connection(c))),
        );
        Object {
            table,
            items,
            personal: Some(0),
        }
    }

    fn connection(
        table: &'static dyn Table,
        parent: Option<&'static str>,
        node: Object,
    ) -> Connection {
        Connection {
            table,
            parent,
            first: 5,
            filter: None,
            order: table.order(None).expect("a column ordering").keys,
            after: None,
            cursors: None,
            lookup: None,
            items: vec![
                (
                    "edges".into(),
                    ConnectionItem::Edges(vec![("node".into(), EdgeItem::Node(node))]),
                ),
                ("totalCount".into(), ConnectionItem::TotalCount),
                (
                    "pageInfo".into(),
                    ConnectionItem::PageInfo(vec![
                        ("hasNextPage".into(), PageInfoItem::HasNextPage),
                        ("hasPreviousPage".into(), PageInfoItem::HasPreviousPage),
                    ]),
                ),
            ],
        }
    }

    /// Q1's shape and more: customers after a cursor with their people (and the people's
    /// sales), their interactions (and each one's person) and their stats, each list with its
    /// count and whether more rows follow, the customers with their cursors.
    fn nested_lists() -> Connection {
        let customers = table::<entity::customer::Entity>();
        let contacts = table::<entity::contact::Entity>();
        let sales = table::<entity::sale::Entity>();
        let interactions = table::<entity::interaction::Entity>();
        let people_sales = connection(
            sales,
            Some("contact_id"),
            object(sales, &["id", "amount", "soldAt"], Vec::new()),
        );
        let people = connection(
            contacts,
            Some("customer_id"),
            object(contacts, &["id", "email", "birthday"], vec![people_sales]),
        );
        let mut interaction = object(interactions, &["kind", "contactId"], Vec::new());
        let contact = interactions.one("contact").expect("Interaction.contact");
        interaction.items.push((
            "contact".into(),
            Item::One {
                column: contact.column,
                optional: contact.optional,
                node: Box::new(object(contact.target, &["email"], Vec::new())),
            },
        ));
        let timeline = connection(interactions, Some("customer_id"), interaction);
        let mut customer = object(
            customers,
            &["id", "name", "billingAddress", "createdAt"],
            vec![people, timeline],
        );
        let stats = customers.derived("stats").expect("stats compile");
        let chosen = stats
            .members
            .iter()
            .map(|(name, figure)| {
                let parts = vec![
                    ("amount".to_owned(), MoneyPart::Amount),
                    ("currency".to_owned(), MoneyPart::Currency),
                ];
                (name.to_string(), Chosen::Figure(figure, parts))
            })
            .collect();
        customer.items.push((
            "stats".into(),
            Item::Derived {
                derived: stats,
                chosen,
            },
        ));
        // The root list pages after a cursor and shows its rows' cursors.
        let mut list = connection(customers, None, customer);
        list.after = Some(vec![SortValue::U(Uuid::nil())]);
        list.cursors = Some(0);
        for (_, item) in &mut list.items {
            match item {
                ConnectionItem::Edges(edges) => edges.push(("cursor".into(), EdgeItem::Cursor)),
                ConnectionItem::PageInfo(page) => page.extend([
                    ("startCursor".into(), PageInfoItem::StartCursor),
                    ("endCursor".into(), PageInfoItem::EndCursor),
                ]),
                _ => {}
            }
        }
        list
    }

    /// The SQL of the benchmark's queries, as committed beside them (`bench/queries/*.sql`;
    /// `UPDATE_SQL=1` rewrites them): a change to what the compiler emits shows in review.
    #[test]
    fn the_benchmark_queries_compile_to_their_committed_sql() {
        let access = reader_of_everything();
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../bench/queries");
        for (name, variables) in [
            ("q1", "{}"),
            ("q1_nopii", "{}"),
            ("q2", r#"{"id": "01f04828-3a12-481b-eb53-a7cb3f7c78da"}"#),
        ] {
            let text = std::fs::read_to_string(dir.join(format!("{name}.graphql")))
                .expect("a benchmark query");
            let document = async_graphql::parser::parse_query(&text).expect("it parses");
            let variables: Variables = serde_json::from_str(variables).expect("variables");
            let planned = plan(&document, None, &variables, access)
                .unwrap_or_else(|_| panic!("{name} compiles"));
            for (backend, suffix) in [
                (DbBackend::Postgres, "postgres"),
                (DbBackend::Sqlite, "sqlite"),
            ] {
                let statements: Vec<String> = planned
                    .roots
                    .iter()
                    .filter_map(|(_, root)| statement(root, backend).ok().flatten())
                    .map(|(sql, _)| format!("{sql};\n"))
                    .collect();
                let emitted = statements.concat();
                let path = dir.join(format!("{name}.{suffix}.sql"));
                if std::env::var_os("UPDATE_SQL").is_some() {
                    std::fs::write(&path, &emitted).expect("written");
                }
                let committed = std::fs::read_to_string(&path).unwrap_or_default();
                assert!(
                    committed == emitted,
                    "{} differs from what the compiler emits (UPDATE_SQL=1 to accept):\n{emitted}",
                    path.display()
                );
            }
        }
    }

    /// The `#n` members come out of the database's JSON — compact (SQLite) or spaced
    /// (PostgreSQL), nested — each handed over once; text that only looks like one, inside a
    /// string value, escaped quotes and all, stays.
    #[test]
    fn personal_row_members_are_taken_out_and_nothing_else() {
        let a = "0192a000-0000-7000-8000-00000000000a";
        let b = "0192a000-0000-7000-8000-00000000000b";
        let tricky = format!(r##"he said \", \"#0\" : \"{a}\"}}"##);
        for (json, expected, rows) in [
            (
                format!(r##"{{"edges":[{{"node":{{"email":"x","#0":"{a}"}}}}]}}"##),
                r##"{"edges":[{"node":{"email":"x"}}]}"##.to_owned(),
                vec![(0, a)],
            ),
            (
                format!(r##"{{"id" : "{a}", "name" : "{tricky}", "#1" : "{b}"}}"##),
                format!(r##"{{"id" : "{a}", "name" : "{tricky}"}}"##),
                vec![(1, b)],
            ),
            (
                format!(
                    r##"{{"c" : {{"p" : [{{"e" : null, "#0" : "{a}"}}, {{"e" : 1 , "#0" : "{b}" }}]}}}}"##
                ),
                r##"{"c" : {"p" : [{"e" : null}, {"e" : 1 }]}}"##.to_owned(),
                vec![(0, a), (0, b)],
            ),
            (
                // A string that ends in an escaped backslash closes at the quote after it.
                format!(r##"{{"n" : "a\\", "#2" : "{a}"}}"##),
                r##"{"n" : "a\\"}"##.to_owned(),
                vec![(2, a)],
            ),
            (
                // An escaped backslash, then an escaped quote: the string goes on to `b`.
                format!(r##"{{"n" : "a\\\"b", "#3" : "{a}"}}"##),
                r##"{"n" : "a\\\"b"}"##.to_owned(),
                vec![(3, a)],
            ),
            (
                // A text that ends inside a string, on a backslash.
                r##"{"n" : "a\"##.to_owned(),
                r##"{"n" : "a\"##.to_owned(),
                vec![],
            ),
            (
                // An escaped quote does not close the string: the member is inside it.
                format!(r##"{{"n" : "a\", "#2" : "{a}"}}"##),
                format!(r##"{{"n" : "a\", "#2" : "{a}"}}"##),
                vec![],
            ),
        ] {
            let mut seen = Vec::new();
            let taken = take_personal_rows(&json, |site, id| {
                seen.push((site, id.to_string()));
                Ok(())
            })
            .expect("well formed");
            assert_eq!(taken, expected, "{json}");
            let rows: Vec<(usize, String)> =
                rows.into_iter().map(|(s, id)| (s, id.to_owned())).collect();
            assert_eq!(seen, rows, "{json}");
        }
    }

    /// Every table a compiled statement reads is read under the tenant condition: each
    /// `FROM "table" AS t` is followed by `WHERE t."tenant_id" = <the first parameter>`,
    /// the parameter the scoped handle binds to the request's tenant.
    #[test]
    fn every_table_a_statement_reads_carries_the_tenant_condition() {
        for backend in [DbBackend::Postgres, DbBackend::Sqlite] {
            let mut sql = Sql::new(backend);
            let statement = sql.many(&nested_lists());
            let tenant = sql.parameter(1);
            let reads: Vec<&str> = statement.split(" FROM ").skip(1).collect();
            let tables: Vec<&&str> = reads.iter().filter(|r| r.starts_with('"')).collect();
            // Four lists, each read for its rows, its count and the row after its page; each
            // of the eight figures of a customer's stats; an interaction's person; the root
            // page again for its first and last cursors.
            assert_eq!(tables.len(), 23, "23 table reads: {statement}");
            for read in tables {
                let (table, rest) = read[1..].split_once('"').expect("a quoted table");
                let alias = rest
                    .strip_prefix(" AS ")
                    .and_then(|r| r.split_whitespace().next())
                    .unwrap_or_else(|| panic!("{table} without an alias: {statement}"));
                let condition = format!(" AS {alias} WHERE {alias}.\"tenant_id\" = {tenant}");
                assert!(
                    rest.starts_with(&condition),
                    "{backend:?}: {table} read without `{condition}`: {statement}"
                );
            }
        }
    }

    /// A filter on the row's own columns becomes a condition whose values are parameters
    /// after the tenant, numbered in the order they are bound and bound once for every part
    /// of the connection that reads its rows, on both backends; the id of a row by id comes
    /// after the filters of the lists under it.
    #[test]
    fn filters_bind_their_values_after_the_tenant() {
        let access = reader_of_everything();
        let id = "01f04828-3a12-481b-eb53-a7cb3f7c78da";
        let text = format!(
            r#"{{ customer(id: "{id}") {{ contacts(filter: {{jobTitle: {{eq: "Buyer"}}, or: [{{externalRef: {{in: ["a", "b"]}}}}]}}, orderBy: [{{field: JOB_TITLE, direction: DESC}}]) {{ totalCount edges {{ node {{ id }} }} }} }} }}"#
        );
        let document = async_graphql::parser::parse_query(&text).expect("it parses");
        let planned = plan(&document, None, &Variables::default(), access)
            .unwrap_or_else(|_| panic!("it compiles"));
        for (backend, p) in [(DbBackend::Postgres, "$"), (DbBackend::Sqlite, "?")] {
            let (_, root) = &planned.roots[0];
            let (sql, values) = statement(root, backend)
                .ok()
                .flatten()
                .expect("a statement");
            let expected: Vec<sea_orm::Value> = ["Buyer", "a", "b"]
                .into_iter()
                .map(|v| sea_orm::Value::from(v.to_owned()))
                .chain([Uuid::parse_str(id).expect("an id").into()])
                .collect();
            // The count and the page each read the filtered rows, through the same parameters.
            assert_eq!(values, expected, "{backend:?}: {sql}");
            assert_eq!(
                sql.matches(&format!("\"job_title\" = {p}2")).count(),
                2,
                "{sql}"
            );
            for n in 2..=5 {
                assert!(
                    sql.contains(&format!("{p}{n}")),
                    "{backend:?}: {p}{n} in {sql}"
                );
            }
            assert!(!sql.contains(&format!("{p}6")), "{backend:?}: {sql}");
            assert!(
                sql.contains(&format!("\"job_title\" = {p}2")),
                "{backend:?}: {sql}"
            );
            assert!(sql.ends_with(&format!("= {p}5")), "{backend:?}: {sql}");
            assert!(
                sql.contains("COALESCE(t2.\"job_title\", '') DESC"),
                "{backend:?}: {sql}"
            );
        }
    }

    /// Row positions come out of the database's JSON as cursors — compact (SQLite) or spaced
    /// (PostgreSQL), several, nested — and text that only looks like one, inside a string
    /// value, stays.
    #[test]
    fn row_positions_become_cursors_and_nothing_else() {
        let tricky = r##"{\"#c0\": [1]}"##;
        let json = format!(
            r##"{{"edges" : [{{"cursor" : {{"#c0" : ["a", 5]}}, "name" : "{tricky}"}}, {{"cursor":{{"#c1":[null]}}}}]}}"##
        );
        let mut seen = Vec::new();
        let sealed = seal_cursors(&json, |site, row| {
            seen.push((site, row.clone()));
            Ok(format!("C{site}"))
        })
        .expect("well formed");
        assert_eq!(
            sealed,
            format!(
                r##"{{"edges" : [{{"cursor" : "C0", "name" : "{tricky}"}}, {{"cursor":"C1"}}]}}"##
            )
        );
        assert_eq!(
            seen,
            vec![
                (0, vec![serde_json::json!("a"), serde_json::json!(5)]),
                (1, vec![serde_json::Value::Null]),
            ]
        );
        let carried = [Carried::Text, Carried::Int, Carried::Time, Carried::Uuid];
        let row = vec![
            serde_json::json!("x"),
            serde_json::json!(7),
            serde_json::json!("2026-02-02T03:04:05.123+00:00"),
            serde_json::json!("01f04828-3a12-481b-eb53-a7cb3f7c78da"),
        ];
        let values = sort_values(&carried, row).expect("a position");
        assert_eq!(values[0], SortValue::S("x".into()));
        assert_eq!(values[1], SortValue::I(7));
        assert!(matches!(values[2], SortValue::T(t) if t.timestamp_subsec_millis() == 123));
        assert!(sort_values(&carried[..1], vec![serde_json::json!(1)]).is_none());
    }

    /// A lookup's rows come out of the database's JSON — compact or spaced, with or without
    /// counted rows — and a string that only looks like one stays.
    #[test]
    fn lookup_rows_are_taken_out_and_nothing_else() {
        let a = "0192a000-0000-7000-8000-00000000000a";
        let b = "0192a000-0000-7000-8000-00000000000b";
        let json = format!(
            r##"{{"x" : [", \"#l0\" : 1", "#l1"], "totalCount" : 2, "#l0" : [["{a}"], ["{a}", "{b}"]]}}"##
        );
        let mut seen = Vec::new();
        let taken = take_lookups(&json, |site, ids| {
            seen.push((site, ids));
            Ok(())
        })
        .expect("well formed");
        assert_eq!(
            taken,
            r##"{"x" : [", \"#l0\" : 1", "#l1"], "totalCount" : 2}"##
        );
        let (a, b) = (
            Uuid::parse_str(a).expect("an id"),
            Uuid::parse_str(b).expect("an id"),
        );
        assert_eq!(seen, vec![(0, (vec![a], Some(vec![a, b])))]);
        let compact = r##"{"edges":[],"#l3":[[],null]}"##;
        let mut seen = Vec::new();
        let taken = take_lookups(compact, |site, ids| {
            seen.push((site, ids));
            Ok(())
        })
        .expect("well formed");
        assert_eq!(taken, r##"{"edges":[]}"##);
        assert_eq!(seen, vec![(3, (Vec::new(), None))]);
    }
}
