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
//!
//! [`mesh_from_bytes`] reads a model a client uploaded, from memory, into one merged
//! mesh. It reads nothing else: buffers must be inside the upload (a `.glb`, or data
//! URIs), since a file reference would let a client read the server's disk.
//!
//! Length: About 940 lines of code (and 250 of tests): one glTF reader (buffers,
//! accessors, materials, textures, nodes, lights) whose parts share the document's
//! index checks.

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
    /// The directory relative URIs are read from; `None` for an upload, which may not
    /// refer to files.
    dir: Option<PathBuf>,
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

/// Parses and validates a glTF document (JSON or binary), returning it with the
/// binary chunk, if any. Errors are attributed to `path`.
fn parse(bytes: &[u8], path: &Path) -> Result<(::gltf::Document, Option<Vec<u8>>), LoadError> {
    check_glb_length(bytes).map_err(|p| invalid(path, p))?;
    let unchecked = ::gltf::Gltf::from_slice_without_validation(bytes)
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
    Ok((document, blob))
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
    let (document, blob) = parse(&bytes, path)?;
    let mut loader = Loader::new(path, Some(base_dir(path)), &document);
    loader.load_buffers(blob)?;
    for (node, world) in loader.world_transforms()? {
        loader.visit(&node, world)?;
    }
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

/// A GLB's header states the file's whole length, which the `gltf` crate (1.4.1,
/// `Glb::from_slice`) reduces by the header's 12 bytes without checking, so a length
/// under 12 overflows: a panic wherever overflow checks are on (debug builds, the fuzz
/// targets). Found by the `scene_gltf` fuzz target; refused here first.
fn check_glb_length(bytes: &[u8]) -> Result<(), String> {
    if !bytes.starts_with(b"glTF") {
        return Ok(());
    }
    match bytes.get(8..12) {
        Some(field) => {
            let length = u32::from_le_bytes([field[0], field[1], field[2], field[3]]);
            if length < 12 {
                return Err(format!(
                    "not a glTF binary: its header gives a length of {length} bytes, less than the 12-byte header"
                ));
            }
            Ok(())
        }
        None => Err("not a glTF binary: the file ends inside its 12-byte header".into()),
    }
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

/// Decodes standard or URL-safe base64, with or without padding (glTF exporters
/// write either), as the `base64` crate reads it.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    use base64::alphabet::{STANDARD, URL_SAFE};
    use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
    use base64::Engine;
    // Lenient where writers differ and nothing is lost: padding may be there or not,
    // and the unused low bits of the last digit need not be zero.
    let config = GeneralPurposeConfig::new()
        .with_decode_padding_mode(DecodePaddingMode::Indifferent)
        .with_decode_allow_trailing_bits(true);
    let engine = |alphabet| GeneralPurpose::new(alphabet, config);
    engine(&STANDARD)
        .decode(text)
        .or_else(|_| engine(&URL_SAFE).decode(text))
        .ok()
}

/// Undoes URI percent-encoding (`%20` for a space) in a relative reference. A `%`
/// not followed by two hexadecimal digits is an error (RFC 3986), as is a result
/// that is not UTF-8.
fn percent_decode(text: &str) -> Option<String> {
    let bytes = text.as_bytes();
    let well_formed = bytes.iter().enumerate().all(|(i, &b)| {
        b != b'%'
            || bytes
                .get(i + 1..i + 3)
                .is_some_and(|h| h.iter().all(u8::is_ascii_hexdigit))
    });
    if !well_formed {
        return None;
    }
    percent_encoding::percent_decode_str(text)
        .decode_utf8()
        .ok()
        .map(|s| s.into_owned())
}

/// What a URI refers to.
enum UriData {
    /// Bytes held in the URI itself.
    Inline(Vec<u8>),
    /// Bytes of a file, with its path relative to the glTF file.
    File { relative: String, bytes: Vec<u8> },
}

/// Reads a glTF model held in memory (a `.glb`, or `.gltf` JSON whose buffers are
/// data URIs; references to other files are refused) into one mesh: every triangle
/// primitive of the default scene (or the first, or every root node's tree when there
/// are no scenes), moved by its node's world transform, merged. Normals are kept when
/// every primitive has them, texture coordinates (set 0) likewise. Other primitives
/// (points, lines) are skipped; materials, cameras and lights are ignored.
///
/// The input is untrusted: every count is checked against the bytes actually present
/// before anything is allocated for it, and more than `max_triangles` triangles in all
/// is an error rather than a large allocation.
pub fn mesh_from_bytes(bytes: &[u8], max_triangles: usize) -> Result<Mesh, LoadError> {
    let path = Path::new("uploaded model");
    let (document, blob) = parse(bytes, path)?;
    let mut loader = Loader::new(path, None, &document);
    loader.load_buffers(blob)?;
    let mut merged = Mesh::default();
    let (mut all_normals, mut all_uvs) = (true, true);
    let mut names = Vec::new();
    for (node, world) in loader.world_transforms()? {
        let Some(mesh) = node.mesh() else {
            continue;
        };
        for primitive in mesh.primitives().filter(|p| p.mode() == Mode::Triangles) {
            let what = format!("mesh {} primitive {}", mesh.index(), primitive.index());
            // The budget is checked on the declared counts, before anything is read.
            let triangles = primitive
                .indices()
                .or_else(|| primitive.get(&Semantic::Positions))
                .map_or(0, |a| a.count() / 3);
            if merged.indices.len().saturating_add(triangles) > max_triangles {
                return Err(loader.invalid(format!(
                    "{what}: the model has more than {max_triangles} triangles, the most \
                     an upload may have"
                )));
            }
            let uv_set = primitive.get(&Semantic::TexCoords(0)).map(|_| 0);
            let mut part = loader.read_primitive(&primitive, &what, uv_set)?;
            bake(&mut part, world);
            let offset = merged.positions.len();
            if offset + part.positions.len() > u32::MAX as usize {
                return Err(loader.invalid(format!("{what}: too many vertices")));
            }
            all_normals &= !part.normals.is_empty();
            all_uvs &= !part.uvs.is_empty();
            merged.positions.extend(&part.positions);
            merged.normals.extend(&part.normals);
            merged.uvs.extend(&part.uvs);
            let offset = offset as u32;
            merged
                .indices
                .extend(part.indices.iter().map(|t| t.map(|v| v + offset)));
            names.push(mesh.name().unwrap_or_default().to_owned());
        }
    }
    if merged.indices.is_empty() {
        return Err(loader.invalid("the model has no triangles"));
    }
    if !all_normals {
        merged.normals.clear();
    }
    if !all_uvs {
        merged.uvs.clear();
    }
    // A model of one named mesh keeps its name.
    names.dedup();
    if let [name] = names.as_slice() {
        merged.name = name.clone();
    }
    if let Some(problem) = merged.problem() {
        return Err(loader.invalid(problem.message));
    }
    Ok(merged)
}

impl<'a> Loader<'a> {
    fn new(path: &'a Path, dir: Option<PathBuf>, document: &'a ::gltf::Document) -> Self {
        Loader {
            path,
            dir,
            file_name: path
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_else(|| display(path)),
            document,
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
        }
    }

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
        let Some(dir) = &self.dir else {
            return Err(self.invalid(format!(
                "{what}: URI {uri:?} refers to another file, which an upload cannot; \
                 embed the data (a .glb, or data URIs)"
            )));
        };
        let relative = percent_decode(uri)
            .ok_or_else(|| self.invalid(format!("{what}: URI {uri:?} is badly percent-encoded")))?;
        let file = dir.join(&relative);
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
    /// when the file has no scenes), accumulating world transforms: every node once,
    /// parents before children, with its world transform.
    fn world_transforms(&self) -> Result<Vec<(::gltf::Node<'a>, Mat4)>, LoadError> {
        let document = self.document;
        let mut out = Vec::new();
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
            let children: Vec<_> = node.children().collect();
            stack.extend(children.into_iter().rev().map(|c| (c, world)));
            out.push((node, world));
        }
        Ok(out)
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
                    // Coordinates are read only for the set the base colour texture uses.
                    let uv_set = primitive
                        .material()
                        .pbr_metallic_roughness()
                        .base_color_texture()
                        .map(|info| info.tex_coord());
                    let mut data = self.read_primitive(&primitive, &what, uv_set)?;
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

    /// Reads one triangle primitive in its own coordinates, with texture coordinates
    /// from set `uv_set` (which must exist) if one is given.
    fn read_primitive(
        &self,
        primitive: &::gltf::Primitive,
        what: &str,
        uv_set: Option<u32>,
    ) -> Result<Mesh, LoadError> {
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

        let mut uvs = Vec::new();
        if let Some(set) = uv_set {
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
        // `Image::source` unwraps both of these (gltf 1.4.1), and validation lets an
        // image miss them: found by the `scene_gltf` fuzz target.
        let json = &self.document.as_json().images[image.index()];
        if json.buffer_view.is_some() && json.mime_type.is_none() {
            return Err(self.invalid(format!(
                "{what} is stored in a buffer view but has no mimeType"
            )));
        }
        if json.buffer_view.is_none() && json.uri.is_none() {
            return Err(self.invalid(format!("{what} has neither a uri nor a bufferView")));
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    /// A binary glTF: the header, the JSON chunk and the binary chunk, each padded to
    /// four bytes as the format requires.
    fn glb(document: &Value, bin: &[u8]) -> Vec<u8> {
        let mut text = serde_json::to_vec(document).unwrap();
        text.resize(text.len().next_multiple_of(4), b' ');
        let mut bin = bin.to_vec();
        bin.resize(bin.len().next_multiple_of(4), 0);
        let total = 12 + 8 + text.len() + 8 + bin.len();
        let mut out = Vec::new();
        out.extend(b"glTF");
        out.extend(2u32.to_le_bytes());
        out.extend((total as u32).to_le_bytes());
        out.extend((text.len() as u32).to_le_bytes());
        out.extend(b"JSON");
        out.extend(text);
        out.extend((bin.len() as u32).to_le_bytes());
        out.extend(b"BIN\0");
        out.extend(bin);
        out
    }

    /// Unpadded standard base64 (exporters write either; the loader takes both).
    fn base64(bytes: &[u8]) -> String {
        use base64::Engine;
        base64::engine::general_purpose::STANDARD_NO_PAD.encode(bytes)
    }

    #[test]
    fn data_uris_decode_standard_or_url_safe_base64_with_or_without_padding() {
        let bytes: Vec<u8> = (0..=255u8).rev().chain([0xfb, 0xff]).collect();
        use base64::engine::general_purpose as b64;
        use base64::Engine;
        for engine in [
            b64::STANDARD,
            b64::STANDARD_NO_PAD,
            b64::URL_SAFE,
            b64::URL_SAFE_NO_PAD,
        ] {
            let text = engine.encode(&bytes);
            assert_eq!(decode_base64(&text).as_deref(), Some(&bytes[..]), "{text}");
        }
        assert_eq!(decode_base64("").as_deref(), Some(&[][..]));
        // Unused low bits of the last digit are ignored, as writers may leave them set.
        assert_eq!(decode_base64("AB").as_deref(), Some(&[0u8][..]));
        for bad in ["A", "AB$=", "A=BC", "ab cd", "+_+_"] {
            assert_eq!(decode_base64(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn file_names_are_percent_decoded_and_bad_escapes_refused() {
        assert_eq!(
            percent_decode("my%20model%2B1.bin").as_deref(),
            Some("my model+1.bin")
        );
        assert_eq!(percent_decode("caf%C3%A9.png").as_deref(), Some("café.png"));
        assert_eq!(percent_decode("plain.bin").as_deref(), Some("plain.bin"));
        for bad in ["a%2", "a%zz.bin", "%", "a%FF.bin"] {
            assert_eq!(percent_decode(bad), None, "{bad:?}");
        }
    }

    /// One triangle with normals and texture coordinates, placed by three nodes of
    /// the scene (one moved, one inside a scaled parent, one mirrored) and one node
    /// outside it; and its buffer.
    fn triangle() -> (Value, Vec<u8>) {
        let mut bin = Vec::new();
        let floats = |bin: &mut Vec<u8>, values: &[f32]| {
            values.iter().for_each(|v| bin.extend(v.to_le_bytes()))
        };
        floats(&mut bin, &[0., 0., 0., 1., 0., 0., 0., 1., 0.]);
        floats(&mut bin, &[0., 0., 1., 0., 0., 1., 0., 0., 1.]);
        floats(&mut bin, &[0., 0., 1., 0., 0., 1.]);
        [0u16, 1, 2]
            .iter()
            .for_each(|i| bin.extend(i.to_le_bytes()));
        let document = json!({
            "asset": {"version": "2.0"},
            "scene": 0,
            "scenes": [{"nodes": [0, 1, 4]}],
            "nodes": [
                {"mesh": 0, "translation": [10, 0, 0]},
                {"scale": [2, 2, 2], "children": [2]},
                {"mesh": 0, "translation": [0, 1, 0]},
                {"mesh": 0, "translation": [50, 0, 0]},
                {"mesh": 0, "scale": [-1, 1, 1]}
            ],
            "meshes": [{"name": "tri", "primitives": [{
                "attributes": {"POSITION": 0, "NORMAL": 1, "TEXCOORD_0": 2},
                "indices": 3
            }]}],
            "buffers": [{"byteLength": bin.len()}],
            "bufferViews": [
                {"buffer": 0, "byteOffset": 0, "byteLength": 36},
                {"buffer": 0, "byteOffset": 36, "byteLength": 36},
                {"buffer": 0, "byteOffset": 72, "byteLength": 24},
                {"buffer": 0, "byteOffset": 96, "byteLength": 6}
            ],
            "accessors": [
                {"bufferView": 0, "componentType": 5126, "count": 3, "type": "VEC3",
                 "min": [0, 0, 0], "max": [1, 1, 0]},
                {"bufferView": 1, "componentType": 5126, "count": 3, "type": "VEC3"},
                {"bufferView": 2, "componentType": 5126, "count": 3, "type": "VEC2"},
                {"bufferView": 3, "componentType": 5123, "count": 3, "type": "SCALAR"}
            ]
        });
        (document, bin)
    }

    #[test]
    fn glb_meshes_are_merged_in_world_space() {
        let (document, bin) = triangle();
        let mesh = mesh_from_bytes(&glb(&document, &bin), 100).unwrap();
        let v = Vec3::new;
        assert_eq!(
            mesh.positions,
            [
                // Moved.
                v(10., 0., 0.),
                v(11., 0., 0.),
                v(10., 1., 0.),
                // Moved up by one, then scaled by two with its parent.
                v(0., 2., 0.),
                v(2., 2., 0.),
                v(0., 4., 0.),
                // Mirrored.
                v(0., 0., 0.),
                v(-1., 0., 0.),
                v(0., 1., 0.),
            ]
        );
        // The mirrored copy's winding is reversed so its front still faces +z.
        assert_eq!(mesh.indices, [[0, 1, 2], [3, 4, 5], [6, 8, 7]]);
        assert_eq!(mesh.normals, [Vec3::Z; 9]);
        assert_eq!(mesh.uvs.len(), 9);
        assert_eq!(mesh.uvs[2], Vec2::new(0.0, 1.0));
        assert_eq!(mesh.name, "tri");
        assert!(mesh.problem().is_none());
    }

    #[test]
    fn gltf_json_with_data_uris_loads_and_file_uris_are_refused() {
        let (mut document, bin) = triangle();
        document["buffers"][0]["uri"] = json!(format!(
            "data:application/octet-stream;base64,{}",
            base64(&bin)
        ));
        let text = serde_json::to_vec(&document).unwrap();
        let from_json = mesh_from_bytes(&text, 100).unwrap();
        assert_eq!(
            from_json,
            mesh_from_bytes(&glb(&triangle().0, &bin), 100).unwrap()
        );

        document["buffers"][0]["uri"] = json!("../../secret.bin");
        let e = mesh_from_bytes(&serde_json::to_vec(&document).unwrap(), 100)
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("uploaded model") && e.contains("refers to another file"),
            "{e}"
        );
    }

    #[test]
    fn normals_and_uvs_are_kept_only_when_every_primitive_has_them() {
        let (mut document, bin) = triangle();
        let mut bare = document["meshes"][0]["primitives"][0].clone();
        bare["attributes"] = json!({"POSITION": 0});
        document["meshes"][0]["primitives"]
            .as_array_mut()
            .unwrap()
            .push(bare);
        let mesh = mesh_from_bytes(&glb(&document, &bin), 100).unwrap();
        assert_eq!(mesh.indices.len(), 6);
        assert!(mesh.normals.is_empty() && mesh.uvs.is_empty());
    }

    /// Found by the `scene_gltf` fuzz target (fuzz/artifacts input
    /// `crash-c28d3029...`): a GLB header whose length field is under 12 made the
    /// `gltf` crate subtract past zero, a panic where overflow checks are on.
    #[test]
    fn glb_header_length_under_the_header_size_is_an_error_not_an_overflow() {
        for length in [0u32, 1, 11] {
            let mut bytes = b"glTF".to_vec();
            bytes.extend(2u32.to_le_bytes());
            bytes.extend(length.to_le_bytes());
            bytes.extend([0x0b; 120]);
            let e = mesh_from_bytes(&bytes, 100).unwrap_err().to_string();
            assert!(e.contains("less than the 12-byte header"), "{e}");
        }
        let e = mesh_from_bytes(b"glTF\x02\x00\x00\x00\x10", 100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("ends inside its 12-byte header"), "{e}");
    }

    #[test]
    fn hostile_uploads_are_errors() {
        let (document, bin) = triangle();
        let good = glb(&document, &bin);
        for cut in [0, 4, 12, 20, good.len() / 2, good.len() - 4] {
            assert!(mesh_from_bytes(&good[..cut], 100).is_err(), "cut at {cut}");
        }
        let e = mesh_from_bytes(b"hello, world", 100)
            .unwrap_err()
            .to_string();
        assert!(e.contains("invalid glTF"), "{e}");
        let mut garbage = good.clone();
        garbage[30..60].fill(0xff);
        assert!(mesh_from_bytes(&garbage, 100).is_err());
        // Every byte changed in turn (digits, structure, data): errors or meshes, never
        // a panic.
        for i in 0..good.len() {
            for byte in [b'0', b'9', b'-', b'"', 0x00, 0xff] {
                let mut bytes = good.clone();
                bytes[i] = byte;
                if let Ok(mesh) = mesh_from_bytes(&bytes, 100) {
                    assert!(mesh.problem().is_none() && mesh.indices.len() <= 100);
                }
            }
        }

        let e = mesh_from_bytes(&good, 2).unwrap_err().to_string();
        assert!(e.contains("more than 2 triangles"), "{e}");

        // Counts far beyond the data are refused before anything is allocated.
        let mut huge = document.clone();
        huge["accessors"][3]["count"] = json!(3_000_000_000u64);
        let e = mesh_from_bytes(&glb(&huge, &bin), 10_000_000).unwrap_err();
        assert!(e.to_string().contains("more than 10000000"), "{e}");
        let e = mesh_from_bytes(&glb(&huge, &bin), usize::MAX).unwrap_err();
        assert!(e.to_string().contains("run past the end"), "{e}");
        let mut outside = document.clone();
        outside["bufferViews"][0]["byteOffset"] = json!(1000);
        let e = mesh_from_bytes(&glb(&outside, &bin), 100).unwrap_err();
        assert!(e.to_string().contains("lies outside buffer"), "{e}");
        let mut empty = document;
        empty["scenes"][0]["nodes"] = json!([3]);
        empty["nodes"][3] = json!({});
        let e = mesh_from_bytes(&glb(&empty, &bin), 100).unwrap_err();
        assert!(e.to_string().contains("no triangles"), "{e}");
    }
}
