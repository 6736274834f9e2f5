/**
 * The CLI as users run it: `node bin/switchyard.js` in a child process, over the built dist/.
 * dist/ is built by test/global-setup.ts.
 */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(join(tmpdir(), 'sy-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

// dist/ is built once for all tests by test/global-setup.ts

function switchyard(args: string[], env: Record<string, string> = {}) {
  const res = spawnSync(process.execPath, [join(root, 'bin/switchyard.js'), ...args], {
    cwd: dir,
    encoding: 'utf8',
    env: { PATH: process.env['PATH'] ?? '', ...env },
  });
  return { code: res.status, stdout: res.stdout, stderr: res.stderr };
}

describe('node bin/switchyard.js', () => {
  it('imports, counts and exports through a real process, with real exit codes', () => {
    const store = `sqlite:${join(dir, 'bin.db')}`;
    writeFileSync(
      join(dir, 'in.ndjson'),
      '{"_id":"b","v":{"$numberLong":"7"}}\n{"_id":"a","v":1.5}\n',
    );
    writeFileSync(join(dir, 'bad.ndjson'), '{"_id":"c"}\n{oops\n');

    const imp = switchyard(['import', 'things', 'in.ndjson'], { SWITCHYARD_STORE: store });
    expect(imp.stderr).toBe('');
    expect(imp.code).toBe(0);
    expect(imp.stdout).toContain('imported 2 documents into things from in.ndjson');

    const bad = switchyard(['--store', store, 'import', 'things', 'bad.ndjson']);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('error: bad.ndjson:2: ' + bad.stderr.split('bad.ndjson:2: ')[1]);

    expect(switchyard(['--store', store, 'count', 'things']).stdout).toBe('2\n');
    const exp = switchyard(['--store', store, 'export', 'things']);
    expect(exp.code).toBe(0);
    expect(exp.stdout).toBe(
      '{"_id":"a","v":{"$numberDouble":"1.5"}}\n{"_id":"b","v":{"$numberLong":"7"}}\n',
    );

    expect(switchyard(['--store', store, 'nosuch']).code).toBe(2);
    expect(switchyard(['--help']).code).toBe(0);
    const secret = switchyard(['--store', 'nosuch://u:hunter2@h/x', 'count', 'things']);
    expect(secret.code).toBe(2);
    expect(secret.stderr).not.toContain('hunter2');
  });
});
