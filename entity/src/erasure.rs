//! `erasures`: the tombstone of each erased person (GDPR Art. 17). It records when, by whom,
//! through which path and why — and, instead of the person's data, keyed hashes of their
//! email and phone, so that a later re-import of the same person can be flagged without
//! keeping anything that identifies them.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "erasures")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    /// The erased contact's id, which audit events keep naming.
    pub contact_id: Uuid,
    /// The customer the person worked for; its sales stay.
    pub customer_id: Option<Uuid>,
    /// HMAC-SHA256 of the tenant and the normalised email, hex.
    pub email_key: Option<String>,
    /// HMAC-SHA256 of the tenant and the E.164 phone, hex.
    pub phone_key: Option<String>,
    pub reason: String,
    pub erased_at: DateTimeUtc,
    pub erased_by: String,
    pub actor_role: String,
    pub request_id: String,
    /// `API` (an officer's request) or `RETENTION` (the retention policy).
    pub via: String,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);
