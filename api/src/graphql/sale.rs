//! Sales (orders, invoices): the GraphQL type, money, filter, ordering, queries and mutations.

use async_graphql::{Context, Enum, InputObject, MaybeUndefined, Object};
use chrono::{DateTime, SubsecRound, Utc};
use entity::sale::{self, Column};
use entity::{contact, customer};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{Condition, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::audit::{Action, NewEvent};
use crate::auth::Scope as AuthScope;
use crate::error::{ApiError, ApiResult, GqlResult};
use crate::graphql::contact::Contact;
use crate::graphql::context::RequestContext;
use crate::graphql::customer::Customer;
use crate::graphql::filter::{
    DateTimeFilter, DecimalFilter, StringFilter, UuidFilter, combine, depth_guard,
};
use crate::graphql::loaders::{Children, children};
use crate::graphql::page::{self, Ordering, SortKey, SortValue, connection, list_complexity};
use crate::graphql::{OrderDirection, given, loader_err, owned};
use crate::graphql::{record, some_change, writer};
use crate::money::{amount_in, scaled};
use crate::validate;

pub struct Sale(pub sale::Model);

impl From<sale::Model> for Sale {
    fn from(model: sale::Model) -> Self {
        Sale(model)
    }
}

/// An order or invoice.
// `serial`: see `Contact`; the rows of a page still resolve concurrently.
#[Object(serial)]
impl Sale {
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
    async fn contact_id(&self) -> Option<Uuid> {
        self.0.contact_id
    }
    /// The person who placed the order, when known.
    async fn contact(&self, ctx: &Context<'_>) -> GqlResult<Option<Contact>> {
        let Some(id) = self.0.contact_id else {
            return Ok(None);
        };
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
    /// Order or invoice number.
    async fn reference(&self) -> Option<&str> {
        self.0.reference.as_deref()
    }
    async fn sku(&self) -> &str {
        &self.0.sku
    }
    async fn quantity(&self) -> i32 {
        self.0.quantity
    }
    /// Exact decimal, as a string.
    async fn amount(&self) -> Decimal {
        amount_in(self.0.amount_scaled, &self.0.currency)
    }
    /// ISO 4217.
    async fn currency(&self) -> &str {
        &self.0.currency
    }
    async fn sold_at(&self) -> DateTime<Utc> {
        self.0.sold_at
    }
    async fn external_ref(&self) -> Option<&str> {
        self.0.external_ref.as_deref()
    }
    async fn created_at(&self) -> DateTime<Utc> {
        self.0.created_at
    }
}

connection!(SaleConnection, SaleEdge, Sale);

/// Filter on sales.
#[derive(InputObject, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct SaleFilter {
    pub id: Option<UuidFilter>,
    pub customer_id: Option<UuidFilter>,
    pub contact_id: Option<UuidFilter>,
    pub reference: Option<StringFilter>,
    pub sku: Option<StringFilter>,
    pub amount: Option<DecimalFilter>,
    pub currency: Option<StringFilter>,
    pub sold_at: Option<DateTimeFilter>,
    pub external_ref: Option<StringFilter>,
    pub and: Option<Vec<SaleFilter>>,
    pub or: Option<Vec<SaleFilter>>,
}

impl SaleFilter {
    pub fn condition(&self) -> ApiResult<Condition> {
        self.condition_at(0)
    }

    fn condition_at(&self, depth: usize) -> ApiResult<Condition> {
        depth_guard(depth)?;
        let col = |c: Column| Expr::col(c);
        let mut cond = Condition::all();
        for (filter, column) in [
            (&self.id, Column::Id),
            (&self.customer_id, Column::CustomerId),
            (&self.contact_id, Column::ContactId),
        ] {
            if let Some(f) = filter {
                cond = cond.add(f.condition(col(column))?);
            }
        }
        for (filter, column) in [
            (&self.reference, Column::Reference),
            (&self.sku, Column::Sku),
            (&self.currency, Column::Currency),
            (&self.external_ref, Column::ExternalRef),
        ] {
            if let Some(f) = filter {
                cond = cond.add(f.condition(col(column))?);
            }
        }
        if let Some(f) = &self.amount {
            cond = cond.add(f.condition_mapped(col(Column::AmountScaled), scaled)?);
        }
        if let Some(f) = &self.sold_at {
            cond = cond.add(f.condition(col(Column::SoldAt))?);
        }
        combine(cond, &self.and, &self.or, |f| f.condition_at(depth + 1))
    }
}

#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum SaleOrderField {
    SoldAt,
    Amount,
    Sku,
    CreatedAt,
}

#[derive(InputObject, Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SaleOrder {
    pub field: SaleOrderField,
    #[graphql(default)]
    pub direction: OrderDirection,
}

/// Newest first when no ordering is given.
fn sale_ordering(order_by: &[SaleOrder]) -> Ordering<sale::Model> {
    let default = [SaleOrder {
        field: SaleOrderField::SoldAt,
        direction: OrderDirection::Desc,
    }];
    let order_by = if order_by.is_empty() {
        &default[..]
    } else {
        order_by
    };
    let keys = order_by
        .iter()
        .map(|o| {
            let order: Order = o.direction.order();
            match o.field {
                SaleOrderField::SoldAt => SortKey {
                    name: "soldAt",
                    expr: Expr::col(Column::SoldAt),
                    order,
                    value: |m: &sale::Model| SortValue::T(m.sold_at),
                },
                SaleOrderField::Amount => SortKey {
                    name: "amount",
                    expr: Expr::col(Column::AmountScaled),
                    order,
                    value: |m: &sale::Model| SortValue::I(m.amount_scaled),
                },
                SaleOrderField::Sku => SortKey {
                    name: "sku",
                    expr: Expr::col(Column::Sku),
                    order,
                    value: |m: &sale::Model| SortValue::S(m.sku.clone()),
                },
                SaleOrderField::CreatedAt => SortKey {
                    name: "createdAt",
                    expr: Expr::col(Column::CreatedAt),
                    order,
                    value: |m: &sale::Model| SortValue::T(m.created_at),
                },
            }
        })
        .collect();
    Ordering::new::<sale::Entity>(keys, |m| SortValue::U(m.id))
}

/// `Customer.sales` as a nested list.
pub struct SalesOf;

impl Children for SalesOf {
    type Entity = sale::Entity;
    type Filter = SaleFilter;
    type Order = SaleOrder;
    const NAME: &'static str = "sales";
    fn parent_column() -> Column {
        Column::CustomerId
    }
    fn parent_of(row: &sale::Model) -> Uuid {
        row.customer_id
    }
    fn condition(filter: &SaleFilter) -> ApiResult<Condition> {
        filter.condition()
    }
    fn ordering(order_by: &[SaleOrder]) -> Ordering<sale::Model> {
        sale_ordering(order_by)
    }
}

/// `Customer.sales`, through the batch loader.
pub async fn sales_of(
    ctx: &Context<'_>,
    customer_id: Uuid,
    first: Option<i32>,
    after: Option<String>,
    filter: Option<SaleFilter>,
    order_by: Option<Vec<SaleOrder>>,
) -> ApiResult<SaleConnection> {
    let rc = RequestContext::of(ctx);
    rc.principal.require(AuthScope::SalesRead)?;
    if let Some(f) = &filter {
        f.condition()?;
    }
    let order_by = order_by.unwrap_or_default();
    let page = children(
        ctx,
        &rc.loaders.sale_pages,
        customer_id,
        first,
        after,
        filter,
        order_by,
        crate::graphql::page::Lookup::Plain,
    )
    .await?;
    Ok(page.into())
}

#[derive(Default)]
pub struct SaleQuery;

#[Object]
impl SaleQuery {
    /// A sale by id; `null` when the caller's tenant has none with this id.
    async fn sale(&self, ctx: &Context<'_>, id: Uuid) -> GqlResult<Option<Sale>> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::SalesRead)?;
        Ok(scope
            .one(sale::Entity::find().filter(sea_orm::ColumnTrait::eq(&Column::Id, id)))
            .await?
            .map(Sale))
    }

    /// Sales, newest first unless `orderBy` says otherwise.
    #[graphql(complexity = "list_complexity(first, child_complexity)")]
    async fn sales(
        &self,
        ctx: &Context<'_>,
        filter: Option<SaleFilter>,
        order_by: Option<Vec<SaleOrder>>,
        first: Option<i32>,
        after: Option<String>,
    ) -> GqlResult<SaleConnection> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::SalesRead)?;
        let mut select = sale::Entity::find();
        if let Some(f) = &filter {
            select = select.filter(f.condition()?);
        }
        let page = page::fetch_field(
            ctx,
            scope,
            select,
            &sale_ordering(order_by.as_deref().unwrap_or_default()),
            first,
            after.as_deref(),
            page::Lookup::Plain,
        )
        .await?;
        Ok(page.into())
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct CreateSaleInput {
    pub customer_id: Uuid,
    /// A contact of the same customer.
    pub contact_id: Option<Uuid>,
    pub reference: Option<String>,
    pub sku: String,
    #[graphql(default = 1)]
    pub quantity: i32,
    /// Exact decimal; no more decimal places than the currency has.
    pub amount: Decimal,
    /// ISO 4217; the tenant's default currency when left out.
    pub currency: Option<String>,
    /// Now when left out.
    pub sold_at: Option<DateTime<Utc>>,
    pub external_ref: Option<String>,
}

/// Only the fields given change; `null` clears an optional field.
#[derive(InputObject, Clone, Debug, Default)]
pub struct UpdateSaleInput {
    pub contact_id: MaybeUndefined<Uuid>,
    pub reference: MaybeUndefined<String>,
    pub sku: MaybeUndefined<String>,
    pub quantity: MaybeUndefined<i32>,
    pub amount: MaybeUndefined<Decimal>,
    pub currency: MaybeUndefined<String>,
    pub sold_at: MaybeUndefined<DateTime<Utc>>,
    pub external_ref: MaybeUndefined<String>,
}

fn optional(field: &'static str, value: Option<String>, max: usize) -> ApiResult<Option<String>> {
    if let Some(v) = &value {
        validate::text(field, v, max)?;
    }
    Ok(value)
}

fn required<T>(field: &str, value: MaybeUndefined<T>) -> ApiResult<Option<T>> {
    match value {
        MaybeUndefined::Null => Err(ApiError::BadUserInput(format!("{field}: cannot be null"))),
        MaybeUndefined::Undefined => Ok(None),
        MaybeUndefined::Value(v) => Ok(Some(v)),
    }
}

/// The contact must be a contact of the sale's customer, in the caller's tenant.
async fn check_contact<C: std::borrow::Borrow<sea_orm::DatabaseTransaction>>(
    tx: &crate::tenancy::Scoped<C>,
    contact_id: Uuid,
    customer_id: Uuid,
) -> ApiResult<()> {
    let contact = tx.get::<contact::Entity>(contact_id).await?;
    if contact.customer_id != customer_id {
        return Err(ApiError::BadUserInput(
            "contactId: this contact belongs to another customer".into(),
        ));
    }
    Ok(())
}

#[derive(Default)]
pub struct SaleMutation;

#[Object]
impl SaleMutation {
    async fn create_sale(&self, ctx: &Context<'_>, input: CreateSaleInput) -> GqlResult<Sale> {
        let rc = RequestContext::of(ctx);
        let scope = writer(ctx, AuthScope::SalesWrite, AuthScope::SalesRead)?;
        let currency = input
            .currency
            .unwrap_or_else(|| rc.tenant.default_currency.clone());
        let exponent = validate::currency("currency", &currency)?;
        let amount = validate::amount("amount", input.amount, exponent)?;
        validate::required_text("sku", &input.sku, 64)?;
        validate::quantity("quantity", input.quantity)?;
        let now = Utc::now().trunc_subsecs(6);
        let model = sale::ActiveModel {
            tenant_id: NotSet,
            id: Set(Uuid::now_v7()),
            customer_id: Set(input.customer_id),
            contact_id: Set(input.contact_id),
            reference: Set(optional("reference", input.reference, 64)?),
            sku: Set(input.sku),
            quantity: Set(input.quantity),
            amount_scaled: Set(amount),
            currency: Set(currency),
            sold_at: Set(input.sold_at.map(|t| t.trunc_subsecs(6)).unwrap_or(now)),
            external_ref: Set(optional("externalRef", input.external_ref, 100)?),
            created_at: Set(now),
        };
        let fields = [
            "amount",
            "contactId",
            "currency",
            "customerId",
            "externalRef",
            "quantity",
            "reference",
            "sku",
            "soldAt",
        ];
        let created = scope
            .write(async |tx| {
                tx.get::<customer::Entity>(input.customer_id).await?;
                if let Some(contact_id) = input.contact_id {
                    check_contact(tx, contact_id, input.customer_id).await?;
                }
                let created = tx.insert(model).await?;
                record(
                    tx,
                    rc,
                    NewEvent::write(Action::Create, "Sale", created.id, owned(&fields)),
                )
                .await?;
                Ok(created)
            })
            .await?;
        Ok(Sale(created))
    }

    async fn update_sale(
        &self,
        ctx: &Context<'_>,
        id: Uuid,
        input: UpdateSaleInput,
    ) -> GqlResult<Sale> {
        let rc = RequestContext::of(ctx);
        let scope = writer(ctx, AuthScope::SalesWrite, AuthScope::SalesRead)?;
        let updated = scope
            .write(async |tx| {
                let before = tx.get::<sale::Entity>(id).await?;
                let mut changed = Vec::new();
                let mut model: sale::ActiveModel = before.clone().into();
                if let Some(contact) = given(input.contact_id) {
                    if let Some(contact_id) = contact {
                        check_contact(tx, contact_id, before.customer_id).await?;
                    }
                    changed.push("contactId");
                    model.contact_id = Set(contact);
                }
                if let Some(v) = given(input.reference) {
                    changed.push("reference");
                    model.reference = Set(optional("reference", v, 64)?);
                }
                if let Some(sku) = required("sku", input.sku)? {
                    validate::required_text("sku", &sku, 64)?;
                    changed.push("sku");
                    model.sku = Set(sku);
                }
                if let Some(q) = required("quantity", input.quantity)? {
                    validate::quantity("quantity", q)?;
                    changed.push("quantity");
                    model.quantity = Set(q);
                }
                let currency = required("currency", input.currency)?;
                let amount = required("amount", input.amount)?;
                if currency.is_some() || amount.is_some() {
                    let currency = currency.unwrap_or(before.currency.clone());
                    let exponent = validate::currency("currency", &currency)?;
                    let amount = match amount {
                        Some(a) => validate::amount("amount", a, exponent)?,
                        None => validate::amount(
                            "amount",
                            validate::amount_from_scaled(before.amount_scaled),
                            exponent,
                        )?,
                    };
                    changed.extend(["amount", "currency"]);
                    model.currency = Set(currency);
                    model.amount_scaled = Set(amount);
                }
                if let Some(t) = required("soldAt", input.sold_at)? {
                    changed.push("soldAt");
                    model.sold_at = Set(t.trunc_subsecs(6));
                }
                if let Some(v) = given(input.external_ref) {
                    changed.push("externalRef");
                    model.external_ref = Set(optional("externalRef", v, 100)?);
                }
                some_change(&changed)?;
                let after = tx.update(model).await?;
                changed.sort_unstable();
                record(
                    tx,
                    rc,
                    NewEvent::write(Action::Update, "Sale", id, owned(&changed)),
                )
                .await?;
                Ok(after)
            })
            .await?;
        Ok(Sale(updated))
    }

    async fn delete_sale(&self, ctx: &Context<'_>, id: Uuid) -> GqlResult<Uuid> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::SalesWrite)?;
        Ok(scope
            .write(async |tx| {
                tx.delete::<sale::Entity>(id).await?;
                record(
                    tx,
                    rc,
                    NewEvent::write(Action::Delete, "Sale", id, Vec::new()),
                )
                .await?;
                Ok(id)
            })
            .await?)
    }
}
