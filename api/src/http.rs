//! The HTTP surface: `POST /graphql` (body cap, bearer auth, no batching), GraphiQL, the
//! compliance console (`/console`), `/health`, `/ready`, `/metrics`, and request ids.

use std::sync::Arc;
use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderValue};
use actix_web::http::{Method, StatusCode};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use futures_util::StreamExt;
use uuid::Uuid;

use crate::auth::{AuthError, Principal, Signer, Verifier};
use crate::error::Code;
use crate::graphql::{self, DossierSchema, Refused, RequestIds};
use crate::metrics::{Metrics, Phase};

pub struct AppState {
    /// Origins whose front-end apps may call the API from a browser (`DOSSIER_CORS_ORIGINS`).
    pub cors_origins: Vec<String>,
    pub schema: DossierSchema,
    pub services: graphql::Services,
    pub verifier: Verifier,
    pub metrics: Metrics,
    pub max_body_bytes: usize,
}

pub fn configure(state: Arc<AppState>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |cfg| {
        cfg.app_data(web::Data::from(state))
            .route("/graphql", web::post().to(graphql_post))
            .route("/graphql", web::get().to(graphiql))
            .route("/graphql", web::method(Method::OPTIONS).to(graphql_options))
            .route("/graphql", web::route().to(graphql_not_allowed))
            .route("/graphiql/{file}", web::get().to(graphiql_file))
            .route("/console", web::get().to(console_page))
            .route("/console/console.js", web::get().to(console_script))
            .route("/console/console.css", web::get().to(console_style))
            .route("/health", web::get().to(health))
            .route("/ready", web::get().to(ready))
            .route("/metrics", web::get().to(metrics));
    }
}

/// Middleware body: assigns the request id, logs the request (ids only), counts it.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    // The server makes every request's id; the caller's `X-Request-Id` (a short token) is
    // kept beside it for correlation, since a caller can send any id it likes.
    let ids = RequestIds {
        server: Uuid::now_v7().to_string(),
        caller: req
            .headers()
            .get("x-request-id")
            .and_then(|v| v.to_str().ok())
            .filter(|v| {
                !v.is_empty()
                    && v.len() <= 64
                    && v.chars()
                        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            })
            .map(str::to_owned),
    };
    req.extensions_mut().insert(ids.clone());
    let method = req.method().clone();
    let path = req.path().to_owned();
    let state = req.app_data::<web::Data<AppState>>().cloned();
    let cors = state
        .as_ref()
        .and_then(|state| allowed_origin(state, req.request()));
    let mut response = next.call(req).await?;
    if let Some(origin) = cors {
        // Bearer tokens, no cookies: no credentials mode needed.
        let headers = response.headers_mut();
        headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
        headers.insert(
            header::ACCESS_CONTROL_EXPOSE_HEADERS,
            HeaderValue::from_static("x-request-id, retry-after, www-authenticate"),
        );
    }
    response
        .headers_mut()
        .append(header::VARY, HeaderValue::from_static("origin"));
    let status = response.status();
    let micros = started.elapsed().as_micros() as u64;
    if let Some(state) = state {
        state.metrics.observe(status.as_u16(), micros);
    }
    if let Ok(value) = HeaderValue::from_str(&ids.server) {
        response
            .headers_mut()
            .insert(header::HeaderName::from_static("x-request-id"), value);
    }
    tracing::info!(
        request_id = %ids.server,
        caller_request_id = ids.caller.as_deref().unwrap_or(""),
        %method,
        %path,
        status = status.as_u16(),
        micros,
        "request"
    );
    Ok(response)
}

/// The media type of GraphQL over HTTP; `application/json` stays for clients that ask for it
/// (or for nothing in particular).
const GRAPHQL_RESPONSE: &str = "application/graphql-response+json";

/// Whether the client's `Accept` names `application/graphql-response+json`.
fn wants_graphql_response(req: &HttpRequest) -> bool {
    req.headers()
        .get_all(header::ACCEPT)
        .filter_map(|v| v.to_str().ok())
        .flat_map(|accept| accept.split(','))
        .filter_map(|part| part.split(';').next())
        .any(|media| media.trim().eq_ignore_ascii_case(GRAPHQL_RESPONSE))
}

/// A response to a GraphQL request. When execution never started (a request error: the body
/// is not a GraphQL request, the document does not parse or validate, the token is refused…)
/// the body has no `data` key, and under `application/graphql-response+json` such an error is
/// a 4xx, as the GraphQL-over-HTTP spec says; `application/json` keeps 200 for documents that
/// do not parse or validate.
fn graphql_response(
    req: &HttpRequest,
    status: StatusCode,
    response: &async_graphql::Response,
    executed: bool,
) -> HttpResponse {
    // Written straight from the response, in the order its fields were selected (as the
    // GraphQL spec asks); only a request error, whose `data` key must go, takes a detour.
    let body = if executed {
        serde_json::to_vec(response)
    } else {
        let mut body = serde_json::to_value(response).unwrap_or_default();
        if let Some(fields) = body.as_object_mut() {
            fields.remove("data");
        }
        serde_json::to_vec(&body)
    };
    let modern = wants_graphql_response(req);
    let status = if modern && !executed && status == StatusCode::OK {
        StatusCode::BAD_REQUEST
    } else {
        status
    };
    HttpResponse::build(status)
        .content_type(media_type(modern))
        .body(body.unwrap_or_else(|_| b"{}".to_vec()))
}

/// The response of a compiled read: its data as the database wrote it, never parsed.
fn compiled_response(req: &HttpRequest, data: &str) -> HttpResponse {
    let mut body = String::with_capacity(data.len() + 9);
    body.push_str("{\"data\":");
    body.push_str(data);
    body.push('}');
    HttpResponse::Ok()
        .content_type(media_type(wants_graphql_response(req)))
        .body(body)
}

/// The media type of a GraphQL response: the one the caller asked for (`modern`), or JSON.
fn media_type(modern: bool) -> &'static str {
    if modern {
        GRAPHQL_RESPONSE
    } else {
        "application/json"
    }
}

/// Whether a response's errors all came before execution: no data, no error at a path, no
/// failure of the server's own.
fn never_executed(response: &async_graphql::Response) -> bool {
    response.data == async_graphql::Value::Null
        && !response.errors.is_empty()
        && response.errors.iter().all(|e| {
            e.path.is_empty()
                && e.extensions
                    .as_ref()
                    .and_then(|ext| ext.get("code"))
                    .is_none_or(|code| *code != async_graphql::Value::from(Code::Internal.as_str()))
        })
}

fn refuse(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    code: Code,
    message: &str,
) -> HttpResponse {
    refuse_with(state, req, status, graphql::error_response(code, message))
}

fn refuse_with(
    state: &AppState,
    req: &HttpRequest,
    status: StatusCode,
    response: async_graphql::Response,
) -> HttpResponse {
    state.metrics.graphql_errors(1);
    let mut response = graphql_response(req, status, &response, false);
    if status == StatusCode::UNAUTHORIZED {
        state.metrics.unauthenticated();
        response
            .headers_mut()
            .insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
    }
    response
}

/// The `X-Purpose` header, if the request has one: UTF-8, one line, at most as long as the
/// `purpose` claim may be.
fn stated_purpose(req: &HttpRequest) -> Result<Option<String>, &'static str> {
    let Some(value) = req.headers().get("x-purpose") else {
        return Ok(None);
    };
    let purpose = std::str::from_utf8(value.as_bytes())
        .map_err(|_| "X-Purpose: must be UTF-8")?
        .trim();
    if purpose.is_empty() {
        return Ok(None);
    }
    crate::validate::single_line("X-Purpose", purpose, crate::auth::MAX_CLAIM_CHARS)
        .map_err(|_| "X-Purpose: at most 200 characters on one line, without control characters")?;
    Ok(Some(purpose.to_owned()))
}

/// The principal of the request's bearer token: signed by the operator's key, or by the key
/// of an identity provider the token's tenant registered (and within that registration).
/// `Err(None)` when the registrations could not be read.
async fn authenticate(state: &AppState, req: &HttpRequest) -> Result<Principal, Option<AuthError>> {
    let token = bearer(req)?;
    match crate::auth::signer(token)? {
        Signer::FirstParty => Ok(state.verifier.verify(token)?),
        Signer::External { tenant_id, issuer } => {
            let provider = state
                .services
                .providers
                .find(&state.services.db, tenant_id, &issuer)
                .await
                .map_err(|err| {
                    tracing::error!(error = %err, "reading identity providers failed");
                    None
                })?
                .ok_or(AuthError::UnknownIssuer)?;
            Ok(state.verifier.verify_external(token, &provider)?)
        }
    }
}

fn bearer(req: &HttpRequest) -> Result<&str, AuthError> {
    let value = req
        .headers()
        .get(header::AUTHORIZATION)
        .ok_or(AuthError::Missing)?
        .to_str()
        .map_err(|_| AuthError::Invalid)?;
    let (scheme, token) = value.split_once(' ').ok_or(AuthError::Invalid)?;
    if !scheme.eq_ignore_ascii_case("bearer") || token.trim().is_empty() {
        return Err(AuthError::Invalid);
    }
    Ok(token.trim())
}

/// Reads the body up to the cap; `None` when it is larger. The async-graphql extractor has
/// no cap of its own, so it is not used.
async fn read_capped(
    mut payload: web::Payload,
    cap: usize,
) -> Result<Option<Vec<u8>>, actix_web::Error> {
    let mut body = Vec::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > cap {
            return Ok(None);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(Some(body))
}

async fn graphql_post(
    state: web::Data<AppState>,
    req: HttpRequest,
    payload: web::Payload,
) -> HttpResponse {
    let ids = req
        .extensions()
        .get::<RequestIds>()
        .cloned()
        .unwrap_or_else(|| RequestIds {
            server: Uuid::now_v7().to_string(),
            caller: None,
        });

    let json_body = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|media| media.trim().eq_ignore_ascii_case("application/json"));
    if !json_body {
        return refuse(
            &state,
            &req,
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Code::BadUserInput,
            "Content-Type: send the request as application/json",
        );
    }

    let authenticated = state
        .services
        .phases
        .time(Phase::Authenticate, authenticate(&state, &req))
        .await;
    let principal = match authenticated {
        Ok(principal) => principal,
        Err(None) => {
            return refuse(
                &state,
                &req,
                StatusCode::SERVICE_UNAVAILABLE,
                Code::Internal,
                "the database is unavailable",
            );
        }
        Err(Some(err)) => {
            tracing::info!(request_id = %ids.server, reason = %err, "unauthenticated");
            return refuse(
                &state,
                &req,
                StatusCode::UNAUTHORIZED,
                Code::Unauthenticated,
                &err.to_string(),
            );
        }
    };

    // The purpose of access: the token's `purpose` claim, else the `X-Purpose` header (UTF-8,
    // one line). A header that cannot be recorded as sent is refused, never dropped: the
    // caller would believe a purpose stands in the audit log that does not.
    let mut principal = principal;
    match stated_purpose(&req) {
        Ok(None) => {}
        Ok(Some(purpose)) => match &principal.purpose {
            None => principal.purpose = Some(purpose),
            Some(claimed) if *claimed == purpose => {}
            Some(_) => {
                return refuse(
                    &state,
                    &req,
                    StatusCode::BAD_REQUEST,
                    Code::BadUserInput,
                    "X-Purpose: differs from the token's `purpose` claim, which is what the audit log records",
                );
            }
        },
        Err(reason) => {
            return refuse(
                &state,
                &req,
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                reason,
            );
        }
    }

    let too_large = || {
        refuse(
            &state,
            &req,
            StatusCode::PAYLOAD_TOO_LARGE,
            Code::PayloadTooLarge,
            &format!("request body larger than {} bytes", state.max_body_bytes),
        )
    };
    let declared = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > state.max_body_bytes) {
        return too_large();
    }
    let body = match read_capped(payload, state.max_body_bytes).await {
        Ok(Some(body)) => body,
        Ok(None) => return too_large(),
        Err(_) => {
            return refuse(
                &state,
                &req,
                StatusCode::BAD_REQUEST,
                Code::BadUserInput,
                "unreadable request body",
            );
        }
    };

    let value: serde_json::Value = match serde_json::from_slice(&body) {
        Ok(value) => value,
        Err(_) => {
            return refuse(
                &state,
                &req,
                StatusCode::BAD_REQUEST,
                Code::GraphqlParseFailed,
                "the body is not JSON",
            );
        }
    };
    if !value.get("query").is_some_and(serde_json::Value::is_string) && !value.is_array() {
        return refuse(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            Code::GraphqlParseFailed,
            "the body has no `query` string",
        );
    }
    if value.is_array() {
        return refuse(
            &state,
            &req,
            StatusCode::BAD_REQUEST,
            Code::BadUserInput,
            "batched requests are not accepted: send one operation per request",
        );
    }
    let mut request: async_graphql::Request = match serde_json::from_value(value) {
        Ok(request) => request,
        Err(_) => {
            return refuse(
                &state,
                &req,
                StatusCode::BAD_REQUEST,
                Code::GraphqlParseFailed,
                "the body is not a GraphQL request (`query`, `variables`, `operationName`)",
            );
        }
    };
    if let Err(err) = state.services.queries.parse(&mut request) {
        // One line, and where: the parser's own message runs over several.
        let first_line = err
            .message
            .lines()
            .next()
            .unwrap_or("the query does not parse");
        let mut error = async_graphql::ServerError::new(first_line, err.locations.first().copied());
        graphql::set_code(&mut error, Code::GraphqlParseFailed);
        return refuse_with(
            &state,
            &req,
            StatusCode::OK,
            async_graphql::Response::from_errors(vec![error]),
        );
    }

    match graphql::execute(&state.schema, &state.services, principal, ids, request).await {
        Ok(graphql::Answer { response, compiled }) => {
            state.metrics.graphql_errors(response.errors.len());
            match compiled {
                Some(data) => compiled_response(&req, &data),
                None => {
                    graphql_response(&req, StatusCode::OK, &response, !never_executed(&response))
                }
            }
        }
        Err(Refused::Unauthenticated(err)) => refuse(
            &state,
            &req,
            StatusCode::UNAUTHORIZED,
            Code::Unauthenticated,
            &err.to_string(),
        ),
        Err(Refused::Unavailable) => refuse(
            &state,
            &req,
            StatusCode::SERVICE_UNAVAILABLE,
            Code::Internal,
            "the database is unavailable",
        ),
        Err(Refused::RateLimited(retry_after)) => {
            let mut response = refuse(
                &state,
                &req,
                StatusCode::TOO_MANY_REQUESTS,
                Code::RateLimited,
                "this tenant's request budget is spent for now: retry after the `Retry-After` seconds",
            );
            if let Ok(value) = HeaderValue::from_str(&retry_after.as_secs().max(1).to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        Err(Refused::TooBig(shape)) => {
            let limits = state.services.limits;
            refuse(
                &state,
                &req,
                StatusCode::OK,
                Code::QueryTooComplex,
                &format!(
                    "the operation has {} root fields and {} counts (aliases and fragments included); at most {} and {} are accepted",
                    shape.root_fields, shape.counts, limits.root_fields, limits.counts
                ),
            )
        }
    }
}

/// The methods `/graphql` answers.
const GRAPHQL_METHODS: &str = "GET, POST, OPTIONS";

/// Any other method on `/graphql`: 405 with the methods it answers.
async fn graphql_not_allowed() -> HttpResponse {
    HttpResponse::MethodNotAllowed()
        .insert_header((header::ALLOW, GRAPHQL_METHODS))
        .finish()
}

/// `OPTIONS /graphql`: the methods it answers, and a CORS preflight for an allowed origin (the
/// headers themselves are added by [`observe`], as for every response to that origin).
async fn graphql_options(state: web::Data<AppState>, req: HttpRequest) -> HttpResponse {
    let mut response = HttpResponse::NoContent();
    response.insert_header((header::ALLOW, GRAPHQL_METHODS));
    if allowed_origin(&state, &req).is_some()
        && req
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
    {
        response
            .insert_header((header::ACCESS_CONTROL_ALLOW_METHODS, "GET, POST"))
            .insert_header((
                header::ACCESS_CONTROL_ALLOW_HEADERS,
                "authorization, content-type, accept, x-purpose, x-request-id",
            ))
            .insert_header((header::ACCESS_CONTROL_MAX_AGE, "600"));
    }
    response.finish()
}

/// The request's `Origin`, when it is one of `DOSSIER_CORS_ORIGINS`.
fn allowed_origin(state: &AppState, req: &HttpRequest) -> Option<HeaderValue> {
    let origin = req.headers().get(header::ORIGIN)?;
    let text = origin.to_str().ok()?;
    state
        .cors_origins
        .iter()
        .any(|allowed| allowed.eq_ignore_ascii_case(text))
        .then(|| origin.clone())
}

/// GraphiQL, served from the binary: pinned production builds of its npm packages
/// (`scripts/vendor-graphiql.sh`, licences beside them in `api/graphiql/`), so that it works
/// offline, in air-gapped deployments and behind strict proxies, under a strict CSP (GraphiQL
/// sets styles from script, hence `'unsafe-inline'` for styles only).
fn graphiql_asset(content_type: &'static str, body: &'static [u8]) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; \
             connect-src 'self'; img-src 'self' data:; font-src 'self' data:; \
             form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .body(body)
}

async fn graphiql() -> HttpResponse {
    graphiql_asset(
        "text/html; charset=utf-8",
        include_bytes!("../graphiql/index.html"),
    )
}

async fn graphiql_file(path: web::Path<String>) -> HttpResponse {
    let (content_type, body): (&'static str, &'static [u8]) = match path.as_str() {
        "graphiql.min.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../graphiql/graphiql.min.js"),
        ),
        "graphiql.min.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../graphiql/graphiql.min.css"),
        ),
        "react.production.min.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../graphiql/react.production.min.js"),
        ),
        "react-dom.production.min.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../graphiql/react-dom.production.min.js"),
        ),
        "init.js" => (
            "text/javascript; charset=utf-8",
            include_bytes!("../graphiql/init.js"),
        ),
        "page.css" => (
            "text/css; charset=utf-8",
            include_bytes!("../graphiql/page.css"),
        ),
        _ => return HttpResponse::NotFound().finish(),
    };
    graphiql_asset(content_type, body)
}

/// The compliance console's static assets, compiled into the binary: no CDN, no build step.
/// The page talks to `POST /graphql` with the officer's own token, like any client.
fn console_asset(content_type: &'static str, body: &'static str) -> HttpResponse {
    HttpResponse::Ok()
        .content_type(content_type)
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; \
             img-src 'self'; form-action 'none'; frame-ancestors 'none'; base-uri 'none'",
        ))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::REFERRER_POLICY, "no-referrer"))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(body)
}

async fn console_page() -> HttpResponse {
    console_asset(
        "text/html; charset=utf-8",
        include_str!("../console/index.html"),
    )
}

async fn console_script() -> HttpResponse {
    console_asset(
        "text/javascript; charset=utf-8",
        include_str!("../console/console.js"),
    )
}

async fn console_style() -> HttpResponse {
    console_asset(
        "text/css; charset=utf-8",
        include_str!("../console/console.css"),
    )
}

async fn health() -> HttpResponse {
    HttpResponse::Ok().content_type("text/plain").body("ok")
}

async fn ready(state: web::Data<AppState>) -> HttpResponse {
    match state.services.db.ping().await {
        Ok(()) => HttpResponse::Ok().content_type("text/plain").body("ready"),
        Err(err) => {
            tracing::warn!(error = %err, "readiness check failed");
            HttpResponse::ServiceUnavailable()
                .content_type("text/plain")
                .body("database unreachable")
        }
    }
}

async fn metrics(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("text/plain; version=0.0.4")
        .body(
            state.metrics.render()
                + &state.services.compiled_reads.render()
                + &state.services.phases.render()
                + &state.services.seal_lag.render(),
        )
}
