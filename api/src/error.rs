//! The one error type of the API and its one conversion to GraphQL errors.
//!
//! Resolvers return [`ApiError`]; `From<ApiError> for async_graphql::Error` sets the stable
//! `extensions.code` of DESIGN §6 and, for internal failures, logs the cause (with ids, never
//! personal data) and replaces it with a generic message: no SQL text, stack trace or
//! connection string ever reaches a client. async-graphql's `custom-error-conversion`
//! feature is on, so nothing else becomes a client-visible error by accident.

use sea_orm::{DbErr, SqlErr};

/// The stable error codes, the complete list of DESIGN §6.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Code {
    Unauthenticated,
    Forbidden,
    NotFound,
    BadUserInput,
    Conflict,
    QueryTooComplex,
    GraphqlParseFailed,
    GraphqlValidationFailed,
    PayloadTooLarge,
    /// The tenant's budget is spent for now (HTTP 429, with `Retry-After`).
    RateLimited,
    Internal,
}

impl Code {
    pub fn as_str(self) -> &'static str {
        match self {
            Code::Unauthenticated => "UNAUTHENTICATED",
            Code::Forbidden => "FORBIDDEN",
            Code::NotFound => "NOT_FOUND",
            Code::BadUserInput => "BAD_USER_INPUT",
            Code::Conflict => "CONFLICT",
            Code::QueryTooComplex => "QUERY_TOO_COMPLEX",
            Code::GraphqlParseFailed => "GRAPHQL_PARSE_FAILED",
            Code::GraphqlValidationFailed => "GRAPHQL_VALIDATION_FAILED",
            Code::PayloadTooLarge => "PAYLOAD_TOO_LARGE",
            Code::RateLimited => "RATE_LIMITED",
            Code::Internal => "INTERNAL",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    Unauthenticated(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("not found")]
    NotFound,
    #[error("{0}")]
    BadUserInput(String),
    #[error("{0}")]
    Conflict(String),
    /// A failure the caller cannot fix; the cause is logged, never shown.
    #[error("internal error")]
    Internal(#[source] anyhow::Error),
}

impl ApiError {
    pub fn code(&self) -> Code {
        match self {
            ApiError::Unauthenticated(_) => Code::Unauthenticated,
            ApiError::Forbidden(_) => Code::Forbidden,
            ApiError::NotFound => Code::NotFound,
            ApiError::BadUserInput(_) => Code::BadUserInput,
            ApiError::Conflict(_) => Code::Conflict,
            ApiError::Internal(_) => Code::Internal,
        }
    }

    pub fn internal(cause: impl Into<anyhow::Error>) -> Self {
        ApiError::Internal(cause.into())
    }

    pub fn missing_scope(scope: crate::auth::Scope) -> Self {
        ApiError::Forbidden(format!(
            "this operation needs the scope `{}`",
            scope.as_str()
        ))
    }
}

impl From<DbErr> for ApiError {
    fn from(err: DbErr) -> Self {
        // A foreign key the caller named that does not exist for their tenant: the composite
        // keys make the database refuse a cross-tenant reference, which must read as "no such
        // row", not reveal that it exists elsewhere.
        if is_legal_hold(&err) {
            return ApiError::Conflict(
                "a legal hold on this row (or on its customer) blocks changing or deleting it until it is released".into(),
            );
        }
        match err.sql_err() {
            Some(SqlErr::ForeignKeyConstraintViolation(_)) => ApiError::NotFound,
            Some(SqlErr::UniqueConstraintViolation(_)) => {
                ApiError::Conflict("a row with the same unique key already exists".into())
            }
            _ => ApiError::Internal(err.into()),
        }
    }
}

/// The refusal of the legal-hold triggers (migration `legal_hold_wall`), on either backend.
fn is_legal_hold(err: &DbErr) -> bool {
    err.to_string().contains("dossier_legal_hold")
}

/// A delete refused because other rows still refer to the row: `CONFLICT`. (An insert or
/// update refused by a foreign key named a row that does not exist for the caller, which
/// [`From<DbErr>`] maps to `NOT_FOUND`; a delete cannot fail that way.)
pub fn still_referenced(err: DbErr) -> ApiError {
    match err.sql_err() {
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => {
            ApiError::Conflict("other rows still refer to this one".into())
        }
        _ => err.into(),
    }
}

impl From<crate::validate::Invalid> for ApiError {
    fn from(err: crate::validate::Invalid) -> Self {
        ApiError::BadUserInput(err.to_string())
    }
}

impl From<crate::validate::Invalid> for async_graphql::Error {
    fn from(err: crate::validate::Invalid) -> Self {
        ApiError::from(err).into()
    }
}

impl From<ApiError> for async_graphql::Error {
    fn from(err: ApiError) -> Self {
        let code = err.code();
        let message = match &err {
            // Not a failure: the request runs again on the writer, and this answer is dropped.
            ApiError::Internal(cause) if cause.is::<crate::tenancy::NeedsWriter>() => {
                tracing::debug!("a query needs the writer");
                "internal error".to_owned()
            }
            ApiError::Internal(cause) => {
                tracing::error!(error = %format!("{cause:#}"), "internal error");
                "internal error".to_owned()
            }
            other => other.to_string(),
        };
        async_graphql::ErrorExtensions::extend_with(async_graphql::Error::new(message), |_, ext| {
            ext.set("code", code.as_str())
        })
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// What resolvers return: `?` on an [`ApiResult`] converts through the one conversion above.
pub type GqlResult<T> = async_graphql::Result<T>;
