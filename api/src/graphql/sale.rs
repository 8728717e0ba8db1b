//! Sales (orders, invoices): the declaration the engine serves, with exact money (an amount
//! has no more decimal places than its currency) and the rule that a sale's contact works for
//! the sale's customer.

use async_graphql::{InputType, OutputType};
use entity::sale::{self, Column, Model};
use entity::{contact, customer};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::{Set, Unchanged};

use crate::auth::Scope;
use crate::error::ApiResult;
use crate::graphql::OrderDirection;
use crate::graphql::contact::works_for;
use crate::graphql::context::RequestContext;
use crate::graphql::engine::reference;
use crate::graphql::engine::text;
use crate::graphql::engine::{
    Decl, Fate, FilterKind, Hooks, Output, SortKind, belongs_to, compile::Shape, field, id_field,
    time_field,
};
use crate::money::amount_in;
use crate::validate;

crate::declared!(sale::Entity, declare);

fn declare() -> Decl<sale::Entity> {
    Decl {
        name: "Sale",
        doc: "An order or invoice.",
        one: "sale",
        many: "sales",
        many_doc: Some("Sales, newest first unless `orderBy` says otherwise."),
        read: Scope::SalesRead,
        write: Scope::SalesWrite,
        members: vec![
            id_field(Column::Id, |m| m.id).into(),
            reference("customerId", Column::CustomerId, false)
                .create_only()
                .into(),
            belongs_to::<customer::Entity, _>("customer", Column::CustomerId)
                .reverse(
                    "sales",
                    "Orders and invoices of this customer; newest first unless `orderBy` says otherwise.",
                    Fate::Keep("sales are kept for accounting"),
                    Fate::Keep("sales are kept for accounting"),
                )
                .into(),
            reference("contactId", Column::ContactId, true)
                .input_doc("A contact of the same customer.")
                .into(),
            // Invoices stay with the customer (accounting law), without the person.
            belongs_to::<contact::Entity, _>("contact", Column::ContactId)
                .optional()
                .doc("The person who placed the order, when known.")
                .reverse(
                    "sales",
                    "Orders this person placed; newest first unless `orderBy` says otherwise.",
                    Fate::Unlink,
                    Fate::Unlink,
                )
                .into(),
            text("reference", Column::Reference, 64).doc("Order or invoice number.")
                .into(),
            field("sku", Column::Sku)
                .show(|m: &Model| m.sku.clone())
                .filter(FilterKind::text())
                .sort(SortKind::Plain)
                .required_text(64)
                .into(),
            field("quantity", Column::Quantity)
                .show(|m: &Model| m.quantity)
                .required::<i32>(|m, v, _| {
                    validate::quantity("quantity", v)?;
                    m.quantity = Set(v);
                    Ok(())
                })
                .default_value("1")
                .into(),
            field("amount", Column::AmountScaled)
                .doc("Exact decimal, as a string.")
                .show_with(
                    Output {
                        type_info: <Decimal as OutputType>::create_type_info,
                        value: Box::new(|m: &Model| amount_in(m.amount_scaled, &m.currency).to_value()),
                    },
                    Some(Shape::Money { currency: "currency" }),
                )
                .filter(FilterKind::money())
                .sort(SortKind::Plain)
                // Checked against the currency's decimal places by `check_money`.
                .required::<Decimal>(|m, v, _| {
                    m.amount_scaled = Set(validate::amount("amount", v, 4)?);
                    Ok(())
                })
                .input_doc("Exact decimal; no more decimal places than the currency has.")
                .into(),
            field("currency", Column::Currency)
                .doc("ISO 4217.")
                .show(|m: &Model| m.currency.clone())
                .filter(FilterKind::text())
                .optional::<String>(|m, v, rc| {
                    m.currency = Set(v.unwrap_or_else(|| rc.tenant.default_currency.clone()));
                    Ok(())
                })
                .input_doc("ISO 4217; the tenant's default currency when left out.")
                .never_null()
                .into(),
            field("soldAt", Column::SoldAt)
                .show(|m: &Model| m.sold_at)
                .filter(FilterKind::time())
                .sort(SortKind::Plain)
                .now_by_default()
                .into(),
            text("externalRef", Column::ExternalRef, 100)
                .into(),
            time_field("createdAt", Column::CreatedAt, |m| m.created_at).into(),
        ],
        default_order: vec![("soldAt", OrderDirection::Desc)],
        created_at: Some(Column::CreatedAt),
        updated_at: None,
        concurrent: false,
        delete_doc: None,
        search: Vec::new(),
        computed_sorts: Vec::new(),
        derived: Vec::new(),
        hooks: Hooks {
            check: check_money,
            before_write: |w, model, _| {
                Box::pin(works_for(w, &model.contact_id, &model.customer_id))
            },
            ..Default::default()
        },
    }
}

/// An amount has no more decimal places than its currency: checked whenever either changes,
/// and both are then part of the change.
fn check_money(
    model: &mut sale::ActiveModel,
    _: Option<&Model>,
    _: &RequestContext,
) -> ApiResult<()> {
    if !(model.amount_scaled.is_set() || model.currency.is_set()) {
        return Ok(());
    }
    let (Set(currency) | Unchanged(currency)) = model.currency.clone() else {
        return Ok(());
    };
    let (Set(scaled) | Unchanged(scaled)) = model.amount_scaled.clone() else {
        return Ok(());
    };
    let exponent = validate::currency("currency", &currency)?;
    let amount = validate::amount("amount", validate::amount_from_scaled(scaled), exponent)?;
    model.currency = Set(currency);
    model.amount_scaled = Set(amount);
    Ok(())
}
