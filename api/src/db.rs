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

/// SQLite's read connections (`DOSSIER_SQLITE_READERS`), opened read-only on the same
/// database file, beside its one writer: in WAL mode each reads its own snapshot while the
/// writer writes. `None` on PostgreSQL, for an in-memory database (a second connection would
/// open another, empty one), or when none are asked for.
pub async fn connect_readers(config: &Config) -> anyhow::Result<Option<DatabaseConnection>> {
    let url = &config.database_url;
    if !url.starts_with("sqlite:")
        || config.sqlite_readers == 0
        || url.contains(":memory:")
        || url.contains("mode=memory")
    {
        return Ok(None);
    }
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(config.log_sql)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10))
        .max_connections(config.sqlite_readers)
        .min_connections(1);
    options.map_sqlx_sqlite_opts(|opts| {
        opts.read_only(true)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true)
    });
    sqlite_time_limit(&mut options, config.statement_timeout());
    Database::connect(options)
        .await
        .map(Some)
        .context("opening SQLite's read connections (DOSSIER_SQLITE_READERS)")
}

async fn connect_to(config: &Config, url: &str) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(url.to_owned());
    options
        .sqlx_logging(config.log_sql)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    if url.starts_with("sqlite:") {
        // One writer connection: SQLite has one writer anyway, and a request holds its
        // transaction from authentication to the audit event, so a second writer would only
        // turn waiting into SQLITE_BUSY errors (queries run on the read connections,
        // `connect_readers`). Keep it open so in-memory databases survive.
        options.max_connections(1).min_connections(1);
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
        sqlite_time_limit(&mut options, config.statement_timeout());
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

/// SQLite has no statement timeout of its own: a progress handler gives it one, with a clock
/// started each time a connection is handed out (a request's transaction, or one statement
/// outside any).
fn sqlite_time_limit(options: &mut ConnectOptions, limit: Duration) {
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
}

/// SQLite virtual-machine steps between two calls of the progress handler: a few
/// microseconds of work, so the check is cheap and the limit is kept closely.
const PROGRESS_STEPS: i32 = 1_000;

/// The progress handler that gives SQLite its time limit. SQLite calls it every
/// [`PROGRESS_STEPS`] steps while a statement runs; once `limit` has passed since the
/// connection was handed out, it answers `false` and SQLite interrupts the statement
/// (`SQLITE_INTERRUPT`), as PostgreSQL's `statement_timeout` cancels one. A request holds its
/// connection throughout, so the limit bounds the whole request — which is also what keeps
/// one tenant from holding the writer for longer.
fn deadline(limit: Duration) -> impl FnMut() -> bool + Send + 'static {
    let started = std::time::Instant::now();
    move || started.elapsed() <= limit
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None)
        .await
        .context("applying migrations")
}
