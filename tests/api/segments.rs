//! Segments: named, saved customer filters in the filter language of `customers` — fields,
//! aggregates, and "some related row matches" (`interactions: {…}`, `contacts: {…}`) —
//! evaluated live, gated and audited like the filter they hold, and kept to their tenant.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use tests::*;
use uuid::Uuid;

fn ago(days: i64) -> String {
    (Utc::now() - Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn touch(app: &TestApp, customer: Uuid, kind: &str, days: i64) {
    app.gql(
        &app.agent_a(),
        "mutation($c: UUID!, $k: InteractionKind!, $at: DateTime!) { createInteraction(input: {customerId: $c, kind: $k, occurredAt: $at}) { id } }",
        json!({"c": customer, "k": kind, "at": ago(days)}),
    )
    .await
    .ok();
}

async fn buy(app: &TestApp, customer: Uuid, days: i64) {
    app.sale(&app.agent_a(), customer, "10.00", &ago(days))
        .await;
}

const CREATE: &str = "mutation($input: CreateSegmentInput!) { createSegment(input: $input) { id name usesPersonalData } }";
const EVALUATE: &str = "query($id: UUID!) { segment(id: $id) { name usesPersonalData filter
    customers { totalCount edges { node { id } } } } }";

fn members(data: &Value) -> Vec<Uuid> {
    data["segment"]["customers"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("edges: {data}"))
        .iter()
        .map(|e| uuid(&e["node"]["id"]))
        .collect()
}

async fn a_segment_is_a_saved_filter_evaluated_live(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let globex = app.customer(&agent, "Globex").await;
    let initech = app.customer(&agent, "Initech").await;
    let hooli = app.customer(&agent, "Hooli").await;
    touch(&app, acme, "WEB_VISIT", 5).await;
    buy(&app, acme, 365).await;
    touch(&app, globex, "WEB_VISIT", 5).await;
    buy(&app, globex, 10).await;
    touch(&app, initech, "CALL", 5).await;
    touch(&app, hooli, "WEB_VISIT", 40).await;

    // Visited the site in the last 30 days and bought nothing in six months — relative to
    // whenever the segment is evaluated.
    let filter = json!({"and": [
        {"interactions": {"kind": {"eq": "WEB_VISIT"}, "occurredAt": {"gteAgo": "P30D"}}},
        {"or": [{"stats": {"lastPurchaseAt": {"ltAgo": "P6M"}}}, {"stats": {"lastPurchaseAt": {"isNull": true}}}]}
    ]});
    let created = app
        .gql(
            &agent,
            CREATE,
            json!({"input": {"name": "Lapsed visitors", "description": "Win them back", "filter": filter}}),
        )
        .await
        .ok()["createSegment"]
        .clone();
    assert_eq!(created["usesPersonalData"], json!(false));
    let id = uuid(&created["id"]);
    let data = app.gql(&agent, EVALUATE, json!({"id": id})).await.ok();
    assert_eq!(members(&data), vec![acme]);
    assert_eq!(data["segment"]["customers"]["totalCount"], json!(1));
    assert_eq!(data["segment"]["filter"], filter, "kept as given");
    // The same filter, given directly, answers the same.
    let direct = app
        .gql(
            &agent,
            "query($f: CustomerFilter) { customers(filter: $f) { edges { node { id } } } }",
            json!({"f": filter}),
        )
        .await
        .ok();
    assert_eq!(direct["customers"]["edges"][0]["node"]["id"], json!(acme));

    // Live: Acme buys today and leaves the segment.
    buy(&app, acme, 0).await;
    let data = app.gql(&agent, EVALUATE, json!({"id": id})).await.ok();
    assert!(members(&data).is_empty(), "{data}");

    // Listed, renamed; names are unique; a filter is checked when saved.
    let list = app
        .gql(
            &agent,
            "{ segments { totalCount edges { node { name } } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(list["segments"]["totalCount"], json!(1));
    app.gql(
        &agent,
        "mutation($id: UUID!) { updateSegment(id: $id, input: {name: \"Dormant visitors\"}) { name } }",
        json!({"id": id}),
    )
    .await
    .ok();
    app.gql(
        &agent,
        CREATE,
        json!({"input": {"name": "Dormant visitors", "filter": {}}}),
    )
    .await
    .expect_code("CONFLICT");
    app.gql(
        &agent,
        CREATE,
        json!({"input": {"name": "Bad span", "filter": {"createdAt": {"gteAgo": "30 days"}}}}),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    let too_wide: Vec<Value> = (0..17).map(|_| json!({"name": {"eq": "x"}})).collect();
    app.gql(
        &agent,
        CREATE,
        json!({"input": {"name": "Too wide", "filter": {"or": too_wide}}}),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    app.gql(
        &agent,
        CREATE,
        json!({"input": {"name": "Forged", "filter": {"tenantId": {"eq": Uuid::now_v7()}}}}),
    )
    .await
    .expect_code("GRAPHQL_VALIDATION_FAILED");
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM segments").await, 1);

    // Another tenant has no such segment and cannot change it.
    let other = app.agent_b();
    let data = app.gql(&other, EVALUATE, json!({"id": id})).await.ok();
    assert_eq!(data["segment"], Value::Null);
    app.gql(
        &other,
        "mutation($id: UUID!) { deleteSegment(id: $id) }",
        json!({"id": id}),
    )
    .await
    .expect_code("NOT_FOUND");
    app.gql(
        &agent,
        "mutation($id: UUID!) { deleteSegment(id: $id) }",
        json!({"id": id}),
    )
    .await
    .ok();
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM segments").await, 0);
}

on_both_backends!(a_segment_is_a_saved_filter_evaluated_live);

async fn a_segment_on_personal_data_is_a_lookup(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let globex = app.customer(&agent, "Globex").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    app.contact(&agent, globex, "Gus", "gus@globex.example")
        .await;
    let created = app
        .gql(
            &agent,
            CREATE,
            json!({"input": {"name": "Acme people", "filter": {"contacts": {"email": {"contains": "@acme."}}}}}),
        )
        .await
        .ok()["createSegment"]
        .clone();
    assert_eq!(created["usesPersonalData"], json!(true));
    let id = uuid(&created["id"]);

    let analyst = app.token(app.a.id, "analyst");
    let answer = app.gql(&analyst, EVALUATE, json!({"id": id})).await;
    // Neither the members nor the filter that names the email.
    assert_eq!(
        answer.codes(),
        vec!["FORBIDDEN", "FORBIDDEN"],
        "{}",
        answer.body
    );
    assert!(
        !answer.body.to_string().contains("@acme."),
        "{}",
        answer.body
    );
    let denied = app
        .audit_events(json!({"entity": {"eq": "Customer"}, "outcome": "DENIED"}))
        .await;
    assert_event_outcome(
        &denied[0],
        "DENIED",
        ("user-analyst", "analyst"),
        ("READ", "Customer"),
        &[],
        &["contacts"],
    );

    let data = app.gql(&agent, EVALUATE, json!({"id": id})).await.ok();
    assert_eq!(members(&data), vec![acme]);
    let lookups = app
        .audit_events(
            json!({"entity": {"eq": "Customer"}, "action": ["READ"], "outcome": "ALLOWED"}),
        )
        .await;
    assert_event(
        &lookups[0],
        ("user-agent", "agent"),
        ("READ", "Customer"),
        &[acme],
        &["contacts"],
    );
    // The people it looked up are named too, with the fields it read of them, so each
    // person's access log shows the lookup.
    let people = app
        .audit_events(
            json!({"entity": {"eq": "Contact"}, "action": ["READ"], "outcome": "ALLOWED"}),
        )
        .await;
    assert_event(
        &people[0],
        ("user-agent", "agent"),
        ("READ", "Contact"),
        &[ann],
        &["email"],
    );
}

on_both_backends!(a_segment_on_personal_data_is_a_lookup);

/// What a filter, an ordering or a saved segment reads of other rows needs those rows' read
/// scopes, as reading them would (review of this change: related rows, sales figures, a
/// segment's stored filter).
async fn filters_need_the_scopes_of_what_they_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let globex = app.customer(&agent, "Globex").await;
    app.sale(&agent, acme, "5000.00", &ago(3)).await;
    app.contact(&agent, globex, "Ann", "ann@globex.example")
        .await;
    let only = app.token_with(app.a.id, "analyst", "customers:read");
    for query in [
        r#"{ customers(filter: {sales: {amount: {gte: "4000"}}}) { edges { node { name } } } }"#,
        r#"{ customers(filter: {stats: {totalSpent: {gte: "4000"}}}) { edges { node { name } } } }"#,
        r#"{ customers(orderBy: [{field: TOTAL_SPENT, direction: DESC}]) { edges { node { name } } } }"#,
        r#"{ customers(filter: {contacts: {createdAt: {isNull: false}}}) { edges { node { name } } } }"#,
        r#"{ customers(filter: {or: [{name: {eq: "x"}}, {contacts: {jobTitle: {isNull: true}}}]}) { totalCount } }"#,
    ] {
        app.gql(&only, query, json!({}))
            .await
            .expect_code("FORBIDDEN");
    }
    // What needs only the customer scopes still answers.
    let data = app
        .gql(
            &only,
            r#"{ customers(filter: {stats: {interactionsCount: {eq: 0}}}, orderBy: [{field: LAST_INTERACTION_AT}]) { totalCount } }"#,
            json!({}),
        )
        .await
        .ok();
    assert_eq!(data["customers"]["totalCount"], json!(2));

    // A saved filter shows what it reads: under the same scopes, and pii:read when personal.
    app.gql(
        &agent,
        CREATE,
        json!({"input": {"name": "Ann", "filter": {"contacts": {"email": {"eq": "ann@globex.example"}}}}}),
    )
    .await
    .ok();
    let analyst = app.token(app.a.id, "analyst");
    let answer = app
        .gql(
            &analyst,
            "{ segments { edges { node { name usesPersonalData filter } } } }",
            json!({}),
        )
        .await;
    assert_eq!(answer.codes(), vec!["FORBIDDEN"], "{}", answer.body);
    assert!(
        !answer.body.to_string().contains("ann@globex.example"),
        "{}",
        answer.body
    );
    let denied = app
        .audit_events(json!({"entity": {"eq": "Segment"}, "outcome": "DENIED"}))
        .await;
    assert_eq!(denied[0]["fields"], json!(["filter"]), "{denied:?}");
    let data = app
        .gql(
            &agent,
            "{ segments { edges { node { filter } } } }",
            json!({}),
        )
        .await
        .ok();
    assert!(data.to_string().contains("ann@globex.example"));
}

on_both_backends!(filters_need_the_scopes_of_what_they_read);

/// A contact's write does not reach the customer's interactions: moving a person with
/// interactions is refused like moving one with sales, and deleting one needs the write scope
/// of the interactions it unlinks.
async fn contact_writes_leave_the_customers_history_alone(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let globex = app.customer(&agent, "Globex").await;
    let ann = app.contact(&agent, acme, "Ann", "ann@acme.example").await;
    app.gql(
        &agent,
        "mutation($c: UUID!, $p: UUID!) { createInteraction(input: {customerId: $c, contactId: $p, kind: CALL}) { id } }",
        json!({"c": acme, "p": ann}),
    )
    .await
    .ok();
    app.gql(
        &agent,
        "mutation($id: UUID!, $c: UUID!) { updateContact(id: $id, input: {customerId: $c}) { id } }",
        json!({"id": ann, "c": globex}),
    )
    .await
    .expect_code("CONFLICT");
    let writer = app.token_with(app.a.id, "agent", "contacts:write");
    app.gql(
        &writer,
        "mutation($id: UUID!) { deleteContact(id: $id) }",
        json!({"id": ann}),
    )
    .await
    .expect_code("FORBIDDEN");
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM interactions WHERE contact_id IS NULL")
            .await,
        0,
        "nothing unlinked"
    );
}

on_both_backends!(contact_writes_leave_the_customers_history_alone);
