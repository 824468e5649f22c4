//! Scattering functions, evaluated and sampled in a local shading frame where the
//! normal is +z.
//!
//! - Lambertian diffuse.
//! - Conductors: GGX (Trowbridge–Reitz) microfacets with Smith height-correlated
//!   masking and Schlick's Fresnel from the reflectance at normal incidence; a
//!   perfect mirror when smooth.
//! - Dielectrics: GGX reflection and transmission after Walter et al. (2007), with
//!   exact dielectric Fresnel; a smooth interface when smooth. Transmitted radiance
//!   is scaled by 1/eta^2, as radiance (not importance) is transported.
//!
//! Rough lobes are sampled from the distribution of visible normals (Heitz 2018), so
//! the sample weight is close to constant. `f` values returned here include the
//! cosine of the incident direction.

use crate::sampling::cosine_hemisphere_local;
use glam::Vec3;
use std::f32::consts::{FRAC_1_PI, PI};

/// Below this GGX alpha a surface is treated as perfectly smooth.
const SMOOTH_ALPHA: f32 = 1e-3;

/// A BSDF at one shading point.
#[derive(Clone, Copy, Debug)]
pub enum Bsdf {
    Diffuse {
        albedo: Vec3,
    },
    Conductor {
        f0: Vec3,
        alpha: f32,
    },
    /// `eta` is the interior index over the exterior one; the frame's +z is the
    /// exterior (front) side.
    Dielectric {
        eta: f32,
        alpha: f32,
        tint: Vec3,
    },
}

/// A sampled direction.
#[derive(Clone, Copy, Debug)]
pub struct BsdfSample {
    pub wi: Vec3,
    /// `f * cos / pdf`.
    pub weight: Vec3,
    /// Solid-angle density; meaningless for a delta lobe.
    pub pdf: f32,
    /// Sampled from a perfectly specular lobe (no light sampling could have found it).
    pub delta: bool,
}

/// Perceptual roughness to GGX alpha.
pub fn alpha_from_roughness(roughness: f32) -> f32 {
    roughness * roughness
}

fn reflect(w: Vec3, n: Vec3) -> Vec3 {
    2.0 * w.dot(n) * n - w
}

/// Refracts `w` through a boundary with normal `n` (on `w`'s side), where `eta` is the
/// transmitted index over the incident one; `None` on total internal reflection.
fn refract(w: Vec3, n: Vec3, eta: f32) -> Option<Vec3> {
    let cos_i = w.dot(n);
    let sin2_t = (1.0 - cos_i * cos_i).max(0.0) / (eta * eta);
    if sin2_t >= 1.0 {
        return None;
    }
    let cos_t = (1.0 - sin2_t).sqrt();
    Some((-w / eta + n * (cos_i / eta - cos_t)).normalize())
}

/// Unpolarised Fresnel reflectance for `cos_i` (on the incident side) and `eta` the
/// transmitted index over the incident one.
pub fn fresnel_dielectric(cos_i: f32, eta: f32) -> f32 {
    let cos_i = cos_i.clamp(-1.0, 1.0).abs();
    let sin2_t = (1.0 - cos_i * cos_i) / (eta * eta);
    if sin2_t >= 1.0 {
        return 1.0;
    }
    let cos_t = (1.0 - sin2_t).sqrt();
    let r_par = (eta * cos_i - cos_t) / (eta * cos_i + cos_t);
    let r_perp = (cos_i - eta * cos_t) / (cos_i + eta * cos_t);
    0.5 * (r_par * r_par + r_perp * r_perp)
}

fn schlick(f0: Vec3, cos: f32) -> Vec3 {
    let m = (1.0 - cos.clamp(0.0, 1.0)).powi(5);
    f0 + (Vec3::ONE - f0) * m
}

/// The GGX normal distribution.
fn ggx_d(h: Vec3, alpha: f32) -> f32 {
    let a2 = alpha * alpha;
    let c2 = h.z * h.z;
    let denom = c2 * (a2 - 1.0) + 1.0;
    a2 / (PI * denom * denom)
}

/// Smith's auxiliary function for GGX.
fn ggx_lambda(w: Vec3, alpha: f32) -> f32 {
    let c2 = w.z * w.z;
    if c2 >= 1.0 {
        return 0.0;
    }
    let tan2 = (1.0 - c2) / c2.max(1e-12);
    ((1.0 + alpha * alpha * tan2).sqrt() - 1.0) * 0.5
}

fn ggx_g1(w: Vec3, alpha: f32) -> f32 {
    1.0 / (1.0 + ggx_lambda(w, alpha))
}

/// Height-correlated masking-shadowing.
fn ggx_g2(wo: Vec3, wi: Vec3, alpha: f32) -> f32 {
    1.0 / (1.0 + ggx_lambda(wo, alpha) + ggx_lambda(wi, alpha))
}

/// Density of visible normals seen from `wo` (upper hemisphere).
fn ggx_visible_d(wo: Vec3, h: Vec3, alpha: f32) -> f32 {
    ggx_g1(wo, alpha) * wo.dot(h).max(0.0) * ggx_d(h, alpha) / wo.z.abs().max(1e-12)
}

/// Samples a visible microfacet normal for `wo` in the upper hemisphere (Heitz 2018).
fn sample_ggx_visible(wo: Vec3, alpha: f32, u1: f32, u2: f32) -> Vec3 {
    let vh = Vec3::new(alpha * wo.x, alpha * wo.y, wo.z).normalize();
    let lensq = vh.x * vh.x + vh.y * vh.y;
    let t1 = if lensq > 1e-12 {
        Vec3::new(-vh.y, vh.x, 0.0) / lensq.sqrt()
    } else {
        Vec3::X
    };
    let t2 = vh.cross(t1);
    let r = u1.sqrt();
    let phi = 2.0 * PI * u2;
    let p1 = r * phi.cos();
    let s = 0.5 * (1.0 + vh.z);
    let p2 = (1.0 - s) * (1.0 - p1 * p1).max(0.0).sqrt() + s * r * phi.sin();
    let nh = t1 * p1 + t2 * p2 + vh * (1.0 - p1 * p1 - p2 * p2).max(0.0).sqrt();
    Vec3::new(alpha * nh.x, alpha * nh.y, nh.z.max(1e-6)).normalize()
}

impl Bsdf {
    /// Whether every lobe is a delta (no light sampling is useful).
    /// The surface's colour as a denoiser's albedo guide wants it (0..=1): the diffuse
    /// albedo, a metal's reflectance at normal incidence, a dielectric's tint.
    pub fn albedo(&self) -> Vec3 {
        match *self {
            Bsdf::Diffuse { albedo } => albedo,
            Bsdf::Conductor { f0, .. } => f0,
            Bsdf::Dielectric { tint, .. } => tint,
        }
        .clamp(Vec3::ZERO, Vec3::ONE)
    }

    pub fn is_delta(&self) -> bool {
        match *self {
            Bsdf::Diffuse { .. } => false,
            Bsdf::Conductor { alpha, .. } | Bsdf::Dielectric { alpha, .. } => alpha < SMOOTH_ALPHA,
        }
    }

    /// `f * |cos(wi)|` and the density with which [`Bsdf::sample`] picks `wi`.
    pub fn eval(&self, wo: Vec3, wi: Vec3) -> (Vec3, f32) {
        match *self {
            Bsdf::Diffuse { albedo } => {
                // Two-sided: reflect on whichever side `wo` is.
                if wo.z * wi.z <= 0.0 {
                    return (Vec3::ZERO, 0.0);
                }
                let c = wi.z.abs();
                (albedo * FRAC_1_PI * c, c * FRAC_1_PI)
            }
            Bsdf::Conductor { f0, alpha } => {
                if alpha < SMOOTH_ALPHA || wo.z * wi.z <= 0.0 {
                    return (Vec3::ZERO, 0.0);
                }
                // Work on the side of `wo` (two-sided).
                let s = wo.z.signum();
                let (wo, wi) = (wo * s, wi * s);
                let h = (wo + wi).normalize();
                let f = schlick(f0, wo.dot(h))
                    * (ggx_d(h, alpha) * ggx_g2(wo, wi, alpha) / (4.0 * wo.z));
                let pdf = ggx_visible_d(wo, h, alpha) / (4.0 * wo.dot(h).max(1e-12));
                (f, pdf)
            }
            Bsdf::Dielectric { eta, alpha, tint } => {
                if alpha < SMOOTH_ALPHA || wo.z == 0.0 || wi.z == 0.0 {
                    return (Vec3::ZERO, 0.0);
                }
                let reflect = wo.z * wi.z > 0.0;
                // Relative index seen from `wo`'s side: transmitted over incident.
                let etap = if wo.z > 0.0 { eta } else { 1.0 / eta };
                let mut h = if reflect { wo + wi } else { wi * etap + wo };
                if h.length_squared() < 1e-12 {
                    return (Vec3::ZERO, 0.0);
                }
                h = h.normalize();
                if h.z < 0.0 {
                    h = -h;
                }
                // Microfacets facing away from either direction contribute nothing.
                if h.dot(wi) * wi.z < 0.0 || h.dot(wo) * wo.z < 0.0 {
                    return (Vec3::ZERO, 0.0);
                }
                let f = fresnel_dielectric(wo.dot(h), etap);
                // Sampling happens from the upper-hemisphere copy of `wo`.
                let wo_up = wo * wo.z.signum();
                let d = ggx_d(h, alpha);
                let g = ggx_g2(wo, wi, alpha);
                let vis = ggx_visible_d(wo_up, h, alpha);
                if reflect {
                    let value = d * g * f / (4.0 * wo.z.abs());
                    let pdf = vis / (4.0 * wo.dot(h).abs().max(1e-12)) * f;
                    (Vec3::splat(value), pdf)
                } else {
                    let denom = wi.dot(h) + wo.dot(h) / etap;
                    let denom2 = denom * denom;
                    if denom2 < 1e-12 {
                        return (Vec3::ZERO, 0.0);
                    }
                    let dwh_dwi = wi.dot(h).abs() / denom2;
                    let value = d * g * (1.0 - f) * (wi.dot(h) * wo.dot(h)).abs()
                        / (denom2 * wo.z.abs())
                        / (etap * etap);
                    let pdf = vis * dwh_dwi * (1.0 - f);
                    (tint * value, pdf)
                }
            }
        }
    }

    /// Samples an incident direction for `wo` from three uniform numbers.
    pub fn sample(&self, wo: Vec3, u1: f32, u2: f32, uc: f32) -> Option<BsdfSample> {
        match *self {
            Bsdf::Diffuse { albedo } => {
                if wo.z == 0.0 {
                    return None;
                }
                let mut wi = cosine_hemisphere_local(u1, u2);
                if wo.z < 0.0 {
                    wi.z = -wi.z;
                }
                // Cosine sampling makes f cos / pdf equal to the albedo.
                Some(BsdfSample {
                    wi,
                    weight: albedo,
                    pdf: wi.z.abs() * FRAC_1_PI,
                    delta: false,
                })
            }
            Bsdf::Conductor { f0, alpha } => {
                let s = if wo.z < 0.0 { -1.0 } else { 1.0 };
                let wo_up = wo * s;
                if wo_up.z <= 0.0 {
                    return None;
                }
                if alpha < SMOOTH_ALPHA {
                    let wi = Vec3::new(-wo_up.x, -wo_up.y, wo_up.z) * s;
                    return Some(BsdfSample {
                        wi,
                        weight: schlick(f0, wo_up.z),
                        pdf: 0.0,
                        delta: true,
                    });
                }
                let h = sample_ggx_visible(wo_up, alpha, u1, u2);
                let wi_up = reflect(wo_up, h);
                if wi_up.z <= 0.0 {
                    return None;
                }
                let weight = schlick(f0, wo_up.dot(h))
                    * (ggx_g2(wo_up, wi_up, alpha) / ggx_g1(wo_up, alpha));
                let pdf = ggx_visible_d(wo_up, h, alpha) / (4.0 * wo_up.dot(h).max(1e-12));
                Some(BsdfSample {
                    wi: wi_up * s,
                    weight,
                    pdf,
                    delta: false,
                })
            }
            Bsdf::Dielectric { eta, alpha, tint } => {
                if wo.z == 0.0 {
                    return None;
                }
                let etap = if wo.z > 0.0 { eta } else { 1.0 / eta };
                let s = wo.z.signum();
                let n = Vec3::Z * s;
                if alpha < SMOOTH_ALPHA {
                    let f = fresnel_dielectric(wo.z.abs(), etap);
                    if uc < f {
                        let wi = Vec3::new(-wo.x, -wo.y, wo.z);
                        return Some(BsdfSample {
                            wi,
                            weight: Vec3::ONE,
                            pdf: 0.0,
                            delta: true,
                        });
                    }
                    let wi = refract(wo, n, etap)?;
                    return Some(BsdfSample {
                        wi,
                        weight: tint / (etap * etap),
                        pdf: 0.0,
                        delta: true,
                    });
                }
                let wo_up = wo * s;
                let h_up = sample_ggx_visible(wo_up, alpha, u1, u2);
                let h = h_up * s; // on wo's side
                let f = fresnel_dielectric(wo.dot(h), etap);
                let wi = if uc < f {
                    let wi = reflect(wo, h);
                    if wi.z * wo.z <= 0.0 {
                        return None;
                    }
                    wi
                } else {
                    let wi = refract(wo, h, etap)?;
                    if wi.z * wo.z >= 0.0 {
                        return None;
                    }
                    wi
                };
                let (value, pdf) = self.eval(wo, wi);
                if pdf <= 0.0 {
                    return None;
                }
                Some(BsdfSample {
                    wi,
                    weight: value / pdf,
                    pdf,
                    delta: false,
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sampling::SampleRng;

    fn dir(theta_deg: f32, phi_deg: f32) -> Vec3 {
        let (t, p) = (theta_deg.to_radians(), phi_deg.to_radians());
        Vec3::new(t.sin() * p.cos(), t.sin() * p.sin(), t.cos())
    }

    /// For every BSDF, the mean sample weight estimates the albedo, and so must the
    /// integral of `eval` against uniform sphere sampling: this ties `sample`, `eval`
    /// and the pdfs together.
    fn check_consistency(bsdf: Bsdf, wo: Vec3) {
        let mut rng = SampleRng::for_sample(3, 4, 5, 6);
        let n = 400_000;
        let mut by_sampling = Vec3::ZERO;
        let mut pdf_errors = 0;
        for _ in 0..n {
            if let Some(s) = bsdf.sample(wo, rng.uniform(), rng.uniform(), rng.uniform()) {
                by_sampling += s.weight;
                let (f, pdf) = bsdf.eval(wo, s.wi);
                if (pdf - s.pdf).abs() > 1e-3 * s.pdf.max(1.0)
                    || (f / pdf - s.weight).abs().max_element()
                        > 1e-2 * s.weight.max_element().max(1.0)
                {
                    pdf_errors += 1;
                }
            }
        }
        by_sampling /= n as f32;
        let mut by_uniform = Vec3::ZERO;
        for _ in 0..n {
            let wi = crate::sampling::uniform_sphere(rng.uniform(), rng.uniform());
            by_uniform += bsdf.eval(wo, wi).0 * (4.0 * PI);
        }
        by_uniform /= n as f32;
        assert!(
            pdf_errors < n / 1000,
            "{bsdf:?}: sample and eval disagree {pdf_errors} times"
        );
        let diff = (by_sampling - by_uniform).abs().max_element();
        let scale = by_uniform.max_element().max(0.1);
        assert!(
            diff < 0.03 * scale,
            "{bsdf:?} wo {wo}: sampled albedo {by_sampling} vs integrated {by_uniform}"
        );
        // Energy: no more than comes in, except that radiance leaving a denser medium
        // is concentrated by eta^2 into a narrower cone.
        let bound = match bsdf {
            Bsdf::Dielectric { eta, .. } if wo.z < 0.0 => eta * eta,
            _ => 1.0,
        };
        assert!(
            by_sampling.max_element() <= bound * 1.02,
            "{bsdf:?}: albedo {by_sampling} above {bound}"
        );
    }

    #[test]
    fn rough_bsdfs_sample_what_they_evaluate() {
        for wo in [dir(10.0, 20.0), dir(60.0, 200.0), dir(170.0, 40.0)] {
            check_consistency(
                Bsdf::Diffuse {
                    albedo: Vec3::splat(0.8),
                },
                wo,
            );
            check_consistency(
                Bsdf::Conductor {
                    f0: Vec3::new(0.9, 0.6, 0.3),
                    alpha: 0.3,
                },
                wo,
            );
            check_consistency(
                Bsdf::Conductor {
                    f0: Vec3::ONE,
                    alpha: 0.8,
                },
                wo,
            );
            check_consistency(
                Bsdf::Dielectric {
                    eta: 1.5,
                    alpha: 0.3,
                    tint: Vec3::ONE,
                },
                wo,
            );
        }
    }

    /// A white rough conductor loses energy only to single-scattering masking, which
    /// is small for low roughness: its albedo at normal incidence is close to one.
    #[test]
    fn white_conductor_reflects_almost_everything_at_low_roughness() {
        let bsdf = Bsdf::Conductor {
            f0: Vec3::ONE,
            alpha: 0.1,
        };
        let mut rng = SampleRng::for_sample(1, 2, 3, 4);
        let n = 100_000;
        let sum: f32 = (0..n)
            .filter_map(|_| bsdf.sample(Vec3::Z, rng.uniform(), rng.uniform(), rng.uniform()))
            .map(|s| s.weight.x)
            .sum();
        let albedo = sum / n as f32;
        assert!(albedo > 0.97 && albedo <= 1.0 + 1e-3, "{albedo}");
    }

    #[test]
    fn smooth_dielectric_splits_by_fresnel() {
        let bsdf = Bsdf::Dielectric {
            eta: 1.5,
            alpha: 0.0,
            tint: Vec3::ONE,
        };
        let mut rng = SampleRng::for_sample(9, 9, 9, 9);
        let n = 100_000;
        let reflected = (0..n)
            .filter_map(|_| bsdf.sample(Vec3::Z, 0.0, 0.0, rng.uniform()))
            .filter(|s| s.wi.z > 0.0)
            .count();
        assert!((reflected as f32 / n as f32 - 0.04).abs() < 0.005);
        // Refraction into the denser side bends towards the normal and scales radiance by 1/eta^2.
        let s = bsdf.sample(dir(30.0, 0.0), 0.0, 0.0, 0.99).unwrap();
        assert!((s.wi.x.abs() - 0.5 / 1.5).abs() < 1e-5 && s.wi.z < 0.0);
        assert!((s.weight.x - 1.0 / 2.25).abs() < 1e-5);
        assert!((fresnel_dielectric(1.0, 1.5) - 0.04).abs() < 1e-5);
        assert_eq!(
            fresnel_dielectric(0.1, 1.0 / 1.5),
            1.0,
            "total internal reflection"
        );
    }
}
