//! Finding the events about one person without reading the whole log: on PostgreSQL the ids an
//! audit event names become `jsonb` with a GIN index, so the compliance officer's subject
//! search and the subject export's access history are index lookups (`entity_ids @> '["id"]'`)
//! instead of a scan of every event of the tenant. SQLite, the embedded single-node default,
//! keeps its text search.
//!
//! The stored values do not change (a JSON array of id strings reads back as the same array),
//! so every event's hash still verifies.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let db = manager.get_connection();
        // A column type change rewrites the table without firing the append-only row trigger.
        for statement in [
            "ALTER TABLE audit_events ALTER COLUMN entity_ids TYPE jsonb USING entity_ids::jsonb",
            "CREATE INDEX audit_events_subjects ON audit_events USING gin (entity_ids jsonb_path_ops)",
        ] {
            db.execute_unprepared(statement).await?;
        }
        Ok(())
    }
}
