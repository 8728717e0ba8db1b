//! `segments`: a tenant's named, saved customer filters. Names are unique per tenant.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::walls;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Segments {
    Table,
    TenantId,
    Id,
    Name,
    Description,
    Filter,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        use Segments as S;
        manager
            .create_table(
                Table::create()
                    .table(S::Table)
                    .col(uuid(S::TenantId))
                    .col(uuid(S::Id))
                    .col(string_len(S::Name, 100))
                    .col(text_null(S::Description))
                    .col(text(S::Filter))
                    .col(timestamp_with_time_zone(S::CreatedAt))
                    .col(timestamp_with_time_zone(S::UpdatedAt))
                    .primary_key(Index::create().col(S::TenantId).col(S::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("segments_tenant_fk")
                            .from(S::Table, S::TenantId)
                            .to(Alias::new("tenants"), Alias::new("id")),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("segments_tenant_name")
                    .table(S::Table)
                    .col(S::TenantId)
                    .col(S::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;
        walls::guard(manager, "segments", "SELECT, INSERT, UPDATE, DELETE", None).await
    }
}
