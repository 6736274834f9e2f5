/**
 * User files (migrations, config) import 'switchyard' and get this process's own module: the same
 * functions and classes, not a second copy evaluated for the file (which cost seconds per load and
 * broke instanceof across the boundary).
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, expect, it } from 'vitest';
import * as switchyard from '../../src/index.js';
import { loadModule } from '../../src/core/load-module.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-load-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

it("'switchyard' in a user file is this process's instance, on every load", async () => {
  const file = path.join(dir, 'm.ts');
  fs.writeFileSync(
    file,
    `import * as sy from 'switchyard';\nimport { defineMigration, renameField } from 'switchyard';\n` +
      `export const self = sy;\nexport default defineMigration({ collection: 'users', operations: [renameField('a', 'b')] });\n`,
  );
  for (let i = 0; i < 2; i++) {
    const m = await loadModule(file);
    expect((m.self as typeof switchyard).defineMigration).toBe(switchyard.defineMigration);
    expect((m.self as typeof switchyard).InputError).toBe(switchyard.InputError);
  }
});

it('a TypeScript user file is read again on every load (edits are seen)', async () => {
  const file = path.join(dir, 'v.ts');
  fs.writeFileSync(file, 'export const v = 1;\n');
  expect((await loadModule(file)).v).toBe(1);
  fs.writeFileSync(file, 'export const v = 2;\n');
  expect((await loadModule(file)).v).toBe(2);
});
