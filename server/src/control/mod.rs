//! Clients' requests, whatever carries them: one [`Connection`] per client decides
//! what each message means; the data channel and the WebSocket move its text through
//! one [`pump`]; HTTP requests reach it through [`api`]'s routes.
//!
//! - `connection.rs`: one client's side of the protocol (requests to replies, store
//!   and view events to messages, uploads, picks).
//! - `pump.rs`: the loop that moves a connection's messages over a [`pump::Transport`].
//! - `api.rs`: the HTTP routes and the WebSocket upgrade, each let in by its token's role.
//! - `conns.rs`: the accept loop: HTTP/1.1 connections counted and bounded.
//! - `ratelimit.rs`: `--edit-rate` allowances per client, time passed in.
//! - `snapshot.rs`: `GET /api/snapshot.png`'s PNG encodes, shared and bounded.

pub mod api;
pub mod connection;
pub mod conns;
pub(crate) mod pump;
pub mod ratelimit;
pub mod snapshot;

pub use connection::{
    count_sent, errors_sent, public_client_id, Connection, DATA_CHANNEL_MAX_MESSAGE,
    MAX_UPLOAD_TRIANGLES,
};
