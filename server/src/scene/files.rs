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

/// Loads `spec`: `builtin:NAME` or a path to a scene file. Returns the scene and
/// what the loader skipped or approximated, for the user to be told.
pub fn load(spec: &str) -> Result<(Scene, Vec<String>), SceneSourceError> {
    match spec.strip_prefix("builtin:") {
        Some("cornell") => Ok((Scene::cornell_box(), Vec::new())),
        Some("dense") => Ok((render_core::generate::dense_scene(100_000), Vec::new())),
        Some(other) => Err(SceneSourceError::UnknownBuiltin(other.to_owned())),
        None => {
            let loaded = render_core::load_scene_with_warnings(Path::new(spec))?;
            Ok((loaded.scene, loaded.warnings))
        }
    }
}

/// Loads `spec` and logs each warning, naming the scene.
pub fn load_and_report(spec: &str) -> Result<Scene, SceneSourceError> {
    let (scene, warnings) = load(spec)?;
    for w in warnings {
        tracing::warn!("{spec}: {w}");
    }
    Ok(scene)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtins_load_and_unknown_names_are_named_in_the_error() {
        assert!(load("builtin:cornell").unwrap().0.validate().is_ok());
        assert!(
            load("builtin:dense")
                .unwrap()
                .0
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
