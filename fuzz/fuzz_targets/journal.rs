//! The `--state-dir` reader: what a restarted server does with `journal.log` and
//! `snapshot.bin`, whatever bytes they hold (a torn write, damaged media, a file
//! someone else wrote). The same steps as `SceneStore::open`: frames decoded by
//! `decode_log` / `decode_snapshot`, payloads read as JSON, the snapshot made a
//! document, records replayed in order. Invariants: the valid prefix re-encodes to
//! exactly the bytes it came from, and nothing panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use render_core::edit::{scene_images, Document, Resolved};
use render_core::Scene;
use std::path::Path;
use streamtracer_fuzz::cornell_document;
use streamtracer_fuzz::journal::{decode_log, decode_snapshot, encode_frame};

fuzz_target!(|data: &[u8]| {
    let log = decode_log(data);
    assert!(log.valid_len <= data.len());
    let mut reencoded = Vec::new();
    for r in &log.records {
        reencoded
            .extend(encode_frame(r.revision, &r.payload).expect("a decoded record re-encodes"));
    }
    assert_eq!(
        &reencoded[..],
        &data[..log.valid_len],
        "records do not re-encode to their bytes"
    );

    let mut doc = cornell_document().clone();
    for r in &log.records {
        let Ok(forward) = serde_json::from_slice::<Vec<Resolved>>(&r.payload) else {
            break;
        };
        if doc.apply_resolved(&forward).is_err() {
            break;
        }
    }

    if let Ok(snapshot) = decode_snapshot(data) {
        if let Ok(value) = serde_json::from_slice::<serde_json::Value>(&snapshot.payload) {
            let scene = Scene::cornell_box();
            let images = scene_images(&scene, Path::new("/nonexistent-fuzz-dir"));
            if let Ok(doc) = Document::from_snapshot(&value, &images) {
                doc.to_scene()
                    .validate()
                    .expect("a snapshot the reader accepts is a valid scene");
            }
        }
    }
});
