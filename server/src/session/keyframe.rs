//! Delivers viewers' keyframe requests (PLI and FIR) to the application.
//!
//! In webrtc 0.21 inbound RTCP ends at the interceptor chain unless an interceptor
//! marks a packet for the application. Only this server can answer a keyframe
//! request, since only it encodes, so this interceptor, placed last, marks exactly
//! those and drops the rest of the inbound RTCP (the interceptors before it have
//! already used reports and NACKs).

use crate::session::filter::{Filter, ReadFilter};
use rtc::interceptor::{Attribute, Packet, TaggedPacket};
use rtc::rtcp::payload_feedbacks::full_intra_request::FullIntraRequest;
use rtc::rtcp::payload_feedbacks::picture_loss_indication::PictureLossIndication;

/// Where in the chain it goes: after every built-in interceptor.
pub const SLOT: usize = 14_000;

/// Marks inbound keyframe requests for the application and drops other RTCP.
#[derive(Default)]
pub struct KeyframeRequests;

/// The interceptor.
pub type KeyframeRequestForwarder = Filter<KeyframeRequests>;

fn is_keyframe_request(packet: &dyn rtc::rtcp::Packet) -> bool {
    let any = packet.as_any();
    any.is::<PictureLossIndication>() || any.is::<FullIntraRequest>()
}

impl ReadFilter for KeyframeRequests {
    fn read(&mut self, mut msg: TaggedPacket) -> Option<TaggedPacket> {
        if let Packet::Rtcp(packets) = &msg.message.packet {
            let requests: Vec<_> = packets
                .iter()
                .filter(|p| is_keyframe_request(p.as_ref()))
                .cloned()
                .collect();
            if requests.is_empty() {
                return None;
            }
            msg.message.packet = Packet::Rtcp(requests);
            msg.message.add(Attribute::DeliverToApplication);
        }
        Some(msg)
    }
}

/// Whether a batch of RTCP delivered to the application asks for a keyframe.
pub fn asks_for_keyframe(packets: &[Box<dyn rtc::rtcp::Packet>]) -> bool {
    packets.iter().any(|p| is_keyframe_request(p.as_ref()))
}
