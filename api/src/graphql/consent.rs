//! Consents (GDPR Art. 6 and 7): a contact's decision for one processing purpose, recorded
//! as history — each change is a new row, the newest per purpose is the current state.
//! Whether and where a person consented is personal data: those fields resolve through the
//! one gate, [`RequestContext::personal`], and their audit events name the contact.

use std::collections::HashMap;

use async_graphql::dataloader::Loader;
use async_graphql::{Context, Enum, InputObject, Object};
use chrono::{DateTime, SubsecRound, Utc};
use entity::consent::{self, Column};
use entity::contact;
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, Order};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use uuid::Uuid;

use crate::audit::{Action, NewEvent};
use crate::auth::Scope as AuthScope;
use crate::error::{ApiError, ApiResult, GqlResult};
use crate::graphql::context::RequestContext;
use crate::graphql::{loader_err, owned, personal_data, personal_field, record};
use crate::tenancy::TenantHandle;
use crate::validate;

/// The lawful bases of GDPR Art. 6(1).
#[derive(Enum, Copy, Clone, Debug, PartialEq, Eq, Hash, Default)]
pub enum LegalBasis {
    /// (a) the person consented.
    #[default]
    Consent,
    /// (b) needed for a contract with the person.
    Contract,
    /// (c) a legal obligation.
    LegalObligation,
    /// (d) someone's vital interests.
    VitalInterests,
    /// (e) a task in the public interest.
    PublicTask,
    /// (f) the company's legitimate interests.
    LegitimateInterests,
}

impl LegalBasis {
    pub const ALL: [LegalBasis; 6] = [
        LegalBasis::Consent,
        LegalBasis::Contract,
        LegalBasis::LegalObligation,
        LegalBasis::VitalInterests,
        LegalBasis::PublicTask,
        LegalBasis::LegitimateInterests,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            LegalBasis::Consent => "CONSENT",
            LegalBasis::Contract => "CONTRACT",
            LegalBasis::LegalObligation => "LEGAL_OBLIGATION",
            LegalBasis::VitalInterests => "VITAL_INTERESTS",
            LegalBasis::PublicTask => "PUBLIC_TASK",
            LegalBasis::LegitimateInterests => "LEGITIMATE_INTERESTS",
        }
    }

    pub fn parse(value: &str) -> Option<LegalBasis> {
        Self::ALL.into_iter().find(|b| b.as_str() == value)
    }
}

pub struct Consent(pub consent::Model);

impl Consent {
    fn personal<T>(&self, ctx: &Context<'_>, column: Column, value: Option<T>) -> Option<T> {
        // The subject of a consent is its contact: the audit event names the contact's id,
        // so an access request finds it.
        personal_field::<consent::Entity, _>(ctx, column, self.0.contact_id, value)
    }
}

/// One recorded decision of a person about one purpose. `granted` and `source` are personal
/// data.
#[Object]
impl Consent {
    async fn id(&self) -> Uuid {
        self.0.id
    }
    async fn contact_id(&self) -> Uuid {
        self.0.contact_id
    }
    /// The processing purpose, e.g. `marketing_email`.
    async fn purpose(&self) -> &str {
        &self.0.purpose
    }
    /// `true`: granted; `false`: refused or withdrawn.
    #[graphql(directive = personal_data::apply())]
    async fn granted(&self, ctx: &Context<'_>) -> Option<bool> {
        self.personal(ctx, Column::Granted, Some(self.0.granted))
    }
    async fn legal_basis(&self) -> LegalBasis {
        LegalBasis::parse(&self.0.legal_basis).unwrap_or_default()
    }
    /// Where the decision was collected, e.g. `web_form:newsletter`.
    #[graphql(directive = personal_data::apply())]
    async fn source(&self, ctx: &Context<'_>) -> Option<String> {
        self.personal(ctx, Column::Source, Some(self.0.source.clone()))
    }
    async fn recorded_at(&self) -> DateTime<Utc> {
        self.0.recorded_at
    }
    /// The actor who recorded it.
    async fn recorded_by(&self) -> &str {
        &self.0.recorded_by
    }
}

/// The most consent rows loaded per contact: the newest ones. A person with more decisions
/// than this is not a real case; a writer making them up must not make every read of that
/// person unbounded.
pub const CONSENT_ROWS_MAX: u64 = 500;

/// The consent rows of a batch of contacts (the newest [`CONSENT_ROWS_MAX`] of each), oldest
/// first.
pub struct ConsentsOf {
    scope: TenantHandle,
}

impl ConsentsOf {
    pub fn new(scope: TenantHandle) -> Self {
        ConsentsOf { scope }
    }
}

impl Loader<Uuid> for ConsentsOf {
    type Value = Vec<consent::Model>;
    type Error = async_graphql::Error;

    async fn load(&self, keys: &[Uuid]) -> Result<HashMap<Uuid, Vec<consent::Model>>, Self::Error> {
        let rows = self
            .scope
            .all_ranked(
                consent::Entity::find().filter(Column::ContactId.is_in(keys.iter().copied())),
                Column::ContactId,
                &[
                    (Expr::col(Column::RecordedAt), Order::Desc),
                    (Expr::col(Column::Id), Order::Desc),
                ],
                CONSENT_ROWS_MAX,
            )
            .await?;
        let mut by_contact: HashMap<Uuid, Vec<consent::Model>> = HashMap::new();
        for row in rows {
            by_contact.entry(row.contact_id).or_default().push(row);
        }
        for history in by_contact.values_mut() {
            history.reverse();
        }
        Ok(by_contact)
    }
}

/// How many decisions `Contact.consents(history: true)` returns when `first` is not given.
pub const HISTORY_PAGE: i32 = 100;

/// `Contact.consents`: the current decision per purpose, or with `history` the latest `first`
/// changes, oldest first.
pub async fn consents_of(
    ctx: &Context<'_>,
    contact_id: Uuid,
    purpose: Option<String>,
    history: bool,
    first: Option<i32>,
) -> ApiResult<Vec<Consent>> {
    let first = crate::graphql::page::page_size(first.or(Some(HISTORY_PAGE)))? as usize;
    let rc = RequestContext::of(ctx);
    rc.principal.require(AuthScope::ContactsRead)?;
    let rows = rc
        .loaders
        .consents
        .load_one(contact_id)
        .await
        .map_err(loader_err)?
        .unwrap_or_default();
    let rows = rows
        .into_iter()
        .filter(|c| purpose.as_deref().is_none_or(|p| p == c.purpose));
    if history {
        let rows: Vec<consent::Model> = rows.collect();
        let skip = rows.len().saturating_sub(first);
        return Ok(rows.into_iter().skip(skip).map(Consent).collect());
    }
    let mut current: Vec<consent::Model> = Vec::new();
    for row in rows {
        match current.iter_mut().find(|c| c.purpose == row.purpose) {
            Some(slot) => *slot = row,
            None => current.push(row),
        }
    }
    current.sort_by(|a, b| a.purpose.cmp(&b.purpose));
    Ok(current.into_iter().map(Consent).collect())
}

/// Contacts by their current decision for one purpose.
#[derive(InputObject, Clone, Debug, PartialEq, Eq, Hash)]
pub struct ConsentFilter {
    pub purpose: String,
    #[graphql(default = true)]
    pub granted: bool,
}

impl ConsentFilter {
    /// `contacts.id IN (contacts whose newest row for the purpose says granted)`. The
    /// sub-query is tied to the outer row's tenant, so it stays inside the caller's tenant
    /// exactly as the outer query does.
    pub fn condition(&self) -> sea_orm::sea_query::SimpleExpr {
        use sea_orm::sea_query::{Alias, Expr, ExprTrait, Query};
        let row = Alias::new("consent_row");
        let newer = Alias::new("newer_consent");
        let col = |table: &Alias, column: Column| Expr::col((table.clone(), column));
        let later = Query::select()
            .expr(Expr::val(1))
            .from_as(consent::Entity, newer.clone())
            .and_where(col(&newer, Column::TenantId).equals((row.clone(), Column::TenantId)))
            .and_where(col(&newer, Column::ContactId).equals((row.clone(), Column::ContactId)))
            .and_where(col(&newer, Column::Purpose).equals((row.clone(), Column::Purpose)))
            .and_where(
                col(&newer, Column::RecordedAt)
                    .gt(col(&row, Column::RecordedAt))
                    .or(col(&newer, Column::RecordedAt)
                        .eq(col(&row, Column::RecordedAt))
                        .and(col(&newer, Column::Id).gt(col(&row, Column::Id)))),
            )
            .to_owned();
        let current = Query::select()
            .column((row.clone(), Column::ContactId))
            .from_as(consent::Entity, row.clone())
            .and_where(
                col(&row, Column::TenantId).equals((contact::Entity, contact::Column::TenantId)),
            )
            .and_where(col(&row, Column::Purpose).eq(self.purpose.clone()))
            .and_where(col(&row, Column::Granted).eq(self.granted))
            .and_where(Expr::exists(later).not())
            .to_owned();
        Expr::col((contact::Entity, contact::Column::Id)).in_subquery(current)
    }
}

/// A purpose name: lower-case letters, digits and `_`, starting with a letter, ≤ 64.
pub fn purpose_name(field: &'static str, value: &str) -> ApiResult<()> {
    let ok = !value.is_empty()
        && value.len() <= 64
        && value.starts_with(|c: char| c.is_ascii_lowercase())
        && value
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if ok {
        Ok(())
    } else {
        Err(ApiError::BadUserInput(format!(
            "{field}: lower-case letters, digits and `_`, starting with a letter, at most 64"
        )))
    }
}

#[derive(InputObject, Clone, Debug)]
pub struct RecordConsentInput {
    pub contact_id: Uuid,
    /// e.g. `marketing_email`: lower-case letters, digits and `_`.
    pub purpose: String,
    pub granted: bool,
    #[graphql(default)]
    pub legal_basis: LegalBasis,
    /// Where the decision was collected, e.g. `web_form:newsletter` (≤ 200 characters).
    pub source: String,
    /// When the person decided; defaults to now. Not in the future.
    pub at: Option<DateTime<Utc>>,
}

#[derive(Default)]
pub struct ConsentMutation;

#[Object]
impl ConsentMutation {
    /// Records a decision (grant or withdrawal) as a new row; earlier ones stay as history.
    async fn record_consent(
        &self,
        ctx: &Context<'_>,
        input: RecordConsentInput,
    ) -> GqlResult<Consent> {
        let rc = RequestContext::of(ctx);
        let scope = crate::graphql::writer(ctx, AuthScope::ContactsWrite, AuthScope::ContactsRead)?;
        purpose_name("purpose", &input.purpose)?;
        validate::required_text("source", &input.source, 200)?;
        let now = Utc::now().trunc_subsecs(6);
        let at = input.at.map(|t| t.trunc_subsecs(6)).unwrap_or(now);
        if at > now {
            return Err(ApiError::BadUserInput("at: must not be in the future".into()).into());
        }
        let model = consent::ActiveModel {
            tenant_id: NotSet,
            id: Set(Uuid::now_v7()),
            contact_id: Set(input.contact_id),
            purpose: Set(input.purpose),
            granted: Set(input.granted),
            legal_basis: Set(input.legal_basis.as_str().to_owned()),
            source: Set(input.source),
            recorded_at: Set(at),
            recorded_by: Set(rc.principal.actor.clone()),
        };
        let created = scope
            .write(async |tx| {
                // Another tenant's contact does not exist for the caller.
                tx.get::<contact::Entity>(input.contact_id).await?;
                let created = tx.insert(model).await?;
                record(
                    tx,
                    rc,
                    NewEvent::write(
                        Action::Create,
                        "Consent",
                        created.contact_id,
                        owned(&["granted", "legalBasis", "purpose", "source"]),
                    ),
                )
                .await?;
                Ok(created)
            })
            .await?;
        Ok(Consent(created))
    }
}
