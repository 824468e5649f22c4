//! Rays, primitives and their intersection routines.
//!
//! Intersections work for rays whose direction is not normalised (rays transformed
//! into an instance's coordinates keep the world's `t`), so every routine here solves
//! in units of the given direction.

use crate::bvh::Aabb;
use glam::Vec3;

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
    #[inline]
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
