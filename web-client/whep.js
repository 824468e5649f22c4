// WHEP (non-trickle) as the element speaks it: the offer POSTed to /whep, the session
// named by the reply's Location, ended with a DELETE carrying the headers that created
// it; and the decisions around it: what a refusal means (final, wait, retry, start a
// new session), how long to wait before reconnecting, what a peer connection state
// asks for. No DOM: fetch and the peer connection are passed in or global.

export const ICE_GATHER_TIMEOUT_MS = 2000;
export const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
// Chromium says `disconnected` on a short hiccup and recovers by itself; after this
// long it is a drop.
export const DISCONNECTED_GRACE_MS = 2500;

/** The query of the offer's POST: resuming a session by its token, or opening `view`. */
export function offerQuery(resumeToken, view) {
  return resumeToken
    ? `resume=${encodeURIComponent(resumeToken)}`
    : `view=${encodeURIComponent(view)}`;
}

/** The delay before reconnect attempt number `retry` (0 first): growing, then level. */
export function reconnectDelay(retry) {
  return RECONNECT_DELAYS_MS[Math.min(retry, RECONNECT_DELAYS_MS.length - 1)];
}

/**
 * Ends a WHEP session at `url` with the headers that created it. keepalive lets the
 * DELETE outlive the page, so the server frees the slot at once.
 */
export function endSession(url, auth, fetchImpl = globalThis.fetch) {
  fetchImpl(url, { method: 'DELETE', headers: auth, keepalive: true }).catch(() => {});
}

/**
 * One offer to one server as one client. `created` is the URL of the session the
 * server made, as soon as its reply names one, even when reading the answer fails
 * afterwards: whoever gives up on the attempt ends it with end().
 */
export class OfferAttempt {
  constructor(server, auth, fetchImpl = null) {
    this.server = server;
    this.auth = auth;
    // null: the page's fetch when called. Called unbound: a browser's fetch refuses any
    // other `this`.
    this.fetchImpl = fetchImpl;
    this.created = null;
  }

  /** POSTs the SDP offer; resolves with the response and its body (the answer, or why not). */
  async post(query, sdp) {
    const fetchImpl = this.fetchImpl ?? globalThis.fetch;
    const res = await fetchImpl(`${this.server}/whep?${query}`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', ...this.auth },
      body: sdp,
    });
    const loc = res.ok ? res.headers.get('Location') : null;
    this.created = loc ? new URL(loc, `${this.server}/`).href : null;
    const body = await res.text();
    return { res, body };
  }

  /** Ends the session this attempt made, if any. */
  end() {
    if (this.created) endSession(this.created, this.auth, this.fetchImpl ?? globalThis.fetch);
  }
}

/**
 * What a WHEP request answered with error `status` asks for. `detail` is the reply's
 * body or status text; `retryAfter` its Retry-After header. One of:
 *   { action: 'new-session' }                the resumed session expired: start afresh
 *   { action: 'fail', code, message }        final: said, and no more tries
 *   { action: 'wait', seconds, error, shown } the server is full: try again after `seconds`
 *   { action: 'retry', error, shown, why }   passing trouble: reconnect with backoff
 */
export function refusal(status, { resuming = false, detail = '', retryAfter = null } = {}) {
  if (resuming && status === 404) return { action: 'new-session' };
  if (status === 401) {
    return {
      action: 'fail',
      code: 'unauthorized',
      message: `401: the server refused this page's token (${detail}); pass a valid one with the token attribute or ?token=`,
    };
  }
  if (status === 403) {
    return { action: 'fail', code: 'forbidden', message: `403: the server refused this page (${detail})` };
  }
  if (status === 503) {
    const seconds = Number(retryAfter) || 5;
    return {
      action: 'wait',
      seconds,
      error: { type: 'error', code: 'unavailable', message: `503 ${detail}` },
      shown: `503: the server is full (${detail}); trying again in ${seconds} s`,
    };
  }
  if (status >= 500 || [404, 408, 429].includes(status)) {
    // Passing trouble (a proxy's 502 or 504 while the server restarts, a view not
    // opened yet): keep trying, more slowly each time.
    return {
      action: 'retry',
      error: { type: 'error', code: 'refused', message: `${status} ${detail}` },
      shown: `${status}: ${detail}; trying again`,
      why: `${status} ${detail}`,
    };
  }
  return { action: 'fail', code: 'refused', message: `${status} ${detail}`.trim() };
}

/**
 * What a peer connection's new `connectionState` asks for: 'connected', 'grace' (wait
 * DISCONNECTED_GRACE_MS for it to recover), 'reconnect', 'ignore' (closed: by us), or
 * 'show' (another state, only shown).
 */
export function connectionStep(state) {
  if (state === 'connected') return 'connected';
  if (state === 'disconnected') return 'grace';
  if (state === 'failed') return 'reconnect';
  if (state === 'closed') return 'ignore';
  return 'show';
}

/** Whether this browser can decode H.264 (unknown without getCapabilities: let the offer decide). */
export function hasH264(receiver = globalThis.RTCRtpReceiver) {
  const caps = receiver?.getCapabilities?.('video');
  if (!caps) return true;
  return caps.codecs.some((c) => /h264/i.test(c.mimeType));
}

/** Resolves once `peer` has gathered its ICE candidates, or after `timeoutMs`. */
export function waitForIceGathering(peer, timeoutMs = ICE_GATHER_TIMEOUT_MS) {
  // Non-trickle WHEP: the offer carries every candidate, but never wait forever.
  if (peer.iceGatheringState === 'complete') return Promise.resolve();
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(timer);
      peer.removeEventListener('icegatheringstatechange', onChange);
      resolve();
    };
    const onChange = () => { if (peer.iceGatheringState === 'complete') done(); };
    const timer = setTimeout(done, timeoutMs);
    peer.addEventListener('icegatheringstatechange', onChange);
  });
}
