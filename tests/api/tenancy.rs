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
    world_on(spawn_app(backend).await).await
}

async fn world_on(app: TestApp) -> World {
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

/// Tenant A's row in every tenant table: the world's customer, contact and sale, plus a
/// consent, an interaction, a segment, the customer aggregates, an erasure, a legal hold, a processing purpose, audit events and an audit anchor.
async fn world_in_every_table(backend: Backend) -> World {
    // No periodic fold: the aggregates' queue keeps the world's rows.
    let w = world_on(spawn_app_with(backend, |config| config.stats_fold_ms = 0).await).await;
    let app = &w.app;
    let (agent, officer) = (app.agent_a(), app.token(app.a.id, "compliance"));
    app.gql(
        &agent,
        "mutation($c: UUID!) { recordConsent(input: {contactId: $c, purpose: \"marketing_email\", granted: true, source: \"web\"}) { id } }",
        json!({"c": w.a_contact}),
    )
    .await
    .ok();
    let leaving = app
        .contact(&agent, w.a_customer, "Leaving", "leaving@alpha.example")
        .await;
    app.gql(
        &officer,
        "mutation($c: UUID!) { eraseContact(contactId: $c, reason: \"Art. 17\") { id } }",
        json!({"c": leaving}),
    )
    .await
    .ok();
    app.gql(
        &officer,
        "mutation { setProcessingPurpose(input: {name: \"invoicing\", description: \"d\", legalBasis: CONTRACT, fields: [\"Contact.email\"]}) { name } }",
        json!({}),
    )
    .await
    .ok();
    app.gql(
        &agent,
        "mutation($c: UUID!, $p: UUID!) { createInteraction(input: {customerId: $c, contactId: $p, kind: CALL, summary: \"notes\"}) { id } }",
        json!({"c": w.a_customer, "p": w.a_contact}),
    )
    .await
    .ok();
    app.gql(
        &agent,
        "mutation { createSegment(input: {name: \"Everyone\", filter: {}}) { id } }",
        json!({}),
    )
    .await
    .ok();
    let held = app.customer(&agent, "Held").await;
    app.gql(
        &officer,
        "mutation($c: UUID!) { placeLegalHold(input: {entity: CUSTOMER, entityId: $c, reason: \"case 7\"}) { id } }",
        json!({"c": held}),
    )
    .await
    .ok();
    // Where the schema has identity providers, the tenant registers one.
    let providers = app
        .admin_count(
            "SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'identity_providers'",
        )
        .await;
    if providers > 0 {
        let keys = std::fs::read_to_string(fixture("jwks.json")).expect("jwks");
        app.gql(
            &app.token(app.a.id, "admin"),
            "mutation($keys: String!) { registerIdentityProvider(input: {name: \"Partner\", issuer: \"https://idp.partner.example\", keys: $keys, roles: [PARTNER], scopes: [\"customers:read\"]}) { id } }",
            json!({ "keys": keys }),
        )
        .await
        .ok();
    }
    // Anchors are only written when old events are pruned: one is written here directly.
    app.admin_exec(&format!(
        "INSERT INTO audit_anchors (tenant_id, id, seq, hash, last_at, pruned_at, pruned_by) \
         VALUES ('{}', '{}', 1, '{}', now(), now(), 'test')",
        app.a.id,
        Uuid::now_v7(),
        "0".repeat(64)
    ))
    .await
    .expect("an anchor of tenant A");
    w
}

/// A connection as the schema owner, when it is another role than the API's (scripts/test.sh
/// then exports its URL): a role that row-level security binds as well.
async fn owner_connection(database: &str) -> sea_orm::DatabaseConnection {
    use sea_orm::{ConnectionTrait, DbBackend, Statement};
    let url = std::env::var("DOSSIER_TEST_PG_OWNER_URL").expect(
        "the API's role may not insert here, so the owner's must: DOSSIER_TEST_PG_OWNER_URL",
    );
    let owner = sea_orm::Database::connect(format!("{url}/{database}"))
        .await
        .expect("owner connection");
    let role = owner
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT rolsuper OR rolbypassrls FROM pg_roles WHERE rolname = current_user".to_owned(),
        ))
        .await
        .expect("role query")
        .expect("the owner is in pg_roles")
        .try_get_by_index::<bool>(0)
        .expect("bool");
    assert!(!role, "the owner bypasses row-level security");
    owner
}

/// The SQLSTATE of a database error, if it is one.
fn sqlstate(err: &sea_orm::DbErr) -> Option<String> {
    use sea_orm::{DbErr, RuntimeErr};
    match err {
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => e
            .as_database_error()
            .and_then(|d| d.code())
            .map(|c| c.into_owned()),
        _ => None,
    }
}

/// Runs `sql` in a transaction of its own on `db` (as its role), with `tenant` set as the API
/// sets it (or nothing set), and rolls back.
async fn as_role(
    db: &sea_orm::DatabaseConnection,
    tenant: Option<Uuid>,
    sql: &str,
) -> Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr> {
    use sea_orm::{ConnectionTrait, DbBackend, Statement, TransactionTrait};
    let txn = match tenant {
        Some(tenant) => on_tenant(db, tenant).await.expect("set the tenant"),
        None => db.begin().await.expect("txn"),
    };
    let result = txn
        .query_all_raw(Statement::from_string(DbBackend::Postgres, sql.to_owned()))
        .await;
    txn.rollback().await.expect("rollback");
    result
}

async fn count_as_role(db: &sea_orm::DatabaseConnection, tenant: Option<Uuid>, sql: &str) -> i64 {
    as_role(db, tenant, sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"))[0]
        .try_get_by_index::<i64>(0)
        .expect("a count")
}

/// Asserts that `sql` was refused by a row-level security policy of `table`, and by nothing
/// else: a missing privilege or a constraint would fail it for another reason.
fn assert_rls_refusal(
    result: Result<Vec<sea_orm::QueryResult>, sea_orm::DbErr>,
    table: &str,
    what: &str,
) {
    let err = match result {
        Ok(_) => panic!("{what}: the insert into {table} was accepted"),
        Err(err) => err,
    };
    assert_eq!(sqlstate(&err).as_deref(), Some("42501"), "{what}: {err}");
    assert!(
        err.to_string().contains(&format!(
            "new row violates row-level security policy for table \"{table}\""
        )),
        "{what}: {err}"
    );
}

async fn row_level_security_is_a_second_wall_on_postgres(backend: Backend) {
    let w = world_in_every_table(backend).await;
    let app = &w.app;
    use sea_orm::{ConnectionTrait, Database, DbBackend, Statement};
    // The application's own connection runs as a role that row-level security binds: not a
    // superuser, no BYPASSRLS.
    let role = app
        .db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_user::text, rolsuper, rolbypassrls FROM pg_roles WHERE rolname = current_user".to_owned(),
        ))
        .await
        .expect("role query")
        .expect("the app's role is in pg_roles");
    let (name, superuser, bypass): (String, bool, bool) = (
        role.try_get_by_index(0).expect("name"),
        role.try_get_by_index(1).expect("rolsuper"),
        role.try_get_by_index(2).expect("rolbypassrls"),
    );
    assert!(!superuser, "the API's role {name} is a superuser");
    assert!(!bypass, "the API's role {name} has BYPASSRLS");

    // Connect as the API's role, and query without the API's filter.
    let url = std::env::var("DOSSIER_TEST_PG_URL").expect("pg url");
    let database = app.database.clone().expect("a PostgreSQL database");
    let db = Database::connect(format!("{url}/{database}"))
        .await
        .expect("api role");
    let current_user = db
        .query_one_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT current_user::text".to_owned(),
        ))
        .await
        .expect("q")
        .expect("row")
        .try_get_by_index::<String>(0)
        .expect("name");
    assert_eq!(current_user, name, "this connection has the app's role");

    // Every table that holds a tenant's rows, as the database lists them, and the tenants.
    let tables: Vec<String> = app
        .admin
        .query_all_raw(Statement::from_string(
            DbBackend::Postgres,
            "SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace \
             JOIN pg_attribute a ON a.attrelid = c.oid \
             WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attname = 'tenant_id' \
             AND NOT a.attisdropped ORDER BY 1"
                .to_owned(),
        ))
        .await
        .expect("tables")
        .iter()
        .map(|row| row.try_get_by_index::<String>(0).expect("name"))
        .chain(["tenants".to_owned()])
        .collect();
    for known in [
        "customers",
        "contacts",
        "sales",
        "audit_events",
        "audit_anchors",
        "consents",
        "erasures",
        "legal_holds",
        "processing_purposes",
    ] {
        assert!(
            tables.iter().any(|t| t == known),
            "{known} not in {tables:?}"
        );
    }

    let (a, b) = (app.a.id, app.b.id);
    let mut owner = None;
    for table in &tables {
        let key = if table == "tenants" {
            "id"
        } else {
            "tenant_id"
        };
        let of_a = format!("SELECT COUNT(*) FROM {table} WHERE {key} = '{a}'");
        let held = app.admin_count(&of_a).await;
        assert!(
            held > 0,
            "tenant A has no row in {table}: add one to the world, or its wall goes unchecked"
        );
        let readable = count_as_role(
            &db,
            None,
            &format!("SELECT COUNT(*) FROM (SELECT 1 WHERE has_table_privilege('{table}', 'SELECT')) AS p"),
        )
        .await
            == 1;
        if !readable {
            // The search documents are read and written only by the owner's functions (see
            // `migration::search`): the API's role is refused the table outright, and what
            // `dossier_search()` returns is checked below.
            assert_eq!(table, "search_docs", "a table the API's role cannot read");
            let err = as_role(&db, Some(a), &of_a)
                .await
                .expect_err("the API's role may not read it");
            assert!(
                err.to_string()
                    .contains(&format!("permission denied for table {table}")),
                "{table}: {err}"
            );
            continue;
        }
        // Another tenant set, or none: nothing of tenant A is visible.
        assert_eq!(
            count_as_role(&db, Some(b), &of_a).await,
            0,
            "{table} with tenant B set"
        );
        assert_eq!(
            count_as_role(&db, None, &format!("SELECT COUNT(*) FROM {table}")).await,
            0,
            "{table} with no tenant set"
        );
        // The same query sees them with tenant A set: the role can read the table at all.
        assert_eq!(
            count_as_role(&db, Some(a), &of_a).await,
            held,
            "{table} with tenant A set"
        );

        // A copy of one of tenant A's rows (under a new id) cannot be written with tenant B
        // set, nor with no tenant.
        let row = app
            .admin
            .query_one_raw(Statement::from_string(
                DbBackend::Postgres,
                format!("SELECT row_to_json(t)::text FROM {table} t WHERE {key} = '{a}' LIMIT 1"),
            ))
            .await
            .expect("a row of A")
            .expect("a row of A")
            .try_get_by_index::<String>(0)
            .expect("json");
        let mut row: serde_json::Value = serde_json::from_str(&row).expect("row json");
        if table != "tenants" && row.get("id").is_some() {
            row["id"] = json!(Uuid::now_v7());
        }
        if table == "audit_events" {
            // An event is inserted unsealed: its trigger refuses chain columns, before the
            // policy is consulted.
            for column in ["seq", "prev_hash", "hash", "seal"] {
                row[column] = serde_json::Value::Null;
            }
        }
        let insert = format!(
            "INSERT INTO {table} SELECT * FROM json_populate_record(NULL::{table}, '{}'::json)",
            row.to_string().replace('\'', "''")
        );
        // The wall is row-level security for whichever role may insert into the table at
        // all: the API's role, or else the owner (which row-level security binds too, being
        // FORCEd), while the API's role is refused the table outright.
        let may_insert = count_as_role(
            &db,
            None,
            &format!("SELECT COUNT(*) FROM (SELECT 1 WHERE has_table_privilege('{table}', 'INSERT')) AS p"),
        )
        .await
            == 1;
        let writer = if may_insert {
            &db
        } else {
            let err = as_role(&db, Some(a), &insert)
                .await
                .expect_err("the API's role may not insert");
            assert!(
                err.to_string()
                    .contains(&format!("permission denied for table {table}")),
                "{table}: {err}"
            );
            if owner.is_none() {
                owner = Some(owner_connection(&database).await);
            }
            owner.as_ref().expect("the owner's connection")
        };
        assert_rls_refusal(
            as_role(writer, Some(b), &insert).await,
            table,
            "tenant A's row with tenant B set",
        );
        assert_rls_refusal(
            as_role(writer, None, &insert).await,
            table,
            "tenant A's row with no tenant set",
        );
    }

    // The search sees the transaction's tenant's documents only: tenant A's Alice is found
    // with tenant A set, not with tenant B set nor with none.
    let search = "SELECT COUNT(*) FROM dossier_search('contacts', 'alice', 10)";
    assert_eq!(
        count_as_role(&db, Some(a), search).await,
        1,
        "found in her tenant"
    );
    assert_eq!(
        count_as_role(&db, Some(b), search).await,
        0,
        "with tenant B set"
    );
    assert_eq!(
        count_as_role(&db, None, search).await,
        0,
        "with no tenant set"
    );

    // Tenant B's rows cannot be changed from tenant A's transaction either.
    let updated = as_role(
        &db,
        Some(a),
        &format!(
            "WITH changed AS (UPDATE customers SET name = 'x' WHERE id = '{}' RETURNING 1) SELECT COUNT(*) FROM changed",
            w.b_customer
        ),
    )
    .await
    .expect("update runs")[0]
        .try_get_by_index::<i64>(0)
        .expect("count");
    assert_eq!(
        updated, 0,
        "tenant B's row is invisible to tenant A's transaction"
    );
    assert_eq!(
        app.admin_count(&format!(
            "SELECT COUNT(*) FROM customers WHERE id = '{}' AND name = 'Beta Secret Customer'",
            w.b_customer
        ))
        .await,
        1
    );
}

on_both_backends!(
    another_tenants_ids_answer_like_missing_ones,
    lists_filters_nested_paths_and_stats_stay_in_the_tenant,
    cursors_from_another_tenant_or_forged_are_refused,
    writes_cannot_reach_another_tenants_rows,
    the_database_refuses_cross_tenant_references,
);

on_postgres!(row_level_security_is_a_second_wall_on_postgres);
