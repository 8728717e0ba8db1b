//! Building and running the application: database, migrations, schema, HTTP server.

use std::net::TcpListener;
use std::sync::Arc;

use actix_web::{App, HttpServer};
use anyhow::Context;
use sea_orm::DatabaseConnection;

use crate::config::Config;
use crate::graphql::{self, Limits, page::CursorKey};
use crate::http::{self, AppState};

pub struct Application {
    port: u16,
    db: DatabaseConnection,
    server: actix_web::dev::Server,
    compiled_reads: Arc<graphql::engine::compile::CompiledReads>,
}

impl Application {
    /// Connects, migrates and binds (port 0 picks a free port, for tests).
    pub async fn build(config: &Config) -> anyhow::Result<Application> {
        let db = crate::db::connect(config).await?;
        crate::db::migrate(&db).await?;
        let reader = crate::db::connect_readers(config).await?;
        Self::build_with(config, db, reader)
    }

    /// Builds on connections already open (and migrated): the API's, and SQLite's read
    /// connections if any (`db::connect_readers`).
    pub fn build_with(
        config: &Config,
        db: DatabaseConnection,
        reader: Option<DatabaseConnection>,
    ) -> anyhow::Result<Application> {
        let secret = config.jwt_secret_bytes()?;
        let limits = Limits {
            depth: config.max_depth,
            complexity: config.max_complexity,
            directives: config.max_directives,
            root_fields: config.max_root_fields,
            counts: config.max_counts,
        };
        let compiled_reads = graphql::engine::compile::CompiledReads::new(config.compiled_reads);
        let audit_key = config.audit_key()?;
        let seal_lag = Arc::new(crate::metrics::SealLag::default());
        if db.get_database_backend() == sea_orm::DbBackend::Postgres && config.stats_fold_ms > 0 {
            graphql::customer_stats::start_folding(
                db.clone(),
                std::time::Duration::from_millis(config.stats_fold_ms),
            );
        }
        let state = Arc::new(AppState {
            cors_origins: config.cors_origins(),
            schema: graphql::build_schema(limits),
            services: graphql::Services {
                db: db.clone(),
                reader,
                cursors: CursorKey::derive(&secret),
                subject_keys: crate::gdpr::SubjectKeys::derive(&secret),
                audit_key: audit_key.clone(),
                audit_checkpoints: config.audit_checkpoints.as_deref().map(Into::into),
                tenants: Default::default(),
                providers: Default::default(),
                sealer: (db.get_database_backend() == sea_orm::DbBackend::Postgres).then(|| {
                    crate::audit::Sealer::start(db.clone(), audit_key.clone(), seal_lag.clone())
                }),
                seal_lag: seal_lag.clone(),
                folds: graphql::customer_stats::Folds::beside(&db),
                queries: Default::default(),
                budgets: crate::budget::Budgets::new(config.budgets()),
                limits,
                introspection: graphql::build_introspection(limits),
                compiled_reads: compiled_reads.clone(),
                phases: Default::default(),
            },
            verifier: config.verifier()?,
            metrics: Default::default(),
            max_body_bytes: config.max_body_bytes,
        });
        let listener = TcpListener::bind(&config.listen)
            .with_context(|| format!("binding {}", config.listen))?;
        let port = listener.local_addr()?.port();
        let workers = config.workers;
        let mut server = HttpServer::new(move || {
            App::new()
                .wrap(actix_web::middleware::from_fn(http::observe))
                .configure(http::configure(state.clone()))
        })
        .shutdown_timeout(30);
        if workers > 0 {
            server = server.workers(workers);
        }
        let server = server.listen(listener)?.run();
        Ok(Application {
            port,
            db,
            server,
            compiled_reads,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The switch and counters of compiled reads.
    pub fn compiled_reads(&self) -> Arc<graphql::engine::compile::CompiledReads> {
        self.compiled_reads.clone()
    }

    pub fn db(&self) -> &DatabaseConnection {
        &self.db
    }

    /// Serves until SIGINT/SIGTERM, then finishes in-flight requests (graceful shutdown).
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        self.server.await
    }

    pub fn into_server(self) -> actix_web::dev::Server {
        self.server
    }
}
