//! Intel Open Image Denoise (OIDN) on the CPU, loaded when the program runs.
//!
//! The runtime is Intel's official Linux build, which `scripts/oidn.sh` takes from
//! PyPI's `pyoidn` wheel into `.deps/oidn/lib` of the repository (Debian has no
//! package). It is opened with `dlopen` rather than linked, which is why this crate
//! binds the dozen C functions it uses itself instead of using the `oidn` crate:
//! that crate links the library at build time, so a machine without the runtime
//! could not build the project, and a binary whose runtime went missing would not
//! start at all. Here a missing or broken runtime is an [`Error`] that the server
//! reports once before streaming undenoised pictures.
//!
//! Where the runtime is looked for, first found wins:
//! - `$STREAMTRACER_OIDN_DIR` (its `lib/` or itself), and nowhere else when it is set;
//! - `oidn/lib` next to the executable (a deployed binary takes the files along);
//! - `.deps/oidn/lib` of the checkout the binary was built from.
//!
//! The library finds its own parts (core, CPU module, TBB) next to itself.
//!
//! Length: Over 600 lines only with its tests (about 140 lines).

use std::ffi::{c_char, c_int, c_void, CStr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicPtr, Ordering};

/// A cancellation test, called from OIDN's threads while a filter runs.
type CancelFn<'a> = &'a (dyn Fn() -> bool + Sync);

/// OIDN's progress callback: asks the running call's cancellation test.
unsafe extern "C" fn progress(user: *mut c_void, _done: f64) -> bool {
    // SAFETY: `user` is the address of a `Denoiser`'s `cancel` slot, which outlives
    // its filters; the slot holds null or a pointer to a `CancelFn` that lives for
    // the whole `execute` call during which OIDN calls this.
    let slot = unsafe { &*(user as *const AtomicPtr<c_void>) };
    let f = slot.load(Ordering::Acquire) as *const CancelFn<'_>;
    f.is_null() || !unsafe { (*f)() }
}

/// The environment variable naming the runtime's directory.
pub const DIR_VARIABLE: &str = "STREAMTRACER_OIDN_DIR";

/// The file opened; the rest of the runtime is found next to it.
const LIBRARY: &str = "libOpenImageDenoise.so.2";

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("the Open Image Denoise runtime ({LIBRARY}) was not found in {}; run scripts/oidn.sh", list(.0))]
    NotFound(Vec<PathBuf>),
    #[error("the Open Image Denoise runtime at {path} cannot be loaded: {problem}")]
    Load { path: PathBuf, problem: String },
    #[error("Open Image Denoise: {0}")]
    Device(String),
    #[error("denoise: {0}")]
    Input(String),
    #[error("the denoise was cancelled")]
    Cancelled,
}

fn list(paths: &[PathBuf]) -> String {
    let names: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    names.join(", ")
}

type Device = *mut c_void;
type Filter = *mut c_void;

const DEVICE_TYPE_CPU: c_int = 1;
const FORMAT_FLOAT3: c_int = 3;
const ERROR_NONE: c_int = 0;
const ERROR_CANCELLED: c_int = 6;

/// OIDN's progress callback: `false` cancels the filter's execution.
type Progress = unsafe extern "C" fn(*mut c_void, f64) -> bool;

/// The C functions used, from the loaded library (OIDN 2.x API).
struct Api {
    new_device: unsafe extern "C" fn(c_int) -> Device,
    set_device_int: unsafe extern "C" fn(Device, *const c_char, c_int),
    set_device_bool: unsafe extern "C" fn(Device, *const c_char, bool),
    get_device_int: unsafe extern "C" fn(Device, *const c_char) -> c_int,
    commit_device: unsafe extern "C" fn(Device),
    get_device_error: unsafe extern "C" fn(Device, *mut *const c_char) -> c_int,
    release_device: unsafe extern "C" fn(Device),
    new_filter: unsafe extern "C" fn(Device, *const c_char) -> Filter,
    #[allow(clippy::type_complexity)]
    set_shared_filter_image: unsafe extern "C" fn(
        Filter,
        *const c_char,
        *mut c_void,
        c_int,
        usize,
        usize,
        usize,
        usize,
        usize,
    ),
    set_filter_bool: unsafe extern "C" fn(Filter, *const c_char, bool),
    set_filter_int: unsafe extern "C" fn(Filter, *const c_char, c_int),
    set_filter_progress: unsafe extern "C" fn(Filter, Option<Progress>, *mut c_void),
    commit_filter: unsafe extern "C" fn(Filter),
    execute_filter: unsafe extern "C" fn(Filter),
    release_filter: unsafe extern "C" fn(Filter),
    // Last: the functions above point into it.
    _library: libloading::Library,
}

impl Api {
    fn open(path: &Path) -> Result<Api, Error> {
        let load = |problem: String| Error::Load {
            path: path.to_owned(),
            problem,
        };
        // SAFETY: loading runs the library's initialisers; this is Intel's OIDN
        // runtime, whose initialisers only set up its own state.
        let library = unsafe { libloading::Library::new(path) }.map_err(|e| load(e.to_string()))?;
        macro_rules! symbol {
            ($name:literal) => {
                // SAFETY: the symbol is OIDN 2.x's C function of that name, whose
                // signature is the field's type (see OpenImageDenoise/oidn.h).
                *unsafe { library.get(concat!($name, "\0").as_bytes()) }
                    .map_err(|e| load(format!("{}: {e}", $name)))?
            };
        }
        Ok(Api {
            new_device: symbol!("oidnNewDevice"),
            set_device_int: symbol!("oidnSetDeviceInt"),
            set_device_bool: symbol!("oidnSetDeviceBool"),
            get_device_int: symbol!("oidnGetDeviceInt"),
            commit_device: symbol!("oidnCommitDevice"),
            get_device_error: symbol!("oidnGetDeviceError"),
            release_device: symbol!("oidnReleaseDevice"),
            new_filter: symbol!("oidnNewFilter"),
            set_shared_filter_image: symbol!("oidnSetSharedFilterImage"),
            set_filter_bool: symbol!("oidnSetFilterBool"),
            set_filter_int: symbol!("oidnSetFilterInt"),
            set_filter_progress: symbol!("oidnSetFilterProgressMonitorFunction"),
            commit_filter: symbol!("oidnCommitFilter"),
            execute_filter: symbol!("oidnExecuteFilter"),
            release_filter: symbol!("oidnReleaseFilter"),
            _library: library,
        })
    }
}

/// The filter's trade between time and quality (OIDN's `quality` parameter).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Quality {
    /// The fastest, for interactive previews.
    Fast,
    /// Between the two.
    Balanced,
    /// The best, for final pictures.
    High,
}

impl Quality {
    fn code(self) -> c_int {
        match self {
            Quality::Fast => 4,
            Quality::Balanced => 5,
            Quality::High => 6,
        }
    }
}

/// A picture to denoise: linear HDR colour, and optionally the first-hit albedo
/// (values in 0..=1) and normals (any length up to 1; zero where nothing was hit),
/// each three `f32`s per pixel in rows of `width`.
#[derive(Clone, Copy, Debug)]
pub struct Images<'a> {
    pub width: usize,
    pub height: usize,
    pub color: &'a [f32],
    pub albedo: Option<&'a [f32]>,
    pub normal: Option<&'a [f32]>,
}

/// How a picture is denoised.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Options {
    pub quality: Quality,
    /// Denoise the albedo and normal images first, as OIDN's documentation advises
    /// when they are noisy (few samples, depth of field, glass): better pictures, at
    /// the cost of two more (smaller) filter runs.
    pub prefilter: bool,
}

/// One filter with its own buffers, set up (committed) once for a size and kind.
struct Prepared {
    key: (usize, usize, Options, bool, bool),
    color: Vec<f32>,
    albedo: Vec<f32>,
    normal: Vec<f32>,
    output: Vec<f32>,
    main: Filter,
    /// Albedo and normal prefilters, when prefiltering.
    aux: Vec<Filter>,
}

/// How many sets of committed filters a [`Denoiser`] keeps (each holds its images'
/// buffers and the network's scratch memory).
const PREPARED_KEPT: usize = 2;

/// An OIDN CPU device and its filters. Not shared between threads (each call runs
/// on all the device's threads anyway); it can move between them.
pub struct Denoiser {
    api: Api,
    device: Device,
    /// What the filters' progress callback asks whether to stop: a pointer to the
    /// `&dyn Fn` of the running [`Denoiser::denoise_cancellable`] call, null between
    /// calls. Boxed, so that its address, given to OIDN, never moves.
    cancel: Box<AtomicPtr<c_void>>,
    /// Committed filters for the latest sizes and options, most recently used first
    /// (at most [`PREPARED_KEPT`]): a caller alternating between two sizes, say a
    /// quick reduced denoise and a full one, does not commit filters every time.
    prepared: Vec<Prepared>,
    version: String,
    path: PathBuf,
}

// SAFETY: an OIDN device and its filters may be used from any thread, one call at a
// time (the C API is thread-safe); `Denoiser` is not `Sync`, so calls never overlap.
unsafe impl Send for Denoiser {}

/// The directories searched for the runtime, in order (see the module's doc).
pub fn search_path() -> Vec<PathBuf> {
    if let Some(dir) = std::env::var_os(DIR_VARIABLE) {
        let dir = PathBuf::from(dir);
        return vec![dir.join("lib"), dir];
    }
    let mut dirs = Vec::new();
    if let Some(exe_dir) = std::env::current_exe()
        .ok()
        .and_then(|e| e.parent().map(Path::to_owned))
    {
        dirs.push(exe_dir.join("oidn").join("lib"));
    }
    dirs.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../.deps/oidn/lib"));
    dirs
}

impl Denoiser {
    /// Opens the runtime found first on [`search_path`] and makes a CPU device with
    /// `threads` threads (0: one per core).
    pub fn open(threads: usize) -> Result<Denoiser, Error> {
        let dirs = search_path();
        let Some(path) = dirs.iter().map(|d| d.join(LIBRARY)).find(|p| p.is_file()) else {
            return Err(Error::NotFound(dirs));
        };
        Denoiser::open_file(&path, threads)
    }

    /// Opens the runtime whose main library is `path`.
    pub fn open_file(path: &Path, threads: usize) -> Result<Denoiser, Error> {
        let api = Api::open(path)?;
        // SAFETY: the functions are OIDN's; the device is checked before use and
        // released on every path.
        unsafe {
            let device = (api.new_device)(DEVICE_TYPE_CPU);
            if device.is_null() {
                let mut message: *const c_char = std::ptr::null();
                (api.get_device_error)(std::ptr::null_mut(), &mut message);
                return Err(Error::Device(format!(
                    "no CPU device: {}",
                    text(message).unwrap_or_else(|| "unknown error".into())
                )));
            }
            let mut denoiser = Denoiser {
                api,
                device,
                cancel: Box::new(AtomicPtr::new(std::ptr::null_mut())),
                prepared: Vec::new(),
                version: String::new(),
                path: path.to_owned(),
            };
            if threads > 0 {
                (denoiser.api.set_device_int)(device, c"numThreads".as_ptr(), threads as c_int);
            }
            // The machine is shared with the renderer's threads: no pinning.
            (denoiser.api.set_device_bool)(device, c"setAffinity".as_ptr(), false);
            (denoiser.api.commit_device)(device);
            denoiser.check()?;
            let v = (denoiser.api.get_device_int)(device, c"version".as_ptr());
            denoiser.version = format!("{}.{}.{}", v / 10000, v / 100 % 100, v % 100);
            Ok(denoiser)
        }
    }

    /// The runtime's version, as `major.minor.patch`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// The library that was opened.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The device's last error, if any (clearing it).
    fn check(&self) -> Result<(), Error> {
        let mut message: *const c_char = std::ptr::null();
        // SAFETY: the device is live; OIDN owns the message until its next call.
        let code = unsafe { (self.api.get_device_error)(self.device, &mut message) };
        if code == ERROR_NONE {
            return Ok(());
        }
        if code == ERROR_CANCELLED {
            return Err(Error::Cancelled);
        }
        Err(Error::Device(
            // SAFETY: as above.
            unsafe { text(message) }.unwrap_or_else(|| format!("error {code}")),
        ))
    }

    /// Denoises `images` into `output` (three `f32`s per pixel, like the colour).
    pub fn denoise(
        &mut self,
        images: &Images<'_>,
        options: Options,
        output: &mut [f32],
    ) -> Result<(), Error> {
        self.denoise_cancellable(images, options, output, &|| false)
    }

    /// [`Denoiser::denoise`], stopped early with [`Error::Cancelled`] (and `output`
    /// untouched) once `cancel` returns true; it is asked from OIDN's threads as the
    /// filter progresses.
    pub fn denoise_cancellable(
        &mut self,
        images: &Images<'_>,
        options: Options,
        output: &mut [f32],
        cancel: CancelFn<'_>,
    ) -> Result<(), Error> {
        let n = images.width * images.height * 3;
        if n == 0 {
            return Err(Error::Input("the picture is empty".into()));
        }
        let sizes_match = images.color.len() == n
            && output.len() == n
            && images.albedo.is_none_or(|a| a.len() == n)
            && images.normal.is_none_or(|a| a.len() == n);
        if !sizes_match {
            return Err(Error::Input(format!(
                "every image must hold {n} values for {}x{}",
                images.width, images.height
            )));
        }
        if images.normal.is_some() && images.albedo.is_none() {
            return Err(Error::Input("normals need an albedo image too".into()));
        }
        let key = (
            images.width,
            images.height,
            options,
            images.albedo.is_some(),
            images.normal.is_some(),
        );
        match self.prepared.iter().position(|p| p.key == key) {
            Some(i) => self.prepared[..=i].rotate_right(1),
            None => {
                while self.prepared.len() >= PREPARED_KEPT {
                    let oldest = self.prepared.pop().expect("not empty");
                    self.release(&oldest);
                }
                let p = self.prepare(key)?;
                self.prepared.insert(0, p);
            }
        }
        let p = &mut self.prepared[0];
        p.color.copy_from_slice(images.color);
        if let Some(a) = images.albedo {
            p.albedo.copy_from_slice(a);
        }
        if let Some(nrm) = images.normal {
            p.normal.copy_from_slice(nrm);
        }
        // The progress callback reads `cancel` through the slot for as long as the
        // filters run, and no longer.
        let cancel_ref: CancelFn<'_> = cancel;
        self.cancel.store(
            &cancel_ref as *const CancelFn<'_> as *mut c_void,
            Ordering::Release,
        );
        // SAFETY: the filters were committed with this `Prepared`'s buffers, which
        // have not moved since (their lengths never change).
        unsafe {
            for &f in &p.aux {
                (self.api.execute_filter)(f);
            }
            (self.api.execute_filter)(p.main);
        }
        self.cancel.store(std::ptr::null_mut(), Ordering::Release);
        self.check()?;
        output.copy_from_slice(&self.prepared[0].output);
        Ok(())
    }

    /// Makes and commits the filters for `key`, with buffers of their own.
    fn prepare(&self, key: (usize, usize, Options, bool, bool)) -> Result<Prepared, Error> {
        let (width, height, options, has_albedo, has_normal) = key;
        let n = width * height * 3;
        let mut p = Prepared {
            key,
            color: vec![0.0; n],
            albedo: if has_albedo { vec![0.0; n] } else { Vec::new() },
            normal: if has_normal { vec![0.0; n] } else { Vec::new() },
            output: vec![0.0; n],
            main: std::ptr::null_mut(),
            aux: Vec::new(),
        };
        let api = &self.api;
        // SAFETY: images point into `p`'s buffers, which live as long as the filters
        // (both are released together) and never reallocate.
        unsafe {
            let image = |f: Filter, name: &CStr, buffer: &mut Vec<f32>| {
                (api.set_shared_filter_image)(
                    f,
                    name.as_ptr(),
                    buffer.as_mut_ptr().cast(),
                    FORMAT_FLOAT3,
                    width,
                    height,
                    0,
                    0,
                    0,
                )
            };
            let prefilter = options.prefilter && has_albedo;
            if prefilter {
                // Each auxiliary image denoised in place, by a filter of its own.
                for (name, buffer) in [(c"albedo", &mut p.albedo), (c"normal", &mut p.normal)] {
                    if buffer.is_empty() {
                        continue;
                    }
                    let f = (api.new_filter)(self.device, c"RT".as_ptr());
                    if f.is_null() {
                        self.check()?;
                        return Err(Error::Device("no RT filter".into()));
                    }
                    p.aux.push(f);
                    image(f, name, buffer);
                    image(f, c"output", buffer);
                    (api.set_filter_int)(f, c"quality".as_ptr(), options.quality.code());
                    (api.set_filter_progress)(f, Some(progress), self.cancel_slot());
                    (api.commit_filter)(f);
                }
            }
            let f = (api.new_filter)(self.device, c"RT".as_ptr());
            if f.is_null() {
                self.check()?;
                return Err(Error::Device("no RT filter".into()));
            }
            p.main = f;
            image(f, c"color", &mut p.color);
            if has_albedo {
                image(f, c"albedo", &mut p.albedo);
            }
            if has_normal {
                image(f, c"normal", &mut p.normal);
            }
            image(f, c"output", &mut p.output);
            (api.set_filter_bool)(f, c"hdr".as_ptr(), true);
            (api.set_filter_bool)(f, c"cleanAux".as_ptr(), prefilter);
            (api.set_filter_int)(f, c"quality".as_ptr(), options.quality.code());
            (api.set_filter_progress)(f, Some(progress), self.cancel_slot());
            (api.commit_filter)(f);
        }
        if let Err(e) = self.check() {
            self.release(&p);
            return Err(e);
        }
        Ok(p)
    }

    /// The address of the cancellation slot, for OIDN's progress callback.
    fn cancel_slot(&self) -> *mut c_void {
        &*self.cancel as *const AtomicPtr<c_void> as *mut c_void
    }

    fn release(&self, p: &Prepared) {
        // SAFETY: each filter was made by this device and is released once.
        unsafe {
            for &f in p.aux.iter().chain([&p.main]) {
                if !f.is_null() {
                    (self.api.release_filter)(f);
                }
            }
        }
    }

    fn release_prepared(&mut self) {
        for p in std::mem::take(&mut self.prepared) {
            self.release(&p);
        }
    }
}

impl Drop for Denoiser {
    fn drop(&mut self) {
        self.release_prepared();
        // SAFETY: the device was made in `open_file` and its filters are released.
        unsafe { (self.api.release_device)(self.device) };
    }
}

/// A C string from OIDN, if any.
///
/// # Safety
/// `message` is null or points to a NUL-terminated string.
unsafe fn text(message: *const c_char) -> Option<String> {
    (!message.is_null()).then(|| {
        unsafe { CStr::from_ptr(message) }
            .to_string_lossy()
            .into_owned()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A smooth picture with noise added: denoising brings it closer to the smooth one.
    #[test]
    fn denoising_brings_a_noisy_picture_closer_to_the_clean_one() {
        let mut d = match Denoiser::open(0) {
            Ok(d) => d,
            Err(e) => panic!("{e} (scripts/oidn.sh installs the runtime)"),
        };
        let (w, h) = (128, 96);
        let clean: Vec<f32> = (0..w * h * 3)
            .map(|i| {
                let p = i / 3;
                0.2 + 0.5 * ((p % w) as f32 / w as f32) + 0.1 * ((p / w) as f32 / h as f32)
            })
            .collect();
        // Deterministic noise: a hash of the index.
        let noisy: Vec<f32> = clean
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let x = (i as u32).wrapping_mul(2654435761) >> 8;
                let u = x as f32 / (1u32 << 24) as f32;
                v * 2.0 * u
            })
            .collect();
        let mut out = vec![0.0; noisy.len()];
        let images = Images {
            width: w,
            height: h,
            color: &noisy,
            albedo: None,
            normal: None,
        };
        let options = Options {
            quality: Quality::Fast,
            prefilter: false,
        };
        d.denoise(&images, options, &mut out).unwrap();
        let mse = |a: &[f32]| -> f32 {
            a.iter()
                .zip(&clean)
                .map(|(x, y)| (x - y) * (x - y))
                .sum::<f32>()
                / a.len() as f32
        };
        assert!(
            mse(&out) < mse(&noisy) / 10.0,
            "denoised MSE {} against noisy {}",
            mse(&out),
            mse(&noisy)
        );
        // Wrong sizes are refused, not read past.
        let short = Images {
            color: &noisy[..10],
            ..images
        };
        assert!(matches!(
            d.denoise(&short, options, &mut out),
            Err(Error::Input(_))
        ));
    }

    #[test]
    fn a_cancelled_denoise_stops_and_the_next_one_works() {
        let mut d = Denoiser::open(0).expect("scripts/oidn.sh installs the runtime");
        let (w, h) = (256, 256);
        let color = vec![0.5f32; w * h * 3];
        let images = Images {
            width: w,
            height: h,
            color: &color,
            albedo: None,
            normal: None,
        };
        let options = Options {
            quality: Quality::High,
            prefilter: false,
        };
        let mut out = vec![-1.0; color.len()];
        let r = d.denoise_cancellable(&images, options, &mut out, &|| true);
        assert!(matches!(r, Err(Error::Cancelled)), "{r:?}");
        assert!(
            out.iter().all(|&v| v == -1.0),
            "a cancelled denoise wrote its output"
        );
        d.denoise(&images, options, &mut out).unwrap();
        assert!(
            out.iter().all(|v| (v - 0.5).abs() < 0.05),
            "a flat picture stays flat"
        );
    }

    /// Filters are kept for the two latest sizes: going back to a size denoises with
    /// its own buffers again, giving exactly what it gave the first time, and a third
    /// size in between (which drops the oldest) changes nothing either.
    #[test]
    fn alternating_sizes_give_the_same_pictures_as_the_first_time() {
        let mut d = Denoiser::open(0).expect("scripts/oidn.sh installs the runtime");
        let options = Options {
            quality: Quality::Fast,
            prefilter: false,
        };
        let run = |d: &mut Denoiser, w: usize, h: usize| {
            let color: Vec<f32> = (0..w * h * 3)
                .map(|i| ((i as u32).wrapping_mul(2654435761) >> 20) as f32 / 4096.0)
                .collect();
            let images = Images {
                width: w,
                height: h,
                color: &color,
                albedo: None,
                normal: None,
            };
            let mut out = vec![0.0; color.len()];
            d.denoise(&images, options, &mut out).unwrap();
            out
        };
        let a = run(&mut d, 64, 48);
        let b = run(&mut d, 32, 24);
        assert_eq!(run(&mut d, 64, 48), a);
        assert_eq!(run(&mut d, 32, 24), b);
        run(&mut d, 40, 40);
        assert_eq!(run(&mut d, 64, 48), a);
        assert_eq!(d.prepared.len(), PREPARED_KEPT);
    }

    #[test]
    fn a_file_that_is_not_the_runtime_is_a_clear_error() {
        let dir = std::env::temp_dir().join(format!("denoise-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let fake = dir.join(LIBRARY);
        std::fs::write(&fake, b"not a library").unwrap();
        let e = Denoiser::open_file(&fake, 0)
            .err()
            .expect("a broken runtime must fail");
        assert!(matches!(e, Error::Load { .. }), "{e}");
        assert!(e.to_string().contains(&*fake.to_string_lossy()), "{e}");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
