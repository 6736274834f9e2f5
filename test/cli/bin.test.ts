/**
 * The CLI as users run it: `node bin/switchyard.js` in a child process, over the built dist/.
 * The build runs once here (tsc emits even when other parts of the tree have type errors; the
 * typecheck is a separate step).
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(join(tmpdir(), 'sy-bin-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

beforeAll(() => {
  try {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      {
        cwd: root,
        stdio: 'pipe',
      },
    );
  } catch {
    // type errors elsewhere do not stop the emit; a missing entry point below does
  }
  if (!existsSync(join(root, 'dist/cli/main.js')))
    throw new Error('npm run build did not produce dist/cli/main.js');
}, 120_000);

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
