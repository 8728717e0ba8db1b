//! Legal holds bind in the database itself (DESIGN §5, invariant 8): a held contact or
//! customer — or a contact of a held customer — cannot be updated or deleted by any path,
//! whether an API mutation, a cascade, an erasure, a retention run or a future feature that
//! forgets to ask. The API checks holds first where it can say more (erasure names the hold);
//! these triggers are the one check every path passes. The API maps the refusal, which
//! carries the marker `dossier_legal_hold`, to `CONFLICT`.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, DbBackend};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The rows a hold covers, per table: a contact is covered by a hold on itself or on its
/// customer (litigation about a company keeps its people's records as they are).
const COVERED: [(&str, &str); 2] = [
    (
        "contacts",
        "h.entity_id = OLD.id OR h.entity_id = OLD.customer_id",
    ),
    ("customers", "h.entity_id = OLD.id"),
];

fn active_hold(covered: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM legal_holds h WHERE h.tenant_id = OLD.tenant_id \
         AND h.released_at IS NULL AND ({covered}))"
    )
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let db = manager.get_connection();
        let mut statements = Vec::new();
        match manager.get_database_backend() {
            DbBackend::Postgres => {
                for (table, covered) in COVERED {
                    statements.push(format!(
                        "CREATE FUNCTION {table}_legal_hold() RETURNS trigger LANGUAGE plpgsql AS $$ \
                         BEGIN \
                           IF {} THEN \
                             RAISE EXCEPTION 'dossier_legal_hold: % % is under a legal hold', TG_TABLE_NAME, OLD.id \
                               USING ERRCODE = 'restrict_violation'; \
                           END IF; \
                           IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; \
                           RETURN NEW; \
                         END $$",
                        active_hold(covered)
                    ));
                    statements.push(format!(
                        "CREATE TRIGGER {table}_legal_hold BEFORE UPDATE OR DELETE ON {table} \
                         FOR EACH ROW EXECUTE FUNCTION {table}_legal_hold()"
                    ));
                }
            }
            _ => {
                for (table, covered) in COVERED {
                    for op in ["UPDATE", "DELETE"] {
                        statements.push(format!(
                            "CREATE TRIGGER {table}_legal_hold_{} BEFORE {op} ON {table} \
                             WHEN {} \
                             BEGIN SELECT RAISE(ABORT, 'dossier_legal_hold: this row is under a legal hold'); END",
                            op.to_lowercase(),
                            active_hold(covered)
                        ));
                    }
                }
            }
        }
        for statement in statements {
            db.execute_unprepared(&statement).await?;
        }
        Ok(())
    }
}
