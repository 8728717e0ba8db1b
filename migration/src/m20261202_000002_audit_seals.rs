//! Tamper evidence against the database's own administrator (DESIGN §5, invariant 4):
//!
//! - each event and each anchor gets a `seal`, an HMAC under the audit key that only the API
//!   holds (never the database), so an edited, deleted or re-hashed chain no longer verifies;
//!   events written before this migration keep a `NULL` seal, which verification reports
//!   like any unsealed event (a seal cannot be told apart from one stripped by an attacker);
//! - the caller's `X-Request-Id` gets its own column beside the server's request id;
//! - on PostgreSQL, `audit_anchors` becomes append-only like `audit_events`, and pruning is no
//!   longer enabled by a setting any session can change: only the tables' owner (the role
//!   that migrates, which the API's runtime role is not) may delete old events.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    CallerRequestId,
    Seal,
}

#[derive(DeriveIden)]
enum AuditAnchors {
    Table,
    Seal,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // Adding columns rewrites no row, so the append-only triggers do not fire.
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(
                        ColumnDef::new(AuditEvents::CallerRequestId)
                            .string_len(64)
                            .null(),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditEvents::Table)
                    .add_column(ColumnDef::new(AuditEvents::Seal).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(AuditAnchors::Table)
                    .add_column(ColumnDef::new(AuditAnchors::Seal).string_len(64).null())
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let statements = [
            // The owner of the table is who migrates; the API's runtime role owns nothing
            // and has no DELETE privilege on the log (see the README's roles).
            "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql \
             SET search_path = pg_catalog, public, pg_temp AS $$ \
             BEGIN \
               IF TG_OP = 'DELETE' AND current_user = (SELECT tableowner FROM pg_catalog.pg_tables \
                   WHERE schemaname = TG_TABLE_SCHEMA AND tablename = TG_TABLE_NAME) THEN \
                 RETURN NULL; \
               END IF; \
               RAISE EXCEPTION '% is append-only', TG_TABLE_NAME USING ERRCODE = 'insufficient_privilege'; \
             END $$",
            "CREATE TRIGGER audit_anchors_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_anchors \
             FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()",
        ];
        crate::execute(manager, statements).await
    }
}
