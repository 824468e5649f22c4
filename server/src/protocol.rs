//! The control protocol spoken on the `control` data channel, version 1.
//!
//! Messages are JSON objects with a `type` field. This module only translates between
//! text and typed messages and validates values; it holds no state and does no I/O,
//! so every rule here is unit-tested without a socket.
//!
//! Client to server:
//! - `{"type":"camera","id":1,"eye":[x,y,z],"target":[x,y,z],"up":[x,y,z],"fov":40}`
//!   moves the view's camera (fov is vertical, in degrees). `id` is optional and
//!   echoed back so the client can match the reply.
//! - `{"type":"resize","id":2,"width":960,"height":540}` changes the view's picture
//!   size (render and stream). Both must be even integers of at least
//!   [`MIN_DIMENSION`] and at most the server's configured maximum.
//!
//! Server to client:
//! - `hello` once the channel opens: protocol version, session id, scene revision,
//!   the camera, the picture size and the largest size a `resize` may ask for.
//! - `resized` to every client after any client changed the picture size.
//! - `ack` with the request's `id` and the scene revision once the change is
//!   applied: a `camera` makes a new revision; a `resize` does not (the ack carries
//!   the current one).
//! - `camera_changed` to every client after any client moved the camera.
//! - `error` with a stable `code`, a `message` naming the problem, and the `id` of the
//!   request when it could be read. Nothing of a rejected request is applied.

use render_core::Camera;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const PROTOCOL_VERSION: u32 = 1;

/// The smallest picture width or height a `resize` may ask for.
pub const MIN_DIMENSION: u32 = 16;

/// The largest message accepted, in bytes.
pub const MAX_MESSAGE_BYTES: usize = 64 * 1024;

/// A scene revision: increases by one with every accepted change.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Revision(pub u64);

/// A request from a client.
#[derive(Clone, Debug, PartialEq)]
pub enum ClientMessage {
    Camera {
        id: Option<Value>,
        camera: Camera,
    },
    Resize {
        id: Option<Value>,
        width: u32,
        height: u32,
    },
}

/// A message to a client.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum ServerMessage {
    Hello {
        protocol: u32,
        session: String,
        revision: Revision,
        camera: Camera,
        width: u32,
        height: u32,
        max_width: u32,
        max_height: u32,
    },
    Ack {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        revision: Revision,
    },
    CameraChanged {
        revision: Revision,
        camera: Camera,
    },
    Resized {
        width: u32,
        height: u32,
    },
    Error {
        #[serde(skip_serializing_if = "Option::is_none")]
        id: Option<Value>,
        code: ErrorCode,
        message: String,
    },
}

impl ServerMessage {
    pub fn to_json(&self) -> String {
        // Serialising these types cannot fail: every field is plain data with string keys.
        serde_json::to_string(self).unwrap_or_default()
    }
}

/// Stable error codes clients can branch on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// The message is not valid JSON, or not a JSON object.
    InvalidJson,
    /// The message is larger than [`MAX_MESSAGE_BYTES`].
    TooLarge,
    /// The data channel message was binary; the protocol is JSON text.
    BinaryMessage,
    /// `type` names no message of this protocol.
    UnknownType,
    /// A required field is absent.
    MissingField,
    /// A field has the wrong JSON type, or a value out of range.
    InvalidValue,
}

/// A rejected request: what to answer, and nothing else happens.
#[derive(Clone, Debug, PartialEq)]
pub struct ProtocolError {
    pub id: Option<Value>,
    pub code: ErrorCode,
    pub message: String,
}

impl ProtocolError {
    fn new(id: &Option<Value>, code: ErrorCode, message: impl Into<String>) -> Self {
        ProtocolError {
            id: id.clone(),
            code,
            message: message.into(),
        }
    }

    pub fn into_message(self) -> ServerMessage {
        ServerMessage::Error {
            id: self.id,
            code: self.code,
            message: self.message,
        }
    }
}

/// The answer to a binary data-channel message.
pub fn binary_message_error() -> ProtocolError {
    ProtocolError::new(
        &None,
        ErrorCode::BinaryMessage,
        "binary messages are not supported: send JSON text",
    )
}

/// Parses and validates one client message.
pub fn parse(text: &str) -> Result<ClientMessage, ProtocolError> {
    if text.len() > MAX_MESSAGE_BYTES {
        return Err(ProtocolError::new(
            &None,
            ErrorCode::TooLarge,
            format!(
                "message is {} bytes; the limit is {MAX_MESSAGE_BYTES}",
                text.len()
            ),
        ));
    }
    let value: Value = serde_json::from_str(text).map_err(|e| {
        ProtocolError::new(&None, ErrorCode::InvalidJson, format!("invalid JSON: {e}"))
    })?;
    let Value::Object(obj) = value else {
        return Err(ProtocolError::new(
            &None,
            ErrorCode::InvalidJson,
            "a message must be a JSON object",
        ));
    };
    let id = obj.get("id").cloned();
    if id
        .as_ref()
        .is_some_and(|v| !(v.is_number() || v.is_string()))
    {
        return Err(ProtocolError::new(
            &None,
            ErrorCode::InvalidValue,
            "id must be a number or a string",
        ));
    }
    let kind = match obj.get("type") {
        None => {
            return Err(ProtocolError::new(
                &id,
                ErrorCode::MissingField,
                "missing field \"type\"",
            ))
        }
        Some(Value::String(s)) => s.as_str(),
        Some(_) => {
            return Err(ProtocolError::new(
                &id,
                ErrorCode::InvalidValue,
                "field \"type\" must be a string",
            ))
        }
    };
    let required = |name: &str| -> Result<&Value, ProtocolError> {
        obj.get(name).ok_or_else(|| {
            ProtocolError::new(
                &id,
                ErrorCode::MissingField,
                format!("missing field \"{name}\""),
            )
        })
    };
    match kind {
        "camera" => {
            let vec3 = |name: &str| -> Result<glam::Vec3, ProtocolError> {
                let v = required(name)?;
                let invalid = || {
                    ProtocolError::new(
                        &id,
                        ErrorCode::InvalidValue,
                        format!("field \"{name}\" must be an array of 3 finite numbers"),
                    )
                };
                let arr = v.as_array().filter(|a| a.len() == 3).ok_or_else(invalid)?;
                let mut out = [0.0f32; 3];
                for (o, x) in out.iter_mut().zip(arr) {
                    let f = x.as_f64().ok_or_else(invalid)?;
                    // Values beyond f32 would become infinite; reject them here by name.
                    if !f.is_finite() || f.abs() > 1e6 {
                        return Err(ProtocolError::new(
                            &id,
                            ErrorCode::InvalidValue,
                            format!("field \"{name}\" has a component out of range (|x| must be at most 1e6)"),
                        ));
                    }
                    *o = f as f32;
                }
                Ok(glam::Vec3::from_array(out))
            };
            let eye = vec3("eye")?;
            let target = vec3("target")?;
            let up = vec3("up")?;
            let fov = required("fov")?.as_f64().ok_or_else(|| {
                ProtocolError::new(
                    &id,
                    ErrorCode::InvalidValue,
                    "field \"fov\" must be a number",
                )
            })?;
            let camera = Camera {
                eye,
                target,
                up,
                fov: fov as f32,
            };
            camera.validate().map_err(|e| {
                ProtocolError::new(&id, ErrorCode::InvalidValue, format!("invalid camera: {e}"))
            })?;
            Ok(ClientMessage::Camera { id, camera })
        }
        "resize" => {
            let dimension = |name: &str| -> Result<u32, ProtocolError> {
                let v = required(name)?;
                let n = v.as_u64().filter(|n| {
                    *n >= MIN_DIMENSION as u64
                        && *n <= render_core::Renderer::MAX_DIMENSION as u64
                        && n % 2 == 0
                });
                n.map(|n| n as u32).ok_or_else(|| {
                    ProtocolError::new(
                        &id,
                        ErrorCode::InvalidValue,
                        format!(
                            "field \"{name}\" must be an even integer from {MIN_DIMENSION} to {}, not {v}",
                            render_core::Renderer::MAX_DIMENSION
                        ),
                    )
                })
            };
            let width = dimension("width")?;
            let height = dimension("height")?;
            Ok(ClientMessage::Resize { id, width, height })
        }
        other => Err(ProtocolError::new(
            &id,
            ErrorCode::UnknownType,
            format!("unknown message type {other:?}"),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use glam::Vec3;
    use serde_json::json;

    fn err(text: &str) -> ProtocolError {
        parse(text).unwrap_err()
    }

    #[test]
    fn camera_message_parses() {
        let m = parse(
            r#"{"type":"camera","id":7,"eye":[0,1,4],"target":[0,1,0],"up":[0,1,0],"fov":40}"#,
        )
        .unwrap();
        let ClientMessage::Camera { id, camera } = m else {
            panic!("not a camera message: {m:?}")
        };
        assert_eq!(id, Some(json!(7)));
        assert_eq!(
            camera,
            Camera {
                eye: Vec3::new(0., 1., 4.),
                target: Vec3::new(0., 1., 0.),
                up: Vec3::Y,
                fov: 40.0
            }
        );
    }

    #[test]
    fn malformed_messages_get_codes_that_name_the_problem() {
        let e = err("{not json");
        assert_eq!(e.code, ErrorCode::InvalidJson);
        assert_eq!(err("[1,2]").code, ErrorCode::InvalidJson);
        let e = err(r#"{"id":3}"#);
        assert_eq!((e.code, e.id), (ErrorCode::MissingField, Some(json!(3))));
        assert!(e.message.contains("type"));
        let e = err(r#"{"type":"teleport","id":"a"}"#);
        assert_eq!((e.code, e.id), (ErrorCode::UnknownType, Some(json!("a"))));
        assert!(e.message.contains("teleport"));
        let e = err(r#"{"type":"camera","eye":[0,1],"target":[0,0,0],"up":[0,1,0],"fov":40}"#);
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert!(e.message.contains("\"eye\""));
        let e = err(r#"{"type":"camera","eye":[0,1,5],"target":[0,0,0],"up":[0,1,0]}"#);
        assert_eq!(e.code, ErrorCode::MissingField);
        assert!(e.message.contains("fov"));
        let e = err(r#"{"type":"camera","eye":["a",1,5],"target":[0,0,0],"up":[0,1,0],"fov":40}"#);
        assert_eq!(e.code, ErrorCode::InvalidValue);
        let e = err(
            r#"{"type":"camera","id":{"x":1},"eye":[0,1,5],"target":[0,0,0],"up":[0,1,0],"fov":40}"#,
        );
        assert_eq!(e.code, ErrorCode::InvalidValue);
        assert!(e.message.contains("id"));
        let big = format!(
            r#"{{"type":"camera","pad":"{}"}}"#,
            "x".repeat(MAX_MESSAGE_BYTES)
        );
        assert_eq!(err(&big).code, ErrorCode::TooLarge);
    }

    #[test]
    fn out_of_range_values_are_rejected() {
        let cases = [
            (
                r#"{"type":"camera","eye":[0,1,5],"target":[0,0,0],"up":[0,1,0],"fov":0}"#,
                "fov",
            ),
            (
                r#"{"type":"camera","eye":[0,1,5],"target":[0,0,0],"up":[0,1,0],"fov":500}"#,
                "fov",
            ),
            (
                r#"{"type":"camera","eye":[0,0,0],"target":[0,0,0],"up":[0,1,0],"fov":40}"#,
                "eye and target",
            ),
            (
                r#"{"type":"camera","eye":[0,5,0],"target":[0,0,0],"up":[0,1,0],"fov":40}"#,
                "up",
            ),
            (
                r#"{"type":"camera","eye":[1e300,1,5],"target":[0,0,0],"up":[0,1,0],"fov":40}"#,
                "out of range",
            ),
            (r#"{"type":"resize","width":641,"height":360}"#, "\"width\""),
            (r#"{"type":"resize","width":0,"height":360}"#, "\"width\""),
            (r#"{"type":"resize","width":640,"height":-2}"#, "\"height\""),
            (
                r#"{"type":"resize","width":640,"height":360.5}"#,
                "\"height\"",
            ),
            (
                r#"{"type":"resize","width":"640","height":360}"#,
                "\"width\"",
            ),
            (
                r#"{"type":"resize","width":100000,"height":360}"#,
                "\"width\"",
            ),
        ];
        for (text, needle) in cases {
            let e = err(text);
            assert_eq!(e.code, ErrorCode::InvalidValue, "{text}");
            assert!(e.message.contains(needle), "{text}: {}", e.message);
        }
    }

    #[test]
    fn resize_message_parses() {
        assert_eq!(
            parse(r#"{"type":"resize","id":"r","width":640,"height":360}"#),
            Ok(ClientMessage::Resize {
                id: Some(json!("r")),
                width: 640,
                height: 360
            })
        );
        assert_eq!(
            err(r#"{"type":"resize","width":640}"#).code,
            ErrorCode::MissingField
        );
        assert_eq!(
            ServerMessage::Resized {
                width: 640,
                height: 360
            }
            .to_json(),
            r#"{"type":"resized","width":640,"height":360}"#
        );
    }

    #[test]
    fn server_messages_serialise_to_the_documented_shape() {
        let m = ServerMessage::Ack {
            id: Some(json!(5)),
            revision: Revision(9),
        };
        assert_eq!(m.to_json(), r#"{"type":"ack","id":5,"revision":9}"#);
        let m = ProtocolError::new(&None, ErrorCode::InvalidJson, "bad").into_message();
        assert_eq!(
            m.to_json(),
            r#"{"type":"error","code":"invalid_json","message":"bad"}"#
        );
        let cam = Camera {
            eye: Vec3::Z,
            target: Vec3::ZERO,
            up: Vec3::Y,
            fov: 40.0,
        };
        let v: Value = serde_json::from_str(
            &ServerMessage::CameraChanged {
                revision: Revision(2),
                camera: cam,
            }
            .to_json(),
        )
        .unwrap();
        assert_eq!(
            v,
            json!({"type":"camera_changed","revision":2,"camera":{"eye":[0.0,0.0,1.0],"target":[0.0,0.0,0.0],"up":[0.0,1.0,0.0],"fov":40.0}})
        );
    }
}
