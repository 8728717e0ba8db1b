//! SQLite as the embedded default: queries run on read connections beside the one writer
//! (WAL), so a query never waits for a write, and what a query needs written still is.

use sea_orm::{ConnectionTrait, TransactionTrait};
use serde_json::json;
use tests::*;

/// A query answers while the writer is busy: with the API's one writer connection held, a
/// mutation waits for it, and a query of the same tenant still answers — on one connection it
/// would wait too. The mutation then lands once the writer is free.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queries_do_not_wait_for_the_writer() {
    let app = spawn_app(Backend::Sqlite).await;
    let customer = app.customer(&app.agent_a(), "Acme").await;
    // The API's one writer connection, taken (as a long write would) until released.
    let holder = app.db.begin().await.expect("take the writer");
    let agent = app.agent_a();
    let writing = {
        let (url, client, token) = (app.url.clone(), app.client.clone(), agent.clone());
        tokio::spawn(async move {
            let body = json!({
                "query": "mutation($c: UUID!) { createSale(input: {customerId: $c, sku: \"W\", amount: \"5.00\"}) { id } }",
                "variables": { "c": customer },
            });
            client
                .post(format!("{url}/graphql"))
                .bearer_auth(token)
                .json(&body)
                .send()
                .await
                .expect("sent")
                .json::<serde_json::Value>()
                .await
                .expect("json")
        })
    };
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert!(!writing.is_finished(), "the mutation waits for the writer");
    let read = app
        .gql(
            &agent,
            "query($id: UUID!) { customer(id: $id) { name } customers(first: 5) { edges { node { id } } } }",
            json!({ "id": customer }),
        )
        .await
        .ok();
    assert_eq!(read["customer"]["name"], "Acme");
    assert!(
        !writing.is_finished(),
        "the query answered only after the mutation: it waited for the writer"
    );
    holder.rollback().await.expect("release the writer");
    let written = writing.await.expect("mutation task");
    assert!(written["errors"].is_null(), "{written}");
    assert!(written["data"]["createSale"]["id"].is_string(), "{written}");
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM sales WHERE sku = 'W'")
            .await,
        1
    );
}

/// A query of personal data on a read connection still has its audit event written (by the
/// writer) before the response leaves; and a query that finds the twelve-month window stale
/// runs again on the writer, which recomputes it, and answers the right sum.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_a_query_must_write_is_written() {
    let app = spawn_app(Backend::Sqlite).await;
    let agent = app.agent_a();
    let customer = app.customer(&agent, "Acme").await;
    let contact = app
        .contact(&agent, customer, "Ann", "ann@example.com")
        .await;
    app.read_email(&agent, contact).await;
    let reads = app
        .audit_events(json!({"action": ["READ"], "entity": {"eq": "Contact"}}))
        .await;
    assert_eq!(reads.len(), 1, "{reads:?}");
    assert_eq!(reads[0]["entityIds"], json!([contact]));
    assert_eq!(reads[0]["fields"], json!(["email"]));

    let spent = async || {
        app.gql(
            &agent,
            "query($id: UUID!) { customer(id: $id) { stats { spentLast12Months { amount currency } } } }",
            json!({ "id": customer }),
        )
        .await
        .ok()["customer"]["stats"]["spentLast12Months"]
            .clone()
    };
    let now = chrono::Utc::now().to_rfc3339();
    app.sale(&agent, customer, "12.50", &now).await;
    assert_eq!(
        spent().await,
        json!([{ "amount": "12.50", "currency": "EUR" }])
    );
    // A window computed on another day, with a wrong sum: only the writer can recompute it.
    app.age_every_window().await;
    assert_eq!(
        spent().await,
        json!([{ "amount": "12.50", "currency": "EUR" }])
    );
    assert_eq!(
        app.admin_count(&format!(
            "SELECT COUNT(*) FROM customer_totals WHERE recent_since <= {}",
            app.timestamp_literal("2020-01-01T00:00:00Z")
        ))
        .await,
        0,
        "the writer recomputed the stale row"
    );
}

/// The read connections are opened read-only: a write that missed the handle's check would
/// fail in SQLite rather than land.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn read_connections_cannot_write() {
    let app = spawn_app(Backend::Sqlite).await;
    let mut config = tests::config(&app.database_url);
    config.sqlite_readers = 2;
    let reader = api::db::connect_readers(&config)
        .await
        .expect("read connections")
        .expect("a file database has readers");
    let refused = reader
        .execute_unprepared("UPDATE tenants SET name = 'x'")
        .await
        .expect_err("a read connection must not write");
    assert!(refused.to_string().contains("readonly"), "{refused}");
    let names = app
        .admin_count("SELECT COUNT(*) FROM tenants WHERE name = 'x'")
        .await;
    assert_eq!(names, 0);
}
