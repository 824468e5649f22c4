//! Test fixtures shared by the tests of the edit module's parts: the scene and
//! document they edit, and helpers to apply or refuse a transaction.

use crate::edit::{parse_ops, Applied, Document, EditError, EditErrorCode, Key};
use crate::scene::{Light, Material, Scene, Texture, TextureSource};
use crate::texture::TextureImage;
use glam::Vec3;
use serde_json::Value;
use std::sync::Arc;

/// The built-in room, with a checker texture on the white material, an embedded
/// texture (as a glTF file would bring) nothing uses, and a point light.
pub(super) fn scene() -> Scene {
    let mut scene = Scene::cornell_box();
    scene.textures.push(Texture {
        name: "check".into(),
        source: TextureSource::Checker {
            squares: 4,
            a: Vec3::splat(0.2),
            b: Vec3::splat(0.8),
        },
    });
    scene.textures.push(Texture {
        name: "photo".into(),
        source: TextureSource::Embedded {
            origin: "room.glb#image/0".into(),
        },
    });
    scene.images = vec![
        Arc::new(TextureImage::checker(4, Vec3::splat(0.2), Vec3::splat(0.8))),
        Arc::new(TextureImage::checker(2, Vec3::ZERO, Vec3::ONE)),
    ];
    scene.materials[0] = Material::Diffuse {
        albedo: Vec3::splat(0.73),
        texture: Some(0),
    };
    scene.lights.push(Light::Point {
        position: Vec3::new(0.0, 1.5, 0.0),
        intensity: Vec3::splat(0.5),
    });
    scene.validate().unwrap();
    scene
}

pub(super) fn document() -> Document {
    Document::from_scene(&scene(), 256, 1.0).unwrap()
}

pub(super) fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

/// Applies the JSON ops, which must succeed.
pub(super) fn apply(doc: &mut Document, ops: Value) -> Applied {
    doc.apply(&parse_ops(&ops).unwrap()).unwrap()
}

/// Parses and applies the JSON ops, which must fail without changing the document.
pub(super) fn refuse(doc: &mut Document, ops: Value) -> EditError {
    let before = doc.to_json(true);
    let e = match parse_ops(&ops) {
        Ok(ops) => doc.apply(&ops).unwrap_err(),
        Err(e) => e,
    };
    assert_eq!(
        doc.to_json(true),
        before,
        "a refused transaction changes nothing"
    );
    assert!(e.message.contains(&e.path), "{e:?}");
    e
}

pub(super) fn assert_error(e: &EditError, code: EditErrorCode, path: &str, words: &[&str]) {
    assert_eq!(e.code, code, "{e:?}");
    assert_eq!(e.path, path, "{e:?}");
    for w in words {
        assert!(
            e.message.contains(w),
            "{:?} should contain {w:?}",
            e.message
        );
    }
}
