// Camera input: pointer drags (mouse, touch), the wheel, keys and double-click turned
// into camera actions ({ type: 'rotate', dx, dy } in degrees, { type: 'pan', dx, dy }
// in fractions of the picture's height, { type: 'zoom', factor }, { type: 'reset' }).
// The decisions are pure (PointerTracker, keyAction, wheelZoomFactor, pictureRect,
// pictureFraction); bindInput() wires them to the element's video and stage.

export const ROTATE_DEG_PER_PX = 0.3;
export const KEY_ORBIT_DEG = 5;
export const KEY_PAN = 0.05; // of the distance to the target
export const KEY_ZOOM = 1.1;

/** Mouse: left orbits, right, middle or shift+left pans. Touch and pens: they orbit. */
export function pointerPans(pointerType, button, shiftKey) {
  return pointerType === 'mouse' && (button !== 0 || shiftKey);
}

/** The midpoint and distance of the first two pointers ({ x, y }), or null with fewer. */
export function twoFingers(pointers) {
  const [a, b] = [...pointers];
  if (!a || !b) return null;
  return { mid: [(a.x + b.x) / 2, (a.y + b.y) / 2], dist: Math.hypot(a.x - b.x, a.y - b.y) };
}

/**
 * The pointers pressed on the picture and what their moves ask for: one pointer
 * orbits (or pans, when pressed so), two pan by their midpoint and zoom by their
 * spread.
 */
export class PointerTracker {
  constructor() {
    this.pointers = new Map(); // id -> { x, y, pan }
    this.gesture = null; // two fingers: { mid, dist }
  }

  get size() { return this.pointers.size; }

  down(id, x, y, pan) {
    this.pointers.set(id, { x, y, pan });
    this.gesture = this.pointers.size === 2 ? twoFingers(this.pointers.values()) : null;
  }

  /**
   * Pointer `id` moved to (x, y): the camera actions it asks for. `height()` is the
   * picture's height in pixels, asked only when something moved.
   */
  move(id, x, y, height) {
    const p = this.pointers.get(id);
    if (!p) return [];
    const dx = x - p.x, dy = y - p.y;
    p.x = x;
    p.y = y;
    if (!dx && !dy) return [];
    const h = height();
    const actions = [];
    if (this.pointers.size >= 2) {
      const now = twoFingers(this.pointers.values());
      const before = this.gesture;
      if (before && now) {
        const [mx, my] = [now.mid[0] - before.mid[0], now.mid[1] - before.mid[1]];
        if (mx || my) actions.push({ type: 'pan', dx: mx / h, dy: my / h });
        if (before.dist > 0 && now.dist > 0) actions.push({ type: 'zoom', factor: before.dist / now.dist });
      }
      this.gesture = now;
    } else if (p.pan) {
      actions.push({ type: 'pan', dx: dx / h, dy: dy / h });
    } else {
      actions.push({ type: 'rotate', dx: dx * ROTATE_DEG_PER_PX, dy: dy * ROTATE_DEG_PER_PX });
    }
    return actions;
  }

  /** Pointer `id` lifted (or lost); whether it was one of ours. */
  up(id) {
    if (!this.pointers.delete(id)) return false;
    this.gesture = this.pointers.size === 2 ? twoFingers(this.pointers.values()) : null;
    return true;
  }
}

const ARROWS = { ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, -1], ArrowDown: [0, 1] };

/** The camera action of a key (arrows orbit, shift+arrows pan, +/- zoom, r resets), or null. */
export function keyAction(key, shiftKey) {
  if (Object.hasOwn(ARROWS, key)) {
    const [x, y] = ARROWS[key];
    return shiftKey
      ? { type: 'pan', dx: x * KEY_PAN, dy: y * KEY_PAN }
      : { type: 'rotate', dx: x * KEY_ORBIT_DEG, dy: y * KEY_ORBIT_DEG };
  }
  if (key === '+' || key === '=') return { type: 'zoom', factor: 1 / KEY_ZOOM };
  if (key === '-' || key === '_') return { type: 'zoom', factor: KEY_ZOOM };
  if (key === 'r') return { type: 'reset' };
  return null;
}

/** The zoom factor of a wheel turn: lines and pages to pixels, so every mouse zooms at a similar speed. */
export function wheelZoomFactor(deltaY, deltaMode, pageHeight) {
  const unit = deltaMode === 1 ? 16 : deltaMode === 2 ? pageHeight : 1;
  return Math.exp(deltaY * unit * 0.001);
}

/**
 * The picture within the video element's box `r` ({ left, top, width, height }) for a
 * picture of `vw` x `vh`: object-fit: contain letterboxes it.
 */
export function pictureRect(r, vw, vh) {
  const k = Math.min(r.width / vw, r.height / vh);
  const w = vw * k, h = vh * k;
  return { left: r.left + (r.width - w) / 2, top: r.top + (r.height - h) / 2, width: w, height: h };
}

/** A point in client pixels as fractions (0..1) of picture `p`, or null outside it. */
export function pictureFraction(p, clientX, clientY) {
  const x = (clientX - p.left) / p.width, y = (clientY - p.top) / p.height;
  return x >= 0 && x <= 1 && y >= 0 && y <= 1 ? { x, y } : null;
}

/**
 * Wires the element's video and stage to camera actions. `view` is the element: its
 * `video`, `stage`, `drag` (a PointerTracker), `steerable`, `state.camera`, and act(),
 * focusAt(), pictureRect(), toggleStats(), toggleFullscreen(), classList.
 */
export function bindInput(view) {
  const v = view.video;
  v.addEventListener('contextmenu', (e) => e.preventDefault());
  v.addEventListener('pointerdown', (e) => {
    view.stage.focus({ preventScroll: true }); // for the keys, whoever may steer
    if (!view.steerable || !view.state.camera) return;
    e.preventDefault();
    // Touch: one finger orbits, two pan and pinch.
    view.drag.down(e.pointerId, e.clientX, e.clientY, pointerPans(e.pointerType, e.button, e.shiftKey));
    v.setPointerCapture(e.pointerId);
    view.classList.add('stv-dragging');
  });
  v.addEventListener('pointermove', (e) => {
    const actions = view.drag.move(e.pointerId, e.clientX, e.clientY, () => view.pictureRect().height || 1);
    for (const a of actions) view.act(a);
  });
  const end = (e) => {
    if (!view.drag.up(e.pointerId)) return;
    if (v.hasPointerCapture(e.pointerId)) v.releasePointerCapture(e.pointerId);
    if (!view.drag.size) view.classList.remove('stv-dragging');
  };
  v.addEventListener('pointerup', end);
  v.addEventListener('pointercancel', end);
  v.addEventListener('lostpointercapture', end);
  v.addEventListener('wheel', (e) => {
    e.preventDefault(); // the page must not scroll or zoom
    if (!view.steerable || !view.state.camera) return;
    view.act({ type: 'zoom', factor: wheelZoomFactor(e.deltaY, e.deltaMode, window.innerHeight) });
  }, { passive: false });
  v.addEventListener('dblclick', (e) => {
    if (view.steerable && view.state.camera) view.focusAt(e.clientX, e.clientY);
  });
  view.stage.addEventListener('keydown', (e) => {
    if (e.target !== view.stage || e.ctrlKey || e.metaKey || e.altKey) return;
    const key = e.key;
    if (key === 's') { view.toggleStats(); e.preventDefault(); return; }
    if (key === 'f') { view.toggleFullscreen(); e.preventDefault(); return; }
    if (!view.steerable || !view.state.camera) return;
    const action = keyAction(key, e.shiftKey);
    if (!action) return;
    view.act(action);
    e.preventDefault();
  });
}
