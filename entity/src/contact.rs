//! `contacts`: the people who work for a customer. Names, email, phone and birthday are
//! personal data; [`PersonalData`](crate::PersonalData) below is their only marking.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub customer_id: Uuid,
    pub first_name: Option<String>,
    pub last_name: Option<String>,
    pub email: Option<String>,
    /// E.164.
    pub phone: Option<String>,
    pub birthday: Option<Date>,
    pub job_title: Option<String>,
    pub external_ref: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The erasure tombstone whose email or phone this contact matched when it was created
    /// or last changed: the same person may have been re-imported after being erased.
    pub matches_erasure_id: Option<Uuid>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    /// The company this person works for (same tenant: the key includes `tenant_id`).
    #[sea_orm(
        belongs_to = "super::customer::Entity",
        from = "(Column::TenantId, Column::CustomerId)",
        to = "(super::customer::Column::TenantId, super::customer::Column::Id)"
    )]
    Customer,
    #[sea_orm(has_many = "super::sale::Entity")]
    Sales,
}

impl Related<super::customer::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Customer.def()
    }
}

impl Related<super::sale::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sales.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);

impl crate::PersonalData for Entity {
    const GRAPHQL_TYPE: &'static str = "Contact";
    fn personal_columns() -> &'static [Column] {
        &[
            Column::FirstName,
            Column::LastName,
            Column::Email,
            Column::Phone,
            Column::Birthday,
        ]
    }
}
