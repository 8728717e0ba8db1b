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
    // The counters move by exactly the requests made: two successes, one refusal, and the
    // first /metrics read itself (counted once its response is out).
    let before = metrics(&app).await;
    app.gql(&app.agent_a(), "{ me { actor } }", json!({}))
        .await
        .ok();
    assert_eq!(app.get("/health").await.status().as_u16(), 200);
    app.gql("bad", "{ me { actor } }", json!({}))
        .await
        .expect_code("UNAUTHENTICATED");
    let after = metrics(&app).await;
    assert_eq!(before["dossier_unauthenticated_total"], 0.0, "{before:?}");
    let delta = |name: &str| {
        after.get(name).copied().unwrap_or(0.0) - before.get(name).copied().unwrap_or(0.0)
    };
    assert_eq!(
        delta("dossier_http_requests_total{status=\"2xx\"}"),
        3.0,
        "{after:?}"
    );
    assert_eq!(
        delta("dossier_http_requests_total{status=\"4xx\"}"),
        1.0,
        "{after:?}"
    );
    assert_eq!(
        delta("dossier_http_requests_total{status=\"5xx\"}"),
        0.0,
        "{after:?}"
    );
    assert_eq!(
        delta("dossier_http_request_duration_seconds_count"),
        4.0,
        "{after:?}"
    );
    assert_eq!(delta("dossier_unauthenticated_total"), 1.0, "{after:?}");
    assert_eq!(delta("dossier_graphql_errors_total"), 1.0, "{after:?}");
    // Each phase of the one GraphQL request that ran is timed once; authentication also for
    // the refused one.
    let phase = |name: &str| {
        delta(&format!(
            "dossier_request_phase_seconds_count{{phase=\"{name}\"}}"
        ))
    };
    assert_eq!(phase("authenticate"), 2.0, "{after:?}");
    for name in ["admit", "begin", "execute", "audit", "commit"] {
        assert_eq!(phase(name), 1.0, "{name}: {after:?}");
        assert_eq!(
            delta(&format!(
                "dossier_request_phase_seconds_bucket{{phase=\"{name}\",le=\"+Inf\"}}"
            )),
            1.0,
            "{name}: {after:?}"
        );
    }
    // Every response carries the server's request id, whatever the caller sent (a caller's
    // own is recorded beside it in the audit log, never instead of it).
    let response = app.get("/health").await;
    assert!(response.headers().contains_key("x-request-id"));
    let response = app
        .client
        .get(format!("{}/health", app.url))
        .header("x-request-id", "abc-123")
        .send()
        .await
        .expect("sent");
    let server_id = response.headers()["x-request-id"].to_str().expect("ascii");
    assert_ne!(server_id, "abc-123");
    assert!(server_id.parse::<uuid::Uuid>().is_ok(), "{server_id}");
    let response = app
        .client
        .get(format!("{}/health", app.url))
        .header("x-request-id", "not ok <script>")
        .send()
        .await
        .expect("sent");
    assert_ne!(response.headers()["x-request-id"], "not ok <script>");
}

/// The samples of a Prometheus text page, by name (labels included).
async fn metrics(app: &TestApp) -> std::collections::HashMap<String, f64> {
    let response = app.get("/metrics").await;
    assert_eq!(response.status().as_u16(), 200);
    let text = response.text().await.expect("text");
    let samples: std::collections::HashMap<String, f64> = text
        .lines()
        .filter(|line| !line.starts_with('#') && !line.trim().is_empty())
        .map(|line| {
            let (name, value) = line
                .rsplit_once(' ')
                .unwrap_or_else(|| panic!("sample: {line}"));
            (
                name.to_owned(),
                value.parse().unwrap_or_else(|_| panic!("value: {line}")),
            )
        })
        .collect();
    assert!(
        samples.contains_key("dossier_http_requests_total{status=\"2xx\"}"),
        "{text}"
    );
    samples
}

/// Readiness is about the database: while it is out of reach `/ready` answers 503 (and a
/// load balancer takes the instance out), while `/health` — the process is alive — stays 200.
/// On PostgreSQL the database stops accepting connections and every session to it is ended,
/// then it comes back and so does readiness; on SQLite the application's only connection is
/// closed.
async fn ready_answers_503_while_the_database_is_unreachable(backend: Backend) {
    use sea_orm::{ConnectionTrait, Database};
    let app = spawn_app(backend).await;
    assert_eq!(app.get("/ready").await.status().as_u16(), 200);
    let outage = |allow: bool| {
        let database = app.database.clone().expect("a PostgreSQL database");
        async move {
            let admin =
                Database::connect(std::env::var("DOSSIER_TEST_PG_ADMIN_URL").expect("admin url"))
                    .await
                    .expect("admin connection to the cluster");
            admin
                .execute_unprepared(&format!(
                    "ALTER DATABASE {database} WITH ALLOW_CONNECTIONS {allow}"
                ))
                .await
                .expect("alter database");
            if !allow {
                admin
                    .execute_unprepared(&format!(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{database}'"
                    ))
                    .await
                    .expect("end its sessions");
            }
            admin.close().await.expect("close");
        }
    };
    match backend {
        Backend::Postgres => outage(false).await,
        Backend::Sqlite => app
            .db
            .close_by_ref()
            .await
            .expect("close the app's connection"),
    }
    let ready = app.get("/ready").await;
    assert_eq!(ready.status().as_u16(), 503);
    assert_eq!(ready.text().await.expect("text"), "database unreachable");
    assert_eq!(app.get("/health").await.status().as_u16(), 200);
    let samples = metrics(&app).await;
    assert_eq!(
        samples["dossier_http_requests_total{status=\"5xx\"}"], 1.0,
        "{samples:?}"
    );
    if backend == Backend::Postgres {
        outage(true).await;
        assert_eq!(
            app.get("/ready").await.status().as_u16(),
            200,
            "ready again once the database is back"
        );
    }
}

/// A test app cleans up after itself when dropped: its server stops listening and, on
/// PostgreSQL, its database is gone.
async fn a_dropped_test_app_stops_its_server_and_drops_its_database(backend: Backend) {
    let app = spawn_app(backend).await;
    let (url, database) = (app.url.clone(), app.database.clone());
    assert_eq!(app.get("/health").await.status().as_u16(), 200);
    drop(app);
    if let Some(database) = database {
        let admin = sea_orm::Database::connect(
            std::env::var("DOSSIER_TEST_PG_ADMIN_URL").expect("admin url"),
        )
        .await
        .expect("admin connection to the cluster");
        let left = sea_orm::ConnectionTrait::query_one_raw(
            &admin,
            sea_orm::Statement::from_string(
                sea_orm::DbBackend::Postgres,
                format!("SELECT COUNT(*) FROM pg_database WHERE datname = '{database}'"),
            ),
        )
        .await
        .expect("query")
        .expect("row")
        .try_get_by_index::<i64>(0)
        .expect("count");
        assert_eq!(left, 0, "{database} is still there");
    }
    // The server stops asynchronously: a generous bound, only so that a server that never
    // stops fails the test instead of hanging it.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let fresh = reqwest::Client::builder()
            .timeout(std::time::Duration::from_secs(2))
            .build()
            .expect("client");
        if fresh.get(format!("{url}/health")).send().await.is_err() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "{url} still answers after the app was dropped"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
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
    ready_answers_503_while_the_database_is_unreachable,
    a_dropped_test_app_stops_its_server_and_drops_its_database,
    introspection_needs_a_token
);

/// The audit sealer reports its lag (PostgreSQL): a write's event is sealed by a pass that
/// `dossier_audit_seal_lag_seconds` counts, with the wait of its oldest event.
async fn the_sealer_reports_its_lag(backend: Backend) {
    let app = spawn_app(backend).await;
    let before = metrics(&app).await;
    let passes = |m: &std::collections::HashMap<String, f64>| {
        m.get("dossier_audit_seal_lag_seconds_count")
            .copied()
            .unwrap_or(0.0)
    };
    assert!(
        before.contains_key("dossier_audit_seal_lag_seconds_count"),
        "{before:?}"
    );
    app.customer(&app.agent_a(), "Acme").await;
    for _ in 0..100 {
        let after = metrics(&app).await;
        if passes(&after) > passes(&before) {
            let waited = after["dossier_audit_seal_lag_seconds_sum"]
                - before["dossier_audit_seal_lag_seconds_sum"];
            assert!(waited > 0.0, "{after:?}");
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("no sealing pass was reported in 10 s");
}

on_postgres!(the_sealer_reports_its_lag);
