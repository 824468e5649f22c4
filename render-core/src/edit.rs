//! The editable scene document: stable keys and atomic edit transactions.
//!
//! The renderer's [`Scene`] refers to materials, meshes and textures by their index,
//! which shifts whenever something is removed. Clients need names that stay put, so
//! the server keeps a [`Document`]: the same entities in maps by [`Key`], with
//! references between them by key (`Material<Key>`, `Object<Key>`, ...: the scene
//! types are generic over how they refer). [`Document::to_scene`] turns it back into a
//! scene for the renderer; meshes are shared through `Arc`s, so that costs no copy of
//! geometry.
//!
//! Clients change the document with transactions: a list of [`Op`]s (add, update,
//! replace, remove; parsed by [`parse_ops`] from the JSON of an `edit` message) that
//! [`Document::apply`] applies all or nothing. Later ops see earlier ones; values are
//! checked as each op is applied, references and limits once all are, and on any
//! error the document is left exactly as it was. A successful transaction returns an
//! [`Applied`]: its net effect as [`Resolved`] puts and removes (to redo it or write it
//! to a journal), the inverse (to undo it), the changes to tell other clients, and
//! whether geometry changed.
//!
//! Every refusal is an [`EditError`] with a code, the op's index and the JSON path of
//! the field at fault (`ops[1].value.albedo`), and a sentence that names both.
//!
//! Limits, so that no client can make the server run out of memory or time:
//! [`MAX_ENTITIES`] per kind, [`MAX_OPS`] per transaction, [`MAX_MESH_TRIANGLES`] in
//! one mesh, [`MAX_TOTAL_TRIANGLES`] over all meshes, [`MAX_CHECKER_TEXELS`] over the
//! checker textures' images.
//!
//! Textures are special in one way: a client may only add or change checker textures,
//! which are generated. File and embedded images come only from the scene file, since
//! letting a client name a file would let it read the server's disk. The document
//! keeps every image the scene file brought (its *library*), so that undoing the
//! removal of such a texture can bring its image back.

use crate::camera::Camera;
use crate::scene::{
    Environment, Light, Material, Mesh, Object, Problem, Scene, Texture, TextureSource,
};
use crate::texture::TextureImage;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::{json, Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;

/// At most this many entities of one kind (materials, textures, meshes, objects,
/// lights), so that a transaction's checks and a rebuild stay fast.
pub const MAX_ENTITIES: usize = 100_000;
/// At most this many operations in one transaction.
pub const MAX_OPS: usize = 256;
/// At most this many triangles in one mesh.
pub const MAX_MESH_TRIANGLES: usize = 10_000_000;
/// At most this many triangles over all meshes (about 2 GB with their hierarchies).
pub const MAX_TOTAL_TRIANGLES: usize = 20_000_000;
/// At most this many texels over the distinct images of checker textures (200 MB):
/// a checker of 4096 squares is an image of 4096 by 4096 texels, so without a bound a
/// few ops could claim gigabytes.
pub const MAX_CHECKER_TEXELS: usize = 1 << 24;
/// The largest `max_samples` of [`Settings`].
pub const MAX_SAMPLES: u32 = 1_000_000;
/// The largest `exposure` of [`Settings`].
pub const MAX_EXPOSURE: f32 = 1000.0;

// ---------------------------------------------------------------------------------
// Keys and kinds

/// A stable name for an entity: 1 to 64 characters from `A-Z a-z 0-9 - _ . :`, so it
/// can appear in a URL, a log line or a JSON path without quoting. In JSON it is a
/// plain string (checked when read).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Key(String);

/// Why a string is not a [`Key`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid key: keys are 1 to 64 characters from A-Z a-z 0-9 - _ . :")]
pub struct KeyError(pub String);

impl Key {
    pub const MAX_LEN: usize = 64;

    pub fn new(key: impl Into<String>) -> Result<Key, KeyError> {
        let key = key.into();
        if key.is_empty() || key.chars().count() > Key::MAX_LEN || !key.chars().all(key_char) {
            return Err(KeyError(key));
        }
        Ok(Key(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key a name suggests: every character a key cannot hold becomes `_`, and the
    /// result is cut to 64 characters. `None` for an empty name.
    fn from_name(name: &str) -> Option<Key> {
        let sanitised: String = name
            .chars()
            .map(|c| if key_char(c) { c } else { '_' })
            .take(Key::MAX_LEN)
            .collect();
        (!sanitised.is_empty()).then_some(Key(sanitised))
    }
}

fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

impl TryFrom<String> for Key {
    type Error = KeyError;
    fn try_from(key: String) -> Result<Key, KeyError> {
        Key::new(key)
    }
}

impl From<Key> for String {
    fn from(key: Key) -> String {
        key.0
    }
}

impl FromStr for Key {
    type Err = KeyError;
    fn from_str(key: &str) -> Result<Key, KeyError> {
        Key::new(key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// The kinds of entity in a document. Environment and settings are singletons: there
/// is exactly one of each, with no key, and they can be updated or replaced but not
/// added or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Material,
    Texture,
    Mesh,
    Object,
    Light,
    Environment,
    Settings,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Material,
        Kind::Texture,
        Kind::Mesh,
        Kind::Object,
        Kind::Light,
        Kind::Environment,
        Kind::Settings,
    ];

    /// The kind's name in JSON (`"material"`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Material => "material",
            Kind::Texture => "texture",
            Kind::Mesh => "mesh",
            Kind::Object => "object",
            Kind::Light => "light",
            Kind::Environment => "environment",
            Kind::Settings => "settings",
        }
    }

    /// The name of the kind's map in [`Document::to_json`] (`"materials"`), or of the
    /// singleton itself.
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Material => "materials",
            Kind::Texture => "textures",
            Kind::Mesh => "meshes",
            Kind::Object => "objects",
            Kind::Light => "lights",
            Kind::Environment => "environment",
            Kind::Settings => "settings",
        }
    }

    pub fn is_singleton(self) -> bool {
        matches!(self, Kind::Environment | Kind::Settings)
    }
}

/// The kinds, for error messages.
const KINDS: &str = "expected material, texture, mesh, object, light, environment or settings";

impl FromStr for Kind {
    type Err = EditError;
    /// A kind from its JSON name; the error lists the kinds.
    fn from_str(name: &str) -> Result<Kind, EditError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                EditError::new(
                    EditErrorCode::UnknownKind,
                    None,
                    String::new(),
                    format!("unknown kind {name:?}; {KINDS}"),
                )
            })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

// ---------------------------------------------------------------------------------
// Settings and entities

/// How the renderer runs, edited like any other entity.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    /// Samples per pixel after which the picture is final (1 to [`MAX_SAMPLES`]).
    pub max_samples: u32,
    /// The longest path traced, in bounces (1 to [`Scene::MAX_BOUNCES`]).
    pub max_bounces: u32,
    /// The factor applied to radiance before tone mapping (above 0, at most
    /// [`MAX_EXPOSURE`]).
    pub exposure: f32,
}

impl Settings {
    /// What is wrong with the settings, if anything.
    pub fn problem(&self) -> Option<Problem> {
        if !(1..=MAX_SAMPLES).contains(&self.max_samples) {
            return Some(Problem::new(
                "max_samples",
                format!(
                    "max_samples must be between 1 and {MAX_SAMPLES}, got {}",
                    self.max_samples
                ),
            ));
        }
        if !(1..=Scene::MAX_BOUNCES).contains(&self.max_bounces) {
            return Some(Problem::new(
                "max_bounces",
                format!(
                    "max_bounces must be between 1 and {}, got {}",
                    Scene::MAX_BOUNCES,
                    self.max_bounces
                ),
            ));
        }
        if !(self.exposure.is_finite() && self.exposure > 0.0 && self.exposure <= MAX_EXPOSURE) {
            return Some(Problem::new(
                "exposure",
                format!(
                    "exposure must be above 0 and at most {MAX_EXPOSURE}, got {}",
                    self.exposure
                ),
            ));
        }
        None
    }
}

/// One entity of any kind, with references by key. Its JSON is the entity's own (the
/// scene file's form), without the kind, which travels beside it.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(untagged)]
pub enum Entity {
    Material(Material<Key>),
    /// A texture's description; its image lives in the document.
    Texture(Texture),
    Mesh(Arc<Mesh>),
    Object(Object<Key>),
    Light(Light),
    Environment(Environment<Key>),
    Settings(Settings),
}

impl Entity {
    pub fn kind(&self) -> Kind {
        match self {
            Entity::Material(_) => Kind::Material,
            Entity::Texture(_) => Kind::Texture,
            Entity::Mesh(_) => Kind::Mesh,
            Entity::Object(_) => Kind::Object,
            Entity::Light(_) => Kind::Light,
            Entity::Environment(_) => Kind::Environment,
            Entity::Settings(_) => Kind::Settings,
        }
    }

    /// Reads an entity of `kind` from JSON, checking its values. Errors have the path
    /// of the bad field relative to `value` (`""` for the value itself).
    pub fn from_json(kind: Kind, value: &Value) -> Result<Entity, EditError> {
        decode_entity(kind, value).map_err(|e| e.at(None, "", ""))
    }

    /// The entity's full JSON.
    pub fn to_json(&self) -> Value {
        json_of(self)
    }

    /// The entity's JSON with a mesh shortened to its name and size, for listings and
    /// change notices, where a million vertices would be noise.
    pub fn summary_json(&self) -> Value {
        match self {
            Entity::Mesh(mesh) => json!({
                "name": mesh.name,
                "vertices": mesh.positions.len(),
                "triangles": mesh.indices.len(),
            }),
            other => other.to_json(),
        }
    }

    /// What is wrong with the entity's values (not its references), if anything.
    pub fn problem(&self) -> Option<Problem> {
        match self {
            Entity::Material(m) => m.problem(),
            Entity::Texture(t) => t.problem(),
            Entity::Mesh(m) => m.problem(),
            Entity::Object(o) => o.problem(),
            Entity::Light(l) => l.problem(),
            Entity::Environment(e) => e.problem(),
            Entity::Settings(s) => s.problem(),
        }
    }
}

// ---------------------------------------------------------------------------------
// Errors

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
    fn new(code: EditErrorCode, op: Option<usize>, path: String, what: impl fmt::Display) -> Self {
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
struct Located {
    code: EditErrorCode,
    /// The path relative to the value.
    field: String,
    detail: String,
}

impl Located {
    /// The error at `base` (`ops[1].value`), about `what` (`material "red"`).
    fn at(self, op: Option<usize>, base: &str, what: &str) -> EditError {
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
fn json_of<T: Serialize>(value: &T) -> Value {
    // Serialising these types cannot fail: every map key is a string.
    serde_json::to_string(value)
        .ok()
        .and_then(|text| serde_json::from_str(&text).ok())
        .unwrap_or(Value::Null)
}

/// `base` and `field` as one JSON path: `ops[1].value` + `albedo`, `positions` + `[3]`.
fn join(base: &str, field: &str) -> String {
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

// ---------------------------------------------------------------------------------
// Reading values, with the path of whatever is wrong

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
fn decode<T: DeserializeOwned>(value: &Value) -> Result<T, Located> {
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
fn decode_entity(kind: Kind, value: &Value) -> Result<Entity, Located> {
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
fn merge(target: &mut Value, patch: &Value) {
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

// ---------------------------------------------------------------------------------
// Operations

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

// ---------------------------------------------------------------------------------
// The document

/// A texture and its decoded image.
#[derive(Clone, Debug)]
struct TextureEntry {
    texture: Texture,
    image: Arc<TextureImage>,
}

/// An entity as stored, with its image if it is a texture.
type Slot = (Entity, Option<Arc<TextureImage>>);

/// The editable scene: every entity under a stable key. See the module
/// documentation.
#[derive(Clone, Debug)]
pub struct Document {
    /// The scene file's camera, for new views; views move their own cameras, so
    /// transactions do not touch it.
    camera: Camera,
    materials: BTreeMap<Key, Material<Key>>,
    textures: BTreeMap<Key, TextureEntry>,
    meshes: BTreeMap<Key, Arc<Mesh>>,
    objects: BTreeMap<Key, Object<Key>>,
    lights: BTreeMap<Key, Light>,
    environment: Environment<Key>,
    settings: Settings,
    /// Every file and embedded image the document was made with, by source: the only
    /// such images a texture may show (see the module documentation).
    library: Vec<(TextureSource, Arc<TextureImage>)>,
}

/// An entity's address: its kind and, unless it is a singleton, its key.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
struct Address {
    kind: Kind,
    key: Option<Key>,
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.key {
            Some(key) => write!(f, "{} \"{key}\"", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// The entities a transaction touched, with their values before it.
#[derive(Default)]
struct Txn {
    touched: Vec<Touched>,
    index: HashMap<Address, usize>,
}

struct Touched {
    address: Address,
    before: Option<Slot>,
    /// The last op that touched it, which errors found after all ops name.
    op: usize,
    /// The path of that op's value (`ops[2].value`).
    base: String,
}

/// Keys for one kind of a scene's entities: the (sanitised) name where it is unique
/// among them, otherwise `{kind}-{index}`, with `-2`, `-3`... if that is taken.
fn keys_from_names(kind: Kind, names: &[&str]) -> Vec<Key> {
    let suggested: Vec<Option<Key>> = names.iter().map(|n| Key::from_name(n)).collect();
    let mut counts: HashMap<&Key, usize> = HashMap::new();
    for key in suggested.iter().flatten() {
        *counts.entry(key).or_default() += 1;
    }
    let mut keys: Vec<Option<Key>> = suggested
        .iter()
        .map(|s| s.clone().filter(|k| counts[k] == 1))
        .collect();
    let mut taken: HashSet<Key> = keys.iter().flatten().cloned().collect();
    for (i, key) in keys.iter_mut().enumerate() {
        if key.is_none() {
            let base = format!("{kind}-{i}");
            let mut candidate = base.clone();
            let mut n = 2;
            while taken.contains(candidate.as_str()) {
                candidate = format!("{base}-{n}");
                n += 1;
            }
            taken.insert(Key(candidate.clone()));
            *key = Some(Key(candidate));
        }
    }
    keys.into_iter().flatten().collect()
}

/// Decodes the image of a texture source for [`Document::from_snapshot`], or says why
/// it cannot (naming the texture's key).
pub type ResolveImage<'a> = dyn Fn(&Key, &TextureSource) -> Result<Arc<TextureImage>, String> + 'a;

/// An image resolver for [`Document::from_snapshot`] backed by the scene file: an
/// embedded image is taken from the scene (matched by its origin), a file image from
/// the scene if it has the same path and otherwise loaded relative to `base_dir`, and
/// a checker is generated.
pub fn scene_images<'a>(
    scene: &'a Scene,
    base_dir: &'a Path,
) -> impl Fn(&Key, &TextureSource) -> Result<Arc<TextureImage>, String> + 'a {
    move |key: &Key, source: &TextureSource| {
        let known = scene
            .textures
            .iter()
            .zip(&scene.images)
            .find(|(t, _)| t.source == *source)
            .map(|(_, image)| Arc::clone(image));
        match (source, known) {
            (_, Some(image)) => Ok(image),
            (TextureSource::Checker { squares, a, b }, None) => {
                Ok(Arc::new(TextureImage::checker(*squares, *a, *b)))
            }
            (TextureSource::File { path }, None) => TextureImage::load(&base_dir.join(path))
                .map(Arc::new)
                .map_err(|e| format!("texture \"{key}\": {e}")),
            (TextureSource::Embedded { origin }, None) => Err(format!(
                "texture \"{key}\": the scene file has no embedded image {origin}"
            )),
        }
    }
}

impl Document {
    /// The document of a valid scene with its images loaded. Keys come from names
    /// (see [`Key`]); `max_samples` and `exposure` complete the [`Settings`].
    pub fn from_scene(
        scene: &Scene,
        max_samples: u32,
        exposure: f32,
    ) -> Result<Document, EditError> {
        use EditErrorCode::*;
        scene.validate().map_err(|e| {
            EditError::new(
                InvalidValue,
                None,
                String::new(),
                format!("the scene is not valid: {e}"),
            )
        })?;
        // Materials and lights have no names.
        let material_keys = keys_from_names(Kind::Material, &vec![""; scene.materials.len()]);
        let texture_keys = keys_from_names(
            Kind::Texture,
            &scene
                .textures
                .iter()
                .map(|t| t.name.as_str())
                .collect::<Vec<_>>(),
        );
        let mesh_keys = keys_from_names(
            Kind::Mesh,
            &scene
                .meshes
                .iter()
                .map(|m| m.name.as_str())
                .collect::<Vec<_>>(),
        );
        let object_keys = keys_from_names(
            Kind::Object,
            &scene
                .objects
                .iter()
                .map(|o| o.name.as_str())
                .collect::<Vec<_>>(),
        );
        let light_keys = keys_from_names(Kind::Light, &vec![""; scene.lights.len()]);
        let settings = Settings {
            max_samples,
            max_bounces: scene.max_bounces,
            exposure,
        };
        if let Some(problem) = settings.problem() {
            return Err(Located::from(problem).at(None, "settings", ""));
        }
        let document = Document {
            camera: scene.camera,
            materials: material_keys
                .iter()
                .zip(&scene.materials)
                .map(|(k, m)| (k.clone(), m.map_refs(|&t| texture_keys[t].clone())))
                .collect(),
            textures: texture_keys
                .iter()
                .zip(scene.textures.iter().zip(&scene.images))
                .map(|(k, (texture, image))| {
                    let entry = TextureEntry {
                        texture: texture.clone(),
                        image: Arc::clone(image),
                    };
                    (k.clone(), entry)
                })
                .collect(),
            meshes: mesh_keys
                .iter()
                .cloned()
                .zip(scene.meshes.iter().cloned())
                .collect(),
            objects: object_keys
                .iter()
                .zip(&scene.objects)
                .map(|(k, o)| {
                    let object = Object {
                        name: o.name.clone(),
                        material: material_keys[o.material].clone(),
                        shape: o.shape.map_refs(|&m| mesh_keys[m].clone()),
                        transform: o.transform,
                    };
                    (k.clone(), object)
                })
                .collect(),
            lights: light_keys
                .iter()
                .cloned()
                .zip(scene.lights.iter().copied())
                .collect(),
            environment: scene.environment.map_refs(|&t| texture_keys[t].clone()),
            settings,
            library: scene
                .textures
                .iter()
                .zip(&scene.images)
                .filter(|(t, _)| !matches!(t.source, TextureSource::Checker { .. }))
                .map(|(t, image)| (t.source.clone(), Arc::clone(image)))
                .collect(),
        };
        document.check_limits(None, "")?;
        Ok(document)
    }

    /// The scene for the renderer: entities in key order, references as indices,
    /// images filled in, `max_bounces` from the settings. Meshes and images are
    /// shared, not copied. Valid by construction.
    pub fn to_scene(&self) -> Scene {
        fn indices<V>(map: &BTreeMap<Key, V>) -> HashMap<&Key, usize> {
            map.keys().enumerate().map(|(i, k)| (k, i)).collect()
        }
        // Every transaction checks references, so every key is found.
        fn index(indices: &HashMap<&Key, usize>, key: &Key) -> usize {
            indices.get(key).copied().unwrap_or_default()
        }
        let (textures, materials, meshes) = (
            indices(&self.textures),
            indices(&self.materials),
            indices(&self.meshes),
        );
        Scene {
            camera: self.camera,
            materials: self
                .materials
                .values()
                .map(|m| m.map_refs(|k| index(&textures, k)))
                .collect(),
            textures: self.textures.values().map(|t| t.texture.clone()).collect(),
            meshes: self.meshes.values().cloned().collect(),
            objects: self
                .objects
                .values()
                .map(|o| Object {
                    name: o.name.clone(),
                    material: index(&materials, &o.material),
                    shape: o.shape.map_refs(|k| index(&meshes, k)),
                    transform: o.transform,
                })
                .collect(),
            lights: self.lights.values().copied().collect(),
            environment: self.environment.map_refs(|k| index(&textures, k)),
            max_bounces: self.settings.max_bounces,
            images: self
                .textures
                .values()
                .map(|t| Arc::clone(&t.image))
                .collect(),
        }
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    pub fn camera(&self) -> Camera {
        self.camera
    }

    /// The keys of one kind, in order (empty for the singletons).
    pub fn keys(&self, kind: Kind) -> Vec<Key> {
        fn keys<V>(map: &BTreeMap<Key, V>) -> Vec<Key> {
            map.keys().cloned().collect()
        }
        match kind {
            Kind::Material => keys(&self.materials),
            Kind::Texture => keys(&self.textures),
            Kind::Mesh => keys(&self.meshes),
            Kind::Object => keys(&self.objects),
            Kind::Light => keys(&self.lights),
            Kind::Environment | Kind::Settings => Vec::new(),
        }
    }

    /// One entity: `key` is `None` exactly for the singletons.
    pub fn entity(&self, kind: Kind, key: Option<&Key>) -> Option<Entity> {
        self.slot(kind, key).map(|(entity, _)| entity)
    }

    /// One entity's JSON (a mesh in full), or `None` if there is no such entity.
    pub fn get(&self, kind: Kind, key: Option<&Key>) -> Option<Value> {
        self.entity(kind, key).map(|e| e.to_json())
    }

    /// The whole document as JSON: `{"materials": {key: ...}, "textures": ...,
    /// "meshes": ..., "objects": ..., "lights": ..., "environment": ..., "settings":
    /// ...}`, meshes in full or as summaries (`{"name", "vertices", "triangles"}`).
    pub fn to_json(&self, full_meshes: bool) -> Value {
        let mut out = Map::new();
        for kind in Kind::ALL {
            let value = if kind.is_singleton() {
                self.get(kind, None).unwrap_or(Value::Null)
            } else {
                let entries = self.keys(kind).into_iter().filter_map(|key| {
                    let entity = self.entity(kind, Some(&key))?;
                    let json = if full_meshes {
                        entity.to_json()
                    } else {
                        entity.summary_json()
                    };
                    Some((key.0, json))
                });
                Value::Object(entries.collect())
            };
            out.insert(kind.plural().to_owned(), value);
        }
        Value::Object(out)
    }

    /// Everything needed to make the document again: [`Document::to_json`] with full
    /// meshes, the camera and a format version. Texture images are not included; their
    /// sources are, for [`Document::from_snapshot`] to resolve.
    pub fn snapshot(&self) -> Value {
        let mut v = self.to_json(true);
        if let Value::Object(fields) = &mut v {
            fields.insert("version".into(), json!(1));
            fields.insert("camera".into(), json_of(&self.camera));
        }
        v
    }

    /// Makes a document from [`Document::snapshot`]'s JSON, with `images` decoding each
    /// texture's source (see [`scene_images`]). Everything is checked as in a
    /// transaction; errors have paths such as `objects.ball.transform.scale`.
    pub fn from_snapshot(v: &Value, images: &ResolveImage) -> Result<Document, EditError> {
        use EditErrorCode::*;
        let Value::Object(fields) = v else {
            return Err(EditError::new(
                InvalidValue,
                None,
                String::new(),
                "a snapshot must be an object",
            ));
        };
        const FIELDS: [&str; 9] = [
            "version",
            "camera",
            "materials",
            "textures",
            "meshes",
            "objects",
            "lights",
            "environment",
            "settings",
        ];
        if let Some(name) = fields.keys().find(|k| !FIELDS.contains(&k.as_str())) {
            return Err(EditError::new(
                UnknownField,
                None,
                name.clone(),
                format!("unknown field {name:?} in a snapshot"),
            ));
        }
        if let Some(name) = FIELDS.iter().find(|f| !fields.contains_key(**f)) {
            return Err(EditError::new(
                MissingField,
                None,
                name.to_string(),
                format!("a snapshot needs {name}"),
            ));
        }
        if fields["version"] != json!(1) {
            return Err(EditError::new(
                InvalidValue,
                None,
                "version".into(),
                format!("unsupported snapshot version {}", fields["version"]),
            ));
        }
        let camera: Camera = decode(&fields["camera"]).map_err(|e| e.at(None, "camera", ""))?;
        camera
            .validate()
            .map_err(|e| EditError::new(InvalidValue, None, "camera".into(), e))?;
        let singleton = |kind: Kind| {
            decode_entity(kind, &fields[kind.plural()]).map_err(|e| e.at(None, kind.plural(), ""))
        };
        let (Entity::Environment(environment), Entity::Settings(settings)) =
            (singleton(Kind::Environment)?, singleton(Kind::Settings)?)
        else {
            return Err(EditError::new(
                InvalidValue,
                None,
                String::new(),
                "malformed snapshot",
            ));
        };
        let mut document = Document {
            camera,
            materials: BTreeMap::new(),
            textures: BTreeMap::new(),
            meshes: BTreeMap::new(),
            objects: BTreeMap::new(),
            lights: BTreeMap::new(),
            environment,
            settings,
            library: Vec::new(),
        };
        for kind in Kind::ALL.into_iter().filter(|k| !k.is_singleton()) {
            let map_path = kind.plural();
            let Value::Object(entries) = &fields[map_path] else {
                return Err(EditError::new(
                    InvalidValue,
                    None,
                    map_path.into(),
                    format!("{map_path} must be an object of entities by key"),
                ));
            };
            if entries.len() > MAX_ENTITIES {
                return Err(EditError::new(
                    LimitExceeded,
                    None,
                    map_path.into(),
                    format!(
                        "at most {MAX_ENTITIES} {map_path}, the snapshot has {}",
                        entries.len()
                    ),
                ));
            }
            for (name, value) in entries {
                let path = join(map_path, name);
                let key = Key::new(name.as_str())
                    .map_err(|e| EditError::new(InvalidValue, None, path.clone(), e))?;
                let entity = decode_entity(kind, value).map_err(|e| e.at(None, &path, ""))?;
                let image = match &entity {
                    Entity::Texture(t) => {
                        let image = images(&key, &t.source).map_err(|e| {
                            EditError::new(InvalidValue, None, join(&path, "source"), e)
                        })?;
                        if !matches!(t.source, TextureSource::Checker { .. }) {
                            document
                                .library
                                .push((t.source.clone(), Arc::clone(&image)));
                        }
                        Some(image)
                    }
                    _ => None,
                };
                document.set_slot(kind, Some(&key), Some((entity, image)));
            }
        }
        document.check_all_references()?;
        document.check_limits(None, "")?;
        Ok(document)
    }

    /// Applies a client's transaction, all or nothing: on any error the document is
    /// exactly as before. File and embedded textures cannot be introduced.
    pub fn apply(&mut self, ops: &[Op]) -> Result<Applied, EditError> {
        if ops.len() > MAX_OPS {
            return Err(EditError::new(
                EditErrorCode::LimitExceeded,
                None,
                "ops".into(),
                format!(
                    "a transaction holds at most {MAX_OPS} operations, this one has {}",
                    ops.len()
                ),
            ));
        }
        self.transact(|doc, txn| {
            for (i, op) in ops.iter().enumerate() {
                doc.apply_op(txn, i, op)?;
            }
            Ok(())
        })
    }

    /// Applies resolved steps (an [`Applied::inverse`] to undo, an
    /// [`Applied::forward`] to redo or replay a journal), all or nothing, with the same
    /// checks as [`Document::apply`]. Unlike a client's ops these may put back a file or
    /// embedded texture, as long as its image is one the document was made with.
    pub fn apply_resolved(&mut self, ops: &[Resolved]) -> Result<Applied, EditError> {
        self.transact(|doc, txn| {
            for (i, op) in ops.iter().enumerate() {
                doc.apply_resolved_op(txn, i, op)?;
            }
            Ok(())
        })
    }

    fn transact(
        &mut self,
        ops: impl FnOnce(&mut Document, &mut Txn) -> Result<(), EditError>,
    ) -> Result<Applied, EditError> {
        let mut txn = Txn::default();
        let result = ops(self, &mut txn).and_then(|()| self.check(&txn));
        match result {
            Ok(()) => Ok(self.finish(txn)),
            Err(e) => {
                for t in txn.touched.into_iter().rev() {
                    self.set_slot(t.address.kind, t.address.key.as_ref(), t.before);
                }
                Err(e)
            }
        }
    }

    fn apply_op(&mut self, txn: &mut Txn, i: usize, op: &Op) -> Result<(), EditError> {
        use EditErrorCode::*;
        let kind = op.kind();
        let key = op.key();
        let base = format!("ops[{i}]");
        let value_path = format!("{base}.value");
        let address = Address {
            kind,
            key: key.cloned(),
        };
        let what = format!("{} {address}", op.name());
        self.check_address(
            i,
            &base,
            kind,
            key,
            matches!(op, Op::Add { .. } | Op::Remove { .. }) && kind.is_singleton(),
            op.name(),
        )?;
        let current = self.slot(kind, key);
        match (op, &current) {
            (Op::Add { .. }, Some(_)) => {
                return Err(EditError::new(
                    DuplicateKey,
                    Some(i),
                    join(&base, "key"),
                    format!("{address} already exists"),
                ));
            }
            (Op::Update { .. } | Op::Replace { .. } | Op::Remove { .. }, None) => {
                return Err(EditError::new(
                    NotFound,
                    Some(i),
                    join(&base, if kind.is_singleton() { "kind" } else { "key" }),
                    format!("{address} does not exist"),
                ));
            }
            _ => {}
        }
        let entity = match op {
            Op::Remove { .. } => return self.put(txn, i, &base, address, None, true),
            Op::Add { value, .. } | Op::Replace { value, .. } => match value {
                Payload::Json(v) => {
                    decode_entity(kind, v).map_err(|e| e.at(Some(i), &value_path, &what))?
                }
                Payload::Entity(e) => e.clone(),
            },
            Op::Update { value, .. } => {
                let mut merged = current
                    .as_ref()
                    .map(|(e, _)| e.to_json())
                    .unwrap_or_default();
                merge(&mut merged, value);
                decode_entity(kind, &merged).map_err(|e| e.at(Some(i), &value_path, &what))?
            }
        };
        if let (Entity::Texture(new), Some((Entity::Texture(old), _))) = (&entity, &current) {
            if new.source == old.source {
                return self.put(txn, i, &value_path, address, Some(entity), true);
            }
        }
        self.put(txn, i, &value_path, address, Some(entity), false)
    }

    fn apply_resolved_op(
        &mut self,
        txn: &mut Txn,
        i: usize,
        op: &Resolved,
    ) -> Result<(), EditError> {
        let base = format!("ops[{i}]");
        match op {
            Resolved::Put { kind, key, entity } => {
                self.check_address(i, &base, *kind, key.as_ref(), false, "put")?;
                let address = Address {
                    kind: *kind,
                    key: key.clone(),
                };
                self.put(
                    txn,
                    i,
                    &format!("{base}.value"),
                    address,
                    Some(entity.clone()),
                    true,
                )
            }
            Resolved::Remove { kind, key } => {
                self.check_address(i, &base, *kind, Some(key), kind.is_singleton(), "remove")?;
                let address = Address {
                    kind: *kind,
                    key: Some(key.clone()),
                };
                if self.slot(*kind, Some(key)).is_none() {
                    return Err(EditError::new(
                        EditErrorCode::NotFound,
                        Some(i),
                        join(&base, "key"),
                        format!("{address} does not exist"),
                    ));
                }
                self.put(txn, i, &base, address, None, true)
            }
        }
    }

    /// Checks that a key is given exactly when the kind is not a singleton, and that a
    /// singleton is not added or removed (`singleton_refused`).
    fn check_address(
        &self,
        i: usize,
        base: &str,
        kind: Kind,
        key: Option<&Key>,
        singleton_refused: bool,
        verb: &str,
    ) -> Result<(), EditError> {
        use EditErrorCode::*;
        if singleton_refused {
            return Err(EditError::new(
                InvalidValue,
                Some(i),
                join(base, "op"),
                format!("{kind} is a singleton: it can only be updated or replaced"),
            ));
        }
        match (kind.is_singleton(), key) {
            (true, Some(_)) => Err(EditError::new(
                InvalidValue,
                Some(i),
                join(base, "key"),
                format!("{kind} is a singleton and takes no key"),
            )),
            (false, None) => Err(EditError::new(
                MissingField,
                Some(i),
                join(base, "key"),
                format!("{verb} {kind} needs a key"),
            )),
            _ => Ok(()),
        }
    }

    /// Sets (or with `None` removes) one entity within a transaction, after checking
    /// its values, its kind, the per-entity limits and, for a texture, where its image
    /// comes from. `trusted` allows file and embedded textures from the library.
    fn put(
        &mut self,
        txn: &mut Txn,
        i: usize,
        base: &str,
        address: Address,
        entity: Option<Entity>,
        trusted: bool,
    ) -> Result<(), EditError> {
        use EditErrorCode::*;
        let key = address.key.as_ref();
        let kind = address.kind;
        let exists = self.slot(kind, key).is_some();
        let slot = match entity {
            None => None,
            Some(entity) => {
                if entity.kind() != kind {
                    return Err(EditError::new(
                        InvalidValue,
                        Some(i),
                        base.to_owned(),
                        format!("{address}: the value is a {}", entity.kind()),
                    ));
                }
                if !exists && !kind.is_singleton() && self.count(kind) >= MAX_ENTITIES {
                    let plural = kind.plural();
                    let what = format!("{address}: there are already {MAX_ENTITIES} {plural}");
                    return Err(EditError::new(
                        LimitExceeded,
                        Some(i),
                        base.to_owned(),
                        what,
                    ));
                }
                if let Entity::Mesh(mesh) = &entity {
                    if mesh.indices.len() > MAX_MESH_TRIANGLES {
                        let what = format!(
                            "{address} has {} triangles; a mesh holds at most \
                             {MAX_MESH_TRIANGLES}",
                            mesh.indices.len()
                        );
                        let path = join(base, "indices");
                        return Err(EditError::new(LimitExceeded, Some(i), path, what));
                    }
                }
                if let Some(problem) = entity.problem() {
                    return Err(Located::from(problem).at(Some(i), base, &address.to_string()));
                }
                let image = match &entity {
                    Entity::Texture(texture) => {
                        Some(self.image_for(i, base, &address, &texture.source, trusted)?)
                    }
                    _ => None,
                };
                Some((entity, image))
            }
        };
        let position = match txn.index.get(&address) {
            Some(&p) => p,
            None => {
                txn.touched.push(Touched {
                    address: address.clone(),
                    before: self.slot(kind, key),
                    op: i,
                    base: base.to_owned(),
                });
                txn.index.insert(address.clone(), txn.touched.len() - 1);
                txn.touched.len() - 1
            }
        };
        txn.touched[position].op = i;
        txn.touched[position].base = base.to_owned();
        self.set_slot(kind, key, slot);
        Ok(())
    }

    /// The image for a texture source: a checker is shared with an equal checker or
    /// generated (within [`MAX_CHECKER_TEXELS`]); a file or embedded image only from
    /// the library, and only on a trusted path.
    fn image_for(
        &self,
        i: usize,
        base: &str,
        address: &Address,
        source: &TextureSource,
        trusted: bool,
    ) -> Result<Arc<TextureImage>, EditError> {
        use EditErrorCode::*;
        let path = join(base, "source");
        if let TextureSource::Checker { squares, a, b } = source {
            let shared = self.textures.values().find(|t| t.texture.source == *source);
            if let Some(entry) = shared {
                return Ok(Arc::clone(&entry.image));
            }
            let replaced = address.key.as_ref().and_then(|k| self.textures.get(k));
            let mut seen = HashSet::new();
            let texels: usize = self
                .textures
                .values()
                .filter(|t| matches!(t.texture.source, TextureSource::Checker { .. }))
                .filter(|t| !replaced.is_some_and(|r| Arc::ptr_eq(&r.image, &t.image)))
                .filter(|t| seen.insert(Arc::as_ptr(&t.image) as usize))
                .map(|t| t.image.texels.len())
                .sum();
            let new = (*squares as usize).pow(2);
            if texels + new > MAX_CHECKER_TEXELS {
                let what = format!(
                    "{address}: a checker of {squares} squares has {new} texels; with the \
                     other checkers' {texels} that exceeds {MAX_CHECKER_TEXELS}"
                );
                let path = join(&path, "squares");
                return Err(EditError::new(LimitExceeded, Some(i), path, what));
            }
            return Ok(Arc::new(TextureImage::checker(*squares, *a, *b)));
        }
        if !trusted {
            let what = format!(
                "{address}: a client may only set checker textures; file and embedded \
                 images come only from the scene file"
            );
            return Err(EditError::new(InvalidValue, Some(i), path, what));
        }
        self.library
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, image)| Arc::clone(image))
            .ok_or_else(|| {
                EditError::new(
                    InvalidValue,
                    Some(i),
                    path,
                    format!(
                        "{address}: the image {} is not one of the scene file's",
                        serde_json::to_string(source).unwrap_or_default()
                    ),
                )
            })
    }

    fn count(&self, kind: Kind) -> usize {
        match kind {
            Kind::Material => self.materials.len(),
            Kind::Texture => self.textures.len(),
            Kind::Mesh => self.meshes.len(),
            Kind::Object => self.objects.len(),
            Kind::Light => self.lights.len(),
            Kind::Environment | Kind::Settings => 1,
        }
    }

    fn slot(&self, kind: Kind, key: Option<&Key>) -> Option<Slot> {
        Some(match (kind, key) {
            (Kind::Environment, None) => (Entity::Environment(self.environment.clone()), None),
            (Kind::Settings, None) => (Entity::Settings(self.settings), None),
            (Kind::Material, Some(k)) => (Entity::Material(self.materials.get(k)?.clone()), None),
            (Kind::Texture, Some(k)) => {
                let entry = self.textures.get(k)?;
                (
                    Entity::Texture(entry.texture.clone()),
                    Some(Arc::clone(&entry.image)),
                )
            }
            (Kind::Mesh, Some(k)) => (Entity::Mesh(Arc::clone(self.meshes.get(k)?)), None),
            (Kind::Object, Some(k)) => (Entity::Object(self.objects.get(k)?.clone()), None),
            (Kind::Light, Some(k)) => (Entity::Light(*self.lights.get(k)?), None),
            _ => return None,
        })
    }

    /// Stores or removes one entity. Callers have checked that the key fits the kind
    /// and that a texture comes with its image; singletons are never removed.
    fn set_slot(&mut self, kind: Kind, key: Option<&Key>, slot: Option<Slot>) {
        let Some((entity, image)) = slot else {
            if let Some(key) = key {
                match kind {
                    Kind::Material => drop(self.materials.remove(key)),
                    Kind::Texture => drop(self.textures.remove(key)),
                    Kind::Mesh => drop(self.meshes.remove(key)),
                    Kind::Object => drop(self.objects.remove(key)),
                    Kind::Light => drop(self.lights.remove(key)),
                    Kind::Environment | Kind::Settings => {}
                }
            }
            return;
        };
        match (entity, key) {
            (Entity::Environment(e), _) => self.environment = e,
            (Entity::Settings(s), _) => self.settings = s,
            (Entity::Material(m), Some(k)) => drop(self.materials.insert(k.clone(), m)),
            (Entity::Texture(texture), Some(k)) => {
                if let Some(image) = image {
                    self.textures
                        .insert(k.clone(), TextureEntry { texture, image });
                }
            }
            (Entity::Mesh(m), Some(k)) => drop(self.meshes.insert(k.clone(), m)),
            (Entity::Object(o), Some(k)) => drop(self.objects.insert(k.clone(), o)),
            (Entity::Light(l), Some(k)) => drop(self.lights.insert(k.clone(), l)),
            (_, None) => {}
        }
    }

    /// The checks made once all ops are applied: the references of every entity the
    /// transaction touched, that nothing refers to what it removed, and the limits over
    /// the whole document.
    fn check(&self, txn: &Txn) -> Result<(), EditError> {
        for t in &txn.touched {
            let Address { kind, key } = &t.address;
            match self.slot(*kind, key.as_ref()) {
                Some((entity, _)) => {
                    self.check_references(&t.address, &entity, Some(t.op), &t.base)?
                }
                None => {
                    if let Some(user) = key.as_ref().and_then(|k| self.user_of(*kind, k)) {
                        return Err(EditError::new(
                            EditErrorCode::InUse,
                            Some(t.op),
                            join(&t.base, "key"),
                            format!("{} is used by {user}", t.address),
                        ));
                    }
                }
            }
        }
        let touched = |kind| txn.touched.iter().rev().find(|t| t.address.kind == kind);
        if let Some(t) = touched(Kind::Mesh).or_else(|| touched(Kind::Texture)) {
            self.check_limits(Some(t.op), &t.base)?;
        }
        Ok(())
    }

    /// That every reference of `entity` (at `address`) names an existing entity.
    fn check_references(
        &self,
        address: &Address,
        entity: &Entity,
        op: Option<usize>,
        base: &str,
    ) -> Result<(), EditError> {
        let missing = |field: &str, kind: Kind, key: &Key| {
            EditError::new(
                EditErrorCode::NotFound,
                op,
                join(base, field),
                format!("{address} refers to {kind} \"{key}\", which does not exist"),
            )
        };
        match entity {
            Entity::Material(m) => {
                if let Some(t) = m.texture().filter(|t| !self.textures.contains_key(*t)) {
                    return Err(missing("texture", Kind::Texture, t));
                }
            }
            Entity::Object(o) => {
                if !self.materials.contains_key(&o.material) {
                    return Err(missing("material", Kind::Material, &o.material));
                }
                if let Some(m) = o.shape.mesh().filter(|m| !self.meshes.contains_key(*m)) {
                    return Err(missing("shape.mesh", Kind::Mesh, m));
                }
            }
            Entity::Environment(e) => {
                if let Some(t) = e.texture().filter(|t| !self.textures.contains_key(*t)) {
                    return Err(missing("texture", Kind::Texture, t));
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn check_all_references(&self) -> Result<(), EditError> {
        for kind in [Kind::Material, Kind::Object, Kind::Environment] {
            let keys: Vec<Option<Key>> = if kind.is_singleton() {
                vec![None]
            } else {
                self.keys(kind).into_iter().map(Some).collect()
            };
            for key in keys {
                if let Some(entity) = self.entity(kind, key.as_ref()) {
                    let base = match &key {
                        Some(k) => join(kind.plural(), k.as_str()),
                        None => kind.plural().to_owned(),
                    };
                    self.check_references(&Address { kind, key }, &entity, None, &base)?;
                }
            }
        }
        Ok(())
    }

    /// Something that refers to the entity, described (`object "ball"`).
    fn user_of(&self, kind: Kind, key: &Key) -> Option<String> {
        match kind {
            Kind::Material => self
                .objects
                .iter()
                .find(|(_, o)| o.material == *key)
                .map(|(k, _)| format!("object \"{k}\"")),
            Kind::Mesh => self
                .objects
                .iter()
                .find(|(_, o)| o.shape.mesh() == Some(key))
                .map(|(k, _)| format!("object \"{k}\"")),
            Kind::Texture => {
                if self.environment.texture() == Some(key) {
                    return Some("the environment".into());
                }
                self.materials
                    .iter()
                    .find(|(_, m)| m.texture() == Some(key))
                    .map(|(k, _)| format!("material \"{k}\""))
            }
            _ => None,
        }
    }

    /// The limits over the whole document: entities per kind, triangles in all, texels
    /// of the checkers. (Single meshes and new checkers are checked as they come.)
    fn check_limits(&self, op: Option<usize>, base: &str) -> Result<(), EditError> {
        let limit = |what: String| {
            Err(EditError::new(
                EditErrorCode::LimitExceeded,
                op,
                base.to_owned(),
                what,
            ))
        };
        for kind in Kind::ALL {
            if self.count(kind) > MAX_ENTITIES {
                return limit(format!(
                    "{} {}; at most {MAX_ENTITIES}",
                    self.count(kind),
                    kind.plural()
                ));
            }
        }
        if let Some((key, mesh)) = self
            .meshes
            .iter()
            .find(|(_, m)| m.indices.len() > MAX_MESH_TRIANGLES)
        {
            return limit(format!(
                "mesh \"{key}\" has {} triangles; a mesh holds at most {MAX_MESH_TRIANGLES}",
                mesh.indices.len()
            ));
        }
        let triangles: usize = self.meshes.values().map(|m| m.indices.len()).sum();
        if triangles > MAX_TOTAL_TRIANGLES {
            return limit(format!(
                "the meshes would hold {triangles} triangles in all; at most {MAX_TOTAL_TRIANGLES}"
            ));
        }
        let mut seen = HashSet::new();
        let texels: usize = self
            .textures
            .values()
            .filter(|t| matches!(t.texture.source, TextureSource::Checker { .. }))
            .filter(|t| seen.insert(Arc::as_ptr(&t.image) as usize))
            .map(|t| t.image.texels.len())
            .sum();
        if texels > MAX_CHECKER_TEXELS {
            return limit(format!(
                "the checker textures would hold {texels} texels; at most {MAX_CHECKER_TEXELS}"
            ));
        }
        Ok(())
    }

    /// The net effect of a transaction that passed its checks.
    fn finish(&self, txn: Txn) -> Applied {
        let mut applied = Applied {
            forward: Vec::new(),
            inverse: Vec::new(),
            changes: Vec::new(),
            geometry_changed: false,
        };
        for t in txn.touched {
            let Address { kind, key } = t.address;
            let before = t.before.map(|(e, _)| e);
            let after = self.entity(kind, key.as_ref());
            if before == after {
                continue;
            }
            let step = |entity: Option<Entity>| match (entity, &key) {
                (Some(entity), key) => Some(Resolved::Put {
                    kind,
                    key: key.clone(),
                    entity,
                }),
                (None, Some(key)) => Some(Resolved::Remove {
                    kind,
                    key: key.clone(),
                }),
                (None, None) => None,
            };
            let mut change = Map::new();
            let verb = match (&before, &after) {
                (None, _) => "add",
                (_, None) => "remove",
                _ => "update",
            };
            change.insert("op".into(), json!(verb));
            change.insert("kind".into(), json!(kind));
            if let Some(key) = &key {
                change.insert("key".into(), json!(key));
            }
            if let Some(entity) = &after {
                change.insert("value".into(), entity.summary_json());
            }
            applied.changes.push(Value::Object(change));
            applied.geometry_changed |= matches!(kind, Kind::Mesh | Kind::Object);
            applied.forward.extend(step(after));
            applied.inverse.extend(step(before));
        }
        applied.inverse.reverse();
        applied
    }
}

#[cfg(test)]
mod tests;
