//! The server's views by name. A view is a camera, a picture size, a render loop and an
//! encoder over the one shared scene; every viewer of a view receives the same encoded
//! frames. `main` exists from the start; a controller's offer or WebSocket naming
//! another view opens it (up to `--max-views`), starting at the scene's camera, and it
//! lives until the server stops. A view nobody watches stops rendering (see
//! [`crate::view::UNWATCHED_SPP`]), so idle views cost memory, not CPU; the render
//! threads of watched views share the cores through the operating system's scheduler.

use crate::store::SceneStore;
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
