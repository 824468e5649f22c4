//! Scene file loaders: the shipped test scenes, error messages for bad files, and one
//! render of a loaded scene.
//!
//! The files under `tests/data` are produced by [`generate`]; run
//! `cargo test --release -p render-core --test loaders -- --ignored regenerate_test_data`
//! to write them again after changing it.
//!
//! Length: About 800 lines because each format's cases build on the same generated
//! files and shared checks; one binary keeps them together.

use glam::{Quat, Vec2, Vec3};
use render_core::{
    load_scene, load_scene_with_warnings, Environment, Light, Material, Renderer, Scene, Shape,
    Texture, TextureSource,
};
use serde_json::json;
use std::path::{Path, PathBuf};

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(name)
}

/// A fresh directory for files a test writes.
fn scratch(test: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("rc-loaders-{}-{test}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

// ---------------------------------------------------------------------------------
// Test data generation.

/// An 8x8 PNG checkerboard of two clearly different colours.
fn checker_png() -> Vec<u8> {
    use image::ImageEncoder;
    let mut pixels = Vec::new();
    for y in 0..8 {
        for x in 0..8 {
            let c: [u8; 3] = if (x + y) % 2 == 0 {
                [230, 230, 230]
            } else {
                [40, 90, 200]
            };
            pixels.extend_from_slice(&c);
        }
    }
    let mut out = Vec::new();
    image::codecs::png::PngEncoder::new(&mut out)
        .write_image(&pixels, 8, 8, image::ExtendedColorType::Rgb8)
        .unwrap();
    out
}

/// Appends little-endian data to a glTF buffer, returning (offset, length) and padding
/// the buffer to 4 bytes so every view starts aligned.
fn push(buffer: &mut Vec<u8>, bytes: &[u8]) -> (usize, usize) {
    let offset = buffer.len();
    buffer.extend_from_slice(bytes);
    pad(buffer, 0);
    (offset, bytes.len())
}

/// Pads to a multiple of four bytes, as glTF requires of buffer views and GLB chunks.
fn pad(bytes: &mut Vec<u8>, filler: u8) {
    bytes.resize(bytes.len().next_multiple_of(4), filler);
}

fn f32s(values: &[f32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

fn u16s(values: &[u16]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
}

/// The triangles of a unit cube centred on the origin, wound counter-clockwise seen
/// from outside, over corners numbered x + 2y + 4z.
fn cube_indices() -> Vec<u16> {
    let corner = |i: u16| {
        Vec3::new(
            (i & 1) as f32 - 0.5,
            ((i >> 1) & 1) as f32 - 0.5,
            ((i >> 2) & 1) as f32 - 0.5,
        )
    };
    let faces: [[u16; 4]; 6] = [
        [0, 1, 3, 2],
        [4, 5, 7, 6],
        [0, 2, 6, 4],
        [1, 3, 7, 5],
        [0, 1, 5, 4],
        [2, 3, 7, 6],
    ];
    let mut out = Vec::new();
    for [a, b, c, d] in faces {
        for mut t in [[a, b, c], [a, c, d]] {
            let (p0, p1, p2) = (corner(t[0]), corner(t[1]), corner(t[2]));
            // Turn the triangle round if its normal points into the cube.
            if (p1 - p0).cross(p2 - p0).dot(p0 + p1 + p2) < 0.0 {
                t.swap(1, 2);
            }
            out.extend_from_slice(&t);
        }
    }
    out
}

/// The glTF test scene's JSON and binary buffer. With `binary`, the image lives in the
/// buffer too and the buffer has no URI, as in a `.glb`.
fn gltf_scene(binary: bool) -> (serde_json::Value, Vec<u8>) {
    let mut bin = Vec::new();
    let floor_pos = push(
        &mut bin,
        &f32s(&[-2., 0., 2., 2., 0., 2., 2., 0., -2., -2., 0., -2.]),
    );
    let floor_nrm = push(&mut bin, &f32s(&[0., 1., 0.].repeat(4)));
    let floor_uv = push(&mut bin, &f32s(&[0., 1., 1., 1., 1., 0., 0., 0.]));
    let quad_idx = push(&mut bin, &u16s(&[0, 1, 2, 0, 2, 3]));
    let panel_pos = push(
        &mut bin,
        &f32s(&[
            -0.5, 2.5, -0.5, 0.5, 2.5, -0.5, 0.5, 2.5, 0.5, -0.5, 2.5, 0.5,
        ]),
    );
    let cube: Vec<f32> = (0..8)
        .flat_map(|i| {
            [
                (i & 1) as f32 - 0.5,
                ((i >> 1) & 1) as f32 - 0.5,
                ((i >> 2) & 1) as f32 - 0.5,
            ]
        })
        .collect();
    let cube_pos = push(&mut bin, &f32s(&cube));
    let cube_idx = push(&mut bin, &u16s(&cube_indices()));
    let png = binary.then(|| push(&mut bin, &checker_png()));

    let views: Vec<serde_json::Value> = [
        floor_pos, floor_nrm, floor_uv, quad_idx, panel_pos, cube_pos, cube_idx,
    ]
    .iter()
    .chain(png.iter())
    .map(|&(offset, length)| json!({"buffer": 0, "byteOffset": offset, "byteLength": length}))
    .collect();
    let image = match png {
        Some(_) => json!({"name": "checker", "bufferView": 7, "mimeType": "image/png"}),
        None => json!({"name": "checker", "uri": "checker.png"}),
    };
    let buffer = if binary {
        json!({"byteLength": bin.len()})
    } else {
        json!({"byteLength": bin.len(), "uri": "scene.bin"})
    };
    let document = json!({
        "asset": {"version": "2.0", "generator": "render-core tests/loaders.rs"},
        "extensionsUsed": ["KHR_lights_punctual", "KHR_materials_emissive_strength"],
        "scene": 0,
        "scenes": [{"nodes": [0, 1, 2, 4, 5]}],
        "nodes": [
            {"name": "ground", "mesh": 0},
            {"name": "cube A", "mesh": 1, "translation": [-1.0, 0.5, 0.0]},
            {"name": "pivot", "translation": [1.0, 0.0, 0.0],
             "rotation": [0.0, 0.38268343, 0.0, 0.9238795], "children": [3]},
            {"name": "cube B", "mesh": 1, "translation": [0.0, 0.5, 0.0],
             "scale": [0.5, 0.5, 0.5]},
            {"name": "camera", "camera": 0, "translation": [0.0, 1.5, 6.0],
             "rotation": [-0.08715574, 0.0, 0.0, 0.9961947]},
            {"name": "lamp", "translation": [0.0, 3.0, 1.0],
             "extensions": {"KHR_lights_punctual": {"light": 0}}}
        ],
        "cameras": [{"type": "perspective",
                     "perspective": {"yfov": 0.7, "znear": 0.1, "aspectRatio": 1.0}}],
        "extensions": {"KHR_lights_punctual": {"lights": [
            {"type": "point", "color": [1.0, 1.0, 1.0], "intensity": 13660.0}
        ]}},
        "meshes": [
            {"name": "ground", "primitives": [
                {"attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                 "indices": 3, "material": 0},
                {"attributes": {"POSITION": 4}, "indices": 3, "material": 2}
            ]},
            {"name": "cube", "primitives": [
                {"attributes": {"POSITION": 5}, "indices": 6, "material": 1},
                {"attributes": {"POSITION": 5}, "mode": 1, "material": 1}
            ]}
        ],
        "materials": [
            {"name": "floor", "pbrMetallicRoughness": {
                "baseColorFactor": [0.8, 0.8, 0.8, 1.0], "metallicFactor": 0.0,
                "roughnessFactor": 1.0, "baseColorTexture": {"index": 0}}},
            {"name": "copper", "pbrMetallicRoughness": {
                "baseColorFactor": [0.9, 0.6, 0.3, 1.0], "metallicFactor": 1.0,
                "roughnessFactor": 0.3}},
            {"name": "panel", "emissiveFactor": [1.0, 0.9, 0.8],
             "extensions": {"KHR_materials_emissive_strength": {"emissiveStrength": 5.0}}}
        ],
        "textures": [{"source": 0}],
        "images": [image],
        "accessors": [
            {"bufferView": 0, "componentType": 5126, "count": 4, "type": "VEC3",
             "min": [-2.0, 0.0, -2.0], "max": [2.0, 0.0, 2.0]},
            {"bufferView": 1, "componentType": 5126, "count": 4, "type": "VEC3"},
            {"bufferView": 2, "componentType": 5126, "count": 4, "type": "VEC2"},
            {"bufferView": 3, "componentType": 5123, "count": 6, "type": "SCALAR"},
            {"bufferView": 4, "componentType": 5126, "count": 4, "type": "VEC3",
             "min": [-0.5, 2.5, -0.5], "max": [0.5, 2.5, 0.5]},
            {"bufferView": 5, "componentType": 5126, "count": 8, "type": "VEC3",
             "min": [-0.5, -0.5, -0.5], "max": [0.5, 0.5, 0.5]},
            {"bufferView": 6, "componentType": 5123, "count": 36, "type": "SCALAR"}
        ],
        "bufferViews": views,
        "buffers": [buffer]
    });
    (document, bin)
}

/// Packs a glTF document and its buffer into the binary container.
fn glb(document: &serde_json::Value, bin: &[u8]) -> Vec<u8> {
    let mut json = serde_json::to_vec(document).unwrap();
    pad(&mut json, b' ');
    let mut bin = bin.to_vec();
    pad(&mut bin, 0);
    let total = 12 + 8 + json.len() + 8 + bin.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin);
    out
}

const ROOM_OBJ: &str = "\
# Two objects: a textured floor (one quad, triangulated on load) and a ceiling lamp
# given with negative (relative) indices.
mtllib room.mtl

o floor
v -2 0 2
v 2 0 2
v 2 0 -2
v -2 0 -2
vt 0 0
vt 4 0
vt 4 4
vt 0 4
vn 0 1 0
usemtl checker
s off
f 1/1/1 2/2/1 3/3/1 4/4/1

o lamp
v -0.5 2 -0.5
v 0.5 2 -0.5
v 0.5 2 0.5
v -0.5 2 0.5
usemtl lamp
f -4 -3 -2
f -4 -2 -1
";

const ROOM_MTL: &str = "\
newmtl checker
Kd 1 1 1
map_Kd -s 1 1 1 checker.png

newmtl lamp
Kd 0 0 0
Ke 4 4 3.5
";

/// The Cornell box with a checker texture on the white walls and the PNG on the blue
/// sphere.
fn json_scene() -> Scene {
    let mut scene = Scene::cornell_box();
    scene.textures = vec![
        Texture {
            name: "checker".into(),
            source: TextureSource::Checker {
                squares: 8,
                a: Vec3::splat(0.8),
                b: Vec3::splat(0.3),
            },
        },
        Texture {
            name: "png".into(),
            source: TextureSource::File {
                path: "checker.png".into(),
            },
        },
    ];
    scene.materials[0] = Material::Diffuse {
        albedo: Vec3::splat(0.9),
        texture: Some(0),
    };
    scene.materials[6] = Material::Diffuse {
        albedo: Vec3::ONE,
        texture: Some(1),
    };
    scene
}

/// Every file under `tests/data`, by name.
fn generate() -> Vec<(&'static str, Vec<u8>)> {
    let (document, bin) = gltf_scene(false);
    let (binary_document, binary_bin) = gltf_scene(true);
    vec![
        ("checker.png", checker_png()),
        ("scene.gltf", serde_json::to_vec_pretty(&document).unwrap()),
        ("scene.bin", bin),
        ("scene.glb", glb(&binary_document, &binary_bin)),
        ("room.obj", ROOM_OBJ.as_bytes().to_vec()),
        ("room.mtl", ROOM_MTL.as_bytes().to_vec()),
        (
            "cornell.json",
            serde_json::to_vec_pretty(&json_scene()).unwrap(),
        ),
    ]
}

#[test]
#[ignore = "writes tests/data; run by hand after changing the generator"]
fn regenerate_test_data() {
    std::fs::create_dir_all(data("")).unwrap();
    for (name, bytes) in generate() {
        std::fs::write(data(name), bytes).unwrap();
    }
}

/// Text files must match the generator exactly; PNG encoders differ between image
/// crate versions, so the binary files are only compared after parsing.
#[test]
fn committed_text_data_matches_generator() {
    for (name, bytes) in generate() {
        if name.ends_with(".obj") || name.ends_with(".mtl") || name.ends_with(".gltf") {
            let committed = std::fs::read(data(name)).unwrap();
            assert!(committed == bytes, "{name} differs from the generator");
        }
    }
}

// ---------------------------------------------------------------------------------
// The shipped scenes.

fn approx(a: Vec3, b: Vec3) -> bool {
    (a - b).length() < 1e-4
}

#[test]
fn gltf_scene_loads_with_instancing_camera_and_light() {
    let loaded = load_scene_with_warnings(&data("scene.gltf")).unwrap();
    let s = &loaded.scene;
    assert_eq!(s.materials.len(), 3);
    assert_eq!(s.meshes.len(), 3, "floor, panel, and one shared cube");
    assert_eq!(s.objects.len(), 4);
    assert_eq!(s.lights.len(), 1);
    assert_eq!(s.textures.len(), 1);
    assert_eq!(s.images.len(), 1);
    assert_eq!(
        s.textures[0].source,
        TextureSource::File {
            path: "checker.png".into()
        }
    );

    let cube = |name: &str| s.objects.iter().find(|o| o.name == name).unwrap();
    let (a, b) = (cube("cube A"), cube("cube B"));
    assert_eq!(a.shape, b.shape, "both cubes instance one mesh");
    let Shape::Mesh { mesh } = a.shape else {
        panic!("cube is not a mesh")
    };
    assert_eq!(s.meshes[mesh].indices.len(), 12);
    assert!(
        s.meshes[mesh].normals.is_empty(),
        "no normals: flat shading"
    );
    // Cube B's world transform composes the pivot's and its own.
    assert!(approx(b.transform.translation, Vec3::new(1.0, 0.5, 0.0)));
    assert!(approx(b.transform.scale, Vec3::splat(0.5)));
    let turn = Quat::from_rotation_y(45f32.to_radians());
    assert!(b.transform.rotation.dot(turn).abs() > 0.9999);

    let floor = s.objects.iter().find(|o| o.name == "ground/0").unwrap();
    assert!(matches!(
        s.materials[floor.material],
        Material::Diffuse {
            texture: Some(0),
            ..
        }
    ));
    let Shape::Mesh { mesh } = floor.shape else {
        panic!("floor is not a mesh")
    };
    assert_eq!(s.meshes[mesh].uvs[0], Vec2::new(0.0, 1.0));
    assert_eq!(s.meshes[mesh].normals.len(), 4);
    assert!(matches!(
        s.materials[a.material],
        Material::Conductor { roughness, .. } if (roughness - 0.3).abs() < 1e-6
    ));
    let panel = s.objects.iter().find(|o| o.name == "ground/1").unwrap();
    let Material::Emissive { radiance } = s.materials[panel.material] else {
        panic!("panel is not emissive")
    };
    assert!(approx(radiance, Vec3::new(5.0, 4.5, 4.0)));

    let Light::Point {
        position,
        intensity,
    } = s.lights[0]
    else {
        panic!("not a point light")
    };
    assert!(approx(position, Vec3::new(0.0, 3.0, 1.0)));
    assert!(
        approx(intensity, Vec3::splat(20.0)),
        "13660 cd / 683 = 20 W/sr"
    );

    assert!(approx(s.camera.eye, Vec3::new(0.0, 1.5, 6.0)));
    assert!((s.camera.fov - 0.7f32.to_degrees()).abs() < 1e-3);
    let forward = (s.camera.target - s.camera.eye).normalize();
    assert!(
        forward.y < -0.1 && forward.z < -0.9,
        "tilted down: {forward}"
    );
    assert_eq!(
        s.environment,
        Environment::Constant {
            radiance: Vec3::ZERO
        },
        "the scene has its own lights"
    );

    assert!(
        loaded.warnings.iter().any(|w| w.contains("Lines")),
        "{:?}",
        loaded.warnings
    );
    assert_eq!(loaded.warnings.len(), 1, "{:?}", loaded.warnings);
}

#[test]
fn glb_and_gltf_give_the_same_scene() {
    let text = load_scene(&data("scene.gltf")).unwrap();
    let binary = load_scene(&data("scene.glb")).unwrap();
    assert_eq!(
        binary.textures[0].source,
        TextureSource::Embedded {
            origin: "scene.glb#image/0".into()
        }
    );
    assert_eq!(binary.images, text.images);
    let mut binary = binary;
    binary.textures = text.textures.clone();
    assert_eq!(binary, text);
}

#[test]
fn obj_scene_loads_with_materials_and_texture() {
    let loaded = load_scene_with_warnings(&data("room.obj")).unwrap();
    let s = &loaded.scene;
    assert_eq!(s.objects.len(), 2);
    assert_eq!(s.meshes.len(), 2);
    assert_eq!(s.materials.len(), 2);
    assert_eq!(s.textures.len(), 1);
    assert_eq!(s.images.len(), 1);
    assert!(s.lights.is_empty());
    assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
    assert_eq!(
        s.textures[0].source,
        TextureSource::File {
            path: "checker.png".into()
        }
    );

    let floor = &s.objects[0];
    assert_eq!(floor.name, "floor");
    assert_eq!(
        s.materials[floor.material],
        Material::Diffuse {
            albedo: Vec3::ONE,
            texture: Some(0)
        }
    );
    let Shape::Mesh { mesh } = floor.shape else {
        panic!("floor is not a mesh")
    };
    let mesh = &s.meshes[mesh];
    assert_eq!(mesh.indices.len(), 2, "the quad is triangulated");
    assert_eq!(mesh.normals, vec![Vec3::Y; 4]);
    // OBJ's v runs up the image; the scene model's runs down.
    assert_eq!(mesh.uvs[0], Vec2::new(0.0, 1.0));
    assert_eq!(mesh.uvs[2], Vec2::new(4.0, -3.0));

    let lamp = &s.objects[1];
    assert_eq!(lamp.name, "lamp");
    assert_eq!(
        s.materials[lamp.material],
        Material::Emissive {
            radiance: Vec3::new(4.0, 4.0, 3.5)
        }
    );
    let Shape::Mesh { mesh } = lamp.shape else {
        panic!("lamp is not a mesh")
    };
    assert_eq!(s.meshes[mesh].positions[0], Vec3::new(-0.5, 2.0, -0.5));
    assert_eq!(s.meshes[mesh].indices, vec![[0, 1, 2], [0, 2, 3]]);
    // The framing camera sees the whole room from the +z side.
    assert!(s.camera.eye.z > 2.0 && s.camera.target.z.abs() < 1e-4);
}

#[test]
fn json_scene_loads_with_textures() {
    let s = load_scene(&data("cornell.json")).unwrap();
    let expected = json_scene();
    assert_eq!(s.objects.len(), expected.objects.len());
    assert_eq!(s.meshes.len(), expected.meshes.len());
    assert_eq!(s.materials.len(), 7);
    assert_eq!(s.textures.len(), 2);
    assert_eq!(s.images.len(), 2);
    assert_eq!((s.images[1].width, s.images[1].height), (8, 8));
    assert_eq!(s.materials, expected.materials);
}

#[test]
fn loaded_gltf_scene_renders() {
    let scene = load_scene(&data("scene.glb")).unwrap();
    let mut renderer = Renderer::new(&scene, 32, 32).unwrap();
    renderer.set_preview_scales(&[]);
    for _ in 0..4 {
        renderer.render_next(&|| false).unwrap();
    }
    let mean = renderer.film().mean();
    assert!(mean.is_finite(), "{mean}");
    assert!(mean.min_element() > 0.0, "{mean}");
}

// ---------------------------------------------------------------------------------
// Bad input.

fn error_of(path: &Path) -> String {
    load_scene(path).unwrap_err().to_string()
}

#[test]
fn missing_file_and_unknown_extension_are_named() {
    let e = error_of(Path::new("missing.gltf"));
    assert_eq!(e, "missing.gltf: cannot read: No such file or directory");
    let e = error_of(Path::new("model.fbx"));
    assert!(
        e.starts_with("model.fbx: ") && e.contains(".gltf, .glb, .obj and .json"),
        "{e}"
    );
}

#[test]
fn malformed_json_reports_the_line() {
    let dir = scratch("json");
    let path = dir.join("broken.json");
    std::fs::write(&path, "{\n  \"camera\": {\n    \"eye\": [0, 0, \n}\n").unwrap();
    let e = error_of(&path);
    assert!(e.starts_with(&path.display().to_string()), "{e}");
    assert!(e.contains("line 4"), "{e}");

    // Valid JSON describing an unrenderable scene fails validation, named too.
    let mut scene = Scene::cornell_box();
    scene.objects[0].material = 42;
    std::fs::write(&path, serde_json::to_string(&scene).unwrap()).unwrap();
    let e = error_of(&path);
    assert!(e.contains("broken.json: object 0: material 42"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn obj_errors_name_file_and_line() {
    let dir = scratch("obj");
    let path = dir.join("scene.obj");
    let cube = "v 0 0 0\nv 1 0 0\nv 1 1 0\nv 0 1 0\nv 0 0 1\nv 1 0 1\nv 1 1 1\nv 0 1 1\n";
    std::fs::write(&path, format!("{cube}f 1 2 3\n\n# oops\nf 1 2 40\n")).unwrap();
    let e = error_of(&path);
    assert!(
        e.ends_with("scene.obj: line 12: face refers to vertex 40 but there are 8"),
        "{e}"
    );

    std::fs::write(&path, "v 0 0 zero\n").unwrap();
    let e = error_of(&path);
    assert!(e.contains("scene.obj: line 1: vertex: \"zero\""), "{e}");

    std::fs::write(&path, "v 0 0 0\nv 1 0 0\nf 1 2\n").unwrap();
    assert!(error_of(&path).contains("line 3: face has 2 vertices"));

    // A missing material library is not fatal: the surfaces are grey.
    std::fs::write(
        &path,
        "mtllib nowhere.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nusemtl x\nf 1 2 3\n",
    )
    .unwrap();
    let loaded = load_scene_with_warnings(&path).unwrap();
    assert_eq!(
        loaded.scene.materials,
        vec![Material::Diffuse {
            albedo: Vec3::splat(0.7),
            texture: None
        }]
    );
    assert!(loaded.warnings.iter().any(|w| w.contains("nowhere.mtl")));
    assert!(loaded
        .warnings
        .iter()
        .any(|w| w.contains("white environment")));

    // A bad number in the library names the library and its line.
    std::fs::write(dir.join("bad.mtl"), "newmtl a\nKd 1 1 1\nNs lots\n").unwrap();
    std::fs::write(
        &path,
        "mtllib bad.mtl\nv 0 0 0\nv 1 0 0\nv 0 1 0\nf 1 2 3\n",
    )
    .unwrap();
    let e = error_of(&path);
    assert!(e.contains("bad.mtl: line 3: Ns"), "{e}");
    std::fs::remove_dir_all(&dir).ok();
}

/// Found by the `scene_gltf` fuzz target: an image in a buffer view without a
/// `mimeType`, or with neither a `uri` nor a buffer view, passes the `gltf` crate's
/// validation and then panics inside it (`Image::source` unwraps both).
#[test]
fn gltf_image_without_mime_type_or_source_is_an_error_not_a_panic() {
    let dir = scratch("gltf-image-source");
    let path = dir.join("scene.glb");
    let (document, bin) = gltf_scene(true);
    for (edit, needle) in [
        ("mimeType", "has no mimeType"),
        ("bufferView", "neither a uri nor a bufferView"),
    ] {
        let mut broken = document.clone();
        broken["images"][0]
            .as_object_mut()
            .unwrap()
            .remove(edit)
            .unwrap();
        std::fs::write(&path, glb(&broken, &bin)).unwrap();
        let e = error_of(&path);
        assert!(e.contains("image 0") && e.contains(needle), "{e}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

/// Found by the bad-input suite (tests/tests/e2e/bad_inputs.rs): an empty file, or binary
/// junk named `.obj`, loaded as an empty scene and the server served a blank sky.
#[test]
fn obj_without_faces_is_an_error_not_an_empty_scene() {
    let dir = scratch("obj-no-faces");
    let path = dir.join("scene.obj");
    let junk: Vec<u8> = (0..=255u8).cycle().take(4096).collect();
    for content in [&b""[..], b"# only a comment\nv 0 0 0\n", &junk] {
        std::fs::write(&path, content).unwrap();
        let e = error_of(&path);
        assert!(e.contains("scene.obj: no faces"), "{e}");
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn broken_glb_files_are_reported() {
    let dir = scratch("glb");
    let bytes = std::fs::read(data("scene.glb")).unwrap();
    let path = dir.join("model.glb");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let e = error_of(&path);
    assert!(e.contains("model.glb: ") && e.contains("truncated"), "{e}");

    let mut wrong = bytes.clone();
    wrong[..4].copy_from_slice(b"glTf");
    std::fs::write(&path, &wrong).unwrap();
    assert_eq!(
        error_of(&path),
        format!("{}: not a glTF binary (bad magic)", path.display())
    );
    std::fs::remove_dir_all(&dir).ok();
}

/// A one-triangle glTF whose buffer is a data URI, with `edit` applied to its JSON.
fn triangle_gltf(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> PathBuf {
    let positions = f32s(&[0., 0., 0., 1., 0., 0., 0., 1., 0.]);
    let encoded = base64(&positions);
    let mut document = json!({
        "asset": {"version": "2.0"},
        "scenes": [{"nodes": [0]}],
        "nodes": [{"mesh": 0}],
        "meshes": [{"primitives": [{"attributes": {"POSITION": 0}}]}],
        "accessors": [{"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                       "min": [0.0, 0.0, 0.0], "max": [1.0, 1.0, 0.0]}],
        "bufferViews": [{"buffer": 0, "byteLength": 36}],
        "buffers": [{"byteLength": 36,
                     "uri": format!("data:application/octet-stream;base64,{encoded}")}]
    });
    edit(&mut document);
    let path = dir.join("triangle.gltf");
    std::fs::write(&path, serde_json::to_vec(&document).unwrap()).unwrap();
    path
}

/// Standard padded base64, for building data URIs in tests.
fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

#[test]
fn gltf_with_data_uri_loads_and_frames_the_model() {
    let dir = scratch("datauri");
    let loaded = load_scene_with_warnings(&triangle_gltf(&dir, |_| {})).unwrap();
    let s = &loaded.scene;
    assert_eq!(s.meshes[0].positions[1], Vec3::X);
    assert_eq!(
        s.meshes[0].indices,
        vec![[0, 1, 2]],
        "sequential without indices"
    );
    assert_eq!(s.materials.len(), 1, "the default grey");
    // No camera: looking at the middle of the box from +z.
    assert!(approx(s.camera.target, Vec3::new(0.5, 0.5, 0.0)));
    assert!(s.camera.eye.z > 1.0);
    // No lights: a white sky, with a warning.
    assert_eq!(
        s.environment,
        Environment::Constant {
            radiance: Vec3::ONE
        }
    );
    assert!(loaded.warnings.iter().any(|w| w.contains("no lights")));
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn mirrored_node_is_baked_with_flipped_winding() {
    let dir = scratch("mirror");
    let path = triangle_gltf(&dir, |d| {
        d["nodes"][0]["scale"] = json!([-2.0, 1.0, 1.0]);
    });
    let s = load_scene(&path).unwrap();
    assert!(s.objects[0].transform.is_identity());
    assert_eq!(s.meshes[0].positions[1], Vec3::new(-2.0, 0.0, 0.0));
    assert_eq!(s.meshes[0].indices, vec![[0, 2, 1]]);
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn gltf_errors_name_file_and_problem() {
    let dir = scratch("gltf-errors");
    let path = triangle_gltf(&dir, |d| {
        d["meshes"][0]["primitives"][0]["attributes"]["POSITION"] = json!(7);
    });
    let e = error_of(&path);
    assert!(e.contains("triangle.gltf: invalid glTF"), "{e}");
    assert!(
        e.contains("POSITION") && e.contains("accessor 7 does not exist"),
        "{e}"
    );

    let path = triangle_gltf(&dir, |d| {
        d["nodes"][0]["mesh"] = json!(3);
    });
    let e = error_of(&path);
    assert!(
        e.contains("triangle.gltf: invalid glTF: nodes[0].mesh: Index out of bounds"),
        "{e}"
    );

    let path = triangle_gltf(&dir, |d| {
        d["accessors"][0]["count"] = json!(30);
    });
    let e = error_of(&path);
    assert!(
        e.contains("triangle.gltf: mesh 0 primitive 0 POSITION (accessor 0)"),
        "{e}"
    );
    assert!(e.contains("run past the end"), "{e}");

    let path = triangle_gltf(&dir, |d| {
        d["buffers"][0]["uri"] = json!("geometry.bin");
    });
    let e = error_of(&path);
    assert!(e.contains("geometry.bin: cannot read: No such file"), "{e}");
    assert!(e.contains("triangle.gltf"), "{e}");

    let path = triangle_gltf(&dir, |d| {
        d["extensionsUsed"] = json!(["KHR_draco_mesh_compression"]);
        d["extensionsRequired"] = json!(["KHR_draco_mesh_compression"]);
    });
    let e = error_of(&path);
    assert!(
        e.contains("triangle.gltf: invalid glTF")
            && e.contains("KHR_draco_mesh_compression")
            && e.contains("Unsupported extension"),
        "{e}"
    );
    std::fs::remove_dir_all(&dir).ok();
}
