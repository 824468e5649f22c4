//! The one loop that moves a client's messages between its [`Connection`] and
//! whatever carries them: a session's `control` data channel or the WebSocket at
//! `/api/control`. Each is a [`Transport`]; the loop is the same for both, so what a
//! client hears (its `hello`, replies, other clients' changes, view events, `frame`
//! notes, `closing`) cannot drift between them.

use super::Connection;
use crate::view::Shown;
use bytes::Bytes;
use protocol::{CloseReason, Revision, ServerMessage};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;
use webrtc::data_channel::{DataChannel, DataChannelEvent};

/// What a transport hands the pump.
pub(crate) enum Incoming {
    /// The client can hear messages now: it is greeted with `hello`.
    Opened,
    /// A text message (UTF-8 is checked by the connection).
    Text(Bytes),
    /// A binary message (part of an announced upload).
    Binary(Bytes),
    /// Time for the transport's own upkeep ([`Transport::tick`]).
    Tick,
    /// The client is gone.
    Closed,
}

/// A carrier of one client's messages.
pub(crate) trait Transport: Send {
    /// The next thing from the client. Must be cancel-safe: the pump polls it beside
    /// its other sources and drops it when one of them comes first.
    fn recv(&mut self) -> impl Future<Output = Incoming> + Send;
    /// Sends one message's text; `false` when the client is gone.
    fn send(&mut self, text: Bytes) -> impl Future<Output = bool> + Send;
    /// The transport's upkeep after an [`Incoming::Tick`]; `false` ends the connection.
    fn tick(&mut self) -> impl Future<Output = bool> + Send {
        async { true }
    }
    /// After `closing` was sent: lets it reach the client and ends the transport.
    fn close(&mut self, reason: CloseReason) -> impl Future<Output = ()> + Send;
}

/// The first frame of a new revision sent to a viewer, or of a denoised (or raw)
/// picture after frames of the other kind (see [`protocol::ServerMessage::Frame`]).
#[derive(Clone, Copy, Debug)]
pub(crate) struct FrameNote {
    pub revision: Revision,
    pub rtp_timestamp: u32,
    pub width: u32,
    pub height: u32,
    pub denoised: bool,
}

/// Where the client hears which frame its picture shows.
pub(crate) enum Frames {
    /// A WebRTC session's notes of what it sent, with RTP timestamps.
    Sent(watch::Receiver<Option<FrameNote>>),
    /// The view's latest frame, for a client without the video (no RTP timestamp).
    Shown(watch::Receiver<Option<Shown>>),
}

impl Frames {
    /// The next `frame` message: `None` once the source is gone.
    async fn next(&mut self) -> Option<Option<ServerMessage>> {
        match self {
            Frames::Sent(notes) => {
                notes.changed().await.ok()?;
                let note = *notes.borrow_and_update();
                Some(note.map(|n| ServerMessage::Frame {
                    revision: n.revision,
                    rtp_timestamp: Some(n.rtp_timestamp),
                    width: n.width,
                    height: n.height,
                    denoised: n.denoised,
                }))
            }
            Frames::Shown(shown) => {
                shown.changed().await.ok()?;
                let s = *shown.borrow_and_update();
                Some(s.map(|s| ServerMessage::Frame {
                    revision: s.revision,
                    rtp_timestamp: None,
                    width: s.width,
                    height: s.height,
                    denoised: s.denoised,
                }))
            }
        }
    }
}

/// The text of a reply: a scene or an entity can be large (whole meshes), so those
/// are serialised on the blocking pool, not on an async worker.
async fn reply_text(connection: &Connection, reply: ServerMessage) -> Bytes {
    match reply {
        ServerMessage::Scene { .. } | ServerMessage::Entity { .. } => {
            let encoder = connection.encoder();
            tokio::task::spawn_blocking(move || encoder.encode(&reply))
                .await
                .unwrap_or_default()
                .into()
        }
        other => connection.encode(&other).into(),
    }
}

/// Runs `connection` over `transport` until the client goes, the transport fails, or
/// `closing` resolves with a reason (then the client is told with `closing`).
pub(crate) async fn run(
    mut connection: Connection,
    mut transport: impl Transport,
    mut frames: Frames,
    closing: impl Future<Output = Option<CloseReason>> + Send,
) {
    let mut store_events = connection.store().events();
    let mut view_events = connection.view().events();
    tokio::pin!(closing);
    loop {
        let out: Vec<Bytes> = tokio::select! {
            incoming = transport.recv() => match incoming {
                Incoming::Opened => vec![connection.encode(&connection.hello()).into()],
                Incoming::Text(text) => match connection.text_bytes(&text).await {
                    Some(reply) => vec![reply_text(&connection, reply).await],
                    None => vec![],
                },
                Incoming::Binary(data) => match connection.binary(&data).await {
                    Some(reply) => vec![connection.encode(&reply).into()],
                    None => vec![],
                },
                Incoming::Tick => {
                    if !transport.tick().await {
                        break;
                    }
                    vec![]
                }
                Incoming::Closed => break,
            },
            event = store_events.recv() => match event {
                // The text every client hears of this change, serialised once.
                Ok(event) => connection.store_event_json(&event).into_iter().collect(),
                Err(RecvError::Lagged(n)) => vec![connection.encode(&connection.missed_changes(n)).into()],
                Err(RecvError::Closed) => break,
            },
            event = view_events.recv() => match event {
                Ok(event) => connection
                    .view_event(&event)
                    .map(|m| connection.encode(&m).into())
                    .into_iter()
                    .collect(),
                // Missed view events: the latest camera, size and quality are all that count.
                Err(RecvError::Lagged(_)) => connection
                    .view_catch_up()
                    .iter()
                    .map(|m| connection.encode(m).into())
                    .collect(),
                Err(RecvError::Closed) => break,
            },
            frame = frames.next() => match frame {
                Some(m) => m.map(|m| connection.encode(&m).into()).into_iter().collect(),
                None => break,
            },
            reason = &mut closing => {
                if let Some(reason) = reason {
                    let closing = ServerMessage::Closing { reason };
                    if transport.send(connection.encode(&closing).into()).await {
                        transport.close(reason).await;
                    }
                }
                break;
            }
        };
        for text in out {
            if !transport.send(text).await {
                return;
            }
        }
        // The reply is on its way: now the others may hear of its change.
        connection.publish();
    }
}

/// A session's `control` data channel.
struct DataChannelTransport {
    channel: Arc<dyn DataChannel>,
}

impl Transport for DataChannelTransport {
    async fn recv(&mut self) -> Incoming {
        loop {
            match self.channel.poll().await {
                Some(DataChannelEvent::OnOpen) => return Incoming::Opened,
                Some(DataChannelEvent::OnMessage(msg)) if msg.is_string => {
                    return Incoming::Text(msg.data.into())
                }
                Some(DataChannelEvent::OnMessage(msg)) => return Incoming::Binary(msg.data.into()),
                Some(DataChannelEvent::OnClose) | None => return Incoming::Closed,
                Some(_) => {}
            }
        }
    }

    async fn send(&mut self, text: Bytes) -> bool {
        // A failed send is the channel closing, which its events will say.
        let text = String::from_utf8_lossy(&text);
        if let Err(e) = self.channel.send_text(&text).await {
            tracing::debug!("control send failed: {e}");
        }
        true
    }

    async fn close(&mut self, _: CloseReason) {
        // Sending only queues it: wait until SCTP has delivered it, or the session
        // stops waiting (its closing notice), before the connection closes.
        while self.channel.outstanding_bytes().await.is_ok_and(|n| n > 0) {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
}

/// Speaks the control protocol on a session's data channel labelled `control`
/// (others are ignored) until it closes or the session ends.
pub(crate) async fn run_data_channel(
    connection: Connection,
    channel: Arc<dyn DataChannel>,
    notes: watch::Receiver<Option<FrameNote>>,
    mut closing: watch::Receiver<Option<CloseReason>>,
) {
    let label = channel.label().await.unwrap_or_default();
    if label != "control" {
        tracing::debug!(session = %connection.session, %label, "ignoring data channel");
        return;
    }
    let closing = async move {
        closing
            .wait_for(Option::is_some)
            .await
            .ok()
            .and_then(|r| *r)
    };
    run(
        connection,
        DataChannelTransport { channel },
        Frames::Sent(notes),
        closing,
    )
    .await;
}
