//! Every customer has its `customer_totals` row in its tenant's default currency from the
//! moment it exists (zeros until it buys in that currency), and the money a customer list is
//! ordered by is indexed. Ordering customers by twelve-month or total spend then joins the one
//! row each has and reads the page in the index's order — the top 50 of 20,000 customers read
//! 51 rows instead of joining and sorting every one.
//!
//! The row is kept by whatever can take it away or make it due: a customer's insert, the
//! per-customer recompute (which deletes and rebuilds a customer's totals from its sales), and
//! a change of the tenant's default currency. The API hides rows without sales.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261202_000006_customer_stats::{self as stats, EPOCH};

#[derive(DeriveMigrationName)]
pub struct Migration;

/// The zero row of each customer `customers` selects (from `customers c`, with its
/// conditions), in the tenant's default currency, unless it has one.
fn zero_rows(customers: &str) -> String {
    format!(
        "INSERT INTO customer_totals (tenant_id, customer_id, currency, sales_count, total_high, \
         total_low, last_purchase_at, recent_high, recent_low, recent_since) \
         SELECT c.tenant_id, c.id, t.default_currency, 0, 0, 0, NULL, 0, 0, {EPOCH} \
         FROM customers c JOIN tenants t ON t.id = c.tenant_id {customers} \
         ON CONFLICT DO NOTHING"
    )
}

/// The recompute of one customer, now ending with its zero row.
pub(crate) fn refresh(tenant: &str, customer: &str) -> Vec<String> {
    let mut statements = stats::refresh(tenant, customer);
    statements.push(zero_rows(&format!(
        "WHERE c.tenant_id = {tenant} AND c.id = {customer}"
    )));
    statements
}

/// Every customer's zero row (for the rows that existed before this migration, and for
/// operators' rebuilds after a bulk load).
pub fn backfill() -> Vec<String> {
    vec![zero_rows("WHERE TRUE")]
}

/// The indexes an ordering by money reads its page from, in the order it asks for most:
/// the largest first, then by id.
const MONEY_ORDER_INDEXES: [(&str, &str); 2] = [
    ("customer_totals_recent_order", "recent"),
    ("customer_totals_total_order", "total"),
];

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let backend = manager.get_database_backend();
        let mut statements = Vec::new();
        for (name, prefix) in MONEY_ORDER_INDEXES {
            statements.push(format!(
                "CREATE INDEX {name} ON customer_totals \
                 (tenant_id, currency, {prefix}_high DESC, {prefix}_low DESC, customer_id)"
            ));
        }
        // A tenant's rows can only be updated under that tenant (row-level security), so the
        // customers the trigger selects are that tenant's.
        let on_new_currency = zero_rows(
            "WHERE c.tenant_id = NEW.id AND NEW.default_currency <> OLD.default_currency",
        );
        let on_new_customer = zero_rows("WHERE c.tenant_id = NEW.tenant_id AND c.id = NEW.id");
        match backend {
            DbBackend::Postgres => {
                statements.extend(crate::walls::across_tenants(
                    &["customers", "customer_totals", "tenants"],
                    backfill(),
                ));
                statements.push(stats::refresh_function(refresh, true));
                // A customer inserted while the currency changes reads the old currency (its
                // snapshot) and would get its row in it: the change waits for such inserts to
                // commit, and later ones wait for the change.
                let on_new_currency =
                    format!("LOCK TABLE customers IN SHARE MODE; {on_new_currency}");
                for (function, body) in [
                    ("tenants_default_totals", &on_new_currency),
                    ("customers_default_totals", &on_new_customer),
                ] {
                    statements.push(format!(
                        "CREATE FUNCTION {function}() RETURNS trigger LANGUAGE plpgsql \
                         SET search_path = pg_catalog, public, pg_temp AS $$ \
                         BEGIN {body}; RETURN NULL; END $$"
                    ));
                }
                statements.push(
                    "CREATE TRIGGER tenants_default_totals AFTER UPDATE OF default_currency \
                     ON tenants FOR EACH ROW \
                     WHEN (NEW.default_currency IS DISTINCT FROM OLD.default_currency) \
                     EXECUTE FUNCTION tenants_default_totals()"
                        .to_owned(),
                );
                statements.push(
                    "CREATE TRIGGER customers_default_totals AFTER INSERT ON customers \
                     FOR EACH ROW EXECUTE FUNCTION customers_default_totals()"
                        .to_owned(),
                );
            }
            _ => {
                statements.extend(backfill());
                for table in ["sales", "interactions"] {
                    for name in stats::sqlite_trigger_names(table) {
                        statements.push(format!("DROP TRIGGER {name}"));
                    }
                    statements.extend(stats::triggers(backend, table, refresh));
                }
                statements.push(format!(
                    "CREATE TRIGGER tenants_default_totals AFTER UPDATE OF default_currency \
                     ON tenants BEGIN {on_new_currency}; END"
                ));
                statements.push(format!(
                    "CREATE TRIGGER customers_default_totals AFTER INSERT ON customers \
                     BEGIN {on_new_customer}; END"
                ));
            }
        }
        crate::execute(manager, statements).await
    }
}
