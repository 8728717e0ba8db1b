//! The walls every tenant table gets, as SQL, so that a migration adding a table states only
//! the table: row-level security on PostgreSQL (the second wall behind the API's tenant
//! filter), the runtime role's privileges, and the legal-hold trigger (both backends).

use sea_orm_migration::sea_orm::DbBackend;

/// What a row's `tenant_id` must equal: the transaction's tenant. `NULLIF` because a pooled
/// connection that once had the setting reads `''` afterwards, which would not cast.
pub const CURRENT_TENANT: &str = "NULLIF(current_setting('app.tenant_id', true), '')::uuid";

/// PostgreSQL: the table's rows are visible and writable only under their own tenant, for
/// its owner too (`FORCE`).
pub fn tenant_isolation(table: &str) -> Vec<String> {
    let current = CURRENT_TENANT;
    vec![
        format!("ALTER TABLE {table} ENABLE ROW LEVEL SECURITY"),
        format!("ALTER TABLE {table} FORCE ROW LEVEL SECURITY"),
        format!(
            "CREATE POLICY tenant_isolation ON {table} USING (tenant_id = {current}) WITH CHECK (tenant_id = {current})"
        ),
    ]
}

/// PostgreSQL: `statements` run by the owner across every tenant's rows of `tables` (a
/// backfill), their row-level security unFORCEd for that time only and FORCEd again after.
pub fn across_tenants(tables: &[&str], statements: Vec<String>) -> Vec<String> {
    let force = |how: &'static str| {
        tables
            .iter()
            .map(move |table| format!("ALTER TABLE {table} {how}FORCE ROW LEVEL SECURITY"))
    };
    force("NO ").chain(statements).chain(force("")).collect()
}

/// PostgreSQL: what the API's runtime role may do to the table, granted when operators
/// created the role (see the README); nothing more.
pub fn runtime_grant(table: &str, privileges: &str) -> String {
    format!(
        "DO $$ BEGIN \
           IF EXISTS (SELECT 1 FROM pg_roles WHERE rolname = 'dossier_runtime') THEN \
             GRANT {privileges} ON {table} TO dossier_runtime; \
           END IF; \
         END $$"
    )
}

/// The hold ids that cover a row: `covered` lists expressions on `OLD` (`{schema}` stands for
/// the schema prefix of tables named in sub-queries).
fn active_hold(schema: &str, covered: &str) -> String {
    format!(
        "EXISTS (SELECT 1 FROM {schema}legal_holds h WHERE h.tenant_id = OLD.tenant_id \
         AND h.released_at IS NULL AND h.entity_id IN ({}))",
        covered.replace("{schema}", schema)
    )
}

/// The trigger that refuses `ops` (`UPDATE OR DELETE`) on a row of `table` covered by an
/// active legal hold, with the marker the API maps to `CONFLICT`. On PostgreSQL the function
/// names its tables with the schema and puts `pg_temp` last in its `search_path`, so that a
/// session's temporary table cannot stand in for `legal_holds`; a SQLite trigger resolves
/// names in its own schema only.
pub fn legal_hold(backend: DbBackend, table: &str, ops: &str, covered: &str) -> Vec<String> {
    match backend {
        DbBackend::Postgres => vec![
            format!(
                "CREATE FUNCTION {table}_legal_hold() RETURNS trigger LANGUAGE plpgsql \
                 SET search_path = pg_catalog, public, pg_temp AS $$ \
                 BEGIN \
                   IF {} THEN \
                     RAISE EXCEPTION 'dossier_legal_hold: % % is under a legal hold', TG_TABLE_NAME, OLD.id \
                       USING ERRCODE = 'restrict_violation'; \
                   END IF; \
                   IF TG_OP = 'DELETE' THEN RETURN OLD; END IF; \
                   RETURN NEW; \
                 END $$",
                active_hold("public.", covered)
            ),
            format!(
                "CREATE TRIGGER {table}_legal_hold BEFORE {ops} ON {table} \
                 FOR EACH ROW EXECUTE FUNCTION {table}_legal_hold()"
            ),
        ],
        _ => ops
            .split(" OR ")
            .map(|op| {
                format!(
                    "CREATE TRIGGER {table}_legal_hold_{} BEFORE {op} ON {table} \
                     WHEN {} \
                     BEGIN SELECT RAISE(ABORT, 'dossier_legal_hold: this row is under a legal hold'); END",
                    op.to_lowercase(),
                    active_hold("", covered)
                )
            })
            .collect(),
    }
}

/// Puts up every wall of a new tenant table: row-level security and the runtime role's
/// `privileges` on PostgreSQL, and on both backends the legal-hold trigger when `hold` names
/// the operations it refuses and the hold ids that cover a row.
pub async fn guard(
    manager: &sea_orm_migration::SchemaManager<'_>,
    table: &str,
    privileges: &str,
    hold: Option<(&str, &str)>,
) -> Result<(), sea_orm_migration::DbErr> {
    let backend = manager.get_database_backend();
    let mut statements = Vec::new();
    if backend == DbBackend::Postgres {
        statements.extend(tenant_isolation(table));
        statements.push(runtime_grant(table, privileges));
    }
    if let Some((ops, covered)) = hold {
        statements.extend(legal_hold(backend, table, ops, covered));
    }
    crate::execute(manager, statements).await
}
