//! `audit_anchors`: where a tenant's audit chain starts once its oldest events were pruned by
//! the retention policy — the position and hash of the last pruned event, so the events that
//! remain still verify link by link.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "audit_anchors")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The last pruned event's position.
    pub seq: i64,
    /// The last pruned event's hash: the `prevHash` of the first event kept.
    pub hash: String,
    pub last_at: DateTimeUtc,
    pub pruned_at: DateTimeUtc,
    pub pruned_by: String,
    /// HMAC-SHA256 of the anchor under the audit key: an anchor moved or forged by someone
    /// without the key does not verify. (`NULL` in rows from before anchors were sealed.)
    pub seal: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);
