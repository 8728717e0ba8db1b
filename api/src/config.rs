//! Configuration from the environment (a `.env` file is read in development), DESIGN §7.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::auth::Verifier;

/// Settings shared by every command. Each is also a `--flag`.
#[derive(Debug, Clone, Args)]
pub struct Config {
    /// Where the customer file lives: a SQLite file by default, `postgres://…` in production.
    #[arg(
        long,
        env = "DATABASE_URL",
        default_value = "sqlite://dossier.db?mode=rwc"
    )]
    pub database_url: String,

    /// The schema owner's connection (PostgreSQL): `migrate`, `tenants create`, `retention
    /// run` and `serve`'s migrations at start use it. The API serves as `DATABASE_URL`'s
    /// role, which owns nothing and may only read and append to the audit log. Unset, every
    /// command uses `DATABASE_URL` (SQLite, or a single-role development setup).
    #[arg(long, env = "DOSSIER_OWNER_DATABASE_URL", hide_env_values = true)]
    pub owner_database_url: Option<String>,

    /// Origins (e.g. `https://crm.example.com`), comma-separated, whose front-end apps may call
    /// the API from a browser (CORS). Empty: no cross-origin access.
    #[arg(long, env = "DOSSIER_CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,

    /// Address the HTTP server listens on.
    #[arg(long, env = "DOSSIER_LISTEN", default_value = "127.0.0.1:8080")]
    pub listen: String,

    /// HS256 secret (raw bytes, at least 32). When unset, a random one is created once in
    /// `DOSSIER_JWT_SECRET_FILE` (mode 0600) so that `serve` and `token` agree.
    #[arg(long, env = "DOSSIER_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: Option<String>,

    /// Where the generated development secret is kept when `DOSSIER_JWT_SECRET` is unset.
    #[arg(
        long,
        env = "DOSSIER_JWT_SECRET_FILE",
        default_value = ".dossier-jwt-secret"
    )]
    pub jwt_secret_file: PathBuf,

    /// The key that seals the audit log (raw bytes, at least 32). Keep it outside the
    /// database and its backups: whoever holds it can re-seal a rewritten log. When unset, a
    /// random one is created once in `DOSSIER_AUDIT_KEY_FILE` (mode 0600).
    #[arg(long, env = "DOSSIER_AUDIT_KEY", hide_env_values = true)]
    pub audit_key: Option<String>,

    /// Where the generated audit key is kept when `DOSSIER_AUDIT_KEY` is unset.
    #[arg(
        long,
        env = "DOSSIER_AUDIT_KEY_FILE",
        default_value = ".dossier-audit-key"
    )]
    pub audit_key_file: PathBuf,

    /// A file of audit checkpoints (JSON lines from `dossier audit checkpoint`) that
    /// `verifyAuditChain` holds each tenant's chain against.
    #[arg(long, env = "DOSSIER_AUDIT_CHECKPOINTS")]
    pub audit_checkpoints: Option<PathBuf>,

    /// Required `iss` claim, when set.
    #[arg(long, env = "DOSSIER_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, when set.
    #[arg(long, env = "DOSSIER_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// Removed: a key set here was trusted for every tenant and role. Partners' identity
    /// providers are registered per tenant (`dossier idp register`, `registerIdentityProvider`);
    /// the server refuses to start while this is set, rather than ignore it.
    #[arg(long, env = "DOSSIER_JWT_KEYS", hide = true)]
    pub jwt_keys: Option<PathBuf>,

    /// Largest accepted request body, in bytes.
    #[arg(long, env = "DOSSIER_MAX_BODY_BYTES", default_value_t = 1024 * 1024)]
    pub max_body_bytes: usize,

    /// Deepest accepted query nesting.
    #[arg(long, env = "DOSSIER_MAX_DEPTH", default_value_t = 12)]
    pub max_depth: usize,

    /// Highest accepted query complexity; lists count as their page size times their fields.
    #[arg(long, env = "DOSSIER_MAX_COMPLEXITY", default_value_t = 250_000)]
    pub max_complexity: usize,

    /// Most directives accepted on one field.
    #[arg(long, env = "DOSSIER_MAX_DIRECTIVES", default_value_t = 4)]
    pub max_directives: usize,

    /// Most root fields (aliases included) in one operation.
    #[arg(long, env = "DOSSIER_MAX_ROOT_FIELDS", default_value_t = 20)]
    pub max_root_fields: usize,

    /// Most `totalCount`s in one operation: each reads every row its filter matches.
    #[arg(long, env = "DOSSIER_MAX_COUNTS", default_value_t = 10)]
    pub max_counts: usize,

    /// Requests each tenant may start per second, sustained.
    #[arg(long, env = "DOSSIER_TENANT_RATE", default_value_t = 100)]
    pub tenant_rate: u32,

    /// Requests each tenant may start at once above its sustained rate.
    #[arg(long, env = "DOSSIER_TENANT_BURST", default_value_t = 200)]
    pub tenant_burst: u32,

    /// Requests of one tenant that run at the same time (on SQLite at most half the read
    /// connections, and 1 with fewer than two: each tenant then takes its turn).
    #[arg(long, env = "DOSSIER_TENANT_CONCURRENCY", default_value_t = 4)]
    pub tenant_concurrency: usize,

    /// How long a request waits for one of its tenant's slots before `RATE_LIMITED`, in ms.
    #[arg(long, env = "DOSSIER_TENANT_QUEUE_MS", default_value_t = 2_000)]
    pub tenant_queue_ms: u64,

    /// Statement time limit, in milliseconds: PostgreSQL's `statement_timeout`; on SQLite,
    /// whose writer runs one request at a time, a progress handler interrupts a request (its
    /// transaction) running longer. Raise it for long command-line runs on SQLite.
    #[arg(long, env = "DOSSIER_STATEMENT_TIMEOUT_MS", default_value_t = 5_000)]
    pub statement_timeout_ms: u64,

    /// Connections in the database pool (PostgreSQL; SQLite uses one writer connection).
    #[arg(long, env = "DOSSIER_DB_POOL", default_value_t = 16)]
    pub db_pool: u32,

    /// SQLite read connections beside the one writer (a database file in WAL mode): queries
    /// run on them and no longer wait for each other; 0 runs everything on the writer.
    #[arg(long, env = "DOSSIER_SQLITE_READERS", default_value_t = 4)]
    pub sqlite_readers: u32,

    /// HTTP worker threads; 0 means one per core.
    #[arg(long, env = "DOSSIER_WORKERS", default_value_t = 0)]
    pub workers: usize,

    /// Answer the queries the engine's compiler covers with one SQL statement per root field
    /// (on by default); off, every operation runs on the resolvers, which answer the same.
    #[arg(long, env = "DOSSIER_COMPILED_READS", default_value_t = true, action = clap::ArgAction::Set)]
    pub compiled_reads: bool,

    /// PostgreSQL: how often, in milliseconds, the server folds every tenant's queued changes
    /// into the customers' aggregates (readers fold what is left first); 0 leaves it to readers.
    #[arg(long, env = "DOSSIER_STATS_FOLD_MS", default_value_t = 2000)]
    pub stats_fold_ms: u64,

    /// Log SQL statements. Off by default: bound values can be personal data.
    #[arg(long, env = "DOSSIER_LOG_SQL", default_value_t = false)]
    pub log_sql: bool,

    /// Log format: `compact` for people, `json` for collectors.
    #[arg(long, env = "DOSSIER_LOG_FORMAT", default_value = "compact")]
    pub log_format: String,
}

impl Config {
    /// The configuration the command line would give for these arguments (and environment).
    pub fn from_args<I, T>(args: I) -> anyhow::Result<Config>
    where
        I: IntoIterator<Item = T>,
        T: Into<std::ffi::OsString> + Clone,
    {
        #[derive(clap::Parser)]
        struct Wrapper {
            #[command(flatten)]
            config: Config,
        }
        let args = std::iter::once(std::ffi::OsString::from("dossier"))
            .chain(args.into_iter().map(Into::into));
        Ok(<Wrapper as clap::Parser>::try_parse_from(args)?.config)
    }

    pub fn statement_timeout(&self) -> Duration {
        Duration::from_millis(self.statement_timeout_ms)
    }

    /// The CORS allow-list.
    pub fn cors_origins(&self) -> Vec<String> {
        self.cors_origins
            .split(',')
            .map(|origin| origin.trim().trim_end_matches('/').to_owned())
            .filter(|origin| !origin.is_empty())
            .collect()
    }

    /// The per-tenant budgets.
    pub fn budgets(&self) -> crate::budget::Limits {
        // On SQLite a tenant runs at most half as many requests at once as there are read
        // connections (one with fewer than two): the rest, and the cores, stay free for other
        // tenants (bench/flood.sh: with all four readers, a flooding tenant made another's
        // `{ me }` wait 31 ms at the median and 94 ms at p99, against 12 and 24 on one
        // connection).
        let concurrent = if self.database_url.starts_with("sqlite:") {
            self.tenant_concurrency
                .min((self.sqlite_readers / 2).max(1) as usize)
        } else {
            self.tenant_concurrency
        };
        crate::budget::Limits {
            rate_per_second: self.tenant_rate,
            burst: self.tenant_burst,
            concurrent,
            queue: Duration::from_millis(self.tenant_queue_ms),
        }
    }

    /// The HS256 secret: from the environment, or created once in a 0600 file.
    pub fn jwt_secret_bytes(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(secret.as_bytes().to_vec());
        }
        load_or_create_secret(&self.jwt_secret_file)
    }

    /// The audit key: from the environment, or created once in a 0600 file.
    pub fn audit_key(&self) -> anyhow::Result<crate::audit::AuditKey> {
        let raw = match &self.audit_key {
            Some(key) => key.as_bytes().to_vec(),
            None => load_or_create_secret(&self.audit_key_file)
                .context("the audit key (DOSSIER_AUDIT_KEY or DOSSIER_AUDIT_KEY_FILE)")?,
        };
        crate::audit::AuditKey::new(&raw).context("DOSSIER_AUDIT_KEY")
    }

    pub fn verifier(&self) -> anyhow::Result<Verifier> {
        anyhow::ensure!(
            self.jwt_keys.is_none(),
            "DOSSIER_JWT_KEYS is no longer read: a key there was trusted for every tenant and role. \
             Register each partner's identity provider for its tenant instead: \
             `dossier idp register --tenant ID --issuer ISS --keys FILE --roles ROLES --scopes SCOPES`"
        );
        let secret = self.jwt_secret_bytes()?;
        Verifier::new(
            Some(&secret),
            self.jwt_issuer.clone(),
            self.jwt_audience.clone(),
        )
    }
}

fn load_or_create_secret(path: &Path) -> anyhow::Result<Vec<u8>> {
    use base64::Engine;
    if let Ok(existing) = std::fs::read_to_string(path) {
        return Ok(existing.trim().as_bytes().to_vec());
    }
    let mut raw = [0u8; 48];
    rand::RngCore::fill_bytes(&mut rand::rngs::OsRng, &mut raw);
    let secret = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(raw);
    write_private(path, &secret)
        .with_context(|| format!("creating the JWT secret file {}", path.display()))?;
    tracing::info!(path = %path.display(), "created a secret key file");
    Ok(secret.into_bytes())
}

#[cfg(unix)]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents.as_bytes())
}

#[cfg(not(unix))]
fn write_private(path: &Path, contents: &str) -> std::io::Result<()> {
    std::fs::write(path, contents)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn concurrent(url: &str, readers: &str, concurrency: &str) -> usize {
        Config::from_args([
            "--database-url",
            url,
            "--sqlite-readers",
            readers,
            "--tenant-concurrency",
            concurrency,
        ])
        .expect("arguments")
        .budgets()
        .concurrent
    }

    /// On SQLite a tenant may hold at most half the read connections, so that a flooding
    /// tenant leaves readers (and cores) to the others; PostgreSQL takes the setting as is.
    #[test]
    fn a_tenant_holds_at_most_half_of_sqlite_readers() {
        let sqlite = "sqlite://dossier.db?mode=rwc";
        assert_eq!(concurrent(sqlite, "4", "4"), 2);
        assert_eq!(concurrent(sqlite, "8", "3"), 3);
        assert_eq!(concurrent(sqlite, "1", "4"), 1);
        assert_eq!(concurrent(sqlite, "0", "4"), 1);
        assert_eq!(concurrent("postgres://h/db", "4", "16"), 16);
    }
}
