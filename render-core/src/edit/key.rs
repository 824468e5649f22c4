//! Keys and kinds: how a document names its entities. A [`Key`] is a stable string
//! name, checked when made so that it can appear in a URL, a log line or a JSON path
//! unquoted; a [`Kind`] says which table (or singleton) an entity belongs to.

use super::error::{EditError, EditErrorCode};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// A stable name for an entity: 1 to 64 characters from `A-Z a-z 0-9 - _ . :`, so it
/// can appear in a URL, a log line or a JSON path without quoting. In JSON it is a
/// plain string (checked when read).
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct Key(pub(super) String);

/// Why a string is not a [`Key`].
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a valid key: keys are 1 to 64 characters from A-Z a-z 0-9 - _ . :")]
pub struct KeyError(pub String);

impl Key {
    pub const MAX_LEN: usize = 64;

    pub fn new(key: impl Into<String>) -> Result<Key, KeyError> {
        let key = key.into();
        if key.is_empty() || key.chars().count() > Key::MAX_LEN || !key.chars().all(key_char) {
            return Err(KeyError(key));
        }
        Ok(Key(key))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The key a name suggests: every character a key cannot hold becomes `_`, and the
    /// result is cut to 64 characters. `None` for an empty name.
    pub(super) fn from_name(name: &str) -> Option<Key> {
        let sanitised: String = name
            .chars()
            .map(|c| if key_char(c) { c } else { '_' })
            .take(Key::MAX_LEN)
            .collect();
        (!sanitised.is_empty()).then_some(Key(sanitised))
    }
}

fn key_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | ':')
}

impl TryFrom<String> for Key {
    type Error = KeyError;
    fn try_from(key: String) -> Result<Key, KeyError> {
        Key::new(key)
    }
}

impl From<Key> for String {
    fn from(key: Key) -> String {
        key.0
    }
}

impl FromStr for Key {
    type Err = KeyError;
    fn from_str(key: &str) -> Result<Key, KeyError> {
        Key::new(key)
    }
}

impl fmt::Display for Key {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::borrow::Borrow<str> for Key {
    fn borrow(&self) -> &str {
        &self.0
    }
}

/// The kinds of entity in a document. Environment and settings are singletons: there
/// is exactly one of each, with no key, and they can be updated or replaced but not
/// added or removed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Material,
    Texture,
    Mesh,
    Object,
    Light,
    Environment,
    Settings,
}

impl Kind {
    pub const ALL: [Kind; 7] = [
        Kind::Material,
        Kind::Texture,
        Kind::Mesh,
        Kind::Object,
        Kind::Light,
        Kind::Environment,
        Kind::Settings,
    ];

    /// The kind's name in JSON (`"material"`).
    pub fn name(self) -> &'static str {
        match self {
            Kind::Material => "material",
            Kind::Texture => "texture",
            Kind::Mesh => "mesh",
            Kind::Object => "object",
            Kind::Light => "light",
            Kind::Environment => "environment",
            Kind::Settings => "settings",
        }
    }

    /// The name of the kind's map in [`Document::to_json`] (`"materials"`), or of the
    /// singleton itself.
    ///
    /// [`Document::to_json`]: super::Document::to_json
    pub fn plural(self) -> &'static str {
        match self {
            Kind::Material => "materials",
            Kind::Texture => "textures",
            Kind::Mesh => "meshes",
            Kind::Object => "objects",
            Kind::Light => "lights",
            Kind::Environment => "environment",
            Kind::Settings => "settings",
        }
    }

    pub fn is_singleton(self) -> bool {
        matches!(self, Kind::Environment | Kind::Settings)
    }
}

/// The kinds, for error messages.
pub(super) const KINDS: &str =
    "expected material, texture, mesh, object, light, environment or settings";

impl FromStr for Kind {
    type Err = EditError;
    /// A kind from its JSON name; the error lists the kinds.
    fn from_str(name: &str) -> Result<Kind, EditError> {
        Kind::ALL
            .into_iter()
            .find(|k| k.name() == name)
            .ok_or_else(|| {
                EditError::new(
                    EditErrorCode::UnknownKind,
                    None,
                    String::new(),
                    format!("unknown kind {name:?}; {KINDS}"),
                )
            })
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::edit::fixtures::key;
    use serde_json::json;

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
}
