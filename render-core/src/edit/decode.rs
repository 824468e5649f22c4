//! Reading values from JSON, with the path of whatever is wrong: `decode` turns
//! serde's errors into a problem located at the field at fault (also inside
//! internally tagged enums, which serde does not track), `decode_entity` also checks
//! the entity's values, and `merge` applies an update's partial JSON.

use super::entity::Entity;
use super::error::{join, EditErrorCode, Located};
use super::key::Kind;
use serde::de::DeserializeOwned;
use serde_json::Value;
use std::sync::Arc;

/// One step of a JSON path.
#[derive(Clone, Debug, PartialEq)]
enum Step {
    Field(String),
    Index(usize),
}

fn path_text(steps: &[Step]) -> String {
    steps.iter().fold(String::new(), |path, step| match step {
        Step::Field(name) => join(&path, name),
        Step::Index(i) => format!("{path}[{i}]"),
    })
}

fn steps_of(path: &serde_path_to_error::Path) -> Vec<Step> {
    use serde_path_to_error::Segment;
    path.iter()
        .filter_map(|segment| match segment {
            Segment::Seq { index } => Some(Step::Index(*index)),
            Segment::Map { key } => Some(Step::Field(key.clone())),
            Segment::Enum { variant } => Some(Step::Field(variant.clone())),
            Segment::Unknown => None,
        })
        .collect()
}

fn navigate_mut<'a>(value: &'a mut Value, steps: &[Step]) -> Option<&'a mut Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Field(name) => v.get_mut(name.as_str()),
        Step::Index(i) => v.get_mut(*i),
    })
}

fn navigate<'a>(value: &'a Value, steps: &[Step]) -> Option<&'a Value> {
    steps.iter().try_fold(value, |v, step| match step {
        Step::Field(name) => v.get(name.as_str()),
        Step::Index(i) => v.get(*i),
    })
}

/// The first number that is finite in JSON but too large for the 32-bit floats of
/// the scene (it would silently become infinite), with its path.
fn overflowing_number(value: &Value, path: &mut Vec<Step>) -> Option<(String, f64)> {
    match value {
        Value::Number(n) => n
            .as_f64()
            .filter(|x| x.is_finite() && !(*x as f32).is_finite())
            .map(|x| (path_text(path), x)),
        Value::Array(items) => items.iter().enumerate().find_map(|(i, item)| {
            path.push(Step::Index(i));
            let found = overflowing_number(item, path);
            path.pop();
            found
        }),
        Value::Object(fields) => fields.iter().find_map(|(name, item)| {
            path.push(Step::Field(name.clone()));
            let found = overflowing_number(item, path);
            path.pop();
            found
        }),
        _ => None,
    }
}

/// The text between `prefix` and the next backquote in a serde message.
fn quoted_after<'a>(message: &'a str, prefix: &str) -> Option<&'a str> {
    let rest = message.strip_prefix(prefix)?;
    rest.split('`').next()
}

/// Deserialises `T` from `value`, locating any problem at the field it is in.
///
/// `serde_path_to_error` tracks the path through structs, maps and sequences, but not
/// into internally tagged enums (`{"type": "diffuse", ...}`), which serde buffers and
/// reads untracked: an error inside one is reported at the enum. For unknown and
/// missing fields serde's message names the field; for a value of the wrong type the
/// field is found by removing the enum's fields one at a time: the one whose removal
/// changes the error is the one at fault (fields are read before missing ones are
/// checked, so removing an innocent field leaves the same error).
pub(super) fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, Located> {
    if let Some((field, x)) = overflowing_number(value, &mut Vec::new()) {
        return Err(Located {
            code: EditErrorCode::InvalidValue,
            detail: format!("{x:e} is too large for a 32-bit float (it would be infinite)"),
            field,
        });
    }
    let error = match serde_path_to_error::deserialize::<_, T>(value) {
        Ok(decoded) => return Ok(decoded),
        Err(error) => error,
    };
    let steps = steps_of(error.path());
    let message = error.inner().to_string();
    let at = path_text(&steps);
    // The path names the field, so the detail is serde's message alone.
    let located = |code, field: String| Located {
        code,
        detail: message.clone(),
        field,
    };
    let tagged = navigate(value, &steps)
        .and_then(Value::as_object)
        .filter(|o| o.contains_key("type"));
    if let Some(name) = quoted_after(&message, "unknown field `") {
        // In a struct the tracked path already ends at the unknown field; inside a
        // tagged enum it ends at the enum.
        let field = match tagged {
            Some(fields) if fields.contains_key(name) => join(&at, name),
            _ => at.clone(),
        };
        return Err(located(EditErrorCode::UnknownField, field));
    }
    if let Some(name) = quoted_after(&message, "missing field `") {
        return Err(located(EditErrorCode::MissingField, join(&at, name)));
    }
    if let Some(fields) = tagged {
        if message.contains("variant") {
            return Err(located(EditErrorCode::InvalidValue, join(&at, "type")));
        }
        for name in fields.keys().filter(|k| *k != "type") {
            let mut probe = value.clone();
            if let Some(Value::Object(o)) = navigate_mut(&mut probe, &steps) {
                o.remove(name);
            }
            let same = match serde_path_to_error::deserialize::<_, T>(&probe) {
                Ok(_) => false,
                Err(e) => steps_of(e.path()) == steps && e.inner().to_string() == message,
            };
            if !same {
                return Err(located(EditErrorCode::InvalidValue, join(&at, name)));
            }
        }
    }
    Err(located(EditErrorCode::InvalidValue, at))
}

/// Reads an entity of `kind` and checks its values.
pub(super) fn decode_entity(kind: Kind, value: &Value) -> Result<Entity, Located> {
    let entity = match kind {
        Kind::Material => Entity::Material(decode(value)?),
        Kind::Texture => Entity::Texture(decode(value)?),
        Kind::Mesh => Entity::Mesh(Arc::new(decode(value)?)),
        Kind::Object => Entity::Object(decode(value)?),
        Kind::Light => Entity::Light(decode(value)?),
        Kind::Environment => Entity::Environment(decode(value)?),
        Kind::Settings => Entity::Settings(decode(value)?),
    };
    match entity.problem() {
        Some(problem) => Err(problem.into()),
        None => Ok(entity),
    }
}

/// Merges `patch` into `target`: objects merge field by field, anything else
/// (arrays, numbers, strings, `null`) replaces. An object whose `type` differs from
/// the target's replaces it whole, since the fields of one variant mean nothing to
/// another.
pub(super) fn merge(target: &mut Value, patch: &Value) {
    match (target, patch) {
        (Value::Object(t), Value::Object(p))
            if p.get("type").is_none_or(|ty| t.get("type") == Some(ty)) =>
        {
            for (name, value) in p {
                match t.get_mut(name) {
                    Some(existing) => merge(existing, value),
                    None => {
                        t.insert(name.clone(), value.clone());
                    }
                }
            }
        }
        (target, patch) => *target = patch.clone(),
    }
}
