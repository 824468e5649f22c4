//! A viewer's peer connection: the H.264 codec the server sends, the interceptor chain
//! (congestion control, keyframe requests, bounded resends), and answering a WHEP
//! offer with every candidate (no trickle).

use super::keyframe::{self, KeyframeRequestForwarder};
use super::link::{congestion_control, LinkEstimator};
use super::nack::{self, NackLimiter};
use super::table::SessionId;
use crate::view::registry::LinkSeed;
use rtc::interceptor::{Registry, Slot};
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::interceptor_registry::register_default_interceptors;
use rtc::peer_connection::configuration::media_engine::{MediaEngine, MIME_TYPE_H264};
use rtc::peer_connection::configuration::RTCConfigurationBuilder;
use rtc::peer_connection::sdp::RTCSessionDescription;
use rtc::rtp_transceiver::rtp_sender::{
    RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters, RTCRtpEncodingParameters,
    RtpCodecKind,
};
use signaling::sdp::{has_active_video, NEEDS_H264};
use signaling::OfferError;
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use webrtc::data_channel::DataChannel;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::track_local::TrackLocal;
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

pub(super) fn codec() -> RTCRtpCodec {
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
pub(super) struct PeerEvents {
    pub(super) gathered: mpsc::Sender<()>,
    pub(super) state: watch::Sender<RTCPeerConnectionState>,
    pub(super) channels: mpsc::UnboundedSender<Arc<dyn DataChannel>>,
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

/// The parts of one viewer's session that its task drives.
pub(super) struct Session {
    pub(super) pc: Arc<dyn PeerConnection>,
    pub(super) track: Arc<TrackLocalStaticRTP>,
    /// The viewer's link estimate, from its congestion controller.
    pub(super) link: Arc<AtomicU64>,
    pub(super) payload_type: u8,
    pub(super) state: watch::Receiver<RTCPeerConnectionState>,
    pub(super) channels: mpsc::UnboundedReceiver<Arc<dyn DataChannel>>,
}

pub(super) async fn build_peer(
    media_addrs: &[String],
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
            .with_udp_addrs(media_addrs.to_vec())
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

pub(super) async fn answer(
    media_addrs: &[String],
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
    let (pc, track, sender) = build_peer(media_addrs, events, link.clone(), seed)
        .await
        .map_err(|e| OfferError::Internal(format!("could not create a peer connection: {e}")))?;
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
                OfferError::BadOffer(format!("the offer has no usable H.264 codec: {NEEDS_H264}")),
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
