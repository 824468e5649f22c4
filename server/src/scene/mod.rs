//! The one scene every view shows: the [`store::SceneStore`] that changes it (under
//! one lock, journaled before acknowledged), the [`outbox`] through which the others
//! hear of a change, and the scene [`files`] the server starts from.
//!
//! Scene versions flow one way: the store publishes each [`SceneVersion`] to its
//! [`Subscriber`]s (the views), which depend on this module; nothing here knows views.

pub mod files;
pub(crate) mod outbox;
pub mod store;

use protocol::Revision;
use render_core::edit::Settings;
use render_core::integrator::SceneData;
use render_core::Scene;
use std::sync::{Arc, Mutex, OnceLock};

/// The scene as the renderer takes it, with the revision it is at, and compiled once
/// for every view that renders it and every pick that casts a ray into it.
pub struct SceneVersion {
    pub revision: Revision,
    pub scene: Arc<Scene>,
    pub settings: Settings,
    /// Made by the first that needs it ([`SceneVersion::compiled`]); the others wait
    /// for it rather than compile their own.
    compiled: OnceLock<Arc<SceneData>>,
    /// The latest compilation among this version's line (the versions one store
    /// made), whose mesh hierarchies a new compilation reuses: an edit rebuilds only
    /// what it changed.
    latest: Arc<Mutex<Option<Arc<SceneData>>>>,
}

impl SceneVersion {
    /// The first version of a line.
    pub fn new(revision: Revision, scene: Arc<Scene>, settings: Settings) -> SceneVersion {
        SceneVersion {
            revision,
            scene,
            settings,
            compiled: OnceLock::new(),
            latest: Arc::default(),
        }
    }

    /// The version after this one: compiled from the line's latest compilation.
    pub fn next(&self, revision: Revision, scene: Arc<Scene>, settings: Settings) -> SceneVersion {
        SceneVersion {
            latest: self.latest.clone(),
            ..SceneVersion::new(revision, scene, settings)
        }
    }

    /// The scene compiled for rendering (acceleration structures, lights,
    /// materials), built on first use, shared by every view and pick. Blocks for the
    /// build: call it off the async runtime. The scene was validated by the store.
    pub fn compiled(&self) -> Arc<SceneData> {
        self.compiled
            .get_or_init(|| {
                let latest = self
                    .latest
                    .lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .clone();
                let data = Arc::new(SceneData::new(&self.scene, latest.as_deref()));
                *self.latest.lock().unwrap_or_else(|e| e.into_inner()) = Some(data.clone());
                data
            })
            .clone()
    }
}

/// What follows the scene: told of every new version, in order, under the store's
/// lock (so it must only hand the version on, never wait).
pub trait Subscriber: Send + Sync {
    fn set_scene(&self, version: Arc<SceneVersion>);
}

#[cfg(test)]
mod tests {
    use super::*;
    use render_core::accel::Geometry;

    fn settings() -> Settings {
        Settings {
            max_samples: 4,
            max_bounces: 4,
            exposure: 1.0,
        }
    }

    #[test]
    fn a_version_is_compiled_once_for_all_who_need_it_and_the_next_reuses_its_meshes() {
        let scene = Arc::new(Scene::cornell_box());
        let first = Arc::new(SceneVersion::new(Revision(1), scene.clone(), settings()));
        let threads: Vec<_> = (0..4)
            .map(|_| {
                let v = first.clone();
                std::thread::spawn(move || v.compiled())
            })
            .collect();
        let compiled: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert!(compiled.iter().all(|c| Arc::ptr_eq(c, &compiled[0])));
        assert!(Arc::ptr_eq(&first.compiled(), &compiled[0]));
        // A new version of the same meshes: a new compilation whose mesh hierarchies
        // are the previous one's.
        let second = first.next(Revision(2), scene, settings());
        let again = second.compiled();
        assert!(!Arc::ptr_eq(&again, &compiled[0]));
        let meshes = |d: &SceneData| {
            d.accel
                .instances()
                .iter()
                .filter(|i| matches!(&*i.geometry, Geometry::Mesh(_)))
                .map(|i| Arc::as_ptr(&i.geometry))
                .collect::<Vec<_>>()
        };
        assert!(!meshes(&again).is_empty());
        assert_eq!(meshes(&again), meshes(&compiled[0]));
    }
}
