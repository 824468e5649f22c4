import { test } from 'node:test';
import assert from 'node:assert/strict';
import {
  bitrateRequest, colourEdit, emissionEdit, emissionOf, entryLabel, eulerToQuat, hexToLinear,
  lightColourEdit, lightPower, lightStrengthEdit, linearToHex, materialColour, metalEdit,
  quatToEuler, settingEdits,
} from '../panel.js';

test('colour pickers speak sRGB; the scene linear RGB', () => {
  assert.deepEqual(hexToLinear('#ffffff'), [1, 1, 1]);
  assert.deepEqual(hexToLinear('#000000'), [0, 0, 0]);
  assert.deepEqual(hexToLinear('#808080'), [0.2159, 0.2159, 0.2159]);
  assert.deepEqual(hexToLinear('#ff0000'), [1, 0, 0]);
  assert.equal(linearToHex([1, 0, 0]), '#ff0000');
  assert.equal(linearToHex([0.2159, 0.2159, 0.2159]), '#808080');
  assert.equal(linearToHex([2, -1, 0.5]), '#ff00bc', 'out of range clamped');
  for (const hex of ['#123456', '#abcdef', '#0a0b0c', '#fefefe']) assert.equal(linearToHex(hexToLinear(hex)), hex);
});

test('rotations: Euler degrees to quaternions and back', () => {
  assert.deepEqual(eulerToQuat([0, 0, 0]), [0, 0, 0, 1]);
  const q = eulerToQuat([0, 90, 0]);
  assert.deepEqual(q, [0, 0.707107, 0, 0.707107]);
  assert.deepEqual(quatToEuler([0, 0, 0, 1]), [0, 0, 0]);
  for (const e of [[30, -20, 45], [-170, 10, 5], [0, 0, 179]]) {
    const back = quatToEuler(eulerToQuat(e));
    back.forEach((v, i) => assert.ok(Math.abs(v - e[i]) < 0.01, `${back} is not ${e}`));
  }
});

test('list entries show a name, or a light\'s or material\'s type', () => {
  assert.equal(entryLabel('object', 'ball', { name: 'Ball' }), 'ball (Ball)');
  assert.equal(entryLabel('object', 'ball', { material: 'm' }), 'ball');
  assert.equal(entryLabel('light', 'sun', { type: 'directional' }), 'sun · directional');
  assert.equal(entryLabel('material', 'm0', { type: 'diffuse' }), 'm0 · diffuse');
});

test('a material\'s colour is its own field, or white glass, or grey', () => {
  assert.deepEqual(materialColour({ type: 'diffuse', albedo: [0.1, 0.2, 0.3] }), [0.1, 0.2, 0.3]);
  assert.deepEqual(materialColour({ type: 'conductor', color: [0.9, 0.8, 0.1] }), [0.9, 0.8, 0.1]);
  assert.deepEqual(materialColour({ type: 'dielectric' }), [1, 1, 1]);
  assert.deepEqual(materialColour({ type: 'dielectric', tint: [0.5, 1, 1] }), [0.5, 1, 1]);
  assert.deepEqual(materialColour({ type: 'emissive', radiance: [8, 4, 2] }), [1, 0.5, 0.25]);
  assert.deepEqual(materialColour({ type: 'diffuse' }), [0.8, 0.8, 0.8]);
});

test('a colour is set in each material type\'s own field; an emissive one keeps its strength', () => {
  assert.deepEqual(colourEdit({ type: 'diffuse' }, [1, 0, 0]), { albedo: [1, 0, 0] });
  assert.deepEqual(colourEdit({ type: 'conductor' }, [1, 0, 0]), { color: [1, 0, 0] });
  assert.deepEqual(colourEdit({ type: 'dielectric' }, [1, 0, 0]), { tint: [1, 0, 0] });
  assert.deepEqual(colourEdit({ type: 'emissive', radiance: [4, 2, 1] }, [0.5, 1, 0]), { radiance: [2, 4, 0] });
});

test('"Metal" switches diffuse and conductor, keeping colour and texture', () => {
  assert.deepEqual(metalEdit({ type: 'diffuse', albedo: [0.1, 0.2, 0.3], texture: 't' }, true),
    { type: 'conductor', color: [0.1, 0.2, 0.3], roughness: 0.2, texture: 't' });
  assert.deepEqual(metalEdit({ type: 'conductor', color: [0.4, 0.5, 0.6] }, false),
    { type: 'diffuse', albedo: [0.4, 0.5, 0.6], texture: null });
});

test('emission above 0 makes a material emissive; 0 turns it back to diffuse', () => {
  assert.equal(emissionOf({ type: 'diffuse', albedo: [1, 1, 1] }), 0);
  assert.equal(emissionOf({ type: 'emissive', radiance: [2.34567, 1, 0] }), 2.346);
  assert.deepEqual(emissionEdit({ type: 'diffuse', albedo: [0.4, 0.2, 0.1] }, 10),
    { type: 'emissive', radiance: [10, 5, 2.5] });
  assert.deepEqual(emissionEdit({ type: 'emissive', radiance: [6, 3, 0] }, 0),
    { type: 'diffuse', albedo: [0.8, 0.4, 0], texture: null });
  assert.equal(emissionEdit({ type: 'diffuse', albedo: [1, 1, 1] }, 0), null, 'nothing to change');
});

test('a light is colour times strength, in irradiance or intensity', () => {
  const sun = { type: 'directional', irradiance: [4, 2, 0] };
  assert.deepEqual(lightPower(sun), { field: 'irradiance', strength: 4, colour: [1, 0.5, 0] });
  assert.deepEqual(lightColourEdit(sun, [0, 1, 1]), { irradiance: [0, 4, 4] });
  assert.deepEqual(lightStrengthEdit(sun, 2), { irradiance: [2, 1, 0] });
  assert.deepEqual(lightStrengthEdit(sun, -3), { irradiance: [0, 0, 0] });
  const dark = { type: 'point', intensity: [0, 0, 0] };
  assert.deepEqual(lightPower(dark), { field: 'intensity', strength: 0, colour: [1, 1, 1] });
  assert.deepEqual(lightColourEdit(dark, [1, 0, 0]), { intensity: [1, 0, 0] }, 'at strength 1, not 0');
  assert.deepEqual(lightPower({ type: 'point' }).colour, [1, 1, 1]);
});

test('quality and settings stay within their ranges', () => {
  const q = { min_bitrate: 200000, max_bitrate: 8000000 };
  assert.equal(bitrateRequest(q, 2500), 2500000);
  assert.equal(bitrateRequest(q, 50), 200000);
  assert.equal(bitrateRequest(q, 1e6), 8000000);
  assert.deepEqual(settingEdits.max_samples(0), { max_samples: 1 });
  assert.deepEqual(settingEdits.max_samples(12.6), { max_samples: 13 });
  assert.deepEqual(settingEdits.max_bounces(100), { max_bounces: 64 });
  assert.deepEqual(settingEdits.exposure(0), { exposure: 0.001 });
  assert.deepEqual(settingEdits.exposure(2.5), { exposure: 2.5 });
});
