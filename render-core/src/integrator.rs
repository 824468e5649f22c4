//! The path tracer.
//!
//! Unidirectional path tracing with next-event estimation: at every diffuse vertex a
//! point on an emitter is sampled (emitters chosen in proportion to their power) and
//! connected with a shadow ray. Emission found by following the BSDF is therefore
//! only counted where next-event estimation could not have found it: on the camera
//! ray and after specular bounces. The environment is never sampled directly, so it is
//! always counted when a path escapes. Paths longer than three bounces are ended by
//! Russian roulette on their throughput.

use crate::bvh::Bvh;
use crate::geometry::{PrimShape, Primitive, Ray, Sphere, Triangle};
use crate::sampling::{cosine_hemisphere, uniform_sphere, SampleRng};
use crate::scene::{Material, Scene, Shape};
use glam::Vec3;
use std::f32::consts::FRAC_1_PI;

/// How far new rays start from the surface they leave, to avoid finding it again.
const EPS: f32 = 1e-4;

/// Everything the integrator needs that does not depend on the camera.
pub struct SceneData {
    pub bvh: Bvh,
    pub materials: Vec<Material>,
    pub environment: Vec3,
    pub max_bounces: u32,
    emitters: Vec<Emitter>,
    /// Cumulative selection weights of `emitters`, normalised to end at 1.
    emitter_cdf: Vec<f32>,
}

#[derive(Clone, Copy)]
enum EmitterShape {
    Triangle(Triangle),
    Sphere(Sphere),
}

#[derive(Clone, Copy)]
struct Emitter {
    shape: EmitterShape,
    le: Vec3,
    area: f32,
    /// Probability of choosing this emitter.
    pick: f32,
}

fn luminance(c: Vec3) -> f32 {
    c.dot(Vec3::new(0.2126, 0.7152, 0.0722))
}

impl SceneData {
    /// Builds the acceleration structure and light list. The scene must be valid.
    pub fn new(scene: &Scene) -> SceneData {
        let mut prims = Vec::new();
        let mut emitters = Vec::new();
        for object in &scene.objects {
            let material = object.material as u32;
            let le = match scene.materials[object.material] {
                Material::Emissive { radiance } if luminance(radiance) > 0.0 => Some(radiance),
                _ => None,
            };
            match &object.shape {
                Shape::Sphere { center, radius } => {
                    let s = Sphere {
                        center: *center,
                        radius: *radius,
                    };
                    prims.push(Primitive {
                        shape: PrimShape::Sphere(s),
                        material,
                    });
                    if let Some(le) = le {
                        let area = 4.0 * std::f32::consts::PI * radius * radius;
                        emitters.push(Emitter {
                            shape: EmitterShape::Sphere(s),
                            le,
                            area,
                            pick: 0.0,
                        });
                    }
                }
                Shape::Mesh { positions, indices } => {
                    for tri in indices {
                        let [a, b, c] = tri.map(|i| positions[i as usize]);
                        let t = Triangle::new(a, b, c);
                        let area = t.area();
                        // Degenerate triangles can never be hit; leave them out entirely.
                        if area <= 0.0 || !area.is_finite() {
                            continue;
                        }
                        prims.push(Primitive {
                            shape: PrimShape::Triangle(t),
                            material,
                        });
                        if let Some(le) = le {
                            emitters.push(Emitter {
                                shape: EmitterShape::Triangle(t),
                                le,
                                area,
                                pick: 0.0,
                            });
                        }
                    }
                }
            }
        }
        let total: f32 = emitters.iter().map(|e| e.area * luminance(e.le)).sum();
        let mut acc = 0.0;
        let mut emitter_cdf = Vec::with_capacity(emitters.len());
        for e in &mut emitters {
            e.pick = e.area * luminance(e.le) / total;
            acc += e.pick;
            emitter_cdf.push(acc);
        }
        if let Some(last) = emitter_cdf.last_mut() {
            *last = 1.0;
        }
        SceneData {
            bvh: Bvh::build(prims),
            materials: scene.materials.clone(),
            environment: scene.environment,
            max_bounces: scene.max_bounces,
            emitters,
            emitter_cdf,
        }
    }

    /// Chooses an emitter and a point on it: (point, normal at the point, emitted
    /// radiance, probability density of the point per unit area).
    fn sample_emitter(&self, rng: &mut SampleRng) -> Option<(Vec3, Vec3, Vec3, f32)> {
        if self.emitters.is_empty() {
            return None;
        }
        let u = rng.uniform();
        let i = self
            .emitter_cdf
            .partition_point(|&c| c < u)
            .min(self.emitters.len() - 1);
        let e = &self.emitters[i];
        let (u1, u2) = (rng.uniform(), rng.uniform());
        let (p, n) = match e.shape {
            EmitterShape::Triangle(t) => (t.sample(u1, u2), t.normal()),
            EmitterShape::Sphere(s) => {
                let n = uniform_sphere(u1, u2);
                (s.center + n * s.radius, n)
            }
        };
        Some((p, n, e.le, e.pick / e.area))
    }

    /// Estimates the radiance arriving along `ray`. Returns it with the number of rays
    /// traced (camera, bounce and shadow rays), for throughput figures.
    pub fn li(&self, mut ray: Ray, rng: &mut SampleRng) -> (Vec3, u32) {
        let mut l = Vec3::ZERO;
        let mut beta = Vec3::ONE;
        let mut specular_bounce = true;
        let mut rays = 0u32;
        for depth in 0..self.max_bounces {
            rays += 1;
            let Some(hit) = self.bvh.intersect(&ray, EPS, f32::INFINITY) else {
                l += beta * self.environment;
                break;
            };
            let wo = -ray.d;
            // The normal on the side the ray arrived from.
            let n = if hit.front { hit.n } else { -hit.n };
            match self.materials[hit.material as usize] {
                Material::Emissive { radiance } => {
                    if specular_bounce && hit.front {
                        l += beta * radiance;
                    }
                    break;
                }
                Material::Diffuse { albedo } => {
                    let f = albedo * FRAC_1_PI;
                    if let Some((q, nl, le, pdf_area)) = self.sample_emitter(rng) {
                        let to_light = q - hit.p;
                        let dist2 = to_light.length_squared();
                        let dist = dist2.sqrt();
                        let wi = to_light / dist;
                        let cos_s = n.dot(wi);
                        let cos_l = -nl.dot(wi);
                        if cos_s > 0.0 && cos_l > 0.0 {
                            rays += 1;
                            let shadow = Ray {
                                o: hit.p + n * EPS,
                                d: wi,
                            };
                            if !self.bvh.occluded(&shadow, 0.0, dist * (1.0 - 1e-3) - EPS) {
                                l += beta * f * le * (cos_s * cos_l / (dist2 * pdf_area));
                            }
                        }
                    }
                    // Cosine sampling makes f cos / pdf equal to the albedo.
                    let wi = cosine_hemisphere(n, rng.uniform(), rng.uniform());
                    beta *= albedo;
                    ray = Ray {
                        o: hit.p + n * EPS,
                        d: wi,
                    };
                    specular_bounce = false;
                }
                Material::Metal { color } => {
                    let wi = reflect(wo, n);
                    beta *= color;
                    ray = Ray {
                        o: hit.p + n * EPS,
                        d: wi,
                    };
                    specular_bounce = true;
                }
                Material::Glass { ior } => {
                    let eta = if hit.front { 1.0 / ior } else { ior };
                    let cos_i = wo.dot(n);
                    let (wi, leaves_on_incident_side) = match refract(wo, n, eta) {
                        Some(wt) if rng.uniform() >= fresnel_dielectric(cos_i, eta) => (wt, false),
                        _ => (reflect(wo, n), true),
                    };
                    let offset = if leaves_on_incident_side { n } else { -n };
                    ray = Ray {
                        o: hit.p + offset * EPS,
                        d: wi,
                    };
                    specular_bounce = true;
                }
            }
            if depth >= 3 {
                let survive = beta.max_element().min(0.95);
                if rng.uniform() >= survive {
                    break;
                }
                beta /= survive;
            }
        }
        (l, rays)
    }
}

/// Mirror reflection of `wo` about `n` (both pointing away from the surface).
fn reflect(wo: Vec3, n: Vec3) -> Vec3 {
    2.0 * wo.dot(n) * n - wo
}

/// The refracted direction for `wo` on the side of `n`, with `eta` the ratio of the
/// incident to the transmitted index; `None` on total internal reflection.
fn refract(wo: Vec3, n: Vec3, eta: f32) -> Option<Vec3> {
    let cos_i = wo.dot(n);
    let sin2_t = eta * eta * (1.0 - cos_i * cos_i).max(0.0);
    if sin2_t >= 1.0 {
        return None;
    }
    let cos_t = (1.0 - sin2_t).sqrt();
    Some((-wo * eta + n * (eta * cos_i - cos_t)).normalize())
}

/// Unpolarised Fresnel reflectance of a smooth dielectric boundary.
fn fresnel_dielectric(cos_i: f32, eta: f32) -> f32 {
    let sin2_t = eta * eta * (1.0 - cos_i * cos_i).max(0.0);
    if sin2_t >= 1.0 {
        return 1.0;
    }
    let cos_t = (1.0 - sin2_t).sqrt();
    // eta = n_i / n_t, so r_parallel = (n_t cos_i - n_i cos_t) / (n_t cos_i + n_i cos_t).
    let r_par = (cos_i - eta * cos_t) / (cos_i + eta * cos_t);
    let r_perp = (eta * cos_i - cos_t) / (eta * cos_i + cos_t);
    0.5 * (r_par * r_par + r_perp * r_perp)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fresnel_at_normal_incidence_matches_closed_form() {
        // ((n1 - n2) / (n1 + n2))^2 = 0.04 for glass of index 1.5.
        assert!((fresnel_dielectric(1.0, 1.0 / 1.5) - 0.04).abs() < 1e-5);
        assert!((fresnel_dielectric(1.0, 1.5) - 0.04).abs() < 1e-5);
        // Grazing from inside is total internal reflection.
        assert_eq!(fresnel_dielectric(0.1, 1.5), 1.0);
    }

    #[test]
    fn refraction_obeys_snell() {
        let n = Vec3::Y;
        let wo = Vec3::new(0.6, 0.8, 0.0); // sin_i = 0.6
        let wt = refract(wo, n, 1.0 / 1.5).unwrap();
        let sin_t = wt.x.abs();
        assert!((sin_t - 0.6 / 1.5).abs() < 1e-5);
        assert!(wt.y < 0.0);
    }
}
