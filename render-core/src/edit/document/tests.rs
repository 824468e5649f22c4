use super::keys_from_names;
use crate::edit::fixtures::{document, key, scene};
use crate::edit::{Document, Key, Kind, Settings};
use crate::renderer::Renderer;
use crate::scene::{Material, Scene, Shape};
use glam::Vec3;
use serde_json::json;
use std::sync::Arc;

/// Renders a scene's film mean at a few samples per pixel.
fn mean(scene: &Scene) -> Vec3 {
    let mut r = Renderer::new(scene, 24, 16).unwrap();
    r.set_preview_scales(&[]);
    for _ in 0..16 {
        r.render_next(&|| false).unwrap();
    }
    r.film().mean()
}

#[test]
fn keys_come_from_unique_names_or_from_kind_and_index() {
    let long = "x".repeat(80);
    let names = ["ball", "a b/c", "", "dup", "dup", "object-2", &long, "ü"];
    let keys = keys_from_names(Kind::Object, &names);
    let keys: Vec<&str> = keys.iter().map(Key::as_str).collect();
    assert_eq!(
        keys,
        [
            "ball",
            "a_b_c",
            // Unnamed, and "object-2" is taken by the name of another.
            "object-2-2",
            // Duplicated names fall back to the index.
            "object-3",
            "object-4",
            "object-2",
            &"x".repeat(64),
            "_",
        ]
    );
    let doc = document();
    assert_eq!(
        doc.keys(Kind::Object)[..3],
        [key("back_wall"), key("blue_sphere"), key("ceiling")]
    );
    assert_eq!(doc.keys(Kind::Material)[0], key("material-0"));
    assert_eq!(doc.keys(Kind::Texture), [key("check"), key("photo")]);
    assert_eq!(doc.keys(Kind::Light), [key("light-0")]);
    assert_eq!(
        doc.get(Kind::Object, Some(&key("glass_sphere"))).unwrap()["material"],
        json!("material-4")
    );
    assert_eq!(
        doc.get(Kind::Material, Some(&key("material-0"))).unwrap()["texture"],
        json!("check")
    );
}

/// The document's scene is the original up to the order of entities: every object
/// has the same name, material, shape and transform, and it renders the same.
#[test]
fn scene_round_trips_through_the_document() {
    let original = scene();
    let doc = Document::from_scene(&original, 256, 1.0).unwrap();
    let back = doc.to_scene();
    back.validate().unwrap();
    assert_eq!(back.objects.len(), original.objects.len());
    assert_eq!(back.camera, original.camera);
    assert_eq!(back.environment, original.environment);
    assert_eq!(back.lights, original.lights);
    assert_eq!(back.max_bounces, original.max_bounces);
    let texture = |s: &Scene, m: &Material| m.texture().map(|&t| s.textures[t].clone());
    for o in &original.objects {
        let b = back.objects.iter().find(|b| b.name == o.name).unwrap();
        let (om, bm) = (&original.materials[o.material], &back.materials[b.material]);
        assert_eq!(om.map_refs(|_| ()), bm.map_refs(|_| ()), "{}", o.name);
        assert_eq!(texture(&original, om), texture(&back, bm));
        assert_eq!(o.transform, b.transform);
        match (&o.shape, &b.shape) {
            (Shape::Mesh { mesh: om }, Shape::Mesh { mesh: bm }) => {
                // The very same geometry: nothing was copied.
                assert!(Arc::ptr_eq(&original.meshes[*om], &back.meshes[*bm]));
            }
            (os, bs) => assert_eq!(os, bs),
        }
    }
    let (a, b) = (mean(&original), mean(&back));
    assert!(
        (a - b).abs().max_element() < 0.05 * a.max_element(),
        "{a} vs {b}"
    );
    // The settings the server passed, and max_bounces from the scene.
    assert_eq!(
        doc.settings(),
        Settings {
            max_samples: 256,
            max_bounces: 8,
            exposure: 1.0
        }
    );
    assert_eq!(doc.camera(), original.camera);
}

#[test]
fn to_json_lists_everything_with_mesh_summaries() {
    let doc = document();
    let v = doc.to_json(false);
    assert_eq!(
        v["meshes"]["floor"],
        json!({"name": "floor", "vertices": 4, "triangles": 2})
    );
    assert_eq!(v["materials"].as_object().unwrap().len(), 7);
    assert_eq!(
        v["textures"]["check"]["source"],
        json!({"type": "checker", "squares": 4, "a": [0.2, 0.2, 0.2], "b": [0.8, 0.8, 0.8]})
    );
    assert_eq!(v["environment"]["type"], json!("constant"));
    assert_eq!(v["settings"]["max_samples"], json!(256));
    let full = doc.to_json(true);
    assert_eq!(
        full["meshes"]["floor"]["indices"],
        json!([[0, 1, 2], [0, 2, 3]])
    );
    assert_eq!(
        doc.get(Kind::Mesh, Some(&key("floor"))),
        Some(full["meshes"]["floor"].clone())
    );
    assert_eq!(doc.get(Kind::Settings, None), Some(v["settings"].clone()));
    assert_eq!(doc.get(Kind::Material, Some(&key("nope"))), None);
    assert_eq!(
        doc.get(Kind::Settings, Some(&key("x"))),
        None,
        "singletons have no key"
    );
}
