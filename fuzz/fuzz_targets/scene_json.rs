//! The project's JSON scene format (`--scene scene.json`). An accepted scene passes
//! validation and becomes an editable document (as the server's store makes it).
#![no_main]

use libfuzzer_sys::fuzz_target;
use render_core::edit::Document;
use streamtracer_fuzz::scratch_file;

fuzz_target!(|data: &[u8]| {
    let path = scratch_file("scene.json", data);
    if let Ok(loaded) = render_core::load_scene_with_warnings(&path) {
        loaded.scene.validate().expect("a loaded scene is valid");
        Document::from_scene(&loaded.scene, 64, 1.0).expect("a valid scene makes a document");
    }
});
