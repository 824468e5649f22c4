//! What the fuzz targets share: the control protocol and the journal (the server's
//! own crates, re-exported), and the built-in scene document the edit and journal
//! targets start from.

pub use journal;
pub use protocol;

use render_core::edit::Document;
use render_core::Scene;
use std::sync::OnceLock;

/// The built-in Cornell box as a document, made once; targets clone it per input.
pub fn cornell_document() -> &'static Document {
    static DOC: OnceLock<Document> = OnceLock::new();
    DOC.get_or_init(|| {
        Document::from_scene(&Scene::cornell_box(), 256, 1.0).expect("the built-in scene is valid")
    })
}

/// A private directory for the scene-file targets, made once per process.
fn scratch_dir() -> &'static std::path::Path {
    static DIR: OnceLock<tempfile::TempDir> = OnceLock::new();
    DIR.get_or_init(|| tempfile::tempdir().expect("a temporary directory"))
        .path()
}

/// Writes `bytes` to `name` in the scratch directory and returns its path.
pub fn scratch_file(name: &str, bytes: &[u8]) -> std::path::PathBuf {
    let path = scratch_dir().join(name);
    std::fs::write(&path, bytes).expect("the scratch directory is writable");
    path
}

/// Removes `name` from the scratch directory if it is there.
pub fn remove_scratch_file(name: &str) {
    let _ = std::fs::remove_file(scratch_dir().join(name));
}
