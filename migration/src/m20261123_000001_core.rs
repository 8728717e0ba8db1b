//! The core customer file: tenants, customers, contacts, sales and the audit log.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Tenants {
    Table,
    Id,
    Name,
    Slug,
    RetentionMonths,
    DefaultCurrency,
    CreatedAt,
}

#[derive(DeriveIden)]
enum Customers {
    Table,
    TenantId,
    Id,
    Name,
    RegistrationNumber,
    Country,
    BillingLine1,
    BillingLine2,
    BillingPostalCode,
    BillingCity,
    BillingCountry,
    AcquisitionChannel,
    ExternalRef,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Contacts {
    Table,
    TenantId,
    Id,
    CustomerId,
    FirstName,
    LastName,
    Email,
    Phone,
    Birthday,
    JobTitle,
    ExternalRef,
    CreatedAt,
    UpdatedAt,
}

#[derive(DeriveIden)]
enum Sales {
    Table,
    TenantId,
    Id,
    CustomerId,
    ContactId,
    Reference,
    Sku,
    Quantity,
    AmountScaled,
    Currency,
    SoldAt,
    ExternalRef,
    CreatedAt,
}

#[derive(DeriveIden)]
enum AuditEvents {
    Table,
    TenantId,
    Id,
    Seq,
    At,
    Actor,
    ActorRole,
    ClientId,
    RequestId,
    Action,
    Entity,
    EntityIds,
    Fields,
    Purpose,
    Outcome,
    PrevHash,
    Hash,
}

/// Tables whose rows belong to a tenant, for the row-level-security policies.
const TENANT_TABLES: [&str; 4] = ["customers", "contacts", "sales", "audit_events"];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .create_table(
                Table::create()
                    .table(Tenants::Table)
                    .col(uuid(Tenants::Id).primary_key())
                    .col(string_len(Tenants::Name, 200))
                    .col(string_len_uniq(Tenants::Slug, 100))
                    .col(integer_null(Tenants::RetentionMonths))
                    .col(string_len(Tenants::DefaultCurrency, 3))
                    .col(timestamp_with_time_zone(Tenants::CreatedAt))
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Customers::Table)
                    .col(uuid(Customers::TenantId))
                    .col(uuid(Customers::Id))
                    .col(string_len(Customers::Name, 200))
                    .col(string_len_null(Customers::RegistrationNumber, 32))
                    .col(string_len(Customers::Country, 2))
                    .col(string_len_null(Customers::BillingLine1, 200))
                    .col(string_len_null(Customers::BillingLine2, 200))
                    .col(string_len_null(Customers::BillingPostalCode, 20))
                    .col(string_len_null(Customers::BillingCity, 100))
                    .col(string_len_null(Customers::BillingCountry, 2))
                    .col(string_len_null(Customers::AcquisitionChannel, 32))
                    .col(string_len_null(Customers::ExternalRef, 100))
                    .col(timestamp_with_time_zone(Customers::CreatedAt))
                    .col(timestamp_with_time_zone(Customers::UpdatedAt))
                    .primary_key(Index::create().col(Customers::TenantId).col(Customers::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("customers_tenant_fk")
                            .from(Customers::Table, Customers::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Contacts::Table)
                    .col(uuid(Contacts::TenantId))
                    .col(uuid(Contacts::Id))
                    .col(uuid(Contacts::CustomerId))
                    .col(string_len_null(Contacts::FirstName, 100))
                    .col(string_len_null(Contacts::LastName, 100))
                    .col(string_len_null(Contacts::Email, 254))
                    .col(string_len_null(Contacts::Phone, 16))
                    .col(date_null(Contacts::Birthday))
                    .col(string_len_null(Contacts::JobTitle, 100))
                    .col(string_len_null(Contacts::ExternalRef, 100))
                    .col(timestamp_with_time_zone(Contacts::CreatedAt))
                    .col(timestamp_with_time_zone(Contacts::UpdatedAt))
                    .primary_key(Index::create().col(Contacts::TenantId).col(Contacts::Id))
                    // The tenant is part of the reference: the database itself refuses a
                    // contact of tenant A under a customer of tenant B.
                    .foreign_key(
                        ForeignKey::create()
                            .name("contacts_customer_fk")
                            .from(Contacts::Table, (Contacts::TenantId, Contacts::CustomerId))
                            .to(Customers::Table, (Customers::TenantId, Customers::Id)),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(Sales::Table)
                    .col(uuid(Sales::TenantId))
                    .col(uuid(Sales::Id))
                    .col(uuid(Sales::CustomerId))
                    .col(uuid_null(Sales::ContactId))
                    .col(string_len_null(Sales::Reference, 64))
                    .col(string_len(Sales::Sku, 64))
                    .col(integer(Sales::Quantity))
                    .col(big_integer(Sales::AmountScaled))
                    .col(string_len(Sales::Currency, 3))
                    .col(timestamp_with_time_zone(Sales::SoldAt))
                    .col(string_len_null(Sales::ExternalRef, 100))
                    .col(timestamp_with_time_zone(Sales::CreatedAt))
                    .primary_key(Index::create().col(Sales::TenantId).col(Sales::Id))
                    .foreign_key(
                        ForeignKey::create()
                            .name("sales_customer_fk")
                            .from(Sales::Table, (Sales::TenantId, Sales::CustomerId))
                            .to(Customers::Table, (Customers::TenantId, Customers::Id)),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("sales_contact_fk")
                            .from(Sales::Table, (Sales::TenantId, Sales::ContactId))
                            .to(Contacts::Table, (Contacts::TenantId, Contacts::Id)),
                    )
                    .to_owned(),
            )
            .await?;

        manager
            .create_table(
                Table::create()
                    .table(AuditEvents::Table)
                    .col(uuid(AuditEvents::TenantId))
                    .col(uuid(AuditEvents::Id))
                    .col(big_integer(AuditEvents::Seq))
                    .col(timestamp_with_time_zone(AuditEvents::At))
                    .col(string_len(AuditEvents::Actor, 200))
                    .col(string_len(AuditEvents::ActorRole, 32))
                    .col(string_len_null(AuditEvents::ClientId, 200))
                    .col(string_len(AuditEvents::RequestId, 64))
                    .col(string_len(AuditEvents::Action, 16))
                    .col(string_len(AuditEvents::Entity, 64))
                    .col(json(AuditEvents::EntityIds))
                    .col(json(AuditEvents::Fields))
                    .col(string_len_null(AuditEvents::Purpose, 200))
                    .col(string_len(AuditEvents::Outcome, 16))
                    .col(string_len(AuditEvents::PrevHash, 64))
                    .col(string_len(AuditEvents::Hash, 64))
                    .primary_key(
                        Index::create()
                            .col(AuditEvents::TenantId)
                            .col(AuditEvents::Id),
                    )
                    .foreign_key(
                        ForeignKey::create()
                            .name("audit_events_tenant_fk")
                            .from(AuditEvents::Table, AuditEvents::TenantId)
                            .to(Tenants::Table, Tenants::Id),
                    )
                    .to_owned(),
            )
            .await?;

        // A unique position per tenant: two concurrent appends can never fork the chain.
        manager
            .create_index(
                Index::create()
                    .name("audit_events_tenant_seq")
                    .table(AuditEvents::Table)
                    .col(AuditEvents::TenantId)
                    .col(AuditEvents::Seq)
                    .unique()
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("contacts_tenant_customer")
                    .table(Contacts::Table)
                    .col(Contacts::TenantId)
                    .col(Contacts::CustomerId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sales_tenant_customer_sold_at")
                    .table(Sales::Table)
                    .col(Sales::TenantId)
                    .col(Sales::CustomerId)
                    .col((Sales::SoldAt, IndexOrder::Desc))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("sales_tenant_contact")
                    .table(Sales::Table)
                    .col(Sales::TenantId)
                    .col(Sales::ContactId)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("customers_tenant_name")
                    .table(Customers::Table)
                    .col(Customers::TenantId)
                    .col(Customers::Name)
                    .to_owned(),
            )
            .await?;

        if manager.get_database_backend() == DbBackend::Postgres {
            postgres_walls(manager).await?;
        }
        Ok(())
    }
}

/// PostgreSQL only: row-level security as a second wall behind the API's own tenant filter,
/// and an audit log that refuses UPDATE and DELETE.
///
/// `FORCE` makes the policies bind the tables' owner too, so the API may run its migrations
/// and serve as the same (non-superuser, NOBYPASSRLS) role. `NULLIF` because a pooled
/// connection that once had the setting reads `''` afterwards, which would not cast.
async fn postgres_walls(manager: &SchemaManager<'_>) -> Result<(), DbErr> {
    let current = crate::walls::CURRENT_TENANT;
    let mut sql = vec![
        "ALTER TABLE tenants ENABLE ROW LEVEL SECURITY".to_owned(),
        "ALTER TABLE tenants FORCE ROW LEVEL SECURITY".to_owned(),
        format!(
            "CREATE POLICY tenant_isolation ON tenants USING (id = {current}) WITH CHECK (id = {current})"
        ),
    ];
    for table in TENANT_TABLES {
        sql.extend(crate::walls::tenant_isolation(table));
    }
    sql.push(
        "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ \
         BEGIN RAISE EXCEPTION 'audit_events is append-only' USING ERRCODE = 'insufficient_privilege'; END $$"
            .to_owned(),
    );
    sql.push(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events \
         FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
            .to_owned(),
    );
    crate::execute(manager, sql).await
}
