//! The compliance console (`/console`) end to end in headless Chromium: `tests/console/
//! officer.mjs` drives the page as an officer would and checks what it shows; this test sets
//! the scene, runs it, and checks the database afterwards.

use std::io::Read;
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use tests::*;

/// The browser run takes seconds; a regression that hangs it (a selector that never shows,
/// a request that never answers) fails the test after this long instead of hanging CI.
const BROWSER_RUN_LIMIT: Duration = Duration::from_secs(180);

/// What a bounded run printed, and how it exited (`None`: it was killed at the limit).
struct Bounded {
    status: Option<ExitStatus>,
    stdout: Vec<u8>,
    stderr: Vec<u8>,
}

/// Runs `command` in a process group of its own and, past `limit`, kills the whole group —
/// node and the Chromium it started — rather than waiting for ever.
fn run_bounded(mut command: Command, limit: Duration) -> Bounded {
    use std::os::unix::process::CommandExt;
    let mut child = command
        .process_group(0)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs (scripts/test.sh installs it with Chromium and playwright-core)");
    // Drained as the child writes, so that a full pipe cannot stall it.
    let drain = |mut pipe: Box<dyn Read + Send>| {
        std::thread::spawn(move || {
            let mut bytes = Vec::new();
            let _ = pipe.read_to_end(&mut bytes);
            bytes
        })
    };
    let stdout = drain(Box::new(child.stdout.take().expect("stdout")));
    let stderr = drain(Box::new(child.stderr.take().expect("stderr")));
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait for node") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let group = format!("-{}", child.id());
            let _ = Command::new("kill").args(["-KILL", "--", &group]).status();
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    Bounded {
        status,
        stdout: stdout.join().unwrap_or_default(),
        stderr: stderr.join().unwrap_or_default(),
    }
}

/// An actor name that is markup, as a hostile identity provider or client could send it.
const MARKUP_ACTOR: &str = "<img src=x onerror=\"window.__pwned = 'sub'\">";

async fn an_officer_works_through_the_console_in_a_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let agent = app.agent_a();
    let customer = app.customer(&agent, "Acme").await;
    let ann = app
        .contact(&agent, customer, "Ann", "ann@acme.example")
        .await;
    app.contact(&agent, customer, "Ben", "ben@acme.example")
        .await;
    app.gql(
        &agent,
        "mutation($id: UUID!) { recordConsent(input: {contactId: $id, purpose: \"marketing_email\", granted: true, source: \"web_form:newsletter\"}) { id } }",
        serde_json::json!({"id": ann}),
    )
    .await
    .ok();
    // The read is made by a caller whose free-text claims are markup: the page must show them
    // as text, never build elements from them.
    let mut markup = claims(app.a.id, "agent", None);
    markup.sub = MARKUP_ACTOR.into();
    markup.purpose = Some("<script>window.__pwned = 'purpose'</script>".into());
    markup.client_id = Some("<b onmouseover=\"window.__pwned = 'client'\">crm</b>".into());
    app.read_email(&sign(&markup), ann).await;

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
        .env("READER_ACTOR", MARKUP_ACTOR)
        .env("SUBJECT_EMAIL", "ann@acme.example")
        .env("SUBJECT_NAME", "Ann Martin");
    let output = tokio::task::spawn_blocking(move || run_bounded(run, BROWSER_RUN_LIMIT))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let status = output.status.unwrap_or_else(|| {
        panic!(
            "the console run took over {} s and was killed:\n{stdout}\n{stderr}",
            BROWSER_RUN_LIMIT.as_secs()
        )
    });
    assert!(
        status.success(),
        "the console run failed ({status}):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("ok - the person is found by email, best match first")
            && stdout.contains("ok - a person under a legal hold cannot be erased")
            && stdout.contains("ok - the erasure is confirmed with its tombstone"),
        "{stdout}"
    );

    // What the page said happened, happened.
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM contacts").await, 1);
    assert_eq!(
        app.admin_count(
            "SELECT COUNT(*) FROM legal_holds WHERE reason = 'Litigation 2026-17' AND released_at IS NOT NULL"
        )
        .await,
        1,
        "the hold was placed and released"
    );
    assert_eq!(
        app.admin_count(
            "SELECT COUNT(*) FROM erasures WHERE reason = 'Art. 17 request via console'"
        )
        .await,
        1
    );
}

on_both_backends!(an_officer_works_through_the_console_in_a_browser);

/// GraphiQL works offline: served from the binary's own assets under a strict CSP, with the
/// browser refused every other host, a pasted token loads the schema, the docs explorer lists
/// `Query.customers` and a typed query returns data (`tests/console/graphiql.mjs`).
async fn graphiql_works_offline_in_a_browser(backend: Backend) {
    let app = spawn_app(backend).await;
    let page = app.get("/graphql").await;
    assert_eq!(page.status(), 200);
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .expect("ascii")
        .to_owned();
    assert!(
        csp.contains("script-src 'self'") && csp.contains("default-src 'none'"),
        "{csp}"
    );
    let html = page.text().await.expect("html");
    assert!(
        !html.contains("http://") && !html.contains("https://"),
        "no CDN: {html}"
    );
    for asset in [
        "graphiql.min.js",
        "react.production.min.js",
        "react-dom.production.min.js",
    ] {
        let response = app.get(&format!("/graphiql/{asset}")).await;
        assert_eq!(response.status(), 200, "{asset}");
    }
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("console/graphiql.mjs");
    let mut run = std::process::Command::new("node");
    run.arg(&script)
        .env("DOSSIER_URL", &app.url)
        .env("TOKEN", app.agent_a());
    let output = tokio::task::spawn_blocking(move || run_bounded(run, BROWSER_RUN_LIMIT))
        .await
        .expect("join");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    let status = output.status.unwrap_or_else(|| {
        panic!(
            "the GraphiQL run took over {} s and was killed:\n{stdout}\n{stderr}",
            BROWSER_RUN_LIMIT.as_secs()
        )
    });
    assert!(
        status.success(),
        "the GraphiQL run failed ({status}):\n{stdout}\n{stderr}"
    );
    assert!(
        stdout.contains("ok - the docs explorer lists Query.customers")
            && stdout.contains("ok - a query typed in the editor returns data"),
        "{stdout}"
    );
}

on_both_backends!(graphiql_works_offline_in_a_browser);
