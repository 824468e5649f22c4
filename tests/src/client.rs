//! A WHEP viewer for tests: a real WebRTC peer that decodes the video it receives.
//!
//! Length: About 1,050 lines: one viewer (peer, decoder thread, control channel, relay
//! option) whose parts share its connection; the tests need all of them together.

use crate::link::{Link, Relay, RelayStats};
use anyhow::{anyhow, bail, Context};
use bytes::Bytes;
use encoder::{DecodedFrame, H264Decoder};
use rtc::interceptor::Registry;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp::codec::h264::H264Packet;
use rtc::rtp::packetizer::Depacketizer;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;
use webrtc::data_channel::{DataChannel, DataChannelEvent};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler, RTCIceGatheringState,
    RTCPeerConnectionState,
};

/// A decoded picture and when it was decoded.
#[derive(Clone, Debug)]
pub struct Frame {
    pub picture: DecodedFrame,
    pub received: Instant,
    pub keyframe: bool,
    /// The RTP timestamp of its packets (90 kHz).
    pub rtp_timestamp: u32,
}

/// How a [`Viewer`] connects.
#[derive(Clone, Debug)]
pub struct ViewerOptions {
    /// Open the `control` data channel (a stock WHEP player does not).
    pub control: bool,
    /// Decode every access unit. Without decoding, access units are only counted
    /// (see [`Viewer::access_units`]), which keeps load tools light.
    pub decode: bool,
    /// Route every packet through a [`Relay`] that impairs it as this link does. Both
    /// SDPs are rewritten so that the client and the server only see the relay.
    pub link: Option<Link>,
    /// How long a hole in the RTP sequence numbers is waited on for a retransmission
    /// (NACK) before its packets are given up. `None`: 200 ms plus the link's round-trip
    /// delay.
    pub reorder_patience: Option<Duration>,
    /// The bearer token sent with `POST /whep` and `DELETE`.
    pub token: Option<String>,
    /// Resume the session of this resume token (`POST /whep?resume=...`).
    pub resume: Option<String>,
    /// Watch this view (`POST /whep?view=...`) instead of main.
    pub view: Option<String>,
}

impl Default for ViewerOptions {
    fn default() -> Self {
        ViewerOptions {
            control: true,
            decode: true,
            link: None,
            reorder_patience: None,
            token: None,
            resume: None,
            view: None,
        }
    }
}

/// `request` with `token` as its bearer token, if any.
fn authorized(request: reqwest::RequestBuilder, token: Option<&str>) -> reqwest::RequestBuilder {
    match token {
        Some(t) => request.bearer_auth(t),
        None => request,
    }
}

impl ViewerOptions {
    /// The default options with `token` as the bearer token (none: no token).
    pub fn with_token(token: Option<&str>) -> Self {
        ViewerOptions {
            token: token.map(str::to_owned),
            ..ViewerOptions::default()
        }
    }

    /// The default options, watching view `name` instead of main.
    pub fn on_view(name: &str) -> Self {
        ViewerOptions {
            view: Some(name.into()),
            ..ViewerOptions::default()
        }
    }

    /// The default options, every packet through a relay impairing it as `link` does.
    pub fn through(link: Link) -> Self {
        ViewerOptions {
            link: Some(link),
            ..ViewerOptions::default()
        }
    }

    /// The default options, resuming the session of `resume_token`.
    pub fn resuming(resume_token: impl Into<String>) -> Self {
        ViewerOptions {
            resume: Some(resume_token.into()),
            ..ViewerOptions::default()
        }
    }

    fn patience(&self) -> Duration {
        self.reorder_patience.unwrap_or_else(|| {
            let round_trip = self
                .link
                .map_or(Duration::ZERO, |l| l.down.delay + l.up.delay);
            Duration::from_millis(200) + round_trip
        })
    }
}

/// What the viewer's receive path counted.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ReceiveStats {
    /// Access units received whole and passed on (decoded, or only counted).
    pub access_units_complete: u64,
    /// Access units dropped: incomplete, or a delta frame while waiting for a keyframe.
    pub access_units_dropped: u64,
    /// Picture Loss Indications sent after giving up on lost packets.
    pub plis_sent: u64,
    /// Packets that filled a hole in the sequence numbers (retransmissions).
    pub packets_recovered: u64,
    /// Packets given up on after waiting for them.
    pub packets_lost: u64,
    /// Packets that came after they were given up on, or twice.
    pub packets_late: u64,
}

#[derive(Default)]
struct ReceiveCounters {
    access_units_complete: AtomicU64,
    access_units_dropped: AtomicU64,
    plis_sent: AtomicU64,
    packets_recovered: AtomicU64,
    packets_lost: AtomicU64,
    packets_late: AtomicU64,
}

impl ReceiveCounters {
    fn snapshot(&self) -> ReceiveStats {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        ReceiveStats {
            access_units_complete: get(&self.access_units_complete),
            access_units_dropped: get(&self.access_units_dropped),
            plis_sent: get(&self.plis_sent),
            packets_recovered: get(&self.packets_recovered),
            packets_lost: get(&self.packets_lost),
            packets_late: get(&self.packets_late),
        }
    }
}

fn bump(counter: &AtomicU64, by: u64) {
    counter.fetch_add(by, Ordering::Relaxed);
}

struct Events {
    gathered: mpsc::Sender<()>,
    state: mpsc::UnboundedSender<RTCPeerConnectionState>,
    frames: mpsc::UnboundedSender<Frame>,
    track: Arc<Mutex<Option<Arc<dyn TrackRemote>>>>,
    decode: bool,
    patience: Duration,
    counters: Arc<ReceiveCounters>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Events {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            let _ = self.gathered.try_send(());
        }
    }
    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        let _ = self.state.send(state);
    }
    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        *self.track.lock().unwrap_or_else(|e| e.into_inner()) = Some(track.clone());
        let frames = self.frames.clone();
        tokio::spawn(receive_video(
            track,
            frames,
            self.decode,
            self.patience,
            self.counters.clone(),
        ));
    }
}

/// Most packets held behind a hole in the sequence numbers.
const MAX_HELD: usize = 4096;

/// Shortest time between two PLIs while the picture is broken.
const PLI_INTERVAL: Duration = Duration::from_millis(300);

/// Puts RTP packets back in sequence-number order. A lost packet retransmitted after a
/// NACK arrives late, with its original sequence number: the packets after it wait for
/// it here, up to `patience`, and are then released without it.
struct ReorderBuffer<T> {
    patience: Duration,
    /// The unwrapped sequence number released next; `None` before the first packet.
    next: Option<u64>,
    /// The highest unwrapped sequence number seen.
    highest: u64,
    /// Packets waiting for a hole before them to fill, with their arrival times.
    held: BTreeMap<u64, (Instant, T)>,
}

#[derive(Debug, PartialEq, Eq)]
enum Pushed {
    /// The packet is newer than every packet before it.
    InOrder,
    /// The packet fills a hole: a retransmission.
    Recovered,
    /// The packet was already released or given up on, or is held already.
    Late,
}

#[derive(Debug, PartialEq, Eq)]
enum Released<T> {
    Packet(T),
    /// This many packets were given up on just before the next one released.
    Gap(u64),
}

impl<T> ReorderBuffer<T> {
    fn new(patience: Duration) -> Self {
        ReorderBuffer {
            patience,
            next: None,
            highest: 0,
            held: BTreeMap::new(),
        }
    }

    /// The 64-bit sequence number nearest the highest seen with these low 16 bits.
    fn unwrap(&self, seq: u16) -> u64 {
        if self.next.is_none() {
            // Far from zero, so that packets a little older than the first one do not
            // underflow.
            return (1 << 32) | u64::from(seq);
        }
        let delta = i64::from(seq.wrapping_sub(self.highest as u16) as i16);
        self.highest.wrapping_add_signed(delta)
    }

    fn push(&mut self, now: Instant, seq: u16, item: T) -> Pushed {
        let n = self.unwrap(seq);
        let next = *self.next.get_or_insert_with(|| {
            self.highest = n;
            n
        });
        if n < next || self.held.contains_key(&n) {
            return Pushed::Late;
        }
        let recovered = n < self.highest;
        self.highest = self.highest.max(n);
        self.held.insert(n, (now, item));
        if recovered {
            Pushed::Recovered
        } else {
            Pushed::InOrder
        }
    }

    /// The next packet in order, or the news that the hole before the held packets
    /// has been waited on long enough; `None` while there is nothing to release.
    fn pop(&mut self, now: Instant) -> Option<Released<T>> {
        let next = self.next?;
        let (&first, _) = self.held.first_key_value()?;
        if first == next {
            let (_, (_, item)) = self.held.pop_first()?;
            self.next = Some(next + 1);
            return Some(Released::Packet(item));
        }
        let overdue = self.deadline().is_some_and(|d| now >= d) || self.held.len() > MAX_HELD;
        if overdue {
            self.next = Some(first);
            return Some(Released::Gap(first - next));
        }
        None
    }

    /// When the hole before the held packets will be given up on: `patience` after the
    /// first packet past it arrived.
    fn deadline(&self) -> Option<Instant> {
        let next = self.next?;
        let (&first, _) = self.held.first_key_value()?;
        if first == next {
            return None;
        }
        let since = self.held.values().map(|(t, _)| *t).min()?;
        Some(since + self.patience)
    }
}

/// NAL unit types in an Annex B access unit.
fn nal_types(au: &[u8]) -> impl Iterator<Item = u8> + '_ {
    au.windows(5)
        .filter(|w| w[..4] == [0, 0, 0, 1])
        .map(|w| w[4] & 0x1f)
}

/// An access unit carrying a sequence parameter set (7) or an IDR slice (5) can be
/// decoded without the pictures before it.
fn is_keyframe(au: &[u8]) -> bool {
    nal_types(au).any(|t| t == 5 || t == 7)
}

/// Builds access units from in-order RTP packets: an access unit is the packets of one
/// timestamp, ending at the marker bit. After a loss it drops the access units that
/// lost packets and every delta frame until the next keyframe, as a decoder must.
struct Assembler {
    depacketizer: H264Packet,
    au: Vec<u8>,
    /// The timestamp of the access unit being built; `None` between access units.
    au_ts: Option<u32>,
    au_broken: bool,
    /// The access unit of the next packet may have lost its beginning.
    after_gap: bool,
    /// Delta frames cannot be decoded: at the start, and after a loss.
    need_keyframe: bool,
    /// A loss broke the picture; PLIs are due until a keyframe arrives.
    broken: bool,
}

impl Assembler {
    fn new() -> Self {
        Assembler {
            depacketizer: H264Packet::default(),
            au: Vec::new(),
            au_ts: None,
            au_broken: false,
            after_gap: false,
            need_keyframe: true,
            broken: false,
        }
    }

    /// Takes the next packet in order; returns an access unit once one is whole and
    /// decodable.
    fn packet(
        &mut self,
        timestamp: u32,
        marker: bool,
        payload: &[u8],
        counters: &ReceiveCounters,
    ) -> Option<(u32, Vec<u8>)> {
        if self.au_ts.is_some_and(|t| t != timestamp) {
            // The previous access unit's last packet never came.
            self.drop_au(counters);
        }
        if self.au_ts.is_none() {
            self.au_ts = Some(timestamp);
            self.au_broken = self.after_gap;
        }
        self.after_gap = false;
        match self
            .depacketizer
            .depacketize(&Bytes::copy_from_slice(payload))
        {
            Ok(nals) => self.au.extend_from_slice(&nals),
            Err(_) => self.au_broken = true,
        }
        if !marker {
            return None;
        }
        if self.au_broken || self.au.is_empty() {
            self.drop_au(counters);
            return None;
        }
        self.au_ts = None;
        let au = std::mem::take(&mut self.au);
        if is_keyframe(&au) {
            self.need_keyframe = false;
            self.broken = false;
        } else if self.need_keyframe {
            bump(&counters.access_units_dropped, 1);
            return None;
        }
        bump(&counters.access_units_complete, 1);
        Some((timestamp, au))
    }

    /// Packets were given up on before the next one.
    fn gap(&mut self) {
        self.au_broken = true;
        self.after_gap = true;
        self.need_keyframe = true;
        self.broken = true;
        self.depacketizer = H264Packet::default();
    }

    fn drop_au(&mut self, counters: &ReceiveCounters) {
        bump(&counters.access_units_dropped, 1);
        self.au.clear();
        self.au_ts = None;
        self.au_broken = false;
        self.need_keyframe = true;
        self.broken = true;
        self.depacketizer = H264Packet::default();
    }
}

/// Puts RTP packets in order, reassembles access units from them and decodes those on
/// a blocking thread. Lost packets get a chance to be retransmitted (the NACK
/// interceptor asks for them); once given up on, the picture waits for a keyframe,
/// asked for with PLIs.
async fn receive_video(
    track: Arc<dyn TrackRemote>,
    frames: mpsc::UnboundedSender<Frame>,
    decode: bool,
    patience: Duration,
    counters: Arc<ReceiveCounters>,
) {
    let (au_tx, mut au_rx) = mpsc::unbounded_channel::<(u32, Vec<u8>)>();
    let decoder = tokio::task::spawn_blocking(move || {
        if !decode {
            while au_rx.blocking_recv().is_some() {}
            return;
        }
        let Ok(mut decoder) = H264Decoder::new() else {
            return;
        };
        while let Some((rtp_timestamp, au)) = au_rx.blocking_recv() {
            // A keyframe starts with a sequence parameter set.
            let keyframe = nal_types(&au).any(|t| t == 7);
            if let Ok(Some(picture)) = decoder.decode(&au) {
                if frames
                    .send(Frame {
                        picture,
                        received: Instant::now(),
                        keyframe,
                        rtp_timestamp,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    let mut reorder = ReorderBuffer::new(patience);
    let mut assembler = Assembler::new();
    let mut media_ssrc = None;
    let mut last_pli: Option<Instant> = None;
    'receive: loop {
        let deadline = reorder.deadline();
        let event = tokio::select! {
            event = track.poll() => match event {
                Some(event) => Some(event),
                None => break,
            },
            _ = tokio::time::sleep_until(
                deadline.unwrap_or_else(|| Instant::now() + Duration::from_secs(3600)).into()
            ), if deadline.is_some() => None,
        };
        let now = Instant::now();
        match event {
            Some(TrackRemoteEvent::OnRtpPacket(packet)) => {
                media_ssrc = Some(packet.header.ssrc);
                match reorder.push(now, packet.header.sequence_number, packet) {
                    Pushed::InOrder => {}
                    Pushed::Recovered => bump(&counters.packets_recovered, 1),
                    Pushed::Late => bump(&counters.packets_late, 1),
                }
            }
            Some(TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError) => break,
            Some(_) | None => {}
        }
        while let Some(released) = reorder.pop(now) {
            let au = match released {
                Released::Packet(p) => {
                    assembler.packet(p.header.timestamp, p.header.marker, &p.payload, &counters)
                }
                Released::Gap(missing) => {
                    bump(&counters.packets_lost, missing);
                    assembler.gap();
                    None
                }
            };
            if let Some(au) = au {
                if au_tx.send(au).is_err() {
                    break 'receive;
                }
            }
        }
        if let Some(media_ssrc) = media_ssrc.filter(|_| assembler.broken) {
            if last_pli.is_none_or(|t| now.duration_since(t) >= PLI_INTERVAL) {
                last_pli = Some(now);
                let pli =
                    rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
                        sender_ssrc: 0,
                        media_ssrc,
                    };
                if track.write_rtcp(vec![Box::new(pli)]).await.is_ok() {
                    bump(&counters.plis_sent, 1);
                }
            }
        }
    }
    drop(au_tx);
    let _ = decoder.await;
}

/// The RTP (component 1) UDP candidate of an SDP `a=candidate` line, if it names an IP
/// address: `a=candidate:<foundation> <component> <transport> <priority> <address>
/// <port> typ <type> ...`.
fn parse_candidate(line: &str) -> Option<SocketAddr> {
    let fields: Vec<&str> = line
        .trim_end()
        .strip_prefix("a=candidate:")?
        .split_whitespace()
        .collect();
    if fields.len() < 8 || fields[1] != "1" || !fields[2].eq_ignore_ascii_case("udp") {
        return None;
    }
    let ip: IpAddr = fields[4].parse().ok()?;
    Some(SocketAddr::new(ip, fields[5].parse().ok()?))
}

/// The candidate of an SDP to relay: a loopback IPv4 one if there is one, else the
/// first IPv4 one.
pub fn relayed_candidate(sdp: &str) -> anyhow::Result<SocketAddr> {
    let candidates: Vec<SocketAddr> = sdp.lines().filter_map(parse_candidate).collect();
    candidates
        .iter()
        .find(|c| c.ip() == IpAddr::V4(Ipv4Addr::LOCALHOST))
        .or_else(|| candidates.iter().find(|c| c.is_ipv4()))
        .copied()
        .ok_or_else(|| anyhow!("no IPv4 UDP candidate to relay in\n{sdp}"))
}

/// Rewrites the candidate lines naming `from` to name `to` and removes every other
/// candidate, so that the relay is the only path.
pub fn rewrite_candidates(sdp: &str, from: SocketAddr, to: SocketAddr) -> String {
    let mut out = String::with_capacity(sdp.len());
    for line in sdp.split_inclusive('\n') {
        if !line.starts_with("a=candidate:") {
            out.push_str(line);
            continue;
        }
        if parse_candidate(line) != Some(from) {
            continue;
        }
        let body = line.trim_end();
        let ending = &line[body.len()..];
        let mut fields: Vec<String> = body.split(' ').map(str::to_owned).collect();
        fields[4] = to.ip().to_string();
        fields[5] = to.port().to_string();
        out.push_str(&fields.join(" "));
        out.push_str(ending);
    }
    out
}

/// A connected viewer.
pub struct Viewer {
    pub pc: Arc<dyn PeerConnection>,
    /// The `control` data channel; `None` for a plain WHEP player.
    pub control: Option<Arc<dyn DataChannel>>,
    track: Arc<Mutex<Option<Arc<dyn TrackRemote>>>>,
    counters: Arc<ReceiveCounters>,
    /// The relay every packet crosses, with [`ViewerOptions::link`].
    relay: Option<Relay>,
    /// The session resource from the `Location` header.
    pub location: String,
    pub frames: mpsc::UnboundedReceiver<Frame>,
    pub messages: mpsc::UnboundedReceiver<Value>,
    pub states: mpsc::UnboundedReceiver<RTCPeerConnectionState>,
    base: String,
    token: Option<String>,
    next_id: u64,
}

impl Viewer {
    /// Connects to the server at `base` (e.g. `http://127.0.0.1:1234`) through `POST /whep`,
    /// with the `control` data channel.
    pub async fn connect(base: &str) -> anyhow::Result<Viewer> {
        Viewer::connect_with(base, ViewerOptions::default()).await
    }

    /// Connects as [`Viewer::connect`] does, then waits (up to [`crate::WAIT`] each) for
    /// the `hello` message and the first decoded frame: a viewer that is watching.
    pub async fn connect_watching(base: &str) -> anyhow::Result<Viewer> {
        let mut viewer = Viewer::connect(base).await?;
        viewer.next_message("hello", crate::WAIT).await?;
        viewer.next_frame(crate::WAIT).await?;
        Ok(viewer)
    }

    /// Connects as above, with the given options.
    pub async fn connect_with(base: &str, options: ViewerOptions) -> anyhow::Result<Viewer> {
        let mut media = MediaEngine::default();
        media.register_codec(
            streamtracer::session::h264_codec_parameters(),
            RtpCodecKind::Video,
        )?;
        let registry = register_default_interceptors(Registry::new(), &mut media)?;
        let (gathered_tx, mut gathered) = mpsc::channel(1);
        let (state_tx, states) = mpsc::unbounded_channel();
        let (frames_tx, frames) = mpsc::unbounded_channel();
        let track = Arc::new(Mutex::new(None));
        let counters = Arc::new(ReceiveCounters::default());
        let events = Events {
            gathered: gathered_tx,
            state: state_tx,
            frames: frames_tx,
            track: track.clone(),
            decode: options.decode,
            patience: options.patience(),
            counters: counters.clone(),
        };
        let runtime =
            webrtc::runtime::default_runtime().ok_or_else(|| anyhow!("no async runtime"))?;
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_configuration(RTCConfigurationBuilder::new().build())
                .with_media_engine(media)
                .with_interceptor_registry(registry)
                .with_handler(Arc::new(events) as Arc<dyn PeerConnectionEventHandler>)
                .with_runtime(runtime)
                .with_udp_addrs(vec!["127.0.0.1:0"])
                .build()
                .await?,
        );
        pc.add_transceiver_from_kind(
            RtpCodecKind::Video,
            Some(RTCRtpTransceiverInit {
                direction: RTCRtpTransceiverDirection::Recvonly,
                ..Default::default()
            }),
        )
        .await?;
        let (msg_tx, messages) = mpsc::unbounded_channel();
        let control = if options.control {
            let channel = pc.create_data_channel("control", None).await?;
            let reader = channel.clone();
            tokio::spawn(async move {
                while let Some(event) = reader.poll().await {
                    match event {
                        DataChannelEvent::OnMessage(m) => {
                            let v = serde_json::from_slice(&m.data).unwrap_or(Value::Null);
                            if msg_tx.send(v).is_err() {
                                return;
                            }
                        }
                        DataChannelEvent::OnClose => return,
                        _ => {}
                    }
                }
            });
            Some(channel)
        } else {
            None
        };
        let offer = pc.create_offer(None).await?;
        pc.set_local_description(offer).await?;
        tokio::time::timeout(Duration::from_secs(5), gathered.recv())
            .await
            .context("ICE gathering timed out")?;
        let local = pc
            .local_description()
            .await
            .ok_or_else(|| anyhow!("no local description"))?;
        // With a link, the server is told the relay's server-facing socket is the
        // client; its answer is rewritten once it names the server's socket.
        let (offer, relay) = match options.link {
            Some(link) => {
                let client = relayed_candidate(&local.sdp)?;
                let relay = Relay::bind(link.down, link.up)?;
                relay.set_client_addr(client);
                let offer = rewrite_candidates(&local.sdp, client, relay.server_facing_addr());
                (offer, Some(relay))
            }
            None => (local.sdp, None),
        };
        let query: Vec<String> = [("resume", &options.resume), ("view", &options.view)]
            .iter()
            .filter_map(|(k, v)| v.as_ref().map(|v| format!("{k}={}", crate::query_value(v))))
            .collect();
        let url = match query.is_empty() {
            true => format!("{base}/whep"),
            false => format!("{base}/whep?{}", query.join("&")),
        };
        let response = authorized(reqwest::Client::new().post(url), options.token.as_deref())
            .header("content-type", "application/sdp")
            .body(offer)
            .send()
            .await?;
        let status = response.status();
        let location = response
            .headers()
            .get("location")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response.text().await?;
        if status != reqwest::StatusCode::CREATED {
            bail!("POST /whep answered {status}: {body}");
        }
        let location = location.ok_or_else(|| anyhow!("201 without Location"))?;
        let answer = match &relay {
            Some(relay) => {
                let server = relayed_candidate(&body)?;
                relay.set_server_addr(server);
                rewrite_candidates(&body, server, relay.client_facing_addr())
            }
            None => body,
        };
        pc.set_remote_description(RTCSessionDescription::answer(answer)?)
            .await?;
        Ok(Viewer {
            pc,
            control,
            track,
            counters,
            relay,
            location,
            frames,
            messages,
            states,
            base: base.to_owned(),
            token: options.token.clone(),
            next_id: 1,
        })
    }

    /// Complete access units received so far (decoded or not).
    pub fn access_units(&self) -> u64 {
        self.counters.access_units_complete.load(Ordering::Relaxed)
    }

    /// What the receive path counted: access units, losses, PLIs.
    pub fn receive_stats(&self) -> ReceiveStats {
        self.counters.snapshot()
    }

    /// Cuts the connection without closing it, as a network that fails does: the
    /// relay every packet crosses ([`ViewerOptions::link`]) stops, and neither side is
    /// told. Returns false without a relay.
    pub fn cut(&mut self) -> bool {
        self.relay.take().is_some()
    }

    /// The relay every packet crosses, with [`ViewerOptions::link`].
    pub fn relay(&self) -> Option<&Relay> {
        self.relay.as_ref()
    }

    /// The relay's counters, with [`ViewerOptions::link`].
    pub fn link_stats(&self) -> Option<RelayStats> {
        self.relay.as_ref().map(Relay::stats)
    }

    /// Waits for the next decoded frame.
    pub async fn next_frame(&mut self, timeout: Duration) -> anyhow::Result<Frame> {
        tokio::time::timeout(timeout, self.frames.recv())
            .await
            .context("no decoded frame in time")?
            .ok_or_else(|| anyhow!("video ended"))
    }

    /// Waits for a control message of the given type, skipping others.
    pub async fn next_message(&mut self, kind: &str, timeout: Duration) -> anyhow::Result<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = tokio::time::timeout_at(deadline, self.messages.recv())
                .await
                .with_context(|| format!("no {kind:?} message in time"))?
                .ok_or_else(|| anyhow!("control channel closed"))?;
            if m["type"] == kind {
                return Ok(m);
            }
        }
    }

    /// Sends `message` on the control channel with a fresh `id` and waits for the
    /// reply to it, dropping other messages on the way.
    pub async fn request(
        &mut self,
        mut message: Value,
        timeout: Duration,
    ) -> anyhow::Result<Value> {
        let id = self.next_id;
        self.next_id += 1;
        message["id"] = id.into();
        self.send_text(&message.to_string()).await?;
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let m = tokio::time::timeout_at(deadline, self.messages.recv())
                .await
                .with_context(|| format!("no reply to request {id} in time"))?
                .ok_or_else(|| anyhow!("control channel closed"))?;
            if m["id"] == id {
                return Ok(m);
            }
        }
    }

    /// Sends raw text on the control channel.
    pub async fn send_text(&self, text: &str) -> anyhow::Result<()> {
        let control = self
            .control
            .as_ref()
            .ok_or_else(|| anyhow!("this viewer has no control channel"))?;
        control.send_text(text).await?;
        Ok(())
    }

    /// Sends a binary message on the control channel (a piece of an upload).
    pub async fn send_binary(&self, data: &[u8]) -> anyhow::Result<()> {
        let control = self
            .control
            .as_ref()
            .ok_or_else(|| anyhow!("this viewer has no control channel"))?;
        control.send(bytes::BytesMut::from(data)).await?;
        Ok(())
    }

    /// Asks the sender for a keyframe with an RTCP Picture Loss Indication.
    pub async fn request_keyframe(&self) -> anyhow::Result<()> {
        let track = self.track.lock().unwrap_or_else(|e| e.into_inner()).clone();
        let track = track.ok_or_else(|| anyhow!("no video track yet"))?;
        let media_ssrc = *track
            .ssrcs()
            .await
            .first()
            .ok_or_else(|| anyhow!("track has no SSRC"))?;
        let pli = rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication {
            sender_ssrc: 0,
            media_ssrc,
        };
        track.write_rtcp(vec![Box::new(pli)]).await?;
        Ok(())
    }

    /// Sends a `camera` message and returns its id.
    pub async fn send_camera(&mut self, camera: &render_core::Camera) -> anyhow::Result<u64> {
        let id = self.next_id;
        self.next_id += 1;
        let msg = serde_json::json!({
            "type": "camera", "id": id,
            "eye": camera.eye.to_array(), "target": camera.target.to_array(),
            "up": camera.up.to_array(), "fov": camera.fov,
        });
        self.send_text(&msg.to_string()).await?;
        Ok(id)
    }

    /// Ends the session with `DELETE` and closes the peer connection.
    pub async fn close(self) -> anyhow::Result<()> {
        let status = authorized(
            reqwest::Client::new().delete(format!("{}{}", self.base, self.location)),
            self.token.as_deref(),
        )
        .send()
        .await?
        .status();
        self.pc.close().await?;
        if !status.is_success() {
            bail!("DELETE answered {status}");
        }
        Ok(())
    }
}

/// Frames (complete access units) per second each viewer received over `window`.
pub async fn received_fps(viewers: &[Viewer], window: Duration) -> Vec<f64> {
    let before: Vec<u64> = viewers.iter().map(Viewer::access_units).collect();
    tokio::time::sleep(window).await;
    viewers
        .iter()
        .zip(before)
        .map(|(v, b)| (v.access_units() - b) as f64 / window.as_secs_f64())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const PATIENCE: Duration = Duration::from_millis(150);

    fn drain<T>(buffer: &mut ReorderBuffer<T>, now: Instant) -> Vec<Released<T>> {
        std::iter::from_fn(|| buffer.pop(now)).collect()
    }

    #[test]
    fn reorder_buffer_is_transparent_in_order_and_across_the_wrap() {
        let mut buffer = ReorderBuffer::new(PATIENCE);
        let now = Instant::now();
        for i in 0..100u16 {
            let seq = 65500u16.wrapping_add(i);
            assert_eq!(buffer.push(now, seq, seq), Pushed::InOrder);
            assert_eq!(drain(&mut buffer, now), vec![Released::Packet(seq)]);
            assert_eq!(buffer.deadline(), None);
        }
    }

    #[test]
    fn reorder_buffer_waits_for_a_retransmission() {
        let mut buffer = ReorderBuffer::new(PATIENCE);
        let t0 = Instant::now();
        buffer.push(t0, 10, 10);
        assert_eq!(drain(&mut buffer, t0), vec![Released::Packet(10)]);
        // 11 and 12 are lost; 13 and 14 wait for them.
        buffer.push(t0, 13, 13);
        buffer.push(t0, 14, 14);
        assert!(drain(&mut buffer, t0).is_empty());
        assert_eq!(buffer.deadline(), Some(t0 + PATIENCE));
        let t1 = t0 + Duration::from_millis(100);
        assert_eq!(buffer.push(t1, 12, 12), Pushed::Recovered);
        assert!(drain(&mut buffer, t1).is_empty());
        // The hole's clock started when 13 arrived, not when 12 did.
        assert_eq!(buffer.deadline(), Some(t0 + PATIENCE));
        assert_eq!(buffer.push(t1, 11, 11), Pushed::Recovered);
        assert_eq!(
            drain(&mut buffer, t1),
            [11, 12, 13, 14].map(Released::Packet)
        );
        assert_eq!(buffer.push(t1, 12, 12), Pushed::Late);
        assert_eq!(buffer.push(t1, 15, 15), Pushed::InOrder);
        assert_eq!(buffer.push(t1, 15, 15), Pushed::Late);
    }

    #[test]
    fn reorder_buffer_gives_up_after_its_patience() {
        let mut buffer = ReorderBuffer::new(PATIENCE);
        let t0 = Instant::now();
        buffer.push(t0, 65534, 1);
        drain(&mut buffer, t0);
        // 65535, 0 and 1 are lost; 4 is also lost, later.
        buffer.push(t0, 2, 2);
        buffer.push(t0, 3, 3);
        buffer.push(t0 + Duration::from_millis(50), 5, 5);
        assert!(drain(&mut buffer, t0 + PATIENCE - Duration::from_millis(1)).is_empty());
        let late = t0 + PATIENCE;
        assert_eq!(
            drain(&mut buffer, late),
            vec![Released::Gap(3), Released::Packet(2), Released::Packet(3)]
        );
        // The second hole showed when 5 arrived, 50 ms later.
        assert_eq!(
            buffer.deadline(),
            Some(t0 + Duration::from_millis(50) + PATIENCE)
        );
        assert!(drain(&mut buffer, late + Duration::from_millis(49)).is_empty());
        let later = late + Duration::from_millis(50);
        assert_eq!(
            drain(&mut buffer, later),
            vec![Released::Gap(1), Released::Packet(5)]
        );
        assert_eq!(buffer.deadline(), None);
        assert_eq!(buffer.push(late, 0, 0), Pushed::Late);
        assert_eq!(buffer.push(late, 4, 4), Pushed::Late);
    }

    /// An RTP payload holding one NAL unit of the given type.
    fn nal(kind: u8) -> Vec<u8> {
        vec![0x60 | kind, 1, 2, 3]
    }

    #[test]
    fn assembler_drops_broken_access_units_until_a_keyframe() {
        let counters = ReceiveCounters::default();
        let mut a = Assembler::new();
        // A keyframe in three packets (SPS, PPS, IDR), then two delta frames.
        assert!(a.packet(0, false, &nal(7), &counters).is_none());
        assert!(a.packet(0, false, &nal(8), &counters).is_none());
        let (ts, key) = a.packet(0, true, &nal(5), &counters).expect("keyframe");
        assert_eq!(ts, 0);
        assert!(is_keyframe(&key));
        assert_eq!(nal_types(&key).collect::<Vec<_>>(), vec![7, 8, 5]);
        assert!(a.packet(1, true, &nal(1), &counters).is_some());
        assert!(!a.broken);
        // A delta frame loses its last packet: it and the delta frames after it are
        // dropped, and the picture is broken until the next keyframe.
        assert!(a.packet(2, false, &nal(1), &counters).is_none());
        a.gap();
        assert!(a.broken);
        assert!(a.packet(3, true, &nal(1), &counters).is_none());
        assert!(a.packet(4, true, &nal(1), &counters).is_none());
        assert!(a.packet(5, false, &nal(7), &counters).is_none());
        assert!(a.packet(5, true, &nal(5), &counters).is_some());
        assert!(!a.broken);
        assert!(a.packet(6, true, &nal(1), &counters).is_some());
        let stats = counters.snapshot();
        assert_eq!(stats.access_units_complete, 4);
        // Frames 2 and 3 (either may have lost packets), then 4 awaiting a keyframe.
        assert_eq!(stats.access_units_dropped, 3);
    }

    #[test]
    fn assembler_skips_delta_frames_before_the_first_keyframe_without_asking() {
        let counters = ReceiveCounters::default();
        let mut a = Assembler::new();
        assert!(a.packet(0, true, &nal(1), &counters).is_none());
        assert!(!a.broken, "no loss, so no PLI");
        assert!(a.packet(1, true, &nal(5), &counters).is_some());
    }

    const OFFER: &str = "v=0\r\n\
        o=- 1 2 IN IP4 0.0.0.0\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 102\r\n\
        a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n\
        a=candidate:2 1 udp 2130706431 ::1 40001 typ host\r\n\
        a=candidate:3 1 udp 2130706431 abc.local 40002 typ host\r\n\
        a=end-of-candidates\r\n\
        m=application 9 UDP/DTLS/SCTP webrtc-datachannel\r\n\
        a=candidate:1 1 udp 2130706431 127.0.0.1 40000 typ host\r\n";

    #[test]
    fn candidates_are_rewritten_to_the_relay_and_others_removed() {
        let from = relayed_candidate(OFFER).unwrap();
        assert_eq!(from, "127.0.0.1:40000".parse::<SocketAddr>().unwrap());
        let to: SocketAddr = "127.0.0.1:5555".parse().unwrap();
        let rewritten = rewrite_candidates(OFFER, from, to);
        let candidates: Vec<&str> = rewritten
            .lines()
            .filter(|l| l.starts_with("a=candidate"))
            .collect();
        assert_eq!(
            candidates,
            vec!["a=candidate:1 1 udp 2130706431 127.0.0.1 5555 typ host"; 2]
        );
        assert!(rewritten.ends_with("\r\n"));
        assert_eq!(rewritten.lines().count(), OFFER.lines().count() - 2);
        assert!(relayed_candidate("v=0\r\n").is_err());
    }
}
