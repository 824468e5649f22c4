//! Line-level checks of an SDP offer that decide whether it is worth answering,
//! before a peer connection is made for it: a video section that is not rejected,
//! and H.264 among its codecs. They read text only (the full parse is the WebRTC
//! stack's), so they are cheap, never fail, and are fuzzed with the routes
//! (`fuzz/fuzz_targets/whep_offer.rs`).

/// What the server needs in an offer's codecs, for the messages that refuse one.
pub const NEEDS_H264: &str = "the server sends H.264 (constrained baseline, packetization-mode 1)";

/// The checks the server makes on an offer after the WebRTC stack's SDP parse and
/// before it makes a peer connection for it: an active video section, and H.264
/// offered. The one function the server (`server/src/session/peer.rs`) and the `whep_offer` fuzz
/// target both call, with the messages a client gets.
pub fn check_offer(sdp: &str) -> Result<(), crate::OfferError> {
    if !has_active_video(sdp) {
        return Err(crate::OfferError::BadOffer(
            "the offer has no video section: add a receive-only video transceiver".into(),
        ));
    }
    if !offers_h264(sdp) {
        return Err(crate::OfferError::BadOffer(format!(
            "the offer has no H.264 codec: {NEEDS_H264}"
        )));
    }
    Ok(())
}

/// Whether an SDP has a video media section that is not rejected (port 0).
pub fn has_active_video(sdp: &str) -> bool {
    sdp.lines()
        .any(|l| l.starts_with("m=video ") && !l.starts_with("m=video 0 "))
}

/// Whether an SDP offers H.264 at all (`a=rtpmap:<pt> H264/90000`).
pub fn offers_h264(sdp: &str) -> bool {
    sdp.lines()
        .any(|l| l.starts_with("a=rtpmap:") && l.to_ascii_uppercase().contains(" H264/90000"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_rejected_or_missing_video_section_is_not_active() {
        assert!(has_active_video(
            "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 96\r\n"
        ));
        assert!(!has_active_video(
            "v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 96\r\n"
        ));
        assert!(!has_active_video(
            "v=0\r\nm=audio 9 UDP/TLS/RTP/SAVPF 111\r\n"
        ));
        assert!(!has_active_video(""));
    }

    #[test]
    fn h264_is_found_in_any_case_and_only_in_rtpmap_lines() {
        assert!(offers_h264("a=rtpmap:102 h264/90000\r\n"));
        assert!(offers_h264("a=rtpmap:102 H264/90000\r\n"));
        assert!(!offers_h264("a=fmtp:102 H264/90000\r\n"));
        assert!(!offers_h264("a=rtpmap:96 VP8/90000\r\n"));
    }

    #[test]
    fn check_offer_names_what_is_missing() {
        let video = "v=0\r\nm=video 9 UDP/TLS/RTP/SAVPF 102\r\n";
        assert!(check_offer(&format!("{video}a=rtpmap:102 H264/90000\r\n")).is_ok());
        let no_h264 = check_offer(&format!("{video}a=rtpmap:96 VP8/90000\r\n"));
        assert!(
            matches!(&no_h264, Err(crate::OfferError::BadOffer(m)) if m.contains("no H.264")),
            "{no_h264:?}"
        );
        let no_video =
            check_offer("v=0\r\nm=video 0 UDP/TLS/RTP/SAVPF 102\r\na=rtpmap:102 H264/90000\r\n");
        assert!(
            matches!(&no_video, Err(crate::OfferError::BadOffer(m)) if m.contains("no video")),
            "{no_video:?}"
        );
    }
}
