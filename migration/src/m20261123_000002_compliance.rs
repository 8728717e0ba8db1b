//! The compliance officer's tables: consents with their history, erasure tombstones, legal
//! holds, the tenant's processing purposes, and the tenant settings for retention and purpose.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    AuditRetentionMonths,
    RequirePurpose,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    TenantId,
    Id,
    MatchesErasureId,
}

#[derive(DeriveIden)]
enum Consents {
    Table,
    TenantId,
    Id,
    ContactId,
    Purpose,
    Granted,
    LegalBasis,
    Source,
    RecordedAt,
    RecordedBy,
}

#[derive(DeriveIden)]
enum Erasures {
    Table,
    TenantId,
    Id,
    ContactId,
    CustomerId,
    EmailKey,
    PhoneKey,
    Reason,
    ErasedAt,
    ErasedBy,
    ActorRole,
    RequestId,
    Via,
}

#[derive(DeriveIden)]
enum LegalHolds {
    Table,
    TenantId,
    Id,
    Entity,
    EntityId,
    Reason,
    PlacedAt,
    PlacedBy,
    ReleasedAt,
    ReleasedBy,
}

#[derive(DeriveIden)]
enum ProcessingPurposes {
    Table,
    TenantId,
    Id,
    Name,
    Description,
    LegalBasis,
    Fields,
    RetentionMonths,
    CreatedAt,
    UpdatedAt,
}

const NEW_TENANT_TABLES: [&str; 4] = ["consents", "erasures", "legal_holds", "processing_purposes"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite adds one column per ALTER TABLE.
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(integer_null(Tenants::AuditRetentionMonths))
                    .to_owned(),
            )
            .await?;
        manager
            .alter_table(
                Table::alter()
                    .table(Tenants::Table)
                    .add_column(boolean(Tenants::RequirePurpose).default(false))
                    .to_owned(),
            )
            .await?;
        // The tombstone a re-imported person matched; no foreign key, so that the flag
        // stays meaningful whatever happens to the tombstone's own row.
        manager
            .alter_table(
                Table::alter()
                    .table(Contacts::Table)
                    .add_column(uuid_null(Contacts::MatchesErasureId))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Consents::Table)
                    .col(uuid(Consents::TenantId))
                    .col(uuid(Consents::Id))
                    .col(uuid(Consents::ContactId))
                    .col(string_len(Consents::Purpose, 64))
                    .col(boolean(Consents::Granted))
                    .col(string_len(Consents::LegalBasis, 32))
                    .col(string_len(Consents::Source, 200))
                    .col(timestamp_with_time_zone(Consents::RecordedAt))
                    .col(string_len(Consents::RecordedBy, 200))
                    .primary_key(Index::create().col(Consents::TenantId).col(Consents::Id))
                    // A consent is the person's: erasing the contact takes its history along.
                    .foreign_key(
                        ForeignKey::create()
                            .name("consents_contact_fk")
                            .from(Consents::Table, (Consents::TenantId, Consents::ContactId))
                            .to(Contacts::Table, (Contacts::TenantId, Contacts::Id))
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("consents_tenant_contact_purpose")
                    .table(Consents::Table)
                    .col(Consents::TenantId)
                    .col(Consents::ContactId)
                    .col(Consents::Purpose)
                    .col(Consents::RecordedAt)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Erasures::Table)
                    .col(uuid(Erasures::TenantId))
                    .col(uuid(Erasures::Id))
                    .col(uuid(Erasures::ContactId))
                    .col(uuid_null(Erasures::CustomerId))
                    .col(string_len_null(Erasures::EmailKey, 64))
                    .col(string_len_null(Erasures::PhoneKey, 64))
                    .col(string_len(Erasures::Reason, 500))
                    .col(timestamp_with_time_zone(Erasures::ErasedAt))
                    .col(string_len(Erasures::ErasedBy, 200))
                    .col(string_len(Erasures::ActorRole, 32))
                    .col(string_len(Erasures::RequestId, 64))
                    .col(string_len(Erasures::Via, 16))
                    .primary_key(Index::create().col(Erasures::TenantId).col(Erasures::Id))
                    .to_owned(),
            )
            .await?;
        for (name, column) in [
            ("erasures_tenant_email_key", Erasures::EmailKey),
            ("erasures_tenant_phone_key", Erasures::PhoneKey),
        ] {
            manager
                .create_index(
                    Index::create()
                        .name(name)
                        .table(Erasures::Table)
                        .col(Erasures::TenantId)
                        .col(column)
                        .to_owned(),
                )
                .await?;
        }

        manager
            .create_table(
                Table::create()
                    .table(LegalHolds::Table)
                    .col(uuid(LegalHolds::TenantId))
                    .col(uuid(LegalHolds::Id))
                    .col(string_len(LegalHolds::Entity, 32))
                    .col(uuid(LegalHolds::EntityId))
                    .col(string_len(LegalHolds::Reason, 500))
                    .col(timestamp_with_time_zone(LegalHolds::PlacedAt))
                    .col(string_len(LegalHolds::PlacedBy, 200))
                    .col(timestamp_with_time_zone_null(LegalHolds::ReleasedAt))
                    .col(string_len_null(LegalHolds::ReleasedBy, 200))
                    .primary_key(
                        Index::create()
                            .col(LegalHolds::TenantId)
                            .col(LegalHolds::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("legal_holds_tenant_entity")
                    .table(LegalHolds::Table)
                    .col(LegalHolds::TenantId)
                    .col(LegalHolds::EntityId)
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(ProcessingPurposes::Table)
                    .col(uuid(ProcessingPurposes::TenantId))
                    .col(uuid(ProcessingPurposes::Id))
                    .col(string_len(ProcessingPurposes::Name, 64))
                    .col(string_len(ProcessingPurposes::Description, 1000))
                    .col(string_len(ProcessingPurposes::LegalBasis, 32))
                    .col(json(ProcessingPurposes::Fields))
                    .col(integer_null(ProcessingPurposes::RetentionMonths))
                    .col(timestamp_with_time_zone(ProcessingPurposes::CreatedAt))
                    .col(timestamp_with_time_zone(ProcessingPurposes::UpdatedAt))
                    .primary_key(
                        Index::create()
                            .col(ProcessingPurposes::TenantId)
                            .col(ProcessingPurposes::Id),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("processing_purposes_tenant_name")
                    .table(ProcessingPurposes::Table)
                    .col(ProcessingPurposes::TenantId)
                    .col(ProcessingPurposes::Name)
                    .unique()
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() == DbBackend::Postgres {
            let walls: Vec<String> = NEW_TENANT_TABLES
                .iter()
                .flat_map(|table| crate::walls::tenant_isolation(table))
                .collect();
            crate::execute(manager, walls).await?;
        }
        Ok(())
    }
}
