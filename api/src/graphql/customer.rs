//! Customers (companies): the GraphQL type, its filter and ordering, its stats, queries and
//! mutations.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object, SimpleObject};
use chrono::{DateTime, Months, SubsecRound, Utc};
use entity::customer::{self, Column};
use entity::sale;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Alias, Expr, ExprTrait, Func, Order};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QuerySelect};
use uuid::Uuid;

use crate::audit::{Action, NewEvent};
use crate::auth::Scope as AuthScope;
use crate::error::{ApiError, ApiResult, GqlResult};
use crate::graphql::contact::{ContactConnection, ContactFilter, ContactOrder};
use crate::graphql::context::RequestContext;
use crate::graphql::filter::{DateTimeFilter, StringFilter, combine, depth_guard};
use crate::graphql::page::{self, Ordering, SortKey, SortValue, connection, list_complexity};
use crate::graphql::sale::{SaleConnection, SaleFilter, SaleOrder};
use crate::graphql::{OrderDirection, given, loader_err, owned, record, some_change, writer};
use crate::money::Money;
use crate::tenancy::TenantHandle;
use crate::validate;

/// How a customer came to the company.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum AcquisitionChannel {
    Web,
    Referral,
    Partner,
    Event,
    Outbound,
    Advertising,
    Social,
    Other,
}

impl AcquisitionChannel {
    const ALL: [AcquisitionChannel; 8] = [
        AcquisitionChannel::Web,
        AcquisitionChannel::Referral,
        AcquisitionChannel::Partner,
        AcquisitionChannel::Event,
        AcquisitionChannel::Outbound,
        AcquisitionChannel::Advertising,
        AcquisitionChannel::Social,
        AcquisitionChannel::Other,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            AcquisitionChannel::Web => "web",
            AcquisitionChannel::Referral => "referral",
            AcquisitionChannel::Partner => "partner",
            AcquisitionChannel::Event => "event",
            AcquisitionChannel::Outbound => "outbound",
            AcquisitionChannel::Advertising => "advertising",
            AcquisitionChannel::Social => "social",
            AcquisitionChannel::Other => "other",
        }
    }

    fn parse(value: &str) -> Option<AcquisitionChannel> {
        Self::ALL.into_iter().find(|c| c.as_str() == value)
    }
}

/// A postal address.
#[derive(SimpleObject, Clone, Debug)]
pub struct Address {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: Option<String>,
}

#[derive(InputObject, Clone, Debug)]
pub struct AddressInput {
    pub line1: Option<String>,
    pub line2: Option<String>,
    pub postal_code: Option<String>,
    pub city: Option<String>,
    pub country: Option<String>,
}

/// A company the tenant sells to.
pub struct Customer(pub customer::Model);

impl From<customer::Model> for Customer {
    fn from(model: customer::Model) -> Self {
        Customer(model)
    }
}

#[Object]
impl Customer {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn name(&self) -> &str {
        &self.0.name
    }
    /// SIREN/SIRET for French companies, otherwise a VAT or national registration number.
    async fn registration_number(&self) -> Option<&str> {
        self.0.registration_number.as_deref()
    }
    /// ISO 3166-1 alpha-2.
    async fn country(&self) -> &str {
        &self.0.country
    }
    async fn billing_address(&self) -> Option<Address> {
        let m = &self.0;
        let any = [
            &m.billing_line1,
            &m.billing_line2,
            &m.billing_postal_code,
            &m.billing_city,
            &m.billing_country,
        ]
        .iter()
        .any(|v| v.is_some());
        any.then(|| Address {
            line1: m.billing_line1.clone(),
            line2: m.billing_line2.clone(),
            postal_code: m.billing_postal_code.clone(),
            city: m.billing_city.clone(),
            country: m.billing_country.clone(),
        })
    }
    async fn acquisition_channel(&self) -> Option<AcquisitionChannel> {
        self.0
            .acquisition_channel
            .as_deref()
            .and_then(AcquisitionChannel::parse)
    }
    /// The id of this customer in the caller's own systems.
    async fn external_ref(&self) -> Option<&str> {
        self.0.external_ref.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
    async fn updated_at(&self) -> DateTime<Utc> {
        self.0.updated_at
    }

    /// The people who work for this customer.
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn contacts(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<ContactFilter>,
        order_by: Option<Vec<ContactOrder>>,
    ) -> GqlResult<ContactConnection> {
        Ok(
            crate::graphql::contact::contacts_of(ctx, self.0.id, first, after, filter, order_by)
                .await?,
        )
    }

    /// Orders and invoices of this customer; newest first unless `orderBy` says otherwise.
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn sales(
        &self,
        ctx: &Context<'_>,
        first: Option<i32>,
        after: Option<String>,
        filter: Option<SaleFilter>,
        order_by: Option<Vec<SaleOrder>>,
    ) -> GqlResult<SaleConnection> {
        Ok(crate::graphql::sale::sales_of(ctx, self.0.id, first, after, filter, order_by).await?)
    }

    /// What this customer bought, in aggregate.
    async fn stats(&self, ctx: &Context<'_>) -> GqlResult<CustomerStats> {
        let rc = RequestContext::of(ctx);
        rc.principal.require(AuthScope::SalesRead)?;
        Ok(rc
            .loaders
            .stats
            .load_one(self.0.id)
            .await
            .map_err(loader_err)?
            .unwrap_or_default())
    }
}

/// Purchase aggregates of one customer. Amounts are per currency: they cannot be summed
/// across currencies without an exchange rate.
#[derive(SimpleObject, Clone, Debug, Default)]
pub struct CustomerStats {
    pub sales_count: i64,
    pub total_spent: Vec<Money>,
    /// Spent since the same day twelve months ago.
    pub spent_last12_months: Vec<Money>,
    pub last_purchase_at: Option<DateTime<Utc>>,
    pub last_purchase_amount: Option<Money>,
}

/// Loads the stats of a batch of customers in two statements.
pub struct StatsLoader {
    scope: TenantHandle,
}

impl StatsLoader {
    pub fn new(scope: TenantHandle) -> Self {
        StatsLoader { scope }
    }
}

impl Loader<Uuid> for StatsLoader {
    type Value = CustomerStats;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, CustomerStats>, Self::Error> {
        self.load_stats(keys).await
    }
}

impl StatsLoader {
    async fn load_stats(
        &self,
        keys: &[Uuid],
    ) -> async_graphql::Result<HashMap<Uuid, CustomerStats>> {
        let since = Utc::now()
            .trunc_subsecs(6)
            .checked_sub_months(Months::new(12))
            .unwrap_or(DateTime::<Utc>::MIN_UTC);
        // Each amount fits an i64, but their sum need not: SQLite's SUM fails on overflow and
        // PostgreSQL's NUMERIC sum would not cast back. So the amounts are summed in two
        // halves, split at 2^32, that cannot overflow for up to 2^31 sales per group, and
        // joined exactly in Rust (`i128`).
        const HALF: i64 = 1 << 32;
        let amount = || Expr::col(sale::Column::AmountScaled);
        let in_last_year = |part: Expr| -> Expr {
            Expr::case(Expr::col(sale::Column::SoldAt).gte(since), part)
                .finally(0i64)
                .into()
        };
        let sum = |part| Func::cast_as(Func::sum(part), Alias::new("BIGINT"));
        let totals: Vec<(Uuid, String, i64, i64, i64, i64, i64)> = self
            .scope
            .tuples(
                sale::Entity::find()
                    .select_only()
                    .column(sale::Column::CustomerId)
                    .column(sale::Column::Currency)
                    .expr(Func::cast_as(
                        Expr::col(sale::Column::Id).count(),
                        Alias::new("BIGINT"),
                    ))
                    .expr(sum(amount().div(HALF)))
                    .expr(sum(amount().modulo(HALF)))
                    .expr(sum(in_last_year(amount().div(HALF))))
                    .expr(sum(in_last_year(amount().modulo(HALF))))
                    .filter(sale::Column::CustomerId.is_in(keys.iter().copied()))
                    .group_by(sale::Column::CustomerId)
                    .group_by(sale::Column::Currency),
            )
            .await?;
        let last = self
            .scope
            .all_ranked(
                sale::Entity::find().filter(sale::Column::CustomerId.is_in(keys.iter().copied())),
                sale::Column::CustomerId,
                &[
                    (Expr::col(sale::Column::SoldAt), Order::Desc),
                    (Expr::col(sale::Column::Id), Order::Desc),
                ],
                1,
            )
            .await?;
        let mut out: HashMap<Uuid, CustomerStats> = HashMap::new();
        let joined = |high: i64, low: i64| i128::from(high) * i128::from(HALF) + i128::from(low);
        for (customer, currency, count, high, low, recent_high, recent_low) in totals {
            let stats = out.entry(customer).or_default();
            let overflow = || ApiError::internal(anyhow::anyhow!("a sum beyond 96 bits"));
            stats.sales_count += count;
            stats
                .total_spent
                .push(Money::sum(joined(high, low), &currency).ok_or_else(overflow)?);
            let recent = joined(recent_high, recent_low);
            if recent > 0 {
                stats
                    .spent_last12_months
                    .push(Money::sum(recent, &currency).ok_or_else(overflow)?);
            }
        }
        for sale in last {
            let stats = out.entry(sale.customer_id).or_default();
            stats.last_purchase_at = Some(sale.sold_at);
            stats.last_purchase_amount = Some(Money::new(sale.amount_scaled, &sale.currency));
        }
        Ok(out)
    }
}

/// Filter on customers.
#[derive(InputObject, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct CustomerFilter {
    pub id: Option<crate::graphql::filter::UuidFilter>,
    pub name: Option<StringFilter>,
    pub registration_number: Option<StringFilter>,
    pub country: Option<StringFilter>,
    pub acquisition_channel: Option<AcquisitionChannelFilter>,
    pub external_ref: Option<StringFilter>,
    pub created_at: Option<DateTimeFilter>,
    pub updated_at: Option<DateTimeFilter>,
    pub and: Option<Vec<CustomerFilter>>,
    pub or: Option<Vec<CustomerFilter>>,
}

#[derive(InputObject, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct AcquisitionChannelFilter {
    pub eq: Option<AcquisitionChannel>,
    pub ne: Option<AcquisitionChannel>,
    #[graphql(name = "in")]
    pub in_: Option<Vec<AcquisitionChannel>>,
    pub is_null: Option<bool>,
}

impl CustomerFilter {
    pub fn condition(&self) -> ApiResult<Condition> {
        self.condition_at(0)
    }

    fn condition_at(&self, depth: usize) -> ApiResult<Condition> {
        depth_guard(depth)?;
        let mut cond = Condition::all();
        let col = |c: Column| Expr::col(c);
        if let Some(f) = &self.id {
            cond = cond.add(f.condition(col(Column::Id))?);
        }
        if let Some(f) = &self.name {
            cond = cond.add(f.condition(col(Column::Name))?);
        }
        if let Some(f) = &self.registration_number {
            cond = cond.add(f.condition(col(Column::RegistrationNumber))?);
        }
        if let Some(f) = &self.country {
            cond = cond.add(f.condition(col(Column::Country))?);
        }
        if let Some(f) = &self.acquisition_channel {
            let to_str = |v: &Option<AcquisitionChannel>| v.map(|c| c.as_str().to_owned());
            cond = cond.add(
                StringFilter {
                    eq: to_str(&f.eq),
                    ne: to_str(&f.ne),
                    in_: f
                        .in_
                        .as_ref()
                        .map(|v| v.iter().map(|c| c.as_str().to_owned()).collect()),
                    contains: None,
                    is_null: f.is_null,
                }
                .condition(col(Column::AcquisitionChannel))?,
            );
        }
        if let Some(f) = &self.external_ref {
            cond = cond.add(f.condition(col(Column::ExternalRef))?);
        }
        if let Some(f) = &self.created_at {
            cond = cond.add(f.condition(col(Column::CreatedAt))?);
        }
        if let Some(f) = &self.updated_at {
            cond = cond.add(f.condition(col(Column::UpdatedAt))?);
        }
        combine(cond, &self.and, &self.or, |f| f.condition_at(depth + 1))
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum CustomerOrderField {
    Name,
    Country,
    CreatedAt,
    UpdatedAt,
}

#[derive(InputObject, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct CustomerOrder {
    pub field: CustomerOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

fn customer_ordering(order_by: &[CustomerOrder]) -> Ordering<customer::Model> {
    let keys = order_by
        .iter()
        .map(|o| {
            let order = o.direction.order();
            match o.field {
                CustomerOrderField::Name => SortKey {
                    name: "name",
                    expr: Expr::col(Column::Name),
                    order,
                    value: |m: &customer::Model| SortValue::S(m.name.clone()),
                },
                CustomerOrderField::Country => SortKey {
                    name: "country",
                    expr: Expr::col(Column::Country),
                    order,
                    value: |m: &customer::Model| SortValue::S(m.country.clone()),
                },
                CustomerOrderField::CreatedAt => SortKey {
                    name: "createdAt",
                    expr: Expr::col(Column::CreatedAt),
                    order,
                    value: |m: &customer::Model| SortValue::T(m.created_at),
                },
                CustomerOrderField::UpdatedAt => SortKey {
                    name: "updatedAt",
                    expr: Expr::col(Column::UpdatedAt),
                    order,
                    value: |m: &customer::Model| SortValue::T(m.updated_at),
                },
            }
        })
        .collect();
    Ordering::new::<customer::Entity>(keys, |m| SortValue::U(m.id))
}

connection!(CustomerConnection, CustomerEdge, Customer);

#[derive(Default)]
pub struct CustomerQuery;

#[Object]
impl CustomerQuery {
    /// A customer by id; `null` when the caller's tenant has none with this id.
    async fn customer(&self, ctx: &Context<'_>, id: Uuid) -> GqlResult<Option<Customer>> {
        let rc = RequestContext::of(ctx);
        rc.principal.require(AuthScope::CustomersRead)?;
        Ok(rc
            .loaders
            .customers
            .load_one(id)
            .await
            .map_err(loader_err)?
            .map(Customer))
    }

    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn customers(
        &self,
        ctx: &Context<'_>,
        filter: Option<CustomerFilter>,
        order_by: Option<Vec<CustomerOrder>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<CustomerConnection> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::CustomersRead)?;
        let mut select = customer::Entity::find();
        if let Some(filter) = &filter {
            select = select.filter(filter.condition()?);
        }
        let ordering = customer_ordering(order_by.as_deref().unwrap_or_default());
        let page = page::fetch_field(
            ctx,
            scope,
            select,
            &ordering,
            first,
            after.as_deref(),
            page::Lookup::Plain,
        )
        .await?;
        Ok(page.into())
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct CreateCustomerInput {
    pub name: String,
    pub registration_number: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub billing_address: Option<AddressInput>,
    pub acquisition_channel: Option<AcquisitionChannel>,
    pub external_ref: Option<String>,
}

/// Only the fields given change; `null` clears an optional field.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateCustomerInput {
    pub name: MaybeUndefined<String>,
    pub registration_number: MaybeUndefined<String>,
    pub country: MaybeUndefined<String>,
    pub billing_address: MaybeUndefined<AddressInput>,
    pub acquisition_channel: MaybeUndefined<AcquisitionChannel>,
    pub external_ref: MaybeUndefined<String>,
}

fn optional_text(
    field: &'static str,
    value: Option<String>,
    max: usize,
) -> ApiResult<Option<String>> {
    if let Some(v) = &value {
        validate::text(field, v, max)?;
    }
    Ok(value)
}

struct ValidAddress([Option<String>; 5]);

fn address(input: Option<AddressInput>) -> ApiResult<ValidAddress> {
    let Some(a) = input else {
        return Ok(ValidAddress(Default::default()));
    };
    if let Some(c) = &a.country {
        validate::country("billingAddress.country", c)?;
    }
    Ok(ValidAddress([
        optional_text("billingAddress.line1", a.line1, 200)?,
        optional_text("billingAddress.line2", a.line2, 200)?,
        optional_text("billingAddress.postalCode", a.postal_code, 20)?,
        optional_text("billingAddress.city", a.city, 100)?,
        a.country,
    ]))
}

fn set_address(model: &mut customer::ActiveModel, address: ValidAddress) {
    let [line1, line2, postal, city, country] = address.0;
    model.billing_line1 = Set(line1);
    model.billing_line2 = Set(line2);
    model.billing_postal_code = Set(postal);
    model.billing_city = Set(city);
    model.billing_country = Set(country);
}

fn registration(country: &str, value: Option<String>) -> ApiResult<Option<String>> {
    value
        .map(|v| validate::registration_number("registrationNumber", country, &v))
        .transpose()
        .map_err(Into::into)
}

#[derive(Default)]
pub struct CustomerMutation;

#[Object]
impl CustomerMutation {
    async fn create_customer(
        &self,
        ctx: &Context<'_>,
        input: CreateCustomerInput,
    ) -> GqlResult<Customer> {
        let rc = RequestContext::of(ctx);
        let scope = writer(ctx, AuthScope::CustomersWrite, AuthScope::CustomersRead)?;
        validate::required_text("name", &input.name, 200)?;
        validate::country("country", &input.country)?;
        let registration_number = registration(&input.country, input.registration_number)?;
        let external_ref = optional_text("externalRef", input.external_ref, 100)?;
        let now = Utc::now().trunc_subsecs(6);
        let mut model = customer::ActiveModel {
            tenant_id: NotSet,
            id: Set(Uuid::now_v7()),
            name: Set(input.name),
            registration_number: Set(registration_number),
            country: Set(input.country),
            acquisition_channel: Set(input.acquisition_channel.map(|c| c.as_str().to_owned())),
            external_ref: Set(external_ref),
            created_at: Set(now),
            updated_at: Set(now),
            ..Default::default()
        };
        set_address(&mut model, address(input.billing_address)?);
        let fields = vec![
            "acquisitionChannel",
            "billingAddress",
            "country",
            "externalRef",
            "name",
            "registrationNumber",
        ];
        let created = scope
            .write(async |tx| {
                let created = tx.insert(model).await?;
                record(
                    tx,
                    rc,
                    NewEvent::write(Action::Create, "Customer", created.id, owned(&fields)),
                )
                .await?;
                Ok(created)
            })
            .await?;
        Ok(Customer(created))
    }

    async fn update_customer(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateCustomerInput,
    ) -> GqlResult<Customer> {
        let rc = RequestContext::of(ctx);
        let scope = writer(ctx, AuthScope::CustomersWrite, AuthScope::CustomersRead)?;
        let updated = scope
            .write(async |tx| {
                let before = tx.get::<customer::Entity>(id).await?;
                let mut model: customer::ActiveModel = before.clone().into();
                let mut changed = Vec::new();
                let country = match input.country {
                    MaybeUndefined::Value(c) => {
                        validate::country("country", &c)?;
                        changed.push("country");
                        model.country = Set(c.clone());
                        c
                    }
                    MaybeUndefined::Null => {
                        return Err(ApiError::BadUserInput("country: cannot be null".into()));
                    }
                    MaybeUndefined::Undefined => before.country.clone(),
                };
                match input.name {
                    MaybeUndefined::Value(name) => {
                        validate::required_text("name", &name, 200)?;
                        changed.push("name");
                        model.name = Set(name);
                    }
                    MaybeUndefined::Null => {
                        return Err(ApiError::BadUserInput("name: cannot be null".into()));
                    }
                    MaybeUndefined::Undefined => {}
                }
                if let Some(value) = given(input.registration_number) {
                    changed.push("registrationNumber");
                    model.registration_number = Set(registration(&country, value)?);
                }
                if let Some(value) = given(input.billing_address) {
                    changed.push("billingAddress");
                    set_address(&mut model, address(value)?);
                }
                if let Some(value) = given(input.acquisition_channel) {
                    changed.push("acquisitionChannel");
                    model.acquisition_channel = Set(value.map(|c| c.as_str().to_owned()));
                }
                if let Some(value) = given(input.external_ref) {
                    changed.push("externalRef");
                    model.external_ref = Set(optional_text("externalRef", value, 100)?);
                }
                some_change(&changed)?;
                model.updated_at = Set(Utc::now().trunc_subsecs(6));
                let after = tx.update(model).await?;
                changed.sort_unstable();
                record(
                    tx,
                    rc,
                    NewEvent::write(Action::Update, "Customer", id, owned(&changed)),
                )
                .await?;
                Ok(after)
            })
            .await?;
        Ok(Customer(updated))
    }

    /// Deletes a customer and its contacts. A customer with sales cannot be deleted
    /// (`CONFLICT`): invoices must be kept.
    async fn delete_customer(&self, ctx: &Context<'_>, id: Uuid) -> GqlResult<Uuid> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::CustomersWrite)?;
        Ok(scope
            .write(async |tx| {
                tx.get::<customer::Entity>(id).await?;
                let sales = tx
                    .count(sale::Entity::find().filter(sale::Column::CustomerId.eq(id)))
                    .await?;
                if sales > 0 {
                    return Err(ApiError::Conflict(format!(
                        "this customer has {sales} sales; sales are kept for accounting, so the customer cannot be deleted"
                    )));
                }
                let contacts = tx
                    .all(entity::contact::Entity::find().filter(entity::contact::Column::CustomerId.eq(id)))
                    .await?;
                if !contacts.is_empty() {
                    rc.principal.require(AuthScope::ContactsWrite)?;
                    for contact in &contacts {
                        tx.delete::<entity::contact::Entity>(contact.id).await?;
                    }
                    record(
                        tx,
                        rc,
                        NewEvent {
                            action: Action::Delete,
                            entity: "Contact",
                            entity_ids: contacts.iter().map(|c| c.id).collect(),
                            fields: Vec::new(),
                            outcome: crate::audit::Outcome::Allowed,
                        },
                    )
                    .await?;
                }
                tx.delete::<customer::Entity>(id).await?;
                record(tx, rc, NewEvent::write(Action::Delete, "Customer", id, Vec::new())).await?;
                Ok(id)
            })
            .await?)
    }
}
