//! The shared scene: the editable document, its revision, the undo and redo history,
//! and (with `--state-dir`) the journal that makes every acknowledged transaction
//! durable.
//!
//! Every change goes through [`SceneStore`] under one lock, in this order: apply to
//! the document (atomic: all ops or none), write the journal record and sync it, then
//! publish: the views get the new scene, and `changed` is queued for every other
//! connection. The caller acknowledges only after that, so an acknowledged transaction
//! is on disk and will be on screen. A connection sends its acknowledgement before the
//! queued `changed` goes out (when the [`Unpublished`] it holds is dropped), so that
//! the ack does not wait behind telling every other client, however many there are.
//! A failed journal write undoes the change in memory and is reported.
//!
//! Revisions come from one counter shared with the views' camera moves, so a frame can
//! name the single revision it shows. Scene revisions (those of transactions) survive
//! a restart; after one the counter continues from the last acknowledged transaction.
//!
//! Undo and redo are global and linear: `undo` reverts the most recent transaction
//! (by anyone) that is not yet undone, as a new transaction with a new revision; a new
//! edit clears what could be redone. The history is kept in memory only (the last
//! [`HISTORY_LIMIT`] transactions) and starts empty after a restart.
//!
//! Lock order: the scene lock guards the document, the history, the journal and the
//! list of views that follow the scene, so publishing and adding a view take that one
//! lock. Under it the store may take a view's own lock (to hand it a scene version or
//! a camera revision); nothing holding a view's lock calls the store. The pick cache's
//! lock is taken before the scene lock, never after.
//!
//! Length: About 540 lines of code (and 160 of tests) because every operation on the
//! scene takes the one scene lock: kept in one file, the locking rules read in one
//! place.

use super::{SceneVersion, Subscriber};
use crate::journal::{Journal, JournalError};
use crate::protocol::{ErrorCode, ProtocolError, Revision};
use crate::scene::outbox::Outbox;
pub use crate::scene::outbox::Unpublished;
use render_core::edit::{Applied, Document, Key, Kind, Op, Resolved};
use render_core::integrator::SceneData;
use render_core::Scene;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use tokio::sync::broadcast;

/// Transactions kept for undo.
pub const HISTORY_LIMIT: usize = 1000;

/// What every connection hears.
#[derive(Clone, Debug)]
pub enum StoreEvent {
    /// A transaction (or an undo or redo) by `origin` (the public id of the client
    /// that made it, which other clients hear: never a session id) was applied.
    Changed {
        revision: Revision,
        origin: String,
        changes: Arc<Vec<Value>>,
        /// The `changed` message as JSON, the same for every connection that hears
        /// it: the first to need it serialises it, the others share the bytes.
        encoded: Arc<OnceLock<bytes::Bytes>>,
    },
}

/// Why the scene could not be restored from the state directory.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("scene: {0}")]
    Scene(String),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error("state directory {dir}: the snapshot cannot be read: {problem}")]
    Snapshot { dir: PathBuf, problem: String },
    #[error("state directory {dir}: the transaction of revision {revision} cannot be replayed: {problem}")]
    Replay {
        dir: PathBuf,
        revision: u64,
        problem: String,
    },
}

struct Entry {
    forward: Vec<Resolved>,
    inverse: Vec<Resolved>,
}

struct State {
    doc: Document,
    /// The revision of the last transaction.
    revision: Revision,
    undo: Vec<Entry>,
    redo: Vec<Entry>,
    journal: Option<Journal>,
    version: Arc<SceneVersion>,
    /// The views that follow the scene. Under the scene lock with everything else, so
    /// that adding a view and publishing a transaction to the views take one lock and
    /// cannot wait on each other (two locks taken in opposite orders by `add_view` and
    /// `edit` once wedged the store).
    views: Vec<Weak<dyn Subscriber>>,
    /// A read-only copy of `doc` at `version`, made for the first read that needed one
    /// (see [`SceneStore::document`]) and dropped by the next transaction.
    published: Option<(Arc<SceneVersion>, Arc<Document>)>,
}

/// The one scene every view renders and every controller edits.
pub struct SceneStore {
    state: Mutex<State>,
    /// The last revision handed out, to a transaction or a camera move.
    counter: AtomicU64,
    /// Transactions applied since the server started.
    transactions: AtomicU64,
    /// `changed` of each transaction, held until its author's ack is sent.
    outbox: Arc<Outbox<StoreEvent>>,
    /// Test hook: the next read pauses here once it has its copy of the document,
    /// telling the first sender and waiting for the receiver.
    #[cfg(test)]
    pause_read: Mutex<Option<(std::sync::mpsc::Sender<()>, std::sync::mpsc::Receiver<()>)>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// The journal record of one transaction: the ops that replay it.
fn record(forward: &[Resolved]) -> Vec<u8> {
    serde_json::to_vec(forward).unwrap_or_default()
}

impl SceneStore {
    /// A store over `scene` (valid, images loaded), whose file was in `base_dir`
    /// (for texture files named by a snapshot). With `state_dir`, the scene is
    /// restored from it when it holds one, and every transaction is journaled there.
    pub fn open(
        scene: &Scene,
        base_dir: &Path,
        max_samples: u32,
        exposure: f32,
        state_dir: Option<&Path>,
    ) -> Result<SceneStore, StoreError> {
        let mut doc = Document::from_scene(scene, max_samples, exposure)
            .map_err(|e| StoreError::Scene(e.message))?;
        let mut revision = Revision(0);
        let journal = match state_dir {
            None => None,
            Some(dir) => {
                let (mut journal, recovered) = Journal::open(dir)?;
                if let Some(torn) = &recovered.torn {
                    tracing::warn!(
                        "state directory {}: dropped a torn last write ({torn}); it was never acknowledged",
                        dir.display()
                    );
                }
                match &recovered.snapshot {
                    Some(snapshot) => {
                        let value: Value =
                            serde_json::from_slice(&snapshot.payload).map_err(|e| {
                                StoreError::Snapshot {
                                    dir: dir.into(),
                                    problem: e.to_string(),
                                }
                            })?;
                        let images = render_core::edit::scene_images(scene, base_dir);
                        doc = Document::from_snapshot(&value, &images).map_err(|e| {
                            StoreError::Snapshot {
                                dir: dir.into(),
                                problem: e.message,
                            }
                        })?;
                        revision = snapshot.revision;
                    }
                    None => {
                        // The starting point, so that the directory alone restores the
                        // scene even if the scene file changes later.
                        let bytes = serde_json::to_vec(&doc.snapshot()).unwrap_or_default();
                        journal.write_snapshot(Revision(0), &bytes)?;
                    }
                }
                for r in &recovered.records {
                    let replay = |problem: String| StoreError::Replay {
                        dir: dir.into(),
                        revision: r.revision.0,
                        problem,
                    };
                    let forward: Vec<Resolved> =
                        serde_json::from_slice(&r.payload).map_err(|e| replay(e.to_string()))?;
                    doc.apply_resolved(&forward)
                        .map_err(|e| replay(e.message))?;
                    revision = r.revision;
                }
                if !recovered.records.is_empty() || recovered.snapshot.is_some() {
                    tracing::info!(
                        "state directory {}: scene restored at revision {} ({} transactions replayed)",
                        dir.display(),
                        revision.0,
                        recovered.records.len()
                    );
                }
                Some(journal)
            }
        };
        let version = Arc::new(SceneVersion::new(
            revision,
            Arc::new(doc.to_scene()),
            doc.settings(),
        ));
        Ok(SceneStore {
            state: Mutex::new(State {
                doc,
                revision,
                undo: Vec::new(),
                redo: Vec::new(),
                journal,
                version,
                views: Vec::new(),
                published: None,
            }),
            counter: AtomicU64::new(revision.0),
            transactions: AtomicU64::new(0),
            outbox: Outbox::new(256),
            #[cfg(test)]
            pause_read: Mutex::new(None),
        })
    }

    /// The scene's own camera (where new views start).
    pub fn camera(&self) -> render_core::Camera {
        lock(&self.state).doc.camera()
    }

    /// The scene as it is now.
    pub fn version(&self) -> Arc<SceneVersion> {
        lock(&self.state).version.clone()
    }

    /// The latest revision handed out and the scene as it is now, read together: no
    /// transaction comes between them (both change under the scene lock).
    pub fn current(&self) -> (Revision, Arc<SceneVersion>) {
        let st = lock(&self.state);
        (self.revision(), st.version.clone())
    }

    /// The scene as it is now, its revision, and its compiled form for a pick's ray:
    /// the same compilation the views render ([`SceneVersion::compiled`]), made once
    /// per scene version by whichever needs it first (from the previous one, so an
    /// edit rebuilds only what changed). Blocks for that build: call it off the async
    /// runtime.
    pub fn pick_accel(&self) -> (Revision, Arc<SceneVersion>, Arc<SceneData>) {
        let (revision, version) = self.current();
        let compiled = version.compiled();
        (revision, version, compiled)
    }

    /// The latest revision handed out (a transaction's or a camera move's).
    pub fn revision(&self) -> Revision {
        Revision(self.counter.load(Ordering::Acquire))
    }

    /// Transactions applied since the server started (edits, undos and redos).
    pub fn transactions(&self) -> u64 {
        self.transactions.load(Ordering::Relaxed)
    }

    fn next_revision(&self) -> Revision {
        Revision(self.counter.fetch_add(1, Ordering::AcqRel) + 1)
    }

    /// Gives a change that is not a transaction (a camera move) the next revision and
    /// hands it to `publish`, both under the scene lock: a transaction holds the lock
    /// from taking its revision until it is published, so a camera move's revision
    /// never overtakes a transaction that views have not seen yet (a frame tagged
    /// with it would claim to show that transaction). Blocks while a transaction is
    /// being synced: call it off the async runtime when a journal may be syncing.
    pub fn move_camera<T>(&self, publish: impl FnOnce(Revision) -> T) -> (Revision, T) {
        let _st = lock(&self.state);
        let revision = self.next_revision();
        let out = publish(revision);
        (revision, out)
    }

    pub fn events(&self) -> broadcast::Receiver<StoreEvent> {
        self.outbox.subscribe()
    }

    /// Makes `view` (a subscriber: the store knows nothing else of it) follow the
    /// scene from now on: it gets the current version now and every later one, with no
    /// transaction in between missed (both happen under the scene lock, the only lock
    /// this takes). The store holds it weakly: a dropped view stops following.
    pub fn add_view<V: Subscriber + 'static>(&self, view: &Arc<V>) {
        let mut st = lock(&self.state);
        let ptr = Arc::as_ptr(view) as *const ();
        st.views
            .retain(|v| v.strong_count() > 0 && v.as_ptr() as *const () != ptr);
        let weak: Weak<dyn Subscriber> = Arc::downgrade(view) as Weak<dyn Subscriber>;
        st.views.push(weak);
        view.set_scene(st.version.clone());
    }

    /// The document as it is now, read-only, with the latest revision handed out
    /// (read together: no transaction comes between them). Under the scene lock only
    /// long enough to share a copy: made once per scene version, by the first read
    /// that needs it, it shares meshes and images with the document. Readers turn it
    /// into JSON without the lock, so an edit never waits for a large read.
    pub fn document(&self) -> (Arc<Document>, Revision) {
        let mut st = lock(&self.state);
        let revision = self.revision();
        if let Some((version, doc)) = &st.published {
            if Arc::ptr_eq(version, &st.version) {
                return (doc.clone(), revision);
            }
        }
        let doc = Arc::new(st.doc.clone());
        st.published = Some((st.version.clone(), doc.clone()));
        (doc, revision)
    }

    #[cfg(test)]
    fn pause_read(&self) {
        let pause = lock(&self.pause_read).take();
        if let Some((reading, resume)) = pause {
            let _ = reading.send(());
            let _ = resume.recv_timeout(std::time::Duration::from_secs(60));
        }
    }

    /// The whole scene as JSON (without a camera: views have their own), and its
    /// revision. Serialised outside the scene lock, but it can be large (whole meshes
    /// with `full_meshes`): call it off the async runtime.
    pub fn scene_json(&self, full_meshes: bool) -> (Value, Revision) {
        let (doc, revision) = self.document();
        #[cfg(test)]
        self.pause_read();
        (doc.to_json(full_meshes), revision)
    }

    /// The keys of the object at `index` of `version`'s scene and of its material (a
    /// pick names what it hit); `Err(())` when `version` is no longer the scene's
    /// current one, `Ok(None)` when there is no such object.
    #[allow(clippy::result_unit_err)]
    pub fn object_keys(
        &self,
        version: &Arc<SceneVersion>,
        index: usize,
    ) -> Result<Option<(Key, Key)>, ()> {
        let st = lock(&self.state);
        if !Arc::ptr_eq(version, &st.version) {
            return Err(());
        }
        let keys = || {
            let key = st.doc.keys(Kind::Object).into_iter().nth(index)?;
            let value = st.doc.get(Kind::Object, Some(&key))?;
            let material = Key::new(value.get("material")?.as_str()?).ok()?;
            Some((key, material))
        };
        Ok(keys())
    }

    /// One entity as JSON, and the revision. Serialised outside the scene lock, but a
    /// mesh is given whole: call it off the async runtime.
    pub fn get(&self, kind: Kind, key: Option<&Key>) -> (Option<Value>, Revision) {
        let (doc, revision) = self.document();
        (doc.get(kind, key), revision)
    }

    /// Whether the entity exists (without serialising it).
    pub fn contains(&self, kind: Kind, key: Option<&Key>) -> bool {
        lock(&self.state).doc.entity(kind, key).is_some()
    }

    /// Applies a transaction atomically, journals it and publishes it. Blocks on the
    /// journal's sync: call it off the async runtime.
    pub fn edit(
        &self,
        origin: &str,
        ops: &[Op],
        base_revision: Option<Revision>,
    ) -> Result<Revision, ProtocolError> {
        self.edit_unpublished(origin, ops, base_revision)
            .map(|(revision, _)| revision)
    }

    /// [`SceneStore::edit`], the views updated but the other connections told only
    /// when the returned [`Unpublished`] is dropped.
    pub fn edit_unpublished(
        &self,
        origin: &str,
        ops: &[Op],
        base_revision: Option<Revision>,
    ) -> Result<(Revision, Unpublished), ProtocolError> {
        let mut st = lock(&self.state);
        if let Some(base) = base_revision {
            // Any revision the client read (a camera move's included) is a valid base:
            // what counts is that no transaction came after it.
            if base > self.revision() {
                return Err(ProtocolError::new(
                    None,
                    ErrorCode::InvalidValue,
                    format!(
                        "base_revision {} is newer than the latest revision, {}",
                        base.0,
                        self.revision().0
                    ),
                )
                .with_field("base_revision"));
            }
            if base < st.revision {
                return Err(ProtocolError::new(
                    None,
                    ErrorCode::Conflict,
                    format!(
                        "base_revision is {} but the scene changed at revision {}: read the changes and try again",
                        base.0, st.revision.0
                    ),
                )
                .with_field("base_revision"));
            }
        }
        let applied = st
            .doc
            .apply(ops)
            .map_err(|e| ProtocolError::from_edit(None, e))?;
        let revision = self.commit(&mut st, origin, &applied)?;
        st.undo.push(Entry {
            forward: applied.forward,
            inverse: applied.inverse,
        });
        if st.undo.len() > HISTORY_LIMIT {
            st.undo.remove(0);
        }
        st.redo.clear();
        Ok((revision, self.outbox.hold()))
    }

    /// Reverts the most recent transaction not yet undone, as a new transaction.
    pub fn undo(&self, origin: &str) -> Result<Revision, ProtocolError> {
        self.step(origin, true).map(|(revision, _)| revision)
    }

    /// Applies again the most recently undone transaction.
    pub fn redo(&self, origin: &str) -> Result<Revision, ProtocolError> {
        self.step(origin, false).map(|(revision, _)| revision)
    }

    /// An undo (`undo`) or redo, the other connections told only when the returned
    /// [`Unpublished`] is dropped.
    pub fn step(&self, origin: &str, undo: bool) -> Result<(Revision, Unpublished), ProtocolError> {
        let mut st = lock(&self.state);
        let Some(entry) = (if undo { st.undo.pop() } else { st.redo.pop() }) else {
            return Err(ProtocolError::new(
                None,
                ErrorCode::NothingToUndo,
                if undo {
                    "nothing to undo"
                } else {
                    "nothing to redo"
                },
            ));
        };
        let ops = if undo { &entry.inverse } else { &entry.forward };
        // The history is linear and every change goes through here, so the document
        // is exactly as this entry left it (or found it) and the ops apply.
        let applied = match st.doc.apply_resolved(ops) {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("history entry did not apply: {}", e.message);
                return Err(ProtocolError::from_edit(None, e));
            }
        };
        match self.commit(&mut st, origin, &applied) {
            Ok(revision) => {
                if undo {
                    st.redo.push(entry);
                } else {
                    st.undo.push(entry);
                }
                Ok((revision, self.outbox.hold()))
            }
            Err(e) => {
                if undo {
                    st.undo.push(entry);
                } else {
                    st.redo.push(entry);
                }
                Err(e)
            }
        }
    }

    /// Journals an applied change, then publishes it; on a journal failure the
    /// document is put back as it was.
    fn commit(
        &self,
        st: &mut State,
        origin: &str,
        applied: &Applied,
    ) -> Result<Revision, ProtocolError> {
        let revision = self.next_revision();
        if let Some(journal) = st.journal.as_mut() {
            if let Err(e) = journal.append(revision, &record(&applied.forward)) {
                tracing::error!("could not journal revision {}: {e}", revision.0);
                if let Err(e) = st.doc.apply_resolved(&applied.inverse) {
                    tracing::error!("could not roll back: {}", e.message);
                }
                return Err(ProtocolError::new(
                    None,
                    ErrorCode::StorageFailed,
                    format!("the change could not be saved, so it was not applied: {e}"),
                ));
            }
            // The record is synced: the change stands whatever happens to the
            // compaction below, which only shortens the log (and is tried again after
            // the next transaction if it fails; the journal refuses further writes
            // itself if it can no longer tell what is on disk).
            if journal.should_compact() {
                let bytes = serde_json::to_vec(&st.doc.snapshot()).unwrap_or_default();
                if let Err(e) = journal.write_snapshot(revision, &bytes) {
                    tracing::warn!(
                        "could not compact the journal at revision {}: {e}",
                        revision.0
                    );
                }
            }
        }
        st.revision = revision;
        st.published = None;
        self.transactions.fetch_add(1, Ordering::Relaxed);
        st.version = Arc::new(st.version.next(
            revision,
            Arc::new(st.doc.to_scene()),
            st.doc.settings(),
        ));
        // Still under the lock, so that views and connections hear of changes in the
        // order they were made (the connections' events are queued in that order).
        st.views.retain(|v| v.strong_count() > 0);
        for view in st.views.iter().filter_map(Weak::upgrade) {
            view.set_scene(st.version.clone());
        }
        // Queued in order; sent when the caller's `Unpublished` is dropped.
        self.outbox.push(StoreEvent::Changed {
            revision,
            origin: origin.to_owned(),
            changes: Arc::new(applied.changes.clone()),
            encoded: Arc::default(),
        });
        Ok(revision)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::protocol::{self, ClientMessage};

    fn ops(edit: &str) -> Vec<Op> {
        match protocol::parse(edit) {
            Ok(ClientMessage::Edit { ops, .. }) => ops,
            other => panic!("not an edit: {other:?}"),
        }
    }

    fn open(dir: &Path) -> SceneStore {
        SceneStore::open(&Scene::cornell_box(), dir, 64, 1.0, Some(dir)).unwrap()
    }

    /// Every pick shares one compiled scene per scene version: built once,
    /// handed out again until the scene changes, then replaced (not added to).
    #[test]
    fn picks_share_one_acceleration_structure_per_scene_version() {
        let dir = tempfile::tempdir().unwrap();
        let store = SceneStore::open(&Scene::cornell_box(), dir.path(), 64, 1.0, None).unwrap();
        let (r1, v1, a1) = store.pick_accel();
        let (r2, v2, a2) = store.pick_accel();
        assert_eq!(r1, r2);
        assert!(Arc::ptr_eq(&v1, &v2) && Arc::ptr_eq(&a1, &a2));
        let edit =
            r#"{"type":"edit","ops":[{"op":"update","kind":"settings","value":{"exposure":2}}]}"#;
        store.edit("test", &ops(edit), None).unwrap();
        let (r3, v3, a3) = store.pick_accel();
        assert!(r3 > r1);
        assert!(!Arc::ptr_eq(&v1, &v3) && !Arc::ptr_eq(&a1, &a3));
        // The store keeps the new one only: the old one lives while a pick (or a
        // view) holds its version or the compilation itself.
        drop((a2, v2, v1));
        assert_eq!(Arc::strong_count(&a1), 1);
        // Held by the pick, by its version (the current one) and as the line's latest.
        assert_eq!(Arc::strong_count(&a3), 3);
        // The revision comes with the version it is of.
        let (revision, version) = store.current();
        assert!(Arc::ptr_eq(&version, &v3) && revision == r3);
    }

    /// Regression: a failed compaction after the record was synced rolled the change
    /// back and reported `storage_failed`, yet the record was on disk, so a restart
    /// brought back an edit its client had been told was not applied.
    #[test]
    fn a_failed_compaction_keeps_the_synced_transaction() {
        let dir = tempfile::tempdir().unwrap();
        let store = open(dir.path());
        lock(&store.state)
            .journal
            .as_mut()
            .unwrap()
            .compact_every(1);
        // The snapshot's temporary file cannot be created where a directory stands.
        std::fs::create_dir(dir.path().join(crate::journal::SNAPSHOT_TEMP_FILE)).unwrap();
        let edit =
            r#"{"type":"edit","ops":[{"op":"update","kind":"settings","value":{"exposure":2.5}}]}"#;
        let revision = store
            .edit("test", &ops(edit), None)
            .expect("the record was synced");
        assert_eq!(store.version().settings.exposure, 2.5);
        drop(store);
        std::fs::remove_dir(dir.path().join(crate::journal::SNAPSHOT_TEMP_FILE)).unwrap();
        let store = open(dir.path());
        assert_eq!(store.version().settings.exposure, 2.5);
        assert_eq!(store.version().revision, revision);
    }

    /// The undo history keeps the last [`HISTORY_LIMIT`] transactions: past that, the
    /// oldest are dropped, so undoing stops at the first one still kept.
    #[test]
    fn the_undo_history_keeps_only_the_last_history_limit_transactions() {
        let dir = tempfile::tempdir().unwrap();
        let store = SceneStore::open(&Scene::cornell_box(), dir.path(), 64, 1.0, None).unwrap();
        let exposure = |i: usize| 0.5 + i as f32 / 4096.0;
        let extra = 5;
        for i in 0..HISTORY_LIMIT + extra {
            let edit = format!(
                r#"{{"type":"edit","ops":[{{"op":"update","kind":"settings","value":{{"exposure":{}}}}}]}}"#,
                exposure(i)
            );
            store.edit("test", &ops(&edit), None).unwrap();
        }
        for n in 0..HISTORY_LIMIT {
            store
                .undo("test")
                .unwrap_or_else(|e| panic!("undo {n}: {}", e.message));
        }
        let refused = store.undo("test").expect_err("the history is exhausted");
        assert_eq!(refused.code, ErrorCode::NothingToUndo);
        // Back to the state the first kept transaction found: the one `extra - 1` left.
        assert_eq!(store.version().settings.exposure, exposure(extra - 1));
    }

    /// Regression (full-mesh reads under the store lock): `GET /api/scene?meshes=full`
    /// serialised the whole document while holding the scene lock, so every edit,
    /// camera move and pick waited for it. An edit now commits while a read is in the
    /// middle of serialising, and the read gives the scene as it was when it began.
    #[test]
    fn an_edit_commits_while_a_full_scene_read_is_being_serialised() {
        use std::sync::mpsc::channel;
        use std::time::Duration;
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(SceneStore::open(&Scene::cornell_box(), dir.path(), 64, 1.0, None).unwrap());
        let (reading_tx, reading) = channel();
        let (resume, resume_rx) = channel();
        *lock(&store.pause_read) = Some((reading_tx, resume_rx));
        let reader = {
            let store = store.clone();
            std::thread::spawn(move || store.scene_json(true))
        };
        reading
            .recv_timeout(Duration::from_secs(30))
            .expect("the read began");
        let (done_tx, done) = channel();
        {
            let store = store.clone();
            std::thread::spawn(move || {
                let edit = r#"{"type":"edit","ops":[{"op":"update","kind":"settings","value":{"exposure":3}}]}"#;
                let _ = done_tx.send(store.edit("test", &ops(edit), None));
            });
        }
        let committed = done.recv_timeout(Duration::from_secs(20));
        resume.send(()).unwrap();
        let revision = committed
            .expect("the edit waited for the read to finish serialising")
            .expect("the edit applies");
        let (scene, read_revision) = reader.join().unwrap();
        assert!(read_revision < revision);
        assert_eq!(scene["settings"]["exposure"], 1.0);
        assert!(scene["meshes"].as_object().is_some_and(|m| !m.is_empty()));
        // The next read has the edit.
        let (scene, read_revision) = store.scene_json(false);
        assert_eq!(
            (scene["settings"]["exposure"].as_f64(), read_revision),
            (Some(3.0), revision)
        );
    }

    /// A camera move's revision is handed out under the scene lock, after every
    /// published transaction and before the next.
    #[test]
    fn camera_moves_and_transactions_share_one_ordered_counter() {
        let dir = tempfile::tempdir().unwrap();
        let store = SceneStore::open(&Scene::cornell_box(), dir.path(), 64, 1.0, None).unwrap();
        let edit =
            r#"{"type":"edit","ops":[{"op":"update","kind":"settings","value":{"exposure":2}}]}"#;
        let a = store.edit("test", &ops(edit), None).unwrap();
        let mut seen = None;
        let (b, ()) = store.move_camera(|r| seen = Some(r));
        let c = store.edit("test", &ops(edit), Some(b)).unwrap();
        assert_eq!(seen, Some(b));
        assert!(a < b && b < c, "{a:?} {b:?} {c:?}");
        assert_eq!(store.revision(), c);
    }
}
