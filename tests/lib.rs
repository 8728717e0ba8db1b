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
    pub client: reqwest::Client,
    /// A connection that bypasses the API (and, on PostgreSQL, row-level security): for
    /// checking what was really stored and for tampering as an attacker would.
    pub admin: DatabaseConnection,
    /// The application's own connection (the API's role): for driving the library's
    /// commands, such as the retention run, on the same database as the server.
    pub db: DatabaseConnection,
    /// SQL statements the application has run, for checking that loaders batch.
    pub statements: Arc<AtomicUsize>,
    pub a: Tenant,
    pub b: Tenant,
    _dir: Option<TempDir>,
}

/// A directory removed when the test ends.
pub struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
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

/// A fresh PostgreSQL database owned by the API's role, with the migrations applied.
async fn postgres_database() -> String {
    let admin = pg_env("DOSSIER_TEST_PG_ADMIN_URL");
    let app_base = pg_env("DOSSIER_TEST_PG_URL");
    TEMPLATE
        .get_or_init(|| async {
            admin_exec(&admin, &format!("DROP DATABASE IF EXISTS {TEMPLATE_DB}")).await;
            admin_exec(
                &admin,
                &format!("CREATE DATABASE {TEMPLATE_DB} OWNER dossier"),
            )
            .await;
            // Migrate as the API's own role, exactly as `dossier serve` does.
            let db = Database::connect(format!("{app_base}/{TEMPLATE_DB}"))
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
        &format!("CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB} OWNER dossier"),
    )
    .await;
    name
}

pub fn config(database_url: &str) -> Config {
    let mut config = Config::from_args(["--database-url", database_url]).expect("config");
    config.listen = "127.0.0.1:0".into();
    config.jwt_secret = Some(SECRET.into());
    config.jwt_issuer = Some(ISSUER.into());
    config.jwt_audience = Some(AUDIENCE.into());
    config.jwt_keys = Some(fixture("jwks.json"));
    config.db_pool = 4;
    config.workers = 1;
    config.log_sql = false;
    config
}

pub async fn spawn_app(backend: Backend) -> TestApp {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the real application with the test configuration, adjusted by `adjust`.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> TestApp {
    api::telemetry::init("compact");
    let (database_url, admin_url, dir) = match backend {
        Backend::Sqlite => {
            let dir = std::env::temp_dir().join(format!("dossier-test-{}", Uuid::now_v7()));
            std::fs::create_dir_all(&dir).expect("temp dir");
            let url = format!("sqlite://{}?mode=rwc", dir.join("dossier.db").display());
            (url.clone(), url, Some(TempDir(dir)))
        }
        Backend::Postgres => {
            let name = postgres_database().await;
            let admin = pg_env("DOSSIER_TEST_PG_ADMIN_URL");
            let admin_base = admin
                .rsplit_once('/')
                .map(|(base, _)| base)
                .unwrap_or(&admin);
            (
                format!("{}/{name}", pg_env("DOSSIER_TEST_PG_URL")),
                format!("{admin_base}/{name}"),
                None,
            )
        }
    };
    let mut config = config(&database_url);
    adjust(&mut config);
    let statements = Arc::new(AtomicUsize::new(0));
    let mut db = api::db::connect(&config).await.expect("database");
    let counter = statements.clone();
    db.set_metric_callback(move |_| {
        counter.fetch_add(1, Ordering::Relaxed);
    });
    api::db::migrate(&db).await.expect("migrations");
    let app = Application::build_with(&config, db).expect("application starts");
    let a = api::tenancy::create_tenant(
        app.db(),
        "Alpha Industries",
        &format!("alpha-{}", Uuid::now_v7().simple()),
        "EUR",
    )
    .await
    .expect("tenant A");
    let b = api::tenancy::create_tenant(
        app.db(),
        "Beta Trading",
        &format!("beta-{}", Uuid::now_v7().simple()),
        "EUR",
    )
    .await
    .expect("tenant B");
    let url = format!("http://127.0.0.1:{}", app.port());
    let app_db = app.db().clone();
    tokio::spawn(app.run_until_stopped());
    let admin = Database::connect(admin_url)
        .await
        .expect("admin connection");
    TestApp {
        backend,
        url,
        client: reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .expect("http client"),
        admin,
        db: app_db,
        statements,
        a: Tenant {
            id: a.id,
            name: a.name,
        },
        b: Tenant {
            id: b.id,
            name: b.name,
        },
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
                    id seq at actor actorRole clientId requestId action entity entityIds fields purpose
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

pub fn uuid(value: &Value) -> Uuid {
    value
        .as_str()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("not a uuid: {value}"))
}
