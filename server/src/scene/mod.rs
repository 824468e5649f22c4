//! The one scene every view shows: the [`store::SceneStore`] that changes it (under
//! one lock, journaled before acknowledged), the [`outbox`] through which the others
//! hear of a change, and the scene [`files`] the server starts from.

pub mod files;
pub(crate) mod outbox;
pub mod store;
