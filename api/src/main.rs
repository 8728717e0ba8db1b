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
    /// Mint a development HS256 token with the configured secret (printed alone on stdout).
    /// The retention policy (GDPR Art. 5(1)(e)).
    Retention {
        #[command(subcommand)]
        command: RetentionCommand,
    },
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

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    // A missing .env is the normal case outside development.
    let _ = dotenvy::dotenv();
    let cli = Cli::parse();
    api::telemetry::init(&cli.config.log_format);
    let config = cli.config;
    match cli.command {
        Command::Serve { demo } => {
            let db = api::db::connect(&config).await?;
            api::db::migrate(&db).await?;
            if demo {
                let tenant = api::demo::load(&db).await?;
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
            let app = api::startup::Application::build_with(&config, db)?;
            tracing::info!(listen = %config.listen, port = app.port(), "serving: POST /graphql, GraphiQL at GET /graphql");
            eprintln!(
                "Dossier listening on http://{} (GraphiQL: GET /graphql)",
                config.listen
            );
            app.run_until_stopped().await?;
        }
        Command::Migrate => {
            let db = api::db::connect(&config).await?;
            api::db::migrate(&db).await?;
            tracing::info!("migrations applied");
        }
        Command::Tenants {
            command: TenantCommand::Create { name, currency },
        } => {
            api::validate::required_text("name", &name, 200)?;
            api::validate::currency("currency", &currency)?;
            let db = api::db::connect(&config).await?;
            api::db::migrate(&db).await?;
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
            let db = api::db::connect(&config).await?;
            api::db::migrate(&db).await?;
            let keys = api::gdpr::SubjectKeys::derive(&config.jwt_secret_bytes()?);
            let report = api::gdpr::run_retention(&db, &keys, tenant, dry_run)
                .await
                .map_err(|err| anyhow::anyhow!("retention run failed: {err}"))?;
            println!("{}", serde_json::to_string(&report)?);
        }
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
