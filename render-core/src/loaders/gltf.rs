//! glTF 2.0, as `.gltf` (JSON with external or data-URI buffers) or `.glb` (binary).
//!
//! The `gltf` crate parses and validates the document; buffers and images are read
//! here rather than by the crate's importer, so that a missing `.bin` or image file is
//! reported by name, and so that images are decoded once, straight into the renderer's
//! linear format. Every accessor is bounds-checked before it is read.
//!
//! Each triangle primitive becomes one [`Mesh`]; every node that uses it becomes an
//! [`Object`] referring to that mesh with the node's world transform, so instancing is
//! kept. World transforms that scale, rotation and translation cannot express (shear,
//! mirroring) are baked into a private copy of the mesh instead.

use super::{base_dir, display, framing_camera, io_reason, light_if_unlit, validated};
use super::{LoadError, LoadedScene};
use crate::camera::Camera;
use crate::scene::{
    Light, Material, Mesh, Object, Scene, Shape, Texture, TextureSource, Transform,
};
use crate::texture::TextureImage;
use ::gltf::accessor::{DataType, Dimensions};
use ::gltf::khr_lights_punctual::Kind;
use ::gltf::mesh::{Mode, Semantic};
use glam::{Mat3, Mat4, Vec2, Vec3, Vec4};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Lumens per watt at 555 nm: glTF lights are photometric, ours radiometric.
const LUMENS_PER_WATT: f32 = 683.0;

/// Extensions a file may require that this loader understands. The `gltf` crate's
/// validation rejects required extensions it does not parse, but Cargo unifies
/// features across the workspace, so another crate could enable one (say
/// `KHR_texture_transform`) that this loader would then silently ignore.
const SUPPORTED_EXTENSIONS: [&str; 4] = [
    "KHR_lights_punctual",
    "KHR_materials_transmission",
    "KHR_materials_ior",
    "KHR_materials_emissive_strength",
];

/// The albedo of primitives without a material. glTF's default material is a rough
/// white metal, which looks like nothing in particular; a neutral grey diffuse matches
/// what the OBJ loader and most viewers show.
const DEFAULT_GREY: f32 = 0.7;

/// Which mesh of the scene a primitive becomes: shared per primitive, or baked for
/// one node whose transform cannot be expressed as scale, rotation and translation.
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct MeshKey {
    mesh: usize,
    primitive: usize,
    baked_for_node: Option<usize>,
}

struct Loader<'a> {
    path: &'a Path,
    dir: PathBuf,
    /// The file name used in the origin of embedded images.
    file_name: String,
    document: &'a ::gltf::Document,
    buffers: Vec<Vec<u8>>,
    scene: Scene,
    images: Vec<Arc<TextureImage>>,
    warnings: Vec<String>,
    materials: HashMap<Option<usize>, usize>,
    textures: HashMap<usize, usize>,
    meshes: HashMap<MeshKey, usize>,
    camera: Option<Camera>,
    /// Warnings already given once, so a skipped primitive instanced many times is
    /// reported once.
    warned: Vec<String>,
}

/// Loads a `.gltf` or `.glb` file.
pub(super) fn load(path: &Path) -> Result<LoadedScene, LoadError> {
    let bytes = super::read(path)?;
    let binary_extension = path
        .extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("glb"));
    if binary_extension && !bytes.starts_with(b"glTF") {
        return Err(invalid(path, "not a glTF binary (bad magic)"));
    }
    let unchecked = ::gltf::Gltf::from_slice_without_validation(&bytes)
        .map_err(|e| invalid(path, describe(&e)))?;
    check_position_indices(unchecked.document.as_json()).map_err(|p| invalid(path, p))?;
    let blob = unchecked.blob;
    let document = ::gltf::Document::from_json(unchecked.document.into_json())
        .map_err(|e| invalid(path, describe(&e)))?;
    for required in document.extensions_required() {
        if !SUPPORTED_EXTENSIONS.contains(&required) {
            return Err(invalid(
                path,
                format!("the file requires extension {required}, which is not supported"),
            ));
        }
    }
    let mut loader = Loader {
        path,
        dir: base_dir(path),
        file_name: path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| display(path)),
        document: &document,
        buffers: Vec::new(),
        scene: Scene::empty(Camera {
            eye: Vec3::Z,
            target: Vec3::ZERO,
            up: Vec3::Y,
            fov: 40.0,
        }),
        images: Vec::new(),
        warnings: Vec::new(),
        materials: HashMap::new(),
        textures: HashMap::new(),
        meshes: HashMap::new(),
        camera: None,
        warned: Vec::new(),
    };
    loader.load_buffers(blob)?;
    loader.traverse()?;
    let Loader {
        mut scene,
        images,
        mut warnings,
        camera,
        ..
    } = loader;
    scene.images = images;
    scene.camera = match camera {
        Some(camera) => camera,
        None => framing_camera(&scene),
    };
    light_if_unlit(&mut scene, &mut warnings);
    Ok(LoadedScene {
        scene: validated(scene, path)?,
        warnings,
    })
}

/// The `gltf` crate's validation reads the accessor each POSITION attribute names
/// without checking that it exists, and panics if it does not; this check runs first.
fn check_position_indices(root: &::gltf::json::Root) -> Result<(), String> {
    use ::gltf::json::mesh::Semantic as JsonSemantic;
    use ::gltf::json::validation::Checked;
    for (m, mesh) in root.meshes.iter().enumerate() {
        for (p, primitive) in mesh.primitives.iter().enumerate() {
            let position = primitive
                .attributes
                .get(&Checked::Valid(JsonSemantic::Positions));
            if let Some(index) = position.filter(|i| i.value() >= root.accessors.len()) {
                return Err(format!(
                    "invalid glTF: meshes[{m}].primitives[{p}].attributes[\"POSITION\"]: \
                     accessor {} does not exist ({} accessors)",
                    index.value(),
                    root.accessors.len()
                ));
            }
        }
    }
    Ok(())
}

fn invalid(path: &Path, problem: impl Into<String>) -> LoadError {
    LoadError::Invalid {
        file: display(path),
        problem: problem.into(),
    }
}

/// Words for the `gltf` crate's errors, saying which layer failed.
fn describe(e: &::gltf::Error) -> String {
    match e {
        ::gltf::Error::Binary(e) => {
            format!("invalid glTF binary (truncated or corrupt): {e}")
        }
        ::gltf::Error::Deserialize(e) => format!("invalid glTF JSON: {e}"),
        // Validation errors already begin with "invalid glTF:" and list each problem
        // with its JSON path.
        other => other.to_string(),
    }
}

/// Decodes standard or URL-safe base64, with or without padding.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let digits = text.trim_end_matches('=');
    // One leftover digit carries only six bits, less than a byte: never valid.
    if digits.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(digits.len() * 3 / 4);
    let mut acc: u32 = 0;
    let mut bits = 0;
    for c in digits.bytes() {
        let value = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' | b'-' => 62,
            b'/' | b'_' => 63,
            _ => return None,
        };
        acc = (acc << 6) | value as u32;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    Some(out)
}

/// Undoes URI percent-encoding (`%20` for a space) in a relative reference.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = text.get(i + 1..i + 3)?;
            out.push(u8::from_str_radix(hex, 16).ok()?);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).ok()
}

/// What a URI refers to.
enum UriData {
    /// Bytes held in the URI itself.
    Inline(Vec<u8>),
    /// Bytes of a file, with its path relative to the glTF file.
    File { relative: String, bytes: Vec<u8> },
}

impl Loader<'_> {
    fn invalid(&self, problem: impl Into<String>) -> LoadError {
        invalid(self.path, problem)
    }

    fn warn_once(&mut self, warning: String) {
        if !self.warned.contains(&warning) {
            self.warned.push(warning.clone());
            self.warnings.push(warning);
        }
    }

    /// Reads what `uri` refers to; `what` names the referring element for errors.
    fn read_uri(&self, uri: &str, what: &str) -> Result<UriData, LoadError> {
        if let Some(rest) = uri.strip_prefix("data:") {
            let (header, payload) = rest
                .split_once(',')
                .ok_or_else(|| self.invalid(format!("{what}: data URI has no comma")))?;
            if !header.ends_with(";base64") {
                return Err(self.invalid(format!("{what}: only base64 data URIs are supported")));
            }
            return decode_base64(payload)
                .map(UriData::Inline)
                .ok_or_else(|| self.invalid(format!("{what}: data URI is not valid base64")));
        }
        // A colon before any slash starts a scheme such as http:, which would need a
        // network fetch; only files next to the scene are read.
        let scheme = uri.find(':').is_some_and(|c| !uri[..c].contains('/'));
        if scheme {
            return Err(self.invalid(format!(
                "{what}: URI {uri:?} is not a relative file reference or data URI"
            )));
        }
        let relative = percent_decode(uri)
            .ok_or_else(|| self.invalid(format!("{what}: URI {uri:?} is badly percent-encoded")))?;
        let file = self.dir.join(&relative);
        let bytes = std::fs::read(&file).map_err(|e| LoadError::Read {
            file: display(&file),
            reason: format!(
                "{} (referred to by {what} of {})",
                io_reason(&e),
                display(self.path)
            ),
        })?;
        Ok(UriData::File { relative, bytes })
    }

    fn load_buffers(&mut self, mut blob: Option<Vec<u8>>) -> Result<(), LoadError> {
        for buffer in self.document.buffers() {
            let what = format!("buffer {}", buffer.index());
            let data = match buffer.source() {
                ::gltf::buffer::Source::Bin => blob.take().ok_or_else(|| {
                    self.invalid(format!(
                        "{what} refers to the binary chunk, but the file has none"
                    ))
                })?,
                ::gltf::buffer::Source::Uri(uri) => match self.read_uri(uri, &what)? {
                    UriData::Inline(bytes) | UriData::File { bytes, .. } => bytes,
                },
            };
            if data.len() < buffer.length() {
                return Err(self.invalid(format!(
                    "{what} declares {} bytes but only {} are present (truncated file?)",
                    buffer.length(),
                    data.len()
                )));
            }
            self.buffers.push(data);
        }
        Ok(())
    }

    /// The bytes of a buffer view, checked against its buffer.
    fn view_bytes(&self, view: &::gltf::buffer::View) -> Result<&[u8], LoadError> {
        let buffer = &self.buffers[view.buffer().index()];
        view.offset()
            .checked_add(view.length())
            .and_then(|end| buffer.get(view.offset()..end))
            .ok_or_else(|| {
                self.invalid(format!(
                    "buffer view {} lies outside buffer {} ({} bytes)",
                    view.index(),
                    view.buffer().index(),
                    buffer.len()
                ))
            })
    }

    /// Checks that an accessor has an allowed type and lies within its data, so the
    /// `gltf` crate's readers cannot run off the end of a buffer.
    fn check_accessor(
        &self,
        accessor: &::gltf::Accessor,
        what: &str,
        allowed: &[(DataType, Dimensions)],
    ) -> Result<(), LoadError> {
        let name = format!("{what} (accessor {})", accessor.index());
        if accessor.sparse().is_some() {
            return Err(self.invalid(format!("{name}: sparse accessors are not supported")));
        }
        let kind = (accessor.data_type(), accessor.dimensions());
        if !allowed.contains(&kind) {
            return Err(self.invalid(format!(
                "{name}: type {:?} {:?} is not allowed here",
                kind.0, kind.1
            )));
        }
        if accessor.count() == 0 {
            return Err(self.invalid(format!("{name}: has no elements")));
        }
        let view = accessor
            .view()
            .ok_or_else(|| self.invalid(format!("{name}: has no buffer view")))?;
        let data = self.view_bytes(&view)?;
        let size = accessor.size();
        let stride = view.stride().unwrap_or(size);
        if stride < size {
            return Err(self.invalid(format!(
                "{name}: buffer view {} has stride {stride}, less than the element size {size}",
                view.index()
            )));
        }
        let end = stride
            .checked_mul(accessor.count() - 1)
            .and_then(|n| n.checked_add(size))
            .and_then(|n| n.checked_add(accessor.offset()));
        if end.is_none_or(|end| end > data.len()) {
            return Err(self.invalid(format!(
                "{name}: {} elements from offset {} run past the end of buffer view {} \
                 ({} bytes)",
                accessor.count(),
                accessor.offset(),
                view.index(),
                data.len()
            )));
        }
        Ok(())
    }

    /// Walks the node hierarchy of the default scene (or the first, or every root node
    /// when the file has no scenes), accumulating world transforms.
    fn traverse(&mut self) -> Result<(), LoadError> {
        let document = self.document;
        let roots: Vec<::gltf::Node> = match document
            .default_scene()
            .or_else(|| document.scenes().next())
        {
            Some(scene) => scene.nodes().collect(),
            None => {
                let mut is_child = vec![false; document.nodes().len()];
                for node in document.nodes() {
                    for child in node.children() {
                        is_child[child.index()] = true;
                    }
                }
                document.nodes().filter(|n| !is_child[n.index()]).collect()
            }
        };
        let mut visited = vec![false; document.nodes().len()];
        let mut stack: Vec<(::gltf::Node, Mat4)> = roots
            .into_iter()
            .rev()
            .map(|n| (n, Mat4::IDENTITY))
            .collect();
        while let Some((node, parent)) = stack.pop() {
            // glTF nodes form disjoint trees; a node reached twice means a cycle or a
            // shared child, which would otherwise loop forever or double geometry.
            if std::mem::replace(&mut visited[node.index()], true) {
                return Err(self.invalid(format!(
                    "node {} appears more than once in the node hierarchy",
                    node.index()
                )));
            }
            let world = parent * Mat4::from_cols_array_2d(&node.transform().matrix());
            if !world.is_finite() {
                return Err(self.invalid(format!("node {}: transform is not finite", node.index())));
            }
            if (world.row(3) - Vec4::W).abs().max_element() > 1e-5 {
                return Err(self.invalid(format!(
                    "node {}: matrix is projective, not affine",
                    node.index()
                )));
            }
            self.visit(&node, world)?;
            let children: Vec<_> = node.children().collect();
            stack.extend(children.into_iter().rev().map(|c| (c, world)));
        }
        Ok(())
    }

    fn visit(&mut self, node: &::gltf::Node, world: Mat4) -> Result<(), LoadError> {
        let index = node.index();
        let name = node
            .name()
            .map(str::to_owned)
            .unwrap_or_else(|| format!("node {index}"));
        if let Some(camera) = node.camera() {
            match camera.projection() {
                ::gltf::camera::Projection::Perspective(p) if self.camera.is_none() => {
                    let eye = world.transform_point3(Vec3::ZERO);
                    let forward = world.transform_vector3(Vec3::NEG_Z).normalize_or_zero();
                    self.camera = Some(Camera {
                        eye,
                        target: eye + forward,
                        up: world.transform_vector3(Vec3::Y),
                        fov: p.yfov().to_degrees(),
                    });
                }
                ::gltf::camera::Projection::Perspective(_) => {}
                ::gltf::camera::Projection::Orthographic(_) => self.warn_once(format!(
                    "{name}: orthographic cameras are not supported; camera ignored"
                )),
            }
        }
        if let Some(light) = node.light() {
            let power = Vec3::from(light.color()) * light.intensity() / LUMENS_PER_WATT;
            let position = world.transform_point3(Vec3::ZERO);
            let direction = world.transform_vector3(Vec3::NEG_Z).normalize_or_zero();
            self.scene.lights.push(match light.kind() {
                Kind::Directional => Light::Directional {
                    direction,
                    irradiance: power,
                },
                Kind::Point => Light::Point {
                    position,
                    intensity: power,
                },
                Kind::Spot {
                    inner_cone_angle,
                    outer_cone_angle,
                } => Light::Spot {
                    position,
                    direction,
                    intensity: power,
                    inner_angle: inner_cone_angle.to_degrees(),
                    outer_angle: outer_cone_angle.to_degrees(),
                },
            });
        }
        let Some(mesh) = node.mesh() else {
            return Ok(());
        };
        if node.skin().is_some() {
            self.warn_once(format!(
                "{name}: skinning is not supported; the mesh is drawn in its bind pose"
            ));
        }
        let linear = Mat3::from_mat4(world);
        let det = linear.determinant();
        if det.abs() < 1e-12 {
            self.warn_once(format!("{name}: transform has zero scale; node skipped"));
            return Ok(());
        }
        let (scale, rotation, translation) = world.to_scale_rotation_translation();
        let rebuilt = Mat4::from_scale_rotation_translation(scale, rotation, translation);
        let tolerance = 1e-4
            * world
                .abs()
                .to_cols_array()
                .iter()
                .fold(1.0f32, |a, &b| a.max(b));
        let expressible =
            det > 0.0 && scale.abs().min_element() >= 1e-6 && rebuilt.abs_diff_eq(world, tolerance);
        // Names get a primitive suffix only when the mesh has several triangle parts.
        let primitives = mesh
            .primitives()
            .filter(|p| p.mode() == Mode::Triangles)
            .count();
        for primitive in mesh.primitives() {
            let what = format!("mesh {} primitive {}", mesh.index(), primitive.index());
            if primitive.mode() != Mode::Triangles {
                self.warn_once(format!(
                    "{what}: {:?} primitives are not supported; skipped",
                    primitive.mode()
                ));
                continue;
            }
            if primitive.morph_targets().next().is_some() {
                self.warn_once(format!(
                    "{what}: morph targets are not supported; drawn without them"
                ));
            }
            let material = self.material(primitive.material())?;
            let key = MeshKey {
                mesh: mesh.index(),
                primitive: primitive.index(),
                baked_for_node: (!expressible).then_some(index),
            };
            let mesh_index = match self.meshes.get(&key) {
                Some(&m) => m,
                None => {
                    let mut data = self.read_primitive(&primitive, &what)?;
                    data.name = match (mesh.name(), primitives) {
                        (Some(n), 1) => n.to_owned(),
                        (Some(n), _) => format!("{n}/{}", primitive.index()),
                        (None, _) => what.clone(),
                    };
                    if !expressible {
                        bake(&mut data, world);
                        data.name = format!("{} (baked for {name})", data.name);
                    }
                    self.scene.meshes.push(Arc::new(data));
                    self.meshes.insert(key, self.scene.meshes.len() - 1);
                    self.scene.meshes.len() - 1
                }
            };
            let transform = if expressible {
                Transform {
                    translation,
                    rotation: rotation.normalize(),
                    scale,
                }
            } else {
                Transform::default()
            };
            self.scene.objects.push(Object {
                name: if primitives == 1 {
                    name.clone()
                } else {
                    format!("{name}/{}", primitive.index())
                },
                material,
                shape: Shape::Mesh { mesh: mesh_index },
                transform,
            });
        }
        Ok(())
    }

    /// Reads one triangle primitive in its own coordinates.
    fn read_primitive(&self, primitive: &::gltf::Primitive, what: &str) -> Result<Mesh, LoadError> {
        const VEC3: [(DataType, Dimensions); 1] = [(DataType::F32, Dimensions::Vec3)];
        let buffers = &self.buffers;
        let reader = primitive.reader(|b| buffers.get(b.index()).map(Vec::as_slice));
        let positions_accessor = primitive
            .get(&Semantic::Positions)
            .ok_or_else(|| self.invalid(format!("{what}: has no POSITION attribute")))?;
        self.check_accessor(&positions_accessor, &format!("{what} POSITION"), &VEC3)?;
        let unreadable = |attribute: &str| self.invalid(format!("{what}: cannot read {attribute}"));
        let positions: Vec<Vec3> = reader
            .read_positions()
            .ok_or_else(|| unreadable("POSITION"))?
            .map(Vec3::from)
            .collect();

        let mut normals = Vec::new();
        if let Some(accessor) = primitive.get(&Semantic::Normals) {
            self.check_accessor(&accessor, &format!("{what} NORMAL"), &VEC3)?;
            normals = reader
                .read_normals()
                .ok_or_else(|| unreadable("NORMAL"))?
                .map(Vec3::from)
                .collect();
            if normals.len() != positions.len() {
                return Err(self.invalid(format!(
                    "{what}: {} normals for {} positions",
                    normals.len(),
                    positions.len()
                )));
            }
            // A zero normal cannot shade; flat shading is the honest fallback.
            if normals
                .iter()
                .any(|n| !n.is_finite() || n.length_squared() <= 1e-12)
            {
                normals.clear();
            } else {
                normals.iter_mut().for_each(|n| *n = n.normalize());
            }
        }

        // Coordinates are read only for the set the base colour texture uses.
        let mut uvs = Vec::new();
        let material = primitive.material();
        if let Some(info) = material.pbr_metallic_roughness().base_color_texture() {
            let set = info.tex_coord();
            match primitive.get(&Semantic::TexCoords(set)) {
                Some(accessor) => {
                    self.check_accessor(
                        &accessor,
                        &format!("{what} TEXCOORD_{set}"),
                        &[
                            (DataType::F32, Dimensions::Vec2),
                            (DataType::U8, Dimensions::Vec2),
                            (DataType::U16, Dimensions::Vec2),
                        ],
                    )?;
                    uvs = reader
                        .read_tex_coords(set)
                        .ok_or_else(|| unreadable("TEXCOORD"))?
                        .into_f32()
                        .map(Vec2::from)
                        .collect();
                    if uvs.len() != positions.len() {
                        return Err(self.invalid(format!(
                            "{what}: {} texture coordinates for {} positions",
                            uvs.len(),
                            positions.len()
                        )));
                    }
                }
                None => {
                    return Err(self.invalid(format!(
                        "{what}: its material's texture uses TEXCOORD_{set}, which the \
                         primitive does not have"
                    )))
                }
            }
        }

        let flat: Vec<u32> = match primitive.indices() {
            Some(accessor) => {
                self.check_accessor(
                    &accessor,
                    &format!("{what} indices"),
                    &[
                        (DataType::U8, Dimensions::Scalar),
                        (DataType::U16, Dimensions::Scalar),
                        (DataType::U32, Dimensions::Scalar),
                    ],
                )?;
                reader
                    .read_indices()
                    .ok_or_else(|| unreadable("indices"))?
                    .into_u32()
                    .collect()
            }
            None => (0..positions.len() as u32).collect(),
        };
        if !flat.chunks_exact(3).remainder().is_empty() {
            return Err(self.invalid(format!(
                "{what}: {} indices do not make whole triangles",
                flat.len()
            )));
        }
        if let Some(v) = flat.iter().find(|&&v| v as usize >= positions.len()) {
            return Err(self.invalid(format!(
                "{what}: index refers to vertex {v} but there are {}",
                positions.len()
            )));
        }
        Ok(Mesh {
            name: String::new(),
            positions,
            normals,
            uvs,
            indices: flat.chunks_exact(3).map(|t| [t[0], t[1], t[2]]).collect(),
        })
    }

    /// The scene material for a glTF material, converted on first use.
    fn material(&mut self, material: ::gltf::Material) -> Result<usize, LoadError> {
        if let Some(&m) = self.materials.get(&material.index()) {
            return Ok(m);
        }
        let converted = match material.index() {
            None => Material::Diffuse {
                albedo: Vec3::splat(DEFAULT_GREY),
                texture: None,
            },
            Some(_) => self.convert_material(&material)?,
        };
        self.scene.materials.push(converted);
        let index = self.scene.materials.len() - 1;
        self.materials.insert(material.index(), index);
        Ok(index)
    }

    /// Maps metallic-roughness to the material model: emission first, then
    /// transmission, then metalness, then diffuse.
    fn convert_material(&mut self, material: &::gltf::Material) -> Result<Material, LoadError> {
        let pbr = material.pbr_metallic_roughness();
        let base = Vec4::from(pbr.base_color_factor())
            .truncate()
            .clamp(Vec3::ZERO, Vec3::ONE);
        let roughness = pbr.roughness_factor().clamp(0.0, 1.0);
        let emission =
            Vec3::from(material.emissive_factor()) * material.emissive_strength().unwrap_or(1.0);
        if emission.max_element() > 0.0 {
            return Ok(Material::Emissive {
                radiance: emission.max(Vec3::ZERO),
            });
        }
        if material
            .transmission()
            .is_some_and(|t| t.transmission_factor() >= 0.5)
        {
            return Ok(Material::Dielectric {
                ior: material.ior().unwrap_or(1.5).clamp(1.0, 4.0),
                roughness,
                tint: base,
            });
        }
        let texture = match pbr.base_color_texture() {
            Some(info) => Some(self.texture(info.texture().source())?),
            None => None,
        };
        Ok(if pbr.metallic_factor() >= 0.5 {
            Material::Conductor {
                color: base,
                roughness,
                texture,
            }
        } else {
            Material::Diffuse {
                albedo: base,
                texture,
            }
        })
    }

    /// The scene texture for a glTF image, decoded on first use.
    fn texture(&mut self, image: ::gltf::Image) -> Result<usize, LoadError> {
        if let Some(&t) = self.textures.get(&image.index()) {
            return Ok(t);
        }
        let what = format!("image {}", image.index());
        let embedded = format!("{}#image/{}", self.file_name, image.index());
        let (source, bytes) = match image.source() {
            ::gltf::image::Source::View { view, .. } => (
                TextureSource::Embedded { origin: embedded },
                self.view_bytes(&view)?.to_vec(),
            ),
            ::gltf::image::Source::Uri { uri, .. } => match self.read_uri(uri, &what)? {
                UriData::Inline(bytes) => (TextureSource::Embedded { origin: embedded }, bytes),
                UriData::File { relative, bytes } => {
                    (TextureSource::File { path: relative }, bytes)
                }
            },
        };
        let decoded =
            TextureImage::decode(&bytes, &what).map_err(|e| self.invalid(e.to_string()))?;
        self.scene.textures.push(Texture {
            name: image
                .name()
                .map(str::to_owned)
                .unwrap_or_else(|| what.clone()),
            source,
        });
        self.images.push(Arc::new(decoded));
        let index = self.scene.textures.len() - 1;
        self.textures.insert(image.index(), index);
        Ok(index)
    }
}

/// Moves a mesh into world space by `world`, for transforms a [`Transform`] cannot
/// hold. A mirroring transform turns counter-clockwise triangles clockwise, so their
/// winding is reversed to keep the front side the front.
fn bake(mesh: &mut Mesh, world: Mat4) {
    for p in &mut mesh.positions {
        *p = world.transform_point3(*p);
    }
    let linear = Mat3::from_mat4(world);
    // Normals transform by the inverse transpose to stay perpendicular under shear.
    let normal_matrix = linear.inverse().transpose();
    for n in &mut mesh.normals {
        *n = (normal_matrix * *n).normalize_or_zero();
    }
    if mesh.normals.contains(&Vec3::ZERO) {
        mesh.normals.clear();
    }
    if linear.determinant() < 0.0 {
        for t in &mut mesh.indices {
            t.swap(1, 2);
        }
    }
}
