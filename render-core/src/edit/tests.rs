use super::*;
use crate::renderer::Renderer;
use crate::scene::{Shape, Transform};
use glam::{Quat, Vec3};

/// The built-in room, with a checker texture on the white material, an embedded
/// texture (as a glTF file would bring) nothing uses, and a point light.
fn scene() -> Scene {
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

fn document() -> Document {
    Document::from_scene(&scene(), 256, 1.0).unwrap()
}

fn key(k: &str) -> Key {
    Key::new(k).unwrap()
}

/// Applies the JSON ops, which must succeed.
fn apply(doc: &mut Document, ops: Value) -> Applied {
    doc.apply(&parse_ops(&ops).unwrap()).unwrap()
}

/// Parses and applies the JSON ops, which must fail without changing the document.
fn refuse(doc: &mut Document, ops: Value) -> EditError {
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

fn assert_error(e: &EditError, code: EditErrorCode, path: &str, words: &[&str]) {
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
fn keys_are_checked() {
    for good in ["a", "Red-1_x.y:z", &"k".repeat(64)] {
        assert_eq!(Key::new(good).unwrap().as_str(), good);
    }
    for bad in ["", "a b", "é", "a/b", &"k".repeat(65)] {
        let e = Key::new(bad).unwrap_err().to_string();
        assert!(
            e.contains("not a valid key") && e.contains("1 to 64"),
            "{e}"
        );
    }
    assert_eq!(serde_json::to_value(key("red")).unwrap(), json!("red"));
    assert_eq!(
        serde_json::from_value::<Key>(json!("red")).unwrap(),
        key("red")
    );
    assert!(serde_json::from_value::<Key>(json!("no good")).is_err());
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
fn op_errors_have_codes_and_name_op_and_field() {
    use EditErrorCode::*;
    let mut doc = document();
    let e = refuse(
        &mut doc,
        json!([{"op": "frobnicate", "kind": "material", "key": "a"}]),
    );
    assert_error(&e, UnknownOp, "ops[0].op", &["frobnicate", "add, update"]);
    assert_eq!(e.op, Some(0));
    let e = refuse(
        &mut doc,
        json!([{"op": "add", "kind": "shader", "key": "a", "value": {}}]),
    );
    assert_error(&e, UnknownKind, "ops[0].kind", &["shader"]);
    assert_eq!("object".parse::<Kind>().unwrap(), Kind::Object);
    assert_eq!("shader".parse::<Kind>().unwrap_err().code, UnknownKind);
    let e = refuse(
        &mut doc,
        json!([{"op": "remove", "kind": "light", "key": "light-0", "valeu": 1}]),
    );
    assert_error(&e, UnknownField, "ops[0].valeu", &["valeu"]);
    let e = refuse(
        &mut doc,
        json!([{"op": "add", "kind": "light", "value": {}}]),
    );
    assert_error(&e, MissingField, "ops[0].key", &["needs a key"]);
    let e = refuse(
        &mut doc,
        json!([{"op": "add", "kind": "light", "key": "a b", "value": {}}]),
    );
    assert_error(&e, InvalidValue, "ops[0].key", &["not a valid key"]);
    let e = refuse(
        &mut doc,
        json!([{"op": "update", "kind": "settings", "key": "s", "value": {}}]),
    );
    assert_error(&e, InvalidValue, "ops[0].key", &["singleton"]);
    let e = refuse(&mut doc, json!([{"op": "remove", "kind": "environment"}]));
    assert_error(&e, InvalidValue, "ops[0].op", &["singleton"]);
    let e = refuse(&mut doc, json!({"op": "add"}));
    assert_error(&e, InvalidValue, "ops", &["array"]);

    // Inside values.
    let add_material =
        |value: Value| json!([{"op": "add", "kind": "material", "key": "m", "value": value}]);
    let e = refuse(
        &mut doc,
        add_material(json!({"type": "diffuse", "albedo": [1, 1, 1], "shine": 1})),
    );
    assert_error(
        &e,
        UnknownField,
        "ops[0].value.shine",
        &["unknown field `shine`", "add material \"m\""],
    );
    let e = refuse(&mut doc, add_material(json!({"type": "diffuse"})));
    assert_error(
        &e,
        MissingField,
        "ops[0].value.albedo",
        &["missing field `albedo`"],
    );
    let e = refuse(
        &mut doc,
        add_material(json!({"type": "plastic", "albedo": [1, 1, 1]})),
    );
    assert_error(&e, InvalidValue, "ops[0].value.type", &["plastic"]);
    let e = refuse(
        &mut doc,
        add_material(json!({"type": "diffuse", "albedo": "red"})),
    );
    assert_error(
        &e,
        InvalidValue,
        "ops[0].value.albedo",
        &["invalid type", "\"red\""],
    );
    let e = refuse(
        &mut doc,
        add_material(json!({"type": "diffuse", "albedo": [1, 1, 1], "texture": 3})),
    );
    assert_error(&e, InvalidValue, "ops[0].value.texture", &["invalid type"]);
    let e = refuse(
        &mut doc,
        add_material(json!({"type": "diffuse", "albedo": [2, 0, 0]})),
    );
    assert_error(&e, InvalidValue, "ops[0].value.albedo", &["within [0, 1]"]);
    let e = refuse(&mut doc, add_material(json!("diffuse")));
    assert_error(&e, InvalidValue, "ops[0].value", &["invalid type"]);
    let e = refuse(
        &mut doc,
        add_material(json!({"type": "diffuse", "albedo": [1, 1e39, 1]})),
    );
    assert_error(&e, InvalidValue, "ops[0].value.albedo[1]", &["too large"]);

    let update_floor =
        |value: Value| json!([{"op": "update", "kind": "object", "key": "floor", "value": value}]);
    let e = refuse(
        &mut doc,
        update_floor(json!({"transform": {"translate": [0, 1, 0]}})),
    );
    assert_error(
        &e,
        UnknownField,
        "ops[0].value.transform.translate",
        &["translate"],
    );
    let e = refuse(
        &mut doc,
        update_floor(json!({"transform": {"rotation": [0, 0, 0, 2]}})),
    );
    assert_error(
        &e,
        InvalidValue,
        "ops[0].value.transform.rotation",
        &["unit quaternion", "object \"floor\""],
    );
    let e = refuse(
        &mut doc,
        update_floor(json!({"transform": {"scale": [1, 0, 1]}})),
    );
    assert_error(&e, InvalidValue, "ops[0].value.transform.scale", &["zero"]);
    let e = refuse(
        &mut doc,
        update_floor(json!({"transform": {"translation": [0, 0, -1e300]}})),
    );
    assert_error(
        &e,
        InvalidValue,
        "ops[0].value.transform.translation[2]",
        &["too large"],
    );
    let e = refuse(
        &mut doc,
        update_floor(json!({"shape": {"type": "sphere", "center": [0, 0, 0], "radius": -1}})),
    );
    assert_error(
        &e,
        InvalidValue,
        "ops[0].value.shape.radius",
        &["radius must be positive"],
    );
    let e = refuse(
        &mut doc,
        update_floor(json!({"shape": {"type": "sphere", "center": [0, 0, 0], "radius": "big"}})),
    );
    assert_error(
        &e,
        InvalidValue,
        "ops[0].value.shape.radius",
        &["invalid type"],
    );
    let e = refuse(&mut doc, update_floor(json!({"material": 3})));
    assert_error(&e, InvalidValue, "ops[0].value.material", &["invalid type"]);
    let e = refuse(
        &mut doc,
        json!([{"op": "update", "kind": "settings", "value": {"max_samples": "many"}}]),
    );
    assert_error(
        &e,
        InvalidValue,
        "ops[0].value.max_samples",
        &["invalid type"],
    );
    let e = refuse(
        &mut doc,
        json!([{"op": "update", "kind": "settings", "value": {"exposure": 0}}]),
    );
    assert_error(
        &e,
        InvalidValue,
        "ops[0].value.exposure",
        &["exposure must be above 0"],
    );
    let e = refuse(
        &mut doc,
        json!([{"op": "update", "kind": "settings", "value": {"max_bounces": 65}}]),
    );
    assert_error(
        &e,
        InvalidValue,
        "ops[0].value.max_bounces",
        &["between 1 and 64"],
    );
    let e = refuse(
        &mut doc,
        json!([{"op": "add", "kind": "mesh", "key": "bad", "value": {"positions": [[0, 0, 0]], "indices": [[0, 0, 1]]}}]),
    );
    assert_error(&e, InvalidValue, "ops[0].value.indices[0]", &["vertex 1"]);

    // Keys and references.
    let e = refuse(&mut doc, update_floor(json!({"material": "nope"})));
    assert_error(
        &e,
        NotFound,
        "ops[0].value.material",
        &["object \"floor\" refers to material \"nope\""],
    );
    let e = refuse(
        &mut doc,
        json!([{"op": "update", "kind": "object", "key": "nope", "value": {}}]),
    );
    assert_error(
        &e,
        NotFound,
        "ops[0].key",
        &["object \"nope\" does not exist"],
    );
    let e = refuse(
        &mut doc,
        json!([{"op": "add", "kind": "material", "key": "material-0",
                                      "value": {"type": "emissive", "radiance": [1, 1, 1]}}]),
    );
    assert_error(
        &e,
        DuplicateKey,
        "ops[0].key",
        &["material \"material-0\" already exists"],
    );
    let e = refuse(
        &mut doc,
        json!([{"op": "update", "kind": "light", "key": "light-0", "value": {}},
               {"op": "remove", "kind": "material", "key": "material-5"}]),
    );
    assert_error(
        &e,
        InUse,
        "ops[1].key",
        &["material \"material-5\" is used by object \"mirror_sphere\""],
    );
    assert_eq!(e.op, Some(1));
    let e = refuse(
        &mut doc,
        json!([{"op": "remove", "kind": "texture", "key": "check"}]),
    );
    assert_error(
        &e,
        InUse,
        "ops[0].key",
        &["texture \"check\" is used by material \"material-0\""],
    );

    // Textures a client may not make.
    let e = refuse(
        &mut doc,
        json!([{"op": "add", "kind": "texture", "key": "t", "value": {"source": {"type": "file", "path": "/etc/passwd"}}}]),
    );
    assert_error(
        &e,
        InvalidValue,
        "ops[0].value.source",
        &["only set checker textures"],
    );
    let e = refuse(
        &mut doc,
        json!([{"op": "update", "kind": "texture", "key": "check",
                "value": {"source": {"type": "embedded", "origin": "room.glb#image/0"}}}]),
    );
    assert_error(
        &e,
        InvalidValue,
        "ops[0].value.source",
        &["only set checker textures"],
    );
    // Renaming a scene file's texture keeps its image and is fine.
    apply(
        &mut doc,
        json!([{"op": "update", "kind": "texture", "key": "photo", "value": {"name": "renamed"}}]),
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

#[test]
fn snapshot_round_trips() {
    let original = scene();
    let mut doc = document();
    apply(
        &mut doc,
        json!([
            {"op": "add", "kind": "texture", "key": "tiles",
             "value": {"source": {"type": "checker", "squares": 3, "a": [0, 0, 0], "b": [1, 1, 1]}}},
            {"op": "add", "kind": "mesh", "key": "tri",
             "value": {"positions": [[0, 0, 0], [1, 0, 0], [0, 1, 0]], "uvs": [[0, 0], [1, 0], [0, 1]], "indices": [[0, 1, 2]]}},
            {"op": "update", "kind": "settings", "value": {"exposure": 2}},
            {"op": "update", "kind": "environment", "value": {"type": "image", "texture": "photo"}},
        ]),
    );
    let text = serde_json::to_string(&doc.snapshot()).unwrap();
    let v: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(v["camera"]["fov"], json!(38.0));
    let images = scene_images(&original, Path::new("."));
    let back = Document::from_snapshot(&v, &images).unwrap();
    assert_eq!(back.snapshot(), doc.snapshot());
    assert_eq!(back.to_scene(), doc.to_scene(), "including the images");
    assert_eq!(back.camera(), doc.camera());
    // Its library holds the scene's images: the embedded one can be put back.
    let mut back = back;
    let before = back.to_scene();
    let applied = apply(
        &mut back,
        json!([{"op": "update", "kind": "environment", "value": {"type": "constant", "radiance": [0, 0, 0]}},
               {"op": "remove", "kind": "texture", "key": "photo"}]),
    );
    back.apply_resolved(&applied.inverse).unwrap();
    assert_eq!(back.to_scene(), before);

    // A snapshot is checked like a transaction.
    let mut broken = v.clone();
    broken["objects"]["floor"]["material"] = json!("gone");
    let e = Document::from_snapshot(&broken, &images).unwrap_err();
    assert_error(
        &e,
        EditErrorCode::NotFound,
        "objects.floor.material",
        &["gone"],
    );
    let mut broken = v.clone();
    broken["objects"]["floor"]["transform"] = json!({"scale": [0, 1, 1]});
    let e = Document::from_snapshot(&broken, &images).unwrap_err();
    assert_error(
        &e,
        EditErrorCode::InvalidValue,
        "objects.floor.transform.scale",
        &["zero"],
    );
    let e = Document::from_snapshot(&v, &|k, _| Err(format!("no image for {k}"))).unwrap_err();
    assert!(
        e.path.starts_with("textures.") && e.message.contains("no image for"),
        "{e:?}"
    );
}
