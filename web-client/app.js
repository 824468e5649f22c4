// Streamtracer browser viewer: WHEP playback + orbit camera over a data channel.
// No dependencies; served as-is by the Rust server.

const PROTOCOL = 1;
const ICE_GATHER_TIMEOUT_MS = 2000;
const DEG = Math.PI / 180;
const ROTATE_DEG_PER_PX = 0.3;
const MAX_ELEVATION = 89 * DEG; // stay off the poles so `up` never aligns with the view direction
const MIN_DISTANCE = 0.1;
const MAX_DISTANCE = 1000;
const NOTICE_MS = 4000;
const RESIZE_DEBOUNCE_MS = 250;
const MIN_DIMENSION = 16;
// `?resize=0` keeps the server's picture size instead of following the window.
const FOLLOW_SIZE = new URLSearchParams(location.search).get('resize') !== '0';
// `?token=...` is sent as the bearer token where the server requires one.
const TOKEN = new URLSearchParams(location.search).get('token');
const AUTH = TOKEN ? { Authorization: `Bearer ${TOKEN}` } : {};

const video = document.getElementById('video');
const statusEl = document.getElementById('status');

// Public, always-current state for automated tests and debugging.
const st = {
  state: 'new',
  framesPresented: 0,
  fps: 0,
  revision: null,
  shownRevision: null,
  session: null,
  camera: null,
  lastError: null,
  acks: 0,
  role: null,
  width: null,
  height: null,
  maxWidth: null,
  maxHeight: null,
  sendCamera,
};
window.streamtracer = st;

let pc = null;
let dc = null;
let sessionUrl = null; // WHEP resource from the Location header
let fatal = false; // set once a connection error is shown, so later events do not hide it
let nextId = 1;
let notice = null; // short-lived message shown after the status line
let noticeTimer = 0;

// Orbit state: spherical coordinates of (eye - target), y up.
const orbit = { target: [0, 0, 0], up: [0, 1, 0], fov: 40, distance: 5, azimuth: 0, elevation: 0 };
let dragging = null; // { id, x, y } while the left button is held
let sendPending = false; // coalesces many input events into one message per frame

// ---------------------------------------------------------------- status line

function render() {
  statusEl.classList.toggle('error', st.state === 'error');
  if (st.state === 'error') {
    statusEl.textContent = `error: ${st.lastError?.message ?? 'unknown'}`;
    return;
  }
  const rev = st.revision ?? '–';
  let text = `${st.state} · ${st.fps.toFixed(1)} fps · rev ${rev}`;
  if (notice) text += ` · ${notice}`;
  statusEl.textContent = text;
}

function showNotice(text) {
  notice = text;
  clearTimeout(noticeTimer);
  noticeTimer = setTimeout(() => { notice = null; render(); }, NOTICE_MS);
  render();
}

function fail(message) {
  fatal = true;
  st.state = 'error';
  st.lastError = { type: 'error', code: 'connection', message };
  console.warn('streamtracer:', message); // warn, not error: tests treat console errors as failures
  render();
}

// ---------------------------------------------------------------- WHEP

function waitForIceGathering(peer) {
  // Non-trickle WHEP: the offer must carry all candidates, but never wait forever.
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

async function connect() {
  st.state = 'connecting';
  render();

  pc = new RTCPeerConnection({ iceServers: [] });
  pc.addTransceiver('video', { direction: 'recvonly' });
  dc = pc.createDataChannel('control'); // default: ordered + reliable
  setupDataChannel(dc);

  pc.addEventListener('connectionstatechange', () => {
    if (fatal) return;
    st.state = pc.connectionState;
    render();
  });

  pc.ontrack = (e) => {
    video.srcObject = e.streams[0] || new MediaStream([e.track]);
    video.play().catch((err) => console.warn('streamtracer: play() failed:', err));
    // Ask for the smallest jitter buffer: we value latency over smoothness.
    try {
      if (e.receiver && 'jitterBufferTarget' in e.receiver) e.receiver.jitterBufferTarget = 0;
    } catch (err) {
      console.warn('streamtracer: jitterBufferTarget not settable:', err);
    }
  };

  try {
    await pc.setLocalDescription(await pc.createOffer());
    await waitForIceGathering(pc);

    const res = await fetch('/whep', {
      method: 'POST',
      headers: { 'Content-Type': 'application/sdp', ...AUTH },
      body: pc.localDescription.sdp,
    });
    const body = await res.text();
    if (!res.ok) {
      pc.close();
      fail(`${res.status} ${body.trim() || res.statusText}`.trim());
      return;
    }
    const loc = res.headers.get('Location');
    if (loc) sessionUrl = new URL(loc, window.location.href).href;
    await pc.setRemoteDescription({ type: 'answer', sdp: body });
  } catch (err) {
    pc?.close();
    fail(String(err?.message ?? err));
  }
}

let deleted = false;
function hangUp() {
  // keepalive lets the DELETE outlive the page so the server frees the slot at once.
  if (deleted) return;
  deleted = true;
  if (sessionUrl) fetch(sessionUrl, { method: 'DELETE', headers: AUTH, keepalive: true }).catch(() => {});
  pc?.close();
}
window.addEventListener('pagehide', hangUp);
window.addEventListener('beforeunload', hangUp);

// ---------------------------------------------------------------- control protocol

function setupDataChannel(channel) {
  channel.addEventListener('open', () => showNotice('control open'));
  channel.addEventListener('close', () => { if (!fatal) showNotice('control closed'); });
  channel.addEventListener('message', (e) => {
    if (typeof e.data !== 'string') return;
    let msg;
    try {
      msg = JSON.parse(e.data);
    } catch {
      console.warn('streamtracer: ignoring non-JSON control message');
      return;
    }
    if (msg && typeof msg === 'object') handleMessage(msg);
  });
}

function noteRevision(rev) {
  // Revisions only grow; max() keeps us safe if hello/ack/camera_changed interleave.
  if (Number.isFinite(rev)) st.revision = st.revision == null ? rev : Math.max(st.revision, rev);
}

function handleMessage(msg) {
  switch (msg.type) {
    case 'hello':
      if (msg.protocol !== PROTOCOL) console.warn(`streamtracer: server protocol ${msg.protocol}, client ${PROTOCOL}`);
      st.session = msg.session ?? null;
      // A viewer watches the view as controllers set it: no orbiting, no resizing.
      st.role = msg.role ?? 'controller';
      st.width = msg.width;
      st.height = msg.height;
      st.maxWidth = msg.max_width ?? null;
      st.maxHeight = msg.max_height ?? null;
      noteRevision(msg.revision);
      if (isValidCamera(msg.camera)) adoptCamera(msg.camera);
      scheduleResize();
      break;
    case 'resized':
      st.width = msg.width;
      st.height = msg.height;
      break;
    case 'ack':
      st.acks += 1;
      noteRevision(msg.revision);
      break;
    case 'camera_changed':
      // Events can cross: an older camera than the newest revision seen is stale.
      if (Number.isFinite(msg.revision) && st.revision !== null && msg.revision < st.revision) break;
      noteRevision(msg.revision);
      // While the user is steering, our own pending messages win; otherwise follow the
      // shared camera so several tabs do not fight over it.
      if (!dragging && !sendPending && isValidCamera(msg.camera)) adoptCamera(msg.camera);
      break;
    case 'frame':
      // The newest revision a frame sent to us shows (our edits are on screen once
      // this reaches their ack's revision).
      if (Number.isFinite(msg.revision)) st.shownRevision = Math.max(st.shownRevision ?? 0, msg.revision);
      break;
    case 'closing':
      // The server ends the session (it is stopping, or the session was deleted):
      // close at once rather than wait for the connection to time out.
      pc?.close();
      fail(msg.reason === 'shutdown' ? 'the server is shutting down' : 'the session was ended');
      break;
    case 'error':
      st.lastError = msg;
      console.warn('streamtracer: server rejected message', msg);
      showNotice(`${msg.code ?? 'error'}: ${msg.message ?? ''}`.trim());
      break;
    default:
      return; // unknown types: ignore for forward compatibility
  }
  render();
}

/**
 * The stream size that matches the video element: its size in device pixels, even,
 * scaled down (keeping the aspect ratio) to the server's maximum.
 */
function wantedSize() {
  const r = video.getBoundingClientRect();
  if (r.width < 1 || r.height < 1 || !st.maxWidth || !st.maxHeight) return null;
  const dpr = window.devicePixelRatio || 1;
  const even = (x) => Math.max(MIN_DIMENSION, 2 * Math.floor(x / 2));
  const k = Math.min(1, st.maxWidth / (r.width * dpr), st.maxHeight / (r.height * dpr));
  return [even(r.width * dpr * k), even(r.height * dpr * k)];
}

let resizeTimer = 0;
/** Asks for a stream of the element's size once its size has settled. */
function scheduleResize() {
  if (!FOLLOW_SIZE || st.role === 'viewer') return;
  clearTimeout(resizeTimer);
  resizeTimer = setTimeout(() => {
    const size = wantedSize();
    if (!size || !dc || dc.readyState !== 'open') return;
    if (size[0] === st.width && size[1] === st.height) return;
    dc.send(JSON.stringify({ type: 'resize', id: nextId++, width: size[0], height: size[1] }));
  }, RESIZE_DEBOUNCE_MS);
}
new ResizeObserver(scheduleResize).observe(video);

/** Sends {eye,target,up,fov} as a camera message; returns its id, or null if the channel is not open. */
function sendCamera(camera) {
  if (!dc || dc.readyState !== 'open') {
    console.warn('streamtracer: control channel not open, camera not sent');
    return null;
  }
  const id = nextId++;
  const { eye, target, up, fov } = camera;
  dc.send(JSON.stringify({ type: 'camera', id, eye, target, up, fov }));
  // Only adopt well-formed cameras locally; malformed ones are for the server to reject.
  if (isValidCamera(camera)) adoptCamera(camera);
  return id;
}

// ---------------------------------------------------------------- orbit camera

const isVec3 = (v) => Array.isArray(v) && v.length === 3 && v.every(Number.isFinite);
const isValidCamera = (c) =>
  !!c && isVec3(c.eye) && isVec3(c.target) && isVec3(c.up) && Number.isFinite(c.fov);
const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));

function adoptCamera(cam) {
  const d = [0, 1, 2].map((i) => cam.eye[i] - cam.target[i]);
  const dist = Math.hypot(...d);
  orbit.target = [...cam.target];
  orbit.up = [...cam.up];
  orbit.fov = cam.fov;
  orbit.distance = clamp(dist || 1, MIN_DISTANCE, MAX_DISTANCE);
  if (dist > 0) {
    orbit.elevation = clamp(Math.asin(clamp(d[1] / dist, -1, 1)), -MAX_ELEVATION, MAX_ELEVATION);
    orbit.azimuth = Math.atan2(d[0], d[2]);
  }
  st.camera = { eye: [...cam.eye], target: [...cam.target], up: [...cam.up], fov: cam.fov };
}

function cameraFromOrbit() {
  const { distance: r, azimuth: az, elevation: el, target: t } = orbit;
  const ce = Math.cos(el);
  const eye = [t[0] + r * ce * Math.sin(az), t[1] + r * Math.sin(el), t[2] + r * ce * Math.cos(az)];
  return { eye, target: [...t], up: [...orbit.up], fov: orbit.fov };
}

function orbitChanged() {
  st.camera = cameraFromOrbit();
  if (sendPending) return;
  sendPending = true;
  requestAnimationFrame(() => {
    sendPending = false;
    if (dc?.readyState === 'open' && st.camera) {
      const id = nextId++;
      dc.send(JSON.stringify({ type: 'camera', id, ...st.camera }));
    }
  });
}

video.addEventListener('pointerdown', (e) => {
  if (e.button !== 0 || !st.camera) return; // nothing to orbit before hello
  if (st.role === 'viewer') return; // watch only
  e.preventDefault();
  dragging = { id: e.pointerId, x: e.clientX, y: e.clientY };
  video.setPointerCapture(e.pointerId);
  video.classList.add('dragging');
});

video.addEventListener('pointermove', (e) => {
  if (!dragging || e.pointerId !== dragging.id) return;
  const dx = e.clientX - dragging.x;
  const dy = e.clientY - dragging.y;
  dragging.x = e.clientX;
  dragging.y = e.clientY;
  if (!dx && !dy) return;
  // Drag right swings the camera left around the target, so the scene follows the pointer.
  orbit.azimuth -= dx * ROTATE_DEG_PER_PX * DEG;
  orbit.elevation = clamp(orbit.elevation + dy * ROTATE_DEG_PER_PX * DEG, -MAX_ELEVATION, MAX_ELEVATION);
  orbitChanged();
});

function endDrag(e) {
  if (!dragging || e.pointerId !== dragging.id) return;
  dragging = null;
  video.classList.remove('dragging');
  if (video.hasPointerCapture(e.pointerId)) video.releasePointerCapture(e.pointerId);
}
video.addEventListener('pointerup', endDrag);
video.addEventListener('pointercancel', endDrag);
video.addEventListener('lostpointercapture', endDrag);

video.addEventListener('wheel', (e) => {
  e.preventDefault(); // keep the page from scrolling/zooming
  if (!st.camera || st.role === 'viewer') return;
  // Normalise line/page deltas to pixels so all mice zoom at a similar speed.
  const scale = e.deltaMode === 1 ? 16 : e.deltaMode === 2 ? window.innerHeight : 1;
  orbit.distance = clamp(orbit.distance * Math.exp(e.deltaY * scale * 0.001), MIN_DISTANCE, MAX_DISTANCE);
  orbitChanged();
}, { passive: false });

// ---------------------------------------------------------------- frame rate

const hasRVFC = 'requestVideoFrameCallback' in HTMLVideoElement.prototype;
if (hasRVFC) {
  // Counts frames actually presented to the compositor, not just decoded.
  const onFrame = () => {
    st.framesPresented += 1;
    video.requestVideoFrameCallback(onFrame);
  };
  video.requestVideoFrameCallback(onFrame);
}

let lastFrames = 0;
let lastTime = performance.now();
setInterval(() => {
  if (!hasRVFC && typeof video.getVideoPlaybackQuality === 'function') {
    st.framesPresented = video.getVideoPlaybackQuality().totalVideoFrames;
  }
  const now = performance.now();
  const frames = st.framesPresented - lastFrames;
  st.fps = Math.max(0, Math.round((frames * 1000 * 10) / Math.max(1, now - lastTime)) / 10);
  lastFrames = st.framesPresented;
  lastTime = now;
  render();
}, 1000);

connect();
