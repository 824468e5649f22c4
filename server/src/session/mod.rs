//! Viewer sessions: one WebRTC peer connection per viewer, created from a WHEP offer.
//!
//! [`Sessions`] implements the signaling crate's [`WhepHandler`]: an offer becomes a
//! peer connection with one H.264 track fed from the view's shared encoder, and, if
//! the offer carries one, the `control` data channel speaking [`crate::protocol`].
//! A session lives until the viewer deletes it, its transport fails or closes, or
//! the server shuts down; a failing session is logged and dropped, never the server.

pub(crate) mod filter;
pub(crate) mod keyframe;
mod link;
pub(crate) mod media;
pub(crate) mod nack;
mod peer;
pub mod table;

pub use crate::control::public_client_id;
pub use peer::h264_codec_parameters;
pub use table::{SessionId, SessionInfo, SessionState};

use crate::control::pump::FrameNote;
use crate::control::ratelimit::Limiter;
use crate::control::Connection;
use crate::scene::store::SceneStore;
use crate::view::registry::{OpenError, Views};
use crate::view::View;
use peer::Session;
use protocol::{CloseReason, Role};
use signaling::{Answer, Caller, Credential, DeleteError, Offer, OfferError, WhepHandler};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use table::{Resumable, Table};
use tokio::sync::watch;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::peer_connection::RTCPeerConnectionState;

/// How long a new session may take to connect before it is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a server admits, per session and in all.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Sessions at once; an offer beyond it is answered 503.
    pub max_sessions: usize,
    /// How long a session whose connection dropped waits to be resumed.
    pub resume_grace: Duration,
}

/// Every live session of the server.
pub struct Sessions {
    limits: Limits,
    /// Each client's edit and pick allowances (`--edit-rate`), shared with the API.
    limiter: Arc<Limiter>,
    views: Arc<Views>,
    store: Arc<SceneStore>,
    /// UDP addresses each peer connection binds (one host candidate each).
    media_addrs: Vec<String>,
    /// Shared with session tasks (weakly), which update their state and remove
    /// themselves when they close.
    table: Arc<Mutex<Table>>,
    /// Every session task, so that shutdown can wait for them.
    tasks: Mutex<tokio::task::JoinSet<()>>,
    shutdown: watch::Receiver<bool>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// A connection's handle on its session's entry: it changes the entry only while it
/// is the session's current connection (its `generation`).
#[derive(Clone)]
struct Tracker {
    table: std::sync::Weak<Mutex<Table>>,
    id: SessionId,
    generation: u64,
}

impl Tracker {
    fn set(&self, state: SessionState) {
        let Some(table) = self.table.upgrade() else {
            return;
        };
        let from = lock(&table).set_state(&self.id, self.generation, state, Instant::now());
        if let Some(from) = from {
            tracing::info!(session = %self.id.0, from = from.name(), to = state.name(), "session state");
        }
    }

    /// After the connection ended by itself: keeps the session pending for the resume
    /// grace, then closes it unless a resume took it over (or it was deleted)
    /// meanwhile. Shutdown clears the whole table itself.
    async fn hold_for_resume(&self, mut shutdown: watch::Receiver<bool>) {
        self.set(SessionState::Pending);
        let Some(table) = self.table.upgrade() else {
            return;
        };
        let Some(deadline) = lock(&table).resume_deadline(&self.id, self.generation) else {
            return;
        };
        drop(table);
        tokio::select! {
            _ = tokio::time::sleep_until(deadline.into()) => {}
            _ = shutdown.wait_for(|s| *s) => return,
        }
        let Some(table) = self.table.upgrade() else {
            return;
        };
        let mut table = lock(&table);
        for id in table.expire(Instant::now()) {
            tracing::info!(session = %id.0, "session closed: not resumed within {:?}", table.resume_grace());
        }
    }
}

impl Sessions {
    pub fn new(
        views: Arc<Views>,
        store: Arc<SceneStore>,
        media_addrs: Vec<String>,
        limits: Limits,
        limiter: Arc<Limiter>,
        shutdown: watch::Receiver<bool>,
    ) -> Sessions {
        Sessions {
            limits,
            limiter,
            views,
            store,
            media_addrs,
            table: Arc::new(Mutex::new(Table::new(
                limits.max_sessions,
                limits.resume_grace,
            ))),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
            shutdown,
        }
    }

    /// Sessions open (in any state).
    pub fn count(&self) -> usize {
        lock(&self.table).len()
    }

    /// Sessions in each state.
    pub fn count_by_state(&self) -> Vec<(SessionState, usize)> {
        lock(&self.table).count_by_state()
    }

    /// Every session, for `GET /api/sessions` (never their resume tokens).
    pub fn list(&self) -> Vec<SessionInfo> {
        lock(&self.table).list(Instant::now())
    }

    /// The session whose resume token is `token`.
    fn resumable(&self, token: &str) -> Result<Resumable, OfferError> {
        lock(&self.table).resumable(token).ok_or_else(|| {
            OfferError::NotFound(format!(
                "no session to resume with this token: it was never issued, or the session closed \
                 (a dropped session waits {} s to be resumed)",
                self.limits.resume_grace.as_secs()
            ))
        })
    }

    /// Ends every session and waits, at most `limit`, for their tasks to close their
    /// peer connections.
    pub async fn shutdown(&self, limit: Duration) {
        // Connections end on the shutdown signal itself; pending sessions close now.
        lock(&self.table).clear();
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        if tokio::time::timeout(limit, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!("{} sessions did not close in time", tasks.len());
            tasks.abort_all();
        }
    }
}

impl WhepHandler for Sessions {
    async fn offer(&self, offer: Offer) -> Result<Answer, OfferError> {
        if *self.shutdown.borrow() {
            return Err(OfferError::Unavailable(
                "the server is shutting down".into(),
            ));
        }
        let full = || {
            OfferError::Unavailable(format!(
                "the server is full: it serves at most {} sessions at once",
                self.limits.max_sessions
            ))
        };
        let resume = match &offer.resume {
            Some(token) => Some(self.resumable(token)?),
            None => None,
        };
        if resume.is_none() && lock(&self.table).is_full() {
            return Err(full());
        }
        // A resumed session keeps its view; a new one watches the view it names (a
        // controller's offer opens it), or main.
        let view_name = match (&resume, &offer.view) {
            (Some(r), _) => r.view.clone(),
            (None, Some(name)) => name.clone(),
            (None, None) => crate::view::registry::MAIN.to_owned(),
        };
        let may_create = offer.role == Role::Controller;
        let view_error = |e: OpenError| match e {
            OpenError::NotFound(_) => OfferError::NotFound(e.to_string()),
            OpenError::Full(_) => OfferError::Unavailable(e.to_string()),
            OpenError::BadName(_) => OfferError::BadOffer(e.to_string()),
            OpenError::Start(_) => OfferError::Internal(e.to_string()),
        };
        // Refused views are refused before any work; a new view is opened only once
        // the offer has been answered, so a bad offer opens nothing.
        self.views
            .check(&view_name, may_create)
            .map_err(view_error)?;
        let seed = self.views.link_seed(&view_name);
        let (new_id, answer_sdp, session) =
            peer::answer(&self.media_addrs, offer.sdp, seed).await?;
        let opened = {
            let (views, name) = (self.views.clone(), view_name.clone());
            tokio::task::spawn_blocking(move || views.open(&name, may_create)).await
        };
        let view = match opened {
            Ok(Ok(view)) => view,
            Ok(Err(e)) => {
                let _ = session.pc.close().await;
                return Err(view_error(e));
            }
            Err(e) => {
                let _ = session.pc.close().await;
                return Err(OfferError::Internal(format!(
                    "opening the view failed: {e}"
                )));
            }
        };
        let (end_tx, end) = watch::channel(false);
        // Under the lock, since offers are answered concurrently: a new session needs
        // room; a resumed one must still be there, and its old connection (if any) ends.
        let admitted = {
            let mut table = lock(&self.table);
            match &resume {
                Some(r) => table.resume(&r.id, offer.role, offer.token, end_tx, Instant::now()),
                None => table.admit(
                    new_id,
                    offer.role,
                    &view_name,
                    offer.token,
                    end_tx,
                    Instant::now(),
                ),
            }
        };
        let Some(table::Admitted {
            id,
            role,
            resume_token,
            client,
            generation,
        }) = admitted
        else {
            let _ = session.pc.close().await;
            return Err(match resume {
                Some(_) => {
                    OfferError::NotFound("the session closed before it could be resumed".into())
                }
                None => full(),
            });
        };
        if resume.is_some() {
            tracing::info!(session = %id.0, view = %view_name, %role, generation, "session resumed");
        } else {
            tracing::info!(session = %id.0, view = %view_name, %role, "session created");
        }
        let store = self.store.clone();
        let shutdown = self.shutdown.clone();
        let limits = self.limits;
        let (limiter, credential) = (self.limiter.clone(), offer.credential);
        let this_id = id.clone();
        let tracker = Tracker {
            table: Arc::downgrade(&self.table),
            id: id.clone(),
            generation,
        };
        {
            let mut tasks = lock(&self.tasks);
            // Reap finished sessions so the set holds only live ones.
            while tasks.try_join_next().is_some() {}
            tasks.spawn(async move {
                let control = ControlSettings {
                    role,
                    client,
                    view: view_name,
                    limiter,
                    credential,
                    resume_token,
                    resume_grace: limits.resume_grace,
                };
                let by_server = run_session(
                    &this_id,
                    session,
                    control,
                    &tracker,
                    view,
                    store,
                    end,
                    shutdown.clone(),
                )
                .await;
                if by_server {
                    tracing::info!(session = %this_id.0, "connection ended by the server");
                } else {
                    tracker.hold_for_resume(shutdown).await;
                }
            });
        }
        Ok(Answer {
            session_id: id.0,
            sdp: answer_sdp,
        })
    }

    /// Ends a session for the token that created (or resumed) it, or a controller's.
    /// Without tokens every caller is a controller: the session id itself, which only
    /// its client is told, is what guards it.
    async fn delete(&self, session_id: &str, caller: Caller) -> Result<(), DeleteError> {
        let deleted = lock(&self.table).delete(&SessionId(session_id.to_owned()), &caller);
        if let Err(DeleteError::Forbidden(_)) = &deleted {
            tracing::info!(session = %session_id, "DELETE refused: another viewer token");
        }
        deleted
    }
}

/// What a session's control channels are allowed, and announce.
#[derive(Clone)]
struct ControlSettings {
    role: Role,
    /// The session's public id (see [`public_client_id`]).
    client: String,
    view: String,
    /// The allowances the channels' edits and picks spend: the offer's credential's.
    limiter: Arc<Limiter>,
    credential: Credential,
    resume_token: String,
    /// How long the connection may stay lost before it is given up.
    resume_grace: Duration,
}

/// Resolves once the peer connection has been lost (disconnected or failed) for
/// `grace` without coming back: then the connection is given up, though the session
/// may still be resumed by a new one.
async fn lost_for(mut state: watch::Receiver<RTCPeerConnectionState>, grace: Duration) {
    let lost =
        |s: &RTCPeerConnectionState| SessionState::of_peer(*s) == Some(SessionState::Pending);
    loop {
        if state.wait_for(lost).await.is_err() {
            return std::future::pending().await;
        }
        let back = async { state.wait_for(|s| !lost(s)).await.is_ok() };
        tokio::select! {
            _ = tokio::time::sleep(grace) => return,
            ok = back => {
                if !ok {
                    return std::future::pending().await;
                }
            }
        }
    }
}

/// Runs one connection of a session until it ends; returns whether the server ended
/// it (shutdown, `DELETE`, or a resume that replaced it) rather than the connection
/// dropping by itself.
#[allow(clippy::too_many_arguments)]
async fn run_session(
    id: &SessionId,
    session: Session,
    control: ControlSettings,
    tracker: &Tracker,
    view: Arc<View>,
    store: Arc<SceneStore>,
    end: watch::Receiver<bool>,
    shutdown: watch::Receiver<bool>,
) -> bool {
    // Read at the end, to say why the session ended; clones wait on them meanwhile.
    let (mut end_wait, mut shutdown_wait) = (end.clone(), shutdown.clone());
    let Session {
        pc,
        track,
        link,
        payload_type,
        mut state,
        mut channels,
    } = session;
    let lost = lost_for(state.clone(), control.resume_grace);
    let ended = async {
        tokio::select! {
            _ = end_wait.wait_for(|e| *e) => {},
            _ = shutdown_wait.wait_for(|s| *s) => {},
            _ = lost => {},
        }
    };
    tokio::pin!(ended);

    // Keyframe requests from the viewer's decoder.
    let rtcp = {
        let track = track.clone();
        let view = view.clone();
        tokio::spawn(async move {
            while let Some(event) = track.poll().await {
                if let TrackLocalEvent::OnRtcpPacket(packets) = event {
                    if keyframe::asks_for_keyframe(&packets) {
                        view.request_keyframe();
                    }
                }
            }
        })
    };
    // The session's state follows its peer connection's.
    let states = {
        let mut state = state.clone();
        let tracker = tracker.clone();
        tokio::spawn(async move {
            loop {
                let peer = *state.borrow_and_update();
                if let Some(s) = SessionState::of_peer(peer) {
                    tracker.set(s);
                }
                if state.changed().await.is_err() {
                    break;
                }
            }
        })
    };
    // Which revision the viewer's picture shows, for its control channels.
    let (notes_tx, notes) = watch::channel(None::<FrameNote>);
    // Set when the server ends the session, so that its channels say why.
    let (closing_tx, closing) = watch::channel(None::<CloseReason>);
    // Control channels the viewer opens, each a task the session waits for.
    let mut control = {
        let view = view.clone();
        let id = id.clone();
        let mut stop = closing.clone();
        tokio::spawn(async move {
            let mut channel_tasks = tokio::task::JoinSet::new();
            loop {
                tokio::select! {
                    channel = channels.recv() => {
                        let Some(channel) = channel else { break };
                        let connection = Connection::new(
                            id.0.clone(),
                            control.client.clone(),
                            control.role,
                            control.view.clone(),
                            view.clone(),
                            store.clone(),
                        )
                        .limited_by(control.limiter.clone(), control.credential)
                        .with_resume_token(control.resume_token.clone())
                        .over_data_channel();
                        channel_tasks.spawn(crate::control::pump::run_data_channel(connection, channel, notes.clone(), closing.clone()));
                    }
                    _ = stop.wait_for(Option::is_some) => break,
                }
            }
            while channel_tasks.join_next().await.is_some() {}
        })
    };

    let connected = async {
        let r = state
            .wait_for(|s| {
                matches!(
                    s,
                    RTCPeerConnectionState::Connected
                        | RTCPeerConnectionState::Failed
                        | RTCPeerConnectionState::Closed
                )
            })
            .await;
        matches!(r.as_deref(), Ok(RTCPeerConnectionState::Connected))
    };
    let ok = tokio::select! {
        c = tokio::time::timeout(CONNECT_TIMEOUT, connected) => matches!(c, Ok(true)),
        _ = &mut ended => false,
    };
    if ok {
        tracing::info!(session = %id.0, "connected");
        // The encoder follows this viewer's link while it streams.
        let _link = view.add_link(link);
        media::stream(
            id,
            &track,
            payload_type,
            &view,
            &notes_tx,
            &mut state,
            &mut ended,
        )
        .await;
    } else {
        tracing::info!(session = %id.0, "never connected");
    }
    rtcp.abort();
    states.abort();
    // Ended by the server (not by the connection failing): tell the channels why,
    // and give them a moment to say so before the connection closes.
    let reason = if *shutdown.borrow() {
        Some(CloseReason::Shutdown)
    } else if *end.borrow() {
        Some(CloseReason::Ended)
    } else {
        None
    };
    match reason {
        Some(reason) => {
            let _ = closing_tx.send(Some(reason));
            if tokio::time::timeout(CLOSING_NOTICE, &mut control)
                .await
                .is_err()
            {
                control.abort();
            }
        }
        // The connection itself failed: nobody is left to tell.
        None => control.abort(),
    }
    let _ = pc.close().await;
    reason.is_some()
}

/// How long a session ended by the server waits for its control channels to send
/// `closing` before the connection closes.
const CLOSING_NOTICE: Duration = Duration::from_millis(500);

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_lost_connection_is_given_up_after_the_grace_unless_it_comes_back() {
        let (tx, rx) = watch::channel(RTCPeerConnectionState::Connected);
        let grace = Duration::from_secs(10);
        let mut lost = Box::pin(lost_for(rx, grace));
        // Whether `lost` has resolved, polling it (first) alongside one yield.
        async fn done(
            lost: &mut std::pin::Pin<Box<impl std::future::Future<Output = ()>>>,
        ) -> bool {
            tokio::select! {
                biased;
                _ = lost.as_mut() => true,
                _ = tokio::task::yield_now() => false,
            }
        }
        assert!(!done(&mut lost).await);
        tx.send(RTCPeerConnectionState::Disconnected).unwrap();
        assert!(!done(&mut lost).await);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(!done(&mut lost).await);
        // Back before the grace ran out: the clock starts again at the next loss.
        tx.send(RTCPeerConnectionState::Connected).unwrap();
        assert!(!done(&mut lost).await);
        tx.send(RTCPeerConnectionState::Failed).unwrap();
        assert!(!done(&mut lost).await);
        tokio::time::sleep(Duration::from_secs(6)).await;
        assert!(!done(&mut lost).await, "given up 6 s into the second loss");
        tokio::time::sleep(Duration::from_secs(5)).await;
        assert!(done(&mut lost).await);
    }
}
