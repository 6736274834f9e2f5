import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { defineConfig } from '../../src/config/define-config.js';
import { DEFAULT_ERROR_BUDGET_THRESHOLD } from '../../src/engine/error-budget.js';
import { loadConfig } from '../../src/config/load-config.js';

const root = mkdtempSync(join(tmpdir(), 'sy-config-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

let n = 0;
function project(files: Record<string, string>): string {
  const dir = join(root, `p${n++}`);
  mkdirSync(dir);
  for (const [name, text] of Object.entries(files)) writeFileSync(join(dir, name), text);
  return dir;
}

async function loadError(dir: string, file?: string): Promise<InputError> {
  try {
    await loadConfig(dir, file !== undefined ? { file } : {});
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

describe('loadConfig', () => {
  it('gives the defaults when there is no config file', async () => {
    const dir = project({});
    expect(await loadConfig(dir)).toEqual({
      file: undefined,
      store: 'sqlite:./switchyard.db',
      production: false,
      migrationsDir: join(dir, 'migrations'),
      state: undefined,
      versionField: '_sv',
      compatibility: 'BACKWARD',
      collections: {},
      approvals: undefined,
      windows: [],
      // the error budget is a threshold: the default one is listed
      thresholds: [
        {
          metric: 'deadLetters',
          above: 10,
          and: { metric: 'deadLetterRate', above: 0.01 },
          action: 'pause',
          job: 'backfill',
          guard: 'error-budget',
        },
      ],
    });
  });

  it('loads a TypeScript config at run time', async () => {
    const dir = project({
      'switchyard.config.ts': [
        'interface C { store: string; migrationsDir: string; versionField?: string }',
        "const config: C = { store: 'memory:', migrationsDir: 'db/migrations', versionField: 'v' };",
        'export default config;',
      ].join('\n'),
    });
    const config = await loadConfig(dir);
    expect(config.file).toBe(join(dir, 'switchyard.config.ts'));
    expect(config.store).toBe('memory:');
    expect(config.migrationsDir).toBe(join(dir, 'db', 'migrations'));
    expect(config.versionField).toBe('v');
  });

  it('loads .mjs, .js and .json configs, and a config function', async () => {
    expect(
      (
        await loadConfig(
          project({ 'switchyard.config.mjs': "export default { store: 'memory:' };" }),
        )
      ).store,
    ).toBe('memory:');
    expect(
      (
        await loadConfig(
          project({
            'switchyard.config.js': "export default async () => ({ store: 'sqlite::memory:' });",
          }),
        )
      ).store,
    ).toBe('sqlite::memory:');
    expect(
      (await loadConfig(project({ 'switchyard.config.json': '{"state": "memory:"}' }))).state,
    ).toBe('memory:');
  });

  it('loads an explicit --config file', async () => {
    const dir = project({ 'other.json': '{"store": "memory:"}' });
    expect((await loadConfig(dir, { file: 'other.json' })).store).toBe('memory:');
    expect((await loadError(dir, 'missing.json')).message).toContain('not found');
  });

  it('names the file and field of an invalid value', async () => {
    const dir = project({ 'switchyard.config.json': '{"migrationsDir": 42}' });
    const err = await loadError(dir);
    expect(err.file).toBe(join(dir, 'switchyard.config.json'));
    expect(err.field).toBe('migrationsDir');
    expect(err.message).toContain('switchyard.config.json');
    expect(err.message).toContain("'migrationsDir'");
  });

  it('names an unknown field', async () => {
    const err = await loadError(
      project({ 'switchyard.config.mjs': "export default { stor: 'memory:' };" }),
    );
    expect(err.message).toContain("unknown field 'stor'");
  });

  it("checks the schema registry's keys: a consumer's field path, a mode, an approval count", async () => {
    const cases: [object, string, RegExp][] = [
      [
        { collections: { users: { consumers: { mailer: ['email', 'profile..name'] } } } },
        'collections.users.consumers.mailer[1]',
        /invalid config: invalid field path 'profile\.\.name': segment 2 is empty/,
      ],
      [{ compatibility: 'SIDEWAYS' }, 'compatibility', /invalid config: /],
      [{ approvals: { required: 0 } }, 'approvals.required', /invalid config: /],
      [
        { collections: { users: { consumer: {} } } },
        'collections.users.consumer',
        /unknown field 'consumer': did you mean 'consumers'\?/,
      ],
    ];
    for (const [config, field, message] of cases) {
      const err = await loadError(project({ 'switchyard.config.json': JSON.stringify(config) }));
      expect(err.field).toBe(field);
      expect(err.message).toMatch(message);
    }
    const ok = await loadConfig(
      project({
        'switchyard.config.json': JSON.stringify({
          compatibility: 'FULL',
          collections: { users: { compatibility: 'NONE', consumers: { mailer: ['items[].sku'] } } },
          approvals: { required: 2, forbidAuthor: true },
        }),
      }),
    );
    expect(ok.collections.users!.consumers).toEqual({ mailer: ['items[].sku'] });
    expect(ok.approvals).toEqual({ required: 2, forbidAuthor: true, for: ['backfill', 'cutover'] });
  });

  it('checks change windows, naming the field and what to write', async () => {
    const w = { days: 'mon-fri', start: '01:00', end: '05:00', tz: 'UTC' };
    const cases: [object, string, RegExp][] = [
      [
        { windows: [{ ...w, days: 'weekdays' }] },
        'windows[0].days',
        /'weekdays' is not a list of days: write e\.g\. mon-fri/,
      ],
      [
        { windows: [w, { ...w, start: '1am' }] },
        'windows[1].start',
        /'1am' is not a time: write HH:MM/,
      ],
      [{ windows: [{ ...w, end: '25:00' }] }, 'windows[0].end', /'25:00' is not a time/],
      [
        { windows: [{ ...w, tz: 'Mars/Olympus' }] },
        'windows[0].tz',
        /'Mars\/Olympus' is not a time zone/,
      ],
      [{ windows: [{ ...w, zone: 'UTC' }] }, 'windows[0].zone', /unknown field 'zone'/],
      [{ windows: [] }, 'windows', /windows must not be empty/],
      [{ windows: [{ days: 'mon' }] }, 'windows[0].start', /invalid config: /],
    ];
    for (const [config, field, message] of cases) {
      const err = await loadError(project({ 'switchyard.config.json': JSON.stringify(config) }));
      expect(err.field).toBe(field);
      expect(err.message).toMatch(message);
    }
    const ok = await loadConfig(
      project({ 'switchyard.config.json': JSON.stringify({ windows: [w] }) }),
    );
    expect(ok.windows).toEqual([w]);
  });

  it('checks thresholds, naming the file and the field', async () => {
    const t = { metric: 'errorRate', above: 0.05, action: 'throttle' };
    const cases: [object, string, RegExp][] = [
      [
        { thresholds: [{ ...t, metric: 'errors' }] },
        'thresholds[0].metric',
        /metric must be one of errorRate, deadLetters/,
      ],
      [
        { thresholds: [t, { ...t, action: 'panic' }] },
        'thresholds[1].action',
        /action must be one of alert, throttle, pause, rollback/,
      ],
      [{ thresholds: [{ ...t, above: -1 }] }, 'thresholds[0].above', /above must not be negative/],
      [{ thresholds: [{ ...t, above: '5%' }] }, 'thresholds[0].above', /above must be a number/],
      [
        { thresholds: [{ ...t, job: 'cutover' }] },
        'thresholds[0].job',
        /job must be one of backfill, verify, rollback, catch-up/,
      ],
      [{ thresholds: [{ ...t, level: 1 }] }, 'thresholds[0].level', /unknown field 'level'/],
      [{ thresholds: { errorRate: 0.05 } }, 'thresholds', /thresholds must be a list/],
      [
        { thresholds: [{ ...t, and: { metric: 'deadLetterRate', above: -1 } }] },
        'thresholds[0].and.above',
        /above must not be negative/,
      ],
      [
        { thresholds: [{ ...t, guard: 'error-budget' }] },
        'thresholds[0].guard',
        /the error budget is \{ metric: 'deadLetters'/,
      ],
      [{ thresholds: [{ ...t, guard: 'p99' }] }, 'thresholds[0].guard', /guard must be one of/],
      [
        { thresholds: [{ ...t, metric: 'shadowMismatchRate' }] },
        'thresholds[0].action',
        /action 'block' goes with a gate metric/,
      ],
      [
        { thresholds: [{ ...t, action: 'block' }] },
        'thresholds[0].action',
        /action 'block' goes with a gate metric \(shadowMismatchRate/,
      ],
      [
        { thresholds: [{ metric: 'newP99Ratio', above: 1.2, action: 'block', job: 'backfill' }] },
        'thresholds[0].job',
        /a gate \(action 'block'\) is checked before a stage step/,
      ],
    ];
    for (const [config, field, message] of cases) {
      const err = await loadError(project({ 'switchyard.config.json': JSON.stringify(config) }));
      expect(err.field).toBe(field);
      expect(err.message).toMatch(message);
      expect(err.message).toContain('switchyard.config.json');
    }
    const ok = await loadConfig(
      project({ 'switchyard.config.json': JSON.stringify({ thresholds: [t] }) }),
    );
    expect(ok.thresholds).toEqual([t, DEFAULT_ERROR_BUDGET_THRESHOLD]);
    // a config's own error budget replaces the default (and is the backfill's)
    const budget = {
      metric: 'deadLetters',
      above: 50,
      and: { metric: 'deadLetterRate', above: 0.05 },
      action: 'alert',
      guard: 'error-budget',
    };
    const own = await loadConfig(
      project({ 'switchyard.config.json': JSON.stringify({ thresholds: [budget, t] }) }),
    );
    expect(own.thresholds).toEqual([{ ...budget, job: 'backfill' }, t]);
  });

  it('rejects a bad store URL without showing its password', async () => {
    const err = await loadError(
      project({ 'switchyard.config.json': '{"store": "nosuch://u:hunter2@h/x"}' }),
    );
    expect(err.field).toBe('store');
    expect(err.message).toContain('switchyard.config.json');
    expect(err.message).not.toContain('hunter2');
  });

  it('names the file when it does not load', async () => {
    const ts = await loadError(project({ 'switchyard.config.ts': 'export default {{{' }));
    expect(ts.message).toContain('switchyard.config.ts');
    expect(ts.message).toContain('cannot load');
    const throws = await loadError(
      project({ 'switchyard.config.mjs': "throw new Error('boom');" }),
    );
    expect(throws.message).toContain('boom');
    const json = await loadError(project({ 'switchyard.config.json': '{nope' }));
    expect(json.message).toContain('not valid JSON');
  });

  it('defineConfig is the identity', () => {
    const c = { store: 'memory:', migrationsDir: './m' };
    expect(defineConfig(c)).toBe(c);
  });
});
