//! Which processor-specific code paths run, decided once per process.
//!
//! The workspace is built for baseline x86-64 (SSE2), so the binary runs on any
//! x86-64 processor. The RGB to I420 row kernels also have a version compiled with
//! AVX2, which runs when the processor has the x86-64-v3 features: the choice is made
//! here, once, and the converter asks once per row.
//!
//! Setting [`PORTABLE_VAR`] (`STREAMTRACER_PORTABLE=1`) forces the portable paths,
//! to test them on a processor that has AVX2 or to compare the two. It is read the
//! first time a kernel is chosen; changing it later has no effect.
//!
//! `render_core::cpu` makes the same choice from the same variable (the two crates
//! know nothing of each other, so each has this small module).

use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that forces the portable code paths when set to
/// anything but empty or `0`.
pub const PORTABLE_VAR: &str = "STREAMTRACER_PORTABLE";

/// A family of code paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// Plain code for any processor (SSE2 on x86-64, whatever the target has elsewhere).
    Portable,
    /// The x86-64-v3 kernels (this crate's use AVX2; the processor has FMA and BMI
    /// too, so that both crates choose alike).
    Avx2Fma,
}

impl Simd {
    /// A short name for logs and benchmark output.
    pub fn name(self) -> &'static str {
        match self {
            Simd::Portable => "portable",
            Simd::Avx2Fma => "avx2+fma",
        }
    }
}

/// 0: not decided yet; otherwise 1 + the index of the `Simd` chosen.
static CHOSEN: AtomicU8 = AtomicU8::new(0);

/// The code paths this process runs: [`Simd::Avx2Fma`] when the processor has those
/// features and [`PORTABLE_VAR`] is not set, else [`Simd::Portable`].
#[inline]
pub fn simd() -> Simd {
    match CHOSEN.load(Ordering::Relaxed) {
        1 => Simd::Portable,
        2 => Simd::Avx2Fma,
        _ => choose(),
    }
}

#[cold]
fn choose() -> Simd {
    let chosen = if portable_forced(std::env::var_os(PORTABLE_VAR).as_deref()) {
        Simd::Portable
    } else {
        hardware()
    };
    // Every thread that races here computes the same answer.
    CHOSEN.store(
        match chosen {
            Simd::Portable => 1,
            Simd::Avx2Fma => 2,
        },
        Ordering::Relaxed,
    );
    chosen
}

/// Whether a value of [`PORTABLE_VAR`] forces the portable paths.
pub fn portable_forced(value: Option<&std::ffi::OsStr>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "0")
}

/// The best code paths the processor supports, whatever [`PORTABLE_VAR`] says (tests
/// comparing the kernels use this, so that they run both on any run).
pub fn hardware() -> Simd {
    #[cfg(target_arch = "x86_64")]
    {
        if std::is_x86_feature_detected!("avx2")
            && std::is_x86_feature_detected!("fma")
            && std::is_x86_feature_detected!("bmi1")
            && std::is_x86_feature_detected!("bmi2")
            && std::is_x86_feature_detected!("lzcnt")
            && std::is_x86_feature_detected!("popcnt")
        {
            return Simd::Avx2Fma;
        }
    }
    Simd::Portable
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_portable_variable_is_read_as_documented() {
        use std::ffi::OsStr;
        assert!(!portable_forced(None));
        assert!(!portable_forced(Some(OsStr::new(""))));
        assert!(!portable_forced(Some(OsStr::new("0"))));
        assert!(portable_forced(Some(OsStr::new("1"))));
        assert!(portable_forced(Some(OsStr::new("yes"))));
    }

    /// The process runs the paths the variable and the processor allow: the portable
    /// ones when `STREAMTRACER_PORTABLE` is set (scripts/test.sh runs this crate's
    /// tests a second time so), the processor's best otherwise.
    #[test]
    fn the_chosen_paths_follow_the_variable_and_the_processor() {
        let forced = portable_forced(std::env::var_os(PORTABLE_VAR).as_deref());
        let expected = if forced { Simd::Portable } else { hardware() };
        assert_eq!(simd(), expected);
        println!(
            "code paths: {} (processor: {})",
            simd().name(),
            hardware().name()
        );
    }
}
