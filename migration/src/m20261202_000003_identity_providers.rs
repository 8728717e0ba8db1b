//! `identity_providers`: the external identity providers a tenant trusts (DESIGN §4: a key
//! grants only what its owner registered). Each row binds an issuer and its public keys to
//! one tenant, with the roles and scopes its tokens may carry; a token signed by those keys
//! that claims another tenant, another role or more scopes is refused.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum IdentityProviders {
    Table,
    TenantId,
    Id,
    Name,
    Issuer,
    Keys,
    Roles,
    Scopes,
    CreatedAt,
    CreatedBy,
    DisabledAt,
    DisabledBy,
}

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(IdentityProviders::Table)
                    .col(uuid(IdentityProviders::TenantId))
                    .col(uuid(IdentityProviders::Id))
                    .col(string_len(IdentityProviders::Name, 200))
                    .col(string_len(IdentityProviders::Issuer, 500))
                    .col(text(IdentityProviders::Keys))
                    .col(string_len(IdentityProviders::Roles, 200))
                    .col(string_len(IdentityProviders::Scopes, 500))
                    .col(timestamp_with_time_zone(IdentityProviders::CreatedAt))
                    .col(string_len(IdentityProviders::CreatedBy, 200))
                    .col(timestamp_with_time_zone_null(IdentityProviders::DisabledAt))
                    .col(string_len_null(IdentityProviders::DisabledBy, 200))
                    .primary_key(
                        Index::create()
                            .col(IdentityProviders::TenantId)
                            .col(IdentityProviders::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("identity_providers_tenant_fk")
                            .from(IdentityProviders::Table, IdentityProviders::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("identity_providers_tenant_issuer")
                    .table(IdentityProviders::Table)
                    .col(IdentityProviders::TenantId)
                    .col(IdentityProviders::Issuer)
                    .to_owned(),
            )
            .await?;
        if manager.get_database_backend() == DbBackend::Postgres {
            crate::execute(
                manager,
                crate::walls::tenant_isolation("identity_providers"),
            )
            .await?;
        }
        Ok(())
    }
}
