//! Authentication and authorisation: JWT verification into a [`Principal`], roles and scopes.
//!
//! DESIGN §4. Two kinds of key, and a key grants only what its owner registered:
//!
//! - the operator's HS256 secret — the first-party key (the operator's own apps, the CLI);
//! - the RS256/ES256 keys of external identity providers, each registered *per tenant* with
//!   the roles and scopes its tokens may carry ([`Provider`]). A provider's token is refused
//!   when its tenant, role or scopes go beyond the registration, so one partner's key, leaked
//!   or malicious, can never mint an administrator or reach another tenant.
//!
//! The accepted algorithms come from the key, never from the token header, so neither
//! `alg: none` nor HS/RS key confusion gets through. `jsonwebtoken`'s defaults are too lenient
//! for us (optional `iss`/`aud`, no `nbf`, 60 s of leeway), so every [`Validation`] is built
//! explicitly here.

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
    /// The registered identity provider whose key signed the token; `None` for the
    /// operator's own (first-party) key.
    pub provider: Option<Uuid>,
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

    /// Every one of `scopes` (the first missing one is named).
    pub fn require_all(&self, scopes: &[Scope]) -> Result<(), crate::error::ApiError> {
        scopes.iter().try_for_each(|scope| self.require(*scope))
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
    #[error("token issued by an identity provider this tenant has not registered")]
    UnknownIssuer,
    #[error("the token claims a role or scopes its identity provider was not registered for")]
    BeyondRegistration,
    #[error("tokens of identity providers need DOSSIER_JWT_AUDIENCE configured on the server")]
    NoAudience,
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

/// The public keys of one identity provider: a JWKS document (keys chosen by `kid`) or one
/// PEM key. Only RS256 and ES256 keys are accepted.
pub struct ProviderKeys {
    by_kid: HashMap<String, (Algorithm, DecodingKey)>,
    single: Option<(Algorithm, DecodingKey)>,
}

impl ProviderKeys {
    /// Parses a JWKS document (`{"keys": […]}`, each key with a `kid`) or one PEM public key.
    pub fn parse(text: &str) -> anyhow::Result<ProviderKeys> {
        let mut keys = ProviderKeys {
            by_kid: HashMap::new(),
            single: None,
        };
        if text.trim_start().starts_with('{') {
            let set: JwkSet = serde_json::from_str(text)?;
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
                keys.by_kid.insert(kid, (alg, DecodingKey::from_jwk(jwk)?));
            }
            anyhow::ensure!(!keys.by_kid.is_empty(), "the JWKS document holds no key");
        } else if text.contains("BEGIN") {
            let pem = text.as_bytes();
            keys.single = Some(match DecodingKey::from_rsa_pem(pem) {
                Ok(key) => (Algorithm::RS256, key),
                Err(_) => (Algorithm::ES256, DecodingKey::from_ec_pem(pem)?),
            });
        } else {
            anyhow::bail!("keys must be a JWKS document or a PEM public key");
        }
        Ok(keys)
    }

    /// The key a token names (`kid`), or the single PEM key for a token that names none;
    /// refused when the token's `alg` is not that key's.
    fn for_token(&self, header: &Header) -> Result<(Algorithm, &DecodingKey), AuthError> {
        let (alg, key) = match (&header.kid, &self.single) {
            (Some(kid), _) => self.by_kid.get(kid).ok_or(AuthError::UnknownKey)?,
            (None, Some(single)) => single,
            (None, None) => return Err(AuthError::UnknownKey),
        };
        if *alg != header.alg {
            return Err(AuthError::Algorithm);
        }
        Ok((*alg, key))
    }

    /// The `kid`s of a JWKS document (none for a PEM key).
    pub fn kids(&self) -> Vec<String> {
        let mut kids: Vec<String> = self.by_kid.keys().cloned().collect();
        kids.sort();
        kids
    }
}

/// An external identity provider as a tenant registered it: whose tokens it may sign and
/// with what.
pub struct Provider {
    pub id: Uuid,
    pub tenant_id: Uuid,
    pub issuer: String,
    pub keys: ProviderKeys,
    pub roles: Vec<Role>,
    pub scopes: Scopes,
}

/// Who a token says signed it, read *before* its signature is checked and only to choose the
/// key: the operator (HS256), or an external provider of a tenant, named by its `iss`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signer {
    FirstParty,
    External { tenant_id: Uuid, issuer: String },
}

/// The claims a token's signer is chosen by.
#[derive(Deserialize)]
struct SignerClaims {
    tenant_id: Uuid,
    iss: Option<String>,
}

/// Reads who a token says signed it. Nothing here is trusted: the key chosen from it then
/// verifies the token, and a provider's key binds the tenant and issuer it was registered for.
pub fn signer(token: &str) -> Result<Signer, AuthError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
    match header.alg {
        Algorithm::HS256 => Ok(Signer::FirstParty),
        Algorithm::RS256 | Algorithm::ES256 => {
            let claims = jsonwebtoken::dangerous::insecure_decode::<SignerClaims>(token)
                .map_err(|_| AuthError::Invalid)?
                .claims;
            let issuer = claims.iss.ok_or(AuthError::UnknownIssuer)?;
            Ok(Signer::External {
                tenant_id: claims.tenant_id,
                issuer,
            })
        }
        _ => Err(AuthError::Algorithm),
    }
}

/// The first-party key and the rules every token is verified with.
pub struct Verifier {
    hmac: Option<DecodingKey>,
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
            issuer,
            audience,
            leeway: MAX_LEEWAY_SECONDS,
        })
    }

    /// Verifies a token signed with the operator's HS256 secret: any tenant, any role, the
    /// role's scopes.
    pub fn verify(&self, token: &str) -> Result<Principal, AuthError> {
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        if header.alg != Algorithm::HS256 {
            return Err(AuthError::Algorithm);
        }
        let key = self.hmac.as_ref().ok_or(AuthError::Algorithm)?;
        let claims = self.claims(token, Algorithm::HS256, key, self.issuer.as_deref())?;
        principal(claims, None)
    }

    /// Verifies a token signed by a registered provider's key: its `iss` must be the
    /// provider's, its tenant the one the provider was registered for, its role and scopes
    /// within the registration.
    pub fn verify_external(
        &self,
        token: &str,
        provider: &Provider,
    ) -> Result<Principal, AuthError> {
        // An identity provider issues tokens for many applications: without an audience to
        // require, a token it issued for another one would be accepted here.
        if self.audience.is_none() {
            return Err(AuthError::NoAudience);
        }
        let header = jsonwebtoken::decode_header(token).map_err(|_| AuthError::Invalid)?;
        let (alg, key) = provider.keys.for_token(&header)?;
        let claims = self.claims(token, alg, key, Some(&provider.issuer))?;
        if claims.tenant_id != provider.tenant_id {
            return Err(AuthError::BeyondRegistration);
        }
        principal(claims, Some(provider))
    }

    /// Checks the signature and the registered claims.
    fn claims(
        &self,
        token: &str,
        alg: Algorithm,
        key: &DecodingKey,
        issuer: Option<&str>,
    ) -> Result<Claims, AuthError> {
        let mut validation = Validation::new(alg);
        validation.leeway = self.leeway;
        validation.validate_exp = true;
        validation.validate_nbf = true;
        let mut required = vec!["exp", "sub"];
        match issuer {
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
        Ok(jsonwebtoken::decode::<Claims>(token, key, &validation)
            .map_err(|err| {
                tracing::debug!(reason = %err, "token refused");
                AuthError::Invalid
            })?
            .claims)
    }
}

/// The principal of verified claims: bounded free text, a known role, scopes within the role
/// — and, for a provider's token, within its registration.
fn principal(claims: Claims, provider: Option<&Provider>) -> Result<Principal, AuthError> {
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
    if let Some(provider) = provider
        && (!provider.roles.contains(&role) || !scopes.is_subset_of(provider.scopes))
    {
        return Err(AuthError::BeyondRegistration);
    }
    Ok(Principal {
        provider: provider.map(|p| p.id),
        actor: claims.sub,
        tenant_id: claims.tenant_id,
        role,
        scopes,
        purpose: claims.purpose.filter(|p| !p.is_empty()),
        client_id: claims.client_id,
    })
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
