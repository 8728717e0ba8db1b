//! Prometheus metrics, kept as plain atomics: a handful of counters need no registry crate.

use std::fmt::Write;
use std::sync::atomic::{AtomicU64, Ordering};

#[derive(Default)]
pub struct Metrics {
    requests: AtomicU64,
    responses_2xx: AtomicU64,
    responses_4xx: AtomicU64,
    responses_5xx: AtomicU64,
    duration_micros: AtomicU64,
    graphql_errors: AtomicU64,
    unauthenticated: AtomicU64,
}

impl Metrics {
    pub fn observe(&self, status: u16, micros: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.duration_micros.fetch_add(micros, Ordering::Relaxed);
        let class = match status {
            200..=399 => &self.responses_2xx,
            400..=499 => &self.responses_4xx,
            _ => &self.responses_5xx,
        };
        class.fetch_add(1, Ordering::Relaxed);
    }

    pub fn graphql_errors(&self, count: usize) {
        self.graphql_errors
            .fetch_add(count as u64, Ordering::Relaxed);
    }

    pub fn unauthenticated(&self) {
        self.unauthenticated.fetch_add(1, Ordering::Relaxed);
    }

    pub fn render(&self) -> String {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP dossier_http_requests_total HTTP requests served."
        );
        let _ = writeln!(out, "# TYPE dossier_http_requests_total counter");
        for (class, counter) in [
            ("2xx", &self.responses_2xx),
            ("4xx", &self.responses_4xx),
            ("5xx", &self.responses_5xx),
        ] {
            let _ = writeln!(
                out,
                "dossier_http_requests_total{{status=\"{class}\"}} {}",
                get(counter)
            );
        }
        let _ = writeln!(
            out,
            "# HELP dossier_http_request_duration_seconds Time spent serving requests."
        );
        let _ = writeln!(out, "# TYPE dossier_http_request_duration_seconds summary");
        let _ = writeln!(
            out,
            "dossier_http_request_duration_seconds_sum {}",
            get(&self.duration_micros) as f64 / 1e6
        );
        let _ = writeln!(
            out,
            "dossier_http_request_duration_seconds_count {}",
            get(&self.requests)
        );
        let _ = writeln!(
            out,
            "# HELP dossier_graphql_errors_total GraphQL errors returned."
        );
        let _ = writeln!(out, "# TYPE dossier_graphql_errors_total counter");
        let _ = writeln!(
            out,
            "dossier_graphql_errors_total {}",
            get(&self.graphql_errors)
        );
        let _ = writeln!(
            out,
            "# HELP dossier_unauthenticated_total Requests refused for a missing or bad token."
        );
        let _ = writeln!(out, "# TYPE dossier_unauthenticated_total counter");
        let _ = writeln!(
            out,
            "dossier_unauthenticated_total {}",
            get(&self.unauthenticated)
        );
        out
    }
}
