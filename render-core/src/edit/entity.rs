//! The values a document holds: an [`Entity`] is one entity of any kind, with its
//! references by key, read from and written as the scene file's JSON; [`Settings`] are
//! how the renderer runs, a singleton entity edited like any other.

use super::decode::decode_entity;
use super::error::{json_of, EditError};
use super::key::{Key, Kind};
use super::{MAX_EXPOSURE, MAX_SAMPLES};
use crate::scene::{Environment, Light, Material, Mesh, Object, Problem, Scene, Texture};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use std::sync::Arc;

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
