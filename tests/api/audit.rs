//! Audit: an event for every personal-data read and every write, never holding values;
//! no data without its event; a hash chain that detects tampering.

use serde_json::{Value, json};
use tests::*;

async fn reads_of_personal_data_make_one_event_per_entity_type(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let customer = app.customer(&token, "Acme").await;
    let first = app
        .contact(&token, customer, "Ann", "ann@acme.example")
        .await;
    let second = app
        .contact(&token, customer, "Ben", "ben@acme.example")
        .await;
    let response = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(&token)
        .header("x-request-id", "req-audit-1")
        .json(&json!({"query": "{ contacts { edges { node { id email firstName jobTitle } } } customers { edges { node { name } } } }"}))
        .send()
        .await
        .expect("sent");
    // The server makes the request's id; the caller's own is recorded beside it.
    let server_id = response.headers()["x-request-id"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert_ne!(server_id, "req-audit-1");
    let body: Value = response.json().await.expect("json");
    assert!(body["errors"].is_null(), "{body}");
    let reads = app
        .audit_events(json!({"action": ["READ"], "entity": {"eq": "Contact"}}))
        .await;
    assert_eq!(
        reads.len(),
        1,
        "customers are not personal data; contacts make one event: {reads:?}"
    );
    let event = &reads[0];
    assert_eq!(event["entity"], json!("Contact"));
    assert_eq!(event["requestId"], json!(server_id));
    assert_eq!(event["callerRequestId"], json!("req-audit-1"));
    assert_eq!(event["actor"], json!("user-agent"));
    assert_eq!(event["purpose"], json!("support ticket 42"));
    assert_eq!(event["outcome"], json!("ALLOWED"));
    assert_eq!(event["fields"], json!(["email", "firstName"]));
    let mut ids = vec![json!(first), json!(second)];
    ids.sort_by_key(|v| v.to_string());
    assert_eq!(event["entityIds"], json!(ids));
    // A query without personal fields leaves no read event: the reads are exactly as before.
    app.gql(
        &token,
        "{ contacts { edges { node { id jobTitle } } } }",
        json!({}),
    )
    .await
    .ok();
    assert_eq!(
        app.audit_events(json!({"action": ["READ"], "entity": {"eq": "Contact"}}))
            .await,
        reads
    );
}

async fn writes_are_audited_with_field_names_and_never_values(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let customer = app.customer(&token, "Acme").await;
    let contact = app
        .contact(&token, customer, "Zoé", "zoe.secret@acme.example")
        .await;
    app.gql(&token, "mutation($id: UUID!) { updateContact(id: $id, input: {phone: \"+33 1 23 45 67 89\", jobTitle: null}) { id } }", json!({"id": contact})).await.ok();
    app.gql(
        &token,
        "mutation($id: UUID!) { deleteContact(id: $id) }",
        json!({"id": contact}),
    )
    .await
    .ok();
    let writes = app.audit_events(json!({"entity": {"eq": "Contact"}})).await;
    for event in &writes {
        assert_eq!(event["entityIds"], json!([contact]), "{event}");
        assert_eq!(event["actor"], json!("user-agent"), "{event}");
        assert_eq!(event["actorRole"], json!("agent"), "{event}");
        assert_eq!(event["outcome"], json!("ALLOWED"), "{event}");
    }
    let summary: Vec<(Value, Value)> = writes
        .iter()
        .map(|e| (e["action"].clone(), e["fields"].clone()))
        .collect();
    assert_eq!(
        summary,
        vec![
            (json!("DELETE"), json!([])),
            (json!("UPDATE"), json!(["jobTitle", "phone"])),
            (
                json!("CREATE"),
                json!([
                    "birthday",
                    "customerId",
                    "email",
                    "externalRef",
                    "firstName",
                    "jobTitle",
                    "lastName",
                    "phone"
                ])
            ),
        ]
    );
    // No personal value anywhere in the stored log.
    let log = Value::Array(app.audit_events(json!({})).await).to_string();
    for value in ["Zoé", "zoe.secret", "+33123456789", "Martin", "1985-04-12"] {
        assert!(!log.contains(value), "{value} is in the audit log");
    }
}

async fn install_failing_audit_trigger(app: &TestApp) {
    let sql = match app.backend {
        Backend::Sqlite => "CREATE TRIGGER audit_down BEFORE INSERT ON audit_events BEGIN SELECT RAISE(ABORT, 'audit store down'); END".to_owned(),
        Backend::Postgres => "CREATE FUNCTION audit_down() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION 'audit store down'; END $$; \
            CREATE TRIGGER audit_down BEFORE INSERT ON audit_events FOR EACH ROW EXECUTE FUNCTION audit_down()".to_owned(),
    };
    app.admin_exec(&sql).await.expect("trigger installed");
}

async fn no_data_without_its_audit_event(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let customer = app.customer(&token, "Acme").await;
    let contact = app
        .contact(&token, customer, "Hidden", "hidden@acme.example")
        .await;
    let before = app.admin_count("SELECT COUNT(*) FROM audit_events").await;
    install_failing_audit_trigger(&app).await;

    // A write whose audit event cannot be written does not happen.
    let answer = app
        .gql(
            &token,
            "mutation { createCustomer(input: {name: \"Ghost\", country: \"FR\"}) { id } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.codes(), vec!["INTERNAL"], "{}", answer.body);
    assert!(
        !answer.body.to_string().contains("audit store down"),
        "internal cause leaked: {}",
        answer.body
    );
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM customers").await, 1);
    let answer = app
        .gql(
            &token,
            "mutation($id: UUID!) { updateContact(id: $id, input: {jobTitle: \"CEO\"}) { id } }",
            json!({"id": contact}),
        )
        .await;
    assert_eq!(answer.codes(), vec!["INTERNAL"]);

    // A read of personal data whose event cannot be written returns an error, not the data.
    let answer = app
        .gql(
            &token,
            "query($id: UUID!) { contact(id: $id) { id email firstName } }",
            json!({"id": contact}),
        )
        .await;
    assert!(
        !answer.body.to_string().contains("hidden@acme.example"),
        "data left without its audit event: {}",
        answer.body
    );
    assert_eq!(answer.codes(), vec!["INTERNAL"]);
    assert!(answer.data().is_null());
    // Reads of non-personal data need no event and still work.
    app.gql(&token, "{ customers { totalCount } }", json!({}))
        .await
        .ok();
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM audit_events").await,
        before
    );
    let drop = match backend {
        Backend::Sqlite => "DROP TRIGGER audit_down",
        Backend::Postgres => "DROP TRIGGER audit_down ON audit_events",
    };
    app.admin_exec(drop).await.expect("drop");
    let job = app
        .gql(
            &token,
            "query($id: UUID!) { contact(id: $id) { jobTitle } }",
            json!({"id": contact}),
        )
        .await
        .ok();
    assert_eq!(
        job["contact"]["jobTitle"],
        json!(null),
        "the refused update left nothing behind"
    );
}

async fn the_chain_verifies_and_detects_tampering(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let customer = app.customer(&token, "Acme").await;
    let mut contacts = Vec::new();
    for i in 0..3 {
        contacts.push(
            app.contact(&token, customer, "P", &format!("p{i}@acme.example"))
                .await,
        );
    }
    // Tenant B's chain is separate.
    app.customer(&app.agent_b(), "Other").await;
    let verify =
        "{ verifyAuditChain { ok checked firstBrokenSeq firstBrokenId expectedHash foundHash } }";
    let officer = app.token(app.a.id, "compliance");
    let report = app.gql(&officer, verify, json!({})).await.ok();
    assert_eq!(
        report["verifyAuditChain"],
        json!({"ok": true, "checked": 4, "firstBrokenSeq": null, "firstBrokenId": null, "expectedHash": null, "foundHash": null})
    );
    let all = app.audit_events(json!({})).await;
    assert_eq!(all.len(), 5, "four writes, then the verification itself");
    // Newest first: the verification, the three contacts, the customer.
    assert_event(
        &all[0],
        ("user-compliance", "compliance"),
        ("READ", "AuditEvent"),
        &[],
        &[],
    );
    for (event, contact) in all[1..4].iter().zip(contacts.iter().rev()) {
        assert_eq!(
            (
                &event["action"],
                &event["entity"],
                &event["entityIds"],
                &event["actor"]
            ),
            (
                &json!("CREATE"),
                &json!("Contact"),
                &json!([contact]),
                &json!("user-agent")
            ),
            "{event}"
        );
    }
    assert_eq!(
        (
            &all[4]["action"],
            &all[4]["entity"],
            &all[4]["entityIds"],
            &all[4]["actor"]
        ),
        (
            &json!("CREATE"),
            &json!("Customer"),
            &json!([customer]),
            &json!("user-agent")
        ),
        "{}",
        all[4]
    );
    for pair in all.windows(2) {
        assert_eq!(
            pair[1]["hash"], pair[0]["prevHash"],
            "each event links to the previous one"
        );
    }

    let tenant = app.uuid_literal(app.a.id);
    let unlock = |on: bool| match (backend, on) {
        (Backend::Postgres, false) => {
            "ALTER TABLE audit_events DISABLE TRIGGER audit_events_append_only"
        }
        (Backend::Postgres, true) => {
            "ALTER TABLE audit_events ENABLE TRIGGER audit_events_append_only"
        }
        _ => "SELECT 1",
    };
    // Someone with database access rewrites event 2's fields.
    app.admin_exec(unlock(false)).await.expect("unlock");
    app.admin_exec(&format!(
        "UPDATE audit_events SET fields = '[]' WHERE tenant_id = {tenant} AND seq = 2"
    ))
    .await
    .expect("tamper");
    let report = app.gql(&officer, verify, json!({})).await.ok();
    let r = &report["verifyAuditChain"];
    assert_eq!(r["ok"], json!(false));
    assert_eq!(r["firstBrokenSeq"], json!(2));
    let second = all.iter().find(|e| e["seq"] == json!(2)).expect("event 2");
    assert_eq!(r["firstBrokenId"], second["id"], "the edited row is named");
    assert_eq!(r["checked"], json!(1));
    assert_ne!(r["expectedHash"], r["foundHash"]);
    // Deleting the first events to hide them breaks the chain at the first missing position.
    app.admin_exec(&format!(
        "DELETE FROM audit_events WHERE tenant_id = {tenant} AND seq <= 2"
    ))
    .await
    .expect("delete");
    app.admin_exec(unlock(true)).await.expect("lock");
    let report = app.gql(&officer, verify, json!({})).await.ok();
    assert_eq!(
        report["verifyAuditChain"]["firstBrokenSeq"],
        json!(1),
        "{report}"
    );
    // Tenant B's chain is untouched.
    let report = app
        .gql(&app.token(app.b.id, "compliance"), verify, json!({}))
        .await
        .ok();
    assert_eq!(report["verifyAuditChain"]["ok"], json!(true));
}

async fn the_audit_table_refuses_update_and_delete_on_postgres(backend: Backend) {
    let app = spawn_app(backend).await;
    app.customer(&app.agent_a(), "Acme").await;
    for sql in [
        "UPDATE audit_events SET actor = 'nobody'",
        "DELETE FROM audit_events",
        "TRUNCATE audit_events",
    ] {
        let err = app
            .admin_exec(sql)
            .await
            .expect_err("refused even for a superuser while the trigger stands");
        assert!(err.to_string().contains("append-only"), "{err}");
    }
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM audit_events").await,
        1
    );
}

async fn concurrent_requests_keep_one_unbroken_chain(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let customer = app.customer(&token, "Busy").await;
    let contact = app
        .contact(&token, customer, "Ann", "ann@busy.example")
        .await;
    let writes = (0..12).map(|i| {
        app.gql(&token, "mutation($c: UUID!, $n: String!) { createSale(input: {customerId: $c, sku: $n, amount: \"1.00\"}) { id } }", json!({"c": customer, "n": format!("SKU-{i}")}))
    });
    let reads = (0..12).map(|_| {
        app.gql(
            &token,
            "query($id: UUID!) { contact(id: $id) { email } }",
            json!({"id": contact}),
        )
    });
    let (writes, reads) = futures_util::future::join(
        futures_util::future::join_all(writes),
        futures_util::future::join_all(reads),
    )
    .await;
    for answer in writes.into_iter().chain(reads) {
        answer.ok();
    }
    let report = app
        .gql(
            &app.token(app.a.id, "compliance"),
            "{ verifyAuditChain { ok checked } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        report["verifyAuditChain"],
        json!({"ok": true, "checked": 26})
    );
}

on_both_backends!(
    concurrent_requests_keep_one_unbroken_chain,
    reads_of_personal_data_make_one_event_per_entity_type,
    writes_are_audited_with_field_names_and_never_values,
    no_data_without_its_audit_event,
    the_chain_verifies_and_detects_tampering,
);

on_postgres!(the_audit_table_refuses_update_and_delete_on_postgres);
