//! The [`Document`]: the editable scene, every entity under a stable key. This file
//! holds its storage, making it from a [`Scene`], reading it (as a scene for the
//! renderer, as JSON) and the checks that hold over the whole document (references,
//! limits). Snapshots (`snapshot.rs`) and transactions (`transaction.rs`) are child
//! modules, so that they reach the document's private fields without widening them.

mod snapshot;
mod transaction;

pub use snapshot::{scene_images, ResolveImage};

use super::entity::{Entity, Settings};
use super::error::{join, EditError, EditErrorCode, Located};
use super::key::{Key, Kind};
use super::{MAX_CHECKER_TEXELS, MAX_ENTITIES, MAX_MESH_TRIANGLES, MAX_TOTAL_TRIANGLES};
use crate::camera::Camera;
use crate::scene::{Environment, Light, Material, Mesh, Object, Scene, Texture, TextureSource};
use crate::texture::TextureImage;
use serde_json::{Map, Value};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::fmt;
use std::sync::Arc;

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
}

#[cfg(test)]
mod tests;
