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
