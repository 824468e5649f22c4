//! `render-core`: the scene model and a progressive CPU path tracer.
//!
//! The main types and how they connect:
//! - [`Scene`] is the serde model a user or client edits: a [`Camera`], [`Material`]s,
//!   [`Texture`]s, a table of [`Mesh`]es, [`Object`]s that place a mesh or a sphere with
//!   a [`Transform`], [`Light`]s (sun, point, spot) and an [`Environment`] (constant or
//!   an equirectangular image). [`Scene::validate`] rejects anything the renderer could
//!   not trace, naming the bad part. [`loaders`] reads scene files (glTF 2.0, OBJ with
//!   MTL, the JSON form of [`Scene`]) into a validated [`Scene`]; [`generate`] makes
//!   scenes in code. Scenes share their meshes through `Arc`s.
//! - [`edit::Document`] is the editable form clients see: the same entities under
//!   stable string [`edit::Key`]s, referring to each other by key (the scene types are
//!   generic over how they refer, so both forms share one definition and one set of
//!   value rules). Clients change it with transactions of [`edit::Op`]s (add, update,
//!   replace, remove) that [`edit::Document::apply`] applies all or nothing, returning
//!   the net effect, its inverse (undo) and the changes to tell other clients; an
//!   [`edit::EditError`] names the op and the JSON path of whatever was refused.
//!   [`edit::Document::to_scene`] gives the renderer its [`Scene`] without copying
//!   geometry. [`loaders::mesh_from_bytes`] reads an uploaded glTF model into a mesh.
//! - [`integrator::SceneData`] compiles a scene: an [`accel::Accel`] (a bottom-level
//!   [`bvh::Bvh`] per mesh, shared by instances, under a top level over the objects)
//!   and [`lights::Lights`]. Its path tracer samples [`bsdf::Bsdf`]s and lights with
//!   next-event estimation and multiple importance sampling.
//! - [`Renderer`] renders a compiled scene progressively into a [`film::Film`]: after
//!   every change it first renders cheap low-resolution previews, then full-resolution
//!   passes of one sample per pixel that accumulate. [`Renderer::render_next`] renders
//!   one pass and can be abandoned mid-way; [`Renderer::write_rgb8`] tone-maps the
//!   current estimate to sRGB bytes. [`sampling`] holds the per-sample random numbers.
//!
//! Rendering is deterministic: every sample's random numbers are derived from the
//! pixel, the sample index and the scene seed, never from thread scheduling, so an
//! image does not depend on how many threads rendered it.
//!
//! Naming follows the physically based rendering literature: `wo` is the direction
//! towards the viewer (the reverse of the incoming ray), `wi` the sampled direction
//! towards the light, `li` incident radiance, `le` emitted radiance, `beta` the path
//! throughput, and `p_film` a point on the image plane in pixels.
//!
//! This crate never does async, sockets, encoding or WebRTC.

pub mod accel;
pub mod bsdf;
pub mod bvh;
pub mod camera;
pub mod cpu;
pub mod edit;
pub mod film;
pub mod generate;
pub mod geometry;
pub mod integrator;
pub mod lights;
pub mod loaders;
pub mod renderer;
pub mod sampling;
pub mod scene;
pub mod texture;

pub use camera::Camera;
pub use film::Film;
pub use loaders::{load_scene, load_scene_with_warnings, LoadError, LoadedScene};
pub use renderer::{PassKind, PassReport, Picture, Renderer, RendererError};
pub use scene::{
    Environment, Light, Material, Mesh, Object, Scene, SceneError, Shape, Texture, TextureSource,
    Transform,
};
