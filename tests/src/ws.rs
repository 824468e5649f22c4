//! A control client over the WebSocket at `/api/control`: what a remote UI or a script
//! without WebRTC would be. It numbers its requests, matches replies by `id`, and keeps
//! every other message (`changed`, `frame`, `camera_changed`...) for the test to read.

use anyhow::{anyhow, bail, Context};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::VecDeque;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// One WebSocket control connection.
pub struct ControlSocket {
    socket: Socket,
    /// The server's greeting.
    pub hello: Value,
    /// Messages that were not the reply being waited for, oldest first.
    pending: VecDeque<Value>,
    next_id: u64,
}

const WAIT: Duration = Duration::from_secs(20);

impl ControlSocket {
    /// Connects to `base` (`http://host:port`) and reads the `hello`.
    pub async fn connect(base: &str) -> anyhow::Result<ControlSocket> {
        ControlSocket::connect_as(base, None, None).await
    }

    /// Connects with `token` (as the `access_token` query parameter, as a browser
    /// must) and, like a page in a browser, an `Origin` header. A refused upgrade is
    /// an error carrying the HTTP status ([`refused_status`]).
    pub async fn connect_as(
        base: &str,
        token: Option<&str>,
        origin: Option<&str>,
    ) -> anyhow::Result<ControlSocket> {
        let query = token.map(|t| format!("access_token={}", crate::query_value(t)));
        ControlSocket::connect_query(base, query.as_deref(), origin).await
    }

    /// Connects to the view `view` (which the socket opens if it does not exist: a
    /// server without tokens makes every client a controller).
    pub async fn connect_to_view(base: &str, view: &str) -> anyhow::Result<ControlSocket> {
        ControlSocket::connect_query(base, Some(&format!("view={view}")), None).await
    }

    async fn connect_query(
        base: &str,
        query: Option<&str>,
        origin: Option<&str>,
    ) -> anyhow::Result<ControlSocket> {
        use tokio_tungstenite::tungstenite::client::IntoClientRequest;
        let mut url = format!("{}/api/control", base.replacen("http://", "ws://", 1));
        if let Some(query) = query {
            url = format!("{url}?{query}");
        }
        let mut request = url.as_str().into_client_request()?;
        if let Some(origin) = origin {
            request.headers_mut().insert("origin", origin.parse()?);
        }
        let (socket, _) = tokio_tungstenite::connect_async(request)
            .await
            .with_context(|| format!("WebSocket to {url}"))?;
        let mut s = ControlSocket {
            socket,
            hello: Value::Null,
            pending: VecDeque::new(),
            next_id: 1,
        };
        let hello = s.receive(WAIT).await?;
        if hello["type"] != "hello" {
            bail!("the first message was not hello: {hello}");
        }
        s.hello = hello;
        Ok(s)
    }

    async fn receive(&mut self, timeout: Duration) -> anyhow::Result<Value> {
        // One deadline for the whole wait: the server's pings (every third of its idle
        // timeout) are skipped here, and must not restart the wait each time.
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .context("no message in time")?
                .ok_or_else(|| anyhow!("WebSocket closed"))??;
            match m {
                Message::Text(t) => return Ok(serde_json::from_str(t.as_str())?),
                Message::Close(_) => bail!("WebSocket closed by the server"),
                _ => continue,
            }
        }
    }

    /// Sends raw text.
    pub async fn send_text(&mut self, text: &str) -> anyhow::Result<()> {
        self.socket.send(Message::Text(text.into())).await?;
        Ok(())
    }

    /// Sends a binary message (a piece of an upload).
    pub async fn send_binary(&mut self, data: &[u8]) -> anyhow::Result<()> {
        self.socket
            .send(Message::Binary(data.to_vec().into()))
            .await?;
        Ok(())
    }

    /// Sends `message` with a fresh `id` and returns that id.
    pub async fn send(&mut self, mut message: Value) -> anyhow::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        message["id"] = id.into();
        self.send_text(&message.to_string()).await?;
        Ok(id)
    }

    /// Waits for the reply to request `id`, keeping other messages.
    pub async fn reply(&mut self, id: u64) -> anyhow::Result<Value> {
        if let Some(i) = self.pending.iter().position(|m| m["id"] == id) {
            return Ok(self.pending.remove(i).unwrap_or_default());
        }
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self
                .receive(left)
                .await
                .with_context(|| format!("no reply to request {id}"))?;
            if m["id"] == id {
                return Ok(m);
            }
            self.pending.push_back(m);
        }
    }

    /// Sends `message` and waits for its reply.
    pub async fn request(&mut self, message: Value) -> anyhow::Result<Value> {
        let id = self.send(message).await?;
        self.reply(id).await
    }

    /// Waits for a message of type `kind` (taking it from those kept, if there),
    /// keeping the others.
    pub async fn next_message(&mut self, kind: &str, timeout: Duration) -> anyhow::Result<Value> {
        if let Some(i) = self.pending.iter().position(|m| m["type"] == kind) {
            return Ok(self.pending.remove(i).unwrap_or_default());
        }
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let m = self
                .receive(left)
                .await
                .with_context(|| format!("no {kind:?} message in time"))?;
            if m["type"] == kind {
                return Ok(m);
            }
            self.pending.push_back(m);
        }
    }

    /// Every kept message of type `kind`, in order, removed from those kept.
    pub fn take_kept(&mut self, kind: &str) -> Vec<Value> {
        let (taken, kept): (Vec<Value>, Vec<Value>) =
            self.pending.drain(..).partition(|m| m["type"] == kind);
        self.pending = kept.into();
        taken
    }

    /// Reads whatever arrives within `window`, keeping it.
    pub async fn drain_for(&mut self, window: Duration) {
        let deadline = tokio::time::Instant::now() + window;
        // The deadline is checked on every turn: a server that keeps sending would
        // otherwise keep a zero timeout from ever expiring (each poll finds a message).
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            if left.is_zero() {
                break;
            }
            match self.receive(left).await {
                Ok(m) => self.pending.push_back(m),
                Err(_) => break,
            }
        }
    }

    /// Closes the connection.
    pub async fn close(mut self) -> anyhow::Result<()> {
        self.socket.close(None).await?;
        Ok(())
    }
}

/// The HTTP status with which the server refused a WebSocket upgrade, if that is
/// what `error` (from [`ControlSocket::connect_as`]) says.
pub fn refused_status(error: &anyhow::Error) -> Option<u16> {
    error.chain().find_map(|e| match e.downcast_ref() {
        Some(tokio_tungstenite::tungstenite::Error::Http(response)) => {
            Some(response.status().as_u16())
        }
        _ => None,
    })
}
