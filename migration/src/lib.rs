//! Dossier's database schema as sea-orm migrations: tables, composite tenant keys, indexes,
//! and on PostgreSQL the second wall (row-level security) and the append-only audit trigger.
//!
//! Migrations name their tables and columns with their own `DeriveIden` enums and never
//! import `entity`, so an old migration keeps compiling when an entity changes.

pub use sea_orm_migration::prelude::*;

mod m20261123_000001_core;
mod m20261123_000002_compliance;
mod m20261123_000003_audit_retention;
mod m20261123_000004_audit_lookups;
mod m20261202_000001_legal_hold_wall;
mod m20261202_000002_audit_seals;
mod m20261202_000003_identity_providers;
mod m20261202_000004_runtime_role;
mod m20261202_000005_interactions;
mod m20261202_000006_customer_stats;
mod m20261202_000007_segments;
mod m20261202_000008_search;
mod m20261202_000009_activity_for_every_customer;
mod m20261202_000010_totals_for_every_customer;
mod m20261202_000011_sales_added_in_place;
mod m20261202_000012_audit_sealed_after_commit;
mod m20261203_000013_customer_stats_folded_on_read;
mod m20261203_000014_audit_sealed_in_one_statement;
mod m20261203_000015_audit_ids_compressed_with_lz4;
pub mod search;
pub mod walls;

/// `statements` as the body of a trigger or a function: each ended with `;`.
pub(crate) fn body<S: AsRef<str>>(statements: impl IntoIterator<Item = S>) -> String {
    statements
        .into_iter()
        .map(|statement| format!("{}; ", statement.as_ref()))
        .collect()
}

/// Runs `statements`, in order, on the migration's connection.
pub(crate) async fn execute<S: AsRef<str>>(
    manager: &SchemaManager<'_>,
    statements: impl IntoIterator<Item = S>,
) -> Result<(), DbErr> {
    use sea_orm_migration::sea_orm::ConnectionTrait;
    let db = manager.get_connection();
    for statement in statements {
        db.execute_unprepared(statement.as_ref()).await?;
    }
    Ok(())
}

/// The statements that recompute every customer's aggregates from scratch: for operators
/// after a bulk load with triggers disabled, run as a superuser (or a `BYPASSRLS` role):
/// under row-level security any other role sees no tenant's rows.
pub fn rebuild_customer_stats() -> Vec<String> {
    let mut statements = m20261202_000006_customer_stats::backfill();
    statements.extend(m20261202_000010_totals_for_every_customer::backfill());
    statements
}

/// The statements that rebuild the search documents from the customers and contacts
/// (PostgreSQL; none on SQLite, which searches the tables themselves): for the same operators'
/// bulk loads.
pub fn rebuild_search_docs() -> Vec<String> {
    m20261202_000008_search::rebuild()
}

pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261123_000001_core::Migration),
            Box::new(m20261123_000002_compliance::Migration),
            Box::new(m20261123_000003_audit_retention::Migration),
            Box::new(m20261123_000004_audit_lookups::Migration),
            Box::new(m20261202_000001_legal_hold_wall::Migration),
            Box::new(m20261202_000002_audit_seals::Migration),
            Box::new(m20261202_000003_identity_providers::Migration),
            Box::new(m20261202_000004_runtime_role::Migration),
            Box::new(m20261202_000005_interactions::Migration),
            Box::new(m20261202_000006_customer_stats::Migration),
            Box::new(m20261202_000007_segments::Migration),
            Box::new(m20261202_000008_search::Migration),
            Box::new(m20261202_000009_activity_for_every_customer::Migration),
            Box::new(m20261202_000010_totals_for_every_customer::Migration),
            Box::new(m20261202_000011_sales_added_in_place::Migration),
            Box::new(m20261202_000012_audit_sealed_after_commit::Migration),
            Box::new(m20261203_000013_customer_stats_folded_on_read::Migration),
            Box::new(m20261203_000014_audit_sealed_in_one_statement::Migration),
            Box::new(m20261203_000015_audit_ids_compressed_with_lz4::Migration),
        ]
    }
}
