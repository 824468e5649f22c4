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
//
// This module is the element; its parts are the modules beside it, imported relatively
// (so they load from wherever this one did): whep.js (the WHEP session and the
// reconnection decisions), protocol.js (requests and replies on the data channel),
// orbit.js and maths.js (camera maths), input.js (pointer, wheel and keys), stats.js
// (the statistics overlay's numbers), panel.js (the scene panel), config.js
// (attributes and API URLs) and dom.js (style and element builder).
//
// Length: about 770 lines, because the element's lifecycle, its connect-and-resume
// sequence and its message handlers share the element's state; the logic that can be
// tested without a browser lives in the modules above, under web-client/test/.

import { attributeOn, authHeaders, followsSize, serverBase, snapshotName, viewUrl } from './config.js';
import { el, injectStyle } from './dom.js';
import { bindInput, pictureFraction, pictureRect, PointerTracker } from './input.js';
import { clamp, isValidCamera } from './maths.js';
import * as orbit from './orbit.js';
import { ScenePanel } from './panel.js';
import { newerRevision, parseMessage, PROTOCOL, ProtocolClient, staleCameraChange } from './protocol.js';
import { framesPerSecond, PictureTimeline, readRtcStats, readViewStats, statsText } from './stats.js';
import {
  connectionStep, DISCONNECTED_GRACE_MS, endSession, hasH264, OfferAttempt, offerQuery,
  reconnectDelay, refusal, waitForIceGathering,
} from './whep.js';

// Where this module was loaded from, path prefix included (a server behind
// https://example.com/streamtracer/ serves it as /streamtracer/streamtracer-view.js).
const MODULE_BASE = new URL('.', import.meta.url).href;
const NOTICE_MS = 4000;
const RESIZE_DEBOUNCE_MS = 250;
const MIN_DIMENSION = 16;

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
    this.protocol = new ProtocolClient({
      send: (message) => this.send(message),
      handlers: this.messageHandlers(),
      after: () => this.render(),
    });
    this.orbit = orbit.newOrbit();
    this.home = null; // the camera at the first hello: "reset view" goes back to it
    this.drag = new PointerTracker(); // pointers on the picture and their gesture
    this.sendPending = false;
    this.panel = new ScenePanel(this); // the controller's scene panel, built when first shown
    // Frames presented and described, and the edit-to-frame measurement: see startFrameCounter.
    this.pictures = new PictureTimeline();
    this.cameraRevision = null; // the newest camera move heard of (camera_changed, camera acks)
    this.closedByUs = false;
    this.fatal = false;
    this.retry = 0;
    this.reconnectTimer = null;
    this.timers = new Set();
    this.panelButton = null;
    this.resetButton = null;
    this.statsButton = null;
    this.lastBytes = null;
  }

  /** Whether the frame on screen is denoised (null: unknown), from the `frame` messages. */
  get shownDenoised() { return this.pictures.shownDenoised; }

  /**
   * A changed server, view, token, controls or resize attribute: the element starts
   * over with a new session (after the current one is ended), once the change settles.
   */
  attributeChangedCallback(_name, before, after) {
    if (before === after || !this.stage) return;
    clearTimeout(this.restartTimer);
    this.restartTimer = setTimeout(() => this.restart(), 0);
  }

  get server() { return serverBase(this.getAttribute('server'), MODULE_BASE); }
  get viewName() { return this.getAttribute('view') || 'main'; }
  get token() { return this.getAttribute('token') || null; }
  get controls() { return attributeOn(this.getAttribute('controls')); }
  get followSize() { return followsSize(this.getAttribute('resize'), this.controls); }
  get auth() { return authHeaders(this.token); }
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
    for (const t of [this.noticeTimer, this.resizeTimer, this.disconnectTimer]) clearTimeout(t);
    this.panel.cancel();
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
    this.protocol.cancelAll();
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
      bindInput(this);
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
    const attempt = new OfferAttempt(this.server, this.auth);
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
      this.pictures.clear(); // another stream's RTP timestamps
      this.video.srcObject = e.streams[0] || new MediaStream([e.track]);
      this.video.play().catch((err) => console.warn('streamtracer: play() failed:', err));
      // The smallest jitter buffer: latency over smoothness.
      try {
        if (e.receiver && 'jitterBufferTarget' in e.receiver) e.receiver.jitterBufferTarget = 0;
      } catch (err) {
        console.warn('streamtracer: jitterBufferTarget not settable:', err);
      }
    };

    try {
      await pc.setLocalDescription(await pc.createOffer());
      await waitForIceGathering(pc);
      if (this.pc !== pc) return; // superseded while gathering
      const { res, body } = await attempt.post(offerQuery(this.resumeToken, this.viewName), pc.localDescription.sdp);
      if (this.pc !== pc) {
        // Superseded (the element was removed, hidden or changed) while the server
        // was answering: the session it made has nobody to watch it.
        attempt.end();
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
      if (attempt.created) {
        this.sessionUrl = attempt.created;
        this.sessionAuth = attempt.auth;
      }
      await pc.setRemoteDescription({ type: 'answer', sdp: body });
    } catch (err) {
      const created = attempt.created; // the URL of a session this attempt made
      if (this.pc !== pc) {
        if (created && created !== this.sessionUrl) attempt.end();
        return;
      }
      pc.close();
      // A session this attempt made but could not use (a bad answer): end it.
      if (created) {
        attempt.end();
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
    const d = refusal(res.status, { resuming, detail, retryAfter: res.headers.get('Retry-After') });
    if (d.action === 'new-session') {
      // The session expired while we were away: start a new one.
      this.resumeToken = null;
      this.sessionUrl = null;
      this.state.session = null;
      this.showNotice('session expired; starting a new one');
      this.later(() => this.connect(), 0);
    } else if (d.action === 'wait') {
      this.state.lastError = d.error;
      this.showMessage(d.shown);
      this.state.state = 'waiting';
      this.render();
      this.later(() => { this.showMessage(null); this.connect(); }, d.seconds * 1000);
    } else if (d.action === 'retry') {
      this.state.lastError = d.error;
      this.showMessage(d.shown);
      this.scheduleReconnect(d.why);
    } else {
      this.fail(d.message, d.code);
    }
  }

  onConnectionState(pc) {
    if (pc !== this.pc || this.fatal) return;
    const s = pc.connectionState;
    clearTimeout(this.disconnectTimer);
    switch (connectionStep(s)) {
      case 'connected':
        this.state.state = 'connected';
        this.retry = 0;
        this.showMessage(null);
        break;
      case 'grace':
        this.state.state = 'disconnected';
        this.disconnectTimer = this.later(() => {
          if (this.pc === pc && pc.connectionState !== 'connected') this.scheduleReconnect('connection lost');
        }, DISCONNECTED_GRACE_MS);
        break;
      case 'reconnect':
        this.scheduleReconnect('connection failed');
        break;
      case 'show':
        this.state.state = s;
        break;
      default:
        break; // closed: by us
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
    this.protocol.cancelAll();
    this.pictures.cancelLatency();
    const delay = reconnectDelay(this.retry);
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
      if (channel !== this.dc) return;
      const msg = parseMessage(e.data);
      if (msg) this.protocol.dispatch(msg);
    });
  }

  send(message) {
    if (!this.dc || this.dc.readyState !== 'open') return false;
    this.dc.send(JSON.stringify(message));
    return true;
  }

  /** Sends a request; resolves with its reply (an `error` reply too), or null if not sent. */
  request(message) {
    return this.protocol.request(message);
  }

  noteRevision(rev) {
    this.state.revision = newerRevision(this.state.revision, rev);
  }

  /** What each message type does; the request it answers (if any) resolves afterwards. */
  messageHandlers() {
    const st = this.state;
    const resync = (msg) => {
      this.noteRevision(msg.revision);
      if (this.panel.open) this.panel.scheduleLoad();
    };
    return {
      hello: (msg) => {
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
        this.panel.renderQuality();
        this.noteRevision(msg.revision);
        if (isValidCamera(msg.camera)) {
          this.adoptCamera(msg.camera);
          if (!this.home) this.home = msg.camera;
        }
        if (this.panelButton) this.panelButton.hidden = st.role !== 'controller';
        if (this.panel.open) this.panel.load();
        this.scheduleResize();
      },
      resized: (msg) => {
        st.width = msg.width;
        st.height = msg.height;
      },
      quality_changed: (msg) => {
        if (st.quality) Object.assign(st.quality, { bitrate: msg.bitrate, fps: msg.fps, denoise: msg.denoise });
        this.panel.renderQuality();
      },
      ack: (msg, waiting) => {
        st.acks += 1;
        this.noteRevision(msg.revision);
        if (waiting?.type === 'camera' && Number.isFinite(msg.revision)) {
          this.cameraRevision = Math.max(this.cameraRevision ?? 0, msg.revision);
        }
        if (waiting?.type === 'camera' || waiting?.type === 'edit') {
          // Time the change to its first frame on screen (see `frame`).
          this.pictures.startLatency(msg.revision, waiting.sentAt);
        }
        if (waiting?.type === 'edit' && this.panel.open) this.panel.scheduleLoad();
      },
      camera_changed: (msg) => {
        // Older than the newest camera move heard of: stale.
        if (staleCameraChange(this.cameraRevision, msg.revision)) return;
        if (Number.isFinite(msg.revision)) this.cameraRevision = msg.revision;
        this.noteRevision(msg.revision);
        // While the user steers, our own pending messages win; otherwise follow the
        // shared camera, so several pages do not fight over it.
        if (!this.drag.size && !this.sendPending && isValidCamera(msg.camera)) this.adoptCamera(msg.camera);
      },
      frame: (msg) => {
        const shownAfter = this.pictures.frameMessage(msg, this.hasRVFC);
        if (Number.isFinite(msg.revision)) {
          st.shownRevision = Math.max(st.shownRevision ?? 0, msg.revision);
          st.stats.sceneRevision = st.shownRevision;
        }
        if (shownAfter != null) st.stats.editToFrameMs = shownAfter;
      },
      changed: (msg) => {
        // The server sends a client none of its own changes; a change named with our
        // public id (another connection of this session) is ours all the same.
        if (msg.client != null && msg.client === st.client) this.noteRevision(msg.revision);
        else resync(msg);
      },
      resync,
      closing: (msg) => {
        // The session is over on the server: it cannot be resumed.
        this.resumeToken = null;
        this.sessionUrl = null;
        st.session = null;
        if (msg.reason === 'shutdown') {
          // A restart, most likely: a new session once the server is back.
          this.scheduleReconnect('the server is shutting down');
        } else {
          // Ended on purpose (DELETE /whep/<session>): no reconnecting.
          this.fail('the session was ended');
        }
      },
      error: (msg) => {
        st.lastError = msg;
        console.warn('streamtracer: the server rejected a message', msg);
        this.showNotice(`${msg.code ?? 'error'}: ${msg.message ?? ''}`.trim());
      },
    };
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
    this.state.camera = orbit.adoptCamera(this.orbit, cam);
  }

  cameraFromOrbit() {
    return orbit.cameraFromOrbit(this.orbit);
  }

  /** Sends {eye, target, up, fov}; returns the request's id, or null if the channel is not open. */
  sendCamera(camera) {
    if (!this.dc || this.dc.readyState !== 'open') {
      console.warn('streamtracer: control channel not open, camera not sent');
      return null;
    }
    const id = this.protocol.nextId;
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

  /** A camera action from input.js: rotate, pan, zoom or reset. */
  act(a) {
    if (a.type === 'rotate') this.rotate(a.dx, a.dy);
    else if (a.type === 'pan') this.pan(a.dx, a.dy);
    else if (a.type === 'zoom') this.zoom(a.factor);
    else if (a.type === 'reset') this.resetView();
  }

  rotate(dxDeg, dyDeg) {
    orbit.rotate(this.orbit, dxDeg, dyDeg);
    this.orbitChanged();
  }

  /** Moves the target (and the eye with it) by fractions of the view's height. */
  pan(dx, dy) {
    orbit.pan(this.orbit, dx, dy);
    this.orbitChanged();
  }

  zoom(factor) {
    orbit.zoom(this.orbit, factor);
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
    return pictureRect(r, vw, vh);
  }

  /** Double-click: the camera turns to look at the surface under the pointer. */
  async focusAt(clientX, clientY) {
    const at = pictureFraction(this.pictureRect(), clientX, clientY);
    if (!at) return;
    const reply = await this.request({ type: 'pick', x: at.x, y: at.y });
    if (reply?.type !== 'picked') return;
    if (!reply.hit) { this.showNotice('nothing there'); return; }
    const eye = this.cameraFromOrbit().eye;
    this.adoptCamera({ eye, target: reply.hit.point, up: this.orbit.up, fov: this.orbit.fov });
    this.orbitChanged();
    this.showNotice(`focus on ${reply.hit.object}`);
    if (this.panel.open) this.panel.select('object', reply.hit.object);
  }

  toggleFullscreen() {
    if (document.fullscreenElement) document.exitFullscreen().catch(() => {});
    else this.requestFullscreen?.()?.catch((err) => this.showNotice(`no fullscreen: ${err.message}`));
  }

  /** Downloads the server's full-quality picture of this view (not the video frame). */
  async downloadPng() {
    try {
      const res = await fetch(viewUrl(this.server, '/api/snapshot.png', this.viewName), { headers: this.auth });
      if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
      const rev = res.headers.get('X-Streamtracer-Revision') ?? this.state.revision;
      const url = URL.createObjectURL(await res.blob());
      const a = el('a', { href: url, download: snapshotName(this.viewName, rev) });
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
    // The last frames on screen and what the `frame` messages said of them: whether the
    // frame on screen is denoised, and when an edit showed.
    this.pictures.clear();
    if (this.hasRVFC) {
      // Frames actually presented, not just decoded. The loop belongs to this video
      // element: it ends when the element is torn down or rebuilt.
      const video = this.video;
      const onFrame = (now, meta) => {
        if (video !== this.video) return;
        this.state.framesPresented += 1;
        if (meta && Number.isFinite(meta.rtpTimestamp)) {
          const shownAfter = this.pictures.presentedFrame(meta.rtpTimestamp, meta.expectedDisplayTime ?? now);
          if (shownAfter != null) this.state.stats.editToFrameMs = shownAfter;
        }
        video.requestVideoFrameCallback(onFrame);
      };
      video.requestVideoFrameCallback(onFrame);
    }
    this.lastFrames = 0;
    this.lastTime = performance.now();
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
    st.fps = framesPerSecond(st.framesPresented, this.lastFrames, now, this.lastTime);
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
      this.lastBytes = readRtcStats(await pc.getStats(), s, this.lastBytes, pc);
      const res = await fetch(viewUrl(this.server, '/api/stats', this.viewName), { headers: this.auth });
      if (res.ok) readViewStats(await res.json(), s, this.shownDenoised);
    } catch (err) {
      console.warn('streamtracer: statistics unavailable:', err);
    }
    this.statsEl.textContent = statsText(s, st);
  }

  // ------------------------------------------------------------ scene panel (controllers)

  togglePanel() {
    if (this.state.role !== 'controller') return;
    const shown = this.panel.toggle();
    this.panelButton.setAttribute('aria-pressed', String(shown));
  }
}

if (!customElements.get('streamtracer-view')) customElements.define('streamtracer-view', StreamtracerView);
