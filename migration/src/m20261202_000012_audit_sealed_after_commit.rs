//! On PostgreSQL an audit event is sealed — given its position, link, hash and seal — up to a
//! second after the transaction that wrote it commits (DESIGN §4, invariant 4), instead of
//! inside it. Sealing in the writer's transaction held the tenant's chain lock from the append
//! to COMMIT, which queued every audited request of a tenant behind the previous one.
//!
//! - The event is still inserted in the request's own transaction; its chain columns stay
//!   `NULL` until the sealer fills them. Each event carries a `mark` instead, an HMAC of its
//!   content under the audit key, so that a row someone else inserted is never sealed.
//! - The chain columns are written once: `audit_seal(...)`, owned by the tables' owner, fills
//!   them for unsealed rows of the caller's tenant; a row trigger refuses any other update,
//!   the owner's included (content changed, or a chain column already set). The runtime role
//!   still has no UPDATE privilege on the log.
//! - `audit_chain_head` skips unsealed rows (a descending order puts `NULL` first).
//!
//! SQLite has one writer: it seals in the writer's transaction as before, and only gains the
//! `mark` column.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    Mark,
}

/// The arguments of `audit_seal`, as `GRANT` names them.
pub const SEAL_SIGNATURE: &str = "audit_seal(jsonb)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(ColumnDef::new(AuditEvents::Mark).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let chain = "'seq' - 'prev_hash' - 'hash' - 'seal'";
        let statements = vec![
            "ALTER TABLE audit_events ALTER COLUMN seq DROP NOT NULL, \
             ALTER COLUMN prev_hash DROP NOT NULL, ALTER COLUMN hash DROP NOT NULL"
                .to_owned(),
            // Only the rows waiting for the sealer: it stays as small as the lag.
            "CREATE INDEX audit_events_unsealed ON audit_events (tenant_id, at, id) WHERE seq IS NULL"
                .to_owned(),
            // The statement trigger lets the owner delete (retention) and update (sealing,
            // through `audit_seal`); the row trigger below narrows the update to sealing.
            "CREATE FUNCTION audit_events_owner_only() RETURNS trigger LANGUAGE plpgsql \
             SET search_path = pg_catalog, public, pg_temp AS $$ \
             BEGIN \
               IF TG_OP IN ('DELETE', 'UPDATE') AND current_user = (SELECT tableowner FROM pg_catalog.pg_tables \
                   WHERE schemaname = TG_TABLE_SCHEMA AND tablename = TG_TABLE_NAME) THEN \
                 RETURN NULL; \
               END IF; \
               RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; \
             END $$"
                .to_owned(),
            "DROP TRIGGER audit_events_append_only ON audit_events".to_owned(),
            "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_events_owner_only()"
                .to_owned(),
            format!(
                "CREATE FUNCTION audit_events_sealed_once() RETURNS trigger LANGUAGE plpgsql \
                 SET search_path = pg_catalog, public, pg_temp AS $$ \
                 BEGIN \
                   IF OLD.seq IS NOT NULL OR OLD.prev_hash IS NOT NULL OR OLD.hash IS NOT NULL \
                      OR OLD.seal IS NOT NULL OR NEW.seq IS NULL OR NEW.prev_hash IS NULL \
                      OR NEW.hash IS NULL OR NEW.seal IS NULL \
                      OR (to_jsonb(NEW) - {chain}) IS DISTINCT FROM (to_jsonb(OLD) - {chain}) THEN \
                     RAISE EXCEPTION 'audit_events is append-only: an event is sealed once and never changed' \
                       USING ERRCODE = 'insufficient_privilege'; \
                   END IF; \
                   RETURN NEW; \
                 END $$"
            ),
            "CREATE TRIGGER audit_events_sealed_once BEFORE UPDATE ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION audit_events_sealed_once()"
                .to_owned(),
            format!(
                "CREATE FUNCTION audit_seal(p_seals jsonb) RETURNS bigint LANGUAGE sql SECURITY DEFINER \
                 SET search_path = pg_catalog, public, pg_temp AS $$ \
                 WITH sealed AS ( \
                   UPDATE public.audit_events e SET seq = u.seq, prev_hash = u.prev_hash, \
                     hash = u.hash, seal = u.seal \
                   FROM jsonb_to_recordset(p_seals) \
                     AS u(id uuid, seq bigint, prev_hash text, hash text, seal text) \
                   WHERE e.tenant_id = {current} AND e.id = u.id AND e.seq IS NULL \
                   RETURNING 1) \
                 SELECT count(*) FROM sealed $$",
                current = crate::walls::CURRENT_TENANT,
            ),
            format!("REVOKE ALL ON FUNCTION {SEAL_SIGNATURE} FROM PUBLIC"),
            crate::walls::runtime_grant(&format!("FUNCTION {SEAL_SIGNATURE}"), "EXECUTE"),
            "CREATE OR REPLACE FUNCTION audit_chain_head(tenant uuid) \
             RETURNS TABLE (head_seq bigint, head_hash varchar) \
             LANGUAGE plpgsql VOLATILE SET enable_seqscan = off AS $$ \
             BEGIN \
               PERFORM pg_advisory_xact_lock(hashtextextended(tenant::text, 7)); \
               RETURN QUERY SELECT e.seq, e.hash FROM audit_events e \
                 WHERE e.tenant_id = tenant AND e.seq IS NOT NULL ORDER BY e.seq DESC LIMIT 1; \
             END $$"
                .to_owned(),
        ];
        crate::execute(manager, statements).await
    }
}
