//! The path tracer.
//!
//! Unidirectional path tracing with next-event estimation and multiple importance
//! sampling. At every vertex with a non-delta BSDF one light sample is taken
//! ([`Lights::sample`]) and connected with a shadow ray; the BSDF is then sampled
//! to continue the path. Emission found by the BSDF sample (an emitter or the
//! environment) and emission found by the light sample are each weighted by the
//! power heuristic, so each light is counted once, by whichever strategy suits it.
//! After delta (mirror, smooth glass) bounces emission is counted in full, since no
//! light sample could have found it. Paths longer than three bounces end by Russian
//! roulette on their throughput.

use crate::accel::{Accel, SurfaceHit};
use crate::bsdf::{alpha_from_roughness, Bsdf};
use crate::geometry::Ray;
use crate::lights::Lights;
use crate::sampling::{basis, SampleRng};
use crate::scene::{Material, Scene};
use crate::texture::TextureImage;
use glam::Vec3;
use std::sync::Arc;

/// Relative distance new rays start from the surface they leave.
const EPS: f32 = 1e-4;

/// Perfectly specular bounces followed, at most, to find the surface whose albedo and
/// normal guide the denoiser (what a mirror or a pane of glass shows).
const MAX_GUIDE_BOUNCES: u32 = 4;

/// Caps the contribution of one sample of indirect light (light that reached the
/// first surface seen by way of another surface) at `limit` per channel-maximum,
/// keeping its hue. `f32::INFINITY` leaves it alone.
fn clamp_indirect(c: Vec3, limit: f32) -> Vec3 {
    let m = c.max_element();
    if m > limit {
        c * (limit / m)
    } else {
        c
    }
}

/// One path's estimate, with the denoiser's guides for its pixel.
#[derive(Clone, Copy, Debug, Default)]
pub struct PathSample {
    /// The radiance estimate.
    pub radiance: Vec3,
    /// The albedo (0..=1) of the first surface that is not perfectly specular, tinted
    /// by the specular bounces before it; an emitter's or the environment's colour,
    /// scaled into 0..=1, where the path ends on one; zero where it ends otherwise.
    pub albedo: Vec3,
    /// That surface's shading normal, facing the ray; zero where nothing was hit.
    pub normal: Vec3,
    /// Rays traced (camera, bounce and shadow rays), for throughput figures.
    pub rays: u32,
}

/// A colour scaled into 0..=1 with its hue kept, as the albedo guide of a light.
fn light_guide(radiance: Vec3) -> Vec3 {
    let radiance = radiance.max(Vec3::ZERO);
    radiance / radiance.max_element().max(1.0)
}

/// Everything the integrator needs that does not depend on the camera.
pub struct SceneData {
    pub accel: Accel,
    pub lights: Lights,
    pub materials: Vec<Material>,
    pub images: Vec<Arc<TextureImage>>,
    pub max_bounces: u32,
}

/// The power heuristic with exponent 2.
fn mis(a: f32, b: f32) -> f32 {
    let (a2, b2) = (a * a, b * b);
    if a2 + b2 > 0.0 {
        a2 / (a2 + b2)
    } else {
        0.0
    }
}

/// A shading frame around a normal.
struct Frame {
    t: Vec3,
    b: Vec3,
    n: Vec3,
}

impl Frame {
    fn new(n: Vec3) -> Frame {
        let (t, b) = basis(n);
        Frame { t, b, n }
    }
    fn to_local(&self, v: Vec3) -> Vec3 {
        Vec3::new(v.dot(self.t), v.dot(self.b), v.dot(self.n))
    }
    fn to_world(&self, v: Vec3) -> Vec3 {
        self.t * v.x + self.b * v.y + self.n * v.z
    }
}

/// Starts a ray at `p` towards `d` without finding the surface it leaves: offset along
/// the geometric normal, to the side `d` goes.
fn spawn(p: Vec3, ng: Vec3, d: Vec3) -> Ray {
    let offset = ng * (EPS * (1.0 + p.abs().max_element()));
    Ray {
        o: if d.dot(ng) >= 0.0 {
            p + offset
        } else {
            p - offset
        },
        d,
    }
}

impl SceneData {
    /// Builds the acceleration structure and light list, reusing unchanged geometry of
    /// `previous`. The scene must be valid.
    pub fn new(scene: &Scene, previous: Option<&SceneData>) -> SceneData {
        let accel = Accel::build(scene, previous.map(|p| &p.accel));
        let lights = Lights::new(scene, &accel);
        SceneData {
            accel,
            lights,
            materials: scene.materials.clone(),
            images: scene.images.clone(),
            max_bounces: scene.max_bounces,
        }
    }

    fn bsdf(&self, material: &Material, hit: &SurfaceHit) -> Option<Bsdf> {
        let texture = |t: Option<usize>| t.map_or(Vec3::ONE, |t| self.images[t].sample(hit.uv));
        Some(match *material {
            Material::Diffuse { albedo, texture: t } => Bsdf::Diffuse {
                albedo: albedo * texture(t),
            },
            Material::Conductor {
                color,
                roughness,
                texture: t,
            } => Bsdf::Conductor {
                f0: color * texture(t),
                alpha: alpha_from_roughness(roughness),
            },
            Material::Dielectric {
                ior,
                roughness,
                tint,
            } => Bsdf::Dielectric {
                eta: ior,
                alpha: alpha_from_roughness(roughness),
                tint,
            },
            Material::Emissive { .. } => return None,
        })
    }

    /// Estimates the radiance arriving along `ray` over paths of at most `max_bounces`
    /// (further capped by the scene's own limit), with the denoiser's guides.
    ///
    /// `indirect_clamp` caps each sample of indirect light (see [`clamp_indirect`]):
    /// the rare paths that find a bright light through glass or a mirror from a
    /// diffuse surface are what makes lone bright pixels ("fireflies") that take
    /// thousands of samples to average out. Capping them is biased (such light comes
    /// out darker); `f32::INFINITY` keeps the estimate unbiased.
    pub fn li(
        &self,
        mut ray: Ray,
        rng: &mut SampleRng,
        max_bounces: u32,
        indirect_clamp: f32,
    ) -> PathSample {
        let mut l = Vec3::ZERO;
        // The guides: open until the path reaches a surface that is not perfectly
        // specular (or ends), carrying the tint of the specular bounces before it.
        let mut guide_open = true;
        let mut guide_tint = Vec3::ONE;
        let mut albedo = Vec3::ZERO;
        let mut normal = Vec3::ZERO;
        let mut beta = Vec3::ONE;
        // Whether the last bounce was a delta lobe (or this is the camera ray), and the
        // solid-angle density of the BSDF sample that produced `ray` otherwise.
        let mut delta = true;
        let mut bsdf_pdf = 0.0f32;
        let mut rays = 0u32;
        let limit = self.max_bounces.min(max_bounces);
        // Segment `depth` ends at the surface of bounce `depth + 1`. The segment after
        // the last bounce is traced too, only to collect the light it reaches: light
        // sampling at the last bounce is weighted against exactly that BSDF sample,
        // and without it the light that BSDF sampling would have found goes missing.
        for depth in 0..=limit {
            rays += 1;
            let Some(hit) = self.accel.intersect(&ray, 0.0, f32::INFINITY) else {
                let le = self.lights.environment(ray.d.normalize());
                if guide_open {
                    albedo = guide_tint * light_guide(le);
                }
                let w = if delta {
                    1.0
                } else {
                    mis(bsdf_pdf, self.lights.environment_pdf(ray.d.normalize()))
                };
                let c = beta * le * w;
                l += if depth >= 2 {
                    clamp_indirect(c, indirect_clamp)
                } else {
                    c
                };
                break;
            };
            let material = self.materials[hit.material as usize];
            if guide_open {
                normal = if hit.ns.dot(ray.d) > 0.0 {
                    -hit.ns
                } else {
                    hit.ns
                };
            }
            if let Material::Emissive { radiance } = material {
                if guide_open {
                    albedo = if hit.front {
                        guide_tint * light_guide(radiance)
                    } else {
                        Vec3::ZERO
                    };
                }
                if hit.front {
                    let w = if delta {
                        1.0
                    } else {
                        mis(bsdf_pdf, self.lights.emitter_pdf(&hit, ray.o))
                    };
                    let c = beta * radiance * w;
                    l += if depth >= 2 {
                        clamp_indirect(c, indirect_clamp)
                    } else {
                        c
                    };
                }
                break;
            }
            if depth == limit {
                if guide_open {
                    if let Some(bsdf) = self.bsdf(&material, &hit) {
                        albedo = guide_tint * bsdf.albedo();
                    }
                }
                break;
            }
            let Some(bsdf) = self.bsdf(&material, &hit) else {
                break;
            };
            if guide_open && (!bsdf.is_delta() || depth + 1 >= MAX_GUIDE_BOUNCES) {
                albedo = guide_tint * bsdf.albedo();
                guide_open = false;
            }
            // The frame's +z is the front side; dielectrics need to know which side
            // is which, the others are two-sided.
            let frame = Frame::new(hit.ns);
            let wo = frame.to_local(-ray.d.normalize());

            if !bsdf.is_delta() {
                if let Some(ls) = self.lights.sample(hit.p, rng) {
                    let wi = frame.to_local(ls.wi);
                    let (f, pdf_b) = bsdf.eval(wo, wi);
                    // As for BSDF samples below: the shading frame and the geometry must
                    // agree on which side the light is, or light leaks through
                    // smooth-shaded meshes at grazing angles.
                    let reflected = wi.z * wo.z > 0.0;
                    let same_side = ls.wi.dot(hit.ng) * (-ray.d).dot(hit.ng) > 0.0;
                    if f.max_element() > 0.0 && ls.pdf > 0.0 && same_side == reflected {
                        rays += 1;
                        let shadow = spawn(hit.p, hit.ng, ls.wi);
                        let t_max = if ls.dist.is_finite() {
                            ls.dist * (1.0 - 1e-3)
                        } else {
                            f32::INFINITY
                        };
                        if !self.accel.occluded(&shadow, 0.0, t_max) {
                            let w = if ls.delta { 1.0 } else { mis(ls.pdf, pdf_b) };
                            let c = beta * f * ls.li * (w / ls.pdf);
                            l += if depth >= 1 {
                                clamp_indirect(c, indirect_clamp)
                            } else {
                                c
                            };
                        }
                    }
                }
            }

            let Some(s) = bsdf.sample(wo, rng.uniform(), rng.uniform(), rng.uniform()) else {
                break;
            };
            let wi = frame.to_world(s.wi);
            // A shading normal can send a sample below the geometric surface while
            // the BSDF thought it reflected (or the reverse); such paths are dropped.
            let reflected = s.wi.z * wo.z > 0.0;
            if (wi.dot(hit.ng) * (-ray.d).dot(hit.ng) > 0.0) != reflected {
                break;
            }
            beta *= s.weight;
            if guide_open {
                guide_tint *= s.weight.clamp(Vec3::ZERO, Vec3::ONE);
            }
            delta = s.delta;
            bsdf_pdf = s.pdf;
            ray = spawn(hit.p, hit.ng, wi);
            if depth >= 3 {
                let survive = beta.max_element().min(0.95);
                if rng.uniform() >= survive {
                    break;
                }
                beta /= survive;
            }
        }
        PathSample {
            radiance: l,
            albedo,
            normal,
            rays,
        }
    }
}
