// Statistics of the picture: which frame on screen is denoised and how long an edit
// took to show, both by matching the `frame` messages' RTP timestamps to the frames
// presented (requestVideoFrameCallback); the frame rate; the WebRTC statistics report
// read into rates; and the overlay's text. Pure: no DOM.

// Presented frames remembered for the edit-to-frame time (about two seconds' worth).
export const PRESENTED_KEPT = 64;
// `frame` messages kept to tell whether the frame on screen is denoised.
export const PICTURE_NOTES_KEPT = 16;

/** Whether RTP timestamp `a` is `b` or later (they wrap modulo 2^32). */
export const rtpNotBefore = (a, b) => ((a - b) >>> 0) < 0x80000000;

/**
 * Whether the frame with RTP timestamp `rtp` is denoised: what the last note ({ rtp,
 * denoised }, oldest first) at or before it said; null before any.
 */
export function denoisedAt(notes, rtp) {
  let denoised = null;
  for (const n of notes) if (rtpNotBefore(rtp, n.rtp)) denoised = n.denoised;
  return denoised;
}

function pushBounded(list, item, max) {
  list.push(item);
  if (list.length > max) list.shift();
}

/**
 * The frames of one stream as presented and as the server described them, and the
 * edit-to-frame measurement: an acknowledged change (startLatency) is on screen with
 * the first frame presented at or after the RTP timestamp of the first `frame` message
 * at or after its revision. The methods that can complete the measurement return its
 * time in milliseconds, or null.
 */
export class PictureTimeline {
  constructor(now = () => performance.now()) {
    this.now = now;
    this.latency = null; // { revision, sentAt, rtp }
    this.clear();
  }

  /** Another stream: its RTP timestamps start over (a measurement under way goes on). */
  clear() {
    this.presented = []; // the last frames on screen: { rtp, at }, oldest first
    this.notes = []; // what `frame` messages said from their RTP timestamps on: { rtp, denoised }
    this.shownDenoised = null; // whether the frame on screen is denoised (null: unknown)
  }

  /** A camera move or edit acknowledged at `revision`, sent at `sentAt`: time it to the screen. */
  startLatency(revision, sentAt) {
    this.latency = { revision, sentAt, rtp: null };
  }

  cancelLatency() {
    this.latency = null;
  }

  /** A frame with RTP timestamp `rtp` went on screen at `at`. */
  presentedFrame(rtp, at) {
    pushBounded(this.presented, { rtp, at }, PRESENTED_KEPT);
    this.shownDenoised = denoisedAt(this.notes, rtp);
    const l = this.latency;
    // RTP timestamps grow (modulo 2^32): this frame or a later one shows the change.
    if (l && l.rtp != null && rtpNotBefore(rtp, l.rtp)) return this.finish(at);
    return null;
  }

  /**
   * A `frame` message. `rvfc`: whether presented frames are known; without them, the
   * change counts as shown when its frame is announced.
   */
  frameMessage(msg, rvfc) {
    if (Number.isFinite(msg.rtp_timestamp) && typeof msg.denoised === 'boolean') {
      // From this RTP timestamp on, the pictures are (or are not) denoised.
      pushBounded(this.notes, { rtp: msg.rtp_timestamp, denoised: msg.denoised }, PICTURE_NOTES_KEPT);
      const last = this.presented[this.presented.length - 1];
      if (last) this.shownDenoised = denoisedAt(this.notes, last.rtp);
    }
    const l = this.latency;
    if (!Number.isFinite(msg.revision) || !l || l.rtp != null || !(msg.revision >= l.revision)) return null;
    if (Number.isFinite(msg.rtp_timestamp) && rvfc) {
      // The frame may be on screen already (the data channel can be slower than the
      // video): then it was shown when it was presented.
      const shown = this.presented.find((p) => rtpNotBefore(p.rtp, msg.rtp_timestamp));
      if (shown) return this.finish(shown.at);
      l.rtp = msg.rtp_timestamp;
      return null;
    }
    return this.finish(this.now());
  }

  finish(at) {
    if (!this.latency) return null;
    const ms = Math.max(0, Math.round(at - this.latency.sentAt));
    this.latency = null;
    return ms;
  }
}

/** Frames per second, to a tenth, between two readings of a frame counter. */
export function framesPerSecond(frames, lastFrames, now, lastTime) {
  const dt = Math.max(1, now - lastTime);
  return Math.max(0, Math.round(((frames - lastFrames) * 10000) / dt) / 10);
}

/**
 * Reads a WebRTC statistics report (anything with forEach over its entries) of peer
 * connection `pc` into `s`: bitrate and jitter buffer delay (rates against `last`, the
 * previous reading, when it is of the same stream of the same connection), packets
 * lost, and the round trip of the pair in use. Returns the reading to pass next time.
 */
export function readRtcStats(report, s, last, pc) {
  const byId = new Map();
  report.forEach((r) => byId.set(r.id, r));
  let pairId = null;
  report.forEach((r) => {
    if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
  });
  let reading = last;
  report.forEach((r) => {
    if (r.type === 'inbound-rtp' && r.kind === 'video') {
      const prev = reading;
      if (prev && prev.pc === pc && prev.id === r.id && r.timestamp > prev.at) {
        s.bitrateKbps = Math.round(((r.bytesReceived - prev.bytes) * 8) / (r.timestamp - prev.at));
        const emitted = (r.jitterBufferEmittedCount ?? 0) - prev.emitted;
        if (emitted > 0) {
          s.jitterBufferMs = Math.round(((r.jitterBufferDelay - prev.delay) / emitted) * 1000);
        }
      }
      reading = {
        pc, id: r.id, bytes: r.bytesReceived, at: r.timestamp,
        delay: r.jitterBufferDelay ?? 0, emitted: r.jitterBufferEmittedCount ?? 0,
      };
      s.packetsLost = r.packetsLost ?? null;
    }
  });
  // The round trip of the pair in use (the transport's selected one; browsers without
  // transport statistics: the nominated, succeeded pair).
  let pair = pairId ? byId.get(pairId) : null;
  if (!pair) {
    report.forEach((r) => {
      if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r;
    });
  }
  if (pair && Number.isFinite(pair.currentRoundTripTime)) s.rttMs = Math.round(pair.currentRoundTripTime * 1000);
  return reading;
}

/**
 * The overlay's "denoised": of the frame on screen when the video track says which it
 * is (`shownDenoised`), otherwise of the picture being streamed (`/api/stats`' reply).
 */
export function denoisedLabel(apiStats, shownDenoised) {
  const denoised = shownDenoised ?? apiStats.denoised;
  if (apiStats.denoise === false) return 'off';
  if (denoised === true) return 'yes';
  if (denoised === false) return 'not yet';
  return null;
}

/**
 * Reads the view's `/api/stats` reply `v` into `s`: samples per pixel, and whether the
 * picture is denoised (see denoisedLabel).
 */
export function readViewStats(v, s, shownDenoised) {
  s.samplesPerPixel = v.samples_per_pixel ?? null;
  s.denoised = denoisedLabel(v, shownDenoised);
}

/** The overlay's text: statistics `s`, revision and size from the element's state `st`. */
export function statsText(s, st) {
  const show = (x, unit = '') => (x == null ? '–' : `${x}${unit}`);
  return [
    `fps          ${s.fps.toFixed(1)}`,
    `bitrate      ${show(s.bitrateKbps, ' kbit/s')}`,
    `rtt          ${show(s.rttMs, ' ms')}`,
    `packets lost ${show(s.packetsLost)}`,
    `jitter buf.  ${show(s.jitterBufferMs, ' ms')}`,
    `samples/px   ${show(s.samplesPerPixel)}`,
    `denoised     ${show(s.denoised)}`,
    `revision     ${show(s.sceneRevision ?? st.revision)}`,
    `edit→frame   ${show(s.editToFrameMs, ' ms')}`,
    `size         ${show(st.width)}×${show(st.height)}`,
  ].join('\n');
}
