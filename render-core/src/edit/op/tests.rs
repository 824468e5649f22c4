//! The errors of refused ops. They are made through `Document::apply`, since a
//! value's problems and a key's references are only found when the op is applied.

use crate::edit::fixtures::{apply, assert_error, document, refuse};
use crate::edit::{EditErrorCode, Kind};
use serde_json::{json, Value};

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
