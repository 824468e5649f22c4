//! Rays, primitives and their intersection routines.
//!
//! Intersections work for rays whose direction is not normalised (rays transformed
//! into an instance's coordinates keep the world's `t`), so every routine here solves
//! in units of the given direction.

use crate::bvh::Aabb;
use glam::{Vec3, Vec4};

/// A ray `o + t d`.
#[derive(Clone, Copy, Debug)]
pub struct Ray {
    pub o: Vec3,
    pub d: Vec3,
}

/// A triangle stored as one vertex and two edges, ready for Möller–Trumbore.
#[derive(Clone, Copy, Debug)]
pub struct Triangle {
    pub v0: Vec3,
    pub e1: Vec3,
    pub e2: Vec3,
}

/// Four triangles side by side, coordinates as structure of arrays, tested together
/// with 4-wide SIMD. Unused lanes hold a degenerate triangle, which nothing hits.
#[derive(Clone, Copy, Debug)]
pub struct TrianglePack {
    /// x, y and z rows of the first vertices, then of the two edges.
    v0: [Vec4; 3],
    e1: [Vec4; 3],
    e2: [Vec4; 3],
}

impl TrianglePack {
    pub const LANES: usize = 4;

    /// Packs up to four triangles; missing ones leave their lanes unused.
    pub fn new(triangles: &[Triangle]) -> TrianglePack {
        assert!(triangles.len() <= Self::LANES);
        let row = |f: &dyn Fn(&Triangle) -> f32| {
            let mut lanes = [0.0; 4];
            for (lane, t) in lanes.iter_mut().zip(triangles) {
                *lane = f(t);
            }
            Vec4::from_array(lanes)
        };
        TrianglePack {
            v0: [row(&|t| t.v0.x), row(&|t| t.v0.y), row(&|t| t.v0.z)],
            e1: [row(&|t| t.e1.x), row(&|t| t.e1.y), row(&|t| t.e1.z)],
            e2: [row(&|t| t.e2.x), row(&|t| t.e2.y), row(&|t| t.e2.z)],
        }
    }

    /// The triangle in `lane`.
    pub fn triangle(&self, lane: usize) -> Triangle {
        let get = |rows: &[Vec4; 3]| Vec3::new(rows[0][lane], rows[1][lane], rows[2][lane]);
        Triangle {
            v0: get(&self.v0),
            e1: get(&self.e1),
            e2: get(&self.e2),
        }
    }

    /// The nearest hit among the four within (t_min, t_max): its distance, lane and
    /// barycentrics of the second and third vertices. The same arithmetic as
    /// [`Triangle::intersect`], four lanes at a time.
    #[inline(always)]
    pub fn intersect(&self, ray: &Ray, t_min: f32, t_max: f32) -> Option<(f32, usize, f32, f32)> {
        let [e1x, e1y, e1z] = self.e1;
        let [e2x, e2y, e2z] = self.e2;
        let (dx, dy, dz) = (
            Vec4::splat(ray.d.x),
            Vec4::splat(ray.d.y),
            Vec4::splat(ray.d.z),
        );
        // p = d x e2
        let px = dy * e2z - dz * e2y;
        let py = dz * e2x - dx * e2z;
        let pz = dx * e2y - dy * e2x;
        let det = e1x * px + e1y * py + e1z * pz;
        let inv = Vec4::ONE / det;
        // s = o - v0
        let sx = Vec4::splat(ray.o.x) - self.v0[0];
        let sy = Vec4::splat(ray.o.y) - self.v0[1];
        let sz = Vec4::splat(ray.o.z) - self.v0[2];
        let u = (sx * px + sy * py + sz * pz) * inv;
        // q = s x e1
        let qx = sy * e1z - sz * e1y;
        let qy = sz * e1x - sx * e1z;
        let qz = sx * e1y - sy * e1x;
        let v = (dx * qx + dy * qy + dz * qz) * inv;
        let t = (e2x * qx + e2y * qy + e2z * qz) * inv;
        let valid = det.abs().cmpge(Vec4::splat(1e-20))
            & u.cmpge(Vec4::ZERO)
            & u.cmple(Vec4::ONE)
            & v.cmpge(Vec4::ZERO)
            & (u + v).cmple(Vec4::ONE)
            & t.cmpgt(Vec4::splat(t_min))
            & t.cmplt(Vec4::splat(t_max));
        let mut mask = valid.bitmask();
        if mask == 0 {
            return None;
        }
        let (t, u, v) = (t.to_array(), u.to_array(), v.to_array());
        let mut best = mask.trailing_zeros() as usize;
        mask &= mask - 1;
        while mask != 0 {
            let lane = mask.trailing_zeros() as usize;
            mask &= mask - 1;
            if t[lane] < t[best] {
                best = lane;
            }
        }
        Some((t[best], best, u[best], v[best]))
    }
}

/// A sphere.
#[derive(Clone, Copy, Debug)]
pub struct Sphere {
    pub center: Vec3,
    pub radius: f32,
}

impl Triangle {
    pub fn new(a: Vec3, b: Vec3, c: Vec3) -> Self {
        Triangle {
            v0: a,
            e1: b - a,
            e2: c - a,
        }
    }

    /// The hit distance and barycentrics `(t, b1, b2)` of the second and third
    /// vertices, if the ray hits within (t_min, t_max).
    #[inline(always)]
    pub fn intersect(&self, ray: &Ray, t_min: f32, t_max: f32) -> Option<(f32, f32, f32)> {
        let p = ray.d.cross(self.e2);
        let det = self.e1.dot(p);
        if det.abs() < 1e-20 {
            return None;
        }
        let inv = 1.0 / det;
        let s = ray.o - self.v0;
        let u = s.dot(p) * inv;
        if !(0.0..=1.0).contains(&u) {
            return None;
        }
        let q = s.cross(self.e1);
        let v = ray.d.dot(q) * inv;
        if v < 0.0 || u + v > 1.0 {
            return None;
        }
        let t = self.e2.dot(q) * inv;
        (t > t_min && t < t_max).then_some((t, u, v))
    }

    /// The unit normal on the front (counter-clockwise) side.
    pub fn normal(&self) -> Vec3 {
        self.e1.cross(self.e2).normalize()
    }

    pub fn area(&self) -> f32 {
        0.5 * self.e1.cross(self.e2).length()
    }

    pub fn bounds(&self) -> Aabb {
        let mut b = Aabb::EMPTY;
        b.grow_point(self.v0);
        b.grow_point(self.v0 + self.e1);
        b.grow_point(self.v0 + self.e2);
        b
    }

    /// A point distributed uniformly over the triangle.
    pub fn sample(&self, u1: f32, u2: f32) -> Vec3 {
        // P = (1 - sqrt(u1)) A + sqrt(u1) (1 - u2) B + sqrt(u1) u2 C, written with edges.
        let su = u1.sqrt();
        self.v0 + self.e1 * (su * (1.0 - u2)) + self.e2 * (su * u2)
    }
}

impl Sphere {
    /// The nearest hit distance within (t_min, t_max).
    #[inline(always)]
    pub fn intersect(&self, ray: &Ray, t_min: f32, t_max: f32) -> Option<f32> {
        // Solve |o + t d - c|^2 = r^2. Subtracting the closest approach before taking
        // the square root keeps the discriminant accurate for distant spheres.
        let a = ray.d.length_squared();
        let oc = ray.o - self.center;
        let b = oc.dot(ray.d);
        let closest = oc - ray.d * (b / a);
        let disc = self.radius * self.radius - closest.length_squared();
        if disc < 0.0 {
            return None;
        }
        let sq = (a * disc).sqrt();
        let t0 = (-b - sq) / a;
        if t0 > t_min && t0 < t_max {
            return Some(t0);
        }
        let t1 = (-b + sq) / a;
        (t1 > t_min && t1 < t_max).then_some(t1)
    }

    pub fn bounds(&self) -> Aabb {
        Aabb {
            min: self.center - Vec3::splat(self.radius),
            max: self.center + Vec3::splat(self.radius),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn triangle_hit_barycentrics_and_miss() {
        let tri = Triangle::new(
            Vec3::new(-1.0, -1.0, 0.0),
            Vec3::new(1.0, -1.0, 0.0),
            Vec3::new(-1.0, 1.0, 0.0),
        );
        let ray = Ray {
            o: Vec3::new(0.0, -1.0, 2.0),
            d: Vec3::new(0.0, 0.0, -2.0),
        };
        let (t, b1, b2) = tri.intersect(&ray, 0.0, f32::INFINITY).unwrap();
        assert!(
            (t - 1.0).abs() < 1e-6,
            "t is in units of the unnormalised direction"
        );
        assert!((b1 - 0.5).abs() < 1e-6 && b2.abs() < 1e-6);
        let miss = Ray {
            o: Vec3::new(5.0, 0.0, 2.0),
            d: Vec3::new(0.0, 0.0, -1.0),
        };
        assert!(tri.intersect(&miss, 0.0, f32::INFINITY).is_none());
        assert!((tri.normal() - Vec3::Z).length() < 1e-6);
        assert!((tri.area() - 2.0).abs() < 1e-6);
    }

    /// A pack finds what testing its triangles one by one finds: the same nearest
    /// hit, lane and barycentrics; unused lanes are never hit.
    #[test]
    fn triangle_pack_matches_single_triangles() {
        let mut rng = crate::sampling::SampleRng::for_sample(0, 1, 2, 3);
        let mut u = move || rng.uniform();
        let mut hits = 0;
        for round in 0..4000 {
            let used = 1 + round % TrianglePack::LANES;
            let tris: Vec<Triangle> = (0..used)
                .map(|_| {
                    let c = Vec3::new(u(), u(), u()) * 2.0 - Vec3::ONE;
                    let r = |u: f32| (u - 0.5) * 1.5;
                    Triangle::new(
                        c,
                        c + Vec3::new(r(u()), r(u()), r(u())),
                        c + Vec3::new(r(u()), r(u()), r(u())),
                    )
                })
                .collect();
            let pack = TrianglePack::new(&tris);
            // Aimed near the first triangle, at unnormalised lengths.
            let o = Vec3::new(u(), u(), u()) * 6.0 - Vec3::splat(3.0);
            let target = tris[0].v0 + (tris[0].e1 * u() + tris[0].e2 * u()) * 0.7;
            let ray = Ray {
                o,
                d: (target - o) * (0.2 + u()),
            };
            let t_max = 1.0 + u() * 30.0;
            let single = tris
                .iter()
                .enumerate()
                .filter_map(|(lane, t)| {
                    t.intersect(&ray, 1e-4, t_max)
                        .map(|(t, b1, b2)| (t, lane, b1, b2))
                })
                .min_by(|a, b| a.0.total_cmp(&b.0));
            assert_eq!(pack.intersect(&ray, 1e-4, t_max), single);
            hits += usize::from(single.is_some());
            for (lane, t) in tris.iter().enumerate() {
                assert_eq!(pack.triangle(lane).v0, t.v0);
            }
        }
        assert!(hits > 1000, "the rays hit something ({hits})");
    }

    #[test]
    fn triangle_samples_stay_inside() {
        let tri = Triangle::new(Vec3::ZERO, Vec3::X, Vec3::Y);
        for i in 0..100 {
            for j in 0..10 {
                let p = tri.sample(i as f32 / 100.0, j as f32 / 10.0);
                assert!(
                    p.x >= -1e-6 && p.y >= -1e-6 && p.x + p.y <= 1.0 + 1e-6,
                    "{p}"
                );
            }
        }
    }

    #[test]
    fn sphere_hits_with_normalised_and_scaled_directions() {
        let s = Sphere {
            center: Vec3::ZERO,
            radius: 1.0,
        };
        let ray = Ray {
            o: Vec3::new(0.0, 0.0, 3.0),
            d: Vec3::new(0.0, 0.0, -1.0),
        };
        assert!((s.intersect(&ray, 1e-4, f32::INFINITY).unwrap() - 2.0).abs() < 1e-5);
        let scaled = Ray {
            o: Vec3::new(0.0, 0.0, 3.0),
            d: Vec3::new(0.0, 0.0, -4.0),
        };
        assert!((s.intersect(&scaled, 1e-4, f32::INFINITY).unwrap() - 0.5).abs() < 1e-5);
        let inside = Ray {
            o: Vec3::ZERO,
            d: Vec3::X,
        };
        assert!((s.intersect(&inside, 1e-4, f32::INFINITY).unwrap() - 1.0).abs() < 1e-5);
    }
}
