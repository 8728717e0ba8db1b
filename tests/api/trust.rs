//! The promises Dossier's users trust it with, tried as an attacker would: sums that cannot
//! overflow, a success that is a commit, legal holds on every path, write scopes that do not
//! read, claims bounded at the door, and the smaller leaks a review found.

use serde_json::{Value, json};
use tests::*;

fn days_ago(days: i64) -> String {
    (chrono::Utc::now() - chrono::Duration::days(days)).to_rfc3339()
}

async fn stats_are_exact_at_any_amount_the_schema_accepts(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let big = app.customer(&token, "Big Spender").await;
    let small = app.customer(&token, "Small Spender").await;
    // The largest amount a sale accepts, twice: their sum overflows a 64-bit integer.
    let largest = "922337203685477";
    app.sale(&token, big, largest, &days_ago(3)).await;
    app.sale(&token, big, largest, &days_ago(400)).await;
    app.sale(&token, big, "0.01", &days_ago(2)).await;
    app.sale(&token, small, "12.30", &days_ago(1)).await;
    let data = app
        .gql(
            &token,
            "{ customers(orderBy: [{field: NAME}]) { edges { node { name stats {
                salesCount totalSpent { amount currency } spentLast12Months { amount currency }
                lastPurchaseAmount { amount } } } } } }",
            json!({}),
        )
        .await
        .ok();
    let edges = data["customers"]["edges"].as_array().expect("edges");
    let stats = |name: &str| -> Value {
        edges
            .iter()
            .find(|e| e["node"]["name"] == json!(name))
            .map(|e| e["node"]["stats"].clone())
            .unwrap_or_else(|| panic!("{name} on the page: {data}"))
    };
    let big = stats("Big Spender");
    assert_eq!(big["salesCount"], json!(3));
    assert_eq!(
        big["totalSpent"],
        json!([{"amount": "1844674407370954.01", "currency": "EUR"}])
    );
    assert_eq!(
        big["spentLast12Months"],
        json!([{"amount": "922337203685477.01", "currency": "EUR"}])
    );
    assert_eq!(big["lastPurchaseAmount"]["amount"], json!("0.01"));
    assert_eq!(
        stats("Small Spender")["totalSpent"],
        json!([{"amount": "12.30", "currency": "EUR"}]),
        "the other customers of the page keep their stats"
    );
}

on_both_backends!(stats_are_exact_at_any_amount_the_schema_accepts);

/// Invariant 7: a failure after the write, inside the same request, either fails the whole
/// request with no data or leaves the write and its audit event in place — never an id for a
/// row that is gone. The failure is real: the table a nested field reads is dropped under the
/// running server, so the read fails after the insert.
async fn a_failure_after_the_write_never_reports_a_lost_write(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let customer = app.customer(&token, "Acme").await;
    app.admin_exec("DROP TABLE consents")
        .await
        .expect("drop the table the nested field reads");
    let answer = app
        .gql(
            &token,
            "mutation($input: CreateContactInput!) { createContact(input: $input) {
                id consents { purpose } } }",
            json!({"input": {"customerId": customer, "firstName": "Ann"}}),
        )
        .await;
    let contacts = app.admin_count("SELECT COUNT(*) FROM contacts").await;
    let created_events = app
        .admin_count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'CREATE' AND entity = 'Contact'",
        )
        .await;
    let returned = answer.data()["createContact"]["id"]
        .as_str()
        .map(str::to_owned);
    match backend {
        // PostgreSQL aborts the transaction at the failed read: the request must fail whole.
        Backend::Postgres => {
            assert_eq!(answer.codes(), vec!["INTERNAL"], "body: {}", answer.body);
            assert_eq!(returned, None, "no id for a write that did not land");
            assert_eq!((contacts, created_events), (0, 0), "nothing half-written");
        }
        // SQLite keeps the transaction: the write lands with its event, and the error names
        // the field that failed.
        Backend::Sqlite => {
            let id = returned.unwrap_or_else(|| panic!("the id: {}", answer.body));
            assert_eq!(
                (contacts, created_events),
                (1, 1),
                "the write and its event"
            );
            let stored = app
                .admin_count(&format!(
                    "SELECT COUNT(*) FROM contacts WHERE id = {}",
                    app.uuid_literal(id.parse().expect("uuid"))
                ))
                .await;
            assert_eq!(stored, 1, "the returned id is the stored row");
            assert_eq!(answer.codes(), vec!["INTERNAL"]);
            assert_eq!(
                answer.errors()[0]["path"],
                json!(["createContact", "consents"])
            );
        }
    }
}

on_both_backends!(a_failure_after_the_write_never_reports_a_lost_write);

const PLACE_HOLD: &str = "mutation($entity: LegalHoldEntity!, $id: UUID!) {
    placeLegalHold(input: {entity: $entity, entityId: $id, reason: \"litigation 7\"}) { id } }";

/// Asserts a `CONFLICT` that names the legal hold.
fn held(answer: Answer) {
    assert_eq!(answer.codes(), vec!["CONFLICT"], "body: {}", answer.body);
    let message = answer.errors()[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("legal hold"), "{message}");
}

/// Invariant 8: a legal hold on one contact, or on their customer, stops every path that
/// would change or remove the held rows — update, delete, the customer's cascade, erasure —
/// and even SQL run on the database directly; releasing it lets them through again.
async fn a_legal_hold_binds_every_path_that_changes_or_removes_the_row(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let officer = app.token(app.a.id, "compliance");
    let acme = app.customer(&agent, "Acme").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    let ben = app.contact(&agent, acme, "Ben", "ben@acme.example").await;
    let hold = app
        .gql(
            &officer,
            PLACE_HOLD,
            json!({"entity": "CONTACT", "id": ann}),
        )
        .await
        .ok()["placeLegalHold"]["id"]
        .clone();

    let update =
        "mutation($id: UUID!) { updateContact(id: $id, input: {jobTitle: \"CFO\"}) { id } }";
    held(app.gql(&agent, update, json!({"id": ann})).await);
    held(
        app.gql(
            &agent,
            "mutation($id: UUID!) { deleteContact(id: $id) }",
            json!({"id": ann}),
        )
        .await,
    );
    held(
        app.gql(
            &agent,
            "mutation($id: UUID!) { deleteCustomer(id: $id) }",
            json!({"id": acme}),
        )
        .await,
    );
    held(
        app.gql(
            &officer,
            "mutation($id: UUID!) { eraseContact(contactId: $id, reason: \"request\") { id } }",
            json!({"id": ann}),
        )
        .await,
    );
    let direct = app
        .admin_exec(&format!(
            "DELETE FROM contacts WHERE id = {}",
            app.uuid_literal(ann)
        ))
        .await
        .expect_err("the database itself refuses");
    assert!(
        direct.to_string().contains("dossier_legal_hold"),
        "{direct}"
    );
    if app.backend == Backend::Postgres {
        // The API's role, with a temporary table of the same name first in its search path:
        // the triggers read the real holds still.
        use sea_orm::ConnectionTrait;
        let txn = on_tenant(&app.db, app.a.id).await.expect("tenant");
        // (Production databases refuse temporary tables to the runtime role; databases
        // copied from a template, as the tests' are, do not inherit that.)
        let shadow = txn
            .execute_unprepared(
                "CREATE TEMP TABLE legal_holds (tenant_id uuid, entity_id uuid, released_at timestamptz)",
            )
            .await;
        if shadow.is_ok() {
            let refused = txn
                .execute_unprepared(&format!(
                    "UPDATE contacts SET job_title = 'shadowed' WHERE id = '{ann}'"
                ))
                .await
                .expect_err("the hold still binds");
            assert!(
                refused.to_string().contains("dossier_legal_hold"),
                "{refused}"
            );
        }
        txn.rollback().await.expect("rollback");
    }
    // The hold itself can only be released: not moved to another row, not deleted.
    for sql in [
        format!(
            "UPDATE legal_holds SET entity_id = {}",
            app.uuid_literal(ben)
        ),
        "UPDATE legal_holds SET reason = 'nothing'".to_owned(),
        "DELETE FROM legal_holds".to_owned(),
    ] {
        let refused = app.admin_exec(&sql).await.expect_err(&sql);
        assert!(
            refused.to_string().contains("dossier_legal_hold"),
            "{sql}: {refused}"
        );
    }
    // The rest of the file is not held: Ben changes, and the customer's own row too.
    app.gql(&agent, update, json!({"id": ben})).await.ok();
    app.gql(
        &agent,
        "mutation($id: UUID!) { updateCustomer(id: $id, input: {name: \"Acme SA\"}) { id } }",
        json!({"id": acme}),
    )
    .await
    .ok();
    let still = app
        .gql(
            &agent,
            "query($id: UUID!) { contact(id: $id) { jobTitle firstName } }",
            json!({"id": ann}),
        )
        .await
        .ok();
    assert_eq!(
        still["contact"],
        json!({"jobTitle": null, "firstName": "Ann"})
    );

    app.gql(
        &officer,
        "mutation($id: UUID!) { releaseLegalHold(id: $id) { id } }",
        json!({"id": hold}),
    )
    .await
    .ok();
    app.gql(&agent, update, json!({"id": ann})).await.ok();

    // A hold on the customer covers the customer and every one of its people.
    app.gql(
        &officer,
        PLACE_HOLD,
        json!({"entity": "CUSTOMER", "id": acme}),
    )
    .await
    .ok();
    held(app.gql(&agent, update, json!({"id": ben})).await);
    held(
        app.gql(
            &agent,
            "mutation($id: UUID!) { updateCustomer(id: $id, input: {name: \"Gone\"}) { id } }",
            json!({"id": acme}),
        )
        .await,
    );
    held(
        app.gql(
            &agent,
            "mutation($id: UUID!) { deleteCustomer(id: $id) }",
            json!({"id": acme}),
        )
        .await,
    );
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM contacts").await, 2);
    // Another customer is free.
    let other = app.customer(&agent, "Other").await;
    app.gql(
        &agent,
        "mutation($id: UUID!) { deleteCustomer(id: $id) }",
        json!({"id": other}),
    )
    .await
    .ok();
}

on_both_backends!(a_legal_hold_binds_every_path_that_changes_or_removes_the_row);

/// A held person's invoices and consent history are part of the held record: their sales
/// can be neither changed nor deleted, and no consent decision removed (new ones may be
/// added: history grows, nothing is lost).
async fn a_legal_hold_keeps_the_persons_sales_and_consents(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let officer = app.token(app.a.id, "compliance");
    let acme = app.customer(&agent, "Acme").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    let sale = uuid(
        &app.gql(
            &agent,
            "mutation($c: UUID!, $p: UUID!) { createSale(input: {customerId: $c, contactId: $p, sku: \"S\", amount: \"5\", currency: \"EUR\"}) { id } }",
            json!({"c": acme, "p": ann}),
        )
        .await
        .ok()["createSale"]["id"],
    );
    let consent =
        "mutation($c: UUID!) { recordConsent(input: {contactId: $c, purpose: \"newsletter\",
        granted: true, legalBasis: CONSENT, source: \"form\"}) { id } }";
    app.gql(&agent, consent, json!({"c": ann})).await.ok();
    app.gql(
        &officer,
        PLACE_HOLD,
        json!({"entity": "CONTACT", "id": ann}),
    )
    .await
    .ok();
    held(
        app.gql(
            &agent,
            "mutation($id: UUID!) { updateSale(id: $id, input: {sku: \"X\"}) { id } }",
            json!({"id": sale}),
        )
        .await,
    );
    held(
        app.gql(
            &agent,
            "mutation($id: UUID!) { deleteSale(id: $id) }",
            json!({"id": sale}),
        )
        .await,
    );
    let removed = app
        .admin_exec("DELETE FROM consents")
        .await
        .expect_err("consent history is kept");
    assert!(
        removed.to_string().contains("dossier_legal_hold"),
        "{removed}"
    );
    app.gql(&agent, consent, json!({"c": ann})).await.ok();
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM consents").await, 2);
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM sales").await, 1);
}

on_both_backends!(a_legal_hold_keeps_the_persons_sales_and_consents);

/// DESIGN §4: write scopes do not imply read. A writer without the read scope gets back the
/// id of what it wrote and nothing more — not through a fragment, not with `pii:read` — and
/// an update that names no field changes nothing.
async fn write_scopes_do_not_read_and_empty_updates_change_nothing(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    let writer = app.token_with(app.a.id, "partner", "contacts:write pii:read");
    let before = app
        .admin_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'UPDATE' AND CAST(entity_ids AS TEXT) LIKE '%{ann}%'"
        ))
        .await;
    for query in [
        "mutation($id: UUID!) { updateContact(id: $id, input: {jobTitle: \"CFO\"}) { id email phone birthday } }",
        "mutation($id: UUID!) { updateContact(id: $id, input: {jobTitle: \"CFO\"}) { id ...F } } fragment F on Contact { lastName }",
        "mutation($id: UUID!) { updateContact(id: $id, input: {jobTitle: \"CFO\"}) { ... on Contact { createdAt } } }",
    ] {
        let answer = app.gql(&writer, query, json!({"id": ann})).await;
        assert_eq!(
            answer.codes(),
            vec!["FORBIDDEN"],
            "{query}: {}",
            answer.body
        );
        assert_eq!(answer.errors()[0]["path"], json!(["updateContact"]));
        assert!(
            !answer.body.to_string().contains("ann@acme"),
            "{}",
            answer.body
        );
    }
    let create = app
        .gql(
            &writer,
            "mutation($c: UUID!) { createContact(input: {customerId: $c, email: \"zoe@acme.example\"}) { email } }",
            json!({"c": acme}),
        )
        .await;
    assert_eq!(create.codes(), vec!["FORBIDDEN"], "{}", create.body);
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM contacts").await,
        1,
        "refused before anything was written"
    );
    // The id alone is the writer's to know.
    let done = app
        .gql(
            &writer,
            "mutation($id: UUID!) { updateContact(id: $id, input: {jobTitle: \"CFO\"}) { id __typename } }",
            json!({"id": ann}),
        )
        .await
        .ok();
    assert_eq!(done["updateContact"]["id"], json!(ann));

    let updated_at = |data: &Value| data["contact"]["updatedAt"].clone();
    let read = "query($id: UUID!) { contact(id: $id) { updatedAt jobTitle } }";
    let first = app.gql(&agent, read, json!({"id": ann})).await.ok();
    let empty = app
        .gql(
            &agent,
            "mutation($id: UUID!) { updateContact(id: $id, input: {}) { id } }",
            json!({"id": ann}),
        )
        .await;
    assert_eq!(empty.codes(), vec!["BAD_USER_INPUT"], "{}", empty.body);
    for (update, id) in [(
        "mutation($id: UUID!) { updateCustomer(id: $id, input: {}) { id } }",
        acme,
    )] {
        let answer = app.gql(&agent, update, json!({"id": id})).await;
        assert_eq!(answer.codes(), vec!["BAD_USER_INPUT"], "{}", answer.body);
    }
    let second = app.gql(&agent, read, json!({"id": ann})).await.ok();
    assert_eq!(
        updated_at(&first),
        updated_at(&second),
        "the retention clock did not move"
    );
    assert_eq!(second["contact"]["jobTitle"], json!("CFO"));
    let after = app
        .admin_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'UPDATE' AND CAST(entity_ids AS TEXT) LIKE '%{ann}%'"
        ))
        .await;
    assert_eq!(
        after - before,
        1,
        "one update landed: the one that asked back its id"
    );
}

on_both_backends!(write_scopes_do_not_read_and_empty_updates_change_nothing);

/// A contact with sales stays with the customer those sales name, and a customer whose
/// people still have sales elsewhere cannot be deleted: `CONFLICT`, not `NOT_FOUND`.
async fn people_with_sales_keep_their_customer(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let globex = app.customer(&agent, "Globex").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    let ben = app.contact(&agent, acme, "Ben", "ben@acme.example").await;
    app.gql(
        &agent,
        "mutation($c: UUID!, $p: UUID!) { createSale(input: {customerId: $c, contactId: $p, sku: \"S\", amount: \"5\", currency: \"EUR\"}) { id } }",
        json!({"c": acme, "p": ann}),
    )
    .await
    .ok();
    let move_to = "mutation($id: UUID!, $c: UUID!) { updateContact(id: $id, input: {customerId: $c}) { id } }";
    let refused = app
        .gql(&agent, move_to, json!({"id": ann, "c": globex}))
        .await;
    assert_eq!(refused.codes(), vec!["CONFLICT"], "{}", refused.body);
    assert!(
        refused.errors()[0]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("customerId:")
    );
    // Ben has no sales: he may move.
    app.gql(&agent, move_to, json!({"id": ben, "c": globex}))
        .await
        .ok();
    // A file from before this rule can hold a person whose sales name another customer:
    // deleting the customer they are filed under deletes them as `deleteContact` would —
    // their sales stay with the customer they name, without the person, and say so in the
    // audit log — never a refusal that blames a missing row.
    app.admin_exec(&format!(
        "UPDATE contacts SET customer_id = {} WHERE id = {}",
        app.uuid_literal(globex),
        app.uuid_literal(ann)
    ))
    .await
    .expect("an old file's inconsistency");
    let delete = "mutation($id: UUID!) { deleteCustomer(id: $id) }";
    app.gql(&agent, delete, json!({"id": globex})).await.ok();
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM customers").await, 1);
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM contacts").await, 0);
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM sales WHERE contact_id IS NULL")
            .await,
        1,
        "the invoice stays with Acme, without the person"
    );
    let officer = app.token(app.a.id, "compliance");
    let log = app
        .gql(
            &officer,
            "{ auditEvents(first: 10) { edges { node { action entity fields } } } }",
            json!({}),
        )
        .await
        .ok();
    let unlinked = log["auditEvents"]["edges"]
        .as_array()
        .expect("events")
        .iter()
        .any(|e| {
            e["node"] == json!({"action": "UPDATE", "entity": "Sale", "fields": ["contactId"]})
        });
    assert!(unlinked, "the unlinked sale is audited: {log}");
}

on_both_backends!(people_with_sales_keep_their_customer);

/// DESIGN §4: `sub`, `client_id` and `purpose` go into every audit event of the request, so a
/// token whose free-text claims are too long or hold control characters is refused at the
/// door (401), never stored truncated; `X-Purpose` takes UTF-8 and refuses what it cannot
/// record as sent.
async fn free_text_claims_are_bounded_at_the_door(backend: Backend) {
    let app = spawn_app(backend).await;
    let me = "{ me { actor purpose } }";
    let long = "x".repeat(201);
    for (name, patch) in [
        ("long sub", json!({"sub": long})),
        ("empty sub", json!({"sub": "  "})),
        ("sub with a line break", json!({"sub": "ann\nFORGED LINE"})),
        (
            "client id with a control",
            json!({"client_id": "crm\u{1b}[31m"}),
        ),
        ("long purpose", json!({"purpose": long})),
        (
            "purpose with a bidi override",
            json!({"purpose": "audit \u{202e}gnirts"}),
        ),
    ] {
        let mut claims = serde_json::to_value(claims(app.a.id, "agent", None)).expect("claims");
        for (k, v) in patch.as_object().expect("patch") {
            claims[k] = v.clone();
        }
        let answer = app.gql(&sign(&claims), me, json!({})).await;
        assert_eq!(answer.status, 401, "{name}: {}", answer.body);
        assert_eq!(answer.codes(), vec!["UNAUTHENTICATED"], "{name}");
    }
    let mut exact = claims(app.a.id, "agent", None);
    exact.sub = "é".repeat(200);
    let data = app.gql(&sign(&exact), me, json!({})).await.ok();
    assert_eq!(
        data["me"]["actor"],
        json!("é".repeat(200)),
        "200 characters, not bytes"
    );

    // X-Purpose: UTF-8 is recorded as sent; what cannot be recorded is refused, not dropped.
    let mut no_purpose = claims(app.a.id, "agent", None);
    no_purpose.purpose = None;
    let token = sign(&no_purpose);
    let send = async |purpose: &[u8]| {
        let response = app
            .client
            .post(format!("{}/graphql", app.url))
            .bearer_auth(&token)
            .header("content-type", "application/json")
            .header(
                "x-purpose",
                reqwest::header::HeaderValue::from_bytes(purpose).expect("header bytes"),
            )
            .body(json!({"query": me}).to_string())
            .send()
            .await
            .expect("sent");
        let status = response.status().as_u16();
        let body: Value = response.json().await.expect("json");
        (status, body)
    };
    let (status, body) = send("relance facture n°7 — équipe".as_bytes()).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        body["data"]["me"]["purpose"],
        json!("relance facture n°7 — équipe")
    );
    for bad in [
        &b"\xff\xfe not utf-8"[..],
        "x".repeat(201).as_bytes(),
        b"two\tcolumns",
    ] {
        let (status, body) = send(bad).await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            body["errors"][0]["extensions"]["code"],
            json!("BAD_USER_INPUT")
        );
        assert!(body.get("data").is_none_or(Value::is_null), "{body}");
    }
    // A header that contradicts the token's claim would not be what the log records.
    let response = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(app.agent_a())
        .header("content-type", "application/json")
        .header("x-purpose", "something else")
        .body(json!({"query": me}).to_string())
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 400);
}

on_both_backends!(free_text_claims_are_bounded_at_the_door);

/// RFC 7519 allows `aud` to be an array: a token whose array holds the configured audience
/// is accepted, one whose array does not is refused.
async fn an_audience_array_holding_ours_is_accepted(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut claims = serde_json::to_value(claims(app.a.id, "agent", None)).expect("claims");
    claims["aud"] = json!(["another-api", AUDIENCE]);
    app.gql(&sign(&claims), "{ me { role } }", json!({}))
        .await
        .ok();
    claims["aud"] = json!(["another-api", "a-third"]);
    let refused = app.gql(&sign(&claims), "{ me { role } }", json!({})).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
}

on_both_backends!(an_audience_array_holding_ours_is_accepted);

/// The cells of a CSV, split on `delimiter` as a spreadsheet would (RFC 4180 quoting).
fn spreadsheet_cells(line: &str, delimiter: char) -> Vec<String> {
    let mut cells = vec![String::new()];
    let mut quoted = false;
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '"' if quoted && chars.peek() == Some(&'"') => {
                chars.next();
                cells.last_mut().expect("a cell").push('"');
            }
            '"' => quoted = !quoted,
            c if c == delimiter && !quoted => cells.push(String::new()),
            c => cells.last_mut().expect("a cell").push(c),
        }
    }
    cells
}

/// The audit CSV holds text callers chose (their actor, client id, purpose): opened in a
/// spreadsheet that splits on `,` or on `;`, no cell is a formula.
async fn the_audit_csv_never_carries_a_formula(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    let mut evil = claims(app.a.id, "agent", None);
    evil.sub = "-2+3".into();
    evil.client_id = Some("@SUM(A1)".into());
    evil.purpose = Some("audit;=cmd|' /C calc'!A0;x, \"=HYPERLINK(1)\"".into());
    app.read_email(&sign(&evil), ann).await;
    let export = app
        .gql(
            &app.token(app.a.id, "compliance"),
            "{ auditExport(format: CSV) { content } }",
            json!({}),
        )
        .await
        .ok();
    let content = export["auditExport"]["content"].as_str().expect("csv");
    assert!(
        content.contains("cmd|"),
        "the event is in the export: {content}"
    );
    for delimiter in [',', ';'] {
        for line in content.lines() {
            let cells = spreadsheet_cells(line, delimiter);
            if delimiter == ',' {
                assert_eq!(cells.len(), 16, "{line}");
            }
            for cell in cells {
                let first = cell.trim_start_matches([' ', '"', '\'']).chars().next();
                let formula =
                    first.is_some_and(|c| "=+-@\t\r".contains(c)) && !cell.starts_with('\'');
                assert!(
                    !formula,
                    "a formula cell {cell:?} when split on {delimiter:?}: {line}"
                );
            }
        }
    }
}

on_both_backends!(the_audit_csv_never_carries_a_formula);

/// Cursors are opaque in earnest: sorting by email, the cursor carries no trace of the email.
async fn cursors_carry_no_personal_values(backend: Backend) {
    use base64::Engine;
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    app.contact(&agent, acme, "Ann", "ann.secret@acme.example")
        .await;
    app.contact(&agent, acme, "Ben", "ben.secret@acme.example")
        .await;
    let q = "query($after: String) { contacts(first: 1, after: $after, orderBy: [{field: EMAIL}]) {
        edges { cursor node { firstName } } } }";
    let first = app.gql(&agent, q, json!({})).await.ok();
    let cursor = first["contacts"]["edges"][0]["cursor"]
        .as_str()
        .expect("cursor")
        .to_owned();
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor.split('.').next().unwrap_or_default())
        .unwrap_or_default();
    let text = String::from_utf8_lossy(&raw);
    assert!(
        !text.contains("secret") && !cursor.contains("secret"),
        "{text}"
    );
    let second = app.gql(&agent, q, json!({"after": cursor})).await.ok();
    assert_eq!(
        second["contacts"]["edges"][0]["node"]["firstName"],
        json!("Ben"),
        "the cursor still positions the next page"
    );
}

on_both_backends!(cursors_carry_no_personal_values);

const READ_EMAIL: &str = "query($id: UUID!) { contact(id: $id) { email } }";

/// Holds the audit chain locks of `tenants` (the advisory lock every append of a tenant takes
/// on PostgreSQL) until the returned transaction ends: their audit writes wait meanwhile.
async fn hold_chain_locks(app: &TestApp, tenants: &[uuid::Uuid]) -> sea_orm::DatabaseTransaction {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let lock = app.admin.begin().await.expect("admin transaction");
    for tenant in tenants {
        lock.execute_unprepared(&format!(
            "SELECT pg_advisory_xact_lock(hashtextextended('{tenant}'::text, 7))"
        ))
        .await
        .expect("a chain lock");
    }
    lock
}

/// Who prunes the audit log: the retention run, as the library's callers name it.
fn retention_actor() -> api::audit::Actor {
    api::audit::Actor {
        actor: "retention-policy".into(),
        role: api::auth::Role::Compliance,
        client_id: None,
        request_id: uuid::Uuid::now_v7().to_string(),
        caller_request_id: None,
        purpose: None,
        key: audit_key(),
    }
}

/// An event that cannot be written fails its own request only, never the other requests — of
/// any tenant — running beside it. The bad event is made real by a constraint the
/// administrator adds.
async fn one_bad_audit_event_fails_only_its_own_request(backend: Backend) {
    let app = spawn_app(backend).await;
    let (agent_a, agent_b) = (app.agent_a(), app.agent_b());
    let ann = app
        .contact(
            &agent_a,
            app.customer(&agent_a, "Acme").await,
            "Ann",
            "ann@acme.example",
        )
        .await;
    let bob = app
        .contact(
            &agent_b,
            app.customer(&agent_b, "Beta").await,
            "Bob",
            "bob@beta.example",
        )
        .await;
    app.admin_exec(
        "ALTER TABLE audit_events ADD CONSTRAINT no_poison CHECK (purpose IS DISTINCT FROM 'poison')",
    )
    .await
    .expect("constraint");
    let mut poisoned = claims(app.a.id, "agent", None);
    poisoned.purpose = Some("poison".into());
    let poisoned = sign(&poisoned);
    let requests = (0..40).map(|i| {
        let (token, id) = match i {
            20 => (poisoned.as_str(), ann),
            i if i % 2 == 0 => (agent_a.as_str(), ann),
            _ => (agent_b.as_str(), bob),
        };
        app.gql(token, READ_EMAIL, json!({"id": id}))
    });
    let answers = futures_util::future::join_all(requests).await;
    for (i, answer) in answers.into_iter().enumerate() {
        if i == 20 {
            assert_eq!(answer.codes(), vec!["INTERNAL"], "{}", answer.body);
            assert!(
                answer.data()["contact"].is_null(),
                "no data without its event"
            );
        } else {
            assert!(answer.errors().is_empty(), "request {i}: {}", answer.body);
            assert!(answer.data()["contact"]["email"].is_string());
        }
    }
}

on_postgres!(one_bad_audit_event_fails_only_its_own_request);

/// Invariant 3: a lookup by a personal field is an access, even when it returns no personal
/// field, matches nobody, or asks only `totalCount` / `pageInfo`. Its event names the fields
/// used and every person the answer depended on.
async fn lookups_by_personal_data_leave_their_trace(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    let ben = app.contact(&agent, acme, "Ben", "ben@acme.example").await;
    let as_actor = |sub: &str| {
        let mut claims = claims(app.a.id, "agent", None);
        claims.sub = sub.into();
        sign(&claims)
    };
    let lookups = [
        (
            "exists",
            "{ contacts(first: 0, filter: {email: {eq: \"ann@acme.example\"}}) { totalCount pageInfo { hasNextPage } } }",
            vec!["email"],
            vec![ann],
        ),
        (
            "nobody",
            "{ contacts(first: 0, filter: {email: {eq: \"zoe@acme.example\"}}) { totalCount } }",
            vec!["email"],
            vec![],
        ),
        (
            "more",
            "{ contacts(first: 0, filter: {lastName: {eq: \"Martin\"}}) { pageInfo { hasNextPage } } }",
            vec!["lastName"],
            vec![ann],
        ),
        (
            "nested",
            "{ customers { edges { node { contacts(first: 0, filter: {phone: {eq: \"+33612345678\"}}) { totalCount } } } } }",
            vec!["phone"],
            vec![ann, ben],
        ),
        (
            "ordered",
            "{ contacts(orderBy: [{field: EMAIL}]) { edges { node { id } } } }",
            vec!["email"],
            vec![ann, ben],
        ),
    ];
    for (actor, query, fields, ids) in lookups {
        let data = app.gql(&as_actor(actor), query, json!({})).await.ok();
        let events = app
            .audit_events(json!({"actor": {"eq": actor}, "entity": {"eq": "Contact"}}))
            .await;
        assert_eq!(events.len(), 1, "{actor}: {data} → {events:?}");
        let event = &events[0];
        assert_eq!(event["action"], json!("READ"), "{actor}");
        assert_eq!(event["fields"], json!(fields), "{actor}");
        let mut named: Vec<String> =
            serde_json::from_value(event["entityIds"].clone()).expect("ids");
        named.sort();
        let mut expected: Vec<String> = ids.iter().map(ToString::to_string).collect();
        expected.sort();
        if actor == "more" {
            // `first: 0` with `hasNextPage` reads one row past the page: one of the two.
            assert_eq!(named.len(), 1, "{event}");
            assert!(named[0] == ann.to_string() || named[0] == ben.to_string());
        } else {
            assert_eq!(named, expected, "{actor}: {event}");
        }
    }
}

on_both_backends!(lookups_by_personal_data_leave_their_trace);

/// The caller's `X-Request-Id` is theirs to choose: the audit log records it beside the id
/// the server made, which is the one the response carries.
async fn the_audit_log_records_the_servers_request_id_beside_the_callers(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    let mut claims = claims(app.a.id, "agent", None);
    claims.sub = "correlated".into();
    let response = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(sign(&claims))
        .header("x-request-id", "their-own-id")
        .json(&json!({"query": READ_EMAIL, "variables": {"id": ann}}))
        .send()
        .await
        .expect("sent");
    let server_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(server_id, "their-own-id");
    assert!(server_id.parse::<uuid::Uuid>().is_ok(), "{server_id}");
    let events = app
        .audit_events(json!({"actor": {"eq": "correlated"}}))
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["requestId"], json!(server_id));
    assert_eq!(events[0]["callerRequestId"], json!("their-own-id"));
    let by_caller = app
        .audit_events(json!({"callerRequestId": {"eq": "their-own-id"}}))
        .await;
    assert_eq!(by_caller.len(), 1);
}

on_both_backends!(the_audit_log_records_the_servers_request_id_beside_the_callers);

// --- Invariant 4: tamper evidence, also against the database's administrator ---------------

const VERIFY: &str = "query($c: [String!]) { verifyAuditChain(checkpoints: $c) {
    ok checked firstBrokenSeq reason checkpointsChecked } }";

/// A tenant's log with a few writes and reads in it.
async fn audited_app(backend: Backend) -> TestApp {
    audited_app_with(backend, |_| {}).await
}

async fn audited_app_with(
    backend: Backend,
    adjust: impl FnOnce(&mut api::config::Config),
) -> TestApp {
    let app = spawn_app_with(backend, adjust).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    for _ in 0..3 {
        app.read_email(&agent, ann).await;
    }
    app
}

async fn verify(app: &TestApp, checkpoints: Vec<String>) -> Value {
    app.gql(
        &app.token(app.a.id, "compliance"),
        VERIFY,
        json!({"c": checkpoints}),
    )
    .await
    .ok()["verifyAuditChain"]
        .clone()
}

/// A signed checkpoint of tenant A's chain head, as `dossier audit checkpoint` prints it.
async fn checkpoint_of(app: &TestApp) -> String {
    let key = api::audit::AuditKey::new(AUDIT_KEY.as_bytes()).expect("key");
    let scope = api::tenancy::for_tenant(&app.db, app.a.id)
        .await
        .expect("scope");
    let checkpoint = api::audit::checkpoint(&scope, &key)
        .await
        .expect("head")
        .expect("a non-empty log");
    scope.rollback().await.expect("rollback");
    checkpoint.to_line()
}

/// Rewrites tenant A's log as an administrator covering their tracks would: all rows read,
/// changed by `rewrite`, written back — with triggers off on PostgreSQL
/// (`session_replication_role = replica`, which a superuser may set).
async fn rewrite_log(
    app: &TestApp,
    rewrite: impl FnOnce(Vec<entity::audit_event::Model>) -> Vec<entity::audit_event::Model>,
) {
    use entity::audit_event::{Column, Entity};
    use sea_orm::{
        ActiveModelTrait, ColumnTrait, ConnectionTrait, EntityTrait, IntoActiveModel, QueryFilter,
        QueryOrder, TransactionTrait,
    };
    app.seal_audit().await;
    let txn = app.admin.begin().await.expect("begin");
    if app.backend == Backend::Postgres {
        txn.execute_unprepared("SET LOCAL session_replication_role = replica")
            .await
            .expect("triggers off");
    }
    let events = Entity::find()
        .filter(Column::TenantId.eq(app.a.id))
        .order_by_asc(Column::Seq)
        .all(&txn)
        .await
        .expect("events");
    Entity::delete_many()
        .filter(Column::TenantId.eq(app.a.id))
        .exec(&txn)
        .await
        .expect("delete");
    let rewritten = rewrite(events);
    if !rewritten.is_empty() {
        Entity::insert_many(
            rewritten
                .into_iter()
                .map(|m| m.into_active_model().reset_all()),
        )
        .exec_without_returning(&txn)
        .await
        .expect("insert");
    }
    txn.commit().await.expect("commit");
}

/// Links and re-hashes `events` from the first one's predecessor on, as someone who knows the
/// hash function (it is public) but not the audit key would.
fn relink(mut events: Vec<entity::audit_event::Model>) -> Vec<entity::audit_event::Model> {
    let mut prev = api::audit::GENESIS_HASH.to_owned();
    for (i, event) in events.iter_mut().enumerate() {
        event.seq = Some(i as i64 + 1);
        event.prev_hash = Some(prev.clone());
        prev = api::audit::event_hash(event);
        event.hash = Some(prev.clone());
    }
    events
}

fn assert_broken(report: &Value, seq: i64, reason: &str) {
    assert_eq!(report["ok"], json!(false), "{report}");
    assert_eq!(report["firstBrokenSeq"], json!(seq), "{report}");
    let why = report["reason"].as_str().unwrap_or_default();
    assert!(why.contains(reason), "expected “{reason}” in: {report}");
}

async fn an_edited_event_breaks_its_hash(backend: Backend) {
    let app = audited_app(backend).await;
    assert_eq!(verify(&app, vec![]).await["ok"], json!(true));
    rewrite_log(&app, |mut events| {
        events[2].purpose = Some("nothing to see".into());
        events
    })
    .await;
    assert_broken(&verify(&app, vec![]).await, 3, "edited");
}

async fn an_edited_and_rehashed_log_breaks_its_seals(backend: Backend) {
    let app = audited_app(backend).await;
    rewrite_log(&app, |mut events| {
        events[2].actor = "someone-else".into();
        relink(events)
    })
    .await;
    assert_broken(&verify(&app, vec![]).await, 3, "seal");
}

async fn a_deleted_event_breaks_the_chain_even_renumbered_and_rehashed(backend: Backend) {
    let app = audited_app(backend).await;
    // Deleted alone: the link after it breaks.
    rewrite_log(&app, |mut events| {
        events.remove(1);
        events
    })
    .await;
    assert_broken(&verify(&app, vec![]).await, 2, "link");

    let app = audited_app(backend).await;
    // Deleted, the rest renumbered and re-hashed: every hash and link holds, the seals do not.
    rewrite_log(&app, |mut events| {
        events.remove(1);
        relink(events)
    })
    .await;
    assert_broken(&verify(&app, vec![]).await, 2, "seal");
}

async fn stripped_seals_do_not_pass_for_an_old_log(backend: Backend) {
    let app = audited_app(backend).await;
    rewrite_log(&app, |mut events| {
        events.pop();
        for event in &mut events {
            event.seal = None;
        }
        relink(events)
    })
    .await;
    assert_broken(&verify(&app, vec![]).await, 1, "seal");
}

/// What a keyed chain alone cannot show — its newest events cut off — a checkpoint kept
/// outside the database shows, given to `verifyAuditChain` or in the server's checkpoint file.
async fn a_truncated_log_is_caught_by_a_checkpoint(backend: Backend) {
    let dir = std::env::temp_dir().join(format!("dossier-checkpoints-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("dir");
    let file = dir.join("checkpoints.jsonl");
    std::fs::write(&file, "").expect("an empty checkpoint file");
    let kept = file.clone();
    let app = audited_app_with(backend, move |config| {
        config.audit_checkpoints = Some(kept);
    })
    .await;
    let checkpoint = checkpoint_of(&app).await;
    let head: Value = serde_json::from_str(&checkpoint).expect("json line");
    let report = verify(&app, vec![checkpoint.clone()]).await;
    assert_eq!(report["ok"], json!(true), "{report}");
    assert_eq!(report["checkpointsChecked"], json!(1));

    rewrite_log(&app, |mut events| {
        events.truncate(events.len() - 2);
        events
    })
    .await;
    let head_seq = head["seq"].as_i64().expect("seq");
    assert_broken(
        &verify(&app, vec![checkpoint.clone()]).await,
        head_seq,
        "removed from its end",
    );
    // Every remaining link, hash and seal holds: without the checkpoint nothing shows. (The
    // verification just made appended its own event at the truncated position since.)
    let blind = verify(&app, vec![]).await;
    assert_eq!(blind["ok"], json!(true), "{blind}");
    // The server's checkpoint file is held against the chain the same way: the position the
    // checkpoint saw now holds another event.
    std::fs::write(&file, format!("{checkpoint}\n")).expect("checkpoint file");
    assert_broken(
        &verify(&app, vec![]).await,
        head_seq,
        "differs from a checkpoint",
    );

    // A configured checkpoint file that is gone is evidence removed, not an empty file.
    std::fs::remove_file(&file).expect("remove the file");
    let missing = verify(&app, vec![]).await;
    assert_eq!(missing["ok"], json!(false), "{missing}");
    assert!(
        missing["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("missing"),
        "{missing}"
    );
    // A checkpoint not signed by the audit key is refused, not believed.
    let mut forged: Value = serde_json::from_str(&checkpoint).expect("json");
    forged["seq"] = json!(1);
    let refused = app
        .gql(
            &app.token(app.a.id, "compliance"),
            VERIFY,
            json!({"c": [forged.to_string()]}),
        )
        .await;
    assert_eq!(refused.codes(), vec!["BAD_USER_INPUT"], "{}", refused.body);
    let _ = std::fs::remove_dir_all(&dir);
}

/// A log rewritten from the start with a different history is caught by a checkpoint even
/// where the rewritten part verifies link by link.
async fn a_rewritten_history_differs_from_its_checkpoint(backend: Backend) {
    let app = audited_app(backend).await;
    let checkpoint = checkpoint_of(&app).await;
    rewrite_log(&app, |mut events| {
        events.last_mut().expect("an event").purpose = Some("rewritten".into());
        relink(events)
    })
    .await;
    let report = verify(&app, vec![checkpoint]).await;
    assert_eq!(report["ok"], json!(false), "{report}");
}

on_both_backends!(
    an_edited_event_breaks_its_hash,
    an_edited_and_rehashed_log_breaks_its_seals,
    a_deleted_event_breaks_the_chain_even_renumbered_and_rehashed,
    stripped_seals_do_not_pass_for_an_old_log,
    a_truncated_log_is_caught_by_a_checkpoint,
    a_rewritten_history_differs_from_its_checkpoint
);

/// The API's runtime role owns nothing (PostgreSQL): whatever setting it sets, it cannot
/// delete, update or truncate the log or its anchors, nor disable a trigger or row-level
/// security — the statements a compromised API would try.
async fn the_runtime_role_cannot_rewrite_the_log(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
    let app = audited_app(backend).await;
    for sql in [
        "DELETE FROM audit_events",
        "UPDATE audit_events SET purpose = 'x'",
        "TRUNCATE audit_events",
        "DELETE FROM audit_anchors",
        "ALTER TABLE audit_events DISABLE TRIGGER ALL",
        "ALTER TABLE contacts DISABLE TRIGGER contacts_legal_hold",
        "ALTER TABLE contacts NO FORCE ROW LEVEL SECURITY",
        "ALTER TABLE audit_events DISABLE ROW LEVEL SECURITY",
        "DROP TRIGGER audit_events_append_only ON audit_events",
        "DELETE FROM legal_holds",
        "UPDATE erasures SET reason = 'x'",
    ] {
        let txn = app.db.begin().await.expect("begin");
        txn.execute_unprepared(&format!(
            "SELECT set_config('app.tenant_id', '{}', true), set_config('app.audit_retention', 'on', true)",
            app.a.id
        ))
        .await
        .expect("settings");
        let refused = txn
            .execute_unprepared(sql)
            .await
            .expect_err(&format!("the runtime role ran: {sql}"));
        let message = refused.to_string();
        assert!(
            message.contains("permission denied") || message.contains("must be owner"),
            "{sql}: {message}"
        );
        txn.rollback().await.expect("rollback");
    }
    assert_eq!(verify(&app, vec![]).await["ok"], json!(true));
}

on_postgres!(the_runtime_role_cannot_rewrite_the_log);

// --- Invariant 9: no tenant can starve another ---------------------------------------------

/// A statement that runs past the time limit is interrupted, on SQLite (a progress handler)
/// as on PostgreSQL (`statement_timeout`), and the connection serves the next statement.
async fn statements_have_a_time_limit_on_both_backends(backend: Backend) {
    use sea_orm::{ConnectionTrait, Statement};
    let dir = std::env::temp_dir().join(format!("dossier-timeout-{}", uuid::Uuid::now_v7()));
    std::fs::create_dir_all(&dir).expect("dir");
    let url = match backend {
        Backend::Sqlite => format!("sqlite://{}?mode=rwc", dir.join("t.db").display()),
        Backend::Postgres => format!(
            "{}/postgres",
            std::env::var("DOSSIER_TEST_PG_URL").expect("scripts/test.sh sets DOSSIER_TEST_PG_URL")
        ),
    };
    let mut config = tests::config(&url);
    config.statement_timeout_ms = 200;
    let db = api::db::connect(&config).await.expect("connect");
    let slow = match backend {
        Backend::Sqlite => {
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 2000000000) SELECT COUNT(*) FROM n"
        }
        Backend::Postgres => "SELECT pg_sleep(30)",
    };
    let started = std::time::Instant::now();
    let err = db
        .query_one_raw(Statement::from_string(db.get_database_backend(), slow))
        .await
        .expect_err("the statement is stopped");
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "stopped near its limit, not after {:?}",
        started.elapsed()
    );
    let message = err.to_string();
    assert!(
        message.contains("interrupted") || message.contains("statement timeout"),
        "{message}"
    );
    let next = db
        .query_one_raw(Statement::from_string(
            db.get_database_backend(),
            "SELECT 1",
        ))
        .await;
    assert!(next.is_ok(), "the connection still serves: {next:?}");
    db.close().await.expect("close");
    let _ = std::fs::remove_dir_all(&dir);
}

on_both_backends!(statements_have_a_time_limit_on_both_backends);

/// Each root field is a query of its own: their number is bounded, and each count, chain
/// verification and export is priced by the work it causes — `first: 0` still pays its count.
async fn requests_are_priced_by_the_work_they_cause(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let aliases = |n: usize, field: &str| {
        (0..n)
            .map(|i| format!("a{i}: {field}"))
            .collect::<Vec<_>>()
            .join(" ")
    };
    let me = "me { role }";
    app.gql(&agent, &format!("{{ {} }}", aliases(20, me)), json!({}))
        .await
        .ok();
    let roots = app
        .gql(&agent, &format!("{{ {} }}", aliases(21, me)), json!({}))
        .await;
    assert_eq!(roots.codes(), vec!["QUERY_TOO_COMPLEX"], "{}", roots.body);
    assert!(roots.body.get("data").is_none_or(Value::is_null));
    // Fragments count too.
    let spread = app
        .gql(
            &agent,
            &format!("{{ ...F }} fragment F on Query {{ {} }}", aliases(21, me)),
            json!({}),
        )
        .await;
    assert_eq!(spread.codes(), vec!["QUERY_TOO_COMPLEX"], "{}", spread.body);

    // Every count is a statement reading all the rows its filter matches, `first: 0` or not:
    // ten per operation, wherever they stand.
    let count = "customers(first: 0, filter: {name: {contains: \"zz\"}}) { totalCount }";
    app.gql(&agent, &format!("{{ {} }}", aliases(10, count)), json!({}))
        .await
        .ok();
    let counts = app
        .gql(&agent, &format!("{{ {} }}", aliases(11, count)), json!({}))
        .await;
    assert_eq!(counts.codes(), vec!["QUERY_TOO_COMPLEX"], "{}", counts.body);
    let nested = format!(
        "{{ customers {{ edges {{ node {{ {} }} }} }} }}",
        aliases(11, "contacts(first: 0) { totalCount }")
    );
    let nested = app.gql(&agent, &nested, json!({})).await;
    assert_eq!(nested.codes(), vec!["QUERY_TOO_COMPLEX"], "{}", nested.body);

    // A chain verification reads the whole log: a few per request at most.
    let officer = app.token(app.a.id, "compliance");
    let verify = "verifyAuditChain { ok }";
    app.gql(
        &officer,
        &format!("{{ {} }}", aliases(2, verify)),
        json!({}),
    )
    .await
    .ok();
    let walks = app
        .gql(
            &officer,
            &format!("{{ {} }}", aliases(6, verify)),
            json!({}),
        )
        .await;
    assert_eq!(walks.codes(), vec!["QUERY_TOO_COMPLEX"], "{}", walks.body);
}

on_both_backends!(requests_are_priced_by_the_work_they_cause);

/// Filters are bounded in width and size, and a person's consent history is paginated.
async fn filters_are_bounded_and_histories_paginated(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let leaf = "{name: {contains: \"a\"}}";
    let list = |n: usize, item: &str| vec![item; n].join(", ");
    let wide = format!(
        "{{ customers(filter: {{or: [{}]}}) {{ totalCount }} }}",
        list(17, leaf)
    );
    let answer = app.gql(&agent, &wide, json!({})).await;
    assert_eq!(answer.codes(), vec!["BAD_USER_INPUT"], "{}", answer.body);
    let ok = format!(
        "{{ customers(filter: {{or: [{}]}}) {{ totalCount }} }}",
        list(16, leaf)
    );
    app.gql(&agent, &ok, json!({})).await.ok();
    let branch = format!("{{and: [{}]}}", list(4, leaf));
    let big = format!(
        "{{ customers(filter: {{or: [{}]}}) {{ totalCount }} }}",
        list(16, &branch)
    );
    let answer = app.gql(&agent, &big, json!({})).await;
    assert_eq!(answer.codes(), vec!["BAD_USER_INPUT"], "{}", answer.body);
    let message = answer.errors()[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("at most 64"), "{message}");

    let acme = app.customer(&agent, "Acme").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    for (granted, days) in [(true, 3), (false, 2), (true, 1)] {
        app.gql(
            &agent,
            "mutation($c: UUID!, $g: Boolean!, $at: DateTime!) { recordConsent(input: {contactId: $c,
                purpose: \"newsletter\", granted: $g, legalBasis: CONSENT, source: \"form\", at: $at}) { id } }",
            json!({"c": ann, "g": granted, "at": days_ago(days)}),
        )
        .await
        .ok();
    }
    let history = app
        .gql(
            &agent,
            "query($c: UUID!) { contact(id: $c) { all: consents(history: true) { granted }
                latest: consents(history: true, first: 2) { granted } } }",
            json!({"c": ann}),
        )
        .await
        .ok();
    assert_eq!(
        history["contact"]["all"],
        json!([{"granted": true}, {"granted": false}, {"granted": true}])
    );
    assert_eq!(
        history["contact"]["latest"],
        json!([{"granted": false}, {"granted": true}]),
        "the latest two, oldest first"
    );
    let too_many = app
        .gql(
            &agent,
            "query($c: UUID!) { contact(id: $c) { consents(history: true, first: 501) { granted } } }",
            json!({"c": ann}),
        )
        .await;
    assert_eq!(
        too_many.codes(),
        vec!["BAD_USER_INPUT"],
        "{}",
        too_many.body
    );
}

on_both_backends!(filters_are_bounded_and_histories_paginated);

/// A tenant over its budget gets 429 `RATE_LIMITED` with `Retry-After`; another tenant does
/// not notice.
async fn a_tenant_over_its_budget_is_refused_and_no_other(backend: Backend) {
    let app = spawn_app_with(backend, |config| {
        config.tenant_rate = 5;
        config.tenant_burst = 5;
    })
    .await;
    let me = "{ me { role } }";
    let (a, b) = (app.agent_a(), app.agent_b());
    let mut refused = None;
    for _ in 0..10 {
        let answer = app.gql(&a, me, json!({})).await;
        if answer.status == 429 {
            refused = Some(answer);
            break;
        }
        assert!(answer.errors().is_empty(), "{}", answer.body);
    }
    let refused = refused.expect("tenant A is refused within ten requests at five per second");
    assert_eq!(refused.codes(), vec!["RATE_LIMITED"], "{}", refused.body);
    let response = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(&a)
        .json(&json!({"query": me}))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 429);
    let retry: u64 = response.headers()["retry-after"]
        .to_str()
        .ok()
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in seconds");
    assert!(retry >= 1);
    app.gql(&b, me, json!({})).await.ok();
}

on_both_backends!(a_tenant_over_its_budget_is_refused_and_no_other);

// --- DESIGN §4: a key grants only what its owner registered ---------------------------------

const WHO: &str = "{ me { tenantId role scopes } }";

/// A partner's identity provider, registered for tenant A as `partner` with two read scopes:
/// its tokens work within that and nothing else — not as admin or compliance officer, not with
/// more scopes, not for tenant B, not once disabled.
async fn a_partners_key_grants_only_what_its_registration_says(backend: Backend) {
    use jsonwebtoken::Algorithm::{ES256, RS256};
    let app = spawn_app(backend).await;
    let within = partner_token(
        &partner_claims(app.a.id, "partner", Some("customers:read")),
        RS256,
    );
    // Before any registration, the key is nobody's.
    assert_eq!(app.gql(&within, WHO, json!({})).await.status, 401);
    let registration = app
        .register_partner(app.a.id, &["partner"], &["customers:read", "contacts:read"])
        .await;
    let me = app.gql(&within, WHO, json!({})).await.ok();
    assert_eq!(me["me"]["role"], json!("PARTNER"));
    assert_eq!(me["me"]["scopes"], json!(["customers:read"]));
    app.gql(
        &partner_token(
            &partner_claims(app.a.id, "partner", Some("contacts:read")),
            ES256,
        ),
        WHO,
        json!({}),
    )
    .await
    .ok();
    for (what, claims) in [
        ("admin", partner_claims(app.a.id, "admin", None)),
        (
            "compliance",
            partner_claims(app.a.id, "compliance", Some("audit:read")),
        ),
        (
            "agent",
            partner_claims(app.a.id, "agent", Some("customers:read")),
        ),
        (
            "more scopes",
            partner_claims(app.a.id, "partner", Some("customers:read pii:read")),
        ),
        (
            "another tenant",
            partner_claims(app.b.id, "partner", Some("customers:read")),
        ),
        (
            "another issuer",
            api::auth::Claims {
                iss: Some("https://idp.elsewhere.test".into()),
                ..partner_claims(app.a.id, "partner", Some("customers:read"))
            },
        ),
        (
            "the operator's issuer",
            api::auth::Claims {
                iss: Some(ISSUER.into()),
                ..partner_claims(app.a.id, "admin", None)
            },
        ),
    ] {
        let answer = app
            .gql(&partner_token(&claims, RS256), WHO, json!({}))
            .await;
        assert_eq!(answer.status, 401, "{what}: {}", answer.body);
        assert_eq!(answer.codes(), vec!["UNAUTHENTICATED"], "{what}");
    }
    // Another key under the registered issuer and kid.
    let other = jsonwebtoken::EncodingKey::from_rsa_pem(
        &std::fs::read(fixture("rsa_other_private.pem")).expect("key"),
    )
    .expect("key");
    let mut header = jsonwebtoken::Header::new(RS256);
    header.kid = Some("partner-rsa".into());
    let forged = jsonwebtoken::encode(
        &header,
        &partner_claims(app.a.id, "partner", Some("customers:read")),
        &other,
    )
    .expect("sign");
    assert_eq!(app.gql(&forged, WHO, json!({})).await.status, 401);

    // The registration is audited, and visible to the tenant's administrator.
    let created = app
        .audit_events(json!({"entity": {"eq": "IdentityProvider"}}))
        .await;
    assert_eq!(created.len(), 1, "{created:?}");
    assert_eq!(created[0]["action"], json!("CREATE"));
    assert_eq!(created[0]["entityIds"], json!([registration]));
    let listed = app
        .gql(
            &app.token(app.a.id, "admin"),
            "{ identityProviders { id issuer keyIds roles scopes disabledAt } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        listed["identityProviders"],
        json!([{"id": registration, "issuer": PARTNER_ISSUER, "keyIds": ["partner-ec", "partner-rsa"],
            "roles": ["PARTNER"], "scopes": ["customers:read", "contacts:read"], "disabledAt": null}])
    );
    // Tenant B sees none of it.
    let theirs = app
        .gql(
            &app.token(app.b.id, "admin"),
            "{ identityProviders { id } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(theirs["identityProviders"], json!([]));

    // Disabled, its tokens are refused at once.
    app.gql(
        &app.token(app.a.id, "admin"),
        "mutation($id: UUID!) { disableIdentityProvider(id: $id) { disabledAt } }",
        json!({"id": registration}),
    )
    .await
    .ok();
    assert_eq!(app.gql(&within, WHO, json!({})).await.status, 401);
}

on_both_backends!(a_partners_key_grants_only_what_its_registration_says);

/// Only a tenant administrator signed in with the operator's key registers providers, and
/// never for more than they hold: a provider's own admin token cannot register another (no
/// chain of trust grows from a partner's key), and nobody grants the compliance scopes
/// through the API.
async fn registrations_cannot_grow_a_chain_of_trust(backend: Backend) {
    let app = spawn_app(backend).await;
    let keys = std::fs::read_to_string(fixture("jwks.json")).expect("jwks");
    let register = |issuer: &str, scopes: Vec<&str>| json!({"input": {"name": "X", "issuer": issuer, "keys": keys, "roles": ["ADMIN"], "scopes": scopes}});
    let mutation = "mutation($input: RegisterIdentityProviderInput!) { registerIdentityProvider(input: $input) { id } }";
    for role in ["agent", "compliance", "analyst"] {
        let answer = app
            .gql(
                &app.token(app.a.id, role),
                mutation,
                register("https://x.test", vec!["customers:read"]),
            )
            .await;
        assert_eq!(answer.codes(), vec!["FORBIDDEN"], "{role}: {}", answer.body);
    }
    let escalation = app
        .gql(
            &app.token(app.a.id, "admin"),
            mutation,
            register("https://x.test", vec!["customers:read", "gdpr:erase"]),
        )
        .await;
    assert_eq!(escalation.codes(), vec!["FORBIDDEN"], "{}", escalation.body);
    for (bad, input) in [
        (
            "keys",
            json!({"name": "X", "issuer": "https://x.test", "keys": "not a key", "roles": ["PARTNER"], "scopes": []}),
        ),
        (
            "roles",
            json!({"name": "X", "issuer": "https://x.test", "keys": keys, "roles": [], "scopes": []}),
        ),
        (
            "scopes",
            json!({"name": "X", "issuer": "https://x.test", "keys": keys, "roles": ["PARTNER"], "scopes": ["everything"]}),
        ),
        (
            "issuer",
            json!({"name": "X", "issuer": "line\nbreak", "keys": keys, "roles": ["PARTNER"], "scopes": []}),
        ),
    ] {
        let answer = app
            .gql(
                &app.token(app.a.id, "admin"),
                mutation,
                json!({"input": input}),
            )
            .await;
        assert_eq!(
            answer.codes(),
            vec!["BAD_USER_INPUT"],
            "{bad}: {}",
            answer.body
        );
        let message = answer.errors()[0]["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(message.starts_with(bad), "{bad}: {message}");
    }
    // A provider trusted with the admin role: its admins still cannot register providers.
    app.register_partner(app.a.id, &["admin"], &["customers:read", "customers:write"])
        .await;
    let partner_admin = partner_token(
        &partner_claims(app.a.id, "admin", Some("customers:read")),
        jsonwebtoken::Algorithm::RS256,
    );
    app.gql(&partner_admin, WHO, json!({})).await.ok();
    let chained = app
        .gql(
            &partner_admin,
            mutation,
            register("https://y.test", vec!["customers:read"]),
        )
        .await;
    assert_eq!(chained.codes(), vec!["FORBIDDEN"], "{}", chained.body);
    // One active registration per issuer.
    let again = app
        .gql(
            &app.token(app.a.id, "admin"),
            mutation,
            json!({"input": {"name": "X", "issuer": PARTNER_ISSUER, "keys": keys, "roles": ["PARTNER"], "scopes": []}}),
        )
        .await;
    assert_eq!(again.codes(), vec!["CONFLICT"], "{}", again.body);
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM identity_providers")
            .await,
        1,
        "nothing refused was written"
    );
}

on_both_backends!(registrations_cannot_grow_a_chain_of_trust);

/// The removed setting that trusted a key for every tenant and role is refused at start,
/// not silently ignored.
#[test]
fn a_globally_trusted_key_setting_is_refused_at_start() {
    let mut config = tests::config("sqlite::memory:");
    config.jwt_keys = Some(fixture("jwks.json"));
    let refused = config.verifier().err().expect("refused");
    assert!(
        refused.to_string().contains("dossier idp register"),
        "{refused}"
    );
}

/// A provider with several keys of one algorithm (a key rotation): the token's `kid` chooses
/// the key, and a token signed by one key under the other's `kid` is refused.
async fn several_keys_of_one_algorithm_are_chosen_by_kid(backend: Backend) {
    let app = spawn_app(backend).await;
    let keys = std::fs::read_to_string(fixture("jwks_two_rsa.json")).expect("jwks");
    app.gql(
        &app.token(app.a.id, "admin"),
        "mutation($input: RegisterIdentityProviderInput!) { registerIdentityProvider(input: $input) { keyIds } }",
        json!({"input": {"name": "Rotating", "issuer": PARTNER_ISSUER, "keys": keys,
            "roles": ["PARTNER"], "scopes": ["customers:read"]}}),
    )
    .await
    .ok();
    let sign_with = |pem: &str, kid: &str| {
        let key =
            jsonwebtoken::EncodingKey::from_rsa_pem(&std::fs::read(fixture(pem)).expect("pem"))
                .expect("key");
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::RS256);
        header.kid = Some(kid.into());
        jsonwebtoken::encode(
            &header,
            &partner_claims(app.a.id, "partner", Some("customers:read")),
            &key,
        )
        .expect("sign")
    };
    for (pem, kid, accepted) in [
        ("rsa_private.pem", "rotation-2025", true),
        ("rsa_other_private.pem", "rotation-2026", true),
        ("rsa_other_private.pem", "rotation-2025", false),
        ("rsa_private.pem", "rotation-2026", false),
        ("rsa_private.pem", "partner-rsa", false),
    ] {
        let answer = app.gql(&sign_with(pem, kid), WHO, json!({})).await;
        assert_eq!(
            answer.status == 200,
            accepted,
            "{pem} as {kid}: {}",
            answer.body
        );
    }
}

on_both_backends!(several_keys_of_one_algorithm_are_chosen_by_kid);

/// Graceful shutdown (SIGINT/SIGTERM): the server stops taking connections, and a request in
/// flight still finishes — with its audit event committed. The request, an update, is held in
/// flight by a lock on its row, which the test holds until the stop has begun.
async fn a_graceful_stop_finishes_the_requests_in_flight(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let ann = app
        .contact(
            &agent,
            app.customer(&agent, "Acme").await,
            "Ann",
            "ann@acme.example",
        )
        .await;
    let lock = {
        use sea_orm::{ConnectionTrait, TransactionTrait};
        let lock = app.admin.begin().await.expect("admin transaction");
        lock.execute_unprepared(&format!(
            "SELECT id FROM contacts WHERE id = {} FOR UPDATE",
            app.uuid_literal(ann)
        ))
        .await
        .expect("a row lock");
        lock
    };
    let in_flight = app.gql(
        &agent,
        "mutation($id: UUID!) { updateContact(id: $id, input: {jobTitle: \"CFO\"}) { jobTitle } }",
        json!({"id": ann}),
    );
    tokio::pin!(in_flight);
    let stopped = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let stop = app.stop_gracefully();
        tokio::pin!(stop);
        // The stop has begun and waits for the request: new connections are refused.
        tokio::select! {
            _ = &mut stop => panic!("the server stopped with a request in flight"),
            _ = tokio::time::sleep(std::time::Duration::from_millis(300)) => {}
        }
        let fresh = reqwest::Client::new()
            .get(format!("{}/health", app.url))
            .timeout(std::time::Duration::from_secs(5))
            .send()
            .await;
        assert!(fresh.is_err(), "a new connection is refused: {fresh:?}");
        lock.rollback().await.expect("release the row");
        stop.await;
    };
    let (answer, ()) = tokio::join!(&mut in_flight, stopped);
    assert!(answer.errors().is_empty(), "{}", answer.body);
    assert_eq!(answer.data()["updateContact"]["jobTitle"], json!("CFO"));
    assert_eq!(
        app.admin_count(&format!(
            "SELECT COUNT(*) FROM contacts WHERE id = {} AND job_title = 'CFO'",
            app.uuid_literal(ann)
        ))
        .await,
        1,
        "the update was committed"
    );
    assert_eq!(
        app.admin_count(
            "SELECT COUNT(*) FROM audit_events WHERE action = 'UPDATE' AND entity = 'Contact'"
        )
        .await,
        1,
        "its audit event was committed"
    );
}

on_postgres!(a_graceful_stop_finishes_the_requests_in_flight);

/// An anchor moved by someone without the audit key (to hide more pruned events) breaks the
/// chain even though a recorded pruning names it.
async fn a_moved_anchor_breaks_its_seal(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = audited_app(backend).await;
    // The first three events are four years old (behind the API's back, as time would have
    // it; they are pruned, so their changed times are never verified).
    app.seal_audit().await;
    let tenant = app.uuid_literal(app.a.id);
    let age = match app.backend {
        Backend::Sqlite => format!(
            "UPDATE audit_events SET at = CAST(CAST(SUBSTR(at, 1, 4) AS INTEGER) - 4 AS TEXT) || SUBSTR(at, 5) \
             WHERE tenant_id = {tenant} AND seq <= 3"
        ),
        Backend::Postgres => format!(
            "BEGIN; SET LOCAL session_replication_role = replica; \
             UPDATE audit_events SET at = at - interval '4 years' WHERE tenant_id = {tenant} AND seq <= 3; COMMIT;"
        ),
    };
    app.admin
        .execute_unprepared(&age)
        .await
        .expect("age events");
    // Prune as the retention run does (as the owner), with the shortest retention there is.
    let scope = api::tenancy::for_tenant(&app.owner, app.a.id)
        .await
        .expect("scope");
    let actor = retention_actor();
    let refused = api::audit::prune(&scope, &actor, 11, chrono::Utc::now(), false).await;
    assert!(
        refused.is_err(),
        "younger than the shortest retention: {refused:?}"
    );
    let pruned = api::audit::prune(&scope, &actor, 12, chrono::Utc::now(), false)
        .await
        .expect("prune");
    scope.commit().await.expect("commit");
    assert_eq!(pruned.events, 3, "{pruned:?}");
    let report = verify(&app, vec![]).await;
    assert_eq!(report["ok"], json!(true), "{report}");
    let moved = match app.backend {
        Backend::Postgres => {
            "BEGIN; SET LOCAL session_replication_role = replica; UPDATE audit_anchors SET seq = seq + 1; COMMIT;"
        }
        Backend::Sqlite => "UPDATE audit_anchors SET seq = seq + 1",
    };
    app.admin
        .execute_unprepared(moved)
        .await
        .expect("move the anchor");
    let report = verify(&app, vec![]).await;
    assert_eq!(report["ok"], json!(false), "{report}");
    let reason = report["reason"].as_str().unwrap_or_default();
    assert!(reason.contains("anchor's seal"), "{report}");
}

on_both_backends!(a_moved_anchor_breaks_its_seal);

/// Counting an operation's root fields and counts is linear in the document: fragments
/// spread twice at each of thirty levels (2^30 fields once flattened), or spreading
/// themselves, are answered at once — refused — instead of holding a worker.
async fn fragments_that_multiply_are_refused_at_once(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let mut nested: Vec<String> = (0..30)
        .map(|i| format!("fragment F{i} on Query {{ ...F{} ...F{} }}", i + 1, i + 1))
        .collect();
    nested.push("fragment F30 on Query { me { role } }".into());
    let query = format!("{{ ...F0 }} {}", nested.join(" "));
    let started = std::time::Instant::now();
    let answer = app.gql(&agent, &query, json!({})).await;
    assert_eq!(answer.codes(), vec!["QUERY_TOO_COMPLEX"], "{}", answer.body);
    let cyclic = app
        .gql(
            &agent,
            "{ ...A } fragment A on Query { ...A ...A }",
            json!({}),
        )
        .await;
    assert_eq!(cyclic.codes(), vec!["QUERY_TOO_COMPLEX"], "{}", cyclic.body);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(10),
        "answered in {:?}",
        started.elapsed()
    );
    app.gql(&agent, "{ me { role } }", json!({})).await.ok();
}

on_both_backends!(fragments_that_multiply_are_refused_at_once);

/// A count by personal data over more people than an event can name is refused — and the
/// refused lookup is on record too (fields used, no ids), so that its refusal cannot serve as
/// an unrecorded test of whether someone is in the file.
async fn a_refused_lookup_is_audited_too(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let (tenant, customer) = (app.uuid_literal(app.a.id), app.uuid_literal(acme));
    let insert = match app.backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10001) \
             INSERT INTO contacts (tenant_id, id, customer_id, last_name, created_at, updated_at) \
             SELECT {tenant}, randomblob(16), {customer}, 'Martin', '2026-01-01 00:00:00+00:00', '2026-01-01 00:00:00+00:00' FROM n"
        ),
        Backend::Postgres => format!(
            "INSERT INTO contacts (tenant_id, id, customer_id, last_name, created_at, updated_at) \
             SELECT {tenant}, gen_random_uuid(), {customer}, 'Martin', now(), now() FROM generate_series(1, 10001)"
        ),
    };
    app.admin
        .execute_unprepared(&insert)
        .await
        .expect("10,001 people");
    let mut claims = claims(app.a.id, "agent", None);
    claims.sub = "prober".into();
    let answer = app
        .gql(
            &sign(&claims),
            "{ contacts(first: 0, filter: {lastName: {eq: \"Martin\"}}) { totalCount } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.codes(), vec!["BAD_USER_INPUT"], "{}", answer.body);
    let events = app
        .audit_events(json!({"actor": {"eq": "prober"}, "entity": {"eq": "Contact"}}))
        .await;
    assert_eq!(events.len(), 1, "{events:?}");
    assert_eq!(events[0]["fields"], json!(["lastName"]));
    assert_eq!(events[0]["entityIds"], json!([]));
}

on_both_backends!(a_refused_lookup_is_audited_too);

/// Provider tokens need the server's audience configured (an identity provider issues tokens
/// for many applications), and a narrowed admin token manages no provider.
async fn provider_tokens_need_an_audience_and_providers_a_whole_admin(backend: Backend) {
    let app = spawn_app_with(backend, |config| config.jwt_audience = None).await;
    app.register_partner(app.a.id, &["partner"], &["customers:read"])
        .await;
    let token = partner_token(
        &partner_claims(app.a.id, "partner", Some("customers:read")),
        jsonwebtoken::Algorithm::RS256,
    );
    let refused = app.gql(&token, WHO, json!({})).await;
    assert_eq!(refused.status, 401, "{}", refused.body);
    let narrowed = app.token_with(app.a.id, "admin", "customers:read customers:write");
    let answer = app
        .gql(&narrowed, "{ identityProviders { id } }", json!({}))
        .await;
    assert_eq!(answer.codes(), vec!["FORBIDDEN"], "{}", answer.body);
}

on_both_backends!(provider_tokens_need_an_audience_and_providers_a_whole_admin);

/// Pruning events younger than the shortest audit retention is refused, and an anchor that
/// shows such a pruning — made with the key, by an operator tricked into it — breaks the chain.
async fn pruning_younger_than_the_shortest_retention_breaks_the_chain(backend: Backend) {
    let app = audited_app(backend).await;
    let scope = api::tenancy::for_tenant(&app.owner, app.a.id)
        .await
        .expect("scope");
    let actor = retention_actor();
    // A clock two years ahead makes every event look old enough.
    let ahead = chrono::Utc::now() + chrono::Duration::days(730);
    api::audit::prune(&scope, &actor, 12, ahead, false)
        .await
        .expect("prune");
    scope.commit().await.expect("commit");
    let report = verify(&app, vec![]).await;
    assert_eq!(report["ok"], json!(false), "{report}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("shortest audit retention"),
        "{report}"
    );
}

on_both_backends!(pruning_younger_than_the_shortest_retention_breaks_the_chain);

/// Sealing lags the commit (PostgreSQL): a tenant's chain lock, held, delays no request —
/// its own tenant's included — and no other tenant's sealing, even with the locks of more
/// tenants held than the sealer seals at once. The held tenants' events wait unsealed and are
/// sealed once their locks go.
async fn held_chain_locks_delay_no_request_and_no_other_tenants_seal(backend: Backend) {
    let app = spawn_app(backend).await;
    let mut held = vec![app.a.id];
    for name in ["Gamma", "Delta", "Epsilon", "Zeta"] {
        let tenant = api::tenancy::create_tenant(
            &app.owner,
            name,
            &format!("{name}-{}", uuid::Uuid::now_v7().simple()),
            "EUR",
        )
        .await
        .expect("tenant");
        held.push(tenant.id);
    }
    let mut people = Vec::new();
    for tenant in held.iter().copied().chain([app.b.id]) {
        let token = app.token(tenant, "agent");
        let customer = app.customer(&token, "Acme").await;
        people.push((
            token.clone(),
            app.contact(&token, customer, "Ann", "ann@acme.example")
                .await,
        ));
    }
    for tenant in held.iter().copied().chain([app.b.id]) {
        until_sealed(&app, tenant).await;
    }
    let lock = hold_chain_locks(&app, &held).await;
    let answers = tokio::time::timeout(
        std::time::Duration::from_secs(10),
        futures_util::future::join_all(
            people
                .iter()
                .map(|(token, person)| app.gql(token, READ_EMAIL, json!({"id": person}))),
        ),
    )
    .await
    .expect("reads waited for a chain lock");
    for answer in answers {
        assert!(answer.errors().is_empty(), "{}", answer.body);
        assert_eq!(answer.data()["contact"]["email"], json!("ann@acme.example"));
    }
    until_sealed(&app, app.b.id).await;
    for tenant in &held {
        assert_eq!(
            unsealed(&app, *tenant).await,
            1,
            "the read's event waits for its tenant's lock"
        );
    }
    lock.rollback().await.expect("release the locks");
    for tenant in held {
        until_sealed(&app, tenant).await;
    }
}

/// Events committed without a request to touch the sealer — by the library here, as by a
/// server that stopped or crashed before its sealer ran — are found by the sweep
/// and sealed by the running server (PostgreSQL).
async fn events_nobody_touched_are_sealed_by_the_sweep(backend: Backend) {
    let app = spawn_app(backend).await;
    app.customer(&app.agent_a(), "Acme").await;
    until_sealed(&app, app.a.id).await;
    let scope = api::tenancy::for_tenant(&app.db, app.a.id)
        .await
        .expect("scope");
    api::audit::append(
        &scope,
        &retention_actor(),
        vec![api::audit::NewEvent::write(
            api::audit::Action::Read,
            "Contact",
            uuid::Uuid::now_v7(),
            vec!["email".into()],
        )],
    )
    .await
    .expect("append");
    scope.commit().await.expect("commit");
    // Nothing touched the sealer: without the sweep this waits in vain.
    until_sealed(&app, app.a.id).await;
    let report = app
        .gql(
            &app.token(app.a.id, "compliance"),
            "{ verifyAuditChain { ok checked unsealed } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        report["verifyAuditChain"],
        json!({"ok": true, "checked": 2, "unsealed": 0})
    );
}

on_postgres!(events_nobody_touched_are_sealed_by_the_sweep);

/// The tenant's committed events that have no place in its chain yet.
async fn unsealed(app: &TestApp, tenant: uuid::Uuid) -> i64 {
    app.admin_count(&format!(
        "SELECT COUNT(*) FROM audit_events WHERE tenant_id = {} AND seq IS NULL",
        app.uuid_literal(tenant)
    ))
    .await
}

/// Waits until the server's sealer has sealed every committed event of the tenant.
async fn until_sealed(app: &TestApp, tenant: uuid::Uuid) {
    for _ in 0..100 {
        if unsealed(app, tenant).await == 0 {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("events of {tenant} still unsealed after 10 s");
}

on_postgres!(held_chain_locks_delay_no_request_and_no_other_tenants_seal);
