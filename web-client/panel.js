// The controller's scene panel: the scene's objects, materials and lights (from
// `get_scene`), an editor for the one selected (edits sent as `update` ops), the render
// settings, and the view's quality (resolution scale, bitrate, frame rate, denoise).
// The edits are computed by pure functions (colours, rotations, materials, lights);
// ScenePanel builds and redraws the DOM, which it touches only when called.

import { el } from './dom.js';
import { DEG, clamp, round } from './maths.js';

// ------------------------------------------------------------ pure: values and edits

// Colours: the scene's are linear RGB; colour pickers speak sRGB hex.
const toLinear = (c) => (c <= 0.04045 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4);
const toSrgb = (c) => (c <= 0.0031308 ? c * 12.92 : 1.055 * c ** (1 / 2.4) - 0.055);

/** `#rrggbb` (sRGB) to linear RGB, each to 4 decimals. */
export function hexToLinear(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255].map((v) => round(toLinear(v / 255)));
}

/** Linear RGB (clamped to 0..1) to `#rrggbb` (sRGB). */
export function linearToHex(rgb) {
  return '#' + rgb.map((v) => Math.round(clamp(toSrgb(clamp(v, 0, 1)), 0, 1) * 255)
    .toString(16).padStart(2, '0')).join('');
}

// Quaternions [x, y, z, w] to and from Euler angles in degrees (X, then Y, then Z).
export function eulerToQuat([x, y, z]) {
  const [cx, sx] = [Math.cos(x * DEG / 2), Math.sin(x * DEG / 2)];
  const [cy, sy] = [Math.cos(y * DEG / 2), Math.sin(y * DEG / 2)];
  const [cz, sz] = [Math.cos(z * DEG / 2), Math.sin(z * DEG / 2)];
  return [
    sx * cy * cz - cx * sy * sz,
    cx * sy * cz + sx * cy * sz,
    cx * cy * sz - sx * sy * cz,
    cx * cy * cz + sx * sy * sz,
  ].map((v) => round(v, 6));
}

export function quatToEuler([x, y, z, w]) {
  const ex = Math.atan2(2 * (w * x + y * z), 1 - 2 * (x * x + y * y));
  const ey = Math.asin(clamp(2 * (w * y - z * x), -1, 1));
  const ez = Math.atan2(2 * (w * z + x * y), 1 - 2 * (y * y + z * z));
  return [ex, ey, ez].map((v) => round(v / DEG, 2));
}

/** A list entry's text: the key and its name, or for lights and materials their type. */
export function entryLabel(kind, key, value) {
  if (value.name) return `${key} (${value.name})`;
  return kind === 'light' || kind === 'material' ? `${key} · ${value.type}` : key;
}

/** A colour scaled so its largest channel is 1. */
const norm01 = (c) => { const k = Math.max(...c, 1e-6); return c.map((x) => round(x / k)); };

/** A material's colour as the picker shows it (a dielectric without a tint is clear glass: white). */
export function materialColour(m) {
  return m.albedo ?? m.color ?? m.tint
    ?? (m.radiance ? norm01(m.radiance) : m.type === 'dielectric' ? [1, 1, 1] : [0.8, 0.8, 0.8]);
}

/** The update that gives material `m` colour `rgb` (an emissive one keeps its strength). */
export function colourEdit(m, rgb) {
  if (m.type === 'emissive') {
    const strength = Math.max(...m.radiance);
    return { radiance: rgb.map((c) => round(c * strength)) };
  }
  const field = { diffuse: 'albedo', conductor: 'color', dielectric: 'tint' }[m.type];
  return { [field]: rgb };
}

/** The update that makes diffuse/conductor `m` metal (a conductor) or not (diffuse). */
export function metalEdit(m, metal) {
  return metal
    ? { type: 'conductor', color: m.albedo, roughness: 0.2, texture: m.texture ?? null }
    : { type: 'diffuse', albedo: m.color, texture: m.texture ?? null };
}

/** A material's emission strength as shown: its radiance's largest channel, 0 unless emissive. */
export function emissionOf(m) {
  return m.type === 'emissive' ? round(Math.max(...m.radiance), 3) : 0;
}

/**
 * The update for emission `s`: above 0 the material emits (radiance = colour × s); 0
 * turns an emissive one back into a diffuse one; null when nothing changes.
 */
export function emissionEdit(m, s) {
  const c = materialColour(m);
  if (s > 0) return { type: 'emissive', radiance: norm01(c).map((x) => round(x * s)) };
  if (m.type === 'emissive') return { type: 'diffuse', albedo: norm01(c).map((x) => round(x * 0.8)), texture: null };
  return null;
}

/** A light's power as colour × strength: { field, strength, colour }. */
export function lightPower(l) {
  const field = l.type === 'directional' ? 'irradiance' : 'intensity';
  const p = l[field] ?? [1, 1, 1];
  const strength = Math.max(...p, 0);
  const colour = strength > 0 ? p.map((x) => x / strength) : [1, 1, 1];
  return { field, strength, colour };
}

/** The update giving light `l` colour `rgb` (a light at strength 0 takes it at strength 1: zeros would change nothing). */
export function lightColourEdit(l, rgb) {
  const { field, strength } = lightPower(l);
  return { [field]: rgb.map((c) => round(c * (strength > 0 ? strength : 1))) };
}

/** The update giving light `l` strength `s` (at least 0) in its colour. */
export function lightStrengthEdit(l, s) {
  const { field, colour } = lightPower(l);
  return { [field]: colour.map((c) => round(c * Math.max(0, s))) };
}

/** A bitrate asked for in kbit/s, within the view's range (`quality` from hello), in bit/s. */
export function bitrateRequest(q, kbps) {
  return Math.round(clamp(kbps, q.min_bitrate / 1000, q.max_bitrate / 1000) * 1000);
}

/** The render settings' edits: each entered value within its range. */
export const settingEdits = {
  max_samples: (v) => ({ max_samples: Math.round(clamp(v, 1, 1000000)) }),
  max_bounces: (v) => ({ max_bounces: Math.round(clamp(v, 1, 64)) }),
  exposure: (v) => ({ exposure: clamp(v, 0.001, 1000) }),
};

// ------------------------------------------------------------ the panel

const PLURAL = { object: 'objects', material: 'materials', light: 'lights' };

/**
 * The panel of one connection's life. `host` is the element: request(), state (role,
 * quality, resolutionScale), followSize, setResolutionScale(), stage.
 */
export class ScenePanel {
  constructor(host) {
    this.host = host;
    this.element = null; // the <aside>, once built
    this.qualityForm = null;
    this.scene = null;
    this.selected = null; // { kind, key }
    this.sceneTimer = null;
  }

  /** Whether the panel is built and shown. */
  get open() { return !!this.element && !this.element.hidden; }

  /** Shows or hides the panel (building it the first time); whether it is shown now. */
  toggle() {
    if (!this.element) this.build();
    this.element.hidden = !this.element.hidden;
    if (!this.element.hidden) this.load();
    return !this.element.hidden;
  }

  build() {
    this.lists = {
      object: el('ul', { class: 'stv-objects' }),
      material: el('ul', { class: 'stv-materials' }),
      light: el('ul', { class: 'stv-lights' }),
    };
    this.editor = el('div', { class: 'stv-editor' });
    this.settingsForm = el('div', { class: 'stv-settings' });
    this.qualityForm = el('div', { class: 'stv-quality' });
    this.element = el('aside', { class: 'stv-panel', hidden: true },
      el('h3', {}, 'Objects'), this.lists.object,
      el('h3', {}, 'Materials'), this.lists.material,
      el('h3', {}, 'Lights'), this.lists.light,
      this.editor,
      el('h3', {}, 'Render'), this.settingsForm,
      el('h3', {}, 'Quality'), this.qualityForm);
    this.renderQuality();
    this.element.addEventListener('keydown', (e) => e.stopPropagation());
    this.host.stage.append(this.element);
  }

  scheduleLoad() {
    clearTimeout(this.sceneTimer);
    this.sceneTimer = setTimeout(() => this.load(), 150);
  }

  cancel() {
    clearTimeout(this.sceneTimer);
  }

  async load() {
    const reply = await this.host.request({ type: 'get_scene' });
    if (reply?.type !== 'scene') return;
    this.scene = reply.scene;
    this.renderLists();
    this.renderSettings();
    if (this.selected) this.renderEditor();
  }

  renderLists() {
    for (const [kind, plural] of Object.entries(PLURAL)) {
      const entries = Object.entries(this.scene?.[plural] ?? {});
      this.lists[kind].replaceChildren(...entries.map(([key, value]) => {
        const li = el('li', { title: key, onclick: () => this.select(kind, key) }, entryLabel(kind, key, value));
        li.dataset.key = key;
        li.classList.toggle('stv-selected', this.selected?.kind === kind && this.selected?.key === key);
        return li;
      }));
    }
  }

  select(kind, key) {
    this.selected = { kind, key };
    this.renderLists();
    this.renderEditor();
  }

  /** One update op; the panel reloads the scene once it is applied. */
  async update(kind, key, value) {
    const op = { op: 'update', kind, value };
    if (key != null) op.key = key;
    const reply = await this.host.request({ type: 'edit', ops: [op] });
    if (reply?.type === 'ack') this.scheduleLoad();
    return reply;
  }

  numberInput(value, onchange, { step = 'any', min, max } = {}) {
    const input = el('input', { type: 'number', step, value: String(value) });
    if (min != null) input.min = String(min);
    if (max != null) input.max = String(max);
    input.addEventListener('change', () => {
      const x = Number(input.value);
      if (Number.isFinite(x)) onchange(x);
    });
    return input;
  }

  vecInput(label, vec, onchange) {
    const inputs = vec.map((x) => el('input', { type: 'number', step: 'any', value: String(round(x)) }));
    const changed = () => {
      const v = inputs.map((i) => Number(i.value));
      if (v.every(Number.isFinite)) onchange(v);
    };
    inputs.forEach((i) => i.addEventListener('change', changed));
    return el('label', { class: 'stv-vec' }, label, el('span', {}, ...inputs));
  }

  colorInput(label, rgb, onchange) {
    const input = el('input', { type: 'color', value: linearToHex(rgb), class: 'stv-color' });
    input.addEventListener('change', () => onchange(hexToLinear(input.value)));
    return el('label', {}, label, input);
  }

  renderEditor() {
    const sel = this.selected;
    const plural = PLURAL[sel?.kind];
    const value = plural && this.scene?.[plural]?.[sel.key];
    if (!value) { this.editor.replaceChildren(); return; }
    const parts = [el('h3', {}, `${sel.kind} ${sel.key}`)];
    if (sel.kind === 'object') {
      const t = value.transform ?? {};
      const tr = t.translation ?? [0, 0, 0], rot = t.rotation ?? [0, 0, 0, 1], sc = t.scale ?? [1, 1, 1];
      parts.push(
        this.vecInput('Position', tr, (v) => this.update('object', sel.key, { transform: { translation: v } })),
        this.vecInput('Rotation °', quatToEuler(rot), (v) => this.update('object', sel.key, { transform: { rotation: eulerToQuat(v) } })),
        this.vecInput('Scale', sc, (v) => this.update('object', sel.key, { transform: { scale: v } })),
        el('p', { class: 'stv-note' }, `material ${value.material}`));
      const material = this.scene.materials?.[value.material];
      if (material) parts.push(...this.materialControls(value.material, material));
    } else if (sel.kind === 'material') {
      parts.push(...this.materialControls(sel.key, value));
    } else if (sel.kind === 'light') {
      parts.push(...this.lightControls(sel.key, value));
    }
    this.editor.replaceChildren(...parts);
  }

  /**
   * Colour, roughness, metalness and emission on the server's material model: diffuse,
   * conductor (metal), dielectric (glass) and emissive. "Metal" switches between
   * diffuse and conductor; an emission above 0 makes the material emissive (radiance =
   * colour × emission), and 0 turns an emissive one back into a diffuse one.
   */
  materialControls(key, m) {
    const out = [];
    out.push(el('p', { class: 'stv-note' }, `material ${key}: ${m.type}`));
    out.push(this.colorInput('Colour', materialColour(m), (rgb) => this.update('material', key, colourEdit(m, rgb))));
    if (m.type === 'conductor' || m.type === 'dielectric') {
      out.push(el('label', {}, 'Roughness', this.numberInput(m.roughness ?? 0,
        (r) => this.update('material', key, { roughness: clamp(r, 0, 1) }), { step: 0.05, min: 0, max: 1 })));
    } else {
      out.push(el('p', { class: 'stv-note' }, `roughness: only metal and glass have one (${m.type} surfaces are matte or emit)`));
    }
    if (m.type === 'diffuse' || m.type === 'conductor') {
      const metal = el('input', { type: 'checkbox', checked: m.type === 'conductor', class: 'stv-metal' });
      metal.addEventListener('change', () => this.update('material', key, metalEdit(m, metal.checked)));
      out.push(el('label', {}, 'Metal', metal));
    }
    if (m.type !== 'dielectric') {
      out.push(el('label', {}, 'Emission', this.numberInput(emissionOf(m), (s) => {
        const edit = emissionEdit(m, s);
        if (edit) this.update('material', key, edit);
      }, { step: 0.5, min: 0 })));
    }
    return out;
  }

  lightControls(key, l) {
    const out = [];
    if (l.position) out.push(this.vecInput('Position', l.position, (v) => this.update('light', key, { position: v })));
    if (l.direction) out.push(this.vecInput('Direction', l.direction, (v) => this.update('light', key, { direction: v })));
    const { strength, colour } = lightPower(l);
    out.push(this.colorInput('Colour', colour, (rgb) => this.update('light', key, lightColourEdit(l, rgb))));
    out.push(el('label', {}, 'Strength', this.numberInput(round(strength, 3),
      (s) => this.update('light', key, lightStrengthEdit(l, s)), { min: 0 })));
    return out;
  }

  /**
   * Resolution scale (the picture size asked for with `resize`, as a fraction of the
   * element's size in device pixels; only while the element follows its size), and the
   * view's live bitrate and frame rate
   * (`quality`, within the ranges `hello` announced).
   */
  renderQuality() {
    if (!this.qualityForm) return;
    const host = this.host;
    const q = host.state.quality;
    const scaleSelect = el('select', { class: 'stv-resolution-scale', onchange: (e) => host.setResolutionScale(Number(e.target.value)) },
      ...[1, 0.75, 0.5, 0.25].map((k) => el('option', { value: String(k) }, `${k * 100}%`)));
    scaleSelect.value = String(host.state.resolutionScale);
    // The scale applies to the size the element asks for: without resize, nothing to scale.
    const parts = host.followSize ? [el('label', {}, 'Resolution', scaleSelect)] : [];
    if (q) {
      parts.push(
        el('label', {}, 'Bitrate kbit/s', this.numberInput(Math.round(q.bitrate / 1000), (v) => {
          host.request({ type: 'quality', bitrate: bitrateRequest(q, v) });
        }, { step: 100, min: Math.ceil(q.min_bitrate / 1000), max: Math.floor(q.max_bitrate / 1000) })),
        el('label', {}, 'Frame rate', this.numberInput(q.fps, (v) => {
          host.request({ type: 'quality', fps: clamp(v, 1, q.max_fps) });
        }, { step: 1, min: 1, max: q.max_fps })),
        el('label', {}, 'Denoise', el('input', {
          type: 'checkbox',
          class: 'stv-denoise',
          checked: q.denoise === true,
          onchange: (e) => host.request({ type: 'quality', denoise: e.target.checked }),
        })),
        el('p', { class: 'stv-note' }, 'The bitrate is a ceiling: a viewer\'s slower link holds the stream lower.'));
    }
    this.qualityForm.replaceChildren(...parts);
  }

  renderSettings() {
    const s = this.scene?.settings;
    if (!s) return;
    const set = (name) => (v) => this.update('settings', null, settingEdits[name](v));
    this.settingsForm.replaceChildren(
      el('label', {}, 'Max samples', this.numberInput(s.max_samples, set('max_samples'), { step: 1, min: 1, max: 1000000 })),
      el('label', {}, 'Bounces', this.numberInput(s.max_bounces, set('max_bounces'), { step: 1, min: 1, max: 64 })),
      el('label', {}, 'Exposure', this.numberInput(s.exposure, set('exposure'), { step: 0.1, min: 0.001, max: 1000 })));
  }
}
