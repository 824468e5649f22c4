// <streamtracer-view>: a Streamtracer stream as one HTML element. WHEP playback over
// WebRTC, the control protocol (docs/protocol.md) on the `control` data channel, camera
// input (mouse, touch, keyboard), a statistics overlay, a scene panel for controllers,
// and reconnection with the session's resume token. A plain ES module: no build step,
// no dependencies.
//
//   <script type="module" src="https://streamtracer.example/streamtracer-view.js"></script>
//   <streamtracer-view view="main" controls></streamtracer-view>
//
// Attributes:
//   server    the server's URL (default: where this module was loaded from)
//   view      the view to watch (default `main`; a controller naming a new one opens it)
//   token     the bearer token, where the server requires one
//   controls  present (and not "off"): camera input, toolbar and, for controllers,
//             the scene panel; absent or "off": the picture and its status line only
//   stats     present: the statistics overlay starts open
//   resize    "off": keep the view's picture size; "on": follow the element's size even
//             without controls; absent: follow it when controls are on (an embed
//             without controls never resizes the view others watch)
// Changing server, view, token, controls or resize starts a new session.

const PROTOCOL = 1;
// Where this module was loaded from, path prefix included (a server behind
// https://example.com/streamtracer/ serves it as /streamtracer/streamtracer-view.js).
const MODULE_BASE = new URL('.', import.meta.url).href;
const ICE_GATHER_TIMEOUT_MS = 2000;
const DEG = Math.PI / 180;
const ROTATE_DEG_PER_PX = 0.3;
const MAX_ELEVATION = 89 * DEG; // off the poles, so `up` never aligns with the view direction
const MIN_DISTANCE = 0.05;
const MAX_DISTANCE = 1000;
const NOTICE_MS = 4000;
const RESIZE_DEBOUNCE_MS = 250;
const MIN_DIMENSION = 16;
const RECONNECT_DELAYS_MS = [500, 1000, 2000, 4000, 8000];
// Chromium says `disconnected` on a short hiccup and recovers by itself; after this
// long it is a drop.
const DISCONNECTED_GRACE_MS = 2500;
const KEY_ORBIT_DEG = 5;
const KEY_PAN = 0.05; // of the distance to the target
const KEY_ZOOM = 1.1;
// Presented frames remembered for the edit-to-frame time (about two seconds' worth).
const PRESENTED_KEPT = 64;
// `frame` messages kept to tell whether the frame on screen is denoised.
const PICTURE_NOTES_KEPT = 16;

const STYLE = `
streamtracer-view { display: block; position: relative; overflow: hidden; background: #111;
  color: #ddd; font: 13px/1.4 system-ui, sans-serif; min-height: 120px; }
streamtracer-view .stv-stage { position: absolute; inset: 0; outline: none; }
streamtracer-view video { position: absolute; inset: 0; width: 100%; height: 100%; display: block;
  object-fit: contain; background: #111; touch-action: none; user-select: none; }
streamtracer-view.stv-steerable video { cursor: grab; }
streamtracer-view.stv-dragging video { cursor: grabbing; }
streamtracer-view .stv-status { position: absolute; left: 8px; bottom: 8px; padding: 3px 8px;
  border-radius: 4px; background: rgba(0,0,0,.55); font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace;
  white-space: pre; pointer-events: none; max-width: calc(100% - 24px); overflow: hidden; text-overflow: ellipsis; }
streamtracer-view .stv-status.stv-error { color: #ff8a80; }
streamtracer-view .stv-message { position: absolute; left: 50%; top: 40%; transform: translate(-50%, -50%);
  max-width: 80%; padding: 12px 16px; border-radius: 6px; background: rgba(0,0,0,.8); color: #ffccbc;
  text-align: center; }
streamtracer-view .stv-toolbar { position: absolute; top: 8px; right: 8px; display: flex; gap: 4px; }
streamtracer-view button { font: inherit; color: #eee; background: rgba(30,30,30,.8); border: 1px solid #555;
  border-radius: 4px; padding: 3px 8px; cursor: pointer; }
streamtracer-view button:hover { background: rgba(60,60,60,.9); }
streamtracer-view button[aria-pressed="true"] { border-color: #8ab4f8; }
streamtracer-view .stv-stats { position: absolute; top: 8px; left: 8px; margin: 0; padding: 6px 10px;
  border-radius: 4px; background: rgba(0,0,0,.65); font: 12px/1.5 ui-monospace, Menlo, Consolas, monospace;
  pointer-events: none; }
streamtracer-view .stv-panel { position: absolute; top: 44px; right: 8px; bottom: 40px; width: 280px;
  overflow: auto; padding: 8px 10px; border-radius: 6px; background: rgba(20,20,20,.9); }
streamtracer-view .stv-panel h3 { margin: 10px 0 4px; font-size: 12px; text-transform: uppercase;
  letter-spacing: .05em; color: #aaa; }
streamtracer-view .stv-panel ul { list-style: none; margin: 0; padding: 0; max-height: 140px; overflow: auto; }
streamtracer-view .stv-panel li { padding: 1px 6px; border-radius: 3px; cursor: pointer;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
streamtracer-view .stv-panel li:hover { background: #333; }
streamtracer-view .stv-panel li.stv-selected { background: #264d7a; }
streamtracer-view .stv-panel label { display: flex; align-items: center; justify-content: space-between;
  gap: 6px; margin: 3px 0; }
streamtracer-view .stv-panel input[type=number] { width: 64px; }
streamtracer-view .stv-panel .stv-vec input { width: 56px; }
streamtracer-view .stv-panel .stv-note { color: #999; font-size: 11px; margin: 2px 0; }
streamtracer-view [hidden] { display: none !important; }
`;

/**
 * The element's style, once per document or shadow root: an element inside another
 * component's shadow root is out of reach of the document's style sheets.
 */
function injectStyle(element) {
  const root = element.getRootNode();
  const shadow = typeof ShadowRoot !== 'undefined' && root instanceof ShadowRoot;
  const scope = shadow ? root : document;
  if (scope.querySelector?.('style[data-streamtracer-view]')) return;
  const style = document.createElement('style');
  style.dataset.streamtracerView = '';
  style.textContent = STYLE;
  (shadow ? root : document.head).append(style);
}

// ---------------------------------------------------------------- small helpers

const isVec3 = (v) => Array.isArray(v) && v.length === 3 && v.every(Number.isFinite);
const isValidCamera = (c) =>
  !!c && isVec3(c.eye) && isVec3(c.target) && isVec3(c.up) && Number.isFinite(c.fov);
const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
const scale = (a, k) => [a[0] * k, a[1] * k, a[2] * k];
const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
const norm = (a) => { const l = Math.hypot(...a) || 1; return scale(a, 1 / l); };
/** Whether RTP timestamp `a` is `b` or later (they wrap modulo 2^32). */
const rtpNotBefore = (a, b) => ((a - b) >>> 0) < 0x80000000;
const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];

/**
 * An orthonormal basis around the camera's `up`: `u` (up itself), and `x`, `z` across
 * it, so that an orbit turns around `up` whatever axis a scene calls up. For +Y up,
 * `x` and `z` are the world's X and Z (azimuth 0 looks from +Z).
 */
function upBasis(up) {
  const u = norm(up);
  // The world axis least aligned with up, projected off it.
  const ref = Math.abs(u[2]) < 0.9 ? [0, 0, 1] : [0, 1, 0];
  const z = norm(sub(ref, scale(u, dot(ref, u))));
  const x = cross(u, z);
  return { u, x, z };
}
const round = (x, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

// Colours: the scene's are linear RGB; colour pickers speak sRGB hex.
const toLinear = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const toSrgb = (c) => (c <= 0.0031308 ? c * 12.92 : 1.055 * c ** (1 / 2.4) - 0.055);
function hexToLinear(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((v) => round(toLinear(v / 255)));
}
function linearToHex(rgb) {
  return '#' + rgb.map((v) => Math.round(clamp(toSrgb(clamp(v, 0, 1)), 0, 1) * 255)
    .toString(16).padStart(2, '0')).join('');
}

// Quaternions [x, y, z, w] to and from Euler angles in degrees (X, then Y, then Z).
function eulerToQuat([x, y, z]) {
  const [cx, sx] = [Math.cos(x * DEG / 2), Math.sin(x * DEG / 2)];
  const [cy, sy] = [Math.cos(y * DEG / 2), Math.sin(y * DEG / 2)];
  const [cz, sz] = [Math.cos(z * DEG / 2), Math.sin(z * DEG / 2)];
  return [
    sx * cy * cz - cx * sy * sz,
    cx * sy * cz + sx * cy * sz,
    cx * cy * sz - sx * sy * cz,
    cx * cy * cz + sx * sy * sz,
  ].map((v) => round(v, 6));
}
function quatToEuler([x, y, z, w]) {
  const ex = Math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y));
  const ey = Math.asin(clamp(2 * (w * y - z * x), -1, 1));
  const ez = Math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z));
  return [ex, ey, ez].map((v) => round(v / DEG, 2));
}

function hasH264() {
  const caps = window.RTCRtpReceiver?.getCapabilities?.('video');
  // Without getCapabilities we cannot tell; let the offer decide.
  if (!caps) return true;
  return caps.codecs.some((c) => /h264/i.test(c.mimeType));
}

/**
 * Ends a WHEP session at `url` with the headers that created it. keepalive lets the
 * DELETE outlive the page, so the server frees the slot at once.
 */
function endSession(url, auth) {
  fetch(url, { method: 'DELETE', headers: auth, keepalive: true }).catch(() => {});
}

function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}

// ---------------------------------------------------------------- the element

export class StreamtracerView extends HTMLElement {
  static get observedAttributes() { return ['server', 'view', 'token', 'controls', 'resize']; }

  constructor() {
    super();
    // Public, always-current state for pages, automated tests and debugging. The
    // object stays the same for the element's life (a page may keep a reference).
    this.state = {
      sendCamera: (camera) => this.sendCamera(camera),
      request: (message) => this.request(message),
    };
    this.reset();
  }

  /** Everything of one connection's life back to the start. */
  reset() {
    Object.assign(this.state, {
      state: 'new',
      framesPresented: 0,
      fps: 0,
      revision: null,
      shownRevision: null,
      session: null, // this element's WHEP session id: a secret, never sent to others
      client: null, // the public id other clients hear this one by (changed.client)
      view: null,
      camera: null,
      lastError: null,
      acks: 0,
      role: null,
      width: null,
      height: null,
      maxWidth: null,
      maxHeight: null,
      reconnects: 0,
      resolutionScale: 1,
      quality: null, // { bitrate, fps, min_bitrate, max_bitrate, max_fps } from hello
      stats: {
        fps: 0, bitrateKbps: null, rttMs: null, packetsLost: null, jitterBufferMs: null,
        samplesPerPixel: null, denoised: null, sceneRevision: null, editToFrameMs: null,
      },
    });
    this.pc = null;
    this.dc = null;
    this.sessionUrl = null;
    this.sessionAuth = {}; // the headers that created sessionUrl: its DELETE uses them
    this.resumeToken = null;
    this.nextId = 1;
    this.pending = new Map(); // request id -> { resolve, sentAt, type }
    this.orbit = { target: [0, 0, 0], up: [0, 1, 0], fov: 40, distance: 5, azimuth: 0, elevation: 0 };
    this.home = null; // the camera at the first hello: "reset view" goes back to it
    this.pointers = new Map(); // active pointers: id -> { x, y, pan }
    this.gesture = null; // two-finger gesture: { mid, dist }
    this.sendPending = false;
    this.scene = null;
    this.selected = null; // { kind, key }
    this.latency = null; // { revision, sentAt, rtp } for the edit-to-frame measurement
    this.pictureNotes = []; // see startFrameCounter
    this.shownDenoised = null;
    this.cameraRevision = null; // the newest camera move heard of (camera_changed, camera acks)
    this.closedByUs = false;
    this.fatal = false;
    this.retry = 0;
    this.reconnectTimer = null;
    this.timers = new Set();
    this.panel = null;
    this.panelButton = null;
    this.resetButton = null;
    this.statsButton = null;
    this.qualityForm = null;
    this.lastBytes = null;
  }

  /**
   * A changed server, view, token, controls or resize attribute: the element starts
   * over with a new session (after the current one is ended), once the change settles.
   */
  attributeChangedCallback(_name, before, after) {
    if (before === after || !this.stage) return;
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => this.restart(), 0);
  }

  get server() { return (this.getAttribute('server') || MODULE_BASE).replace(/\/+$/, ''); }
  get viewName() { return this.getAttribute('view') || 'main'; }
  get token() { return this.getAttribute('token') || null; }
  get controls() {
    const v = this.getAttribute('controls');
    return v !== null && !['off', 'false', '0'].includes(v.toLowerCase());
  }
  get followSize() {
    const v = this.getAttribute('resize');
    if (v === null) return this.controls;
    return !['off', 'false', '0'].includes(v.toLowerCase());
  }
  get auth() { return this.token ? { Authorization: `Bearer ${this.token}` } : {}; }
  get steerable() { return this.controls && this.state.role === 'controller'; }

  connectedCallback() {
    if (this.stage) return;
    // Moved in the document: its old session ended on the way out; start afresh.
    if (this.state.state !== 'new') this.reset();
    injectStyle(this);
    this.build();
    this.closedByUs = false;
    this.hangUpOnHide = () => this.hangUp();
    window.addEventListener('pagehide', this.hangUpOnHide);
    // A page restored from the back/forward cache: its session was ended on the way
    // out; start a new one.
    this.restartOnShow = (e) => { if (e.persisted) this.restart(); };
    window.addEventListener('pageshow', this.restartOnShow);
    this.startFrameCounter();
    this.statsTimer = setInterval(() => this.updateStats(), 1000);
    this.connect();
  }

  disconnectedCallback() {
    window.removeEventListener('pagehide', this.hangUpOnHide);
    window.removeEventListener('pageshow', this.restartOnShow);
    clearInterval(this.statsTimer);
    for (const t of [this.noticeTimer, this.resizeTimer, this.sceneTimer, this.disconnectTimer]) clearTimeout(t);
    this.resizeObserver?.disconnect();
    this.resizeObserver = null;
    this.hangUp();
    if (this.video) {
      this.video.srcObject = null;
      this.video = null; // ends its frame-callback loop
    }
    this.stage?.remove();
    this.stage = null;
  }

  /** The session ended and a new one started, with the element as it is now. */
  restart() {
    if (!this.isConnected || !this.stage) return;
    this.disconnectedCallback();
    for (const p of this.pending.values()) p.resolve(null);
    this.connectedCallback();
  }

  later(fn, ms) {
    const t = setTimeout(() => { this.timers.delete(t); fn(); }, ms);
    this.timers.add(t);
    return t;
  }

  // ------------------------------------------------------------ DOM

  build() {
    this.video = el('video', { autoplay: true, muted: true, playsInline: true });
    this.video.muted = true; // autoplay without a user gesture needs muted as a property
    this.statusEl = el('div', { class: 'stv-status' }, 'connecting');
    this.messageEl = el('div', { class: 'stv-message', hidden: true });
    this.statsEl = el('pre', { class: 'stv-stats', hidden: !this.hasAttribute('stats') });
    this.stage = el('div', { class: 'stv-stage', tabindex: '0' },
      this.video, this.statsEl, this.statusEl, this.messageEl);
    this.append(this.stage);
    if (this.controls) {
      const button = (name, label, title, onclick) =>
        el('button', { type: 'button', class: `stv-${name}`, title, onclick }, label);
      this.statsButton = button('stats-button', 'Stats', 'Show statistics (s)', () => this.toggleStats());
      this.panelButton = button('panel-button', 'Scene', 'Edit the scene', () => this.togglePanel());
      this.panelButton.hidden = true; // controllers only, once hello says so
      this.resetButton = button('reset', 'Reset', 'Reset the view (r)', () => this.resetView());
      this.resetButton.hidden = true; // only for those who may steer
      this.toolbar = el('div', { class: 'stv-toolbar' },
        this.resetButton,
        button('fullscreen', 'Fullscreen', 'Fullscreen (f)', () => this.toggleFullscreen()),
        button('png', 'PNG', 'Download the full-quality picture', () => this.downloadPng()),
        this.statsButton,
        this.panelButton);
      this.statsButton.setAttribute('aria-pressed', String(!this.statsEl.hidden));
      this.stage.append(this.toolbar);
      this.bindInput();
    }
    this.resizeObserver = new ResizeObserver(() => this.scheduleResize());
    this.resizeObserver.observe(this.video);
  }

  render() {
    const st = this.state;
    this.classList.toggle('stv-steerable', this.steerable);
    if (this.resetButton) this.resetButton.hidden = !this.steerable;
    this.statusEl.classList.toggle('stv-error', st.state === 'error');
    if (st.state === 'error') {
      this.statusEl.textContent = `error: ${st.lastError?.message ?? 'unknown'}`;
    } else {
      const rev = st.revision ?? '–';
      let text = `${st.state} · ${st.fps.toFixed(1)} fps · rev ${rev}`;
      if (st.role === 'viewer') text += ' · view only';
      if (this.notice) text += ` · ${this.notice}`;
      this.statusEl.textContent = text;
    }
  }

  showNotice(text) {
    this.notice = text;
    clearTimeout(this.noticeTimer);
    this.noticeTimer = setTimeout(() => { this.notice = null; this.render(); }, NOTICE_MS);
    this.render();
  }

  showMessage(text) {
    this.messageEl.textContent = text ?? '';
    this.messageEl.hidden = !text;
  }

  fail(message, code = 'connection') {
    this.fatal = true;
    const pc = this.pc;
    this.pc = null;
    this.dc = null;
    pc?.close();
    this.state.state = 'error';
    this.state.lastError = { type: 'error', code, message };
    // warn, not error: a refusal is the page working as intended
    console.warn('streamtracer:', message);
    this.showMessage(message);
    this.render();
  }

  // ------------------------------------------------------------ WHEP and reconnection

  waitForIceGathering(peer) {
    // Non-trickle WHEP: the offer carries every candidate, but never wait forever.
    if (peer.iceGatheringState === 'complete') return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(timer);
        peer.removeEventListener('icegatheringstatechange', onChange);
        resolve();
      };
      const onChange = () => { if (peer.iceGatheringState === 'complete') done(); };
      const timer = setTimeout(done, ICE_GATHER_TIMEOUT_MS);
      peer.addEventListener('icegatheringstatechange', onChange);
    });
  }

  async connect() {
    const st = this.state;
    if (!window.RTCPeerConnection) {
      this.fail('this browser has no WebRTC, which Streamtracer needs to show the stream', 'unsupported');
      return;
    }
    if (!hasH264()) {
      this.fail('this browser cannot decode H.264 video, which Streamtracer streams; try Chrome, Edge, Safari or Firefox with H.264 enabled', 'unsupported');
      return;
    }
    const resuming = !!this.resumeToken;
    // This attempt's server and credentials: the element's attributes may change while
    // it runs, and a session is only ever ended where, and as whom, it was created.
    const server = this.server;
    const auth = this.auth;
    st.state = resuming ? 'reconnecting' : 'connecting';
    this.render();

    const pc = new RTCPeerConnection({ iceServers: [] });
    this.pc = pc;
    pc.addTransceiver('video', { direction: 'recvonly' });
    const dc = pc.createDataChannel('control'); // ordered and reliable
    this.dc = dc;
    this.setupDataChannel(dc);

    pc.addEventListener('connectionstatechange', () => this.onConnectionState(pc));
    pc.ontrack = (e) => {
      if (pc !== this.pc) return;
      this.presented = []; // another stream's RTP timestamps
      this.pictureNotes = [];
      this.shownDenoised = null;
      this.video.srcObject = e.streams[0] || new MediaStream([e.track]);
      this.video.play().catch((err) => console.warn('streamtracer: play() failed:', err));
      // The smallest jitter buffer: latency over smoothness.
      try {
        if (e.receiver && 'jitterBufferTarget' in e.receiver) e.receiver.jitterBufferTarget = 0;
      } catch (err) {
        console.warn('streamtracer: jitterBufferTarget not settable:', err);
      }
    };

    let created = null; // the URL of a session this attempt made
    try {
      await pc.setLocalDescription(await pc.createOffer());
      await this.waitForIceGathering(pc);
      if (this.pc !== pc) return; // superseded while gathering
      const query = resuming
        ? `resume=${encodeURIComponent(this.resumeToken)}`
        : `view=${encodeURIComponent(this.viewName)}`;
      const res = await fetch(`${server}/whep?${query}`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/sdp', ...auth },
        body: pc.localDescription.sdp,
      });
      const loc = res.ok ? res.headers.get('Location') : null;
      created = loc ? new URL(loc, `${server}/`).href : null;
      const body = await res.text();
      if (this.pc !== pc) {
        // Superseded (the element was removed, hidden or changed) while the server
        // was answering: the session it made has nobody to watch it.
        if (created) endSession(created, auth);
        pc.close();
        return;
      }
      if (!res.ok) {
        pc.close();
        this.pc = null;
        this.dc = null;
        this.refused(res, body, resuming);
        return;
      }
      if (created) {
        this.sessionUrl = created;
        this.sessionAuth = auth;
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
    } catch (err) {
      if (this.pc !== pc) {
        if (created && created !== this.sessionUrl) endSession(created, auth);
        return;
      }
      pc.close();
      // A session this attempt made but could not use (a bad answer): end it.
      if (created) {
        endSession(created, auth);
        if (this.sessionUrl === created) this.sessionUrl = null;
      }
      // A network error reaching the server: keep trying, as after a drop.
      console.warn('streamtracer: connecting failed:', err);
      this.scheduleReconnect(`cannot reach the server (${err?.message ?? err})`);
    }
  }

  /** A WHEP request answered with an error status. */
  refused(res, body, resuming) {
    const detail = body.trim() || res.statusText;
    if (resuming && res.status === 404) {
      // The session expired while we were away: start a new one.
      this.resumeToken = null;
      this.sessionUrl = null;
      this.state.session = null;
      this.showNotice('session expired; starting a new one');
      this.later(() => this.connect(), 0);
      return;
    }
    if (res.status === 401) {
      this.fail(`401: the server refused this page's token (${detail}); pass a valid one with the token attribute or ?token=`, 'unauthorized');
    } else if (res.status === 403) {
      this.fail(`403: the server refused this page (${detail})`, 'forbidden');
    } else if (res.status === 503) {
      const after = Number(res.headers.get('Retry-After')) || 5;
      this.state.lastError = { type: 'error', code: 'unavailable', message: `503 ${detail}` };
      this.showMessage(`503: the server is full (${detail}); trying again in ${after} s`);
      this.state.state = 'waiting';
      this.render();
      this.later(() => { this.showMessage(null); this.connect(); }, after * 1000);
    } else if (res.status >= 500 || [404, 408, 429].includes(res.status)) {
      // Passing trouble (a proxy's 502 or 504 while the server restarts, a view not
      // opened yet): keep trying, more slowly each time.
      this.state.lastError = { type: 'error', code: 'refused', message: `${res.status} ${detail}` };
      this.showMessage(`${res.status}: ${detail}; trying again`);
      this.scheduleReconnect(`${res.status} ${detail}`);
    } else {
      this.fail(`${res.status} ${detail}`.trim(), 'refused');
    }
  }

  onConnectionState(pc) {
    if (pc !== this.pc || this.fatal) return;
    const s = pc.connectionState;
    clearTimeout(this.disconnectTimer);
    if (s === 'connected') {
      this.state.state = 'connected';
      this.retry = 0;
      this.showMessage(null);
    } else if (s === 'disconnected') {
      this.state.state = 'disconnected';
      this.disconnectTimer = this.later(() => {
        if (this.pc === pc && pc.connectionState !== 'connected') this.scheduleReconnect('connection lost');
      }, DISCONNECTED_GRACE_MS);
    } else if (s === 'failed') {
      this.scheduleReconnect('connection failed');
    } else if (s !== 'closed') {
      this.state.state = s;
    }
    this.render();
  }

  /** After a drop: a new peer connection, resuming the session while it can. */
  scheduleReconnect(why) {
    if (this.closedByUs || this.fatal || this.reconnectTimer) return;
    const old = this.pc;
    this.pc = null;
    this.dc = null;
    old?.close();
    // Requests on the dead channel will never be answered.
    for (const p of this.pending.values()) p.resolve(null);
    this.pending.clear();
    this.latency = null;
    const delay = RECONNECT_DELAYS_MS[Math.min(this.retry, RECONNECT_DELAYS_MS.length - 1)];
    this.retry += 1;
    this.state.state = 'reconnecting';
    this.showNotice(`${why}; reconnecting`);
    this.reconnectTimer = this.later(() => {
      this.reconnectTimer = null;
      this.state.reconnects += 1;
      this.connect();
    }, delay);
  }

  hangUp() {
    if (this.closedByUs) return;
    this.closedByUs = true;
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    this.reconnectTimer = null;
    // Ended where and as whom it was created, whatever the attributes say now.
    if (this.sessionUrl) endSession(this.sessionUrl, this.sessionAuth);
    this.sessionUrl = null;
    // A connect() still under way sees that it was superseded (and ends any session
    // the server makes for it).
    const pc = this.pc;
    this.pc = null;
    this.dc = null;
    pc?.close();
  }

  // ------------------------------------------------------------ control protocol

  setupDataChannel(channel) {
    channel.addEventListener('open', () => { if (channel === this.dc) this.showNotice('control open'); });
    channel.addEventListener('message', (e) => {
      // A replaced connection's channel may still deliver (its `closing`, after our
      // DELETE): it speaks of a session this element has left.
      if (channel !== this.dc || typeof e.data !== 'string') return;
      let msg;
      try {
        msg = JSON.parse(e.data);
      } catch {
        console.warn('streamtracer: ignoring a non-JSON control message');
        return;
      }
      if (msg && typeof msg === 'object') this.handleMessage(msg);
    });
  }

  send(message) {
    if (!this.dc || this.dc.readyState !== 'open') return false;
    this.dc.send(JSON.stringify(message));
    return true;
  }

  /** Sends a request; resolves with its reply (an `error` reply too), or null if not sent. */
  request(message) {
    const id = this.nextId++;
    if (!this.send({ ...message, id })) return Promise.resolve(null);
    return new Promise((resolve) => this.pending.set(id, { resolve, sentAt: performance.now(), type: message.type }));
  }

  noteRevision(rev) {
    // Revisions only grow; max() is safe however hello, ack and camera_changed interleave.
    if (Number.isFinite(rev)) this.state.revision = this.state.revision == null ? rev : Math.max(this.state.revision, rev);
  }

  handleMessage(msg) {
    const st = this.state;
    const waiting = msg.id != null ? this.pending.get(msg.id) : null;
    if (waiting) this.pending.delete(msg.id);
    switch (msg.type) {
      case 'hello':
        if (msg.protocol !== PROTOCOL) console.warn(`streamtracer: server protocol ${msg.protocol}, client ${PROTOCOL}`);
        st.session = msg.session ?? null;
        st.client = msg.client ?? null;
        st.view = msg.view ?? null;
        st.role = msg.role ?? 'controller';
        st.width = msg.width;
        st.height = msg.height;
        st.maxWidth = msg.max_width ?? null;
        st.maxHeight = msg.max_height ?? null;
        if (msg.resume_token) this.resumeToken = msg.resume_token;
        this.cameraRevision = null; // hello's camera is the current one
        if (msg.quality) st.quality = { ...msg.quality };
        this.renderQuality();
        this.noteRevision(msg.revision);
        if (isValidCamera(msg.camera)) {
          this.adoptCamera(msg.camera);
          if (!this.home) this.home = msg.camera;
        }
        if (this.panelButton) this.panelButton.hidden = st.role !== 'controller';
        if (this.panel && !this.panel.hidden) this.loadScene();
        this.scheduleResize();
        break;
      case 'resized':
        st.width = msg.width;
        st.height = msg.height;
        break;
      case 'quality_changed':
        if (st.quality) Object.assign(st.quality, { bitrate: msg.bitrate, fps: msg.fps, denoise: msg.denoise });
        this.renderQuality();
        break;
      case 'ack':
        st.acks += 1;
        this.noteRevision(msg.revision);
        if (waiting?.type === 'camera' && Number.isFinite(msg.revision)) {
          this.cameraRevision = Math.max(this.cameraRevision ?? 0, msg.revision);
        }
        if (waiting?.type === 'camera' || waiting?.type === 'edit') {
          // Time the change to its first frame on screen (see `frame`).
          this.latency = { revision: msg.revision, sentAt: waiting.sentAt, rtp: null };
        }
        if (waiting?.type === 'edit' && this.panel && !this.panel.hidden) this.scheduleSceneLoad();
        break;
      case 'camera_changed':
        // Older than the newest camera move heard of: stale. (Only camera moves count:
        // scene edits advance the same revision counter without moving the camera.)
        if (Number.isFinite(msg.revision)) {
          if (this.cameraRevision !== null && msg.revision < this.cameraRevision) break;
          this.cameraRevision = msg.revision;
        }
        this.noteRevision(msg.revision);
        // While the user steers, our own pending messages win; otherwise follow the
        // shared camera, so several pages do not fight over it.
        if (!this.pointers.size && !this.sendPending && isValidCamera(msg.camera)) this.adoptCamera(msg.camera);
        break;
      case 'frame':
        if (Number.isFinite(msg.rtp_timestamp) && typeof msg.denoised === 'boolean') {
          // From this RTP timestamp on, the pictures are (or are not) denoised.
          this.pictureNotes.push({ rtp: msg.rtp_timestamp, denoised: msg.denoised });
          if (this.pictureNotes.length > PICTURE_NOTES_KEPT) this.pictureNotes.shift();
          const last = this.presented[this.presented.length - 1];
          if (last) this.noteShown(last.rtp);
        }
        if (Number.isFinite(msg.revision)) {
          st.shownRevision = Math.max(st.shownRevision ?? 0, msg.revision);
          st.stats.sceneRevision = st.shownRevision;
          const l = this.latency;
          if (l && l.rtp == null && msg.revision >= l.revision) {
            if (Number.isFinite(msg.rtp_timestamp) && this.hasRVFC) {
              // The frame may be on screen already (the data channel can be slower
              // than the video): then it was shown when it was presented.
              const shown = this.presented.find((p) => rtpNotBefore(p.rtp, msg.rtp_timestamp));
              if (shown) this.finishLatency(shown.at);
              else l.rtp = msg.rtp_timestamp;
            } else {
              this.finishLatency();
            }
          }
        }
        break;
      case 'changed':
        // The server sends a client none of its own changes; a change named with our
        // public id (another connection of this session) is ours all the same.
        if (msg.client != null && msg.client === st.client) {
          this.noteRevision(msg.revision);
          break;
        }
        // falls through
      case 'resync':
        this.noteRevision(msg.revision);
        if (this.panel && !this.panel.hidden) this.scheduleSceneLoad();
        break;
      case 'closing':
        // The session is over on the server: it cannot be resumed.
        this.resumeToken = null;
        this.sessionUrl = null;
        this.state.session = null;
        if (msg.reason === 'shutdown') {
          // A restart, most likely: a new session once the server is back.
          this.scheduleReconnect('the server is shutting down');
        } else {
          // Ended on purpose (DELETE /whep/<session>): no reconnecting.
          this.fail('the session was ended');
        }
        break;
      case 'error':
        st.lastError = msg;
        console.warn('streamtracer: the server rejected a message', msg);
        this.showNotice(`${msg.code ?? 'error'}: ${msg.message ?? ''}`.trim());
        break;
      default:
        break; // unknown types: ignored, for forward compatibility
    }
    waiting?.resolve(msg);
    this.render();
  }

  finishLatency(at = performance.now()) {
    if (!this.latency) return;
    this.state.stats.editToFrameMs = Math.max(0, Math.round(at - this.latency.sentAt));
    this.latency = null;
  }

  // ------------------------------------------------------------ picture size

  /** The video element's size in device pixels, even, within the server's maximum, times the resolution scale. */
  wantedSize() {
    const st = this.state;
    const r = this.video.getBoundingClientRect();
    if (r.width < 1 || r.height < 1 || !st.maxWidth || !st.maxHeight) return null;
    const dpr = (window.devicePixelRatio || 1) * st.resolutionScale;
    const even = (x) => Math.max(MIN_DIMENSION, 2 * Math.floor(x / 2));
    const k = Math.min(1, st.maxWidth / (r.width * dpr), st.maxHeight / (r.height * dpr));
    return [even(r.width * dpr * k), even(r.height * dpr * k)];
  }

  scheduleResize() {
    if (!this.followSize || this.state.role !== 'controller') return;
    clearTimeout(this.resizeTimer);
    this.resizeTimer = setTimeout(() => {
      const size = this.wantedSize();
      if (!size || (size[0] === this.state.width && size[1] === this.state.height)) return;
      this.request({ type: 'resize', width: size[0], height: size[1] });
    }, RESIZE_DEBOUNCE_MS);
  }

  setResolutionScale(k) {
    this.state.resolutionScale = clamp(k, 0.1, 1);
    this.scheduleResize();
  }

  // ------------------------------------------------------------ camera

  adoptCamera(cam) {
    const o = this.orbit;
    const d = sub(cam.eye, cam.target);
    const dist = Math.hypot(...d);
    o.target = [...cam.target];
    o.up = [...cam.up];
    o.basis = upBasis(cam.up);
    o.fov = cam.fov;
    o.distance = clamp(dist || 1, MIN_DISTANCE, MAX_DISTANCE);
    if (dist > 0) {
      const { u, x, z } = o.basis;
      o.elevation = clamp(Math.asin(clamp(dot(d, u) / dist, -1, 1)), -MAX_ELEVATION, MAX_ELEVATION);
      o.azimuth = Math.atan2(dot(d, x), dot(d, z));
    }
    this.state.camera = { eye: [...cam.eye], target: [...cam.target], up: [...cam.up], fov: cam.fov };
  }

  cameraFromOrbit() {
    const { distance: r, azimuth: az, elevation: el, target: t } = this.orbit;
    const { u, x, z } = this.orbit.basis ?? upBasis(this.orbit.up);
    const ce = Math.cos(el);
    // Around `up`: the elevation (within ±89°) keeps the view direction off it.
    const offset = add(scale(u, Math.sin(el)),
      add(scale(x, ce * Math.sin(az)), scale(z, ce * Math.cos(az))));
    const eye = add(t, scale(offset, r));
    return { eye, target: [...t], up: [...this.orbit.up], fov: this.orbit.fov };
  }

  /** Sends {eye, target, up, fov}; returns the request's id, or null if the channel is not open. */
  sendCamera(camera) {
    if (!this.dc || this.dc.readyState !== 'open') {
      console.warn('streamtracer: control channel not open, camera not sent');
      return null;
    }
    const id = this.nextId;
    const { eye, target, up, fov } = camera;
    this.request({ type: 'camera', eye, target, up, fov });
    if (isValidCamera(camera)) this.adoptCamera(camera);
    return id;
  }

  /** The orbit moved: one camera message per animation frame, however many events came. */
  orbitChanged() {
    this.state.camera = this.cameraFromOrbit();
    if (this.sendPending) return;
    this.sendPending = true;
    requestAnimationFrame(() => {
      this.sendPending = false;
      if (this.state.camera) this.request({ type: 'camera', ...this.state.camera });
    });
  }

  rotate(dxDeg, dyDeg) {
    const o = this.orbit;
    // Dragging right swings the camera left around the target: the scene follows the pointer.
    o.azimuth -= dxDeg * DEG;
    o.elevation = clamp(o.elevation + dyDeg * DEG, -MAX_ELEVATION, MAX_ELEVATION);
    this.orbitChanged();
  }

  /** Moves the target (and the eye with it) by fractions of the view's height. */
  pan(dx, dy) {
    const cam = this.cameraFromOrbit();
    const forward = norm(sub(cam.target, cam.eye));
    const right = norm(cross(forward, this.orbit.up));
    const up = cross(right, forward);
    const h = 2 * this.orbit.distance * Math.tan((this.orbit.fov * DEG) / 2);
    this.orbit.target = add(this.orbit.target, add(scale(right, -dx * h), scale(up, dy * h)));
    this.orbitChanged();
  }

  zoom(factor) {
    this.orbit.distance = clamp(this.orbit.distance * factor, MIN_DISTANCE, MAX_DISTANCE);
    this.orbitChanged();
  }

  resetView() {
    if (!this.steerable || !this.home) return;
    this.adoptCamera(this.home);
    this.orbitChanged();
  }

  /** The video's picture within the element (object-fit: contain letterboxes it). */
  pictureRect() {
    const r = this.video.getBoundingClientRect();
    const vw = this.video.videoWidth || this.state.width || r.width;
    const vh = this.video.videoHeight || this.state.height || r.height;
    const k = Math.min(r.width / vw, r.height / vh);
    const w = vw * k, h = vh * k;
    return { left: r.left + (r.width - w) / 2, top: r.top + (r.height - h) / 2, width: w, height: h };
  }

  /** Double-click: the camera turns to look at the surface under the pointer. */
  async focusAt(clientX, clientY) {
    const p = this.pictureRect();
    const x = (clientX - p.left) / p.width, y = (clientY - p.top) / p.height;
    if (!(x >= 0 && x <= 1 && y >= 0 && y <= 1)) return;
    const reply = await this.request({ type: 'pick', x, y });
    if (reply?.type !== 'picked') return;
    if (!reply.hit) { this.showNotice('nothing there'); return; }
    const eye = this.cameraFromOrbit().eye;
    this.adoptCamera({ eye, target: reply.hit.point, up: this.orbit.up, fov: this.orbit.fov });
    this.orbitChanged();
    this.showNotice(`focus on ${reply.hit.object}`);
    if (this.panel && !this.panel.hidden) this.select('object', reply.hit.object);
  }

  bindInput() {
    const v = this.video;
    v.addEventListener('contextmenu', (e) => e.preventDefault());
    v.addEventListener('pointerdown', (e) => {
      this.stage.focus({ preventScroll: true }); // for the keys, whoever may steer
      if (!this.steerable || !this.state.camera) return;
      e.preventDefault();
      // Mouse: left orbits, right, middle or shift+left pans. Touch: one finger orbits, two pan and pinch.
      const pan = e.pointerType === 'mouse' && (e.button !== 0 || e.shiftKey);
      this.pointers.set(e.pointerId, { x: e.clientX, y: e.clientY, pan });
      v.setPointerCapture(e.pointerId);
      this.classList.add('stv-dragging');
      this.gesture = this.pointers.size === 2 ? this.twoFingers() : null;
    });
    v.addEventListener('pointermove', (e) => {
      const p = this.pointers.get(e.pointerId);
      if (!p) return;
      const dx = e.clientX - p.x, dy = e.clientY - p.y;
      p.x = e.clientX;
      p.y = e.clientY;
      if (!dx && !dy) return;
      const h = this.pictureRect().height || 1;
      if (this.pointers.size >= 2) {
        const now = this.twoFingers();
        if (this.gesture && now) {
          const [mx, my] = [now.mid[0] - this.gesture.mid[0], now.mid[1] - this.gesture.mid[1]];
          if (mx || my) this.pan(mx / h, my / h);
          if (this.gesture.dist > 0 && now.dist > 0) this.zoom(this.gesture.dist / now.dist);
        }
        this.gesture = now;
      } else if (p.pan) {
        this.pan(dx / h, dy / h);
      } else {
        this.rotate(dx * ROTATE_DEG_PER_PX, dy * ROTATE_DEG_PER_PX);
      }
    });
    const end = (e) => {
      if (!this.pointers.delete(e.pointerId)) return;
      if (v.hasPointerCapture(e.pointerId)) v.releasePointerCapture(e.pointerId);
      this.gesture = this.pointers.size === 2 ? this.twoFingers() : null;
      if (!this.pointers.size) this.classList.remove('stv-dragging');
    };
    v.addEventListener('pointerup', end);
    v.addEventListener('pointercancel', end);
    v.addEventListener('lostpointercapture', end);
    v.addEventListener('wheel', (e) => {
      e.preventDefault(); // the page must not scroll or zoom
      if (!this.steerable || !this.state.camera) return;
      // Lines and pages to pixels, so every mouse zooms at a similar speed.
      const unit = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? window.innerHeight : 1;
      this.zoom(Math.exp(e.deltaY * unit * 0.001));
    }, { passive: false });
    v.addEventListener('dblclick', (e) => {
      if (this.steerable && this.state.camera) this.focusAt(e.clientX, e.clientY);
    });
    this.stage.addEventListener('keydown', (e) => {
      if (e.target !== this.stage || e.ctrlKey || e.metaKey || e.altKey) return;
      const key = e.key;
      if (key === 's') { this.toggleStats(); e.preventDefault(); return; }
      if (key === 'f') { this.toggleFullscreen(); e.preventDefault(); return; }
      if (!this.steerable || !this.state.camera) return;
      const arrows = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };
      if (arrows[key]) {
        const [x, y] = arrows[key];
        if (e.shiftKey) this.pan(x * KEY_PAN, y * KEY_PAN);
        else this.rotate(x * KEY_ORBIT_DEG, y * KEY_ORBIT_DEG);
      } else if (key === '+' || key === '=') this.zoom(1 / KEY_ZOOM);
      else if (key === '-' || key === '_') this.zoom(KEY_ZOOM);
      else if (key === 'r') this.resetView();
      else return;
      e.preventDefault();
    });
  }

  twoFingers() {
    const [a, b] = [...this.pointers.values()];
    if (!a || !b) return null;
    return { mid: [(a.x + b.x) / 2, (a.y + b.y) / 2], dist: Math.hypot(a.x - b.x, a.y - b.y) };
  }

  toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else this.requestFullscreen?.()?.catch((err) => this.showNotice(`no fullscreen: ${err.message}`));
  }

  /** Downloads the server's full-quality picture of this view (not the video frame). */
  async downloadPng() {
    try {
      const res = await fetch(`${this.server}/api/snapshot.png?view=${encodeURIComponent(this.viewName)}`,
        { headers: this.auth });
      if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
      const rev = res.headers.get('X-Streamtracer-Revision') ?? this.state.revision;
      const url = URL.createObjectURL(await res.blob());
      const a = el('a', { href: url, download: `streamtracer-${this.viewName}-rev${rev}.png` });
      document.body.append(a);
      a.click();
      a.remove();
      setTimeout(() => URL.revokeObjectURL(url), 10000);
    } catch (err) {
      this.showNotice(`snapshot failed: ${err.message}`);
    }
  }

  // ------------------------------------------------------------ statistics

  startFrameCounter() {
    this.hasRVFC = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;
    this.presented = []; // the last frames on screen: { rtp, at }, oldest first
    // What the `frame` messages said of the pictures from their RTP timestamps on:
    // { rtp, denoised }, oldest first; and whether the frame on screen is denoised.
    this.pictureNotes = [];
    this.shownDenoised = null;
    if (this.hasRVFC) {
      // Frames actually presented, not just decoded. The loop belongs to this video
      // element: it ends when the element is torn down or rebuilt.
      const video = this.video;
      const onFrame = (now, meta) => {
        if (video !== this.video) return;
        this.state.framesPresented += 1;
        if (meta && Number.isFinite(meta.rtpTimestamp)) {
          const at = meta.expectedDisplayTime ?? now;
          this.presented.push({ rtp: meta.rtpTimestamp, at });
          if (this.presented.length > PRESENTED_KEPT) this.presented.shift();
          this.noteShown(meta.rtpTimestamp);
          const l = this.latency;
          // RTP timestamps grow (modulo 2^32): this frame or a later one shows the change.
          if (l && l.rtp != null && rtpNotBefore(meta.rtpTimestamp, l.rtp)) this.finishLatency(at);
        }
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    }
    this.lastFrames = 0;
    this.lastTime = performance.now();
  }

  /** Whether the frame with RTP timestamp `rtp`, on screen, is denoised: what the last
   * `frame` message at or before it said (unknown before any). */
  noteShown(rtp) {
    let denoised = null;
    for (const n of this.pictureNotes) if (rtpNotBefore(rtp, n.rtp)) denoised = n.denoised;
    this.shownDenoised = denoised;
  }

  toggleStats() {
    this.statsEl.hidden = !this.statsEl.hidden;
    this.statsButton?.setAttribute('aria-pressed', String(!this.statsEl.hidden));
    this.updateStats();
  }

  async updateStats() {
    const st = this.state;
    if (!this.hasRVFC && typeof this.video.getVideoPlaybackQuality === 'function') {
      st.framesPresented = this.video.getVideoPlaybackQuality().totalVideoFrames;
    }
    const now = performance.now();
    const dt = Math.max(1, now - this.lastTime);
    st.fps = Math.max(0, Math.round(((st.framesPresented - this.lastFrames) * 10000) / dt) / 10);
    this.lastFrames = st.framesPresented;
    this.lastTime = now;
    st.stats.fps = st.fps;
    this.render();
    // Only while playing: not before a connection, after a refusal, or while hidden.
    // Rates are differences between two readings of one stream of one connection:
    // a gap (hidden, reconnected) starts them over.
    const pc = this.pc;
    if (this.statsEl.hidden || !pc || st.state !== 'connected' || document.hidden) {
      this.lastBytes = null;
      return;
    }
    const s = st.stats;
    try {
      const report = await pc.getStats();
      const byId = new Map();
      report.forEach((r) => byId.set(r.id, r));
      let pairId = null;
      report.forEach((r) => {
        if (r.type === 'transport' && r.selectedCandidatePairId) pairId = r.selectedCandidatePairId;
      });
      report.forEach((r) => {
        if (r.type === 'inbound-rtp' && r.kind === 'video') {
          const last = this.lastBytes;
          if (last && last.pc === pc && last.id === r.id && r.timestamp > last.at) {
            s.bitrateKbps = Math.round(((r.bytesReceived - last.bytes) * 8) / (r.timestamp - last.at));
            const emitted = (r.jitterBufferEmittedCount ?? 0) - last.emitted;
            if (emitted > 0) {
              s.jitterBufferMs = Math.round(((r.jitterBufferDelay - last.delay) / emitted) * 1000);
            }
          }
          this.lastBytes = {
            pc, id: r.id, bytes: r.bytesReceived, at: r.timestamp,
            delay: r.jitterBufferDelay ?? 0, emitted: r.jitterBufferEmittedCount ?? 0,
          };
          s.packetsLost = r.packetsLost ?? null;
        }
      });
      // The round trip of the pair in use (the transport's selected one; browsers
      // without transport statistics: the nominated, succeeded pair).
      let pair = pairId ? byId.get(pairId) : null;
      if (!pair) {
        report.forEach((r) => {
          if (r.type === 'candidate-pair' && r.nominated && r.state === 'succeeded') pair = r;
        });
      }
      if (pair && Number.isFinite(pair.currentRoundTripTime)) s.rttMs = Math.round(pair.currentRoundTripTime * 1000);
      const res = await fetch(`${this.server}/api/stats?view=${encodeURIComponent(this.viewName)}`,
        { headers: this.auth });
      if (res.ok) {
        const v = await res.json();
        s.samplesPerPixel = v.samples_per_pixel ?? null;
        // The frame on screen, when the video track says which it is (WebRTC with
        // requestVideoFrameCallback); otherwise the picture being streamed.
        const denoised = this.shownDenoised ?? v.denoised;
        s.denoised = v.denoise === false ? 'off' : (denoised === true ? 'yes' : (denoised === false ? 'not yet' : null));
      }
    } catch (err) {
      console.warn('streamtracer: statistics unavailable:', err);
    }
    const show = (x, unit = '') => (x == null ? '–' : `${x}${unit}`);
    this.statsEl.textContent = [
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

  // ------------------------------------------------------------ scene panel (controllers)

  togglePanel() {
    if (this.state.role !== 'controller') return;
    if (!this.panel) this.buildPanel();
    this.panel.hidden = !this.panel.hidden;
    this.panelButton.setAttribute('aria-pressed', String(!this.panel.hidden));
    if (!this.panel.hidden) this.loadScene();
  }

  buildPanel() {
    this.lists = {
      object: el('ul', { class: 'stv-objects' }),
      material: el('ul', { class: 'stv-materials' }),
      light: el('ul', { class: 'stv-lights' }),
    };
    this.editor = el('div', { class: 'stv-editor' });
    this.settingsForm = el('div', { class: 'stv-settings' });
    this.qualityForm = el('div', { class: 'stv-quality' });
    this.panel = el('aside', { class: 'stv-panel', hidden: true },
      el('h3', {}, 'Objects'), this.lists.object,
      el('h3', {}, 'Materials'), this.lists.material,
      el('h3', {}, 'Lights'), this.lists.light,
      this.editor,
      el('h3', {}, 'Render'), this.settingsForm,
      el('h3', {}, 'Quality'), this.qualityForm);
    this.renderQuality();
    this.panel.addEventListener('keydown', (e) => e.stopPropagation());
    this.stage.append(this.panel);
  }

  scheduleSceneLoad() {
    clearTimeout(this.sceneTimer);
    this.sceneTimer = setTimeout(() => this.loadScene(), 150);
  }

  async loadScene() {
    const reply = await this.request({ type: 'get_scene' });
    if (reply?.type !== 'scene') return;
    this.scene = reply.scene;
    this.renderLists();
    this.renderSettings();
    if (this.selected) this.renderEditor();
  }

  renderLists() {
    for (const [kind, plural] of [['object', 'objects'], ['material', 'materials'], ['light', 'lights']]) {
      const entries = Object.entries(this.scene?.[plural] ?? {});
      this.lists[kind].replaceChildren(...entries.map(([key, value]) => {
        const label = value.name ? `${key} (${value.name})` : kind === 'light' || kind === 'material' ? `${key} · ${value.type}` : key;
        const li = el('li', { title: key, onclick: () => this.select(kind, key) }, label);
        li.dataset.key = key;
        li.classList.toggle('stv-selected', this.selected?.kind === kind && this.selected?.key === key);
        return li;
      }));
    }
  }

  select(kind, key) {
    this.selected = { kind, key };
    this.renderLists();
    this.renderEditor();
  }

  /** One update op; the panel reloads the scene once it is applied. */
  async update(kind, key, value) {
    const op = { op: 'update', kind, value };
    if (key != null) op.key = key;
    const reply = await this.request({ type: 'edit', ops: [op] });
    if (reply?.type === 'ack') this.scheduleSceneLoad();
    return reply;
  }

  numberInput(value, onchange, { step = 'any', min, max } = {}) {
    const input = el('input', { type: 'number', step, value: String(value) });
    if (min != null) input.min = String(min);
    if (max != null) input.max = String(max);
    input.addEventListener('change', () => {
      const x = Number(input.value);
      if (Number.isFinite(x)) onchange(x);
    });
    return input;
  }

  vecInput(label, vec, onchange) {
    const inputs = vec.map((x) => el('input', { type: 'number', step: 'any', value: String(round(x)) }));
    const changed = () => {
      const v = inputs.map((i) => Number(i.value));
      if (v.every(Number.isFinite)) onchange(v);
    };
    inputs.forEach((i) => i.addEventListener('change', changed));
    return el('label', { class: 'stv-vec' }, label, el('span', {}, ...inputs));
  }

  colorInput(label, rgb, onchange) {
    const input = el('input', { type: 'color', value: linearToHex(rgb), class: 'stv-color' });
    input.addEventListener('change', () => onchange(hexToLinear(input.value)));
    return el('label', {}, label, input);
  }

  renderEditor() {
    const sel = this.selected;
    const plural = { object: 'objects', material: 'materials', light: 'lights' }[sel?.kind];
    const value = plural && this.scene?.[plural]?.[sel.key];
    if (!value) { this.editor.replaceChildren(); return; }
    const parts = [el('h3', {}, `${sel.kind} ${sel.key}`)];
    if (sel.kind === 'object') {
      const t = value.transform ?? {};
      const tr = t.translation ?? [0, 0, 0], rot = t.rotation ?? [0, 0, 0, 1], sc = t.scale ?? [1, 1, 1];
      parts.push(
        this.vecInput('Position', tr, (v) => this.update('object', sel.key, { transform: { translation: v } })),
        this.vecInput('Rotation °', quatToEuler(rot), (v) => this.update('object', sel.key, { transform: { rotation: eulerToQuat(v) } })),
        this.vecInput('Scale', sc, (v) => this.update('object', sel.key, { transform: { scale: v } })),
        el('p', { class: 'stv-note' }, `material ${value.material}`));
      const material = this.scene.materials?.[value.material];
      if (material) parts.push(...this.materialControls(value.material, material));
    } else if (sel.kind === 'material') {
      parts.push(...this.materialControls(sel.key, value));
    } else if (sel.kind === 'light') {
      parts.push(...this.lightControls(sel.key, value));
    }
    this.editor.replaceChildren(...parts);
  }

  /**
   * Colour, roughness, metalness and emission on the server's material model: diffuse,
   * conductor (metal), dielectric (glass) and emissive. "Metal" switches between
   * diffuse and conductor; an emission above 0 makes the material emissive (radiance =
   * colour × emission), and 0 turns an emissive one back into a diffuse one.
   */
  materialControls(key, m) {
    const out = [];
    // A dielectric without a tint is clear glass: white.
    const colorOf = () => m.albedo ?? m.color ?? m.tint
      ?? (m.radiance ? norm01(m.radiance) : m.type === 'dielectric' ? [1, 1, 1] : [0.8, 0.8, 0.8]);
    const norm01 = (c) => { const k = Math.max(...c, 1e-6); return c.map((x) => round(x / k)); };
    const field = { diffuse: 'albedo', conductor: 'color', dielectric: 'tint' }[m.type];
    out.push(el('p', { class: 'stv-note' }, `material ${key}: ${m.type}`));
    out.push(this.colorInput('Colour', colorOf(), (rgb) => {
      if (m.type === 'emissive') {
        const strength = Math.max(...m.radiance);
        this.update('material', key, { radiance: rgb.map((c) => round(c * strength)) });
      } else {
        this.update('material', key, { [field]: rgb });
      }
    }));
    if (m.type === 'conductor' || m.type === 'dielectric') {
      out.push(el('label', {}, 'Roughness', this.numberInput(m.roughness ?? 0,
        (r) => this.update('material', key, { roughness: clamp(r, 0, 1) }), { step: 0.05, min: 0, max: 1 })));
    } else {
      out.push(el('p', { class: 'stv-note' }, `roughness: only metal and glass have one (${m.type} surfaces are matte or emit)`));
    }
    if (m.type === 'diffuse' || m.type === 'conductor') {
      const metal = el('input', { type: 'checkbox', checked: m.type === 'conductor', class: 'stv-metal' });
      metal.addEventListener('change', () => {
        const value = metal.checked
          ? { type: 'conductor', color: m.albedo, roughness: 0.2, texture: m.texture ?? null }
          : { type: 'diffuse', albedo: m.color, texture: m.texture ?? null };
        this.update('material', key, value);
      });
      out.push(el('label', {}, 'Metal', metal));
    }
    if (m.type !== 'dielectric') {
      const strength = m.type === 'emissive' ? round(Math.max(...m.radiance), 3) : 0;
      out.push(el('label', {}, 'Emission', this.numberInput(strength, (s) => {
        const c = colorOf();
        if (s > 0) this.update('material', key, { type: 'emissive', radiance: norm01(c).map((x) => round(x * s)) });
        else if (m.type === 'emissive') this.update('material', key, { type: 'diffuse', albedo: norm01(c).map((x) => round(x * 0.8)), texture: null });
      }, { step: 0.5, min: 0 })));
    }
    return out;
  }

  lightControls(key, l) {
    const out = [];
    const power = l.type === 'directional' ? 'irradiance' : 'intensity';
    if (l.position) out.push(this.vecInput('Position', l.position, (v) => this.update('light', key, { position: v })));
    if (l.direction) out.push(this.vecInput('Direction', l.direction, (v) => this.update('light', key, { direction: v })));
    const p = l[power] ?? [1, 1, 1];
    const strength = Math.max(...p, 0);
    const colour = strength > 0 ? p.map((x) => x / strength) : [1, 1, 1];
    // A light at strength 0 takes a colour at strength 1: zeros would change nothing.
    out.push(this.colorInput('Colour', colour, (rgb) =>
      this.update('light', key, { [power]: rgb.map((c) => round(c * (strength > 0 ? strength : 1))) })));
    out.push(el('label', {}, 'Strength', this.numberInput(round(strength, 3),
      (s) => this.update('light', key, { [power]: colour.map((c) => round(c * Math.max(0, s))) }), { min: 0 })));
    return out;
  }

  /**
   * Resolution scale (the picture size asked for with `resize`, as a fraction of the
   * element's size in device pixels; only while the element follows its size), and the
   * view's live bitrate and frame rate
   * (`quality`, within the ranges `hello` announced).
   */
  renderQuality() {
    if (!this.qualityForm) return;
    const q = this.state.quality;
    const scaleSelect = el('select', { class: 'stv-resolution-scale', onchange: (e) => this.setResolutionScale(Number(e.target.value)) },
      ...[1, 0.75, 0.5, 0.25].map((k) => el('option', { value: String(k) }, `${k * 100}%`)));
    scaleSelect.value = String(this.state.resolutionScale);
    // The scale applies to the size the element asks for: without resize, nothing to scale.
    const parts = this.followSize ? [el('label', {}, 'Resolution', scaleSelect)] : [];
    if (q) {
      parts.push(
        el('label', {}, 'Bitrate kbit/s', this.numberInput(Math.round(q.bitrate / 1000), (v) => {
          const bitrate = Math.round(clamp(v, q.min_bitrate / 1000, q.max_bitrate / 1000) * 1000);
          this.request({ type: 'quality', bitrate });
        }, { step: 100, min: Math.ceil(q.min_bitrate / 1000), max: Math.floor(q.max_bitrate / 1000) })),
        el('label', {}, 'Frame rate', this.numberInput(q.fps, (v) => {
          this.request({ type: 'quality', fps: clamp(v, 1, q.max_fps) });
        }, { step: 1, min: 1, max: q.max_fps })),
        el('label', {}, 'Denoise', el('input', {
          type: 'checkbox',
          class: 'stv-denoise',
          checked: q.denoise === true,
          onchange: (e) => this.request({ type: 'quality', denoise: e.target.checked }),
        })),
        el('p', { class: 'stv-note' }, 'The bitrate is a ceiling: a viewer\'s slower link holds the stream lower.'));
    }
    this.qualityForm.replaceChildren(...parts);
  }

  renderSettings() {
    const s = this.scene?.settings;
    if (!s) return;
    this.settingsForm.replaceChildren(
      el('label', {}, 'Max samples', this.numberInput(s.max_samples,
        (v) => this.update('settings', null, { max_samples: Math.round(clamp(v, 1, 1000000)) }), { step: 1, min: 1, max: 1000000 })),
      el('label', {}, 'Bounces', this.numberInput(s.max_bounces,
        (v) => this.update('settings', null, { max_bounces: Math.round(clamp(v, 1, 64)) }), { step: 1, min: 1, max: 64 })),
      el('label', {}, 'Exposure', this.numberInput(s.exposure,
        (v) => this.update('settings', null, { exposure: clamp(v, 0.001, 1000) }), { step: 0.1, min: 0.001, max: 1000 })));
  }
}

if (!customElements.get('streamtracer-view')) customElements.define('streamtracer-view', StreamtracerView);
