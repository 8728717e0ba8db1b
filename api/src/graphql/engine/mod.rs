//! The engine: one declaration per entity becomes its GraphQL object type, filter and ordering
//! inputs, connection with sealed cursors, nested relations (batched per level), root queries
//! and create/update/delete mutations.
//!
//! An entity is its SeaORM entity (with its relations and its personal-data marking) plus a
//! [`Decl`] built by [`Declared::decl`]: which columns are exposed, filterable, sortable and
//! writable (with their validation), which relations nest, which scopes guard it, and the
//! domain rules as hooks. Everything else is here, once, for every entity: the tenant scope
//! (all data passes the scoped handle), the personal-data gate and lookup auditing (read off
//! the marking, never restated), validation before any write, the write's audit event with the
//! changed fields computed from the change itself, and the write scopes that do not read.
//! Nothing else builds these types, so an entity cannot be exposed without those rules.

pub mod compile;
pub mod dependents;
pub mod filter;
pub mod meta;
pub mod node;
pub mod order;
pub mod relation;
pub mod root;
pub mod search;
pub mod write;

use std::borrow::Cow;
use std::sync::Arc;

use async_graphql::registry::Registry;
use async_graphql::{InputType, ObjectType, OutputType, Value};
use entity::{PersonalData, TenantOwned};
use futures_util::future::BoxFuture;
use sea_orm::{ActiveModelBehavior, ActiveModelTrait, DatabaseTransaction, IdenStatic};
use uuid::Uuid;

use crate::auth::Scope;
use crate::error::ApiResult;
use crate::graphql::OrderDirection;
use crate::graphql::context::RequestContext;
use crate::tenancy::Scoped;

pub use crate::declared;
pub use filter::{FilterKind, FilterPart, NoFilterExtras};
pub use node::Node;
pub use relation::{Fate, Many, One, belongs_to};

/// An entity the engine serves. Implemented once per entity, next to its declaration.
pub trait Declared:
    TenantOwned<
        Model: Clone + Send + Sync + 'static + sea_orm::IntoActiveModel<Self::ActiveModel>,
        ActiveModel: ActiveModelTrait<Entity = Self>
                         + ActiveModelBehavior
                         + From<Self::Model>
                         + Send
                         + Sync,
        Column: Send + Sync + 'static,
    > + PersonalData
    + Send
    + Sync
    + 'static
{
    /// Fields written by hand (`#[Object]` over a borrowed row), merged into the generated
    /// type: computed values such as a customer's stats.
    type Extras<'a>: ObjectType + 'a;
    /// Filter fields written by hand, merged into the generated filter input.
    type FilterExtras: FilterPart;

    fn decl() -> &'static Decl<Self>;
    fn extras(row: &Self::Model) -> Self::Extras<'_>;
}

/// How a row's value of a field is read.
pub type Read<E> = Box<dyn Fn(&<E as sea_orm::EntityTrait>::Model) -> Value + Send + Sync>;

/// Implements [`Declared`] for an entity from the function that builds its declaration (made
/// once, on first use), with its hand-written extras (`Extras<'a>(&'a Model)`) and filter
/// fields, or without.
#[macro_export]
macro_rules! declared {
    ($entity:ty, $declare:path) => {
        $crate::declared!(
            $entity,
            $declare,
            $crate::graphql::engine::NoExtras,
            |_| { $crate::graphql::engine::NoExtras },
            $crate::graphql::engine::NoFilterExtras
        );
    };
    ($entity:ty, $declare:path, $extras:ident, $filter:ty) => {
        $crate::declared!($entity, $declare, $extras<'a>, $extras, $filter);
    };
    ($entity:ty, $declare:path, $extras:ty, $make:expr, $filter:ty) => {
        impl $crate::graphql::engine::Declared for $entity {
            type Extras<'a> = $extras;
            type FilterExtras = $filter;

            fn decl() -> &'static $crate::graphql::engine::Decl<Self> {
                static DECL: std::sync::LazyLock<$crate::graphql::engine::Decl<$entity>> =
                    std::sync::LazyLock::new($declare);
                &DECL
            }

            fn extras(row: &<$entity as sea_orm::EntityTrait>::Model) -> Self::Extras<'_> {
                ($make)(row)
            }
        }
    };
}

/// What a row shows of one column: its GraphQL type and its value.
pub struct Output<E: sea_orm::EntityTrait> {
    pub type_info: fn(&mut Registry) -> String,
    pub value: Read<E>,
}

type Model<E> = <E as sea_orm::EntityTrait>::Model;
type Active<E> = <E as sea_orm::EntityTrait>::ActiveModel;

/// A check of the row about to be written (`before` is `None` on create).
pub type Check<E> = fn(&mut Active<E>, Option<&Model<E>>, &RequestContext) -> ApiResult<()>;

/// A rule that reads the database before a write.
pub type BeforeWrite<E> = for<'a> fn(
    &'a WriteTx<'a>,
    &'a mut Active<E>,
    Option<&'a Model<E>>,
) -> BoxFuture<'a, ApiResult<()>>;

/// How a sortable field sorts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SortKind {
    /// By the column's value.
    Plain,
    /// Nullable text, which sorts as the empty string so every row has a position.
    TextOrEmpty,
}

/// One field of an entity: a column shown, filtered, sorted or written, or a field of the
/// hand-written extras placed here in the type.
pub struct Field<E: sea_orm::EntityTrait> {
    pub name: &'static str,
    pub doc: Option<&'static str>,
    /// The columns it is stored in; the first is the one filters and orderings use.
    pub columns: Vec<E::Column>,
    pub output: Option<Output<E>>,
    /// Shown by the extras (`Declared::Extras`), at this position.
    pub from_extras: bool,
    pub filter: Option<FilterKind>,
    pub sort: Option<(SortKind, Option<&'static str>)>,
    pub input: Option<write::Input<E>>,
    /// How compiled reads build the field's value in SQL (`None`: the field is not compiled,
    /// and an operation selecting it runs on the resolvers).
    pub compiled: Option<compile::Shape>,
}

impl<E: sea_orm::EntityTrait> Field<E> {
    /// The column the field reads, filters and sorts on.
    pub fn column(&self) -> E::Column {
        self.columns[0]
    }
}

/// A member of an entity's type, in the order the type shows them.
pub enum Member<E: sea_orm::EntityTrait> {
    Field(Field<E>),
    /// A row this row names (`Sale.customer`); its reverse side, if declared, is a
    /// connection on the other type (`Customer.sales`).
    ToOne(relation::ToOne<E>),
}

/// An ordering on values computed in other tables (a customer's spend, read from its
/// aggregates): the tables joined (each holds one row per listed row) and the sort expressions
/// over them, with defaults folded in (`COALESCE`) where a value may be missing, so every row
/// has a position a cursor can carry.
pub struct ComputedSort {
    /// The ordering value is `SCREAMING_CASE` of this name (`SPENT_LAST_12_MONTHS`).
    pub name: &'static str,
    pub doc: Option<&'static str>,
    /// The read scope the values need (`sales:read` for a customer's spend).
    pub scope: Option<Scope>,
    /// From the caller's tenant (its default currency, say), so that the join is on values.
    pub build: fn(&entity::tenant::Model) -> SortSource,
}

/// The tables a computed sort joins and its expressions over them.
pub type SortSource = (
    Vec<crate::graphql::page::Join>,
    Vec<(sea_orm::sea_query::Expr, KeyKind)>,
);

/// What a computed sort expression yields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyKind {
    Int,
    Time,
}

/// The domain rules of an entity that are not per field.
pub struct Hooks<E: sea_orm::EntityTrait> {
    /// Cross-field checks on the row about to be written, before anything is written.
    pub check: Check<E>,
    /// Rules that read the database before a write (inside its savepoint).
    pub before_write: BeforeWrite<E>,
    /// Rules and cascades before a delete (inside its savepoint).
    pub before_delete: for<'a> fn(&'a WriteTx<'a>, Uuid) -> BoxFuture<'a, ApiResult<()>>,
    /// Brings derived data up to date before a list reads it (a customer's spend of the
    /// last twelve months, whose window moves every day).
    pub before_list: for<'a> fn(&'a RequestContext) -> BoxFuture<'a, ApiResult<()>>,
}

impl<E: sea_orm::EntityTrait> Default for Hooks<E> {
    fn default() -> Self {
        Hooks {
            check: |_, _, _| Ok(()),
            before_write: |_, _, _| Box::pin(async { Ok(()) }),
            before_delete: |_, _| Box::pin(async { Ok(()) }),
            before_list: |_| Box::pin(async { Ok(()) }),
        }
    }
}

/// A write's savepoint and its request, as hooks see them.
pub struct WriteTx<'a> {
    pub tx: &'a Scoped<DatabaseTransaction>,
    pub rc: &'a RequestContext,
}

/// The declaration of one entity.
pub struct Decl<E: sea_orm::EntityTrait> {
    /// The GraphQL type, also the `entity` of its audit events (`Customer`).
    pub name: &'static str,
    pub doc: &'static str,
    /// The root field of one row by id (`customer`) and of the connection (`customers`).
    pub one: &'static str,
    pub many: &'static str,
    pub many_doc: Option<&'static str>,
    pub read: Scope,
    pub write: Scope,
    pub members: Vec<Member<E>>,
    /// The ordering when `orderBy` is empty (before the id tie-breaker).
    pub default_order: Vec<(&'static str, OrderDirection)>,
    pub created_at: Option<E::Column>,
    pub updated_at: Option<E::Column>,
    /// Resolve a row's fields concurrently (rows with several nested lists) rather than one
    /// after the other (rows of plain columns, where a task per field costs more).
    pub concurrent: bool,
    pub delete_doc: Option<&'static str>,
    /// Orderings on values computed in other tables.
    pub computed_sorts: Vec<ComputedSort>,
    /// Computed object fields the compiler builds in SQL (a customer's `stats`): the same
    /// values its [`Declared::Extras`] resolve.
    pub derived: Vec<compile::Derived>,
    /// The columns `search` matches the text against (none: not searched). Personal ones make
    /// the search a lookup by personal data; on PostgreSQL the search migration indexes them.
    pub search: Vec<E::Column>,
    pub hooks: Hooks<E>,
}

impl<E: Declared> Decl<E> {
    pub fn fields(&self) -> impl Iterator<Item = &Field<E>> {
        self.members.iter().filter_map(|m| match m {
            Member::Field(f) => Some(f),
            _ => None,
        })
    }

    pub fn field(&self, name: &str) -> Option<&Field<E>> {
        self.fields().find(|f| f.name == name)
    }

    /// Whether the field's value is personal data, per the entity's one marking.
    pub fn is_personal(field: &Field<E>) -> bool {
        field.columns.iter().any(Self::is_personal_column)
    }

    /// Whether the column holds personal data, per the entity's one marking.
    pub fn is_personal_column(column: &E::Column) -> bool {
        E::personal_columns()
            .iter()
            .any(|p| p.as_str() == column.as_str())
    }
}

/// A column shown as `T` (its GraphQL scalar or enum, `Option` for a nullable one).
pub fn shown<E, T>(get: fn(&E::Model) -> T) -> Output<E>
where
    E: sea_orm::EntityTrait,
    T: InputType + OutputType + 'static,
{
    Output {
        type_info: <T as OutputType>::create_type_info,
        value: Box::new(move |row| get(row).to_value()),
    }
}

/// A plain column field, to be completed with the builder methods below.
pub fn field<C>(name: &'static str, column: C) -> Field<C::EntityName>
where
    C: sea_orm::ColumnTrait,
    C::EntityName: sea_orm::EntityTrait<Column = C>,
{
    Field {
        name,
        doc: None,
        columns: vec![column],
        output: None,
        from_extras: false,
        filter: None,
        sort: None,
        input: None,
        compiled: None,
    }
}

impl<E: sea_orm::EntityTrait> Field<E> {
    pub fn doc(mut self, doc: &'static str) -> Self {
        self.doc = Some(doc);
        self
    }
    pub fn show<T: InputType + OutputType + 'static>(mut self, get: fn(&E::Model) -> T) -> Self {
        self.output = Some(shown::<E, T>(get));
        self.compiled = compile::Shape::of::<T>();
        self
    }
    /// Shown as `output` says; compiled reads build it as `compiled` says (`None`: not
    /// compiled).
    pub fn show_with(mut self, output: Output<E>, compiled: Option<compile::Shape>) -> Self {
        self.output = Some(output);
        self.compiled = compiled;
        self
    }
    /// How compiled reads build a field shown by the extras.
    pub fn compiled_as(mut self, shape: compile::Shape) -> Self {
        self.compiled = Some(shape);
        self
    }
    /// Shown by the hand-written extras under the same name.
    pub fn extra(mut self) -> Self {
        self.from_extras = true;
        self
    }
    pub fn also(mut self, columns: impl IntoIterator<Item = E::Column>) -> Self {
        self.columns.extend(columns);
        self
    }
    pub fn filter(mut self, kind: FilterKind) -> Self {
        self.filter = Some(kind);
        self
    }
    pub fn sort(mut self, kind: SortKind) -> Self {
        self.sort = Some((kind, None));
        self
    }
    pub fn sort_doc(mut self, kind: SortKind, doc: &'static str) -> Self {
        self.sort = Some((kind, Some(doc)));
        self
    }
    /// Written, never `null`: `set` validates the value and sets it on the row.
    pub fn required<T: InputType + 'static>(
        mut self,
        set: impl Fn(&mut E::ActiveModel, T, &RequestContext) -> ApiResult<()> + Send + Sync + 'static,
    ) -> Self {
        self.input = Some(write::required(set));
        self
    }
    /// Written, may be `null` (or left out on create): `set` receives `None` then.
    pub fn optional<T: InputType + 'static>(
        mut self,
        set: impl Fn(&mut E::ActiveModel, Option<T>, &RequestContext) -> ApiResult<()>
        + Send
        + Sync
        + 'static,
    ) -> Self {
        self.input = Some(write::optional(set));
        self
    }
    /// Written as the column's value, `null` clearing it: a reference or a plain value that
    /// needs no check but its type.
    pub fn optional_value<T>(self) -> Self
    where
        T: InputType + Into<sea_orm::Value> + 'static,
        Option<T>: Into<sea_orm::Value>,
    {
        let column = self.column();
        self.optional::<T>(move |m, v, _| {
            m.set(column, v.into());
            Ok(())
        })
    }
    /// Written, never `null`, as the column's value.
    pub fn required_value<T: InputType + Into<sea_orm::Value> + 'static>(self) -> Self {
        let column = self.column();
        self.required::<T>(move |m, v, _| {
            m.set(column, v.into());
            Ok(())
        })
    }
    /// Written as text of at most `max` characters, without control characters; `null`
    /// clears it.
    pub fn optional_text(self, max: usize) -> Self {
        let (name, column) = (self.name, self.column());
        self.optional::<String>(move |m, v, _| {
            if let Some(v) = &v {
                crate::validate::text(name, v, max)?;
            }
            m.set(column, v.into());
            Ok(())
        })
    }
    /// An enum stored as text ([`filter::stored`]): shown, filtered by its values and
    /// written, `null` only when `nullable`.
    pub fn stored_enum<T>(mut self, nullable: bool) -> Self
    where
        T: async_graphql::EnumType + InputType + OutputType + Copy + PartialEq + 'static,
    {
        let column = self.column();
        let read = move |row: &Model<E>| match sea_orm::ModelTrait::get(row, column) {
            sea_orm::Value::String(Some(text)) => filter::from_stored::<T>(&text),
            _ => None,
        };
        self.output = Some(Output {
            type_info: if nullable {
                <Option<T> as OutputType>::create_type_info
            } else {
                <T as OutputType>::create_type_info
            },
            value: Box::new(move |row| read(row).to_value()),
        });
        self.compiled = Some(compile::Shape::stored_enum::<T>());
        self.filter = Some(FilterKind::enumeration::<T>());
        self.input = Some(if nullable {
            write::optional::<E, T>(move |m, v, _| {
                m.set(column, v.map(filter::stored).into());
                Ok(())
            })
        } else {
            write::required::<E, T>(move |m, v, _| {
                m.set(column, filter::stored(v).into());
                Ok(())
            })
        });
        self
    }
    /// Written as a point in time, now when left out on create, never `null`.
    pub fn now_by_default(self) -> Self {
        let (name, column) = (self.name, self.column());
        self.optional::<chrono::DateTime<chrono::Utc>>(move |m, v, _| {
            let at = v.unwrap_or_else(chrono::Utc::now);
            crate::validate::point_in_time(name, &at)?;
            m.set(column, chrono::SubsecRound::trunc_subsecs(at, 6).into());
            Ok(())
        })
        .input_doc("Now when left out.")
        .never_null()
    }
    /// Written as non-empty text of at most `max` characters, never `null`.
    pub fn required_text(self, max: usize) -> Self {
        let (name, column) = (self.name, self.column());
        self.required::<String>(move |m, v, _| {
            crate::validate::required_text(name, &v, max)?;
            m.set(column, v.into());
            Ok(())
        })
    }
    fn with_input(mut self, change: impl FnOnce(write::Input<E>) -> write::Input<E>) -> Self {
        self.input = self.input.map(change);
        self
    }
    /// Set when the row is created, never changed afterwards.
    pub fn create_only(self) -> Self {
        self.with_input(write::Input::create_only)
    }
    /// Defaults when left out on create, but cannot be cleared: `null` is refused.
    pub fn never_null(self) -> Self {
        self.with_input(write::Input::never_null)
    }
    /// The value a create takes when the field is left out (a GraphQL literal).
    pub fn default_value(self, literal: &'static str) -> Self {
        self.with_input(|i| i.default(literal))
    }
    /// The description of the field in the inputs, when it differs from the type's.
    pub fn input_doc(self, doc: &'static str) -> Self {
        self.with_input(|i| i.doc(doc))
    }
}

impl<E: sea_orm::EntityTrait> From<relation::ToOne<E>> for Member<E> {
    fn from(relation: relation::ToOne<E>) -> Self {
        Member::ToOne(relation)
    }
}

impl<E: sea_orm::EntityTrait> From<Field<E>> for Member<E> {
    fn from(field: Field<E>) -> Self {
        Member::Field(field)
    }
}

/// The row's id: shown and filtered.
pub fn id_field<C>(column: C, get: fn(&Model<C::EntityName>) -> uuid::Uuid) -> Field<C::EntityName>
where
    C: sea_orm::ColumnTrait,
    C::EntityName: sea_orm::EntityTrait<Column = C>,
{
    field("id", column).show(get).filter(FilterKind::id())
}

/// A reference to another row by id (`customerId`): shown, filtered and written as an id,
/// `null` only when `nullable`.
pub fn reference<C>(name: &'static str, column: C, nullable: bool) -> Field<C::EntityName>
where
    C: sea_orm::ColumnTrait,
    C::EntityName: sea_orm::EntityTrait<Column = C>,
{
    let read = move |row: &Model<C::EntityName>| match sea_orm::ModelTrait::get(row, column) {
        sea_orm::Value::Uuid(id) => id,
        _ => None,
    };
    let field = field(name, column).filter(FilterKind::id());
    if nullable {
        field
            .show_with(
                Output {
                    type_info: <Option<uuid::Uuid> as OutputType>::create_type_info,
                    value: Box::new(move |row| read(row).to_value()),
                },
                Some(compile::Shape::Uuid),
            )
            .optional_value::<uuid::Uuid>()
    } else {
        field
            .show_with(
                Output {
                    type_info: <uuid::Uuid as OutputType>::create_type_info,
                    value: Box::new(move |row| read(row).unwrap_or_default().to_value()),
                },
                Some(compile::Shape::Uuid),
            )
            .required_value::<uuid::Uuid>()
    }
}

/// Free text (`subject`): shown, filtered, written as text of at most `max` characters, `null`
/// clearing it.
pub fn text<C>(name: &'static str, column: C, max: usize) -> Field<C::EntityName>
where
    C: sea_orm::ColumnTrait,
    C::EntityName: sea_orm::EntityTrait<Column = C>,
{
    let read = move |row: &Model<C::EntityName>| match sea_orm::ModelTrait::get(row, column) {
        sea_orm::Value::String(text) => text,
        _ => None,
    };
    field(name, column)
        .show_with(
            Output {
                type_info: <Option<String> as OutputType>::create_type_info,
                value: Box::new(move |row| read(row).to_value()),
            },
            Some(compile::Shape::Plain),
        )
        .filter(FilterKind::text())
        .optional_text(max)
}

/// A point in time kept by the engine (`createdAt`, `updatedAt`): shown, filtered, sorted.
pub fn time_field<C>(
    name: &'static str,
    column: C,
    get: fn(&Model<C::EntityName>) -> chrono::DateTime<chrono::Utc>,
) -> Field<C::EntityName>
where
    C: sea_orm::ColumnTrait,
    C::EntityName: sea_orm::EntityTrait<Column = C>,
{
    field(name, column)
        .show(get)
        .filter(FilterKind::time())
        .sort(SortKind::Plain)
}

/// `FIELD_NAME` for `fieldName`: the value of an ordering enum.
pub fn screaming(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 4);
    let mut previous: Option<char> = None;
    for c in name.chars() {
        let starts_word = c.is_ascii_uppercase()
            || (c.is_ascii_digit() && previous.is_some_and(|p| !p.is_ascii_digit()));
        if starts_word {
            out.push('_');
        }
        out.push(c.to_ascii_uppercase());
        previous = Some(c);
    }
    out
}

/// A type name built from an entity's name (`CustomerFilter`).
pub fn named(entity: &str, suffix: &str) -> Cow<'static, str> {
    Cow::Owned(format!("{entity}{suffix}"))
}

/// The extras of an entity without hand-written fields.
pub struct NoExtras;

impl OutputType for NoExtras {
    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed("NoExtras")
    }

    /// Registers nothing: there are no fields to merge.
    fn create_type_info(_: &mut Registry) -> String {
        "NoExtras".into()
    }

    async fn resolve(
        &self,
        _: &async_graphql::ContextSelectionSet<'_>,
        _: &async_graphql::Positioned<async_graphql::parser::types::Field>,
    ) -> async_graphql::ServerResult<Value> {
        Ok(Value::Null)
    }
}

impl async_graphql::ContainerType for NoExtras {
    async fn resolve_field(
        &self,
        _: &async_graphql::Context<'_>,
    ) -> async_graphql::ServerResult<Option<Value>> {
        Ok(None)
    }
}

impl ObjectType for NoExtras {}

/// The engine's view of an entity behind a trait object: what the root query and mutation
/// types need, whatever the entity.
pub type Entities = Vec<Arc<dyn root::RootEntity>>;

#[cfg(test)]
mod tests {
    use super::screaming;

    #[test]
    fn ordering_values_are_screaming_snake_case() {
        assert_eq!(screaming("spentLast12Months"), "SPENT_LAST_12_MONTHS");
        assert_eq!(screaming("createdAt"), "CREATED_AT");
        assert_eq!(screaming("name"), "NAME");
    }
}
