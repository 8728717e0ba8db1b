//! `interactions`: each customer's timeline (web visits, emails, downloads, calls, meetings,
//! support tickets), newest first by customer, by person and by tenant. Deleted with their
//! customer by the API (with audit events), never by a database cascade; held with their
//! customer or person like the rest of the record.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

use crate::walls;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum I {
    #[sea_orm(iden = "interactions")]
    Table,
    TenantId,
    Id,
    CustomerId,
    ContactId,
    Kind,
    Channel,
    OccurredAt,
    Subject,
    Summary,
    Source,
    ExternalRef,
    CreatedAt,
    UpdatedAt,
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(I::Table)
                    .col(uuid(I::TenantId))
                    .col(uuid(I::Id))
                    .col(uuid(I::CustomerId))
                    .col(uuid_null(I::ContactId))
                    .col(string_len(I::Kind, 32))
                    .col(string_len_null(I::Channel, 64))
                    .col(timestamp_with_time_zone(I::OccurredAt))
                    .col(string_len_null(I::Subject, 200))
                    .col(text_null(I::Summary))
                    .col(string_len_null(I::Source, 64))
                    .col(string_len_null(I::ExternalRef, 100))
                    .col(timestamp_with_time_zone(I::CreatedAt))
                    .col(timestamp_with_time_zone(I::UpdatedAt))
                    .primary_key(Index::create().col(I::TenantId).col(I::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("interactions_customer_fk")
                            .from(I::Table, (I::TenantId, I::CustomerId))
                            .to(
                                Alias::new("customers"),
                                (Alias::new("tenant_id"), Alias::new("id")),
                            ),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("interactions_contact_fk")
                            .from(I::Table, (I::TenantId, I::ContactId))
                            .to(
                                Alias::new("contacts"),
                                (Alias::new("tenant_id"), Alias::new("id")),
                            ),
                    )
                    .to_owned(),
            )
            .await?;
        for (name, by) in [
            ("interactions_by_customer", Some(I::CustomerId)),
            ("interactions_by_contact", Some(I::ContactId)),
            ("interactions_by_time", None),
        ] {
            let mut index = Index::create();
            index.name(name).table(I::Table).col(I::TenantId);
            if let Some(by) = by {
                index.col(by);
            }
            manager
                .create_index(index.col(I::OccurredAt).col(I::Id).to_owned())
                .await?;
        }
        walls::guard(
            manager,
            "interactions",
            "SELECT, INSERT, UPDATE, DELETE",
            // Part of the held customer's or person's record.
            Some(("UPDATE OR DELETE", "OLD.customer_id, OLD.contact_id")),
        )
        .await
    }
}
