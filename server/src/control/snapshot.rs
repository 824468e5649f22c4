//! `GET /api/snapshot.png`'s PNG pictures, encoded once per picture state and with a
//! bound on the work in progress.
//!
//! A picture state is a view's size, revision, samples per pixel and render pass
//! (previews have no samples yet): the same state is the same picture, so the same
//! PNG bytes. Each view keeps the PNG of its latest state asked for; requests for that
//! state share it, and requests arriving while it is being encoded wait for that one
//! encode instead of starting their own. At most [`MAX_ENCODES`] pictures are taken and
//! encoded at once, on the blocking pool; up to [`MAX_QUEUED`] more requests needing a
//! new encode wait for a turn, and any beyond are refused at once
//! ([`SnapshotError::Busy`], a `503` with `Retry-After`).

use crate::protocol::Revision;
use crate::view::View;
use bytes::Bytes;
use std::any::Any;
use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, Weak};
use tokio::sync::{OnceCell, Semaphore};

/// Pictures taken and encoded at once, whatever the number of views.
pub const MAX_ENCODES: usize = 2;

/// Requests that need a new encode and may wait for a turn beyond [`MAX_ENCODES`].
pub const MAX_QUEUED: usize = 8;

/// What identifies a view's picture: the same state gives the same bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PictureState {
    pub width: u32,
    pub height: u32,
    pub revision: Revision,
    pub samples_per_pixel: u32,
    /// The render pass that finished the picture (see `RenderedFrame::serial`).
    pub serial: u64,
    /// The denoised picture the stream shows, rather than the raw film.
    pub denoised: bool,
}

/// An encoded picture.
#[derive(Debug)]
pub struct Png {
    pub bytes: Bytes,
    pub state: PictureState,
}

/// Why no picture was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum SnapshotError {
    #[error("too many pictures are being encoded: try again shortly")]
    Busy,
    #[error("the picture could not be taken (the server is stopping?)")]
    Unavailable,
}

/// One view's latest picture state asked for, and its PNG once encoded.
struct Slot {
    /// The state the view's latest frame had when the slot was made: what the
    /// picture taken is expected to be (it can be newer, if a pass finished since).
    expected: Option<PictureState>,
    png: OnceCell<Arc<Png>>,
}

impl Slot {
    /// Whether the slot has (or is making) the picture of `state`; an unknown state
    /// is never served from a slot.
    fn serves(&self, state: Option<PictureState>) -> bool {
        state.is_some()
            && (self.expected == state || self.png.get().is_some_and(|p| Some(p.state) == state))
    }
}

/// The view a slot is of (compared by address; held weakly).
type Owner = Weak<dyn Any + Send + Sync>;

/// The snapshots of every view.
pub struct Snapshots {
    /// By view name, with the view it was of (a view closed and opened again under
    /// the same name is another view); entries of views that are gone are dropped.
    slots: Mutex<HashMap<String, (Owner, Arc<Slot>)>>,
    encodes: Arc<Semaphore>,
    /// Requests that need an encode: encoding, or waiting for a turn.
    wanting: AtomicUsize,
    /// The most of those at once.
    limit: usize,
}

/// Counts a request among those wanting an encode while it lives.
struct Wanting<'a>(&'a AtomicUsize);

impl Drop for Wanting<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Default for Snapshots {
    fn default() -> Self {
        Snapshots::new(MAX_ENCODES, MAX_QUEUED)
    }
}

impl Snapshots {
    /// At most `encodes` encodes at once (at least one), `queued` more waiting.
    pub fn new(encodes: usize, queued: usize) -> Snapshots {
        let encodes = encodes.max(1);
        Snapshots {
            slots: Mutex::new(HashMap::new()),
            encodes: Arc::new(Semaphore::new(encodes)),
            wanting: AtomicUsize::new(0),
            limit: encodes + queued,
        }
    }

    /// The PNG of `view`'s current picture (`name` is the view's name): the one the
    /// stream shows, or with `raw` the film as rendered, without denoising.
    pub async fn png(
        &self,
        name: &str,
        view: &Arc<View>,
        raw: bool,
    ) -> Result<Arc<Png>, SnapshotError> {
        // The raw film is not what the stream shows once a denoised picture is: its
        // state is not known before it is taken, and it has a slot of its own.
        let expected = view
            .latest_frame()
            .filter(|f| !raw || !f.denoised)
            .map(|f| PictureState {
                width: f.i420.width as u32,
                height: f.i420.height as u32,
                revision: f.revision,
                samples_per_pixel: f.samples_per_pixel,
                serial: f.serial,
                denoised: f.denoised,
            });
        let owner: Arc<dyn Any + Send + Sync> = view.clone();
        let view = view.clone();
        let key = if raw {
            format!("{name}\0raw")
        } else {
            name.to_owned()
        };
        self.get(&key, &owner, expected, move || encode(&view, raw))
            .await
    }

    /// The PNG of the picture `produce` takes and encodes (on the blocking pool),
    /// unless the slot of `owner` under `name` already has (or is making) the one of
    /// `expected`.
    async fn get(
        &self,
        name: &str,
        owner: &Arc<dyn Any + Send + Sync>,
        expected: Option<PictureState>,
        produce: impl FnOnce() -> Option<Png> + Send + 'static,
    ) -> Result<Arc<Png>, SnapshotError> {
        let slot = {
            let mut slots = lock(&self.slots);
            slots.retain(|_, (view, _)| view.strong_count() > 0);
            match slots.get(name) {
                Some((view, slot))
                    if std::ptr::addr_eq(view.as_ptr(), Arc::as_ptr(owner))
                        && slot.serves(expected) =>
                {
                    slot.clone()
                }
                _ => {
                    let slot = Arc::new(Slot {
                        expected,
                        png: OnceCell::new(),
                    });
                    slots.insert(name.to_owned(), (Arc::downgrade(owner), slot.clone()));
                    slot
                }
            }
        };
        // One request runs this at a time; the others wait for its result (and one
        // of them tries in turn if it fails or its client goes away).
        let png = slot
            .png
            .get_or_try_init(|| async {
                let _wanting = self.enter()?;
                let permit = self
                    .encodes
                    .clone()
                    .acquire_owned()
                    .await
                    .map_err(|_| SnapshotError::Unavailable)?;
                tokio::task::spawn_blocking(move || {
                    // Held until the encode ends, even if every request waiting for
                    // it has gone: the bound is on the work, not on the requests.
                    let _permit = permit;
                    produce().map(Arc::new)
                })
                .await
                .ok()
                .flatten()
                .ok_or(SnapshotError::Unavailable)
            })
            .await?;
        Ok(png.clone())
    }

    /// Counts a request among those wanting an encode, unless there are already as
    /// many as allowed.
    fn enter(&self) -> Result<Wanting<'_>, SnapshotError> {
        let before = self.wanting.fetch_add(1, Ordering::AcqRel);
        let guard = Wanting(&self.wanting);
        if before >= self.limit {
            return Err(SnapshotError::Busy);
        }
        Ok(guard)
    }
}

/// Takes `view`'s picture (waiting for the render thread to be between passes) and
/// encodes it as PNG. Blocks: run it on the blocking pool.
fn encode(view: &View, raw: bool) -> Option<Png> {
    let shot = view.snapshot(raw)?;
    let mut png = Vec::new();
    let encoder = image::codecs::png::PngEncoder::new_with_quality(
        &mut png,
        image::codecs::png::CompressionType::Fast,
        image::codecs::png::FilterType::Adaptive,
    );
    image::ImageEncoder::write_image(
        encoder,
        &shot.rgb,
        shot.width,
        shot.height,
        image::ExtendedColorType::Rgb8,
    )
    .ok()?;
    view.stats()
        .snapshots_encoded
        .fetch_add(1, Ordering::Relaxed);
    Some(Png {
        bytes: Bytes::from(png),
        state: PictureState {
            width: shot.width,
            height: shot.height,
            revision: shot.revision,
            samples_per_pixel: shot.samples_per_pixel,
            serial: shot.serial,
            denoised: shot.denoised,
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::AtomicU64;
    use std::time::Duration;

    fn state(serial: u64) -> PictureState {
        PictureState {
            width: 4,
            height: 2,
            revision: Revision(1),
            samples_per_pixel: serial as u32,
            serial,
            denoised: false,
        }
    }

    /// A producer that counts its runs and, once `gate` has a value, waits for it
    /// before answering (a slow encode the test controls).
    fn producer(
        runs: &Arc<AtomicU64>,
        gate: Option<Arc<Mutex<std::sync::mpsc::Receiver<()>>>>,
        serial: u64,
    ) -> impl FnOnce() -> Option<Png> + Send + 'static {
        let runs = runs.clone();
        move || {
            runs.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = gate {
                let _ = lock(&gate).recv_timeout(Duration::from_secs(30));
            }
            Some(Png {
                bytes: Bytes::from(format!("picture {serial}")),
                state: state(serial),
            })
        }
    }

    async fn settle() {
        for _ in 0..20 {
            tokio::task::yield_now().await;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    /// Regression (unbounded snapshot work): requests for the same picture state
    /// while it is being encoded wait for that encode; beyond the encodes allowed and
    /// the queue, a request for a new picture is refused with `Busy` at once, and is
    /// served once there is room again.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn snapshot_encodes_are_shared_and_bounded_and_the_excess_is_refused_busy() {
        let snapshots = Arc::new(Snapshots::new(1, 1));
        let runs = Arc::new(AtomicU64::new(0));
        let (open, gate) = std::sync::mpsc::channel();
        let gate = Arc::new(Mutex::new(gate));
        let views: Vec<Arc<dyn Any + Send + Sync>> = (0..3).map(|i| Arc::new(i) as _).collect();

        // Ten requests for view 0's state 1: one encode, held by the gate.
        let mut same = Vec::new();
        for _ in 0..10 {
            let (s, v, p) = (
                snapshots.clone(),
                views[0].clone(),
                producer(&runs, Some(gate.clone()), 1),
            );
            same.push(tokio::spawn(async move {
                s.get("a", &v, Some(state(1)), p).await
            }));
        }
        settle().await;
        assert_eq!(runs.load(Ordering::SeqCst), 1, "one encode for one state");
        // Another view's picture waits for the one encode allowed (the queue's place).
        let (s, v, p) = (
            snapshots.clone(),
            views[1].clone(),
            producer(&runs, None, 7),
        );
        let queued = tokio::spawn(async move { s.get("b", &v, Some(state(7)), p).await });
        settle().await;
        assert!(!queued.is_finished());
        // A third is beyond the queue: refused at once, nothing encoded for it.
        let refused = snapshots
            .get("c", &views[2], Some(state(9)), producer(&runs, None, 9))
            .await;
        assert_eq!(refused.unwrap_err(), SnapshotError::Busy);
        assert_eq!(runs.load(Ordering::SeqCst), 1);

        open.send(()).unwrap();
        let mut pictures = Vec::new();
        for r in same {
            pictures.push(r.await.unwrap().unwrap());
        }
        assert!(pictures.iter().all(|p| Arc::ptr_eq(p, &pictures[0])));
        assert_eq!(&pictures[0].bytes[..], b"picture 1");
        assert_eq!(&queued.await.unwrap().unwrap().bytes[..], b"picture 7");
        assert_eq!(runs.load(Ordering::SeqCst), 2);

        // With room again, the refused one is served; the same state again is cached.
        let served = snapshots
            .get("c", &views[2], Some(state(9)), producer(&runs, None, 9))
            .await
            .unwrap();
        assert_eq!(&served.bytes[..], b"picture 9");
        let again = snapshots
            .get("a", &views[0], Some(state(1)), producer(&runs, None, 1))
            .await
            .unwrap();
        assert!(Arc::ptr_eq(&again, &pictures[0]));
        assert_eq!(runs.load(Ordering::SeqCst), 3);
        // A new state of view 0 is a new encode; a view of the same name that is
        // another view does not get the old one's picture.
        let newer = snapshots
            .get("a", &views[0], Some(state(2)), producer(&runs, None, 2))
            .await
            .unwrap();
        assert_eq!(&newer.bytes[..], b"picture 2");
        let other: Arc<dyn Any + Send + Sync> = Arc::new(0);
        snapshots
            .get("a", &other, Some(state(2)), producer(&runs, None, 2))
            .await
            .unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 5);
        assert_eq!(snapshots.wanting.load(Ordering::SeqCst), 0);
    }
}
