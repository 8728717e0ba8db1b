//! Filter operators shared by every list: one operator object per field, DESIGN §6.
//!
//! `contains` is case-insensitive and treats `%` and `_` literally (they are escaped before
//! they reach `LIKE`). Every operator turns into bound parameters, never SQL text.

use async_graphql::InputObject;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use sea_orm::Condition;
use sea_orm::sea_query::{Expr, ExprTrait, Func, LikeExpr};
use uuid::Uuid;

use crate::error::{ApiError, ApiResult};
use crate::graphql::scalars::Date;

/// Most values accepted by one `in` list.
const MAX_IN: usize = 500;

fn check_in<T>(values: &Option<Vec<T>>) -> ApiResult<()> {
    match values {
        Some(v) if v.len() > MAX_IN => Err(ApiError::BadUserInput(format!(
            "`in` takes at most {MAX_IN} values"
        ))),
        _ => Ok(()),
    }
}

fn null_check(cond: Condition, expr: &Expr, is_null: Option<bool>) -> Condition {
    match is_null {
        Some(true) => cond.add(expr.clone().is_null()),
        Some(false) => cond.add(expr.clone().is_not_null()),
        None => cond,
    }
}

/// Operators on a text field.
#[derive(InputObject, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct StringFilter {
    pub eq: Option<String>,
    pub ne: Option<String>,
    #[graphql(name = "in")]
    pub in_: Option<Vec<String>>,
    /// Case-insensitive substring; `%` and `_` match themselves.
    pub contains: Option<String>,
    pub is_null: Option<bool>,
}

impl StringFilter {
    pub fn condition(&self, expr: Expr) -> ApiResult<Condition> {
        check_in(&self.in_)?;
        let mut cond = Condition::all();
        if let Some(v) = &self.eq {
            cond = cond.add(expr.clone().eq(v.clone()));
        }
        if let Some(v) = &self.ne {
            cond = cond.add(expr.clone().ne(v.clone()));
        }
        if let Some(v) = &self.in_ {
            cond = cond.add(expr.clone().is_in(v.clone()));
        }
        if let Some(v) = &self.contains {
            let escaped = v
                .replace('\\', "\\\\")
                .replace('%', "\\%")
                .replace('_', "\\_");
            let pattern = format!("%{}%", escaped.to_lowercase());
            cond = cond.add(
                Expr::expr(Func::lower(expr.clone())).like(LikeExpr::new(pattern).escape('\\')),
            );
        }
        Ok(null_check(cond, &expr, self.is_null))
    }
}

/// Operators on an id reference.
#[derive(InputObject, Clone, Debug, Default, PartialEq, Eq, Hash)]
pub struct UuidFilter {
    pub eq: Option<Uuid>,
    pub ne: Option<Uuid>,
    #[graphql(name = "in")]
    pub in_: Option<Vec<Uuid>>,
    pub is_null: Option<bool>,
}

impl UuidFilter {
    pub fn condition(&self, expr: Expr) -> ApiResult<Condition> {
        check_in(&self.in_)?;
        let mut cond = Condition::all();
        if let Some(v) = self.eq {
            cond = cond.add(expr.clone().eq(v));
        }
        if let Some(v) = self.ne {
            cond = cond.add(expr.clone().ne(v));
        }
        if let Some(v) = &self.in_ {
            cond = cond.add(expr.clone().is_in(v.clone()));
        }
        Ok(null_check(cond, &expr, self.is_null))
    }
}

/// A time span back from now, as an ISO 8601 duration (`P30D`, `P6M`, `P1Y`, `P2W`, `PT12H`).
pub type Ago = String;

/// `now` minus the duration `ago`.
pub fn ago_from(field: &str, ago: &str, now: DateTime<Utc>) -> ApiResult<DateTime<Utc>> {
    let invalid = || {
        ApiError::BadUserInput(format!(
            "{field}: a duration such as P30D, P6M, P1Y, P2W or PT12H"
        ))
    };
    let (time, text) = match ago.strip_prefix("PT") {
        Some(rest) => (true, rest),
        None => (false, ago.strip_prefix('P').ok_or_else(invalid)?),
    };
    let (number, unit) = text.split_at(text.len().saturating_sub(1));
    let n: u32 = number.parse().map_err(|_| invalid())?;
    let back = match (time, unit) {
        (false, "Y") => now.checked_sub_months(chrono::Months::new(n.saturating_mul(12))),
        (false, "M") => now.checked_sub_months(chrono::Months::new(n)),
        (false, "W") => now.checked_sub_signed(chrono::Duration::weeks(n.into())),
        (false, "D") => now.checked_sub_signed(chrono::Duration::days(n.into())),
        (true, "H") => now.checked_sub_signed(chrono::Duration::hours(n.into())),
        (true, "M") => now.checked_sub_signed(chrono::Duration::minutes(n.into())),
        _ => None,
    };
    back.ok_or_else(invalid)
}

macro_rules! range_filter {
    ($name:ident, $ty:ty, $doc:literal $(, $ago:ident)?) => {
        #[doc = $doc]
        #[derive(InputObject, Clone, Debug, Default, PartialEq, Eq, Hash)]
        pub struct $name {
            pub eq: Option<$ty>,
            pub ne: Option<$ty>,
            pub gt: Option<$ty>,
            pub gte: Option<$ty>,
            pub lt: Option<$ty>,
            pub lte: Option<$ty>,
            pub is_null: Option<bool>,
            $(
                /// At or after this long ago, e.g. `P30D`: "in the last 30 days", whenever the
                /// filter runs (a saved segment keeps rolling).
                pub gte_ago: Option<$ago>,
                /// Before this long ago, e.g. `P6M`: "more than six months ago".
                pub lt_ago: Option<$ago>,
            )?
        }

        impl $name {
            pub fn condition(&self, expr: Expr) -> ApiResult<Condition> {
                self.condition_mapped(expr, |v| Ok(v.clone().into()))
            }

            /// The same operators on a column that stores the value converted by `map`.
            pub fn condition_mapped(
                &self,
                expr: Expr,
                map: impl Fn(&$ty) -> ApiResult<sea_orm::Value>,
            ) -> ApiResult<Condition> {
                let mut cond = Condition::all();
                if let Some(v) = &self.eq {
                    cond = cond.add(expr.clone().eq(map(v)?));
                }
                if let Some(v) = &self.ne {
                    cond = cond.add(expr.clone().ne(map(v)?));
                }
                if let Some(v) = &self.gt {
                    cond = cond.add(expr.clone().gt(map(v)?));
                }
                if let Some(v) = &self.gte {
                    cond = cond.add(expr.clone().gte(map(v)?));
                }
                if let Some(v) = &self.lt {
                    cond = cond.add(expr.clone().lt(map(v)?));
                }
                if let Some(v) = &self.lte {
                    cond = cond.add(expr.clone().lte(map(v)?));
                }
                $(
                    let now = Utc::now();
                    let at = |field: &str, ago: &Option<$ago>| {
                        ago.as_deref().map(|a| ago_from(field, a, now)).transpose()
                    };
                    if let Some(since) = at("gteAgo", &self.gte_ago)? {
                        cond = cond.add(expr.clone().gte(since));
                    }
                    if let Some(before) = at("ltAgo", &self.lt_ago)? {
                        cond = cond.add(expr.clone().lt(before));
                    }
                )?
                Ok(null_check(cond, &expr, self.is_null))
            }
        }
    };
}

range_filter!(
    DateTimeFilter,
    DateTime<Utc>,
    "Operators on a point in time.",
    Ago
);
range_filter!(DateFilter, Date, "Operators on a calendar date.");
range_filter!(DecimalFilter, Decimal, "Operators on an amount of money.");
range_filter!(IntFilter, i32, "Operators on a whole number.");

/// Combines a filter's own conditions with its `and` and `or` lists.
pub fn combine<F>(
    own: Condition,
    and: &Option<Vec<F>>,
    or: &Option<Vec<F>>,
    each: impl Fn(&F) -> ApiResult<Condition>,
) -> ApiResult<Condition> {
    for list in [and, or].into_iter().flatten() {
        if list.len() > MAX_FILTER_WIDTH {
            return Err(ApiError::BadUserInput(format!(
                "`and` and `or` take at most {MAX_FILTER_WIDTH} filters each"
            )));
        }
    }
    let mut cond = own;
    if let Some(and) = and {
        for f in and {
            cond = cond.add(each(f)?);
        }
    }
    if let Some(or) = or {
        let mut any = Condition::any();
        for f in or {
            any = any.add(each(f)?);
        }
        cond = cond.add(any);
    }
    Ok(cond)
}

/// Refuses filters nested deeper than this: each level is another sub-expression to plan.
pub const MAX_FILTER_DEPTH: usize = 5;
/// Most filters one `and` or `or` list holds.
pub const MAX_FILTER_WIDTH: usize = 16;
/// Most filter objects one filter argument holds, nested ones included: each becomes SQL that
/// every candidate row is tested against.
pub const MAX_FILTER_NODES: usize = 64;

thread_local! {
    /// Filter objects seen while building the current filter's condition (which happens
    /// synchronously, from `depth_guard(0)` on).
    static FILTER_NODES: std::cell::Cell<usize> = const { std::cell::Cell::new(0) };
}

/// Called once per filter object as its condition is built: bounds the nesting and the size.
pub fn depth_guard(depth: usize) -> ApiResult<()> {
    if depth > MAX_FILTER_DEPTH {
        return Err(ApiError::BadUserInput(format!(
            "filters nest at most {MAX_FILTER_DEPTH} levels of `and`/`or`"
        )));
    }
    let nodes = FILTER_NODES.with(|n| {
        let seen = if depth == 0 { 1 } else { n.get() + 1 };
        n.set(seen);
        seen
    });
    if nodes > MAX_FILTER_NODES {
        return Err(ApiError::BadUserInput(format!(
            "a filter holds at most {MAX_FILTER_NODES} filter objects, nested ones included"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::ago_from;
    use chrono::{DateTime, Utc};

    fn at(text: &str) -> DateTime<Utc> {
        DateTime::parse_from_rfc3339(text)
            .expect("a time")
            .with_timezone(&Utc)
    }

    #[test]
    fn durations_count_back_from_now() {
        let now = at("2026-12-02T10:00:00Z");
        for (ago, expected) in [
            ("P30D", "2026-11-02T10:00:00Z"),
            ("P6M", "2026-06-02T10:00:00Z"),
            ("P1Y", "2025-12-02T10:00:00Z"),
            ("P2W", "2026-11-18T10:00:00Z"),
            ("PT12H", "2026-12-01T22:00:00Z"),
            ("PT90M", "2026-12-02T08:30:00Z"),
        ] {
            assert_eq!(ago_from("f", ago, now).ok(), Some(at(expected)), "{ago}");
        }
    }

    #[test]
    fn other_durations_are_refused_naming_the_field() {
        let now = at("2026-12-02T10:00:00Z");
        for ago in [
            "",
            "P",
            "30D",
            "P30",
            "P-3D",
            "P1.5D",
            "PT3D",
            "P3H",
            "P99999999999Y",
        ] {
            let refused = ago_from("gteAgo", ago, now).expect_err(ago);
            assert!(
                refused.to_string().starts_with("gteAgo: "),
                "{ago}: {refused}"
            );
        }
    }
}
