//! The compliance officer's toolkit: subject export (Art. 15, 20), erasure with tombstone and
//! re-import flag (Art. 17), legal holds, consents with history (Art. 6, 7), retention
//! (Art. 5(1)(e)), audit search and export — each refused to other roles, scoped to the
//! caller's tenant, and itself audited.

use serde_json::{Value, json};
use tests::*;
use uuid::Uuid;

/// Tenant A with its agent's and compliance officer's tokens, a customer, and Ann.
struct Office {
    app: TestApp,
    agent: String,
    officer: String,
    customer: Uuid,
    ann: Uuid,
}

async fn office(backend: Backend, ann_email: &str) -> Office {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let officer = app.token(app.a.id, "compliance");
    let customer = app.customer(&agent, "Acme").await;
    let ann = app.contact(&agent, customer, "Ann", ann_email).await;
    Office {
        app,
        agent,
        officer,
        customer,
        ann,
    }
}

const EXPORT: &str = "query($id: UUID!) { exportSubject(contactId: $id) }";
const ERASE: &str =
    "mutation($id: UUID!, $reason: String!) { eraseContact(contactId: $id, reason: $reason) {
    id contactId customerId erasedAt erasedBy actorRole reason via } }";
const CONSENT: &str = "mutation($input: RecordConsentInput!) { recordConsent(input: $input) {
    id contactId purpose granted legalBasis source recordedBy } }";

async fn sale_of(app: &TestApp, token: &str, customer: Uuid, contact: Uuid, sku: &str) -> Uuid {
    let data = app
        .gql(
            token,
            "mutation($input: CreateSaleInput!) { createSale(input: $input) { id } }",
            json!({ "input": { "customerId": customer, "contactId": contact, "sku": sku,
                "amount": "120.50", "currency": "EUR", "soldAt": "2026-03-01T10:00:00Z" } }),
        )
        .await
        .ok();
    uuid(&data["createSale"]["id"])
}

async fn consent(app: &TestApp, token: &str, contact: Uuid, purpose: &str, granted: bool) -> Value {
    app.gql(
        token,
        CONSENT,
        json!({ "input": { "contactId": contact, "purpose": purpose, "granted": granted,
            "source": "web_form:newsletter" } }),
    )
    .await
    .ok()["recordConsent"]
        .clone()
}

async fn subject_export_holds_everything_about_the_person_and_nothing_else(backend: Backend) {
    let Office {
        app,
        agent,
        officer,
        customer,
        ann,
    } = office(backend, "ann@acme.example").await;
    let ben = app
        .contact(&agent, customer, "Ben", "ben@acme.example")
        .await;
    let ann_sale = sale_of(&app, &agent, customer, ann, "SKU-ANN").await;
    let ben_sale = sale_of(&app, &agent, customer, ben, "SKU-BEN").await;
    consent(&app, &agent, ann, "marketing_email", true).await;
    consent(&app, &agent, ann, "marketing_email", false).await;
    consent(&app, &agent, ben, "profiling", true).await;
    // Another tenant holds a person with the same email.
    let b_customer = app.customer(&app.agent_b(), "Other Acme").await;
    let b_person = app
        .contact(&app.agent_b(), b_customer, "Ann", "ann@acme.example")
        .await;
    // An access to Ann's data, to be found in her export.
    app.read_email(&agent, ann).await;

    let doc = app.gql(&officer, EXPORT, json!({ "id": ann })).await.ok()["exportSubject"].clone();
    assert_eq!(doc["format"], json!("dossier.subject-export/v1"));
    assert_eq!(doc["subject"]["id"], json!(ann));
    assert_eq!(doc["subject"]["email"], json!("ann@acme.example"));
    assert_eq!(doc["subject"]["firstName"], json!("Ann"));
    assert_eq!(doc["subject"]["phone"], json!("+33612345678"));
    assert_eq!(doc["subject"]["birthday"], json!("1985-04-12"));
    assert_eq!(doc["customer"]["id"], json!(customer));
    assert_eq!(doc["customer"]["name"], json!("Acme"));
    let sales = doc["sales"].as_array().expect("sales");
    assert_eq!(sales.len(), 1, "{sales:?}");
    assert_eq!(sales[0]["id"], json!(ann_sale));
    assert_eq!(sales[0]["amount"], json!("120.50"));
    let consents = doc["consents"].as_array().expect("consents");
    assert_eq!(
        consents.len(),
        2,
        "the history, both decisions: {consents:?}"
    );
    assert_eq!(consents[0]["granted"], json!(true));
    assert_eq!(consents[1]["granted"], json!(false));
    let accesses = doc["accessLog"].as_array().expect("access log");
    assert!(
        accesses.iter().any(|e| e["action"] == json!("READ")
            && e["actor"] == json!("user-agent")
            && e["purpose"] == json!("support ticket 42")
            && e["fields"] == json!(["email"])),
        "the agent's read is in the access log: {accesses:?}"
    );
    assert!(
        accesses.iter().any(|e| e["action"] == json!("CREATE")),
        "her creation too: {accesses:?}"
    );
    let text = doc.to_string();
    for foreign in [
        ben.to_string(),
        ben_sale.to_string(),
        "ben@acme.example".into(),
        "SKU-BEN".into(),
        "profiling".into(),
        b_person.to_string(),
        b_customer.to_string(),
    ] {
        assert!(
            !text.contains(&foreign),
            "{foreign} leaked into Ann's export"
        );
    }

    // The export is audited, as an EXPORT of Ann naming her personal fields.
    let exports = app
        .audit_events(json!({ "action": ["EXPORT"], "subjectId": ann }))
        .await;
    assert_eq!(exports.len(), 1, "{exports:?}");
    assert_eq!(exports[0]["entity"], json!("Contact"));
    assert_eq!(exports[0]["entityIds"], json!([ann]));
    assert_eq!(
        exports[0]["fields"],
        json!(["birthday", "email", "firstName", "lastName", "phone"])
    );
    assert_eq!(exports[0]["actorRole"], json!("compliance"));

    // Another tenant's officer cannot export her; other roles cannot export at all.
    app.gql(
        &app.token(app.b.id, "compliance"),
        EXPORT,
        json!({ "id": ann }),
    )
    .await
    .expect_code("NOT_FOUND");
    for role in ["agent", "admin", "analyst"] {
        app.gql(&app.token(app.a.id, role), EXPORT, json!({ "id": ann }))
            .await
            .expect_code("FORBIDDEN");
    }
}

async fn erasure_removes_the_person_from_every_path_and_keeps_the_sales(backend: Backend) {
    let Office {
        app,
        agent,
        officer,
        customer,
        ann,
    } = office(backend, "Ann@Acme.example").await;
    let ben = app
        .contact(&agent, customer, "Ben", "ben@acme.example")
        .await;
    let sale = sale_of(&app, &agent, customer, ann, "SKU-ANN").await;
    consent(&app, &agent, ann, "marketing_email", true).await;

    // Refused to other roles and to other tenants, and nothing changes.
    for role in ["agent", "admin", "analyst"] {
        app.gql(
            &app.token(app.a.id, role),
            ERASE,
            json!({ "id": ann, "reason": "x" }),
        )
        .await
        .expect_code("FORBIDDEN");
    }
    app.gql(
        &app.token(app.b.id, "compliance"),
        ERASE,
        json!({ "id": ann, "reason": "x" }),
    )
    .await
    .expect_code("NOT_FOUND");
    app.gql(&officer, ERASE, json!({ "id": ann, "reason": " " }))
        .await
        .expect_code("BAD_USER_INPUT");
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM contacts").await,
        2,
        "refused erasures erase nothing"
    );

    let receipt = app
        .gql(
            &officer,
            ERASE,
            json!({ "id": ann, "reason": "Art. 17 request #12" }),
        )
        .await
        .ok()["eraseContact"]
        .clone();
    assert_eq!(receipt["contactId"], json!(ann));
    assert_eq!(receipt["customerId"], json!(customer));
    assert_eq!(receipt["erasedBy"], json!("user-compliance"));
    assert_eq!(receipt["reason"], json!("Art. 17 request #12"));
    assert_eq!(receipt["via"], json!("API"));
    let tombstone = uuid(&receipt["id"]);

    // No query, filter, nested path or export returns any of it.
    let seen = app
        .gql(
            &agent,
            "query($id: UUID!, $c: UUID!, $s: UUID!) {
                contact(id: $id) { id email }
                byEmail: contacts(filter: {email: {contains: \"ann@\"}}) { edges { node { id } } }
                byName: contacts(filter: {firstName: {eq: \"Ann\"}}) { edges { node { id } } }
                customer(id: $c) { contacts { edges { node { id firstName } } } }
                sale(id: $s) { id contactId contact { id } amount customer { id } }
            }",
            json!({ "id": ann, "c": customer, "s": sale }),
        )
        .await
        .ok();
    assert_eq!(seen["contact"], Value::Null);
    assert_eq!(seen["byEmail"]["edges"], json!([]));
    assert_eq!(seen["byName"]["edges"], json!([]));
    assert_eq!(
        seen["customer"]["contacts"]["edges"],
        json!([{ "node": { "id": ben, "firstName": "Ben" } }])
    );
    // The sale stays, for accounting, linked to the customer and not to the person.
    assert_eq!(seen["sale"]["id"], json!(sale));
    assert_eq!(seen["sale"]["contactId"], Value::Null);
    assert_eq!(seen["sale"]["contact"], Value::Null);
    assert_eq!(seen["sale"]["amount"], json!("120.50"));
    assert_eq!(seen["sale"]["customer"]["id"], json!(customer));
    app.gql(&officer, EXPORT, json!({ "id": ann }))
        .await
        .expect_code("NOT_FOUND");
    // Nothing of her is left in the tables either.
    assert_eq!(
        app.admin_count(
            "SELECT COUNT(*) FROM contacts WHERE LOWER(email) LIKE 'ann@%' OR first_name = 'Ann'"
        )
        .await,
        0
    );
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM consents").await, 0);
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM sales").await, 1);
    assert_eq!(
        app.admin_count(
            "SELECT COUNT(*) FROM erasures WHERE email_key IS NOT NULL AND email_key NOT LIKE '%@%'"
        )
        .await,
        1,
        "the tombstone keeps a key, not the address"
    );

    // The chain still verifies; the erasure is audited and listed.
    let chain = app
        .gql(&officer, "{ verifyAuditChain { ok checked } }", json!({}))
        .await
        .ok();
    assert_eq!(chain["verifyAuditChain"]["ok"], json!(true), "{chain}");
    let erased = app
        .audit_events(json!({ "action": ["ERASE"], "subjectId": ann }))
        .await;
    let entities: Vec<&Value> = erased.iter().map(|e| &e["entity"]).collect();
    assert!(entities.contains(&&json!("Contact")), "{erased:?}");
    assert!(entities.contains(&&json!("Consent")), "{erased:?}");
    let detached = app
        .audit_events(json!({ "action": ["UPDATE"], "entity": {"eq": "Sale"} }))
        .await;
    assert_eq!(detached[0]["entityIds"], json!([sale]));
    assert_eq!(detached[0]["fields"], json!(["contactId"]));
    let list = app
        .gql(
            &officer,
            "{ erasures { edges { node { id contactId reason via } } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        list["erasures"]["edges"],
        json!([{ "node": { "id": tombstone, "contactId": ann, "reason": "Art. 17 request #12", "via": "API" } }])
    );
    let other = app
        .gql(
            &app.token(app.b.id, "compliance"),
            "{ erasures { edges { node { id } } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        other["erasures"]["edges"],
        json!([]),
        "tombstones are per tenant"
    );

    // The same person re-imported is flagged; someone else is not; another tenant never is.
    // Only the compliance scopes see the flag: to a writer it would confirm that a candidate
    // email belonged to an erased person.
    let flagged = |email: &'static str| json!({ "input": { "customerId": customer, "firstName": "A", "email": email } });
    let create = "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }";
    let flag_of = async |token: &str, id: &Value| {
        app.gql(
            token,
            "query($id: UUID!) { contact(id: $id) { matchesErasureId } }",
            json!({ "id": id }),
        )
        .await
        .ok()["contact"]["matchesErasureId"]
            .clone()
    };
    let again = app
        .gql(&agent, create, flagged("ann@acme.EXAMPLE"))
        .await
        .ok();
    assert_eq!(
        flag_of(&officer, &again["createContact"]["id"]).await,
        json!(tombstone)
    );
    let to_writer = app
        .gql(
            &agent,
            "mutation($input: CreateContactInput!) { createContact(input: $input) { id matchesErasureId } }",
            flagged("ann@acme.example"),
        )
        .await;
    assert_eq!(to_writer.codes(), vec!["FORBIDDEN"], "{}", to_writer.body);
    assert_eq!(
        to_writer.errors()[0]["path"],
        json!(["createContact", "matchesErasureId"])
    );
    assert_eq!(
        to_writer.data()["createContact"]["matchesErasureId"],
        Value::Null
    );
    let stranger = app
        .gql(&agent, create, flagged("carla@acme.example"))
        .await
        .ok();
    assert_eq!(
        flag_of(&officer, &stranger["createContact"]["id"]).await,
        Value::Null
    );
    let b_customer = app.customer(&app.agent_b(), "Other").await;
    let elsewhere = app
        .gql(
            &app.agent_b(),
            create,
            json!({ "input": { "customerId": b_customer, "email": "ann@acme.example" } }),
        )
        .await
        .ok();
    assert_eq!(
        flag_of(
            &app.token(app.b.id, "compliance"),
            &elsewhere["createContact"]["id"]
        )
        .await,
        Value::Null
    );
    // Changing an existing contact's phone to hers flags it too.
    app.gql(
        &agent,
        "mutation($id: UUID!) { updateContact(id: $id, input: {phone: \"+33 6 12 34 56 78\"}) { id } }",
        json!({ "id": uuid(&stranger["createContact"]["id"]) }),
    )
    .await
    .ok();
    assert_eq!(
        flag_of(&officer, &stranger["createContact"]["id"]).await,
        json!(tombstone)
    );
}

async fn a_legal_hold_blocks_erasure_until_released(backend: Backend) {
    let Office {
        app,
        agent,
        officer,
        customer,
        ann,
    } = office(backend, "ann@acme.example").await;
    let place = "mutation($input: PlaceLegalHoldInput!) { placeLegalHold(input: $input) { id entity entityId active placedBy } }";
    let input = json!({ "input": { "entity": "CUSTOMER", "entityId": customer, "reason": "case 2026-17" } });
    app.gql(&agent, place, input.clone())
        .await
        .expect_code("FORBIDDEN");
    app.gql(&app.token(app.b.id, "compliance"), place, input.clone())
        .await
        .expect_code("NOT_FOUND");
    let hold = app.gql(&officer, place, input).await.ok()["placeLegalHold"].clone();
    assert_eq!(hold["active"], json!(true));
    assert_eq!(hold["placedBy"], json!("user-compliance"));

    app.gql(&officer, ERASE, json!({ "id": ann, "reason": "request" }))
        .await
        .expect_code("CONFLICT");
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM contacts").await, 1);
    let active = app
        .gql(&officer, "{ legalHolds { id active } }", json!({}))
        .await
        .ok();
    assert_eq!(active["legalHolds"].as_array().map(Vec::len), Some(1));

    let release = "mutation($id: UUID!) { releaseLegalHold(id: $id) { active releasedBy } }";
    app.gql(
        &app.token(app.b.id, "compliance"),
        release,
        json!({ "id": hold["id"] }),
    )
    .await
    .expect_code("NOT_FOUND");
    let released = app
        .gql(&officer, release, json!({ "id": hold["id"] }))
        .await
        .ok();
    assert_eq!(released["releaseLegalHold"]["active"], json!(false));
    app.gql(&officer, release, json!({ "id": hold["id"] }))
        .await
        .expect_code("CONFLICT");
    let history = app
        .gql(
            &officer,
            "{ active: legalHolds { id } all: legalHolds(activeOnly: false) { id } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(history["active"], json!([]));
    assert_eq!(history["all"].as_array().map(Vec::len), Some(1));

    app.gql(&officer, ERASE, json!({ "id": ann, "reason": "request" }))
        .await
        .ok();
    let holds = app
        .audit_events(json!({ "entity": {"eq": "LegalHold"}, "action": ["CREATE", "UPDATE"] }))
        .await;
    assert_eq!(
        holds.len(),
        2,
        "placing and releasing are audited: {holds:?}"
    );
}

async fn consents_keep_their_history_and_are_personal_data(backend: Backend) {
    let Office {
        app,
        agent,
        officer: _,
        customer,
        ann,
    } = office(backend, "ann@acme.example").await;
    let granted = consent(&app, &agent, ann, "marketing_email", true).await;
    assert_eq!(granted["granted"], json!(true));
    assert_eq!(granted["legalBasis"], json!("CONSENT"));
    assert_eq!(granted["recordedBy"], json!("user-agent"));
    consent(&app, &agent, ann, "marketing_email", false).await;
    consent(&app, &agent, ann, "profiling", true).await;

    let query = "query($id: UUID!) { contact(id: $id) {
        current: consents { purpose granted source }
        history: consents(purpose: \"marketing_email\", history: true) { granted }
    } }";
    let seen = app.gql(&agent, query, json!({ "id": ann })).await.ok();
    assert_eq!(
        seen["contact"]["current"],
        json!([
            { "purpose": "marketing_email", "granted": false, "source": "web_form:newsletter" },
            { "purpose": "profiling", "granted": true, "source": "web_form:newsletter" },
        ])
    );
    assert_eq!(
        seen["contact"]["history"],
        json!([{ "granted": true }, { "granted": false }])
    );
    let reads = app
        .audit_events(json!({ "action": ["READ"], "entity": {"eq": "Consent"} }))
        .await;
    assert_eq!(
        reads.len(),
        4,
        "each recordConsent answered `granted` and `source`, then the query read them: {reads:?}"
    );
    assert_eq!(
        reads[0]["entityIds"],
        json!([ann]),
        "consent reads name the person"
    );
    assert_eq!(reads[0]["fields"], json!(["granted", "source"]));

    // Contacts filter by their current decision, at the top level and nested.
    let ben = app
        .contact(&agent, customer, "Ben", "ben@acme.example")
        .await;
    consent(&app, &agent, ben, "marketing_email", true).await;
    consent(&app, &agent, ben, "marketing_email", true).await;
    let by_consent = "query($c: UUID!, $f: ContactFilter) {
        contacts(filter: $f) { edges { node { id } } }
        customer(id: $c) { contacts(filter: $f) { edges { node { id } } } } }";
    for (filter, expected) in [
        (
            json!({ "purpose": "marketing_email", "granted": false }),
            vec![ann],
        ),
        (json!({ "purpose": "marketing_email" }), vec![ben]),
        (
            json!({ "purpose": "profiling", "granted": true }),
            vec![ann],
        ),
        (json!({ "purpose": "profiling", "granted": false }), vec![]),
        (json!({ "purpose": "unknown_purpose" }), vec![]),
    ] {
        let seen = app
            .gql(
                &agent,
                by_consent,
                json!({ "c": customer, "f": { "consent": filter } }),
            )
            .await
            .ok();
        for list in [&seen["contacts"], &seen["customer"]["contacts"]] {
            let ids: Vec<Uuid> = list["edges"]
                .as_array()
                .expect("edges")
                .iter()
                .map(|e| uuid(&e["node"]["id"]))
                .collect();
            assert_eq!(ids, expected, "{filter}");
        }
    }
    let b_seen = app
        .gql(
            &app.agent_b(),
            "{ contacts(filter: {consent: {purpose: \"profiling\"}}) { edges { node { id } } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(b_seen["contacts"]["edges"], json!([]));
    app.gql(
        &app.token(app.a.id, "analyst"),
        "{ contacts(filter: {consent: {purpose: \"profiling\"}}) { edges { node { id } } } }",
        json!({}),
    )
    .await
    .expect_code("FORBIDDEN");
    app.gql(
        &agent,
        "{ contacts(filter: {consent: {purpose: \"Not A Purpose\"}}) { edges { node { id } } } }",
        json!({}),
    )
    .await
    .expect_code("BAD_USER_INPUT");

    // Without pii:read the decision is refused (and the refusal audited), the rest resolves.
    let analyst = app
        .gql(
            &app.token(app.a.id, "analyst"),
            "query($id: UUID!) { contact(id: $id) { consents { purpose granted } } }",
            json!({ "id": ann }),
        )
        .await;
    assert_eq!(analyst.codes(), vec!["FORBIDDEN", "FORBIDDEN"]);
    assert_eq!(
        analyst.data()["contact"]["consents"][0],
        json!({ "purpose": "marketing_email", "granted": null })
    );
    let denied = app
        .audit_events(json!({ "outcome": "DENIED", "entity": {"eq": "Consent"} }))
        .await;
    assert_eq!(denied.len(), 1, "{denied:?}");

    // Bad input and other tenants' contacts are refused, and nothing is written.
    let before = app.admin_count("SELECT COUNT(*) FROM consents").await;
    for (input, code) in [
        (
            json!({ "contactId": ann, "purpose": "Marketing Email", "granted": true, "source": "web" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "contactId": ann, "purpose": "marketing_email", "granted": true, "source": "" }),
            "BAD_USER_INPUT",
        ),
        (
            json!({ "contactId": ann, "purpose": "marketing_email", "granted": true, "source": "web",
                "at": "2999-01-01T00:00:00Z" }),
            "BAD_USER_INPUT",
        ),
    ] {
        app.gql(&agent, CONSENT, json!({ "input": input }))
            .await
            .expect_code(code);
    }
    app.gql(
        &app.agent_b(),
        CONSENT,
        json!({ "input": { "contactId": ann, "purpose": "profiling", "granted": false, "source": "web" } }),
    )
    .await
    .expect_code("NOT_FOUND");
    app.gql(
        &app.token(app.a.id, "analyst"),
        CONSENT,
        json!({ "input": { "contactId": ann, "purpose": "profiling", "granted": false, "source": "web" } }),
    )
    .await
    .expect_code("FORBIDDEN");
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM consents").await,
        before
    );
    let b_view = app
        .gql(
            &app.agent_b(),
            "query($id: UUID!) { contact(id: $id) { consents { purpose } } }",
            json!({ "id": ann }),
        )
        .await
        .ok();
    assert_eq!(b_view["contact"], Value::Null);
}

async fn the_audit_log_searches_and_exports_by_subject_purpose_and_time(backend: Backend) {
    let Office {
        app,
        agent,
        officer,
        customer,
        ann,
    } = office(backend, "ann@acme.example").await;
    let ben = app
        .contact(&agent, customer, "Ben", "ben@acme.example")
        .await;
    let mut claims = claims(app.a.id, "partner", Some("contacts:read pii:read"));
    claims.sub = "crm-sync".into();
    claims.purpose = Some("crm synchronisation".into());
    claims.client_id = Some("acme-crm".into());
    let partner = sign(&claims);
    app.read_email(&partner, ben).await;

    let about_ann = app.audit_events(json!({ "subjectId": ann })).await;
    assert_eq!(about_ann.len(), 1, "only her creation: {about_ann:?}");
    assert_eq!(about_ann[0]["action"], json!("CREATE"));
    let about_ben = app.audit_events(json!({ "subjectId": ben })).await;
    assert_eq!(about_ben.len(), 2, "{about_ben:?}");
    assert_eq!(about_ben[0]["action"], json!("READ"), "newest first");
    let by_purpose = app
        .audit_events(json!({ "purpose": {"eq": "crm synchronisation"} }))
        .await;
    assert_eq!(by_purpose.len(), 1);
    assert_eq!(by_purpose[0]["actor"], json!("crm-sync"));
    let by_client = app
        .gql(
            &officer,
            "{ auditEvents(filter: {clientId: {eq: \"acme-crm\"}, actorRole: {eq: \"partner\"}}) { edges { node { clientId } } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        by_client["auditEvents"]["edges"],
        json!([{ "node": { "clientId": "acme-crm" } }])
    );
    let future = app
        .audit_events(json!({ "at": {"gte": "2999-01-01T00:00:00Z"} }))
        .await;
    assert_eq!(future, Vec::<Value>::new());
    let all_time = app
        .audit_events(
            json!({ "at": {"gte": "2000-01-01T00:00:00Z", "lt": "2999-01-01T00:00:00Z"} }),
        )
        .await;
    assert!(all_time.len() >= 4, "{all_time:?}");

    // Export: CSV with a header and one line per event; JSON with the same events.
    let export = "query($f: AuditEventFilter, $format: AuditExportFormat!) {
        auditExport(filter: $f, format: $format) { format contentType filename count content } }";
    let csv = app
        .gql(
            &officer,
            export,
            json!({ "f": { "subjectId": ben }, "format": "CSV" }),
        )
        .await
        .ok()["auditExport"]
        .clone();
    assert_eq!(csv["count"], json!(2));
    assert_eq!(csv["contentType"], json!("text/csv; charset=utf-8"));
    let content = csv["content"].as_str().expect("csv");
    let lines: Vec<&str> = content.lines().collect();
    assert_eq!(lines.len(), 3, "{content}");
    assert!(
        lines[0].starts_with("\"seq\",\"at\",\"actor\",\"actorRole\",\"clientId\""),
        "{content}"
    );
    assert!(
        lines[1].contains(",\"crm-sync\",\"partner\",\"acme-crm\","),
        "{content}"
    );
    assert!(lines[1].contains(&ben.to_string()), "{content}");
    assert!(!content.contains("ben@acme.example"), "values never appear");
    let json_export = app
        .gql(
            &officer,
            export,
            json!({ "f": { "subjectId": ben }, "format": "JSON" }),
        )
        .await
        .ok()["auditExport"]
        .clone();
    let parsed: Value =
        serde_json::from_str(json_export["content"].as_str().expect("json")).expect("valid JSON");
    assert_eq!(parsed.as_array().map(Vec::len), Some(2));
    assert_eq!(parsed[0]["purpose"], json!("crm synchronisation"));

    // Exports are audited; other roles and other tenants see nothing.
    let exports = app
        .audit_events(json!({ "action": ["EXPORT"], "entity": {"eq": "AuditEvent"} }))
        .await;
    assert_eq!(exports.len(), 2, "{exports:?}");
    for role in ["agent", "analyst"] {
        app.gql(
            &app.token(app.a.id, role),
            export,
            json!({ "f": null, "format": "CSV" }),
        )
        .await
        .expect_code("FORBIDDEN");
    }
    let b_export = app
        .gql(
            &app.token(app.b.id, "compliance"),
            export,
            json!({ "f": { "subjectId": ben }, "format": "CSV" }),
        )
        .await
        .ok();
    assert_eq!(b_export["auditExport"]["count"], json!(0));

    // The officers' own searches leave a trace too, without ids or values.
    let oversight = app
        .audit_events(json!({ "action": ["READ"], "entity": {"eq": "AuditEvent"} }))
        .await;
    assert!(oversight.len() >= 5, "{oversight:?}");
    assert!(
        oversight
            .iter()
            .all(|e| e["actorRole"] == json!("compliance")
                && e["entityIds"] == json!([])
                && e["fields"] == json!([])),
        "{oversight:?}"
    );
}

async fn retention_dry_run_changes_nothing_and_the_run_erases_exactly_what_it_listed(
    backend: Backend,
) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let officer = app.token(app.a.id, "compliance");
    let customer = app.customer(&agent, "Acme").await;
    let held_customer = app.customer(&agent, "Held Ltd").await;
    let stale = app
        .contact(&agent, customer, "Old", "old@acme.example")
        .await;
    let buyer = app
        .contact(&agent, customer, "Buyer", "buyer@acme.example")
        .await;
    let held = app
        .contact(&agent, held_customer, "Held", "held@held.example")
        .await;
    let fresh_stale = app
        .contact(&agent, customer, "Fresh", "fresh@acme.example")
        .await;
    let consenting = app
        .contact(&agent, customer, "Yes", "yes@acme.example")
        .await;
    consent(&app, &agent, consenting, "marketing_email", true).await;
    let b_customer = app.customer(&app.agent_b(), "Other").await;
    let b_stale = app
        .contact(&app.agent_b(), b_customer, "Other", "other@b.example")
        .await;
    // A recent sale keeps the buyer; a hold on its customer keeps `held`.
    let sale = app
        .gql(
            &agent,
            "mutation($input: CreateSaleInput!) { createSale(input: $input) { id } }",
            json!({ "input": { "customerId": customer, "contactId": buyer, "sku": "S",
                "amount": "10", "currency": "EUR" } }),
        )
        .await
        .ok();
    assert!(sale["createSale"]["id"].is_string());
    // Age every contact but `fresh_stale` by six years, behind the API's back.
    let age = match app.backend {
        Backend::Sqlite => {
            "UPDATE contacts SET created_at = REPLACE(created_at, SUBSTR(created_at, 1, 4), '2019'), updated_at = REPLACE(updated_at, SUBSTR(updated_at, 1, 4), '2019')"
        }
        Backend::Postgres => {
            "UPDATE contacts SET created_at = created_at - interval '6 years', updated_at = updated_at - interval '6 years'"
        }
    };
    app.admin_exec(&format!(
        "{age} WHERE id <> {}",
        app.uuid_literal(fresh_stale)
    ))
    .await
    .expect("age contacts");
    // The hold comes after: it would refuse the ageing too, as it refuses every change.
    app.gql(
        &officer,
        "mutation($id: UUID!) { placeLegalHold(input: {entity: CUSTOMER, entityId: $id, reason: \"audit\"}) { id } }",
        json!({ "id": held_customer }),
    )
    .await
    .ok();

    let keys = api::gdpr::SubjectKeys::derive(SECRET.as_bytes());
    // Without a policy, nothing is due.
    let none = api::gdpr::run_retention(&app.db, &keys, app.a.id, true)
        .await
        .expect("dry run");
    assert!(none.contacts.is_empty());

    let settings = app
        .gql(
            &officer,
            "mutation { updateComplianceSettings(input: {retentionMonths: 24, auditRetentionMonths: 120}) {
                retentionMonths auditRetentionMonths requirePurpose } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        settings["updateComplianceSettings"],
        json!({ "retentionMonths": 24, "auditRetentionMonths": 120, "requirePurpose": false })
    );
    app.gql(
        &agent,
        "mutation { updateComplianceSettings(input: {retentionMonths: 1}) { retentionMonths } }",
        json!({}),
    )
    .await
    .expect_code("FORBIDDEN");
    app.gql(
        &officer,
        "mutation { updateComplianceSettings(input: {retentionMonths: 0}) { retentionMonths } }",
        json!({}),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    // The audit log also records the officers' own accesses: they cannot shorten it below a
    // year, and the refused attempt changes nothing.
    let shorter = app
        .gql(
            &officer,
            "mutation { updateComplianceSettings(input: {auditRetentionMonths: 11}) { auditRetentionMonths } }",
            json!({}),
        )
        .await;
    let message = shorter.errors()[0]["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    shorter.expect_code("BAD_USER_INPUT");
    assert!(
        message.starts_with("auditRetentionMonths: between 12"),
        "{message}"
    );
    let kept = app
        .gql(
            &officer,
            "{ complianceSettings { auditRetentionMonths } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        kept["complianceSettings"]["auditRetentionMonths"],
        json!(120)
    );

    let contacts_before = app.admin_count("SELECT COUNT(*) FROM contacts").await;
    let events_before = app.admin_count("SELECT COUNT(*) FROM audit_events").await;
    let dry = api::gdpr::run_retention(&app.db, &keys, app.a.id, true)
        .await
        .expect("dry run");
    let listed: Vec<Uuid> = dry.contacts.iter().map(|c| c.contact_id).collect();
    assert_eq!(
        listed,
        vec![stale],
        "only the stale contact without sale, consent decision or hold"
    );
    assert!(dry.contacts.iter().all(|c| c.erasure_id.is_none()));
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM contacts").await,
        contacts_before,
        "the dry run changes nothing"
    );
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM audit_events").await,
        events_before
    );

    let run = api::gdpr::run_retention(&app.db, &keys, app.a.id, false)
        .await
        .expect("run");
    let erased: Vec<Uuid> = run.contacts.iter().map(|c| c.contact_id).collect();
    assert_eq!(
        erased, listed,
        "the run erases exactly what the dry run listed"
    );
    let left = app
        .gql(&agent, "{ contacts { edges { node { id } } } }", json!({}))
        .await
        .ok();
    let mut left: Vec<Uuid> = left["contacts"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| uuid(&e["node"]["id"]))
        .collect();
    left.sort();
    let mut expected = vec![buyer, held, fresh_stale, consenting];
    expected.sort();
    assert_eq!(left, expected);
    let still_b = app
        .gql(
            &app.agent_b(),
            "query($id: UUID!) { contact(id: $id) { id } }",
            json!({ "id": b_stale }),
        )
        .await
        .ok();
    assert_eq!(
        still_b["contact"]["id"],
        json!(b_stale),
        "another tenant's policy is its own"
    );
    let tombstones = app
        .gql(
            &officer,
            "{ erasures { edges { node { contactId via erasedBy reason } } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        tombstones["erasures"]["edges"],
        json!([{ "node": { "contactId": stale, "via": "RETENTION", "erasedBy": "retention-policy",
            "reason": "retention policy: no activity for 24 months" } }])
    );
    let audited = app
        .audit_events(json!({ "action": ["ERASE"], "subjectId": stale }))
        .await;
    assert_eq!(audited[0]["actor"], json!("retention-policy"));
    let chain = app
        .gql(&officer, "{ verifyAuditChain { ok } }", json!({}))
        .await
        .ok();
    assert_eq!(chain["verifyAuditChain"]["ok"], json!(true));
}

async fn a_tenant_can_require_a_purpose_for_personal_reads(backend: Backend) {
    let Office {
        app,
        agent,
        officer,
        customer: _,
        ann,
    } = office(backend, "ann@acme.example").await;
    let mut no_purpose = claims(app.a.id, "agent", None);
    no_purpose.purpose = None;
    let no_purpose = sign(&no_purpose);
    let read = "query($id: UUID!) { contact(id: $id) { jobTitle email } }";
    // Not required yet: a read without a purpose is allowed.
    app.gql(&no_purpose, read, json!({ "id": ann })).await.ok();

    app.gql(
        &officer,
        "mutation { updateComplianceSettings(input: {requirePurpose: true}) { requirePurpose } }",
        json!({}),
    )
    .await
    .ok();
    let refused = app.gql(&no_purpose, read, json!({ "id": ann })).await;
    assert_eq!(refused.codes(), vec!["FORBIDDEN"]);
    assert_eq!(
        refused.data()["contact"],
        json!({ "jobTitle": null, "email": null }),
        "the rest of the response resolves"
    );
    let denied = app
        .audit_events(json!({ "outcome": "DENIED", "subjectId": ann }))
        .await;
    assert_eq!(denied.len(), 1, "{denied:?}");
    assert_eq!(denied[0]["purpose"], Value::Null);
    app.gql(
        &no_purpose,
        "{ contacts(filter: {email: {eq: \"ann@acme.example\"}}) { edges { node { id } } } }",
        json!({}),
    )
    .await
    .expect_code("FORBIDDEN");

    // A purpose from the header is accepted and recorded; the token's claim works too.
    let response = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(&no_purpose)
        .header("x-purpose", "invoice dispute 7")
        .json(&json!({ "query": read, "variables": { "id": ann } }))
        .send()
        .await
        .expect("sent");
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body["data"]["contact"]["email"],
        json!("ann@acme.example"),
        "{body}"
    );
    app.gql(&agent, read, json!({ "id": ann })).await.ok();
    let allowed = app
        .audit_events(json!({ "action": ["READ"], "outcome": "ALLOWED", "subjectId": ann }))
        .await;
    let purposes: Vec<&Value> = allowed.iter().map(|e| &e["purpose"]).collect();
    assert_eq!(
        purposes,
        vec![
            &json!("support ticket 42"),
            &json!("invoice dispute 7"),
            &Value::Null
        ],
        "newest first: the claim, the header, and the read before the requirement"
    );
}

async fn the_register_of_processing_derives_from_the_markings(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let officer = app.token(app.a.id, "compliance");
    let set = "mutation($input: SetProcessingPurposeInput!) { setProcessingPurpose(input: $input) {
        name legalBasis fields retentionMonths } }";
    let newsletter = json!({ "input": { "name": "marketing_email", "description": "Monthly newsletter",
        "legalBasis": "CONSENT", "fields": ["Contact.email", "Contact.firstName", "Consent.granted"],
        "retentionMonths": 36 } });
    app.gql(&agent, set, newsletter.clone())
        .await
        .expect_code("FORBIDDEN");
    app.gql(
        &officer,
        set,
        json!({ "input": { "name": "x", "description": "d", "legalBasis": "CONTRACT",
            "fields": ["Contact.jobTitle"] } }),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let saved = app.gql(&officer, set, newsletter).await.ok();
    assert_eq!(
        saved["setProcessingPurpose"]["fields"],
        json!(["Consent.granted", "Contact.email", "Contact.firstName"])
    );
    app.gql(
        &officer,
        set,
        json!({ "input": { "name": "invoicing", "description": "Invoices | reminders",
            "legalBasis": "CONTRACT", "fields": ["Contact.email"] } }),
    )
    .await
    .ok();
    // A partner reads personal data: it becomes a recipient.
    let customer = app.customer(&agent, "Acme").await;
    app.contact(&agent, customer, "Ann", "ann@acme.example")
        .await;
    let mut partner = claims(app.a.id, "partner", Some("contacts:read pii:read"));
    partner.client_id = Some("acme-crm".into());
    app.gql(
        &sign(&partner),
        "{ contacts { edges { node { email } } } }",
        json!({}),
    )
    .await
    .ok();

    let register = app
        .gql(
            &officer,
            "{ processingRegister { controller categories { entity field purposes legalBases roles scope }
                purposes { name } contactRetentionMonths recipients { clientId accesses } markdown csv } }",
            json!({}),
        )
        .await
        .ok()["processingRegister"]
        .clone();
    assert_eq!(register["controller"], json!(app.a.name));
    let categories = register["categories"].as_array().expect("categories");
    let fields: Vec<String> = categories
        .iter()
        .map(|c| {
            format!(
                "{}.{}",
                c["entity"].as_str().unwrap_or(""),
                c["field"].as_str().unwrap_or("")
            )
        })
        .collect();
    assert_eq!(
        fields,
        vec![
            "Contact.firstName",
            "Contact.lastName",
            "Contact.email",
            "Contact.phone",
            "Contact.birthday",
            "Consent.granted",
            "Consent.source"
        ],
        "every marked field, and nothing else"
    );
    let email = &categories[2];
    assert_eq!(email["purposes"], json!(["invoicing", "marketing_email"]));
    assert_eq!(email["legalBases"], json!(["CONTRACT", "CONSENT"]));
    assert_eq!(
        email["roles"],
        json!(["ADMIN", "AGENT", "PARTNER", "COMPLIANCE"])
    );
    assert_eq!(email["scope"], json!("pii:read"));
    assert_eq!(
        categories[3]["purposes"],
        json!([]),
        "phone has no purpose yet"
    );
    assert_eq!(
        register["recipients"],
        json!([{ "clientId": "acme-crm", "accesses": 1 }])
    );
    let markdown = register["markdown"].as_str().expect("markdown");
    assert!(
        markdown.contains("| Contact.email | invoicing, marketing_email | CONTRACT, CONSENT |"),
        "{markdown}"
    );
    assert!(markdown.contains("Invoices \\| reminders"), "{markdown}");
    assert!(markdown.contains("| acme-crm | 1 |"), "{markdown}");
    let csv = register["csv"].as_str().expect("csv");
    assert_eq!(csv.lines().count(), 8, "{csv}");
    assert!(
        csv.contains("\"Contact\",\"email\",\"invoicing marketing_email\",\"CONTRACT CONSENT\""),
        "{csv}"
    );

    app.gql(&agent, "{ processingRegister { controller } }", json!({}))
        .await
        .expect_code("FORBIDDEN");
    let other = app
        .gql(
            &app.token(app.b.id, "compliance"),
            "{ processingRegister { purposes { name } recipients { clientId } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        other["processingRegister"],
        json!({ "purposes": [], "recipients": [] })
    );
    let changes = app
        .audit_events(json!({ "entity": {"eq": "ProcessingPurpose"} }))
        .await;
    assert_eq!(changes.len(), 2, "register changes are audited");
}

async fn audit_retention_prunes_old_events_and_the_chain_still_verifies(backend: Backend) {
    let Office {
        app,
        agent,
        officer,
        customer,
        ann,
    } = office(backend, "ann@acme.example").await;
    app.contact(&agent, customer, "Ben", "ben@acme.example")
        .await;
    app.read_email(&agent, ann).await;
    let b_customer = app.customer(&app.agent_b(), "Other").await;
    app.contact(&app.agent_b(), b_customer, "Bea", "bea@b.example")
        .await;
    let tenant_a = app.uuid_literal(app.a.id);
    let b_events = format!(
        "SELECT COUNT(*) FROM audit_events WHERE tenant_id = {}",
        app.uuid_literal(app.b.id)
    );
    let a_events = format!("SELECT COUNT(*) FROM audit_events WHERE tenant_id = {tenant_a}");
    // The first two events of tenant A are ten years old, behind the API's back.
    let age = match app.backend {
        Backend::Sqlite => format!(
            "UPDATE audit_events SET at = REPLACE(at, SUBSTR(at, 1, 4), '2016') WHERE tenant_id = {tenant_a} AND seq <= 2"
        ),
        Backend::Postgres => format!(
            "SET session_replication_role = replica; \
             UPDATE audit_events SET at = at - interval '10 years' WHERE tenant_id = {tenant_a} AND seq <= 2; \
             SET session_replication_role = DEFAULT"
        ),
    };
    app.admin_exec(&age).await.expect("age events");
    app.gql(
        &officer,
        "mutation { updateComplianceSettings(input: {auditRetentionMonths: 60}) { auditRetentionMonths } }",
        json!({}),
    )
    .await
    .ok();
    let keys = api::gdpr::SubjectKeys::derive(SECRET.as_bytes());

    let before = app.admin_count(&a_events).await;
    let b_before = app.admin_count(&b_events).await;
    let dry = api::gdpr::run_retention(&app.db, &keys, app.a.id, true)
        .await
        .expect("dry run");
    let due = dry.audit.expect("an audit retention is set");
    assert_eq!((due.through_seq, due.events), (Some(2), 2));
    assert_eq!(
        app.admin_count(&a_events).await,
        before,
        "the dry run deletes nothing"
    );

    let run = api::gdpr::run_retention(&app.db, &keys, app.a.id, false)
        .await
        .expect("run");
    let pruned = run.audit.expect("pruned");
    assert_eq!((pruned.through_seq, pruned.events), (Some(2), 2));
    assert_eq!(
        app.admin_count(&a_events).await,
        before - 2 + 1,
        "two events pruned, one recording the pruning"
    );
    assert_eq!(
        app.admin_count(&b_events).await,
        b_before,
        "another tenant's log is its own"
    );
    let chain = app
        .gql(
            &officer,
            "{ verifyAuditChain { ok checked prunedThroughSeq firstBrokenSeq } }",
            json!({}),
        )
        .await
        .ok()["verifyAuditChain"]
        .clone();
    assert_eq!(chain["ok"], json!(true), "{chain}");
    assert_eq!(chain["prunedThroughSeq"], json!(2));
    assert_eq!(chain["checked"], json!(before - 2 + 1));
    let recorded = app
        .audit_events(json!({ "action": ["DELETE"], "entity": {"eq": "AuditEvent"} }))
        .await;
    assert_eq!(recorded.len(), 1, "{recorded:?}");
    assert_eq!(
        recorded[0]["purpose"],
        json!("audit retention: 2 events through #2 pruned")
    );
    assert_eq!(recorded[0]["actor"], json!("retention-policy"));

    // A second anchor that no pruning recorded — events deleted and the start moved to hide
    // it — breaks the chain right after it.
    let fifth = app
        .audit_events(json!({}))
        .await
        .into_iter()
        .find(|e| e["seq"] == json!(5))
        .expect("event 5");
    let forged = format!(
        "INSERT INTO audit_anchors (tenant_id, id, seq, hash, last_at, pruned_at, pruned_by) VALUES ({tenant_a}, {}, 5, '{}', {}, {}, 'intruder')",
        app.uuid_literal(Uuid::now_v7()),
        fifth["hash"].as_str().expect("hash"),
        app.timestamp_literal("2020-01-01T00:00:00Z"),
        app.timestamp_literal("2020-01-01T00:00:00Z"),
    );
    app.admin_exec(&forged).await.expect("forge an anchor");
    let broken = app
        .gql(
            &officer,
            "{ verifyAuditChain { ok firstBrokenSeq } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        broken["verifyAuditChain"],
        json!({ "ok": false, "firstBrokenSeq": 6 })
    );
}

async fn every_compliance_operation_is_refused_to_the_other_roles(backend: Backend) {
    let Office {
        app,
        officer,
        ann,
        customer,
        ..
    } = office(backend, "ann@acme.example").await;
    let partner = app.token_with(
        app.a.id,
        "partner",
        "customers:read customers:write contacts:read contacts:write sales:read sales:write pii:read",
    );
    let vars = json!({ "ann": ann, "customer": customer, "hold": Uuid::now_v7() });
    let audit_readers = ["admin", "compliance"];
    let officers = ["compliance"];
    let operations: [(&str, &[&str]); 13] = [
        (
            "query($ann: UUID!) { exportSubject(contactId: $ann) }",
            &officers,
        ),
        (
            "mutation($ann: UUID!) { eraseContact(contactId: $ann, reason: \"x\") { id } }",
            &officers,
        ),
        (
            "mutation($customer: UUID!) { placeLegalHold(input: {entity: CUSTOMER, entityId: $customer, reason: \"x\"}) { id } }",
            &officers,
        ),
        (
            "mutation($hold: UUID!) { releaseLegalHold(id: $hold) { id } }",
            &officers,
        ),
        (
            "mutation { updateComplianceSettings(input: {retentionMonths: 1}) { retentionMonths } }",
            &officers,
        ),
        (
            "mutation { setProcessingPurpose(input: {name: \"x\", description: \"x\", legalBasis: CONSENT, fields: []}) { name } }",
            &officers,
        ),
        ("{ legalHolds { id } }", &audit_readers),
        ("{ erasures { totalCount } }", &audit_readers),
        ("{ complianceSettings { requirePurpose } }", &audit_readers),
        ("{ auditEvents { totalCount } }", &audit_readers),
        ("{ verifyAuditChain { ok } }", &audit_readers),
        ("{ auditExport { count } }", &audit_readers),
        ("{ processingRegister { controller } }", &audit_readers),
    ];
    for (operation, allowed) in operations {
        for role in ["admin", "agent", "analyst", "partner"] {
            if allowed.contains(&role) {
                continue;
            }
            let token = if role == "partner" {
                partner.clone()
            } else {
                app.token(app.a.id, role)
            };
            let answer = app.gql(&token, operation, vars.clone()).await;
            assert_eq!(answer.codes(), vec!["FORBIDDEN"], "{role}: {operation}");
        }
    }
    // Nothing was written by any of them.
    for table in ["erasures", "legal_holds", "processing_purposes"] {
        assert_eq!(
            app.admin_count(&format!("SELECT COUNT(*) FROM {table}"))
                .await,
            0,
            "{table}"
        );
    }
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM contacts").await, 1);
    let settings = app
        .gql(
            &officer,
            "{ complianceSettings { retentionMonths } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        settings["complianceSettings"]["retentionMonths"],
        Value::Null
    );
}

on_both_backends!(
    subject_export_holds_everything_about_the_person_and_nothing_else,
    erasure_removes_the_person_from_every_path_and_keeps_the_sales,
    a_legal_hold_blocks_erasure_until_released,
    consents_keep_their_history_and_are_personal_data,
    the_audit_log_searches_and_exports_by_subject_purpose_and_time,
    retention_dry_run_changes_nothing_and_the_run_erases_exactly_what_it_listed,
    a_tenant_can_require_a_purpose_for_personal_reads,
    the_register_of_processing_derives_from_the_markings,
    audit_retention_prunes_old_events_and_the_chain_still_verifies,
    every_compliance_operation_is_refused_to_the_other_roles,
);

/// The subject search (the officer's `subjectId` filter, the subject export's access history)
/// must stay an index lookup as the audit log grows: with sequential scans disabled, the
/// statement the API builds is answered by the GIN index on the events' ids.
async fn the_subject_search_is_an_index_lookup(backend: Backend) {
    use sea_orm::{ConnectionTrait, DbBackend, EntityTrait, QueryFilter, QueryTrait};
    let Office {
        app, agent, ann, ..
    } = office(backend, "ann@acme.example").await;
    app.read_email(&agent, ann).await;

    let search = |subject: Uuid| {
        entity::audit_event::Entity::find()
            .filter(api::audit::about(DbBackend::Postgres, subject))
            .build(DbBackend::Postgres)
    };
    let found = app.admin.query_all_raw(search(ann)).await.expect("search");
    assert_eq!(found.len(), 2, "her creation and the read");
    let nobody = app.admin.query_all_raw(search(Uuid::now_v7()));
    assert!(nobody.await.expect("search").is_empty());

    let mut explain = search(ann);
    explain.sql = format!("EXPLAIN {}", explain.sql);
    let plan = async {
        let txn = sea_orm::TransactionTrait::begin(&app.admin).await?;
        txn.execute_unprepared("SET LOCAL enable_seqscan = off")
            .await?;
        let rows = txn.query_all_raw(explain).await?;
        txn.rollback().await?;
        rows.iter()
            .map(|row| row.try_get_by_index::<String>(0))
            .collect::<Result<Vec<_>, _>>()
    }
    .await
    .expect("explain the subject search");
    assert!(
        plan.iter()
            .any(|line| line.contains("audit_events_subjects")),
        "{plan:#?}"
    );
}

on_postgres!(the_subject_search_is_an_index_lookup);
