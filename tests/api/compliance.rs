//! The compliance officer's toolkit: subject export (Art. 15, 20), erasure with tombstone and
//! re-import flag (Art. 17), legal holds, consents with history (Art. 6, 7), retention
//! (Art. 5(1)(e)), audit search and export — each refused to other roles, scoped to the
//! caller's tenant, and itself audited.

use api::graphql::engine::dependents::Declarations;
use serde_json::{Value, json};
use tests::*;
use uuid::Uuid;

/// Fails if `key` is one of `values`, or any of them lower-cased, in base64 (standard or
/// URL-safe, padded or not) or in hex: encodings anyone can reverse.
fn assert_not_an_encoding_of(key: &str, values: &[&str]) {
    use base64::Engine;
    use base64::engine::general_purpose::{STANDARD, STANDARD_NO_PAD, URL_SAFE, URL_SAFE_NO_PAD};
    for value in values {
        for spelling in [value.to_string(), value.to_lowercase()] {
            let bytes = spelling.as_bytes();
            let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
            for encoded in [
                spelling.clone(),
                STANDARD.encode(bytes),
                STANDARD_NO_PAD.encode(bytes),
                URL_SAFE.encode(bytes),
                URL_SAFE_NO_PAD.encode(bytes),
                hex.clone(),
                hex.to_uppercase(),
            ] {
                assert!(
                    !key.eq_ignore_ascii_case(&encoded) && !key.contains(&spelling),
                    "the stored key {key} is {value}, reversibly encoded"
                );
            }
        }
    }
}

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
    assert_event(
        &exports[0],
        ("user-compliance", "compliance"),
        ("EXPORT", "Contact"),
        &[ann],
        &["birthday", "email", "firstName", "lastName", "phone"],
    );
    assert_eq!(exports[0]["purpose"], json!("support ticket 42"));

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

    // Every path to her: by id, by each personal field, by her consent, by her sales, and
    // nested under her customer from both ends. Before the erasure, each finds her.
    let every_path = "query($id: UUID!, $c: UUID!, $s: UUID!) {
        contact(id: $id) { id email }
        byEmail: contacts(filter: {email: {contains: \"ann@\"}}) { edges { node { id } } }
        byName: contacts(filter: {firstName: {eq: \"Ann\"}}) { edges { node { id } } }
        byPhone: contacts(filter: {phone: {eq: \"+33612345678\"}}) { edges { node { id } } }
        byConsent: contacts(filter: {consent: {purpose: \"marketing_email\", granted: true}}) { edges { node { id } } }
        herSales: sales(filter: {contactId: {eq: $id}}) { edges { node { id } } }
        customers { edges { node { id contacts { edges { node { id firstName } } } } } }
        customer(id: $c) { contacts { edges { node { id firstName } } } }
        sale(id: $s) { id contactId contact { id } amount customer { id } }
    }";
    let vars = json!({ "id": ann, "c": customer, "s": sale });
    let ids = |list: &Value| -> Vec<Uuid> {
        let mut ids: Vec<Uuid> = list["edges"]
            .as_array()
            .unwrap_or_else(|| panic!("edges: {list}"))
            .iter()
            .map(|e| uuid(&e["node"]["id"]))
            .collect();
        ids.sort();
        ids
    };
    let sorted = |mut ids: Vec<Uuid>| {
        ids.sort();
        ids
    };
    let seen = app.gql(&agent, every_path, vars.clone()).await.ok();
    assert_eq!(seen["contact"]["id"], json!(ann));
    assert_eq!(ids(&seen["byEmail"]), vec![ann]);
    assert_eq!(ids(&seen["byName"]), vec![ann]);
    assert_eq!(ids(&seen["byPhone"]), sorted(vec![ann, ben]));
    assert_eq!(ids(&seen["byConsent"]), vec![ann]);
    assert_eq!(ids(&seen["herSales"]), vec![sale]);
    assert_eq!(
        ids(&seen["customers"]["edges"][0]["node"]["contacts"]),
        sorted(vec![ann, ben])
    );
    assert_eq!(ids(&seen["customer"]["contacts"]), sorted(vec![ann, ben]));
    assert_eq!(seen["sale"]["contact"]["id"], json!(ann));

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

    // Afterwards no query, filter, nested path or export returns any of it.
    let seen = app.gql(&agent, every_path, vars).await.ok();
    assert_eq!(seen["contact"], Value::Null);
    assert_eq!(seen["byEmail"]["edges"], json!([]));
    assert_eq!(seen["byName"]["edges"], json!([]));
    assert_eq!(
        ids(&seen["byPhone"]),
        vec![ben],
        "Ben shares her phone number"
    );
    assert_eq!(seen["byConsent"]["edges"], json!([]));
    assert_eq!(seen["herSales"]["edges"], json!([]));
    assert_eq!(
        seen["customers"]["edges"],
        json!([{ "node": { "id": customer, "contacts": { "edges": [{ "node": { "id": ben, "firstName": "Ben" } }] } } }])
    );
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
    // The tombstone keeps a key, not the address: not the address in any spelling or
    // reversible encoding, but HMAC-SHA256 under the server's secret and the tenant.
    let email_key = |tenant: Uuid| {
        let app = &app;
        async move {
            app.admin_strings(&format!(
                "SELECT email_key FROM erasures WHERE tenant_id = {}",
                app.uuid_literal(tenant)
            ))
            .await
        }
    };
    let stored = email_key(app.a.id).await;
    assert_eq!(stored.len(), 1, "{stored:?}");
    let stored = stored[0].clone();
    assert_not_an_encoding_of(&stored, &["Ann@Acme.example", "Ann@acme.example"]);
    let keys = api::gdpr::SubjectKeys::derive(SECRET.as_bytes());
    assert_eq!(stored, keys.email(app.a.id, "Ann@Acme.example"));
    assert_eq!(stored.len(), 64, "a SHA-256, in hex: {stored}");
    assert_ne!(
        stored,
        api::gdpr::SubjectKeys::derive(b"another secret, another key, another deployment")
            .email(app.a.id, "Ann@Acme.example"),
        "the key depends on the server's secret"
    );
    let phone_key = app
        .admin_strings(&format!(
            "SELECT phone_key FROM erasures WHERE tenant_id = {}",
            app.uuid_literal(app.a.id)
        ))
        .await;
    assert_eq!(phone_key, vec![keys.phone(app.a.id, "+33612345678")]);
    assert_not_an_encoding_of(&phone_key[0], &["+33612345678", "+33 6 12 34 56 78"]);

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
    let event = |entity: &str| {
        erased
            .iter()
            .find(|e| e["entity"] == json!(entity))
            .unwrap_or_else(|| panic!("no ERASE of {entity}: {erased:?}"))
    };
    assert_event(
        event("Contact"),
        ("user-compliance", "compliance"),
        ("ERASE", "Contact"),
        &[ann],
        &["birthday", "email", "firstName", "lastName", "phone"],
    );
    assert_eq!(event("Contact")["purpose"], json!("support ticket 42"));
    assert_event(
        event("Consent"),
        ("user-compliance", "compliance"),
        ("ERASE", "Consent"),
        &[ann],
        &["granted", "source"],
    );
    let detached = app
        .audit_events(json!({ "action": ["UPDATE"], "entity": {"eq": "Sale"} }))
        .await;
    assert_eq!(detached.len(), 1, "{detached:?}");
    assert_event(
        &detached[0],
        ("user-compliance", "compliance"),
        ("UPDATE", "Sale"),
        &[sale],
        &["contactId"],
    );
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
    // Erased in tenant B too, the same address is kept under another key: one tenant's
    // tombstones say nothing about another's.
    app.gql(
        &app.token(app.b.id, "compliance"),
        ERASE,
        json!({ "id": elsewhere["createContact"]["id"], "reason": "request" }),
    )
    .await
    .ok();
    let b_stored = email_key(app.b.id).await;
    assert_eq!(b_stored, vec![keys.email(app.b.id, "ann@acme.example")]);
    assert_ne!(
        b_stored[0], stored,
        "the same address keys differently per tenant"
    );
    assert_eq!(email_key(app.a.id).await, vec![stored.clone()]);
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
    // Newest first. A hold's events name the held row, so a search by that row finds them.
    assert_event(
        &holds[0],
        ("user-compliance", "compliance"),
        ("UPDATE", "LegalHold"),
        &[customer],
        &["releasedAt", "releasedBy"],
    );
    assert_event(
        &holds[1],
        ("user-compliance", "compliance"),
        ("CREATE", "LegalHold"),
        &[customer],
        &["entity", "entityId", "reason"],
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
    // Consent reads name the person, and the personal fields of the decision.
    for read in &reads {
        assert_event(
            read,
            ("user-agent", "agent"),
            ("READ", "Consent"),
            &[ann],
            &["granted", "source"],
        );
    }

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
    assert_event_outcome(
        &denied[0],
        "DENIED",
        ("user-analyst", "analyst"),
        ("READ", "Consent"),
        &[ann],
        &["granted"],
    );

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
                "at": (chrono::Utc::now() + chrono::Duration::days(30)).to_rfc3339() }),
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

    let created = [
        "birthday",
        "customerId",
        "email",
        "externalRef",
        "firstName",
        "jobTitle",
        "lastName",
        "phone",
    ];
    let about_ann = app.audit_events(json!({ "subjectId": ann })).await;
    assert_eq!(about_ann.len(), 1, "only her creation: {about_ann:?}");
    assert_event(
        &about_ann[0],
        ("user-agent", "agent"),
        ("CREATE", "Contact"),
        &[ann],
        &created,
    );
    let about_ben = app.audit_events(json!({ "subjectId": ben })).await;
    assert_eq!(about_ben.len(), 2, "{about_ben:?}");
    // Newest first: the partner's read of his email, then his creation.
    assert_event(
        &about_ben[0],
        ("crm-sync", "partner"),
        ("READ", "Contact"),
        &[ben],
        &["email"],
    );
    assert_eq!(about_ben[0]["clientId"], json!("acme-crm"));
    assert_eq!(about_ben[0]["purpose"], json!("crm synchronisation"));
    assert_event(
        &about_ben[1],
        ("user-agent", "agent"),
        ("CREATE", "Contact"),
        &[ben],
        &created,
    );
    let by_purpose = app
        .audit_events(json!({ "purpose": {"eq": "crm synchronisation"} }))
        .await;
    assert_eq!(by_purpose, vec![about_ben[0].clone()]);
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
    // Time ranges, relative to now: nothing from tomorrow on; since yesterday, everything.
    let now = chrono::Utc::now();
    let tomorrow = (now + chrono::Duration::days(1)).to_rfc3339();
    let yesterday = (now - chrono::Duration::days(1)).to_rfc3339();
    let future = app.audit_events(json!({ "at": {"gte": tomorrow} })).await;
    assert_eq!(future, Vec::<Value>::new());
    let everything = app.audit_events(json!({})).await;
    let recent = app
        .audit_events(json!({ "at": {"gte": yesterday, "lt": tomorrow} }))
        .await;
    // The unfiltered search was itself recorded (newest), and is in the range too.
    assert_eq!(recent.len(), everything.len() + 1, "{recent:?}");
    assert_eq!(recent[1..], everything[..]);
    assert_event(
        &recent[0],
        ("user-compliance", "compliance"),
        ("READ", "AuditEvent"),
        &[],
        &[],
    );

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
    for event in &exports {
        assert_event(
            event,
            ("user-compliance", "compliance"),
            ("EXPORT", "AuditEvent"),
            &[],
            &[],
        );
    }
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
    // One per search above: about Ann, about Ben, by purpose, by client, the future, the
    // unfiltered one, the recent one and the exports (the exports themselves are EXPORT
    // events, and tenant B's officer searched tenant B's log).
    assert_eq!(oversight.len(), 8, "{oversight:?}");
    for event in &oversight {
        assert_event(
            event,
            ("user-compliance", "compliance"),
            ("READ", "AuditEvent"),
            &[],
            &[],
        );
    }
    assert!(
        oversight
            .iter()
            .all(|e| e["actorRole"] == json!("compliance")
                && e["entityIds"] == json!([])
                && e["fields"] == json!([])),
        "{oversight:?}"
    );
}

/// The people `search` finds for `text`.
async fn people_found(app: &TestApp, token: &str, text: &str) -> Vec<Uuid> {
    let data = app
        .gql(
            token,
            "query($t: String!) { search(text: $t, kinds: [CONTACT]) { node { ... on Contact { id } } } }",
            json!({ "t": text }),
        )
        .await
        .ok();
    data["search"]
        .as_array()
        .expect("hits")
        .iter()
        .map(|h| uuid(&h["node"]["id"]))
        .collect()
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
    // Age every contact but `fresh_stale` by eight years (relative to now, and a multiple of
    // four so that a 29 February stays a date), behind the API's back.
    let age = match app.backend {
        Backend::Sqlite => {
            "UPDATE contacts SET created_at = CAST(CAST(SUBSTR(created_at, 1, 4) AS INTEGER) - 8 AS TEXT) || SUBSTR(created_at, 5), \
             updated_at = CAST(CAST(SUBSTR(updated_at, 1, 4) AS INTEGER) - 8 AS TEXT) || SUBSTR(updated_at, 5)"
        }
        Backend::Postgres => {
            "UPDATE contacts SET created_at = created_at - interval '8 years', updated_at = updated_at - interval '8 years'"
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
    assert!(
        people_found(&app, &agent, "old@acme.example")
            .await
            .contains(&stale),
        "the person to be erased is found before the run"
    );
    let none = api::gdpr::run_retention(
        &app.owner,
        &keys,
        &Declarations,
        &audit_key(),
        app.a.id,
        true,
    )
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
    let dry = api::gdpr::run_retention(
        &app.owner,
        &keys,
        &Declarations,
        &audit_key(),
        app.a.id,
        true,
    )
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

    let run = api::gdpr::run_retention(
        &app.owner,
        &keys,
        &Declarations,
        &audit_key(),
        app.a.id,
        false,
    )
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
    // The erased person cannot be found any more (on PostgreSQL, no searched text of theirs
    // is left in the search documents either).
    let found = people_found(&app, &agent, "old@acme.example").await;
    assert!(!found.contains(&stale), "the erased person is still found");
    if app.backend == Backend::Postgres {
        assert_eq!(
            app.admin_count(&format!(
                "SELECT COUNT(*) FROM search_docs WHERE row_id = '{stale}'"
            ))
            .await,
            0,
            "the retention run left the erased person's searched text"
        );
    }
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
    assert_event_outcome(
        &denied[0],
        "DENIED",
        ("user-agent", "agent"),
        ("READ", "Contact"),
        &[ann],
        &["email"],
    );
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
            "Consent.source",
            "Interaction.summary"
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
    assert_eq!(csv.lines().count(), 9, "{csv}");
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
    assert_eq!(
        changes.len(),
        2,
        "register changes are audited: {changes:?}"
    );
    // Newest first: invoicing, then the newsletter; each names its row and what was set.
    let purpose_id = async |name: &str| {
        app.admin_uuids(&format!(
            "SELECT id FROM processing_purposes WHERE name = '{name}'"
        ))
        .await
    };
    for (event, name) in changes.iter().zip(["invoicing", "marketing_email"]) {
        assert_event(
            event,
            ("user-compliance", "compliance"),
            ("CREATE", "ProcessingPurpose"),
            &purpose_id(name).await,
            &[
                "description",
                "fields",
                "legalBasis",
                "name",
                "retentionMonths",
            ],
        );
    }
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
    // The first two events of tenant A, and every event of tenant B, are twelve years old
    // (a multiple of four: a 29 February stays a date), behind the API's back: tenant A's run
    // finds old events of both tenants, and may prune only its own.
    let tenant_b = app.uuid_literal(app.b.id);
    app.seal_audit().await;
    let aged = format!("(tenant_id = {tenant_a} AND seq <= 2) OR tenant_id = {tenant_b}");
    let age = match app.backend {
        Backend::Sqlite => format!(
            "UPDATE audit_events SET at = CAST(CAST(SUBSTR(at, 1, 4) AS INTEGER) - 12 AS TEXT) || SUBSTR(at, 5) WHERE {aged}"
        ),
        Backend::Postgres => format!(
            "SET session_replication_role = replica; \
             UPDATE audit_events SET at = at - interval '12 years' WHERE {aged}; \
             SET session_replication_role = DEFAULT"
        ),
    };
    app.admin_exec(&age).await.expect("age events");
    let old_b = format!(
        "SELECT COUNT(*) FROM audit_events WHERE tenant_id = {tenant_b} AND at < {}",
        app.timestamp_literal(
            &(chrono::Utc::now() - chrono::Duration::days(11 * 365))
                .to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
        )
    );
    assert_eq!(
        app.admin_count(&old_b).await,
        2,
        "tenant B's two events are old"
    );
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
    let dry = api::gdpr::run_retention(
        &app.owner,
        &keys,
        &Declarations,
        &audit_key(),
        app.a.id,
        true,
    )
    .await
    .expect("dry run");
    let due = dry.audit.expect("an audit retention is set");
    assert_eq!((due.through_seq, due.events), (Some(2), 2));
    assert_eq!(
        app.admin_count(&a_events).await,
        before,
        "the dry run deletes nothing"
    );

    let run = api::gdpr::run_retention(
        &app.owner,
        &keys,
        &Declarations,
        &audit_key(),
        app.a.id,
        false,
    )
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
    assert_eq!(
        app.admin_count(&old_b).await,
        2,
        "tenant B's old events are all there"
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
    // It names the anchor the chain now starts from.
    let anchors = app
        .admin_uuids(&format!(
            "SELECT id FROM audit_anchors WHERE tenant_id = {tenant_a}"
        ))
        .await;
    assert_eq!(anchors.len(), 1, "{anchors:?}");
    assert_event(
        &recorded[0],
        ("retention-policy", "compliance"),
        ("DELETE", "AuditEvent"),
        &anchors,
        &[],
    );
    assert_eq!(recorded[0]["clientId"], json!("dossier-cli"));

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

/// An audit export holds at most 10,000 events: past that the officer is asked to narrow the
/// filter rather than handed a truncated log. The events are written straight into the table
/// (with placeholder hashes: the cap is checked before anything is verified).
async fn an_audit_export_holds_at_most_ten_thousand_events(backend: Backend) {
    let app = spawn_app(backend).await;
    let officer = app.token(app.a.id, "compliance");
    app.customer(&app.agent_a(), "Acme").await;
    let tenant = app.uuid_literal(app.a.id);
    app.seal_audit().await;
    let last = app
        .admin_count(&format!(
            "SELECT COALESCE(MAX(seq), 0) FROM audit_events WHERE tenant_id = {tenant}"
        ))
        .await;
    let at = app.timestamp_literal(
        &chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
    );
    let columns = "tenant_id, id, seq, at, actor, actor_role, request_id, action, entity, \
        entity_ids, fields, outcome, prev_hash, hash";
    let bulk = match backend {
        Backend::Sqlite => format!(
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 10000) \
             INSERT INTO audit_events ({columns}) SELECT {tenant}, randomblob(16), {last} + i, {at}, \
             'bulk', 'agent', 'bulk-' || i, 'READ', 'Contact', '[]', '[]', 'ALLOWED', \
             printf('%064d', 0), printf('%064d', 0) FROM n"
        ),
        // Sealed rows are inserted with the triggers off, as only an administrator can.
        Backend::Postgres => format!(
            "BEGIN; SET LOCAL session_replication_role = replica; \
             INSERT INTO audit_events ({columns}) SELECT {tenant}, gen_random_uuid(), {last} + i, {at}, \
             'bulk', 'agent', 'bulk-' || i, 'READ', 'Contact', '[]', '[]', 'ALLOWED', \
             repeat('0', 64), repeat('0', 64) FROM generate_series(1, 10000) AS i; COMMIT"
        ),
    };
    app.admin_exec(&bulk).await.expect("10,000 events");
    let export =
        "query($f: AuditEventFilter) { auditExport(filter: $f, format: CSV) { count content } }";
    // Exactly 10,000 is within the cap: every one of them is in the export.
    let full = app
        .gql(
            &officer,
            export,
            json!({ "f": { "actor": {"eq": "bulk"} } }),
        )
        .await
        .ok();
    assert_eq!(full["auditExport"]["count"], json!(10_000));
    let content = full["auditExport"]["content"].as_str().expect("csv");
    assert_eq!(content.lines().count(), 10_001, "a header and 10,000 lines");
    // One more (the customer's creation) is refused, not truncated.
    let refused = app
        .gql(&officer, export, json!({ "f": null }))
        .await
        .expect_code("BAD_USER_INPUT");
    assert_eq!(
        refused["errors"][0]["message"],
        json!("more than 10000 events match: narrow the filter (e.g. `at`)")
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
    an_audit_export_holds_at_most_ten_thousand_events,
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
