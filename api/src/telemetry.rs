//! Structured logs with `tracing`, to stderr. Logs carry ids, never personal data.

use tracing_subscriber::EnvFilter;

pub fn init(format: &str) {
    let filter = EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn,sea_orm=warn"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = if format == "json" {
        builder.json().try_init()
    } else {
        builder.compact().try_init()
    };
    // A second init (tests start many apps in one process) keeps the first subscriber.
    drop(result);
}
