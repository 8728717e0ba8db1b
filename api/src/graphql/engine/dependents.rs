//! The rows that depend on a row, found from the to-one relations every entity declares with a
//! reverse side (`Sale.customer` ↔ `Customer.sales`): the reverse connection fields of each
//! type, what deleting or erasing a row does to its dependents (kept, so the row stays;
//! deleted with it; unlinked), and what of them a person's subject export shows. Deleting a
//! customer, deleting a contact, erasing a person and the retention run all pass here, so an
//! entity declared with a relation to contacts is part of the export and the erasure without
//! another line anywhere.

use std::collections::HashMap;
use std::sync::LazyLock;

use futures_util::future::BoxFuture;
use sea_orm::{ColumnTrait, Condition, DatabaseTransaction, IdenStatic, QueryFilter};
use uuid::Uuid;

use super::relation::{Fate, Many, ManyTarget, ToOne};
use super::{Declared, Member};
use crate::audit::{Action, NewEvent, Outcome};
use crate::auth::Principal;
use crate::error::{ApiError, ApiResult};
use crate::tenancy::Scoped;

/// A connection field a type gets from another entity's relation to it.
pub struct ReverseField {
    pub name: &'static str,
    pub doc: Option<&'static str>,
    pub target: Box<dyn ManyTarget>,
}

/// The reverse connection fields of the type `parent`, from every declared entity.
pub fn reverse_fields(parent: &str) -> &'static [ReverseField] {
    static ALL: LazyLock<HashMap<&'static str, Vec<ReverseField>>> = LazyLock::new(|| {
        let mut all: HashMap<&'static str, Vec<ReverseField>> = HashMap::new();
        for entity in crate::graphql::entities() {
            for (parent, field) in entity.reverse_fields() {
                all.entry(parent).or_default().push(field);
            }
        }
        all
    });
    ALL.get(parent).map(Vec::as_slice).unwrap_or(&[])
}

/// The relations of `E` to `parent` that have a reverse side, with the fate of `E`'s rows.
fn towards<E: Declared>(
    parent: &str,
    erasing: bool,
) -> impl Iterator<Item = (&'static ToOne<E>, &'static super::relation::Reverse, Fate)> {
    E::decl().members.iter().filter_map(move |member| {
        let Member::ToOne(relation) = member else {
            return None;
        };
        let reverse = relation.reverse.as_ref()?;
        (relation.target.type_name() == parent).then_some((
            relation,
            reverse,
            if erasing {
                reverse.on_erase
            } else {
                reverse.on_delete
            },
        ))
    })
}

/// `E`'s side of [`reverse_fields`].
pub fn reverse_fields_of<E: Declared>() -> Vec<(&'static str, ReverseField)> {
    E::decl()
        .members
        .iter()
        .filter_map(|member| {
            let Member::ToOne(relation) = member else {
                return None;
            };
            let reverse = relation.reverse.as_ref()?;
            Some((
                relation.target.type_name(),
                ReverseField {
                    name: reverse.name,
                    doc: reverse.doc,
                    target: Many::<E>::target(relation.column),
                },
            ))
        })
        .collect()
}

/// Refuses (`CONFLICT`) while rows of `E` that must be kept name the row.
pub async fn keeps<E: Declared>(
    tx: &Scoped<&DatabaseTransaction>,
    parent: &'static str,
    id: Uuid,
    erasing: bool,
) -> ApiResult<()> {
    for (relation, reverse, fate) in towards::<E>(parent, erasing) {
        let Fate::Keep(reason) = fate else { continue };
        let count = tx.count(E::find().filter(relation.column.eq(id))).await?;
        if count > 0 {
            let parent = parent.to_lowercase();
            let verb = if erasing { "erased" } else { "deleted" };
            return Err(ApiError::Conflict(format!(
                "this {parent} has {count} {}; {reason}, so the {parent} cannot be {verb}",
                reverse.name
            )));
        }
    }
    Ok(())
}

/// Deletes or unlinks the rows of `E` that name the row, as declared; their audit events.
pub async fn follow<E: Declared>(
    tx: &Scoped<&DatabaseTransaction>,
    principal: Option<&Principal>,
    parent: &'static str,
    id: Uuid,
    erasing: bool,
) -> ApiResult<Vec<NewEvent>> {
    let decl = E::decl();
    let mut events = Vec::new();
    for (relation, _, fate) in towards::<E>(parent, erasing) {
        let naming = || Condition::all().add(relation.column.eq(id));
        let ids: Vec<Uuid> = tx
            .all(E::find().filter(naming()))
            .await?
            .iter()
            .filter_map(crate::tenancy::id_of::<E>)
            .collect();
        if ids.is_empty() {
            continue;
        }
        match fate {
            Fate::Keep(_) => {}
            Fate::Delete => {
                if let Some(principal) = principal {
                    principal.require(decl.write)?;
                }
                for child in &ids {
                    events.extend(gone(tx, principal, decl.name, *child, false).await?);
                }
                tx.delete_where::<E>(naming()).await?;
                let (action, fields) = if erasing {
                    (Action::Erase, crate::gdpr::personal_fields::<E>())
                } else {
                    (Action::Delete, Vec::new())
                };
                events.push(NewEvent {
                    action,
                    entity: decl.name,
                    entity_ids: ids,
                    fields,
                    outcome: Outcome::Allowed,
                });
            }
            Fate::Unlink => {
                if let Some(principal) = principal {
                    principal.require(decl.write)?;
                }
                tx.update_where::<E>(naming(), relation.column, sea_orm::Value::Uuid(None))
                    .await?;
                let field = decl
                    .fields()
                    .find(|f| {
                        f.columns
                            .iter()
                            .any(|c| c.as_str() == relation.column.as_str())
                    })
                    .map_or(relation.name, |f| f.name);
                events.push(NewEvent {
                    action: Action::Update,
                    entity: decl.name,
                    entity_ids: ids,
                    fields: vec![field.to_owned()],
                    outcome: Outcome::Allowed,
                });
            }
        }
    }
    Ok(events)
}

/// What deleting (or erasing) the row `id` of `parent` does to every row that depends on it,
/// across all declared entities: first whether any must be kept, then the rest. The audit
/// events of what changed, for the caller's transaction.
pub fn gone<'a>(
    tx: &'a Scoped<&'a DatabaseTransaction>,
    principal: Option<&'a Principal>,
    parent: &'static str,
    id: Uuid,
    erasing: bool,
) -> BoxFuture<'a, ApiResult<Vec<NewEvent>>> {
    Box::pin(async move {
        for entity in crate::graphql::entities() {
            entity.keeps(tx, parent, id, erasing).await?;
        }
        let mut events = Vec::new();
        for entity in crate::graphql::entities() {
            events.extend(entity.follow(tx, principal, parent, id, erasing).await?);
        }
        Ok(events)
    })
}

/// The rows of `E` that name the row, by relation name, as export documents: every shown
/// field, personal ones included (the export is for the person).
pub async fn export<E: Declared>(
    tx: &Scoped<&DatabaseTransaction>,
    parent: &'static str,
    id: Uuid,
) -> ApiResult<Vec<(&'static str, serde_json::Value)>> {
    let decl = E::decl();
    let mut out = Vec::new();
    for (relation, reverse, _) in towards::<E>(parent, true) {
        let ordering = super::order::Order::<E>::ordering(&[], None);
        let rows = tx
            .all(ordering.apply(E::find().filter(relation.column.eq(id))))
            .await?;
        let documents = rows
            .iter()
            .map(|row| {
                let fields = decl.fields().filter_map(|field| {
                    let output = field.output.as_ref()?;
                    let value = (output.value)(row).into_json().ok()?;
                    Some((field.name.to_owned(), value))
                });
                serde_json::Value::Object(fields.collect())
            })
            .collect();
        out.push((reverse.name, serde_json::Value::Array(documents)));
    }
    Ok(out)
}

/// The engine's answer to [`crate::gdpr::Dependents`], for erasure and the subject export.
pub struct Declarations;

impl crate::gdpr::Dependents for Declarations {
    fn gone<'a>(
        &'a self,
        tx: &'a Scoped<&'a DatabaseTransaction>,
        parent: &'static str,
        id: Uuid,
        erasing: bool,
    ) -> BoxFuture<'a, ApiResult<Vec<NewEvent>>> {
        gone(tx, None, parent, id, erasing)
    }

    fn export<'a>(
        &'a self,
        tx: &'a Scoped<&'a DatabaseTransaction>,
        parent: &'static str,
        id: Uuid,
    ) -> BoxFuture<'a, ApiResult<Vec<(&'static str, serde_json::Value)>>> {
        Box::pin(async move {
            let mut out = Vec::new();
            for entity in crate::graphql::entities() {
                out.extend(entity.export(tx, parent, id).await?);
            }
            Ok(out)
        })
    }
}
