import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  KEY_ORBIT_DEG, KEY_PAN, KEY_ZOOM, keyAction, pictureFraction, pictureRect, PointerTracker,
  pointerPans, ROTATE_DEG_PER_PX, twoFingers, wheelZoomFactor,
} from '../input.js';

const H = () => 200;

test('the left mouse button orbits; other buttons, shift and nothing else pan', () => {
  assert.equal(pointerPans('mouse', 0, false), false);
  assert.equal(pointerPans('mouse', 0, true), true);
  assert.equal(pointerPans('mouse', 1, false), true);
  assert.equal(pointerPans('mouse', 2, false), true);
  assert.equal(pointerPans('touch', 0, true), false);
  assert.equal(pointerPans('pen', 2, false), false);
});

test('one pointer dragged orbits by 0.3 degrees a pixel, or pans by the picture height', () => {
  const t = new PointerTracker();
  t.down(1, 100, 100, false);
  assert.deepEqual(t.move(1, 110, 95, H), [{ type: 'rotate', dx: 10 * ROTATE_DEG_PER_PX, dy: -5 * ROTATE_DEG_PER_PX }]);
  assert.deepEqual(t.move(1, 110, 95, H), [], 'no movement, no action');
  t.up(1);
  t.down(2, 0, 0, true);
  assert.deepEqual(t.move(2, 20, -40, H), [{ type: 'pan', dx: 0.1, dy: -0.2 }]);
});

test('the picture height is asked only when a tracked pointer moved', () => {
  const t = new PointerTracker();
  let asked = 0;
  const height = () => { asked += 1; return 100; };
  assert.deepEqual(t.move(7, 1, 1, height), [], 'a pointer not pressed on the picture');
  t.down(7, 1, 1, false);
  t.move(7, 1, 1, height);
  assert.equal(asked, 0);
  t.move(7, 2, 1, height);
  assert.equal(asked, 1);
});

test('two fingers pan by their midpoint and zoom by their spread', () => {
  const t = new PointerTracker();
  t.down(1, 0, 0, false);
  t.down(2, 100, 0, false);
  assert.deepEqual(t.gesture, { mid: [50, 0], dist: 100 });
  // Spread apart to 200 px: zoom in by half; the midpoint moved 50 px right.
  assert.deepEqual(t.move(2, 200, 0, H), [{ type: 'pan', dx: 0.25, dy: 0 }, { type: 'zoom', factor: 0.5 }]);
  // Both move down together: a pan, and a zoom by 1 (the spread is unchanged).
  assert.deepEqual(t.move(1, 0, 20, H), [{ type: 'pan', dx: 0, dy: 0.05 }, { type: 'zoom', factor: 200 / Math.hypot(200, 20) }]);
  assert.equal(t.size, 2);
});

test('lifting pointers ends the gesture; unknown pointers are not ours', () => {
  const t = new PointerTracker();
  t.down(1, 0, 0, false);
  t.down(2, 10, 0, false);
  t.down(3, 20, 0, false);
  assert.equal(t.gesture, null, 'three fingers are no two-finger gesture');
  assert.equal(t.up(3), true);
  assert.deepEqual(t.gesture, { mid: [5, 0], dist: 10 });
  assert.equal(t.up(3), false);
  assert.equal(t.up(1), true);
  assert.equal(t.gesture, null);
  assert.deepEqual(t.move(2, 20, 0, H), [{ type: 'rotate', dx: 10 * ROTATE_DEG_PER_PX, dy: 0 }], 'one finger left orbits');
  t.up(2);
  assert.equal(t.size, 0);
});

test('two fingers on one spot zoom nothing', () => {
  assert.equal(twoFingers([{ x: 1, y: 1 }]), null);
  const t = new PointerTracker();
  t.down(1, 5, 5, false);
  t.down(2, 5, 5, false);
  assert.deepEqual(t.move(2, 5, 25, H), [{ type: 'pan', dx: 0, dy: 0.05 }]);
});

test('keys: arrows orbit, shift+arrows pan, +/- zoom, r resets', () => {
  assert.deepEqual(keyAction('ArrowLeft', false), { type: 'rotate', dx: -KEY_ORBIT_DEG, dy: 0 });
  assert.deepEqual(keyAction('ArrowDown', false), { type: 'rotate', dx: 0, dy: KEY_ORBIT_DEG });
  assert.deepEqual(keyAction('ArrowRight', true), { type: 'pan', dx: KEY_PAN, dy: 0 });
  assert.deepEqual(keyAction('ArrowUp', true), { type: 'pan', dx: 0, dy: -KEY_PAN });
  assert.deepEqual(keyAction('+', false), { type: 'zoom', factor: 1 / KEY_ZOOM });
  assert.deepEqual(keyAction('=', false), { type: 'zoom', factor: 1 / KEY_ZOOM });
  assert.deepEqual(keyAction('-', true), { type: 'zoom', factor: KEY_ZOOM });
  assert.deepEqual(keyAction('_', true), { type: 'zoom', factor: KEY_ZOOM });
  assert.deepEqual(keyAction('r', false), { type: 'reset' });
  for (const key of ['x', 's', 'f', 'R', 'Enter', 'toString']) assert.equal(keyAction(key, false), null, key);
});

test('the wheel zooms alike in pixels, lines and pages', () => {
  assert.equal(wheelZoomFactor(0, 0, 800), 1);
  assert.equal(wheelZoomFactor(100, 0, 800), Math.exp(0.1));
  assert.equal(wheelZoomFactor(3, 1, 800), Math.exp(0.048));
  assert.equal(wheelZoomFactor(1, 2, 800), Math.exp(0.8));
  assert.ok(wheelZoomFactor(-100, 0, 800) < 1, 'scrolling up zooms in');
});

test('the picture is letterboxed in its box, and points are found in it', () => {
  // A 16:9 picture in a 400x400 box: full width, 225 high, centred.
  const p = pictureRect({ left: 10, top: 20, width: 400, height: 400 }, 1280, 720);
  assert.deepEqual(p, { left: 10, top: 20 + 87.5, width: 400, height: 225 });
  assert.deepEqual(pictureFraction(p, 210, 220), { x: 0.5, y: 0.5 });
  assert.deepEqual(pictureFraction(p, 10, 107.5), { x: 0, y: 0 });
  assert.equal(pictureFraction(p, 210, 60), null, 'on the letterbox bar');
  assert.equal(pictureFraction(p, 411, 220), null);
  // Pillarboxed: a tall picture in a wide box.
  assert.deepEqual(pictureRect({ left: 0, top: 0, width: 300, height: 100 }, 100, 100), { left: 100, top: 0, width: 100, height: 100 });
});
