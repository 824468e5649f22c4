//! Wavefront OBJ scene files with their MTL. The input is the OBJ text, optionally
//! followed by a line `#MTL` and the text of `scene.mtl` (which an OBJ names with
//! `mtllib scene.mtl`). An accepted scene passes validation.
#![no_main]

use libfuzzer_sys::fuzz_target;
use streamtracer_fuzz::{remove_scratch_file, scratch_file};

fuzz_target!(|data: &[u8]| {
    let marker = b"\n#MTL\n";
    let split = data.windows(marker.len()).position(|w| w == marker);
    let (obj, mtl) = match split {
        Some(at) => (&data[..at], Some(&data[at + marker.len()..])),
        None => (data, None),
    };
    match mtl {
        Some(mtl) => {
            scratch_file("scene.mtl", mtl);
        }
        None => remove_scratch_file("scene.mtl"),
    }
    let path = scratch_file("scene.obj", obj);
    if let Ok(loaded) = render_core::load_scene_with_warnings(&path) {
        loaded.scene.validate().expect("a loaded scene is valid");
    }
});
