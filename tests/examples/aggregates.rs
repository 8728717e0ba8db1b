//! The aggregates and search benchmark's data loader and driver (`bench/aggregates.sh` runs it).
//!
//! `aggregates load DATABASE_URL TENANT_ID SCALE` fills one tenant with the benchmark's data
//! at SCALE: 2,000·SCALE customers (names, cities, registration numbers and references drawn
//! from word lists), 2 people each, 10 sales each (one in ten in USD, the rest in EUR, spread
//! over three years) and 2 interactions each. On SQLite the aggregate triggers keep up as the
//! rows go in; on PostgreSQL (as the superuser) the rows go in with triggers off and the
//! aggregates and search documents are rebuilt once at the end, as an operator's bulk import
//! would.
//!
//! `aggregates measure URL TOKEN [RUNS]` times, over HTTP, one request at a time after a
//! warm-up, the two questions issue 11 names — the top 50 customers by twelve-month spend, and
//! the customers with no purchase in six months — and four searches: a common surname (which
//! matches a thirtieth of the customers and of the people), one person's email, one customer's
//! reference, and a typo of the surname; it prints p50 and p99 in milliseconds.

use std::time::{Duration, Instant};

use chrono::{SecondsFormat, SubsecRound, Utc};
use entity::{contact, customer, interaction, sale};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::Set;
use serde_json::json;
use uuid::Uuid;

const TOP_SPENDERS: &str =
    "{ customers(first: 50, orderBy: [{field: SPENT_LAST_12_MONTHS, direction: DESC}]) {
    edges { node { id name stats { spentLast12Months { amount currency } } } } } }";

fn lapsed() -> String {
    let cutoff =
        (Utc::now() - chrono::Duration::days(183)).to_rfc3339_opts(SecondsFormat::Secs, true);
    format!(
        "{{ customers(first: 50, filter: {{or: [{{stats: {{lastPurchaseAt: {{lt: \"{cutoff}\"}}}}}}, {{stats: {{lastPurchaseAt: {{isNull: true}}}}}}]}}) {{ totalCount edges {{ node {{ id name }} }} }} }}"
    )
}

const SURNAMES: [&str; 30] = [
    "Martin", "Bernard", "Dubois", "Thomas", "Robert", "Richard", "Petit", "Durand", "Leroy",
    "Moreau", "Simon", "Laurent", "Lefebvre", "Michel", "Garcia", "David", "Bertrand", "Roux",
    "Vincent", "Fournier", "Morel", "Girard", "Andre", "Mercier", "Dupont", "Lambert", "Bonnet",
    "Francois", "Martinez", "Legrand",
];
const FIRST_NAMES: [&str; 20] = [
    "Jean", "Marie", "Pierre", "Camille", "Louis", "Léa", "Hugo", "Chloé", "Lucas", "Manon",
    "Paul", "Inès", "Jules", "Sarah", "Arthur", "Emma", "Nathan", "Hélène", "Théo", "Zoé",
];
const TRADES: [&str; 20] = [
    "Logistique",
    "Industries",
    "Conseil",
    "Distribution",
    "Services",
    "Immobilier",
    "Transports",
    "Bâtiment",
    "Informatique",
    "Énergie",
    "Médical",
    "Agroalimentaire",
    "Textile",
    "Éditions",
    "Voyages",
    "Assurances",
    "Chimie",
    "Métallurgie",
    "Audiovisuel",
    "Finance",
];
const CITIES: [&str; 15] = [
    "Paris",
    "Lyon",
    "Marseille",
    "Toulouse",
    "Nice",
    "Nantes",
    "Strasbourg",
    "Montpellier",
    "Bordeaux",
    "Lille",
    "Rennes",
    "Reims",
    "Saint-Étienne",
    "Le Havre",
    "Grenoble",
];

/// The person `n` (0 or 1) of customer `i`: first name, last name, email.
fn person(i: usize, n: usize) -> (&'static str, &'static str, String) {
    let first = FIRST_NAMES[(i * 7 + n * 3) % FIRST_NAMES.len()];
    let last = SURNAMES[(i * 11 + n * 5) % SURNAMES.len()];
    let email = format!(
        "{}.{}{i}@{}.example",
        first.to_lowercase(),
        last.to_lowercase(),
        if n == 0 { "mail" } else { "corp" }
    );
    (first, last, email)
}

/// The searches timed: a surname as common as any, one person's email, one customer's
/// reference, and the surname with two letters swapped.
fn searches() -> [(&'static str, String); 4] {
    let search = |text: &str| {
        format!(
            "{{ search(text: \"{text}\", first: 10) {{ score node {{ __typename ... on Customer {{ id name }} ... on Contact {{ id firstName lastName email }} }} }} }}"
        )
    };
    [
        ("search: a common surname", search("Mercier")),
        ("search: one person's email", search(&person(1234, 1).2)),
        ("search: one customer's reference", search("CRM-001234")),
        ("search: a typo (Merceir)", search("Merceir")),
    ]
}

async fn load(url: &str, tenant: Uuid, scale: usize) -> anyhow::Result<()> {
    use sea_orm::{ConnectionTrait, EntityTrait, TransactionTrait};
    let db = sea_orm::Database::connect(url).await?;
    // On PostgreSQL the loader connects as the superuser and loads in bulk; on SQLite the
    // triggers keep the aggregates as the rows go in.
    let bulk = db.get_database_backend() == sea_orm::DbBackend::Postgres;
    let now = Utc::now().trunc_subsecs(6);
    let customers = 2_000 * scale;
    let started = Instant::now();
    // One transaction per 500 customers: their rows, sales and interactions.
    for batch in (0..customers).collect::<Vec<_>>().chunks(500) {
        let txn = db.begin().await?;
        if bulk {
            // As the superuser: the aggregate triggers wait for one rebuild at the end.
            txn.execute_unprepared("SET LOCAL session_replication_role = replica")
                .await?;
        }
        let mut companies = Vec::new();
        let mut people = Vec::new();
        let mut sales = Vec::new();
        let mut timeline = Vec::new();
        for &i in batch {
            let id = Uuid::now_v7();
            companies.push(customer::ActiveModel {
                tenant_id: Set(tenant),
                id: Set(id),
                name: Set(format!(
                    "{} {}",
                    SURNAMES[i % SURNAMES.len()],
                    TRADES[(i / SURNAMES.len()) % TRADES.len()]
                )),
                registration_number: Set(Some(format!("{:09}", 300_000_000 + i * 7))),
                country: Set("FR".into()),
                billing_line1: Set(None),
                billing_line2: Set(None),
                billing_postal_code: Set(None),
                billing_city: Set(Some(CITIES[i % CITIES.len()].into())),
                billing_country: Set(Some("FR".into())),
                acquisition_channel: Set(Some("web".into())),
                external_ref: Set(Some(format!("CRM-{i:06}"))),
                created_at: Set(now),
                updated_at: Set(now),
            });
            for n in 0..2usize {
                let (first, last, email) = person(i, n);
                people.push(contact::ActiveModel {
                    tenant_id: Set(tenant),
                    id: Set(Uuid::now_v7()),
                    customer_id: Set(id),
                    first_name: Set(Some(first.into())),
                    last_name: Set(Some(last.into())),
                    email: Set(Some(email)),
                    phone: Set(Some(format!("+3361{:07}", i * 2 + n))),
                    birthday: Set(None),
                    job_title: Set(None),
                    external_ref: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                    matches_erasure_id: Set(None),
                });
            }
            for n in 0..10usize {
                let days = ((i * 37 + n * 101) % 1_095) as i64;
                sales.push(sale::ActiveModel {
                    tenant_id: Set(tenant),
                    id: Set(Uuid::now_v7()),
                    customer_id: Set(id),
                    contact_id: Set(None),
                    reference: Set(None),
                    sku: Set(format!("SKU-{}", n % 7)),
                    quantity: Set(1),
                    amount_scaled: Set(api::validate::amount(
                        "amount",
                        Decimal::new(((i * 13 + n * 29) % 5_000 + 10) as i64, 0),
                        2,
                    )?),
                    currency: Set(if (i + n) % 10 == 0 { "USD" } else { "EUR" }.into()),
                    sold_at: Set(now - chrono::Duration::days(days)),
                    external_ref: Set(None),
                    created_at: Set(now),
                });
            }
            for n in 0..2usize {
                timeline.push(interaction::ActiveModel {
                    tenant_id: Set(tenant),
                    id: Set(Uuid::now_v7()),
                    customer_id: Set(id),
                    contact_id: Set(None),
                    kind: Set(if n == 0 { "web_visit" } else { "email_opened" }.into()),
                    channel: Set(None),
                    occurred_at: Set(now - chrono::Duration::days(((i + n * 17) % 400) as i64)),
                    subject: Set(None),
                    summary: Set(None),
                    source: Set(Some("bench".into())),
                    external_ref: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
            }
        }
        customer::Entity::insert_many(companies)
            .exec_without_returning(&txn)
            .await?;
        contact::Entity::insert_many(people)
            .exec_without_returning(&txn)
            .await?;
        for chunk in sales.chunks(1_000) {
            sale::Entity::insert_many(chunk.to_vec())
                .exec_without_returning(&txn)
                .await?;
        }
        interaction::Entity::insert_many(timeline)
            .exec_without_returning(&txn)
            .await?;
        txn.commit().await?;
    }
    if bulk {
        for statement in migration::rebuild_customer_stats()
            .into_iter()
            .chain(migration::rebuild_search_docs())
        {
            db.execute_unprepared(&statement).await?;
        }
    }
    eprintln!(
        "loaded {customers} customers, {} people, {} sales, {} interactions in {:.1} s",
        customers * 2,
        customers * 10,
        customers * 2,
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index].as_secs_f64() * 1_000.0
}

async fn measure(url: &str, token: &str, runs: usize) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let aggregates = [
        ("top 50 by 12-month spend", TOP_SPENDERS.to_owned()),
        ("no purchase in 6 months", lapsed()),
    ];
    for (name, query) in aggregates.into_iter().chain(searches()) {
        let mut times = Vec::with_capacity(runs);
        for run in 0..runs + runs / 10 {
            let started = Instant::now();
            let answer: serde_json::Value = client
                .post(url)
                .bearer_auth(token)
                .json(&json!({ "query": query }))
                .send()
                .await?
                .json()
                .await?;
            let took = started.elapsed();
            anyhow::ensure!(answer.get("errors").is_none(), "{name}: {answer}");
            // A search timed while finding nothing would time the wrong thing (a typo is
            // found on PostgreSQL only).
            if let Some(hits) = answer["data"]["search"].as_array() {
                anyhow::ensure!(
                    !hits.is_empty() || name.contains("typo"),
                    "{name}: {answer}"
                );
            }
            if run >= runs / 10 {
                times.push(took);
            }
        }
        times.sort();
        println!(
            "| {name} | {runs} | {:.1} | {:.1} |",
            percentile(&times, 0.5),
            percentile(&times, 0.99)
        );
    }
    Ok(())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        Some("load") if argv.len() == 4 => load(&argv[1], argv[2].parse()?, argv[3].parse()?).await,
        Some("measure") if argv.len() >= 3 => {
            let runs = argv.get(3).and_then(|r| r.parse().ok()).unwrap_or(200);
            measure(&argv[1], &argv[2], runs).await
        }
        _ => {
            eprintln!(
                "usage: aggregates load DATABASE_URL TENANT_ID SCALE | aggregates measure URL TOKEN [RUNS]"
            );
            std::process::exit(2)
        }
    }
}
