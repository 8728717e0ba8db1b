//! PostgreSQL: `audit_seal(jsonb)` checks a batch and fills its events' chain columns in one
//! statement each, instead of one `UPDATE` per event from a PL/pgSQL loop (a quarter of the
//! database time it took per event). What it accepts and refuses is unchanged: it takes the
//! tenant's chain lock; every entry must continue the chain — position `head + n` for the
//! `n`-th entry, linked to the head's hash or to the previous entry's — with a hash and a seal;
//! and every entry must name a distinct unsealed event of the caller's tenant, or nothing is
//! sealed.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The batch's entries, numbered from 1 in the order given.
const ENTRIES: &str = "SELECT x.n, (x.item->>'id')::uuid AS id, (x.item->>'seq')::bigint AS seq, \
     x.item->>'prev_hash' AS prev_hash, x.item->>'hash' AS hash, x.item->>'seal' AS seal \
     FROM jsonb_array_elements(p_seals) WITH ORDINALITY AS x(item, n)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let function = format!(
            "CREATE OR REPLACE FUNCTION audit_seal(p_seals jsonb) RETURNS bigint LANGUAGE plpgsql \
             SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$ \
             DECLARE \
               v_tenant uuid := {current}; \
               v_seq bigint; v_hash text; v_rows bigint; v_broken uuid; \
             BEGIN \
               {head}\
               SELECT b.id INTO v_broken \
                 FROM (SELECT s.*, lag(s.hash) OVER (ORDER BY s.n) AS previous FROM ({entries}) s) b \
                 WHERE b.seq IS DISTINCT FROM v_seq + b.n \
                    OR b.prev_hash IS DISTINCT FROM (CASE WHEN b.n = 1 THEN v_hash ELSE b.previous END) \
                    OR b.hash IS NULL OR b.seal IS NULL \
                 ORDER BY b.n LIMIT 1; \
               IF FOUND THEN \
                 RAISE EXCEPTION 'audit_seal: event % does not continue the chain', v_broken \
                   USING ERRCODE = 'insufficient_privilege'; \
               END IF; \
               UPDATE public.audit_events e SET seq = b.seq, prev_hash = b.prev_hash, \
                   hash = b.hash, seal = b.seal \
                 FROM ({entries}) b \
                 WHERE e.tenant_id = v_tenant AND e.id = b.id AND e.seq IS NULL; \
               GET DIAGNOSTICS v_rows = ROW_COUNT; \
               IF v_rows <> jsonb_array_length(p_seals) THEN \
                 RAISE EXCEPTION 'audit_seal: an entry is not an unsealed event of this tenant, or is named twice' \
                   USING ERRCODE = 'insufficient_privilege'; \
               END IF; \
               RETURN v_rows; \
             END $$",
            current = crate::walls::CURRENT_TENANT,
            entries = ENTRIES,
            head = crate::m20261202_000012_audit_sealed_after_commit::LOCKED_CHAIN_HEAD,
        );
        crate::execute(manager, [function]).await
    }
}
