//! Progressive rendering: previews first, then accumulating full-resolution passes.
//!
//! Length: Over 600 lines because of its tests (about 560 lines): the code is under
//! 500.

use crate::camera::{Camera, CameraRays};
use crate::film::{self, Film};
use crate::geometry::Ray;
use crate::integrator::SceneData;
use crate::sampling::SampleRng;
use crate::scene::{Scene, SceneError};
use glam::Vec3;
use rayon::prelude::*;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

/// Rows per unit of parallel work: small enough to balance two cores and to notice a
/// cancellation quickly, large enough to keep scheduling overhead negligible.
const ROWS_PER_TASK: usize = 4;

/// Path length of preview passes: direct light and two indirect bounces carry nearly
/// all of a picture that is shown for a frame or two, at a fraction of the cost.
const PREVIEW_BOUNCES: u32 = 3;

/// The time the first preview after a change should take at most.
const FIRST_PREVIEW_BUDGET: Duration = Duration::from_millis(10);

/// The coarsest preview scale, used first when the usual first preview is too slow.
const COARSEST_PREVIEW: u32 = 8;

/// Sample indices at and above this are reserved for preview passes, so a preview
/// never repeats the random numbers of an accumulated sample.
const PREVIEW_SAMPLE_BASE: u32 = 0xF000_0000;

/// Which kind of pass was rendered.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PassKind {
    /// A single-sample pass at 1/`scale` of the resolution on each axis, with paths of
    /// at most three bounces, upscaled for display until the first full-resolution
    /// pass completes.
    Preview { scale: u32 },
    /// One more sample for every pixel at full resolution.
    Full,
}

/// What one call to [`Renderer::render_next`] did.
#[derive(Clone, Copy, Debug)]
pub struct PassReport {
    pub kind: PassKind,
    /// Samples per pixel in the film after this pass.
    pub samples_per_pixel: u32,
    /// All rays traced: camera, bounce and shadow rays.
    pub rays: u64,
    /// Pixel samples computed.
    pub samples: u64,
    pub duration: Duration,
}

/// Why the renderer refused a request.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum RendererError {
    #[error("invalid scene: {0}")]
    Scene(#[from] SceneError),
    #[error("image size must be between 1x1 and {max}x{max}, got {width}x{height}", max = Renderer::MAX_DIMENSION)]
    Size { width: u32, height: u32 },
}

/// The last preview rendered: its scale, size and radiance.
struct Preview {
    scale: u32,
    width: u32,
    height: u32,
    radiance: Vec<Vec3>,
}

/// A scene being rendered progressively at a fixed resolution.
pub struct Renderer {
    /// The compiled scene, which several renderers of one scene version may share.
    data: Arc<SceneData>,
    camera: Camera,
    width: u32,
    height: u32,
    seed: u64,
    film: Film,
    /// Preview scales to render, in order, after each reset.
    preview_scales: Vec<u32>,
    /// The previews due since the last reset: `preview_scales`, led by a coarser one
    /// when the usual first preview would miss [`FIRST_PREVIEW_BUDGET`].
    due_previews: Vec<u32>,
    /// How many of `due_previews` have been rendered since the last reset.
    previews_done: usize,
    /// Pixel samples per second of the latest preview pass, to plan the next ones.
    preview_rate: Option<f64>,
    preview: Option<Preview>,
    /// The pass buffers (radiance, albedo, normal), kept to avoid large
    /// allocations per pass.
    pass: Vec<Vec3>,
    pass_albedo: Vec<Vec3>,
    pass_normal: Vec<Vec3>,
    pub exposure: f32,
    /// The cap on each sample of indirect light (see `SceneData::li`); infinite:
    /// unbiased.
    indirect_clamp: f32,
}

impl Renderer {
    pub const MAX_DIMENSION: u32 = 8192;

    /// Compiles `scene` for rendering at `width` by `height`.
    pub fn new(scene: &Scene, width: u32, height: u32) -> Result<Renderer, RendererError> {
        Renderer::with_compiled(Renderer::compile(scene, None)?, scene.camera, width, height)
    }

    /// Validates and compiles `scene` (its acceleration structures, lights and
    /// materials) once, for any number of renderers ([`Renderer::with_compiled`],
    /// [`Renderer::set_compiled`]). The mesh hierarchies of `previous` that still
    /// fit are reused.
    pub fn compile(
        scene: &Scene,
        previous: Option<&SceneData>,
    ) -> Result<Arc<SceneData>, RendererError> {
        scene.validate()?;
        Ok(Arc::new(SceneData::new(scene, previous)))
    }

    /// A renderer of a compiled scene, seen through `camera`, at `width` by `height`.
    pub fn with_compiled(
        data: Arc<SceneData>,
        camera: Camera,
        width: u32,
        height: u32,
    ) -> Result<Renderer, RendererError> {
        if width == 0 || height == 0 || width > Self::MAX_DIMENSION || height > Self::MAX_DIMENSION
        {
            return Err(RendererError::Size { width, height });
        }
        camera.validate().map_err(SceneError::from)?;
        Ok(Renderer {
            data,
            camera,
            width,
            height,
            seed: 0x5eed,
            film: Film::new(width, height),
            preview_scales: vec![4, 2],
            due_previews: vec![4, 2],
            previews_done: 0,
            preview_rate: None,
            preview: None,
            pass: Vec::new(),
            pass_albedo: Vec::new(),
            pass_normal: Vec::new(),
            exposure: 1.0,
            indirect_clamp: f32::INFINITY,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    pub fn camera(&self) -> Camera {
        self.camera
    }

    pub fn film(&self) -> &Film {
        &self.film
    }

    /// Samples per pixel accumulated at full resolution since the last change.
    pub fn samples_per_pixel(&self) -> u32 {
        self.film.samples_per_pixel()
    }

    /// Sets the preview scales rendered after each change (e.g. `[4, 2]`; empty for none).
    pub fn set_preview_scales(&mut self, scales: &[u32]) {
        self.preview_scales = scales.iter().copied().filter(|&s| s > 1).collect();
        self.reset();
    }

    /// Caps each sample of indirect light at `limit` (`None`, the default: unbiased),
    /// and restarts accumulation when that changes. See `SceneData::li`.
    pub fn set_indirect_clamp(&mut self, limit: Option<f32>) {
        let limit = limit
            .filter(|l| *l > 0.0 && l.is_finite())
            .unwrap_or(f32::INFINITY);
        if limit != self.indirect_clamp {
            self.indirect_clamp = limit;
            self.reset();
        }
    }

    /// Sets the seed all random numbers derive from, and restarts accumulation.
    pub fn set_seed(&mut self, seed: u64) {
        self.seed = seed;
        self.reset();
    }

    /// Moves the camera and restarts accumulation. The camera is validated first.
    pub fn set_camera(&mut self, camera: Camera) -> Result<(), RendererError> {
        camera.validate().map_err(SceneError::from)?;
        self.camera = camera;
        self.reset();
        Ok(())
    }

    /// Changes the picture size; the film starts over (previews first). The scene's
    /// acceleration structures are kept.
    pub fn resize(&mut self, width: u32, height: u32) -> Result<(), RendererError> {
        if width == 0 || height == 0 || width > Self::MAX_DIMENSION || height > Self::MAX_DIMENSION
        {
            return Err(RendererError::Size { width, height });
        }
        if (width, height) != (self.width, self.height) {
            self.width = width;
            self.height = height;
            self.film = Film::new(width, height);
            self.pass = Vec::new();
            self.reset();
        }
        Ok(())
    }

    /// Replaces the scene (geometry, materials and camera) and restarts accumulation.
    /// Meshes that did not change keep their hierarchies; only the top level is rebuilt.
    pub fn set_scene(&mut self, scene: &Scene) -> Result<(), RendererError> {
        self.data = Renderer::compile(scene, Some(&self.data))?;
        self.camera = scene.camera;
        self.reset();
        Ok(())
    }

    /// Replaces the scene with a compiled one (see [`Renderer::compile`]), keeping
    /// the camera, and restarts accumulation.
    pub fn set_compiled(&mut self, data: Arc<SceneData>) {
        self.data = data;
        self.reset();
    }

    /// The compiled scene this renderer draws.
    pub fn compiled(&self) -> &Arc<SceneData> {
        &self.data
    }

    /// Drops everything accumulated; the next passes are previews again.
    pub fn reset(&mut self) {
        self.film.clear();
        self.previews_done = 0;
        self.preview = None;
        self.due_previews = self.preview_scales.clone();
        // A heavy scene gets a coarser first preview, so that something of the new
        // view appears within a frame of the change.
        if let (Some(&first), Some(rate)) = (self.preview_scales.first(), self.preview_rate) {
            let samples = (self.width.div_ceil(first) * self.height.div_ceil(first)) as f64;
            if samples / rate > FIRST_PREVIEW_BUDGET.as_secs_f64() && first < COARSEST_PREVIEW {
                self.due_previews.insert(0, COARSEST_PREVIEW);
            }
        }
    }

    /// Renders the next pass: the next preview if any is due, otherwise one more
    /// full-resolution sample per pixel. `cancelled` is polled between small groups of
    /// rows; if it returns true the pass is abandoned, nothing changes and `None` is
    /// returned.
    pub fn render_next(&mut self, cancelled: &(dyn Fn() -> bool + Sync)) -> Option<PassReport> {
        let start = Instant::now();
        let scale = self.due_previews.get(self.previews_done).copied();
        let bounces = if scale.is_some() {
            PREVIEW_BOUNCES
        } else {
            u32::MAX
        };
        let (kind, w, h, scale_f, sample) = match scale {
            Some(s) => {
                let w = self.width.div_ceil(s);
                let h = self.height.div_ceil(s);
                (
                    PassKind::Preview { scale: s },
                    w,
                    h,
                    s as f32,
                    PREVIEW_SAMPLE_BASE + self.previews_done as u32,
                )
            }
            None => (
                PassKind::Full,
                self.width,
                self.height,
                1.0,
                self.film.samples_per_pixel(),
            ),
        };
        let rays_gen = CameraRays::new(&self.camera, self.width, self.height);
        let mut pass = std::mem::take(&mut self.pass);
        let mut pass_albedo = std::mem::take(&mut self.pass_albedo);
        let mut pass_normal = std::mem::take(&mut self.pass_normal);
        for buffer in [&mut pass, &mut pass_albedo, &mut pass_normal] {
            buffer.clear();
            buffer.resize((w * h) as usize, Vec3::ZERO);
        }
        let rays = AtomicU64::new(0);
        let abandoned = AtomicBool::new(false);
        let data = &self.data;
        let seed = self.seed;
        let indirect_clamp = self.indirect_clamp;
        let (full_w, full_h) = (self.width as f32, self.height as f32);
        let rows_per_task = w as usize * ROWS_PER_TASK;
        pass.par_chunks_mut(rows_per_task)
            .zip(pass_albedo.par_chunks_mut(rows_per_task))
            .zip(pass_normal.par_chunks_mut(rows_per_task))
            .enumerate()
            .for_each(|(chunk, ((rows, albedo), normal))| {
                if abandoned.load(Ordering::Relaxed) || cancelled() {
                    abandoned.store(true, Ordering::Relaxed);
                    return;
                }
                let mut local_rays = 0u64;
                let y0 = (chunk * ROWS_PER_TASK) as u32;
                for (i, ((out, albedo), normal)) in rows
                    .iter_mut()
                    .zip(albedo.iter_mut())
                    .zip(normal.iter_mut())
                    .enumerate()
                {
                    let x = i as u32 % w;
                    let y = y0 + i as u32 / w;
                    let mut rng = SampleRng::for_sample(x, y, sample, seed);
                    // A jittered position inside the pixel (or the preview block), in
                    // full-resolution film coordinates.
                    let px = ((x as f32 + rng.uniform()) * scale_f).min(full_w);
                    let py = ((y as f32 + rng.uniform()) * scale_f).min(full_h);
                    let (o, d) = rays_gen.ray(px, py);
                    let sample = data.li(Ray { o, d }, &mut rng, bounces, indirect_clamp);
                    // A non-finite estimate would poison the pixel forever; drop it.
                    let finite = |v: Vec3| if v.is_finite() { v } else { Vec3::ZERO };
                    *out = finite(sample.radiance);
                    *albedo = finite(sample.albedo);
                    *normal = finite(sample.normal);
                    local_rays += sample.rays as u64;
                }
                rays.fetch_add(local_rays, Ordering::Relaxed);
            });
        if abandoned.load(Ordering::Relaxed) {
            (self.pass, self.pass_albedo, self.pass_normal) = (pass, pass_albedo, pass_normal);
            return None;
        }
        match kind {
            PassKind::Preview { scale } => {
                self.preview = Some(Preview {
                    scale,
                    width: w,
                    height: h,
                    radiance: pass.clone(),
                });
                self.previews_done += 1;
                self.preview_rate = Some((w * h) as f64 / start.elapsed().as_secs_f64().max(1e-6));
            }
            PassKind::Full => {
                self.film.add_pass(&pass, &pass_albedo, &pass_normal);
                self.preview = None;
            }
        }
        (self.pass, self.pass_albedo, self.pass_normal) = (pass, pass_albedo, pass_normal);
        Some(PassReport {
            kind,
            samples_per_pixel: self.film.samples_per_pixel(),
            rays: rays.into_inner(),
            samples: (w * h) as u64,
            duration: start.elapsed(),
        })
    }

    /// Whether anything has been rendered since the last change.
    pub fn has_image(&self) -> bool {
        self.film.samples_per_pixel() > 0 || self.preview.is_some()
    }

    /// The current picture, ready to be tone-mapped row by row: the accumulated
    /// film, or, before the first full pass, the latest preview upscaled.
    pub fn picture(&self) -> Picture<'_> {
        match (&self.preview, self.film.samples_per_pixel()) {
            (Some(p), 0) => {
                let mut small = vec![0u8; (p.width * p.height * 3) as usize];
                film::write_rgb8(&p.radiance, self.exposure, &mut small);
                // Where each output column samples the preview: the two texels'
                // byte offsets in a row and the weight of the second.
                let inv = 1.0 / p.scale as f32;
                let columns = (0..self.width)
                    .map(|x| {
                        let fx = ((x as f32 + 0.5) * inv - 0.5).clamp(0.0, (p.width - 1) as f32);
                        let x0 = fx as u32;
                        let x1 = (x0 + 1).min(p.width - 1);
                        (3 * x0, 3 * x1, fx - x0 as f32)
                    })
                    .collect();
                Picture::Preview {
                    small,
                    width: p.width,
                    height: p.height,
                    scale: p.scale,
                    columns,
                }
            }
            _ => Picture::Film {
                film: &self.film,
                exposure: self.exposure,
            },
        }
    }

    /// Tone-maps the current picture into packed RGB bytes (`width * height * 3`).
    pub fn write_rgb8(&self, out: &mut [u8]) {
        match self.picture() {
            Picture::Film { film, exposure } => film.write_rgb8(exposure, out),
            preview => {
                let w = self.width as usize;
                out.par_chunks_mut(w * 3).enumerate().for_each(|(y, row)| {
                    let mut planes = vec![0u8; 3 * w];
                    let (r, rest) = planes.split_at_mut(w);
                    let (g, b) = rest.split_at_mut(w);
                    preview.row(y, r, g, b);
                    for (i, px) in row.chunks_exact_mut(3).enumerate() {
                        px.copy_from_slice(&[r[i], g[i], b[i]]);
                    }
                })
            }
        }
    }
}

/// A picture to tone-map, one row at a time, into planar sRGB bytes: what the video
/// encoder's converter reads, without a full-size RGB copy in between.
pub enum Picture<'a> {
    Film {
        film: &'a Film,
        exposure: f32,
    },
    /// A preview, already tone-mapped at its own size, upscaled bilinearly (texel
    /// centres aligned) as rows are asked for.
    Preview {
        small: Vec<u8>,
        width: u32,
        height: u32,
        scale: u32,
        columns: Vec<(u32, u32, f32)>,
    },
}

impl Picture<'_> {
    /// Writes row `y` of the full-size picture as red, green and blue bytes.
    pub fn row(&self, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        match self {
            Picture::Film { film, exposure } => film.tone_map_row(*exposure, y, r, g, b),
            Picture::Preview {
                small,
                width: sw,
                height: sh,
                scale,
                columns,
            } => {
                let (sw, sh) = (*sw as usize, *sh);
                let inv = 1.0 / *scale as f32;
                let fy = ((y as f32 + 0.5) * inv - 0.5).clamp(0.0, (sh - 1) as f32);
                let y0 = fy as usize;
                let y1 = (y0 + 1).min(sh as usize - 1);
                let ty = fy - y0 as f32;
                let (top, bottom) = (
                    &small[y0 * sw * 3..(y0 + 1) * sw * 3],
                    &small[y1 * sw * 3..(y1 + 1) * sw * 3],
                );
                let n = columns.len().min(r.len());
                for (i, &(x0, x1, tx)) in columns[..n].iter().enumerate() {
                    let (x0, x1) = (x0 as usize, x1 as usize);
                    let texel = |c: usize| {
                        let t = top[x0 + c] as f32 * (1.0 - tx) + top[x1 + c] as f32 * tx;
                        let b = bottom[x0 + c] as f32 * (1.0 - tx) + bottom[x1 + c] as f32 * tx;
                        (t * (1.0 - ty) + b * ty + 0.5) as u8
                    };
                    (r[i], g[i], b[i]) = (texel(0), texel(1), texel(2));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scene::{Environment, Light, Material, Object, Shape, Transform};

    fn never() -> impl Fn() -> bool + Sync {
        || false
    }

    #[test]
    fn previews_come_first_then_full_passes_accumulate() {
        let mut r = Renderer::new(&Scene::cornell_box(), 64, 48).unwrap();
        assert!(!r.has_image());
        let kinds: Vec<PassKind> = (0..4)
            .map(|_| r.render_next(&never()).unwrap().kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                PassKind::Preview { scale: 4 },
                PassKind::Preview { scale: 2 },
                PassKind::Full,
                PassKind::Full
            ]
        );
        assert_eq!(r.samples_per_pixel(), 2);
        r.set_camera(Camera {
            fov: 50.0,
            ..r.camera()
        })
        .unwrap();
        assert_eq!(r.samples_per_pixel(), 0);
        assert_eq!(
            r.render_next(&never()).unwrap().kind,
            PassKind::Preview { scale: 4 }
        );
    }

    #[test]
    fn a_slow_scene_gets_a_coarser_first_preview() {
        let mut r = Renderer::new(&Scene::cornell_box(), 640, 480).unwrap();
        // A measured rate at which a quarter-scale preview would take 19 s...
        r.preview_rate = Some(1_000.0);
        r.reset();
        let kinds: Vec<PassKind> = (0..3)
            .map(|_| r.render_next(&never()).unwrap().kind)
            .collect();
        assert_eq!(
            kinds,
            vec![
                PassKind::Preview { scale: 8 },
                PassKind::Preview { scale: 4 },
                PassKind::Preview { scale: 2 }
            ]
        );
        // ...and one at which it takes a millisecond.
        r.preview_rate = Some(1e10);
        r.reset();
        assert_eq!(
            r.render_next(&never()).unwrap().kind,
            PassKind::Preview { scale: 4 }
        );
    }

    #[test]
    fn a_cancelled_pass_changes_nothing() {
        let mut r = Renderer::new(&Scene::cornell_box(), 32, 32).unwrap();
        r.set_preview_scales(&[]);
        r.render_next(&never()).unwrap();
        let mut before = vec![0u8; 32 * 32 * 3];
        r.write_rgb8(&mut before);
        assert!(r.render_next(&|| true).is_none());
        assert_eq!(r.samples_per_pixel(), 1);
        let mut after = vec![0u8; 32 * 32 * 3];
        r.write_rgb8(&mut after);
        assert_eq!(before, after);
    }

    /// Same scene, seed and sample count must give bit-identical images whatever the
    /// number of threads.
    #[test]
    fn images_do_not_depend_on_thread_count() {
        let render = |threads: usize| {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .build()
                .unwrap();
            pool.install(|| {
                let mut r = Renderer::new(&Scene::cornell_box(), 40, 30).unwrap();
                r.set_preview_scales(&[]);
                for _ in 0..3 {
                    r.render_next(&never()).unwrap();
                }
                let mut out = vec![0u8; 40 * 30 * 3];
                r.write_rgb8(&mut out);
                (out, r.film().mean())
            })
        };
        let (one, mean_one) = render(1);
        let (two, mean_two) = render(2);
        assert_eq!(one, two);
        assert_eq!(
            mean_one.to_array().map(f32::to_bits),
            mean_two.to_array().map(f32::to_bits)
        );
    }

    fn sphere_scene(material: Material, environment: Vec3, camera: Camera) -> Scene {
        let mut scene = Scene::sphere_in_environment(material, environment, camera);
        scene.max_bounces = 64;
        scene
    }

    fn converge(scene: &Scene, size: u32, spp: u32) -> Vec3 {
        let mut r = Renderer::new(scene, size, size).unwrap();
        r.set_preview_scales(&[]);
        for _ in 0..spp {
            r.render_next(&never()).unwrap();
        }
        r.film().mean()
    }

    /// White furnace: inside a uniform environment of radiance 1, an object that
    /// neither absorbs nor emits is indistinguishable from the background, so every
    /// pixel converges to 1. Checked for a diffuse sphere and a smooth glass sphere
    /// (transmission and reflection together conserve energy).
    #[test]
    fn white_furnace_converges_to_the_environment() {
        let camera = Camera {
            eye: Vec3::new(0.0, 0.0, 3.0),
            target: Vec3::ZERO,
            up: Vec3::Y,
            fov: 40.0,
        };
        for material in [
            Material::Diffuse {
                albedo: Vec3::ONE,
                texture: None,
            },
            Material::Dielectric {
                ior: 1.5,
                roughness: 0.0,
                tint: Vec3::ONE,
            },
        ] {
            let mean = converge(&sphere_scene(material, Vec3::ONE, camera), 24, 64);
            assert!(
                (mean - Vec3::ONE).abs().max_element() < 0.01,
                "{material:?}: furnace mean {mean}"
            );
        }
    }

    /// The interactive indirect clamp (10) leaves ordinary light alone: a white furnace
    /// (every bounce of radiance 1) converges to the environment with it as without.
    #[test]
    fn the_indirect_clamp_leaves_ordinary_light_unbiased() {
        let camera = Camera {
            eye: Vec3::new(0.0, 0.0, 3.0),
            target: Vec3::ZERO,
            up: Vec3::Y,
            fov: 40.0,
        };
        let scene = sphere_scene(
            Material::Diffuse {
                albedo: Vec3::ONE,
                texture: None,
            },
            Vec3::ONE,
            camera,
        );
        let mut r = Renderer::new(&scene, 24, 24).unwrap();
        r.set_preview_scales(&[]);
        r.set_indirect_clamp(Some(10.0));
        for _ in 0..64 {
            r.render_next(&never()).unwrap();
        }
        let mean = r.film().mean();
        assert!((mean - Vec3::ONE).abs().max_element() < 0.01, "{mean}");
        assert_eq!(r.samples_per_pixel(), 64);
        r.set_indirect_clamp(Some(10.0));
        assert_eq!(r.samples_per_pixel(), 64, "the same cap changes nothing");
        // (A convex object under an environment gets direct light only.) In a closed
        // room, where much of the light has bounced, a cap far below it darkens the
        // picture, and setting it starts the picture over.
        let room = |clamp| {
            let mut r = Renderer::new(&Scene::cornell_box(), 32, 24).unwrap();
            r.set_preview_scales(&[]);
            r.set_indirect_clamp(clamp);
            for _ in 0..8 {
                r.render_next(&never()).unwrap();
            }
            r.film().mean().element_sum()
        };
        let (free, capped) = (room(None), room(Some(0.01)));
        assert!(capped < 0.9 * free, "capped {capped}, unbiased {free}");
    }

    /// An emitter seen directly: every pixel covered by it shows its radiance exactly,
    /// and its back side is black.
    #[test]
    fn directly_visible_emitter_shows_its_radiance() {
        let le = Vec3::new(0.25, 0.5, 0.75);
        let mut scene = sphere_scene(
            Material::Emissive { radiance: le },
            Vec3::ZERO,
            Camera {
                eye: Vec3::new(0.0, 0.0, 0.5),
                target: Vec3::new(0.0, 0.0, -1.0),
                up: Vec3::Y,
                fov: 30.0,
            },
        );
        scene.objects[0].transform.scale = Vec3::splat(5.0);
        // Inside the sphere the camera sees its back side: one-sided emission means black.
        assert_eq!(converge(&scene, 8, 1), Vec3::ZERO);
        scene.camera.eye = Vec3::new(0.0, 0.0, 5.5);
        scene.camera.target = Vec3::ZERO;
        assert!((converge(&scene, 8, 1) - le).abs().max_element() < 1e-6);
    }

    fn ground(albedo: f32) -> Scene {
        let mut scene = Scene::empty(Camera {
            eye: Vec3::new(0.0, 1.0, 0.0),
            target: Vec3::new(0.0, 0.0, 0.001),
            up: Vec3::Z,
            fov: 20.0,
        });
        scene.materials.push(Material::Diffuse {
            albedo: Vec3::splat(albedo),
            texture: None,
        });
        scene.meshes.push(std::sync::Arc::new(crate::scene::quad(
            "ground",
            [
                Vec3::new(-100., 0., -100.),
                Vec3::new(-100., 0., 100.),
                Vec3::new(100., 0., 100.),
                Vec3::new(100., 0., -100.),
            ],
        )));
        scene.objects.push(Object {
            name: "ground".into(),
            material: 0,
            shape: Shape::Mesh { mesh: 0 },
            transform: Transform::default(),
        });
        scene
    }

    /// A diffuse plane of albedo `a` under a uniform sky of radiance `l` reflects `a l`
    /// (the sky seen through the upper hemisphere integrates to `l`).
    #[test]
    fn diffuse_plane_under_uniform_sky_reflects_albedo_times_sky() {
        let mut scene = ground(0.6);
        scene.environment = Environment::Constant {
            radiance: Vec3::splat(2.0),
        };
        let mean = converge(&scene, 16, 32);
        // Within 1% of the analytic 1.2.
        assert!(
            (mean - Vec3::splat(1.2)).abs().max_element() < 0.012,
            "{mean}"
        );
    }

    /// A diffuse plane under the sun at zenith angle theta has radiance
    /// albedo / pi * E * cos(theta).
    #[test]
    fn diffuse_plane_under_the_sun_matches_lambert() {
        let mut scene = ground(0.5);
        let theta = 60f32.to_radians();
        scene.lights.push(Light::Directional {
            direction: Vec3::new(theta.sin(), -theta.cos(), 0.0),
            irradiance: Vec3::splat(3.0),
        });
        let mean = converge(&scene, 8, 4);
        let expected = 0.5 / std::f32::consts::PI * 3.0 * theta.cos();
        assert!(
            (mean - Vec3::splat(expected)).abs().max_element() < 1e-4,
            "{mean} vs {expected}"
        );
    }

    /// A point light of intensity I at height h above a diffuse plane: straight below
    /// it the radiance is albedo / pi * I / h^2.
    #[test]
    fn diffuse_plane_under_a_point_light_matches_inverse_square() {
        let mut scene = ground(0.8);
        scene.camera = Camera {
            eye: Vec3::new(0.0, 1.0, 0.0),
            target: Vec3::new(0.0, 0.0, 0.0001),
            up: Vec3::Z,
            fov: 1.0,
        };
        scene.lights.push(Light::Point {
            position: Vec3::new(0.0, 2.0, 0.0),
            intensity: Vec3::splat(10.0),
        });
        // The camera at height 1 sits below the light and casts no shadow (it is not geometry).
        let mean = converge(&scene, 4, 4);
        let expected = 0.8 / std::f32::consts::PI * 10.0 / 4.0;
        assert!(
            (mean - Vec3::splat(expected)).abs().max_element() < 2e-3 * expected,
            "{mean} vs {expected}"
        );
    }

    /// A diffuse plane of `albedo` seen straight down through a narrow camera, under a
    /// 0.1 x 0.1 panel of radiance 100 at height 3 facing it. Returns the scene and the
    /// panel's contribution to the plane's radiance below it, from the small-source
    /// limit of the irradiance, E = L A / d^2.
    fn plane_under_panel(albedo: f32) -> (Scene, f32) {
        let mut scene = ground(albedo);
        scene.camera = Camera {
            eye: Vec3::new(0.0, 1.0, 0.0),
            target: Vec3::new(0.0, 0.0, 0.0001),
            up: Vec3::Z,
            fov: 1.0,
        };
        scene.materials.push(Material::Emissive {
            radiance: Vec3::splat(100.0),
        });
        let (s, h) = (0.05, 3.0);
        scene.meshes.push(std::sync::Arc::new(crate::scene::quad(
            "panel",
            [
                Vec3::new(-s, h, -s),
                Vec3::new(s, h, -s),
                Vec3::new(s, h, s),
                Vec3::new(-s, h, s),
            ],
        )));
        scene.objects.push(Object {
            name: "panel".into(),
            material: 1,
            shape: Shape::Mesh { mesh: 1 },
            transform: Transform::default(),
        });
        let irradiance = 100.0 * (2.0 * s) * (2.0 * s) / (h * h);
        (scene, albedo * irradiance / std::f32::consts::PI)
    }

    /// A small area light, found by light sampling and BSDF sampling weighted by MIS,
    /// matches the point-source limit within 1%.
    #[test]
    fn small_area_light_matches_the_point_source_limit() {
        let (scene, expected) = plane_under_panel(1.0);
        let mean = converge(&scene, 4, 256);
        assert!(
            (mean.x - expected).abs() < 0.01 * expected,
            "{mean} vs {expected}"
        );
    }

    /// A large panel over a diffuse plane, with a single bounce allowed (the plane
    /// cannot see itself, so one bounce is the whole answer): light sampling and BSDF
    /// sampling share the panel's light through MIS, and both halves must be counted
    /// at the last bounce. Closed form: the view factor of the four corner rectangles.
    /// Found by comparing with Mitsuba (`tools/crosscheck`): the BSDF half at the last
    /// bounce used to be dropped, which made this 62% too dark.
    #[test]
    fn large_area_light_with_one_bounce_matches_the_view_factor() {
        let (mut scene, _) = plane_under_panel(0.5);
        let (s, h, radiance) = (2.0f32, 1.0f32, 100.0f32);
        scene.meshes[1] = std::sync::Arc::new(crate::scene::quad(
            "panel",
            [
                Vec3::new(-s, h, -s),
                Vec3::new(s, h, -s),
                Vec3::new(s, h, s),
                Vec3::new(-s, h, s),
            ],
        ));
        scene.camera.eye = Vec3::new(0.0, 0.5, 0.0);
        scene.max_bounces = 1;
        // View factor from a point under one corner of an a x b rectangle at height h.
        let corner = |a: f32, b: f32| {
            let (x, y) = (a / h, b / h);
            let (sx, sy) = ((1.0 + x * x).sqrt(), (1.0 + y * y).sqrt());
            (x / sx * (y / sx).atan() + y / sy * (x / sy).atan()) / (2.0 * std::f32::consts::PI)
        };
        let irradiance = std::f32::consts::PI * radiance * 4.0 * corner(s, s);
        let expected = 0.5 * irradiance / std::f32::consts::PI;
        let mean = converge(&scene, 4, 256);
        assert!(
            (mean.x - expected).abs() < 0.01 * expected,
            "{mean} vs {expected}"
        );
    }

    /// Two kinds of light at once, so that light sampling must choose between them:
    /// a uniform sky and a small panel over a diffuse plane add up.
    #[test]
    fn sky_and_area_light_together_add_up() {
        let (mut scene, from_panel) = plane_under_panel(0.5);
        scene.environment = Environment::Constant {
            radiance: Vec3::splat(0.2),
        };
        let mean = converge(&scene, 4, 512);
        // The panel hides a negligible part of the sky (1e-3 sr).
        let expected = 0.5 * 0.2 + from_panel;
        assert!(
            (mean.x - expected).abs() < 0.01 * expected,
            "{mean} vs {expected}"
        );
    }

    /// Regression: light below a surface must not reach its top through a shading
    /// normal that leans towards the light (light sampling used to skip the check
    /// BSDF sampling made).
    #[test]
    fn tilted_shading_normals_do_not_leak_light_from_below() {
        let mut scene = ground(0.8);
        std::sync::Arc::make_mut(&mut scene.meshes[0]).normals =
            vec![Vec3::new(1.0, 0.3, 0.0).normalize(); 4];
        scene.lights.push(Light::Point {
            position: Vec3::new(50.0, -1.0, 0.0),
            intensity: Vec3::splat(1e4),
        });
        assert_eq!(converge(&scene, 8, 4), Vec3::ZERO);
    }

    /// Meshes with no triangles, or only degenerate ones (including an emissive one),
    /// are valid input: they render as nothing, next to geometry that renders.
    #[test]
    fn empty_and_degenerate_meshes_render_as_nothing() {
        let mut scene = ground(0.5);
        scene.environment = Environment::Constant {
            radiance: Vec3::ONE,
        };
        scene.materials.push(Material::Emissive {
            radiance: Vec3::splat(5.0),
        });
        scene.meshes.push(Default::default());
        scene.meshes.push(std::sync::Arc::new(crate::scene::Mesh {
            positions: vec![Vec3::ZERO, Vec3::ZERO, Vec3::X],
            indices: vec![[0, 1, 2]],
            ..Default::default()
        }));
        for (mesh, material) in [(1, 0), (2, 1)] {
            scene.objects.push(Object {
                name: String::new(),
                material,
                shape: Shape::Mesh { mesh },
                transform: Transform {
                    translation: Vec3::new(0.0, 0.5, 0.0),
                    ..Transform::default()
                },
            });
        }
        let mean = converge(&scene, 8, 4);
        assert!(
            (mean - Vec3::splat(0.5)).abs().max_element() < 0.05,
            "{mean}"
        );
    }

    /// Replacing the scene restarts accumulation and shows the new scene.
    #[test]
    fn set_scene_shows_the_new_scene() {
        let mut scene = ground(0.5);
        scene.environment = Environment::Constant {
            radiance: Vec3::ONE,
        };
        let mut r = Renderer::new(&scene, 8, 8).unwrap();
        r.set_preview_scales(&[]);
        for _ in 0..4 {
            r.render_next(&never()).unwrap();
        }
        scene.materials[0] = Material::Diffuse {
            albedo: Vec3::splat(0.2),
            texture: None,
        };
        r.set_scene(&scene).unwrap();
        assert_eq!(r.samples_per_pixel(), 0);
        for _ in 0..4 {
            r.render_next(&never()).unwrap();
        }
        assert!(
            (r.film().mean() - Vec3::splat(0.2)).abs().max_element() < 0.02,
            "{}",
            r.film().mean()
        );
        scene.max_bounces = 0;
        assert!(r.set_scene(&scene).is_err(), "an invalid scene is refused");
        assert_eq!(r.samples_per_pixel(), 4, "and changes nothing");
    }

    /// The rows the video converter reads are the picture `write_rgb8` makes, for
    /// the film (two separate code paths) and for an upscaled preview (one path, so
    /// the preview is also checked against its own small image: the corners, which
    /// the texel-centred upscale reproduces exactly, and the mean).
    #[test]
    fn picture_rows_match_the_packed_picture() {
        let mut r = Renderer::new(&Scene::cornell_box(), 40, 24).unwrap();
        for kind in ["preview", "film"] {
            r.render_next(&never()).unwrap();
            if kind == "film" {
                r.set_preview_scales(&[]);
                r.render_next(&never()).unwrap();
                r.render_next(&never()).unwrap();
            }
            let mut packed = vec![0u8; 40 * 24 * 3];
            r.write_rgb8(&mut packed);
            let picture = r.picture();
            assert_eq!(
                matches!(picture, Picture::Preview { .. }),
                kind == "preview"
            );
            if let Picture::Preview { small, .. } = &picture {
                let last = packed.len() - 3;
                assert_eq!(packed[..3], small[..3], "top-left corner");
                assert_eq!(
                    packed[last..],
                    small[small.len() - 3..],
                    "bottom-right corner"
                );
                let mean = |v: &[u8]| v.iter().map(|&b| b as f64).sum::<f64>() / v.len() as f64;
                assert!(
                    (mean(&packed) - mean(small)).abs() < 2.0,
                    "upscaling keeps the mean"
                );
            }
            let (mut red, mut green, mut blue) = ([0u8; 40], [0u8; 40], [0u8; 40]);
            for y in 0..24 {
                picture.row(y, &mut red, &mut green, &mut blue);
                for x in 0..40 {
                    let i = (y * 40 + x) * 3;
                    assert_eq!(
                        [red[x], green[x], blue[x]],
                        packed[i..i + 3],
                        "{kind} {x},{y}"
                    );
                }
            }
            assert!(
                packed.iter().any(|&v| v > 20),
                "{kind}: the picture is not black"
            );
        }
    }

    #[test]
    fn bad_sizes_and_cameras_are_rejected() {
        assert!(matches!(
            Renderer::new(&Scene::cornell_box(), 0, 10),
            Err(RendererError::Size { .. })
        ));
        let mut r = Renderer::new(&Scene::cornell_box(), 8, 8).unwrap();
        let before = r.camera();
        assert!(r
            .set_camera(Camera {
                fov: f32::NAN,
                ..before
            })
            .is_err());
        assert_eq!(r.camera(), before);
    }
}
