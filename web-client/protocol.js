// The request/reply side of the control protocol (docs/protocol.md) as a client speaks
// it on the `control` data channel: numbered requests, the replies they wait for, and
// each incoming message handed to the handler of its type. The transport is a `send`
// function; no DOM.

export const PROTOCOL = 1;

/**
 * Parses one message as received: the object, or null for anything that is not a JSON
 * object (binary data, a non-JSON text, which is warned of, a bare value).
 */
export function parseMessage(data, warn = (text) => console.warn(text)) {
  if (typeof data !== 'string') return null;
  let msg;
  try {
    msg = JSON.parse(data);
  } catch {
    warn('streamtracer: ignoring a non-JSON control message');
    return null;
  }
  return msg && typeof msg === 'object' ? msg : null;
}

/** Revisions only grow: the larger of `current` and `revision`, however messages interleave. */
export function newerRevision(current, revision) {
  if (!Number.isFinite(revision)) return current;
  return current == null ? revision : Math.max(current, revision);
}

/**
 * Whether a `camera_changed` at `revision` is older than the newest camera move heard
 * of (`cameraRevision`, null for none): then it is stale and ignored. Only camera moves
 * count: scene edits advance the same counter without moving the camera.
 */
export function staleCameraChange(cameraRevision, revision) {
  return Number.isFinite(revision) && cameraRevision !== null && revision < cameraRevision;
}

/**
 * Requests and their replies. `send(message)` puts one message on the wire and says
 * whether it could; `handlers[type](msg, waiting)` handles each received message of a
 * type (`waiting` is the request it answers: { resolve, sentAt, type }, or null), and
 * `after(msg)`, if given, runs after every message, known or not. Unknown types are ignored,
 * for forward compatibility.
 */
export class ProtocolClient {
  constructor({ send, handlers = {}, after = null, now = () => performance.now() }) {
    this.sendMessage = send;
    this.handlers = handlers;
    this.after = after;
    this.now = now;
    this.nextId = 1;
    this.pending = new Map(); // request id -> { resolve, sentAt, type }
  }

  /** Sends a request; resolves with its reply (an `error` reply too), or null if not sent. */
  request(message) {
    const id = this.nextId++;
    if (!this.sendMessage({ ...message, id })) return Promise.resolve(null);
    return new Promise((resolve) => this.pending.set(id, { resolve, sentAt: this.now(), type: message.type }));
  }

  /** One received message: its request (if any) taken off, its handler run, the request resolved. */
  dispatch(msg) {
    const waiting = msg.id != null ? this.pending.get(msg.id) ?? null : null;
    if (waiting) this.pending.delete(msg.id);
    const handle = Object.hasOwn(this.handlers, msg.type) ? this.handlers[msg.type] : null;
    if (typeof handle === 'function') handle(msg, waiting);
    waiting?.resolve(msg);
    this.after?.(msg);
  }

  /** Every request still waiting resolves with null: they will never be answered. */
  cancelAll() {
    for (const p of this.pending.values()) p.resolve(null);
    this.pending.clear();
  }
}
