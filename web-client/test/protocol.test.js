import { test } from 'node:test';
import assert from 'node:assert/strict';
import { newerRevision, parseMessage, ProtocolClient, staleCameraChange } from '../protocol.js';

function client({ open = true, handlers = {}, after = null } = {}) {
  const sent = [];
  let clock = 100;
  const c = new ProtocolClient({
    send: (m) => { if (!open) return false; sent.push(m); return true; },
    handlers,
    after,
    now: () => clock,
  });
  return { c, sent, tick: (ms) => { clock += ms; } };
}

test('requests are numbered from 1 and remembered with their type and time', () => {
  const { c, sent, tick } = client();
  c.request({ type: 'camera', fov: 40 });
  tick(5);
  c.request({ type: 'edit', ops: [] });
  assert.deepEqual(sent, [{ type: 'camera', fov: 40, id: 1 }, { type: 'edit', ops: [], id: 2 }]);
  assert.equal(c.nextId, 3);
  assert.deepEqual([...c.pending.keys()], [1, 2]);
  assert.equal(c.pending.get(1).type, 'camera');
  assert.equal(c.pending.get(1).sentAt, 100);
  assert.equal(c.pending.get(2).sentAt, 105);
});

test('a request that cannot be sent resolves with null and still uses up its id', async () => {
  const { c } = client({ open: false });
  assert.equal(await c.request({ type: 'get_scene' }), null);
  assert.equal(c.pending.size, 0);
  assert.equal(c.nextId, 2);
});

test('a reply resolves its request after the handler saw it, then `after` runs', async () => {
  const order = [];
  const { c } = client({
    handlers: { ack: (msg, waiting) => order.push(['ack', msg.revision, waiting?.type]) },
    after: (msg) => order.push(['after', msg.type]),
  });
  const first = c.request({ type: 'camera' });
  const second = c.request({ type: 'edit' });
  second.then((r) => order.push(['resolved', r.id]));
  c.dispatch({ type: 'ack', id: 2, revision: 7 });
  assert.deepEqual(await second, { type: 'ack', id: 2, revision: 7 });
  assert.deepEqual(order, [['ack', 7, 'edit'], ['after', 'ack'], ['resolved', 2]]);
  assert.deepEqual([...c.pending.keys()], [1], 'the other request still waits');
  // A second reply with the same id answers nothing.
  c.dispatch({ type: 'ack', id: 2, revision: 8 });
  assert.deepEqual(order.at(-2), ['ack', 8, undefined]);
  c.dispatch({ type: 'error', id: 1, code: 'bad' });
  assert.equal((await first).code, 'bad', 'an error reply resolves its request too');
});

test('messages without an id, or of unknown types, are handled or ignored', () => {
  const seen = [];
  const { c } = client({ handlers: { hello: (m, waiting) => seen.push([m.type, waiting]) }, after: (m) => seen.push(['after', m.type]) });
  c.dispatch({ type: 'hello' });
  c.dispatch({ type: 'from_the_future' });
  c.dispatch({ type: 'toString' }); // not a handler, whatever objects inherit
  c.dispatch({ type: 'constructor', id: 99 });
  assert.deepEqual(seen, [['hello', null], ['after', 'hello'], ['after', 'from_the_future'],
    ['after', 'toString'], ['after', 'constructor']]);
});

test('cancelling resolves every waiting request with null', async () => {
  const { c } = client();
  const a = c.request({ type: 'pick' });
  const b = c.request({ type: 'get_scene' });
  c.cancelAll();
  assert.deepEqual(await Promise.all([a, b]), [null, null]);
  assert.equal(c.pending.size, 0);
  c.dispatch({ type: 'picked', id: 1 }); // a late reply resolves nothing and breaks nothing
});

test('only JSON objects are messages', () => {
  const warnings = [];
  const warn = (w) => warnings.push(w);
  assert.deepEqual(parseMessage('{"type":"ack","id":3}', warn), { type: 'ack', id: 3 });
  assert.equal(parseMessage('not json', warn), null);
  assert.equal(warnings.length, 1);
  assert.equal(parseMessage('42', warn), null);
  assert.equal(parseMessage('null', warn), null);
  assert.equal(parseMessage(new ArrayBuffer(4), warn), null);
  assert.equal(warnings.length, 1, 'only text that is not JSON is warned of');
});

test('the revision only grows', () => {
  assert.equal(newerRevision(null, 3), 3);
  assert.equal(newerRevision(5, 3), 5);
  assert.equal(newerRevision(5, 9), 9);
  assert.equal(newerRevision(5, undefined), 5);
  assert.equal(newerRevision(null, NaN), null);
});

test('a camera change older than the newest camera move is stale', () => {
  assert.equal(staleCameraChange(null, 3), false);
  assert.equal(staleCameraChange(5, 3), true);
  assert.equal(staleCameraChange(5, 5), false);
  assert.equal(staleCameraChange(5, 6), false);
  assert.equal(staleCameraChange(5, undefined), false, 'without a revision it cannot be told stale');
});
