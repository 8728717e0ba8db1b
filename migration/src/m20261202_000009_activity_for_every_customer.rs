//! Every customer has its `customer_activity` row from the moment it exists (zeros and
//! `NULL`s until it buys or is contacted), kept by a trigger on `customers`; and the activity
//! dates a filter reads are indexed. A filter such as "no purchase yet" then reads the few rows
//! that match (`IN`) instead of every customer's row to exclude (`NOT IN`).

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

#[derive(DeriveMigrationName)]
pub struct Migration;

const ZERO_ROW: &str = "(tenant_id, customer_id, sales_count, first_purchase_at, last_purchase_at, \
     last_purchase_scaled, last_purchase_currency, interactions_count, last_interaction_at)";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let insert_for = |tenant: &str, customer: &str| {
            format!(
                "INSERT INTO customer_activity {ZERO_ROW} \
                 VALUES ({tenant}, {customer}, 0, NULL, NULL, NULL, NULL, 0, NULL)"
            )
        };
        let backfill = format!(
            "INSERT INTO customer_activity {ZERO_ROW} \
             SELECT c.tenant_id, c.id, 0, NULL, NULL, NULL, NULL, 0, NULL FROM customers c \
             WHERE NOT EXISTS (SELECT 1 FROM customer_activity a \
               WHERE a.tenant_id = c.tenant_id AND a.customer_id = c.id)"
        );
        let mut statements = Vec::new();
        match backend {
            DbBackend::Postgres => {
                // The owner reads every tenant's customers for the backfill.
                statements.extend(crate::walls::across_tenants(
                    &["customers", "customer_activity"],
                    vec![backfill],
                ));
                statements.push(format!(
                    "CREATE FUNCTION customers_activity_row() RETURNS trigger LANGUAGE plpgsql \
                     SET search_path = pg_catalog, public, pg_temp AS $$ \
                     BEGIN {}; RETURN NULL; END $$",
                    insert_for("NEW.tenant_id", "NEW.id")
                ));
                statements.push(
                    "CREATE TRIGGER customers_activity_row AFTER INSERT ON customers \
                     FOR EACH ROW EXECUTE FUNCTION customers_activity_row()"
                        .to_owned(),
                );
            }
            _ => {
                statements.push(backfill);
                statements.push(format!(
                    "CREATE TRIGGER customers_activity_row AFTER INSERT ON customers BEGIN {}; END",
                    insert_for("NEW.tenant_id", "NEW.id")
                ));
            }
        }
        for column in ["last_purchase_at", "last_interaction_at"] {
            statements.push(format!(
                "CREATE INDEX customer_activity_{column} ON customer_activity ({column})"
            ));
        }
        crate::execute(manager, statements).await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let mut statements =
            vec!["DROP TRIGGER IF EXISTS customers_activity_row ON customers".to_owned()];
        if manager.get_database_backend() == DbBackend::Postgres {
            statements.push("DROP FUNCTION IF EXISTS customers_activity_row()".to_owned());
        } else {
            statements[0] = "DROP TRIGGER IF EXISTS customers_activity_row".to_owned();
        }
        for column in ["last_purchase_at", "last_interaction_at"] {
            statements.push(format!("DROP INDEX IF EXISTS customer_activity_{column}"));
        }
        crate::execute(manager, statements).await
    }
}
