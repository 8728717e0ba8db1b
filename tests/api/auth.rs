//! Tokens: what is accepted, and every forgery we know of is refused with 401 UNAUTHENTICATED.

use jsonwebtoken::{Algorithm, EncodingKey, Header, encode};
use serde_json::json;
use tests::*;

const ME: &str = "{ me { actor tenantId tenantName role scopes purpose } }";

async fn refused(app: &TestApp, token: &str) {
    let answer = app.gql(token, ME, json!({})).await;
    assert_eq!(answer.status, 401, "body: {}", answer.body);
    answer.expect_code("UNAUTHENTICATED");
}

fn pem(name: &str) -> Vec<u8> {
    std::fs::read(fixture(name)).expect("fixture")
}

async fn valid_token_identifies_the_caller(backend: Backend) {
    let app = spawn_app(backend).await;
    let data = app.gql(&app.agent_a(), ME, json!({})).await.ok();
    assert_eq!(data["me"]["tenantId"], json!(app.a.id));
    assert_eq!(data["me"]["tenantName"], json!("Alpha Industries"));
    assert_eq!(data["me"]["role"], json!("AGENT"));
    assert_eq!(data["me"]["actor"], json!("user-agent"));
    assert_eq!(data["me"]["purpose"], json!("support ticket 42"));
    assert!(
        data["me"]["scopes"]
            .as_array()
            .expect("scopes")
            .contains(&json!("pii:read"))
    );
}

async fn missing_or_malformed_tokens_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let body = serde_json::to_vec(&json!({ "query": ME })).expect("json");
    let answer = app.post_raw(None, body.clone()).await;
    assert_eq!(answer.status, 401);
    answer.expect_code("UNAUTHENTICATED");
    refused(&app, "not-a-jwt").await;
    refused(&app, "").await;
    refused(&app, "a.b.c").await;
    // Basic auth instead of a bearer token.
    let response = app
        .client
        .post(format!("{}/graphql", app.url))
        .header("authorization", "Basic dXNlcjpwYXNz")
        .header("content-type", "application/json")
        .body(body)
        .send()
        .await
        .expect("sent");
    assert_eq!(response.status().as_u16(), 401);
}

async fn forged_signatures_and_algorithms_are_refused(backend: Backend) {
    let app = spawn_app(backend).await;
    let claims = claims(app.a.id, "admin", None);
    // alg: none, hand-built (the library cannot even produce it).
    let b64 = |v: serde_json::Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(v.to_string())
    };
    let payload = serde_json::to_value(&claims).expect("claims");
    refused(
        &app,
        &format!(
            "{}.{}.",
            b64(json!({"alg": "none", "typ": "JWT"})),
            b64(payload.clone())
        ),
    )
    .await;
    refused(
        &app,
        &format!("{}.{}.", b64(json!({"alg": "None"})), b64(payload)),
    )
    .await;
    // Signed with another HMAC secret.
    let wrong = encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(b"another-secret-that-is-long-enough-32b"),
    )
    .expect("sign");
    refused(&app, &wrong).await;
    // HS384/HS512 with the right secret: the algorithm is not accepted.
    for alg in [Algorithm::HS384, Algorithm::HS512] {
        let token = encode(
            &Header::new(alg),
            &claims,
            &EncodingKey::from_secret(SECRET.as_bytes()),
        )
        .expect("sign");
        refused(&app, &token).await;
    }
    // HS/RS confusion: HMAC keyed with the server's RSA *public* key, claiming the RSA kid.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("partner-rsa".into());
    let confused = encode(
        &header,
        &claims,
        &EncodingKey::from_secret(&pem("rsa_public.pem")),
    )
    .expect("sign");
    refused(&app, &confused).await;
    // RS256 signed by a key the server does not know, under a known kid and under none.
    let other = EncodingKey::from_rsa_pem(&pem("rsa_other_private.pem")).expect("key");
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("partner-rsa".into());
    refused(&app, &encode(&header, &claims, &other).expect("sign")).await;
    refused(
        &app,
        &encode(&Header::new(Algorithm::RS256), &claims, &other).expect("sign"),
    )
    .await;
    // A tampered payload under a valid signature.
    let good = app.agent_a();
    let mut parts: Vec<&str> = good.split('.').collect();
    let forged_payload = b64(serde_json::to_value(claims_for_b(&app)).expect("claims"));
    parts[1] = &forged_payload;
    refused(&app, &parts.join(".")).await;
}

fn claims_for_b(app: &TestApp) -> api::auth::Claims {
    claims(app.b.id, "agent", None)
}

async fn partner_keys_from_jwks_are_accepted_by_kid(backend: Backend) {
    let app = spawn_app(backend).await;
    app.register_partner(app.a.id, &["partner"], &["customers:read"])
        .await;
    let claims = partner_claims(app.a.id, "partner", Some("customers:read"));
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("partner-rsa".into());
    let rsa = encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(&pem("rsa_private.pem")).expect("key"),
    )
    .expect("sign");
    let data = app.gql(&rsa, ME, json!({})).await.ok();
    assert_eq!(data["me"]["scopes"], json!(["customers:read"]));
    let mut header = Header::new(Algorithm::ES256);
    header.kid = Some("partner-ec".into());
    let ec = encode(
        &header,
        &claims,
        &EncodingKey::from_ec_pem(&pem("ec_private.pem")).expect("key"),
    )
    .expect("sign");
    app.gql(&ec, ME, json!({})).await.ok();
    // The EC key's kid with an RS256 header: the key decides the algorithm, not the token.
    let mut header = Header::new(Algorithm::RS256);
    header.kid = Some("partner-ec".into());
    let mismatched = encode(
        &header,
        &claims,
        &EncodingKey::from_rsa_pem(&pem("rsa_private.pem")).expect("key"),
    )
    .expect("sign");
    refused(&app, &mismatched).await;
}

async fn time_claims_are_enforced(backend: Backend) {
    let app = spawn_app(backend).await;
    let now = chrono::Utc::now().timestamp();
    let mut expired = claims(app.a.id, "agent", None);
    expired.exp = now - 120;
    refused(&app, &sign(&expired)).await;
    let mut not_yet = claims(app.a.id, "agent", None);
    not_yet.nbf = Some(now + 300);
    refused(&app, &sign(&not_yet)).await;
    // The leeway forgives 30 s of clock skew, on `exp` and on `nbf` alike, and no more: 25 s
    // past (or before) is accepted, 40 s is refused. The margins dwarf the test's own time.
    for (skew, accepted) in [(25, true), (40, false)] {
        let mut expired = claims(app.a.id, "agent", None);
        expired.exp = now - skew;
        let mut early = claims(app.a.id, "agent", None);
        early.nbf = Some(now + skew);
        for (what, token) in [("exp", sign(&expired)), ("nbf", sign(&early))] {
            if accepted {
                let answer = app.gql(&token, ME, json!({})).await;
                assert_eq!(answer.status, 200, "{what} {skew} s off: {}", answer.body);
                assert_eq!(
                    answer.data()["me"]["tenantId"],
                    json!(app.a.id),
                    "{what} {skew} s off"
                );
            } else {
                refused(&app, &token).await;
            }
        }
    }
    // Without exp at all.
    let mut value = serde_json::to_value(claims(app.a.id, "agent", None)).expect("claims");
    value.as_object_mut().expect("object").remove("exp");
    refused(&app, &sign(&value)).await;
}

async fn issuer_and_audience_are_required_when_configured(backend: Backend) {
    let app = spawn_app(backend).await;
    for field in ["iss", "aud"] {
        let mut value = serde_json::to_value(claims(app.a.id, "agent", None)).expect("claims");
        value.as_object_mut().expect("object").remove(field);
        refused(&app, &sign(&value)).await;
        value[field] = json!("https://someone-else.example");
        refused(&app, &sign(&value)).await;
    }
}

async fn tenant_role_and_claim_types_are_checked(backend: Backend) {
    let app = spawn_app(backend).await;
    // A tenant that does not exist.
    refused(&app, &app.token(uuid::Uuid::now_v7(), "agent")).await;
    // No tenant, a tenant that is not a UUID, a number where a string belongs.
    let base = serde_json::to_value(claims(app.a.id, "agent", None)).expect("claims");
    let mut no_tenant = base.clone();
    no_tenant
        .as_object_mut()
        .expect("object")
        .remove("tenant_id");
    refused(&app, &sign(&no_tenant)).await;
    let mut bad_tenant = base.clone();
    bad_tenant["tenant_id"] = json!("tenant-a");
    refused(&app, &sign(&bad_tenant)).await;
    let mut numeric_exp = base.clone();
    numeric_exp["exp"] = json!("tomorrow");
    refused(&app, &sign(&numeric_exp)).await;
    let mut array_role = base.clone();
    array_role["role"] = json!(["admin"]);
    refused(&app, &sign(&array_role)).await;
    // Unknown role, unknown scope, a scope outside the role's set, a wildcard.
    refused(&app, &app.token(app.a.id, "superuser")).await;
    refused(
        &app,
        &app.token_with(app.a.id, "agent", "customers:read everything"),
    )
    .await;
    refused(
        &app,
        &app.token_with(app.a.id, "analyst", "customers:read pii:read"),
    )
    .await;
    refused(&app, &app.token_with(app.a.id, "agent", "audit:read")).await;
    refused(&app, &app.token_with(app.a.id, "agent", "customers:*")).await;
}

async fn scopes_decide_what_a_token_can_do(backend: Backend) {
    let app = spawn_app(backend).await;
    let customers = "{ customers { totalCount } }";
    // A partner token without scope is valid and can read nothing.
    let partner = app.token(app.a.id, "partner");
    app.gql(&partner, ME, json!({})).await.ok();
    app.gql(&partner, customers, json!({}))
        .await
        .expect_code("FORBIDDEN");
    // A narrowed agent token cannot write.
    let reader = app.token_with(app.a.id, "agent", "customers:read");
    app.gql(&reader, customers, json!({})).await.ok();
    let create = "mutation { createCustomer(input: {name: \"X\", country: \"FR\"}) { id } }";
    app.gql(&reader, create, json!({}))
        .await
        .expect_code("FORBIDDEN");
    // Analysts read but never write; only compliance and admin read the audit log.
    let analyst = app.token(app.a.id, "analyst");
    app.gql(&analyst, create, json!({}))
        .await
        .expect_code("FORBIDDEN");
    let audit = "{ auditEvents { totalCount } }";
    for role in ["agent", "analyst", "partner"] {
        app.gql(&app.token(app.a.id, role), audit, json!({}))
            .await
            .expect_code("FORBIDDEN");
    }
    for role in ["admin", "compliance"] {
        app.gql(&app.token(app.a.id, role), audit, json!({}))
            .await
            .ok();
    }
    // Nothing was written by the refused creates.
    assert_eq!(app.admin_count("SELECT COUNT(*) FROM customers").await, 0);
}

/// Every refusal carries a request id too: the 401 a caller gets for a bad token and the 413
/// for an oversized body are the ones support is asked about.
async fn refusals_carry_a_request_id(backend: Backend) {
    let app = spawn_app(backend).await;
    let request_id = |response: &reqwest::Response| {
        let id = response
            .headers()
            .get("x-request-id")
            .unwrap_or_else(|| panic!("no X-Request-Id on a {}", response.status()))
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(
            !id.is_empty()
                && id.len() <= 64
                && id
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "{id}"
        );
        id
    };
    let unauthenticated = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth("not-a-jwt")
        .json(&json!({ "query": ME }))
        .send()
        .await
        .expect("sent");
    assert_eq!(unauthenticated.status().as_u16(), 401);
    let first = request_id(&unauthenticated);
    let too_large = app
        .client
        .post(format!("{}/graphql", app.url))
        .bearer_auth(app.agent_a())
        .header("content-type", "application/json")
        .body(vec![b' '; 1024 * 1024 + 1])
        .send()
        .await
        .expect("sent");
    assert_eq!(too_large.status().as_u16(), 413);
    let second = request_id(&too_large);
    assert_ne!(first, second, "each request has its own id");
}

/// An HS256 secret shorter than 32 bytes can be brute-forced offline: the verifier refuses
/// it, and so the application refuses to start with it.
#[tokio::test]
async fn a_secret_shorter_than_32_bytes_is_refused_at_start() {
    assert_eq!(api::auth::MIN_SECRET_BYTES, 32);
    let short = "s".repeat(31);
    let long_enough = "s".repeat(32);
    let err = api::auth::Verifier::new(Some(short.as_bytes()), None, None)
        .err()
        .expect("a 31-byte secret is refused");
    assert!(err.to_string().contains("at least 32 bytes"), "{err}");
    assert!(api::auth::Verifier::new(Some(long_enough.as_bytes()), None, None).is_ok());

    let start = |secret: &str| {
        let mut config = config("sqlite::memory:");
        config.jwt_secret = Some(secret.to_owned());
        async move {
            let db = api::db::connect(&config).await.expect("database");
            api::startup::Application::build_with(&config, db, None).map(drop)
        }
    };
    let err = start(&short)
        .await
        .expect_err("the application does not start");
    assert!(format!("{err:#}").contains("at least 32 bytes"), "{err:#}");
    start(&long_enough)
        .await
        .expect("the application starts with a 32-byte secret");
}

on_both_backends!(
    refusals_carry_a_request_id,
    valid_token_identifies_the_caller,
    missing_or_malformed_tokens_are_refused,
    forged_signatures_and_algorithms_are_refused,
    partner_keys_from_jwks_are_accepted_by_kid,
    time_claims_are_enforced,
    issuer_and_audience_are_required_when_configured,
    tenant_role_and_claim_types_are_checked,
    scopes_decide_what_a_token_can_do,
);
