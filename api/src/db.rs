//! Connecting to the database and applying migrations.

use std::time::Duration;

use anyhow::Context;
use migration::MigratorTrait;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::config::Config;

/// The API's own connection (`DATABASE_URL`): on PostgreSQL a role that owns nothing.
pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    connect_to(config, &config.database_url).await
}

/// The schema owner's connection (`DOSSIER_OWNER_DATABASE_URL`, else `DATABASE_URL`): for
/// migrations, creating tenants and pruning the audit log.
pub async fn connect_owner(config: &Config) -> anyhow::Result<DatabaseConnection> {
    connect_to(
        config,
        config
            .owner_database_url
            .as_deref()
            .unwrap_or(&config.database_url),
    )
    .await
}

async fn connect_to(config: &Config, url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(config.log_sql)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // One connection: SQLite has one writer anyway, and a request holds its transaction
        // from authentication to the audit event, so a second connection would only turn
        // waiting into SQLITE_BUSY errors. Keep it open so in-memory databases survive.
        options.max_connections(1).min_connections(1);
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
        // SQLite has no statement timeout of its own: a progress handler gives it one, with
        // a clock started each time the connection is handed out (a request's transaction, or
        // one statement outside any).
        let limit = config.statement_timeout();
        options.map_sqlx_sqlite_pool_opts(move |pool| {
            pool.after_connect(move |conn, _| {
                Box::pin(async move {
                    conn.lock_handle()
                        .await?
                        .set_progress_handler(PROGRESS_STEPS, deadline(limit));
                    Ok(())
                })
            })
            .before_acquire(move |conn, _| {
                Box::pin(async move {
                    conn.lock_handle()
                        .await?
                        .set_progress_handler(PROGRESS_STEPS, deadline(limit));
                    Ok(true)
                })
            })
        });
    } else {
        options
            .max_connections(config.db_pool)
            .min_connections(1)
            .statement_timeout(config.statement_timeout());
        // No JIT: the API's statements are short, and compiling one whose plan merely looks
        // expensive (a correlated sub-query over many rows that match nothing) cost 200 ms
        // a time — more than running it.
        options.map_sqlx_postgres_opts(|opts| opts.options([("jit", "off")]));
    }
    Database::connect(options)
        .await
        .context("connecting to the database (check DATABASE_URL and DOSSIER_OWNER_DATABASE_URL)")
}

/// SQLite virtual-machine steps between two calls of the progress handler: a few
/// microseconds of work, so the check is cheap and the limit is kept closely.
const PROGRESS_STEPS: i32 = 1_000;

/// The progress handler that gives SQLite its time limit. SQLite calls it every
/// [`PROGRESS_STEPS`] steps while a statement runs; once `limit` has passed since the
/// connection was handed out, it answers `false` and SQLite interrupts the statement
/// (`SQLITE_INTERRUPT`), as PostgreSQL's `statement_timeout` cancels one. SQLite runs one
/// request at a time on its one connection, so the limit bounds the whole request holding it
/// — which is also what keeps one tenant from holding it for longer.
fn deadline(limit: Duration) -> impl FnMut() -> bool + Send + 'static {
    let started = std::time::Instant::now();
    move || started.elapsed() <= limit
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None)
        .await
        .context("applying migrations")
}
