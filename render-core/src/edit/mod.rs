//! The editable scene document: stable keys and atomic edit transactions.
//!
//! The renderer's [`Scene`] refers to materials, meshes and textures by their index,
//! which shifts whenever something is removed. Clients need names that stay put, so
//! the server keeps a [`Document`]: the same entities in maps by [`Key`], with
//! references between them by key (`Material<Key>`, `Object<Key>`, ...: the scene
//! types are generic over how they refer). [`Document::to_scene`] turns it back into a
//! scene for the renderer; meshes are shared through `Arc`s, so that costs no copy of
//! geometry.
//!
//! Clients change the document with transactions: a list of [`Op`]s (add, update,
//! replace, remove; parsed by [`parse_ops`] from the JSON of an `edit` message) that
//! [`Document::apply`] applies all or nothing. Later ops see earlier ones; values are
//! checked as each op is applied, references and limits once all are, and on any
//! error the document is left exactly as it was. A successful transaction returns an
//! [`Applied`]: its net effect as [`Resolved`] puts and removes (to redo it or write it
//! to a journal), the inverse (to undo it), the changes to tell other clients, and
//! whether geometry changed.
//!
//! Every refusal is an [`EditError`] with a code, the op's index and the JSON path of
//! the field at fault (`ops[1].value.albedo`), and a sentence that names both.
//!
//! Limits, so that no client can make the server run out of memory or time:
//! [`MAX_ENTITIES`] per kind, [`MAX_OPS`] per transaction, [`MAX_MESH_TRIANGLES`] in
//! one mesh, [`MAX_TOTAL_TRIANGLES`] over all meshes, [`MAX_CHECKER_TEXELS`] over the
//! checker textures' images.
//!
//! Textures are special in one way: a client may only add or change checker textures,
//! which are generated. File and embedded images come only from the scene file, since
//! letting a client name a file would let it read the server's disk. The document
//! keeps every image the scene file brought (its *library*), so that undoing the
//! removal of such a texture can bring its image back.
//!
//! The parts, one file each:
//! - `key.rs`: [`Key`] and [`Kind`], how entities are named.
//! - `entity.rs`: [`Entity`] and [`Settings`], the values a document holds.
//! - `error.rs`: [`EditError`] and what it is built from: problems located inside a
//!   value, JSON paths.
//! - `decode.rs`: reading entities from JSON, locating any problem at its field.
//! - `op.rs`: [`Op`]s and [`parse_ops`], [`Resolved`] steps (the journal's format) and
//!   [`Applied`].
//! - `document/`: the [`Document`]: its storage, building and reading it (`mod.rs`),
//!   snapshots (`snapshot.rs`) and transactions (`transaction.rs`).
//!
//! [`Scene`]: crate::Scene

mod decode;
mod document;
mod entity;
mod error;
mod key;
mod op;

#[cfg(test)]
mod fixtures;

pub use document::{scene_images, Document, ResolveImage};
pub use entity::{Entity, Settings};
pub use error::{EditError, EditErrorCode};
pub use key::{Key, KeyError, Kind};
pub use op::{parse_ops, Applied, Op, Payload, Resolved};

/// At most this many entities of one kind (materials, textures, meshes, objects,
/// lights), so that a transaction's checks and a rebuild stay fast.
pub const MAX_ENTITIES: usize = 100_000;
/// At most this many operations in one transaction.
pub const MAX_OPS: usize = 256;
/// At most this many triangles in one mesh.
pub const MAX_MESH_TRIANGLES: usize = 10_000_000;
/// At most this many triangles over all meshes (about 2 GB with their hierarchies).
pub const MAX_TOTAL_TRIANGLES: usize = 20_000_000;
/// At most this many texels over the distinct images of checker textures (200 MB):
/// a checker of 4096 squares is an image of 4096 by 4096 texels, so without a bound a
/// few ops could claim gigabytes.
pub const MAX_CHECKER_TEXELS: usize = 1 << 24;
/// The largest `max_samples` of [`Settings`].
pub const MAX_SAMPLES: u32 = 1_000_000;
/// The largest `exposure` of [`Settings`].
pub const MAX_EXPOSURE: f32 = 1000.0;
