//! A WHEP viewer for tests: a real WebRTC peer that decodes the video it receives.

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
}

/// How a [`Viewer`] connects.
#[derive(Clone, Copy, Debug)]
pub struct ViewerOptions {
    /// Open the `control` data channel (a stock WHEP player does not).
    pub control: bool,
    /// Decode every access unit. Without decoding, access units are only counted
    /// (see [`Viewer::access_units`]), which keeps load tools light.
    pub decode: bool,
}

impl Default for ViewerOptions {
    fn default() -> Self {
        ViewerOptions {
            control: true,
            decode: true,
        }
    }
}

struct Events {
    gathered: mpsc::Sender<()>,
    state: mpsc::UnboundedSender<RTCPeerConnectionState>,
    frames: mpsc::UnboundedSender<Frame>,
    track: Arc<Mutex<Option<Arc<dyn TrackRemote>>>>,
    decode: bool,
    access_units: Arc<AtomicU64>,
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
            self.access_units.clone(),
        ));
    }
}

/// Reassembles access units from RTP (an access unit ends at the marker bit) and
/// decodes them on a blocking thread.
async fn receive_video(
    track: Arc<dyn TrackRemote>,
    frames: mpsc::UnboundedSender<Frame>,
    decode: bool,
    access_units: Arc<AtomicU64>,
) {
    let (au_tx, mut au_rx) = mpsc::unbounded_channel::<Vec<u8>>();
    let decoder = tokio::task::spawn_blocking(move || {
        if !decode {
            while au_rx.blocking_recv().is_some() {}
            return;
        }
        let Ok(mut decoder) = H264Decoder::new() else {
            return;
        };
        while let Some(au) = au_rx.blocking_recv() {
            // An IDR slice has NAL type 5; SPS (7) precedes it in a keyframe.
            let keyframe = au
                .windows(5)
                .any(|w| w[..4] == [0, 0, 0, 1] && (w[4] & 0x1f) == 7);
            if let Ok(Some(picture)) = decoder.decode(&au) {
                if frames
                    .send(Frame {
                        picture,
                        received: Instant::now(),
                        keyframe,
                    })
                    .is_err()
                {
                    return;
                }
            }
        }
    });
    let mut depacketizer = H264Packet::default();
    let mut au = Vec::new();
    let mut last_seq: Option<u16> = None;
    let mut broken = false;
    while let Some(event) = track.poll().await {
        match event {
            TrackRemoteEvent::OnRtpPacket(packet) => {
                let seq = packet.header.sequence_number;
                if last_seq.is_some_and(|l| l.wrapping_add(1) != seq) {
                    // A gap: the current access unit is incomplete.
                    broken = true;
                }
                last_seq = Some(seq);
                match depacketizer.depacketize(&Bytes::from(packet.payload.to_vec())) {
                    Ok(nals) => au.extend_from_slice(&nals),
                    Err(_) => broken = true,
                }
                if packet.header.marker {
                    if !broken && !au.is_empty() {
                        access_units.fetch_add(1, Ordering::Relaxed);
                    }
                    if !broken && !au.is_empty() && au_tx.send(std::mem::take(&mut au)).is_err() {
                        break;
                    }
                    au.clear();
                    broken = false;
                }
            }
            TrackRemoteEvent::OnEnded | TrackRemoteEvent::OnError => break,
            _ => {}
        }
    }
    drop(au_tx);
    let _ = decoder.await;
}

/// A connected viewer.
pub struct Viewer {
    pub pc: Arc<dyn PeerConnection>,
    /// The `control` data channel; `None` for a plain WHEP player.
    pub control: Option<Arc<dyn DataChannel>>,
    track: Arc<Mutex<Option<Arc<dyn TrackRemote>>>>,
    access_units: Arc<AtomicU64>,
    /// The session resource from the `Location` header.
    pub location: String,
    pub frames: mpsc::UnboundedReceiver<Frame>,
    pub messages: mpsc::UnboundedReceiver<Value>,
    pub states: mpsc::UnboundedReceiver<RTCPeerConnectionState>,
    base: String,
    next_id: u64,
}

impl Viewer {
    /// Connects to the server at `base` (e.g. `http://127.0.0.1:1234`) through `POST /whep`,
    /// with the `control` data channel.
    pub async fn connect(base: &str) -> anyhow::Result<Viewer> {
        Viewer::connect_with(base, ViewerOptions::default()).await
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
        let access_units = Arc::new(AtomicU64::new(0));
        let events = Events {
            gathered: gathered_tx,
            state: state_tx,
            frames: frames_tx,
            track: track.clone(),
            decode: options.decode,
            access_units: access_units.clone(),
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
        let response = reqwest::Client::new()
            .post(format!("{base}/whep"))
            .header("content-type", "application/sdp")
            .body(local.sdp)
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
        pc.set_remote_description(RTCSessionDescription::answer(body)?)
            .await?;
        Ok(Viewer {
            pc,
            control,
            track,
            access_units,
            location,
            frames,
            messages,
            states,
            base: base.to_owned(),
            next_id: 1,
        })
    }

    /// Complete access units received so far (decoded or not).
    pub fn access_units(&self) -> u64 {
        self.access_units.load(Ordering::Relaxed)
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

    /// Sends raw text on the control channel.
    pub async fn send_text(&self, text: &str) -> anyhow::Result<()> {
        let control = self
            .control
            .as_ref()
            .ok_or_else(|| anyhow!("this viewer has no control channel"))?;
        control.send_text(text).await?;
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
        let status = reqwest::Client::new()
            .delete(format!("{}{}", self.base, self.location))
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
