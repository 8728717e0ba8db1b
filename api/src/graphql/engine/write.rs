//! Create, update and delete of a declared entity: the inputs (`CreateCustomerInput`,
//! `UpdateCustomerInput`) generated from the writable fields, and the one write path — write
//! scope (the returned row under the read scope), validation of every field and of the row
//! before anything is written, referenced rows checked in the caller's tenant, the entity's
//! domain hooks, then the write and its audit event in one savepoint, the changed fields read
//! off the change itself.

use std::borrow::Cow;
use std::marker::PhantomData;

use async_graphql::indexmap::IndexMap;
use async_graphql::registry::{MetaTypeId, Registry};
use async_graphql::{Context, InputType, InputValueError, InputValueResult, Name, Value};
use chrono::{SubsecRound, Utc};
use sea_orm::ActiveModelTrait;
use uuid::Uuid;

use super::{Declared, Member, WriteTx, meta};
use crate::audit::{Action, NewEvent};
use crate::error::{ApiError, ApiResult};
use crate::graphql::context::RequestContext;
use crate::graphql::{record, some_change, writer};

type Setter<E> = Box<
    dyn Fn(
            &mut <E as sea_orm::EntityTrait>::ActiveModel,
            Option<Value>,
            &RequestContext,
        ) -> ApiResult<()>
        + Send
        + Sync,
>;

/// How a field is written: its input types, whether it may be null, and how a value is
/// validated and set on the row.
pub struct Input<E: sea_orm::EntityTrait> {
    create_type: fn(&mut Registry) -> String,
    update_type: fn(&mut Registry) -> String,
    /// Refused as `null`; on create, the input type is non-null.
    required: bool,
    /// Refused as `null` on update, though it may be left out on create (where it defaults).
    never_null: bool,
    on_create: bool,
    on_update: bool,
    default: Option<&'static str>,
    doc: Option<&'static str>,
    /// `None` for `null` (or, on create, a field left out).
    set: Setter<E>,
}

/// A field that is never null: `set` receives the validated-to-type value.
pub fn required<E, T>(
    set: impl Fn(&mut E::ActiveModel, T, &RequestContext) -> ApiResult<()> + Send + Sync + 'static,
) -> Input<E>
where
    E: sea_orm::EntityTrait,
    T: InputType + 'static,
{
    Input {
        create_type: <T as InputType>::create_type_info,
        update_type: <Option<T> as InputType>::create_type_info,
        required: true,
        never_null: true,
        on_create: true,
        on_update: true,
        default: None,
        doc: None,
        set: Box::new(move |model, value, rc| match value {
            Some(value) => set(model, parse::<T>(value)?, rc),
            None => Err(ApiError::BadUserInput("cannot be null".into())),
        }),
    }
}

/// A field that may be null (or, on create, left out): `set` receives `None` then.
pub fn optional<E, T>(
    set: impl Fn(&mut E::ActiveModel, Option<T>, &RequestContext) -> ApiResult<()>
    + Send
    + Sync
    + 'static,
) -> Input<E>
where
    E: sea_orm::EntityTrait,
    T: InputType + 'static,
{
    Input {
        create_type: <Option<T> as InputType>::create_type_info,
        update_type: <Option<T> as InputType>::create_type_info,
        required: false,
        never_null: false,
        on_create: true,
        on_update: true,
        default: None,
        doc: None,
        set: Box::new(move |model, value, rc| {
            let value = match value {
                None | Some(Value::Null) => None,
                Some(value) => Some(parse::<T>(value)?),
            };
            set(model, value, rc)
        }),
    }
}

impl<E: sea_orm::EntityTrait> Input<E> {
    /// Set when the row is created, never changed afterwards.
    pub fn create_only(mut self) -> Self {
        self.on_update = false;
        self
    }
    /// Defaults when left out on create, but cannot be cleared: `null` is refused.
    pub fn never_null(mut self) -> Self {
        self.never_null = true;
        self
    }
    /// The value a create takes when the field is left out (a GraphQL literal).
    pub fn default(mut self, literal: &'static str) -> Self {
        self.default = Some(literal);
        self
    }
    pub fn doc(mut self, doc: &'static str) -> Self {
        self.doc = Some(doc);
        self
    }
}

/// A value as `T`; a scalar that does not parse says what it must look like.
fn parse<T: InputType>(value: Value) -> ApiResult<T> {
    T::parse(Some(value)).map_err(|err| {
        let message = err.into_server_error(Default::default()).message;
        let rule = match T::type_name().as_ref() {
            "Date" => "must be a date as YYYY-MM-DD".to_owned(),
            "DateTime" => "must be a date and time as RFC 3339, e.g. 2026-01-31T09:30:00Z".into(),
            _ => message,
        };
        ApiError::BadUserInput(rule)
    })
}

/// A field's refusal, blaming the field: `email: must contain exactly one '@'`.
fn blame(field: &str, err: ApiError) -> ApiError {
    match err {
        ApiError::BadUserInput(why)
            if !why
                .strip_prefix(field)
                .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('.')) =>
        {
            ApiError::BadUserInput(format!("{field}: {why}"))
        }
        other => other,
    }
}

/// The fields an input object names, with their values (`null` included).
pub struct Given<E> {
    values: IndexMap<&'static str, Value>,
    entity: PhantomData<fn() -> E>,
}

pub type CreateInput<E> = Given<(E, Creating)>;
pub type UpdateInput<E> = Given<(E, Updating)>;

/// Which input a [`Given`] is.
pub trait Mode: Send + Sync + 'static {
    const PREFIX: &'static str;
    const CREATE: bool;
}
pub struct Creating;
pub struct Updating;
impl Mode for Creating {
    const PREFIX: &'static str = "Create";
    const CREATE: bool = true;
}
impl Mode for Updating {
    const PREFIX: &'static str = "Update";
    const CREATE: bool = false;
}

impl<E: Declared, M: Mode> InputType for Given<(E, M)> {
    type RawValueType = Self;

    fn type_name() -> Cow<'static, str> {
        Cow::Owned(format!("{}{}Input", M::PREFIX, E::decl().name))
    }

    fn create_type_info(registry: &mut Registry) -> String {
        registry.create_input_type::<Self, _>(MetaTypeId::InputObject, |registry| {
            let fields = E::decl()
                .fields()
                .filter_map(|field| {
                    let input = field.input.as_ref()?;
                    let (wanted, ty) = if M::CREATE {
                        (input.on_create, (input.create_type)(registry))
                    } else {
                        (input.on_update, (input.update_type)(registry))
                    };
                    if !wanted {
                        return None;
                    }
                    // The input's own description says what a create does when the field is
                    // left out; an update shows the field's.
                    let doc = if M::CREATE {
                        input.doc.or(field.doc)
                    } else {
                        field.doc
                    };
                    let mut meta = meta::input(field.name, ty, doc);
                    if M::CREATE {
                        meta.default_value = input.default.map(str::to_owned);
                        if meta.default_value.is_some() {
                            meta.ty = meta.ty.trim_end_matches('!').to_owned() + "!";
                        }
                    }
                    Some(meta)
                })
                .collect();
            let doc = (!M::CREATE)
                .then_some("Only the fields given change; `null` clears an optional field.");
            meta::input_object(
                &Self::type_name(),
                std::any::type_name::<Self>(),
                doc,
                fields,
            )
        })
    }

    fn parse(value: Option<Value>) -> InputValueResult<Self> {
        let Some(Value::Object(map)) = value else {
            return Err(InputValueError::expected_type(value.unwrap_or_default()));
        };
        let mut values = IndexMap::new();
        for field in E::decl().fields() {
            let Some(input) = &field.input else { continue };
            if !(if M::CREATE {
                input.on_create
            } else {
                input.on_update
            }) {
                continue;
            }
            if let Some(value) = map.get(field.name) {
                values.insert(field.name, value.clone());
            } else if M::CREATE
                && let Some(default) = input.default
            {
                let default = serde_json::from_str::<serde_json::Value>(default)
                    .ok()
                    .and_then(|v| Value::from_json(v).ok())
                    .unwrap_or(Value::Null);
                values.insert(field.name, default);
            }
        }
        Ok(Given {
            values,
            entity: PhantomData,
        })
    }

    fn to_value(&self) -> Value {
        Value::Object(
            self.values
                .iter()
                .map(|(k, v)| (Name::new(k), v.clone()))
                .collect(),
        )
    }

    fn as_raw_value(&self) -> Option<&Self::RawValueType> {
        Some(self)
    }
}

/// Applies the given fields to `model`, each validated; on create every creatable field is
/// applied (those left out as `None`, so their defaults and requirements apply).
fn apply<E: Declared, M: Mode>(
    model: &mut E::ActiveModel,
    given: &Given<(E, M)>,
    rc: &RequestContext,
) -> ApiResult<()> {
    for field in E::decl().fields() {
        let Some(input) = &field.input else { continue };
        let value = given.values.get(field.name).cloned();
        if M::CREATE {
            if !input.on_create {
                continue;
            }
        } else if !input.on_update || value.is_none() {
            continue;
        }
        let null = matches!(value, Some(Value::Null));
        let value = value.filter(|v| !matches!(v, Value::Null));
        if (value.is_none() && input.required) || (null && input.never_null) {
            return Err(ApiError::BadUserInput(format!(
                "{}: cannot be null",
                field.name
            )));
        }
        (input.set)(model, value, rc).map_err(|e| blame(field.name, e))?;
    }
    Ok(())
}

/// The GraphQL names of the fields the change sets, sorted: what its audit event names.
fn changed<E: Declared>(model: &E::ActiveModel) -> Vec<String> {
    let mut fields: Vec<String> = E::decl()
        .fields()
        .filter(|f| f.input.is_some() && f.columns.iter().any(|c| model.get(*c).is_set()))
        .map(|f| f.name.to_owned())
        .collect();
    fields.sort_unstable();
    fields
}

/// `NOT_FOUND` unless every row the change names exists in the caller's tenant.
async fn references<E: Declared>(w: &WriteTx<'_>, model: &E::ActiveModel) -> ApiResult<()> {
    for member in &E::decl().members {
        let Member::ToOne(relation) = member else {
            continue;
        };
        let value = model.get(relation.column);
        if !value.is_set() {
            continue;
        }
        if let Some(sea_orm::Value::Uuid(Some(id))) = value.into_value() {
            relation.target.exists(w, id).await?;
        }
    }
    Ok(())
}

fn now() -> chrono::DateTime<Utc> {
    Utc::now().trunc_subsecs(6)
}

pub async fn create<E: Declared>(ctx: &Context<'_>, input: CreateInput<E>) -> ApiResult<E::Model> {
    let rc = RequestContext::of(ctx);
    let decl = E::decl();
    let scope = writer(ctx, decl.write, decl.read)?;
    let mut model = <E::ActiveModel as sea_orm::ActiveModelBehavior>::new();
    let id = Uuid::now_v7();
    model.set(E::id_column(), id.into());
    let at = now();
    for column in [decl.created_at, decl.updated_at].into_iter().flatten() {
        model.set(column, at.into());
    }
    apply(&mut model, &input, rc)?;
    (decl.hooks.check)(&mut model, None, rc)?;
    let fields = changed::<E>(&model);
    scope
        .write(async |tx| {
            let w = WriteTx { tx, rc };
            references::<E>(&w, &model).await?;
            (decl.hooks.before_write)(&w, &mut model, None).await?;
            // The event first, the row last: the row's triggers lock what it adds to (a
            // customer's aggregates, for a sale) until the commit, so as little as possible
            // comes after them. Either fails, both are undone with the savepoint.
            record(
                tx,
                rc,
                NewEvent::write(Action::Create, decl.name, id, fields),
            )
            .await?;
            tx.insert(model).await
        })
        .await
}

pub async fn update<E: Declared>(
    ctx: &Context<'_>,
    id: Uuid,
    input: UpdateInput<E>,
) -> ApiResult<E::Model> {
    let rc = RequestContext::of(ctx);
    let decl = E::decl();
    let scope = writer(ctx, decl.write, decl.read)?;
    scope
        .write(async |tx| {
            let before = tx.get::<E>(id).await?;
            let mut model: E::ActiveModel = before.clone().into();
            apply(&mut model, &input, rc)?;
            (decl.hooks.check)(&mut model, Some(&before), rc)?;
            let fields = changed::<E>(&model);
            some_change(&fields.iter().map(String::as_str).collect::<Vec<_>>())?;
            let w = WriteTx { tx, rc };
            references::<E>(&w, &model).await?;
            (decl.hooks.before_write)(&w, &mut model, Some(&before)).await?;
            if let Some(column) = decl.updated_at {
                model.set(column, now().into());
            }
            let after = tx.update(model).await?;
            record(
                tx,
                rc,
                NewEvent::write(Action::Update, decl.name, id, fields),
            )
            .await?;
            Ok(after)
        })
        .await
}

pub async fn delete<E: Declared>(ctx: &Context<'_>, id: Uuid) -> ApiResult<Uuid> {
    let rc = RequestContext::of(ctx);
    let decl = E::decl();
    let scope = rc.scope_for(decl.write)?;
    scope
        .write(async |tx| {
            tx.get::<E>(id).await?;
            (decl.hooks.before_delete)(&WriteTx { tx, rc }, id).await?;
            let dependents =
                super::dependents::gone(&tx.view(), Some(&rc.principal), decl.name, id, false)
                    .await?;
            if !dependents.is_empty() {
                crate::audit::append(tx, &rc.actor(), dependents)
                    .await
                    .map_err(crate::audit::unavailable)?;
            }
            tx.delete::<E>(id).await?;
            record(
                tx,
                rc,
                NewEvent::write(Action::Delete, decl.name, id, Vec::new()),
            )
            .await?;
            Ok(id)
        })
        .await
}
