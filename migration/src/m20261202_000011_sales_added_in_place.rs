//! A new sale is added to its customer's aggregates in place — one more sale, its amount added
//! to the currency's total, the first and last purchase moved if it is earlier or later —
//! instead of the customer's aggregates being recomputed from all its sales. The recompute read
//! every sale of the customer on every insert, inside the write's critical section: a customer
//! with 2,000 sales made each new sale read 2,000 rows.
//!
//! The result is the recompute's, row for row (a test compares them): amounts are never
//! negative through the API, and for non-negative amounts adding to the stored halves
//! (`high · 2^32 + low`, `0 ≤ low < 2^32`) gives the halves a recompute gives. The insert still
//! recomputes when that does not hold — a negative amount written by SQL — and when another sale
//! of the customer has the same time, where the recompute's order (time, then id) decides which
//! is the last purchase. Updates and deletes recompute, as before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::m20261202_000006_customer_stats::{self as stats, EPOCH};
use crate::m20261202_000010_totals_for_every_customer as totals;

#[derive(DeriveMigrationName)]
pub struct Migration;

const HALF: &str = "4294967296";

/// Whether the sale `NEW` can be added in place.
fn addable() -> String {
    "NEW.amount_scaled >= 0 AND NOT EXISTS (SELECT 1 FROM sales s \
     WHERE s.tenant_id = NEW.tenant_id AND s.customer_id = NEW.customer_id \
     AND s.sold_at = NEW.sold_at AND s.id <> NEW.id)"
        .to_owned()
}

/// The statements adding the sale `NEW` to its customer's aggregates.
fn add() -> Vec<String> {
    let later = |column: &str| {
        format!(
            "customer_activity.last_purchase_at IS NULL OR NEW.sold_at > customer_activity.last_purchase_at THEN NEW.{column}"
        )
    };
    vec![
        format!(
            "INSERT INTO customer_totals (tenant_id, customer_id, currency, sales_count, \
             total_high, total_low, last_purchase_at, recent_high, recent_low, recent_since) \
             VALUES (NEW.tenant_id, NEW.customer_id, NEW.currency, 1, NEW.amount_scaled / {HALF}, \
             NEW.amount_scaled % {HALF}, NEW.sold_at, 0, 0, {EPOCH}) \
             ON CONFLICT (tenant_id, customer_id, currency) DO UPDATE SET \
             sales_count = customer_totals.sales_count + 1, \
             total_high = customer_totals.total_high + excluded.total_high + (customer_totals.total_low + excluded.total_low) / {HALF}, \
             total_low = (customer_totals.total_low + excluded.total_low) % {HALF}, \
             last_purchase_at = CASE WHEN customer_totals.last_purchase_at IS NULL \
               OR excluded.last_purchase_at > customer_totals.last_purchase_at \
               THEN excluded.last_purchase_at ELSE customer_totals.last_purchase_at END, \
             recent_high = 0, recent_low = 0, recent_since = {EPOCH}"
        ),
        // Every right-hand side reads the row as it was. (SQLite takes no alias for the table
        // of an INSERT in a trigger: the tables are named.)
        format!(
            "INSERT INTO customer_activity (tenant_id, customer_id, sales_count, \
             first_purchase_at, last_purchase_at, last_purchase_scaled, last_purchase_currency, \
             interactions_count, last_interaction_at) \
             VALUES (NEW.tenant_id, NEW.customer_id, 1, NEW.sold_at, NEW.sold_at, \
             NEW.amount_scaled, NEW.currency, 0, NULL) \
             ON CONFLICT (tenant_id, customer_id) DO UPDATE SET \
             sales_count = customer_activity.sales_count + 1, \
             first_purchase_at = CASE WHEN customer_activity.first_purchase_at IS NULL \
               OR NEW.sold_at < customer_activity.first_purchase_at THEN NEW.sold_at ELSE customer_activity.first_purchase_at END, \
             last_purchase_at = CASE WHEN {} ELSE customer_activity.last_purchase_at END, \
             last_purchase_scaled = CASE WHEN {} ELSE customer_activity.last_purchase_scaled END, \
             last_purchase_currency = CASE WHEN {} ELSE customer_activity.last_purchase_currency END",
            later("sold_at"),
            later("amount_scaled"),
            later("currency"),
        ),
    ]
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let statements = match manager.get_database_backend() {
            DbBackend::Postgres => {
                // The customer's row is locked before the check, as the recompute locks it:
                // a concurrent sale of the same customer at the same time is then seen.
                let first = format!(
                    "IF TG_OP = 'INSERT' THEN \
                       PERFORM 1 FROM customers WHERE tenant_id = NEW.tenant_id \
                         AND id = NEW.customer_id FOR NO KEY UPDATE; \
                       IF {} THEN {}RETURN NULL; END IF; \
                     END IF;",
                    addable(),
                    crate::body(add())
                );
                vec![stats::trigger_function("sales", &first, true)]
            }
            _ => {
                // Two triggers whose conditions the statements of either cannot change (the
                // sales themselves), so exactly one runs whatever their order.
                let [insert, _, _] = stats::sqlite_trigger_names("sales");
                let recompute = crate::body(totals::refresh("NEW.tenant_id", "NEW.customer_id"));
                let add = crate::body(add());
                vec![
                    format!("DROP TRIGGER {insert}"),
                    format!(
                        "CREATE TRIGGER {insert} AFTER INSERT ON sales WHEN NOT ({}) \
                         BEGIN {recompute}END",
                        addable()
                    ),
                    format!(
                        "CREATE TRIGGER sales_stats_added AFTER INSERT ON sales WHEN {} \
                         BEGIN {add}END",
                        addable()
                    ),
                ]
            }
        };
        crate::execute(manager, statements).await
    }
}
