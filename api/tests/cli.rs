//! The `dossier` command line: output shapes that scripts rely on (DESIGN §6, CLI output).

use std::process::Command;

fn dossier(dir: &std::path::Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_dossier"))
        .args(args)
        .current_dir(dir)
        .env(
            "DATABASE_URL",
            format!("sqlite://{}?mode=rwc", dir.join("cli.db").display()),
        )
        .env_remove("DOSSIER_JWT_SECRET")
        .env_remove("DOSSIER_AUDIT_KEY")
        .env_remove("DOSSIER_OWNER_DATABASE_URL")
        .env_remove("DOSSIER_JWT_KEYS")
        .env("RUST_LOG", "info")
        .output()
        .expect("dossier runs")
}

/// A scratch directory for one test, removed when the test ends, whether it passed or not.
struct Scratch(std::path::PathBuf);

impl Scratch {
    fn new() -> Scratch {
        let dir = std::env::temp_dir().join(format!("dossier-cli-{}", uuid::Uuid::now_v7()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        Scratch(dir)
    }
}

impl std::ops::Deref for Scratch {
    type Target = std::path::Path;
    fn deref(&self) -> &std::path::Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn tenants_create_prints_one_json_line_and_token_prints_only_the_jwt() {
    let dir = Scratch::new();
    let out = dossier(&dir, &["tenants", "create", "--name", "Acme & Co"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let tenant: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(tenant["name"], "Acme & Co");
    let id = tenant["id"].as_str().expect("id").to_owned();

    let out = dossier(
        &dir,
        &[
            "token",
            "--tenant",
            &id,
            "--role",
            "analyst",
            "--sub",
            "u-1",
            "--ttl",
            "60",
            "--purpose",
            "audit",
        ],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let token = String::from_utf8(out.stdout).expect("utf-8");
    let token = token.trim();
    assert_eq!(
        token.split('.').count(),
        3,
        "only the JWT on stdout: {token}"
    );
    // The secret was created once, private, and the same one verifies the token.
    let secret_file = dir.join(".dossier-jwt-secret");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&secret_file)
            .expect("secret file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
    let secret = std::fs::read_to_string(&secret_file).expect("secret");
    let verifier =
        api::auth::Verifier::new(Some(secret.trim().as_bytes()), None, None).expect("verifier");
    let principal = verifier.verify(token).expect("the token verifies");
    assert_eq!(principal.actor, "u-1");
    assert_eq!(principal.role, api::auth::Role::Analyst);
    assert_eq!(principal.purpose.as_deref(), Some("audit"));

    // A scope the role may not hold is refused, with nothing on stdout.
    let out = dossier(
        &dir,
        &[
            "token", "--tenant", &id, "--role", "analyst", "--scope", "pii:read",
        ],
    );
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
}

#[test]
fn retention_run_prints_one_json_report_and_refuses_an_unknown_tenant() {
    let dir = Scratch::new();
    let out = dossier(&dir, &["tenants", "create", "--name", "Acme"]);
    let tenant: serde_json::Value = serde_json::from_slice(&out.stdout).expect("tenant json");
    let id = tenant["id"].as_str().expect("id").to_owned();

    let out = dossier(&dir, &["retention", "run", "--tenant", &id, "--dry-run"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8(out.stdout).expect("utf-8");
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
    let report: serde_json::Value = serde_json::from_str(stdout.trim()).expect("json");
    assert_eq!(report["tenantId"], serde_json::json!(id));
    assert_eq!(report["dryRun"], serde_json::json!(true));
    assert_eq!(
        report["retentionMonths"],
        serde_json::Value::Null,
        "no policy: nothing is due"
    );
    assert_eq!(report["contacts"], serde_json::json!([]));

    let unknown = uuid::Uuid::now_v7().to_string();
    let out = dossier(&dir, &["retention", "run", "--tenant", &unknown]);
    assert!(!out.status.success());
    assert!(out.stdout.is_empty());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("retention run failed: not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn json_lines(out: &std::process::Output) -> Vec<serde_json::Value> {
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|line| serde_json::from_str(line).expect("one JSON value per line"))
        .collect()
}

#[test]
fn idp_register_binds_a_partner_key_to_one_tenant_and_is_audited() {
    let dir = Scratch::new();
    let tenant = json_lines(&dossier(&dir, &["tenants", "create", "--name", "Acme"]))[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/jwks.json");
    let registered = json_lines(&dossier(
        &dir,
        &[
            "idp",
            "register",
            "--tenant",
            &tenant,
            "--name",
            "Partner CRM",
            "--issuer",
            "https://idp.partner.test",
            "--keys",
            keys,
            "--roles",
            "partner",
            "--scopes",
            "customers:read sales:read",
        ],
    ));
    assert_eq!(registered.len(), 1);
    assert_eq!(registered[0]["issuer"], "https://idp.partner.test");
    assert_eq!(registered[0]["roles"], serde_json::json!(["partner"]));
    assert_eq!(
        registered[0]["scopes"],
        serde_json::json!(["customers:read", "sales:read"])
    );
    let id = registered[0]["id"].as_str().expect("id").to_owned();
    let listed = json_lines(&dossier(&dir, &["idp", "list", "--tenant", &tenant]));
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0]["id"], serde_json::json!(id));
    // Bad keys are refused, with nothing written.
    std::fs::write(dir.join("bad.pem"), "not a key").expect("file");
    let bad = dossier(
        &dir,
        &[
            "idp",
            "register",
            "--tenant",
            &tenant,
            "--name",
            "X",
            "--issuer",
            "https://x.test",
            "--keys",
            "bad.pem",
            "--roles",
            "partner",
            "--scopes",
            "",
        ],
    );
    assert!(!bad.status.success());
    assert!(bad.stdout.is_empty());
    assert_eq!(
        json_lines(&dossier(&dir, &["idp", "list", "--tenant", &tenant])).len(),
        1
    );
    let disabled = json_lines(&dossier(
        &dir,
        &["idp", "disable", "--tenant", &tenant, "--id", &id],
    ));
    assert!(disabled[0]["disabledAt"].is_string(), "{disabled:?}");
    // Both changes are in the tenant's audit chain, which verifies.
    let report = json_lines(&dossier(&dir, &["audit", "verify", "--tenant", &tenant]));
    assert_eq!(report[0]["ok"], true, "{report:?}");
    assert_eq!(report[0]["checked"], 2, "{report:?}");
}

#[test]
fn audit_checkpoints_kept_outside_the_database_catch_a_truncated_log() {
    let dir = Scratch::new();
    let tenant = json_lines(&dossier(&dir, &["tenants", "create", "--name", "Acme"]))[0]["id"]
        .as_str()
        .expect("id")
        .to_owned();
    let keys = concat!(env!("CARGO_MANIFEST_DIR"), "/../tests/fixtures/jwks.json");
    for issuer in ["https://one.test", "https://two.test"] {
        json_lines(&dossier(
            &dir,
            &[
                "idp",
                "register",
                "--tenant",
                &tenant,
                "--name",
                "P",
                "--issuer",
                issuer,
                "--keys",
                keys,
                "--roles",
                "partner",
                "--scopes",
                "customers:read",
            ],
        ));
    }
    let printed = json_lines(&dossier(
        &dir,
        &[
            "audit",
            "checkpoint",
            "--tenant",
            &tenant,
            "--append",
            "checkpoints.jsonl",
        ],
    ));
    assert_eq!(printed[0]["seq"], 2);
    assert_eq!(printed[0]["tenant"], serde_json::json!(tenant));
    let kept = std::fs::read_to_string(dir.join("checkpoints.jsonl")).expect("appended");
    assert_eq!(kept.lines().count(), 1);
    assert_eq!(
        serde_json::from_str::<serde_json::Value>(kept.trim()).expect("json"),
        printed[0]
    );
    let verify = [
        "audit",
        "verify",
        "--tenant",
        &tenant,
        "--checkpoints",
        "checkpoints.jsonl",
    ];
    let report = json_lines(&dossier(&dir, &verify));
    assert_eq!(report[0]["ok"], true, "{report:?}");
    assert_eq!(report[0]["checkpointsChecked"], 1);

    // The newest event cut off, behind the API's back: links, hashes and seals still hold.
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    runtime.block_on(async {
        use sea_orm::ConnectionTrait;
        let db = sea_orm::Database::connect(format!(
            "sqlite://{}?mode=rw",
            dir.join("cli.db").display()
        ))
        .await
        .expect("database");
        db.execute_unprepared("DELETE FROM audit_events WHERE seq = 2")
            .await
            .expect("truncate");
        db.close().await.expect("close");
    });
    let blind = json_lines(&dossier(&dir, &["audit", "verify", "--tenant", &tenant]));
    assert_eq!(
        blind[0]["ok"], true,
        "without checkpoints nothing shows: {blind:?}"
    );
    let caught = dossier(&dir, &verify);
    assert_eq!(caught.status.code(), Some(1), "a broken chain exits 1");
    let report: serde_json::Value =
        serde_json::from_slice(&caught.stdout).expect("one JSON report");
    assert_eq!(report["ok"], false);
    assert_eq!(report["firstBrokenSeq"], 2);
    assert!(
        report["reason"]
            .as_str()
            .unwrap_or_default()
            .contains("removed from its end"),
        "{report}"
    );
    // A checkpoint signed with another key is refused, not believed.
    let forged = kept.replace(&printed[0]["sig"].as_str().expect("sig")[..8], "00000000");
    std::fs::write(dir.join("forged.jsonl"), forged).expect("file");
    let refused = dossier(
        &dir,
        &[
            "audit",
            "verify",
            "--tenant",
            &tenant,
            "--checkpoints",
            "forged.jsonl",
        ],
    );
    assert!(!refused.status.success());
    assert!(
        String::from_utf8_lossy(&refused.stderr).contains("not signed by this audit key"),
        "{}",
        String::from_utf8_lossy(&refused.stderr)
    );
}
