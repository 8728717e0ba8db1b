//! Prometheus metrics, kept as plain atomics: a handful of counters and histograms need no
//! registry crate.

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

/// The phases of a GraphQL request, each timed into a histogram of its own ([`Phases`]):
/// where a request's time goes, and so where a slow tail comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    /// Verifying the bearer token (and finding its identity provider).
    Authenticate,
    /// Waiting for the tenant's budget to admit the request.
    Admit,
    /// Opening the request's transaction with its tenant set.
    Begin,
    /// Running the operation: compiled SQL or the resolvers.
    Execute,
    /// Writing the request's read audit events.
    Audit,
    /// Committing the request's transaction.
    Commit,
}

impl Phase {
    const ALL: [Phase; 6] = [
        Phase::Authenticate,
        Phase::Admit,
        Phase::Begin,
        Phase::Execute,
        Phase::Audit,
        Phase::Commit,
    ];

    fn label(self) -> &'static str {
        match self {
            Phase::Authenticate => "authenticate",
            Phase::Admit => "admit",
            Phase::Begin => "begin",
            Phase::Execute => "execute",
            Phase::Audit => "audit",
            Phase::Commit => "commit",
        }
    }
}

/// Upper bounds of the histogram buckets, in microseconds: 50 µs to 5 s, about three per
/// decade, fine enough to tell a round trip from a lock wait.
const BUCKET_MICROS: [u64; 15] = [
    50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 25_000, 50_000, 100_000, 250_000, 500_000,
    1_000_000, 5_000_000,
];

/// One phase's histogram: a count per bucket (not cumulative: rendering sums them), the sum
/// and the count of the observations.
#[derive(Default)]
struct Histogram {
    buckets: [AtomicU64; BUCKET_MICROS.len()],
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn observe(&self, micros: u64) {
        if let Some(bucket) = BUCKET_MICROS.iter().position(|&bound| micros <= bound) {
            self.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        }
        self.sum_micros.fetch_add(micros, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }
}

/// Time per request phase (`dossier_request_phase_seconds`), a Prometheus histogram per
/// [`Phase`].
#[derive(Default)]
pub struct Phases {
    histograms: [Histogram; Phase::ALL.len()],
}

impl Phases {
    pub fn observe(&self, phase: Phase, took: std::time::Duration) {
        let micros = u64::try_from(took.as_micros()).unwrap_or(u64::MAX);
        self.histograms[phase as usize].observe(micros);
    }

    /// Times `work` as `phase`.
    pub async fn time<T>(&self, phase: Phase, work: impl std::future::Future<Output = T>) -> T {
        let started = std::time::Instant::now();
        let out = work.await;
        self.observe(phase, started.elapsed());
        out
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP dossier_request_phase_seconds Time spent in each phase of a GraphQL request."
        );
        let _ = writeln!(out, "# TYPE dossier_request_phase_seconds histogram");
        for phase in Phase::ALL {
            self.histograms[phase as usize].render(
                &mut out,
                "dossier_request_phase_seconds",
                &format!("phase=\"{}\"", phase.label()),
            );
        }
        out
    }
}

impl Histogram {
    /// The histogram's lines, each metric labelled with `labels` (`name="value"`, or empty).
    fn render(&self, out: &mut String, metric: &str, labels: &str) {
        let sep = if labels.is_empty() { "" } else { "," };
        let mut cumulative = 0;
        for (bound, bucket) in BUCKET_MICROS.iter().zip(&self.buckets) {
            cumulative += bucket.load(Ordering::Relaxed);
            let _ = writeln!(
                out,
                "{metric}_bucket{{{labels}{sep}le=\"{}\"}} {cumulative}",
                *bound as f64 / 1e6
            );
        }
        let count = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{metric}_bucket{{{labels}{sep}le=\"+Inf\"}} {count}");
        let braced = if labels.is_empty() {
            String::new()
        } else {
            format!("{{{labels}}}")
        };
        let _ = writeln!(
            out,
            "{metric}_sum{braced} {}",
            self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6
        );
        let _ = writeln!(out, "{metric}_count{braced} {count}");
    }
}

/// How long the audit sealer's passes leave events unsealed (`dossier_audit_seal_lag_seconds`,
/// PostgreSQL): per pass, the time from its oldest event's write to its seal. DESIGN allows a
/// second.
#[derive(Default)]
pub struct SealLag(Histogram);

impl SealLag {
    pub fn observe(&self, lag: std::time::Duration) {
        self.0
            .observe(u64::try_from(lag.as_micros()).unwrap_or(u64::MAX));
    }

    pub fn render(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "# HELP dossier_audit_seal_lag_seconds Per sealing pass, how long its oldest event waited for its seal."
        );
        let _ = writeln!(out, "# TYPE dossier_audit_seal_lag_seconds histogram");
        self.0
            .render(&mut out, "dossier_audit_seal_lag_seconds", "");
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn phase_histograms_are_cumulative_and_count_every_observation() {
        let phases = Phases::default();
        phases.observe(Phase::Execute, Duration::from_micros(40));
        phases.observe(Phase::Execute, Duration::from_micros(700));
        phases.observe(Phase::Execute, Duration::from_secs(9));
        phases.observe(Phase::Commit, Duration::from_micros(300));
        let text = phases.render();
        let line = |name: &str| {
            text.lines()
                .find(|l| l.starts_with(name))
                .unwrap_or_else(|| panic!("{name} missing in\n{text}"))
                .rsplit(' ')
                .next()
                .expect("a value")
                .to_owned()
        };
        let execute = "dossier_request_phase_seconds_bucket{phase=\"execute\"";
        assert_eq!(line(&format!("{execute},le=\"0.00005\"}}")), "1");
        assert_eq!(line(&format!("{execute},le=\"0.0005\"}}")), "1");
        assert_eq!(line(&format!("{execute},le=\"0.001\"}}")), "2");
        assert_eq!(line(&format!("{execute},le=\"5\"}}")), "2");
        assert_eq!(line(&format!("{execute},le=\"+Inf\"}}")), "3");
        assert_eq!(
            line("dossier_request_phase_seconds_count{phase=\"execute\"}"),
            "3"
        );
        assert_eq!(
            line("dossier_request_phase_seconds_sum{phase=\"execute\"}"),
            "9.00074"
        );
        assert_eq!(
            line("dossier_request_phase_seconds_count{phase=\"commit\"}"),
            "1"
        );
        assert_eq!(
            line("dossier_request_phase_seconds_count{phase=\"audit\"}"),
            "0"
        );
    }

    #[test]
    fn the_seal_lag_is_an_unlabelled_histogram() {
        let lag = SealLag::default();
        lag.observe(Duration::from_millis(60));
        lag.observe(Duration::from_millis(1_500));
        let text = lag.render();
        for expected in [
            "dossier_audit_seal_lag_seconds_bucket{le=\"0.1\"} 1",
            "dossier_audit_seal_lag_seconds_bucket{le=\"1\"} 1",
            "dossier_audit_seal_lag_seconds_bucket{le=\"5\"} 2",
            "dossier_audit_seal_lag_seconds_bucket{le=\"+Inf\"} 2",
            "dossier_audit_seal_lag_seconds_sum 1.56",
            "dossier_audit_seal_lag_seconds_count 2",
        ] {
            assert!(text.lines().any(|l| l == expected), "{expected} in\n{text}");
        }
    }
}
