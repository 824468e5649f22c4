//! Scenes generated in code: the built-in heavy scene for benchmarks and for trying
//! the renderer on real geometry without a model file.

use crate::scene::{Material, Mesh, Object, Scene, Shape, Transform};
use glam::{Vec2, Vec3};
use std::f32::consts::TAU;
use std::sync::Arc;

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
