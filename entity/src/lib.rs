//! SeaORM entities of Dossier's customer file, one module per table.
//!
//! This crate is also the one place where personal data is marked: each entity that holds
//! personal data implements [`PersonalData`], and auditing, masking, the `@personalData`
//! directive and (later) exports and erasure all read that marking.

pub mod audit_anchor;
pub mod audit_event;
pub mod consent;
pub mod contact;
pub mod customer;
pub mod customer_activity;
pub mod customer_totals;
pub mod erasure;
pub mod identity_provider;
pub mod interaction;
pub mod legal_hold;
pub mod processing_purpose;
pub mod sale;
pub mod segment;
pub mod tenant;

use sea_orm::EntityTrait;

/// An entity whose rows belong to one tenant: every table but `tenants` itself.
///
/// The tenant-scoped data handle in `api` uses this to add `tenant_id = caller` to every
/// statement it builds, so no resolver ever names the column itself.
pub trait TenantOwned: EntityTrait {
    fn tenant_column() -> Self::Column;
    fn id_column() -> Self::Column;
}

/// An entity with columns that hold personal data (GDPR Art. 4(1)).
pub trait PersonalData: EntityTrait {
    /// The GraphQL type name that audit events name as their `entity`.
    const GRAPHQL_TYPE: &'static str;
    /// The personal-data columns. Their GraphQL field names are the camelCase column names.
    fn personal_columns() -> &'static [Self::Column];
}

/// Every entity that holds personal data, as its GraphQL type and its personal columns: what
/// the register of processing lists and what the SDL must mark, derived from the
/// [`PersonalData`] implementations.
pub fn personal_data_catalog() -> Vec<(&'static str, Vec<&'static str>)> {
    fn of<E: PersonalData>() -> (&'static str, Vec<&'static str>) {
        use sea_orm::IdenStatic;
        (
            E::GRAPHQL_TYPE,
            E::personal_columns().iter().map(|c| c.as_str()).collect(),
        )
    }
    vec![
        of::<contact::Entity>(),
        of::<consent::Entity>(),
        of::<interaction::Entity>(),
    ]
}

/// The GraphQL (camelCase) name of a snake_case column name.
pub fn graphql_field_name(column: &str) -> String {
    let mut out = String::with_capacity(column.len());
    let mut upper = false;
    for c in column.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

macro_rules! tenant_owned {
    ($entity:ty, $column:ty) => {
        impl $crate::TenantOwned for $entity {
            fn tenant_column() -> $column {
                <$column>::TenantId
            }
            fn id_column() -> $column {
                <$column>::Id
            }
        }
    };
}
pub(crate) use tenant_owned;
