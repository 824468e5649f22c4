//! `docs/protocol.schema.json` and the server must not drift apart. The schema is
//! written by hand, so these tests hold it against the server from both sides:
//!
//! - client messages: for every example in `docs/protocol.md` and for a corpus of
//!   valid and invalid messages, the schema's verdict must equal the server's
//!   ([`Server::handle`] below says exactly what counts as the server's verdict);
//! - server messages: every kind of message, built by the server's own types and
//!   functions from a real document, must validate;
//! - the closed lists (error codes, kinds, message types) must match exactly.
//!
//! Some rules no JSON Schema can know, because they depend on the scene or the session
//! (a key exists, an entity is in use, the view's largest size); a few value rules it
//! cannot express (a quaternion of length 1, a camera's eye apart from its target);
//! and two properties of the text rather than the value (its size, and `640.0` where
//! the server reads integers, which JSON Schema counts as the integer 640). Those are
//! the only cases where the verdicts may differ, and each such case is listed here
//! with its reason: the schema accepts the message and the server refuses it with a
//! named code.
//!
//! Length: About 1,460 lines, nearly all of it the corpus: every client message, good
//! and bad, and every server message, checked against the schema and the server alike.

use glam::Vec3;
use jsonschema::Validator;
use render_core::edit::{Applied, Document, Key, Kind};
use render_core::scene::{Environment, Light, Material, Mesh, Object, Scene, Shape};
use render_core::scene::{Texture, TextureSource, Transform};
use render_core::texture::TextureImage;
use render_core::Camera;
use serde_json::{json, Value};
use std::collections::BTreeSet;
use std::sync::Arc;
use streamtracer::protocol::{
    self, ClientMessage, CloseReason, ErrorCode, Limits, PickHit, ProtocolError, QualityInfo,
    Revision, Role, ServerMessage, MAX_MESSAGE_BYTES, MAX_UPLOAD_BYTES, PROTOCOL_VERSION,
};

// ---------------------------------------------------------------------------------
// The schema

fn schema() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.schema.json");
    let text = std::fs::read_to_string(path).expect("docs/protocol.schema.json is readable");
    serde_json::from_str(&text).expect("docs/protocol.schema.json is JSON")
}

/// A validator for one of the schema's definitions, as a client would use it.
fn validator_for(schema: &Value, definition: &str) -> Validator {
    let root = json!({
        "$schema": schema["$schema"],
        "$defs": schema["$defs"],
        "$ref": format!("#/$defs/{definition}"),
    });
    jsonschema::draft202012::new(&root)
        .unwrap_or_else(|e| panic!("#/$defs/{definition} does not compile: {e}"))
}

struct Schemas {
    client: Validator,
    server: Validator,
}

impl Schemas {
    fn load() -> Schemas {
        let schema = schema();
        Schemas {
            client: validator_for(&schema, "ClientMessage"),
            server: validator_for(&schema, "ServerMessage"),
        }
    }

    /// The schema's complaints about a message (empty when it is valid).
    fn errors(validator: &Validator, message: &Value) -> Vec<String> {
        validator
            .iter_errors(message)
            .map(|e| format!("{} at {}", e, e.instance_path()))
            .collect()
    }

    /// Panics, naming the message and the schema's complaints, unless a server
    /// message validates.
    fn assert_server_valid(&self, message: &Value) {
        let errors = Schemas::errors(&self.server, message);
        assert!(
            errors.is_empty(),
            "the schema refuses a server message:\n{message}\n{errors:#?}"
        );
    }
}

/// The `const` of `type` in each message of a `oneOf` of the schema (`ClientMessage`,
/// `ServerMessage`).
fn message_types(schema: &Value, definition: &str) -> BTreeSet<String> {
    let defs = &schema["$defs"];
    defs[definition]["oneOf"]
        .as_array()
        .unwrap_or_else(|| panic!("{definition} is a oneOf"))
        .iter()
        .map(|branch| {
            let name = branch["$ref"]
                .as_str()
                .and_then(|r| r.strip_prefix("#/$defs/"))
                .unwrap_or_else(|| panic!("{definition}: {branch} is a local $ref"));
            defs[name]["properties"]["type"]["const"]
                .as_str()
                .unwrap_or_else(|| panic!("{name} has a constant type"))
                .to_owned()
        })
        .collect()
}

fn string_enum(schema: &Value, definition: &str) -> BTreeSet<String> {
    schema["$defs"][definition]["enum"]
        .as_array()
        .unwrap_or_else(|| panic!("{definition} is an enum"))
        .iter()
        .map(|v| v.as_str().expect("enum of strings").to_owned())
        .collect()
}

// ---------------------------------------------------------------------------------
// The server's side

/// Every error code (`ErrorCode::ALL`). The match in `code_is_listed` has no
/// wildcard, so a new code fails to compile there until it is handled.
const ALL_CODES: [ErrorCode; 21] = ErrorCode::ALL;

fn code_is_listed(code: ErrorCode) -> bool {
    use ErrorCode::*;
    match code {
        InvalidJson | TooLarge | TooDeep | BinaryMessage | UnknownType | UnknownField
        | MissingField | InvalidValue | UnknownOp | UnknownKind | NotFound | DuplicateKey
        | InUse | LimitExceeded | Conflict | NothingToUndo | Forbidden | RateLimited
        | StorageFailed | Busy | Internal => ALL_CODES.contains(&code),
    }
}

fn code_name(code: ErrorCode) -> String {
    code.name()
}

/// The codes of refusals that depend on the scene or the session rather than on the
/// message: a schema cannot know them, so a message refused with one of these is
/// still structurally valid.
const SEMANTIC: [ErrorCode; 9] = [
    ErrorCode::NotFound,
    ErrorCode::DuplicateKey,
    ErrorCode::InUse,
    ErrorCode::Conflict,
    ErrorCode::NothingToUndo,
    ErrorCode::Forbidden,
    ErrorCode::RateLimited,
    ErrorCode::StorageFailed,
    ErrorCode::Internal,
];

/// The `type` of a client message, from its parsed form (no wildcard: a new message
/// fails to compile here).
fn client_type(message: &ClientMessage) -> &'static str {
    match message {
        ClientMessage::Camera { .. } => "camera",
        ClientMessage::Resize { .. } => "resize",
        ClientMessage::Edit { .. } => "edit",
        ClientMessage::Undo { .. } => "undo",
        ClientMessage::Redo { .. } => "redo",
        ClientMessage::GetScene { .. } => "get_scene",
        ClientMessage::Get { .. } => "get",
        ClientMessage::Pick { .. } => "pick",
        ClientMessage::Quality { .. } => "quality",
        ClientMessage::Upload { .. } => "upload",
    }
}

/// The `type` of a server message (no wildcard: a new message fails to compile here).
fn server_type(message: &ServerMessage) -> &'static str {
    match message {
        ServerMessage::Hello { .. } => "hello",
        ServerMessage::Ack { .. } => "ack",
        ServerMessage::Changed { .. } => "changed",
        ServerMessage::Resync { .. } => "resync",
        ServerMessage::Closing { .. } => "closing",
        ServerMessage::CameraChanged { .. } => "camera_changed",
        ServerMessage::Resized { .. } => "resized",
        ServerMessage::Scene { .. } => "scene",
        ServerMessage::Entity { .. } => "entity",
        ServerMessage::Picked { .. } => "picked",
        ServerMessage::QualityChanged { .. } => "quality_changed",
        ServerMessage::Frame { .. } => "frame",
        ServerMessage::Error { .. } => "error",
    }
}

/// The scene of the worked example in docs/protocol.md (a grey sphere `ball` whose
/// material gets the key `material-0`) with one entity of every kind besides, so that
/// every rule has something to act on. Keys: materials `material-0` (diffuse, used by
/// `ball`) and `material-1` (conductor with texture `checker`, used by `prism`),
/// textures `checker` and `photo` (an embedded image, as a glTF file brings), mesh
/// `tri`, objects `ball` and `prism`, light `light-0`.
fn test_scene() -> Scene {
    let (a, b) = (Vec3::splat(0.2), Vec3::splat(0.8));
    let scene = Scene {
        camera: Camera {
            eye: Vec3::new(0.0, 0.0, 5.0),
            target: Vec3::ZERO,
            up: Vec3::Y,
            fov: 40.0,
        },
        materials: vec![
            Material::Diffuse {
                albedo: Vec3::splat(0.5),
                texture: None,
            },
            Material::Conductor {
                color: Vec3::splat(0.9),
                roughness: 0.2,
                texture: Some(0),
            },
        ],
        textures: vec![
            Texture {
                name: "checker".into(),
                source: TextureSource::Checker { squares: 4, a, b },
            },
            Texture {
                name: "photo".into(),
                source: TextureSource::Embedded {
                    origin: "scene.glb#image/0".into(),
                },
            },
        ],
        meshes: vec![Arc::new(Mesh {
            name: "tri".into(),
            positions: vec![Vec3::ZERO, Vec3::X, Vec3::Y],
            normals: Vec::new(),
            uvs: Vec::new(),
            indices: vec![[0, 1, 2]],
        })],
        objects: vec![
            Object {
                name: "ball".into(),
                material: 0,
                shape: Shape::Sphere {
                    center: Vec3::ZERO,
                    radius: 1.0,
                },
                transform: Transform::default(),
            },
            Object {
                name: "prism".into(),
                material: 1,
                shape: Shape::Mesh { mesh: 0 },
                transform: Transform::translate(Vec3::new(2.0, 0.0, 0.0)),
            },
        ],
        lights: vec![Light::Point {
            position: Vec3::new(0.0, 3.0, 0.0),
            intensity: Vec3::splat(5.0),
        }],
        environment: Environment::Constant {
            radiance: Vec3::splat(0.1),
        },
        max_bounces: 8,
        images: vec![
            Arc::new(TextureImage::checker(4, a, b)),
            Arc::new(TextureImage::checker(2, Vec3::ZERO, Vec3::ONE)),
        ],
    };
    scene.validate().expect("the test scene is valid");
    scene
}

fn test_document() -> Document {
    Document::from_scene(&test_scene(), 256, 1.0).expect("the test scene makes a document")
}

/// The server's verdict on client messages, as far as the message and the scene decide
/// it: what `control::Connection` does, minus the session and the transport.
///
/// - Every message goes through [`protocol::parse`], the server's only reader of
///   client text. It checks each message's fields and values (the camera too, with
///   `Camera::validate`), and each op's shape through `render_core::edit::parse_ops`;
///   it does not read entity values, which need the document.
/// - An `edit`'s ops then go to [`Document::apply`]: entity values (every range,
///   unknown and missing fields, type changes of an update), then references, uses
///   and limits. The ops run on a real document, so rules that live only in `apply`
///   count, as they do in the server.
/// - A `get` answers `not_found` without the entity (a key the document lacks, a
///   singleton with a key, a keyed kind without one), as `Connection::answer` does.
/// - `undo` and `redo` act on this server's own history, as `SceneStore` does.
///
/// Left out, because they belong to the session or its view and no message alone
/// decides them: the role (`forbidden`), `base_revision` (`conflict`), the view's
/// largest size (hello's `max_width`), the bytes an `upload` announces and whether
/// the state directory can be written.
#[derive(Clone)]
struct Server {
    doc: Document,
    undo: Vec<Applied>,
    redo: Vec<Applied>,
}

impl Server {
    fn new() -> Server {
        Server {
            doc: test_document(),
            undo: Vec::new(),
            redo: Vec::new(),
        }
    }

    /// A server with a transaction to undo and another to redo, so that `undo` and
    /// `redo` are judged on their own merits.
    fn with_history() -> Server {
        let mut server = Server::new();
        for exposure in [1.5, 2.0] {
            let edit = json!({"type": "edit", "ops": [
                {"op": "update", "kind": "settings", "value": {"exposure": exposure}}
            ]});
            server.handle(&edit.to_string()).expect("a settings edit");
        }
        server
            .handle(r#"{"type": "undo"}"#)
            .expect("an undo with history");
        server
    }

    fn handle(&mut self, text: &str) -> Result<ClientMessage, ProtocolError> {
        let message = protocol::parse(text)?;
        let id = message.id().cloned();
        match &message {
            ClientMessage::Edit { ops, .. } => {
                let applied = self
                    .doc
                    .apply(ops)
                    .map_err(|e| ProtocolError::from_edit(id.as_ref(), e))?;
                self.undo.push(applied);
                self.redo.clear();
            }
            ClientMessage::Undo { .. } | ClientMessage::Redo { .. } => {
                let undo = matches!(message, ClientMessage::Undo { .. });
                let (from, to) = if undo {
                    (&mut self.undo, &mut self.redo)
                } else {
                    (&mut self.redo, &mut self.undo)
                };
                let Some(last) = from.pop() else {
                    return Err(ProtocolError::new(
                        id.as_ref(),
                        ErrorCode::NothingToUndo,
                        "nothing to undo or redo",
                    ));
                };
                let steps = if undo { &last.inverse } else { &last.forward };
                self.doc
                    .apply_resolved(steps)
                    .map_err(|e| ProtocolError::from_edit(id.as_ref(), e))?;
                to.push(last);
            }
            ClientMessage::Get { kind, key, .. } => {
                if self.doc.get(*kind, key.as_ref()).is_none() {
                    return Err(ProtocolError::new(
                        id.as_ref(),
                        ErrorCode::NotFound,
                        "no such entity",
                    ));
                }
            }
            ClientMessage::Camera { .. }
            | ClientMessage::Resize { .. }
            | ClientMessage::GetScene { .. }
            | ClientMessage::Pick { .. }
            | ClientMessage::Quality { .. }
            | ClientMessage::Upload { .. } => {}
        }
        Ok(message)
    }
}

// ---------------------------------------------------------------------------------
// The examples of docs/protocol.md

/// One message of the protocol document, with where it was found.
struct Example {
    /// The line of a transcript's message, or of the opening fence of a json block.
    line: usize,
    message: Value,
    /// `>` or `<` for the lines of a session transcript.
    direction: Option<char>,
}

/// Every message in docs/protocol.md: each ```json block holds one or more JSON
/// objects (one per line, or one over several lines), and each ```text block a
/// transcript whose lines start with `> ` (client) or `< ` (server). Returns the
/// blocks, each a list of examples.
fn document_examples() -> Vec<Vec<Example>> {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    let text = std::fs::read_to_string(path).expect("docs/protocol.md is readable");
    let mut blocks = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((start, line)) = lines.next() {
        let lang = match line.trim() {
            "```json" => "json",
            "```text" => "text",
            _ => continue,
        };
        let body: Vec<(usize, &str)> = lines
            .by_ref()
            .take_while(|(_, l)| l.trim() != "```")
            .collect();
        let mut block = Vec::new();
        if lang == "json" {
            let joined = body.iter().map(|(_, l)| *l).collect::<Vec<_>>().join("\n");
            for value in serde_json::Deserializer::from_str(&joined).into_iter::<Value>() {
                let message = value.unwrap_or_else(|e| {
                    panic!(
                        "docs/protocol.md:{}: a json block is not JSON: {e}",
                        start + 1
                    )
                });
                block.push(Example {
                    line: start + 1,
                    message,
                    direction: None,
                });
            }
        } else {
            for (n, l) in body {
                let (direction, json) = match l.split_at_checked(2) {
                    Some(("> ", rest)) => ('>', rest),
                    Some(("< ", rest)) => ('<', rest),
                    _ => continue,
                };
                let message = serde_json::from_str(json)
                    .unwrap_or_else(|e| panic!("docs/protocol.md:{}: not JSON: {e}", n + 1));
                block.push(Example {
                    line: n + 1,
                    message,
                    direction: Some(direction),
                });
            }
        }
        if !block.is_empty() {
            blocks.push(block);
        }
    }
    blocks
}

fn is_client_type(schema: &Value, message: &Value) -> bool {
    let ty = message["type"].as_str().unwrap_or_default();
    let client = message_types(schema, "ClientMessage");
    let server = message_types(schema, "ServerMessage");
    assert!(
        client.contains(ty) != server.contains(ty),
        "an example's type {ty:?} is neither a client's nor a server's: {message}"
    );
    client.contains(ty)
}

/// Checks one client example against the schema and `server`, returning the server's
/// verdict. The schema must agree with the server, except that a refusal for a reason
/// only the scene or session decides (`SEMANTIC`) leaves the message schema-valid.
/// (One refusal with such a code is structural: a `get` whose key does not fit its kind
/// is answered `not_found`, and the schema refuses it. The document has no such
/// example; the corpus, which states each case's expectation, has.)
fn check_client_example(
    schemas: &Schemas,
    server: &mut Server,
    example: &Example,
) -> Result<(), ErrorCode> {
    let text = example.message.to_string();
    let verdict = server.handle(&text).map(|_| ()).map_err(|e| e.code);
    let errors = Schemas::errors(&schemas.client, &example.message);
    let line = example.line;
    match verdict {
        Err(code) if SEMANTIC.contains(&code) => assert!(
            errors.is_empty(),
            "docs/protocol.md:{line}: the server refuses {text} only for {code:?}, which \
             depends on the scene, yet the schema refuses it: {errors:#?}"
        ),
        Ok(()) => assert!(
            errors.is_empty(),
            "docs/protocol.md:{line}: the server accepts {text} but the schema does not: \
             {errors:#?}"
        ),
        Err(code) => assert!(
            !errors.is_empty(),
            "docs/protocol.md:{line}: the server refuses {text} ({code:?}) but the schema \
             accepts it"
        ),
    }
    verdict
}

#[test]
fn the_schema_is_valid_draft_2020_12() {
    let schema = schema();
    assert_eq!(
        schema["$schema"],
        json!("https://json-schema.org/draft/2020-12/schema")
    );
    if let Err(e) = jsonschema::draft202012::meta::validate(&schema) {
        panic!("the schema is not a valid draft 2020-12 schema: {e}");
    }
    // Compiling resolves every $ref, from the root and from each definition.
    jsonschema::draft202012::new(&schema).expect("the schema compiles");
    let defs = schema["$defs"].as_object().expect("$defs");
    for name in defs.keys() {
        validator_for(&schema, name);
    }
    for name in ["ClientMessage", "ServerMessage", "Op", "Key", "ErrorCode"] {
        assert!(defs.contains_key(name), "$defs has no {name}");
    }
    // The root accepts a message of either direction.
    let root = jsonschema::draft202012::new(&schema).expect("the schema compiles");
    assert!(root.is_valid(&json!({"type": "undo", "id": 1})));
    assert!(root.is_valid(&json!({"type": "resync", "revision": 3})));
    assert!(!root.is_valid(&json!({"type": "teleport"})));
}

#[test]
fn the_schema_lists_every_code_kind_and_message_type_of_the_server() {
    let schema = schema();
    assert!(ALL_CODES.iter().all(|&c| code_is_listed(c)));
    let codes: BTreeSet<String> = ALL_CODES.iter().map(|&c| code_name(c)).collect();
    assert_eq!(codes.len(), ALL_CODES.len(), "error codes are distinct");
    assert_eq!(string_enum(&schema, "ErrorCode"), codes);

    let kinds: BTreeSet<String> = Kind::ALL.iter().map(|k| k.name().to_owned()).collect();
    assert_eq!(string_enum(&schema, "Kind"), kinds);
    let singletons: BTreeSet<String> = Kind::ALL
        .iter()
        .filter(|k| k.is_singleton())
        .map(|k| k.name().to_owned())
        .collect();
    assert_eq!(string_enum(&schema, "SingletonKind"), singletons);
    assert_eq!(
        string_enum(&schema, "KeyedKind"),
        &kinds - &singletons,
        "KeyedKind is every kind but the singletons"
    );

    // The corpus parses into every client message, and `server_messages` builds every
    // server message; these are the types the schema must list.
    let client: BTreeSet<String> = corpus()
        .iter()
        .filter_map(|case| protocol::parse(&case.message.to_string()).ok())
        .map(|m| client_type(&m).to_owned())
        .collect();
    assert_eq!(
        client.len(),
        10,
        "the corpus parses into every client message"
    );
    assert_eq!(message_types(&schema, "ClientMessage"), client);
    let server: BTreeSet<String> = server_messages()
        .iter()
        .map(|m| server_type(m).to_owned())
        .collect();
    assert_eq!(
        server.len(),
        13,
        "server_messages builds every server message"
    );
    assert_eq!(message_types(&schema, "ServerMessage"), server);

    // The document's table of error codes names the same codes.
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    let doc = std::fs::read_to_string(path).expect("docs/protocol.md is readable");
    let section = doc
        .split("\n## Errors\n")
        .nth(1)
        .and_then(|rest| rest.split("\n## ").next())
        .expect("docs/protocol.md has an Errors section");
    let documented: BTreeSet<String> = section
        .lines()
        .filter_map(|l| l.strip_prefix("| `"))
        .filter_map(|l| l.split('`').next())
        .map(str::to_owned)
        .collect();
    assert_eq!(documented, codes, "the error table of docs/protocol.md");
}

#[test]
fn every_example_in_the_protocol_document_validates() {
    let schema = schema();
    let schemas = Schemas::load();
    let blocks = document_examples();
    let mut counts = (0, 0);
    for block in &blocks {
        for example in block {
            if is_client_type(&schema, &example.message) {
                counts.0 += 1;
            } else {
                counts.1 += 1;
                schemas.assert_server_valid(&example.message);
            }
        }
    }
    // Catches a parser that silently finds nothing.
    assert!(
        counts.0 >= 15 && counts.1 >= 12,
        "only {} client and {} server examples found",
        counts.0,
        counts.1
    );

    // The client examples outside transcripts each stand alone, and the document
    // presents them all as requests that succeed: each on its own server, one with
    // something to undo.
    for example in blocks.iter().flatten().filter(|e| e.direction.is_none()) {
        if is_client_type(&schema, &example.message) {
            let verdict = check_client_example(&schemas, &mut Server::with_history(), example);
            assert_eq!(
                verdict,
                Ok(()),
                "docs/protocol.md:{}: the server refuses {}",
                example.line,
                example.message
            );
        }
    }
}

/// The worked example is a session: replayed in order on one server, each request
/// must get the reply the document shows (an `error` with the same code, or a
/// success), and the schema must judge each request as `check_client_example` says.
/// Of its requests, the server refuses three: `in_use` and `not_found`, which the
/// schema cannot know and accepts, and a negative radius, which the schema refuses
/// too (`radius` has `exclusiveMinimum: 0`).
#[test]
fn the_worked_example_replays_as_documented() {
    let schema = schema();
    let schemas = Schemas::load();
    let blocks = document_examples();
    let transcript = blocks
        .iter()
        .find(|b| b.iter().filter(|e| e.direction == Some('>')).count() >= 5)
        .expect("docs/protocol.md has a worked example");
    let mut server = Server::new();
    let mut refused = Vec::new();
    for (i, request) in transcript.iter().enumerate() {
        if request.direction != Some('>') {
            continue;
        }
        assert!(is_client_type(&schema, &request.message));
        let verdict = check_client_example(&schemas, &mut server, request);
        let reply = transcript[i + 1..]
            .iter()
            .find(|e| e.direction == Some('<'))
            .expect("every request has a reply");
        assert_eq!(
            reply.message["id"], request.message["id"],
            "docs/protocol.md:{}: the reply after a request answers it",
            reply.line
        );
        let documented = match reply.message["type"].as_str() {
            Some("error") => Err(reply.message["code"]
                .as_str()
                .unwrap_or_default()
                .to_owned()),
            _ => Ok(()),
        };
        assert_eq!(
            verdict.map_err(code_name),
            documented,
            "docs/protocol.md:{}: the server's reply differs from the document's",
            request.line
        );
        if let Err(code) = verdict {
            refused.push(code);
        }
    }
    assert_eq!(
        refused,
        [
            ErrorCode::InUse,
            ErrorCode::InvalidValue,
            ErrorCode::NotFound
        ]
    );
}

// ---------------------------------------------------------------------------------
// A corpus of client messages

/// What a corpus case expects of the schema and the server.
enum Expect {
    /// The schema and the server agree (both accept, or both refuse).
    Agree,
    /// The schema accepts a message the server refuses with this code, for a reason
    /// the schema cannot encode.
    ServerOnly(ErrorCode, &'static str),
}

struct Case {
    name: &'static str,
    message: Value,
    expect: Expect,
}

fn agree(name: &'static str, message: Value) -> Case {
    Case {
        name,
        message,
        expect: Expect::Agree,
    }
}

fn server_only(name: &'static str, code: ErrorCode, why: &'static str, message: Value) -> Case {
    Case {
        name,
        message,
        expect: Expect::ServerOnly(code, why),
    }
}

/// An edit of one op.
fn edit(op: Value) -> Value {
    json!({"type": "edit", "id": 1, "ops": [op]})
}

fn add(kind: &str, key: &str, value: Value) -> Value {
    edit(json!({"op": "add", "kind": kind, "key": key, "value": value}))
}

fn update(kind: &str, key: &str, value: Value) -> Value {
    edit(json!({"op": "update", "kind": kind, "key": key, "value": value}))
}

fn update_singleton(kind: &str, value: Value) -> Value {
    edit(json!({"op": "update", "kind": kind, "value": value}))
}

fn replace_singleton(kind: &str, value: Value) -> Value {
    edit(json!({"op": "replace", "kind": kind, "value": value}))
}

fn camera(eye: Value, target: Value, up: Value, fov: Value) -> Value {
    json!({"type": "camera", "id": 1, "eye": eye, "target": target, "up": up, "fov": fov})
}

fn spot(inner: f64, outer: f64) -> Value {
    json!({"type": "spot", "position": [0, 2, 0], "direction": [0, -1, 0],
           "intensity": [3, 3, 3], "inner_angle": inner, "outer_angle": outer})
}

/// Valid and invalid client messages; keys refer to [`test_scene`]'s entities. A table,
/// one case after another, laid out by hand (rustfmt cannot lay out `json!`).
#[rustfmt::skip]
fn corpus() -> Vec<Case> {
    use ErrorCode::*;
    let sphere = json!({"type": "sphere", "center": [0, 0, 0], "radius": 0.5});
    let settings = json!({"max_samples": 64, "max_bounces": 8, "exposure": 1.0});
    let too_many_ops: Vec<Value> = (0..257)
        .map(|_| json!({"op": "update", "kind": "settings", "value": {"exposure": 1}}))
        .collect();
    // A valid mesh of zero-area triangles, just over the message size limit.
    let big_mesh =
        json!({"positions": vec![[0, 0, 0]; 3], "indices": vec![[0, 1, 2]; MAX_MESSAGE_BYTES / 8]});
    vec![
        // Requests other than edits.
        agree("camera",
            camera(json!([1.6, 1.5, 3.0]), json!([0, 0.8, 0]), json!([0, 1, 0]), json!(40))),
        agree("camera with a string id",
            json!({"type": "camera", "id": "c", "eye": [0, 0, 5], "target": [0, 0, 0], "up": [0, 1, 0], "fov": 170})),
        agree("camera without fov",
            json!({"type": "camera", "eye": [0, 0, 5], "target": [0, 0, 0], "up": [0, 1, 0]})),
        agree("camera eye of two numbers",
            camera(json!([0, 5]), json!([0, 0, 0]), json!([0, 1, 0]), json!(40))),
        agree("camera eye of strings",
            camera(json!(["0", "0", "5"]), json!([0, 0, 0]), json!([0, 1, 0]), json!(40))),
        agree("camera fov 0",
            camera(json!([0, 0, 5]), json!([0, 0, 0]), json!([0, 1, 0]), json!(0))),
        agree("camera fov 175",
            camera(json!([0, 0, 5]), json!([0, 0, 0]), json!([0, 1, 0]), json!(175))),
        agree("camera component beyond 1e6",
            camera(json!([2e6, 0, 5]), json!([0, 0, 0]), json!([0, 1, 0]), json!(40))),
        agree("camera with an unknown field",
            json!({"type": "camera", "eye": [0, 0, 5], "target": [0, 0, 0], "up": [0, 1, 0], "fov": 40, "zoom": 2})),
        server_only("camera eye at its target", InvalidValue,
            "the camera's geometry (eye apart from target) is beyond JSON Schema",
            camera(json!([1, 1, 1]), json!([1, 1, 1]), json!([0, 1, 0]), json!(40))),
        server_only("camera up along the view", InvalidValue,
            "the camera's geometry (up not parallel to the view) is beyond JSON Schema",
            camera(json!([0, 5, 0]), json!([0, 0, 0]), json!([0, 1, 0]), json!(40))),
        agree("resize", json!({"type": "resize", "id": "r", "width": 960, "height": 540})),
        agree("resize to the smallest and largest",
            json!({"type": "resize", "width": 16, "height": 8192})),
        agree("resize to an odd width", json!({"type": "resize", "width": 641, "height": 360})),
        agree("resize below 16", json!({"type": "resize", "width": 8, "height": 360})),
        agree("resize beyond 8192", json!({"type": "resize", "width": 8194, "height": 360})),
        agree("resize with a string height",
            json!({"type": "resize", "width": 640, "height": "360"})),
        agree("resize without height", json!({"type": "resize", "width": 640})),
        server_only("resize to 640.0", InvalidValue,
            "JSON Schema's integer includes 640.0; the server reads integers written as integers",
            json!({"type": "resize", "width": 640.0, "height": 360})),
        agree("quality", json!({"type": "quality", "id": 12, "bitrate": 2000000, "fps": 20})),
        agree("quality of the frame rate alone", json!({"type": "quality", "fps": 24.5})),
        agree("quality of the bitrate alone", json!({"type": "quality", "bitrate": 50000})),
        agree("quality of nothing", json!({"type": "quality", "id": 1})),
        agree("quality below 50 kbit/s", json!({"type": "quality", "bitrate": 49999})),
        agree("quality beyond 120 fps", json!({"type": "quality", "fps": 121})),
        agree("quality with a string", json!({"type": "quality", "fps": "30"})),
        agree("quality with an unknown field", json!({"type": "quality", "fps": 30, "gop": 1})),
        server_only("quality of 2e6 bit/s", InvalidValue,
            "JSON Schema's integer includes 2e6 written as a float; the server reads integers written as integers",
            json!({"type": "quality", "bitrate": 2000000.0})),
        agree("pick", json!({"type": "pick", "id": 11, "x": 0.5, "y": 0.25})),
        agree("pick at the corners", json!({"type": "pick", "x": 0, "y": 1})),
        agree("pick off the picture", json!({"type": "pick", "x": 1.5, "y": 0.5})),
        agree("pick below zero", json!({"type": "pick", "x": 0.5, "y": -0.1})),
        agree("pick without y", json!({"type": "pick", "x": 0.5})),
        agree("pick with a string", json!({"type": "pick", "x": "0.5", "y": 0.5})),
        agree("pick with an unknown field", json!({"type": "pick", "x": 0.5, "y": 0.5, "z": 1})),
        agree("undo", json!({"type": "undo", "id": 4})),
        agree("redo", json!({"type": "redo", "id": "r"})),
        agree("undo with an unknown field", json!({"type": "undo", "steps": 2})),
        agree("get_scene", json!({"type": "get_scene"})),
        agree("get_scene of full meshes", json!({"type": "get_scene", "id": 6, "meshes": "full"})),
        agree("get_scene of summaries", json!({"type": "get_scene", "meshes": "summary"})),
        agree("get_scene of some meshes", json!({"type": "get_scene", "meshes": "some"})),
        agree("get an object", json!({"type": "get", "id": 7, "kind": "object", "key": "ball"})),
        agree("get the settings", json!({"type": "get", "kind": "settings"})),
        agree("get the environment with a null key",
            json!({"type": "get", "kind": "environment", "key": null})),
        agree("get an unknown kind", json!({"type": "get", "kind": "widget", "key": "ball"})),
        agree("get a bad key", json!({"type": "get", "kind": "object", "key": "no spaces"})),
        agree("get an object without a key", json!({"type": "get", "kind": "object"})),
        agree("get the settings with a key",
            json!({"type": "get", "kind": "settings", "key": "main"})),
        server_only("get a key that does not exist", NotFound,
            "whether a key exists depends on the scene",
            json!({"type": "get", "kind": "object", "key": "nope"})),
        agree("upload",
            json!({"type": "upload", "id": 9, "key": "statue", "format": "glb", "bytes": 2841220})),
        agree("upload of the largest size",
            json!({"type": "upload", "key": "statue", "format": "gltf", "bytes": MAX_UPLOAD_BYTES})),
        agree("upload one byte too large",
            json!({"type": "upload", "key": "statue", "format": "glb", "bytes": MAX_UPLOAD_BYTES + 1})),
        agree("upload of no bytes",
            json!({"type": "upload", "key": "statue", "format": "glb", "bytes": 0})),
        agree("upload of an obj",
            json!({"type": "upload", "key": "statue", "format": "obj", "bytes": 10})),
        agree("upload under a bad key",
            json!({"type": "upload", "key": "my statue", "format": "glb", "bytes": 10})),
        agree("upload without a format", json!({"type": "upload", "key": "statue", "bytes": 10})),
        // Messages in general.
        agree("unknown type", json!({"type": "teleport", "id": 1})),
        agree("no type", json!({"id": 1})),
        agree("a number for type", json!({"type": 5})),
        agree("an id that is an object", json!({"type": "undo", "id": {"n": 1}})),
        agree("an id that is an array", json!({"type": "undo", "id": [1]})),
        agree("a null id", json!({"type": "undo", "id": null})),
        agree("an array, not an object", json!([{"type": "undo"}])),
        agree("a string, not an object", json!("undo")),
        agree("nesting deeper than 32",
            json!({"type": "undo", "deep": (0..40).fold(json!(0), |v, _| json!([v]))})),
        server_only("over the message size limit", TooLarge,
            "the size of a message is a transport limit, not its structure",
            add("mesh", "big", big_mesh)),
        // Edits: the transaction and its ops.
        agree("edit of no ops", json!({"type": "edit", "ops": []})),
        agree("edit with a base revision", json!({"type": "edit", "base_revision": 0, "ops": []})),
        agree("edit with a null base revision",
            json!({"type": "edit", "base_revision": null, "ops": []})),
        agree("edit with a negative base revision",
            json!({"type": "edit", "base_revision": -1, "ops": []})),
        agree("edit without ops", json!({"type": "edit", "id": 1})),
        agree("edit whose ops are an object", json!({"type": "edit", "ops": {"op": "remove"}})),
        agree("edit of 257 ops", json!({"type": "edit", "ops": too_many_ops})),
        agree("edit with an unknown field", json!({"type": "edit", "ops": [], "atomic": true})),
        agree("op that is not an object", edit(json!("remove light-0"))),
        agree("unknown op", edit(json!({"op": "paint", "kind": "object", "key": "ball"}))),
        agree("op without op", edit(json!({"kind": "object", "key": "ball", "value": {}}))),
        agree("unknown kind", edit(json!({"op": "remove", "kind": "widget", "key": "ball"}))),
        agree("op without kind", edit(json!({"op": "remove", "key": "ball"}))),
        agree("op with an unknown field",
            edit(json!({"op": "remove", "kind": "light", "key": "light-0", "force": true}))),
        agree("a key with a space",
            add("material", "bad key", json!({"type": "diffuse", "albedo": [1, 1, 1]}))),
        agree("a key of 65 characters",
            add("material", &"k".repeat(65), json!({"type": "diffuse", "albedo": [1, 1, 1]}))),
        agree("a key of 64 characters",
            add("material", &"k".repeat(64), json!({"type": "diffuse", "albedo": [1, 1, 1]}))),
        agree("a key with every kind of character",
            add("material", "Az09-_.:", json!({"type": "diffuse", "albedo": [1, 1, 1]}))),
        agree("a key that is a number", edit(json!({"op": "remove", "kind": "light", "key": 0}))),
        agree("a keyed kind without a key",
            edit(json!({"op": "update", "kind": "object", "value": {}}))),
        agree("a keyed kind with a null key",
            edit(json!({"op": "remove", "kind": "object", "key": null}))),
        agree("a key on a singleton",
            edit(json!({"op": "update", "kind": "settings", "key": "main", "value": {"exposure": 2}}))),
        agree("a null key on a singleton",
            edit(json!({"op": "update", "kind": "settings", "key": null, "value": {"exposure": 2}}))),
        agree("add of a singleton",
            edit(json!({"op": "add", "kind": "environment", "value": {"type": "constant", "radiance": [1, 1, 1]}}))),
        agree("remove of a singleton", edit(json!({"op": "remove", "kind": "settings"}))),
        agree("update without a value",
            edit(json!({"op": "update", "kind": "object", "key": "ball"}))),
        agree("add without a value", edit(json!({"op": "add", "kind": "light", "key": "sun"}))),
        agree("remove with a value",
            edit(json!({"op": "remove", "kind": "light", "key": "light-0", "value": null}))),
        agree("update whose value is an array", update("object", "ball", json!([1, 2]))),
        agree("remove", edit(json!({"op": "remove", "kind": "light", "key": "light-0"}))),
        server_only("remove of a material in use", InUse,
            "what refers to what depends on the scene",
            edit(json!({"op": "remove", "kind": "material", "key": "material-0"}))),
        server_only("add of an existing key", DuplicateKey, "which keys exist depends on the scene",
            add("light", "light-0", json!({"type": "point", "position": [0, 1, 0], "intensity": [1, 1, 1]}))),
        server_only("update of a missing key", NotFound, "which keys exist depends on the scene",
            update("object", "nope", json!({"name": "x"}))),
        server_only("a reference to a missing material", NotFound,
            "references are checked against the scene",
            add("object", "b2", json!({"material": "nope", "shape": sphere}))),
        // Materials.
        agree("diffuse",
            add("material", "red", json!({"type": "diffuse", "albedo": [0.8, 0.1, 0.1]}))),
        agree("diffuse with a texture",
            add("material", "red", json!({"type": "diffuse", "albedo": [1, 1, 1], "texture": "checker"}))),
        agree("conductor with its defaults",
            add("material", "gold", json!({"type": "conductor", "color": [1, 0.8, 0.3]}))),
        agree("dielectric in full",
            add("material", "glass", json!({"type": "dielectric", "ior": 1.5, "roughness": 0.1, "tint": [1, 1, 0.9]}))),
        agree("emissive",
            add("material", "lamp", json!({"type": "emissive", "radiance": [10, 10, 8]}))),
        agree("albedo above 1",
            add("material", "red", json!({"type": "diffuse", "albedo": [1.5, 0, 0]}))),
        agree("albedo below 0",
            add("material", "red", json!({"type": "diffuse", "albedo": [-0.1, 0, 0]}))),
        agree("albedo of two numbers",
            add("material", "red", json!({"type": "diffuse", "albedo": [0.8, 0.1]}))),
        agree("albedo of four numbers",
            add("material", "red", json!({"type": "diffuse", "albedo": [0.8, 0.1, 0.1, 1]}))),
        agree("albedo that is a string",
            add("material", "red", json!({"type": "diffuse", "albedo": "red"}))),
        agree("material without a type",
            add("material", "red", json!({"albedo": [0.8, 0.1, 0.1]}))),
        agree("material of an unknown type",
            add("material", "red", json!({"type": "plastic", "albedo": [0.8, 0.1, 0.1]}))),
        agree("material with an unknown field",
            add("material", "red", json!({"type": "diffuse", "albedo": [0.8, 0.1, 0.1], "shininess": 3}))),
        agree("material with another type's field",
            add("material", "red", json!({"type": "diffuse", "albedo": [0.8, 0.1, 0.1], "roughness": 0.5}))),
        agree("material without its required field",
            add("material", "gold", json!({"type": "conductor", "roughness": 0.5}))),
        agree("material with a texture that is a bad key",
            add("material", "red", json!({"type": "diffuse", "albedo": [1, 1, 1], "texture": "a b"}))),
        agree("roughness above 1",
            add("material", "gold", json!({"type": "conductor", "color": [1, 1, 1], "roughness": 2}))),
        agree("ior below 1", add("material", "glass", json!({"type": "dielectric", "ior": 0.5}))),
        agree("ior above 4", add("material", "glass", json!({"type": "dielectric", "ior": 4.5}))),
        agree("negative radiance",
            add("material", "lamp", json!({"type": "emissive", "radiance": [1, -1, 1]}))),
        agree("radiance beyond a 32-bit float",
            add("material", "lamp", json!({"type": "emissive", "radiance": [1e39, 1, 1]}))),
        agree("update of albedo",
            update("material", "material-0", json!({"albedo": [0.2, 0.3, 0.4]}))),
        agree("update clearing a texture",
            update("material", "material-1", json!({"texture": null}))),
        agree("update of albedo out of range",
            update("material", "material-0", json!({"albedo": [1.5, 0.1, 0.1]}))),
        agree("update changing the type, complete",
            update("material", "material-0", json!({"type": "emissive", "radiance": [2, 2, 2]}))),
        server_only("update changing the type, incomplete", MissingField,
            "whether an update changes the type depends on the material's current type",
            update("material", "material-0", json!({"type": "conductor"}))),
        server_only("update with another type's field", UnknownField,
            "which fields an update may give depends on the material's current type",
            update("material", "material-0", json!({"color": [1, 1, 1]}))),
        agree("update with fields of two types",
            update("material", "material-0", json!({"albedo": [1, 1, 1], "color": [1, 1, 1]}))),
        agree("replace of a material",
            edit(json!({"op": "replace", "kind": "material", "key": "material-0", "value": {"type": "conductor", "color": [1, 1, 1]}}))),
        agree("replace with a partial material",
            edit(json!({"op": "replace", "kind": "material", "key": "material-0", "value": {"albedo": [1, 1, 1]}}))),
        // Textures.
        agree("checker texture",
            add("texture", "tiles", json!({"name": "tiles", "source": {"type": "checker", "squares": 8, "a": [0, 0, 0], "b": [2, 2, 2]}}))),
        agree("checker of no squares",
            add("texture", "tiles", json!({"source": {"type": "checker", "squares": 0, "a": [0, 0, 0], "b": [1, 1, 1]}}))),
        agree("checker of 5000 squares",
            add("texture", "tiles", json!({"source": {"type": "checker", "squares": 5000, "a": [0, 0, 0], "b": [1, 1, 1]}}))),
        agree("checker of a negative colour",
            add("texture", "tiles", json!({"source": {"type": "checker", "squares": 8, "a": [-1, 0, 0], "b": [1, 1, 1]}}))),
        agree("texture without a source", add("texture", "tiles", json!({"name": "tiles"}))),
        agree("update of a texture's name", update("texture", "photo", json!({"name": "holiday"}))),
        agree("update of a checker's squares",
            update("texture", "checker", json!({"source": {"squares": 16}}))),
        agree("replace of an image texture keeping its image",
            edit(json!({"op": "replace", "kind": "texture", "key": "photo", "value": {"name": "p", "source": {"type": "embedded", "origin": "scene.glb#image/0"}}}))),
        server_only("add of a file texture", InvalidValue,
            "clients may not introduce file or embedded images, which depends on the texture's current source",
            add("texture", "disk", json!({"source": {"type": "file", "path": "/etc/passwd"}}))),
        server_only("a checker beyond the texel budget", LimitExceeded,
            "the texel budget is shared with the scene's other checkers",
            add("texture", "huge", json!({"source": {"type": "checker", "squares": 4096, "a": [0, 0, 0], "b": [1, 1, 1]}}))),
        // Meshes.
        agree("mesh",
            add("mesh", "quad", json!({"name": "quad", "positions": [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]],
            "normals": [[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]], "uvs": [[0, 0], [1, 0], [1, 1], [0, 1]], "indices": [[0, 1, 2], [0, 2, 3]]}))),
        agree("mesh without indices", add("mesh", "quad", json!({"positions": [[0, 0, 0]]}))),
        agree("mesh index of two vertices",
            add("mesh", "quad", json!({"positions": [[0, 0, 0], [1, 0, 0], [0, 1, 0]], "indices": [[0, 1]]}))),
        agree("mesh index that is negative",
            add("mesh", "quad", json!({"positions": [[0, 0, 0], [1, 0, 0], [0, 1, 0]], "indices": [[0, 1, -2]]}))),
        agree("mesh position of two numbers",
            add("mesh", "quad", json!({"positions": [[0, 0], [1, 0, 0], [0, 1, 0]], "indices": [[0, 1, 2]]}))),
        agree("mesh uv of three numbers",
            add("mesh", "quad", json!({"positions": [[0, 0, 0], [1, 0, 0], [0, 1, 0]], "uvs": [[0, 0, 0], [1, 0, 0], [0, 1, 0]], "indices": [[0, 1, 2]]}))),
        agree("mesh normal of zero",
            add("mesh", "quad", json!({"positions": [[0, 0, 0], [1, 0, 0], [0, 1, 0]], "normals": [[0, 0, 1], [0, 0, 0], [0, 0, 1]], "indices": [[0, 1, 2]]}))),
        agree("update of a mesh's positions",
            update("mesh", "tri", json!({"positions": [[0, 0, 0], [2, 0, 0], [0, 2, 0]]}))),
        server_only("mesh index beyond its positions", InvalidValue,
            "that indices name existing positions is beyond JSON Schema",
            add("mesh", "quad", json!({"positions": [[0, 0, 0], [1, 0, 0], [0, 1, 0]], "indices": [[0, 1, 3]]}))),
        server_only("mesh with fewer normals than positions", InvalidValue,
            "equal array lengths are beyond JSON Schema",
            add("mesh", "quad", json!({"positions": [[0, 0, 0], [1, 0, 0], [0, 1, 0]], "normals": [[0, 0, 1]], "indices": [[0, 1, 2]]}))),
        // Objects.
        agree("object",
            add("object", "b2", json!({"name": "b2", "material": "material-0", "shape": sphere,
            "transform": {"translation": [1, 2, 3], "rotation": [0, 0.6, 0, 0.8], "scale": [1, 2, 1]}}))),
        agree("object of a mesh",
            add("object", "t2", json!({"material": "material-1", "shape": {"type": "mesh", "mesh": "tri"}}))),
        agree("object without a shape", add("object", "b2", json!({"material": "material-0"}))),
        agree("object without a material", add("object", "b2", json!({"shape": sphere}))),
        agree("object with a bad material key",
            add("object", "b2", json!({"material": "not a key", "shape": sphere}))),
        agree("object with an unknown field",
            add("object", "b2", json!({"material": "material-0", "shape": sphere, "visible": true}))),
        agree("object with a negative radius",
            add("object", "b2", json!({"material": "material-0", "shape": {"type": "sphere", "center": [0, 0, 0], "radius": -1}}))),
        agree("object with a zero radius",
            add("object", "b2", json!({"material": "material-0", "shape": {"type": "sphere", "center": [0, 0, 0], "radius": 0}}))),
        agree("object of an unknown shape",
            add("object", "b2", json!({"material": "material-0", "shape": {"type": "cube", "size": 1}}))),
        agree("object rotation of three numbers",
            add("object", "b2", json!({"material": "material-0", "shape": sphere, "transform": {"rotation": [0, 0, 0]}}))),
        agree("object scale with a zero",
            add("object", "b2", json!({"material": "material-0", "shape": sphere, "transform": {"scale": [1, 0, 1]}}))),
        agree("object transform with an unknown field",
            add("object", "b2", json!({"material": "material-0", "shape": sphere, "transform": {"skew": [0, 0, 0]}}))),
        agree("update of a translation",
            update("object", "ball", json!({"transform": {"translation": [0.5, 0, 0]}}))),
        agree("update of a radius alone",
            update("object", "ball", json!({"shape": {"radius": 2}}))),
        agree("update to a negative radius",
            update("object", "ball", json!({"shape": {"type": "sphere", "center": [0, 0, 0], "radius": -1}}))),
        agree("update of a name to null", update("object", "ball", json!({"name": null}))),
        agree("update of a transform to null",
            update("object", "ball", json!({"transform": null}))),
        agree("update to a mesh shape",
            update("object", "ball", json!({"shape": {"type": "mesh", "mesh": "tri"}}))),
        server_only("object rotation of length 2", InvalidValue,
            "a unit quaternion's length is beyond JSON Schema",
            add("object", "b2", json!({"material": "material-0", "shape": sphere, "transform": {"rotation": [0, 0, 0, 2]}}))),
        server_only("update to a sphere without a center", MissingField,
            "whether a shape update is partial depends on the object's current shape",
            update("object", "prism", json!({"shape": {"type": "sphere", "radius": 1}}))),
        // Lights.
        agree("directional light",
            add("light", "sun", json!({"type": "directional", "direction": [0, -1, 0.2], "irradiance": [3, 3, 3]}))),
        agree("point light",
            add("light", "bulb", json!({"type": "point", "position": [0, 2, 0], "intensity": [10, 10, 10]}))),
        agree("spot light", add("light", "spot", spot(20.0, 30.0))),
        agree("spot light without inner_angle",
            add("light", "spot", json!({"type": "spot", "position": [0, 2, 0], "direction": [0, -1, 0], "intensity": [3, 3, 3], "outer_angle": 30}))),
        agree("spot light of 120 degrees", add("light", "spot", spot(20.0, 120.0))),
        agree("spot light of a negative angle", add("light", "spot", spot(-5.0, 30.0))),
        agree("directional light of no direction",
            add("light", "sun", json!({"type": "directional", "direction": [0, 0, 0], "irradiance": [3, 3, 3]}))),
        agree("point light of negative intensity",
            add("light", "bulb", json!({"type": "point", "position": [0, 2, 0], "intensity": [-1, 1, 1]}))),
        agree("light with another type's field",
            add("light", "bulb", json!({"type": "point", "position": [0, 2, 0], "intensity": [1, 1, 1], "direction": [0, -1, 0]}))),
        agree("update of a light's intensity",
            update("light", "light-0", json!({"intensity": [2, 2, 2]}))),
        server_only("spot light with inner beyond outer", InvalidValue,
            "comparing two fields is beyond this schema",
            add("light", "spot", spot(40.0, 30.0))),
        // The singletons.
        agree("constant environment",
            replace_singleton("environment", json!({"type": "constant", "radiance": [0.2, 0.2, 0.3]}))),
        agree("image environment",
            replace_singleton("environment", json!({"type": "image", "texture": "photo", "intensity": 2, "rotation": 90}))),
        agree("image environment without a texture",
            replace_singleton("environment", json!({"type": "image", "intensity": 2}))),
        agree("image environment of negative intensity",
            replace_singleton("environment", json!({"type": "image", "texture": "photo", "intensity": -1}))),
        agree("update of the environment's radiance",
            update_singleton("environment", json!({"radiance": [1, 1, 1]}))),
        agree("settings", replace_singleton("settings", settings.clone())),
        agree("update of the exposure", update_singleton("settings", json!({"exposure": 2.5}))),
        agree("update of the bounces", update_singleton("settings", json!({"max_bounces": 4}))),
        agree("update of nothing", update_singleton("settings", json!({}))),
        agree("update of every setting at its limit",
            update_singleton("settings", json!({"max_samples": 1000000, "max_bounces": 64, "exposure": 1000}))),
        agree("settings missing a field",
            replace_singleton("settings", json!({"max_samples": 64, "max_bounces": 8}))),
        agree("settings with an unknown field",
            update_singleton("settings", json!({"threads": 4}))),
        agree("no samples", update_singleton("settings", json!({"max_samples": 0}))),
        agree("too many samples", update_singleton("settings", json!({"max_samples": 1000001}))),
        agree("a fraction of a sample", update_singleton("settings", json!({"max_samples": 2.5}))),
        agree("too many bounces", update_singleton("settings", json!({"max_bounces": 65}))),
        agree("no exposure", update_singleton("settings", json!({"exposure": 0}))),
        agree("too much exposure", update_singleton("settings", json!({"exposure": 1001}))),
        agree("settings that are a number", update_singleton("settings", json!(3))),
        // Transactions of several ops, as the protocol document's edit example.
        agree("add then use", json!({"type": "edit", "ops": [
            {"op": "add", "kind": "material", "key": "red", "value": {"type": "diffuse", "albedo": [0.8, 0.1, 0.1]}},
            {"op": "update", "kind": "object", "key": "ball", "value": {"material": "red"}}]})),
        agree("a good op then a bad one", json!({"type": "edit", "ops": [
            {"op": "update", "kind": "settings", "value": {"exposure": 2}},
            {"op": "update", "kind": "settings", "value": {"exposure": -2}}]})),
    ]
}

#[test]
fn the_schema_and_the_server_agree_on_a_corpus_of_client_messages() {
    let schemas = Schemas::load();
    let cases = corpus();
    let base = Server::with_history();
    let (mut accepted, mut refused, mut server_only) = (0, 0, 0);
    let mut failures = Vec::new();
    for case in &cases {
        let text = case.message.to_string();
        let verdict = base.clone().handle(&text).map(|_| ()).map_err(|e| e.code);
        let errors = Schemas::errors(&schemas.client, &case.message);
        let schema_accepts = errors.is_empty();
        let name = case.name;
        match (&case.expect, verdict) {
            (Expect::Agree, Ok(())) if schema_accepts => accepted += 1,
            (Expect::Agree, Err(_)) if !schema_accepts => refused += 1,
            (Expect::Agree, verdict) => failures.push(format!(
                "{name}: the server says {verdict:?}, the schema {errors:?}"
            )),
            (Expect::ServerOnly(code, _), Err(actual)) if *code == actual && schema_accepts => {
                server_only += 1
            }
            (Expect::ServerOnly(code, why), verdict) => failures.push(format!(
                "{name}: expected the schema to accept and the server to refuse with \
                 {code:?} ({why}); the server says {verdict:?}, the schema {errors:?}"
            )),
        }
    }
    assert!(
        failures.is_empty(),
        "the schema and the server disagree:\n{}",
        failures.join("\n")
    );
    // Both verdicts occur often, so neither side passes by always saying the same.
    assert!(
        cases.len() >= 40 && accepted >= 20 && refused >= 20,
        "{accepted} accepted, {refused} refused, {server_only} for the server only"
    );
    eprintln!(
        "{} client messages: {accepted} valid, {refused} invalid, {server_only} refused by the \
         server alone",
        cases.len()
    );
}

// ---------------------------------------------------------------------------------
// Server messages

/// Every kind of server message, made by the server's own types from a real document:
/// greetings, replies and errors of each code, change notices from real transactions
/// touching every kind of entity, the scene in both forms and every entity.
fn server_messages() -> Vec<ServerMessage> {
    let mut doc = test_document();
    let camera = doc.camera();
    // Cameras at the ends of the server's range of fields of view.
    let (widest, narrowest) = (
        Camera {
            fov: Camera::MAX_FOV,
            ..camera
        },
        Camera {
            fov: Camera::MIN_FOV,
            ..camera
        },
    );
    for c in [widest, narrowest] {
        c.validate().expect("a camera the server accepts");
    }
    let mut out = vec![
        ServerMessage::Hello {
            protocol: PROTOCOL_VERSION,
            session: "q8N2kGm0aPz4Xv1LtY7bRw3c".into(),
            client: "c-W3kq9ZrT0bVx".into(),
            role: Role::Controller,
            view: "main".into(),
            revision: Revision(12),
            camera,
            width: 1280,
            height: 720,
            max_width: 1920,
            max_height: 1080,
            quality: QualityInfo {
                bitrate: 4_000_000,
                fps: 30.0,
                min_bitrate: 300_000,
                max_bitrate: 8_000_000,
                max_fps: 30.0,
                denoise: true,
            },
            limits: Limits::default(),
            resume_token: None,
        },
        ServerMessage::Hello {
            protocol: PROTOCOL_VERSION,
            session: "viewer-1".into(),
            client: "c-7HdLm2PqYs4N".into(),
            role: Role::Viewer,
            view: "main".into(),
            revision: Revision(0),
            camera,
            width: 16,
            height: 16,
            max_width: 16,
            max_height: 16,
            quality: QualityInfo {
                bitrate: 50_000,
                fps: 1.0,
                min_bitrate: 50_000,
                max_bitrate: 100_000_000,
                max_fps: 120.0,
                denoise: false,
            },
            limits: Limits::default(),
            resume_token: Some("Xk29dLq0vB7rT1sWm4Hc8pZa5NfJ3uYe".into()),
        },
        ServerMessage::Ack {
            id: Some(json!(5)),
            revision: Revision(9),
        },
        ServerMessage::Ack {
            id: Some(json!("a")),
            revision: Revision(9),
        },
        ServerMessage::Ack {
            id: None,
            revision: Revision(u64::MAX),
        },
        ServerMessage::Resync {
            revision: Revision(40),
        },
        ServerMessage::Closing {
            reason: CloseReason::Shutdown,
        },
        ServerMessage::Closing {
            reason: CloseReason::Ended,
        },
        ServerMessage::CameraChanged {
            revision: Revision(3),
            camera,
        },
        ServerMessage::CameraChanged {
            revision: Revision(4),
            camera: widest,
        },
        ServerMessage::CameraChanged {
            revision: Revision(5),
            camera: narrowest,
        },
        ServerMessage::Resized {
            width: 960,
            height: 540,
        },
        ServerMessage::Frame {
            revision: Revision(14),
            rtp_timestamp: Some(3_912_003_456),
            width: 1280,
            height: 720,
            denoised: false,
        },
        ServerMessage::Frame {
            revision: Revision(14),
            rtp_timestamp: None,
            width: 1280,
            height: 720,
            denoised: true,
        },
        ServerMessage::Picked {
            id: Some(json!(11)),
            revision: Revision(14),
            hit: Some(PickHit {
                object: Key::new("ball").unwrap(),
                material: Key::new("material-0").unwrap(),
                point: [0.0, 0.5, 0.866],
                normal: [0.0, 0.5, 0.866],
                distance: 4.13,
            }),
        },
        ServerMessage::Picked {
            id: None,
            revision: Revision(15),
            hit: None,
        },
        ServerMessage::QualityChanged {
            bitrate: 2_000_000,
            fps: 24.5,
            denoise: false,
        },
    ];

    // Errors: every code, with and without an id.
    for (i, &code) in ALL_CODES.iter().enumerate() {
        let id = (i % 2 == 0).then(|| json!(i));
        out.push(ProtocolError::new(id.as_ref(), code, "something went wrong").into_message());
    }
    out.push(protocol::binary_message_error().into_message());
    // Errors from the parser, naming fields.
    for text in [
        "{not json",
        r#"{"type":"teleport","id":"t"}"#,
        r#"{"type":"camera","id":2,"eyes":[0,1,5],"target":[0,0,0],"up":[0,1,0],"fov":40}"#,
        r#"{"type":"resize","width":641,"height":360}"#,
        r#"{"type":"edit","id":3,"ops":[{"op":"paint","kind":"object","key":"a"}]}"#,
        r#"{"type":"upload","key":"k","format":"glb","bytes":999999999999}"#,
    ] {
        let e = protocol::parse(text).expect_err("a bad message");
        out.push(e.into_message());
    }
    // Errors from a transaction, naming the op and the field.
    for ops in [
        json!([{"op": "update", "kind": "object", "key": "ball", "value": {"shape": {"type": "sphere", "center": [0, 0, 0], "radius": -1}}}]),
        json!([{"op": "remove", "kind": "material", "key": "material-0"}]),
        json!([{"op": "add", "kind": "object", "key": "b2", "value": {"material": "nope", "shape": {"type": "mesh", "mesh": "tri"}}}]),
    ] {
        let ops = render_core::edit::parse_ops(&ops).expect("ops that parse");
        let e = doc.apply(&ops).expect_err("a refused transaction");
        out.push(ProtocolError::from_edit(Some(&json!(7)), e).into_message());
    }

    // Change notices of real transactions: adds, updates and removes of every kind.
    let transactions = [
        json!([
            {"op": "add", "kind": "texture", "key": "tiles", "value": {"name": "tiles", "source": {"type": "checker", "squares": 8, "a": [0, 0, 0], "b": [1, 1, 1]}}},
            {"op": "add", "kind": "material", "key": "red", "value": {"type": "diffuse", "albedo": [0.8, 0.1, 0.1], "texture": "tiles"}},
            {"op": "add", "kind": "material", "key": "glass", "value": {"type": "dielectric", "ior": 1.5}},
            {"op": "add", "kind": "material", "key": "lamp", "value": {"type": "emissive", "radiance": [4, 4, 4]}},
            {"op": "add", "kind": "mesh", "key": "quad", "value": {"name": "quad", "positions": [[0, 0, 0], [1, 0, 0], [1, 1, 0], [0, 1, 0]],
                "normals": [[0, 0, 1], [0, 0, 1], [0, 0, 1], [0, 0, 1]], "uvs": [[0, 0], [1, 0], [1, 1], [0, 1]], "indices": [[0, 1, 2], [0, 2, 3]]}},
            {"op": "add", "kind": "object", "key": "floor", "value": {"material": "red", "shape": {"type": "mesh", "mesh": "quad"}, "transform": {"scale": [10, 10, 1]}}},
            {"op": "add", "kind": "light", "key": "sun", "value": {"type": "directional", "direction": [0, -1, 0], "irradiance": [2, 2, 2]}},
            {"op": "add", "kind": "light", "key": "spot", "value": {"type": "spot", "position": [0, 3, 0], "direction": [0, -1, 0], "intensity": [5, 5, 5], "inner_angle": 10, "outer_angle": 25}}
        ]),
        json!([
            {"op": "update", "kind": "object", "key": "ball", "value": {"material": "red", "transform": {"translation": [0, 1, 0]}}},
            {"op": "update", "kind": "texture", "key": "photo", "value": {"name": "holiday"}},
            {"op": "replace", "kind": "environment", "value": {"type": "image", "texture": "photo", "intensity": 1.5, "rotation": 30}},
            {"op": "update", "kind": "settings", "value": {"exposure": 2}},
            {"op": "update", "kind": "material", "key": "material-0", "value": {"albedo": [0.3, 0.3, 0.3]}},
            {"op": "update", "kind": "light", "key": "sun", "value": {"irradiance": [3, 3, 3]}},
            {"op": "update", "kind": "mesh", "key": "tri", "value": {"positions": [[0, 0, 0], [2, 0, 0], [0, 2, 0]]}}
        ]),
        json!([
            {"op": "remove", "kind": "object", "key": "floor"},
            {"op": "remove", "kind": "mesh", "key": "quad"},
            {"op": "remove", "kind": "light", "key": "light-0"}
        ]),
    ];
    for (i, ops) in transactions.iter().enumerate() {
        let ops = render_core::edit::parse_ops(ops).expect("ops that parse");
        let applied = doc.apply(&ops).expect("a transaction that applies");
        assert!(!applied.changes.is_empty());
        out.push(ServerMessage::Changed {
            revision: Revision(i as u64 + 1),
            client: "ws-0Rv8vntT9vZ".into(),
            changes: applied.changes,
        });
    }

    // The scene, meshes as summaries and in full, with the view's camera as
    // `Connection::answer` adds it; then every entity.
    for full in [false, true] {
        let mut scene = doc.to_json(full);
        if let Value::Object(map) = &mut scene {
            map.insert(
                "camera".into(),
                serde_json::to_value(camera).expect("a camera"),
            );
        }
        out.push(ServerMessage::Scene {
            id: full.then(|| json!(6)),
            revision: Revision(3),
            scene,
        });
    }
    for kind in Kind::ALL {
        let keys = if kind.is_singleton() {
            vec![None]
        } else {
            doc.keys(kind).into_iter().map(Some).collect()
        };
        assert!(!keys.is_empty(), "the document has a {kind}");
        for key in keys {
            let value = doc.get(kind, key.as_ref()).expect("an entity that exists");
            out.push(ServerMessage::Entity {
                id: Some(json!("e")),
                revision: Revision(3),
                kind,
                key,
                value,
            });
        }
    }
    out
}

#[test]
fn server_messages_from_the_real_types_validate() {
    let schemas = Schemas::load();
    let messages = server_messages();
    let mut changes = BTreeSet::new();
    for message in &messages {
        let json: Value = serde_json::from_str(&message.to_json()).expect("the server writes JSON");
        schemas.assert_server_valid(&json);
        if let ServerMessage::Changed { changes: list, .. } = message {
            for change in list {
                changes.insert(format!("{} {}", change["op"], change["kind"]));
            }
        }
    }
    // The change notices cover every kind, each op where the kind allows it.
    for kind in Kind::ALL {
        let ops: &[&str] = if kind.is_singleton() {
            &["update"]
        } else if kind == Kind::Object || kind == Kind::Mesh || kind == Kind::Light {
            &["add", "update", "remove"]
        } else {
            &["add", "update"]
        };
        for op in ops {
            let change = format!("\"{op}\" \"{}\"", kind.name());
            assert!(changes.contains(&change), "no change notice of {change}");
        }
    }

    // And the schema is no rubber stamp: it refuses server messages that are wrong.
    for wrong in [
        json!({"type": "ack"}),
        json!({"type": "ack", "revision": -1}),
        json!({"type": "ack", "revision": 1, "extra": true}),
        json!({"type": "error", "code": "oops", "message": "m"}),
        json!({"type": "frame", "revision": 1, "rtp_timestamp": 4294967296u64, "width": 8, "height": 8, "denoised": false}),
        json!({"type": "frame", "revision": 1, "width": 8, "height": 8}),
        json!({"type": "entity", "revision": 1, "kind": "settings", "key": "main",
               "value": {"max_samples": 1, "max_bounces": 1, "exposure": 1}}),
        json!({"type": "entity", "revision": 1, "kind": "object", "key": "ball",
               "value": {"type": "diffuse", "albedo": [1, 1, 1]}}),
        json!({"type": "changed", "revision": 1, "client": "s", "changes": [
               {"op": "remove", "kind": "light", "key": "l", "value": {"type": "point", "position": [0, 0, 0], "intensity": [1, 1, 1]}}]}),
        json!({"type": "changed", "revision": 1, "client": "s", "changes": [
               {"op": "add", "kind": "mesh", "key": "m", "value": {"positions": [], "indices": []}}]}),
    ] {
        assert!(
            !schemas.server.is_valid(&wrong),
            "the schema accepts a wrong server message: {wrong}"
        );
    }
}
