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
    app.gql(&app.agent_a(), q, json!({"n": "a".repeat(100_000)}))
        .await
        .expect_code("BAD_USER_INPUT");
    app.gql(&app.agent_a(), q, json!({"n": "a\u{0}b"}))
        .await
        .expect_code("BAD_USER_INPUT");
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

async fn depth_complexity_and_directives_are_bounded(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    // Deep: contact → customer → contacts → … beyond the depth limit.
    let mut deep = String::from("id");
    for _ in 0..8 {
        deep = format!("customer {{ contacts {{ edges {{ node {{ {deep} }} }} }} }}");
    }
    let q = format!("{{ contacts {{ edges {{ node {{ {deep} }} }} }} }}");
    app.gql(&token, &q, json!({}))
        .await
        .expect_code("QUERY_TOO_COMPLEX");
    // Wide: lists are priced by their page size.
    let q = "{ customers(first: 500) { edges { node { contacts(first: 500) { edges { node { id firstName lastName email } } } } } } }";
    app.gql(&token, q, json!({}))
        .await
        .expect_code("QUERY_TOO_COMPLEX");
    let q = "{ me { actor @skip(if: false) @include(if: true) @skip(if: false) @include(if: true) @skip(if: false) } }";
    app.gql(&token, q, json!({}))
        .await
        .expect_code("QUERY_TOO_COMPLEX");
    // An ordinary front-end page is well within the limits.
    let q = "{ customers(first: 50) { edges { node { id contacts { edges { node { id email } } } sales(first: 5) { edges { node { amount } } } } } } }";
    app.gql(&token, q, json!({})).await.ok();
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
    depth_complexity_and_directives_are_bounded,
    errors_never_leak_sql_or_internals,
);
