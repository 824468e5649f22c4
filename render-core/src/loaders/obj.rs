//! Wavefront OBJ with MTL materials.
//!
//! The parser is written here rather than taken from a crate so that every error can
//! name the file and line it comes from. It reads vertices, texture coordinates,
//! normals, polygonal faces (fan-triangulated, so polygons must be convex), objects,
//! groups, `usemtl` and `mtllib`. Each combination of object/group and material becomes
//! one mesh placed by one object with the identity transform. Free-form geometry is
//! rejected because dropping it would silently lose visible surfaces.

use super::{base_dir, display, framing_camera, io_reason, light_if_unlit, validated};
use super::{LoadError, LoadedScene};
use crate::scene::{Material, Mesh, Object, Scene, Shape, Texture, TextureSource, Transform};
use glam::{Vec2, Vec3};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// The albedo of surfaces without a usable material.
const DEFAULT_GREY: f32 = 0.7;

/// One face corner: indices into the file's position, uv and normal lists.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Corner {
    v: usize,
    vt: Option<usize>,
    vn: Option<usize>,
}

/// The triangles of one object/group with one material.
struct Part {
    name: String,
    material: Option<String>,
    triangles: Vec<[Corner; 3]>,
}

/// A material as written in an MTL file, before it is mapped to ours.
#[derive(Default)]
struct MtlMaterial {
    kd: Option<Vec3>,
    ke: Option<Vec3>,
    tf: Option<Vec3>,
    ns: Option<f32>,
    ni: Option<f32>,
    d: Option<f32>,
    tr: Option<f32>,
    pm: Option<f32>,
    pr: Option<f32>,
    illum: Option<u32>,
    /// The diffuse texture's path relative to the OBJ file's directory.
    map_kd: Option<String>,
}

/// The statements of an OBJ or MTL file: 1-based line number, keyword and arguments,
/// with comments and blank lines left out.
fn statements(text: &str) -> impl Iterator<Item = (usize, &str, Vec<&str>)> {
    text.lines().enumerate().filter_map(|(i, raw)| {
        let content = raw.split('#').next().unwrap_or("").trim();
        let mut tokens = content.split_whitespace();
        let keyword = tokens.next()?;
        Some((i + 1, keyword, tokens.collect()))
    })
}

/// Line-numbered error in `file`.
fn line_error(file: &Path, line: usize, problem: impl Into<String>) -> LoadError {
    LoadError::Line {
        file: display(file),
        line,
        problem: problem.into(),
    }
}

fn read_text(path: &Path) -> Result<String, LoadError> {
    let bytes = std::fs::read(path).map_err(|e| LoadError::Read {
        file: display(path),
        reason: io_reason(&e),
    })?;
    // OBJ files in the wild are often Latin-1; the keywords and numbers are ASCII, so
    // a lossy conversion only affects names.
    Ok(String::from_utf8_lossy(&bytes).into_owned())
}

/// Parses `count` numbers (or between `min` and `count` when fewer are allowed).
fn floats(
    file: &Path,
    line: usize,
    what: &str,
    args: &[&str],
    min: usize,
    max: usize,
) -> Result<Vec<f32>, LoadError> {
    if args.len() < min {
        return Err(line_error(
            file,
            line,
            format!("{what} needs at least {min} numbers, got {}", args.len()),
        ));
    }
    args.iter()
        .take(max)
        .map(|a| match a.parse::<f32>() {
            Ok(x) if x.is_finite() => Ok(x),
            _ => Err(line_error(
                file,
                line,
                format!("{what}: {a:?} is not a finite number"),
            )),
        })
        .collect()
}

/// Resolves a 1-based (or negative, counting back from the end) OBJ index.
fn resolve(
    file: &Path,
    line: usize,
    text: &str,
    what: &str,
    count: usize,
) -> Result<usize, LoadError> {
    let index: i64 = text.parse().map_err(|_| {
        line_error(
            file,
            line,
            format!("face has {what} index {text:?}, which is not an integer"),
        )
    })?;
    let resolved = if index > 0 {
        index - 1
    } else if index < 0 {
        count as i64 + index
    } else {
        -1
    };
    if resolved < 0 || resolved >= count as i64 {
        return Err(line_error(
            file,
            line,
            format!("face refers to {what} {index} but there are {count}"),
        ));
    }
    Ok(resolved as usize)
}

/// Everything read from the OBJ file itself.
#[derive(Default)]
struct ObjData {
    positions: Vec<Vec3>,
    uvs: Vec<Vec2>,
    normals: Vec<Vec3>,
    parts: Vec<Part>,
    mtllibs: Vec<String>,
}

fn parse_obj(path: &Path, text: &str, warnings: &mut Vec<String>) -> Result<ObjData, LoadError> {
    let mut data = ObjData::default();
    let mut object = String::new();
    let mut group = String::new();
    let mut material: Option<String> = None;
    let mut part_of: HashMap<(String, Option<String>), usize> = HashMap::new();
    let mut skipped_elements = false;
    let mut unknown: Vec<String> = Vec::new();
    for (line, keyword, args) in statements(text) {
        match keyword {
            "v" => {
                // Some exporters append a vertex colour after x y z; it is ignored.
                let p = floats(path, line, "vertex", &args, 3, 3)?;
                data.positions.push(Vec3::new(p[0], p[1], p[2]));
            }
            "vt" => {
                let t = floats(path, line, "texture coordinate", &args, 1, 2)?;
                // OBJ puts v = 0 at the bottom of the image, the scene model at the top.
                let v = t.get(1).copied().unwrap_or(0.0);
                data.uvs.push(Vec2::new(t[0], 1.0 - v));
            }
            "vn" => {
                let n = floats(path, line, "normal", &args, 3, 3)?;
                data.normals.push(Vec3::new(n[0], n[1], n[2]));
            }
            "f" => {
                if args.len() < 3 {
                    return Err(line_error(
                        path,
                        line,
                        format!("face has {} vertices; at least 3 are needed", args.len()),
                    ));
                }
                let mut corners = Vec::with_capacity(args.len());
                for arg in &args {
                    let mut fields = arg.split('/');
                    let v = fields.next().unwrap_or("");
                    let vt = fields.next().filter(|s| !s.is_empty());
                    let vn = fields.next().filter(|s| !s.is_empty());
                    corners.push(Corner {
                        v: resolve(path, line, v, "vertex", data.positions.len())?,
                        vt: vt
                            .map(|t| resolve(path, line, t, "texture coordinate", data.uvs.len()))
                            .transpose()?,
                        vn: vn
                            .map(|n| resolve(path, line, n, "normal", data.normals.len()))
                            .transpose()?,
                    });
                }
                let name = match (object.is_empty(), group.is_empty()) {
                    (_, true) if !object.is_empty() => object.clone(),
                    (true, false) => group.clone(),
                    (false, false) => format!("{object}/{group}"),
                    _ => "default".to_owned(),
                };
                let key = (name, material.clone());
                let index = *part_of.entry(key.clone()).or_insert_with(|| {
                    data.parts.push(Part {
                        name: key.0,
                        material: key.1,
                        triangles: Vec::new(),
                    });
                    data.parts.len() - 1
                });
                // A fan from the first corner triangulates any convex polygon.
                for k in 1..corners.len() - 1 {
                    data.parts[index]
                        .triangles
                        .push([corners[0], corners[k], corners[k + 1]]);
                }
            }
            "o" => {
                object = args.join(" ");
                group.clear();
            }
            "g" => group = args.join(" "),
            "usemtl" => {
                material = Some(args.join(" ")).filter(|m| !m.is_empty());
            }
            "mtllib" => {
                // Names with spaces cannot be told apart from several libraries; the
                // common case of several space-separated names wins.
                data.mtllibs.extend(args.iter().map(|s| s.to_string()));
            }
            "l" | "p" => skipped_elements = true,
            "cstype" | "curv" | "curv2" | "surf" | "deg" | "bmat" | "step" | "parm" | "trim"
            | "hole" | "scrv" | "sp" | "end" | "con" => {
                return Err(line_error(
                    path,
                    line,
                    format!("free-form geometry ({keyword}) is not supported"),
                ));
            }
            // Smoothing groups and display attributes do not change what is traced
            // here: shading normals come from `vn`.
            "s" | "mg" | "lod" | "bevel" | "c_interp" | "d_interp" | "shadow_obj" | "trace_obj"
            | "vp" => {}
            other => {
                if !unknown.iter().any(|u| u == other) {
                    unknown.push(other.to_owned());
                }
            }
        }
    }
    if skipped_elements {
        warnings.push(format!(
            "{}: line and point elements were skipped; only faces are rendered",
            display(path)
        ));
    }
    if !unknown.is_empty() {
        warnings.push(format!(
            "{}: ignored unknown statements: {}",
            display(path),
            unknown.join(", ")
        ));
    }
    Ok(data)
}

/// The file name of a texture map: the last words after any options such as `-s 1 1 1`.
fn map_file(args: &[&str]) -> Option<String> {
    let mut i = 0;
    while i < args.len() && args[i].starts_with('-') {
        let arguments = match args[i] {
            "-blendu" | "-blendv" | "-cc" | "-clamp" | "-texres" | "-imfchan" | "-bm"
            | "-boost" | "-type" => 1,
            "-mm" => 2,
            // Up to three numbers follow these.
            "-o" | "-s" | "-t" => {
                let numbers = args[i + 1..]
                    .iter()
                    .take(3)
                    .take_while(|a| a.parse::<f32>().is_ok())
                    .count();
                i += 1 + numbers;
                continue;
            }
            _ => 0,
        };
        i += 1 + arguments;
    }
    let name = args.get(i..)?.join(" ");
    // Files written on Windows separate directories with backslashes.
    (!name.is_empty()).then(|| name.replace('\\', "/"))
}

/// Parses an MTL file. `prefix` is the MTL file's directory relative to the OBJ file's,
/// so that texture paths come out relative to the OBJ file.
fn parse_mtl(
    path: &Path,
    prefix: &Path,
    text: &str,
    materials: &mut HashMap<String, MtlMaterial>,
) -> Result<(), LoadError> {
    let mut current: Option<String> = None;
    for (line, keyword, args) in statements(text) {
        if keyword == "newmtl" {
            let name = args.join(" ");
            materials.insert(name.clone(), MtlMaterial::default());
            current = Some(name);
            continue;
        }
        let Some(m) = current.as_ref().and_then(|name| materials.get_mut(name)) else {
            return Err(line_error(
                path,
                line,
                format!("{keyword} comes before any newmtl"),
            ));
        };
        // A colour may be given as one grey value or as r g b.
        let colour = |what: &str| -> Result<Vec3, LoadError> {
            if args
                .first()
                .is_some_and(|a| *a == "spectral" || *a == "xyz")
            {
                return Err(line_error(
                    path,
                    line,
                    format!("{what}: spectral and CIE XYZ colours are not supported"),
                ));
            }
            let c = floats(path, line, what, &args, 1, 3)?;
            Ok(if c.len() == 3 {
                Vec3::new(c[0], c[1], c[2])
            } else {
                Vec3::splat(c[0])
            })
        };
        let number = |what: &str| -> Result<f32, LoadError> {
            // `d -halo 0.5` puts an option first; the value is the last word.
            let value: Vec<&str> = args.last().into_iter().copied().collect();
            Ok(floats(path, line, what, &value, 1, 1)?[0])
        };
        match keyword {
            "Kd" => m.kd = Some(colour("Kd")?),
            "Ke" => m.ke = Some(colour("Ke")?),
            "Tf" => m.tf = Some(colour("Tf")?),
            "Ns" => m.ns = Some(number("Ns")?),
            "Ni" => m.ni = Some(number("Ni")?),
            "d" => m.d = Some(number("d")?),
            "Tr" => m.tr = Some(number("Tr")?),
            "Pm" => m.pm = Some(number("Pm")?),
            "Pr" => m.pr = Some(number("Pr")?),
            "illum" => {
                let value = number("illum")?;
                m.illum = Some(value.max(0.0) as u32);
            }
            "map_Kd" => {
                let file = map_file(&args)
                    .ok_or_else(|| line_error(path, line, "map_Kd names no texture file"))?;
                m.map_kd = Some(prefix.join(file).to_string_lossy().into_owned());
            }
            // Other maps and coefficients (Ka, Ks, bump maps, ...) have no counterpart
            // in the material model.
            _ => {}
        }
    }
    Ok(())
}

/// Maps an MTL material to the scene model. Emission wins, then transparency, then
/// metalness, then plain diffuse reflection; `texture` is the index of `map_Kd`.
fn convert(m: &MtlMaterial, texture: Option<usize>) -> Material {
    let kd =
        m.kd.unwrap_or(Vec3::splat(DEFAULT_GREY))
            .clamp(Vec3::ZERO, Vec3::ONE);
    if let Some(ke) = m.ke.filter(|ke| ke.max_element() > 0.0) {
        return Material::Emissive {
            radiance: ke.max(Vec3::ZERO),
        };
    }
    let transparent = m.d.is_some_and(|d| d < 0.5)
        || m.tr.is_some_and(|tr| tr > 0.5)
        || matches!(m.illum, Some(4 | 6 | 7));
    if transparent {
        return Material::Dielectric {
            ior: m.ni.unwrap_or(1.5).clamp(1.0, 4.0),
            roughness: 0.0,
            tint: m.tf.unwrap_or(Vec3::ONE).clamp(Vec3::ZERO, Vec3::ONE),
        };
    }
    if m.pm.is_some_and(|pm| pm >= 0.5) {
        // Without a PBR roughness, the Phong exponent's usual conversion stands in.
        let roughness =
            m.pr.unwrap_or_else(|| (2.0 / (m.ns.unwrap_or(0.0).max(0.0) + 2.0)).sqrt());
        return Material::Conductor {
            color: kd,
            roughness: roughness.clamp(0.0, 1.0),
            texture,
        };
    }
    Material::Diffuse {
        albedo: kd,
        texture,
    }
}

/// Loads an OBJ file with its material libraries.
pub(super) fn load(path: &Path) -> Result<LoadedScene, LoadError> {
    let mut warnings = Vec::new();
    let text = read_text(path)?;
    let data = parse_obj(path, &text, &mut warnings)?;
    // A file without a single face (empty, or not an OBJ at all: every line an
    // "unknown statement") would load as an empty scene and serve a blank sky.
    if data.parts.iter().all(|p| p.triangles.is_empty()) {
        return Err(LoadError::Invalid {
            file: display(path),
            problem: "no faces: the file has nothing to render (is it an OBJ file?)".into(),
        });
    }
    let dir = base_dir(path);

    let mut library: HashMap<String, MtlMaterial> = HashMap::new();
    for lib in &data.mtllibs {
        let relative = PathBuf::from(lib.replace('\\', "/"));
        let mtl_path = dir.join(&relative);
        match std::fs::read(&mtl_path) {
            Ok(bytes) => {
                let prefix = relative.parent().unwrap_or(Path::new(""));
                parse_mtl(
                    &mtl_path,
                    prefix,
                    &String::from_utf8_lossy(&bytes),
                    &mut library,
                )?;
            }
            // A missing library leaves surfaces grey rather than failing, because OBJ
            // files are routinely shared without their MTL.
            Err(e) => warnings.push(format!(
                "{}: cannot read material library {}: {}; its materials are grey",
                display(path),
                display(&mtl_path),
                io_reason(&e)
            )),
        }
    }

    let mut scene = Scene::empty(crate::Camera {
        eye: Vec3::Z,
        target: Vec3::ZERO,
        up: Vec3::Y,
        fov: 40.0,
    });
    let mut material_of: HashMap<Option<String>, usize> = HashMap::new();
    let mut texture_of: HashMap<String, usize> = HashMap::new();
    for part in &data.parts {
        let material = match material_of.get(&part.material) {
            Some(&m) => m,
            None => {
                let found = part.material.as_ref().and_then(|n| library.get(n));
                if let (Some(name), None) = (&part.material, found) {
                    warnings.push(format!(
                        "{}: material {name:?} is not defined in any material library; \
                         using grey",
                        display(path)
                    ));
                }
                let converted = match found {
                    Some(m) => {
                        let texture = m.map_kd.as_ref().map(|file| {
                            *texture_of.entry(file.clone()).or_insert_with(|| {
                                scene.textures.push(Texture {
                                    name: file.clone(),
                                    source: TextureSource::File { path: file.clone() },
                                });
                                scene.textures.len() - 1
                            })
                        });
                        convert(m, texture)
                    }
                    None => Material::Diffuse {
                        albedo: Vec3::splat(DEFAULT_GREY),
                        texture: None,
                    },
                };
                scene.materials.push(converted);
                material_of.insert(part.material.clone(), scene.materials.len() - 1);
                scene.materials.len() - 1
            }
        };
        let mesh = build_mesh(path, part, &data, &mut warnings);
        let textured = matches!(
            scene.materials[material],
            Material::Diffuse {
                texture: Some(_),
                ..
            } | Material::Conductor {
                texture: Some(_),
                ..
            }
        );
        if textured && mesh.uvs.is_empty() {
            warnings.push(format!(
                "{}: {}: textured material but no texture coordinates on every corner; \
                 the texture will not be placed meaningfully",
                display(path),
                part.name
            ));
        }
        scene.objects.push(Object {
            name: part.name.clone(),
            material,
            shape: Shape::Mesh {
                mesh: scene.meshes.len(),
            },
            transform: Transform::default(),
        });
        scene.meshes.push(Arc::new(mesh));
    }

    scene
        .load_textures(&dir)
        .map_err(|source| LoadError::Scene {
            file: display(path),
            source,
        })?;
    scene.camera = framing_camera(&scene);
    light_if_unlit(&mut scene, &mut warnings);
    Ok(LoadedScene {
        scene: validated(scene, path)?,
        warnings,
    })
}

/// Gathers one part's corners into a mesh with one vertex per distinct corner.
/// Normals and uvs are kept only when every corner has them, since the mesh model has
/// either one per vertex or none.
fn build_mesh(path: &Path, part: &Part, data: &ObjData, warnings: &mut Vec<String>) -> Mesh {
    let all_uvs = part.triangles.iter().flatten().all(|c| c.vt.is_some());
    let all_normals = part.triangles.iter().flatten().all(|c| c.vn.is_some());
    let any_normals = part.triangles.iter().flatten().any(|c| c.vn.is_some());
    // A zero normal cannot shade anything; flat shading is the faithful fallback.
    let usable_normals = all_normals
        && part.triangles.iter().flatten().all(|c| {
            c.vn.is_some_and(|n| data.normals[n].length_squared() > 1e-12)
        });
    if any_normals && !usable_normals {
        warnings.push(format!(
            "{}: {}: some corners lack a usable normal; shading it flat",
            display(path),
            part.name
        ));
    }
    let mut mesh = Mesh {
        name: part.name.clone(),
        ..Mesh::default()
    };
    let mut vertex_of: HashMap<Corner, u32> = HashMap::new();
    for triangle in &part.triangles {
        let mut tri = [0u32; 3];
        for (slot, corner) in tri.iter_mut().zip(triangle) {
            let key = Corner {
                v: corner.v,
                vt: corner.vt.filter(|_| all_uvs),
                vn: corner.vn.filter(|_| usable_normals),
            };
            *slot = *vertex_of.entry(key).or_insert_with(|| {
                mesh.positions.push(data.positions[key.v]);
                if let Some(t) = key.vt {
                    mesh.uvs.push(data.uvs[t]);
                }
                if let Some(n) = key.vn {
                    mesh.normals.push(data.normals[n].normalize());
                }
                (mesh.positions.len() - 1) as u32
            });
        }
        mesh.indices.push(tri);
    }
    mesh
}
