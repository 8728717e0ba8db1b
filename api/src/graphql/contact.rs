//! Contacts (people): the declaration the engine serves — names, email, phone and birthday are
//! personal data by the entity's marking — and the rules of a person's record: validation,
//! the consent filter, a person re-imported after their erasure, and a person with sales who
//! cannot move to another company.

use async_graphql::{Context, InputObject, Object};
use chrono::{NaiveDate, Utc};
use entity::contact::{self, Column, Model};
use entity::{customer, sale};
use sea_orm::ActiveValue::Set;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::auth::Scope;
use crate::error::{ApiError, ApiResult, GqlResult};
use crate::graphql::consent::{Consent, ConsentFilter, consents_of, purpose_name};
use crate::graphql::context::RequestContext;
use crate::graphql::engine::filter::FilterPart;
use crate::graphql::engine::reference;
use crate::graphql::engine::text;
use crate::graphql::engine::{
    Decl, Fate, FilterKind, Hooks, SortKind, WriteTx, belongs_to, field, id_field, time_field,
};
use crate::graphql::page::list_complexity;
use crate::graphql::scalars::Date;
use crate::tenancy::Scoped;
use crate::validate;

crate::declared!(contact::Entity, declare, ContactMore, ContactFilterMore);

fn declare() -> Decl<contact::Entity> {
    let text_field = |name: &'static str, column: Column, get: fn(&Model) -> Option<String>| {
        field(name, column)
            .show(get)
            .filter(FilterKind::text())
            .sort(SortKind::TextOrEmpty)
    };
    Decl {
        name: "Contact",
        doc: "A person who works for a customer. Names, email, phone and birthday are personal data:\nthey need `pii:read`, and every read of them is audited.",
        one: "contact",
        many: "contacts",
        many_doc: None,
        read: Scope::ContactsRead,
        write: Scope::ContactsWrite,
        members: vec![
            id_field(Column::Id, |m| m.id).into(),
            reference("customerId", Column::CustomerId, false).into(),
            belongs_to::<customer::Entity, _>("customer", Column::CustomerId)
                .reverse(
                    "contacts",
                    "The people who work for this customer.",
                    Fate::Delete,
                    Fate::Delete,
                )
                .into(),
            text_field("firstName", Column::FirstName, |m| m.first_name.clone())
                .optional_text(100)
                .into(),
            text_field("lastName", Column::LastName, |m| m.last_name.clone())
                .optional_text(100)
                .into(),
            text_field("email", Column::Email, |m| m.email.clone())
                .optional::<String>(|m, v, _| {
                    m.email = Set(email(v)?);
                    Ok(())
                })
                .into(),
            field("phone", Column::Phone)
                .doc("E.164.")
                .show(|m: &Model| m.phone.clone())
                .filter(FilterKind::text())
                .optional::<String>(|m, v, _| {
                    m.phone = Set(phone(v)?);
                    Ok(())
                })
                .input_doc("International format; stored as E.164.")
                .into(),
            field("birthday", Column::Birthday)
                .show(|m: &Model| m.birthday.map(Date))
                .filter(FilterKind::date())
                .optional::<Date>(|m, v, _| {
                    m.birthday = Set(birthday(v)?);
                    Ok(())
                })
                .into(),
            text_field("jobTitle", Column::JobTitle, |m| m.job_title.clone())
                .optional_text(100)
                .into(),
            text("externalRef", Column::ExternalRef, 100).into(),
            time_field("createdAt", Column::CreatedAt, |m| m.created_at).into(),
            time_field("updatedAt", Column::UpdatedAt, |m| m.updated_at).into(),
        ],
        default_order: Vec::new(),
        created_at: Some(Column::CreatedAt),
        updated_at: Some(Column::UpdatedAt),
        concurrent: false,
        delete_doc: Some("Deletes a contact. Their sales stay, linked to the customer only."),
        search: vec![
            Column::FirstName,
            Column::LastName,
            Column::Email,
            Column::Phone,
        ],
        computed_sorts: Vec::new(),
        derived: Vec::new(),
        hooks: Hooks {
            before_write: |w, model, before| Box::pin(before_write(w, model, before)),
            ..Default::default()
        },
    }
}

/// Refuses moving a person who has `count` `rows` with their current customer.
fn stays_with_customer(count: u64, rows: &str) -> ApiResult<()> {
    if count > 0 {
        return Err(ApiError::Conflict(format!(
            "customerId: this contact has {count} {rows} with their current customer, so they cannot move to another"
        )));
    }
    Ok(())
}

/// A person with sales stays with their company; a person whose email or phone matches an
/// erased person's tombstone is flagged as possibly re-imported.
async fn before_write(
    w: &WriteTx<'_>,
    model: &mut contact::ActiveModel,
    before: Option<&Model>,
) -> ApiResult<()> {
    if let (Some(before), Set(customer_id)) = (before, &model.customer_id)
        && *customer_id != before.customer_id
    {
        // A sale names its customer and the person who bought: moving the person would
        // leave their sales pointing at two companies. Likewise their interactions, which
        // belong to the customer's history.
        let sales =
            w.tx.count(sale::Entity::find().filter(sale::Column::ContactId.eq(before.id)));
        stays_with_customer(sales.await?, "sales")?;
        let interactions = w.tx.count(
            entity::interaction::Entity::find()
                .filter(entity::interaction::Column::ContactId.eq(before.id)),
        );
        stays_with_customer(interactions.await?, "interactions")?;
    }
    if before.is_none() || model.email.is_set() || model.phone.is_set() {
        model.matches_erasure_id = Set(reimported(w.tx, w.rc, model).await?);
    }
    Ok(())
}

/// A row that names a customer and one of its people (a sale, an interaction) must name a
/// person who works for that customer.
pub async fn works_for(
    w: &WriteTx<'_>,
    contact: &sea_orm::ActiveValue<Option<Uuid>>,
    customer: &sea_orm::ActiveValue<Uuid>,
) -> ApiResult<()> {
    use sea_orm::ActiveValue::Unchanged;
    let (Set(Some(contact_id)), Set(customer_id) | Unchanged(customer_id)) = (contact, customer)
    else {
        return Ok(());
    };
    let contact = w.tx.get::<contact::Entity>(*contact_id).await?;
    if contact.customer_id != *customer_id {
        return Err(ApiError::BadUserInput(
            "contactId: this contact belongs to another customer".into(),
        ));
    }
    Ok(())
}

/// Filter fields of contacts that are not plain columns.
#[derive(InputObject, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct ContactFilterMore {
    /// Contacts whose current decision for a purpose is `granted` (personal data: needs
    /// `pii:read`).
    pub consent: Option<ConsentFilter>,
}

impl FilterPart for ContactFilterMore {
    fn condition(&self) -> ApiResult<Condition> {
        let mut cond = Condition::all();
        if let Some(f) = &self.consent {
            purpose_name("consent.purpose", &f.purpose)?;
            cond = cond.add(f.condition());
        }
        Ok(cond)
    }
    fn personal_fields(&self, out: &mut Vec<&'static str>) {
        if self.consent.is_some() {
            out.push("consents");
        }
    }
}

/// The fields of a contact that are not plain columns.
pub struct ContactMore<'a>(&'a Model);

#[Object]
impl ContactMore<'_> {
    /// The person's decisions per processing purpose: the current one per purpose, or with
    /// `history` the latest `first` changes (100 by default, at most 500), oldest first.
    // Priced by what the loader may read per person, not by `first`.
    #[graphql(
        complexity = "list_complexity(Some(crate::graphql::consent::CONSENT_ROWS_MAX as i32), child_complexity)"
    )]
    async fn consents(
        &self,
        ctx: &Context<'_>,
        purpose: Option<String>,
        #[graphql(default)] history: bool,
        first: Option<i32>,
    ) -> GqlResult<Vec<Consent>> {
        Ok(consents_of(ctx, self.0.id, purpose, history, first).await?)
    }
    /// Set when this contact's email or phone matched an erased person's tombstone as it was
    /// created or changed: the same person may have been re-imported after their erasure.
    /// Compliance scopes only (`gdpr:export` or `gdpr:erase`): to anyone else it would tell
    /// that a candidate email belonged to an erased person.
    async fn matches_erasure_id(&self, ctx: &Context<'_>) -> GqlResult<Option<Uuid>> {
        RequestContext::of(ctx)
            .principal
            .require_any(&[Scope::GdprExport, Scope::GdprErase])?;
        Ok(self.0.matches_erasure_id)
    }
}

fn email(value: Option<String>) -> ApiResult<Option<String>> {
    Ok(value.map(|v| validate::email("email", &v)).transpose()?)
}

fn phone(value: Option<String>) -> ApiResult<Option<String>> {
    Ok(value.map(|v| validate::phone("phone", &v)).transpose()?)
}

fn birthday(value: Option<Date>) -> ApiResult<Option<NaiveDate>> {
    let value = value.map(|d| d.0);
    if let Some(date) = value {
        let earliest = NaiveDate::from_ymd_opt(1900, 1, 1).unwrap_or(NaiveDate::MIN);
        if date < earliest || date > Utc::now().date_naive() {
            return Err(ApiError::BadUserInput(
                "birthday: must be between 1900-01-01 and today".into(),
            ));
        }
    }
    Ok(value)
}

/// The tombstone an erased person left, if this contact's email or phone matches it.
async fn reimported(
    tx: &Scoped<DatabaseTransaction>,
    rc: &RequestContext,
    model: &contact::ActiveModel,
) -> ApiResult<Option<Uuid>> {
    let value = |v: &sea_orm::ActiveValue<Option<String>>| v.clone().into_value();
    let email = match value(&model.email) {
        Some(sea_orm::Value::String(Some(s))) => Some(s),
        _ => None,
    };
    let phone = match value(&model.phone) {
        Some(sea_orm::Value::String(Some(s))) => Some(s),
        _ => None,
    };
    crate::gdpr::matching_erasure(tx, &rc.subject_keys, email.as_deref(), phone.as_deref()).await
}
