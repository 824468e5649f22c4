//! The scene model: what clients edit and what scene files describe.
//!
//! Every field is plain data with serde, so the same model is the project's JSON scene
//! format and the payload of edit messages. Geometry lives in a table of [`Mesh`]es;
//! each [`Object`] places a mesh or a sphere in the world with a [`Transform`] and a
//! material, so moving an object changes one transform and nothing is rebuilt but the
//! top level of the hierarchy. [`Scene::validate`] is the single gate that turns
//! untrusted data into something the renderer can trace.
//!
//! The types that refer to other parts of the scene ([`Material`] to a texture,
//! [`Object`] and [`Shape`] to a material and a mesh, [`Environment`] to a texture) are
//! generic over how they refer: by index (`usize`, the default, what the renderer and
//! scene files use) or by a stable key (the editable [`crate::edit::Document`] uses
//! `Material<Key>` and so on). One definition then gives both JSON forms, and the rules
//! about values (the `problem` functions) are shared; only the reference checks differ,
//! since an index and a key are looked up differently.
//!
//! Length: About 860 lines because it is the gate for untrusted scenes: every type of
//! the model and its validation in one place, so none escapes the gate.

use crate::camera::{Camera, CameraError};
use crate::texture::TextureImage;
use glam::{Affine3A, Quat, Vec2, Vec3};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// A whole scene.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scene {
    pub camera: Camera,
    #[serde(default)]
    pub materials: Vec<Material>,
    #[serde(default)]
    pub textures: Vec<Texture>,
    /// Shared, so that a scene built from the editable document, or handed to the
    /// renderer again after an edit, never copies geometry.
    #[serde(default)]
    pub meshes: Vec<Arc<Mesh>>,
    #[serde(default)]
    pub objects: Vec<Object>,
    /// Lights that are not geometry: the sun, point and spot lights. Emissive objects
    /// are lights too, through their material.
    #[serde(default)]
    pub lights: Vec<Light>,
    #[serde(default)]
    pub environment: Environment,
    /// The longest path traced, in bounces.
    #[serde(default = "default_max_bounces")]
    pub max_bounces: u32,
    /// Decoded texture images, one per entry of `textures`, filled by
    /// [`Scene::load_textures`]; not part of the serialised form.
    #[serde(skip)]
    pub images: Vec<Arc<TextureImage>>,
}

pub(crate) fn default_max_bounces() -> u32 {
    8
}

fn one() -> f32 {
    1.0
}

fn white() -> Vec3 {
    Vec3::ONE
}

/// The default of an optional reference. A plain `#[serde(default)]` would make serde
/// require `T: Default` of the reference type, which a key has no sensible value for.
fn none<T>() -> Option<T> {
    None
}

/// How a surface scatters or emits light. `T` is how a texture is referred to: an
/// index into [`Scene::textures`], or a key in the editable document.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Material<T = usize> {
    /// Lambertian reflection. `albedo` (each channel in [0, 1]) is multiplied by the
    /// texture's colour where a `texture` is given.
    Diffuse {
        albedo: Vec3,
        #[serde(default = "none")]
        texture: Option<T>,
    },
    /// A conductor (metal) with GGX microfacet roughness: `color` is the reflectance at
    /// normal incidence, `roughness` the perceptual roughness in [0, 1] (0 is a mirror).
    Conductor {
        color: Vec3,
        #[serde(default)]
        roughness: f32,
        #[serde(default = "none")]
        texture: Option<T>,
    },
    /// A dielectric (glass, water) with index of refraction `ior`, GGX roughness (0 is
    /// smooth), and a `tint` multiplying transmitted light.
    Dielectric {
        ior: f32,
        #[serde(default)]
        roughness: f32,
        #[serde(default = "white")]
        tint: Vec3,
    },
    /// An emitter of constant radiance on its front side; it does not reflect.
    Emissive { radiance: Vec3 },
}

/// A triangle mesh in its own coordinates.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Mesh {
    #[serde(default)]
    pub name: String,
    pub positions: Vec<Vec3>,
    /// Per-vertex shading normals; empty for flat shading.
    #[serde(default)]
    pub normals: Vec<Vec3>,
    /// Per-vertex texture coordinates; empty when untextured.
    #[serde(default)]
    pub uvs: Vec<Vec2>,
    /// Triangles as vertex indices; each triangle's front side is the one its
    /// counter-clockwise winding faces.
    pub indices: Vec<[u32; 3]>,
}

/// One object of the scene: a shape placed by a transform, with a material. `R` is how
/// materials and meshes are referred to (an index, or a key in the editable document).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Object<R = usize> {
    #[serde(default)]
    pub name: String,
    pub material: R,
    pub shape: Shape<R>,
    #[serde(default)]
    pub transform: Transform,
}

/// The geometry of an object, in object coordinates.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Shape<R = usize> {
    Sphere {
        center: Vec3,
        radius: f32,
    },
    /// An instance of `meshes[mesh]`.
    Mesh {
        mesh: R,
    },
}

/// Scale, then rotate, then translate.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Transform {
    #[serde(default)]
    pub translation: Vec3,
    /// A unit quaternion `[x, y, z, w]`.
    #[serde(default = "identity_rotation")]
    pub rotation: Quat,
    #[serde(default = "unit_scale")]
    pub scale: Vec3,
}

fn identity_rotation() -> Quat {
    Quat::IDENTITY
}

fn unit_scale() -> Vec3 {
    Vec3::ONE
}

impl Default for Transform {
    fn default() -> Self {
        Transform {
            translation: Vec3::ZERO,
            rotation: Quat::IDENTITY,
            scale: Vec3::ONE,
        }
    }
}

impl Transform {
    pub fn translate(translation: Vec3) -> Transform {
        Transform {
            translation,
            ..Transform::default()
        }
    }

    /// The object-to-world matrix.
    pub fn matrix(&self) -> Affine3A {
        Affine3A::from_scale_rotation_translation(self.scale, self.rotation, self.translation)
    }

    pub fn is_identity(&self) -> bool {
        *self == Transform::default()
    }
}

/// Where a texture's pixels come from.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum TextureSource {
    /// An image file (PNG, JPEG, or Radiance HDR for environments), relative to the
    /// scene file. 8-bit images are taken as sRGB, HDR as linear.
    File { path: String },
    /// A checkerboard of two linear colours with `squares` squares along each side.
    Checker { squares: u32, a: Vec3, b: Vec3 },
    /// An image stored inside a scene file (a glTF binary chunk or data URI), named by
    /// `origin` such as `"model.glb#image/0"`. Only the loader of that file can decode
    /// it, so it fills [`Scene::images`] itself.
    Embedded { origin: String },
}

/// A named texture.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Texture {
    #[serde(default)]
    pub name: String,
    pub source: TextureSource,
}

/// Lights that are not surfaces.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Light {
    /// A distant light such as the sun: light travels along `direction`, and a surface
    /// facing it receives `irradiance` (W/m^2 per channel).
    Directional { direction: Vec3, irradiance: Vec3 },
    /// A point light of radiant `intensity` (W/sr per channel).
    Point { position: Vec3, intensity: Vec3 },
    /// A spot light shining along `direction`: full `intensity` inside `inner_angle`,
    /// falling smoothly to nothing at `outer_angle` (half-angles in degrees).
    Spot {
        position: Vec3,
        direction: Vec3,
        intensity: Vec3,
        inner_angle: f32,
        outer_angle: f32,
    },
}

/// Radiance arriving from every direction that hits nothing. `R` is how the image
/// texture is referred to (an index, or a key in the editable document).
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Environment<R = usize> {
    Constant {
        radiance: Vec3,
    },
    /// An equirectangular image (`textures[texture]`) scaled by `intensity`, turned
    /// by `rotation` degrees about the up (+y) axis.
    Image {
        texture: R,
        #[serde(default = "one")]
        intensity: f32,
        #[serde(default)]
        rotation: f32,
    },
}

impl<R> Default for Environment<R> {
    fn default() -> Self {
        Environment::Constant {
            radiance: Vec3::ZERO,
        }
    }
}

/// Why a scene cannot be rendered. Each variant names the offending part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SceneError {
    #[error("camera: {0}")]
    Camera(#[from] CameraError),
    #[error("material {index}: {problem}")]
    Material { index: usize, problem: String },
    #[error("mesh {index}: {problem}")]
    Mesh { index: usize, problem: String },
    #[error("object {index}: {problem}")]
    Object { index: usize, problem: String },
    #[error("light {index}: {problem}")]
    Light { index: usize, problem: String },
    #[error("texture {index}: {problem}")]
    Texture { index: usize, problem: String },
    #[error("environment: {0}")]
    Environment(String),
    #[error("max_bounces must be between 1 and {max}, got {value}", max = Scene::MAX_BOUNCES)]
    MaxBounces { value: u32 },
}

fn finite_non_negative(v: Vec3) -> bool {
    v.is_finite() && v.min_element() >= 0.0
}

fn reflectance(v: Vec3) -> bool {
    finite_non_negative(v) && v.max_element() <= 1.0
}

fn unit_interval(x: f32) -> bool {
    x.is_finite() && (0.0..=1.0).contains(&x)
}

fn direction(v: Vec3) -> bool {
    v.is_finite() && v.length_squared() > 1e-12
}

/// What is wrong with one value: the field at fault, as a path relative to the value
/// (`albedo`, `transform.scale`, `positions[4]`), and a sentence saying what is wrong.
/// Scene validation and the editable document share these rules, so an edit that is
/// refused names the same field a bad scene file would.
#[derive(Clone, Debug, PartialEq)]
pub struct Problem {
    pub field: String,
    pub message: String,
}

impl Problem {
    pub(crate) fn new(field: impl Into<String>, message: impl Into<String>) -> Problem {
        Problem {
            field: field.into(),
            message: message.into(),
        }
    }

    /// The same problem, one level further down: `transform` + `scale` is
    /// `transform.scale`.
    pub(crate) fn within(self, parent: &str) -> Problem {
        let field = if self.field.is_empty() {
            parent.to_owned()
        } else if self.field.starts_with('[') {
            format!("{parent}{}", self.field)
        } else {
            format!("{parent}.{}", self.field)
        };
        Problem { field, ..self }
    }
}

impl<T> Material<T> {
    /// The texture the material reads, if any.
    pub fn texture(&self) -> Option<&T> {
        match self {
            Material::Diffuse { texture, .. } | Material::Conductor { texture, .. } => {
                texture.as_ref()
            }
            Material::Dielectric { .. } | Material::Emissive { .. } => None,
        }
    }

    /// The same material with its texture reference converted by `f`.
    pub fn map_refs<U>(&self, f: impl FnOnce(&T) -> U) -> Material<U> {
        match self {
            Material::Diffuse { albedo, texture } => Material::Diffuse {
                albedo: *albedo,
                texture: texture.as_ref().map(f),
            },
            Material::Conductor {
                color,
                roughness,
                texture,
            } => Material::Conductor {
                color: *color,
                roughness: *roughness,
                texture: texture.as_ref().map(f),
            },
            Material::Dielectric {
                ior,
                roughness,
                tint,
            } => Material::Dielectric {
                ior: *ior,
                roughness: *roughness,
                tint: *tint,
            },
            Material::Emissive { radiance } => Material::Emissive {
                radiance: *radiance,
            },
        }
    }

    /// What is wrong with the material's values; its texture reference is checked by
    /// whoever knows what it refers to.
    pub fn problem(&self) -> Option<Problem> {
        match self {
            Material::Diffuse { albedo, .. } => {
                if !reflectance(*albedo) {
                    return Some(Problem::new(
                        "albedo",
                        "albedo must be finite and within [0, 1]",
                    ));
                }
            }
            Material::Conductor {
                color, roughness, ..
            } => {
                if !reflectance(*color) {
                    return Some(Problem::new(
                        "color",
                        "color must be finite and within [0, 1]",
                    ));
                }
                if !unit_interval(*roughness) {
                    return Some(Problem::new(
                        "roughness",
                        format!("roughness must be within [0, 1], got {roughness}"),
                    ));
                }
            }
            Material::Dielectric {
                ior,
                roughness,
                tint,
            } => {
                if !(ior.is_finite() && (1.0..=4.0).contains(ior)) {
                    return Some(Problem::new(
                        "ior",
                        format!("ior must be between 1 and 4, got {ior}"),
                    ));
                }
                if !unit_interval(*roughness) {
                    return Some(Problem::new(
                        "roughness",
                        format!("roughness must be within [0, 1], got {roughness}"),
                    ));
                }
                if !reflectance(*tint) {
                    return Some(Problem::new(
                        "tint",
                        "tint must be finite and within [0, 1]",
                    ));
                }
            }
            Material::Emissive { radiance } => {
                if !finite_non_negative(*radiance) {
                    return Some(Problem::new(
                        "radiance",
                        "radiance must be finite and non-negative",
                    ));
                }
            }
        }
        None
    }
}

impl Mesh {
    /// What is wrong with the mesh, if anything.
    pub fn problem(&self) -> Option<Problem> {
        if let Some(i) = self.positions.iter().position(|p| !p.is_finite()) {
            return Some(Problem::new(
                format!("positions[{i}]"),
                format!("position {i} is not finite"),
            ));
        }
        if !self.normals.is_empty() && self.normals.len() != self.positions.len() {
            return Some(Problem::new(
                "normals",
                format!(
                    "{} normals for {} positions",
                    self.normals.len(),
                    self.positions.len()
                ),
            ));
        }
        if let Some(i) = self.normals.iter().position(|n| !direction(*n)) {
            return Some(Problem::new(
                format!("normals[{i}]"),
                format!("normal {i} is zero or not finite"),
            ));
        }
        if !self.uvs.is_empty() && self.uvs.len() != self.positions.len() {
            return Some(Problem::new(
                "uvs",
                format!(
                    "{} uvs for {} positions",
                    self.uvs.len(),
                    self.positions.len()
                ),
            ));
        }
        if let Some(i) = self.uvs.iter().position(|uv| !uv.is_finite()) {
            return Some(Problem::new(
                format!("uvs[{i}]"),
                format!("uv {i} is not finite"),
            ));
        }
        for (t, tri) in self.indices.iter().enumerate() {
            if let Some(&v) = tri.iter().find(|&&v| v as usize >= self.positions.len()) {
                return Some(Problem::new(
                    format!("indices[{t}]"),
                    format!(
                        "triangle {t} refers to vertex {v} but there are {} positions",
                        self.positions.len()
                    ),
                ));
            }
        }
        None
    }
}

impl Transform {
    /// What is wrong with the transform, if anything.
    pub fn problem(&self) -> Option<Problem> {
        for (field, finite) in [
            ("translation", self.translation.is_finite()),
            ("rotation", self.rotation.is_finite()),
            ("scale", self.scale.is_finite()),
        ] {
            if !finite {
                return Some(Problem::new(
                    field,
                    format!("transform {field} must contain only finite numbers"),
                ));
            }
        }
        if (self.rotation.length() - 1.0).abs() > 1e-3 {
            return Some(Problem::new(
                "rotation",
                "transform rotation must be a unit quaternion",
            ));
        }
        if self.scale.abs().min_element() < 1e-6 {
            return Some(Problem::new("scale", "transform scale must not be zero"));
        }
        None
    }
}

impl<R> Shape<R> {
    /// The mesh the shape instances, if it is a mesh.
    pub fn mesh(&self) -> Option<&R> {
        match self {
            Shape::Mesh { mesh } => Some(mesh),
            Shape::Sphere { .. } => None,
        }
    }

    /// The same shape with its mesh reference converted by `f`.
    pub fn map_refs<U>(&self, f: impl FnOnce(&R) -> U) -> Shape<U> {
        match self {
            Shape::Sphere { center, radius } => Shape::Sphere {
                center: *center,
                radius: *radius,
            },
            Shape::Mesh { mesh } => Shape::Mesh { mesh: f(mesh) },
        }
    }
}

impl<R> Object<R> {
    /// The same object with its material and mesh references converted by `f`.
    pub fn map_refs<U>(&self, mut f: impl FnMut(&R) -> U) -> Object<U> {
        Object {
            name: self.name.clone(),
            material: f(&self.material),
            shape: self.shape.map_refs(&mut f),
            transform: self.transform,
        }
    }

    /// What is wrong with the object's values; its references are checked by whoever
    /// knows what they refer to.
    pub fn problem(&self) -> Option<Problem> {
        if let Some(problem) = self.transform.problem() {
            return Some(problem.within("transform"));
        }
        if let Shape::Sphere { center, radius } = &self.shape {
            if !center.is_finite() {
                return Some(Problem::new("shape.center", "sphere center must be finite"));
            }
            if !(radius.is_finite() && *radius > 0.0) {
                return Some(Problem::new(
                    "shape.radius",
                    format!("sphere radius must be positive and finite, got {radius}"),
                ));
            }
        }
        None
    }
}

impl Light {
    /// What is wrong with the light, if anything.
    pub fn problem(&self) -> Option<Problem> {
        match *self {
            Light::Directional {
                direction: d,
                irradiance,
            } => {
                if !direction(d) {
                    return Some(Problem::new(
                        "direction",
                        "direction must be finite and non-zero",
                    ));
                }
                if !finite_non_negative(irradiance) {
                    return Some(Problem::new(
                        "irradiance",
                        "irradiance must be finite and non-negative",
                    ));
                }
            }
            Light::Point {
                position,
                intensity,
            } => {
                if !position.is_finite() {
                    return Some(Problem::new("position", "position must be finite"));
                }
                if !finite_non_negative(intensity) {
                    return Some(Problem::new(
                        "intensity",
                        "intensity must be finite and non-negative",
                    ));
                }
            }
            Light::Spot {
                position,
                direction: d,
                intensity,
                inner_angle,
                outer_angle,
            } => {
                if !position.is_finite() {
                    return Some(Problem::new("position", "position must be finite"));
                }
                if !direction(d) {
                    return Some(Problem::new(
                        "direction",
                        "direction must be finite and non-zero",
                    ));
                }
                if !finite_non_negative(intensity) {
                    return Some(Problem::new(
                        "intensity",
                        "intensity must be finite and non-negative",
                    ));
                }
                if !(inner_angle.is_finite()
                    && outer_angle.is_finite()
                    && 0.0 <= inner_angle
                    && inner_angle <= outer_angle
                    && outer_angle <= 90.0)
                {
                    let field = if inner_angle.is_finite() && (0.0..=90.0).contains(&inner_angle) {
                        "outer_angle"
                    } else {
                        "inner_angle"
                    };
                    return Some(Problem::new(
                        field,
                        "angles must satisfy 0 <= inner_angle <= outer_angle <= 90 degrees",
                    ));
                }
            }
        }
        None
    }
}

impl Texture {
    /// What is wrong with the texture's description (not its image), if anything.
    pub fn problem(&self) -> Option<Problem> {
        if let TextureSource::Checker { squares, a, b } = self.source {
            if squares == 0 || squares > 4096 {
                return Some(Problem::new(
                    "source.squares",
                    format!("a checker needs 1 to 4096 squares, got {squares}"),
                ));
            }
            if !finite_non_negative(a) || !finite_non_negative(b) {
                let field = if finite_non_negative(a) {
                    "source.b"
                } else {
                    "source.a"
                };
                return Some(Problem::new(
                    field,
                    "a checker needs finite, non-negative colours",
                ));
            }
        }
        None
    }
}

impl<R> Environment<R> {
    /// The texture the environment shows, if it is an image.
    pub fn texture(&self) -> Option<&R> {
        match self {
            Environment::Image { texture, .. } => Some(texture),
            Environment::Constant { .. } => None,
        }
    }

    /// The same environment with its texture reference converted by `f`.
    pub fn map_refs<U>(&self, f: impl FnOnce(&R) -> U) -> Environment<U> {
        match self {
            Environment::Constant { radiance } => Environment::Constant {
                radiance: *radiance,
            },
            Environment::Image {
                texture,
                intensity,
                rotation,
            } => Environment::Image {
                texture: f(texture),
                intensity: *intensity,
                rotation: *rotation,
            },
        }
    }

    /// What is wrong with the environment's values; its texture reference is checked
    /// by whoever knows what it refers to.
    pub fn problem(&self) -> Option<Problem> {
        match self {
            Environment::Constant { radiance } if !finite_non_negative(*radiance) => Some(
                Problem::new("radiance", "radiance must be finite and non-negative"),
            ),
            Environment::Image {
                intensity,
                rotation,
                ..
            } => {
                if !(intensity.is_finite() && *intensity >= 0.0) {
                    Some(Problem::new(
                        "intensity",
                        "intensity must be finite and non-negative",
                    ))
                } else if !rotation.is_finite() {
                    Some(Problem::new("rotation", "rotation must be finite"))
                } else {
                    None
                }
            }
            Environment::Constant { .. } => None,
        }
    }
}

impl Scene {
    pub const MAX_BOUNCES: u32 = 64;

    /// Checks everything the renderer relies on.
    pub fn validate(&self) -> Result<(), SceneError> {
        self.camera.validate()?;
        if !(1..=Self::MAX_BOUNCES).contains(&self.max_bounces) {
            return Err(SceneError::MaxBounces {
                value: self.max_bounces,
            });
        }
        let textures = self.textures.len();
        for (index, m) in self.materials.iter().enumerate() {
            let fail = |problem: String| Err(SceneError::Material { index, problem });
            if let Some(problem) = m.problem() {
                return fail(problem.message);
            }
            if let Some(t) = m.texture().filter(|&&t| t >= textures) {
                return fail(format!("texture {t} does not exist ({textures} textures)"));
            }
        }
        for (index, m) in self.meshes.iter().enumerate() {
            if let Some(problem) = m.problem() {
                return Err(SceneError::Mesh {
                    index,
                    problem: problem.message,
                });
            }
        }
        for (index, o) in self.objects.iter().enumerate() {
            let fail = |problem: String| Err(SceneError::Object { index, problem });
            if o.material >= self.materials.len() {
                return fail(format!(
                    "material {} does not exist ({} materials)",
                    o.material,
                    self.materials.len()
                ));
            }
            if let Some(problem) = o.problem() {
                return fail(problem.message);
            }
            if let Some(mesh) = o.shape.mesh().filter(|&&m| m >= self.meshes.len()) {
                return fail(format!(
                    "mesh {mesh} does not exist ({} meshes)",
                    self.meshes.len()
                ));
            }
        }
        for (index, l) in self.lights.iter().enumerate() {
            if let Some(problem) = l.problem() {
                return Err(SceneError::Light {
                    index,
                    problem: problem.message,
                });
            }
        }
        for (index, t) in self.textures.iter().enumerate() {
            if let Some(problem) = t.problem() {
                return Err(SceneError::Texture {
                    index,
                    problem: problem.message,
                });
            }
        }
        if self.images.len() != self.textures.len() {
            return Err(SceneError::Texture {
                index: self.images.len(),
                problem: "texture images are not loaded (call Scene::load_textures)".into(),
            });
        }
        if let Some(problem) = self.environment.problem() {
            return Err(SceneError::Environment(problem.message));
        }
        if let Some(t) = self.environment.texture().filter(|&&t| t >= textures) {
            return Err(SceneError::Environment(format!(
                "texture {t} does not exist ({textures} textures)"
            )));
        }
        Ok(())
    }

    /// A minimal valid scene to build on: the given camera, nothing else, black sky.
    pub fn empty(camera: Camera) -> Scene {
        Scene {
            camera,
            materials: Vec::new(),
            textures: Vec::new(),
            meshes: Vec::new(),
            objects: Vec::new(),
            lights: Vec::new(),
            environment: Environment::default(),
            max_bounces: default_max_bounces(),
            images: Vec::new(),
        }
    }
}

/// A planar quad from four corners in counter-clockwise order seen from its front.
pub fn quad(name: &str, corners: [Vec3; 4]) -> Mesh {
    Mesh {
        name: name.into(),
        positions: corners.to_vec(),
        normals: Vec::new(),
        uvs: vec![
            Vec2::new(0.0, 0.0),
            Vec2::new(1.0, 0.0),
            Vec2::new(1.0, 1.0),
            Vec2::new(0.0, 1.0),
        ],
        indices: vec![[0, 1, 2], [0, 2, 3]],
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn validation_names_the_bad_part() {
        let mut s = Scene::cornell_box();
        s.objects[6].shape = Shape::Sphere {
            center: Vec3::ZERO,
            radius: -1.0,
        };
        let e = s.validate().unwrap_err();
        assert!(matches!(e, SceneError::Object { index: 6, .. }), "{e}");
        assert!(e.to_string().contains("radius"));

        let mut s = Scene::cornell_box();
        s.objects[0].material = 99;
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("material 99 does not exist"));

        let mut s = Scene::cornell_box();
        Arc::make_mut(&mut s.meshes[0]).indices = vec![[0, 0, 5]];
        assert!(s.validate().unwrap_err().to_string().contains("vertex 5"));

        let mut s = Scene::cornell_box();
        s.objects[1].shape = Shape::Mesh { mesh: 40 };
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("mesh 40 does not exist"));

        let mut s = Scene::cornell_box();
        s.objects[1].transform.scale = Vec3::ZERO;
        assert!(s.validate().unwrap_err().to_string().contains("scale"));

        let mut s = Scene::cornell_box();
        s.materials[0] = Material::Diffuse {
            albedo: Vec3::new(2.0, 0.0, 0.0),
            texture: None,
        };
        assert!(matches!(
            s.validate(),
            Err(SceneError::Material { index: 0, .. })
        ));

        let mut s = Scene::cornell_box();
        s.materials[5] = Material::Conductor {
            color: Vec3::ONE,
            roughness: 1.5,
            texture: None,
        };
        assert!(s.validate().unwrap_err().to_string().contains("roughness"));

        let mut s = Scene::cornell_box();
        s.materials[0] = Material::Diffuse {
            albedo: Vec3::ONE,
            texture: Some(3),
        };
        assert!(s
            .validate()
            .unwrap_err()
            .to_string()
            .contains("texture 3 does not exist"));

        let mut s = Scene::cornell_box();
        s.lights.push(Light::Directional {
            direction: Vec3::ZERO,
            irradiance: Vec3::ONE,
        });
        assert!(matches!(
            s.validate(),
            Err(SceneError::Light { index: 0, .. })
        ));
    }
}
