//! Scene file loaders: the project's JSON format, Wavefront OBJ with MTL, and glTF 2.0.
//!
//! [`load_scene`] picks the loader from the file's extension. Every loader returns a
//! scene that has passed [`Scene::validate`] with its textures decoded, so the result
//! can go straight to the renderer. Every error names the file and what is wrong with
//! it; features a loader cannot reproduce faithfully are errors, while features that
//! are merely dropped without changing what is visible (a line primitive, an ignored
//! camera) become warnings in [`LoadedScene::warnings`].
//!
//! [`mesh_from_bytes`] reads an uploaded glTF model from memory into one mesh.
//! [`Scene::load_textures`] (in `textures.rs`) decodes a scene's texture images,
//! reading image files relative to the scene file.

mod gltf;
mod json;
mod obj;
mod textures;

pub use gltf::mesh_from_bytes;

use crate::camera::Camera;
use crate::scene::{Environment, Material, Scene, SceneError, Shape};
use glam::Vec3;
use std::path::{Path, PathBuf};

/// Why a scene file could not be loaded. The message always starts with the file.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    /// The file (or a file it refers to) could not be read.
    #[error("{file}: cannot read: {reason}")]
    Read { file: String, reason: String },
    /// The extension is not one of the supported formats.
    #[error(
        "{file}: unknown scene file type; supported extensions are .gltf, .glb, .obj and .json"
    )]
    UnknownExtension { file: String },
    /// The file is malformed or uses something the loader does not support.
    #[error("{file}: {problem}")]
    Invalid { file: String, problem: String },
    /// A problem on one line of a text file (OBJ, MTL).
    #[error("{file}: line {line}: {problem}")]
    Line {
        file: String,
        line: usize,
        problem: String,
    },
    /// The file was read, but the scene it describes cannot be rendered.
    #[error("{file}: {source}")]
    Scene { file: String, source: SceneError },
}

/// A loaded scene together with what the loader had to leave out.
#[derive(Clone, Debug)]
pub struct LoadedScene {
    pub scene: Scene,
    /// Human-readable notes about skipped or approximated content.
    pub warnings: Vec<String>,
}

/// Loads a scene file, choosing the format from its extension.
pub fn load_scene(path: &Path) -> Result<Scene, LoadError> {
    load_scene_with_warnings(path).map(|loaded| loaded.scene)
}

/// Like [`load_scene`], also returning the warnings the loader collected.
pub fn load_scene_with_warnings(path: &Path) -> Result<LoadedScene, LoadError> {
    let extension = path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase);
    match extension.as_deref() {
        Some("json") => json::load(path).map(|scene| LoadedScene {
            scene,
            warnings: Vec::new(),
        }),
        Some("obj") => obj::load(path),
        Some("gltf") | Some("glb") => gltf::load(path),
        _ => Err(LoadError::UnknownExtension {
            file: display(path),
        }),
    }
}

/// How a path appears in messages.
fn display(path: &Path) -> String {
    path.display().to_string()
}

/// Reads a whole file, turning failure into an error naming it.
fn read(path: &Path) -> Result<Vec<u8>, LoadError> {
    std::fs::read(path).map_err(|e| LoadError::Read {
        file: display(path),
        reason: io_reason(&e),
    })
}

/// The operating system's description of an I/O error without the "(os error N)"
/// suffix, which means nothing to someone fixing a scene file.
fn io_reason(e: &std::io::Error) -> String {
    let text = e.to_string();
    match text.find(" (os error") {
        Some(i) => text[..i].to_owned(),
        None => text,
    }
}

/// The directory relative paths inside `path` are resolved against.
fn base_dir(path: &Path) -> PathBuf {
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// Validates a finished scene, attributing any problem to `path`.
fn validated(scene: Scene, path: &Path) -> Result<Scene, LoadError> {
    scene.validate().map_err(|source| LoadError::Scene {
        file: display(path),
        source,
    })?;
    Ok(scene)
}

/// The world-space bounding box of every object, or `None` for an empty scene.
fn bounds(scene: &Scene) -> Option<(Vec3, Vec3)> {
    let mut lo = Vec3::splat(f32::INFINITY);
    let mut hi = Vec3::splat(f32::NEG_INFINITY);
    for object in &scene.objects {
        let m = object.transform.matrix();
        match &object.shape {
            Shape::Mesh { mesh } => {
                for p in &scene.meshes[*mesh].positions {
                    let w = m.transform_point3(*p);
                    lo = lo.min(w);
                    hi = hi.max(w);
                }
            }
            Shape::Sphere { center, radius } => {
                // The sphere's box, transformed corner by corner, encloses the sphere.
                for i in 0..8 {
                    let corner = Vec3::new(
                        if i & 1 == 0 { -1.0 } else { 1.0 },
                        if i & 2 == 0 { -1.0 } else { 1.0 },
                        if i & 4 == 0 { -1.0 } else { 1.0 },
                    );
                    let w = m.transform_point3(*center + corner * *radius);
                    lo = lo.min(w);
                    hi = hi.max(w);
                }
            }
        }
    }
    (lo.is_finite() && hi.is_finite()).then_some((lo, hi))
}

/// A camera on the +z side of the scene looking at the centre of its bounding box,
/// far enough back that the box's bounding sphere fits a 40 degree vertical view.
fn framing_camera(scene: &Scene) -> Camera {
    const FOV: f32 = 40.0;
    let (lo, hi) = bounds(scene).unwrap_or((Vec3::splat(-1.0), Vec3::splat(1.0)));
    let centre = (lo + hi) * 0.5;
    // A flat or point-like scene still needs the eye somewhere other than the target.
    let radius = ((hi - lo).length() * 0.5).max(1e-3);
    let distance = radius / (FOV.to_radians() * 0.5).sin();
    Camera {
        eye: centre + Vec3::Z * distance,
        target: centre,
        up: Vec3::Y,
        fov: FOV,
    }
}

/// Lights a scene that has no light of its own with a uniform white sky, so that
/// opening a bare model shows it rather than a black image; otherwise the sky is black.
fn light_if_unlit(scene: &mut Scene, warnings: &mut Vec<String>) {
    let emissive = scene.objects.iter().any(|o| {
        matches!(
            scene.materials.get(o.material),
            Some(Material::Emissive { radiance }) if radiance.max_element() > 0.0
        )
    });
    if scene.lights.is_empty() && !emissive {
        scene.environment = Environment::Constant {
            radiance: Vec3::splat(1.0),
        };
        warnings.push(
            "the file has no lights and no emissive materials; added a uniform white \
             environment so the model is visible"
                .into(),
        );
    } else {
        scene.environment = Environment::default();
    }
}
