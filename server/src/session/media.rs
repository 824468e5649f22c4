//! Media sending: each encoded access unit of the view, packetized into RTP on the
//! viewer's track, starting at a keyframe, stamped with the instant it was encoded.

use super::peer::codec;
use super::table::SessionId;
use crate::control::pump::FrameNote;
use crate::view::View;
use rtc::rtp::packetizer::Packetizer;
use std::time::Instant;
use tokio::sync::watch;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::media_stream::Track;
use webrtc::peer_connection::RTCPeerConnectionState;

/// RTP packets carry at most this much (the size webrtc-rs uses for its own tracks),
/// which keeps them under any path's MTU after SRTP and UDP headers.
const RTP_MTU: usize = 1200;
const VIDEO_CLOCK_RATE: u32 = 90_000;

/// Sends the view's encoded frames on the track until the session ends.
///
/// Each access unit is packetized here (fragmentation units, marker bit on its last
/// packet), with an RTP timestamp from the instant the encoder produced it: frames do
/// not leave at a fixed period (an edit's frame goes out early, a still picture only
/// now and then), and the receiver's jitter buffer reads timestamps as capture times.
pub(super) async fn stream(
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
