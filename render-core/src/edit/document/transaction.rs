//! Transactions: [`Document::apply`] applies a client's [`Op`]s and
//! [`Document::apply_resolved`] applies [`Resolved`] steps (undo, redo, replaying the
//! journal), each all or nothing: every entity a transaction touches is remembered
//! with its value before, the checks that need all the ops run after the last one,
//! and on any error every touched entity is put back. A success returns its net
//! effect as an [`Applied`].

use super::{Address, Document, Slot};
use crate::edit::decode::{decode_entity, merge};
use crate::edit::entity::Entity;
use crate::edit::error::{join, EditError, EditErrorCode, Located};
use crate::edit::key::{Key, Kind};
use crate::edit::op::{Applied, Op, Payload, Resolved};
use crate::edit::{MAX_CHECKER_TEXELS, MAX_ENTITIES, MAX_MESH_TRIANGLES, MAX_OPS};
use crate::scene::TextureSource;
use crate::texture::TextureImage;
use serde_json::{json, Map, Value};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;

/// The entities a transaction touched, with their values before it.
#[derive(Default)]
struct Txn {
    touched: Vec<Touched>,
    index: HashMap<Address, usize>,
}

struct Touched {
    address: Address,
    before: Option<Slot>,
    /// The last op that touched it, which errors found after all ops name.
    op: usize,
    /// The path of that op's value (`ops[2].value`).
    base: String,
}

impl Document {
    /// Applies a client's transaction, all or nothing: on any error the document is
    /// exactly as before. File and embedded textures cannot be introduced.
    pub fn apply(&mut self, ops: &[Op]) -> Result<Applied, EditError> {
        if ops.len() > MAX_OPS {
            return Err(EditError::new(
                EditErrorCode::LimitExceeded,
                None,
                "ops".into(),
                format!(
                    "a transaction holds at most {MAX_OPS} operations, this one has {}",
                    ops.len()
                ),
            ));
        }
        self.transact(|doc, txn| {
            for (i, op) in ops.iter().enumerate() {
                doc.apply_op(txn, i, op)?;
            }
            Ok(())
        })
    }

    /// Applies resolved steps (an [`Applied::inverse`] to undo, an
    /// [`Applied::forward`] to redo or replay a journal), all or nothing, with the same
    /// checks as [`Document::apply`]. Unlike a client's ops these may put back a file or
    /// embedded texture, as long as its image is one the document was made with.
    pub fn apply_resolved(&mut self, ops: &[Resolved]) -> Result<Applied, EditError> {
        self.transact(|doc, txn| {
            for (i, op) in ops.iter().enumerate() {
                doc.apply_resolved_op(txn, i, op)?;
            }
            Ok(())
        })
    }

    fn transact(
        &mut self,
        ops: impl FnOnce(&mut Document, &mut Txn) -> Result<(), EditError>,
    ) -> Result<Applied, EditError> {
        let mut txn = Txn::default();
        let result = ops(self, &mut txn).and_then(|()| self.check(&txn));
        match result {
            Ok(()) => Ok(self.finish(txn)),
            Err(e) => {
                for t in txn.touched.into_iter().rev() {
                    self.set_slot(t.address.kind, t.address.key.as_ref(), t.before);
                }
                Err(e)
            }
        }
    }

    fn apply_op(&mut self, txn: &mut Txn, i: usize, op: &Op) -> Result<(), EditError> {
        use EditErrorCode::*;
        let kind = op.kind();
        let key = op.key();
        let base = format!("ops[{i}]");
        let value_path = format!("{base}.value");
        let address = Address {
            kind,
            key: key.cloned(),
        };
        let what = format!("{} {address}", op.name());
        self.check_address(
            i,
            &base,
            kind,
            key,
            matches!(op, Op::Add { .. } | Op::Remove { .. }) && kind.is_singleton(),
            op.name(),
        )?;
        let current = self.slot(kind, key);
        match (op, &current) {
            (Op::Add { .. }, Some(_)) => {
                return Err(EditError::new(
                    DuplicateKey,
                    Some(i),
                    join(&base, "key"),
                    format!("{address} already exists"),
                ));
            }
            (Op::Update { .. } | Op::Replace { .. } | Op::Remove { .. }, None) => {
                return Err(EditError::new(
                    NotFound,
                    Some(i),
                    join(&base, if kind.is_singleton() { "kind" } else { "key" }),
                    format!("{address} does not exist"),
                ));
            }
            _ => {}
        }
        let entity = match op {
            Op::Remove { .. } => return self.put(txn, i, &base, address, None, true),
            Op::Add { value, .. } | Op::Replace { value, .. } => match value {
                Payload::Json(v) => {
                    decode_entity(kind, v).map_err(|e| e.at(Some(i), &value_path, &what))?
                }
                Payload::Entity(e) => e.clone(),
            },
            Op::Update { value, .. } => {
                let mut merged = current
                    .as_ref()
                    .map(|(e, _)| e.to_json())
                    .unwrap_or_default();
                merge(&mut merged, value);
                decode_entity(kind, &merged).map_err(|e| e.at(Some(i), &value_path, &what))?
            }
        };
        if let (Entity::Texture(new), Some((Entity::Texture(old), _))) = (&entity, &current) {
            if new.source == old.source {
                return self.put(txn, i, &value_path, address, Some(entity), true);
            }
        }
        self.put(txn, i, &value_path, address, Some(entity), false)
    }

    fn apply_resolved_op(
        &mut self,
        txn: &mut Txn,
        i: usize,
        op: &Resolved,
    ) -> Result<(), EditError> {
        let base = format!("ops[{i}]");
        match op {
            Resolved::Put { kind, key, entity } => {
                self.check_address(i, &base, *kind, key.as_ref(), false, "put")?;
                let address = Address {
                    kind: *kind,
                    key: key.clone(),
                };
                self.put(
                    txn,
                    i,
                    &format!("{base}.value"),
                    address,
                    Some(entity.clone()),
                    true,
                )
            }
            Resolved::Remove { kind, key } => {
                self.check_address(i, &base, *kind, Some(key), kind.is_singleton(), "remove")?;
                let address = Address {
                    kind: *kind,
                    key: Some(key.clone()),
                };
                if self.slot(*kind, Some(key)).is_none() {
                    return Err(EditError::new(
                        EditErrorCode::NotFound,
                        Some(i),
                        join(&base, "key"),
                        format!("{address} does not exist"),
                    ));
                }
                self.put(txn, i, &base, address, None, true)
            }
        }
    }

    /// Checks that a key is given exactly when the kind is not a singleton, and that a
    /// singleton is not added or removed (`singleton_refused`).
    fn check_address(
        &self,
        i: usize,
        base: &str,
        kind: Kind,
        key: Option<&Key>,
        singleton_refused: bool,
        verb: &str,
    ) -> Result<(), EditError> {
        use EditErrorCode::*;
        if singleton_refused {
            return Err(EditError::new(
                InvalidValue,
                Some(i),
                join(base, "op"),
                format!("{kind} is a singleton: it can only be updated or replaced"),
            ));
        }
        match (kind.is_singleton(), key) {
            (true, Some(_)) => Err(EditError::new(
                InvalidValue,
                Some(i),
                join(base, "key"),
                format!("{kind} is a singleton and takes no key"),
            )),
            (false, None) => Err(EditError::new(
                MissingField,
                Some(i),
                join(base, "key"),
                format!("{verb} {kind} needs a key"),
            )),
            _ => Ok(()),
        }
    }

    /// Sets (or with `None` removes) one entity within a transaction, after checking
    /// its values, its kind, the per-entity limits and, for a texture, where its image
    /// comes from. `trusted` allows file and embedded textures from the library.
    fn put(
        &mut self,
        txn: &mut Txn,
        i: usize,
        base: &str,
        address: Address,
        entity: Option<Entity>,
        trusted: bool,
    ) -> Result<(), EditError> {
        use EditErrorCode::*;
        let key = address.key.as_ref();
        let kind = address.kind;
        let exists = self.slot(kind, key).is_some();
        let slot = match entity {
            None => None,
            Some(entity) => {
                if entity.kind() != kind {
                    return Err(EditError::new(
                        InvalidValue,
                        Some(i),
                        base.to_owned(),
                        format!("{address}: the value is a {}", entity.kind()),
                    ));
                }
                if !exists && !kind.is_singleton() && self.count(kind) >= MAX_ENTITIES {
                    let plural = kind.plural();
                    let what = format!("{address}: there are already {MAX_ENTITIES} {plural}");
                    return Err(EditError::new(
                        LimitExceeded,
                        Some(i),
                        base.to_owned(),
                        what,
                    ));
                }
                if let Entity::Mesh(mesh) = &entity {
                    if mesh.indices.len() > MAX_MESH_TRIANGLES {
                        let what = format!(
                            "{address} has {} triangles; a mesh holds at most \
                             {MAX_MESH_TRIANGLES}",
                            mesh.indices.len()
                        );
                        let path = join(base, "indices");
                        return Err(EditError::new(LimitExceeded, Some(i), path, what));
                    }
                }
                if let Some(problem) = entity.problem() {
                    return Err(Located::from(problem).at(Some(i), base, &address.to_string()));
                }
                let image = match &entity {
                    Entity::Texture(texture) => {
                        Some(self.image_for(i, base, &address, &texture.source, trusted)?)
                    }
                    _ => None,
                };
                Some((entity, image))
            }
        };
        let position = match txn.index.get(&address) {
            Some(&p) => p,
            None => {
                txn.touched.push(Touched {
                    address: address.clone(),
                    before: self.slot(kind, key),
                    op: i,
                    base: base.to_owned(),
                });
                txn.index.insert(address.clone(), txn.touched.len() - 1);
                txn.touched.len() - 1
            }
        };
        txn.touched[position].op = i;
        txn.touched[position].base = base.to_owned();
        self.set_slot(kind, key, slot);
        Ok(())
    }

    /// The image for a texture source: a checker is shared with an equal checker or
    /// generated (within [`MAX_CHECKER_TEXELS`]); a file or embedded image only from
    /// the library, and only on a trusted path.
    fn image_for(
        &self,
        i: usize,
        base: &str,
        address: &Address,
        source: &TextureSource,
        trusted: bool,
    ) -> Result<Arc<TextureImage>, EditError> {
        use EditErrorCode::*;
        let path = join(base, "source");
        if let TextureSource::Checker { squares, a, b } = source {
            let shared = self.textures.values().find(|t| t.texture.source == *source);
            if let Some(entry) = shared {
                return Ok(Arc::clone(&entry.image));
            }
            let replaced = address.key.as_ref().and_then(|k| self.textures.get(k));
            let mut seen = HashSet::new();
            let texels: usize = self
                .textures
                .values()
                .filter(|t| matches!(t.texture.source, TextureSource::Checker { .. }))
                .filter(|t| !replaced.is_some_and(|r| Arc::ptr_eq(&r.image, &t.image)))
                .filter(|t| seen.insert(Arc::as_ptr(&t.image) as usize))
                .map(|t| t.image.texels.len())
                .sum();
            let new = (*squares as usize).pow(2);
            if texels + new > MAX_CHECKER_TEXELS {
                let what = format!(
                    "{address}: a checker of {squares} squares has {new} texels; with the \
                     other checkers' {texels} that exceeds {MAX_CHECKER_TEXELS}"
                );
                let path = join(&path, "squares");
                return Err(EditError::new(LimitExceeded, Some(i), path, what));
            }
            return Ok(Arc::new(TextureImage::checker(*squares, *a, *b)));
        }
        if !trusted {
            let what = format!(
                "{address}: a client may only set checker textures; file and embedded \
                 images come only from the scene file"
            );
            return Err(EditError::new(InvalidValue, Some(i), path, what));
        }
        self.library
            .iter()
            .find(|(s, _)| s == source)
            .map(|(_, image)| Arc::clone(image))
            .ok_or_else(|| {
                EditError::new(
                    InvalidValue,
                    Some(i),
                    path,
                    format!(
                        "{address}: the image {} is not one of the scene file's",
                        serde_json::to_string(source).unwrap_or_default()
                    ),
                )
            })
    }

    /// The checks made once all ops are applied: the references of every entity the
    /// transaction touched, that nothing refers to what it removed, and the limits over
    /// the whole document.
    fn check(&self, txn: &Txn) -> Result<(), EditError> {
        for t in &txn.touched {
            let Address { kind, key } = &t.address;
            match self.slot(*kind, key.as_ref()) {
                Some((entity, _)) => {
                    self.check_references(&t.address, &entity, Some(t.op), &t.base)?
                }
                None => {
                    if let Some(user) = key.as_ref().and_then(|k| self.user_of(*kind, k)) {
                        return Err(EditError::new(
                            EditErrorCode::InUse,
                            Some(t.op),
                            join(&t.base, "key"),
                            format!("{} is used by {user}", t.address),
                        ));
                    }
                }
            }
        }
        let touched = |kind| txn.touched.iter().rev().find(|t| t.address.kind == kind);
        if let Some(t) = touched(Kind::Mesh).or_else(|| touched(Kind::Texture)) {
            self.check_limits(Some(t.op), &t.base)?;
        }
        Ok(())
    }

    /// Something that refers to the entity, described (`object "ball"`).
    fn user_of(&self, kind: Kind, key: &Key) -> Option<String> {
        match kind {
            Kind::Material => self
                .objects
                .iter()
                .find(|(_, o)| o.material == *key)
                .map(|(k, _)| format!("object \"{k}\"")),
            Kind::Mesh => self
                .objects
                .iter()
                .find(|(_, o)| o.shape.mesh() == Some(key))
                .map(|(k, _)| format!("object \"{k}\"")),
            Kind::Texture => {
                if self.environment.texture() == Some(key) {
                    return Some("the environment".into());
                }
                self.materials
                    .iter()
                    .find(|(_, m)| m.texture() == Some(key))
                    .map(|(k, _)| format!("material \"{k}\""))
            }
            _ => None,
        }
    }

    /// The net effect of a transaction that passed its checks.
    fn finish(&self, txn: Txn) -> Applied {
        let mut applied = Applied {
            forward: Vec::new(),
            inverse: Vec::new(),
            changes: Vec::new(),
            geometry_changed: false,
        };
        for t in txn.touched {
            let Address { kind, key } = t.address;
            let before = t.before.map(|(e, _)| e);
            let after = self.entity(kind, key.as_ref());
            if before == after {
                continue;
            }
            let step = |entity: Option<Entity>| match (entity, &key) {
                (Some(entity), key) => Some(Resolved::Put {
                    kind,
                    key: key.clone(),
                    entity,
                }),
                (None, Some(key)) => Some(Resolved::Remove {
                    kind,
                    key: key.clone(),
                }),
                (None, None) => None,
            };
            let mut change = Map::new();
            let verb = match (&before, &after) {
                (None, _) => "add",
                (_, None) => "remove",
                _ => "update",
            };
            change.insert("op".into(), json!(verb));
            change.insert("kind".into(), json!(kind));
            if let Some(key) = &key {
                change.insert("key".into(), json!(key));
            }
            if let Some(entity) = &after {
                change.insert("value".into(), entity.summary_json());
            }
            applied.changes.push(Value::Object(change));
            applied.geometry_changed |= matches!(kind, Kind::Mesh | Kind::Object);
            applied.forward.extend(step(after));
            applied.inverse.extend(step(before));
        }
        applied.inverse.reverse();
        applied
    }
}

#[cfg(test)]
mod tests;
