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
use render_core::Scene;
use std::sync::Arc;

/// The scene as the renderer takes it, with the revision it is at.
pub struct SceneVersion {
    pub revision: Revision,
    pub scene: Arc<Scene>,
    pub settings: Settings,
}

/// What follows the scene: told of every new version, in order, under the store's
/// lock (so it must only hand the version on, never wait).
pub trait Subscriber: Send + Sync {
    fn set_scene(&self, version: Arc<SceneVersion>);
}
