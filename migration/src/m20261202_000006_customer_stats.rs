//! Customer aggregates kept by the database: per customer and currency, the sales count, the
//! total and the last purchase (`customer_totals`); per customer, the sales count, first and
//! last purchase, the last purchase's amount, the interactions count and the last interaction
//! (`customer_activity`). Triggers on `sales` and `interactions` recompute a customer's rows
//! from its own rows whenever one changes, by whatever path — the API, an import, SQL — so
//! filtering and sorting customers on them reads one row per customer instead of every sale.
//!
//! Sums are kept exact as two halves, `high · 2^32 + low` with `0 ≤ low < 2^32`, which compare
//! exactly as pairs on both backends. The spend of the last twelve months depends on the day;
//! the API recomputes it for a tenant's rows whose `recent_since` is before the current window
//! start (the triggers set it to the epoch), so it is exact for the window the caller sees.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::walls;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Totals {
    #[sea_orm(iden = "customer_totals")]
    Table,
    TenantId,
    CustomerId,
    Currency,
    SalesCount,
    TotalHigh,
    TotalLow,
    LastPurchaseAt,
    RecentHigh,
    RecentLow,
    RecentSince,
}

#[derive(DeriveIden)]
enum Activity {
    #[sea_orm(iden = "customer_activity")]
    Table,
    TenantId,
    CustomerId,
    SalesCount,
    FirstPurchaseAt,
    LastPurchaseAt,
    LastPurchaseScaled,
    LastPurchaseCurrency,
    InteractionsCount,
    LastInteractionAt,
}

/// The `recent_since` of rows whose twelve-month spend must be recomputed before it is read:
/// earlier than any window, so the API finds them with an index range scan.
pub(crate) const EPOCH: &str = "'1970-01-01T00:00:00+00:00'";

/// The statements that recompute the aggregates of the customer `(tenant, customer)` (SQL
/// expressions: `NEW.…`, `OLD.…`, a function's parameters) from its sales and interactions.
pub fn refresh(tenant: &str, customer: &str) -> Vec<String> {
    recompute(Some((tenant, customer)))
}

/// The statements that recompute the aggregates of one customer, or of every customer.
fn recompute(only: Option<(&str, &str)>) -> Vec<String> {
    let (rows, sales, customers) = match only {
        Some((tenant, customer)) => (
            format!(" WHERE tenant_id = {tenant} AND customer_id = {customer}"),
            format!(" WHERE s.tenant_id = {tenant} AND s.customer_id = {customer}"),
            format!(" WHERE c.tenant_id = {tenant} AND c.id = {customer}"),
        ),
        None => Default::default(),
    };
    let s = "s.tenant_id = c.tenant_id AND s.customer_id = c.id";
    let i = "i.tenant_id = c.tenant_id AND i.customer_id = c.id";
    let latest = |column: &str| {
        format!(
            "(SELECT s.{column} FROM sales s WHERE {s} ORDER BY s.sold_at DESC, s.id DESC LIMIT 1)"
        )
    };
    vec![
        format!("DELETE FROM customer_totals{rows}"),
        format!(
            "INSERT INTO customer_totals (tenant_id, customer_id, currency, sales_count, total_high, \
             total_low, last_purchase_at, recent_high, recent_low, recent_since) \
             SELECT s.tenant_id, s.customer_id, s.currency, COUNT(*), \
             CAST(SUM(s.amount_scaled / 4294967296) AS BIGINT) \
               + CAST(SUM(s.amount_scaled % 4294967296) AS BIGINT) / 4294967296, \
             CAST(SUM(s.amount_scaled % 4294967296) AS BIGINT) % 4294967296, \
             MAX(s.sold_at), 0, 0, {EPOCH} \
             FROM sales s{sales} GROUP BY s.tenant_id, s.customer_id, s.currency"
        ),
        format!("DELETE FROM customer_activity{rows}"),
        format!(
            "INSERT INTO customer_activity (tenant_id, customer_id, sales_count, first_purchase_at, \
             last_purchase_at, last_purchase_scaled, last_purchase_currency, interactions_count, \
             last_interaction_at) \
             SELECT c.tenant_id, c.id, \
             (SELECT COUNT(*) FROM sales s WHERE {s}), \
             (SELECT MIN(s.sold_at) FROM sales s WHERE {s}), \
             (SELECT MAX(s.sold_at) FROM sales s WHERE {s}), \
             {}, {}, \
             (SELECT COUNT(*) FROM interactions i WHERE {i}), \
             (SELECT MAX(i.occurred_at) FROM interactions i WHERE {i}) \
             FROM customers c{customers}",
            latest("amount_scaled"),
            latest("currency"),
        ),
    ]
}

/// The statements that recompute one customer's aggregates, as a function of the SQL
/// expressions naming its tenant and id ([`refresh`] here; a later migration adds to it).
pub type Refresh = fn(&str, &str) -> Vec<String>;

/// PostgreSQL: `dossier_refresh_customer(p_tenant, p_customer)`, which runs `refresh` for one
/// customer (created, or replaced when `replace`).
pub fn refresh_function(refresh: Refresh, replace: bool) -> String {
    format!(
        // The customer's row is locked first, so that two transactions changing the same
        // customer's sales recompute one after the other, each seeing the other's. NO KEY
        // UPDATE: the foreign-key checks of the inserts that fired the trigger hold KEY SHARE
        // on the same row, which a plain FOR UPDATE would deadlock on.
        "CREATE {}FUNCTION dossier_refresh_customer(p_tenant uuid, p_customer uuid) \
         RETURNS void LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$ \
         BEGIN \
           PERFORM 1 FROM customers WHERE tenant_id = p_tenant AND id = p_customer FOR NO KEY UPDATE; \
           {} \
         END $$",
        if replace { "OR REPLACE " } else { "" },
        crate::body(refresh("p_tenant", "p_customer"))
    )
}

/// SQLite: the names of the triggers [`triggers`] creates on `table`.
pub fn sqlite_trigger_names(table: &str) -> [String; 3] {
    ["insert", "update", "delete"].map(|op| format!("{table}_stats_{op}"))
}

/// Triggers on `table` (`sales`, `interactions`) that refresh the customer a row names, before
/// and after the change (on PostgreSQL by calling `dossier_refresh_customer`; SQLite triggers
/// run `refresh` themselves).
pub fn triggers(backend: DbBackend, table: &str, refresh: Refresh) -> Vec<String> {
    match backend {
        DbBackend::Postgres => vec![
            trigger_function(table, "", false),
            format!(
                "CREATE TRIGGER {table}_customer_stats AFTER INSERT OR UPDATE OR DELETE ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION {table}_customer_stats()"
            ),
        ],
        _ => {
            let body = |rows: &[&str]| {
                crate::body(rows.iter().flat_map(|row| {
                    refresh(&format!("{row}.tenant_id"), &format!("{row}.customer_id"))
                }))
            };
            let [insert, update, delete] = sqlite_trigger_names(table);
            vec![
                format!(
                    "CREATE TRIGGER {insert} AFTER INSERT ON {table} BEGIN {} END",
                    body(&["NEW"])
                ),
                format!(
                    "CREATE TRIGGER {update} AFTER UPDATE ON {table} BEGIN {} END",
                    body(&["OLD", "NEW"])
                ),
                format!(
                    "CREATE TRIGGER {delete} AFTER DELETE ON {table} BEGIN {} END",
                    body(&["OLD"])
                ),
            ]
        }
    }
}

/// PostgreSQL: `{table}_customer_stats()`, the trigger function refreshing the customers a row
/// names; `first` runs before, and may end the call (`RETURN NULL`) when it did the work itself.
pub fn trigger_function(table: &str, first: &str, replace: bool) -> String {
    format!(
        "CREATE {}FUNCTION {table}_customer_stats() RETURNS trigger LANGUAGE plpgsql \
         SET search_path = pg_catalog, public, pg_temp AS $$ \
         BEGIN \
           {first} \
           IF TG_OP <> 'INSERT' THEN \
             PERFORM dossier_refresh_customer(OLD.tenant_id, OLD.customer_id); \
           END IF; \
           IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.customer_id <> OLD.customer_id) THEN \
             PERFORM dossier_refresh_customer(NEW.tenant_id, NEW.customer_id); \
           END IF; \
           RETURN NULL; \
         END $$",
        if replace { "OR REPLACE " } else { "" }
    )
}

/// Every customer's aggregates, from scratch (the rows that existed before this migration).
pub fn backfill() -> Vec<String> {
    recompute(None)
}

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        let customer_fk = |name: &str, table: Alias, columns: (Alias, Alias)| {
            ForeignKey::create()
                .name(name)
                .from(table, columns)
                .to(
                    Alias::new("customers"),
                    (Alias::new("tenant_id"), Alias::new("id")),
                )
                // Derived data: it goes with its customer.
                .on_delete(ForeignKeyAction::Cascade)
                .to_owned()
        };
        let key = || (Alias::new("tenant_id"), Alias::new("customer_id"));
        manager
            .create_table(
                Table::create()
                    .table(Totals::Table)
                    .col(uuid(Totals::TenantId))
                    .col(uuid(Totals::CustomerId))
                    .col(string_len(Totals::Currency, 3))
                    .col(big_integer(Totals::SalesCount))
                    .col(big_integer(Totals::TotalHigh))
                    .col(big_integer(Totals::TotalLow))
                    .col(timestamp_with_time_zone_null(Totals::LastPurchaseAt))
                    .col(big_integer(Totals::RecentHigh))
                    .col(big_integer(Totals::RecentLow))
                    .col(timestamp_with_time_zone(Totals::RecentSince))
                    .primary_key(
                        Index::create()
                            .col(Totals::TenantId)
                            .col(Totals::CustomerId)
                            .col(Totals::Currency),
                    )
                    .foreign_key(&mut customer_fk(
                        "customer_totals_customer_fk",
                        Alias::new("customer_totals"),
                        key(),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_table(
                Table::create()
                    .table(Activity::Table)
                    .col(uuid(Activity::TenantId))
                    .col(uuid(Activity::CustomerId))
                    .col(big_integer(Activity::SalesCount))
                    .col(timestamp_with_time_zone_null(Activity::FirstPurchaseAt))
                    .col(timestamp_with_time_zone_null(Activity::LastPurchaseAt))
                    .col(big_integer_null(Activity::LastPurchaseScaled))
                    .col(string_len_null(Activity::LastPurchaseCurrency, 3))
                    .col(big_integer(Activity::InteractionsCount))
                    .col(timestamp_with_time_zone_null(Activity::LastInteractionAt))
                    .primary_key(
                        Index::create()
                            .col(Activity::TenantId)
                            .col(Activity::CustomerId),
                    )
                    .foreign_key(&mut customer_fk(
                        "customer_activity_customer_fk",
                        Alias::new("customer_activity"),
                        key(),
                    ))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("customer_totals_window")
                    .table(Totals::Table)
                    .col(Totals::TenantId)
                    .col(Totals::RecentSince)
                    .to_owned(),
            )
            .await?;
        let backend = manager.get_database_backend();
        let mut statements = Vec::new();
        if backend == DbBackend::Postgres {
            // The owner reads every tenant's rows for the backfill, then the walls go up.
            statements.extend(walls::across_tenants(
                &["customers", "sales", "interactions"],
                backfill(),
            ));
            statements.push(refresh_function(refresh, false));
        } else {
            statements.extend(backfill());
        }
        for table in ["sales", "interactions"] {
            statements.extend(triggers(backend, table, refresh));
        }
        crate::execute(manager, statements).await?;
        for table in ["customer_totals", "customer_activity"] {
            walls::guard(manager, table, "SELECT, INSERT, UPDATE, DELETE", None).await?;
        }
        Ok(())
    }
}
