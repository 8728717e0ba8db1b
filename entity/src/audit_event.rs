//! `audit_events`: the append-only, hash-chained log of every access to personal data.
//! Events name entities, ids and field names, never the values.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_events")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// Position in the tenant's chain, from 1, without gaps; `None` until the event is sealed
    /// (PostgreSQL seals up to a second after the event's transaction commits).
    pub seq: Option<i64>,
    pub at: DateTimeUtc,
    pub actor: String,
    pub actor_role: String,
    pub client_id: Option<String>,
    /// The server's own id of the request.
    pub request_id: String,
    /// The `X-Request-Id` the caller sent, if any: recorded beside the server's id, never
    /// instead of it, since a caller can send any id it likes.
    pub caller_request_id: Option<String>,
    pub action: String,
    pub entity: String,
    /// JSON array of UUID strings (`jsonb` with a GIN index on PostgreSQL, for subject searches).
    pub entity_ids: Json,
    /// JSON array of GraphQL field names.
    pub fields: Json,
    pub purpose: Option<String>,
    pub outcome: String,
    /// The hash of the event before it in the chain; `None` until sealed.
    pub prev_hash: Option<String>,
    /// SHA-256 of the event's content and link; `None` until sealed.
    pub hash: Option<String>,
    /// HMAC-SHA256 of the hash under the audit key, which the database never holds: without
    /// the key nobody can re-hash an edited chain. (`NULL` in rows from before events were
    /// sealed, which verification reports.)
    pub seal: Option<String>,
    /// HMAC of the event's content under the audit key, set when it is written: the sealer
    /// seals only events whose mark verifies, so a row inserted behind the API's back never
    /// joins the chain. (`NULL` in rows from before marks.)
    pub mark: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);
