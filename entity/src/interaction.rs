//! `interactions`: a customer's timeline — web visits, emails sent and opened, downloads,
//! calls, meetings, support tickets — each with the person involved when known. The summary
//! is free text about people: personal data.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "interactions")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub contact_id: Option<Uuid>,
    /// `web_visit`, `email_sent`, `email_opened`, `download`, `call`, `meeting`,
    /// `support_ticket` or `other`.
    pub kind: String,
    pub channel: Option<String>,
    pub occurred_at: DateTimeUtc,
    pub subject: Option<String>,
    pub summary: Option<String>,
    /// The system that reported it (a website tracker, a mail tool, a help desk).
    pub source: Option<String>,
    pub external_ref: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "(Column::TenantId, Column::CustomerId)",
        to = "(super::customer::Column::TenantId, super::customer::Column::Id)"
    )]
    Customer,
    #[sea_orm(
        belongs_to = "super::contact::Entity",
        from = "(Column::TenantId, Column::ContactId)",
        to = "(super::contact::Column::TenantId, super::contact::Column::Id)"
    )]
    Contact,
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl Related<super::contact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contact.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);

impl crate::PersonalData for Entity {
    const GRAPHQL_TYPE: &'static str = "Interaction";
    fn personal_columns() -> &'static [Column] {
        &[Column::Summary]
    }
}
