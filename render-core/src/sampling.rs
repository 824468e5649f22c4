//! Deterministic random numbers for sampling.
//!
//! Each sample of each pixel gets its own generator, seeded by hashing the pixel
//! coordinates, the sample index and the scene seed. No state is shared between
//! threads, so the rendered image is the same whatever the thread count or the order
//! in which tiles are scheduled.

use glam::Vec3;
use std::f32::consts::PI;

/// A small, fast generator (PCG-XSH-RR 64/32) seeded per sample.
#[derive(Clone, Debug)]
pub struct SampleRng {
    state: u64,
}

/// Mixes 64 bits thoroughly (the SplitMix64 finaliser).
fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl SampleRng {
    /// The generator for sample `sample` of pixel `(x, y)` under `seed`.
    pub fn for_sample(x: u32, y: u32, sample: u32, seed: u64) -> Self {
        let key =
            mix64(seed ^ mix64(((x as u64) << 32) | y as u64) ^ mix64(sample as u64 + 0x9e37));
        let mut rng = SampleRng { state: key };
        rng.next_u32();
        rng
    }

    pub fn next_u32(&mut self) -> u32 {
        let old = self.state;
        self.state = old
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1_442_695_040_888_963_407);
        let xorshifted = (((old >> 18) ^ old) >> 27) as u32;
        let rot = (old >> 59) as u32;
        xorshifted.rotate_right(rot)
    }

    /// A uniform number in [0, 1).
    pub fn uniform(&mut self) -> f32 {
        (self.next_u32() >> 8) as f32 * (1.0 / 16_777_216.0)
    }
}

/// An orthonormal basis around `n` (Duff et al., "Building an Orthonormal Basis, Revisited").
pub fn basis(n: Vec3) -> (Vec3, Vec3) {
    let sign = 1.0f32.copysign(n.z);
    let a = -1.0 / (sign + n.z);
    let b = n.x * n.y * a;
    (
        Vec3::new(1.0 + sign * n.x * n.x * a, sign * b, -sign * n.x),
        Vec3::new(b, sign + n.y * n.y * a, -n.y),
    )
}

/// A cosine-weighted direction around `n`; its density is `cos(theta) / pi`.
pub fn cosine_hemisphere(n: Vec3, u1: f32, u2: f32) -> Vec3 {
    let r = u1.sqrt();
    let phi = 2.0 * PI * u2;
    let (t, b) = basis(n);
    let z = (1.0 - u1).max(0.0).sqrt();
    (t * (r * phi.cos()) + b * (r * phi.sin()) + n * z).normalize()
}

/// A cosine-weighted direction around +z; its density is `z / pi`.
pub fn cosine_hemisphere_local(u1: f32, u2: f32) -> Vec3 {
    let r = u1.sqrt();
    let phi = 2.0 * PI * u2;
    Vec3::new(r * phi.cos(), r * phi.sin(), (1.0 - u1).max(0.0).sqrt())
}

/// A uniformly distributed direction on the unit sphere.
pub fn uniform_sphere(u1: f32, u2: f32) -> Vec3 {
    let z = 1.0 - 2.0 * u1;
    let r = (1.0 - z * z).max(0.0).sqrt();
    let phi = 2.0 * PI * u2;
    Vec3::new(r * phi.cos(), r * phi.sin(), z)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_key_same_sequence_and_different_keys_differ() {
        let mut a = SampleRng::for_sample(3, 4, 5, 6);
        let mut b = SampleRng::for_sample(3, 4, 5, 6);
        let mut c = SampleRng::for_sample(4, 3, 5, 6);
        let sa: Vec<u32> = (0..8).map(|_| a.next_u32()).collect();
        let sb: Vec<u32> = (0..8).map(|_| b.next_u32()).collect();
        let sc: Vec<u32> = (0..8).map(|_| c.next_u32()).collect();
        assert_eq!(sa, sb);
        assert_ne!(sa, sc);
    }

    #[test]
    fn uniform_mean_is_one_half() {
        let mut rng = SampleRng::for_sample(0, 0, 0, 1);
        let n = 100_000;
        let mean: f64 = (0..n).map(|_| rng.uniform() as f64).sum::<f64>() / n as f64;
        assert!((mean - 0.5).abs() < 0.005, "mean {mean}");
    }

    #[test]
    fn cosine_samples_lie_in_the_hemisphere_with_mean_cosine_two_thirds() {
        let n = Vec3::new(0.3, -0.5, 0.8).normalize();
        let mut rng = SampleRng::for_sample(1, 2, 3, 4);
        let count = 50_000;
        let mut sum = 0.0f64;
        for _ in 0..count {
            let d = cosine_hemisphere(n, rng.uniform(), rng.uniform());
            let c = d.dot(n);
            assert!(c >= -1e-5);
            sum += c as f64;
        }
        // E[cos] under the density cos/pi over the hemisphere is 2/3.
        assert!((sum / count as f64 - 2.0 / 3.0).abs() < 0.01);
    }
}
