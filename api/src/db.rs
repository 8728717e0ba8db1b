//! Connecting to the database and applying migrations.

use std::time::Duration;

use anyhow::Context;
use migration::MigratorTrait;
use sea_orm::{ConnectOptions, Database, DatabaseConnection};

use crate::config::Config;

pub async fn connect(config: &Config) -> anyhow::Result<DatabaseConnection> {
    let mut options = ConnectOptions::new(config.database_url.clone());
    options
        .sqlx_logging(config.log_sql)
        .connect_timeout(Duration::from_secs(10))
        .acquire_timeout(Duration::from_secs(10));
    if config.database_url.starts_with("sqlite:") {
        // One connection: SQLite has one writer anyway, and a request holds its transaction
        // from authentication to the audit event, so a second connection would only turn
        // waiting into SQLITE_BUSY errors. Keep it open so in-memory databases survive.
        options.max_connections(1).min_connections(1);
        options.map_sqlx_sqlite_opts(|opts| {
            opts.journal_mode(sea_orm::sqlx::sqlite::SqliteJournalMode::Wal)
                .busy_timeout(Duration::from_secs(10))
                .foreign_keys(true)
        });
    } else {
        options
            .max_connections(config.db_pool)
            .min_connections(1)
            .statement_timeout(config.statement_timeout());
    }
    Database::connect(options)
        .await
        .context("connecting to the database (check DATABASE_URL)")
}

pub async fn migrate(db: &DatabaseConnection) -> anyhow::Result<()> {
    migration::Migrator::up(db, None)
        .await
        .context("applying migrations")
}
