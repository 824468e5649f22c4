//! `render-core`: the scene model and a progressive CPU path tracer.
//!
//! The main types and how they connect:
//! - [`Scene`] is the serde model a user or client edits: a [`Camera`], a list of
//!   [`Material`]s and a list of [`Object`]s (spheres and triangle meshes), plus a
//!   constant environment radiance. [`Scene::validate`] rejects anything the
//!   renderer could not trace (non-finite numbers, bad indices, negative radii).
//! - [`Renderer`] compiles a scene into a [`bvh::Bvh`] over its primitives and a light
//!   list, and renders it progressively into a [`film::Film`]: after every change it
//!   first renders cheap low-resolution previews, then full-resolution passes of one
//!   sample per pixel that accumulate. [`Renderer::render_next`] renders one pass and
//!   can be abandoned mid-way; [`Renderer::write_rgb8`] tone-maps the current estimate
//!   to sRGB bytes.
//! - [`loaders`] reads scene files (the JSON form of [`Scene`], Wavefront OBJ with MTL,
//!   glTF 2.0) into a validated [`Scene`]: [`load_scene`] picks the format from the
//!   extension.
//! - [`integrator`] holds the path tracer (next-event estimation on emitters,
//!   Russian roulette); [`sampling`] the deterministic per-sample random numbers.
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
pub use renderer::{PassKind, PassReport, Renderer, RendererError};
pub use scene::{
    Environment, Light, Material, Mesh, Object, Scene, SceneError, Shape, Texture, TextureSource,
    Transform,
};
