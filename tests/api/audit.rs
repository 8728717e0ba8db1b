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
        (Backend::Postgres, false) => "ALTER TABLE audit_events DISABLE TRIGGER USER",
        (Backend::Postgres, true) => "ALTER TABLE audit_events ENABLE TRIGGER USER",
        _ => "SELECT 1",
    };
    // Someone with database access rewrites event 2's fields.
    app.seal_audit().await;
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

/// Sealing after the commit opens no way in (PostgreSQL). The API's own role cannot rewrite
/// an event, insert one already sealed, re-seal a sealed one through `audit_seal`, nor seal
/// one anywhere but at the chain's head; the tables' owner, who may fill the chain columns,
/// cannot change an event, fill them twice, nor delete an unsealed one; and an event inserted
/// with the API's role but without the audit key is never sealed — verification names it —
/// while the events after it are sealed as usual.
async fn an_event_the_api_did_not_write_is_never_sealed(backend: Backend) {
    use sea_orm::{ConnectionTrait, Statement};
    const GENESIS: &str = api::audit::GENESIS_HASH;
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    app.customer(&agent, "Acme").await;
    app.seal_audit().await;
    let tenant = app.uuid_literal(app.a.id);
    let first = app
        .admin_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE tenant_id = {tenant} AND seq = 1"
        ))
        .await;
    assert_eq!(first, 1, "the customer's event is sealed at #1");

    let runtime = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    let update = runtime
        .execute_unprepared("UPDATE audit_events SET actor = 'nobody'")
        .await
        .expect_err("the API's role has no UPDATE on the log");
    assert!(update.to_string().contains("permission denied"), "{update}");
    runtime.rollback().await.expect("rollback");

    let runtime = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    let sealed_id = runtime
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            "SELECT id::text FROM audit_events WHERE seq = 1".to_owned(),
        ))
        .await
        .expect("select")
        .expect("a row")
        .try_get_by_index::<String>(0)
        .expect("id");
    let head_hash = app
        .admin
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT hash FROM audit_events WHERE tenant_id = {tenant} AND seq = 1"),
        ))
        .await
        .expect("select")
        .expect("a row")
        .try_get_by_index::<String>(0)
        .expect("hash");
    // At the right position and link, but the event is sealed already.
    let resealed = runtime
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT audit_seal('[{{\"id\": \"{sealed_id}\", \"seq\": 2, \"prev_hash\": \"{head_hash}\", \"hash\": \"y\", \"seal\": \"z\"}}]')"
            ),
        ))
        .await
        .expect_err("a sealed event is never sealed again");
    assert!(
        resealed.to_string().contains("not an unsealed event"),
        "{resealed}"
    );
    runtime.rollback().await.expect("rollback");
    let runtime = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    // Forged with the API's role: every column right but the mark, which needs the key.
    let forged = uuid::Uuid::now_v7();
    runtime
        .execute_unprepared(&format!(
            "INSERT INTO audit_events (tenant_id, id, at, actor, actor_role, request_id, action, \
             entity, entity_ids, fields, outcome, mark) VALUES ({tenant}, '{forged}', now(), \
             'framed', 'agent', 'forged', 'READ', 'Contact', '[]', '[\"email\"]', 'ALLOWED', \
             repeat('0', 64))"
        ))
        .await
        .expect("the API's role may insert events");
    runtime.commit().await.expect("commit");

    // Sealing continues the chain from its head, one position and link after another, or not
    // at all — whoever calls it (the hash and seal need the key: verification checks them).
    for (seq, prev, what) in [
        (5, head_hash.as_str(), "a gap"),
        (-1, head_hash.as_str(), "a position before the chain"),
        (1, head_hash.as_str(), "a position taken"),
        (2, GENESIS, "a wrong link"),
    ] {
        let runtime = on_tenant(&app.db, app.a.id).await.expect("tenant A");
        let refused = runtime
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT audit_seal('[{{\"id\": \"{forged}\", \"seq\": {seq}, \"prev_hash\": \"{prev}\", \"hash\": \"h\", \"seal\": \"s\"}}]')"
                ),
            ))
            .await
            .expect_err(what);
        assert!(
            refused.to_string().contains("does not continue the chain"),
            "{what}: {refused}"
        );
        runtime.rollback().await.expect("rollback");
    }
    // In a batch, each entry links to the one before it, and names an event of its own.
    for (second_prev, what, refusal) in [
        (
            "x",
            "a second entry linked to another hash",
            "does not continue the chain",
        ),
        ("h", "one event at two positions", "named twice"),
    ] {
        let runtime = on_tenant(&app.db, app.a.id).await.expect("tenant A");
        let refused = runtime
            .query_one_raw(Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!(
                    "SELECT audit_seal('[{{\"id\": \"{forged}\", \"seq\": 2, \"prev_hash\": \"{head_hash}\", \"hash\": \"h\", \"seal\": \"s\"}}, \
                     {{\"id\": \"{forged}\", \"seq\": 3, \"prev_hash\": \"{second_prev}\", \"hash\": \"h2\", \"seal\": \"s2\"}}]')"
                ),
            ))
            .await
            .expect_err(what);
        assert!(refused.to_string().contains(refusal), "{what}: {refused}");
        runtime.rollback().await.expect("rollback");
    }
    // Another tenant's chain cannot take it either: tenant B's head is the genesis, so this
    // continues B's chain, but the event is none of B's.
    let runtime = on_tenant(&app.db, app.b.id).await.expect("tenant B");
    let refused = runtime
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT audit_seal('[{{\"id\": \"{forged}\", \"seq\": 1, \"prev_hash\": \"{GENESIS}\", \"hash\": \"h\", \"seal\": \"s\"}}]')"
            ),
        ))
        .await
        .expect_err("tenant A's event sealed into tenant B's chain");
    assert!(
        refused
            .to_string()
            .contains("not an unsealed event of this tenant"),
        "{refused}"
    );
    runtime.rollback().await.expect("rollback");
    let runtime = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    let refused = runtime
        .execute_unprepared(&format!(
            "INSERT INTO audit_events (tenant_id, id, seq, at, actor, actor_role, request_id, action, \
             entity, entity_ids, fields, outcome, prev_hash, hash, seal) VALUES ({tenant}, '{}', 2, now(), \
             'framed', 'agent', 'forged', 'READ', 'Contact', '[]', '[]', 'ALLOWED', '{head_hash}', 'h', 's')",
            uuid::Uuid::now_v7()
        ))
        .await
        .expect_err("an event is inserted unsealed");
    assert!(
        refused.to_string().contains("inserted unsealed"),
        "{refused}"
    );
    runtime.rollback().await.expect("rollback");

    for (sql, why) in [
        (
            format!(
                "UPDATE audit_events SET actor = 'nobody' WHERE tenant_id = {tenant} AND seq = 1"
            ),
            "sealed once",
        ),
        (
            format!("UPDATE audit_events SET seq = 99 WHERE tenant_id = {tenant} AND seq = 1"),
            "sealed once",
        ),
        (
            format!(
                "UPDATE audit_events SET actor = 'nobody', seq = 2, prev_hash = '{head_hash}', \
                 hash = 'h', seal = 's' WHERE id = '{forged}'"
            ),
            "sealed once",
        ),
        (
            format!("DELETE FROM audit_events WHERE id = '{forged}'"),
            "never deleted",
        ),
    ] {
        let owner = on_tenant(&app.owner, app.a.id).await.expect("tenant A");
        let refused = owner
            .execute_unprepared(&sql)
            .await
            .expect_err("refused to the owner too");
        assert!(refused.to_string().contains(why), "{sql}: {refused}");
        owner.rollback().await.expect("rollback");
    }

    // The trigger that refuses changes of content names every column but the chain's.
    let uncovered = app
        .admin_count(
            "SELECT COUNT(*) FROM pg_attribute a WHERE a.attrelid = 'audit_events'::regclass \
             AND a.attnum > 0 AND NOT a.attisdropped \
             AND a.attname NOT IN ('seq', 'prev_hash', 'hash', 'seal') \
             AND NOT COALESCE(a.attnum = ANY ((SELECT t.tgattr FROM pg_trigger t \
               WHERE t.tgrelid = 'audit_events'::regclass \
               AND t.tgname = 'audit_events_content_fixed')::int2[]), false)",
        )
        .await;
    assert_eq!(uncovered, 0, "a column of audit_events may be updated");

    // A real event after the forged one, sealed as usual.
    app.customer(&agent, "Beta").await;
    app.seal_audit().await;
    assert_eq!(
        app.admin_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE tenant_id = {tenant} AND seq IS NULL"
        ))
        .await,
        1,
        "only the forged event is unsealed"
    );
    assert_eq!(
        app.admin_count(&format!(
            "SELECT COUNT(*) FROM audit_events WHERE tenant_id = {tenant} AND seq = 2 AND actor <> 'framed'"
        ))
        .await,
        1,
        "the next real event took #2"
    );
    let report = app
        .gql(
            &app.token(app.a.id, "compliance"),
            "{ verifyAuditChain { ok checked reason firstBrokenId unsealed } }",
            json!({}),
        )
        .await
        .ok();
    let report = &report["verifyAuditChain"];
    assert_eq!(report["ok"], json!(false), "{report}");
    assert_eq!(report["checked"], json!(2), "{report}");
    assert_eq!(report["unsealed"], json!(1), "{report}");
    assert_eq!(report["firstBrokenId"], json!(forged), "{report}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("mark"),
        "{report}"
    );
    let listed = app.audit_events(json!({"actor": {"eq": "framed"}})).await;
    assert!(listed.is_empty(), "the log lists sealed events: {listed:?}");
}

/// The API's role may call `audit_seal` itself, at the right position with the right link and
/// even the right hash (the hash function is public): without the audit key its seal does not
/// verify, and verification stops at that event (PostgreSQL).
async fn a_seal_made_without_the_key_breaks_the_chain(backend: Backend) {
    use sea_orm::{ConnectionTrait, EntityTrait, Statement};
    let app = spawn_app(backend).await;
    app.customer(&app.agent_a(), "Acme").await;
    app.seal_audit().await;
    let tenant = app.uuid_literal(app.a.id);
    let forged = uuid::Uuid::now_v7();
    let runtime = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    runtime
        .execute_unprepared(&format!(
            "INSERT INTO audit_events (tenant_id, id, at, actor, actor_role, request_id, action, \
             entity, entity_ids, fields, outcome) VALUES ({tenant}, '{forged}', now(), \
             'framed', 'agent', 'forged', 'READ', 'Contact', '[]', '[\"email\"]', 'ALLOWED')"
        ))
        .await
        .expect("the API's role may insert events");
    let row = entity::audit_event::Entity::find_by_id((app.a.id, forged))
        .one(&runtime)
        .await
        .expect("select")
        .expect("the forged row");
    let head_hash = app
        .admin
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!("SELECT hash FROM audit_events WHERE tenant_id = {tenant} AND seq = 1"),
        ))
        .await
        .expect("select")
        .expect("a row")
        .try_get_by_index::<String>(0)
        .expect("hash");
    let mut sealed = entity::audit_event::Model {
        seq: Some(2),
        prev_hash: Some(head_hash.clone()),
        ..row
    };
    let hash = api::audit::event_hash(&sealed);
    sealed.hash = Some(hash.clone());
    let written = runtime
        .query_one_raw(Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT audit_seal('[{{\"id\": \"{forged}\", \"seq\": 2, \"prev_hash\": \"{head_hash}\", \"hash\": \"{hash}\", \"seal\": \"{}\"}}]')",
                "0".repeat(64)
            ),
        ))
        .await
        .expect("audit_seal checks positions and links, not the key")
        .expect("a row")
        .try_get_by_index::<i64>(0)
        .expect("a count");
    assert_eq!(written, 1);
    runtime.commit().await.expect("commit");
    let report = app
        .gql(
            &app.token(app.a.id, "compliance"),
            "{ verifyAuditChain { ok checked firstBrokenSeq firstBrokenId reason } }",
            json!({}),
        )
        .await
        .ok();
    let report = &report["verifyAuditChain"];
    assert_eq!(report["ok"], json!(false), "{report}");
    assert_eq!(report["checked"], json!(1), "{report}");
    assert_eq!(report["firstBrokenSeq"], json!(2), "{report}");
    assert_eq!(report["firstBrokenId"], json!(forged), "{report}");
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("seal"),
        "{report}"
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

/// A page of people makes one event naming them all; on PostgreSQL its ids are kept with LZ4
/// (cheaper than `pglz` on every audited read), and the chain still verifies.
async fn a_large_event_is_stored_with_lz4_and_verifies(backend: Backend) {
    let app = spawn_app(backend).await;
    let customer = app.customer(&app.agent_a(), "Acme").await;
    let (tenant, customer_id) = (app.uuid_literal(app.a.id), app.uuid_literal(customer));
    let at = app.timestamp_literal("2026-01-01T00:00:00Z");
    app.admin_exec(&format!(
        "INSERT INTO contacts (tenant_id, id, customer_id, email, created_at, updated_at) \
         SELECT {tenant}, gen_random_uuid(), {customer_id}, 'p' || i || '@example.com', {at}, {at} \
         FROM generate_series(1, 150) AS i"
    ))
    .await
    .expect("150 people");
    let data = app
        .gql(
            &app.agent_a(),
            "{ contacts(first: 200) { edges { node { email } } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        data["contacts"]["edges"].as_array().map(Vec::len),
        Some(150)
    );
    app.seal_audit().await;
    let stored = app
        .admin_strings(&format!(
            "SELECT pg_column_compression(entity_ids) FROM audit_events \
             WHERE tenant_id = {tenant} AND entity = 'Contact' AND action = 'READ' \
             AND jsonb_array_length(entity_ids) = 150"
        ))
        .await;
    assert_eq!(stored, vec!["lz4".to_owned()]);
    let report = app
        .gql(
            &app.token(app.a.id, "compliance"),
            "{ verifyAuditChain { ok } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(report["verifyAuditChain"], json!({"ok": true}));
}

on_both_backends!(
    concurrent_requests_keep_one_unbroken_chain,
    reads_of_personal_data_make_one_event_per_entity_type,
    writes_are_audited_with_field_names_and_never_values,
    no_data_without_its_audit_event,
    the_chain_verifies_and_detects_tampering,
);

on_postgres!(
    the_audit_table_refuses_update_and_delete_on_postgres,
    an_event_the_api_did_not_write_is_never_sealed,
    a_seal_made_without_the_key_breaks_the_chain,
    a_large_event_is_stored_with_lz4_and_verifies,
);
