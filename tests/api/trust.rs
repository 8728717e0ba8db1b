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
    // deleting the customer they are filed under must say why it cannot, not "not found".
    app.admin_exec(&format!(
        "UPDATE contacts SET customer_id = {} WHERE id = {}",
        app.uuid_literal(globex),
        app.uuid_literal(ann)
    ))
    .await
    .expect("an old file's inconsistency");
    let delete = "mutation($id: UUID!) { deleteCustomer(id: $id) }";
    app.gql(&agent, delete, json!({"id": globex}))
        .await
        .expect_code("CONFLICT");
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM customers").await, 2);
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM contacts").await, 2);
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
                assert_eq!(cells.len(), 15, "{line}");
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

/// Group commit (PostgreSQL) isolates failures: an event that cannot be written fails its own
/// request only, never the other requests — of any tenant — that shared its batch. The bad
/// event is made real by a constraint the administrator adds.
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

/// Group commit (PostgreSQL) never makes one tenant wait for another: while tenant A's
/// chain lock is held, tenant B's audited reads still complete.
async fn a_held_chain_lock_delays_only_its_own_tenant(backend: Backend) {
    use sea_orm::{ConnectionTrait, TransactionTrait};
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
    let lock = app.admin.begin().await.expect("admin transaction");
    lock.execute_unprepared(&format!(
        "SELECT pg_advisory_xact_lock(hashtextextended('{}'::text, 7))",
        app.a.id
    ))
    .await
    .expect("tenant A's chain lock");
    let a_read = app.gql(&agent_a, READ_EMAIL, json!({"id": ann}));
    tokio::pin!(a_read);
    let b_read = async {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        tokio::time::timeout(
            std::time::Duration::from_secs(10),
            app.gql(&agent_b, READ_EMAIL, json!({"id": bob})),
        )
        .await
    };
    let b_answer = tokio::select! {
        a = &mut a_read => panic!("A's read completed while A's chain lock was held: {}", a.body),
        b = b_read => b.expect("B's read waited for tenant A's lock"),
    };
    assert!(b_answer.errors().is_empty(), "{}", b_answer.body);
    lock.rollback().await.expect("release A's lock");
    let a_answer = a_read.await;
    assert!(a_answer.errors().is_empty(), "{}", a_answer.body);
}

on_postgres!(
    one_bad_audit_event_fails_only_its_own_request,
    a_held_chain_lock_delays_only_its_own_tenant
);
