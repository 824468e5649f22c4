//! Operations and their journal format: an [`Op`] is one step of a client's
//! transaction (add, update, replace or remove), read by [`parse_ops`] from an `edit`
//! message; a [`Resolved`] step is one entity's new value or its removal, the net
//! effect a transaction records (as JSON in the journal, to redo or undo it); an
//! [`Applied`] is what a successful transaction returns.

use super::decode::decode_entity;
use super::entity::Entity;
use super::error::{EditError, EditErrorCode};
use super::key::{Key, Kind, KINDS};
use super::MAX_OPS;
use crate::scene::Mesh;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::str::FromStr;
use std::sync::Arc;

/// The value of an add or a replace: JSON from a client, or an entity made by the
/// server (an uploaded mesh).
#[derive(Clone, Debug, PartialEq)]
pub enum Payload {
    Json(Value),
    Entity(Entity),
}

/// One operation of a transaction. Keys are `None` exactly for the singletons.
#[derive(Clone, Debug, PartialEq)]
pub enum Op {
    /// A new entity under a key not yet used.
    Add {
        kind: Kind,
        key: Key,
        value: Payload,
    },
    /// A partial change: the given fields are merged into the entity's JSON.
    Update {
        kind: Kind,
        key: Option<Key>,
        value: Value,
    },
    /// A complete new value for an existing entity.
    Replace {
        kind: Kind,
        key: Option<Key>,
        value: Payload,
    },
    /// Removes an entity nothing refers to.
    Remove { kind: Kind, key: Key },
}

impl Op {
    /// Adds a mesh the server already has (an upload), without a trip through JSON.
    pub fn add_mesh(key: Key, mesh: Mesh) -> Op {
        Op::Add {
            kind: Kind::Mesh,
            key,
            value: Payload::Entity(Entity::Mesh(Arc::new(mesh))),
        }
    }

    pub fn kind(&self) -> Kind {
        match self {
            Op::Add { kind, .. }
            | Op::Update { kind, .. }
            | Op::Replace { kind, .. }
            | Op::Remove { kind, .. } => *kind,
        }
    }

    pub fn key(&self) -> Option<&Key> {
        match self {
            Op::Add { key, .. } | Op::Remove { key, .. } => Some(key),
            Op::Update { key, .. } | Op::Replace { key, .. } => key.as_ref(),
        }
    }

    /// The op's name in JSON.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Add { .. } => "add",
            Op::Update { .. } => "update",
            Op::Replace { .. } => "replace",
            Op::Remove { .. } => "remove",
        }
    }
}

/// Parses the `ops` array of an `edit` message. Each op is
/// `{"op": "add"|"update"|"replace"|"remove", "kind": ..., "key": ..., "value": ...}`;
/// singletons take no key, remove takes no value. Values are only read as JSON here;
/// they are checked when applied, against the document.
pub fn parse_ops(v: &Value) -> Result<Vec<Op>, EditError> {
    use EditErrorCode::*;
    let Value::Array(items) = v else {
        return Err(EditError::new(
            InvalidValue,
            None,
            "ops".into(),
            "ops must be an array of operations",
        ));
    };
    if items.len() > MAX_OPS {
        return Err(EditError::new(
            LimitExceeded,
            None,
            "ops".into(),
            format!(
                "a transaction holds at most {MAX_OPS} operations, this one has {}",
                items.len()
            ),
        ));
    }
    items
        .iter()
        .enumerate()
        .map(|(i, item)| parse_op(i, item))
        .collect()
}

fn parse_op(i: usize, item: &Value) -> Result<Op, EditError> {
    use EditErrorCode::*;
    let base = format!("ops[{i}]");
    let at = |field: &str| format!("{base}.{field}");
    let err = |code, path: String, what: String| Err(EditError::new(code, Some(i), path, what));
    let Value::Object(fields) = item else {
        return err(
            InvalidValue,
            base.clone(),
            "an operation must be an object with op, kind, key and value".into(),
        );
    };
    if let Some(name) = fields
        .keys()
        .find(|k| !["op", "kind", "key", "value"].contains(&k.as_str()))
    {
        return err(
            UnknownField,
            at(name),
            format!("unknown field {name:?}; an operation has op, kind, key and value"),
        );
    }
    const OPS: &str = "expected add, update, replace or remove";
    let op = match fields.get("op") {
        None => return err(MissingField, at("op"), format!("missing op; {OPS}")),
        Some(Value::String(s)) if ["add", "update", "replace", "remove"].contains(&s.as_str()) => {
            s.as_str()
        }
        Some(other) => return err(UnknownOp, at("op"), format!("unknown op {other}; {OPS}")),
    };
    let kind = match fields.get("kind") {
        None => return err(MissingField, at("kind"), format!("missing kind; {KINDS}")),
        Some(value) => match value.as_str().map(Kind::from_str) {
            Some(Ok(kind)) => kind,
            _ => {
                return err(
                    UnknownKind,
                    at("kind"),
                    format!("unknown kind {value}; {KINDS}"),
                )
            }
        },
    };
    let key = match (kind.is_singleton(), fields.get("key")) {
        (true, None | Some(Value::Null)) => None,
        (true, Some(_)) => {
            return err(
                InvalidValue,
                at("key"),
                format!("{kind} is a singleton and takes no key"),
            )
        }
        (false, None | Some(Value::Null)) => {
            return err(MissingField, at("key"), format!("{op} {kind} needs a key"))
        }
        (false, Some(Value::String(s))) => match Key::new(s.as_str()) {
            Ok(key) => Some(key),
            Err(e) => return err(InvalidValue, at("key"), e.to_string()),
        },
        (false, Some(other)) => {
            return err(
                InvalidValue,
                at("key"),
                format!("a key must be a string, got {other}"),
            )
        }
    };
    if kind.is_singleton() && (op == "add" || op == "remove") {
        return err(
            InvalidValue,
            at("op"),
            format!("{kind} is a singleton: it can only be updated or replaced"),
        );
    }
    let value = match (op, fields.get("value")) {
        ("remove", None) => None,
        ("remove", Some(_)) => {
            return err(UnknownField, at("value"), "remove takes no value".into());
        }
        (_, None) => {
            return err(
                MissingField,
                at("value"),
                format!("{op} {kind} needs a value"),
            )
        }
        ("update", Some(v)) if !v.is_object() => {
            return err(
                InvalidValue,
                at("value"),
                format!("update takes an object of the fields to change, got {v}"),
            )
        }
        (_, Some(v)) => Some(v.clone()),
    };
    // The checks above leave exactly the combinations matched here.
    Ok(match (op, key, value) {
        ("add", Some(key), Some(value)) => Op::Add {
            kind,
            key,
            value: Payload::Json(value),
        },
        ("update", key, Some(value)) => Op::Update { kind, key, value },
        ("replace", key, Some(value)) => Op::Replace {
            kind,
            key,
            value: Payload::Json(value),
        },
        (_, Some(key), None) => Op::Remove { kind, key },
        _ => return err(InvalidValue, base.clone(), "malformed operation".into()),
    })
}

/// One step of a transaction's net effect: an entity's new value, or its removal.
/// The journal stores these as JSON:
/// `{"op":"put","kind":"material","key":"red","value":{...}}` and
/// `{"op":"remove","kind":"material","key":"red"}`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(try_from = "ResolvedJson", into = "ResolvedJson")]
pub enum Resolved {
    Put {
        kind: Kind,
        key: Option<Key>,
        entity: Entity,
    },
    Remove {
        kind: Kind,
        key: Key,
    },
}

#[derive(Serialize, Deserialize)]
#[serde(tag = "op", rename_all = "snake_case", deny_unknown_fields)]
enum ResolvedJson {
    Put {
        kind: Kind,
        #[serde(default, skip_serializing_if = "Option::is_none")]
        key: Option<Key>,
        value: Value,
    },
    Remove {
        kind: Kind,
        key: Key,
    },
}

impl From<Resolved> for ResolvedJson {
    fn from(r: Resolved) -> ResolvedJson {
        match r {
            Resolved::Put { kind, key, entity } => ResolvedJson::Put {
                kind,
                key,
                value: entity.to_json(),
            },
            Resolved::Remove { kind, key } => ResolvedJson::Remove { kind, key },
        }
    }
}

impl TryFrom<ResolvedJson> for Resolved {
    type Error = EditError;
    fn try_from(r: ResolvedJson) -> Result<Resolved, EditError> {
        Ok(match r {
            ResolvedJson::Put { kind, key, value } => Resolved::Put {
                kind,
                key,
                entity: decode_entity(kind, &value).map_err(|e| e.at(None, "value", ""))?,
            },
            ResolvedJson::Remove { kind, key } => Resolved::Remove { kind, key },
        })
    }
}

/// What a successful transaction did.
#[derive(Clone, Debug, PartialEq)]
pub struct Applied {
    /// Replays the transaction (redo, the journal): each changed entity's new value
    /// or its removal, in the order the transaction first touched them.
    pub forward: Vec<Resolved>,
    /// Undoes it when applied right after it: each changed entity's old value or its
    /// removal, in reverse order.
    pub inverse: Vec<Resolved>,
    /// For other clients, one per changed entity:
    /// `{"op":"add"|"update"|"remove","kind":..,"key":..,"value":..}` with the full
    /// resulting entity (a mesh as its summary); no value for a remove, no key for a
    /// singleton. Entities a transaction touched but left as they were are left out.
    pub changes: Vec<Value>,
    /// Whether meshes or objects changed, so the renderer must rebuild its top level.
    pub geometry_changed: bool,
}

#[cfg(test)]
mod tests;
