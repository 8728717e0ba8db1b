//! Interactions: each customer's timeline, newest first, filterable and paginated; the summary
//! is personal data (masked without `pii:read`, every read and lookup audited); a timeline
//! stays inside its tenant; a person's interactions are in their export, go with their
//! erasure, stay with their customer when the person is deleted, and bind to legal holds.

use serde_json::{Value, json};
use tests::*;
use uuid::Uuid;

const CREATE: &str = "mutation($input: CreateInteractionInput!) {
    createInteraction(input: $input) { id kind occurredAt contactId } }";

async fn interaction(app: &TestApp, token: &str, input: Value) -> Uuid {
    let data = app.gql(token, CREATE, json!({ "input": input })).await.ok();
    uuid(&data["createInteraction"]["id"])
}

/// Acme with Ann, and three interactions: a web visit (nobody), an email Ann opened, a call
/// with Ann and notes — oldest to newest.
async fn timeline(app: &TestApp) -> (Uuid, Uuid, [Uuid; 3]) {
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    let visit = interaction(
        app,
        &agent,
        json!({"customerId": acme, "kind": "WEB_VISIT", "channel": "website", "subject": "/pricing",
               "occurredAt": "2026-10-01T09:00:00Z", "source": "tracker"}),
    )
    .await;
    let email = interaction(
        app,
        &agent,
        json!({"customerId": acme, "contactId": ann, "kind": "EMAIL_OPENED", "subject": "Autumn offers",
               "occurredAt": "2026-10-05T09:00:00Z"}),
    )
    .await;
    let call = interaction(
        app,
        &agent,
        json!({"customerId": acme, "contactId": ann, "kind": "CALL", "summary": "Wants a quote for 20 units",
               "occurredAt": "2026-10-09T09:00:00Z"}),
    )
    .await;
    (acme, ann, [visit, email, call])
}

fn ids(connection: &Value) -> Vec<Uuid> {
    connection["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("edges: {connection}"))
        .iter()
        .map(|e| uuid(&e["node"]["id"]))
        .collect()
}

async fn a_customers_timeline_is_newest_first_filterable_and_paginated(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let (acme, ann, [visit, email, call]) = timeline(&app).await;

    let data = app
        .gql(
            &agent,
            "query($id: UUID!, $c: UUID!) { customer(id: $id) {
                all: interactions { totalCount edges { node { id kind customer { id } } } }
                calls: interactions(filter: {kind: {in: [CALL, MEETING]}}) { totalCount edges { node { id } } }
                october: interactions(filter: {occurredAt: {gte: \"2026-10-02T00:00:00Z\", lt: \"2026-10-08T00:00:00Z\"}}) { edges { node { id } } }
                oldest: interactions(orderBy: [{field: OCCURRED_AT, direction: ASC}], first: 1) { edges { node { id } } } }
              contact(id: $c) { interactions { edges { node { id contact { id } } } } } }",
            json!({"id": acme, "c": ann}),
        )
        .await
        .ok();
    let customer = &data["customer"];
    assert_eq!(
        ids(&customer["all"]),
        vec![call, email, visit],
        "newest first"
    );
    assert_eq!(customer["all"]["totalCount"], json!(3));
    assert_eq!(customer["all"]["edges"][0]["node"]["kind"], json!("CALL"));
    assert_eq!(
        customer["all"]["edges"][0]["node"]["customer"]["id"],
        json!(acme)
    );
    assert_eq!(ids(&customer["calls"]), vec![call]);
    assert_eq!(ids(&customer["october"]), vec![email]);
    assert_eq!(ids(&customer["oldest"]), vec![visit]);
    assert_eq!(
        ids(&data["contact"]["interactions"]),
        vec![call, email],
        "only Ann's"
    );

    // The top-level list pages with cursors.
    let page = "query($after: String) { interactions(first: 2, after: $after) {
        edges { node { id } } pageInfo { hasNextPage endCursor } } }";
    let first = app.gql(&agent, page, json!({"after": null})).await.ok();
    assert_eq!(ids(&first["interactions"]), vec![call, email]);
    assert_eq!(
        first["interactions"]["pageInfo"]["hasNextPage"],
        json!(true)
    );
    let after = first["interactions"]["pageInfo"]["endCursor"].clone();
    let second = app.gql(&agent, page, json!({"after": after})).await.ok();
    assert_eq!(ids(&second["interactions"]), vec![visit]);
    assert_eq!(
        second["interactions"]["pageInfo"]["hasNextPage"],
        json!(false)
    );

    // The create event names the fields the input set, read off the change.
    let events = app
        .audit_events(json!({"entity": {"eq": "Interaction"}, "action": ["CREATE"]}))
        .await;
    assert_eq!(events.len(), 3, "one per interaction: {events:?}");
    assert_event(
        &events[0],
        ("user-agent", "agent"),
        ("CREATE", "Interaction"),
        &[call],
        &[
            "channel",
            "contactId",
            "customerId",
            "externalRef",
            "kind",
            "occurredAt",
            "source",
            "subject",
            "summary",
        ],
    );

    // An update changes what it names; `occurredAt` cannot be cleared.
    let data = app
        .gql(
            &agent,
            "mutation($id: UUID!) { updateInteraction(id: $id, input: {kind: MEETING, channel: null}) { kind channel subject } }",
            json!({"id": visit}),
        )
        .await
        .ok();
    assert_eq!(
        data["updateInteraction"],
        json!({"kind": "MEETING", "channel": null, "subject": "/pricing"})
    );
    let refused = app
        .gql(
            &agent,
            "mutation($id: UUID!) { updateInteraction(id: $id, input: {occurredAt: null}) { id } }",
            json!({"id": visit}),
        )
        .await;
    let body = refused.expect_code("BAD_USER_INPUT");
    assert!(
        body["errors"][0]["message"]
            .as_str()
            .unwrap_or_default()
            .starts_with("occurredAt: "),
        "{body}"
    );
}

on_both_backends!(a_customers_timeline_is_newest_first_filterable_and_paginated);

async fn interactions_are_validated_before_anything_is_written(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let (acme, _, _) = timeline(&app).await;
    let globex = app.customer(&agent, "Globex").await;
    let gus = app
        .contact(&agent, globex, "Gus", "gus@globex.example")
        .await;
    let before = app.admin_count("SELECT COUNT(*) FROM interactions").await;
    for (input, code, blamed) in [
        (
            json!({"customerId": acme, "contactId": gus, "kind": "CALL"}),
            "BAD_USER_INPUT",
            Some("contactId"),
        ),
        (
            json!({"customerId": acme, "kind": "CALL", "summary": "x".repeat(10_001)}),
            "BAD_USER_INPUT",
            Some("summary"),
        ),
        (
            json!({"customerId": acme, "kind": "CALL", "occurredAt": "yesterday"}),
            "BAD_USER_INPUT",
            Some("occurredAt"),
        ),
        (
            json!({"customerId": acme, "kind": "CALL", "subject": "a\u{0}b"}),
            "BAD_USER_INPUT",
            Some("subject"),
        ),
        (
            json!({"customerId": Uuid::now_v7(), "kind": "CALL"}),
            "NOT_FOUND",
            None,
        ),
        (
            json!({"customerId": acme, "kind": "TELEPATHY"}),
            "GRAPHQL_VALIDATION_FAILED",
            None,
        ),
    ] {
        let answer = app.gql(&agent, CREATE, json!({"input": input})).await;
        let body = answer.expect_code(code);
        if let Some(field) = blamed {
            let message = body["errors"][0]["message"].as_str().unwrap_or_default();
            assert!(message.starts_with(&format!("{field}: ")), "{body}");
        }
    }
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM interactions").await,
        before,
        "nothing written"
    );
}

on_both_backends!(interactions_are_validated_before_anything_is_written);

async fn summaries_are_personal_data(backend: Backend) {
    let app = spawn_app(backend).await;
    let (_, _, [_, _, call]) = timeline(&app).await;
    let analyst = app.token(app.a.id, "analyst");
    let answer = app
        .gql(
            &analyst,
            "query($id: UUID!) { interaction(id: $id) { kind subject summary } }",
            json!({"id": call}),
        )
        .await;
    assert_eq!(answer.codes(), vec!["FORBIDDEN"], "{}", answer.body);
    assert_eq!(
        answer.data()["interaction"],
        json!({"kind": "CALL", "subject": null, "summary": null}),
        "the rest of the row resolves"
    );
    assert_eq!(
        answer.errors()[0]["path"],
        json!(["interaction", "summary"])
    );
    let denied = app
        .audit_events(json!({"entity": {"eq": "Interaction"}, "outcome": "DENIED"}))
        .await;
    assert_event_outcome(
        &denied[0],
        "DENIED",
        ("user-analyst", "analyst"),
        ("READ", "Interaction"),
        &[call],
        &["summary"],
    );
    // A lookup by the summary is refused without `pii:read`, and audited.
    let lookup = "{ interactions(filter: {summary: {contains: \"quote\"}}) { totalCount } }";
    app.gql(&analyst, lookup, json!({}))
        .await
        .expect_code("FORBIDDEN");

    let agent = app.agent_a();
    let data = app
        .gql(
            &agent,
            "query($id: UUID!) { interaction(id: $id) { summary } }",
            json!({"id": call}),
        )
        .await
        .ok();
    assert_eq!(
        data["interaction"]["summary"],
        json!("Wants a quote for 20 units")
    );
    let reads = app
        .audit_events(
            json!({"entity": {"eq": "Interaction"}, "action": ["READ"], "outcome": "ALLOWED"}),
        )
        .await;
    assert_event(
        &reads[0],
        ("user-agent", "agent"),
        ("READ", "Interaction"),
        &[call],
        &["summary"],
    );
    // A lookup that returns no personal field is still an access to every row it counted.
    let data = app.gql(&agent, lookup, json!({})).await.ok();
    assert_eq!(data["interactions"]["totalCount"], json!(1));
    let reads = app
        .audit_events(
            json!({"entity": {"eq": "Interaction"}, "action": ["READ"], "outcome": "ALLOWED"}),
        )
        .await;
    assert_event(
        &reads[0],
        ("user-agent", "agent"),
        ("READ", "Interaction"),
        &[call],
        &["summary"],
    );
}

on_both_backends!(summaries_are_personal_data);

async fn a_timeline_stays_inside_its_tenant(backend: Backend) {
    let app = spawn_app(backend).await;
    let (acme, ann, [visit, _, _]) = timeline(&app).await;
    let other = app.agent_b();
    let data = app
        .gql(
            &other,
            "query($id: UUID!) { interaction(id: $id) { id } interactions { totalCount edges { node { id } } } }",
            json!({"id": visit}),
        )
        .await
        .ok();
    assert_eq!(data["interaction"], Value::Null);
    assert_eq!(data["interactions"]["totalCount"], json!(0));
    app.gql(
        &other,
        CREATE,
        json!({"input": {"customerId": acme, "kind": "CALL"}}),
    )
    .await
    .expect_code("NOT_FOUND");
    let mine = app.customer(&other, "Initech").await;
    app.gql(
        &other,
        CREATE,
        json!({"input": {"customerId": mine, "contactId": ann, "kind": "CALL"}}),
    )
    .await
    .expect_code("NOT_FOUND");
    for mutation in [
        "mutation($id: UUID!) { updateInteraction(id: $id, input: {subject: \"x\"}) { id } }",
        "mutation($id: UUID!) { deleteInteraction(id: $id) }",
    ] {
        app.gql(&other, mutation, json!({"id": visit}))
            .await
            .expect_code("NOT_FOUND");
    }
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM interactions WHERE subject = 'x'")
            .await,
        0
    );
}

on_both_backends!(a_timeline_stays_inside_its_tenant);

async fn a_persons_interactions_follow_them(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let officer = app.token(app.a.id, "compliance");
    let (acme, ann, [visit, email, call]) = timeline(&app).await;

    // The export shows them, notes included.
    let doc = app
        .gql(
            &officer,
            "query($id: UUID!) { exportSubject(contactId: $id) }",
            json!({"id": ann}),
        )
        .await
        .ok()["exportSubject"]
        .clone();
    let exported = doc["interactions"].as_array().expect("interactions");
    assert_eq!(exported.len(), 2, "{doc}");
    assert_eq!(exported[0]["id"], json!(call));
    assert_eq!(exported[0]["summary"], json!("Wants a quote for 20 units"));

    // A legal hold on the customer holds its timeline.
    let hold = app
        .gql(
            &officer,
            "mutation($id: UUID!) { placeLegalHold(input: {entity: CUSTOMER, entityId: $id, reason: \"audit\"}) { id } }",
            json!({"id": acme}),
        )
        .await
        .ok()["placeLegalHold"]["id"]
        .clone();
    for mutation in [
        "mutation($id: UUID!) { updateInteraction(id: $id, input: {subject: \"changed\"}) { id } }",
        "mutation($id: UUID!) { deleteInteraction(id: $id) }",
    ] {
        let body = app
            .gql(&agent, mutation, json!({"id": visit}))
            .await
            .expect_code("CONFLICT");
        assert!(body.to_string().contains("legal hold"), "{body}");
    }
    app.gql(
        &officer,
        "mutation($id: UUID!) { releaseLegalHold(id: $id) { id } }",
        json!({"id": hold}),
    )
    .await
    .ok();

    // Erased, a person's interactions go with them, audited as erased.
    let bob = app.contact(&agent, acme, "Bob", "bob@acme.example").await;
    let bobs = interaction(
        &app,
        &agent,
        json!({"customerId": acme, "contactId": bob, "kind": "MEETING", "summary": "Lunch"}),
    )
    .await;
    app.gql(
        &officer,
        "mutation($id: UUID!) { eraseContact(contactId: $id, reason: \"Art. 17 request\") { id } }",
        json!({"id": bob}),
    )
    .await
    .ok();
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM interactions WHERE summary = 'Lunch'")
            .await,
        0
    );
    let erased = app
        .audit_events(json!({"entity": {"eq": "Interaction"}, "action": ["ERASE"]}))
        .await;
    assert_event(
        &erased[0],
        ("user-compliance", "compliance"),
        ("ERASE", "Interaction"),
        &[bobs],
        &["summary"],
    );

    // Deleted, a person leaves their customer's history in place, without them.
    app.gql(
        &agent,
        "mutation($id: UUID!) { deleteContact(id: $id) }",
        json!({"id": ann}),
    )
    .await
    .ok();
    let data = app
        .gql(
            &agent,
            "query($id: UUID!) { customer(id: $id) { interactions { edges { node { id contactId } } } } }",
            json!({"id": acme}),
        )
        .await
        .ok();
    assert_eq!(
        ids(&data["customer"]["interactions"]),
        vec![call, email, visit]
    );
    assert!(
        data["customer"]["interactions"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .all(|e| e["node"]["contactId"].is_null())
    );
    let unlinked = app
        .audit_events(json!({"entity": {"eq": "Interaction"}, "action": ["UPDATE"]}))
        .await;
    assert_event(
        &unlinked[0],
        ("user-agent", "agent"),
        ("UPDATE", "Interaction"),
        &[email, call],
        &["contactId"],
    );

    // Deleted with their customer, audited as such.
    app.gql(
        &agent,
        "mutation($id: UUID!) { deleteCustomer(id: $id) }",
        json!({"id": acme}),
    )
    .await
    .ok();
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM interactions").await,
        0
    );
    let deleted = app
        .audit_events(json!({"entity": {"eq": "Interaction"}, "action": ["DELETE"]}))
        .await;
    assert_event(
        &deleted[0],
        ("user-agent", "agent"),
        ("DELETE", "Interaction"),
        &[visit, email, call],
        &[],
    );
}

on_both_backends!(a_persons_interactions_follow_them);
