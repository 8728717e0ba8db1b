//! Test support for Dossier's black-box tests: start the real application on a fresh SQLite
//! file or a fresh PostgreSQL database, with two tenants, and talk to it over HTTP.
//!
//! PostgreSQL comes from `scripts/test.sh`, which starts a private cluster and exports
//! `DOSSIER_TEST_PG_ADMIN_URL` (superuser, for creating databases and for tampering the way
//! an attacker with database access would) and `DOSSIER_TEST_PG_URL` (the API's role, which
//! has no BYPASSRLS). Each test gets its own database, copied from a migrated template.

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use api::auth::Claims;
use api::config::Config;
use api::startup::Application;
use sea_orm::{ConnectionTrait, Database, DatabaseConnection, DbBackend, Statement};
use serde_json::{Value, json};
use uuid::Uuid;

pub const SECRET: &str = "test-secret-0123456789-abcdefghijklmnopqrstuvwxyz";
pub const ISSUER: &str = "https://idp.dossier.test";
pub const AUDIENCE: &str = "dossier-api";
/// The key the test apps seal their audit logs with.
pub const AUDIT_KEY: &str = "test-audit-key-0123456789-abcdefghijklmnopqrstuvwxyz";

/// [`AUDIT_KEY`] as the library takes it, for driving its commands (retention, checkpoints).
pub fn audit_key() -> api::audit::AuditKey {
    api::audit::AuditKey::new(AUDIT_KEY.as_bytes()).expect("a long enough key")
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// Runs an async test body on both backends, as two tests named `sqlite` and `postgres`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn sqlite() {
                    super::$name($crate::Backend::Sqlite).await
                }
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )*
    };
}

/// Runs an async test body on PostgreSQL only, for PostgreSQL-only behaviour (RLS, triggers).
#[macro_export]
macro_rules! on_postgres {
    ($($name:ident),* $(,)?) => {
        $(
            mod $name {
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn postgres() {
                    super::$name($crate::Backend::Postgres).await
                }
            }
        )*
    };
}

pub struct Tenant {
    pub id: Uuid,
    pub name: String,
}

pub struct TestApp {
    pub backend: Backend,
    pub url: String,
    /// The API's `DATABASE_URL`.
    pub database_url: String,
    pub client: reqwest::Client,
    /// A connection that bypasses the API (and, on PostgreSQL, row-level security): for
    /// checking what was really stored and for tampering as an attacker would.
    pub admin: DatabaseConnection,
    /// The application's own connection (the API's role, which owns nothing): for driving
    /// the library's commands on the same database as the server.
    pub db: DatabaseConnection,
    /// The schema owner's connection (on SQLite, the same database): what migrates, creates
    /// tenants and runs the retention run, which prunes the audit log.
    pub owner: DatabaseConnection,
    /// SQL statements the application has run, for checking that loaders batch.
    pub statements: Arc<AtomicUsize>,
    /// Turns compiled reads on and off (the differential tests), and counts them.
    pub compiled_reads: Arc<api::graphql::engine::compile::CompiledReads>,
    pub a: Tenant,
    pub b: Tenant,
    /// The PostgreSQL database this app runs on (`None` on SQLite), dropped with the app.
    pub database: Option<String>,
    /// The running server, for stopping it as a signal would (`stop_gracefully`).
    server_handle: actix_web::dev::ServerHandle,
    /// Asks the HTTP server to stop (sent when the app is dropped).
    stop_server: Option<Box<dyn FnOnce() + Send>>,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    _dir: Option<TempDir>,
}

/// A test app stops its server and drops its PostgreSQL database when it goes, also when the
/// test fails: a long run would otherwise keep every server's threads and every database.
/// `Drop` cannot await, so the database is dropped from a thread with a runtime of its own,
/// joined so that the database is gone when `drop` returns.
impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop_server.take() {
            stop();
        }
        // Dropping the server's future shuts its workers down and releases its listener.
        self.server.abort();
        let Some(name) = self.database.take() else {
            return;
        };
        let Ok(admin) = std::env::var("DOSSIER_TEST_PG_ADMIN_URL") else {
            return;
        };
        let dropped = std::thread::spawn(move || -> Result<(), String> {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .map_err(|e| e.to_string())?;
            runtime.block_on(async {
                let db = Database::connect(&admin).await.map_err(|e| e.to_string())?;
                // FORCE: the app's pools, and any connection a test opened, still hold it.
                let result = db
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await
                    .map(|_| ())
                    .map_err(|e| format!("DROP DATABASE {name}: {e}"));
                let _ = db.close().await;
                result
            })
        })
        .join()
        .unwrap_or_else(|_| Err("the thread dropping the database panicked".into()));
        if let Err(err) = dropped {
            // A second panic while unwinding would abort the whole test binary.
            if std::thread::panicking() {
                eprintln!("test app teardown: {err}");
            } else {
                panic!("test app teardown: {err}");
            }
        }
    }
}

/// A directory removed when the test ends.
pub struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A transaction of `conn`'s role (PostgreSQL) with `tenant` set as the API sets it: what the
/// row-level security policies see.
pub async fn on_tenant(
    conn: &DatabaseConnection,
    tenant: Uuid,
) -> Result<sea_orm::DatabaseTransaction, sea_orm::DbErr> {
    use sea_orm::TransactionTrait;
    let txn = conn.begin().await?;
    txn.execute_unprepared(&format!(
        "SELECT set_config('app.tenant_id', '{tenant}', true)"
    ))
    .await?;
    Ok(txn)
}

pub fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures")
        .join(name)
}

fn pg_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with scripts/test.sh, which starts PostgreSQL")
    })
}

static TEMPLATE: tokio::sync::OnceCell<()> = tokio::sync::OnceCell::const_new();
const TEMPLATE_DB: &str = "dossier_template";

async fn admin_exec(url: &str, sql: &str) {
    let db = Database::connect(url).await.expect("admin connection");
    db.execute_unprepared(sql)
        .await
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
    db.close().await.expect("close admin connection");
}

/// A fresh PostgreSQL database, set up as the README tells operators to: owned by the owner
/// role, which migrated it, and served by the API's role, which owns nothing.
async fn postgres_database() -> String {
    let admin = pg_env("DOSSIER_TEST_PG_ADMIN_URL");
    let owner_base = pg_env("DOSSIER_TEST_PG_OWNER_URL");
    TEMPLATE
        .get_or_init(|| async {
            admin_exec(&admin, &format!("DROP DATABASE IF EXISTS {TEMPLATE_DB}")).await;
            admin_exec(
                &admin,
                &format!("CREATE DATABASE {TEMPLATE_DB} OWNER dossier_owner"),
            )
            .await;
            // Migrate as the owner, exactly as `dossier migrate` does.
            let db = Database::connect(format!("{owner_base}/{TEMPLATE_DB}"))
                .await
                .expect("template connection");
            api::db::migrate(&db)
                .await
                .expect("migrations on PostgreSQL");
            db.close().await.expect("close template");
        })
        .await;
    let name = format!("t_{}", Uuid::now_v7().simple());
    admin_exec(
        &admin,
        &format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB} OWNER dossier_owner"),
    )
    .await;
    name
}

/// The configuration every test app starts with. Built field by field rather than parsed, so
/// that nothing in the environment (an exported `DOSSIER_MAX_DEPTH`, `DATABASE_URL`…) changes
/// what the tests see. The limits are the production defaults of `api/src/config.rs`, which
/// the limits tests check at their edges.
pub fn config(database_url: &str) -> Config {
    Config {
        database_url: database_url.into(),
        listen: "127.0.0.1:0".into(),
        jwt_secret: Some(SECRET.into()),
        // Never read while `jwt_secret` is set.
        jwt_secret_file: std::env::temp_dir().join("dossier-tests-unused-jwt-secret"),
        owner_database_url: None,
        cors_origins: String::new(),
        audit_key: Some(AUDIT_KEY.into()),
        // Never read while `audit_key` is set.
        audit_key_file: std::env::temp_dir().join("dossier-tests-unused-audit-key"),
        audit_checkpoints: None,
        jwt_issuer: Some(ISSUER.into()),
        jwt_audience: Some(AUDIENCE.into()),
        // Removed setting: partners' keys are registered per tenant (see `register_partner`).
        jwt_keys: None,
        max_body_bytes: 1024 * 1024,
        max_depth: 12,
        max_complexity: 250_000,
        max_directives: 4,
        statement_timeout_ms: 5_000,
        max_root_fields: 20,
        max_counts: 10,
        tenant_rate: 100,
        tenant_burst: 200,
        tenant_concurrency: 4,
        tenant_queue_ms: 2_000,
        db_pool: 4,
        sqlite_readers: 4,
        workers: 1,
        log_sql: false,
        compiled_reads: true,
        stats_fold_ms: 2000,
        log_format: "compact".into(),
    }
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the real application with the test configuration, adjusted by `adjust`.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    api::telemetry::init("compact");
    let (database_url, admin_url, dir, database) = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("dossier-test-{}", Uuid::now_v7()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.join("dossier.db").display());
            (url.clone(), url, Some(TempDir(dir)), None)
        }
        Backend::Postgres => {
            let name = postgres_database().await;
            let admin = pg_env("DOSSIER_TEST_PG_ADMIN_URL");
            let admin_base = admin
                .rsplit_once('/')
                .map(|(base, _)| base)
                .unwrap_or(&admin);
            let owner = format!("{}/{name}", pg_env("DOSSIER_TEST_PG_OWNER_URL"));
            (
                format!("{}/{name}", pg_env("DOSSIER_TEST_PG_URL")),
                format!("{admin_base}/{name}"),
                None,
                Some((name, owner)),
            )
        }
    };
    let (database, owner_url) = match database {
        Some((name, owner)) => (Some(name), Some(owner)),
        None => (None, None),
    };
    let mut config = config(&database_url);
    config.owner_database_url = owner_url;
    adjust(&mut config);
    let statements = Arc::new(AtomicUsize::new(0));
    // Every connection the application reads or writes through counts its statements.
    let count_statements = |db: &mut DatabaseConnection| {
        let counter = statements.clone();
        db.set_metric_callback(move |_| {
            counter.fetch_add(1, Ordering::Relaxed);
        });
    };
    let mut db = api::db::connect(&config).await.expect("database");
    count_statements(&mut db);
    // As `dossier serve` does: migrate as the owner, serve as the API's role.
    let owner = api::db::connect_owner(&config)
        .await
        .expect("owner connection");
    api::db::migrate(&owner).await.expect("migrations");
    let mut reader = api::db::connect_readers(&config)
        .await
        .expect("read connections");
    if let Some(reader) = &mut reader {
        count_statements(reader);
    }
    let app = Application::build_with(&config, db, reader).expect("application starts");
    // Tenants are created by the owner (`dossier tenants create`).
    let a = api::tenancy::create_tenant(
        &owner,
        "Alpha Industries",
        &format!("alpha-{}", Uuid::now_v7().simple()),
        "EUR",
    )
    .await
    .expect("tenant A");
    let b = api::tenancy::create_tenant(
        &owner,
        "Beta Trading",
        &format!("beta-{}", Uuid::now_v7().simple()),
        "EUR",
    )
    .await
    .expect("tenant B");
    let url = format!("http://127.0.0.1:{}", app.port());
    let app_db = app.db().clone();
    let compiled_reads = app.compiled_reads();
    let server = app.into_server();
    let handle = server.handle();
    let server = tokio::spawn(server);
    let admin = Database::connect(admin_url)
        .await
        .expect("admin connection");
    TestApp {
        backend,
        url,
        database_url: config.database_url.clone(),
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
        admin,
        db: app_db,
        owner,
        statements,
        compiled_reads,
        a: Tenant {
            id: a.id,
            name: a.name,
        },
        b: Tenant {
            id: b.id,
            name: b.name,
        },
        database,
        server_handle: handle.clone(),
        stop_server: Some(Box::new(move || {
            // The stop is sent at once; the returned future only waits for its completion.
            drop(handle.stop(false));
        })),
        server,
        _dir: dir,
    }
}

/// A GraphQL answer: the HTTP status and the JSON body.
pub struct Answer {
    pub status: u16,
    pub body: Value,
}

impl Answer {
    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn errors(&self) -> Vec<Value> {
        self.body["errors"].as_array().cloned().unwrap_or_default()
    }

    /// The `extensions.code` of every error, in order.
    pub fn codes(&self) -> Vec<String> {
        self.errors()
            .iter()
            .map(|e| {
                e["extensions"]["code"]
                    .as_str()
                    .unwrap_or("<none>")
                    .to_owned()
            })
            .collect()
    }

    /// Panics with the whole body unless the request succeeded without errors.
    pub fn ok(self) -> Value {
        assert_eq!(self.status, 200, "HTTP status; body: {}", self.body);
        assert!(self.errors().is_empty(), "unexpected errors: {}", self.body);
        self.body["data"].clone()
    }

    /// Asserts a single error with this code and returns the body.
    pub fn expect_code(self, code: &str) -> Value {
        assert_eq!(self.codes(), vec![code.to_owned()], "body: {}", self.body);
        self.body
    }
}

pub fn claims(tenant: Uuid, role: &str, scope: Option<&str>) -> Claims {
    let now = chrono::Utc::now().timestamp();
    Claims {
        sub: format!("user-{role}"),
        tenant_id: tenant,
        role: role.into(),
        scope: scope.map(Into::into),
        exp: now + 600,
        nbf: None,
        iat: Some(now),
        iss: Some(ISSUER.into()),
        aud: Some(AUDIENCE.into()),
        purpose: Some("support ticket 42".into()),
        client_id: None,
    }
}

pub fn sign(claims: &impl serde::Serialize) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()),
    )
    .expect("sign")
}

impl TestApp {
    /// A valid token for `role` in `tenant`, with the role's default scopes.
    pub fn token(&self, tenant: Uuid, role: &str) -> String {
        sign(&claims(tenant, role, None))
    }

    pub fn token_with(&self, tenant: Uuid, role: &str, scope: &str) -> String {
        sign(&claims(tenant, role, Some(scope)))
    }

    pub fn agent_a(&self) -> String {
        self.token(self.a.id, "agent")
    }

    pub fn agent_b(&self) -> String {
        self.token(self.b.id, "agent")
    }

    pub async fn post_raw(&self, token: Option<&str>, body: Vec<u8>) -> Answer {
        let mut request = self
            .client
            .post(format!("{}/graphql", self.url))
            .header("content-type", "application/json")
            .body(body);
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.expect("request sent");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or_else(|_| json!({ "raw": text }));
        Answer { status, body }
    }

    pub async fn gql(&self, token: &str, query: &str, variables: Value) -> Answer {
        let body = json!({ "query": query, "variables": variables });
        self.post_raw(Some(token), serde_json::to_vec(&body).expect("json"))
            .await
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client
            .get(format!("{}{path}", self.url))
            .send()
            .await
            .expect("GET")
    }

    /// Creates a customer through the API and returns its id.
    pub async fn customer(&self, token: &str, name: &str) -> Uuid {
        let data = self
            .gql(
                token,
                "mutation($input: CreateCustomerInput!) { createCustomer(input: $input) { id } }",
                json!({ "input": { "name": name, "country": "FR", "registrationNumber": "732829320",
                    "acquisitionChannel": "WEB" } }),
            )
            .await
            .ok();
        uuid(&data["createCustomer"]["id"])
    }

    pub async fn contact(&self, token: &str, customer: Uuid, first: &str, email: &str) -> Uuid {
        let data = self
            .gql(
                token,
                "mutation($input: CreateContactInput!) { createContact(input: $input) { id } }",
                json!({ "input": { "customerId": customer, "firstName": first, "lastName": "Martin",
                    "email": email, "phone": "+33 6 12 34 56 78", "birthday": "1985-04-12" } }),
            )
            .await
            .ok();
        uuid(&data["createContact"]["id"])
    }

    /// Reads one contact's email through the API: a personal-data read that leaves an event.
    pub async fn read_email(&self, token: &str, contact: Uuid) {
        self.gql(
            token,
            "query($id: UUID!) { contact(id: $id) { email } }",
            json!({ "id": contact }),
        )
        .await
        .ok();
    }

    pub async fn sale(&self, token: &str, customer: Uuid, amount: &str, sold_at: &str) -> Uuid {
        let data = self
            .gql(
                token,
                "mutation($input: CreateSaleInput!) { createSale(input: $input) { id } }",
                json!({ "input": { "customerId": customer, "sku": "SKU-1", "amount": amount,
                    "currency": "EUR", "soldAt": sold_at } }),
            )
            .await
            .ok();
        uuid(&data["createSale"]["id"])
    }

    /// Tenant A's audit events matching `filter`, newest first, read by its compliance officer.
    pub async fn audit_events(&self, filter: Value) -> Vec<Value> {
        let data = self
            .gql(
                &self.token(self.a.id, "compliance"),
                "query($f: AuditEventFilter) { auditEvents(filter: $f, first: 500) { edges { node {
                    id seq at actor actorRole clientId requestId callerRequestId action entity entityIds fields purpose
                    outcome prevHash hash } } } }",
                json!({ "f": filter }),
            )
            .await
            .ok();
        data["auditEvents"]["edges"]
            .as_array()
            .expect("edges")
            .iter()
            .map(|e| e["node"].clone())
            .collect()
    }

    /// Makes every customer's twelve-month spend look computed on an old day (2020-01-01), and
    /// wrong (one ten-thousandth), as if no request had read it since: the next read must
    /// recompute it.
    pub async fn age_every_window(&self) {
        self.fold_customer_stats().await;
        self.admin_exec(&format!(
            "UPDATE customer_totals SET recent_high = 0, recent_low = 1, recent_since = {}",
            self.timestamp_literal("2020-01-01T00:00:00Z")
        ))
        .await
        .expect("an old window");
    }

    /// Folds every tenant's queued aggregate changes now, as the next reader of its aggregates
    /// would (PostgreSQL; SQLite keeps them as it writes): for tests that read or set
    /// `customer_totals` and `customer_activity` with SQL.
    pub async fn fold_customer_stats(&self) {
        if self.backend == Backend::Postgres {
            self.admin_exec("SELECT dossier_fold_customer_stats(id) FROM tenants")
                .await
                .expect("a fold");
        }
    }

    /// Seals every committed audit event of tenants A and B now, as the server's sealer does
    /// within a second of each commit (PostgreSQL; SQLite seals on append): for tests that
    /// address events by their position.
    pub async fn seal_audit(&self) {
        for tenant in [self.a.id, self.b.id] {
            let scope = api::tenancy::for_tenant(&self.owner, tenant)
                .await
                .expect("scope");
            api::audit::seal_pending(&scope, &audit_key(), api::audit::Lock::Wait)
                .await
                .expect("seal");
            scope.commit().await.expect("commit");
        }
    }

    /// Runs SQL as the administrator (no API, no row-level security).
    pub async fn admin_exec(&self, sql: &str) -> Result<(), sea_orm::DbErr> {
        self.admin.execute_unprepared(sql).await.map(|_| ())
    }

    /// A single number from an administrator's query.
    pub async fn admin_count(&self, sql: &str) -> i64 {
        let backend = self.admin.get_database_backend();
        let row = self
            .admin
            .query_one_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .expect("count query")
            .expect("a row");
        row.try_get_by_index::<i64>(0).expect("an integer")
    }

    /// The first column of every row of an administrator's query, as text (NULLs left out).
    pub async fn admin_strings(&self, sql: &str) -> Vec<String> {
        let backend = self.admin.get_database_backend();
        self.admin
            .query_all_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .filter_map(|row| {
                row.try_get_by_index::<Option<String>>(0)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            })
            .collect()
    }

    /// The first column of every row of an administrator's query, as uuids.
    pub async fn admin_uuids(&self, sql: &str) -> Vec<Uuid> {
        let backend = self.admin.get_database_backend();
        self.admin
            .query_all_raw(Statement::from_string(backend, sql.to_owned()))
            .await
            .unwrap_or_else(|e| panic!("{sql}: {e}"))
            .iter()
            .map(|row| {
                row.try_get_by_index::<Uuid>(0)
                    .unwrap_or_else(|e| panic!("{sql}: {e}"))
            })
            .collect()
    }

    /// The SQL literal of a UTC timestamp (`2020-01-01T00:00:00Z`) as this backend stores it.
    pub fn timestamp_literal(&self, rfc3339: &str) -> String {
        match self.admin.get_database_backend() {
            DbBackend::Sqlite => format!("'{}'", rfc3339.replace('Z', "+00:00")),
            _ => format!("'{rfc3339}'::timestamptz"),
        }
    }

    /// The SQL literal of a uuid on this backend (a blob on SQLite, a uuid on PostgreSQL).
    pub fn uuid_literal(&self, id: Uuid) -> String {
        match self.admin.get_database_backend() {
            DbBackend::Sqlite => format!("X'{}'", id.simple()),
            _ => format!("'{id}'"),
        }
    }
}

/// Asserts what an audit event says: who (actor and role), what (action and entity), on
/// which rows (in any order) and which fields, and that it was allowed.
pub fn assert_event(
    event: &Value,
    who: (&str, &str),
    what: (&str, &str),
    ids: &[Uuid],
    fields: &[&str],
) {
    assert_event_outcome(event, "ALLOWED", who, what, ids, fields);
}

/// [`assert_event`] for an event of the given outcome (`ALLOWED` or `DENIED`).
pub fn assert_event_outcome(
    event: &Value,
    outcome: &str,
    (actor, role): (&str, &str),
    (action, entity): (&str, &str),
    ids: &[Uuid],
    fields: &[&str],
) {
    let mut expected_ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
    expected_ids.sort();
    let mut found_ids: Vec<String> = event["entityIds"]
        .as_array()
        .unwrap_or_else(|| panic!("entityIds: {event}"))
        .iter()
        .map(|id| id.as_str().unwrap_or_default().to_owned())
        .collect();
    found_ids.sort();
    assert_eq!(
        (
            &event["actor"],
            &event["actorRole"],
            &event["action"],
            &event["entity"],
            found_ids,
            &event["fields"],
            &event["outcome"],
        ),
        (
            &json!(actor),
            &json!(role),
            &json!(action),
            &json!(entity),
            expected_ids,
            &json!(fields),
            &json!(outcome),
        ),
        "{event}"
    );
}

impl TestApp {
    /// Stops the server as SIGTERM does: no new connections, requests in flight finish.
    /// Resolves once it has stopped.
    pub async fn stop_gracefully(&self) {
        self.server_handle.stop(true).await;
    }
}

/// The issuer of the test partner's identity provider (its keys: `fixtures/jwks.json`).
pub const PARTNER_ISSUER: &str = "https://idp.partner.test";

impl TestApp {
    /// Registers the test partner's identity provider (`fixtures/jwks.json`) for `tenant`,
    /// through the API as that tenant's administrator, with the roles and scopes its tokens
    /// may carry. Returns the registration's id.
    pub async fn register_partner(&self, tenant: Uuid, roles: &[&str], scopes: &[&str]) -> Uuid {
        let keys = std::fs::read_to_string(fixture("jwks.json")).expect("jwks fixture");
        let data = self
            .gql(
                &self.token(tenant, "admin"),
                "mutation($input: RegisterIdentityProviderInput!) { registerIdentityProvider(input: $input) { id } }",
                json!({ "input": {
                    "name": "Partner CRM", "issuer": PARTNER_ISSUER, "keys": keys,
                    "roles": roles.iter().map(|r| r.to_uppercase()).collect::<Vec<_>>(),
                    "scopes": scopes,
                } }),
            )
            .await
            .ok();
        uuid(&data["registerIdentityProvider"]["id"])
    }
}

/// A token the test partner's identity provider signs: RS256 with the `partner-rsa` key (or
/// ES256 with `partner-ec`), issued by [`PARTNER_ISSUER`] unless `claims` say otherwise.
pub fn partner_token(claims: &Claims, algorithm: jsonwebtoken::Algorithm) -> String {
    let (kid, key) = match algorithm {
        jsonwebtoken::Algorithm::ES256 => (
            "partner-ec",
            jsonwebtoken::EncodingKey::from_ec_pem(
                &std::fs::read(fixture("ec_private.pem")).expect("key"),
            )
            .expect("ec key"),
        ),
        _ => (
            "partner-rsa",
            jsonwebtoken::EncodingKey::from_rsa_pem(
                &std::fs::read(fixture("rsa_private.pem")).expect("key"),
            )
            .expect("rsa key"),
        ),
    };
    let mut header = jsonwebtoken::Header::new(algorithm);
    header.kid = Some(kid.into());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

/// Claims as the test partner's identity provider issues them.
pub fn partner_claims(tenant: Uuid, role: &str, scope: Option<&str>) -> Claims {
    Claims {
        iss: Some(PARTNER_ISSUER.into()),
        sub: "partner-crm-sync".into(),
        client_id: Some("partner-crm".into()),
        ..claims(tenant, role, scope)
    }
}

pub fn uuid(value: &Value) -> Uuid {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a uuid: {value}"))
}
