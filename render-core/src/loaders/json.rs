//! The project's own scene format: the serde_json form of [`Scene`].

use super::{base_dir, display, read, validated, LoadError};
use crate::scene::Scene;
use std::path::Path;

/// Parses a JSON scene, decodes its textures relative to the file, and validates it.
pub(super) fn load(path: &Path) -> Result<Scene, LoadError> {
    let bytes = read(path)?;
    // serde_json's message already ends with "at line L column C".
    let mut scene: Scene = serde_json::from_slice(&bytes).map_err(|e| LoadError::Invalid {
        file: display(path),
        problem: format!("invalid scene JSON: {e}"),
    })?;
    scene
        .load_textures(&base_dir(path))
        .map_err(|source| LoadError::Scene {
            file: display(path),
            source,
        })?;
    validated(scene, path)
}
