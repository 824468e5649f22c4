//! Snapshots: [`Document::snapshot`] writes everything needed to make the document
//! again as JSON, and [`Document::from_snapshot`] makes it again, checking everything
//! as a transaction would; [`scene_images`] finds the texture images it needs in the
//! scene file.

use super::{Address, Document};
use crate::camera::Camera;
use crate::edit::decode::{decode, decode_entity};
use crate::edit::entity::Entity;
use crate::edit::error::{join, json_of, EditError, EditErrorCode};
use crate::edit::key::{Key, Kind};
use crate::edit::MAX_ENTITIES;
use crate::scene::{Scene, TextureSource};
use crate::texture::TextureImage;
use serde_json::{json, Value};
use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

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
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::fixtures::{apply, assert_error, document, scene};
    use crate::edit::EditErrorCode;

    #[test]
    fn snapshot_round_trips() {
        let original = scene();
        let mut doc = document();
        apply(
            &mut doc,
            json!([
                {"op": "add", "kind": "texture", "key": "tiles",
                 "value": {"source": {"type": "checker", "squares": 3, "a": [0, 0, 0], "b": [1, 1, 1]}}},
                {"op": "add", "kind": "mesh", "key": "tri",
                 "value": {"positions": [[0, 0, 0], [1, 0, 0], [0, 1, 0]], "uvs": [[0, 0], [1, 0], [0, 1]], "indices": [[0, 1, 2]]}},
                {"op": "update", "kind": "settings", "value": {"exposure": 2}},
                {"op": "update", "kind": "environment", "value": {"type": "image", "texture": "photo"}},
            ]),
        );
        let text = serde_json::to_string(&doc.snapshot()).unwrap();
        let v: Value = serde_json::from_str(&text).unwrap();
        assert_eq!(v["camera"]["fov"], json!(38.0));
        let images = scene_images(&original, Path::new("."));
        let back = Document::from_snapshot(&v, &images).unwrap();
        assert_eq!(back.snapshot(), doc.snapshot());
        assert_eq!(back.to_scene(), doc.to_scene(), "including the images");
        assert_eq!(back.camera(), doc.camera());
        // Its library holds the scene's images: the embedded one can be put back.
        let mut back = back;
        let before = back.to_scene();
        let applied = apply(
            &mut back,
            json!([{"op": "update", "kind": "environment", "value": {"type": "constant", "radiance": [0, 0, 0]}},
                   {"op": "remove", "kind": "texture", "key": "photo"}]),
        );
        back.apply_resolved(&applied.inverse).unwrap();
        assert_eq!(back.to_scene(), before);

        // A snapshot is checked like a transaction.
        let mut broken = v.clone();
        broken["objects"]["floor"]["material"] = json!("gone");
        let e = Document::from_snapshot(&broken, &images).unwrap_err();
        assert_error(
            &e,
            EditErrorCode::NotFound,
            "objects.floor.material",
            &["gone"],
        );
        let mut broken = v.clone();
        broken["objects"]["floor"]["transform"] = json!({"scale": [0, 1, 1]});
        let e = Document::from_snapshot(&broken, &images).unwrap_err();
        assert_error(
            &e,
            EditErrorCode::InvalidValue,
            "objects.floor.transform.scale",
            &["zero"],
        );
        let e = Document::from_snapshot(&v, &|k, _| Err(format!("no image for {k}"))).unwrap_err();
        assert!(
            e.path.starts_with("textures.") && e.message.contains("no image for"),
            "{e:?}"
        );
    }
}
