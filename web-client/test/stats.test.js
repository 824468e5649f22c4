import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  denoisedAt, denoisedLabel, framesPerSecond, PICTURE_NOTES_KEPT, PictureTimeline, PRESENTED_KEPT,
  readRtcStats, readViewStats, rtpNotBefore, statsText,
} from '../stats.js';

test('RTP timestamps compare across their wrap at 2^32', () => {
  assert.equal(rtpNotBefore(10, 10), true);
  assert.equal(rtpNotBefore(11, 10), true);
  assert.equal(rtpNotBefore(9, 10), false);
  assert.equal(rtpNotBefore(5, 2 ** 32 - 5), true, 'just after the wrap is later');
  assert.equal(rtpNotBefore(2 ** 32 - 5, 5), false);
});

test('a frame is denoised as the last note at or before it says', () => {
  const notes = [{ rtp: 100, denoised: false }, { rtp: 200, denoised: true }, { rtp: 300, denoised: false }];
  assert.equal(denoisedAt(notes, 50), null);
  assert.equal(denoisedAt(notes, 100), false);
  assert.equal(denoisedAt(notes, 250), true);
  assert.equal(denoisedAt(notes, 1000), false);
  assert.equal(denoisedAt([], 1000), null);
});

test('the frame on screen is denoised once a note covers it, in either order', () => {
  const t = new PictureTimeline(() => 0);
  t.presentedFrame(1000, 1);
  assert.equal(t.shownDenoised, null);
  t.frameMessage({ rtp_timestamp: 1000, denoised: true }, true);
  assert.equal(t.shownDenoised, true, 'a note about the frame already on screen');
  t.frameMessage({ rtp_timestamp: 4000, denoised: false }, true);
  assert.equal(t.shownDenoised, true, 'a note about a later frame changes nothing yet');
  t.presentedFrame(4000, 2);
  assert.equal(t.shownDenoised, false);
  t.clear();
  assert.equal(t.shownDenoised, null);
  assert.deepEqual([t.presented, t.notes], [[], []]);
});

test('an edit is timed to the first frame presented at or after its frame', () => {
  const t = new PictureTimeline(() => 0);
  t.presentedFrame(900, 1000);
  t.startLatency(5, 990);
  assert.equal(t.frameMessage({ revision: 4, rtp_timestamp: 950 }, true), null, 'an older revision');
  assert.equal(t.frameMessage({ revision: 5, rtp_timestamp: 1800 }, true), null);
  assert.equal(t.latency.rtp, 1800);
  assert.equal(t.presentedFrame(1700, 1030), null, 'an earlier frame');
  assert.equal(t.presentedFrame(1800, 1062.4), 72);
  assert.equal(t.latency, null);
  assert.equal(t.presentedFrame(1900, 1100), null, 'measured once');
});

test('an edit whose frame is already on screen counts from when it was presented', () => {
  const t = new PictureTimeline(() => 5000);
  t.startLatency(3, 100);
  t.presentedFrame(3000, 150);
  t.presentedFrame(6000, 180);
  assert.equal(t.frameMessage({ revision: 3, rtp_timestamp: 2500 }, true), 50);
});

test('without presented frames, an edit counts as shown when its frame is announced', () => {
  const t = new PictureTimeline(() => 260);
  t.startLatency(2, 200);
  assert.equal(t.frameMessage({ revision: 2, rtp_timestamp: 10 }, false), 60);
  t.startLatency(3, 200);
  assert.equal(t.frameMessage({ revision: 3 }, true), 60, 'a frame message without a timestamp');
  t.startLatency(4, 300);
  assert.equal(t.frameMessage({ revision: 4 }, true), 0, 'never negative');
  t.startLatency(5, 0);
  t.cancelLatency();
  assert.equal(t.frameMessage({ revision: 9 }, false), null);
});

test('the lists of frames and notes are bounded', () => {
  const t = new PictureTimeline(() => 0);
  for (let i = 0; i < PRESENTED_KEPT + 10; i++) t.presentedFrame(i * 3000, i);
  for (let i = 0; i < PICTURE_NOTES_KEPT + 10; i++) t.frameMessage({ rtp_timestamp: i, denoised: true }, true);
  assert.equal(t.presented.length, PRESENTED_KEPT);
  assert.equal(t.presented[0].rtp, 10 * 3000, 'the oldest dropped');
  assert.equal(t.notes.length, PICTURE_NOTES_KEPT);
});

test('frames per second, to a tenth', () => {
  assert.equal(framesPerSecond(130, 100, 2000, 1000), 30);
  assert.equal(framesPerSecond(101, 100, 1300, 1000), 3.3);
  assert.equal(framesPerSecond(100, 100, 1000, 1000), 0);
  assert.equal(framesPerSecond(0, 100, 2000, 1000), 0, 'a reset counter is not negative');
});

/** A statistics report: a Map-like with forEach over its entries. */
const report = (...entries) => ({ forEach: (fn) => entries.forEach(fn) });
const inbound = (over) => ({ id: 'in1', type: 'inbound-rtp', kind: 'video', bytesReceived: 0,
  timestamp: 0, jitterBufferDelay: 0, jitterBufferEmittedCount: 0, packetsLost: 0, ...over });

test('bitrate and jitter buffer are rates between two readings of one stream', () => {
  const pc = {};
  const s = {};
  let last = readRtcStats(report(inbound({ bytesReceived: 1000, timestamp: 1000, jitterBufferDelay: 1, jitterBufferEmittedCount: 10, packetsLost: 2 })), s, null, pc);
  assert.equal(s.bitrateKbps, undefined, 'no rate from one reading');
  assert.equal(s.packetsLost, 2);
  last = readRtcStats(report(inbound({ bytesReceived: 126000, timestamp: 2000, jitterBufferDelay: 1.6, jitterBufferEmittedCount: 30, packetsLost: 3 })), s, last, pc);
  assert.equal(s.bitrateKbps, 1000);
  assert.equal(s.jitterBufferMs, 30);
  assert.equal(s.packetsLost, 3);
  // Another connection's reading starts over.
  const t = {};
  readRtcStats(report(inbound({ bytesReceived: 999999, timestamp: 3000 })), t, last, {});
  assert.equal(t.bitrateKbps, undefined);
  assert.equal(readRtcStats(report(), {}, last, pc), last, 'no video: the last reading kept');
});

test('the round trip is the selected pair\'s, or else the nominated succeeded one\'s', () => {
  const s = {};
  readRtcStats(report(
    { id: 't', type: 'transport', selectedCandidatePairId: 'p2' },
    { id: 'p1', type: 'candidate-pair', nominated: true, state: 'succeeded', currentRoundTripTime: 0.5 },
    { id: 'p2', type: 'candidate-pair', currentRoundTripTime: 0.0123 },
  ), s, null, {});
  assert.equal(s.rttMs, 12);
  const f = {};
  readRtcStats(report(
    { id: 'p1', type: 'candidate-pair', nominated: false, state: 'succeeded', currentRoundTripTime: 0.5 },
    { id: 'p3', type: 'candidate-pair', nominated: true, state: 'succeeded', currentRoundTripTime: 0.04 },
  ), f, null, {});
  assert.equal(f.rttMs, 40);
  const none = {};
  readRtcStats(report({ id: 'p', type: 'candidate-pair', nominated: true, state: 'in-progress', currentRoundTripTime: 1 }), none, null, {});
  assert.equal(none.rttMs, undefined);
});

test('denoised: of the frame on screen when known, else of the picture streamed', () => {
  assert.equal(denoisedLabel({ denoised: false }, true), 'yes');
  assert.equal(denoisedLabel({ denoised: true }, false), 'not yet');
  assert.equal(denoisedLabel({ denoised: true }, null), 'yes');
  assert.equal(denoisedLabel({}, null), null);
  assert.equal(denoisedLabel({ denoise: false, denoised: true }, true), 'off');
  const s = {};
  readViewStats({ samples_per_pixel: 64, denoised: false }, s, null);
  assert.deepEqual(s, { samplesPerPixel: 64, denoised: 'not yet' });
  readViewStats({}, s, null);
  assert.deepEqual(s, { samplesPerPixel: null, denoised: null });
});

test('the overlay lists every number, a dash for the unknown', () => {
  const s = { fps: 29.96, bitrateKbps: 2500, rttMs: null, packetsLost: 0, jitterBufferMs: null,
    samplesPerPixel: 16, denoised: 'yes', sceneRevision: null, editToFrameMs: 85 };
  const text = statsText(s, { revision: 12, width: 1280, height: 720 });
  const lines = text.split('\n');
  assert.equal(lines.length, 10);
  assert.equal(lines[0], 'fps          30.0');
  assert.ok(lines.includes('bitrate      2500 kbit/s'));
  assert.ok(lines.includes('rtt          –'));
  assert.ok(lines.includes('packets lost 0'));
  assert.ok(lines.includes('revision     12'), 'the scene revision falls back to the state\'s');
  assert.ok(lines.includes('edit→frame   85 ms'));
  assert.equal(lines.at(-1), 'size         1280×720');
  assert.ok(statsText({ ...s, sceneRevision: 14 }, { revision: 12 }).includes('revision     14'));
});
