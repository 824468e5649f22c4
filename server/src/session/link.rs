//! A viewer's link estimate and the send-side congestion control that feeds it: the
//! delay-based half of Google Congestion Control, a loss-based half of our own, and a
//! pacer. Time comes with every report (`now`), so the loss half is unit-tested on a
//! made-up clock.

use rtc::interceptor::{
    BandwidthEstimator, CongestionControlBuilder, EstimatorStats, Gcc, PacerBuilder, PacketReport,
    Registry, Slot, TwccSenderBuilder,
};
use rtc::peer_connection::configuration::media_engine::MediaEngine;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpHeaderExtensionCapability, RtpCodecKind,
};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
/// view's encoder (see [`crate::view::View::add_link`]); the chain's pacer is given the estimate
/// times [`PACING_FACTOR`].
pub(super) struct LinkEstimator {
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
    pub(super) fn new(
        initial: f64,
        min: f64,
        max: f64,
        published: Arc<AtomicU64>,
    ) -> LinkEstimator {
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
pub(super) fn congestion_control(
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

#[cfg(test)]
mod tests {
    use super::*;

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
