//! The register of processing activities (GDPR Art. 30) as the compliance officer reads it.
//!
//! Its categories of personal data come from the one marking in `entity`
//! ([`entity::personal_data_catalog`]); who may access them from the roles' scopes in
//! `auth`; recipients from the audit log. Only the purposes, their legal bases and retention
//! periods are typed in by the officer (`setProcessingPurpose`).

use async_graphql::{Context, InputObject, Object, SimpleObject};
use chrono::{DateTime, SubsecRound, Utc};
use entity::{audit_event, processing_purpose};
use sea_orm::ActiveValue::{NotSet, Set};
use sea_orm::sea_query::{Expr, Func};
use sea_orm::{ColumnTrait, Condition, EntityTrait, QueryFilter, QueryOrder, QuerySelect};
use uuid::Uuid;

use crate::audit::{Action, NewEvent};
use crate::auth::{Role, Scope as AuthScope};
use crate::error::{ApiError, GqlResult};
use crate::graphql::audit_log::note_oversight;
use crate::graphql::consent::{LegalBasis, purpose_name};
use crate::graphql::context::RequestContext;
use crate::graphql::{owned, record};
use crate::validate;

/// Why the tenant processes personal data, on which legal basis, which fields, how long.
#[derive(SimpleObject, Clone)]
pub struct ProcessingPurpose {
    pub name: String,
    pub description: String,
    pub legal_basis: LegalBasis,
    /// Personal fields as `Type.field`, e.g. `Contact.email`.
    pub fields: Vec<String>,
    pub retention_months: Option<i32>,
    pub updated_at: DateTime<Utc>,
}

impl From<processing_purpose::Model> for ProcessingPurpose {
    fn from(m: processing_purpose::Model) -> Self {
        ProcessingPurpose {
            name: m.name,
            description: m.description,
            legal_basis: LegalBasis::parse(&m.legal_basis).unwrap_or_default(),
            fields: serde_json::from_value(m.fields).unwrap_or_default(),
            retention_months: m.retention_months,
            updated_at: m.updated_at,
        }
    }
}

/// One category of personal data: a marked field, and what applies to it.
#[derive(SimpleObject)]
pub struct DataCategory {
    /// The GraphQL type, e.g. `Contact`.
    pub entity: String,
    /// The GraphQL field, e.g. `email`.
    pub field: String,
    /// The purposes that use it.
    pub purposes: Vec<String>,
    /// The legal bases of those purposes.
    pub legal_bases: Vec<LegalBasis>,
    /// Roles whose tokens may read it.
    pub roles: Vec<Role>,
    /// The scope that grants reading it.
    pub scope: String,
}

/// A client or actor outside the tenant's staff that received personal data, from the log.
#[derive(SimpleObject)]
pub struct Recipient {
    pub client_id: String,
    pub accesses: i64,
    pub last_access_at: Option<DateTime<Utc>>,
}

/// The tenant's register of processing activities (GDPR Art. 30(1)).
#[derive(SimpleObject)]
pub struct ProcessingRegister {
    pub controller: String,
    pub generated_at: DateTime<Utc>,
    pub categories: Vec<DataCategory>,
    pub purposes: Vec<ProcessingPurpose>,
    /// Contacts with no activity are erased after this many months; `null`: kept.
    pub contact_retention_months: Option<i32>,
    /// Audit events are kept this many months; `null`: kept for good.
    pub audit_retention_months: Option<i32>,
    pub recipients: Vec<Recipient>,
    /// The same register as a Markdown document.
    pub markdown: String,
    /// The categories as CSV, one line per personal field.
    pub csv: String,
}

#[derive(InputObject)]
pub struct SetProcessingPurposeInput {
    /// Lower-case letters, digits and `_` (the name consents refer to).
    pub name: String,
    /// ≤ 1000 characters.
    pub description: String,
    pub legal_basis: LegalBasis,
    /// Personal fields as `Type.field`; each must be marked as personal data.
    pub fields: Vec<String>,
    /// 1 to 1200, or `null`.
    pub retention_months: Option<i32>,
}

fn known_fields() -> Vec<String> {
    entity::personal_data_catalog()
        .into_iter()
        .flat_map(|(ty, columns)| {
            columns
                .into_iter()
                .map(move |c| format!("{ty}.{}", entity::graphql_field_name(c)))
        })
        .collect()
}

#[derive(Default)]
pub struct RegisterQuery;

#[Object]
impl RegisterQuery {
    /// The register of processing activities (GDPR Art. 30): categories of personal data
    /// from the schema's `@personalData` markings, purposes and legal bases, who may access
    /// them, retention periods, and recipients seen in the audit log (`audit:read`).
    #[graphql(complexity = "crate::graphql::DOCUMENT_COST")]
    async fn processing_register(&self, ctx: &Context<'_>) -> GqlResult<ProcessingRegister> {
        let rc = RequestContext::of(ctx);
        rc.principal.require(AuthScope::AuditRead)?;
        note_oversight(rc, "ProcessingRegister");
        let tenant = rc.scope.own_tenant().await?;
        let purposes: Vec<ProcessingPurpose> = rc
            .scope
            .all(processing_purpose::Entity::find().order_by_asc(processing_purpose::Column::Name))
            .await?
            .into_iter()
            .map(ProcessingPurpose::from)
            .collect();
        let readers: Vec<Role> = Role::ALL
            .into_iter()
            .filter(|r| r.allowed_scopes().contains(AuthScope::PiiRead))
            .collect();
        let categories: Vec<DataCategory> = known_fields()
            .into_iter()
            .map(|qualified| {
                let (entity, field) = qualified.split_once('.').unwrap_or(("", ""));
                let using: Vec<&ProcessingPurpose> = purposes
                    .iter()
                    .filter(|p| p.fields.contains(&qualified))
                    .collect();
                let mut legal_bases: Vec<LegalBasis> = Vec::new();
                for p in &using {
                    if !legal_bases.contains(&p.legal_basis) {
                        legal_bases.push(p.legal_basis);
                    }
                }
                DataCategory {
                    entity: entity.to_owned(),
                    field: field.to_owned(),
                    purposes: using.iter().map(|p| p.name.clone()).collect(),
                    legal_bases,
                    roles: readers.clone(),
                    scope: AuthScope::PiiRead.as_str().to_owned(),
                }
            })
            .collect();
        let recipients: Vec<(Option<String>, i64, Option<DateTime<Utc>>)> = rc
            .scope
            .tuples(
                audit_event::Entity::find()
                    .select_only()
                    .column(audit_event::Column::ClientId)
                    .column_as(
                        Expr::expr(Func::count(Expr::col(audit_event::Column::Id))),
                        "accesses",
                    )
                    .column_as(
                        Expr::expr(Func::max(Expr::col(audit_event::Column::At))),
                        "last_access_at",
                    )
                    .filter(
                        Condition::all()
                            .add(audit_event::Column::ClientId.is_not_null())
                            .add(audit_event::Column::Outcome.eq("ALLOWED")),
                    )
                    .group_by(audit_event::Column::ClientId)
                    .order_by_asc(audit_event::Column::ClientId),
            )
            .await?;
        let recipients: Vec<Recipient> = recipients
            .into_iter()
            .filter_map(|(client, accesses, last)| {
                client.map(|client_id| Recipient {
                    client_id,
                    accesses,
                    last_access_at: last,
                })
            })
            .collect();
        let mut register = ProcessingRegister {
            controller: tenant.name,
            generated_at: Utc::now().trunc_subsecs(0),
            categories,
            purposes,
            contact_retention_months: tenant.retention_months,
            audit_retention_months: tenant.audit_retention_months,
            recipients,
            markdown: String::new(),
            csv: String::new(),
        };
        register.markdown = markdown(&register);
        register.csv = csv(&register);
        Ok(register)
    }
}

fn months(value: Option<i32>) -> String {
    value.map_or_else(|| "kept".to_owned(), |m| format!("{m} months"))
}

fn markdown(r: &ProcessingRegister) -> String {
    let cell = |s: &str| s.replace('|', "\\|").replace(['\n', '\r'], " ");
    let mut out = format!(
        "# Register of processing activities\n\nController: {}  \nGenerated: {}\n\n## Categories of personal data\n\n| data | purposes | legal bases | who may read | scope |\n|---|---|---|---|---|\n",
        cell(&r.controller),
        r.generated_at.to_rfc3339()
    );
    for c in &r.categories {
        out.push_str(&format!(
            "| {}.{} | {} | {} | {} | `{}` |\n",
            c.entity,
            c.field,
            cell(&c.purposes.join(", ")),
            c.legal_bases
                .iter()
                .map(|b| b.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            c.roles
                .iter()
                .map(|r| r.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            c.scope
        ));
    }
    out.push_str("\n## Purposes\n\n| purpose | legal basis | fields | retention | description |\n|---|---|---|---|---|\n");
    for p in &r.purposes {
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            p.name,
            p.legal_basis.as_str(),
            p.fields.join(", "),
            months(p.retention_months),
            cell(&p.description)
        ));
    }
    out.push_str(&format!(
        "\n## Retention\n\n- Contacts without activity: {}\n- Audit events: {}\n\n## Recipients\n\n| client | accesses | last access |\n|---|---|---|\n",
        months(r.contact_retention_months),
        months(r.audit_retention_months)
    ));
    for x in &r.recipients {
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            cell(&x.client_id),
            x.accesses,
            x.last_access_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        ));
    }
    out
}

/// Purposes are text an officer typed: written by [`crate::csv`], quoted and never a formula.
fn csv(r: &ProcessingRegister) -> String {
    let joined = |items: Vec<&str>| items.join(" ");
    let mut out = crate::csv::row([
        "entity",
        "field",
        "purposes",
        "legal_bases",
        "roles",
        "scope",
        "retention_months",
    ]);
    for c in &r.categories {
        let retention = if c.entity == "Contact" || c.entity == "Consent" {
            r.contact_retention_months
                .map(|m| m.to_string())
                .unwrap_or_default()
        } else {
            String::new()
        };
        out.push_str(&crate::csv::row([
            c.entity.clone(),
            c.field.clone(),
            c.purposes.join(" "),
            joined(c.legal_bases.iter().map(|b| b.as_str()).collect()),
            joined(c.roles.iter().map(|r| r.as_str()).collect()),
            c.scope.clone(),
            retention,
        ]));
    }
    out
}

#[derive(Default)]
pub struct RegisterMutation;

#[Object]
impl RegisterMutation {
    /// Creates or replaces a processing purpose of the register (`gdpr:erase`). Audited.
    async fn set_processing_purpose(
        &self,
        ctx: &Context<'_>,
        input: SetProcessingPurposeInput,
    ) -> GqlResult<ProcessingPurpose> {
        let rc = RequestContext::of(ctx);
        let scope = rc.scope_for(AuthScope::GdprErase)?;
        purpose_name("name", &input.name)?;
        validate::required_text("description", &input.description, 1000)?;
        let known = known_fields();
        if let Some(unknown) = input.fields.iter().find(|f| !known.contains(f)) {
            return Err(ApiError::BadUserInput(format!(
                "fields: {unknown} is not a personal-data field (known: {})",
                known.join(", ")
            ))
            .into());
        }
        if let Some(m) = input.retention_months
            && !(1..=1200).contains(&m)
        {
            return Err(
                ApiError::BadUserInput("retentionMonths: between 1 and 1200".into()).into(),
            );
        }
        let mut fields = input.fields.clone();
        fields.sort();
        fields.dedup();
        let now = Utc::now().trunc_subsecs(6);
        let saved = scope
            .write(async |tx| {
                let existing = tx
                    .one(
                        processing_purpose::Entity::find()
                            .filter(processing_purpose::Column::Name.eq(input.name.clone())),
                    )
                    .await?;
                let (id, created_at) = existing
                    .as_ref()
                    .map_or((Uuid::now_v7(), now), |e| (e.id, e.created_at));
                let model = processing_purpose::ActiveModel {
                    tenant_id: NotSet,
                    id: Set(id),
                    name: Set(input.name.clone()),
                    description: Set(input.description.clone()),
                    legal_basis: Set(input.legal_basis.as_str().to_owned()),
                    fields: Set(serde_json::json!(fields)),
                    retention_months: Set(input.retention_months),
                    created_at: Set(created_at),
                    updated_at: Set(now),
                };
                let saved = match existing {
                    Some(_) => tx.update(model).await?,
                    None => tx.insert(model).await?,
                };
                record(
                    tx,
                    rc,
                    NewEvent::write(
                        if created_at == now {
                            Action::Create
                        } else {
                            Action::Update
                        },
                        "ProcessingPurpose",
                        id,
                        owned(&[
                            "description",
                            "fields",
                            "legalBasis",
                            "name",
                            "retentionMonths",
                        ]),
                    ),
                )
                .await?;
                Ok(saved)
            })
            .await?;
        Ok(saved.into())
    }
}
