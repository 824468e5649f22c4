//! Bounds the retransmissions a viewer's NACKs can cause.
//!
//! webrtc-rs's NACK responder resends a packet every time it is asked. A receiver
//! that repeats its NACK every 100 ms until the packet arrives (pion's generator and
//! webrtc-rs's own do, with no limit) keeps asking while the first resend still waits
//! in a queue on a slow link; each request then costs another copy, the copies fill
//! the link, more packets are lost, and the stream collapses. Browsers space their
//! NACKs by the round-trip time, but the server must not depend on the peer's manners.
//!
//! This interceptor sits just wire-ward of the responder on the read leg and removes,
//! from each incoming NACK, the sequence numbers resent within [`RESEND_GAP`] or
//! already resent [`MAX_RESENDS`] times. What remains reaches the responder.

use crate::session::filter::{Filter, ReadFilter};
use rtc::interceptor::{Packet, StreamInfo, TaggedPacket};
use rtc::rtcp::transport_feedbacks::transport_layer_nack::{
    nack_pairs_from_sequence_numbers, TransportLayerNack,
};
use std::collections::HashMap;
use std::time::{Duration, Instant};

/// Between the pacer (3 000) and the NACK responder (4 000): on the read leg a NACK
/// passes here first.
pub const SLOT: usize = 3_500;

/// A packet is resent at most once in this long: about a round trip over a link
/// with a deep queue, which is how long the first copy may take to arrive.
pub const RESEND_GAP: Duration = Duration::from_millis(250);

/// A packet is resent at most this many times; after that the receiver asks for a
/// keyframe instead.
pub const MAX_RESENDS: u8 = 3;

/// Requests older than this are forgotten (the responder's buffer no longer holds
/// such packets either).
const FORGET_AFTER: Duration = Duration::from_secs(5);

/// The most packets remembered: a few seconds of video at the highest bitrates. A
/// peer asking for more (numbers it was never sent) finds older ones forgotten.
const MAX_REMEMBERED: usize = 16_384;

#[derive(Clone, Copy)]
struct Resent {
    at: Instant,
    count: u8,
    asked: Instant,
}

#[derive(Default)]
pub struct NackLimits {
    /// The streams this connection sends; NACKs for others are dropped here (the
    /// responder has nothing to resend for them), so a peer cannot fill the map
    /// with SSRCs of its choosing.
    local: Vec<u32>,
    /// Per (media SSRC, sequence number): the last resend allowed, how many, and
    /// when the number was last asked for.
    resent: HashMap<(u32, u16), Resent>,
    last_prune: Option<Instant>,
}

/// The interceptor.
pub type NackLimiter = Filter<NackLimits>;

impl NackLimits {
    fn allow(&mut self, ssrc: u32, seq: u16, now: Instant) -> bool {
        if self.resent.len() >= MAX_REMEMBERED {
            self.last_prune = None;
            self.prune(now);
            if self.resent.len() >= MAX_REMEMBERED {
                self.resent.clear();
            }
        }
        let entry = self.resent.entry((ssrc, seq)).or_insert(Resent {
            at: now,
            count: 0,
            asked: now,
        });
        // A number nobody asked for in a long while is a new packet that reuses it
        // (the sequence wrapped). One asked for again and again (a receiver still
        // missing it) stays spent.
        if now.saturating_duration_since(entry.asked) >= FORGET_AFTER {
            entry.count = 0;
        }
        entry.asked = now;
        let since = now.saturating_duration_since(entry.at);
        if entry.count == 0 || (entry.count < MAX_RESENDS && since >= RESEND_GAP) {
            entry.at = now;
            entry.count += 1;
            true
        } else {
            false
        }
    }

    fn prune(&mut self, now: Instant) {
        if self
            .last_prune
            .is_some_and(|at| now.saturating_duration_since(at) < FORGET_AFTER)
        {
            return;
        }
        self.last_prune = Some(now);
        self.resent
            .retain(|_, r| now.saturating_duration_since(r.asked) < FORGET_AFTER);
    }

    /// The NACK with only the sequence numbers that may be resent now, or `None`.
    fn limit(&mut self, nack: &TransportLayerNack, now: Instant) -> Option<TransportLayerNack> {
        if !self.local.contains(&nack.media_ssrc) {
            return None;
        }
        let mut allowed: Vec<u16> = nack
            .nacks
            .iter()
            .flat_map(|pair| pair.packet_list())
            .filter(|&seq| self.allow(nack.media_ssrc, seq, now))
            .collect();
        if allowed.is_empty() {
            return None;
        }
        allowed.sort_unstable();
        allowed.dedup();
        Some(TransportLayerNack {
            sender_ssrc: nack.sender_ssrc,
            media_ssrc: nack.media_ssrc,
            nacks: nack_pairs_from_sequence_numbers(&allowed),
        })
    }
}

impl ReadFilter for NackLimits {
    fn read(&mut self, mut msg: TaggedPacket) -> Option<TaggedPacket> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let has_nack = packets
                .iter()
                .any(|p| p.as_any().is::<TransportLayerNack>());
            if has_nack {
                let now = msg.now;
                self.prune(now);
                let mut kept: Vec<Box<dyn rtc::rtcp::Packet>> = Vec::with_capacity(packets.len());
                for p in packets {
                    match p.as_any().downcast_ref::<TransportLayerNack>() {
                        Some(nack) => {
                            if let Some(limited) = self.limit(nack, now) {
                                kept.push(Box::new(limited));
                            }
                        }
                        None => kept.push(p.clone()),
                    }
                }
                if kept.is_empty() {
                    return None;
                }
                msg.message.packet = Packet::Rtcp(kept);
            }
        }
        Some(msg)
    }

    fn bind_local(&mut self, info: &StreamInfo) {
        if !self.local.contains(&info.ssrc) {
            self.local.push(info.ssrc);
        }
    }

    fn unbind_local(&mut self, info: &StreamInfo) {
        self.local.retain(|&s| s != info.ssrc);
        self.resent.retain(|(s, _), _| *s != info.ssrc);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nack(seqs: &[u16]) -> TransportLayerNack {
        TransportLayerNack {
            sender_ssrc: 1,
            media_ssrc: 7,
            nacks: nack_pairs_from_sequence_numbers(seqs),
        }
    }

    fn list(n: &TransportLayerNack) -> Vec<u16> {
        n.nacks.iter().flat_map(|p| p.packet_list()).collect()
    }

    fn limiter() -> NackLimits {
        NackLimits {
            local: vec![7, 8],
            ..Default::default()
        }
    }

    #[test]
    fn repeated_requests_are_spaced_and_bounded() {
        let mut limiter = limiter();
        let t0 = Instant::now();
        let first = limiter.limit(&nack(&[10, 11, 30]), t0).unwrap();
        assert_eq!(list(&first), vec![10, 11, 30]);
        // Asked again 100 ms later: the resends may still be on their way.
        let soon = t0 + Duration::from_millis(100);
        assert!(limiter.limit(&nack(&[10, 11]), soon).is_none());
        // A new loss in the same request still goes through.
        let mixed = limiter.limit(&nack(&[10, 12]), soon).unwrap();
        assert_eq!(list(&mixed), vec![12]);
        // After a round trip, again; at most MAX_RESENDS times in all.
        let mut at = t0;
        let mut resends = 1;
        for _ in 0..10 {
            at += RESEND_GAP;
            resends += limiter.limit(&nack(&[30]), at).is_some() as u8;
        }
        assert_eq!(resends, MAX_RESENDS);
        // Another stream's numbers are its own.
        let other = TransportLayerNack {
            media_ssrc: 8,
            ..nack(&[10])
        };
        assert!(limiter.limit(&other, soon).is_some());
        // A stream this connection does not send: nothing to resend, nothing kept.
        let stranger = TransportLayerNack {
            media_ssrc: 99,
            ..nack(&[10])
        };
        assert!(limiter.limit(&stranger, soon).is_none());
        assert!(!limiter.resent.keys().any(|(s, _)| *s == 99));
        // Asked for again and again, it stays spent; after a silence, the same
        // number is a new packet (the sequence wrapped).
        for _ in 0..8 {
            at += Duration::from_secs(1);
            assert!(limiter.limit(&nack(&[30]), at).is_none());
        }
        assert!(limiter.limit(&nack(&[30]), at + FORGET_AFTER).is_some());
    }

    #[test]
    fn memory_is_bounded_whatever_is_asked() {
        let mut limiter = limiter();
        let t0 = Instant::now();
        for round in 0..4u16 {
            let seqs: Vec<u16> = (0..u16::MAX)
                .step_by(2)
                .map(|s| s.wrapping_add(round))
                .collect();
            for chunk in seqs.chunks(500) {
                limiter.limit(&nack(chunk), t0);
            }
        }
        assert!(limiter.resent.len() <= MAX_REMEMBERED);
    }

    #[test]
    fn old_requests_are_forgotten() {
        let mut limiter = limiter();
        let t0 = Instant::now();
        limiter.prune(t0);
        for seq in 0..100u16 {
            limiter.limit(&nack(&[seq]), t0);
        }
        limiter.prune(t0 + FORGET_AFTER + Duration::from_millis(1));
        assert!(limiter.resent.is_empty());
    }
}
