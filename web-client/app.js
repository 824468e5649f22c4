// The viewer page (`/`) and the iframe page (`/embed`): one <streamtracer-view> filling
// the window, configured from the page's query string:
//   ?view=NAME      the view to watch (default main)
//   ?token=T        the bearer token, where the server requires one
//   ?controls=0|1   camera input, toolbar and scene panel (default: on at `/`, off at `/embed`)
//   ?stats=1        open the statistics overlay
//   ?resize=0|1     keep the view's picture size, or follow the window even without
//                   controls (default: follow it when controls are on)
import { StreamtracerView } from './streamtracer-view.js';

const params = new URLSearchParams(location.search);
const embedded = document.body.dataset.embed !== undefined;
const on = (name, fallback) => {
  const v = params.get(name);
  return v === null ? fallback : !['0', 'off', 'false', 'no'].includes(v.toLowerCase());
};

const view = document.createElement('streamtracer-view');
view.id = 'view';
// The server's base URL, path prefix included (a server behind /streamtracer/).
view.setAttribute('server', new URL('.', location.href).href);
if (params.get('view')) view.setAttribute('view', params.get('view'));
if (params.get('token')) view.setAttribute('token', params.get('token'));
if (on('controls', !embedded)) view.setAttribute('controls', '');
if (on('stats', false)) view.setAttribute('stats', '');
if (params.get('resize') !== null) view.setAttribute('resize', on('resize', true) ? 'on' : 'off');
document.body.append(view);

// Always-current state, for automated tests and debugging.
window.streamtracer = view.state;
window.streamtracerView = view instanceof StreamtracerView ? view : null;
