//! On PostgreSQL an audit event is sealed — given its position, link, hash and seal — up to a
//! second after the transaction that wrote it commits (DESIGN §4, invariant 4), instead of
//! inside it. Sealing in the writer's transaction held the tenant's chain lock from the append
//! to COMMIT, which queued every audited request of a tenant behind the previous one.
//!
//! - The event is still inserted in the request's own transaction; its chain columns stay
//!   `NULL` until the sealer fills them. Each event carries a `mark` instead, an HMAC of its
//!   content under the audit key, so that a row someone else inserted is never sealed.
//! - The chain columns are written once: `audit_seal(jsonb)`, owned by the tables' owner,
//!   takes the tenant's chain lock and fills them for unsealed rows of the caller's tenant,
//!   each at the next position with the head's hash as its link, or refuses the whole call. A
//!   row trigger refuses every other change, the owner's included: an event inserted with
//!   chain columns, an update of a content column or of a chain column already set, the delete
//!   of an unsealed event. The runtime role still has no UPDATE privilege on the log.
//! - `audit_unsealed_tenants()`, owned by the tables' owner, lists the tenants with unsealed
//!   events, so that the sealer of any server process — or of the next one, after a crash —
//!   finds them: a policy lets the owner see unsealed events across tenants, and the function
//!   returns their tenant ids alone. (A table of pending tenants, filled by the insert trigger,
//!   was tried first: its row, deleted by each sealing pass and inserted again by the next
//!   event, made every other event of the tenant wait for that event's commit.)
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

/// The columns of an event's content: no UPDATE may name them.
const CONTENT: &str = "tenant_id, id, at, actor, actor_role, client_id, request_id, \
    caller_request_id, action, entity, entity_ids, fields, purpose, outcome, mark";

/// The arguments of `audit_seal`, as `GRANT` names them.
pub const SEAL_SIGNATURE: &str = "audit_seal(jsonb)";

/// PL/pgSQL of `audit_seal`: refuses a call without a tenant, takes the tenant's chain lock and
/// reads the chain's head into `v_seq` and `v_hash` (the newest sealed event, else the anchor
/// retention left, else the genesis).
pub(crate) const LOCKED_CHAIN_HEAD: &str = "IF v_tenant IS NULL THEN \
                     RAISE EXCEPTION 'audit_seal: no tenant is set' USING ERRCODE = 'insufficient_privilege'; \
                   END IF; \
                   PERFORM pg_advisory_xact_lock(hashtextextended(v_tenant::text, 7)); \
                   SELECT e.seq, e.hash INTO v_seq, v_hash FROM public.audit_events e \
                     WHERE e.tenant_id = v_tenant AND e.seq IS NOT NULL ORDER BY e.seq DESC LIMIT 1; \
                   IF v_seq IS NULL THEN \
                     SELECT a.seq, a.hash INTO v_seq, v_hash FROM public.audit_anchors a \
                       WHERE a.tenant_id = v_tenant ORDER BY a.seq DESC LIMIT 1; \
                   END IF; \
                   IF v_seq IS NULL THEN v_seq := 0; v_hash := repeat('0', 64); END IF; ";

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
            // Per row only what is cheap: `audit_seal`'s UPDATE sets the chain columns alone, so
            // the trigger below that refuses any change of content never fires for it.
            "CREATE FUNCTION audit_events_row_rules() RETURNS trigger LANGUAGE plpgsql \
             SET search_path = pg_catalog, public, pg_temp AS $$ \
             BEGIN \
               IF TG_OP = 'INSERT' THEN \
                 IF NEW.seq IS NOT NULL OR NEW.prev_hash IS NOT NULL OR NEW.hash IS NOT NULL \
                    OR NEW.seal IS NOT NULL THEN \
                   RAISE EXCEPTION 'audit_events is append-only: an event is inserted unsealed, and only audit_seal() seals it' \
                     USING ERRCODE = 'insufficient_privilege'; \
                 END IF; \
                 RETURN NEW; \
               END IF; \
               IF TG_OP = 'DELETE' THEN \
                 IF OLD.seq IS NULL THEN \
                   RAISE EXCEPTION 'audit_events is append-only: an unsealed event is never deleted' \
                     USING ERRCODE = 'insufficient_privilege'; \
                 END IF; \
                 RETURN OLD; \
               END IF; \
               IF OLD.seq IS NOT NULL OR OLD.prev_hash IS NOT NULL OR OLD.hash IS NOT NULL \
                  OR OLD.seal IS NOT NULL OR NEW.seq IS NULL OR NEW.prev_hash IS NULL \
                  OR NEW.hash IS NULL OR NEW.seal IS NULL THEN \
                 RAISE EXCEPTION 'audit_events is append-only: an event is sealed once and never changed' \
                   USING ERRCODE = 'insufficient_privilege'; \
               END IF; \
               RETURN NEW; \
             END $$"
                .to_owned(),
            "CREATE TRIGGER audit_events_row_rules \
             BEFORE INSERT OR UPDATE OF seq, prev_hash, hash, seal OR DELETE ON audit_events \
             FOR EACH ROW EXECUTE FUNCTION audit_events_row_rules()"
                .to_owned(),
            "CREATE FUNCTION audit_events_content_fixed() RETURNS trigger LANGUAGE plpgsql \
             SET search_path = pg_catalog, public, pg_temp AS $$ \
             BEGIN \
               RAISE EXCEPTION 'audit_events is append-only: an event is sealed once and never changed' \
                 USING ERRCODE = 'insufficient_privilege'; \
             END $$"
                .to_owned(),
            // Every column but the chain's (a test holds this list against the table's).
            format!(
                "CREATE TRIGGER audit_events_content_fixed BEFORE UPDATE OF {CONTENT} ON audit_events \
                 FOR EACH STATEMENT EXECUTE FUNCTION audit_events_content_fixed()"
            ),
            // Which tenants have events to seal, for the sealers of every server process (and
            // the next one to start, after a crash). The owner sees unsealed events of every
            // tenant (it owns the table: it could lift the policies anyway); the function, run
            // as the owner, hands out their tenant ids and nothing else.
            "DO $$ BEGIN \
               EXECUTE format('CREATE POLICY unsealed_for_the_sealer ON audit_events FOR SELECT \
                 USING (seq IS NULL AND current_user = %L)', current_user); \
             END $$"
                .to_owned(),
            "CREATE FUNCTION audit_unsealed_tenants() RETURNS SETOF uuid LANGUAGE sql STABLE \
             SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$ \
             SELECT DISTINCT e.tenant_id FROM public.audit_events e WHERE e.seq IS NULL $$"
                .to_owned(),
            "REVOKE ALL ON FUNCTION audit_unsealed_tenants() FROM PUBLIC".to_owned(),
            crate::walls::runtime_grant("FUNCTION audit_unsealed_tenants()", "EXECUTE"),
            // The chain continues from its head: the position after the newest sealed event (or
            // the anchor retention left, or the genesis) and its hash, one event after another.
            // The hash and seal are the caller's, checked by verification with the audit key.
            format!(
                "CREATE FUNCTION audit_seal(p_seals jsonb) RETURNS bigint LANGUAGE plpgsql SECURITY DEFINER \
                 SET search_path = pg_catalog, public, pg_temp AS $$ \
                 DECLARE \
                   v_tenant uuid := {current}; \
                   v_seq bigint; v_hash text; v_done bigint := 0; v_rows bigint; r record; \
                 BEGIN \
                   {head}\
                   FOR r IN SELECT (x.item->>'id')::uuid AS id, (x.item->>'seq')::bigint AS seq, \
                       x.item->>'prev_hash' AS prev_hash, x.item->>'hash' AS hash, x.item->>'seal' AS seal \
                     FROM jsonb_array_elements(p_seals) WITH ORDINALITY AS x(item, n) ORDER BY x.n LOOP \
                     IF r.seq IS DISTINCT FROM v_seq + 1 OR r.prev_hash IS DISTINCT FROM v_hash \
                        OR r.hash IS NULL OR r.seal IS NULL THEN \
                       RAISE EXCEPTION 'audit_seal: event % does not continue the chain at #%', r.id, v_seq + 1 \
                         USING ERRCODE = 'insufficient_privilege'; \
                     END IF; \
                     UPDATE public.audit_events e SET seq = r.seq, prev_hash = r.prev_hash, \
                       hash = r.hash, seal = r.seal \
                     WHERE e.tenant_id = v_tenant AND e.id = r.id AND e.seq IS NULL; \
                     GET DIAGNOSTICS v_rows = ROW_COUNT; \
                     IF v_rows <> 1 THEN \
                       RAISE EXCEPTION 'audit_seal: event % is not an unsealed event of this tenant', r.id \
                         USING ERRCODE = 'insufficient_privilege'; \
                     END IF; \
                     v_seq := r.seq; v_hash := r.hash; v_done := v_done + 1; \
                   END LOOP; \
                   RETURN v_done; \
                 END $$",
                current = crate::walls::CURRENT_TENANT,
                head = LOCKED_CHAIN_HEAD,
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
