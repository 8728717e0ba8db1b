//! Money: exact amounts with their ISO 4217 currency, stored as fixed-scale integers
//! (ten-thousandths) so that they are exact on both backends, and shown with as many decimal
//! places as their currency has.

use async_graphql::SimpleObject;
use rust_decimal::Decimal;

use crate::error::{ApiError, ApiResult};
use crate::validate;

/// An exact amount of money in one currency.
#[derive(SimpleObject, Clone, Debug, PartialEq, Eq)]
pub struct Money {
    pub amount: Decimal,
    /// ISO 4217.
    pub currency: String,
}

impl Money {
    pub fn new(scaled: i64, currency: &str) -> Money {
        Money {
            amount: amount_in(scaled, currency),
            currency: currency.to_owned(),
        }
    }

    /// A sum of stored amounts; `None` only beyond 96 bits, which no sum of up to 2^32
    /// stored amounts reaches.
    pub fn sum(scaled: i128, currency: &str) -> Option<Money> {
        Some(Money {
            amount: with_exponent(validate::amount_from_scaled_sum(scaled)?, currency),
            currency: currency.to_owned(),
        })
    }
}

/// A stored amount with as many decimal places as its currency has (`19.90` EUR, `1990` JPY).
pub fn amount_in(scaled: i64, currency: &str) -> Decimal {
    with_exponent(validate::amount_from_scaled(scaled), currency)
}

fn with_exponent(mut amount: Decimal, currency: &str) -> Decimal {
    if let Ok(exponent) = validate::currency("currency", currency) {
        amount.rescale(exponent.max(amount.scale()));
    }
    amount
}

/// An amount as the stored fixed-scale units, for comparing in SQL (filters).
pub fn scaled(value: &Decimal) -> ApiResult<sea_orm::Value> {
    let units = value
        .checked_mul(Decimal::from(10_000))
        .filter(|v| v.fract().is_zero())
        .and_then(|v| i64::try_from(v).ok())
        .ok_or_else(|| {
            ApiError::BadUserInput("amount: at most 4 decimal places and 922337203685477".into())
        })?;
    Ok(units.into())
}
