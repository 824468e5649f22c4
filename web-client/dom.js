// The element's DOM helpers: its style sheet, injected once per document or shadow
// root, and a small element builder. They touch the document only when called.

const STYLE = `
streamtracer-view { display: block; position: relative; overflow: hidden; background: #111;
  color: #ddd; font: 13px/1.4 system-ui, sans-serif; min-height: 120px; }
streamtracer-view .stv-stage { position: absolute; inset: 0; outline: none; }
streamtracer-view video { position: absolute; inset: 0; width: 100%; height: 100%; display: block;
  object-fit: contain; background: #111; touch-action: none; user-select: none; }
streamtracer-view.stv-steerable video { cursor: grab; }
streamtracer-view.stv-dragging video { cursor: grabbing; }
streamtracer-view .stv-status { position: absolute; left: 8px; bottom: 8px; padding: 3px 8px;
  border-radius: 4px; background: rgba(0,0,0,.55); font: 12px/1.4 ui-monospace, Menlo, Consolas, monospace;
  white-space: pre; pointer-events: none; max-width: calc(100% - 24px); overflow: hidden; text-overflow: ellipsis; }
streamtracer-view .stv-status.stv-error { color: #ff8a80; }
streamtracer-view .stv-message { position: absolute; left: 50%; top: 40%; transform: translate(-50%, -50%);
  max-width: 80%; padding: 12px 16px; border-radius: 6px; background: rgba(0,0,0,.8); color: #ffccbc;
  text-align: center; }
streamtracer-view .stv-toolbar { position: absolute; top: 8px; right: 8px; display: flex; gap: 4px; }
streamtracer-view button { font: inherit; color: #eee; background: rgba(30,30,30,.8); border: 1px solid #555;
  border-radius: 4px; padding: 3px 8px; cursor: pointer; }
streamtracer-view button:hover { background: rgba(60,60,60,.9); }
streamtracer-view button[aria-pressed="true"] { border-color: #8ab4f8; }
streamtracer-view .stv-stats { position: absolute; top: 8px; left: 8px; margin: 0; padding: 6px 10px;
  border-radius: 4px; background: rgba(0,0,0,.65); font: 12px/1.5 ui-monospace, Menlo, Consolas, monospace;
  pointer-events: none; }
streamtracer-view .stv-panel { position: absolute; top: 44px; right: 8px; bottom: 40px; width: 280px;
  overflow: auto; padding: 8px 10px; border-radius: 6px; background: rgba(20,20,20,.9); }
streamtracer-view .stv-panel h3 { margin: 10px 0 4px; font-size: 12px; text-transform: uppercase;
  letter-spacing: .05em; color: #aaa; }
streamtracer-view .stv-panel ul { list-style: none; margin: 0; padding: 0; max-height: 140px; overflow: auto; }
streamtracer-view .stv-panel li { padding: 1px 6px; border-radius: 3px; cursor: pointer;
  white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
streamtracer-view .stv-panel li:hover { background: #333; }
streamtracer-view .stv-panel li.stv-selected { background: #264d7a; }
streamtracer-view .stv-panel label { display: flex; align-items: center; justify-content: space-between;
  gap: 6px; margin: 3px 0; }
streamtracer-view .stv-panel input[type=number] { width: 64px; }
streamtracer-view .stv-panel .stv-vec input { width: 56px; }
streamtracer-view .stv-panel .stv-note { color: #999; font-size: 11px; margin: 2px 0; }
streamtracer-view [hidden] { display: none !important; }
`;

/**
 * The element's style, once per document or shadow root: an element inside another
 * component's shadow root is out of reach of the document's style sheets.
 */
export function injectStyle(element) {
  const root = element.getRootNode();
  const shadow = typeof ShadowRoot !== 'undefined' && root instanceof ShadowRoot;
  const scope = shadow ? root : document;
  if (scope.querySelector?.('style[data-streamtracer-view]')) return;
  const style = document.createElement('style');
  style.dataset.streamtracerView = '';
  style.textContent = STYLE;
  (shadow ? root : document.head).append(style);
}

/** A new `tag` element with properties or attributes `props` and `children`. */
export function el(tag, props = {}, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === 'class') e.className = v;
    else if (k in e && typeof v !== 'string') e[k] = v;
    else e.setAttribute(k, v);
  }
  e.append(...children);
  return e;
}
