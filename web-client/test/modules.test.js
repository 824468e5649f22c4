// The modules as the server serves them: every relative import of the element resolves
// to a file beside it, and every module but the element (which defines a custom
// element) loads without a browser: none touches window or document on import.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const dir = join(dirname(fileURLToPath(import.meta.url)), '..');
const modules = readdirSync(dir).filter((f) => f.endsWith('.js'));
const importsOf = (file) =>
  [...readFileSync(join(dir, file), 'utf8').matchAll(/\bfrom\s+'(\.\/[^']+)'/g)].map((m) => m[1].slice(2));

test('every relative import of the element and the page is a module beside them', () => {
  const seen = new Set();
  const walk = (file) => {
    if (seen.has(file)) return;
    seen.add(file);
    assert.ok(modules.includes(file), `${file} is imported but missing`);
    importsOf(file).forEach(walk);
  };
  walk('app.js');
  assert.ok(seen.has('streamtracer-view.js'));
  assert.ok(seen.size >= 8, `only ${[...seen]}`);
  for (const file of modules) assert.ok(seen.has(file), `${file} is never imported`);
});

test('the parts load without a browser', async () => {
  assert.equal(typeof globalThis.window, 'undefined');
  assert.equal(typeof globalThis.document, 'undefined');
  for (const file of modules.filter((f) => f !== 'streamtracer-view.js' && f !== 'app.js')) {
    const m = await import(`../${file}`);
    assert.ok(Object.keys(m).length > 0, `${file} exports nothing`);
  }
});
