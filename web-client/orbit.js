// The camera as an orbit around its target: distance, azimuth and elevation in a basis
// built from the camera's `up`, so that an orbit turns around `up` whatever axis a scene
// calls up. Pure maths on a plain object (see newOrbit): no DOM.

import { DEG, add, clamp, cross, dot, norm, scale, sub } from './maths.js';

export const MAX_ELEVATION = 89 * DEG; // off the poles, so `up` never aligns with the view direction
export const MIN_DISTANCE = 0.05;
export const MAX_DISTANCE = 1000;

/**
 * An orthonormal basis around the camera's `up`: `u` (up itself), and `x`, `z` across
 * it. For +Y up, `x` and `z` are the world's X and Z (azimuth 0 looks from +Z).
 */
export function upBasis(up) {
  const u = norm(up);
  // The world axis least aligned with up, projected off it.
  const ref = Math.abs(u[2]) < 0.9 ? [0, 0, 1] : [0, 1, 0];
  const z = norm(sub(ref, scale(u, dot(ref, u))));
  const x = cross(u, z);
  return { u, x, z };
}

/** The orbit before any camera is known. */
export function newOrbit() {
  return { target: [0, 0, 0], up: [0, 1, 0], fov: 40, distance: 5, azimuth: 0, elevation: 0 };
}

/**
 * Sets orbit `o` to camera `cam` ({eye, target, up, fov}); returns a copy of the camera.
 * An eye on the target keeps the orbit's angles (and a distance of 1).
 */
export function adoptCamera(o, cam) {
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
  return { eye: [...cam.eye], target: [...cam.target], up: [...cam.up], fov: cam.fov };
}

/** The camera ({eye, target, up, fov}) orbit `o` describes. */
export function cameraFromOrbit(o) {
  const { distance: r, azimuth: az, elevation: el, target: t } = o;
  const { u, x, z } = o.basis ?? upBasis(o.up);
  const ce = Math.cos(el);
  // Around `up`: the elevation (within ±89°) keeps the view direction off it.
  const offset = add(scale(u, Math.sin(el)),
    add(scale(x, ce * Math.sin(az)), scale(z, ce * Math.cos(az))));
  const eye = add(t, scale(offset, r));
  return { eye, target: [...t], up: [...o.up], fov: o.fov };
}

/** Turns the orbit: `dxDeg` around `up`, `dyDeg` up or down (within ±89°). */
export function rotate(o, dxDeg, dyDeg) {
  // Dragging right swings the camera left around the target: the scene follows the pointer.
  o.azimuth -= dxDeg * DEG;
  o.elevation = clamp(o.elevation + dyDeg * DEG, -MAX_ELEVATION, MAX_ELEVATION);
}

/** Moves the target (and the eye with it) by fractions of the view's height at the target. */
export function pan(o, dx, dy) {
  const cam = cameraFromOrbit(o);
  const forward = norm(sub(cam.target, cam.eye));
  const right = norm(cross(forward, o.up));
  const up = cross(right, forward);
  const h = 2 * o.distance * Math.tan((o.fov * DEG) / 2);
  o.target = add(o.target, add(scale(right, -dx * h), scale(up, dy * h)));
}

/** Scales the distance to the target by `factor` (within MIN_DISTANCE..MAX_DISTANCE). */
export function zoom(o, factor) {
  o.distance = clamp(o.distance * factor, MIN_DISTANCE, MAX_DISTANCE);
}
