/**
 * A bad `target.key` (side by side, key mapping) is refused by the CLI before anything starts:
 * exit 2, the file and the field named, nothing written to the data or the state.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-kmcli-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { cwd: dir, env: { SWITCHYARD_ACTOR: 'tester' } });

it.each([
  ['down is not a function', `{ up: (k) => 'U#' + k, down: 'USER#' }`, /target\.key\.down/],
  ['down is missing', `{ up: (k) => 'U#' + k }`, /target\.key\.down/],
  ['an unknown field', `{ up: (k) => k, down: (k) => k, inverse: (k) => k }`, /target\.key/],
])(
  'a target.key where %s: exit 2 naming the file and field, nothing changed',
  async (_w, key, field) => {
    await cli(['init']);
    const users = path.join(dir, 'users.ndjson');
    fs.writeFileSync(users, '{"_id":"USER#1","name":"A B"}\n{"_id":"USER#2","name":"C D"}\n');
    expect((await cli(['import', 'users', users])).code).toBe(0);
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261206-rekey.mjs'),
      `import { defineMigration } from 'switchyard';
export default defineMigration({
  collection: 'users',
  target: { collection: 'users_v2', key: ${key} },
  up: (d) => ({ ...d, _id: 'U#' + d._id }),
});
`,
    );
    const before = await cli(['export', 'users']);
    const st = await cli(['stage', 'rekey', 'dual-write']);
    const r = await cli(['backfill', 'rekey']);
    for (const x of [st, r]) {
      expect(x.code, x.stderr).toBe(2);
      expect(x.stderr).toMatch(/20261206-rekey\.mjs/);
      expect(x.stderr).toMatch(field);
    }
    expect((await cli(['export', 'users'])).stdout).toBe(before.stdout);
    expect((await cli(['export', 'users_v2'])).stdout).toBe('');
  },
);
