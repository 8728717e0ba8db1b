//! Contacts (people): the GraphQL type with its personal-data fields, filter, ordering,
//! queries and mutations. Every personal field resolves through
//! [`RequestContext::personal`], the one gate that checks `pii:read` and notes the read.

use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, NaiveDate, SubsecRound, Utc};
use entity::contact::{self, Column};
use entity::{customer, sale};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, Func, Order};
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::audit::{Action, NewEvent, Outcome};
use crate::auth::Scope as AuthScope;
use crate::error::{ApiError, ApiResult, GqlResult};
use crate::graphql::consent::{Consent, ConsentFilter, consents_of, purpose_name};
use crate::graphql::context::RequestContext;
use crate::graphql::customer::Customer;
use crate::graphql::filter::{
    DateFilter, DateTimeFilter, StringFilter, UuidFilter, combine, depth_guard,
};
use crate::graphql::loaders::{Children, children};
use crate::graphql::page::{self, Ordering, SortKey, SortValue, connection, list_complexity};
use crate::graphql::scalars::Date;
use crate::graphql::{OrderDirection, given, loader_err, owned};
use crate::graphql::{personal_data, personal_field, record, some_change, writer};
use crate::tenancy::Scoped;
use crate::validate;

pub struct Contact(pub contact::Model);

impl From<contact::Model> for Contact {
    fn from(model: contact::Model) -> Self {
        Contact(model)
    }
}

impl Contact {
    fn personal<T>(&self, ctx: &Context<'_>, column: Column, value: Option<T>) -> Option<T> {
        personal_field::<contact::Entity, _>(ctx, column, self.0.id, value)
    }
}

/// A person who works for a customer. Names, email, phone and birthday are personal data:
/// they need `pii:read`, and every read of them is audited.
// `serial`: a row's fields resolve one after the other, without the per-field task a
// concurrent set costs (pages hold hundreds of rows); the rows of a list still resolve
// concurrently, so the DataLoaders behind `customer` and `consents` still batch.
#[Object(serial)]
impl Contact {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn customer_id(&self) -> Uuid {
        self.0.customer_id
    }
    async fn customer(&self, ctx: &Context<'_>) -> GqlResult<Customer> {
        let rc = RequestContext::of(ctx);
        rc.principal.require(AuthScope::CustomersRead)?;
        rc.loaders
            .customers
            .load_one(self.0.customer_id)
            .await
            .map_err(loader_err)?
            .map(Customer)
            .ok_or_else(|| ApiError::NotFound.into())
    }
    #[graphql(directive = personal_data::apply())]
    async fn first_name(&self, ctx: &Context<'_>) -> Option<String> {
        self.personal(ctx, Column::FirstName, self.0.first_name.clone())
    }
    #[graphql(directive = personal_data::apply())]
    async fn last_name(&self, ctx: &Context<'_>) -> Option<String> {
        self.personal(ctx, Column::LastName, self.0.last_name.clone())
    }
    #[graphql(directive = personal_data::apply())]
    async fn email(&self, ctx: &Context<'_>) -> Option<String> {
        self.personal(ctx, Column::Email, self.0.email.clone())
    }
    /// E.164.
    #[graphql(directive = personal_data::apply())]
    async fn phone(&self, ctx: &Context<'_>) -> Option<String> {
        self.personal(ctx, Column::Phone, self.0.phone.clone())
    }
    #[graphql(directive = personal_data::apply())]
    async fn birthday(&self, ctx: &Context<'_>) -> Option<Date> {
        self.personal(ctx, Column::Birthday, self.0.birthday.map(Date))
    }
    async fn job_title(&self) -> Option<&str> {
        self.0.job_title.as_deref()
    }
    async fn external_ref(&self) -> Option<&str> {
        self.0.external_ref.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }
    /// The person's decisions per processing purpose: the current one per purpose, or with
    /// `history` the latest `first` changes (100 by default, at most 500), oldest first.
    // Priced by what the loader may read per person, not by `first`.
    #[graphql(
        complexity = "list_complexity(Some(crate::graphql::consent::CONSENT_ROWS_MAX as i32), child_complexity)"
    )]
    async fn consents(
        &self,
        ctx: &Context<'_>,
        purpose: Option<String>,
        #[graphql(default)] history: bool,
        first: Option<i32>,
    ) -> GqlResult<Vec<Consent>> {
        Ok(consents_of(ctx, self.0.id, purpose, history, first).await?)
    }
    /// Set when this contact's email or phone matched an erased person's tombstone as it was
    /// created or changed: the same person may have been re-imported after their erasure.
    /// Compliance scopes only (`gdpr:export` or `gdpr:erase`): to anyone else it would tell
    /// that a candidate email belonged to an erased person.
    async fn matches_erasure_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> {
        RequestContext::of(ctx)
            .principal
            .require_any(&[AuthScope::GdprExport, AuthScope::GdprErase])?;
        Ok(self.0.matches_erasure_id)
    }
}

connection!(ContactConnection, ContactEdge, Contact);

/// Filter on contacts. Filtering on a personal field needs `pii:read`.
#[derive(InputObject, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ContactFilter {
    pub id: Option<UuidFilter>,
    pub customer_id: Option<UuidFilter>,
    pub first_name: Option<StringFilter>,
    pub last_name: Option<StringFilter>,
    pub email: Option<StringFilter>,
    pub phone: Option<StringFilter>,
    pub birthday: Option<DateFilter>,
    pub job_title: Option<StringFilter>,
    pub external_ref: Option<StringFilter>,
    pub created_at: Option<DateTimeFilter>,
    pub updated_at: Option<DateTimeFilter>,
    /// Contacts whose current decision for a purpose is `granted` (personal data: needs
    /// `pii:read`).
    pub consent: Option<ConsentFilter>,
    pub and: Option<Vec<ContactFilter>>,
    pub or: Option<Vec<ContactFilter>>,
}

impl ContactFilter {
    /// The condition, and the personal fields it reads.
    fn condition(&self, personal: &mut Vec<&'static str>) -> ApiResult<Condition> {
        self.personal_fields(personal);
        self.condition_at(0)
    }

    fn personal_fields(&self, out: &mut Vec<&'static str>) {
        for (field, used) in [
            ("firstName", self.first_name.is_some()),
            ("lastName", self.last_name.is_some()),
            ("email", self.email.is_some()),
            ("phone", self.phone.is_some()),
            ("birthday", self.birthday.is_some()),
            ("consents", self.consent.is_some()),
        ] {
            if used {
                out.push(field);
            }
        }
        for nested in [&self.and, &self.or].into_iter().flatten().flatten() {
            nested.personal_fields(out);
        }
    }

    fn condition_at(&self, depth: usize) -> ApiResult<Condition> {
        depth_guard(depth)?;
        let col = |c: Column| Expr::col(c);
        let mut cond = Condition::all();
        if let Some(f) = &self.id {
            cond = cond.add(f.condition(col(Column::Id))?);
        }
        if let Some(f) = &self.customer_id {
            cond = cond.add(f.condition(col(Column::CustomerId))?);
        }
        for (filter, column) in [
            (&self.first_name, Column::FirstName),
            (&self.last_name, Column::LastName),
            (&self.email, Column::Email),
            (&self.phone, Column::Phone),
            (&self.job_title, Column::JobTitle),
            (&self.external_ref, Column::ExternalRef),
        ] {
            if let Some(f) = filter {
                cond = cond.add(f.condition(col(column))?);
            }
        }
        if let Some(f) = &self.birthday {
            cond = cond.add(f.condition(col(Column::Birthday))?);
        }
        if let Some(f) = &self.created_at {
            cond = cond.add(f.condition(col(Column::CreatedAt))?);
        }
        if let Some(f) = &self.updated_at {
            cond = cond.add(f.condition(col(Column::UpdatedAt))?);
        }
        if let Some(f) = &self.consent {
            purpose_name("consent.purpose", &f.purpose)?;
            cond = cond.add(f.condition());
        }
        combine(cond, &self.and, &self.or, |f| f.condition_at(depth + 1))
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum ContactOrderField {
    /// Personal data: needs `pii:read`.
    FirstName,
    /// Personal data: needs `pii:read`.
    LastName,
    /// Personal data: needs `pii:read`.
    Email,
    JobTitle,
    CreatedAt,
    UpdatedAt,
}

#[derive(InputObject, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ContactOrder {
    pub field: ContactOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// Nullable text sorts as the empty string, so every row has a position a cursor can name.
fn text_key(
    name: &'static str,
    column: Column,
    order: Order,
    value: fn(&contact::Model) -> SortValue,
) -> SortKey<contact::Model> {
    SortKey {
        name,
        expr: Expr::expr(Func::coalesce([Expr::col(column), Expr::val("")])),
        order,
        value,
    }
}

fn text_of(value: &Option<String>) -> SortValue {
    SortValue::S(value.clone().unwrap_or_default())
}

fn contact_ordering(order_by: &[ContactOrder]) -> Ordering<contact::Model> {
    let keys = order_by
        .iter()
        .map(|o| {
            let order = o.direction.order();
            match o.field {
                ContactOrderField::FirstName => {
                    text_key("firstName", Column::FirstName, order, |m| {
                        text_of(&m.first_name)
                    })
                }
                ContactOrderField::LastName => text_key("lastName", Column::LastName, order, |m| {
                    text_of(&m.last_name)
                }),
                ContactOrderField::Email => {
                    text_key("email", Column::Email, order, |m| text_of(&m.email))
                }
                ContactOrderField::JobTitle => text_key("jobTitle", Column::JobTitle, order, |m| {
                    text_of(&m.job_title)
                }),
                ContactOrderField::CreatedAt => SortKey {
                    name: "createdAt",
                    expr: Expr::col(Column::CreatedAt),
                    order,
                    value: |m: &contact::Model| SortValue::T(m.created_at),
                },
                ContactOrderField::UpdatedAt => SortKey {
                    name: "updatedAt",
                    expr: Expr::col(Column::UpdatedAt),
                    order,
                    value: |m: &contact::Model| SortValue::T(m.updated_at),
                },
            }
        })
        .collect();
    Ordering::new::<contact::Entity>(keys, |m| SortValue::U(m.id))
}

fn personal_order_fields(order_by: &[ContactOrder]) -> Vec<&'static str> {
    order_by
        .iter()
        .filter_map(|o| match o.field {
            ContactOrderField::FirstName => Some("firstName"),
            ContactOrderField::LastName => Some("lastName"),
            ContactOrderField::Email => Some("email"),
            _ => None,
        })
        .collect()
}

/// Validates a contact list's filter and ordering for the caller: the condition, and the
/// personal fields it uses (refused and audited without `pii:read`).
fn prepare(
    rc: &RequestContext,
    filter: &Option<ContactFilter>,
    order_by: &[ContactOrder],
) -> ApiResult<(Condition, Vec<&'static str>)> {
    let mut personal = Vec::new();
    let cond = match filter {
        Some(f) => f.condition(&mut personal)?,
        None => Condition::all(),
    };
    personal.extend(personal_order_fields(order_by));
    personal.sort_unstable();
    personal.dedup();
    if !personal.is_empty()
        && let Err(refused) = rc.may_read_personal()
    {
        rc.reads
            .note_all("Contact", &[], &personal, Outcome::Denied);
        return Err(match refused {
            ApiError::Forbidden(why) => {
                ApiError::Forbidden(format!("filtering or ordering by personal data: {why}"))
            }
            other => other,
        });
    }
    Ok((cond, personal))
}

/// `Customer.contacts` as a nested list.
pub struct ContactsOf;

impl Children for ContactsOf {
    type Entity = contact::Entity;
    type Filter = ContactFilter;
    type Order = ContactOrder;
    const NAME: &'static str = "contacts";
    fn parent_column() -> Column {
        Column::CustomerId
    }
    fn parent_of(row: &contact::Model) -> Uuid {
        row.customer_id
    }
    fn condition(filter: &ContactFilter) -> ApiResult<Condition> {
        filter.condition(&mut Vec::new())
    }
    fn ordering(order_by: &[ContactOrder]) -> Ordering<contact::Model> {
        contact_ordering(order_by)
    }
}

/// `Customer.contacts`, through the batch loader.
pub async fn contacts_of(
    ctx: &Context<'_>,
    customer_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<ContactFilter>,
    order_by: Option<Vec<ContactOrder>>,
) -> ApiResult<ContactConnection> {
    let rc = RequestContext::of(ctx);
    rc.principal.require(AuthScope::ContactsRead)?;
    let order_by = order_by.unwrap_or_default();
    let (_, personal) = prepare(rc, &filter, &order_by)?;
    // Noted before the rows are read, so that a lookup refused on the way (too many to
    // count) is on record too.
    note_lookup(rc, &[], &personal);
    let page = children(
        ctx,
        &rc.loaders.contact_pages,
        customer_id,
        first,
        after,
        filter,
        order_by,
        lookup(&personal),
    )
    .await?;
    note_lookup(rc, &page.matched, &personal);
    Ok(page.into())
}

fn lookup(personal: &[&'static str]) -> page::Lookup {
    if personal.is_empty() {
        page::Lookup::Plain
    } else {
        page::Lookup::Personal
    }
}

/// A filter or ordering on a personal field is an access (invariant 3), even when it matched
/// nobody and no personal field is returned: it tells whether someone is in the file. Audit
/// it with the fields used and every row the answer depended on ([`page::Lookup`]).
fn note_lookup(rc: &RequestContext, matched: &[Uuid], personal: &[&'static str]) {
    if !personal.is_empty() {
        rc.reads
            .note_all("Contact", matched, personal, Outcome::Allowed);
    }
}

#[derive(Default)]
pub struct ContactQuery;

#[Object]
impl ContactQuery {
    /// A contact by id; `null` when the caller's tenant has none with this id.
    async fn contact(&self, ctx: &Context<'_>, id: Uuid) -> GqlResult<Option<Contact>> {
        let rc = RequestContext::of(ctx);
        rc.principal.require(AuthScope::ContactsRead)?;
        Ok(rc
            .loaders
            .contacts
            .load_one(id)
            .await
            .map_err(loader_err)?
            .map(Contact))
    }

    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        filter: Option<ContactFilter>,
        order_by: Option<Vec<ContactOrder>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<ContactConnection> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::ContactsRead)?;
        let order_by = order_by.unwrap_or_default();
        let (cond, personal) = prepare(rc, &filter, &order_by)?;
        note_lookup(rc, &[], &personal);
        let page = page::fetch_field(
            ctx,
            scope,
            contact::Entity::find().filter(cond),
            &contact_ordering(&order_by),
            first,
            after.as_deref(),
            lookup(&personal),
        )
        .await?;
        note_lookup(rc, &page.matched, &personal);
        Ok(page.into())
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct CreateContactInput {
    pub customer_id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// International format; stored as E.164.
    pub phone: Option<String>,
    pub birthday: Option<Date>,
    pub job_title: Option<String>,
    pub external_ref: Option<String>,
}

/// Only the fields given change; `null` clears a field.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateContactInput {
    pub customer_id: MaybeUndefined<Uuid>,
    pub first_name: MaybeUndefined<String>,
    pub last_name: MaybeUndefined<String>,
    pub email: MaybeUndefined<String>,
    pub phone: MaybeUndefined<String>,
    pub birthday: MaybeUndefined<Date>,
    pub job_title: MaybeUndefined<String>,
    pub external_ref: MaybeUndefined<String>,
}

fn name(field: &'static str, value: Option<String>) -> ApiResult<Option<String>> {
    if let Some(v) = &value {
        validate::text(field, v, 100)?;
    }
    Ok(value)
}

fn email(value: Option<String>) -> ApiResult<Option<String>> {
    Ok(value.map(|v| validate::email("email", &v)).transpose()?)
}

fn phone(value: Option<String>) -> ApiResult<Option<String>> {
    Ok(value.map(|v| validate::phone("phone", &v)).transpose()?)
}

fn birthday(value: Option<Date>) -> ApiResult<Option<NaiveDate>> {
    let value = value.map(|d| d.0);
    if let Some(date) = value {
        let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
        if date < earliest || date > Utc::now().date_naive() {
            return Err(ApiError::BadUserInput(
                "birthday: must be between 1900-01-01 and today".into(),
            ));
        }
    }
    Ok(value)
}

/// The tombstone an erased person left, if this contact's email or phone matches it.
async fn reimported(
    tx: &Scoped<DatabaseTransaction>,
    rc: &RequestContext,
    model: &contact::ActiveModel,
) -> ApiResult<Option<Uuid>> {
    let value = |v: &sea_orm::ActiveValue<Option<String>>| v.clone().into_value();
    let email = match value(&model.email) {
        Some(sea_orm::Value::String(Some(s))) => Some(s),
        _ => None,
    };
    let phone = match value(&model.phone) {
        Some(sea_orm::Value::String(Some(s))) => Some(s),
        _ => None,
    };
    crate::gdpr::matching_erasure(tx, &rc.subject_keys, email.as_deref(), phone.as_deref()).await
}

#[derive(Default)]
pub struct ContactMutation;

#[Object]
impl ContactMutation {
    async fn create_contact(
        &self,
        ctx: &Context<'_>,
        input: CreateContactInput,
    ) -> GqlResult<Contact> {
        let rc = RequestContext::of(ctx);
        let scope = writer(ctx, AuthScope::ContactsWrite, AuthScope::ContactsRead)?;
        let now = Utc::now().trunc_subsecs(6);
        let mut model = contact::ActiveModel {
            tenant_id: NotSet,
            id: Set(Uuid::now_v7()),
            customer_id: Set(input.customer_id),
            first_name: Set(name("firstName", input.first_name)?),
            last_name: Set(name("lastName", input.last_name)?),
            email: Set(email(input.email)?),
            phone: Set(phone(input.phone)?),
            birthday: Set(birthday(input.birthday)?),
            job_title: Set(name("jobTitle", input.job_title)?),
            external_ref: Set(name("externalRef", input.external_ref)?),
            created_at: Set(now),
            updated_at: Set(now),
            matches_erasure_id: Set(None),
        };
        let fields = [
            "birthday",
            "customerId",
            "email",
            "externalRef",
            "firstName",
            "jobTitle",
            "lastName",
            "phone",
        ];
        let created = scope
            .write(async |tx| {
                // Another tenant's customer does not exist for the caller.
                tx.get::<customer::Entity>(input.customer_id).await?;
                model.matches_erasure_id = Set(reimported(tx, rc, &model).await?);
                let created = tx.insert(model).await?;
                record(
                    tx,
                    rc,
                    NewEvent::write(Action::Create, "Contact", created.id, owned(&fields)),
                )
                .await?;
                Ok(created)
            })
            .await?;
        Ok(Contact(created))
    }

    async fn update_contact(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateContactInput,
    ) -> GqlResult<Contact> {
        let rc = RequestContext::of(ctx);
        let scope = writer(ctx, AuthScope::ContactsWrite, AuthScope::ContactsRead)?;
        let updated = scope
            .write(async |tx| {
                let before = tx.get::<contact::Entity>(id).await?;
                let from_customer = before.customer_id;
                let mut model: contact::ActiveModel = before.into();
                let mut changed = Vec::new();
                match input.customer_id {
                    MaybeUndefined::Value(customer_id) => {
                        tx.get::<customer::Entity>(customer_id).await?;
                        if customer_id != from_customer {
                            // A sale names its customer and the person who bought: moving the
                            // person would leave their sales pointing at two companies.
                            let sales = tx
                                .count(sale::Entity::find().filter(sale::Column::ContactId.eq(id)))
                                .await?;
                            if sales > 0 {
                                return Err(ApiError::Conflict(format!(
                                    "customerId: this contact has {sales} sales with their current customer, so they cannot move to another"
                                )));
                            }
                        }
                        changed.push("customerId");
                        model.customer_id = Set(customer_id);
                    }
                    MaybeUndefined::Null => {
                        return Err(ApiError::BadUserInput("customerId: cannot be null".into()));
                    }
                    MaybeUndefined::Undefined => {}
                }
                if let Some(v) = given(input.first_name) {
                    changed.push("firstName");
                    model.first_name = Set(name("firstName", v)?);
                }
                if let Some(v) = given(input.last_name) {
                    changed.push("lastName");
                    model.last_name = Set(name("lastName", v)?);
                }
                if let Some(v) = given(input.email) {
                    changed.push("email");
                    model.email = Set(email(v)?);
                }
                if let Some(v) = given(input.phone) {
                    changed.push("phone");
                    model.phone = Set(phone(v)?);
                }
                if let Some(v) = given(input.birthday) {
                    changed.push("birthday");
                    model.birthday = Set(birthday(v)?);
                }
                if let Some(v) = given(input.job_title) {
                    changed.push("jobTitle");
                    model.job_title = Set(name("jobTitle", v)?);
                }
                if let Some(v) = given(input.external_ref) {
                    changed.push("externalRef");
                    model.external_ref = Set(name("externalRef", v)?);
                }
                if changed.iter().any(|f| *f == "email" || *f == "phone") {
                    model.matches_erasure_id = Set(reimported(tx, rc, &model).await?);
                }
                some_change(&changed)?;
                model.updated_at = Set(Utc::now().trunc_subsecs(6));
                let after = tx.update(model).await?;
                changed.sort_unstable();
                record(
                    tx,
                    rc,
                    NewEvent::write(Action::Update, "Contact", id, owned(&changed)),
                )
                .await?;
                Ok(after)
            })
            .await?;
        Ok(Contact(updated))
    }

    /// Deletes a contact. Their sales stay, linked to the customer only.
    async fn delete_contact(&self, ctx: &Context<'_>, id: Uuid) -> GqlResult<Uuid> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::ContactsWrite)?;
        Ok(scope
            .write(async |tx| {
                tx.get::<contact::Entity>(id).await?;
                if let Some(detached) = crate::gdpr::detach_sales(tx, id).await? {
                    record(tx, rc, detached).await?;
                }
                tx.delete::<contact::Entity>(id).await?;
                record(
                    tx,
                    rc,
                    NewEvent::write(Action::Delete, "Contact", id, Vec::new()),
                )
                .await?;
                Ok(id)
            })
            .await?)
    }
}
