//! Reads as a sales front end makes them: nested queries, filters, ordering, cursor
//! pagination, aggregates; and their cost in SQL statements.

use std::sync::atomic::Ordering;

use chrono::{Duration, Utc};
use serde_json::{Value, json};
use tests::*;

async fn pages_follow_cursors_in_a_stable_order(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    for name in ["Delta", "alpha", "Charlie", "Bravo", "Echo", "Bravo"] {
        app.customer(&token, name).await;
    }
    let q = "query($after: String) { customers(first: 2, after: $after, orderBy: [{field: NAME, direction: DESC}]) {
        totalCount pageInfo { hasNextPage hasPreviousPage endCursor } edges { node { name } } } }";
    let mut after = Value::Null;
    let mut names = Vec::new();
    let mut pages = 0;
    loop {
        let data = app.gql(&token, q, json!({"after": after})).await.ok();
        let conn = &data["customers"];
        assert_eq!(conn["totalCount"], json!(6));
        assert_eq!(conn["pageInfo"]["hasPreviousPage"], json!(pages > 0));
        for edge in conn["edges"].as_array().expect("edges") {
            names.push(edge["node"]["name"].as_str().expect("name").to_owned());
        }
        pages += 1;
        if conn["pageInfo"]["hasNextPage"] == json!(false) {
            break;
        }
        // Six rows in pages of two: a cursor that stopped advancing would loop for ever.
        assert!(
            pages < 10,
            "still a next page after {pages} pages: {names:?}"
        );
        after = conn["pageInfo"]["endCursor"].clone();
    }
    assert_eq!(pages, 3);
    // Binary collation on both backends: upper case sorts before lower case.
    assert_eq!(
        names,
        vec!["alpha", "Echo", "Delta", "Charlie", "Bravo", "Bravo"]
    );
    // first: 0 is an empty page; outside 0..=500 is refused, not clamped.
    let data = app
        .gql(
            &token,
            "{ customers(first: 0) { edges { cursor } pageInfo { hasNextPage } } }",
            json!({}),
        )
        .await
        .ok();
    assert_eq!(
        data["customers"],
        json!({"edges": [], "pageInfo": {"hasNextPage": true}})
    );
    for first in [-1, 501] {
        app.gql(
            &token,
            "query($f: Int) { customers(first: $f) { totalCount } }",
            json!({"f": first}),
        )
        .await
        .expect_code("BAD_USER_INPUT");
    }
}

async fn filters_combine_operators_and_lists(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let q = "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }";
    for (name, country, channel) in [
        ("Acme FR", "FR", "WEB"),
        ("Acme DE", "DE", "PARTNER"),
        ("Globex", "FR", "EVENT"),
        ("Initech", "US", "WEB"),
    ] {
        app.gql(
            &token,
            q,
            json!({"input": {"name": name, "country": country, "acquisitionChannel": channel}}),
        )
        .await
        .ok();
    }
    let count = |filter: Value| {
        let app = &app;
        let token = token.clone();
        async move {
            let data = app.gql(&token, "query($f: CustomerFilter) { customers(filter: $f) { totalCount edges { node { name } } } }", json!({"f": filter})).await.ok();
            data["customers"]["totalCount"].as_i64().expect("count")
        }
    };
    assert_eq!(count(json!({"name": {"contains": "acme"}})).await, 2);
    assert_eq!(count(json!({"country": {"eq": "FR"}})).await, 2);
    assert_eq!(count(json!({"country": {"ne": "FR"}})).await, 2);
    assert_eq!(count(json!({"country": {"in": ["DE", "US"]}})).await, 2);
    assert_eq!(count(json!({"acquisitionChannel": {"eq": "WEB"}})).await, 2);
    assert_eq!(
        count(json!({"registrationNumber": {"isNull": true}})).await,
        4
    );
    assert_eq!(
        count(json!({"or": [{"country": {"eq": "DE"}}, {"name": {"eq": "Initech"}}]})).await,
        2
    );
    assert_eq!(
        count(json!({"country": {"eq": "FR"}, "and": [{"name": {"contains": "glob"}}]})).await,
        1
    );
    let tomorrow = (Utc::now() + Duration::days(1)).to_rfc3339();
    let yesterday = (Utc::now() - Duration::days(1)).to_rfc3339();
    assert_eq!(
        count(json!({"createdAt": {"gte": yesterday, "lt": tomorrow}})).await,
        4
    );
    assert_eq!(count(json!({"createdAt": {"gte": tomorrow}})).await, 0);
    // Too deep a filter is refused.
    let mut deep = json!({"name": {"eq": "x"}});
    for _ in 0..7 {
        deep = json!({"or": [deep]});
    }
    let answer = app
        .gql(
            &token,
            "query($f: CustomerFilter) { customers(filter: $f) { totalCount } }",
            json!({"f": deep}),
        )
        .await;
    answer.expect_code("BAD_USER_INPUT");
}

async fn sales_nest_newest_first_with_exact_aggregates(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let customer = app.customer(&token, "Buyer").await;
    let recent = (Utc::now() - Duration::days(10)).to_rfc3339();
    let old = (Utc::now() - Duration::days(500)).to_rfc3339();
    let older = (Utc::now() - Duration::days(700)).to_rfc3339();
    // Every date is relative to now: a fixed one would move across the others (and across
    // the twelve-month window) as the calendar does.
    let yen = (Utc::now() - Duration::days(100)).to_rfc3339();
    app.sale(&token, customer, "100.10", &older).await;
    app.sale(&token, customer, "200.20", &old).await;
    let last = app.sale(&token, customer, "0.30", &recent).await;
    app.gql(&token, "mutation($c: UUID!, $at: DateTime!) { createSale(input: {customerId: $c, sku: \"Y\", amount: \"5000\", currency: \"JPY\", soldAt: $at}) { id } }", json!({"c": customer, "at": yen})).await.ok();
    let q = "query($c: UUID!) { customer(id: $c) {
        sales(first: 2) { totalCount pageInfo { hasNextPage } edges { node { id amount currency soldAt } } }
        expensive: sales(filter: {amount: {gte: \"200\"}, currency: {eq: \"EUR\"}}) { totalCount }
        bySku: sales(filter: {sku: {eq: \"Y\"}}) { totalCount }
        cheapFirst: sales(orderBy: [{field: AMOUNT}], first: 1) { edges { node { amount } } }
        stats { salesCount totalSpent { amount currency } spentLast12Months { amount currency } lastPurchaseAt lastPurchaseAmount { amount currency } } } }";
    let data = app.gql(&token, q, json!({"c": customer})).await.ok();
    let c = &data["customer"];
    assert_eq!(c["sales"]["totalCount"], json!(4));
    assert_eq!(c["sales"]["pageInfo"]["hasNextPage"], json!(true));
    assert_eq!(
        c["sales"]["edges"][0]["node"]["id"],
        json!(last),
        "newest first"
    );
    assert_eq!(c["expensive"]["totalCount"], json!(1));
    assert_eq!(c["bySku"]["totalCount"], json!(1));
    assert_eq!(c["cheapFirst"]["edges"][0]["node"]["amount"], json!("0.30"));
    let stats = &c["stats"];
    assert_eq!(stats["salesCount"], json!(4));
    let mut total = stats["totalSpent"].as_array().expect("totals").clone();
    total.sort_by_key(|m| m["currency"].to_string());
    assert_eq!(
        total,
        vec![
            json!({"amount": "300.60", "currency": "EUR"}),
            json!({"amount": "5000", "currency": "JPY"})
        ]
    );
    let recent_spend: Vec<&Value> = stats["spentLast12Months"]
        .as_array()
        .expect("list")
        .iter()
        .filter(|m| m["currency"] == json!("EUR"))
        .collect();
    assert_eq!(
        recent_spend,
        vec![&json!({"amount": "0.30", "currency": "EUR"})]
    );
    // The last twelve months hold the EUR sale of ten days ago and the JPY one of a hundred
    // days ago, not those of 500 and 700 days ago.
    let mut last_year = stats["spentLast12Months"].as_array().expect("list").clone();
    last_year.sort_by_key(|m| m["currency"].to_string());
    assert_eq!(
        last_year,
        vec![
            json!({"amount": "0.30", "currency": "EUR"}),
            json!({"amount": "5000", "currency": "JPY"})
        ]
    );
    assert_eq!(
        stats["lastPurchaseAmount"],
        json!({"amount": "0.30", "currency": "EUR"})
    );
    // Pages of nested sales follow their cursors too.
    let q = "query($c: UUID!, $after: String) { customer(id: $c) { sales(first: 2, after: $after) {
        pageInfo { hasNextPage endCursor } edges { node { amount } } } } }";
    let first_page = app.gql(&token, q, json!({"c": customer})).await.ok();
    let end = first_page["customer"]["sales"]["pageInfo"]["endCursor"].clone();
    let second = app
        .gql(&token, q, json!({"c": customer, "after": end}))
        .await
        .ok();
    let page = &second["customer"]["sales"];
    assert_eq!(page["pageInfo"]["hasNextPage"], json!(false));
    let amounts: Vec<&Value> = page["edges"]
        .as_array()
        .expect("edges")
        .iter()
        .map(|e| &e["node"]["amount"])
        .collect();
    assert_eq!(amounts, vec![&json!("200.20"), &json!("100.10")]);
}

async fn a_page_of_customers_with_everything_costs_a_handful_of_statements(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    for i in 0..20 {
        let customer = app.customer(&token, &format!("Customer {i:02}")).await;
        for j in 0..2 {
            app.contact(&token, customer, "C", &format!("c{i}-{j}@example.com"))
                .await;
        }
        for d in 0..3 {
            app.sale(
                &token,
                customer,
                "12.50",
                &(Utc::now() - Duration::days(d * 40 + 1)).to_rfc3339(),
            )
            .await;
        }
    }
    let q = "{ customers(first: 50) { totalCount edges { node { id name
        contacts { edges { node { id firstName email phone } } }
        sales(first: 5) { edges { node { id amount soldAt contact { id lastName } } } }
        stats { spentLast12Months { amount } lastPurchaseAt } } } } }";
    let before = app.statements.load(Ordering::SeqCst);
    let data = app.gql(&token, q, json!({})).await.ok();
    let spent = app.statements.load(Ordering::SeqCst) - before;
    let edges = data["customers"]["edges"].as_array().expect("edges");
    assert_eq!(edges.len(), 20);
    assert_eq!(
        edges[7]["node"]["contacts"]["edges"]
            .as_array()
            .expect("contacts")
            .len(),
        2
    );
    assert_eq!(
        edges[7]["node"]["sales"]["edges"]
            .as_array()
            .expect("sales")
            .len(),
        3
    );
    // begin, tenant, count, customers, contacts, sales, sale contacts, stats (2), audit (2-4), commit
    assert!(
        spent <= 16,
        "{spent} statements for one page: loaders must batch"
    );
}

async fn total_count_is_answered_through_fragments_and_aliases(backend: Backend) {
    let app = spawn_app(backend).await;
    let token = app.agent_a();
    let customer = app.customer(&token, "One").await;
    app.contact(&token, customer, "A", "a@example.com").await;
    let q = "query($c: UUID!) { list: customers { ...Counted } customer(id: $c) { contacts { ... on ContactConnection { n: totalCount } } } }
        fragment Counted on CustomerConnection { total: totalCount }";
    let data = app.gql(&token, q, json!({"c": customer})).await.ok();
    assert_eq!(
        data,
        json!({"list": {"total": 1}, "customer": {"contacts": {"n": 1}}})
    );
}

on_both_backends!(
    pages_follow_cursors_in_a_stable_order,
    filters_combine_operators_and_lists,
    sales_nest_newest_first_with_exact_aggregates,
    a_page_of_customers_with_everything_costs_a_handful_of_statements,
    total_count_is_answered_through_fragments_and_aliases,
);
