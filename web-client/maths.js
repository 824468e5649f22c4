// Small numeric helpers shared by the player's modules: 3-vectors as arrays, clamping,
// rounding, and the camera's shape. Pure: no DOM.

export const DEG = Math.PI / 180;

export const clamp = (x, lo, hi) => Math.min(hi, Math.max(lo, x));
export const round = (x, digits = 4) => Math.round(x * 10 ** digits) / 10 ** digits;

export const sub = (a, b) => [a[0] - b[0], a[1] - b[1], a[2] - b[2]];
export const add = (a, b) => [a[0] + b[0], a[1] + b[1], a[2] + b[2]];
export const scale = (a, k) => [a[0] * k, a[1] * k, a[2] * k];
export const dot = (a, b) => a[0] * b[0] + a[1] * b[1] + a[2] * b[2];
export const cross = (a, b) => [a[1] * b[2] - a[2] * b[1], a[2] * b[0] - a[0] * b[2], a[0] * b[1] - a[1] * b[0]];
/** `a` at length 1 (a zero vector stays zero). */
export const norm = (a) => { const l = Math.hypot(...a) || 1; return scale(a, 1 / l); };

export const isVec3 = (v) => Array.isArray(v) && v.length === 3 && v.every(Number.isFinite);
/** Whether `c` is a whole camera: `eye`, `target` and `up` 3-vectors and a finite `fov`. */
export const isValidCamera = (c) =>
  !!c && isVec3(c.eye) && isVec3(c.target) && isVec3(c.up) && Number.isFinite(c.fov);
