//! Tenant isolation through every path: another tenant's rows answer exactly like missing
//! ones, and nothing of theirs ever appears in a response body.

use serde_json::json;
use tests::*;
use uuid::Uuid;

/// Two tenants with a customer, a contact and a sale each.
struct World {
    app: TestApp,
    a_customer: Uuid,
    a_contact: Uuid,
    a_sale: Uuid,
    b_customer: Uuid,
    b_contact: Uuid,
    b_sale: Uuid,
}

async fn world(backend: Backend) -> World {
    let app = spawn_app(backend).await;
    let (ta, tb) = (app.agent_a(), app.agent_b());
    let a_customer = app.customer(&ta, "Alpha Customer").await;
    let a_contact = app
        .contact(&ta, a_customer, "Alice", "alice@alpha.example")
        .await;
    let a_sale = app
        .sale(&ta, a_customer, "100.00", "2026-01-10T10:00:00Z")
        .await;
    let b_customer = app.customer(&tb, "Beta Secret Customer").await;
    let b_contact = app
        .contact(&tb, b_customer, "Bob", "bob@beta.example")
        .await;
    let b_sale = app
        .sale(&tb, b_customer, "999.99", "2026-02-10T10:00:00Z")
        .await;
    World {
        app,
        a_customer,
        a_contact,
        a_sale,
        b_customer,
        b_contact,
        b_sale,
    }
}

impl World {
    /// Nothing identifying tenant B appears in a response to tenant A.
    fn assert_no_b(&self, body: &serde_json::Value) {
        let text = body.to_string();
        for secret in [
            self.b_customer.to_string(),
            self.b_contact.to_string(),
            self.b_sale.to_string(),
            "Beta Secret Customer".into(),
            "bob@beta.example".into(),
            "999.99".into(),
        ] {
            assert!(
                !text.contains(&secret),
                "tenant B's {secret} leaked: {text}"
            );
        }
    }
}

async fn another_tenants_ids_answer_like_missing_ones(backend: Backend) {
    let w = world(backend).await;
    let token = w.app.agent_a();
    let q = "query($c: UUID!, $p: UUID!, $s: UUID!) { customer(id: $c) { id name } contact(id: $p) { id email } sale(id: $s) { id amount } }";
    let theirs = w
        .app
        .gql(
            &token,
            q,
            json!({"c": w.b_customer, "p": w.b_contact, "s": w.b_sale}),
        )
        .await;
    let missing = w
        .app
        .gql(
            &token,
            q,
            json!({"c": Uuid::now_v7(), "p": Uuid::now_v7(), "s": Uuid::now_v7()}),
        )
        .await;
    assert_eq!(theirs.body, missing.body);
    assert_eq!(
        theirs.body,
        json!({"data": {"customer": null, "contact": null, "sale": null}})
    );
    // Our own ids do resolve, so the query is not simply broken.
    let ours = w
        .app
        .gql(
            &token,
            q,
            json!({"c": w.a_customer, "p": w.a_contact, "s": w.a_sale}),
        )
        .await
        .ok();
    assert_eq!(ours["customer"]["id"], json!(w.a_customer));
}

async fn lists_filters_nested_paths_and_stats_stay_in_the_tenant(backend: Backend) {
    let w = world(backend).await;
    let token = w.app.agent_a();
    let q = r#"query($b: UUID!) {
        customers { totalCount edges { node { id name stats { salesCount totalSpent { amount } }
            contacts { totalCount edges { node { id email customer { id } } } }
            sales { totalCount edges { node { id amount contact { id } customer { id } } } } } } }
        byId: customers(filter: {id: {eq: $b}}) { totalCount edges { node { id } } }
        byName: customers(filter: {name: {contains: "Secret"}}) { totalCount }
        contacts { totalCount edges { node { id email customer { name } } } }
        theirContacts: contacts(filter: {customerId: {eq: $b}}) { totalCount }
        sales { totalCount edges { node { id amount } } }
        theirSales: sales(filter: {customerId: {in: [$b]}}) { totalCount }
    }"#;
    let answer = w.app.gql(&token, q, json!({"b": w.b_customer})).await;
    w.assert_no_b(&answer.body);
    let data = answer.ok();
    assert_eq!(data["customers"]["totalCount"], json!(1));
    assert_eq!(
        data["customers"]["edges"][0]["node"]["stats"]["salesCount"],
        json!(1)
    );
    assert_eq!(
        data["customers"]["edges"][0]["node"]["contacts"]["totalCount"],
        json!(1)
    );
    for empty in ["byId", "byName", "theirContacts", "theirSales"] {
        assert_eq!(data[empty]["totalCount"], json!(0), "{empty}");
    }
    assert_eq!(data["contacts"]["totalCount"], json!(1));
    assert_eq!(data["sales"]["totalCount"], json!(1));
}

async fn cursors_from_another_tenant_or_forged_are_refused(backend: Backend) {
    let w = world(backend).await;
    let q = "query($after: String) { customers(first: 1, after: $after) { edges { cursor node { id } } } }";
    let b_page = w.app.gql(&w.app.agent_b(), q, json!({})).await.ok();
    let b_cursor = b_page["customers"]["edges"][0]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let answer = w
        .app
        .gql(&w.app.agent_a(), q, json!({"after": b_cursor}))
        .await;
    w.assert_no_b(&answer.body);
    answer.expect_code("BAD_USER_INPUT");
    // A hand-made cursor pointing at tenant B's customer, with a made-up signature.
    use base64::Engine;
    let payload = json!({"o": "customers:id:asc", "v": [{"U": w.b_customer}]}).to_string();
    let forged = format!(
        "{}.AAAAAAAAAAAAAAAAAAAAAA",
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(payload)
    );
    w.app
        .gql(&w.app.agent_a(), q, json!({"after": forged}))
        .await
        .expect_code("BAD_USER_INPUT");
    w.app
        .gql(&w.app.agent_a(), q, json!({"after": "garbage"}))
        .await
        .expect_code("BAD_USER_INPUT");
    // A cursor of another ordering is refused too.
    let by_name = w
        .app
        .gql(
            &w.app.agent_a(),
            "{ customers(first: 1, orderBy: [{field: NAME}]) { edges { cursor } } }",
            json!({}),
        )
        .await
        .ok();
    let name_cursor = by_name["customers"]["edges"][0]["cursor"].clone();
    w.app
        .gql(&w.app.agent_a(), q, json!({"after": name_cursor}))
        .await
        .expect_code("BAD_USER_INPUT");
}

async fn writes_cannot_reach_another_tenants_rows(backend: Backend) {
    let w = world(backend).await;
    let token = w.app.agent_a();
    let attempts = [
        (
            "mutation($id: UUID!) { updateCustomer(id: $id, input: {name: \"Pwned\"}) { id } }",
            w.b_customer,
        ),
        (
            "mutation($id: UUID!) { deleteCustomer(id: $id) }",
            w.b_customer,
        ),
        (
            "mutation($id: UUID!) { updateContact(id: $id, input: {email: \"x@evil.example\"}) { id } }",
            w.b_contact,
        ),
        (
            "mutation($id: UUID!) { deleteContact(id: $id) }",
            w.b_contact,
        ),
        (
            "mutation($id: UUID!) { updateSale(id: $id, input: {sku: \"PWNED\"}) { id } }",
            w.b_sale,
        ),
        ("mutation($id: UUID!) { deleteSale(id: $id) }", w.b_sale),
    ];
    for (mutation, id) in attempts {
        let answer = w.app.gql(&token, mutation, json!({"id": id})).await;
        w.assert_no_b(&answer.body);
        answer.expect_code("NOT_FOUND");
    }
    // Creating under their customer, or linking their contact, is NOT_FOUND too.
    let answer = w.app.gql(&token, "mutation($c: UUID!) { createContact(input: {customerId: $c, firstName: \"Eve\"}) { id } }", json!({"c": w.b_customer})).await;
    answer.expect_code("NOT_FOUND");
    let answer = w.app.gql(&token, "mutation($c: UUID!) { createSale(input: {customerId: $c, sku: \"S\", amount: \"1\"}) { id } }", json!({"c": w.b_customer})).await;
    answer.expect_code("NOT_FOUND");
    let answer = w.app.gql(&token, "mutation($c: UUID!, $p: UUID!) { createSale(input: {customerId: $c, contactId: $p, sku: \"S\", amount: \"1\"}) { id } }", json!({"c": w.a_customer, "p": w.b_contact})).await;
    answer.expect_code("NOT_FOUND");
    let answer = w.app.gql(&token, "mutation($id: UUID!, $c: UUID!) { updateContact(id: $id, input: {customerId: $c}) { id } }", json!({"id": w.a_contact, "c": w.b_customer})).await;
    answer.expect_code("NOT_FOUND");
    // A forged tenant in the input is not even a field.
    let answer = w.app.gql(&token, "mutation($t: UUID!) { createCustomer(input: {name: \"X\", country: \"FR\", tenantId: $t}) { id } }", json!({"t": w.b_customer})).await;
    answer.expect_code("GRAPHQL_VALIDATION_FAILED");
    // Tenant B's rows are exactly as they were.
    let data = w.app.gql(&w.app.agent_b(), "query($c: UUID!, $p: UUID!, $s: UUID!) { customer(id: $c) { name } contact(id: $p) { email } sale(id: $s) { sku amount } }", json!({"c": w.b_customer, "p": w.b_contact, "s": w.b_sale})).await.ok();
    assert_eq!(
        data,
        json!({"customer": {"name": "Beta Secret Customer"}, "contact": {"email": "bob@beta.example"}, "sale": {"sku": "SKU-1", "amount": "999.99"}})
    );
    assert_eq!(w.app.admin_count("SELECT COUNT(*) FROM contacts").await, 2);
    assert_eq!(w.app.admin_count("SELECT COUNT(*) FROM sales").await, 2);
}

async fn the_database_refuses_cross_tenant_references(backend: Backend) {
    let w = world(backend).await;
    // Even written directly, a contact of tenant A under tenant B's customer is refused by the
    // composite foreign key.
    let sql = format!(
        "INSERT INTO contacts (tenant_id, id, customer_id, created_at, updated_at) VALUES ({}, {}, {}, '2026-01-01T00:00:00Z', '2026-01-01T00:00:00Z')",
        w.app.uuid_literal(w.app.a.id),
        w.app.uuid_literal(Uuid::now_v7()),
        w.app.uuid_literal(w.b_customer),
    );
    let err = w
        .app
        .admin_exec(&sql)
        .await
        .expect_err("cross-tenant reference refused");
    assert!(
        err.to_string().to_lowercase().contains("foreign key"),
        "{err}"
    );
}

async fn row_level_security_is_a_second_wall_on_postgres(backend: Backend) {
    let w = world(backend).await;
    use sea_orm::{ConnectionTrait, Database, Statement, TransactionTrait};
    // Connect as the API's role, which has no BYPASSRLS, and query without the API's filter.
    let url = std::env::var("DOSSIER_TEST_PG_URL").expect("pg url");
    let admin_url = std::env::var("DOSSIER_TEST_PG_ADMIN_URL").expect("admin url");
    let name = w
        .app
        .admin
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT current_database()".to_owned(),
        ))
        .await
        .expect("q")
        .expect("row")
        .try_get_by_index::<String>(0)
        .expect("name");
    assert!(admin_url.contains("postgres"));
    let db = Database::connect(format!("{url}/{name}"))
        .await
        .expect("api role");
    let txn = db.begin().await.expect("txn");
    // No tenant set: nothing is visible, and nothing can be written.
    assert_eq!(count(&txn, "SELECT COUNT(*) FROM customers").await, 0);
    txn.rollback().await.expect("rollback");
    let txn = db.begin().await.expect("txn");
    txn.execute_unprepared(&format!(
        "SELECT set_config('app.tenant_id', '{}', true)",
        w.app.a.id
    ))
    .await
    .expect("set");
    assert_eq!(count(&txn, "SELECT COUNT(*) FROM customers").await, 1);
    assert_eq!(count(&txn, "SELECT COUNT(*) FROM tenants").await, 1);
    let err = txn
        .execute_unprepared(&format!(
            "UPDATE customers SET name = 'x' WHERE id = '{}'",
            w.b_customer
        ))
        .await
        .expect("update runs");
    assert_eq!(
        err.rows_affected(),
        0,
        "tenant B's row is invisible to tenant A's transaction"
    );
    let insert = txn
        .execute_unprepared(&format!("INSERT INTO customers (tenant_id, id, name, country, created_at, updated_at) VALUES ('{}', '{}', 'x', 'FR', now(), now())", w.app.b.id, Uuid::now_v7()))
        .await;
    assert!(
        insert.is_err(),
        "a row of tenant B cannot be inserted from tenant A's transaction"
    );
}

on_both_backends!(
    another_tenants_ids_answer_like_missing_ones,
    lists_filters_nested_paths_and_stats_stay_in_the_tenant,
    cursors_from_another_tenant_or_forged_are_refused,
    writes_cannot_reach_another_tenants_rows,
    the_database_refuses_cross_tenant_references,
);

async fn count(db: &sea_orm::DatabaseTransaction, sql: &str) -> i64 {
    use sea_orm::{ConnectionTrait, Statement};
    let stmt = Statement::from_string(sea_orm::DbBackend::Postgres, sql.to_owned());
    db.query_one_raw(stmt)
        .await
        .expect("query")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("int")
}

on_postgres!(row_level_security_is_a_second_wall_on_postgres);
