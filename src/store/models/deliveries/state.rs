//! A delivery's state as stored: a small integer per state, one schema
//! for both backends.

use std::fmt;

use diesel::backend::Backend;
use diesel::deserialize::{self, FromSql, FromSqlRow};
use diesel::expression::AsExpression;
use diesel::serialize::{self, Output, ToSql};
use diesel::sql_types::SmallInt;
use serde::Serialize;

/// A delivery's state, stored as a small integer (one schema for both
/// backends). Raw SQL takes the numbers from here, never spells them.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, AsExpression, FromSqlRow, utoipa::ToSchema,
)]
#[diesel(sql_type = SmallInt)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryState {
    Pending = 0,
    InFlight = 1,
    Retrying = 2,
    Delivered = 3,
    Skipped = 4,
    Failed = 5,
}

impl DeliveryState {
    pub const ALL: [DeliveryState; 6] = [
        DeliveryState::Pending,
        DeliveryState::InFlight,
        DeliveryState::Retrying,
        DeliveryState::Delivered,
        DeliveryState::Skipped,
        DeliveryState::Failed,
    ];
    /// The states with work left, which claims look at.
    pub const UNFINISHED: [DeliveryState; 3] = [
        DeliveryState::Pending,
        DeliveryState::InFlight,
        DeliveryState::Retrying,
    ];

    pub fn code(self) -> i16 {
        self as i16
    }

    pub fn from_code(code: i16) -> Result<Self, UnknownState> {
        Self::ALL
            .into_iter()
            .find(|state| state.code() == code)
            .ok_or(UnknownState(code))
    }

    pub fn is_final(self) -> bool {
        matches!(
            self,
            DeliveryState::Delivered | DeliveryState::Skipped | DeliveryState::Failed
        )
    }

    pub fn as_str(self) -> &'static str {
        match self {
            DeliveryState::Pending => "pending",
            DeliveryState::InFlight => "in_flight",
            DeliveryState::Retrying => "retrying",
            DeliveryState::Delivered => "delivered",
            DeliveryState::Skipped => "skipped",
            DeliveryState::Failed => "failed",
        }
    }
}

/// A stored state this build does not know: an error, never "pending".
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("unknown delivery state {0} in the journal")]
pub struct UnknownState(pub i16);

impl<DB> ToSql<SmallInt, DB> for DeliveryState
where
    DB: Backend,
    i16: ToSql<SmallInt, DB>,
{
    fn to_sql<'b>(&'b self, out: &mut Output<'b, '_, DB>) -> serialize::Result {
        let code: &'static i16 = match self {
            DeliveryState::Pending => &0,
            DeliveryState::InFlight => &1,
            DeliveryState::Retrying => &2,
            DeliveryState::Delivered => &3,
            DeliveryState::Skipped => &4,
            DeliveryState::Failed => &5,
        };
        code.to_sql(out)
    }
}

impl<DB> FromSql<SmallInt, DB> for DeliveryState
where
    DB: Backend,
    i16: FromSql<SmallInt, DB>,
{
    fn from_sql(bytes: DB::RawValue<'_>) -> deserialize::Result<Self> {
        Ok(DeliveryState::from_code(i16::from_sql(bytes)?)?)
    }
}

impl fmt::Display for DeliveryState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// `(0, 1, 2)`-style SQL lists of states, from the enum.
pub(super) fn sql_states(states: &[DeliveryState]) -> String {
    states
        .iter()
        .map(|state| state.code().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_an_unknown_one_is_an_error() {
        for state in DeliveryState::ALL {
            assert_eq!(DeliveryState::from_code(state.code()), Ok(state));
        }
        assert_eq!(DeliveryState::from_code(9), Err(UnknownState(9)));
        assert_eq!(
            UnknownState(9).to_string(),
            "unknown delivery state 9 in the journal"
        );
        assert_eq!(sql_states(&DeliveryState::UNFINISHED), "0, 1, 2");
    }
}
