//! The ordering input of an entity (`CustomerOrder` with its `CustomerOrderField` enum),
//! generated from the sortable fields of its declaration, and the keyset [`Ordering`] it
//! becomes: the requested keys, then the id as the last tie-breaker.

use std::borrow::Cow;
use std::hash::{Hash, Hasher};
use std::marker::PhantomData;

use async_graphql::indexmap::IndexMap;
use async_graphql::registry::{MetaTypeId, Registry};
use async_graphql::{InputType, InputValueError, InputValueResult, Name, Value};
use sea_orm::ModelTrait;
use sea_orm::sea_query::{Expr, Func};

use std::collections::HashMap;

use uuid::Uuid;

use super::{Declared, KeyKind, SortKind, meta, screaming};
use crate::graphql::OrderDirection;
use crate::graphql::page::{Join, Ordering, SortKey, SortValue};

/// One entry of `orderBy`.
pub struct Order<E> {
    pub field: &'static str,
    pub direction: OrderDirection,
    entity: PhantomData<fn() -> E>,
}

impl<E> Clone for Order<E> {
    fn clone(&self) -> Self {
        Order {
            field: self.field,
            direction: self.direction,
            entity: PhantomData,
        }
    }
}

impl<E> PartialEq for Order<E> {
    fn eq(&self, other: &Self) -> bool {
        self.field == other.field && self.direction == other.direction
    }
}

impl<E> Eq for Order<E> {}

impl<E> Hash for Order<E> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.field.hash(state);
        self.direction.hash(state);
    }
}

/// The enum of an entity's sortable fields.
pub struct OrderField<E>(PhantomData<fn() -> E>);

impl<E: Declared> InputType for OrderField<E> {
    type RawValueType = Self;

    fn type_name() -> Cow<'static, str> {
        super::named(E::decl().name, "OrderField")
    }

    fn create_type_info(registry: &mut Registry) -> String {
        registry.create_input_type::<Self, _>(MetaTypeId::Enum, |_| {
            let values = E::decl()
                .fields()
                .filter_map(|f| {
                    let (_, doc) = f.sort?;
                    let doc = doc.or_else(|| {
                        super::Decl::<E>::is_personal(f)
                            .then_some("Personal data: needs `pii:read`.")
                    });
                    Some((screaming(f.name), doc))
                })
                .chain(
                    E::decl()
                        .computed_sorts
                        .iter()
                        .map(|c| (screaming(c.name), c.doc)),
                )
                .collect();
            meta::enumeration(
                &Self::type_name(),
                std::any::type_name::<Self>(),
                None,
                values,
            )
        })
    }

    fn parse(_: Option<Value>) -> InputValueResult<Self> {
        Ok(OrderField(PhantomData))
    }

    fn to_value(&self) -> Value {
        Value::Null
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }
}

impl<E: Declared> InputType for Order<E> {
    type RawValueType = Self;

    fn type_name() -> Cow<'static, str> {
        super::named(E::decl().name, "Order")
    }

    fn create_type_info(registry: &mut Registry) -> String {
        registry.create_input_type::<Self, _>(MetaTypeId::InputObject, |registry| {
            let mut direction = meta::input(
                "direction",
                <OrderDirection as InputType>::create_type_info(registry),
                None,
            );
            direction.default_value = Some("ASC".into());
            let field = meta::input(
                "field",
                <OrderField<E> as InputType>::create_type_info(registry),
                None,
            );
            meta::input_object(
                &Self::type_name(),
                std::any::type_name::<Self>(),
                None,
                vec![field, direction],
            )
        })
    }

    fn parse(value: Option<Value>) -> InputValueResult<Self> {
        let Some(Value::Object(map)) = value else {
            return Err(InputValueError::expected_type(value.unwrap_or_default()));
        };
        let name = match map.get("field") {
            Some(Value::Enum(name)) => name.as_str().to_owned(),
            Some(Value::String(name)) => name.clone(),
            _ => String::new(),
        };
        let decl = E::decl();
        let field = decl
            .fields()
            .filter(|f| f.sort.is_some())
            .map(|f| f.name)
            .chain(decl.computed_sorts.iter().map(|c| c.name))
            .find(|candidate| screaming(candidate) == name)
            .ok_or_else(|| InputValueError::custom("field: not a field to order by"))?;
        let direction = match map.get("direction") {
            None | Some(Value::Null) => OrderDirection::Asc,
            Some(value) => OrderDirection::parse(Some(value.clone()))
                .map_err(|_| InputValueError::custom("direction: ASC or DESC"))?,
        };
        Ok(Order {
            field,
            direction,
            entity: PhantomData,
        })
    }

    fn to_value(&self) -> Value {
        let mut map = IndexMap::new();
        map.insert(
            Name::new("field"),
            Value::Enum(Name::new(screaming(self.field))),
        );
        map.insert(Name::new("direction"), self.direction.to_value());
        Value::Object(map)
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }
}

impl<E: Declared> Order<E> {
    /// The keyset ordering of `order_by`, or of the entity's default ordering when empty.
    /// Computed keys need the caller's tenant; without it (a subject export's default
    /// ordering) they are left out.
    pub fn ordering(
        order_by: &[Order<E>],
        tenant: Option<&entity::tenant::Model>,
    ) -> Ordering<E::Model> {
        let decl = E::decl();
        let requested: Vec<(&'static str, OrderDirection)> = if order_by.is_empty() {
            decl.default_order.clone()
        } else {
            order_by.iter().map(|o| (o.field, o.direction)).collect()
        };
        let computed: std::sync::Arc<std::sync::Mutex<HashMap<Uuid, Vec<SortValue>>>> =
            Default::default();
        let mut joins: Vec<Join> = Vec::new();
        let mut loaded: Vec<(Expr, KeyKind)> = Vec::new();
        let keys = requested
            .into_iter()
            .flat_map(|(name, direction)| -> Vec<SortKey<E::Model>> {
                if let Some(sort) = decl.computed_sorts.iter().find(|c| c.name == name) {
                    let Some(tenant) = tenant else {
                        return Vec::new();
                    };
                    let (needed, exprs) = (sort.build)(tenant);
                    for join in needed {
                        if !joins.iter().any(|j| j.alias.0 == join.alias.0) {
                            joins.push(join);
                        }
                    }
                    return exprs
                        .into_iter()
                        .map(|(expr, kind)| {
                            let index = loaded.len();
                            loaded.push((expr.clone(), kind));
                            let values = computed.clone();
                            SortKey {
                                name: sort.name,
                                expr,
                                order: direction.order(),
                                value: Box::new(move |row: &E::Model| {
                                    let id = crate::tenancy::id_of::<E>(row).unwrap_or_default();
                                    values
                                        .lock()
                                        .unwrap_or_else(|e| e.into_inner())
                                        .get(&id)
                                        .and_then(|v| v.get(index).cloned())
                                        .unwrap_or(SortValue::I(0))
                                }),
                            }
                        })
                        .collect();
                }
                let Some(field) = decl.field(name) else {
                    return Vec::new();
                };
                let Some((kind, _)) = field.sort else {
                    return Vec::new();
                };
                let column = field.column();
                let expr = match kind {
                    SortKind::Plain => Expr::col((E::default(), column)),
                    SortKind::TextOrEmpty => Expr::expr(Func::coalesce([
                        Expr::col((E::default(), column)),
                        Expr::val(""),
                    ])),
                };
                vec![SortKey {
                    name: field.name,
                    expr,
                    order: direction.order(),
                    value: Box::new(move |row: &E::Model| sort_value(row.get(column))),
                }]
            })
            .collect();
        let mut ordering = Ordering::new::<E>(
            keys,
            Box::new(|row: &E::Model| sort_value(row.get(E::id_column()))),
        );
        if !loaded.is_empty() {
            let joined = joins.clone();
            ordering.prepare = Some(Box::new(move |scope, ids| {
                let (joins, loaded, computed) = (joined.clone(), loaded.clone(), computed.clone());
                Box::pin(async move {
                    let values = computed_values::<E>(&scope, &joins, &loaded, ids).await?;
                    *computed.lock().unwrap_or_else(|e| e.into_inner()) = values;
                    Ok(())
                })
            }));
            ordering.joins = joins;
        }
        ordering
    }

    /// The personal fields an ordering sorts by: a lookup.
    pub fn personal_fields(order_by: &[Order<E>], out: &mut Vec<&'static str>) {
        let decl = E::decl();
        for o in order_by {
            if decl
                .field(o.field)
                .is_some_and(super::Decl::<E>::is_personal)
            {
                out.push(o.field);
            }
        }
    }
}

/// The computed sort values of the rows `ids`, read with the same joins as the ordering.
async fn computed_values<E: Declared>(
    scope: &crate::tenancy::TenantHandle,
    joins: &[Join],
    keys: &[(Expr, KeyKind)],
    ids: Vec<Uuid>,
) -> crate::error::ApiResult<HashMap<Uuid, Vec<SortValue>>> {
    use sea_orm::{ColumnTrait, QueryFilter, QuerySelect};
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let mut select = E::find()
        .select_only()
        .column(E::id_column())
        .filter(E::id_column().is_in(ids));
    for (expr, _) in keys {
        select = select.expr(expr.clone());
    }
    let ordering = Ordering::<E::Model> {
        keys: Vec::new(),
        joins: joins.to_vec(),
        prepare: None,
    };
    let rows = scope.rows(ordering.apply(select)).await?;
    let mut out = HashMap::new();
    for row in rows {
        let id: Uuid = row.try_get_by_index(0)?;
        let mut values = Vec::with_capacity(keys.len());
        for (i, (_, kind)) in keys.iter().enumerate() {
            values.push(match kind {
                KeyKind::Int => SortValue::I(row.try_get_by_index(i + 1)?),
                KeyKind::Time => SortValue::T(row.try_get_by_index(i + 1)?),
            });
        }
        out.insert(id, values);
    }
    Ok(out)
}

/// A sort-key value as a cursor carries it. Nullable text sorts as the empty string.
fn sort_value(value: sea_orm::Value) -> SortValue {
    match value {
        sea_orm::Value::String(s) => SortValue::S(s.unwrap_or_default()),
        sea_orm::Value::ChronoDateTimeUtc(Some(t)) => SortValue::T(t),
        sea_orm::Value::BigInt(Some(i)) => SortValue::I(i),
        sea_orm::Value::Int(Some(i)) => SortValue::I(i.into()),
        sea_orm::Value::Uuid(Some(u)) => SortValue::U(u),
        other => {
            debug_assert!(false, "a sort key of an unsupported type: {other:?}");
            SortValue::S(String::new())
        }
    }
}
