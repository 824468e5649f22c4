//! Light sampling for next-event estimation, and the densities multiple importance
//! sampling needs.
//!
//! Sampling first picks a *strategy*: the area emitters as a group (then one emitter
//! in proportion to its power), each delta light (sun, point, spot), or an image
//! environment, in proportion to an estimate of the power each brings to the scene,
//! mixed with a uniform choice so that none is starved. A constant environment is
//! left to BSDF sampling, which suits it. Area emitters are emissive triangles in
//! world space and emissive spheres under any transform; an image environment is
//! sampled in proportion to luminance times sin(theta) over its pixels.
//!
//! Length: About 570 lines of code (and 110 of tests) because each emitter's sampling
//! and its density must agree, so they sit together.

use crate::accel::{Accel, Geometry, SurfaceHit};
use crate::sampling::{uniform_sphere, SampleRng};
use crate::scene::{Environment, Light, Material, Scene};
use crate::texture::TextureImage;
use glam::{Affine3A, Mat3A, Vec2, Vec3, Vec3A};
use std::f32::consts::PI;
use std::sync::Arc;

pub fn luminance(c: Vec3) -> f32 {
    c.dot(Vec3::new(0.2126, 0.7152, 0.0722))
}

enum EmitterShape {
    Triangle(crate::geometry::Triangle),
    /// A sphere in object space placed by `to_world`.
    Sphere {
        center: Vec3,
        radius: f32,
        to_world: Affine3A,
        /// The inverse of `to_world`, kept so the per-sample density needs no inversion.
        to_object: Affine3A,
        normal_to_world: Mat3A,
        det: f32,
    },
}

struct Emitter {
    shape: EmitterShape,
    le: Vec3,
    /// Probability of picking this emitter within the area group.
    pick: f32,
}

/// An equirectangular environment image and its sampling distribution.
struct EnvImage {
    image: Arc<TextureImage>,
    intensity: f32,
    /// Rotation about +y, in turns.
    rotation: f32,
    /// Cumulative row weights (normalised to end at 1).
    rows: Vec<f32>,
    /// Per row, cumulative column weights (normalised to end at 1).
    columns: Vec<Vec<f32>>,
    /// Density over [0,1]^2 of each pixel.
    density: Vec<f32>,
    /// Average luminance over the sphere, before `intensity`.
    average: f32,
}

/// What a light sample found.
pub struct LightSample {
    /// Direction towards the light.
    pub wi: Vec3,
    /// Distance to the light's point; infinite for distant lights.
    pub dist: f32,
    /// Incident radiance (or, for delta lights, the radiance-equivalent so that the
    /// contribution is `f * li / pdf`).
    pub li: Vec3,
    /// Probability density of the sample (solid angle), strategy choice included; for
    /// delta lights just the strategy probability.
    pub pdf: f32,
    pub delta: bool,
}

/// Every light of a scene.
pub struct Lights {
    emitters: Vec<Emitter>,
    emitter_cdf: Vec<f32>,
    /// For each object, the index of its first emitter, if it is emissive.
    first_emitter: Vec<Option<u32>>,
    delta: Vec<Light>,
    environment: Environment,
    env_image: Option<EnvImage>,
    /// Cumulative probabilities of the sampling strategies, in the order: the area
    /// emitters (if any), each delta light, the environment (if it shines).
    strategy_cdf: Vec<f32>,
    /// Probability of each strategy.
    strategy_pick: Vec<f32>,
    area_strategy: Option<usize>,
    env_strategy: Option<usize>,
}

fn pick(cdf: &[f32], u: f32) -> usize {
    cdf.partition_point(|&c| c <= u).min(cdf.len() - 1)
}

impl EnvImage {
    fn new(image: Arc<TextureImage>, intensity: f32, rotation_deg: f32) -> EnvImage {
        let (w, h) = (image.width as usize, image.height as usize);
        let mut columns = Vec::with_capacity(h);
        let mut row_sums = Vec::with_capacity(h);
        for y in 0..h {
            let sin_theta = (PI * (y as f32 + 0.5) / h as f32).sin();
            let mut acc = 0.0;
            let cdf: Vec<f32> = (0..w)
                .map(|x| {
                    acc += luminance(image.texels[y * w + x]) * sin_theta + 1e-8;
                    acc
                })
                .collect();
            row_sums.push(acc);
            columns.push(cdf.iter().map(|c| c / acc).collect());
        }
        let total: f32 = row_sums.iter().sum();
        let mut acc = 0.0;
        let rows = row_sums
            .iter()
            .map(|s| {
                acc += s / total;
                acc
            })
            .collect();
        let density = (0..h)
            .flat_map(|y| {
                let sin_theta = (PI * (y as f32 + 0.5) / h as f32).sin();
                let image = &image;
                (0..w).map(move |x| {
                    (luminance(image.texels[y * w + x]) * sin_theta + 1e-8) / total * (w * h) as f32
                })
            })
            .collect();
        // Each pixel spans (2 pi / w) (pi / h) sin(theta) of solid angle, so the sum of
        // luminance times sin(theta) over the pixels, so weighted and divided by 4 pi,
        // is the average over the sphere.
        let average = total / (w * h) as f32 * (2.0 * PI * PI) / (4.0 * PI);
        EnvImage {
            image,
            intensity,
            rotation: rotation_deg / 360.0,
            rows,
            columns,
            density,
            average,
        }
    }

    /// The image's luminance averaged over the sphere of directions.
    fn average_luminance(&self) -> f32 {
        self.average * self.intensity
    }

    fn uv(&self, d: Vec3) -> Vec2 {
        let u = (d.x.atan2(-d.z) / (2.0 * PI) + 0.5 - self.rotation).rem_euclid(1.0);
        let v = d.y.clamp(-1.0, 1.0).acos() / PI;
        Vec2::new(u, v)
    }

    fn direction(&self, uv: Vec2) -> Vec3 {
        let phi = (uv.x - 0.5 + self.rotation) * 2.0 * PI;
        let theta = uv.y * PI;
        Vec3::new(
            theta.sin() * phi.sin(),
            theta.cos(),
            -theta.sin() * phi.cos(),
        )
    }

    fn radiance(&self, d: Vec3) -> Vec3 {
        self.image.nearest(self.uv(d)) * self.intensity
    }

    fn pixel(&self, uv: Vec2) -> usize {
        let (w, h) = (self.image.width as usize, self.image.height as usize);
        let x = ((uv.x * w as f32) as usize).min(w - 1);
        let y = ((uv.y * h as f32) as usize).min(h - 1);
        y * w + x
    }

    /// Solid-angle density of sampling direction `d`.
    fn pdf(&self, d: Vec3) -> f32 {
        let uv = self.uv(d);
        let sin_theta = (uv.y * PI).sin();
        if sin_theta <= 1e-6 {
            return 0.0;
        }
        self.density[self.pixel(uv)] / (2.0 * PI * PI * sin_theta)
    }

    fn sample(&self, u1: f32, u2: f32, u3: f32, u4: f32) -> (Vec3, f32) {
        let (w, h) = (self.image.width as f32, self.image.height as f32);
        let y = pick(&self.rows, u1);
        let x = pick(&self.columns[y], u2);
        let uv = Vec2::new((x as f32 + u3) / w, (y as f32 + u4) / h);
        let d = self.direction(uv);
        (d, self.pdf(d))
    }
}

impl Lights {
    pub fn new(scene: &Scene, accel: &Accel) -> Lights {
        let mut emitters = Vec::new();
        let mut first_emitter = vec![None; scene.objects.len()];
        let mut instances: Vec<_> = accel.instances().iter().collect();
        instances.sort_by_key(|i| i.object);
        for inst in instances {
            let Material::Emissive { radiance } = scene.materials[inst.material as usize] else {
                continue;
            };
            if luminance(radiance) <= 0.0 {
                continue;
            }
            first_emitter[inst.object as usize] = Some(emitters.len() as u32);
            let m = inst.object_to_world;
            match &*inst.geometry {
                Geometry::Sphere(s) => emitters.push(Emitter {
                    shape: EmitterShape::Sphere {
                        center: s.center,
                        radius: s.radius,
                        to_world: m,
                        to_object: m.inverse(),
                        normal_to_world: m.matrix3.inverse().transpose(),
                        det: m.matrix3.determinant().abs(),
                    },
                    le: radiance,
                    pick: 0.0,
                }),
                Geometry::Mesh(g) => {
                    // One emitter per source triangle, so a hit's triangle index finds it.
                    for tri in &g.mesh.indices {
                        let [a, b, c] =
                            tri.map(|i| m.transform_point3(g.mesh.positions[i as usize]));
                        emitters.push(Emitter {
                            shape: EmitterShape::Triangle(crate::geometry::Triangle::new(a, b, c)),
                            le: radiance,
                            pick: 0.0,
                        });
                    }
                }
            }
        }
        let power = |e: &Emitter| -> f32 {
            let area = match &e.shape {
                EmitterShape::Triangle(t) => t.area(),
                // An estimate for the choice between emitters; the density below is exact.
                EmitterShape::Sphere { radius, det, .. } => {
                    4.0 * PI * radius * radius * det.powf(2.0 / 3.0)
                }
            };
            if area.is_finite() {
                area * luminance(e.le)
            } else {
                0.0
            }
        };
        let total: f32 = emitters.iter().map(power).sum();
        let mut acc = 0.0;
        let mut emitter_cdf = Vec::with_capacity(emitters.len());
        for e in &mut emitters {
            e.pick = if total > 0.0 { power(e) / total } else { 0.0 };
            acc += e.pick;
            emitter_cdf.push(acc);
        }
        if total <= 0.0 {
            emitters.clear();
            emitter_cdf.clear();
            first_emitter.iter_mut().for_each(|f| *f = None);
        }
        let env_image = match scene.environment {
            Environment::Image {
                texture,
                intensity,
                rotation,
            } => Some(EnvImage::new(
                scene.images[texture].clone(),
                intensity,
                rotation,
            )),
            Environment::Constant { .. } => None,
        };
        let env_active = match scene.environment {
            Environment::Constant { radiance } => luminance(radiance) > 0.0,
            Environment::Image { intensity, .. } => intensity > 0.0,
        };
        // Strategies are chosen in proportion to an estimate of the power each light
        // brings to the scene (a ball of radius r around it), mixed with a uniform
        // choice so that no light is starved by a poor estimate.
        let r = accel.bounds().half_diagonal().max(1e-3);
        let mut powers = Vec::new();
        let area_strategy = (!emitters.is_empty()).then(|| {
            powers.push(PI * total);
            powers.len() - 1
        });
        for light in &scene.lights {
            powers.push(match *light {
                Light::Directional { irradiance, .. } => PI * r * r * luminance(irradiance),
                Light::Point { intensity, .. } => 4.0 * PI * luminance(intensity),
                Light::Spot {
                    intensity,
                    outer_angle,
                    ..
                } => 2.0 * PI * (1.0 - outer_angle.to_radians().cos()) * luminance(intensity),
            });
        }
        // An image environment can hold a sun and is worth sampling directly. A
        // constant one is not: cosine-weighted BSDF sampling already suits it, and
        // inside a room the sky is mostly hidden, so samples spent on it would be
        // samples taken from the lights that matter.
        let env_strategy = match (&env_image, env_active) {
            (Some(img), true) => {
                powers.push(4.0 * PI * PI * r * r * img.average_luminance());
                Some(powers.len() - 1)
            }
            _ => None,
        };
        let total_power: f32 = powers.iter().filter(|p| p.is_finite()).sum();
        let n = powers.len() as f32;
        let strategy_pick: Vec<f32> = powers
            .iter()
            .map(|&p| {
                let share = if total_power > 0.0 && p.is_finite() {
                    p / total_power
                } else {
                    1.0 / n
                };
                0.9 * share + 0.1 / n
            })
            .collect();
        let mut acc = 0.0;
        let strategy_cdf = strategy_pick
            .iter()
            .map(|p| {
                acc += p;
                acc
            })
            .collect();
        Lights {
            emitters,
            emitter_cdf,
            first_emitter,
            delta: scene.lights.clone(),
            environment: if env_active {
                scene.environment
            } else {
                Environment::default()
            },
            env_image,
            strategy_cdf,
            strategy_pick,
            area_strategy,
            env_strategy,
        }
    }

    /// Radiance arriving from direction `d` that hits nothing.
    pub fn environment(&self, d: Vec3) -> Vec3 {
        match (&self.environment, &self.env_image) {
            (Environment::Constant { radiance }, _) => *radiance,
            (Environment::Image { .. }, Some(img)) => img.radiance(d),
            _ => Vec3::ZERO,
        }
    }

    /// Density (solid angle) with which [`Lights::sample`] would pick direction `d`
    /// towards the environment.
    pub fn environment_pdf(&self, d: Vec3) -> f32 {
        let Some(k) = self.env_strategy else {
            return 0.0;
        };
        let p = match &self.env_image {
            Some(img) => img.pdf(d),
            None => 1.0 / (4.0 * PI),
        };
        p * self.strategy_pick[k]
    }

    /// Density (solid angle, seen from `from`) with which [`Lights::sample`] would pick
    /// the point of emitter surface `hit`.
    pub fn emitter_pdf(&self, hit: &SurfaceHit, from: Vec3) -> f32 {
        let Some(first) = self
            .first_emitter
            .get(hit.object as usize)
            .copied()
            .flatten()
        else {
            return 0.0;
        };
        let index = first as usize
            + if self.emitter_is_sphere(first) {
                0
            } else {
                hit.prim as usize
            };
        let Some(e) = self.emitters.get(index) else {
            return 0.0;
        };
        let to = hit.p - from;
        let dist2 = to.length_squared();
        let cos_l = hit.ng.dot(-to / dist2.sqrt()).abs();
        if cos_l <= 0.0 {
            return 0.0;
        }
        let pdf_area = self.area_density(e, hit.p);
        let Some(k) = self.area_strategy else {
            return 0.0;
        };
        self.strategy_pick[k] * e.pick * pdf_area * dist2 / cos_l
    }

    fn emitter_is_sphere(&self, index: u32) -> bool {
        matches!(
            self.emitters[index as usize].shape,
            EmitterShape::Sphere { .. }
        )
    }

    /// Density per unit world area of the uniform point sampling of emitter `e`.
    fn area_density(&self, e: &Emitter, p: Vec3) -> f32 {
        match &e.shape {
            EmitterShape::Triangle(t) => 1.0 / t.area(),
            EmitterShape::Sphere {
                center,
                radius,
                to_object,
                normal_to_world,
                det,
                ..
            } => {
                let local = to_object.transform_point3(p);
                let n = (local - *center) / *radius;
                // The affine map stretches area by det * |M^-T n|.
                let stretch = det * (*normal_to_world * Vec3A::from(n)).length();
                1.0 / (4.0 * PI * radius * radius * stretch)
            }
        }
    }

    /// Samples light arriving at `p`.
    pub fn sample(&self, p: Vec3, rng: &mut SampleRng) -> Option<LightSample> {
        if self.strategy_pick.is_empty() {
            return None;
        }
        let k = pick(&self.strategy_cdf, rng.uniform());
        let ps = self.strategy_pick[k];
        if Some(k) == self.area_strategy {
            return self.sample_emitter(p, rng, ps);
        }
        let first_delta = self.area_strategy.map_or(0, |a| a + 1);
        if let Some(light) = k.checked_sub(first_delta).and_then(|i| self.delta.get(i)) {
            return sample_delta(light, p, ps);
        }
        let (u1, u2, u3, u4) = (rng.uniform(), rng.uniform(), rng.uniform(), rng.uniform());
        let (wi, pdf) = match &self.env_image {
            Some(img) => img.sample(u1, u2, u3, u4),
            None => (uniform_sphere(u1, u2), 1.0 / (4.0 * PI)),
        };
        (pdf > 0.0).then(|| LightSample {
            wi,
            dist: f32::INFINITY,
            li: self.environment(wi),
            pdf: pdf * ps,
            delta: false,
        })
    }

    fn sample_emitter(&self, p: Vec3, rng: &mut SampleRng, ps: f32) -> Option<LightSample> {
        let e = &self.emitters[pick(&self.emitter_cdf, rng.uniform())];
        if e.pick <= 0.0 {
            return None;
        }
        let (u1, u2) = (rng.uniform(), rng.uniform());
        let (q, nl) = match &e.shape {
            EmitterShape::Triangle(t) => (t.sample(u1, u2), t.normal()),
            EmitterShape::Sphere {
                center,
                radius,
                to_world,
                normal_to_world,
                ..
            } => {
                let n = uniform_sphere(u1, u2);
                let q = to_world.transform_point3(*center + n * *radius);
                (q, Vec3::from(*normal_to_world * Vec3A::from(n)).normalize())
            }
        };
        let to = q - p;
        let dist2 = to.length_squared();
        let dist = dist2.sqrt();
        let wi = to / dist;
        // Emitters shine from their front side only.
        let cos_l = -nl.dot(wi);
        if cos_l <= 0.0 || !dist.is_finite() || dist <= 0.0 {
            return None;
        }
        let pdf = ps * e.pick * self.area_density(e, q) * dist2 / cos_l;
        Some(LightSample {
            wi,
            dist,
            li: e.le,
            pdf,
            delta: false,
        })
    }
}

fn sample_delta(light: &Light, p: Vec3, ps: f32) -> Option<LightSample> {
    match *light {
        Light::Directional {
            direction,
            irradiance,
        } => Some(LightSample {
            wi: -direction.normalize(),
            dist: f32::INFINITY,
            li: irradiance,
            pdf: ps,
            delta: true,
        }),
        Light::Point {
            position,
            intensity,
        } => {
            let to = position - p;
            let d2 = to.length_squared();
            let dist = d2.sqrt();
            (dist > 0.0).then(|| LightSample {
                wi: to / dist,
                dist,
                li: intensity / d2,
                pdf: ps,
                delta: true,
            })
        }
        Light::Spot {
            position,
            direction,
            intensity,
            inner_angle,
            outer_angle,
        } => {
            let to = position - p;
            let d2 = to.length_squared();
            let dist = d2.sqrt();
            if dist <= 0.0 {
                return None;
            }
            let wi = to / dist;
            let cos = (-wi).dot(direction.normalize());
            let (cos_inner, cos_outer) = (
                inner_angle.to_radians().cos(),
                outer_angle.to_radians().cos(),
            );
            let falloff = if cos >= cos_inner {
                1.0
            } else if cos <= cos_outer {
                0.0
            } else {
                let x = (cos - cos_outer) / (cos_inner - cos_outer).max(1e-6);
                x * x * (3.0 - 2.0 * x)
            };
            (falloff > 0.0).then(|| LightSample {
                wi,
                dist,
                li: intensity * (falloff / d2),
                pdf: ps,
                delta: true,
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accel::Accel;
    use crate::camera::Camera;
    use crate::scene::{Texture, TextureSource};
    use std::path::Path;

    fn env_scene(a: Vec3, b: Vec3, rotation: f32) -> Scene {
        let mut scene = Scene::empty(Camera {
            eye: Vec3::Z,
            target: Vec3::ZERO,
            up: Vec3::Y,
            fov: 40.0,
        });
        scene.textures.push(Texture {
            name: "sky".into(),
            source: TextureSource::Checker { squares: 8, a, b },
        });
        scene.environment = Environment::Image {
            texture: 0,
            intensity: 1.5,
            rotation,
        };
        scene.load_textures(Path::new(".")).unwrap();
        scene
    }

    /// The environment's sampling density integrates to one over the sphere, and
    /// importance-sampled estimates of the total incident power agree with uniform ones.
    #[test]
    fn environment_sampling_matches_its_density_and_radiance() {
        let scene = env_scene(Vec3::splat(0.1), Vec3::new(3.0, 2.0, 1.0), 30.0);
        let accel = Accel::build(&scene, None);
        let lights = Lights::new(&scene, &accel);
        let mut rng = SampleRng::for_sample(1, 2, 3, 4);
        let n = 200_000;
        let (mut pdf_integral, mut uniform_power) = (0.0f64, Vec3::ZERO);
        for _ in 0..n {
            let d = uniform_sphere(rng.uniform(), rng.uniform());
            pdf_integral += lights.environment_pdf(d) as f64 * 4.0 * PI as f64;
            uniform_power += lights.environment(d) * 4.0 * PI;
        }
        assert!(
            (pdf_integral / n as f64 - 1.0).abs() < 0.01,
            "density integrates to {}",
            pdf_integral / n as f64
        );
        let uniform_power = uniform_power / n as f32;
        let mut sampled_power = Vec3::ZERO;
        let mut none = 0;
        for _ in 0..n {
            // Directions at the very poles have zero density and are not returned.
            let Some(s) = lights.sample(Vec3::ZERO, &mut rng) else {
                none += 1;
                continue;
            };
            assert!(!s.delta && s.dist.is_infinite());
            assert!((s.pdf - lights.environment_pdf(s.wi)).abs() < 1e-3 * s.pdf.max(1.0));
            sampled_power += s.li / s.pdf;
        }
        assert!(none < n / 10_000, "{none} samples failed");
        let sampled_power = sampled_power / n as f32;
        assert!(
            ((sampled_power - uniform_power) / uniform_power)
                .abs()
                .max_element()
                < 0.02,
            "importance sampled {sampled_power} vs uniform {uniform_power}"
        );
    }

    /// White furnace under an image environment: a white diffuse sphere in an image of
    /// constant radiance disappears into it.
    #[test]
    fn white_furnace_under_an_image_environment() {
        let mut scene = env_scene(Vec3::ONE, Vec3::ONE, 0.0);
        scene.camera = Camera {
            eye: Vec3::new(0.0, 0.0, 3.0),
            target: Vec3::ZERO,
            up: Vec3::Y,
            fov: 40.0,
        };
        scene.materials.push(Material::Diffuse {
            albedo: Vec3::ONE,
            texture: None,
        });
        scene.objects.push(crate::scene::Object {
            name: "ball".into(),
            material: 0,
            shape: crate::scene::Shape::Sphere {
                center: Vec3::ZERO,
                radius: 1.0,
            },
            transform: crate::scene::Transform::default(),
        });
        scene.max_bounces = 64;
        let mut r = crate::Renderer::new(&scene, 16, 16).unwrap();
        r.set_preview_scales(&[]);
        for _ in 0..64 {
            r.render_next(&|| false).unwrap();
        }
        let mean = r.film().mean();
        assert!(
            (mean - Vec3::splat(1.5)).abs().max_element() < 0.015,
            "{mean}"
        );
    }
}
