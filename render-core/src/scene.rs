//! The scene model: what clients edit and what scene files describe.
//!
//! Every field is plain data with serde, so the same model is the JSON scene format
//! and (later) the payload of edit messages. [`Scene::validate`] is the single gate
//! that turns untrusted data into something the renderer can trace.

use crate::camera::{Camera, CameraError};
use glam::Vec3;
use serde::{Deserialize, Serialize};

/// A whole scene.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Scene {
    pub camera: Camera,
    pub materials: Vec<Material>,
    pub objects: Vec<Object>,
    /// Radiance arriving from every direction that hits nothing.
    #[serde(default)]
    pub environment: Vec3,
    /// The longest path traced, in bounces.
    #[serde(default = "default_max_bounces")]
    pub max_bounces: u32,
}

fn default_max_bounces() -> u32 {
    6
}

/// How a surface scatters or emits light.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Material {
    /// Lambertian reflection with the given albedo (each channel in [0, 1]).
    Diffuse { albedo: Vec3 },
    /// A smooth conductor: perfect mirror reflection tinted by `color`.
    Metal { color: Vec3 },
    /// A smooth dielectric (glass, water) with index of refraction `ior`.
    Glass { ior: f32 },
    /// An emitter of constant radiance `radiance` on its front side; it does not reflect.
    Emissive { radiance: Vec3 },
}

/// One object of the scene: a shape and the index of its material.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Object {
    #[serde(default)]
    pub name: String,
    pub material: usize,
    pub shape: Shape,
}

/// The geometry of an object.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
pub enum Shape {
    Sphere {
        center: Vec3,
        radius: f32,
    },
    /// A triangle mesh; each triangle's front side is the one its counter-clockwise
    /// winding faces.
    Mesh {
        positions: Vec<Vec3>,
        indices: Vec<[u32; 3]>,
    },
}

/// Why a scene cannot be rendered. Each variant names the offending part.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SceneError {
    #[error("camera: {0}")]
    Camera(#[from] CameraError),
    #[error("material {index}: {problem}")]
    Material { index: usize, problem: String },
    #[error("object {index}: {problem}")]
    Object { index: usize, problem: String },
    #[error("environment must be finite and non-negative")]
    Environment,
    #[error("max_bounces must be between 1 and {max}, got {value}", max = Scene::MAX_BOUNCES)]
    MaxBounces { value: u32 },
}

fn finite_non_negative(v: Vec3) -> bool {
    v.is_finite() && v.min_element() >= 0.0
}

impl Material {
    fn problem(&self) -> Option<String> {
        match *self {
            Material::Diffuse { albedo }
                if !(finite_non_negative(albedo) && albedo.max_element() <= 1.0) =>
            {
                Some("albedo must be finite and within [0, 1]".into())
            }
            Material::Metal { color }
                if !(finite_non_negative(color) && color.max_element() <= 1.0) =>
            {
                Some("color must be finite and within [0, 1]".into())
            }
            Material::Glass { ior } if !(ior.is_finite() && (1.0..=4.0).contains(&ior)) => {
                Some(format!("ior must be between 1 and 4, got {ior}"))
            }
            Material::Emissive { radiance } if !finite_non_negative(radiance) => {
                Some("radiance must be finite and non-negative".into())
            }
            _ => None,
        }
    }
}

impl Scene {
    pub const MAX_BOUNCES: u32 = 64;

    /// Checks everything the renderer relies on.
    pub fn validate(&self) -> Result<(), SceneError> {
        self.camera.validate()?;
        if !finite_non_negative(self.environment) {
            return Err(SceneError::Environment);
        }
        if !(1..=Self::MAX_BOUNCES).contains(&self.max_bounces) {
            return Err(SceneError::MaxBounces {
                value: self.max_bounces,
            });
        }
        for (index, m) in self.materials.iter().enumerate() {
            if let Some(problem) = m.problem() {
                return Err(SceneError::Material { index, problem });
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
            match &o.shape {
                Shape::Sphere { center, radius } => {
                    if !center.is_finite() {
                        return fail("sphere center must be finite".into());
                    }
                    if !(radius.is_finite() && *radius > 0.0) {
                        return fail(format!(
                            "sphere radius must be positive and finite, got {radius}"
                        ));
                    }
                }
                Shape::Mesh { positions, indices } => {
                    if let Some(i) = positions.iter().position(|p| !p.is_finite()) {
                        return fail(format!("position {i} is not finite"));
                    }
                    for (t, tri) in indices.iter().enumerate() {
                        if let Some(&v) = tri.iter().find(|&&v| v as usize >= positions.len()) {
                            return fail(format!(
                                "triangle {t} refers to vertex {v} but there are {} positions",
                                positions.len()
                            ));
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// The built-in scene: a Cornell-box-like room lit by a ceiling panel, holding a
    /// glass sphere, a mirror sphere and a diffuse sphere, under a dim sky.
    pub fn cornell_box() -> Scene {
        let white = 0;
        let red = 1;
        let green = 2;
        let light = 3;
        let glass = 4;
        let mirror = 5;
        let blue = 6;
        let materials = vec![
            Material::Diffuse {
                albedo: Vec3::new(0.73, 0.73, 0.73),
            },
            Material::Diffuse {
                albedo: Vec3::new(0.65, 0.05, 0.05),
            },
            Material::Diffuse {
                albedo: Vec3::new(0.12, 0.45, 0.15),
            },
            Material::Emissive {
                radiance: Vec3::new(17.0, 14.0, 10.0),
            },
            Material::Glass { ior: 1.5 },
            Material::Metal {
                color: Vec3::new(0.95, 0.93, 0.88),
            },
            Material::Diffuse {
                albedo: Vec3::new(0.15, 0.25, 0.70),
            },
        ];
        // The room spans x in [-1, 1], y in [0, 2], z in [-1, 1]; the camera looks in
        // through the open side at z = +1. Quads are wound so their front faces inwards.
        let v = Vec3::new;
        let objects = vec![
            quad(
                "floor",
                white,
                [
                    v(-1., 0., 1.),
                    v(1., 0., 1.),
                    v(1., 0., -1.),
                    v(-1., 0., -1.),
                ],
            ),
            quad(
                "ceiling",
                white,
                [
                    v(-1., 2., -1.),
                    v(1., 2., -1.),
                    v(1., 2., 1.),
                    v(-1., 2., 1.),
                ],
            ),
            quad(
                "back wall",
                white,
                [
                    v(-1., 0., -1.),
                    v(1., 0., -1.),
                    v(1., 2., -1.),
                    v(-1., 2., -1.),
                ],
            ),
            quad(
                "left wall",
                red,
                [
                    v(-1., 0., 1.),
                    v(-1., 0., -1.),
                    v(-1., 2., -1.),
                    v(-1., 2., 1.),
                ],
            ),
            quad(
                "right wall",
                green,
                [v(1., 0., -1.), v(1., 0., 1.), v(1., 2., 1.), v(1., 2., -1.)],
            ),
            quad(
                "light",
                light,
                [
                    v(-0.3, 1.998, -0.3),
                    v(0.3, 1.998, -0.3),
                    v(0.3, 1.998, 0.3),
                    v(-0.3, 1.998, 0.3),
                ],
            ),
            Object {
                name: "glass sphere".into(),
                material: glass,
                shape: Shape::Sphere {
                    center: v(-0.45, 0.35, 0.25),
                    radius: 0.35,
                },
            },
            Object {
                name: "mirror sphere".into(),
                material: mirror,
                shape: Shape::Sphere {
                    center: v(0.45, 0.4, -0.35),
                    radius: 0.4,
                },
            },
            Object {
                name: "blue sphere".into(),
                material: blue,
                shape: Shape::Sphere {
                    center: v(0.35, 0.2, 0.55),
                    radius: 0.2,
                },
            },
        ];
        Scene {
            camera: Camera {
                eye: v(0.0, 1.0, 3.9),
                target: v(0.0, 1.0, 0.0),
                up: Vec3::Y,
                fov: 38.0,
            },
            materials,
            objects,
            // A dim sky, so that a camera orbiting out of the room still sees it lit.
            environment: Vec3::new(0.07, 0.08, 0.1),
            max_bounces: default_max_bounces(),
        }
    }
}

/// A planar quad from four corners in counter-clockwise order seen from its front.
fn quad(name: &str, material: usize, corners: [Vec3; 4]) -> Object {
    Object {
        name: name.into(),
        material,
        shape: Shape::Mesh {
            positions: corners.to_vec(),
            indices: vec![[0, 1, 2], [0, 2, 3]],
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn built_in_scene_is_valid_and_round_trips_through_json() {
        let scene = Scene::cornell_box();
        scene.validate().unwrap();
        let json = serde_json::to_string(&scene).unwrap();
        let back: Scene = serde_json::from_str(&json).unwrap();
        assert_eq!(scene, back);
    }

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
        s.objects[0].shape = Shape::Mesh {
            positions: vec![Vec3::ZERO],
            indices: vec![[0, 0, 5]],
        };
        assert!(s.validate().unwrap_err().to_string().contains("vertex 5"));

        let mut s = Scene::cornell_box();
        s.materials[0] = Material::Diffuse {
            albedo: Vec3::new(2.0, 0.0, 0.0),
        };
        assert!(matches!(
            s.validate(),
            Err(SceneError::Material { index: 0, .. })
        ));
    }
}
