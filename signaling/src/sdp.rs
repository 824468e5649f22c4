//! Line-level checks of an SDP offer that decide whether it is worth answering,
//! before a peer connection is made for it: a video section that is not rejected,
//! and H.264 among its codecs. They read text only (the full parse is the WebRTC
//! stack's), so they are cheap, never fail, and are fuzzed with the routes
//! (`fuzz/fuzz_targets/whep_offer.rs`).

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
}
