//! The compliance console (`/console`) end to end in headless Chromium: `tests/console/
//! officer.mjs` drives the page as an officer would and checks what it shows; this test sets
//! the scene, runs it, and checks the database afterwards.

use tests::*;

async fn an_officer_works_through_the_console_in_a_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let customer = app.customer(&agent, "Acme").await;
    let ann = app
        .contact(&agent, customer, "Ann", "ann@acme.example")
        .await;
    app.contact(&agent, customer, "Ben", "ben@acme.example")
        .await;
    app.read_email(&agent, ann).await;

    let page = app.get("/console").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    assert!(
        page.text()
            .await
            .expect("html")
            .contains("/console/console.js")
    );

    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console/officer.mjs");
    let mut run = std::process::Command::new("node");
    run.arg(&script)
        .env("DOSSIER_URL", &app.url)
        .env("OFFICER_TOKEN", app.token(app.a.id, "compliance"))
        .env("AGENT_TOKEN", &agent)
        .env("SUBJECT_ID", ann.to_string())
        .env("SUBJECT_EMAIL", "ann@acme.example");
    let output = tokio::task::spawn_blocking(move || run.output())
        .await
        .expect("join")
        .expect("node runs (scripts/test.sh installs it with Chromium and playwright-core)");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        output.status.success(),
        "the console run failed:\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("ok - the erasure is confirmed with its tombstone"),
        "{stdout}"
    );

    // What the page said happened, happened.
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM contacts").await, 1);
    assert_eq!(
        app.admin_count(
            "SELECT COUNT(*) FROM erasures WHERE reason = 'Art. 17 request via console'"
        )
        .await,
        1
    );
}

on_both_backends!(an_officer_works_through_the_console_in_a_browser);
