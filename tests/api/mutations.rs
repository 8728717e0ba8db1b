//! Writes: validation before anything is written, exact round trips, update semantics,
//! deletion rules.

use serde_json::{Value, json};
use tests::*;

const CREATE_CUSTOMER: &str = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id name registrationNumber country billingAddress { line1 city country } acquisitionChannel externalRef } }";
const CREATE_CONTACT: &str = "mutation($input: CreateContactInput!) { createContact(input: $input) { id firstName lastName email phone birthday jobTitle } }";
const CREATE_SALE: &str = "mutation($input: CreateSaleInput!) { createSale(input: $input) { id amount currency quantity sku soldAt } }";

/// Asserts that the one error of `body` blames `field`.
fn assert_blames(body: &Value, field: &str) {
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with(&format!("{field}: ")),
        "the refusal must blame `{field}`: {body}"
    );
}

/// Asserts that `input` is refused with BAD_USER_INPUT, blaming `field`: every such message
/// starts with the input field's name (`email: …`), so a client can point at the right box.
async fn refused(app: &TestApp, query: &str, input: Value, field: &str) {
    let answer = app
        .gql(&app.agent_a(), query, json!({"input": input}))
        .await;
    assert_eq!(
        answer.codes(),
        vec!["BAD_USER_INPUT"],
        "input {input}: {}",
        answer.body
    );
    assert_blames(&answer.body, field);
}

async fn every_validation_rule_refuses_before_writing(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer_input = |patch: Value| {
        let mut base = json!({"name": "Acme", "country": "FR"});
        for (k, v) in patch.as_object().expect("object") {
            base[k] = v.clone();
        }
        base
    };
    for (patch, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": "   "}), "name"),
        (json!({"name": "x".repeat(201)}), "name"),
        (json!({"name": "nul\u{0}byte"}), "name"),
        (json!({"country": "fr"}), "country"),
        (json!({"country": "XX"}), "country"),
        (
            json!({"registrationNumber": "732829321"}),
            "registrationNumber",
        ),
        (json!({"registrationNumber": "12345"}), "registrationNumber"),
        (
            json!({"registrationNumber": "73282932000075"}),
            "registrationNumber",
        ),
        (
            json!({"billingAddress": {"country": "ZZ"}}),
            "billingAddress.country",
        ),
        (json!({"externalRef": "r".repeat(101)}), "externalRef"),
    ] {
        refused(&app, CREATE_CUSTOMER, customer_input(patch), field).await;
    }
    let customer = app.customer(&app.agent_a(), "Valid").await;
    let contact_input = |patch: Value| {
        let mut base = json!({"customerId": customer, "firstName": "Ann"});
        for (k, v) in patch.as_object().expect("object") {
            base[k] = v.clone();
        }
        base
    };
    for (patch, field) in [
        (json!({"email": ""}), "email"),
        (json!({"email": "no-at-sign"}), "email"),
        (json!({"email": "two@@example.com"}), "email"),
        (
            json!({"email": format!("{}@example.com", "a".repeat(65))}),
            "email",
        ),
        (json!({"phone": "0612345678"}), "phone"),
        (json!({"phone": "+1 202 123 4567"}), "phone"),
        (json!({"phone": "+33 6 12"}), "phone"),
        (json!({"birthday": "2999-01-01"}), "birthday"),
        (json!({"birthday": "1985-13-40"}), "birthday"),
        (json!({"birthday": "12/04/1985"}), "birthday"),
        (json!({"firstName": "x".repeat(101)}), "firstName"),
    ] {
        refused(&app, CREATE_CONTACT, contact_input(patch), field).await;
    }
    let sale_input = |patch: Value| {
        let mut base =
            json!({"customerId": customer, "sku": "S", "amount": "10.00", "currency": "EUR"});
        for (k, v) in patch.as_object().expect("object") {
            base[k] = v.clone();
        }
        base
    };
    for (patch, field) in [
        (json!({"amount": "-1.00"}), "amount"),
        (json!({"amount": "10.001"}), "amount"),
        (json!({"amount": "10.5", "currency": "JPY"}), "amount"),
        (json!({"amount": "922337203685478"}), "amount"),
        (json!({"currency": "EURO"}), "currency"),
        (json!({"currency": "eur"}), "currency"),
        (json!({"currency": "XAU"}), "currency"),
        (json!({"quantity": 0}), "quantity"),
        (json!({"sku": ""}), "sku"),
    ] {
        refused(&app, CREATE_SALE, sale_input(patch), field).await;
    }
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM customers").await, 1);
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM contacts").await, 0);
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM sales").await, 0);
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM audit_events").await,
        1,
        "only the valid create is audited"
    );
}

async fn strings_and_amounts_round_trip_exactly(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let tricky = [
        "Robert'); DROP TABLE customers;--",
        "\" OR 1=1 --",
        "Ünïcödé 名前 😀 \u{202e}RTL",
        "100% _literal_ \\ back",
        "tab\tand\nnewline",
    ];
    for name in tricky {
        let data = app
            .gql(&token, CREATE_CUSTOMER, json!({"input": {"name": name, "country": "FR", "registrationNumber": "732 829 320", "billingAddress": {"line1": name, "city": "Paris", "country": "FR"}, "acquisitionChannel": "REFERRAL", "externalRef": "ext-1"}}))
            .await
            .ok();
        let created = &data["createCustomer"];
        assert_eq!(created["name"], json!(name));
        assert_eq!(created["billingAddress"]["line1"], json!(name));
        assert_eq!(
            created["registrationNumber"],
            json!("732829320"),
            "stored normalised"
        );
        let id = created["id"].clone();
        let read = app
            .gql(
                &token,
                "query($id: UUID!) { customer(id: $id) { name } }",
                json!({"id": id}),
            )
            .await
            .ok();
        assert_eq!(read["customer"]["name"], json!(name));
    }
    // `contains` treats % and _ literally.
    let data = app.gql(&token, "{ a: customers(filter: {name: {contains: \"100%\"}}) { totalCount } b: customers(filter: {name: {contains: \"%\"}}) { totalCount } c: customers(filter: {name: {contains: \"_LITERAL_\"}}) { totalCount } }", json!({})).await.ok();
    assert_eq!(
        data,
        json!({"a": {"totalCount": 1}, "b": {"totalCount": 1}, "c": {"totalCount": 1}})
    );
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM customers").await,
        tricky.len() as i64
    );

    let customer = app.customer(&token, "Money").await;
    for (amount, currency, expected) in [
        ("922337203685477.58", "EUR", "922337203685477.58"),
        ("0.01", "EUR", "0.01"),
        ("19.9", "EUR", "19.90"),
        ("1234.567", "KWD", "1234.567"),
        ("1990", "JPY", "1990"),
        ("0.0001", "CLF", "0.0001"),
    ] {
        let data = app
            .gql(&token, CREATE_SALE, json!({"input": {"customerId": customer, "sku": "S", "amount": amount, "currency": currency}}))
            .await
            .ok();
        assert_eq!(
            data["createSale"]["amount"],
            json!(expected),
            "{amount} {currency}"
        );
        let id = data["createSale"]["id"].clone();
        let read = app
            .gql(
                &token,
                "query($id: UUID!) { sale(id: $id) { amount } }",
                json!({"id": id}),
            )
            .await
            .ok();
        assert_eq!(read["sale"]["amount"], json!(expected));
    }
    // The contact phone is stored as E.164 and the email's domain lower-cased.
    let d = app
        .gql(&token, CREATE_CONTACT, json!({"input": {"customerId": customer, "firstName": "Zoë", "email": "Zoe.Doe@Example.COM", "phone": "+33 6 12 34 56 78"}}))
        .await
        .ok();
    assert_eq!(d["createContact"]["phone"], json!("+33612345678"));
    assert_eq!(d["createContact"]["email"], json!("Zoe.Doe@example.com"));
}

async fn updates_change_only_the_given_fields_and_null_clears(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let customer = app.customer(&token, "Acme").await;
    let contact = app
        .contact(&token, customer, "Ann", "ann@acme.example")
        .await;
    let q = "mutation($id: UUID!, $input: UpdateContactInput!) { updateContact(id: $id, input: $input) { firstName lastName email phone jobTitle } }";
    let data = app
        .gql(
            &token,
            q,
            json!({"id": contact, "input": {"jobTitle": "Buyer", "email": null}}),
        )
        .await
        .ok();
    assert_eq!(
        data["updateContact"],
        json!({"firstName": "Ann", "lastName": "Martin", "email": null, "phone": "+33612345678", "jobTitle": "Buyer"})
    );
    // Required fields cannot be nulled.
    let answer = app
        .gql(
            &token,
            "mutation($id: UUID!) { updateCustomer(id: $id, input: {name: null}) { id } }",
            json!({"id": customer}),
        )
        .await;
    let body = answer.expect_code("BAD_USER_INPUT");
    assert_blames(&body, "name");
    // Changing the country re-checks the registration number against it.
    let data = app.gql(&token, "mutation($id: UUID!) { updateCustomer(id: $id, input: {country: \"DE\", registrationNumber: \"HRB 12345\"}) { country registrationNumber } }", json!({"id": customer})).await.ok();
    assert_eq!(
        data["updateCustomer"],
        json!({"country": "DE", "registrationNumber": "HRB12345"})
    );
    let answer = app
        .gql(
            &token,
            "mutation($id: UUID!) { updateContact(id: $id, input: {phone: \"12\"}) { id } }",
            json!({"id": contact}),
        )
        .await;
    let body = answer.expect_code("BAD_USER_INPUT");
    assert_blames(&body, "phone");
    let data = app
        .gql(
            &token,
            "query($id: UUID!) { contact(id: $id) { phone } }",
            json!({"id": contact}),
        )
        .await
        .ok();
    assert_eq!(
        data["contact"]["phone"],
        json!("+33612345678"),
        "a refused update changes nothing"
    );
}

async fn deleting_keeps_invoices(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let with_sales = app.customer(&token, "Has invoices").await;
    let contact = app
        .contact(&token, with_sales, "Ann", "ann@acme.example")
        .await;
    let sale = app
        .sale(&token, with_sales, "5.00", "2026-05-01T00:00:00Z")
        .await;
    app.gql(&token, "mutation($s: UUID!, $c: UUID!) { updateSale(id: $s, input: {contactId: $c}) { contactId } }", json!({"s": sale, "c": contact})).await.ok();
    let answer = app
        .gql(
            &token,
            "mutation($id: UUID!) { deleteCustomer(id: $id) }",
            json!({"id": with_sales}),
        )
        .await;
    answer.expect_code("CONFLICT");
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM customers").await, 1);
    // Deleting the contact keeps the sale, now linked to the customer only.
    let data = app
        .gql(
            &token,
            "mutation($id: UUID!) { deleteContact(id: $id) }",
            json!({"id": contact}),
        )
        .await
        .ok();
    assert_eq!(data["deleteContact"], json!(contact));
    let data = app
        .gql(
            &token,
            "query($id: UUID!) { sale(id: $id) { contactId contact { id } customer { id } } }",
            json!({"id": sale}),
        )
        .await
        .ok();
    assert_eq!(
        data["sale"],
        json!({"contactId": null, "contact": null, "customer": {"id": with_sales}})
    );
    // A customer without sales is deleted with its contacts.
    let empty = app.customer(&token, "No invoices").await;
    app.contact(&token, empty, "Bo", "bo@acme.example").await;
    let data = app
        .gql(
            &token,
            "mutation($id: UUID!) { deleteCustomer(id: $id) }",
            json!({"id": empty}),
        )
        .await
        .ok();
    assert_eq!(data["deleteCustomer"], json!(empty));
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM contacts").await, 0);
    app.gql(
        &token,
        "mutation($id: UUID!) { deleteCustomer(id: $id) }",
        json!({"id": empty}),
    )
    .await
    .expect_code("NOT_FOUND");
}

on_both_backends!(
    every_validation_rule_refuses_before_writing,
    strings_and_amounts_round_trip_exactly,
    updates_change_only_the_given_fields_and_null_clears,
    deleting_keeps_invoices,
);
