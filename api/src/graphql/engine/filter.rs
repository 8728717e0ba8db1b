//! The filter input of an entity (`CustomerFilter`), generated from its declaration: one
//! operator object per filterable field, typed by the column (`StringFilter`, `UuidFilter`,
//! …), the hand-written extra fields, and `and`/`or` lists bounded in width, depth and size.
//! The personal fields a filter reads come from the entity's marking: such a filter is a
//! lookup, gated and audited by the list that runs it.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;
use std::sync::Arc;

use async_graphql::indexmap::IndexMap;
use async_graphql::registry::{MetaInputValue, MetaTypeId, Registry};
use async_graphql::{InputType, InputValueError, InputValueResult, Name, Value};
use sea_orm::Condition;
use sea_orm::sea_query::{Alias, DynIden, Expr, IntoIden};

use super::{Declared, meta};
use crate::error::ApiResult;
use crate::graphql::filter::{
    DateFilter, DateTimeFilter, DecimalFilter, IntFilter, StringFilter, UuidFilter, combine,
    depth_guard,
};

/// The operators given for one field, parsed.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Ops {
    Text(StringFilter),
    Id(UuidFilter),
    Time(DateTimeFilter),
    Date(DateFilter),
    Int(IntFilter),
    /// An amount, compared in the stored fixed-scale units.
    Money(DecimalFilter),
}

impl Ops {
    pub fn condition(&self, expr: Expr) -> ApiResult<Condition> {
        match self {
            Ops::Text(f) => f.condition(expr),
            Ops::Id(f) => f.condition(expr),
            Ops::Time(f) => f.condition(expr),
            Ops::Date(f) => f.condition(expr),
            Ops::Int(f) => f.condition(expr),
            Ops::Money(f) => f.condition_mapped(expr, crate::money::scaled),
        }
    }
}

/// How a field filters: its operator input type, and how a value of it is read.
#[derive(Clone, Copy)]
pub struct FilterKind {
    type_info: fn(&mut Registry) -> String,
    parse: fn(Value) -> Result<Ops, String>,
}

/// An operator input that the engine knows how to apply.
pub trait Operators: InputType {
    fn into_ops(self) -> Ops;
}

impl Operators for StringFilter {
    fn into_ops(self) -> Ops {
        Ops::Text(self)
    }
}
impl Operators for UuidFilter {
    fn into_ops(self) -> Ops {
        Ops::Id(self)
    }
}
impl Operators for DateTimeFilter {
    fn into_ops(self) -> Ops {
        Ops::Time(self)
    }
}
impl Operators for DateFilter {
    fn into_ops(self) -> Ops {
        Ops::Date(self)
    }
}
impl Operators for IntFilter {
    fn into_ops(self) -> Ops {
        Ops::Int(self)
    }
}

impl FilterKind {
    pub fn of<F: Operators>() -> FilterKind {
        FilterKind {
            type_info: <Option<F> as InputType>::create_type_info,
            parse: |value| {
                F::parse(Some(value))
                    .map(F::into_ops)
                    .map_err(|e| e.into_server_error(Default::default()).message)
            },
        }
    }
    pub fn text() -> FilterKind {
        FilterKind::of::<StringFilter>()
    }
    pub fn id() -> FilterKind {
        FilterKind::of::<UuidFilter>()
    }
    pub fn time() -> FilterKind {
        FilterKind::of::<DateTimeFilter>()
    }
    pub fn date() -> FilterKind {
        FilterKind::of::<DateFilter>()
    }
    pub fn int() -> FilterKind {
        FilterKind::of::<IntFilter>()
    }

    pub fn money() -> FilterKind {
        FilterKind {
            type_info: <Option<DecimalFilter> as InputType>::create_type_info,
            parse: |value| {
                DecimalFilter::parse(Some(value))
                    .map(Ops::Money)
                    .map_err(|e| e.into_server_error(Default::default()).message)
            },
        }
    }

    /// An enum column stored as text: `eq`, `ne`, `in`, `isNull` on the enum's values.
    pub fn enumeration<T>() -> FilterKind
    where
        T: async_graphql::EnumType + InputType + Copy + PartialEq + Send + Sync + 'static,
    {
        FilterKind {
            type_info: <Option<EnumFilter<T>> as InputType>::create_type_info,
            parse: |value| {
                let f = EnumFilter::<T>::parse(Some(value))
                    .map_err(|e| e.into_server_error(Default::default()).message)?;
                let text = |v: &Option<T>| v.map(stored::<T>);
                Ok(Ops::Text(StringFilter {
                    eq: text(&f.eq),
                    ne: text(&f.ne),
                    in_: f
                        .in_
                        .as_ref()
                        .map(|v| v.iter().copied().map(stored::<T>).collect()),
                    contains: None,
                    is_null: f.is_null,
                }))
            },
        }
    }
}

/// How an enum value is stored: its GraphQL name in lower case (`WEB_VISIT` is `web_visit`).
pub fn stored<T: async_graphql::EnumType + PartialEq>(value: T) -> String {
    T::items()
        .iter()
        .find(|item| item.value == value)
        .map(|item| item.name.to_ascii_lowercase())
        .unwrap_or_default()
}

/// The enum value stored as `text`, if any.
pub fn from_stored<T: async_graphql::EnumType + Copy>(text: &str) -> Option<T> {
    T::items()
        .iter()
        .find(|item| item.name.eq_ignore_ascii_case(text))
        .map(|item| item.value)
}

/// Operators on an enum field: `{Enum}Filter`, for any enum of the schema.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct EnumFilter<T> {
    pub eq: Option<T>,
    pub ne: Option<T>,
    pub in_: Option<Vec<T>>,
    pub is_null: Option<bool>,
}

impl<T: InputType + Clone> InputType for EnumFilter<T> {
    type RawValueType = Self;

    fn type_name() -> Cow<'static, str> {
        Cow::Owned(format!("{}Filter", T::type_name()))
    }

    fn create_type_info(registry: &mut Registry) -> String {
        registry.create_input_type::<Self, _>(MetaTypeId::InputObject, |registry| {
            let one = <Option<T> as InputType>::create_type_info(registry);
            let many = <Option<Vec<T>> as InputType>::create_type_info(registry);
            meta::input_object(
                &Self::type_name(),
                std::any::type_name::<Self>(),
                Some("Operators on an enum field."),
                vec![
                    meta::input("eq", one.clone(), None),
                    meta::input("ne", one, None),
                    meta::input("in", many, None),
                    meta::input("isNull", "Boolean".into(), None),
                ],
            )
        })
    }

    fn parse(value: Option<Value>) -> InputValueResult<Self> {
        let Some(Value::Object(map)) = value else {
            return Err(InputValueError::expected_type(value.unwrap_or_default()));
        };
        let field = |name: &str| map.get(name).cloned();
        Ok(EnumFilter {
            eq: InputType::parse(field("eq")).map_err(InputValueError::propagate)?,
            ne: InputType::parse(field("ne")).map_err(InputValueError::propagate)?,
            in_: InputType::parse(field("in")).map_err(InputValueError::propagate)?,
            is_null: InputType::parse(field("isNull")).map_err(InputValueError::propagate)?,
        })
    }

    fn to_value(&self) -> Value {
        let mut map = IndexMap::new();
        map.insert(Name::new("eq"), self.eq.to_value());
        map.insert(Name::new("ne"), self.ne.to_value());
        map.insert(Name::new("in"), self.in_.to_value());
        map.insert(Name::new("isNull"), self.is_null.to_value());
        Value::Object(map)
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }
}

/// Filter fields written by hand for one entity (a contact's consent, a customer's stats): an
/// input object whose fields are merged into the entity's generated filter input.
pub trait FilterPart: InputType + Clone + PartialEq + Eq + Hash + Default + 'static {
    fn condition(&self) -> ApiResult<Condition>;
    /// The personal-data fields this part reads (a lookup when not empty).
    fn personal_fields(&self, out: &mut Vec<&'static str>);
    /// The read scopes of what this part reads beyond the entity's own rows (a customer's
    /// sales figures need `sales:read`, as `Customer.stats` does).
    fn scopes(&self, _out: &mut Vec<crate::auth::Scope>) {}

    fn fields(registry: &mut Registry) -> IndexMap<String, MetaInputValue> {
        meta::input_fields_of::<Self>(registry)
    }
    fn parse_fields(fields: IndexMap<Name, Value>) -> Result<Self, String> {
        <Self as InputType>::parse(Some(Value::Object(fields)))
            .map_err(|e| e.into_server_error(Default::default()).message)
    }
}

/// An entity without hand-written filter fields: an input object with none, never
/// registered.
#[derive(Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct NoFilterExtras;

impl InputType for NoFilterExtras {
    type RawValueType = Self;

    fn type_name() -> Cow<'static, str> {
        Cow::Borrowed("NoFilterExtras")
    }
    fn create_type_info(_: &mut Registry) -> String {
        "NoFilterExtras".into()
    }
    fn parse(_: Option<Value>) -> InputValueResult<Self> {
        Ok(NoFilterExtras)
    }
    fn to_value(&self) -> Value {
        Value::Object(IndexMap::new())
    }
    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }
}

impl FilterPart for NoFilterExtras {
    fn condition(&self) -> ApiResult<Condition> {
        Ok(Condition::all())
    }
    fn personal_fields(&self, _: &mut Vec<&'static str>) {}
}

/// A related entity's name, the personal fields read of it, and the ids of its rows matched.
pub type LookedUp = (&'static str, Vec<&'static str>, Vec<uuid::Uuid>);

/// "At least one related row matches" (`customers(filter: {interactions: {kind: {eq: CALL}}})`),
/// whatever the related entity.
pub trait SomeFilter: Send + Sync {
    /// What the filter was given, to tell two apart.
    fn key(&self) -> &str;
    /// `EXISTS` a related row of the parent row (`parent_tenant`, `parent_id`) matching, nested
    /// at `depth` (the bounds on nesting and size count across relations).
    fn condition(&self, parent_tenant: Expr, parent_id: Expr, depth: usize)
    -> ApiResult<Condition>;
    /// Whether it reads personal data of the related rows: a lookup.
    fn personal(&self) -> bool;
    /// The read scopes of the related rows it reads (nested relations included).
    fn scopes(&self, out: &mut Vec<crate::auth::Scope>);
    /// For a lookup by the related rows' personal data: their entity, the personal fields the
    /// filter reads of them, and the related rows of `parents` it matches (at most
    /// `limit`) — so the audit log names the people looked up, not only their companies.
    fn looked_up<'a>(
        &'a self,
        scope: &'a crate::tenancy::TenantHandle,
        parents: &'a [uuid::Uuid],
        limit: u64,
    ) -> futures_util::future::BoxFuture<'a, ApiResult<LookedUp>>;
}

/// A filter on an entity's rows, as the caller gave it.
pub struct Filter<E: Declared> {
    ops: Vec<(&'static str, Ops)>,
    extras: E::FilterExtras,
    /// `contacts: {…}`: rows with at least one related row matching.
    relations: Vec<(&'static str, Arc<dyn SomeFilter>)>,
    /// The input object as given, which is what the filter shows itself as.
    given: Value,
    and: Option<Vec<Filter<E>>>,
    or: Option<Vec<Filter<E>>>,
    entity: PhantomData<fn() -> E>,
}

impl<E: Declared> Clone for Filter<E> {
    fn clone(&self) -> Self {
        Filter {
            ops: self.ops.clone(),
            extras: self.extras.clone(),
            relations: self.relations.clone(),
            given: self.given.clone(),
            and: self.and.clone(),
            or: self.or.clone(),
            entity: PhantomData,
        }
    }
}

impl<E: Declared> PartialEq for Filter<E> {
    fn eq(&self, other: &Self) -> bool {
        self.ops == other.ops
            && self.extras == other.extras
            && self.relations.len() == other.relations.len()
            && self
                .relations
                .iter()
                .zip(&other.relations)
                .all(|(a, b)| a.0 == b.0 && a.1.key() == b.1.key())
            && self.and == other.and
            && self.or == other.or
    }
}

impl<E: Declared> Eq for Filter<E> {}

impl<E: Declared> Hash for Filter<E> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.ops.hash(state);
        self.extras.hash(state);
        for (name, some) in &self.relations {
            name.hash(state);
            some.key().hash(state);
        }
        self.and.hash(state);
        self.or.hash(state);
    }
}

impl<E: Declared> Filter<E> {
    /// Rows matching both.
    pub fn both(first: Filter<E>, second: Filter<E>) -> Filter<E> {
        Filter {
            ops: Vec::new(),
            extras: Default::default(),
            relations: Vec::new(),
            given: Value::Object(IndexMap::from([(
                Name::new("and"),
                Value::List(vec![first.given.clone(), second.given.clone()]),
            )])),
            and: Some(vec![first, second]),
            or: None,
            entity: PhantomData,
        }
    }

    /// The SQL condition, within the bounds on nesting and size.
    pub fn condition(&self) -> ApiResult<Condition> {
        self.condition_at(0)
    }

    pub(crate) fn condition_at(&self, depth: usize) -> ApiResult<Condition> {
        depth_guard(depth)?;
        let mut cond = self.columns_condition(&E::default().into_iden())?;
        cond = cond.add(self.extras.condition()?);
        for (_, some) in &self.relations {
            cond = cond.add(some.condition(
                Expr::col((E::default(), E::tenant_column())),
                Expr::col((E::default(), E::id_column())),
                depth,
            )?);
        }
        combine(cond, &self.and, &self.or, |f| f.condition_at(depth + 1))
    }

    /// The operators on the row's own columns, the row being `row` (its table, or an alias).
    fn columns_condition(&self, row: &DynIden) -> ApiResult<Condition> {
        let decl = E::decl();
        let mut cond = Condition::all();
        for (name, ops) in &self.ops {
            if let Some(field) = decl.field(name) {
                cond = cond.add(ops.condition(Expr::col((row.clone(), field.column())))?);
            }
        }
        Ok(cond)
    }

    /// Whether the filter reads nothing but the row's own columns: no hand-written part and
    /// no related rows, nested filters included.
    pub fn reads_only_columns(&self) -> bool {
        self.extras == E::FilterExtras::default()
            && self.relations.is_empty()
            && [&self.and, &self.or]
                .into_iter()
                .flatten()
                .flatten()
                .all(Filter::reads_only_columns)
    }

    /// The condition on the row aliased `row`, for a filter that [reads only
    /// columns](Self::reads_only_columns) (compiled reads): the same operators, bounds and
    /// errors as [`Self::condition`].
    pub fn condition_on(&self, row: &str) -> ApiResult<Condition> {
        self.condition_on_at(&Alias::new(row).into_iden(), 0)
    }

    fn condition_on_at(&self, row: &DynIden, depth: usize) -> ApiResult<Condition> {
        depth_guard(depth)?;
        let cond = self.columns_condition(row)?;
        combine(cond, &self.and, &self.or, |f| {
            f.condition_on_at(row, depth + 1)
        })
    }

    /// The read scopes the filter needs beyond the entity's own: those of the related rows and
    /// hand-written parts it reads, nested ones included.
    pub fn scopes(&self, out: &mut Vec<crate::auth::Scope>) {
        self.extras.scopes(out);
        for (_, some) in &self.relations {
            some.scopes(out);
        }
        for nested in [&self.and, &self.or].into_iter().flatten().flatten() {
            nested.scopes(out);
        }
    }

    /// The related-row filters that read personal data, nested ones included.
    pub fn personal_relations(&self, out: &mut Vec<Arc<dyn SomeFilter>>) {
        for (_, some) in &self.relations {
            if some.personal() {
                out.push(some.clone());
            }
        }
        for nested in [&self.and, &self.or].into_iter().flatten().flatten() {
            nested.personal_relations(out);
        }
    }

    /// The personal-data fields the filter reads, nested ones included.
    pub fn personal_fields(&self, out: &mut Vec<&'static str>) {
        let decl = E::decl();
        for (name, _) in &self.ops {
            if decl.field(name).is_some_and(super::Decl::<E>::is_personal) {
                out.push(name);
            }
        }
        self.extras.personal_fields(out);
        for (name, some) in &self.relations {
            if some.personal() {
                out.push(name);
            }
        }
        for nested in [&self.and, &self.or].into_iter().flatten().flatten() {
            nested.personal_fields(out);
        }
    }

    fn parse_list(value: Value) -> Result<Vec<Filter<E>>, InputValueError<Self>> {
        match value {
            // Refused before any of it is parsed: only the body size bounds the list.
            Value::List(items) if items.len() > crate::graphql::filter::MAX_FILTER_WIDTH => {
                Err(InputValueError::custom(format!(
                    "`and` and `or` take at most {} filters each",
                    crate::graphql::filter::MAX_FILTER_WIDTH
                )))
            }
            Value::List(items) => items.into_iter().map(|v| Self::parse(Some(v))).collect(),
            // Input coercion: a single object where a list is expected is a list of one.
            other => Ok(vec![Self::parse(Some(other))?]),
        }
    }
}

impl<E: Declared> InputType for Filter<E> {
    type RawValueType = Self;

    fn type_name() -> Cow<'static, str> {
        super::named(E::decl().name, "Filter")
    }

    fn create_type_info(registry: &mut Registry) -> String {
        registry.create_input_type::<Self, _>(MetaTypeId::InputObject, |registry| {
            let decl = E::decl();
            let mut fields = Vec::new();
            for field in decl.fields() {
                if let Some(kind) = &field.filter {
                    fields.push(meta::input(field.name, (kind.type_info)(registry), None));
                }
            }
            fields.extend(E::FilterExtras::fields(registry).into_values());
            for reverse in super::dependents::reverse_fields(decl.name) {
                let doc = format!(
                    "Those with at least one of their {} matching.",
                    reverse.name
                );
                fields.push(meta::input(
                    reverse.name,
                    reverse.target.filter_type(registry),
                    Some(&doc),
                ));
            }
            let list = format!("[{}!]", Self::type_name());
            fields.push(meta::input("and", list.clone(), None));
            fields.push(meta::input("or", list, None));
            let personal = decl.fields().any(super::Decl::<E>::is_personal);
            let doc = if personal {
                format!(
                    "Filter on {}. Filtering on a personal field needs `pii:read`.",
                    decl.many
                )
            } else {
                format!("Filter on {}.", decl.many)
            };
            meta::input_object(
                &Self::type_name(),
                std::any::type_name::<Self>(),
                Some(&doc),
                fields,
            )
        })
    }

    fn parse(value: Option<Value>) -> InputValueResult<Self> {
        let Some(Value::Object(map)) = value else {
            return Err(InputValueError::expected_type(value.unwrap_or_default()));
        };
        let given = Value::Object(map.clone());
        let decl = E::decl();
        let mut filter = Filter {
            given,
            ops: Vec::new(),
            extras: Default::default(),
            relations: Vec::new(),
            and: None,
            or: None,
            entity: PhantomData,
        };
        let mut rest = IndexMap::new();
        for (key, value) in map {
            if matches!(value, Value::Null) {
                continue;
            }
            match key.as_str() {
                "and" => filter.and = Some(Self::parse_list(value)?),
                "or" => filter.or = Some(Self::parse_list(value)?),
                name => match decl.field(name).and_then(|f| f.filter.map(|k| (f.name, k))) {
                    Some((name, kind)) => {
                        let ops = (kind.parse)(value)
                            .map_err(|e| InputValueError::custom(format!("{name}: {e}")))?;
                        filter.ops.push((name, ops));
                    }
                    None => match super::dependents::reverse_fields(decl.name)
                        .iter()
                        .find(|r| r.name == name)
                    {
                        Some(reverse) => {
                            let some = reverse
                                .target
                                .parse_some(value)
                                .map_err(|e| InputValueError::custom(format!("{name}: {e}")))?;
                            filter.relations.push((reverse.name, some));
                        }
                        None => {
                            rest.insert(key, value);
                        }
                    },
                },
            }
        }
        filter.extras = E::FilterExtras::parse_fields(rest).map_err(InputValueError::custom)?;
        Ok(filter)
    }

    fn to_value(&self) -> Value {
        self.given.clone()
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }
}
