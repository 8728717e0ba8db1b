//! The flood benchmark's load generator (`bench/flood.sh` starts the server and runs it): one
//! tenant floods Dossier with the worst request its limits allow, from many connections,
//! while another tenant's latency is measured — before the flood and during it.
//!
//! `flood URL ATTACKER_TOKEN VICTIM_TOKEN [SECONDS] [CONNECTIONS]`
//!
//! Prints, per victim query and phase, the number of requests (20 a second), p50 and p99 in
//! milliseconds, and what the attacker got (answered, refused with `RATE_LIMITED`, failed).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const VICTIM_QUERIES: [(&str, &str); 2] = [
    ("me", "{ me { role } }"),
    (
        "small query",
        "{ customers(first: 5) { edges { node { name stats { salesCount } } } } }",
    ),
];

/// The heaviest operation the default limits accept: ten root fields (the most `totalCount`s
/// allowed), each a 500-row page behind the widest `or` a filter may hold, with nested counts
/// priced out by the count limit and everything under the complexity limit.
fn worst_request() -> String {
    let leaf = "{name: {contains: \"e\"}}";
    let or = vec![leaf; 16].join(", ");
    let roots: Vec<String> = (0..10)
        .map(|i| {
            format!(
                "r{i}: customers(first: 500, filter: {{or: [{or}]}}) {{ totalCount edges {{ node {{ id name registrationNumber stats {{ salesCount }} }} }} }}"
            )
        })
        .collect();
    format!("{{ {} }}", roots.join(" "))
}

struct Args {
    url: String,
    attacker: String,
    victim: String,
    seconds: u64,
    connections: usize,
}

fn args() -> Args {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    if argv.len() < 3 {
        eprintln!("usage: flood URL ATTACKER_TOKEN VICTIM_TOKEN [SECONDS] [CONNECTIONS]");
        std::process::exit(2);
    }
    Args {
        url: argv[0].clone(),
        attacker: argv[1].clone(),
        victim: argv[2].clone(),
        seconds: argv
            .get(3)
            .and_then(|s| s.parse().ok())
            .unwrap_or(10)
            .clamp(1, 300),
        connections: argv
            .get(4)
            .and_then(|s| s.parse().ok())
            .unwrap_or(64)
            .clamp(1, 1024),
    }
}

async fn post(client: &reqwest::Client, url: &str, token: &str, query: &str) -> (u16, Value) {
    match client
        .post(url)
        .bearer_auth(token)
        .json(&json!({ "query": query }))
        .send()
        .await
    {
        Ok(response) => {
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        }
        Err(_) => (0, Value::Null),
    }
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p / 100.0) * (sorted.len() as f64 - 1.0)).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// How often the victim sends: 20 requests a second, well inside its own budget, so that
/// what is measured is latency, not the victim's own rate limit.
const VICTIM_INTERVAL: Duration = Duration::from_millis(50);

/// The victim's latencies for one query over `duration`, one request every
/// [`VICTIM_INTERVAL`].
async fn measure(
    client: &reqwest::Client,
    args: &Args,
    query: &str,
    duration: Duration,
) -> (Vec<f64>, u64) {
    let mut latencies = Vec::new();
    let mut errors = 0;
    let until = Instant::now() + duration;
    let mut ticks = tokio::time::interval(VICTIM_INTERVAL);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    while Instant::now() < until {
        ticks.tick().await;
        let started = Instant::now();
        let (status, body) = post(client, &args.url, &args.victim, query).await;
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        if status == 200 && body.get("errors").is_none_or(Value::is_null) {
            latencies.push(ms);
        } else {
            if errors == 0 {
                eprintln!("first victim error: HTTP {status} {body}");
            }
            errors += 1;
        }
    }
    latencies.sort_by(f64::total_cmp);
    (latencies, errors)
}

#[tokio::main]
async fn main() {
    let args = args();
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(60))
        .pool_max_idle_per_host(args.connections + 4)
        .build()
        .expect("http client");
    let worst = worst_request();
    let (status, body) = post(&client, &args.url, &args.attacker, &worst).await;
    if status != 200 || !body.get("errors").is_none_or(Value::is_null) {
        eprintln!("the worst request is refused by the limits (HTTP {status}): {body}");
        std::process::exit(1);
    }
    let phase = Duration::from_secs(args.seconds);
    let mut rows = Vec::new();
    for (name, query) in VICTIM_QUERIES {
        let (latencies, errors) = measure(&client, &args, query, phase).await;
        rows.push((name, "before", latencies, errors));
    }

    let stop = Arc::new(AtomicBool::new(false));
    let answered = Arc::new(AtomicU64::new(0));
    let limited = Arc::new(AtomicU64::new(0));
    let failed = Arc::new(AtomicU64::new(0));
    let mut flood = Vec::new();
    for _ in 0..args.connections {
        let (client, url, token, worst) = (
            client.clone(),
            args.url.clone(),
            args.attacker.clone(),
            worst.clone(),
        );
        let (stop, answered, limited, failed) = (
            stop.clone(),
            answered.clone(),
            limited.clone(),
            failed.clone(),
        );
        flood.push(tokio::spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                match post(&client, &url, &token, &worst).await {
                    (200, _) => answered.fetch_add(1, Ordering::Relaxed),
                    (429, _) => limited.fetch_add(1, Ordering::Relaxed),
                    _ => failed.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    // Let the flood reach its steady state before measuring.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let started = Instant::now();
    for (name, query) in VICTIM_QUERIES {
        let (latencies, errors) = measure(&client, &args, query, phase).await;
        rows.push((name, "during flood", latencies, errors));
    }
    let flood_seconds = started.elapsed().as_secs_f64() + 2.0;
    stop.store(true, Ordering::Relaxed);
    for task in flood {
        let _ = task.await;
    }

    println!("| victim query | phase | requests | errors | p50 ms | p99 ms |");
    println!("| --- | --- | --- | --- | --- | --- |");
    for (name, phase, latencies, errors) in &rows {
        println!(
            "| {name} | {phase} | {} | {errors} | {:.1} | {:.1} |",
            latencies.len(),
            percentile(latencies, 50.0),
            percentile(latencies, 99.0)
        );
    }
    println!();
    println!(
        "attacker: {} connections for {:.0} s — {} answered ({:.0}/s), {} refused RATE_LIMITED, {} failed",
        args.connections,
        flood_seconds,
        answered.load(Ordering::Relaxed),
        answered.load(Ordering::Relaxed) as f64 / flood_seconds,
        limited.load(Ordering::Relaxed),
        failed.load(Ordering::Relaxed)
    );
}
