//! Interactions: each customer's timeline (web visits, emails sent and opened, downloads,
//! calls, meetings, support tickets), declared for the engine. The summary is free text about
//! people: personal data by the entity's marking. Interactions belong to the customer file, so
//! the customer scopes guard them.

use std::sync::LazyLock;

use async_graphql::Enum;
use chrono::{DateTime, SubsecRound, Utc};
use entity::interaction::{self, Column, Model};
use entity::{contact, customer};
use sea_orm::ActiveValue::Set;
use uuid::Uuid;

use crate::auth::Scope;
use crate::graphql::OrderDirection;
use crate::graphql::contact::works_for;
use crate::graphql::engine::{
    Decl, Declared, Fate, FilterKind, Hooks, NoExtras, NoFilterExtras, SortKind, belongs_to, field,
    id_field, time_field,
};

/// What happened.
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash)]
pub enum InteractionKind {
    WebVisit,
    EmailSent,
    EmailOpened,
    Download,
    Call,
    Meeting,
    SupportTicket,
    Other,
}

impl Declared for interaction::Entity {
    type Extras<'a> = NoExtras;
    type FilterExtras = NoFilterExtras;

    fn decl() -> &'static Decl<Self> {
        static DECL: LazyLock<Decl<interaction::Entity>> = LazyLock::new(declare);
        &DECL
    }

    fn extras(_: &Model) -> NoExtras {
        NoExtras
    }
}

fn declare() -> Decl<interaction::Entity> {
    let filter = FilterKind::text;
    Decl {
        name: "Interaction",
        doc: "Something that happened with a customer: a web visit, an email sent or opened, a\ndownload, a call, a meeting, a support ticket. The summary is personal data.",
        one: "interaction",
        many: "interactions",
        many_doc: Some("Interactions, newest first unless `orderBy` says otherwise."),
        read: Scope::CustomersRead,
        write: Scope::CustomersWrite,
        members: vec![
            id_field(Column::Id, |m| m.id).into(),
            field("customerId", Column::CustomerId)
                .show(|m: &Model| m.customer_id)
                .filter(FilterKind::id())
                .required_value::<Uuid>()
                .create_only()
                .into(),
            belongs_to::<customer::Entity, _>("customer", Column::CustomerId)
                .reverse(
                    "interactions",
                    "What happened with this customer, newest first unless `orderBy` says otherwise.",
                    Fate::Delete,
                    Fate::Delete,
                )
                .into(),
            field("contactId", Column::ContactId)
                .show(|m: &Model| m.contact_id)
                .filter(FilterKind::id())
                .optional_value::<Uuid>()
                .input_doc("A contact of the same customer.")
                .into(),
            // The customer keeps its history when a person leaves the file; an erased
            // person's interactions go with them.
            belongs_to::<contact::Entity, _>("contact", Column::ContactId)
                .optional()
                .doc("The person involved, when known.")
                .reverse(
                    "interactions",
                    "What happened with this person, newest first unless `orderBy` says otherwise.",
                    Fate::Unlink,
                    Fate::Delete,
                )
                .into(),
            field("kind", Column::Kind)
                .stored_enum::<InteractionKind>(false)
                .into(),
            field("channel", Column::Channel)
                .doc("How it happened: `website`, `newsletter`, `phone`, …")
                .show(|m: &Model| m.channel.clone())
                .filter(filter())
                .optional_text(64)
                .into(),
            field("occurredAt", Column::OccurredAt)
                .show(|m: &Model| m.occurred_at)
                .filter(FilterKind::time())
                .sort(SortKind::Plain)
                .optional::<DateTime<Utc>>(|m, v, _| {
                    m.occurred_at = Set(v.unwrap_or_else(Utc::now).trunc_subsecs(6));
                    Ok(())
                })
                .input_doc("Now when left out.")
                .never_null()
                .into(),
            field("subject", Column::Subject)
                .doc("The page, email subject, file or ticket title.")
                .show(|m: &Model| m.subject.clone())
                .filter(filter())
                .optional_text(200)
                .into(),
            field("summary", Column::Summary)
                .doc("Notes on what was said or done: personal data.")
                .show(|m: &Model| m.summary.clone())
                .filter(filter())
                .optional_text(10_000)
                .into(),
            field("source", Column::Source)
                .doc("The system that reported it: a website tracker, a mail tool, a help desk.")
                .show(|m: &Model| m.source.clone())
                .filter(filter())
                .optional_text(64)
                .into(),
            field("externalRef", Column::ExternalRef)
                .doc("The id of this interaction in the reporting system.")
                .show(|m: &Model| m.external_ref.clone())
                .filter(filter())
                .optional_text(100)
                .into(),
            time_field("createdAt", Column::CreatedAt, |m| m.created_at).into(),
            time_field("updatedAt", Column::UpdatedAt, |m| m.updated_at).into(),
        ],
        default_order: vec![("occurredAt", OrderDirection::Desc)],
        created_at: Some(Column::CreatedAt),
        updated_at: Some(Column::UpdatedAt),
        concurrent: false,
        delete_doc: None,
        computed_sorts: Vec::new(),
        hooks: Hooks {
            before_write: |w, model, _| {
                Box::pin(works_for(w, &model.contact_id, &model.customer_id))
            },
            ..Default::default()
        },
    }
}
