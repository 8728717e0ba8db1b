//! Customers (companies): the declaration the engine serves, the acquisition channel and the
//! billing address, the purchase stats and the rule that a customer with sales is kept.

use async_graphql::{Context, Enum, InputObject, Object, SimpleObject};
use entity::customer::{self, Column, Model};
use sea_orm::ActiveValue::{NotSet, Set, Unchanged};

use crate::auth::Scope;
use crate::error::{ApiResult, GqlResult};
use crate::graphql::context::RequestContext;
use crate::graphql::customer_stats::{self, CustomerFilterMore, CustomerStats};
use crate::graphql::engine::compile::Shape;
use crate::graphql::engine::text;
use crate::graphql::engine::{Decl, FilterKind, Hooks, SortKind, field, id_field, time_field};
use crate::graphql::loader_err;
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

crate::declared!(customer::Entity, declare, CustomerMore, CustomerFilterMore);

fn declare() -> Decl<customer::Entity> {
    Decl {
        name: "Customer",
        doc: "A company the tenant sells to.",
        one: "customer",
        many: "customers",
        many_doc: None,
        read: Scope::CustomersRead,
        write: Scope::CustomersWrite,
        members: vec![
            id_field(Column::Id, |m| m.id).into(),
            field("name", Column::Name)
                    .show(|m: &Model| m.name.clone())
                    .filter(FilterKind::text())
                    .sort(SortKind::Plain)
                    .required_text(200)
.into(),
            field("registrationNumber", Column::RegistrationNumber)
                    .doc("SIREN/SIRET for French companies, otherwise a VAT or national registration number.")
                    .show(|m: &Model| m.registration_number.clone())
                    .filter(FilterKind::text())
                    // Checked against the country by `check`.
                    .optional::<String>(|m, v, _| {
                        m.registration_number = Set(v);
                        Ok(())
                    })
.into(),
            field("country", Column::Country)
                    .doc("ISO 3166-1 alpha-2.")
                    .show(|m: &Model| m.country.clone())
                    .filter(FilterKind::text())
                    .sort(SortKind::Plain)
                    .required::<String>(|m, v, _| {
                        validate::country("country", &v)?;
                        m.country = Set(v);
                        Ok(())
                    })
.into(),
            field("billingAddress", Column::BillingLine1)
                    .also([
                        Column::BillingLine2,
                        Column::BillingPostalCode,
                        Column::BillingCity,
                        Column::BillingCountry,
                    ])
                    .extra()
                    .compiled_as(Shape::Group {
                        type_name: "Address",
                        names: vec!["line1", "line2", "postalCode", "city", "country"],
                    })
                    .optional::<AddressInput>(|m, v, _| {
                        set_address(m, address(v)?);
                        Ok(())
                    })
.into(),
            field("acquisitionChannel", Column::AcquisitionChannel)
                .stored_enum::<AcquisitionChannel>(true)
.into(),
            text("externalRef", Column::ExternalRef, 100).doc("The id of this customer in the caller's own systems.")
.into(),
            time_field("createdAt", Column::CreatedAt, |m| m.created_at).into(),
            time_field("updatedAt", Column::UpdatedAt, |m| m.updated_at).into(),
        ],
        default_order: Vec::new(),
        created_at: Some(Column::CreatedAt),
        updated_at: Some(Column::UpdatedAt),
        concurrent: true,
        delete_doc: Some(
            "Deletes a customer and its contacts. A customer with sales cannot be deleted\n(`CONFLICT`): invoices must be kept.",
        ),
        search: vec![
            Column::Name,
            Column::RegistrationNumber,
            Column::BillingCity,
            Column::ExternalRef,
        ],
        computed_sorts: customer_stats::computed_sorts(),
        derived: vec![customer_stats::compiled()],
        hooks: Hooks {
            check: check_registration,
            before_list: |rc| {
                Box::pin(customer_stats::refresh_once(&rc.scope, &rc.loaders.stats_window))
            },
            ..Default::default()
        },
    }
}

/// A registration number is checked (and normalised) against the customer's country, the
/// given one or the stored one; changing the country re-checks the stored number.
fn check_registration(
    model: &mut customer::ActiveModel,
    _: Option<&Model>,
    _: &RequestContext,
) -> ApiResult<()> {
    let country = match &model.country {
        Set(c) | Unchanged(c) => c.clone(),
        NotSet => return Ok(()),
    };
    if !(model.country.is_set() || model.registration_number.is_set()) {
        return Ok(());
    }
    let given = model.registration_number.is_set();
    if let Set(Some(number)) | Unchanged(Some(number)) = &model.registration_number {
        let normalised = validate::registration_number("registrationNumber", &country, number)?;
        if given {
            model.registration_number = Set(Some(normalised));
        }
    }
    Ok(())
}

/// The fields of a customer that are not plain columns.
pub struct CustomerMore<'a>(&'a Model);

#[Object]
impl CustomerMore<'_> {
    async fn billing_address(&self) -> Option<Address> {
        let m = self.0;
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

    /// What this customer bought, in aggregate.
    async fn stats(&self, ctx: &Context<'_>) -> GqlResult<CustomerStats> {
        let rc = RequestContext::of(ctx);
        rc.principal.require(Scope::SalesRead)?;
        Ok(rc
            .loaders
            .stats
            .load_one(self.0.id)
            .await
            .map_err(loader_err)?
            .unwrap_or_default())
    }
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
