//! PostgreSQL: a change to a customer's sales or interactions no longer updates the customer's
//! aggregates in the writing transaction. It queues the customer in `customer_stats_due`, and
//! the first reader of the tenant's aggregates folds the queue: it recomputes every queued
//! customer, in its own transaction, before it reads (`dossier_fold_customer_stats`, which the
//! API calls wherever it brings the twelve-month window up to date).
//!
//! Why: every sale of a customer updated the same two aggregate rows and locked the customer's
//! row until its commit, so concurrent sales of one customer committed one after the other —
//! most backends under a sales load waited on those row locks. A queue row conflicts with
//! nothing, so writers never wait on each other's aggregates; readers pay once per batch of
//! changes instead of every write paying for every other.
//!
//! The API also folds every tenant's queue every few seconds, so that it stays short when
//! nobody reads the figures: `customer_stats_due_tenants()`, owned by the tables' owner, lists
//! the tenants with queued customers (a policy lets the owner see the queue across tenants;
//! the function returns tenant ids alone).
//!
//! A fold is a recompute, so it is right whatever it races: a change that commits after the
//! fold took its rows from the queue left its own row there and is folded by the next reader.
//! A fold skips the queued rows and the customers other transactions hold, so folds do not
//! queue behind each other or behind writes to a customer; what it skips shows once its holder
//! commits. The API folds, for a request that has not written, in a short transaction of its
//! own committed before the request reads (a request that wrote folds its own changes in its
//! transaction). SQLite is unchanged: its one writer never waits on another, and it adds a sale
//! in place as before.

use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::DbBackend;

use crate::walls;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[derive(DeriveIden)]
enum Due {
    #[sea_orm(iden = "customer_stats_due")]
    Table,
    TenantId,
    CustomerId,
}

/// PostgreSQL: `{table}_customer_stats()` queues the customers a changed row names.
fn queueing_trigger_function(table: &str) -> String {
    let queue = |row: &str| {
        format!(
            "INSERT INTO customer_stats_due (tenant_id, customer_id) \
             VALUES ({row}.tenant_id, {row}.customer_id);"
        )
    };
    format!(
        "CREATE OR REPLACE FUNCTION {table}_customer_stats() RETURNS trigger LANGUAGE plpgsql \
         SET search_path = pg_catalog, public, pg_temp AS $$ \
         BEGIN \
           IF TG_OP <> 'INSERT' THEN {} END IF; \
           IF TG_OP = 'INSERT' OR (TG_OP = 'UPDATE' AND NEW.customer_id <> OLD.customer_id) THEN \
             {} \
           END IF; \
           RETURN NULL; \
         END $$",
        queue("OLD"),
        queue("NEW"),
    )
}

/// PostgreSQL: `dossier_fold_customer_stats(p_tenant, p_limit)` takes up to `p_limit` (all when
/// `NULL`) of the tenant's queued rows and recomputes their customers, in id order; returns how
/// many rows it took off the queue, less those it put back. It skips queued rows another fold
/// holds (that fold recomputes them), and customers whose row another transaction holds — a
/// write to the customer, or another fold — whose rows go back on the queue for a later fold.
/// Queued rows of customers that no longer exist are dropped.
const FOLD_FUNCTION: &str = "CREATE FUNCTION dossier_fold_customer_stats(p_tenant uuid, \
     p_limit integer DEFAULT NULL) \
     RETURNS integer LANGUAGE plpgsql SET search_path = pg_catalog, public, pg_temp AS $$ \
     DECLARE taken integer; requeued integer; due uuid[]; held uuid[]; customer uuid; \
     BEGIN \
       WITH taken_rows AS (DELETE FROM customer_stats_due d WHERE d.ctid = ANY(ARRAY( \
                       SELECT q.ctid FROM customer_stats_due q WHERE q.tenant_id = p_tenant \
                       LIMIT p_limit FOR UPDATE SKIP LOCKED)) \
                     RETURNING d.customer_id) \
       SELECT count(*), array_agg(DISTINCT customer_id) INTO taken, due FROM taken_rows; \
       IF taken = 0 THEN RETURN 0; END IF; \
       SELECT array_agg(c.id ORDER BY c.id) INTO held FROM ( \
         SELECT id FROM customers WHERE tenant_id = p_tenant AND id = ANY(due) \
         ORDER BY id FOR NO KEY UPDATE SKIP LOCKED) c; \
       INSERT INTO customer_stats_due (tenant_id, customer_id) \
         SELECT p_tenant, c.id FROM customers c WHERE c.tenant_id = p_tenant \
           AND c.id = ANY(due) AND NOT (c.id = ANY(COALESCE(held, '{}'))); \
       GET DIAGNOSTICS requeued = ROW_COUNT; \
       FOREACH customer IN ARRAY COALESCE(held, '{}') LOOP \
         PERFORM dossier_refresh_customer(p_tenant, customer); \
       END LOOP; \
       RETURN taken - requeued; \
     END $$";

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        if manager.get_database_backend() != DbBackend::Postgres {
            return Ok(());
        }
        // No key and no foreign key: a unique key would make two writers of one customer wait
        // for each other again, and a key to the customer would lock its row for each.
        manager
            .create_table(
                Table::create()
                    .table(Due::Table)
                    .col(uuid(Due::TenantId))
                    .col(uuid(Due::CustomerId))
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("customer_stats_due_tenant")
                    .table(Due::Table)
                    .col(Due::TenantId)
                    .to_owned(),
            )
            .await?;
        walls::guard(
            manager,
            "customer_stats_due",
            "SELECT, INSERT, UPDATE, DELETE",
            None,
        )
        .await?;
        let mut statements = vec![
            FOLD_FUNCTION.to_owned(),
            "DO $$ BEGIN \
               EXECUTE format('CREATE POLICY due_for_the_folder ON customer_stats_due FOR SELECT \
                 USING (current_user = %L)', current_user); \
             END $$"
                .to_owned(),
            "CREATE FUNCTION customer_stats_due_tenants() RETURNS SETOF uuid LANGUAGE sql STABLE \
             SECURITY DEFINER SET search_path = pg_catalog, public, pg_temp AS $$ \
             SELECT DISTINCT d.tenant_id FROM public.customer_stats_due d $$"
                .to_owned(),
            "REVOKE ALL ON FUNCTION customer_stats_due_tenants() FROM PUBLIC".to_owned(),
            walls::runtime_grant("FUNCTION customer_stats_due_tenants()", "EXECUTE"),
        ];
        for table in ["sales", "interactions"] {
            statements.push(queueing_trigger_function(table));
        }
        crate::execute(manager, statements).await
    }
}
