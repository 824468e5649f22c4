//! Errors: an [`EditError`] is every refusal, with a code, the op at fault and the
//! JSON path of the field at fault. Also what errors are built from: a `Located`
//! problem inside one value (before it is known which op it belongs to), JSON paths
//! joined from parts (`join`), and the JSON of a value as written in errors and
//! changes (`json_of`, floats at their shortest).

use crate::scene::Problem;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// What kind of refusal an [`EditError`] is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EditErrorCode {
    /// A value has the wrong type or is out of range.
    InvalidValue,
    /// A required field is absent.
    MissingField,
    /// A field that does not exist was given.
    UnknownField,
    /// `op` is not add, update, replace or remove.
    UnknownOp,
    /// `kind` is not one of the kinds.
    UnknownKind,
    /// An op or a reference names a key that does not exist.
    NotFound,
    /// An add names a key that already exists.
    DuplicateKey,
    /// A remove names an entity something else still refers to.
    InUse,
    /// The transaction would exceed one of the limits.
    LimitExceeded,
}

/// Why a transaction (or a snapshot) was refused. Nothing was changed.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, thiserror::Error)]
#[error("{message}")]
pub struct EditError {
    pub code: EditErrorCode,
    /// The index of the op at fault, if an op was.
    pub op: Option<usize>,
    /// The JSON path of the field at fault, such as `ops[1].value.albedo`; empty when
    /// no single field is.
    pub path: String,
    /// A sentence naming the path, the entity and what is wrong.
    pub message: String,
}

impl EditError {
    pub(super) fn new(
        code: EditErrorCode,
        op: Option<usize>,
        path: String,
        what: impl fmt::Display,
    ) -> Self {
        let message = if path.is_empty() {
            what.to_string()
        } else {
            format!("{path}: {what}")
        };
        EditError {
            code,
            op,
            path,
            message,
        }
    }
}

/// A problem found inside one value, before it is known which op it belongs to.
pub(super) struct Located {
    pub(super) code: EditErrorCode,
    /// The path relative to the value.
    pub(super) field: String,
    pub(super) detail: String,
}

impl Located {
    /// The error at `base` (`ops[1].value`), about `what` (`material "red"`).
    pub(super) fn at(self, op: Option<usize>, base: &str, what: &str) -> EditError {
        let detail = if what.is_empty() {
            self.detail
        } else {
            format!("{what}: {}", self.detail)
        };
        EditError::new(self.code, op, join(base, &self.field), detail)
    }
}

impl From<Problem> for Located {
    fn from(p: Problem) -> Located {
        Located {
            code: EditErrorCode::InvalidValue,
            field: p.field,
            detail: p.message,
        }
    }
}

/// The JSON of a value whose numbers are 32-bit floats, each written as the shortest
/// decimal that reads back as the same float: `0.65`, where `serde_json::to_value`
/// would widen it to `0.6499999761581421`. (Through text, since serde_json's writer
/// formats `f32`s that way but its `Value` holds only `f64`s.)
pub(super) fn json_of<T: Serialize>(value: &T) -> Value {
    // Serialising these types cannot fail: every map key is a string.
    serde_json::to_string(value)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

/// `base` and `field` as one JSON path: `ops[1].value` + `albedo`, `positions` + `[3]`.
pub(super) fn join(base: &str, field: &str) -> String {
    if field.is_empty() {
        base.to_owned()
    } else if base.is_empty() {
        field.to_owned()
    } else if field.starts_with('[') {
        format!("{base}{field}")
    } else {
        format!("{base}.{field}")
    }
}
