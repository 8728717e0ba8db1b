//! Limits and malformed requests: each answered with a stable code, nothing written.

use serde_json::json;
use tests::*;

async fn oversized_bodies_are_refused_with_413(backend: Backend) {
    let app = spawn_app(backend).await;
    let big = format!(
        "{{\"query\": \"{{ me {{ actor }} }}\", \"variables\": {{\"pad\": \"{}\"}}}}",
        "x".repeat(1024 * 1024 + 10)
    );
    let answer = app.post_raw(Some(&app.agent_a()), big.into_bytes()).await;
    assert_eq!(answer.status, 413, "{}", answer.body);
    answer.expect_code("PAYLOAD_TOO_LARGE");
    // Chunked, without a Content-Length, is capped too.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        (0..200).map(|_| Ok(vec![b' '; 8 * 1024])).collect();
    let response = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(app.agent_a())
        .header("content-type", "application/json")
        .body(reqwest::Body::wrap_stream(futures_util::stream::iter(
            chunks,
        )))
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 413);
}

async fn long_strings_and_nul_bytes_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let q = "mutation($n: String!) { createCustomer(input: {name: $n, country: \"FR\"}) { id } }";
    for name in ["a".repeat(100_000), "a\u{0}b".to_owned()] {
        let body = app
            .gql(&app.agent_a(), q, json!({ "n": name }))
            .await
            .expect_code("BAD_USER_INPUT");
        let message = body["errors"][0]["message"].as_str().unwrap_or_default();
        assert!(
            message.starts_with("name: "),
            "the refusal blames `name`: {body}"
        );
    }
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM customers").await, 0);
}

async fn malformed_requests_get_stable_codes(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let answer = app.post_raw(Some(&token), b"{not json".to_vec()).await;
    assert_eq!(answer.status, 400);
    answer.expect_code("GRAPHQL_PARSE_FAILED");
    app.gql(&token, "{ customers { ", json!({}))
        .await
        .expect_code("GRAPHQL_PARSE_FAILED");
    app.gql(&token, "{ customers { nope } }", json!({}))
        .await
        .expect_code("GRAPHQL_VALIDATION_FAILED");
    app.gql(
        &token,
        "query($id: UUID!) { customer(id: $id) { id } }",
        json!({"id": "not-a-uuid"}),
    )
    .await
    .expect_code("BAD_USER_INPUT");
    app.gql(&token, "{ customer(id: \"not-a-uuid\") { id } }", json!({}))
        .await
        .expect_code("BAD_USER_INPUT");
    // Suggestions are off: the error does not hint at field names.
    let answer = app.gql(&token, "{ custom { id } }", json!({})).await;
    assert!(
        !answer.body.to_string().contains("Did you mean"),
        "{}",
        answer.body
    );
    // Batching is refused.
    let batch =
        serde_json::to_vec(&json!([{"query": "{ me { actor } }"}, {"query": "{ me { actor } }"}]))
            .expect("json");
    let answer = app.post_raw(Some(&token), batch).await;
    assert_eq!(answer.status, 400);
    answer.expect_code("BAD_USER_INPUT");
}

/// The one error of a refused query: its code and its message.
fn refusal(answer: Answer) -> (String, String) {
    let body = answer.expect_code("QUERY_TOO_COMPLEX");
    let message = body["errors"][0]["message"].as_str().unwrap_or_default();
    (
        body["errors"][0]["extensions"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
        message.to_owned(),
    )
}

/// A query exactly `depth` fields deep that costs next to nothing: contact → customer →
/// contacts → … with pages of one, ending in a scalar.
fn nested(depth: usize) -> String {
    const CYCLE: [(&str, &str); 4] = [
        ("contacts(first: 1)", "totalCount"),
        ("edges", "cursor"),
        ("node", "id"),
        ("customer", "id"),
    ];
    // The scalar belongs to the type of the last object field, at level `depth - 2`.
    let mut query = CYCLE[(depth - 2) % 4].1.to_owned();
    for level in (0..depth - 1).rev() {
        query = format!("{} {{ {query} }}", CYCLE[level % 4].0);
    }
    format!("{{ {query} }}")
}

async fn the_depth_limit_holds_on_its_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    // The test configuration's depth limit: 12 fields.
    assert_eq!(config("sqlite::memory:").max_depth, 12);
    // Twelve fields deep is accepted: the query is cheap and the limit is not lower. So are
    // queries ending on each kind of field, which shows that `nested` builds valid queries.
    for depth in [9, 10, 11, 12] {
        app.gql(&token, &nested(depth), json!({})).await.ok();
    }
    // Thirteen is refused for its depth — its complexity is far under the complexity limit.
    let (code, message) = refusal(app.gql(&token, &nested(13), json!({})).await);
    assert_eq!(code, "QUERY_TOO_COMPLEX");
    assert_eq!(message, "Query is nested too deep.");
}

async fn the_complexity_limit_holds_on_its_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    assert_eq!(config("sqlite::memory:").max_complexity, 250_000);
    // Lists are priced by their page size times what one node costs, so two nested pages
    // of 500 cost 500 × (2 + 3 × 500); a page of 166 inside a page of 500 costs exactly the
    // limit, 500 × (2 + 3 × 166) = 250 000, and one more row per page is over it. Both are
    // six fields deep, half the depth limit.
    let wide = |inner: u32| {
        format!(
            "{{ customers(first: 500) {{ edges {{ node {{ contacts(first: {inner}) {{ edges {{ node {{ id }} }} }} }} }} }} }}"
        )
    };
    app.gql(&token, &wide(166), json!({})).await.ok();
    let (code, message) = refusal(app.gql(&token, &wide(167), json!({})).await);
    assert_eq!(code, "QUERY_TOO_COMPLEX");
    assert_eq!(message, "Query is too complex.");
    let (_, message) = refusal(app.gql(&token, &wide(500), json!({})).await);
    assert_eq!(message, "Query is too complex.");
    // An ordinary front-end page is well within the limits.
    let q = "{ customers(first: 50) { edges { node { id contacts { edges { node { id email } } } sales(first: 5) { edges { node { amount } } } } } } }";
    app.gql(&token, q, json!({})).await.ok();
}

async fn the_directive_limit_holds_on_its_own(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    assert_eq!(config("sqlite::memory:").max_directives, 4);
    let two = "{ me { actor @skip(if: false) @include(if: true) } }";
    let data = app.gql(&token, two, json!({})).await.ok();
    assert_eq!(data["me"]["actor"], json!("user-agent"));
    // @skip and @include are the only executable directives, once each per field, so no valid
    // field carries four: four get past the directive limit and are refused by the rule on
    // duplicates instead, which shows the limit is not lower than four.
    let four =
        "{ me { actor @skip(if: false) @include(if: true) @skip(if: false) @include(if: true) } }";
    let answer = app.gql(&token, four, json!({})).await;
    assert_eq!(
        answer.codes(),
        vec!["GRAPHQL_VALIDATION_FAILED", "GRAPHQL_VALIDATION_FAILED"],
        "{}",
        answer.body
    );
    for error in answer.errors() {
        let message = error["message"].as_str().unwrap_or_default();
        assert!(message.starts_with("Duplicate directive"), "{message}");
    }
    // Five on one field: shallow and cheap, refused for its directives alone.
    let five = "{ me { actor @skip(if: false) @include(if: true) @skip(if: false) @include(if: true) @skip(if: false) } }";
    let (code, message) = refusal(app.gql(&token, five, json!({})).await);
    assert_eq!(code, "QUERY_TOO_COMPLEX");
    assert_eq!(
        message,
        "The number of directives on the field `actor` cannot be greater than `4`"
    );
}

async fn errors_never_leak_sql_or_internals(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    // Break the database under the API and look at what the caller sees.
    let sql = match backend {
        Backend::Sqlite => "DROP TABLE sales",
        Backend::Postgres => "ALTER TABLE sales RENAME TO sales_gone",
    };
    app.admin_exec(sql).await.expect("break");
    let answer = app.gql(&token, "{ sales { totalCount } }", json!({})).await;
    let text = answer.body.to_string().to_lowercase();
    assert_eq!(answer.codes(), vec!["INTERNAL"], "{text}");
    for leak in [
        "select",
        "from sales",
        "sales_gone",
        "sqlx",
        "postgres",
        "sqlite",
        "relation",
        "no such table",
        "127.0.0.1",
    ] {
        assert!(!text.contains(leak), "{leak} leaked: {text}");
    }
}

on_both_backends!(
    oversized_bodies_are_refused_with_413,
    long_strings_and_nul_bytes_are_refused,
    malformed_requests_get_stable_codes,
    the_depth_limit_holds_on_its_own,
    the_complexity_limit_holds_on_its_own,
    the_directive_limit_holds_on_its_own,
    errors_never_leak_sql_or_internals,
);
