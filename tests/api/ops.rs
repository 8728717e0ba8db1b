//! Operations: health, readiness, metrics, GraphiQL, request ids.

use serde_json::json;
use tests::*;

async fn health_readiness_metrics_and_graphiql_answer(backend: Backend) {
    let app = spawn_app(backend).await;
    let health = app.get("/health").await;
    assert_eq!(health.status().as_u16(), 200);
    assert_eq!(app.get("/ready").await.status().as_u16(), 200);
    let page = app.get("/graphql").await;
    assert_eq!(page.status().as_u16(), 200);
    assert!(page.text().await.expect("html").contains("graphiql"));
    app.gql(&app.agent_a(), "{ me { actor } }", json!({}))
        .await
        .ok();
    app.gql("bad", "{ me { actor } }", json!({})).await;
    let metrics = app.get("/metrics").await.text().await.expect("text");
    assert!(
        metrics.contains("dossier_http_requests_total{status=\"2xx\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("dossier_unauthenticated_total 1"),
        "{metrics}"
    );
    // Every response carries a request id; a caller's own is kept.
    let response = app.get("/health").await;
    assert!(response.headers().contains_key("x-request-id"));
    let response = app
        .client
        .get(format!("{}/health", app.url))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("sent");
    assert_eq!(response.headers()["x-request-id"], "abc-123");
    let response = app
        .client
        .get(format!("{}/health", app.url))
        .header("x-request-id", "not ok <script>")
        .send()
        .await
        .expect("sent");
    assert_ne!(response.headers()["x-request-id"], "not ok <script>");
}

async fn introspection_needs_a_token(backend: Backend) {
    let app = spawn_app(backend).await;
    let q = serde_json::to_vec(&json!({"query": "{ __schema { types { name } } }"})).expect("json");
    let answer = app.post_raw(None, q).await;
    assert_eq!(answer.status, 401);
    let data = app
        .gql(
            &app.agent_a(),
            "{ __schema { queryType { name } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(data["__schema"]["queryType"]["name"], json!("Query"));
}

on_both_backends!(
    health_readiness_metrics_and_graphiql_answer,
    introspection_needs_a_token
);
