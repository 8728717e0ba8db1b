//! Legal holds bind in the database itself (DESIGN §5, invariant 8): a held contact or
//! customer — or a contact of a held customer — cannot be updated or deleted by any path,
//! whether an API mutation, a cascade, an erasure, a retention run or a future feature that
//! forgets to ask; nor can the sales and consents that are part of the held record. The API
//! checks holds first where it can say more (erasure names the hold); these triggers are the
//! one check every path passes. The API maps the refusal, which carries the marker
//! `dossier_legal_hold`, to `CONFLICT`.
//!
//! A hold itself can only be released, once: never moved to another row, rewritten or
//! deleted. On PostgreSQL the trigger functions name their tables with the schema and put
//! `pg_temp` last in their `search_path`, so that a session's temporary table cannot stand in
//! for `legal_holds`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::walls;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// Per table: the operations a hold refuses, and which hold ids cover a row (`OLD`).
const COVERED: [(&str, &str, &str); 4] = [
    // A contact is covered by a hold on itself or on its customer.
    ("contacts", "UPDATE OR DELETE", "OLD.id, OLD.customer_id"),
    ("customers", "UPDATE OR DELETE", "OLD.id"),
    // Invoices are part of the held customer's or person's record.
    (
        "sales",
        "UPDATE OR DELETE",
        "OLD.customer_id, OLD.contact_id",
    ),
    // Consent decisions are history: new ones may be added, none removed.
    (
        "consents",
        "DELETE",
        "OLD.contact_id, (SELECT c.customer_id FROM {schema}contacts c \
         WHERE c.tenant_id = OLD.tenant_id AND c.id = OLD.contact_id)",
    ),
];

/// What may change in a hold: `released_at` and `released_by`, from unset to set.
const RELEASE_ONLY: &str = "OLD.released_at IS NOT NULL OR NEW.released_at IS NULL \
     OR NEW.tenant_id <> OLD.tenant_id OR NEW.id <> OLD.id OR NEW.entity <> OLD.entity \
     OR NEW.entity_id <> OLD.entity_id OR NEW.reason <> OLD.reason \
     OR NEW.placed_at <> OLD.placed_at OR NEW.placed_by <> OLD.placed_by";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut statements = Vec::new();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for (table, ops, covered) in COVERED {
                    statements.extend(walls::legal_hold(DbBackend::Postgres, table, ops, covered));
                }
                statements.push(format!(
                    "CREATE FUNCTION legal_holds_release_only() RETURNS trigger LANGUAGE plpgsql \
                     SET search_path = pg_catalog, public, pg_temp AS $$ \
                     BEGIN \
                       IF TG_OP = 'DELETE' OR {RELEASE_ONLY} THEN \
                         RAISE EXCEPTION 'dossier_legal_hold: a legal hold can only be released, once' \
                           USING ERRCODE = 'restrict_violation'; \
                       END IF; \
                       RETURN NEW; \
                     END $$"
                ));
                statements.push(
                    "CREATE TRIGGER legal_holds_release_only BEFORE UPDATE OR DELETE ON legal_holds \
                     FOR EACH ROW EXECUTE FUNCTION legal_holds_release_only()"
                        .to_owned(),
                );
            }
            _ => {
                // A SQLite trigger resolves table names in its own schema only: no temporary
                // table can stand in for `legal_holds`.
                for (table, ops, covered) in COVERED {
                    statements.extend(walls::legal_hold(DbBackend::Sqlite, table, ops, covered));
                }
                statements.push(format!(
                    "CREATE TRIGGER legal_holds_release_only BEFORE UPDATE ON legal_holds \
                     WHEN {RELEASE_ONLY} \
                     BEGIN SELECT RAISE(ABORT, 'dossier_legal_hold: a legal hold can only be released, once'); END"
                ));
                statements.push(
                    "CREATE TRIGGER legal_holds_never_deleted BEFORE DELETE ON legal_holds \
                     BEGIN SELECT RAISE(ABORT, 'dossier_legal_hold: a legal hold can only be released, once'); END"
                        .to_owned(),
                );
            }
        }
        crate::execute(manager, statements).await
    }
}
