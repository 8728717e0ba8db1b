//! `customers`: the companies a tenant sells to (B2B). A company's data is not personal data.

use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "customers")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub tenant_id: Uuid,
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub name: String,
    /// SIREN/SIRET for French companies, otherwise a VAT or national registration number.
    pub registration_number: Option<String>,
    /// ISO 3166-1 alpha-2.
    pub country: String,
    pub billing_line1: Option<String>,
    pub billing_line2: Option<String>,
    pub billing_postal_code: Option<String>,
    pub billing_city: Option<String>,
    pub billing_country: Option<String>,
    /// Snake-case name of the acquisition channel (`web`, `referral`, …).
    pub acquisition_channel: Option<String>,
    pub external_ref: Option<String>,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::contact::Entity")]
    Contacts,
    #[sea_orm(has_many = "super::sale::Entity")]
    Sales,
}

impl Related<super::contact::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Contacts.def()
    }
}

impl Related<super::sale::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Sales.def()
    }
}

impl crate::PersonalData for Entity {
    const GRAPHQL_TYPE: &'static str = "Customer";
    fn personal_columns() -> &'static [Column] {
        &[]
    }
}

impl ActiveModelBehavior for ActiveModel {}

crate::tenant_owned!(Entity, Column);
