//! Audit retention: anchors that let a tenant's hash chain start after pruned events, and on
//! PostgreSQL an append-only trigger that lets exactly one path delete — the retention run,
//! which says so in its own transaction (`app.audit_retention = on`). UPDATE and TRUNCATE
//! stay refused, and so does any other DELETE.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum AuditAnchors {
    Table,
    TenantId,
    Id,
    Seq,
    Hash,
    LastAt,
    PrunedAt,
    PrunedBy,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(AuditAnchors::Table)
                    .col(uuid(AuditAnchors::TenantId))
                    .col(uuid(AuditAnchors::Id))
                    .col(big_integer(AuditAnchors::Seq))
                    .col(string_len(AuditAnchors::Hash, 64))
                    .col(timestamp_with_time_zone(AuditAnchors::LastAt))
                    .col(timestamp_with_time_zone(AuditAnchors::PrunedAt))
                    .col(string_len(AuditAnchors::PrunedBy, 200))
                    .primary_key(
                        Index::create()
                            .col(AuditAnchors::TenantId)
                            .col(AuditAnchors::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("audit_anchors_tenant_seq")
                    .table(AuditAnchors::Table)
                    .col(AuditAnchors::TenantId)
                    .col(AuditAnchors::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            let mut statements = crate::walls::tenant_isolation("audit_anchors");
            statements.push(
                "CREATE OR REPLACE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
                 BEGIN \
                   IF TG_OP = 'DELETE' AND current_setting('app.audit_retention', true) = 'on' THEN RETURN NULL; END IF; \
                   RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege'; \
                 END $$"
                    .to_owned(),
            );
            crate::execute(manager, statements).await?;
        }
        Ok(())
    }
}
