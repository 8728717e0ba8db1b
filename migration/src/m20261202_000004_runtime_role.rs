//! The API's runtime role owns nothing (DESIGN §5, invariant 4): on PostgreSQL the tables
//! belong to the role that migrates, and the runtime role gets exactly the privileges the API
//! uses — no DELETE on anything audit, no UPDATE of the log, no DDL, so it can neither
//! disable a trigger nor row-level security, nor rewrite what it recorded.
//!
//! The privileges go to `dossier_runtime`, a role without login that operators create before
//! migrating and grant to the login role the API serves as (see the README). Without such a
//! role (SQLite, or a development setup with a single role) there is nothing to grant.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

/// What the API does to each table, and nothing more.
pub const RUNTIME_GRANTS: [(&str, &str); 12] = [
    ("customers", "SELECT, INSERT, UPDATE, DELETE"),
    ("contacts", "SELECT, INSERT, UPDATE, DELETE"),
    ("sales", "SELECT, INSERT, UPDATE, DELETE"),
    // Consents are history: added, and deleted only with their person (erasure).
    ("consents", "SELECT, INSERT, DELETE"),
    ("erasures", "SELECT, INSERT"),
    // Holds are released by an UPDATE, never deleted.
    ("legal_holds", "SELECT, INSERT, UPDATE"),
    ("processing_purposes", "SELECT, INSERT, UPDATE"),
    // Registrations are disabled, never deleted: tokens they accepted stay explained.
    ("identity_providers", "SELECT, INSERT, UPDATE"),
    // A tenant's settings; tenants are created by the owner (`dossier tenants create`).
    ("tenants", "SELECT, UPDATE"),
    ("audit_events", "SELECT, INSERT"),
    // Anchors are written by the retention run, as the owner.
    ("audit_anchors", "SELECT"),
    ("seaql_migrations", "SELECT"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        let grants: String = RUNTIME_GRANTS
            .iter()
            .map(|(table, privileges)| {
                format!("GRANT {privileges} ON {table} TO dossier_runtime; ")
            })
            .collect();
        // No temporary tables for anyone but the owner: a session's temporary table would come
        // first in its search path, before the tables the triggers read.
        let statements = [
            "DO $$ BEGIN \
               EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); \
             END $$"
                .to_owned(),
            format!(
                "DO $$ BEGIN \
                   IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dossier_runtime') THEN \
                     REVOKE ALL ON ALL TABLES IN SCHEMA public FROM dossier_runtime; \
                     {grants} \
                   END IF; \
                 END $$"
            ),
        ];
        crate::execute(manager, statements).await
    }
}
