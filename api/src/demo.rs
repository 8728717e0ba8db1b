//! The demo tenant loaded by `dossier serve --demo`: a few French and European companies,
//! their contacts, sales and interactions, and a segment, so that every query of the README
//! has something to show.

use chrono::{Duration, NaiveDate, SubsecRound, Utc};
use entity::{contact, customer, interaction, sale};
use rust_decimal::Decimal;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::{DatabaseConnection, EntityTrait};
use uuid::Uuid;

use crate::audit::{self, Action, Actor, NewEvent, Outcome};
use crate::auth::Role;
use crate::tenancy;

/// The demo tenant's id: fixed, so a restart finds the tenant it loaded before.
pub const DEMO_TENANT: Uuid = Uuid::from_u128(0x0192_0000_0000_7000_8000_0000_0000_d3e0);

/// Creates the demo tenant and its data unless it exists. Returns the tenant id.
pub async fn load(
    db: &DatabaseConnection,
    audit_key: &crate::audit::AuditKey,
) -> anyhow::Result<Uuid> {
    let scope = tenancy::for_tenant(db, DEMO_TENANT).await?;
    if entity::tenant::Entity::find_by_id(DEMO_TENANT)
        .one(scope.conn())
        .await?
        .is_some()
    {
        scope.rollback().await?;
        return Ok(DEMO_TENANT);
    }
    let now = Utc::now().trunc_subsecs(6);
    sea_orm::ActiveModelTrait::insert(
        entity::tenant::ActiveModel {
            id: Set(DEMO_TENANT),
            name: Set("Demo Company".into()),
            slug: Set("demo".into()),
            retention_months: Set(None),
            default_currency: Set("EUR".into()),
            created_at: Set(now),
            audit_retention_months: Set(None),
            require_purpose: Set(false),
        },
        scope.conn(),
    )
    .await?;

    let companies = [
        (
            "Boulangerie Lumière SAS",
            Some("732829320"),
            "FR",
            "Paris",
            "web",
        ),
        (
            "Atelier Nordique AB",
            Some("556036-0793"),
            "SE",
            "Stockholm",
            "referral",
        ),
        (
            "Cafés Martin SARL",
            Some("552100554"),
            "FR",
            "Lyon",
            "event",
        ),
        ("Rheinwerk GmbH", None, "DE", "Köln", "partner"),
    ];
    let people = [
        (
            "Camille",
            "Durand",
            "camille.durand@example.com",
            "+33612345678",
        ),
        ("Lars", "Nilsson", "lars.nilsson@example.se", "+46701234567"),
        (
            "Sophie",
            "Martin",
            "sophie.martin@example.fr",
            "+33478123456",
        ),
        (
            "Jonas",
            "Becker",
            "jonas.becker@example.de",
            "+4915123456789",
        ),
    ];
    let mut customer_ids = Vec::new();
    let mut contact_ids = Vec::new();
    let mut sale_ids = Vec::new();
    let mut interaction_ids = Vec::new();
    for (i, (name, reg, country, city, channel)) in companies.iter().enumerate() {
        let customer = scope
            .insert(customer::ActiveModel {
                tenant_id: NotSet,
                id: Set(Uuid::now_v7()),
                name: Set((*name).into()),
                registration_number: Set(reg.map(Into::into)),
                country: Set((*country).into()),
                billing_line1: Set(Some(format!("{} rue de l'Exemple", 10 + i))),
                billing_line2: Set(None),
                billing_postal_code: Set(Some(format!("{}", 75001 + i))),
                billing_city: Set(Some((*city).into())),
                billing_country: Set(Some((*country).into())),
                acquisition_channel: Set(Some((*channel).into())),
                external_ref: Set(Some(format!("CRM-{:04}", i + 1))),
                created_at: Set(now - Duration::days(400 - 30 * i as i64)),
                updated_at: Set(now),
            })
            .await?;
        customer_ids.push(customer.id);
        let (first, last, email, phone) = people[i];
        let contact = scope
            .insert(contact::ActiveModel {
                tenant_id: NotSet,
                id: Set(Uuid::now_v7()),
                customer_id: Set(customer.id),
                first_name: Set(Some(first.into())),
                last_name: Set(Some(last.into())),
                email: Set(Some(email.into())),
                phone: Set(Some(phone.into())),
                birthday: Set(NaiveDate::from_ymd_opt(1980 + i as i32, 3, 14)),
                job_title: Set(Some("Purchasing manager".into())),
                external_ref: Set(None),
                created_at: Set(now),
                updated_at: Set(now),
                matches_erasure_id: Set(None),
            })
            .await?;
        contact_ids.push(contact.id);
        for n in 0..6 {
            let sale = scope
                .insert(sale::ActiveModel {
                    tenant_id: NotSet,
                    id: Set(Uuid::now_v7()),
                    customer_id: Set(customer.id),
                    contact_id: Set(Some(contact.id)),
                    reference: Set(Some(format!("INV-{}-{:03}", i + 1, n + 1))),
                    sku: Set(format!("SKU-{}", 100 + n)),
                    quantity: Set(1 + n),
                    amount_scaled: Set(crate::validate::amount(
                        "amount",
                        Decimal::new(1990 + 1250 * n as i64, 2),
                        2,
                    )?),
                    currency: Set("EUR".into()),
                    sold_at: Set(now - Duration::days(75 * n as i64 + i as i64)),
                    external_ref: Set(None),
                    created_at: Set(now),
                })
                .await?;
            sale_ids.push(sale.id);
        }
        let timeline = [
            ("web_visit", None, "website", "/pricing", None, 2),
            (
                "email_opened",
                Some(contact.id),
                "newsletter",
                "Spring offers",
                None,
                9,
            ),
            (
                "call",
                Some(contact.id),
                "phone",
                "Renewal",
                Some("Wants a quote for twenty more units before the end of the quarter."),
                21,
            ),
        ];
        for (kind, person, channel, subject, summary, days_ago) in timeline {
            let interaction = scope
                .insert(interaction::ActiveModel {
                    tenant_id: NotSet,
                    id: Set(Uuid::now_v7()),
                    customer_id: Set(customer.id),
                    contact_id: Set(person),
                    kind: Set(kind.into()),
                    channel: Set(Some(channel.into())),
                    occurred_at: Set(now - Duration::days(days_ago + i as i64)),
                    subject: Set(Some(subject.into())),
                    summary: Set(summary.map(Into::into)),
                    source: Set(Some("demo".into())),
                    external_ref: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                })
                .await?;
            interaction_ids.push(interaction.id);
        }
    }
    // A segment to evaluate: visited the site lately and bought nothing in six months.
    let segment = scope
        .insert(entity::segment::ActiveModel {
            tenant_id: NotSet,
            id: Set(Uuid::now_v7()),
            name: Set("Lapsed visitors".into()),
            description: Set(Some(
                "Visited the site in the last 30 days and bought nothing in six months".into(),
            )),
            filter: Set(serde_json::json!({"and": [
                {"interactions": {"kind": {"eq": "WEB_VISIT"}, "occurredAt": {"gteAgo": "P30D"}}},
                {"or": [{"stats": {"lastPurchaseAt": {"ltAgo": "P6M"}}},
                        {"stats": {"lastPurchaseAt": {"isNull": true}}}]}
            ]})
            .to_string()),
            created_at: Set(now),
            updated_at: Set(now),
        })
        .await?;
    let actor = Actor {
        actor: "system:demo".into(),
        role: Role::Admin,
        client_id: None,
        request_id: Uuid::now_v7().to_string(),
        caller_request_id: None,
        purpose: Some("demo data".into()),
        key: audit_key.clone(),
    };
    let created = |entity, ids: Vec<Uuid>| NewEvent {
        action: Action::Create,
        entity,
        entity_ids: ids,
        fields: Vec::new(),
        outcome: Outcome::Allowed,
    };
    audit::append(
        &scope,
        &actor,
        vec![
            created("Customer", customer_ids),
            created("Contact", contact_ids),
            created("Sale", sale_ids),
            created("Interaction", interaction_ids),
            created("Segment", vec![segment.id]),
        ],
    )
    .await?;
    audit::seal_pending(&scope, &actor.key, audit::Lock::Wait).await?;
    scope.commit().await?;
    Ok(DEMO_TENANT)
}
