import { test } from 'node:test';
import assert from 'node:assert/strict';
import { attributeOn, authHeaders, followsSize, serverBase, snapshotName, viewUrl } from '../config.js';

test('the server is the attribute, or where the module came from, without trailing slashes', () => {
  assert.equal(serverBase('https://a.example/st//', 'https://m.example/'), 'https://a.example/st');
  assert.equal(serverBase(null, 'https://m.example/prefix/'), 'https://m.example/prefix');
  assert.equal(serverBase('', 'https://m.example/'), 'https://m.example');
});

test('boolean attributes: absent off; present on unless off, false or 0', () => {
  assert.equal(attributeOn(null), false);
  for (const v of ['', 'on', 'true', '1', 'yes']) assert.equal(attributeOn(v), true, v);
  for (const v of ['off', 'OFF', 'false', 'False', '0']) assert.equal(attributeOn(v), false, v);
});

test('resize follows controls unless it says otherwise', () => {
  assert.equal(followsSize(null, true), true);
  assert.equal(followsSize(null, false), false);
  assert.equal(followsSize('on', false), true);
  assert.equal(followsSize('off', true), false);
  assert.equal(followsSize('', false), true);
});

test('requests carry the bearer token where there is one', () => {
  assert.deepEqual(authHeaders('abc'), { Authorization: 'Bearer abc' });
  assert.deepEqual(authHeaders(null), {});
});

test('API URLs name the view, encoded', () => {
  assert.equal(viewUrl('https://s', '/api/stats', 'main'), 'https://s/api/stats?view=main');
  assert.equal(viewUrl('https://s/p', '/api/snapshot.png', 'a/b c'), 'https://s/p/api/snapshot.png?view=a%2Fb%20c');
  assert.equal(snapshotName('main', 42), 'streamtracer-main-rev42.png');
});
