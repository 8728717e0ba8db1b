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

    /// Required `iss` claim, when set.
    #[arg(long, env = "DOSSIER_JWT_ISSUER")]
    pub jwt_issuer: Option<String>,

    /// Required `aud` claim, when set.
    #[arg(long, env = "DOSSIER_JWT_AUDIENCE")]
    pub jwt_audience: Option<String>,

    /// A PEM public key or a JWKS file of RS256/ES256 keys (partners' identity providers).
    #[arg(long, env = "DOSSIER_JWT_KEYS")]
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

    /// Database statement timeout, in milliseconds (PostgreSQL).
    #[arg(long, env = "DOSSIER_STATEMENT_TIMEOUT_MS", default_value_t = 5_000)]
    pub statement_timeout_ms: u64,

    /// Connections in the database pool (PostgreSQL; SQLite uses one writer connection).
    #[arg(long, env = "DOSSIER_DB_POOL", default_value_t = 16)]
    pub db_pool: u32,

    /// HTTP worker threads; 0 means one per core.
    #[arg(long, env = "DOSSIER_WORKERS", default_value_t = 0)]
    pub workers: usize,

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

    /// The HS256 secret: from the environment, or created once in a 0600 file.
    pub fn jwt_secret_bytes(&self) -> anyhow::Result<Vec<u8>> {
        if let Some(secret) = &self.jwt_secret {
            return Ok(secret.as_bytes().to_vec());
        }
        load_or_create_secret(&self.jwt_secret_file)
    }

    pub fn verifier(&self) -> anyhow::Result<Verifier> {
        let secret = self.jwt_secret_bytes()?;
        let mut verifier = Verifier::new(
            Some(&secret),
            self.jwt_issuer.clone(),
            self.jwt_audience.clone(),
        )?;
        if let Some(path) = &self.jwt_keys {
            let contents = std::fs::read_to_string(path)
                .with_context(|| format!("reading DOSSIER_JWT_KEYS {}", path.display()))?;
            verifier.add_key_file(&contents)?;
        }
        Ok(verifier)
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
    tracing::info!(path = %path.display(), "created a development JWT secret");
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
