//! Personal data: refused without `pii:read` (and the refusal audited) while the rest of the
//! response resolves, through aliases, fragments and nesting; no filtering or ordering by it.

use serde_json::json;
use tests::*;

async fn setup(app: &TestApp) -> (uuid::Uuid, uuid::Uuid) {
    let token = app.agent_a();
    let customer = app.customer(&token, "Acme").await;
    let contact = app
        .contact(&token, customer, "Claire", "claire@acme.example")
        .await;
    let sale = app
        .sale(&token, customer, "10.00", "2026-03-01T00:00:00Z")
        .await;
    app.gql(
        &token,
        "mutation($s: UUID!, $c: UUID!) { updateSale(id: $s, input: {contactId: $c}) { id } }",
        json!({"s": sale, "c": contact}),
    )
    .await
    .ok();
    (customer, contact)
}

async fn personal_fields_are_refused_without_pii_read_but_the_rest_resolves(backend: Backend) {
    let app = spawn_app(backend).await;
    let (customer, contact) = setup(&app).await;
    let analyst = app.token(app.a.id, "analyst");
    let q = r#"query($c: UUID!) {
        customer(id: $c) { name contacts { edges { node { id jobTitle ...Who alias: email
            ... on Contact { phone } } } } sales { edges { node { contact { birthday lastName } } } } }
    }
    fragment Who on Contact { firstName }"#;
    let answer = app.gql(&analyst, q, json!({"c": customer})).await;
    assert_eq!(answer.status, 200);
    let text = answer.body.to_string();
    for value in [
        "Claire",
        "claire@acme.example",
        "+33612345678",
        "1985-04-12",
        "Martin",
    ] {
        assert!(!text.contains(value), "{value} leaked: {text}");
    }
    let codes = answer.codes();
    assert_eq!(codes.len(), 5, "one error per personal field: {text}");
    assert!(codes.iter().all(|c| c == "FORBIDDEN"), "{codes:?}");
    let data = answer.data();
    assert_eq!(data["customer"]["name"], json!("Acme"));
    let node = &data["customer"]["contacts"]["edges"][0]["node"];
    assert_eq!(node["id"], json!(contact));
    // Refused fields stay in the response as null (GraphQL spec), with the error at their path.
    let node_fields = node.as_object().expect("node");
    for field in ["alias", "firstName", "phone"] {
        assert_eq!(
            node_fields.get(field),
            Some(&json!(null)),
            "{field} must be present and null: {node}"
        );
    }
    let paths: Vec<String> = answer
        .errors()
        .iter()
        .map(|e| e["path"].to_string())
        .collect();
    assert!(
        paths.contains(&json!(["customer", "contacts", "edges", 0, "node", "alias"]).to_string()),
        "{paths:?}"
    );
    // The refusal itself is in the audit log, as a DENIED read of Contact.
    let admin = app.token(app.a.id, "admin");
    let log = app
        .gql(&admin, "{ auditEvents(filter: {outcome: DENIED}) { edges { node { action entity entityIds fields actorRole } } } }", json!({}))
        .await
        .ok();
    let events = log["auditEvents"]["edges"].as_array().expect("edges");
    assert_eq!(
        events.len(),
        1,
        "one event per entity type per request: {log}"
    );
    let event = &events[0]["node"];
    assert_eq!(event["action"], json!("READ"));
    assert_eq!(event["entity"], json!("Contact"));
    assert_eq!(event["actorRole"], json!("analyst"));
    assert_eq!(event["entityIds"], json!([contact]));
    assert_eq!(
        event["fields"],
        json!(["birthday", "email", "firstName", "lastName", "phone"])
    );
}

async fn filtering_or_ordering_by_personal_data_needs_pii_read(backend: Backend) {
    let app = spawn_app(backend).await;
    let (customer, contact) = setup(&app).await;
    let analyst = app.token(app.a.id, "analyst");
    let refused = [
        "{ contacts(filter: {email: {contains: \"acme\"}}) { totalCount } }",
        "{ contacts(filter: {or: [{jobTitle: {eq: \"x\"}}, {lastName: {eq: \"Martin\"}}]}) { totalCount } }",
        "{ contacts(filter: {birthday: {lt: \"2000-01-01\"}}) { totalCount } }",
        "{ contacts(orderBy: [{field: LAST_NAME}]) { totalCount } }",
    ];
    for q in refused {
        app.gql(&analyst, q, json!({}))
            .await
            .expect_code("FORBIDDEN");
    }
    let nested = "query($c: UUID!) { customer(id: $c) { name contacts(filter: {firstName: {eq: \"Claire\"}}) { totalCount } } }";
    let answer = app.gql(&analyst, nested, json!({"c": customer})).await;
    assert_eq!(answer.codes(), vec!["FORBIDDEN"]);
    assert_eq!(answer.data()["customer"]["name"], json!("Acme"));
    // With pii:read the same filters work, and the filter's field is audited as read.
    let agent = app.agent_a();
    let data = app.gql(&agent, "{ contacts(filter: {email: {contains: \"ACME\"}}) { totalCount edges { node { id } } } }", json!({})).await.ok();
    assert_eq!(data["contacts"]["totalCount"], json!(1));
    let admin = app.token(app.a.id, "admin");
    let log = app.gql(&admin, "{ auditEvents(filter: {actorRole: {eq: \"agent\"}, action: [READ]}) { edges { node { actor actorRole action entity entityIds fields outcome } } } }", json!({})).await.ok();
    let reads = log["auditEvents"]["edges"].as_array().expect("edges");
    assert_eq!(reads.len(), 1, "{log}");
    assert_event(
        &reads[0]["node"],
        ("user-agent", "agent"),
        ("READ", "Contact"),
        &[contact],
        &["email"],
    );
}

async fn the_sdl_marks_exactly_the_entity_personal_columns(_backend: Backend) {
    let sdl = api::graphql::sdl(&api::graphql::build_schema(Default::default()));
    let mut marked = Vec::new();
    let mut current_type = String::new();
    for line in sdl.lines() {
        if let Some(rest) = line.strip_prefix("type ") {
            current_type = rest.split([' ', '{']).next().unwrap_or("").to_owned();
        }
        if line.trim_end().ends_with("@personalData") && !line.starts_with("directive") {
            let field = line.trim().split(['(', ':']).next().unwrap_or("");
            marked.push(format!("{current_type}.{field}"));
        }
    }
    let mut expected: Vec<String> = entity::personal_data_catalog()
        .into_iter()
        .flat_map(|(ty, columns)| {
            columns
                .into_iter()
                .map(move |c| format!("{ty}.{}", entity::graphql_field_name(c)))
        })
        .collect();
    expected.sort();
    marked.sort();
    assert!(
        expected.iter().any(|f| f == "Contact.email"),
        "{expected:?}"
    );
    assert_eq!(marked, expected);
}

on_both_backends!(
    personal_fields_are_refused_without_pii_read_but_the_rest_resolves,
    filtering_or_ordering_by_personal_data_needs_pii_read,
);

#[tokio::test]
async fn the_sdl_marks_exactly_the_entity_personal_columns_once() {
    the_sdl_marks_exactly_the_entity_personal_columns(Backend::Sqlite).await
}
