//! glTF 2.0 as a scene file (`--scene model.gltf` / `.glb`) and as an uploaded mesh
//! (`upload` message, `PUT /api/meshes/{key}`: peer input). The input is written to
//! a file named by its magic (`glTF` binary or JSON text) and loaded as the server
//! loads a scene, then read again as an upload. An accepted scene passes validation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamtracer_fuzz::scratch_file;

fuzz_target!(|data: &[u8]| {
    let _ = render_core::loaders::mesh_from_bytes(data, 100_000);
    let name = if data.starts_with(b"glTF") {
        "scene.glb"
    } else {
        "scene.gltf"
    };
    let path = scratch_file(name, data);
    if let Ok(loaded) = render_core::load_scene_with_warnings(&path) {
        loaded.scene.validate().expect("a loaded scene is valid");
    }
});
