//! Scene transactions (`edit` messages' `ops`) applied to the built-in scene. Each
//! line of the input is one transaction, applied in order, so a run explores states
//! that earlier transactions built. Beyond "never panics", the invariants the server
//! relies on:
//! - a rejected transaction leaves the document exactly as it was;
//! - an accepted one leaves a scene that passes `Scene::validate` (the renderer's gate);
//! - its journal record (`forward`, through JSON as the journal stores it) replayed on
//!   the old document gives the new one, and its `inverse` (undo) gives back the old.
#![no_main]

use libfuzzer_sys::fuzz_target;
use render_core::edit::{parse_ops, Resolved};
use streamtracer_fuzz::cornell_document;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut doc = cornell_document().clone();
    for line in text.lines().take(8) {
        let Ok(value) = serde_json::from_str::<serde_json::Value>(line) else {
            continue;
        };
        let Ok(ops) = parse_ops(&value) else {
            continue;
        };
        let before = doc.clone();
        let before_json = before.snapshot();
        match doc.apply(&ops) {
            Err(e) => {
                assert!(!e.message.is_empty());
                assert_eq!(
                    doc.snapshot(),
                    before_json,
                    "a rejected transaction changed the document"
                );
            }
            Ok(applied) => {
                let after_json = doc.snapshot();
                doc.to_scene()
                    .validate()
                    .expect("an accepted transaction left an invalid scene");

                let record = serde_json::to_vec(&applied.forward).expect("a record serialises");
                let forward: Vec<Resolved> =
                    serde_json::from_slice(&record).expect("a journal record reads back");
                let mut replayed = before.clone();
                replayed
                    .apply_resolved(&forward)
                    .expect("a journal record replays");
                assert_eq!(
                    replayed.snapshot(),
                    after_json,
                    "replay differs from the original"
                );

                let mut undone = doc.clone();
                undone
                    .apply_resolved(&applied.inverse)
                    .expect("an undo applies");
                assert_eq!(
                    undone.snapshot(),
                    before_json,
                    "undo does not restore the document"
                );
            }
        }
    }
});
