import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DEG, dot, sub } from '../maths.js';
import {
  adoptCamera, cameraFromOrbit, MAX_DISTANCE, MAX_ELEVATION, MIN_DISTANCE, newOrbit, pan,
  rotate, upBasis, zoom,
} from '../orbit.js';

const close = (a, b, eps = 1e-9) => {
  if (Array.isArray(a)) {
    assert.equal(a.length, b.length);
    a.forEach((x, i) => close(x, b[i], eps));
  } else {
    assert.ok(Math.abs(a - b) <= eps, `${a} is not ${b}`);
  }
};
const length = (v) => Math.hypot(...v);

test('the basis around +Y up is the world X, Y and Z', () => {
  const { u, x, z } = upBasis([0, 2, 0]);
  close(u, [0, 1, 0]);
  close(x, [1, 0, 0]);
  close(z, [0, 0, 1]);
});

test('the basis around any up is orthonormal and right-handed', () => {
  for (const up of [[0, 0, 1], [0, 0, -3], [1, 1, 0], [0.2, -0.5, 0.9], [-1, 0, 0]]) {
    const { u, x, z } = upBasis(up);
    for (const v of [u, x, z]) close(length(v), 1);
    close(dot(u, x), 0);
    close(dot(u, z), 0);
    close(dot(x, z), 0);
    close(u, up.map((c) => c / length(up)));
  }
});

test('a camera adopted comes back unchanged from the orbit, whatever its up', () => {
  for (const cam of [
    { eye: [1, 2, 3], target: [0, 0.5, 0], up: [0, 1, 0], fov: 45 },
    { eye: [0, -3, 1], target: [0, 1, 1], up: [0, 0, 1], fov: 40 },
    { eye: [4, 0.5, -2], target: [1, 1, 1], up: [0, 0, 1], fov: 30 },
  ]) {
    const o = newOrbit();
    const copy = adoptCamera(o, cam);
    assert.deepEqual(copy, cam);
    assert.notEqual(copy.eye, cam.eye, 'a copy, not the caller\'s arrays');
    const back = cameraFromOrbit(o);
    close(back.eye, cam.eye, 1e-9);
    close(back.target, cam.target);
    assert.deepEqual(back.up, cam.up);
    assert.equal(back.fov, cam.fov);
    close(o.distance, length(sub(cam.eye, cam.target)));
  }
});

test('azimuth 0 looks from +Z for +Y up, and elevation is the angle above the target', () => {
  const o = newOrbit();
  adoptCamera(o, { eye: [0, 5, 5], target: [0, 0, 0], up: [0, 1, 0], fov: 40 });
  close(o.azimuth, 0);
  close(o.elevation, 45 * DEG);
  adoptCamera(o, { eye: [3, 0, 0], target: [0, 0, 0], up: [0, 1, 0], fov: 40 });
  close(o.azimuth, 90 * DEG);
  close(o.elevation, 0);
});

test('a camera looking straight down is held off the pole', () => {
  const o = newOrbit();
  adoptCamera(o, { eye: [0, 10, 0], target: [0, 0, 0], up: [0, 1, 0], fov: 40 });
  close(o.elevation, MAX_ELEVATION);
  const eye = cameraFromOrbit(o).eye;
  assert.ok(Math.hypot(eye[0], eye[2]) > 0.1, 'the eye moved off the up axis');
});

test('an eye on its target keeps the orbit\'s angles at distance 1', () => {
  const o = newOrbit();
  o.azimuth = 0.7;
  o.elevation = -0.2;
  adoptCamera(o, { eye: [1, 1, 1], target: [1, 1, 1], up: [0, 1, 0], fov: 50 });
  assert.equal(o.azimuth, 0.7);
  assert.equal(o.elevation, -0.2);
  assert.equal(o.distance, 1);
  assert.equal(o.fov, 50);
});

test('rotating turns around up at a constant distance and height', () => {
  const o = newOrbit();
  const cam = { eye: [0, -3, 1], target: [0, 1, 1], up: [0, 0, 1], fov: 40 };
  adoptCamera(o, cam);
  rotate(o, 90, 0);
  const turned = cameraFromOrbit(o);
  close(length(sub(turned.eye, turned.target)), 4);
  close(turned.eye[2], 1, 1e-9); // same height along +Z up
  assert.ok(Math.abs(turned.eye[0]) > 3.9, `a quarter turn around Z: ${turned.eye}`);
  // Dragging right swings the camera left: the azimuth falls.
  const before = o.azimuth;
  rotate(o, 10, 0);
  close(o.azimuth, before - 10 * DEG);
});

test('rotating up or down stops at 89 degrees', () => {
  const o = newOrbit();
  rotate(o, 0, 500);
  close(o.elevation, MAX_ELEVATION);
  rotate(o, 0, -1000);
  close(o.elevation, -MAX_ELEVATION);
});

test('panning moves target and eye together across the view', () => {
  const o = newOrbit();
  adoptCamera(o, { eye: [0, 0, 5], target: [0, 0, 0], up: [0, 1, 0], fov: 90 });
  const before = cameraFromOrbit(o);
  pan(o, 0.1, 0);
  const after = cameraFromOrbit(o);
  const moved = sub(after.target, before.target);
  close(sub(after.eye, before.eye), moved);
  // The view's height at the target is 2·5·tan(45°) = 10: a tenth of it, to the left
  // (the scene follows the pointer to the right).
  close(moved, [-1, 0, 0], 1e-9);
  pan(o, 0, 0.2);
  close(sub(cameraFromOrbit(o).target, after.target), [0, 2, 0], 1e-9);
});

test('zooming scales the distance within its limits', () => {
  const o = newOrbit();
  zoom(o, 0.5);
  close(o.distance, 2.5);
  zoom(o, 1e-9);
  assert.equal(o.distance, MIN_DISTANCE);
  zoom(o, 1e12);
  assert.equal(o.distance, MAX_DISTANCE);
});
