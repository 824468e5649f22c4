//! Which processor-specific code paths run, decided once per process.
//!
//! The workspace is built for baseline x86-64 (SSE2), so the binary runs on any
//! x86-64 processor. The kernels that gain from wider vectors (the eight-wide BVH
//! node test, tone mapping) also have a version compiled with AVX2 and FMA, which
//! runs when the processor has them: the choice is made here, once, and each caller
//! asks once per row or per ray query, never per node or per pixel.
//!
//! Setting [`PORTABLE_VAR`] (`STREAMTRACER_PORTABLE=1`) forces the portable paths,
//! to test them on a processor that has AVX2 or to compare the two. It is read the
//! first time a kernel is chosen; changing it later has no effect.
//!
//! The encoder crate makes the same choice from the same variable (`encoder::cpu`).

use std::sync::atomic::{AtomicU8, Ordering};

/// The environment variable that forces the portable code paths when set to
/// anything but empty or `0`.
pub const PORTABLE_VAR: &str = "STREAMTRACER_PORTABLE";

/// A family of code paths.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Simd {
    /// Plain code for any processor (SSE2 on x86-64, whatever the target has elsewhere).
    Portable,
    /// The x86-64-v3 kernels: AVX2, FMA and BMI.
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

    /// The workspace builds for baseline x86-64, so that the binary runs on any x86-64
    /// processor; the AVX2 kernels are chosen at run time. Built for x86-64-v3 (as
    /// `.cargo/config.toml` once asked) the whole workspace used AVX2 unconditionally
    /// and the binary stopped with SIGILL on processors without it.
    ///
    /// This checks the repository's build configuration, not the features this test
    /// binary was compiled with: someone may deliberately build with
    /// `RUSTFLAGS="-C target-cpu=native"` for their own machine, which is their choice,
    /// but no file of the repository may raise the target for everyone.
    #[test]
    fn the_build_does_not_assume_avx2_so_it_runs_on_any_x86_64() {
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .parent()
            .expect("render-core sits in the workspace");
        // Where Cargo (run anywhere in the workspace) or the scripts could pick up
        // code-generation flags: config files, manifests, the test and CI scripts.
        let mut files = Vec::new();
        for dir in [
            "",
            "render-core",
            "encoder",
            "signaling",
            "server",
            "tests",
            "fuzz",
        ] {
            let dir = root.join(dir);
            files.push(dir.join("Cargo.toml"));
            files.push(dir.join(".cargo/config.toml"));
            files.push(dir.join(".cargo/config"));
        }
        for dir in ["scripts", ".ci"] {
            for entry in std::fs::read_dir(root.join(dir)).expect("the directory exists") {
                files.push(entry.expect("a directory entry").path());
            }
        }
        assert!(
            files.iter().any(|f| f.ends_with("scripts/test.sh")),
            "the scripts were found"
        );
        let raising: Vec<String> = files
            .iter()
            .filter_map(|file| {
                let text = std::fs::read_to_string(file).ok()?;
                let found = ["target-cpu", "target-feature", "x86-64-v"]
                    .into_iter()
                    .find(|flag| text.contains(flag))?;
                Some(format!("{} ({found})", file.display()))
            })
            .collect();
        assert!(
            raising.is_empty(),
            "these files raise the target processor for every build: {raising:?}; the \
             binary would die with SIGILL on processors without those features (the \
             AVX2/FMA kernels are chosen at run time, `render_core::cpu`)"
        );
    }
}
