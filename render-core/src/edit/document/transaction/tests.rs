use crate::edit::fixtures::{apply, assert_error, document, key, refuse, scene};
use crate::edit::{
    parse_ops, Document, EditErrorCode, Entity, Key, Kind, Op, Resolved, MAX_ENTITIES,
    MAX_MESH_TRIANGLES, MAX_OPS,
};
use crate::scene::{
    Environment, Light, Material, Mesh, Object, Scene, Shape, Texture, TextureSource, Transform,
};
use glam::{Quat, Vec3};
use serde_json::{json, Value};
use std::sync::Arc;

#[test]
fn every_op_kind_applies_and_later_ops_see_earlier_ones() {
    let mut doc = document();
    let applied = apply(
        &mut doc,
        json!([
            {"op": "add", "kind": "texture", "key": "tiles",
             "value": {"name": "tiles", "source": {"type": "checker", "squares": 8, "a": [0, 0, 0], "b": [1, 1, 1]}}},
            {"op": "add", "kind": "material", "key": "red",
             "value": {"type": "diffuse", "albedo": [0.8, 0.1, 0.1], "texture": "tiles"}},
            {"op": "add", "kind": "mesh", "key": "tri",
             "value": {"name": "tri", "positions": [[0, 0, 0], [1, 0, 0], [0, 1, 0]], "indices": [[0, 1, 2]]}},
            {"op": "add", "kind": "object", "key": "ball",
             "value": {"name": "ball", "material": "red", "shape": {"type": "sphere", "center": [0, 0, 0], "radius": 0.1}}},
            {"op": "add", "kind": "object", "key": "sail",
             "value": {"material": "red", "shape": {"type": "mesh", "mesh": "tri"}, "transform": {"translation": [0, 1, 0]}}},
            {"op": "add", "kind": "light", "key": "sun",
             "value": {"type": "directional", "direction": [0, -1, 0], "irradiance": [1, 1, 1]}},
            {"op": "replace", "kind": "light", "key": "light-0",
             "value": {"type": "spot", "position": [0, 1.9, 0], "direction": [0, -1, 0], "intensity": [2, 2, 2], "inner_angle": 20, "outer_angle": 30}},
            {"op": "update", "kind": "settings", "value": {"exposure": 1.5}},
            {"op": "replace", "kind": "environment",
             "value": {"type": "image", "texture": "tiles", "intensity": 0.5}},
            {"op": "remove", "kind": "object", "key": "blue_sphere"},
        ]),
    );
    assert!(applied.geometry_changed);
    let scene = doc.to_scene();
    scene.validate().unwrap();
    assert_eq!(scene.objects.len(), 10);
    assert_eq!(scene.lights.len(), 2);
    assert_eq!(doc.settings().exposure, 1.5);
    let ball = scene.objects.iter().find(|o| o.name == "ball").unwrap();
    let Material::Diffuse {
        texture: Some(t), ..
    } = scene.materials[ball.material]
    else {
        panic!("ball is red and tiled");
    };
    assert_eq!(scene.textures[t].name, "tiles");
    assert_eq!((scene.images[t].width, scene.images[t].height), (8, 8));
    assert!(matches!(scene.environment, Environment::Image { texture, .. } if texture == t));
    assert!(scene.objects.iter().all(|o| o.name != "blue sphere"));
    assert_eq!(
        doc.get(Kind::Light, Some(&key("light-0"))).unwrap()["type"],
        json!("spot")
    );
    // One change per entity, with the resulting value (a mesh as its summary).
    assert_eq!(applied.changes.len(), 10);
    assert_eq!(
        applied.changes[2],
        json!({"op": "add", "kind": "mesh", "key": "tri",
               "value": {"name": "tri", "vertices": 3, "triangles": 1}})
    );
    assert_eq!(
        applied.changes[9],
        json!({"op": "remove", "kind": "object", "key": "blue_sphere"})
    );
    assert_eq!(applied.changes[7]["op"], json!("update"));
    assert_eq!(applied.changes[7]["value"]["exposure"], json!(1.5));
    assert!(applied.changes[7].get("key").is_none());

    // Settings and materials alone leave geometry alone.
    let applied = apply(
        &mut doc,
        json!([{"op": "update", "kind": "material", "key": "red", "value": {"albedo": [0.5, 0.5, 0.5]}}]),
    );
    assert!(!applied.geometry_changed);
    // An uploaded mesh goes in without JSON, and is shared, not copied.
    let mesh = crate::scene::quad("upload", [Vec3::ZERO, Vec3::X, Vec3::ONE, Vec3::Y]);
    let applied = doc.apply(&[Op::add_mesh(key("upload"), mesh)]).unwrap();
    assert!(applied.geometry_changed);
    let Some(Entity::Mesh(stored)) = doc.entity(Kind::Mesh, Some(&key("upload"))) else {
        panic!("the mesh is there");
    };
    assert!(doc
        .to_scene()
        .meshes
        .iter()
        .any(|m| Arc::ptr_eq(m, &stored)));
}

#[test]
fn update_merges_fields_nested_objects_and_type_changes() {
    let mut doc = document();
    fn doc_object(d: &Document, k: &str) -> Object<Key> {
        match d.entity(Kind::Object, Some(&key(k))) {
            Some(Entity::Object(o)) => o,
            _ => panic!("no object {k}"),
        }
    }
    let before = doc_object(&doc, "glass_sphere");
    apply(
        &mut doc,
        json!([{"op": "update", "kind": "object", "key": "glass_sphere",
                "value": {"transform": {"scale": [2, 2, 2]}}}]),
    );
    let after = doc_object(&doc, "glass_sphere");
    assert_eq!(after.transform.scale, Vec3::splat(2.0));
    assert_eq!(after.transform.translation, before.transform.translation);
    assert_eq!(after.transform.rotation, before.transform.rotation);
    assert_eq!(
        (after.name.as_str(), &after.material),
        ("glass sphere", &before.material)
    );
    assert_eq!(after.shape, before.shape);

    // A shape of another type replaces the old one whole.
    apply(
        &mut doc,
        json!([{"op": "update", "kind": "object", "key": "glass_sphere",
                "value": {"shape": {"type": "mesh", "mesh": "floor"}, "transform": {"translation": [0, 1, 0]}}}]),
    );
    let after = doc_object(&doc, "glass_sphere");
    assert_eq!(after.shape, Shape::Mesh { mesh: key("floor") });
    assert_eq!(
        after.transform,
        Transform {
            translation: Vec3::Y,
            rotation: Quat::IDENTITY,
            scale: Vec3::splat(2.0)
        }
    );

    // A material of another type likewise; it must then be complete.
    apply(
        &mut doc,
        json!([{"op": "update", "kind": "material", "key": "material-0",
                "value": {"type": "emissive", "radiance": [1, 2, 3]}}]),
    );
    assert_eq!(
        doc.get(Kind::Material, Some(&key("material-0"))).unwrap(),
        json!({"type": "emissive", "radiance": [1.0, 2.0, 3.0]})
    );
    let e = refuse(
        &mut doc,
        json!([{"op": "update", "kind": "material", "key": "material-0", "value": {"type": "conductor"}}]),
    );
    assert_error(
        &e,
        EditErrorCode::MissingField,
        "ops[0].value.color",
        &["color"],
    );

    // null clears an optional field.
    apply(
        &mut doc,
        json!([{"op": "update", "kind": "material", "key": "material-1", "value": {"texture": "check"}}]),
    );
    assert_eq!(
        doc.get(Kind::Material, Some(&key("material-1"))).unwrap()["texture"],
        json!("check")
    );
    apply(
        &mut doc,
        json!([{"op": "update", "kind": "material", "key": "material-1", "value": {"texture": null}}]),
    );
    assert_eq!(
        doc.get(Kind::Material, Some(&key("material-1"))).unwrap(),
        json!({"type": "diffuse", "albedo": [0.65, 0.05, 0.05], "texture": null})
    );
}

#[test]
fn a_failed_transaction_changes_nothing() {
    let mut doc = document();
    let before = serde_json::to_string(&doc.to_json(true)).unwrap();
    // Fails at its third op.
    let e = refuse(
        &mut doc,
        json!([
            {"op": "add", "kind": "material", "key": "red", "value": {"type": "diffuse", "albedo": [1, 0, 0]}},
            {"op": "update", "kind": "object", "key": "floor", "value": {"material": "red"}},
            {"op": "remove", "kind": "mesh", "key": "no-such-mesh"},
        ]),
    );
    assert_eq!(e.op, Some(2));
    // Fails only in the checks after all ops, having removed and replaced things.
    refuse(
        &mut doc,
        json!([
            {"op": "remove", "kind": "object", "key": "floor"},
            {"op": "remove", "kind": "mesh", "key": "floor"},
            {"op": "replace", "kind": "texture", "key": "check",
             "value": {"source": {"type": "checker", "squares": 2, "a": [0, 0, 0], "b": [1, 1, 1]}}},
            {"op": "update", "kind": "settings", "value": {"max_bounces": 3}},
            {"op": "add", "kind": "object", "key": "new", "value": {"material": "nope", "shape": {"type": "mesh", "mesh": "ceiling"}}},
        ]),
    );
    assert_eq!(serde_json::to_string(&doc.to_json(true)).unwrap(), before);
    assert_eq!(doc.settings().max_bounces, 8);
}

#[test]
fn inverse_undoes_and_forward_redoes() {
    let mut doc = document();
    let v0 = doc.to_json(true);
    let applied = apply(
        &mut doc,
        json!([
            {"op": "add", "kind": "material", "key": "red", "value": {"type": "diffuse", "albedo": [1, 0, 0]}},
            {"op": "add", "kind": "object", "key": "ball",
             "value": {"material": "red", "shape": {"type": "sphere", "center": [0, 0.5, 0], "radius": 0.2}}},
            {"op": "update", "kind": "object", "key": "ball", "value": {"name": "ball"}},
            {"op": "update", "kind": "object", "key": "floor", "value": {"material": "red"}},
            {"op": "remove", "kind": "light", "key": "light-0"},
            {"op": "update", "kind": "settings", "value": {"max_samples": 16}},
            {"op": "update", "kind": "environment", "value": {"radiance": [1, 1, 1]}},
            // Unused, so it may go; its image is the scene file's.
            {"op": "remove", "kind": "texture", "key": "photo"},
            // Touched but left as it was: not part of the net effect.
            {"op": "update", "kind": "object", "key": "ceiling", "value": {"name": "x"}},
            {"op": "update", "kind": "object", "key": "ceiling", "value": {"name": "ceiling"}},
        ]),
    );
    assert_eq!(applied.forward.len(), 7);
    assert_eq!(applied.inverse.len(), 7);
    let v1 = doc.to_json(true);
    assert_ne!(v0, v1);

    // The journal stores the steps as JSON.
    let journal = serde_json::to_string(&applied.forward).unwrap();
    assert!(
        journal.contains(r#"{"op":"remove","kind":"light","key":"light-0"}"#),
        "{journal}"
    );
    let forward: Vec<Resolved> = serde_json::from_str(&journal).unwrap();
    assert_eq!(forward, applied.forward);

    let undone = doc.apply_resolved(&applied.inverse).unwrap();
    assert_eq!(
        doc.to_json(true),
        v0,
        "undo restores the exact previous document"
    );
    assert_eq!(undone.forward, applied.inverse);
    // The embedded texture came back with its image.
    let scene = doc.to_scene();
    let photo = scene
        .textures
        .iter()
        .position(|t| t.name == "photo")
        .unwrap();
    assert_eq!(scene.images[photo].width, 2);

    doc.apply_resolved(&forward).unwrap();
    assert_eq!(doc.to_json(true), v1, "redo");
    doc.apply_resolved(&applied.inverse).unwrap();
    assert_eq!(doc.to_json(true), v0);

    // Replayed on the original: the journal's use.
    let mut replay = document();
    replay.apply_resolved(&forward).unwrap();
    assert_eq!(replay.to_json(true), v1);
}

#[test]
fn resolved_steps_are_checked_too() {
    let mut doc = document();
    let e = doc
        .apply_resolved(&[Resolved::Remove {
            kind: Kind::Material,
            key: key("material-0"),
        }])
        .unwrap_err();
    assert_error(
        &e,
        EditErrorCode::InUse,
        "ops[0].key",
        &["is used by object"],
    );
    let e = doc
        .apply_resolved(&[Resolved::Put {
            kind: Kind::Texture,
            key: Some(key("disk")),
            entity: Entity::Texture(Texture {
                name: String::new(),
                source: TextureSource::File {
                    path: "/etc/passwd".into(),
                },
            }),
        }])
        .unwrap_err();
    assert_error(
        &e,
        EditErrorCode::InvalidValue,
        "ops[0].value.source",
        &["not one of the scene file's"],
    );
    let e: Result<Resolved, _> = serde_json::from_value(
        json!({"op": "put", "kind": "light", "key": "l", "value": {"type": "point", "position": [0, 0, 0]}}),
    );
    let e = e.unwrap_err().to_string();
    assert!(
        e.contains("value.intensity: missing field `intensity`"),
        "{e}"
    );
}

#[test]
fn limits_are_enforced() {
    use EditErrorCode::*;
    let mut doc = document();
    let many: Vec<Value> = (0..=MAX_OPS)
        .map(|i| json!({"op": "update", "kind": "settings", "value": {"max_samples": i + 1}}))
        .collect();
    let e = refuse(&mut doc, Value::Array(many.clone()));
    assert_error(&e, LimitExceeded, "ops", &["at most 256"]);
    let ops = parse_ops(&Value::Array(many[..MAX_OPS].to_vec())).unwrap();
    let mut too_many = ops.clone();
    too_many.push(ops[0].clone());
    assert_eq!(doc.apply(&too_many).unwrap_err().code, LimitExceeded);
    doc.apply(&ops).unwrap();

    // Entities per kind.
    let mut scene = Scene::empty(scene().camera);
    scene.lights = vec![
        Light::Point {
            position: Vec3::ZERO,
            intensity: Vec3::ONE
        };
        MAX_ENTITIES
    ];
    let mut full = Document::from_scene(&scene, 1, 1.0).unwrap();
    let e = refuse(
        &mut full,
        json!([{"op": "add", "kind": "light", "key": "one-more",
                "value": {"type": "point", "position": [0, 0, 0], "intensity": [1, 1, 1]}}]),
    );
    assert_error(&e, LimitExceeded, "ops[0].value", &["100000 lights"]);

    // Triangles in one mesh, checked before the mesh is looked at.
    let huge = Mesh {
        positions: vec![Vec3::ZERO],
        indices: vec![[0, 0, 0]; MAX_MESH_TRIANGLES + 1],
        ..Mesh::default()
    };
    let e = doc.apply(&[Op::add_mesh(key("huge"), huge)]).unwrap_err();
    assert_error(
        &e,
        LimitExceeded,
        "ops[0].value.indices",
        &["10000001 triangles"],
    );
}
