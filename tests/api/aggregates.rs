//! A customer's aggregates: read, filtered and sorted on, kept by the database on every write
//! (create, update, delete of a sale or an interaction), exact at any amount, per currency,
//! in the current twelve-month window, and inside the caller's tenant.

use chrono::{Duration, SecondsFormat, Utc};
use serde_json::{Value, json};
use tests::*;
use uuid::Uuid;

fn ago(days: i64) -> String {
    (Utc::now() - Duration::days(days)).to_rfc3339_opts(SecondsFormat::Secs, true)
}

async fn sale(
    app: &TestApp,
    token: &str,
    customer: Uuid,
    amount: &str,
    currency: &str,
    at: &str,
) -> Uuid {
    let data = app
        .gql(
            token,
            "mutation($c: UUID!, $a: Decimal!, $cur: String!, $at: DateTime!) {
                createSale(input: {customerId: $c, sku: \"S\", amount: $a, currency: $cur, soldAt: $at}) { id } }",
            json!({"c": customer, "a": amount, "cur": currency, "at": at}),
        )
        .await
        .ok();
    uuid(&data["createSale"]["id"])
}

async fn interaction(app: &TestApp, token: &str, customer: Uuid, at: &str) {
    app.gql(
        token,
        "mutation($c: UUID!, $at: DateTime!) { createInteraction(input: {customerId: $c, kind: CALL, occurredAt: $at}) { id } }",
        json!({"c": customer, "at": at}),
    )
    .await
    .ok();
}

fn ids(data: &Value) -> Vec<Uuid> {
    data["customers"]["edges"]
        .as_array()
        .unwrap_or_else(|| panic!("edges: {data}"))
        .iter()
        .map(|e| uuid(&e["node"]["id"]))
        .collect()
}

const LIST: &str = "query($f: CustomerFilter, $o: [CustomerOrder!], $first: Int, $after: String) {
    customers(filter: $f, orderBy: $o, first: $first, after: $after) {
        totalCount edges { node { id } } pageInfo { hasNextPage endCursor } } }";

/// Acme bought 500 + 700 EUR this year and called twice; Globex bought 2,000 EUR two years
/// ago; Initech never bought and called once; Umbrella bought 5,000 USD this year.
struct File {
    app: TestApp,
    acme: Uuid,
    globex: Uuid,
    initech: Uuid,
    umbrella: Uuid,
    acme_sales: [Uuid; 2],
}

async fn file(backend: Backend) -> File {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let globex = app.customer(&agent, "Globex").await;
    let initech = app.customer(&agent, "Initech").await;
    let umbrella = app.customer(&agent, "Umbrella").await;
    let acme_sales = [
        sale(&app, &agent, acme, "500", "EUR", &ago(40)).await,
        sale(&app, &agent, acme, "700", "EUR", &ago(10)).await,
    ];
    sale(&app, &agent, globex, "2000", "EUR", &ago(730)).await;
    sale(&app, &agent, umbrella, "5000", "USD", &ago(20)).await;
    interaction(&app, &agent, acme, &ago(3)).await;
    interaction(&app, &agent, acme, &ago(1)).await;
    interaction(&app, &agent, initech, &ago(100)).await;
    File {
        app,
        acme,
        globex,
        initech,
        umbrella,
        acme_sales,
    }
}

async fn list(app: &TestApp, filter: Value, order: Value) -> Vec<Uuid> {
    let data = app
        .gql(
            &app.agent_a(),
            LIST,
            json!({"f": filter, "o": order, "first": 100}),
        )
        .await
        .ok();
    ids(&data)
}

fn sorted(mut ids: Vec<Uuid>) -> Vec<Uuid> {
    ids.sort();
    ids
}

async fn customers_are_filtered_on_their_aggregates(backend: Backend) {
    let f = file(backend).await;
    let app = &f.app;
    let six_months_ago = ago(183);
    for (filter, expected) in [
        (
            json!({"stats": {"spentLast12Months": {"gte": "1000"}}}),
            vec![f.acme],
        ),
        (
            json!({"stats": {"spentLast12Months": {"gte": "1000", "currency": "USD"}}}),
            vec![f.umbrella],
        ),
        // No EUR at all counts as 0 EUR.
        (
            json!({"stats": {"spentLast12Months": {"lt": "100"}}}),
            vec![f.globex, f.initech, f.umbrella],
        ),
        (
            json!({"stats": {"totalSpent": {"gt": "1500"}}}),
            vec![f.globex],
        ),
        (
            json!({"stats": {"lastPurchaseAt": {"lt": six_months_ago}}}),
            vec![f.globex],
        ),
        // "No purchase in the last six months", never-bought included.
        (
            json!({"or": [{"stats": {"lastPurchaseAt": {"lt": six_months_ago}}},
                          {"stats": {"lastPurchaseAt": {"isNull": true}}}]}),
            vec![f.globex, f.initech],
        ),
        (json!({"stats": {"salesCount": {"gte": 2}}}), vec![f.acme]),
        (json!({"stats": {"salesCount": {"eq": 0}}}), vec![f.initech]),
        (
            json!({"stats": {"interactionsCount": {"gte": 1}}}),
            vec![f.acme, f.initech],
        ),
        (
            json!({"stats": {"lastInteractionAt": {"gte": ago(7)}}, "name": {"contains": "ac"}}),
            vec![f.acme],
        ),
    ] {
        assert_eq!(
            sorted(list(app, filter.clone(), json!([])).await),
            sorted(expected),
            "{filter}"
        );
    }
    // A segment-style combination: visited lately and bought nothing in six months.
    let combined = json!({"and": [
        {"stats": {"lastInteractionAt": {"gte": ago(365)}}},
        {"or": [{"stats": {"lastPurchaseAt": {"lt": six_months_ago}}}, {"stats": {"lastPurchaseAt": {"isNull": true}}}]}
    ]});
    assert_eq!(list(app, combined, json!([])).await, vec![f.initech]);
    // Another tenant sees none of it.
    let data = app
        .gql(
            &app.agent_b(),
            LIST,
            json!({"f": {"stats": {"salesCount": {"eq": 0}}}, "o": [], "first": 10}),
        )
        .await
        .ok();
    assert!(ids(&data).is_empty(), "{data}");
    // A bad currency is refused.
    app.gql(
        &app.agent_a(),
        LIST,
        json!({"f": {"stats": {"totalSpent": {"gte": "1", "currency": "EURO"}}}, "o": [], "first": 1}),
    )
    .await
    .expect_code("BAD_USER_INPUT");
}

on_both_backends!(customers_are_filtered_on_their_aggregates);

async fn customers_are_sorted_on_their_aggregates_with_working_cursors(backend: Backend) {
    let f = file(backend).await;
    let app = &f.app;
    let top = list(
        app,
        json!({}),
        json!([{"field": "SPENT_LAST_12_MONTHS", "direction": "DESC"}]),
    )
    .await;
    assert_eq!(top[0], f.acme, "the only EUR spender this year first");
    assert_eq!(
        list(
            app,
            json!({}),
            json!([{"field": "TOTAL_SPENT", "direction": "DESC"}])
        )
        .await[..2],
        [f.globex, f.acme]
    );
    assert_eq!(
        list(
            app,
            json!({}),
            json!([{"field": "LAST_PURCHASE_AT", "direction": "ASC"}])
        )
        .await[0],
        f.initech,
        "never bought sorts first"
    );
    assert_eq!(
        list(
            app,
            json!({}),
            json!([{"field": "INTERACTIONS_COUNT", "direction": "DESC"}])
        )
        .await[..2],
        [f.acme, f.initech]
    );
    // Page by page, one row at a time, every customer comes exactly once, in order.
    let order = json!([{"field": "SPENT_LAST_12_MONTHS", "direction": "DESC"}, {"field": "NAME"}]);
    let mut seen = Vec::new();
    let mut after = Value::Null;
    loop {
        let data = app
            .gql(
                &app.agent_a(),
                LIST,
                json!({"f": null, "o": order, "first": 1, "after": after}),
            )
            .await
            .ok();
        seen.extend(ids(&data));
        if data["customers"]["pageInfo"]["hasNextPage"] != json!(true) {
            break;
        }
        after = data["customers"]["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(seen, top, "cursors walk the same order");
    assert_eq!(
        sorted(seen),
        sorted(vec![f.acme, f.globex, f.initech, f.umbrella])
    );
    // A cursor of this ordering is refused by another.
    let data = app
        .gql(
            &app.agent_a(),
            LIST,
            json!({"f": null, "o": order, "first": 1}),
        )
        .await
        .ok();
    let cursor = data["customers"]["pageInfo"]["endCursor"].clone();
    app.gql(
        &app.agent_a(),
        LIST,
        json!({"f": null, "o": [{"field": "TOTAL_SPENT"}], "first": 1, "after": cursor}),
    )
    .await
    .expect_code("BAD_USER_INPUT");
}

on_both_backends!(customers_are_sorted_on_their_aggregates_with_working_cursors);

const STATS: &str = "query($id: UUID!) { customer(id: $id) { stats {
    salesCount totalSpent { amount currency } spentLast12Months { amount currency }
    firstPurchaseAt lastPurchaseAt lastPurchaseAmount { amount currency }
    interactionsCount lastInteractionAt } } }";

async fn aggregates_follow_every_write_and_the_window(backend: Backend) {
    let f = file(backend).await;
    let app = &f.app;
    let agent = app.agent_a();
    let stats = |data: Value| data["customer"]["stats"].clone();
    let acme = stats(app.gql(&agent, STATS, json!({"id": f.acme})).await.ok());
    assert_eq!(acme["salesCount"], json!(2));
    assert_eq!(
        acme["totalSpent"],
        json!([{"amount": "1200.00", "currency": "EUR"}])
    );
    assert_eq!(acme["spentLast12Months"], acme["totalSpent"]);
    assert_eq!(
        acme["lastPurchaseAmount"],
        json!({"amount": "700.00", "currency": "EUR"})
    );
    assert_eq!(acme["interactionsCount"], json!(2));
    assert!(acme["lastInteractionAt"].is_string());
    let globex = stats(app.gql(&agent, STATS, json!({"id": f.globex})).await.ok());
    assert_eq!(globex["spentLast12Months"], json!([]), "two years ago");

    // An update, a delete: the aggregates follow.
    app.gql(
        &agent,
        "mutation($id: UUID!) { updateSale(id: $id, input: {amount: \"900\"}) { id } }",
        json!({"id": f.acme_sales[1]}),
    )
    .await
    .ok();
    app.gql(
        &agent,
        "mutation($id: UUID!) { deleteSale(id: $id) }",
        json!({"id": f.acme_sales[0]}),
    )
    .await
    .ok();
    let acme = stats(app.gql(&agent, STATS, json!({"id": f.acme})).await.ok());
    assert_eq!(acme["salesCount"], json!(1));
    assert_eq!(
        acme["totalSpent"],
        json!([{"amount": "900.00", "currency": "EUR"}])
    );
    assert_eq!(
        list(
            app,
            json!({"stats": {"spentLast12Months": {"eq": "900"}}}),
            json!([])
        )
        .await,
        vec![f.acme]
    );

    // A window computed on another day is recomputed before it is read.
    app.age_every_window().await;
    assert_eq!(
        list(
            app,
            json!({"stats": {"spentLast12Months": {"eq": "900"}}}),
            json!([])
        )
        .await,
        vec![f.acme],
        "recomputed for today's window"
    );

    // Exact at any amount the schema accepts.
    let big = app.customer(&agent, "Big").await;
    for _ in 0..3 {
        sale(app, &agent, big, "900000000000000", "EUR", &ago(1)).await;
    }
    let data = stats(app.gql(&agent, STATS, json!({"id": big})).await.ok());
    assert_eq!(
        data["totalSpent"],
        json!([{"amount": "2700000000000000.00", "currency": "EUR"}])
    );
    assert_eq!(
        list(
            app,
            json!({"stats": {"totalSpent": {"gt": "2699999999999999.99"}}}),
            json!([])
        )
        .await,
        vec![big]
    );
    assert_eq!(
        list(
            app,
            json!({}),
            json!([{"field": "SPENT_LAST_12_MONTHS", "direction": "DESC"}])
        )
        .await[0],
        big
    );
    // Deleting a customer takes its aggregates with it.
    app.gql(
        &agent,
        "mutation($id: UUID!) { deleteCustomer(id: $id) }",
        json!({"id": f.initech}),
    )
    .await
    .ok();
    assert_eq!(
        app.admin_count(&format!(
            "SELECT COUNT(*) FROM customer_activity WHERE customer_id = {}",
            app.uuid_literal(f.initech)
        ))
        .await,
        0
    );
}

on_both_backends!(aggregates_follow_every_write_and_the_window);

/// Customers without their activity row, or without a totals row in their tenant's default
/// currency.
async fn customers_missing_a_row(app: &TestApp) -> (i64, i64) {
    let activity = app
        .admin_count(
            "SELECT COUNT(*) FROM customers c WHERE NOT EXISTS (SELECT 1 FROM customer_activity a \
             WHERE a.tenant_id = c.tenant_id AND a.customer_id = c.id)",
        )
        .await;
    let totals = app
        .admin_count(
            "SELECT COUNT(*) FROM customers c JOIN tenants t ON t.id = c.tenant_id \
             WHERE NOT EXISTS (SELECT 1 FROM customer_totals m WHERE m.tenant_id = c.tenant_id \
             AND m.customer_id = c.id AND m.currency = t.default_currency)",
        )
        .await;
    (activity, totals)
}

/// Every customer has its activity row and its totals row in the tenant's default currency
/// from its creation, whatever its sales and interactions do afterwards: the stats filters
/// read the rows that match, so a customer without its activity row would silently drop out
/// of "no purchase yet"; orderings by money join the totals row, so one without it would drop
/// out of the list.
async fn every_customer_has_its_aggregate_rows(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let quiet = app.customer(&agent, "Quiet").await;
    let buyer = app.customer(&agent, "Buyer").await;
    let abroad = app.customer(&agent, "Abroad").await;
    sale(&app, &agent, abroad, "30", "USD", &ago(5)).await;
    let sale = app
        .sale(&agent, buyer, "10.00", "2020-01-01T00:00:00Z")
        .await;
    app.gql(
        &agent,
        "mutation($id: UUID!) { deleteSale(id: $id) }",
        json!({"id": sale}),
    )
    .await
    .ok();
    assert_eq!(customers_missing_a_row(&app).await, (0, 0));
    // The zero row is not a purchase: only the dollars show.
    let data = app.gql(&agent, STATS, json!({"id": abroad})).await.ok();
    assert_eq!(
        data["customer"]["stats"]["totalSpent"],
        json!([{"amount": "30.00", "currency": "USD"}]),
        "{data}"
    );
    for field in ["SPENT_LAST_12_MONTHS", "TOTAL_SPENT"] {
        for direction in ["ASC", "DESC"] {
            let listed = list(
                &app,
                json!({}),
                json!([{"field": field, "direction": direction}]),
            )
            .await;
            assert_eq!(
                sorted(listed),
                sorted(vec![quiet, buyer, abroad]),
                "{field} {direction}: everyone, once"
            );
        }
    }
    // A new default currency (an operator's SQL: the API does not change it) gives every
    // customer its row in it.
    app.admin_exec(&format!(
        "UPDATE tenants SET default_currency = 'USD' WHERE id = {}",
        app.uuid_literal(app.a.id)
    ))
    .await
    .expect("a new default currency");
    assert_eq!(customers_missing_a_row(&app).await, (0, 0));
    let never = app
        .gql(
            &agent,
            "{ customers(filter: {stats: {lastPurchaseAt: {isNull: true}, salesCount: {eq: 0}}}) { edges { node { id } } } }",
            json!({}),
        )
        .await
        .ok();
    let ids: Vec<Uuid> = never["customers"]["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| uuid(&e["node"]["id"]))
        .collect();
    assert_eq!(ids.len(), 2, "both have bought nothing (any more): {never}");
    assert!(ids.contains(&quiet) && ids.contains(&buyer));
}

on_both_backends!(every_customer_has_its_aggregate_rows);

/// The aggregates' rows, as text, in a stable order (the twelve-month figures left out: they
/// are recomputed for the window when read).
async fn aggregate_rows(app: &TestApp) -> Vec<String> {
    app.fold_customer_stats().await;
    let (id, text) = match app.backend {
        Backend::Sqlite => ("hex(customer_id)", "CAST({} AS TEXT)"),
        Backend::Postgres => ("CAST(customer_id AS TEXT)", "CAST({} AS TEXT)"),
    };
    let row = |columns: &[&str]| {
        columns
            .iter()
            .map(|c| format!("COALESCE({}, '-')", text.replace("{}", c)))
            .collect::<Vec<_>>()
            .join(" || '|' || ")
    };
    let mut rows = app
        .admin_strings(&format!(
            "SELECT {id} || '|' || {} FROM customer_totals WHERE sales_count > 0",
            row(&[
                "currency",
                "sales_count",
                "total_high",
                "total_low",
                "last_purchase_at"
            ])
        ))
        .await;
    rows.extend(
        app.admin_strings(&format!(
            "SELECT {id} || '|' || {} FROM customer_activity",
            row(&[
                "sales_count",
                "first_purchase_at",
                "last_purchase_at",
                "last_purchase_scaled",
                "last_purchase_currency",
                "interactions_count",
                "last_interaction_at"
            ])
        ))
        .await,
    );
    rows.sort();
    rows
}

/// A new sale is added to its customer's aggregates in place (SQLite) or queued and folded by
/// a recompute (PostgreSQL) rather than recomputing them from every sale at each write; what
/// that leaves is exactly what a recompute from scratch gives — later and
/// earlier sales, other currencies, amounts whose sum carries into the high half, two sales at
/// the same time (where the order by id decides the last purchase), a negative amount written
/// by SQL, updates and deletes.
async fn sales_added_in_place_match_a_recompute(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let globex = app.customer(&agent, "Globex").await;
    app.customer(&agent, "Initech").await;
    let mut sales = Vec::new();
    for (customer, amount, currency, at) in [
        (acme, "10.00", "EUR", "2026-03-01T10:00:00Z"),
        (acme, "5.50", "EUR", "2026-01-01T10:00:00Z"),
        (acme, "7.25", "EUR", "2026-05-01T10:00:00.250Z"),
        (acme, "900000000", "EUR", "2026-05-02T10:00:00Z"),
        (acme, "900000000", "EUR", "2026-05-02T10:00:00Z"),
        (acme, "1500", "JPY", "2025-12-24T08:00:00Z"),
        (acme, "12.345", "KWD", "2026-05-03T00:00:00Z"),
        (globex, "1.00", "USD", "2024-06-01T00:00:00Z"),
    ] {
        sales.push(sale(&app, &agent, customer, amount, currency, at).await);
    }
    interaction(&app, &agent, globex, "2026-02-01T00:00:00Z").await;
    // A negative amount the API would refuse, written by SQL.
    let negative = Uuid::now_v7();
    app.admin_exec(&format!(
        "INSERT INTO sales (tenant_id, id, customer_id, contact_id, reference, sku, quantity, \
         amount_scaled, currency, sold_at, external_ref, created_at) VALUES ({}, {}, {}, NULL, \
         NULL, 'REFUND', 1, -20000, 'USD', {}, NULL, {})",
        app.uuid_literal(app.a.id),
        app.uuid_literal(negative),
        app.uuid_literal(globex),
        app.timestamp_literal("2024-07-01T00:00:00Z"),
        app.timestamp_literal("2024-07-01T00:00:00Z"),
    ))
    .await
    .expect("a refund by SQL");
    sale(&app, &agent, globex, "3.00", "USD", "2024-08-01T00:00:00Z").await;
    let added = matches_a_recompute(&app, "added in place").await;
    assert!(
        added.iter().any(|row| row.contains("|EUR|5|")),
        "five euro sales: {added:?}"
    );
    // Updates and deletes still recompute, and agree too.
    app.gql(
        &agent,
        "mutation($id: UUID!) { updateSale(id: $id, input: {soldAt: \"2027-01-01T00:00:00Z\"}) { id } }",
        json!({"id": sales[1]}),
    )
    .await
    .ok();
    app.gql(
        &agent,
        "mutation($id: UUID!) { deleteSale(id: $id) }",
        json!({"id": sales[2]}),
    )
    .await
    .ok();
    matches_a_recompute(&app, "after an update and a delete").await;
}

/// The aggregates' rows, checked equal to what a recompute from scratch leaves.
async fn matches_a_recompute(app: &TestApp, what: &str) -> Vec<String> {
    let kept = aggregate_rows(app).await;
    for statement in migration::rebuild_customer_stats() {
        app.admin_exec(&statement).await.expect("a recompute");
    }
    assert_eq!(kept, aggregate_rows(app).await, "{what}: as recomputed");
    kept
}

on_both_backends!(sales_added_in_place_match_a_recompute);

/// A sale of `customer` (tenant A) as the API's role writes it in SQL, without committing.
async fn insert_sale(
    txn: &sea_orm::DatabaseTransaction,
    app: &TestApp,
    customer: Uuid,
    amount_scaled: i64,
    at: &str,
) -> Result<(), sea_orm::DbErr> {
    use sea_orm::ConnectionTrait;
    txn.execute_unprepared(&format!(
        "INSERT INTO sales (tenant_id, id, customer_id, sku, quantity, amount_scaled, currency, \
         sold_at, created_at) VALUES ({}, {}, {}, 'S', 1, {amount_scaled}, 'EUR', {}, {})",
        app.uuid_literal(app.a.id),
        app.uuid_literal(Uuid::now_v7()),
        app.uuid_literal(customer),
        app.timestamp_literal(at),
        app.timestamp_literal(at),
    ))
    .await
    .map(|_| ())
}

/// A server whose only folds are its readers' (no periodic fold): what a read shows is then
/// what the read itself folded.
async fn readers_fold_alone(backend: Backend) -> TestApp {
    spawn_app_with(backend, |config| config.stats_fold_ms = 0).await
}

/// The stats of `customer`, read through the API, within three seconds.
async fn stats_promptly(app: &TestApp, customer: Uuid) -> Value {
    let agent = app.agent_a();
    let read = app.gql(&agent, STATS, json!({"id": customer}));
    let data = tokio::time::timeout(std::time::Duration::from_secs(3), read)
        .await
        .expect("a read that waits for no other transaction")
        .ok();
    data["customer"]["stats"].clone()
}

/// PostgreSQL: two transactions selling to one customer do not wait for each other — a sale
/// only queues its customer, and no writer locks the customer's aggregate rows — and what the
/// next reader shows counts both.
async fn sales_of_one_customer_do_not_wait_for_each_other(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = readers_fold_alone(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let first = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    insert_sale(&first, &app, acme, 100_000, "2026-01-01T00:00:00Z")
        .await
        .expect("the first sale");
    let second = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    second
        .execute_unprepared("SET LOCAL lock_timeout = '2s'")
        .await
        .expect("a lock timeout");
    insert_sale(&second, &app, acme, 50_000, "2026-02-01T00:00:00Z")
        .await
        .expect("the second sale does not wait for the first's commit");
    second.commit().await.expect("the second commits");
    first.commit().await.expect("the first commits");
    let data = app.gql(&agent, STATS, json!({"id": acme})).await.ok();
    let stats = &data["customer"]["stats"];
    assert_eq!(stats["salesCount"], json!(2), "{data}");
    assert_eq!(
        stats["totalSpent"],
        json!([{"amount": "15.00", "currency": "EUR"}]),
        "{data}"
    );
    assert_eq!(
        stats["lastPurchaseAmount"],
        json!({"amount": "5.00", "currency": "EUR"}),
        "{data}"
    );
}

/// PostgreSQL: a change that commits while a reader folds the queue is not lost: the fold
/// took only what it could see, and the change's own queue row brings it to the next reader.
/// (The folding transaction queues its own sale first, so that the server's periodic fold
/// cannot take the row from it.)
async fn a_change_committed_during_a_fold_reaches_the_next_reader(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = readers_fold_alone(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let folding = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    insert_sale(&folding, &app, acme, 100_000, "2026-01-01T00:00:00Z")
        .await
        .expect("the folder's own sale");
    let folded = folding
        .query_one_raw(sea_orm::Statement::from_string(
            sea_orm::DbBackend::Postgres,
            format!(
                "SELECT dossier_fold_customer_stats({})",
                app.uuid_literal(app.a.id)
            ),
        ))
        .await
        .expect("a fold")
        .expect("a row");
    assert_eq!(folded.try_get_by_index::<i32>(0).expect("a count"), 1);
    let selling = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    selling
        .execute_unprepared("SET LOCAL lock_timeout = '2s'")
        .await
        .expect("a lock timeout");
    insert_sale(&selling, &app, acme, 30_000, "2026-03-01T00:00:00Z")
        .await
        .expect("a sale while the fold is open");
    selling.commit().await.expect("the sale commits");
    folding.commit().await.expect("the fold commits");
    let data = app.gql(&agent, STATS, json!({"id": acme})).await.ok();
    let stats = &data["customer"]["stats"];
    assert_eq!(stats["salesCount"], json!(2), "{data}");
    assert_eq!(
        stats["lastPurchaseAt"],
        json!("2026-03-01T00:00:00+00:00"),
        "{data}"
    );
    assert_eq!(
        app.admin_count("SELECT COUNT(*) FROM customer_stats_due")
            .await,
        0,
        "the reader emptied the queue"
    );
}

/// PostgreSQL: the server folds queued changes by itself within seconds, with no reader of
/// the figures, so the queue does not grow while nobody looks.
async fn queued_changes_are_folded_without_a_reader(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    sale(&app, &agent, acme, "10.00", "EUR", "2026-01-01T00:00:00Z").await;
    let activity = format!(
        "SELECT sales_count FROM customer_activity WHERE customer_id = {}",
        app.uuid_literal(acme)
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    while app
        .admin_count("SELECT COUNT(*) FROM customer_stats_due")
        .await
        > 0
    {
        assert!(
            std::time::Instant::now() < deadline,
            "the queue is still not folded"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    assert_eq!(app.admin_count(&activity).await, 1, "folded, not dropped");
}

/// PostgreSQL: a reader's fold waits for no one. A customer whose row another transaction
/// holds (here an update of the customer) is skipped and stays queued, and is folded by the
/// first read after that transaction ends; queued rows another fold holds are skipped too.
async fn a_fold_waits_for_no_other_transaction(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = readers_fold_alone(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let globex = app.customer(&agent, "Globex").await;
    let selling = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    insert_sale(&selling, &app, acme, 100_000, "2026-01-01T00:00:00Z")
        .await
        .expect("Acme's sale");
    insert_sale(&selling, &app, globex, 20_000, "2026-01-02T00:00:00Z")
        .await
        .expect("Globex's sale");
    selling.commit().await.expect("the sales commit");
    let queued = |customer: Uuid| {
        format!(
            "SELECT COUNT(*) FROM customer_stats_due WHERE customer_id = {}",
            app.uuid_literal(customer)
        )
    };

    let updating = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    updating
        .execute_unprepared(&format!(
            "UPDATE customers SET name = 'Acme SA' WHERE id = {}",
            app.uuid_literal(acme)
        ))
        .await
        .expect("Acme's row held");
    assert_eq!(stats_promptly(&app, acme).await["salesCount"], json!(0));
    assert_eq!(
        stats_promptly(&app, globex).await["salesCount"],
        json!(1),
        "the customer nobody holds is folded"
    );
    assert_eq!(app.admin_count(&queued(acme)).await, 1, "Acme stays queued");
    updating.commit().await.expect("the update commits");
    assert_eq!(stats_promptly(&app, acme).await["salesCount"], json!(1));

    // Another fold's rows: a committed sale, folded by a transaction left open.
    let selling = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    insert_sale(&selling, &app, globex, 30_000, "2026-01-03T00:00:00Z")
        .await
        .expect("Globex's second sale");
    selling.commit().await.expect("the sale commits");
    let folding = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    folding
        .execute_unprepared(&format!(
            "SELECT dossier_fold_customer_stats({})",
            app.uuid_literal(app.a.id)
        ))
        .await
        .expect("a fold left open");
    assert_eq!(stats_promptly(&app, globex).await["salesCount"], json!(1));
    folding.commit().await.expect("the fold commits");
    assert_eq!(stats_promptly(&app, globex).await["salesCount"], json!(2));
}

/// PostgreSQL: a fold that rolls back leaves its queued rows for the next one, and a sale
/// moved to another customer (by SQL: the API keeps a sale's customer) is folded into both.
async fn a_rolled_back_fold_and_a_moved_sale_lose_nothing(backend: Backend) {
    use sea_orm::ConnectionTrait;
    let app = readers_fold_alone(backend).await;
    let agent = app.agent_a();
    let acme = app.customer(&agent, "Acme").await;
    let globex = app.customer(&agent, "Globex").await;
    let sale = sale(&app, &agent, acme, "10.00", "EUR", "2026-01-01T00:00:00Z").await;
    let queued = "SELECT COUNT(*) FROM customer_stats_due";
    assert_eq!(app.admin_count(queued).await, 1);
    let folding = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    folding
        .execute_unprepared(&format!(
            "SELECT dossier_fold_customer_stats({})",
            app.uuid_literal(app.a.id)
        ))
        .await
        .expect("a fold");
    folding.rollback().await.expect("the fold rolls back");
    assert_eq!(app.admin_count(queued).await, 1, "the queued row is back");
    assert_eq!(stats_promptly(&app, acme).await["salesCount"], json!(1));

    let moving = on_tenant(&app.db, app.a.id).await.expect("tenant A");
    moving
        .execute_unprepared(&format!(
            "UPDATE sales SET customer_id = {} WHERE id = {}",
            app.uuid_literal(globex),
            app.uuid_literal(sale)
        ))
        .await
        .expect("the sale moves");
    moving.commit().await.expect("the move commits");
    assert_eq!(stats_promptly(&app, acme).await["salesCount"], json!(0));
    assert_eq!(stats_promptly(&app, globex).await["salesCount"], json!(1));
    assert_eq!(app.admin_count(queued).await, 0);
}

on_postgres!(
    a_rolled_back_fold_and_a_moved_sale_lose_nothing,
    a_fold_waits_for_no_other_transaction,
    sales_of_one_customer_do_not_wait_for_each_other,
    a_change_committed_during_a_fold_reaches_the_next_reader,
    queued_changes_are_folded_without_a_reader
);
