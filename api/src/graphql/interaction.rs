//! Interactions: each customer's timeline (web visits, emails sent and opened, downloads,
//! calls, meetings, support tickets), declared for the engine. The summary is free text about
//! people: personal data by the entity's marking. Interactions belong to the customer file, so
//! the customer scopes guard them.

use async_graphql::Enum;
use entity::interaction::{self, Column, Model};
use entity::{contact, customer};

use crate::auth::Scope;
use crate::graphql::OrderDirection;
use crate::graphql::contact::works_for;
use crate::graphql::engine::reference;
use crate::graphql::engine::text;
use crate::graphql::engine::{
    Decl, Fate, FilterKind, Hooks, SortKind, belongs_to, field, id_field, time_field,
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

crate::declared!(interaction::Entity, declare);

fn declare() -> Decl<interaction::Entity> {
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
            reference("customerId", Column::CustomerId, false)
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
            reference("contactId", Column::ContactId, true)
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
            text("channel", Column::Channel, 64).doc("How it happened: `website`, `newsletter`, `phone`, …")
                .into(),
            field("occurredAt", Column::OccurredAt)
                .show(|m: &Model| m.occurred_at)
                .filter(FilterKind::time())
                .sort(SortKind::Plain)
                .now_by_default()
                .into(),
            text("subject", Column::Subject, 200).doc("The page, email subject, file or ticket title.")
                .into(),
            field("summary", Column::Summary)
                .doc("Notes on what was said or done: personal data.")
                .show(|m: &Model| m.summary.clone())
                .filter(FilterKind::text())
                .optional_text(10_000)
                .into(),
            text("source", Column::Source, 64).doc("The system that reported it: a website tracker, a mail tool, a help desk.")
                .into(),
            text("externalRef", Column::ExternalRef, 100).doc("The id of this interaction in the reporting system.")
                .into(),
            time_field("createdAt", Column::CreatedAt, |m| m.created_at).into(),
            time_field("updatedAt", Column::UpdatedAt, |m| m.updated_at).into(),
        ],
        default_order: vec![("occurredAt", OrderDirection::Desc)],
        created_at: Some(Column::CreatedAt),
        updated_at: Some(Column::UpdatedAt),
        concurrent: false,
        delete_doc: None,
        search: Vec::new(),
        computed_sorts: Vec::new(),
        derived: Vec::new(),
        hooks: Hooks {
            before_write: |w, model, _| {
                Box::pin(works_for(w, &model.contact_id, &model.customer_id))
            },
            ..Default::default()
        },
    }
}
