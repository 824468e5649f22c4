import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  connectionStep, endSession, hasH264, OfferAttempt, offerQuery, reconnectDelay, refusal,
  RECONNECT_DELAYS_MS, waitForIceGathering,
} from '../whep.js';

/** A fetch that records its calls and answers with `reply(url, init)`. */
function fakeFetch(reply = () => response(201)) {
  const calls = [];
  const f = async (url, init) => { calls.push({ url, init }); return reply(url, init); };
  f.calls = calls;
  return f;
}
function response(status, { headers = {}, body = '', text } = {}) {
  const lower = Object.fromEntries(Object.entries(headers).map(([k, v]) => [k.toLowerCase(), v]));
  return {
    status,
    ok: status >= 200 && status < 300,
    statusText: `status ${status}`,
    headers: { get: (name) => lower[name.toLowerCase()] ?? null },
    text: text ?? (async () => body),
  };
}

test('the offer opens a view, or resumes a session by its token', () => {
  assert.equal(offerQuery(null, 'main'), 'view=main');
  assert.equal(offerQuery(null, 'a b&c'), 'view=a%20b%26c');
  assert.equal(offerQuery('t+k/=', 'main'), 'resume=t%2Bk%2F%3D');
});

test('reconnecting waits longer each time, then levels off', () => {
  assert.deepEqual([0, 1, 2, 3, 4, 5, 50].map(reconnectDelay), [500, 1000, 2000, 4000, 8000, 8000, 8000]);
  assert.equal(reconnectDelay(RECONNECT_DELAYS_MS.length), RECONNECT_DELAYS_MS.at(-1));
});

test('a refused token or page is final; a full server is waited for', () => {
  const unauthorized = refusal(401, { detail: 'bad token' });
  assert.equal(unauthorized.action, 'fail');
  assert.equal(unauthorized.code, 'unauthorized');
  assert.match(unauthorized.message, /^401: .*\(bad token\).*token attribute/);
  assert.deepEqual(refusal(403, { detail: 'origin' }),
    { action: 'fail', code: 'forbidden', message: '403: the server refused this page (origin)' });
  const full = refusal(503, { detail: 'full', retryAfter: '7' });
  assert.equal(full.action, 'wait');
  assert.equal(full.seconds, 7);
  assert.deepEqual(full.error, { type: 'error', code: 'unavailable', message: '503 full' });
  assert.equal(full.shown, '503: the server is full (full); trying again in 7 s');
  assert.equal(refusal(503, { detail: 'full', retryAfter: null }).seconds, 5);
  assert.equal(refusal(503, { detail: 'full', retryAfter: 'soon' }).seconds, 5);
});

test('passing trouble is retried; an expired session starts a new one', () => {
  for (const status of [500, 502, 504, 404, 408, 429]) {
    const d = refusal(status, { detail: 'x' });
    assert.equal(d.action, 'retry', String(status));
    assert.equal(d.why, `${status} x`);
    assert.equal(d.error.code, 'refused');
    assert.equal(d.shown, `${status}: x; trying again`);
  }
  assert.deepEqual(refusal(404, { resuming: true, detail: 'unknown session' }), { action: 'new-session' });
  // Resuming changes nothing else.
  assert.equal(refusal(401, { resuming: true }).action, 'fail');
  assert.equal(refusal(503, { resuming: true }).action, 'wait');
});

test('other client errors are final, said as status and detail', () => {
  assert.deepEqual(refusal(400, { detail: 'malformed offer' }),
    { action: 'fail', code: 'refused', message: '400 malformed offer' });
  assert.equal(refusal(415, { detail: '' }).message, '415');
});

test('a peer connection state asks for grace, a reconnect, or nothing', () => {
  assert.equal(connectionStep('connected'), 'connected');
  assert.equal(connectionStep('disconnected'), 'grace');
  assert.equal(connectionStep('failed'), 'reconnect');
  assert.equal(connectionStep('closed'), 'ignore');
  assert.equal(connectionStep('connecting'), 'show');
  assert.equal(connectionStep('new'), 'show');
});

test('H.264 support is read from the receiver capabilities, assumed without them', () => {
  const receiver = (codecs) => ({ getCapabilities: (kind) => (kind === 'video' ? { codecs } : null) });
  assert.equal(hasH264(receiver([{ mimeType: 'video/VP8' }, { mimeType: 'video/H264' }])), true);
  assert.equal(hasH264(receiver([{ mimeType: 'video/VP8' }, { mimeType: 'video/AV1' }])), false);
  assert.equal(hasH264({}), true);
  assert.equal(hasH264(undefined), true);
});

test('an offer is POSTed as SDP with the credentials, and its session URL resolved', async () => {
  const f = fakeFetch(() => response(201, { headers: { Location: 'whep/abc' }, body: 'v=0 answer' }));
  const attempt = new OfferAttempt('https://h.example/prefix', { Authorization: 'Bearer T' }, f);
  const { res, body } = await attempt.post('view=main', 'v=0 offer');
  assert.equal(res.status, 201);
  assert.equal(body, 'v=0 answer');
  assert.equal(f.calls.length, 1);
  const { url, init } = f.calls[0];
  assert.equal(url, 'https://h.example/prefix/whep?view=main');
  assert.equal(init.method, 'POST');
  assert.deepEqual(init.headers, { 'Content-Type': 'application/sdp', Authorization: 'Bearer T' });
  assert.equal(init.body, 'v=0 offer');
  // Relative to the server's base, path prefix included; an absolute path from the origin.
  assert.equal(attempt.created, 'https://h.example/prefix/whep/abc');
  const g = fakeFetch(() => response(201, { headers: { Location: '/whep/xyz' } }));
  const second = new OfferAttempt('https://h.example/prefix', {}, g);
  await second.post('view=main', '');
  assert.equal(second.created, 'https://h.example/whep/xyz');
});

test('a refused offer names no session, and end() then sends nothing', async () => {
  const f = fakeFetch(() => response(503, { headers: { Location: '/whep/nope' }, body: 'full' }));
  const attempt = new OfferAttempt('http://s', {}, f);
  const { res, body } = await attempt.post('view=main', 'offer');
  assert.equal(res.status, 503);
  assert.equal(body, 'full');
  assert.equal(attempt.created, null);
  attempt.end();
  assert.equal(f.calls.length, 1);
});

test('a session whose answer cannot be read is still known, and ended with its credentials', async () => {
  const f = fakeFetch((url, init) => (init.method === 'POST'
    ? response(201, { headers: { Location: '/whep/s1' }, text: async () => { throw new Error('reset'); } })
    : response(200)));
  const attempt = new OfferAttempt('http://s:1', { Authorization: 'Bearer A' }, f);
  await assert.rejects(attempt.post('view=main', 'offer'), /reset/);
  assert.equal(attempt.created, 'http://s:1/whep/s1');
  attempt.end();
  assert.equal(f.calls.length, 2);
  assert.equal(f.calls[1].url, 'http://s:1/whep/s1');
  assert.deepEqual(f.calls[1].init, { method: 'DELETE', headers: { Authorization: 'Bearer A' }, keepalive: true });
});

test('ending a session never throws, even when the DELETE fails', async () => {
  let called = 0;
  const failing = async () => { called += 1; throw new Error('offline'); };
  endSession('http://s/whep/1', {}, failing);
  await new Promise((r) => setTimeout(r, 0)); // an unhandled rejection would fail the test run
  assert.equal(called, 1);
});

test('ICE gathering is awaited until complete, or until the timeout', async () => {
  const peer = () => {
    const listeners = new Set();
    return {
      iceGatheringState: 'gathering',
      listeners,
      addEventListener: (name, fn) => { assert.equal(name, 'icegatheringstatechange'); listeners.add(fn); },
      removeEventListener: (name, fn) => listeners.delete(fn),
      complete() { this.iceGatheringState = 'complete'; for (const fn of [...listeners]) fn(); },
    };
  };
  await waitForIceGathering({ iceGatheringState: 'complete' }, 10);
  const p = peer();
  let done = false;
  const waiting = waitForIceGathering(p, 60000).then(() => { done = true; });
  await new Promise((r) => setTimeout(r, 5));
  assert.equal(done, false);
  p.complete();
  await waiting;
  assert.equal(done, true);
  assert.equal(p.listeners.size, 0, 'its listener removed');
  const slow = peer();
  const started = Date.now();
  await waitForIceGathering(slow, 20);
  assert.ok(Date.now() - started >= 15);
  assert.equal(slow.listeners.size, 0);
});
