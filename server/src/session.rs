//! Viewer sessions: one WebRTC peer connection per viewer, created from a WHEP offer.
//!
//! [`Sessions`] implements the signaling crate's [`WhepHandler`]: an offer becomes a
//! peer connection with one H.264 track fed from the view's shared encoder, and, if
//! the offer carries one, the `control` data channel speaking [`crate::protocol`].
//! A session lives until the viewer deletes it, its transport fails or closes, or
//! the server shuts down; a failing session is logged and dropped, never the server.

use crate::control::Connection;
use crate::keyframe::{self, KeyframeRequestForwarder};
use crate::nack::{self, NackLimiter};
use crate::protocol::{CloseReason, Revision, Role, ServerMessage};
use crate::ratelimit::Limiter;
use crate::store::SceneStore;
use crate::view::View;
use crate::views::{self, LinkSeed, OpenError, Views};
use rtc::interceptor::{
    BandwidthEstimator, CongestionControlBuilder, EstimatorStats, Gcc, PacerBuilder, PacketReport,
    Registry, Slot, TwccSenderBuilder,
};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_H264};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp::packetizer::Packetizer;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use signaling::sdp::{has_active_video, NEEDS_H264};
use signaling::{Answer, Caller, Credential, DeleteError, Offer, OfferError, TokenId, WhepHandler};
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::{TrackLocal, TrackLocalEvent};
use webrtc::media_stream::Track;
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState,
};
use webrtc::rtp_transceiver::RtpSender;

/// The H.264 flavour every browser decodes: constrained baseline, level 3.1,
/// fragmentation units allowed.
const H264_FMTP: &str = "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f";
const H264_PAYLOAD_TYPE: u8 = 102;

/// How long ICE gathering may take before the answer is sent with what there is.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);
/// How long a new session may take to connect before it is dropped.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// RTP packets carry at most this much (the size webrtc-rs uses for its own tracks),
/// which keeps them under any path's MTU after SRTP and UDP headers.
const RTP_MTU: usize = 1200;
const VIDEO_CLOCK_RATE: u32 = 90_000;

/// The pacer releases packets this much faster than the estimate, so that a frame
/// above the average size (a keyframe) is not held back for long, while the average
/// rate, which the encoder sets from the estimate, stays within it.
const PACING_FACTOR: f64 = 2.5;

/// A viewer's link estimate: the delay-based half of Google Congestion Control (fed
/// every report as it comes, since it times arrivals) and a loss-based half of our own
/// that follows GCC's rules (climb below 2% loss, back off in proportion above 10%,
/// hold between) but judges loss over at least [`LOSS_WINDOW_PACKETS`] packets: GCC's
/// own loss half judges each feedback batch, and at a low packet rate one random loss
/// among three packets reads as 33%, a collapse. The estimate is published for the
/// view's encoder (see [`View::add_link`]); the chain's pacer is given the estimate
/// times [`PACING_FACTOR`].
struct LinkEstimator {
    gcc: Gcc,
    published: Arc<AtomicU64>,
    loss: LossHalf,
}

/// Packets (or time) over which loss is judged.
const LOSS_WINDOW_PACKETS: u32 = 50;
const LOSS_WINDOW_TIME: Duration = Duration::from_secs(1);

struct LossHalf {
    target: f64,
    min: f64,
    max: f64,
    lost: u32,
    total: u32,
    /// When the current window began, and when the target was last judged.
    since: Option<Instant>,
    judged: Option<Instant>,
}

impl LossHalf {
    fn new(initial: f64, min: f64, max: f64) -> LossHalf {
        LossHalf {
            target: initial.clamp(min, max),
            min,
            max,
            lost: 0,
            total: 0,
            since: None,
            judged: None,
        }
    }

    fn update(&mut self, now: Instant, reports: &[PacketReport]) {
        self.total += reports.len() as u32;
        self.lost += reports.iter().filter(|r| !r.arrived).count() as u32;
        let since = *self.since.get_or_insert(now);
        let elapsed = now.saturating_duration_since(since);
        if self.total < LOSS_WINDOW_PACKETS && elapsed < LOSS_WINDOW_TIME {
            return;
        }
        let fraction = self.lost as f64 / self.total.max(1) as f64;
        let interval = self.judged.map_or(Duration::from_millis(200), |at| {
            now.saturating_duration_since(at)
        });
        self.judged = Some(now);
        if fraction < 0.02 {
            // 5% per 200 ms, GCC's pace, for the time since the last judgement.
            let growth = 1.05f64.powf(interval.as_secs_f64().min(1.0) / 0.2);
            self.target = (self.target * growth).clamp(self.min, self.max);
        } else if fraction > 0.10 {
            self.target = (self.target * (1.0 - 0.5 * fraction)).clamp(self.min, self.max);
        }
        (self.lost, self.total, self.since) = (0, 0, None);
    }
}

impl LinkEstimator {
    fn new(initial: f64, min: f64, max: f64, published: Arc<AtomicU64>) -> LinkEstimator {
        let estimator = LinkEstimator {
            gcc: Gcc::new(initial, min, max),
            published,
            loss: LossHalf::new(initial, min, max),
        };
        estimator.publish();
        estimator
    }

    fn estimate(&self) -> f64 {
        self.gcc.delay_based_bitrate().min(self.loss.target)
    }

    fn publish(&self) {
        self.published
            .store(self.estimate().to_bits(), Ordering::Relaxed);
    }
}

impl BandwidthEstimator for LinkEstimator {
    fn on_reports(&mut self, now: Instant, reports: &[PacketReport]) {
        self.gcc.on_reports(now, reports);
        self.loss.update(now, reports);
        self.publish();
    }
    fn target_bitrate(&self) -> f64 {
        self.estimate() * PACING_FACTOR
    }
    fn handle_timeout(&mut self, now: Instant) {
        self.gcc.handle_timeout(now);
        self.publish();
    }
    fn poll_timeout(&self) -> Option<Instant> {
        self.gcc.poll_timeout()
    }
    fn stats(&self) -> EstimatorStats {
        let mut stats = self.gcc.stats();
        stats.loss_based_bitrate = Some(self.loss.target);
        stats
    }
}

/// Send-side congestion control on a viewer's connection: transport-wide sequence
/// numbers on every packet, the viewer's feedback into [`LinkEstimator`], and a pacer.
/// The same parts as webrtc-rs's `configure_congestion_control`, but with the pacer
/// starting at the initial estimate rather than its 1 Mbit/s default, so the first
/// keyframe is not held back before the first feedback arrives.
fn congestion_control(
    registry: Registry,
    media: &mut MediaEngine,
    estimator: LinkEstimator,
) -> Result<Registry, webrtc::error::Error> {
    media.register_feedback(
        RTCPFeedback {
            typ: "transport-cc".to_owned(),
            parameter: String::new(),
        },
        RtpCodecKind::Video,
    );
    media.register_header_extension(
        RTCRtpHeaderExtensionCapability {
            uri: rtc::sdp::extmap::TRANSPORT_CC_URI.to_owned(),
        },
        RtpCodecKind::Video,
        None,
    )?;
    let pacing = estimator.target_bitrate();
    Ok(registry
        .with(
            Slot::CongestionControl,
            CongestionControlBuilder::new(estimator).build(),
        )
        .with(
            Slot::Pacer,
            PacerBuilder::new().with_target_bitrate(pacing).build(),
        )
        .with(Slot::TwccSender, TwccSenderBuilder::new().build()))
}

/// A session's identifier: random, URL-safe, unguessable. It is a secret of the
/// session's client (the last part of `Location`, told again in its own `hello`), and
/// what `DELETE /whep/<session>` takes: it is never sent to other clients, who know a
/// session only by its [`public_client_id`].
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct SessionId(pub String);

impl SessionId {
    fn random() -> SessionId {
        SessionId(rtc::shared::util::math_rand_alpha_number(24))
    }
}

/// A new public name for a client (`prefix` and random characters), the `client` of
/// the `changed` messages its edits cause and of its `hello`. Drawn apart from the
/// session id and the resume token, so knowing it gives no hold on the session:
/// nothing the server offers takes it.
pub fn public_client_id(prefix: &str) -> String {
    format!("{prefix}-{}", rtc::shared::util::math_rand_alpha_number(12))
}

/// Where a session is in its life (`closed` sessions are gone from the table).
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SessionState {
    /// Offer answered; the connection is being established.
    Connecting,
    /// Media flows.
    Connected,
    /// The connection dropped unexpectedly: the session is kept for the grace period,
    /// for its client to resume it with its resume token.
    Pending,
}

impl SessionState {
    pub const ALL: [SessionState; 3] = [
        SessionState::Connecting,
        SessionState::Connected,
        SessionState::Pending,
    ];

    pub fn name(self) -> &'static str {
        match self {
            SessionState::Connecting => "connecting",
            SessionState::Connected => "connected",
            SessionState::Pending => "pending",
        }
    }

    /// The session's state while its peer connection is in `peer` (`None`: the
    /// connection is closed; the session's task decides what follows).
    pub fn of_peer(peer: RTCPeerConnectionState) -> Option<SessionState> {
        use RTCPeerConnectionState as P;
        match peer {
            P::Connected => Some(SessionState::Connected),
            P::Disconnected | P::Failed => Some(SessionState::Pending),
            P::Closed => None,
            _ => Some(SessionState::Connecting),
        }
    }
}

/// One row of `GET /api/sessions`.
#[derive(Clone, Debug, serde::Serialize)]
pub struct SessionInfo {
    pub session: String,
    /// The public id other clients know it by (`changed` messages' `client`).
    pub client: String,
    pub state: SessionState,
    pub role: Role,
    pub view: String,
    /// Seconds since the session entered its state.
    pub seconds_in_state: f64,
}

struct Entry {
    /// Ends the session's current connection.
    end: watch::Sender<bool>,
    role: Role,
    /// The view the session watches.
    view: String,
    resume_token: String,
    /// The session's public id, the same across resumes.
    client: String,
    /// The tokens that created or resumed the session: each may end it (as may any
    /// controller token). Empty without tokens.
    owners: Vec<TokenId>,
    state: SessionState,
    since: Instant,
    /// Which connection of the session is current: each resume starts a new one.
    generation: u64,
}

type Entries = Arc<Mutex<HashMap<SessionId, Entry>>>;

/// A connection's handle on its session's entry: it changes the entry only while it
/// is the session's current connection.
#[derive(Clone)]
struct Tracker {
    entries: std::sync::Weak<Mutex<HashMap<SessionId, Entry>>>,
    id: SessionId,
    generation: u64,
}

impl Tracker {
    /// Runs `f` on the entry if it still exists and this is its current connection.
    fn with<R>(&self, f: impl FnOnce(&mut Entry) -> R) -> Option<R> {
        let entries = self.entries.upgrade()?;
        let mut entries = lock(&entries);
        let entry = entries.get_mut(&self.id)?;
        (entry.generation == self.generation).then(|| f(entry))
    }

    fn set(&self, state: SessionState) {
        self.with(|e| {
            if e.state != state {
                tracing::info!(session = %self.id.0, from = e.state.name(), to = state.name(), "session state");
                e.state = state;
                e.since = Instant::now();
            }
        });
    }

    /// After the connection ended by itself: keeps the session pending for `grace`,
    /// then closes it unless a resume took it over (or it was deleted) meanwhile.
    async fn hold_for_resume(&self, grace: Duration, mut shutdown: watch::Receiver<bool>) {
        self.set(SessionState::Pending);
        let Some(since) = self.with(|e| e.since) else {
            return;
        };
        tokio::select! {
            _ = tokio::time::sleep_until((since + grace).into()) => {}
            _ = shutdown.wait_for(|s| *s) => {}
        }
        let expired = self
            .with(|e| e.state == SessionState::Pending)
            .unwrap_or(false);
        if expired {
            if let Some(entries) = self.entries.upgrade() {
                lock(&entries).remove(&self.id);
            }
            tracing::info!(session = %self.id.0, "session closed: not resumed within {grace:?}");
        }
    }
}

/// The lesser of two roles: a resumed session keeps its role unless the resuming
/// request's token is only a viewer's.
fn lesser(a: Role, b: Role) -> Role {
    if a == Role::Viewer || b == Role::Viewer {
        Role::Viewer
    } else {
        Role::Controller
    }
}

/// Every live session of the server.
/// What a server admits, per session and in all.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Sessions at once; an offer beyond it is answered 503.
    pub max_sessions: usize,
    /// How long a session whose connection dropped waits to be resumed.
    pub resume_grace: Duration,
}

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
    entries: Entries,
    /// Every session task, so that shutdown can wait for them.
    tasks: Mutex<tokio::task::JoinSet<()>>,
    shutdown: watch::Receiver<bool>,
}

fn codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: H264_FMTP.to_owned(),
        rtcp_feedback: vec![],
    }
}

/// The one video codec the server sends, for registering in a media engine (the
/// server's own, or a client's that wants the same stream).
pub fn h264_codec_parameters() -> RTCRtpCodecParameters {
    RTCRtpCodecParameters {
        rtp_codec: codec(),
        payload_type: H264_PAYLOAD_TYPE,
    }
}

/// Peer connection events, forwarded to the session's task.
struct PeerEvents {
    gathered: mpsc::Sender<()>,
    state: watch::Sender<RTCPeerConnectionState>,
    channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for PeerEvents {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }
    async fn on_data_channel(&self, channel: Arc<dyn DataChannel>) {
        let _ = self.channels.send(channel);
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
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
            entries: Arc::new(Mutex::new(HashMap::new())),
            tasks: Mutex::new(tokio::task::JoinSet::new()),
            shutdown,
        }
    }

    /// Sessions open (in any state).
    pub fn count(&self) -> usize {
        lock(&self.entries).len()
    }

    /// Sessions in each state.
    pub fn count_by_state(&self) -> Vec<(SessionState, usize)> {
        let entries = lock(&self.entries);
        SessionState::ALL
            .iter()
            .map(|&s| (s, entries.values().filter(|e| e.state == s).count()))
            .collect()
    }

    /// Every session, for `GET /api/sessions` (never their resume tokens).
    pub fn list(&self) -> Vec<SessionInfo> {
        let now = Instant::now();
        let mut list: Vec<SessionInfo> = lock(&self.entries)
            .iter()
            .map(|(id, e)| SessionInfo {
                session: id.0.clone(),
                client: e.client.clone(),
                state: e.state,
                role: e.role,
                view: e.view.clone(),
                seconds_in_state: now.saturating_duration_since(e.since).as_secs_f64(),
            })
            .collect();
        list.sort_by(|a, b| a.session.cmp(&b.session));
        list
    }

    /// The session whose resume token is `token`, and its role.
    fn resumable(&self, token: &str) -> Result<(SessionId, Role, String), OfferError> {
        let entries = lock(&self.entries);
        let mut found = None;
        // Every token is compared, each in constant time: timing tells nothing.
        for (id, e) in entries.iter() {
            if signaling::access::constant_time_eq(e.resume_token.as_bytes(), token.as_bytes()) {
                found = Some((id.clone(), e.role, e.view.clone()));
            }
        }
        found.ok_or_else(|| {
            OfferError::NotFound(format!(
                "no session to resume with this token: it was never issued, or the session closed \
                 (a dropped session waits {} s to be resumed)",
                self.limits.resume_grace.as_secs()
            ))
        })
    }

    /// Ends every session (on server shutdown).
    /// Ends every session and waits, at most `limit`, for their tasks to close their
    /// peer connections.
    pub async fn shutdown(&self, limit: Duration) {
        // Connections end on the shutdown signal itself; pending sessions close now.
        lock(&self.entries).clear();
        let mut tasks = std::mem::take(&mut *lock(&self.tasks));
        if tokio::time::timeout(limit, async { while tasks.join_next().await.is_some() {} })
            .await
            .is_err()
        {
            tracing::warn!("{} sessions did not close in time", tasks.len());
            tasks.abort_all();
        }
    }

    async fn build_peer(
        &self,
        events: PeerEvents,
        link: Arc<AtomicU64>,
        seed: LinkSeed,
    ) -> Result<
        (
            Arc<dyn PeerConnection>,
            Arc<TrackLocalStaticRTP>,
            Arc<dyn RtpSender>,
        ),
        webrtc::error::Error,
    > {
        let mut media = MediaEngine::default();
        media.register_codec(h264_codec_parameters(), RtpCodecKind::Video)?;
        let estimator = LinkEstimator::new(seed.start, seed.min, seed.max, link);
        let registry = congestion_control(Registry::new(), &mut media, estimator)?;
        let registry = register_default_interceptors(registry, &mut media)?
            .with(
                Slot::from(keyframe::SLOT),
                KeyframeRequestForwarder::default(),
            )
            .with(Slot::from(nack::SLOT), NackLimiter::default());
        let runtime =
            webrtc::runtime::default_runtime().ok_or(webrtc::error::Error::ErrConnectionClosed)?;
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_configuration(RTCConfigurationBuilder::new().build())
                .with_media_engine(media)
                .with_interceptor_registry(registry)
                .with_handler(Arc::new(events) as Arc<dyn PeerConnectionEventHandler>)
                .with_runtime(runtime)
                .with_udp_addrs(self.media_addrs.clone())
                .build()
                .await?,
        );
        let ssrc: u32 = rand::random();
        let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
            "streamtracer".to_owned(),
            "video".to_owned(),
            "streamtracer video".to_owned(),
            RtpCodecKind::Video,
            vec![RTCRtpEncodingParameters {
                rtp_coding_parameters: RTCRtpCodingParameters {
                    ssrc: Some(ssrc),
                    ..Default::default()
                },
                codec: codec(),
                ..Default::default()
            }],
        )));
        let sender = pc.add_track(track.clone() as Arc<dyn TrackLocal>).await?;
        Ok((pc, track, sender))
    }

    async fn answer(
        &self,
        sdp: String,
        seed: LinkSeed,
    ) -> Result<(SessionId, String, Session), OfferError> {
        let offer = RTCSessionDescription::offer(sdp.clone())
            .map_err(|e| OfferError::BadOffer(format!("malformed SDP offer: {e}")))?;
        signaling::sdp::check_offer(&sdp)?;
        let (gathered_tx, mut gathered) = mpsc::channel(1);
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let (channels_tx, channels) = mpsc::unbounded_channel();
        let events = PeerEvents {
            gathered: gathered_tx,
            state: state_tx,
            channels: channels_tx,
        };
        let link = Arc::new(AtomicU64::new(0));
        let (pc, track, sender) =
            self.build_peer(events, link.clone(), seed)
                .await
                .map_err(|e| {
                    OfferError::Internal(format!("could not create a peer connection: {e}"))
                })?;
        let fail = |pc: Arc<dyn PeerConnection>, e: OfferError| async move {
            let _ = pc.close().await;
            Err(e)
        };
        if let Err(e) = pc.set_remote_description(offer).await {
            return fail(
                pc,
                OfferError::BadOffer(format!("the offer cannot be used: {e}")),
            )
            .await;
        }
        let answer = match pc.create_answer(None).await {
            Ok(a) => a,
            Err(e) => {
                return fail(
                    pc,
                    OfferError::BadOffer(format!(
                        "no answer is possible for this offer ({NEEDS_H264}): {e}"
                    )),
                )
                .await
            }
        };
        if let Err(e) = pc.set_local_description(answer).await {
            return fail(
                pc,
                OfferError::Internal(format!("could not apply the answer: {e}")),
            )
            .await;
        }
        // Non-trickle: the answer must carry every candidate.
        if tokio::time::timeout(GATHER_TIMEOUT, gathered.recv())
            .await
            .is_err()
        {
            tracing::warn!("ICE gathering did not complete in {GATHER_TIMEOUT:?}; answering with the candidates so far");
        }
        let Some(local) = pc.local_description().await else {
            return fail(
                pc,
                OfferError::Internal("no local description after answering".into()),
            )
            .await;
        };
        let payload_type = match sender
            .get_parameters()
            .await
            .map(|p| p.rtp_parameters.codecs.first().map(|c| c.payload_type))
        {
            Ok(Some(pt)) if has_active_video(&local.sdp) => pt,
            _ => {
                return fail(
                    pc,
                    OfferError::BadOffer(format!(
                        "the offer has no usable H.264 codec: {NEEDS_H264}"
                    )),
                )
                .await
            }
        };
        let id = SessionId::random();
        Ok((
            id,
            local.sdp,
            Session {
                pc,
                track,
                link,
                payload_type,
                state,
                channels,
            },
        ))
    }
}

/// The parts of one viewer's session that its task drives.
struct Session {
    pc: Arc<dyn PeerConnection>,
    track: Arc<TrackLocalStaticRTP>,
    /// The viewer's link estimate, from its congestion controller.
    link: Arc<AtomicU64>,
    payload_type: u8,
    state: watch::Receiver<RTCPeerConnectionState>,
    channels: mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
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
        if resume.is_none() && self.count() >= self.limits.max_sessions {
            return Err(full());
        }
        // A resumed session keeps its view; a new one watches the view it names (a
        // controller's offer opens it), or main.
        let view_name = match (&resume, &offer.view) {
            (Some((_, _, name)), _) => name.clone(),
            (None, Some(name)) => name.clone(),
            (None, None) => views::MAIN.to_owned(),
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
        let (new_id, answer_sdp, session) = self.answer(offer.sdp, seed).await?;
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
            let mut entries = lock(&self.entries);
            match &resume {
                Some((id, role, _)) => entries.get_mut(id).map(|e| {
                    e.generation += 1;
                    let _ = std::mem::replace(&mut e.end, end_tx).send(true);
                    e.role = lesser(*role, offer.role);
                    e.state = SessionState::Connecting;
                    e.since = Instant::now();
                    if let Some(t) = offer.token.filter(|t| !e.owners.contains(t)) {
                        e.owners.push(t);
                    }
                    (
                        id.clone(),
                        e.role,
                        e.resume_token.clone(),
                        e.client.clone(),
                        e.generation,
                    )
                }),
                None => (entries.len() < self.limits.max_sessions).then(|| {
                    let token = rtc::shared::util::math_rand_alpha_number(32);
                    let client = public_client_id("c");
                    entries.insert(
                        new_id.clone(),
                        Entry {
                            end: end_tx,
                            role: offer.role,
                            view: view_name.clone(),
                            resume_token: token.clone(),
                            client: client.clone(),
                            owners: offer.token.into_iter().collect(),
                            state: SessionState::Connecting,
                            since: Instant::now(),
                            generation: 0,
                        },
                    );
                    (new_id.clone(), offer.role, token, client, 0)
                }),
            }
        };
        let Some((id, role, resume_token, client, generation)) = admitted else {
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
            entries: Arc::downgrade(&self.entries),
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
                    tracker.hold_for_resume(limits.resume_grace, shutdown).await;
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
        let id = SessionId(session_id.to_owned());
        let mut entries = lock(&self.entries);
        let Some(entry) = entries.get(&id) else {
            return Err(DeleteError::NotFound(session_id.to_owned()));
        };
        let allowed = caller.role == Role::Controller
            || caller.token.is_some_and(|t| entry.owners.contains(&t));
        if !allowed {
            tracing::info!(session = %session_id, "DELETE refused: another viewer token");
            return Err(DeleteError::Forbidden(
                "this session was created with another token: only that token or a controller \
                 token may end it; nothing was changed"
                    .into(),
            ));
        }
        if let Some(e) = entries.remove(&id) {
            let _ = e.end.send(true);
        }
        Ok(())
    }
}

/// The first frame of a new revision sent to a viewer, or of a denoised (or raw)
/// picture after frames of the other kind (see [`ServerMessage::Frame`]).
#[derive(Clone, Copy, Debug)]
struct FrameNote {
    revision: Revision,
    rtp_timestamp: u32,
    width: u32,
    height: u32,
    denoised: bool,
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
                        channel_tasks.spawn(run_control(connection, channel, notes.clone(), closing.clone()));
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
        stream(
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

/// Sends the view's encoded frames on the track until the session ends.
///
/// Each access unit is packetized here (fragmentation units, marker bit on its last
/// packet), with an RTP timestamp from the instant the encoder produced it: frames do
/// not leave at a fixed period (an edit's frame goes out early, a still picture only
/// now and then), and the receiver's jitter buffer reads timestamps as capture times.
async fn stream(
    id: &SessionId,
    track: &TrackLocalStaticRTP,
    payload_type: u8,
    view: &View,
    notes: &watch::Sender<Option<FrameNote>>,
    state: &mut watch::Receiver<RTCPeerConnectionState>,
    ended: &mut (impl std::future::Future<Output = ()> + Unpin),
) {
    let Some(&ssrc) = track.ssrcs().await.first() else {
        return;
    };
    let mut frames = view.subscribe();
    view.request_keyframe();
    let payloader = match codec().payloader() {
        Ok(p) => p,
        Err(e) => {
            tracing::error!(session = %id.0, "no H.264 payloader: {e}");
            return;
        }
    };
    let mut packetizer = rtc::rtp::packetizer::new_packetizer(
        Instant::now(),
        RTP_MTU,
        payload_type,
        ssrc,
        payloader,
        Box::new(rtc::rtp::sequence::new_random_sequencer()),
        VIDEO_CLOCK_RATE,
    );
    // The first frame sent, and the RTP ticks since it that were already issued.
    let mut first: Option<Instant> = None;
    let mut ticks: u64 = 0;
    // A decoder can only start at a keyframe; until one is sent, deltas are useless.
    let mut need_keyframe = true;
    let failed = |s: &RTCPeerConnectionState| {
        matches!(
            s,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed
        )
    };
    loop {
        let frame = tokio::select! {
            f = frames.recv() => f,
            _ = state.wait_for(failed) => {
                tracing::info!(session = %id.0, "transport closed");
                return;
            }
            _ = &mut *ended => return,
        };
        let frame = match frame {
            Ok(f) => f,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                tracing::debug!(session = %id.0, skipped = n, "viewer fell behind; waiting for a keyframe");
                need_keyframe = true;
                view.request_keyframe();
                continue;
            }
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
        };
        if need_keyframe && !frame.keyframe {
            continue;
        }
        need_keyframe = false;
        let start = *first.get_or_insert(frame.produced);
        let at = (frame
            .produced
            .saturating_duration_since(start)
            .as_secs_f64()
            * VIDEO_CLOCK_RATE as f64) as u64;
        // The packetizer stamps the current timestamp, then advances it by the samples
        // given; advancing first, by the ticks since the last frame, stamps `at`.
        packetizer.skip_samples(at.saturating_sub(ticks) as u32);
        ticks = ticks.max(at);
        let packets = match packetizer.packetize(Instant::now(), &frame.data, 0) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(session = %id.0, "could not packetize a frame: {e}");
                need_keyframe = true;
                view.request_keyframe();
                continue;
            }
        };
        let news = notes.borrow().is_none_or(|n| {
            frame.revision > n.revision
                || (frame.revision == n.revision && frame.denoised != n.denoised)
        });
        if news {
            if let Some(p) = packets.first() {
                notes.send_replace(Some(FrameNote {
                    revision: frame.revision,
                    rtp_timestamp: p.header.timestamp,
                    width: frame.width,
                    height: frame.height,
                    denoised: frame.denoised,
                }));
            }
        }
        for packet in packets {
            if let Err(e) = track.write_rtp_with_extensions(packet, &[]).await {
                tracing::debug!(session = %id.0, "write failed: {e}");
                break;
            }
        }
    }
}

/// Speaks the control protocol on one data channel.
async fn run_control(
    mut connection: Connection,
    channel: Arc<dyn DataChannel>,
    mut notes: watch::Receiver<Option<FrameNote>>,
    mut closing: watch::Receiver<Option<CloseReason>>,
) {
    let label = channel.label().await.unwrap_or_default();
    if label != "control" {
        tracing::debug!(session = %connection.session, %label, "ignoring data channel");
        return;
    }
    let mut view_events = connection.view().events();
    let mut store_events = connection.store().events();
    let send = |text: String| {
        let channel = channel.clone();
        async move {
            if let Err(e) = channel.send_text(&text).await {
                tracing::debug!("control send failed: {e}");
            }
        }
    };
    loop {
        tokio::select! {
            event = channel.poll() => match event {
                Some(DataChannelEvent::OnOpen) => send(connection.encode(&connection.hello())).await,
                Some(DataChannelEvent::OnMessage(msg)) => {
                    let reply = if msg.is_string {
                        connection.text_bytes(&msg.data).await
                    } else {
                        connection.binary(&msg.data).await
                    };
                    if let Some(reply) = reply {
                        send(connection.encode(&reply)).await;
                    }
                    // The reply is on its way: now the others may hear of its change.
                    connection.publish();
                }
                Some(DataChannelEvent::OnClose) | None => return,
                Some(_) => {}
            },
            event = store_events.recv() => match event {
                Ok(event) => {
                    if let Some(m) = connection.store_event(&event) {
                        send(connection.encode(&m)).await;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(n)) => {
                    send(connection.encode(&connection.missed_changes(n))).await;
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            event = view_events.recv() => match event {
                Ok(event) => {
                    if let Some(m) = connection.view_event(&event) {
                        send(connection.encode(&m)).await;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                    for m in connection.view_catch_up() {
                        send(connection.encode(&m)).await;
                    }
                }
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            },
            reason = async { closing.wait_for(Option::is_some).await.ok().and_then(|r| *r) } => {
                if let Some(reason) = reason {
                    send(ServerMessage::Closing { reason }.to_json()).await;
                    // Sending only queues it: wait until SCTP has delivered it, or the
                    // session stops waiting (CLOSING_NOTICE), before the connection closes.
                    while channel.outstanding_bytes().await.is_ok_and(|n| n > 0) {
                        tokio::time::sleep(Duration::from_millis(5)).await;
                    }
                }
                return;
            }
            changed = notes.changed() => {
                if changed.is_err() {
                    return;
                }
                let note = *notes.borrow_and_update();
                if let Some(n) = note {
                    send(ServerMessage::Frame {
                        revision: n.revision,
                        rtp_timestamp: Some(n.rtp_timestamp),
                        width: n.width,
                        height: n.height,
                        denoised: n.denoised,
                    }
                    .to_json())
                    .await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_states_follow_the_peer_connection() {
        use RTCPeerConnectionState as P;
        let expected = [
            (P::New, Some(SessionState::Connecting)),
            (P::Connecting, Some(SessionState::Connecting)),
            (P::Connected, Some(SessionState::Connected)),
            (P::Disconnected, Some(SessionState::Pending)),
            (P::Failed, Some(SessionState::Pending)),
            (P::Closed, None),
        ];
        for (peer, state) in expected {
            assert_eq!(SessionState::of_peer(peer), state, "{peer:?}");
        }
        assert_eq!(lesser(Role::Controller, Role::Viewer), Role::Viewer);
        assert_eq!(lesser(Role::Controller, Role::Controller), Role::Controller);
    }

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

    fn reports(count: usize, lost: usize, at: Instant) -> Vec<PacketReport> {
        (0..count)
            .map(|i| PacketReport {
                ssrc: 1,
                id: i as u64,
                rtp_sequence_number: i as u16,
                is_twcc: true,
                twcc_sequence_number: i as u16,
                size: 1200,
                arrived: i >= lost,
                departure: at,
                arrival: (i >= lost).then_some(Duration::from_millis(i as u64)),
                ecn: Default::default(),
            })
            .collect()
    }

    #[test]
    fn loss_is_judged_over_enough_packets_with_gccs_thresholds() {
        let t0 = Instant::now();
        let mut half = LossHalf::new(1e6, 1e5, 8e6);
        // One loss among three packets decides nothing yet.
        half.update(t0, &reports(3, 1, t0));
        assert_eq!(half.target, 1e6);
        // 2 of 100 lost (2%): hold.
        half.update(t0 + Duration::from_millis(200), &reports(97, 1, t0));
        assert_eq!(half.target, 1e6);
        // No loss: climb.
        half.update(t0 + Duration::from_millis(400), &reports(100, 0, t0));
        assert!(half.target > 1e6);
        // 30% lost: back off by 15%.
        let before = half.target;
        half.update(t0 + Duration::from_millis(600), &reports(100, 30, t0));
        assert!((half.target - before * 0.85).abs() < 1.0);
        // Within bounds, whatever happens.
        for k in 0..100 {
            half.update(t0 + Duration::from_millis(800 + k), &reports(100, 100, t0));
        }
        assert_eq!(half.target, 1e5);
    }
}
