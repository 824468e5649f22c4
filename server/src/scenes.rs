//! Where scenes come from: files through `render_core::load_scene`, or built-ins.

use render_core::Scene;
use std::path::Path;

/// Why a scene could not be had.
#[derive(Debug, thiserror::Error)]
pub enum SceneSourceError {
    #[error(
        "unknown built-in scene {0:?}: the built-in scenes are builtin:cornell and builtin:dense"
    )]
    UnknownBuiltin(String),
    #[error(transparent)]
    Load(#[from] render_core::LoadError),
}

/// Loads `spec`: `builtin:NAME` or a path to a scene file.
pub fn load(spec: &str) -> Result<Scene, SceneSourceError> {
    match spec.strip_prefix("builtin:") {
        Some("cornell") => Ok(Scene::cornell_box()),
        Some("dense") => Ok(render_core::generate::dense_scene(100_000)),
        Some(other) => Err(SceneSourceError::UnknownBuiltin(other.to_owned())),
        None => Ok(render_core::load_scene(Path::new(spec))?),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load_and_unknown_names_are_named_in_the_error() {
        assert!(load("builtin:cornell").unwrap().validate().is_ok());
        assert!(
            load("builtin:dense")
                .unwrap()
                .meshes
                .iter()
                .map(|m| m.indices.len())
                .sum::<usize>()
                >= 100_000
        );
        let e = load("builtin:teapot").unwrap_err().to_string();
        assert!(e.contains("teapot") && e.contains("builtin:cornell"), "{e}");
        let e = load("/no/such/scene.gltf").unwrap_err().to_string();
        assert!(e.contains("scene.gltf"), "{e}");
    }
}
