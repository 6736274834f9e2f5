import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { COMMANDS } from '../../src/cli/commands/index.js';
import { renderCliDocs, spliceOverview } from '../../src/cli/render-cli-docs.js';
import { runCli } from './run-cli.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const dir = mkdtempSync(join(tmpdir(), 'sy-cmd-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const DOCS = '{"_id":"a"}\n{"_id":"b"}\n';
function file(name: string, text: string): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}

describe('switchyard collections / count', () => {
  it('lists collections and counts documents, as text and JSON', async () => {
    const s = `sqlite:${join(dir, 'cc.db')}`;
    const input = file('cc.ndjson', DOCS);
    await runCli(['--store', s, 'import', 'users', input, '--quiet']);
    await runCli(['--store', s, 'import', 'orders', input, '-q']);
    expect(await runCli(['--store', s, 'collections'])).toEqual({
      code: 0,
      stdout: 'orders\nusers\n',
      stderr: '',
    });
    expect(JSON.parse((await runCli(['--store', s, 'collections', '--json'])).stdout)).toEqual({
      collections: ['orders', 'users'],
    });
    expect((await runCli(['--store', s, 'count', 'users'])).stdout).toBe('2\n');
    expect(JSON.parse((await runCli(['--json', '--store', s, 'count', 'nothing'])).stdout)).toEqual(
      {
        collection: 'nothing',
        count: 0,
      },
    );
  });

  it('--quiet prints nothing on success', async () => {
    const res = await runCli([
      '--store',
      'memory:',
      'import',
      'users',
      file('q.ndjson', DOCS),
      '--quiet',
    ]);
    expect(res).toEqual({ code: 0, stdout: '', stderr: '' });
  });
});

describe('progress', () => {
  it('shows progress on a terminal (stderr) and clears it, never with --quiet', async () => {
    const lines = Array.from({ length: 3000 }, (_, i) => `{"_id":${i}}`).join('\n');
    const input = file('progress.ndjson', lines);
    const tty = await runCli(['--store', 'memory:', 'import', 'p', input, '--batch-size', '10'], {
      tty: true,
    });
    expect(tty.code).toBe(0);
    expect(tty.stderr).toContain('\r\x1b[K');
    expect(tty.stderr.endsWith('\r\x1b[K')).toBe(true);
    expect(tty.stdout).toContain('imported 3000 documents');
    const quiet = await runCli(['--store', 'memory:', '-q', 'import', 'p', input], { tty: true });
    expect(quiet.stderr).toBe('');
  });
});

describe('store selection', () => {
  it('takes --store, then $SWITCHYARD_STORE, then the config file, then the default', async () => {
    const project = join(dir, 'project');
    mkdirSync(project);
    const fromConfig = join(dir, 'from-config.db');
    const fromEnv = join(dir, 'from-env.db');
    writeFileSync(
      join(project, 'switchyard.config.mjs'),
      `export default { store: 'sqlite:${fromConfig}' };`,
    );
    const input = file('sel.ndjson', DOCS);
    await runCli(['import', 'c', input, '-q'], { cwd: project });
    await runCli(['import', 'e', input, '-q'], {
      cwd: project,
      env: { SWITCHYARD_STORE: `sqlite:${fromEnv}` },
    });
    expect((await runCli(['--store', `sqlite:${fromConfig}`, 'collections'])).stdout).toBe('c\n');
    expect((await runCli(['--store', `sqlite:${fromEnv}`, 'collections'])).stdout).toBe('e\n');
    const json = await runCli(['--json', 'count', 'c'], {
      cwd: project,
      env: { SWITCHYARD_STORE: 'memory:' },
    });
    expect(JSON.parse(json.stdout)).toEqual({ collection: 'c', count: 0 });
  });

  it('reads --config and reports a bad config naming the file and field (exit 2)', async () => {
    const cfg = file('bad.config.json', '{"store": 42}');
    const res = await runCli(['--config', cfg, 'count', 'x']);
    expect(res.code).toBe(2);
    expect(res.stderr).toContain('bad.config.json');
    expect(res.stderr).toContain("field 'store'");
  });
});

describe('errors and exit codes', () => {
  it('never prints a password (exit 2 for a bad URL)', async () => {
    const res = await runCli([
      '--store',
      'nosuch://admin:hunter2@db.example.com/x',
      'count',
      'users',
    ]);
    expect(res.code).toBe(2);
    expect(res.stderr).toMatch(/^error: /);
    expect(res.stderr).not.toContain('hunter2');
    expect(res.stderr).toContain('admin:***@');
    const env = await runCli(['count', 'users'], {
      env: { SWITCHYARD_STORE: 'redis://u:s3cret@localhost:1/0' },
    });
    expect(env.stderr).not.toContain('s3cret');
  });

  it('maps usage errors to exit 2', async () => {
    for (const args of [
      ['nosuch'],
      ['import', 'users'],
      ['import', 'users', 'f.ndjson', '--batch-size', 'abc'],
      ['import', 'users', 'f.ndjson', '--batch-size', '0'],
      ['count', 'a', 'b'],
      ['export', 'x', '--bogus'],
      [],
    ]) {
      const res = await runCli(args);
      expect(res.code, args.join(' ')).toBe(2);
      expect(res.stderr, args.join(' ')).not.toBe('');
    }
  });

  it('exits 3 when the store fails', async () => {
    const res = await runCli([
      '--store',
      `sqlite:${join(dir, 'no', 'such', 'dir', 'x.db')}`,
      'count',
      'users',
    ]);
    expect(res.code).toBe(3);
    expect(res.stderr).toMatch(/^error: /);
  });

  it('prints help for the program and every command (exit 0)', async () => {
    const top = await runCli(['--help']);
    expect(top.code).toBe(0);
    for (const { spec } of COMMANDS) {
      expect(top.stdout).toContain(spec.name);
      const res = await runCli([spec.name, '--help']);
      expect(res.code).toBe(0);
      expect(res.stdout).toContain(`Usage: switchyard ${spec.name}`);
      for (const o of spec.options) expect(res.stdout).toContain(o.flags);
      expect(res.stdout).toContain('--store <url>');
    }
    expect((await runCli(['help', 'import'])).stdout).toContain('--skip-invalid');
    expect((await runCli(['--version'])).stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });
});

describe('docs/cli', () => {
  it('is up to date with the command specs (npm run docs:cli)', () => {
    const docs = renderCliDocs(COMMANDS);
    for (const [name, content] of docs.pages) {
      expect(readFileSync(join(root, 'docs', 'cli', name), 'utf8'), name).toBe(content);
    }
    const readme = readFileSync(join(root, 'docs', 'cli', 'README.md'), 'utf8');
    expect(spliceOverview(readme, docs.overview)).toBe(readme);
  });
});
