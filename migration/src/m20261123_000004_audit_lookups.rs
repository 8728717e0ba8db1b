//! Two lookups in the audit log that must stay fast as it grows, on PostgreSQL (SQLite, the
//! embedded single-node default, keeps its plain queries):
//!
//! - **The events about one person.** The ids an event names become `jsonb` with a GIN index,
//!   so the officer's subject search and the subject export's access history are index
//!   lookups (`entity_ids @> '["id"]'`) instead of a scan of every event of the tenant. The
//!   stored values do not change (a JSON array of id strings reads back as the same array),
//!   so every event's hash still verifies.
//! - **The head of a tenant's chain.** `audit_chain_head(tenant)` takes the tenant's append
//!   lock and returns the newest event's position and hash in one round trip. The lock is held
//!   until commit, so every round trip after it is time all other writers of the tenant wait.
//!   Reading the head in the same SQL statement as the lock would not do: a statement's
//!   snapshot predates the wait and would miss the event the previous holder just committed;
//!   a PL/pgSQL function takes a new snapshot for each of its statements. The function plans
//!   without sequential scans: a plan cached while the log was small (a scan and a sort) would
//!   otherwise stay in use, under the lock, until the next ANALYZE; planning at each call
//!   instead (`EXECUTE`) cost Q3 12 %. The lock key is the one the API took before this
//!   function existed, so old and new nodes serialise on the same lock during a rolling
//!   upgrade.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        // A column type change rewrites the table without firing the append-only row trigger.
        let statements = [
            "ALTER TABLE audit_events ALTER COLUMN entity_ids TYPE jsonb USING entity_ids::jsonb",
            "CREATE INDEX audit_events_subjects ON audit_events USING gin (entity_ids jsonb_path_ops)",
            "CREATE OR REPLACE FUNCTION audit_chain_head(tenant uuid) \
             RETURNS TABLE (head_seq bigint, head_hash varchar) \
             LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $$ \
             BEGIN \
               PERFORM pg_advisory_xact_lock(hashtextextended(tenant::text, 7)); \
               RETURN QUERY SELECT e.seq, e.hash FROM audit_events e \
                 WHERE e.tenant_id = tenant ORDER BY e.seq DESC LIMIT 1; \
             END $$",
        ];
        crate::execute(manager, statements).await
    }
}
