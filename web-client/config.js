// The element's attributes read into settings, and the URLs and headers of the
// server's HTTP API built from them. Pure: no DOM.

/** The server's base URL without a trailing slash: the attribute, or where the module came from. */
export function serverBase(attribute, moduleBase) {
  return (attribute || moduleBase).replace(/\/+$/, '');
}

/** A boolean attribute: absent is false; present is true unless it says off, false or 0. */
export function attributeOn(value) {
  return value !== null && value !== undefined && !['off', 'false', '0'].includes(value.toLowerCase());
}

/** The `resize` attribute: absent follows `controls`; otherwise on unless off, false or 0. */
export function followsSize(resize, controls) {
  if (resize === null || resize === undefined) return controls;
  return attributeOn(resize);
}

/** The headers a request is made with: the bearer token, where there is one. */
export function authHeaders(token) {
  return token ? { Authorization: `Bearer ${token}` } : {};
}

/** `path` on the server for view `view` (`/api/stats`, `/api/snapshot.png`). */
export function viewUrl(server, path, view) {
  return `${server}${path}?view=${encodeURIComponent(view)}`;
}

/** The snapshot's download name: `streamtracer-VIEW-revREV.png`. */
export function snapshotName(view, revision) {
  return `streamtracer-${view}-rev${revision}.png`;
}
