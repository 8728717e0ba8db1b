//! `dossier`: the command line of DESIGN §7. Thin: config → telemetry → command.

use anyhow::Context;
use clap::{Parser, Subcommand};
use uuid::Uuid;

use api::auth::{Claims, Role, Scopes};
use api::config::Config;

#[derive(Parser)]
#[command(
    name = "dossier",
    version,
    about = "Multi-tenant GraphQL API over a customer file"
)]
struct Cli {
    #[command(flatten)]
    config: Config,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Apply migrations, then serve the API.
    Serve {
        /// Also load a demo tenant and print a token for each role.
        #[arg(long)]
        demo: bool,
    },
    /// Apply migrations and exit.
    Migrate,
    /// Manage tenants.
    Tenants {
        #[command(subcommand)]
        command: TenantCommand,
    },
    /// The retention policy (GDPR Art. 5(1)(e)).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
    /// The audit log's tamper evidence: checkpoints kept outside the database, verification.
    Audit {
        #[command(subcommand)]
        command: AuditCommand,
    },
    /// The external identity providers each tenant trusts (partners' keys).
    Idp {
        #[command(subcommand)]
        command: IdpCommand,
    },
    /// Mint a development HS256 token with the configured secret (printed alone on stdout).
    Token {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        role: String,
        /// Space-separated scopes; the role's defaults when left out.
        #[arg(long)]
        scope: Option<String>,
        #[arg(long, default_value = "dev-user")]
        sub: String,
        /// Lifetime in seconds.
        #[arg(long, default_value_t = 3600)]
        ttl: i64,
        /// Why personal data will be accessed; recorded in the audit log.
        #[arg(long)]
        purpose: Option<String>,
    },
}

#[derive(Subcommand)]
enum IdpCommand {
    /// Trust an external identity provider for one tenant: tokens its keys sign are accepted
    /// for that tenant only, with these roles and at most these scopes. Prints the
    /// registration as one JSON line. Audited.
    Register {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        name: String,
        /// The `iss` its tokens carry.
        #[arg(long)]
        issuer: String,
        /// A JWKS file or a PEM public key (RS256 or ES256).
        #[arg(long)]
        keys: std::path::PathBuf,
        /// Space-separated roles its tokens may claim, e.g. "partner".
        #[arg(long)]
        roles: String,
        /// Space-separated scopes its tokens may hold at most.
        #[arg(long)]
        scopes: String,
    },
    /// List a tenant's identity providers as JSON lines.
    List {
        #[arg(long)]
        tenant: Uuid,
    },
    /// Stop trusting an identity provider. Audited.
    Disable {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        id: Uuid,
    },
}

#[derive(Subcommand)]
enum AuditCommand {
    /// Prints a signed checkpoint of the tenant's chain head as one JSON line. Keep the lines
    /// outside the database (or let `--append` add them to a file): `audit verify` and
    /// `verifyAuditChain` hold the chain against them, which shows a log cut off at its end.
    Checkpoint {
        #[arg(long)]
        tenant: Uuid,
        /// Also append the line to this file.
        #[arg(long)]
        append: Option<std::path::PathBuf>,
    },
    /// Verifies the tenant's chain (links, hashes, seals) and, with `--checkpoints`, holds it
    /// against a file of checkpoints; prints one JSON report, exits 1 when the chain is broken.
    Verify {
        #[arg(long)]
        tenant: Uuid,
        #[arg(long)]
        checkpoints: Option<std::path::PathBuf>,
    },
}

#[derive(Subcommand)]
enum RetentionCommand {
    /// Erases the tenant's contacts whose retention period is over (no sale, no change for
    /// the tenant's `retentionMonths`) and not under a legal hold; prints one JSON report.
    Run {
        #[arg(long)]
        tenant: Uuid,
        /// Only list what would be erased; change nothing.
        #[arg(long)]
        dry_run: bool,
    },
}

#[derive(Subcommand)]
enum TenantCommand {
    /// Create a tenant; prints `{"id": …, "name": …}`.
    Create {
        #[arg(long)]
        name: String,
        /// ISO 4217 currency of sales that name none.
        #[arg(long, default_value = "EUR")]
        currency: String,
    },
}

fn mint(
    config: &Config,
    tenant: Uuid,
    role: Role,
    scope: Option<String>,
    sub: String,
    ttl: i64,
    purpose: Option<String>,
) -> anyhow::Result<String> {
    if let Some(scope) = &scope {
        let scopes = Scopes::parse(scope).context("unknown scope")?;
        anyhow::ensure!(
            scopes.is_subset_of(role.allowed_scopes()),
            "role {} may not hold these scopes",
            role.as_str()
        );
    }
    let now = chrono::Utc::now().timestamp();
    let claims = Claims {
        sub,
        tenant_id: tenant,
        role: role.as_str().to_owned(),
        scope,
        exp: now + ttl,
        nbf: None,
        iat: Some(now),
        iss: config.jwt_issuer.clone(),
        aud: config.jwt_audience.clone().map(Into::into),
        purpose,
        client_id: None,
    };
    api::auth::mint_hs256(&config.jwt_secret_bytes()?, &claims)
}

/// The operator, acting through the command line: who the audit log names for CLI changes.
fn operator(config: &Config, purpose: &str) -> anyhow::Result<api::audit::Actor> {
    Ok(api::audit::Actor {
        actor: "operator:cli".into(),
        role: Role::Admin,
        client_id: Some("dossier-cli".into()),
        request_id: Uuid::now_v7().to_string(),
        caller_request_id: None,
        purpose: Some(purpose.into()),
        key: config.audit_key()?,
    })
}

fn provider_json(row: &entity::identity_provider::Model) -> serde_json::Value {
    serde_json::json!({
        "id": row.id,
        "tenantId": row.tenant_id,
        "name": row.name,
        "issuer": row.issuer,
        "roles": row.roles.split(' ').collect::<Vec<_>>(),
        "scopes": row.scopes.split(' ').filter(|s| !s.is_empty()).collect::<Vec<_>>(),
        "createdAt": row.created_at,
        "disabledAt": row.disabled_at,
    })
}

async fn idp(config: &Config, command: IdpCommand) -> anyhow::Result<()> {
    let failed = |err: api::error::ApiError| anyhow::anyhow!("{err}");
    let db = api::db::connect(config).await?;
    match command {
        IdpCommand::Register {
            tenant,
            name,
            issuer,
            keys,
            roles,
            scopes,
        } => {
            let keys = std::fs::read_to_string(&keys)
                .with_context(|| format!("reading {}", keys.display()))?;
            let roles = roles
                .split(' ')
                .filter(|r| !r.is_empty())
                .map(|r| Role::parse(r).with_context(|| format!("unknown role {r}")))
                .collect::<anyhow::Result<Vec<_>>>()?;
            let actor = operator(config, "identity provider registration")?;
            let scope = api::tenancy::for_tenant(&db, tenant).await?;
            let row = scope
                .write(async |tx| {
                    api::providers::register(
                        tx,
                        &actor,
                        api::providers::Registration {
                            name,
                            issuer,
                            keys,
                            roles,
                            scopes: scopes
                                .split(' ')
                                .filter(|s| !s.is_empty())
                                .map(str::to_owned)
                                .collect(),
                        },
                        // The operator may grant any scope.
                        Scopes::of(&api::auth::Scope::ALL),
                    )
                    .await
                })
                .await
                .map_err(failed)?;
            // Sealed before it commits: no server may be running to seal it after.
            api::audit::seal_pending(&scope, &actor.key, api::audit::Lock::Wait)
                .await
                .map_err(failed)?;
            scope.commit().await?;
            println!("{}", provider_json(&row));
        }
        IdpCommand::List { tenant } => {
            let scope = api::tenancy::for_tenant(&db, tenant).await?;
            for row in api::providers::list(&scope).await.map_err(failed)? {
                println!("{}", provider_json(&row));
            }
            scope.rollback().await?;
        }
        IdpCommand::Disable { tenant, id } => {
            let actor = operator(config, "identity provider disabled")?;
            let scope = api::tenancy::for_tenant(&db, tenant).await?;
            let row = scope
                .write(async |tx| api::providers::disable(tx, &actor, id).await)
                .await
                .map_err(failed)?;
            // Sealed before it commits: no server may be running to seal it after.
            api::audit::seal_pending(&scope, &actor.key, api::audit::Lock::Wait)
                .await
                .map_err(failed)?;
            scope.commit().await?;
            println!("{}", provider_json(&row));
        }
    }
    Ok(())
}

/// Applies the migrations as the schema's owner and returns the owner's connection.
async fn migrate_as_owner(config: &Config) -> anyhow::Result<sea_orm::DatabaseConnection> {
    let owner = api::db::connect_owner(config).await?;
    api::db::migrate(&owner).await?;
    Ok(owner)
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    // A missing .env is the normal case outside development.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    api::telemetry::init(&cli.config.log_format);
    let config = cli.config;
    match cli.command {
        Command::Serve { demo } => {
            migrate_as_owner(&config).await?;
            let db = api::db::connect(&config).await?;
            if demo {
                let tenant = api::demo::load(&db, &config.audit_key()?).await?;
                eprintln!("Demo tenant {tenant} (\"Demo Company\"). Tokens, valid 24 h:");
                for role in Role::ALL {
                    let token = mint(
                        &config,
                        tenant,
                        role,
                        None,
                        format!("demo-{}", role.as_str()),
                        86_400,
                        Some("demo".into()),
                    )?;
                    eprintln!("  {:<10} {token}", role.as_str());
                }
                if let Ok(token) = mint(
                    &config,
                    tenant,
                    Role::Partner,
                    Some("customers:read sales:read".into()),
                    "demo-partner".into(),
                    86_400,
                    None,
                ) {
                    eprintln!(
                        "  (partner tokens name their scopes; this one: customers:read sales:read)\n  partner    {token}"
                    );
                }
            }
            let reader = api::db::connect_readers(&config).await?;
            let app = api::startup::Application::build_with(&config, db, reader)?;
            tracing::info!(listen = %config.listen, port = app.port(), "serving: POST /graphql, GraphiQL at GET /graphql");
            eprintln!(
                "Dossier listening on http://{} (GraphiQL: GET /graphql)",
                config.listen
            );
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            migrate_as_owner(&config).await?;
            tracing::info!("migrations applied");
        }
        Command::Tenants {
            command: TenantCommand::Create { name, currency },
        } => {
            api::validate::required_text("name", &name, 200)?;
            api::validate::currency("currency", &currency)?;
            let db = migrate_as_owner(&config).await?;
            let id_hint: String = Uuid::now_v7().simple().to_string()[24..].to_owned();
            let slug: String = name
                .to_lowercase()
                .chars()
                .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                .collect::<String>()
                .split('-')
                .filter(|p| !p.is_empty())
                .take(8)
                .collect::<Vec<_>>()
                .join("-");
            let tenant =
                api::tenancy::create_tenant(&db, &name, &format!("{slug}-{id_hint}"), &currency)
                    .await?;
            println!(
                "{}",
                serde_json::json!({"id": tenant.id, "name": tenant.name})
            );
        }
        Command::Retention {
            command: RetentionCommand::Run { tenant, dry_run },
        } => {
            // As the owner: only the owner may prune the audit log.
            let db = migrate_as_owner(&config).await?;
            let keys = api::gdpr::SubjectKeys::derive(&config.jwt_secret_bytes()?);
            let report = api::gdpr::run_retention(
                &db,
                &keys,
                &api::graphql::engine::dependents::Declarations,
                &config.audit_key()?,
                tenant,
                dry_run,
            )
            .await
            .map_err(|err| anyhow::anyhow!("retention run failed: {err}"))?;
            println!("{}", serde_json::to_string(&report)?);
        }
        Command::Audit {
            command: AuditCommand::Checkpoint { tenant, append },
        } => {
            let db = api::db::connect(&config).await?;
            let scope = api::tenancy::for_tenant(&db, tenant).await?;
            let checkpoint = api::audit::checkpoint(&scope, &config.audit_key()?)
                .await
                .map_err(|err| anyhow::anyhow!("reading the chain head failed: {err}"))?
                .context("this tenant's audit log is empty: nothing to checkpoint yet")?;
            // The sealing the checkpoint saw is kept: the positions it signs must stay.
            scope.commit().await?;
            let line = checkpoint.to_line();
            if let Some(path) = append {
                use std::io::Write;
                let mut file = std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(&path)
                    .with_context(|| format!("opening {}", path.display()))?;
                writeln!(file, "{line}")?;
                file.sync_all()?;
            }
            println!("{line}");
        }
        Command::Audit {
            command:
                AuditCommand::Verify {
                    tenant,
                    checkpoints,
                },
        } => {
            let key = config.audit_key()?;
            let held = match checkpoints {
                Some(path) => api::audit::Checkpoint::parse_all(
                    &std::fs::read_to_string(&path)
                        .with_context(|| format!("reading {}", path.display()))?,
                    &key,
                )
                .map_err(|why| anyhow::anyhow!("{}: {why}", path.display()))?,
                None => Vec::new(),
            };
            let db = api::db::connect(&config).await?;
            let scope = api::tenancy::for_tenant(&db, tenant).await?;
            let report = api::audit::verify_chain(&scope, &key, &held)
                .await
                .map_err(|err| anyhow::anyhow!("verification failed: {err}"))?;
            scope.rollback().await?;
            println!("{}", serde_json::to_string(&report)?);
            if !report.ok {
                std::process::exit(1);
            }
        }
        Command::Idp { command } => idp(&config, command).await?,
        Command::Token {
            tenant,
            role,
            scope,
            sub,
            ttl,
            purpose,
        } => {
            let role = Role::parse(&role).with_context(|| {
                format!("unknown role {role}: admin, agent, analyst, partner or compliance")
            })?;
            println!("{}", mint(&config, tenant, role, scope, sub, ttl, purpose)?);
        }
    }
    Ok(())
}
