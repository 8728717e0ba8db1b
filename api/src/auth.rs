//! Authentication and authorisation: JWT verification into a [`Principal`], roles and scopes.
//!
//! DESIGN §4. The accepted algorithms come from configuration and the key is chosen by the
//! server (the HS256 secret, or a PEM/JWKS key by `kid`), never by the token header, so
//! neither `alg: none` nor HS/RS key confusion can get through. `jsonwebtoken`'s defaults are
//! too lenient for us (optional `iss`/`aud`, no `nbf`, 60 s of leeway), so every
//! [`Validation`] is built explicitly here.

use std::collections::HashMap;
use std::fmt;

use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The most clock skew we forgive on `exp` and `nbf`.
pub const MAX_LEEWAY_SECONDS: u64 = 30;
/// HS256 secrets shorter than this are refused: a short HMAC key can be brute-forced offline.
pub const MIN_SECRET_BYTES: usize = 32;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, async_graphql::Enum)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Admin,
    Agent,
    Analyst,
    Partner,
    Compliance,
}

impl Role {
    pub const ALL: [Role; 5] = [
        Role::Admin,
        Role::Agent,
        Role::Analyst,
        Role::Partner,
        Role::Compliance,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Agent => "agent",
            Role::Analyst => "analyst",
            Role::Partner => "partner",
            Role::Compliance => "compliance",
        }
    }

    pub fn parse(value: &str) -> Option<Role> {
        Role::ALL.into_iter().find(|role| role.as_str() == value)
    }

    /// The scopes a token of this role may hold (DESIGN §4's table).
    pub fn allowed_scopes(self) -> Scopes {
        use Scope::*;
        let read_write = Scopes::of(&[
            CustomersRead,
            CustomersWrite,
            ContactsRead,
            ContactsWrite,
            SalesRead,
            SalesWrite,
        ]);
        match self {
            Role::Admin => read_write.with(PiiRead).with(AuditRead),
            Role::Agent | Role::Partner => read_write.with(PiiRead),
            Role::Analyst => Scopes::of(&[CustomersRead, ContactsRead, SalesRead]),
            Role::Compliance => Scopes::of(&[
                AuditRead,
                GdprExport,
                GdprErase,
                PiiRead,
                CustomersRead,
                ContactsRead,
                SalesRead,
            ]),
        }
    }

    /// The scopes of a token of this role that names none: a partner token names its scopes.
    pub fn default_scopes(self) -> Scopes {
        match self {
            Role::Partner => Scopes::default(),
            other => other.allowed_scopes(),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Scope {
    CustomersRead,
    CustomersWrite,
    ContactsRead,
    ContactsWrite,
    SalesRead,
    SalesWrite,
    PiiRead,
    AuditRead,
    GdprExport,
    GdprErase,
}

impl Scope {
    pub const ALL: [Scope; 10] = [
        Scope::CustomersRead,
        Scope::CustomersWrite,
        Scope::ContactsRead,
        Scope::ContactsWrite,
        Scope::SalesRead,
        Scope::SalesWrite,
        Scope::PiiRead,
        Scope::AuditRead,
        Scope::GdprExport,
        Scope::GdprErase,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Scope::CustomersRead => "customers:read",
            Scope::CustomersWrite => "customers:write",
            Scope::ContactsRead => "contacts:read",
            Scope::ContactsWrite => "contacts:write",
            Scope::SalesRead => "sales:read",
            Scope::SalesWrite => "sales:write",
            Scope::PiiRead => "pii:read",
            Scope::AuditRead => "audit:read",
            Scope::GdprExport => "gdpr:export",
            Scope::GdprErase => "gdpr:erase",
        }
    }

    /// Exact match only: `Customers:Read` or `customers:*` are unknown scopes.
    pub fn parse(value: &str) -> Option<Scope> {
        Scope::ALL.into_iter().find(|scope| scope.as_str() == value)
    }

    fn bit(self) -> u16 {
        1 << (self as u16)
    }
}

/// A set of scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Scopes(u16);

impl Scopes {
    pub fn of(scopes: &[Scope]) -> Scopes {
        scopes.iter().fold(Scopes::default(), |set, s| set.with(*s))
    }
    pub fn with(self, scope: Scope) -> Scopes {
        Scopes(self.0 | scope.bit())
    }
    pub fn contains(self, scope: Scope) -> bool {
        self.0 & scope.bit() != 0
    }
    pub fn is_subset_of(self, other: Scopes) -> bool {
        self.0 & !other.0 == 0
    }
    pub fn iter(self) -> impl Iterator<Item = Scope> {
        Scope::ALL.into_iter().filter(move |s| self.contains(*s))
    }
    /// Parses a space-separated `scope` claim; `None` when a scope is unknown.
    pub fn parse(value: &str) -> Option<Scopes> {
        value
            .split(' ')
            .filter(|s| !s.is_empty())
            .try_fold(Scopes::default(), |set, s| Some(set.with(Scope::parse(s)?)))
    }
}

impl fmt::Display for Scopes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names: Vec<&str> = self.iter().map(Scope::as_str).collect();
        f.write_str(&names.join(" "))
    }
}

/// Who is calling: the verified content of a token.
#[derive(Debug, Clone)]
pub struct Principal {
    pub actor: String,
    pub tenant_id: Uuid,
    pub role: Role,
    pub scopes: Scopes,
    pub purpose: Option<String>,
    /// The OAuth client (`azp`/`client_id`) of a partner integration, for the audit log.
    pub client_id: Option<String>,
}

impl Principal {
    pub fn has(&self, scope: Scope) -> bool {
        self.scopes.contains(scope)
    }

    /// `FORBIDDEN` unless the principal holds at least one of `scopes`.
    pub fn require_any(&self, scopes: &[Scope]) -> Result<(), crate::error::ApiError> {
        match scopes.iter().find(|s| self.has(**s)) {
            Some(_) => Ok(()),
            None => Err(crate::error::ApiError::Forbidden(format!(
                "this operation needs one of the scopes {}",
                scopes
                    .iter()
                    .map(|s| format!("`{}`", s.as_str()))
                    .collect::<Vec<_>>()
                    .join(", ")
            ))),
        }
    }

    pub fn require(&self, scope: Scope) -> Result<(), crate::error::ApiError> {
        if self.has(scope) {
            Ok(())
        } else {
            Err(crate::error::ApiError::missing_scope(scope))
        }
    }
}

/// The claims we read. Unknown claims are ignored; a claim of the wrong type fails decoding.
#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub tenant_id: Uuid,
    pub role: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    pub exp: i64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iss: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<Audience>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub purpose: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client_id: Option<String>,
}

/// The `aud` claim: one audience or several (RFC 7519 §4.1.3 allows both). The signature
/// check compares it with the configured audience either way.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Audience {
    One(String),
    Many(Vec<String>),
}

impl From<&str> for Audience {
    fn from(audience: &str) -> Self {
        Audience::One(audience.to_owned())
    }
}

impl From<String> for Audience {
    fn from(audience: String) -> Self {
        Audience::One(audience)
    }
}

/// Why a token was refused. Shown to the caller only as `UNAUTHENTICATED` with a short reason.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    #[error("missing bearer token")]
    Missing,
    #[error("invalid token")]
    Invalid,
    #[error("token signed with an algorithm this server does not accept")]
    Algorithm,
    #[error("token signed by an unknown key")]
    UnknownKey,
    #[error("unknown role")]
    Role,
    #[error("unknown scope, or a scope the role may not hold")]
    Scope,
    #[error("unknown tenant")]
    Tenant,
    #[error(
        "`sub`, `client_id` and `purpose` must be one line of at most 200 characters without control characters"
    )]
    Claim,
}

/// The most characters a free-text claim may hold (DESIGN §4): what the audit log records of
/// it, whole. A longer claim is refused, never stored truncated.
pub const MAX_CLAIM_CHARS: usize = 200;

/// `sub`, `client_id` and `purpose` are recorded in every audit event of the request and
/// shown to officers: bounded at the door, so that no token can bloat, forge lines in or fail
/// the writing of the audit log.
fn bounded_claims(claims: &Claims) -> Result<(), AuthError> {
    let line = |field, value: &str| crate::validate::single_line(field, value, MAX_CLAIM_CHARS);
    if claims.sub.trim().is_empty() {
        return Err(AuthError::Claim);
    }
    line("sub", &claims.sub).map_err(|_| AuthError::Claim)?;
    for (field, value) in [
        ("client_id", &claims.client_id),
        ("purpose", &claims.purpose),
    ] {
        if let Some(value) = value {
            line(field, value).map_err(|_| AuthError::Claim)?;
        }
    }
    Ok(())
}

/// The keys and rules tokens are verified with.
pub struct Verifier {
    hmac: Option<DecodingKey>,
    /// RS256/ES256 keys by `kid`.
    keys: HashMap<String, (Algorithm, DecodingKey)>,
    /// PEM keys configured without a `kid`: used only when the token names none.
    unnamed: Vec<(Algorithm, DecodingKey)>,
    issuer: Option<String>,
    audience: Option<String>,
    leeway: u64,
}

impl Verifier {
    pub fn new(
        secret: Option<&[u8]>,
        issuer: Option<String>,
        audience: Option<String>,
    ) -> anyhow::Result<Verifier> {
        if let Some(secret) = secret {
            anyhow::ensure!(
                secret.len() >= MIN_SECRET_BYTES,
                "DOSSIER_JWT_SECRET must be at least {MIN_SECRET_BYTES} bytes"
            );
        }
        Ok(Verifier {
            hmac: secret.map(DecodingKey::from_secret),
            keys: HashMap::new(),
            unnamed: Vec::new(),
            issuer,
            audience,
            leeway: MAX_LEEWAY_SECONDS,
        })
    }

    /// Adds public keys from a file: a JWKS document (`{"keys": […]}`) or one PEM key.
    pub fn add_key_file(&mut self, contents: &str) -> anyhow::Result<()> {
        if contents.trim_start().starts_with('{') {
            let set: JwkSet = serde_json::from_str(contents)?;
            for jwk in &set.keys {
                let kid = jwk
                    .common
                    .key_id
                    .clone()
                    .ok_or_else(|| anyhow::anyhow!("a JWKS key has no kid"))?;
                let alg = match jwk.common.key_algorithm {
                    Some(jsonwebtoken::jwk::KeyAlgorithm::RS256) => Algorithm::RS256,
                    Some(jsonwebtoken::jwk::KeyAlgorithm::ES256) => Algorithm::ES256,
                    other => anyhow::bail!("JWKS key {kid}: algorithm {other:?} is not accepted"),
                };
                self.keys.insert(kid, (alg, DecodingKey::from_jwk(jwk)?));
            }
        } else if contents.contains("BEGIN") {
            let pem = contents.as_bytes();
            let key = match DecodingKey::from_rsa_pem(pem) {
                Ok(key) => (Algorithm::RS256, key),
                Err(_) => (Algorithm::ES256, DecodingKey::from_ec_pem(pem)?),
            };
            self.unnamed.push(key);
        } else {
            anyhow::bail!("DOSSIER_JWT_KEYS must be a JWKS document or a PEM public key");
        }
        Ok(())
    }

    /// Verifies signature and registered claims, then role and scopes. The tenant's
    /// existence is checked by the caller, against the database.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        let (alg, key) = match header.alg {
            Algorithm::HS256 => (
                Algorithm::HS256,
                self.hmac.as_ref().ok_or(AuthError::Algorithm)?,
            ),
            Algorithm::RS256 | Algorithm::ES256 => {
                let found = match &header.kid {
                    Some(kid) => self.keys.get(kid).map(|(alg, key)| (*alg, key)),
                    None => self
                        .unnamed
                        .iter()
                        .find(|(alg, _)| *alg == header.alg)
                        .map(|(alg, key)| (*alg, key)),
                };
                let (alg, key) = found.ok_or(AuthError::UnknownKey)?;
                if alg != header.alg {
                    return Err(AuthError::Algorithm);
                }
                (alg, key)
            }
            _ => return Err(AuthError::Algorithm),
        };

        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match &self.issuer {
            Some(issuer) => {
                validation.set_issuer(&[issuer]);
                required.push("iss");
            }
            None => validation.iss = None,
        }
        match &self.audience {
            Some(audience) => {
                validation.set_audience(&[audience]);
                required.push("aud");
            }
            None => validation.validate_aud = false,
        }
        validation.set_required_spec_claims(&required);

        let claims = jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|err| {
                tracing::debug!(reason = %err, "token refused");
                AuthError::Invalid
            })?
            .claims;

        bounded_claims(&claims)?;
        let role = Role::parse(&claims.role).ok_or(AuthError::Role)?;
        let scopes = match &claims.scope {
            None => role.default_scopes(),
            Some(scope) => {
                let scopes = Scopes::parse(scope).ok_or(AuthError::Scope)?;
                if !scopes.is_subset_of(role.allowed_scopes()) {
                    return Err(AuthError::Scope);
                }
                scopes
            }
        };
        Ok(Principal {
            actor: claims.sub,
            tenant_id: claims.tenant_id,
            role,
            scopes,
            purpose: claims.purpose.filter(|p| !p.is_empty()),
            client_id: claims.client_id,
        })
    }
}

/// Mints an HS256 development token (the `dossier token` command and the tests).
pub fn mint_hs256(secret: &[u8], claims: &Claims) -> anyhow::Result<String> {
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_partner_token_without_scope_holds_nothing() {
        assert_eq!(Role::Partner.default_scopes(), Scopes::default());
    }

    #[test]
    fn an_analyst_can_never_hold_pii_read() {
        assert!(!Role::Analyst.allowed_scopes().contains(Scope::PiiRead));
    }

    #[test]
    fn scopes_match_exactly() {
        assert_eq!(Scopes::parse("Customers:Read"), None);
        assert_eq!(Scopes::parse("customers:*"), None);
        assert_eq!(
            Scopes::parse("customers:read  pii:read"),
            Some(Scopes::of(&[Scope::CustomersRead, Scope::PiiRead]))
        );
    }
}
