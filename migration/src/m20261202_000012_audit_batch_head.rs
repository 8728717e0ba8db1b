//! The start of a group commit of audit events (PostgreSQL) in one round trip:
//! `audit_batch_head(tenant, wait)` sets the transaction's tenant (for row-level security),
//! takes the tenant's chain lock — or, when `wait` is false and the lock is held, answers
//! `locked = false` at once — and returns the chain's head, as `audit_chain_head` does. A
//! batch of read events took three round trips for these (the tenant, the lock, the head),
//! each of them time that every request of the tenant waiting for the next batch waited too.

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
        // The lock key is `audit_chain_head`'s; plans without sequential scans, for its reason
        // (a plan cached while the log was small would stay in use under the lock).
        let statements = [
            "CREATE OR REPLACE FUNCTION audit_batch_head(tenant uuid, wait boolean) \
             RETURNS TABLE (locked boolean, head_seq bigint, head_hash varchar) \
             LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $$ \
             BEGIN \
               PERFORM set_config('app.tenant_id', tenant::text, true); \
               IF wait THEN \
                 PERFORM pg_advisory_xact_lock(hashtextextended(tenant::text, 7)); \
               ELSIF NOT pg_try_advisory_xact_lock(hashtextextended(tenant::text, 7)) THEN \
                 RETURN QUERY SELECT false, NULL::bigint, NULL::varchar; \
                 RETURN; \
               END IF; \
               RETURN QUERY SELECT true, e.seq, e.hash FROM audit_events e \
                 WHERE e.tenant_id = tenant ORDER BY e.seq DESC LIMIT 1; \
               IF NOT FOUND THEN \
                 RETURN QUERY SELECT true, NULL::bigint, NULL::varchar; \
               END IF; \
             END $$",
        ];
        crate::execute(manager, statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        crate::execute(
            manager,
            ["DROP FUNCTION IF EXISTS audit_batch_head(uuid, boolean)"],
        )
        .await
    }
}
