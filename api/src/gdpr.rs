//! The data-subject rights: the subject export (GDPR Art. 15 and 20), erasure with its
//! tombstone (Art. 17), legal holds, and the keyed hashes that recognise an erased person who
//! comes back. The GraphQL API and `dossier retention run` both go through here, so an
//! erasure is the same whoever asks for it.
//!
//! What counts as personal data comes from the one marking in `entity` ([`PersonalData`]);
//! nothing here keeps a second list.

use std::borrow::Borrow;

use chrono::{DateTime, SubsecRound, Utc};
use entity::{PersonalData, consent, contact, customer, erasure, legal_hold, sale};
use futures_util::future::BoxFuture;
use hmac::{Hmac, Mac};
use sea_orm::ActiveValue::Set;
use sea_orm::{
    ColumnTrait, Condition, DatabaseTransaction, EntityTrait, IdenStatic, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde_json::{Value, json};
use sha2::Sha256;
use uuid::Uuid;

use crate::audit::{self, Action, Actor, NewEvent, Outcome};
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scoped;

/// Keys an email or phone number to a value that matches the same person again but cannot be
/// turned back into the address: HMAC-SHA256 under a key derived from the server secret,
/// with the tenant mixed in, so that neither a dictionary of addresses nor another tenant's
/// tombstones say anything.
#[derive(Clone)]
pub struct SubjectKeys(Hmac<Sha256>);

impl SubjectKeys {
    pub fn derive(secret: &[u8]) -> SubjectKeys {
        // HMAC takes keys of any length, so neither `new_from_slice` can fail.
        let mut mac =
            <Hmac<Sha256> as Mac>::new_from_slice(secret).unwrap_or_else(|_| unreachable!());
        mac.update(b"dossier subject key v1");
        let key = mac.finalize().into_bytes();
        SubjectKeys(<Hmac<Sha256> as Mac>::new_from_slice(&key).unwrap_or_else(|_| unreachable!()))
    }

    fn key(&self, tenant: Uuid, kind: &[u8], value: &str) -> String {
        let mut mac = self.0.clone();
        mac.update(tenant.as_bytes());
        mac.update(kind);
        mac.update(value.as_bytes());
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    }

    pub fn email(&self, tenant: Uuid, email: &str) -> String {
        self.key(tenant, b"email\0", &email.trim().to_lowercase())
    }

    /// `phone` is stored as E.164 already, so it needs no normalising.
    pub fn phone(&self, tenant: Uuid, phone: &str) -> String {
        self.key(tenant, b"phone\0", phone.trim())
    }
}

/// The GraphQL names of an entity's personal fields, from the marking.
pub fn personal_fields<E: PersonalData>() -> Vec<String> {
    E::personal_columns()
        .iter()
        .map(|c| entity::graphql_field_name(c.as_str()))
        .collect()
}

/// The rows that depend on a row of another entity (a person's sales and interactions), as
/// the entity declarations say: what deleting or erasing that row does to them, and what of
/// them a subject export shows. The engine implements it from the declarations; erasure and
/// the export here take it as given, so no list of dependent tables is kept in this module.
pub trait Dependents: Sync {
    /// Applies what the declarations say to the rows that depend on the row `id` of `parent`
    /// (a GraphQL type name) as it goes — erased when `erasing`, deleted otherwise — and
    /// returns the audit events of what changed. `CONFLICT` while one of them must be kept.
    fn gone<'a>(
        &'a self,
        tx: &'a Scoped<&'a DatabaseTransaction>,
        parent: &'static str,
        id: Uuid,
        erasing: bool,
    ) -> BoxFuture<'a, ApiResult<Vec<NewEvent>>>;

    /// The rows that depend on the row, by relation name (`sales`), as export documents.
    fn export<'a>(
        &'a self,
        tx: &'a Scoped<&'a DatabaseTransaction>,
        parent: &'static str,
        id: Uuid,
    ) -> BoxFuture<'a, ApiResult<Vec<(&'static str, Value)>>>;
}

/// Through which door an erasure came.
#[derive(Debug, Clone, Copy, PartialEq, Eq, async_graphql::Enum)]
#[graphql(name = "ErasureVia")]
pub enum Via {
    /// An officer's request (`eraseContact`).
    Api,
    /// The tenant's retention policy (`dossier retention run`).
    Retention,
}

impl Via {
    pub fn as_str(self) -> &'static str {
        match self {
            Via::Api => "API",
            Via::Retention => "RETENTION",
        }
    }
    pub fn parse(value: &str) -> Via {
        if value == "RETENTION" {
            Via::Retention
        } else {
            Via::Api
        }
    }
}

/// The active legal holds on any of these rows.
pub async fn active_holds<C: Borrow<DatabaseTransaction>>(
    tx: &Scoped<C>,
    entity_ids: &[Uuid],
) -> ApiResult<Vec<legal_hold::Model>> {
    if entity_ids.is_empty() {
        return Ok(Vec::new());
    }
    tx.all(
        legal_hold::Entity::find()
            .filter(legal_hold::Column::EntityId.is_in(entity_ids.iter().copied()))
            .filter(legal_hold::Column::ReleasedAt.is_null()),
    )
    .await
}

/// The tombstone this person's email or phone matches, if they were erased before.
pub async fn matching_erasure<C: Borrow<DatabaseTransaction>>(
    tx: &Scoped<C>,
    keys: &SubjectKeys,
    email: Option<&str>,
    phone: Option<&str>,
) -> ApiResult<Option<Uuid>> {
    let tenant = tx.tenant_id();
    let mut any = Condition::any();
    if let Some(email) = email {
        any = any.add(erasure::Column::EmailKey.eq(keys.email(tenant, email)));
    }
    if let Some(phone) = phone {
        any = any.add(erasure::Column::PhoneKey.eq(keys.phone(tenant, phone)));
    }
    if email.is_none() && phone.is_none() {
        return Ok(None);
    }
    Ok(tx
        .one(
            erasure::Entity::find()
                .filter(any)
                .order_by_desc(erasure::Column::ErasedAt)
                .limit(1),
        )
        .await?
        .map(|e| e.id))
}

/// Erases one person: their contact row and consents go, the rows that depend on them go or
/// lose the link to them as their declarations say (sales stay with the customer, accounting
/// law), and a tombstone records when, by whom, through which door and why. Refused with
/// `CONFLICT` while a legal hold covers the contact or its customer. Audited in the same
/// transaction: `ERASE` of the contact, naming the personal fields removed, and the events of
/// the dependent rows. Audit events never held values, so the chain still verifies afterwards.
#[allow(clippy::too_many_arguments)]
pub async fn erase_contact<C: Borrow<DatabaseTransaction>>(
    tx: &Scoped<C>,
    keys: &SubjectKeys,
    dependents: &dyn Dependents,
    actor: &Actor,
    contact_id: Uuid,
    reason: &str,
    via: Via,
) -> ApiResult<erasure::Model> {
    let person = tx.get::<contact::Entity>(contact_id).await?;
    let holds = active_holds(tx, &[person.id, person.customer_id]).await?;
    if let Some(hold) = holds.first() {
        return Err(ApiError::Conflict(format!(
            "legal hold {} on this {} blocks erasure until it is released",
            hold.id,
            hold.entity.to_lowercase()
        )));
    }
    let detached = dependents
        .gone(&tx.view(), contact::Entity::GRAPHQL_TYPE, contact_id, true)
        .await?;
    let consents = tx
        .delete_where::<consent::Entity>(
            Condition::all().add(consent::Column::ContactId.eq(contact_id)),
        )
        .await?;
    tx.delete::<contact::Entity>(contact_id).await?;
    let tenant = tx.tenant_id();
    let tombstone = tx
        .insert(erasure::ActiveModel {
            tenant_id: sea_orm::ActiveValue::NotSet,
            id: Set(Uuid::now_v7()),
            contact_id: Set(contact_id),
            customer_id: Set(Some(person.customer_id)),
            email_key: Set(person.email.as_deref().map(|e| keys.email(tenant, e))),
            phone_key: Set(person.phone.as_deref().map(|p| keys.phone(tenant, p))),
            reason: Set(reason.to_owned()),
            erased_at: Set(Utc::now().trunc_subsecs(6)),
            erased_by: Set(actor.actor.clone()),
            actor_role: Set(actor.role.as_str().to_owned()),
            request_id: Set(actor.request_id.clone()),
            via: Set(via.as_str().to_owned()),
        })
        .await?;
    let mut events = vec![NewEvent::write(
        Action::Erase,
        contact::Entity::GRAPHQL_TYPE,
        contact_id,
        sorted(personal_fields::<contact::Entity>()),
    )];
    if consents > 0 {
        events.push(NewEvent {
            action: Action::Erase,
            entity: consent::Entity::GRAPHQL_TYPE,
            entity_ids: vec![contact_id],
            fields: sorted(personal_fields::<consent::Entity>()),
            outcome: Outcome::Allowed,
        });
    }
    events.extend(detached);
    audit::append(tx, actor, events)
        .await
        .map_err(audit::unavailable)?;
    Ok(tombstone)
}

fn sorted(mut fields: Vec<String>) -> Vec<String> {
    fields.sort_unstable();
    fields
}

/// Everything Dossier holds about one person, as one machine-readable document (GDPR Art.
/// 15 and 20): their contact record, the customer they belong to, the rows that depend on
/// them (sales, interactions: every entity declared with a relation to contacts), their
/// consents with history, the legal holds on them, and who accessed their data, when and why,
/// from the audit log.
pub async fn subject_export<C: Borrow<DatabaseTransaction>>(
    tx: &Scoped<C>,
    dependents: &dyn Dependents,
    contact_id: Uuid,
    generated_by: &Actor,
) -> ApiResult<Value> {
    let person = tx.get::<contact::Entity>(contact_id).await?;
    let company = tx.get::<customer::Entity>(person.customer_id).await?;
    let linked = dependents
        .export(&tx.view(), contact::Entity::GRAPHQL_TYPE, contact_id)
        .await?;
    let consents = tx
        .all(
            consent::Entity::find()
                .filter(consent::Column::ContactId.eq(contact_id))
                .order_by_asc(consent::Column::RecordedAt)
                .order_by_asc(consent::Column::Id),
        )
        .await?;
    let holds = tx
        .all(
            legal_hold::Entity::find()
                .filter(legal_hold::Column::EntityId.eq(contact_id))
                .order_by_asc(legal_hold::Column::PlacedAt),
        )
        .await?;
    // Every access committed so far, in the chain's order.
    audit::seal_pending(tx, &generated_by.key, audit::Lock::Wait).await?;
    let accesses = tx
        .all(
            entity::audit_event::Entity::find()
                .filter(audit::about(tx.backend(), contact_id))
                .filter(entity::audit_event::Column::Seq.is_not_null())
                .order_by_asc(entity::audit_event::Column::Seq),
        )
        .await?;
    let mut document = json!({
        "format": "dossier.subject-export/v1",
        "generatedAt": timestamp(Utc::now()),
        "generatedBy": generated_by.actor,
        "tenantId": tx.tenant_id(),
        "subject": {
            "id": person.id,
            "firstName": person.first_name,
            "lastName": person.last_name,
            "email": person.email,
            "phone": person.phone,
            "birthday": person.birthday.map(|d| d.format("%Y-%m-%d").to_string()),
            "jobTitle": person.job_title,
            "externalRef": person.external_ref,
            "createdAt": timestamp(person.created_at),
            "updatedAt": timestamp(person.updated_at),
        },
        "customer": {
            "id": company.id,
            "name": company.name,
            "registrationNumber": company.registration_number,
            "country": company.country,
            "billingAddress": {
                "line1": company.billing_line1,
                "line2": company.billing_line2,
                "postalCode": company.billing_postal_code,
                "city": company.billing_city,
                "country": company.billing_country,
            },
        },
        "consents": consents.iter().map(|c| json!({
            "purpose": c.purpose,
            "granted": c.granted,
            "legalBasis": c.legal_basis,
            "source": c.source,
            "recordedAt": timestamp(c.recorded_at),
            "recordedBy": c.recorded_by,
        })).collect::<Vec<_>>(),
        "legalHolds": holds.iter().map(|h| json!({
            "id": h.id,
            "reason": h.reason,
            "placedAt": timestamp(h.placed_at),
            "releasedAt": h.released_at.map(timestamp),
        })).collect::<Vec<_>>(),
        "accessLog": accesses.iter().map(|e| json!({
            "at": timestamp(e.at),
            "actor": e.actor,
            "actorRole": e.actor_role,
            "clientId": e.client_id,
            "action": e.action,
            "entity": e.entity,
            "fields": e.fields,
            "purpose": e.purpose,
            "outcome": e.outcome,
        })).collect::<Vec<_>>(),
    });
    if let Some(document) = document.as_object_mut() {
        document.extend(
            linked
                .into_iter()
                .map(|(name, rows)| (name.to_owned(), rows)),
        );
    }
    Ok(document)
}

fn timestamp(at: DateTime<Utc>) -> String {
    at.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
}

/// A condition on rows whose `column` is not later than `cutoff`.
fn not_after<C: ColumnTrait>(column: C, cutoff: DateTime<Utc>) -> sea_orm::sea_query::SimpleExpr {
    column.lte(cutoff)
}

/// The contacts the tenant's retention policy would erase now: created and last changed
/// at least `months` ago, with no sale and no consent decision since, and not under a legal
/// hold (on the contact or its customer). Sorted by id, so a dry run and the real run list them alike.
pub async fn retention_due<C: Borrow<DatabaseTransaction>>(
    tx: &Scoped<C>,
    months: u32,
    now: DateTime<Utc>,
) -> ApiResult<Vec<contact::Model>> {
    let cutoff = now
        .checked_sub_months(chrono::Months::new(months))
        .unwrap_or(DateTime::<Utc>::MIN_UTC);
    let stale = tx
        .all(
            contact::Entity::find()
                .filter(not_after(contact::Column::CreatedAt, cutoff))
                .filter(not_after(contact::Column::UpdatedAt, cutoff))
                .order_by_asc(contact::Column::Id),
        )
        .await?;
    let mut due = Vec::with_capacity(stale.len());
    for chunk in stale.chunks(500) {
        let ids: Vec<Uuid> = chunk.iter().map(|c| c.id).collect();
        let mut active: std::collections::HashSet<Uuid> = tx
            .all(
                sale::Entity::find()
                    .filter(sale::Column::ContactId.is_in(ids.iter().copied()))
                    .filter(sale::Column::SoldAt.gt(cutoff)),
            )
            .await?
            .into_iter()
            .filter_map(|s| s.contact_id)
            .collect();
        active.extend(
            tx.all(
                consent::Entity::find()
                    .filter(consent::Column::ContactId.is_in(ids.iter().copied()))
                    .filter(consent::Column::RecordedAt.gt(cutoff)),
            )
            .await?
            .into_iter()
            .map(|c| c.contact_id),
        );
        let mut held_ids = ids.clone();
        held_ids.extend(chunk.iter().map(|c| c.customer_id));
        let held: std::collections::HashSet<Uuid> = active_holds(tx, &held_ids)
            .await?
            .into_iter()
            .map(|h| h.entity_id)
            .collect();
        due.extend(
            chunk
                .iter()
                .filter(|c| {
                    !active.contains(&c.id)
                        && !held.contains(&c.id)
                        && !held.contains(&c.customer_id)
                })
                .cloned(),
        );
    }
    Ok(due)
}

/// What one retention run did (or, dry, would do) for one tenant.
#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionReport {
    pub tenant_id: Uuid,
    pub dry_run: bool,
    /// The tenant's policy; `None`: it keeps contacts, and nothing is erased.
    pub retention_months: Option<i32>,
    pub cutoff: Option<DateTime<Utc>>,
    pub contacts: Vec<RetentionItem>,
    /// The tenant's audit retention (`auditRetentionMonths`); `None` keeps every event.
    pub audit: Option<audit::AuditPrune>,
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct RetentionItem {
    pub contact_id: Uuid,
    pub customer_id: Uuid,
    /// The tombstone of the erasure; `None` in a dry run.
    pub erasure_id: Option<Uuid>,
}

/// Applies a tenant's retention policy: erases, through [`erase_contact`], every contact
/// [`retention_due`] lists — or with `dry_run` only lists them and changes nothing. The
/// whole run is one transaction: it lands entirely, or not at all.
pub async fn run_retention(
    db: &sea_orm::DatabaseConnection,
    keys: &SubjectKeys,
    dependents: &dyn Dependents,
    audit_key: &audit::AuditKey,
    tenant_id: Uuid,
    dry_run: bool,
) -> ApiResult<RetentionReport> {
    let scope = crate::tenancy::for_tenant(db, tenant_id).await?;
    let tenant = entity::tenant::Entity::find_by_id(tenant_id)
        .one(scope.conn())
        .await?
        .ok_or(ApiError::NotFound)?;
    let now = Utc::now();
    let mut report = RetentionReport {
        tenant_id,
        dry_run,
        retention_months: tenant.retention_months,
        cutoff: None,
        contacts: Vec::new(),
        audit: None,
    };
    let actor = Actor {
        actor: "retention-policy".into(),
        role: crate::auth::Role::Compliance,
        client_id: Some("dossier-cli".into()),
        request_id: Uuid::now_v7().to_string(),
        caller_request_id: None,
        purpose: Some("retention policy (GDPR Art. 5(1)(e))".into()),
        key: audit_key.clone(),
    };
    let months = tenant.retention_months.and_then(|m| u32::try_from(m).ok());
    report.cutoff = months.and_then(|m| now.checked_sub_months(chrono::Months::new(m)));
    let due = match months {
        Some(months) => retention_due(&scope, months, now).await?,
        None => Vec::new(),
    };
    let reason = format!(
        "retention policy: no activity for {} months",
        months.unwrap_or_default()
    );
    for person in due {
        let erasure_id = if dry_run {
            None
        } else {
            let tombstone = scope
                .write(async |tx| {
                    erase_contact(
                        tx,
                        keys,
                        dependents,
                        &actor,
                        person.id,
                        &reason,
                        Via::Retention,
                    )
                    .await
                })
                .await?;
            Some(tombstone.id)
        };
        report.contacts.push(RetentionItem {
            contact_id: person.id,
            customer_id: person.customer_id,
            erasure_id,
        });
    }
    if let Some(audit_months) = tenant
        .audit_retention_months
        .and_then(|m| u32::try_from(m).ok())
    {
        report.audit = Some(audit::prune(&scope, &actor, audit_months, now, dry_run).await?);
    }
    if dry_run {
        scope.rollback().await?;
    } else {
        // Sealed before it commits: no server may be running to seal it after.
        audit::seal_pending(&scope, &actor.key, audit::Lock::Wait).await?;
        scope.commit().await?;
    }
    Ok(report)
}
