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

macro_rules! range_filter {
    ($name:ident, $ty:ty, $doc:literal) => {
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
                Ok(null_check(cond, &expr, self.is_null))
            }
        }
    };
}

range_filter!(
    DateTimeFilter,
    DateTime<Utc>,
    "Operators on a point in time."
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
