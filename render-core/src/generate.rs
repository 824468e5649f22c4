//! Scenes generated in code: the built-in scene ([`Scene::cornell_box`]), the
//! furnace of tests ([`Scene::sphere_in_environment`]), and the built-in heavy scene
//! for benchmarks and for trying the renderer on real geometry without a model file.

use crate::camera::Camera;
use crate::scene::{
    default_max_bounces, quad, Environment, Material, Mesh, Object, Scene, Shape, Transform,
};
use glam::{Vec2, Vec3};
use std::f32::consts::TAU;
use std::sync::Arc;

impl Scene {
    /// The built-in scene: a Cornell-box-like room lit by a ceiling panel, holding a
    /// glass sphere, a mirror sphere and a diffuse sphere, under a dim sky.
    pub fn cornell_box() -> Scene {
        let (white, red, green, light, glass, mirror, blue) = (0, 1, 2, 3, 4, 5, 6);
        let materials = vec![
            Material::Diffuse {
                albedo: Vec3::new(0.73, 0.73, 0.73),
                texture: None,
            },
            Material::Diffuse {
                albedo: Vec3::new(0.65, 0.05, 0.05),
                texture: None,
            },
            Material::Diffuse {
                albedo: Vec3::new(0.12, 0.45, 0.15),
                texture: None,
            },
            Material::Emissive {
                radiance: Vec3::new(17.0, 14.0, 10.0),
            },
            Material::Dielectric {
                ior: 1.5,
                roughness: 0.0,
                tint: Vec3::ONE,
            },
            Material::Conductor {
                color: Vec3::new(0.95, 0.93, 0.88),
                roughness: 0.0,
                texture: None,
            },
            Material::Diffuse {
                albedo: Vec3::new(0.15, 0.25, 0.70),
                texture: None,
            },
        ];
        // The room spans x in [-1, 1], y in [0, 2], z in [-1, 1]; the camera looks in
        // through the open side at z = +1. Quads are wound so their front faces inwards.
        let v = Vec3::new;
        let quads = [
            (
                "floor",
                white,
                [
                    v(-1., 0., 1.),
                    v(1., 0., 1.),
                    v(1., 0., -1.),
                    v(-1., 0., -1.),
                ],
            ),
            (
                "ceiling",
                white,
                [
                    v(-1., 2., -1.),
                    v(1., 2., -1.),
                    v(1., 2., 1.),
                    v(-1., 2., 1.),
                ],
            ),
            (
                "back wall",
                white,
                [
                    v(-1., 0., -1.),
                    v(1., 0., -1.),
                    v(1., 2., -1.),
                    v(-1., 2., -1.),
                ],
            ),
            (
                "left wall",
                red,
                [
                    v(-1., 0., 1.),
                    v(-1., 0., -1.),
                    v(-1., 2., -1.),
                    v(-1., 2., 1.),
                ],
            ),
            (
                "right wall",
                green,
                [v(1., 0., -1.), v(1., 0., 1.), v(1., 2., 1.), v(1., 2., -1.)],
            ),
            (
                "light",
                light,
                [
                    v(-0.3, 1.998, -0.3),
                    v(0.3, 1.998, -0.3),
                    v(0.3, 1.998, 0.3),
                    v(-0.3, 1.998, 0.3),
                ],
            ),
        ];
        let mut meshes = Vec::new();
        let mut objects = Vec::new();
        for (name, material, corners) in quads {
            objects.push(Object {
                name: name.into(),
                material,
                shape: Shape::Mesh { mesh: meshes.len() },
                transform: Transform::default(),
            });
            meshes.push(Arc::new(quad(name, corners)));
        }
        let sphere = |name: &str, material, center: Vec3, radius| Object {
            name: name.into(),
            material,
            shape: Shape::Sphere {
                center: Vec3::ZERO,
                radius,
            },
            transform: Transform::translate(center),
        };
        objects.push(sphere("glass sphere", glass, v(-0.45, 0.35, 0.25), 0.35));
        objects.push(sphere("mirror sphere", mirror, v(0.45, 0.4, -0.35), 0.4));
        objects.push(sphere("blue sphere", blue, v(0.35, 0.2, 0.55), 0.2));
        Scene {
            camera: Camera {
                eye: v(0.0, 1.0, 3.9),
                target: v(0.0, 1.0, 0.0),
                up: Vec3::Y,
                fov: 38.0,
            },
            materials,
            textures: Vec::new(),
            meshes,
            objects,
            lights: Vec::new(),
            // A dim sky, so that a camera orbiting out of the room still sees it lit.
            environment: Environment::Constant {
                radiance: Vec3::new(0.07, 0.08, 0.1),
            },
            max_bounces: default_max_bounces(),
            images: Vec::new(),
        }
    }

    /// A unit sphere of `material` at the origin in a uniform environment of
    /// `radiance`, seen by `camera`: the furnace of tests whose answer is known in
    /// closed form (a convex object only ever reflects the environment).
    pub fn sphere_in_environment(material: Material, radiance: Vec3, camera: Camera) -> Scene {
        let mut scene = Scene::empty(camera);
        scene.materials.push(material);
        scene.objects.push(Object {
            name: "ball".into(),
            material: 0,
            shape: Shape::Sphere {
                center: Vec3::ZERO,
                radius: 1.0,
            },
            transform: Transform::default(),
        });
        scene.environment = Environment::Constant { radiance };
        scene
    }
}

/// A (p, q) torus knot swept by a tube: `segments` steps along the knot and `sides`
/// around the tube give `2 * segments * sides` triangles, with smooth normals and
/// texture coordinates.
pub fn torus_knot(p: u32, q: u32, segments: u32, sides: u32, tube: f32) -> Mesh {
    let curve = |t: f32| -> Vec3 {
        let r = 2.0 + (q as f32 * t).cos();
        Vec3::new(
            r * (p as f32 * t).cos(),
            r * (p as f32 * t).sin(),
            -(q as f32 * t).sin(),
        ) * 0.25
    };
    let mut mesh = Mesh {
        name: format!("torus knot ({p}, {q})"),
        ..Mesh::default()
    };
    for i in 0..segments {
        let t = i as f32 / segments as f32 * TAU;
        let c = curve(t);
        let tangent = (curve(t + 1e-3) - curve(t - 1e-3)).normalize();
        // A frame along the curve: the normal points towards the knot's centre line.
        let normal = tangent.cross(c.normalize().cross(tangent)).normalize();
        let binormal = tangent.cross(normal);
        for j in 0..sides {
            let a = j as f32 / sides as f32 * TAU;
            let n = normal * a.cos() + binormal * a.sin();
            mesh.positions.push(c + n * tube);
            mesh.normals.push(n);
            mesh.uvs.push(Vec2::new(
                i as f32 / segments as f32,
                j as f32 / sides as f32,
            ));
        }
    }
    let at = |i: u32, j: u32| (i % segments) * sides + (j % sides);
    for i in 0..segments {
        for j in 0..sides {
            let (a, b, c, d) = (at(i, j), at(i + 1, j), at(i + 1, j + 1), at(i, j + 1));
            // Wound so the front faces outwards along the tube normal.
            mesh.indices.push([a, c, b]);
            mesh.indices.push([a, d, c]);
        }
    }
    mesh
}

/// The built-in room around a torus knot of at least `min_triangles` triangles in
/// rough gold: the heavy scene for benchmarks.
pub fn dense_scene(min_triangles: u32) -> Scene {
    let mut scene = Scene::cornell_box();
    // Keep the room and its light; replace the spheres with the knot.
    scene
        .objects
        .retain(|o| matches!(o.shape, Shape::Mesh { .. }));
    let sides = 64;
    let segments = min_triangles.div_ceil(2 * sides).max(3);
    let gold = scene.materials.len();
    scene.materials.push(Material::Conductor {
        color: Vec3::new(1.0, 0.78, 0.34),
        roughness: 0.35,
        texture: None,
    });
    scene.objects.push(Object {
        name: "torus knot".into(),
        material: gold,
        shape: Shape::Mesh {
            mesh: scene.meshes.len(),
        },
        transform: Transform::translate(Vec3::new(0.0, 0.8, 0.0)),
    });
    scene
        .meshes
        .push(Arc::new(torus_knot(2, 3, segments, sides, 0.12)));
    scene
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
    fn dense_scene_has_the_triangles_asked_for_and_is_valid() {
        let scene = dense_scene(100_000);
        scene.validate().unwrap();
        let knot = scene.meshes.last().unwrap();
        assert!(knot.indices.len() >= 100_000);
        assert!(knot.indices.len() < 101_000);
        // Closed surface: every vertex is used.
        let mut used = vec![false; knot.positions.len()];
        knot.indices
            .iter()
            .flatten()
            .for_each(|&i| used[i as usize] = true);
        assert!(used.iter().all(|&u| u));
    }
}
