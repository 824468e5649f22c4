//! The server's views by name. A view is a camera, a picture size, a render loop and an
//! encoder over the one shared scene; every viewer of a view receives the same encoded
//! frames. `main` exists from the start; a controller's offer or WebSocket naming
//! another view opens it (up to `--max-views`), starting at the scene's camera, and it
//! lives until the server stops. A view nobody watches stops rendering (see
//! [`crate::view::UNWATCHED_SPP`]), so idle views cost memory, not CPU; the render
//! threads of watched views share the cores through the operating system's scheduler.

use crate::scene::store::SceneStore;
use crate::view::{View, ViewError, ViewSettings};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

/// The view every client gets unless it names another.
pub const MAIN: &str = "main";

/// Why a view could not be had.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("there is no view \"{0}\" (a controller's offer or WebSocket naming it opens it)")]
    NotFound(String),
    #[error("the server has its maximum of {0} views")]
    Full(usize),
    #[error("a view name is 1 to 32 letters, digits, '-' or '_', not {0:?}")]
    BadName(String),
    #[error("the view could not start: {0}")]
    Start(#[from] ViewError),
}

pub struct Views {
    store: Arc<SceneStore>,
    settings: ViewSettings,
    max_views: usize,
    views: Mutex<BTreeMap<String, Arc<View>>>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// Where a new viewer's link estimate starts and the bounds it keeps to (bit/s).
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LinkSeed {
    pub start: f64,
    pub min: f64,
    pub max: f64,
}

/// Whether `name` may name a view.
pub fn valid_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Views {
    /// The views of a server whose `main` view is `main`; new views take `settings`.
    pub fn new(
        store: Arc<SceneStore>,
        main: Arc<View>,
        settings: ViewSettings,
        max_views: usize,
    ) -> Views {
        Views {
            store,
            settings,
            max_views: max_views.max(1),
            views: Mutex::new(BTreeMap::from([(MAIN.to_owned(), main)])),
        }
    }

    pub fn main(&self) -> Arc<View> {
        self.get(MAIN)
            .expect("the main view lives as long as the server")
    }

    pub fn get(&self, name: &str) -> Option<Arc<View>> {
        lock(&self.views).get(name).cloned()
    }

    /// Whether [`Views::open`] would give a view for `name`, without opening one: the
    /// name is valid, and the view exists or may be created and there is room.
    pub fn check(&self, name: &str, may_create: bool) -> Result<(), OpenError> {
        if !valid_name(name) {
            return Err(OpenError::BadName(name.to_owned()));
        }
        let views = lock(&self.views);
        match views.contains_key(name) {
            true => Ok(()),
            false if !may_create => Err(OpenError::NotFound(name.to_owned())),
            false if views.len() >= self.max_views => Err(OpenError::Full(self.max_views)),
            false => Ok(()),
        }
    }

    /// The view `name`, opened if it does not exist and `may_create` (a controller's
    /// request). Starting a view builds its renderer and threads: call it off the
    /// async runtime.
    pub fn open(&self, name: &str, may_create: bool) -> Result<Arc<View>, OpenError> {
        self.check(name, may_create)?;
        let mut views = lock(&self.views);
        if let Some(view) = views.get(name) {
            return Ok(view.clone());
        }
        // Checked again under this lock: another request may have filled the room.
        if views.len() >= self.max_views {
            return Err(OpenError::Full(self.max_views));
        }
        let view = Arc::new(View::start_with(
            self.store.version(),
            self.store.camera(),
            self.settings,
        )?);
        self.store.add_view(&view);
        views.insert(name.to_owned(), view.clone());
        tracing::info!(view = name, "view opened");
        Ok(view)
    }

    /// Where the link estimate of a viewer joining view `name` starts: at the view's
    /// live bitrate (which a controller's `quality` may have changed), within its
    /// bounds; a view not open yet starts at the settings every new view gets.
    pub fn link_seed(&self, name: &str) -> LinkSeed {
        let (start, settings) = match self.get(name) {
            Some(view) => (view.quality().bitrate, view.settings()),
            None => (self.settings.bitrate, self.settings),
        };
        LinkSeed {
            start: start as f64,
            min: settings.min_bitrate as f64,
            max: settings.max_bitrate as f64,
        }
    }

    /// Every view, by name.
    pub fn list(&self) -> Vec<(String, Arc<View>)> {
        lock(&self.views)
            .iter()
            .map(|(n, v)| (n.clone(), v.clone()))
            .collect()
    }

    /// Stops every view's threads (on shutdown). Blocks.
    pub fn stop_all(&self) {
        for (_, view) in self.list() {
            view.stop();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use render_core::Scene;
    use std::sync::mpsc;
    use std::time::Duration;

    fn settings() -> ViewSettings {
        ViewSettings {
            width: 32,
            height: 24,
            max_width: 64,
            max_height: 48,
            fps: 30.0,
            bitrate: 300_000,
            min_bitrate: 100_000,
            max_bitrate: 600_000,
            keyframe_interval: 0,
            max_spp: 1,
            max_time: None,
            idle_interval: None,
            denoise: false,
            indirect_clamp: crate::view::IndirectClamp::Off,
        }
    }

    /// Regression: `SceneStore::add_view` locked the view list and then the scene,
    /// `SceneStore::edit` the scene and then the view list, so a controller opening a
    /// view while an edit was being committed could wedge the store for good. Opening
    /// views (and adding the same view again) races a stream of edits; everything must
    /// finish, and every view must end on the last scene version.
    #[test]
    fn opening_views_while_edits_commit_never_deadlocks_the_store() {
        let dir = tempfile::tempdir().unwrap();
        let store =
            Arc::new(SceneStore::open(&Scene::cornell_box(), dir.path(), 1, 1.0, None).unwrap());
        let main = Arc::new(View::start_with(store.version(), store.camera(), settings()).unwrap());
        store.add_view(&main);
        let views = Arc::new(Views::new(store.clone(), main.clone(), settings(), 64));
        let (done, finished) = mpsc::channel();
        let edits = {
            let (store, done) = (store.clone(), done.clone());
            std::thread::spawn(move || {
                for i in 0..3000 {
                    let edit = format!(
                        r#"{{"type":"edit","ops":[{{"op":"update","kind":"settings","value":{{"exposure":{}}}}}]}}"#,
                        1.0 + i as f32 / 8192.0
                    );
                    let Ok(crate::protocol::ClientMessage::Edit { ops, .. }) =
                        crate::protocol::parse(&edit)
                    else {
                        panic!("not an edit")
                    };
                    store.edit("test", &ops, None).unwrap();
                }
                done.send("edits").unwrap();
            })
        };
        let opens = {
            let (views, store, main, done) = (views.clone(), store.clone(), main.clone(), done);
            std::thread::spawn(move || {
                for i in 0..3000 {
                    if i % 100 == 0 {
                        views.open(&format!("v{}", i / 100), true).unwrap();
                    } else {
                        store.add_view(&main);
                    }
                }
                done.send("opens").unwrap();
            })
        };
        for _ in 0..2 {
            let who = finished
                .recv_timeout(Duration::from_secs(120))
                .expect("the store is deadlocked: edits and view openings stopped progressing");
            eprintln!("{who} finished");
        }
        edits.join().unwrap();
        opens.join().unwrap();
        let last = store.version();
        assert_eq!(views.list().len(), 31);
        for (name, view) in views.list() {
            assert!(
                Arc::ptr_eq(&view.scene(), &last),
                "view {name} missed a transaction"
            );
        }
        views.stop_all();
    }

    #[test]
    fn view_names_are_short_and_plain() {
        for good in ["main", "side-2", "A_b", &"x".repeat(32)] {
            assert!(valid_name(good), "{good}");
        }
        for bad in ["", "a b", "../x", "é", &"x".repeat(33)] {
            assert!(!valid_name(bad), "{bad}");
        }
    }
}
