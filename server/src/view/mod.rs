//! A view: a camera over the scene, its render thread and its encoder thread.
//!
//! The render thread refines the picture progressively and publishes each finished
//! pass, converted to I420, as the view's latest frame. The encoder thread wakes at
//! the configured frame rate, or as soon as a frame showing an edit is ready (if half
//! a period has passed since the last frame), and encodes the latest frame once; the
//! access unit is broadcast to every viewer's session, which sends it on its own
//! track. Nothing is encoded while no session is subscribed.
//!
//! A camera move, a new scene (a transaction from the [`crate::scene::store::SceneStore`]) or a
//! resize bumps a generation counter; the render thread polls the counter while
//! rendering, so a stale pass is abandoned within a few rows and the next picture is a
//! preview of the change. Every frame carries the revision it shows: the newest of its
//! scene's and its camera's.
//!
//! Length: About 670 lines of code (and 160 of tests): the View's API and the state its
//! three threads share; the threads and the policies are files of their own.

pub(crate) mod denoise_plan;
mod denoise_thread;
pub mod denoising;
mod encode;
pub mod planner;
pub mod registry;
mod render;
mod settings;

pub use planner::MIN_KEYFRAME_INTERVAL;
pub use render::UNWATCHED_SPP;
pub use settings::{IndirectClamp, ViewSettings, DEFAULT_INDIRECT_CLAMP};

use crate::protocol::Revision;
use crate::scene::outbox::{Outbox, Unpublished};
use crate::scene::{SceneVersion, Subscriber};
use bytes::Bytes;
use encoder::{rows_to_i420, EncoderSettings, H264Encoder, I420Frame, RgbRows};
use render_core::{Camera, PassKind, Renderer, Scene};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};
use tokio::sync::broadcast;

/// A picture the render thread finished, already in the encoder's input format.
pub struct RenderedFrame {
    /// Tone-mapped and converted in one pass from the film.
    pub i420: I420Frame,
    pub revision: Revision,
    /// Distinguishes frames, for tests and logs.
    pub serial: u64,
    /// The last pass until something changes: the renderer reached its sample or
    /// time limit, so the picture is still from now on.
    pub converged: bool,
    /// Samples per pixel in the picture (0 while it is a preview).
    pub samples_per_pixel: u32,
    /// Denoised (see [`denoise_loop`]) rather than the raw film.
    pub denoised: bool,
    /// The view's change generation the picture shows.
    pub generation: u64,
}

/// The renderer's picture as rows for the converter.
struct PictureRows<'a>(render_core::Picture<'a>);

impl RgbRows for PictureRows<'_> {
    fn row(&self, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        self.0.row(y, r, g, b);
    }
}

/// A denoised picture (radiance, exposure applied) as rows for the converter.
struct RadianceRows<'a> {
    radiance: &'a [glam::Vec3],
    width: usize,
}

impl RgbRows for RadianceRows<'_> {
    fn row(&self, y: usize, r: &mut [u8], g: &mut [u8], b: &mut [u8]) {
        let row = &self.radiance[y * self.width..(y + 1) * self.width];
        render_core::film::tone_map_radiance_row(row, 1.0, r, g, b);
    }
}

/// One encoded frame, shared by every viewer of the view.
#[derive(Debug)]
pub struct EncodedFrame {
    pub data: Bytes,
    pub keyframe: bool,
    pub revision: Revision,
    /// When the encoder produced it; sessions derive RTP timestamps from it.
    pub produced: Instant,
    /// The stream's size in this frame.
    pub width: u32,
    pub height: u32,
    /// Its picture is denoised.
    pub denoised: bool,
}

/// The first encoded frame of a revision, or of a denoised (or raw) picture after
/// frames of the other kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Shown {
    pub revision: Revision,
    pub width: u32,
    pub height: u32,
    pub denoised: bool,
}

/// Messages the view sends to every session.
#[derive(Clone, Debug)]
pub enum ViewEvent {
    CameraChanged {
        revision: Revision,
        camera: Camera,
    },
    Resized {
        width: u32,
        height: u32,
    },
    /// A controller changed the live bitrate cap or the frame rate.
    QualityChanged(Quality),
}

/// What a controller may change of a view's stream at run time: the live bitrate
/// (the encoder's ceiling while the picture changes; links may hold it lower) and the
/// frame rate. They start at `--bitrate` and `--fps`; the bitrate stays within
/// `--min-bitrate` and `--max-bitrate`, the frame rate within 1 and `--fps`.
#[derive(Clone, Copy, Debug, PartialEq, serde::Serialize)]
pub struct Quality {
    pub bitrate: u32,
    pub fps: f32,
    /// Denoise the pictures; only ever true on a view started with denoising (see
    /// [`View::can_denoise`]).
    pub denoise: bool,
}

/// Counters for metrics and benchmarks.
#[derive(Default, Debug)]
pub struct ViewStats {
    pub frames_encoded: AtomicU64,
    pub keyframes_encoded: AtomicU64,
    /// Total OpenH264 encode time in microseconds.
    pub encode_micros: AtomicU64,
    /// Total time turning finished passes into I420 (tone mapping included).
    pub convert_micros: AtomicU64,
    pub passes_rendered: AtomicU64,
    pub samples_rendered: AtomicU64,
    pub rays_traced: AtomicU64,
    pub render_micros: AtomicU64,
    /// Bytes of encoded video (each frame once, whatever the number of viewers).
    pub bytes_encoded: AtomicU64,
    /// The encoder's current target bitrate, in bit/s.
    pub target_bitrate: AtomicU64,
    /// The lowest link estimate among the viewers, in bit/s (0 without viewers).
    pub lowest_link: AtomicU64,
    /// Still-quality refreshes started.
    pub refreshes: AtomicU64,
    /// Frames not encoded because the video had run ahead of what the poorest link
    /// carries (see [`planner::DEBT_LIMIT`]).
    pub frames_dropped: AtomicU64,
    /// The size of the stream: the picture's, or smaller while the bitrate is low.
    pub stream_width: AtomicU64,
    pub stream_height: AtomicU64,
    /// Pictures encoded as PNG for `GET /api/snapshot.png` (one per picture state
    /// asked for, however many asked: see `snapshot.rs`).
    pub snapshots_encoded: AtomicU64,
    /// Total time spent denoising finished pictures, in microseconds (cancelled
    /// denoises not counted).
    pub denoise_micros: AtomicU64,
    /// Denoised pictures put on the stream.
    pub pictures_denoised: AtomicU64,
    /// 1 while the render thread renders, 0 while it sleeps (converged, out of time,
    /// or unwatched past its budget).
    pub rendering: AtomicU64,
}

struct Control {
    scene: Arc<SceneVersion>,
    camera: Camera,
    /// The picture size asked for (the encoder follows the frames it gets).
    size: (u32, u32),
    /// The newest revision of the scene and the camera.
    revision: Revision,
    /// Bumped on every change; the render thread compares it to what it rendered.
    generation: u64,
    /// Waiting for the current picture as RGB (see [`View::snapshot`]).
    /// Each with whether it wants the picture the stream shows (denoised, when it
    /// is) or the raw film.
    snapshots: Vec<(std::sync::mpsc::Sender<Snapshot>, bool)>,
}

/// The current picture, tone-mapped, as packed 8-bit RGB.
#[derive(Clone)]
pub struct Snapshot {
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
    pub revision: Revision,
    pub samples_per_pixel: u32,
    /// The picture the stream showed when it was taken (the `serial` of its
    /// [`RenderedFrame`]).
    pub serial: u64,
    /// Denoised, rather than the raw film.
    pub denoised: bool,
}

struct Shared {
    control: Mutex<Control>,
    changed: Condvar,
    generation: AtomicU64,
    latest: Mutex<Option<Arc<RenderedFrame>>>,
    /// Signalled when `latest` changes, so an edit's first frame need not wait for
    /// the next tick.
    latest_changed: Condvar,
    keyframe_requested: AtomicBool,
    shutdown: AtomicBool,
    frames: broadcast::Sender<Arc<EncodedFrame>>,
    /// What every session of the view hears (camera, size, quality), in order; a
    /// camera move's is held until its mover's ack is sent.
    outbox: Arc<Outbox<ViewEvent>>,
    /// The newest revision an encoded frame has shown, and that frame's size.
    shown: tokio::sync::watch::Sender<Option<Shown>>,
    stats: ViewStats,
    /// Each streaming viewer's estimate of its link (bit/s, as `f64` bits), from its
    /// congestion controller; the encoder follows the lowest.
    links: Mutex<Vec<(u64, Arc<AtomicU64>)>>,
    next_link: AtomicU64,
    /// The live bitrate and frame rate, which the encode thread reads every tick.
    quality: Mutex<Quality>,
    /// The denoise thread's mailbox, when the view denoises.
    denoise: Option<DenoiseShared>,
    /// Serials of pictures, from the render and the denoise threads.
    next_serial: AtomicU64,
    /// The cap on indirect light, which may depend on whether pictures are denoised.
    indirect_clamp: IndirectClamp,
}

/// What the render thread and the denoise thread share (see [`denoise_loop`]).
struct DenoiseShared {
    /// The next picture to denoise; a newer one replaces one not yet started.
    job: Mutex<Option<DenoiseJob>>,
    wake: Condvar,
    /// A denoise is running.
    busy: AtomicBool,
    /// Until the runtime turns out to be missing or broken.
    available: AtomicBool,
    /// What denoising has cost at the sizes it ran at.
    costs: Mutex<denoise_plan::Costs>,
    /// The latest denoised picture, for snapshots.
    picture: Mutex<Option<Arc<DenoisedPicture>>>,
}

/// A denoised picture: radiance with the exposure applied.
struct DenoisedPicture {
    generation: u64,
    samples_per_pixel: u32,
    radiance: Vec<glam::Vec3>,
}

/// A picture for the denoise thread: the film's averages at one moment.
struct DenoiseJob {
    generation: u64,
    revision: Revision,
    samples_per_pixel: u32,
    width: u32,
    height: u32,
    /// Denoised at this fraction of the size, then scaled back up.
    downscale: u32,
    averages: render_core::film::FilmAverages,
    options: denoising::Options,
    /// The last picture of this change (the render converged): sent as converged.
    last: bool,
}

impl Shared {
    /// The lowest link estimate among the viewers, if any has one.
    fn lowest_link(&self) -> Option<f64> {
        lock(&self.links)
            .iter()
            .map(|(_, e)| f64::from_bits(e.load(Ordering::Relaxed)))
            .filter(|e| e.is_finite() && *e > 0.0)
            .reduce(f64::min)
    }
}

/// A viewer's part in choosing the view's bitrate, while it streams: see
/// [`View::add_link`]. Dropping it withdraws the estimate.
pub struct LinkShare {
    id: u64,
    shared: std::sync::Weak<Shared>,
}

impl Drop for LinkShare {
    fn drop(&mut self) {
        if let Some(shared) = self.shared.upgrade() {
            lock(&shared.links).retain(|(id, _)| *id != self.id);
        }
    }
}

/// Why a view could not start.
#[derive(Debug, thiserror::Error)]
pub enum ViewError {
    #[error("renderer: {0}")]
    Render(#[from] render_core::RendererError),
    #[error("encoder: {0}")]
    Encoder(#[from] encoder::EncoderError),
    #[error("bitrates must satisfy --min-bitrate ({min}) <= --bitrate ({bitrate}) <= --max-bitrate ({max}), in bit/s from 50000 to 100000000")]
    Bitrates { min: u32, bitrate: u32, max: u32 },
    #[error("the largest size a client may ask for (--max-width, --max-height): {0}")]
    MaxSize(encoder::EncoderError),
    #[error("could not start a thread: {0}")]
    Thread(#[from] std::io::Error),
}

/// A running view. [`View::stop`] (or dropping it) stops and joins its threads.
pub struct View {
    shared: Arc<Shared>,
    settings: ViewSettings,
    threads: Mutex<Vec<JoinHandle<()>>>,
}

impl View {
    /// A view of `scene` on its own (tests, benchmarks): its sample limit is the
    /// settings' `max_spp`, at exposure 1.
    pub fn start(scene: &Scene, settings: ViewSettings) -> Result<View, ViewError> {
        scene.validate().map_err(render_core::RendererError::from)?;
        let version = SceneVersion::new(
            Revision(0),
            Arc::new(scene.clone()),
            render_core::edit::Settings {
                max_samples: settings.max_spp,
                max_bounces: scene.max_bounces,
                exposure: 1.0,
            },
        );
        View::start_with(Arc::new(version), scene.camera, settings)
    }

    /// A view of a scene version (a store's; see [`crate::scene::store::SceneStore::add_view`]),
    /// starting with `camera`.
    pub fn start_with(
        version: Arc<SceneVersion>,
        camera: Camera,
        settings: ViewSettings,
    ) -> Result<View, ViewError> {
        let (min, bitrate, max) = (settings.min_bitrate, settings.bitrate, settings.max_bitrate);
        if !(50_000 <= min && min <= bitrate && bitrate <= max && max <= 100_000_000) {
            return Err(ViewError::Bitrates { min, bitrate, max });
        }
        let mut renderer =
            Renderer::with_compiled(version.compiled(), camera, settings.width, settings.height)?;
        renderer.exposure = version.settings.exposure;
        let encoder_settings = EncoderSettings {
            width: settings.width,
            height: settings.height,
            fps: settings.fps,
            bitrate: settings.bitrate,
            keyframe_interval: settings.keyframe_interval,
        };
        let encoder = H264Encoder::new(encoder_settings)?;
        // Every size a `resize` may ask for (even, up to the maximum) must be one the
        // encoder takes; checking the largest covers them all.
        EncoderSettings {
            width: settings.max_width,
            height: settings.max_height,
            ..encoder_settings
        }
        .validate()
        .map_err(ViewError::MaxSize)?;
        // A few frames of slack: a viewer that falls further behind skips to the next
        // keyframe instead of holding frames the others have long sent.
        let (frames, _) = broadcast::channel(8);
        let shared = Arc::new(Shared {
            control: Mutex::new(Control {
                revision: version.revision,
                scene: version,
                camera,
                size: (settings.width, settings.height),
                generation: 0,
                snapshots: Vec::new(),
            }),
            changed: Condvar::new(),
            generation: AtomicU64::new(0),
            latest: Mutex::new(None),
            latest_changed: Condvar::new(),
            keyframe_requested: AtomicBool::new(true),
            shutdown: AtomicBool::new(false),
            frames,
            outbox: Outbox::new(64),
            shown: tokio::sync::watch::channel(None).0,
            stats: ViewStats::default(),
            links: Mutex::new(Vec::new()),
            next_link: AtomicU64::new(0),
            quality: Mutex::new(Quality {
                bitrate: settings.bitrate,
                fps: settings.fps,
                denoise: settings.denoise,
            }),
            denoise: settings.denoise.then(|| DenoiseShared {
                job: Mutex::new(None),
                wake: Condvar::new(),
                busy: AtomicBool::new(false),
                available: AtomicBool::new(true),
                costs: Mutex::new(denoise_plan::Costs::default()),
                picture: Mutex::new(None),
            }),
            next_serial: AtomicU64::new(1),
            indirect_clamp: settings.indirect_clamp,
        });
        let render = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("render".into())
                .spawn(move || render::render_loop(&shared, renderer, settings.max_time))?
        };
        let encode = {
            let shared = shared.clone();
            std::thread::Builder::new()
                .name("encode".into())
                .spawn(move || encode::encode_loop(&shared, encoder, settings))?
        };
        let mut threads = vec![render, encode];
        if settings.denoise {
            let shared = shared.clone();
            threads.push(
                std::thread::Builder::new()
                    .name("denoise".into())
                    .spawn(move || denoise_thread::denoise_loop(&shared))?,
            );
        }
        Ok(View {
            shared,
            settings,
            threads: Mutex::new(threads),
        })
    }

    pub fn settings(&self) -> ViewSettings {
        self.settings
    }

    pub fn stats(&self) -> &ViewStats {
        &self.shared.stats
    }

    /// The current camera and the revision it belongs to.
    pub fn camera(&self) -> (Camera, Revision) {
        let c = lock(&self.shared.control);
        (c.camera, c.revision)
    }

    /// Moves the camera (already validated) at `revision` (newer than any before;
    /// from the store's counter). Every session hears of it through [`View::events`]
    /// when the returned hold is dropped: the mover drops it once its ack is sent, so
    /// that the ack does not wait behind waking every other session (with 2000
    /// WebSockets connected it once took 30 ms instead of 0.4).
    pub fn set_camera(&self, camera: Camera, revision: Revision) -> Unpublished {
        self.change(|c| {
            c.camera = camera;
            c.revision = c.revision.max(revision);
            Some((Some(ViewEvent::CameraChanged { revision, camera }), ()))
        });
        self.shared.outbox.hold()
    }

    /// The scene version the view renders (the latest the store gave it).
    pub fn scene(&self) -> Arc<SceneVersion> {
        lock(&self.shared.control).scene.clone()
    }

    /// Renders `version` of the scene from now on (nothing happens if it is the one
    /// being rendered). Only the render thread is woken: connections hear of scene
    /// changes from the store, after the editor's acknowledgement. (An event here
    /// once woke every connected client, mid-edit, to ignore it, and the editor's
    /// acknowledgement waited behind thousands of them.)
    pub fn set_scene(&self, version: Arc<SceneVersion>) {
        self.change(|c| {
            (!Arc::ptr_eq(&c.scene, &version)).then(|| {
                c.revision = c.revision.max(version.revision);
                c.scene = version;
                (None, ())
            })
        });
    }

    /// The current picture at full resolution as RGB, once the renderer has one: the
    /// one the stream shows (denoised, when it is) or, with `raw`, the film as
    /// rendered. Blocks until the render thread is between passes; `None` if the
    /// view stops.
    pub fn snapshot(&self, raw: bool) -> Option<Snapshot> {
        let (tx, rx) = std::sync::mpsc::channel();
        lock(&self.shared.control).snapshots.push((tx, !raw));
        self.shared.changed.notify_all();
        rx.recv().ok()
    }

    /// Applies a change under the control lock, bumps the generation the render
    /// thread watches, and queues the event `apply` returns (if any) for every
    /// session while still holding the lock, so that sessions hear of changes in the
    /// order they were made; the caller publishes it. `apply` returns `None` when
    /// nothing changed.
    fn change<T>(
        &self,
        apply: impl FnOnce(&mut Control) -> Option<(Option<ViewEvent>, T)>,
    ) -> Option<T> {
        let out = {
            let mut c = lock(&self.shared.control);
            let (event, out) = apply(&mut c)?;
            c.generation += 1;
            self.shared
                .generation
                .store(c.generation, Ordering::Release);
            if let Some(event) = event {
                self.shared.outbox.push(event);
            }
            out
        };
        self.shared.changed.notify_all();
        Some(out)
    }

    /// The picture size the view renders and streams (or is changing to).
    pub fn size(&self) -> (u32, u32) {
        lock(&self.shared.control).size
    }

    /// Whether the view can denoise: started with denoising, and its runtime has not
    /// turned out to be missing or broken.
    pub fn can_denoise(&self) -> bool {
        self.shared
            .denoise
            .as_ref()
            .is_some_and(|d| d.available.load(Ordering::Relaxed))
    }

    /// The live bitrate, frame rate and denoising.
    pub fn quality(&self) -> Quality {
        *lock(&self.shared.quality)
    }

    /// Changes the live bitrate, frame rate and denoising (already validated against
    /// the settings: see [`Quality`]). The encoder follows from its next tick; a new
    /// frame rate restarts it, with a keyframe. The picture is not rendered again,
    /// unless denoising is turned on or off: then it starts over, so that the raw
    /// preview and the denoised pictures follow as after any change. Every session
    /// hears of it through [`View::events`].
    pub fn set_quality(&self, quality: Quality) {
        let mut q = lock(&self.shared.quality);
        let denoise_changed = q.denoise != quality.denoise;
        if *q != quality {
            *q = quality;
            self.shared.outbox.push(ViewEvent::QualityChanged(quality));
            self.shared.outbox.publish();
        }
        drop(q);
        if denoise_changed {
            self.change(|_| Some((None, ())));
        }
        self.shared.latest_changed.notify_all();
    }

    /// Changes the picture size (already validated against the settings' maximum):
    /// the renderer starts over at the new size, and the encoder restarts with a
    /// keyframe when the first frame of that size reaches it. Every session hears
    /// of it through [`View::events`].
    pub fn resize(&self, width: u32, height: u32) {
        self.change(|c| {
            (c.size != (width, height)).then(|| {
                c.size = (width, height);
                (Some(ViewEvent::Resized { width, height }), ())
            })
        });
        self.shared.outbox.publish();
    }

    /// Adds a viewer's link estimate (bit/s, stored as `f64` bits, updated by its
    /// congestion controller) to those the encoder's bitrate follows, for as long as
    /// the returned share lives. The policy, since one encode serves every viewer: the
    /// lowest estimate, within the configured floor and ceiling.
    pub fn add_link(&self, estimate: Arc<AtomicU64>) -> LinkShare {
        let id = self.shared.next_link.fetch_add(1, Ordering::Relaxed);
        lock(&self.shared.links).push((id, estimate));
        LinkShare {
            id,
            shared: Arc::downgrade(&self.shared),
        }
    }

    /// Viewers streaming this view now (each registers its link while it streams).
    pub fn viewers(&self) -> usize {
        lock(&self.shared.links).len()
    }

    /// Encoded frames from now on. A view nobody subscribes to stops rendering once
    /// a change reaches [`UNWATCHED_SPP`]; subscribing wakes it.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<EncodedFrame>> {
        let frames = {
            // Under the lock the render thread decides to sleep with, so that the
            // wake-up cannot slip between its check and its wait.
            let _control = lock(&self.shared.control);
            self.shared.frames.subscribe()
        };
        self.shared.changed.notify_all();
        frames
    }

    pub fn events(&self) -> broadcast::Receiver<ViewEvent> {
        self.shared.outbox.subscribe()
    }

    /// The newest revision an encoded frame has shown. Watching it does not make the
    /// view encode (only video subscribers do).
    pub fn shown(&self) -> tokio::sync::watch::Receiver<Option<Shown>> {
        self.shared.shown.subscribe()
    }

    /// Makes the next encoded frame a keyframe. Many requests before the next frame
    /// cost one keyframe.
    pub fn request_keyframe(&self) {
        self.shared
            .keyframe_requested
            .store(true, Ordering::Release);
    }

    /// The latest rendered picture, if any.
    pub fn latest_frame(&self) -> Option<Arc<RenderedFrame>> {
        lock(&self.shared.latest).clone()
    }
}

impl View {
    /// Stops the render and encode threads and waits for them: the render thread
    /// abandons its pass within a few rows, the encoder finishes the frame in hand.
    /// Subscribers then see the frame channel close. Blocks; idempotent.
    pub fn stop(&self) {
        {
            // Under the lock the render thread checks the flag with, so that it
            // cannot miss the wake-up between its check and its wait.
            let _control = lock(&self.shared.control);
            self.shared.shutdown.store(true, Ordering::Release);
        }
        self.shared.changed.notify_all();
        self.shared.latest_changed.notify_all();
        if let Some(d) = &self.shared.denoise {
            // Under the mailbox's lock, which the denoise thread waits with.
            drop(lock(&d.job));
            d.wake.notify_all();
        }
        let threads = std::mem::take(&mut *lock(&self.threads));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl Subscriber for View {
    fn set_scene(&self, version: Arc<SceneVersion>) {
        View::set_scene(self, version);
    }
}

impl Drop for View {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Locks a mutex, recovering the data if a thread panicked while holding it: the
/// state guarded here stays consistent between statements.
fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoder::H264Decoder;

    fn settings() -> ViewSettings {
        ViewSettings::small_for_tests()
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn the_encoder_follows_the_poorest_viewer_link_while_it_streams() {
        let view = View::start(&Scene::cornell_box(), settings()).unwrap();
        let mut rx = view.subscribe();
        let target = || view.stats().target_bitrate.load(Ordering::Relaxed);
        let poor = Arc::new(AtomicU64::new(250_000f64.to_bits()));
        let good = Arc::new(AtomicU64::new(2_000_000f64.to_bits()));
        let _good = view.add_link(good);
        let share = view.add_link(poor.clone());
        let seen = |want: u64, rx: &mut broadcast::Receiver<Arc<EncodedFrame>>| {
            for _ in 0..120 {
                let _ = rx.blocking_recv();
                if target() == want {
                    return;
                }
            }
            panic!("target stayed at {} instead of {want}", target());
        };
        tokio::task::block_in_place(|| {
            seen(250_000, &mut rx);
            poor.store(400_000f64.to_bits(), Ordering::Relaxed);
            seen(400_000, &mut rx);
            // The poor viewer leaves: the good link allows the live bitrate.
            drop(share);
            seen(500_000, &mut rx);
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn subscriber_gets_a_keyframe_first_and_decodable_frames_of_the_view() {
        let view = View::start(&Scene::cornell_box(), settings()).unwrap();
        let mut rx = view.subscribe();
        let mut decoder = H264Decoder::new().unwrap();
        let first = tokio::time::timeout(Duration::from_secs(10), rx.recv())
            .await
            .unwrap()
            .unwrap();
        assert!(
            first.keyframe,
            "a new subscriber must start from a keyframe"
        );
        let mut decoded = decoder.decode(&first.data).unwrap();
        for _ in 0..5 {
            let f = rx.recv().await.unwrap();
            assert!(!f.keyframe);
            decoded = decoder.decode(&f.data).unwrap().or(decoded);
        }
        let d = decoded.expect("decoded a picture");
        assert_eq!((d.width, d.height), (64, 48));
        // The room's red wall is on the left and its green wall on the right: red minus
        // green has opposite signs there, even in a blurry early preview.
        let red_minus_green = |x0: usize, x1: usize| -> i64 {
            let mut sum = 0i64;
            for y in 12..36 {
                for x in x0..x1 {
                    let p = &d.rgb[(y * 64 + x) * 3..][..3];
                    sum += p[0] as i64 - p[1] as i64;
                }
            }
            sum
        };
        let (left, right) = (red_minus_green(6, 12), red_minus_green(52, 58));
        assert!(
            left > 0 && right < 0,
            "walls not where the scene has them: left {left}, right {right}"
        );
    }

    /// Regression: a new scene version was announced on the view's events, which
    /// every connected client listens to, so each edit woke every WebSocket and data
    /// channel (to ignore it) before the editor's acknowledgement went out: with
    /// 2000 WebSockets connected, an edit's ack took 7 ms instead of 0.4 ms. The
    /// render thread alone needs to know.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_new_scene_version_wakes_no_connection_but_reaches_frames() {
        let view = View::start(&Scene::cornell_box(), settings()).unwrap();
        let mut events = view.events();
        let mut rx = view.subscribe();
        let current = view.scene();
        let revision = Revision(view.camera().1 .0 + 1);
        view.set_scene(Arc::new(current.next(
            revision,
            current.scene.clone(),
            current.settings,
        )));
        assert_eq!(view.scene().revision, revision);
        frame_of(&mut rx, revision).await;
        assert!(
            matches!(
                events.try_recv(),
                Err(tokio::sync::broadcast::error::TryRecvError::Empty)
            ),
            "connections were woken by a scene version"
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn camera_change_bumps_revision_is_heard_after_the_movers_ack_and_reaches_frames() {
        let view = View::start(&Scene::cornell_box(), settings()).unwrap();
        let mut events = view.events();
        let mut rx = view.subscribe();
        let (cam, rev) = view.camera();
        let moved = Camera {
            eye: cam.eye + glam::Vec3::new(1.0, 0.0, 0.0),
            ..cam
        };
        let new_rev = Revision(rev.0 + 1);
        let held = view.set_camera(moved, new_rev);
        assert_eq!(view.camera(), (moved, new_rev));
        // Heard only once the mover lets it go (after its ack).
        assert!(matches!(
            events.try_recv(),
            Err(tokio::sync::broadcast::error::TryRecvError::Empty)
        ));
        drop(held);
        let ViewEvent::CameraChanged { revision, camera } = events.recv().await.unwrap() else {
            panic!("expected the camera change")
        };
        assert_eq!((revision, camera), (new_rev, moved));
        frame_of(&mut rx, new_rev).await;
    }

    /// Waits (at most ten seconds) for an encoded frame of `revision`.
    async fn frame_of(rx: &mut broadcast::Receiver<Arc<EncodedFrame>>, revision: Revision) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let f = tokio::time::timeout(Duration::from_secs(10), rx.recv())
                .await
                .unwrap()
                .unwrap();
            if f.revision == revision {
                break;
            }
            assert!(Instant::now() < deadline, "no frame of the new revision");
        }
    }
}
