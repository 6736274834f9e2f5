/**
 * --chaos: the spec's syntax (every bad part named), the faults it injects (seeded: the same
 * seed gives the same faults; an outage takes the same keys for its window and no others), and
 * the CLI around it: a bad spec or a production store is exit 2 with nothing changed, a job under
 * chaos is audited with its spec and seed and still ends with every document right.
 */
import fs from 'node:fs';
import path from 'node:path';
import fc from 'fast-check';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parseChaos, parseDuration, parseRate } from '../../src/store/chaos-spec.js';
import {
  FaultyStore,
  InjectedOutageError,
  InjectedTimeoutError,
  keyShare,
} from '../../src/store/faulty-store.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { AuditLog } from '../../src/state/audit-log.js';
import { AuditTail } from '../../src/dashboard/audit-tail.js';
import { loadConfig } from '../../src/config/load-config.js';
import { connect } from '../../src/runtime/yard.js';
import { openStore } from '../../src/store/open-store.js';
import { runCli } from '../cli/run-cli.js';
import {
  allDocs,
  expectedSplit,
  seedUsers,
  tempDir,
  writeSplitNameMigration,
} from '../engine/backfill-fixtures.js';

describe('the --chaos spec', () => {
  it('turns each part into its fault', () => {
    const s = parseChaos(
      'latency=20ms, jitter=10ms,error=write:5%,error=scan:0.01,timeout=read:1%,timeout-after=1s,throttle=3%,lost-ack=1%,cursor-loss=2%,outage=25%@2s+500ms',
      7,
    );
    expect(s.seed).toBe(7);
    expect(s.faults).toEqual({
      seed: 7,
      latencyMs: [20, 30],
      failRates: { write: 0.05, scan: 0.01 },
      timeoutRates: { read: 0.01 },
      timeoutMs: 1000,
      throttleRate: 0.03,
      lostAckRate: 0.01,
      invalidCursorRate: 0.02,
      outage: { share: 0.25, fromMs: 2000, forMs: 500 },
    });
    expect(parseChaos('latency=5ms', 1).faults.latencyMs).toBe(5);
    expect(parseChaos('latency=5ms..9ms', 1).faults.latencyMs).toEqual([5, 9]);
    expect(parseChaos('error=2%', 1).faults.failRates).toEqual({
      read: 0.02,
      scan: 0.02,
      write: 0.02,
      changes: 0.02,
    });
    // no seed: one is drawn, and it is a whole number the user can give back
    expect(Number.isSafeInteger(parseChaos('throttle=1%').seed)).toBe(true);
  });

  it.each([
    ['', "--chaos '': empty"],
    ['latency', "--chaos 'latency': expected name=value"],
    ['slow=5ms', "--chaos 'slow=5ms': unknown part 'slow'"],
    ['latency=fast', "--chaos 'latency=fast': 'fast' is not a duration"],
    ['latency=9ms..5ms', 'the maximum 5ms is below the minimum 9ms'],
    ['error=wrte:5%', "--chaos 'error=wrte:5%': unknown kind of call 'wrte'"],
    ['error=write:150%', "'150%' is not a rate"],
    ['throttle=-1', "'-1' is not a rate"],
    ['outage=25%', 'expected share@start+duration'],
    ['outage=x@1s+1s', "'x' is not a share"],
    ['latency=1ms,latency=2ms', "'latency' is given twice"],
  ])('refuses %j, naming the part', (text, words) => {
    expect(() => parseChaos(text, 1)).toThrow(words);
    try {
      parseChaos(text, 1);
    } catch (err) {
      expect(err).toMatchObject({ code: 'E_CHAOS_SPEC', exitCode: 2, field: '--chaos' });
    }
  });

  it('rates and durations: what is printed is what is parsed back', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), (n) => {
        expect(parseRate(`${n / 100}%`)).toBeCloseTo(n / 10_000, 12);
        expect(parseDuration(`${n}ms`)).toBe(n);
        expect(parseDuration(`${n}s`)).toBe(n * 1000);
      }),
    );
  });
});

/** The outcome of each of `n` calls of each kind: ok, or the error's code. */
async function outcomes(store: FaultyStore, n: number): Promise<string[]> {
  const c = store.collection('users');
  const got: string[] = [];
  for (let i = 0; i < n; i++) {
    const key = `k${i}`;
    for (const call of [
      () => c.write([{ type: 'put', key, doc: { _id: key, i } }]),
      () => c.get(key),
      () => c.scan({ limit: 5 }),
    ]) {
      try {
        await call();
        got.push('ok');
      } catch (err) {
        got.push((err as { code: string }).code);
      }
    }
  }
  return got;
}

describe('the faults, seeded', () => {
  it('the same seed gives the same faults; another seed others', async () => {
    const spec = 'error=write:20%,error=read:10%,throttle=5%,lost-ack=5%';
    const run = async (seed: number) =>
      outcomes(new FaultyStore(new MemoryStore(), parseChaos(spec, seed).faults), 200);
    const a = await run(11);
    expect(await run(11)).toEqual(a);
    expect(await run(12)).not.toEqual(a);
    expect(a.filter((o) => o !== 'ok').length).toBeGreaterThan(0);
  });

  it('an error rate for one kind of call leaves the other kinds alone', async () => {
    const faulty = new FaultyStore(new MemoryStore(), parseChaos('error=write:100%', 3).faults);
    const c = faulty.collection('users');
    await expect(c.write([{ type: 'put', key: 'a', doc: { _id: 'a' } }])).rejects.toThrow(
      'injected: write failed',
    );
    expect(await c.get('a')).toBeNull();
    expect((await c.scan({ limit: 10 })).items).toEqual([]);
    expect(await faulty.collection('_sy_catalog').get('x')).toBeNull();
  });

  it('a timeout waits, then fails; a write that timed out was applied', async () => {
    const inner = new MemoryStore();
    const faulty = new FaultyStore(inner, parseChaos('timeout=100%,timeout-after=20ms', 3).faults);
    const c = faulty.collection('users');
    await expect(c.write([{ type: 'put', key: 'a', doc: { _id: 'a' } }])).rejects.toBeInstanceOf(
      InjectedTimeoutError,
    );
    expect((await inner.collection('users').get('a'))?.doc).toEqual({ _id: 'a' });
    await expect(c.get('a')).rejects.toThrow('timed out after 20 ms');
    expect(faulty.stats.timeouts).toBe(2);
  });

  it('an outage takes its share of the keys for its window, and no others', async () => {
    const inner = new MemoryStore();
    const keys = Array.from({ length: 400 }, (_, i) => `u${i}`);
    await inner
      .collection('users')
      .write(keys.map((key) => ({ type: 'put' as const, key, doc: { _id: key } })));
    let now = 0;
    const faults = { ...parseChaos('outage=25%@1s+2s', 5).faults, now: () => now };
    const faulty = new FaultyStore(inner, faults);
    const c = faulty.collection('users');
    const down = async () => {
      const failing: string[] = [];
      for (const k of keys)
        await c.get(k).catch((err: unknown) => {
          expect(err).toBeInstanceOf(InjectedOutageError);
          failing.push(k);
        });
      return failing;
    };
    expect(await down()).toEqual([]); // before the window (the first call starts the clock)
    now = 1000;
    const during = await down();
    expect(during).toEqual(keys.filter((k) => keyShare(5, k) < 0.25));
    expect(during.length).toBeGreaterThan(60);
    expect(during.length).toBeLessThan(140);
    now = 2999;
    expect(await down()).toEqual(during);
    now = 3000;
    expect(await down()).toEqual([]);
  });
});

describe('--chaos on the CLI', () => {
  let dir: string;
  beforeEach(() => {
    dir = tempDir('sy-chaos-');
    writeSplitNameMigration(dir);
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  const seeded = async (n: number) => {
    const store = await openStore(`sqlite:${path.join(dir, 'data.db')}`);
    await seedUsers(store, n);
    await store.close();
  };
  const fileBytes = () => fs.readFileSync(path.join(dir, 'data.db'));

  it('a bad spec is exit 2 naming the part, before anything is opened', async () => {
    for (const cmd of ['backfill', 'verify', 'rollback', 'catchup']) {
      const r = await runCli(['backfill', 'split-name', '--chaos', 'error=wrte:5%'].with(0, cmd), {
        cwd: dir,
      });
      expect(r.code).toBe(2);
      expect(r.stderr).toContain("--chaos 'error=wrte:5%': unknown kind of call 'wrte'");
    }
    expect(fs.existsSync(path.join(dir, 'switchyard.db'))).toBe(false);
  });

  it('is refused on a store the config marks production, nothing changed', async () => {
    await seeded(50);
    fs.writeFileSync(
      path.join(dir, 'switchyard.config.json'),
      JSON.stringify({ store: 'sqlite:./data.db', production: true }),
    );
    const before = fileBytes();
    const r = await runCli(['backfill', 'split-name', '--chaos', 'latency=1ms'], { cwd: dir });
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('--chaos is refused: the config marks the store');
    expect(r.stderr).toContain("field 'production'");
    expect(fileBytes()).toEqual(before);
    // on another store (a copy) it is allowed
    fs.copyFileSync(path.join(dir, 'data.db'), path.join(dir, 'copy.db'));
    const copy = await runCli(
      ['--store', 'sqlite:./copy.db', 'backfill', 'split-name', '--chaos', 'latency=1ms'],
      { cwd: dir },
    );
    expect(copy.code).toBe(0);
  });

  it('a backfill, verify and rollback under chaos end right, and the audit log says so', async () => {
    await seeded(300);
    const chaos = [
      '--chaos',
      'error=write:10%,error=scan:5%,throttle=5%,lost-ack=5%,timeout=read:2%,timeout-after=5ms',
      '--chaos-seed',
      '42',
    ];
    const bf = await runCli(
      ['backfill', 'split-name', '--batch-size', '20', '--store', 'sqlite:./data.db', ...chaos],
      { cwd: dir },
    );
    expect(bf.stderr).toContain('chaos: error=write:10%');
    expect(bf.stderr).toContain('repeat with --chaos-seed 42');
    expect(bf.stderr).toMatch(/chaos injected: \d+ calls, [1-9]\d* errors/);
    expect(bf.code).toBe(0);
    const store = await openStore(`sqlite:${path.join(dir, 'data.db')}`);
    try {
      const docs = await allDocs(store);
      expect(docs.size).toBe(300);
      for (const [k, d] of docs) expect(d).toEqual(expectedSplit(Number(k.slice(1))));
      const vf = await runCli(['verify', 'split-name', '--store', 'sqlite:./data.db', ...chaos], {
        cwd: dir,
      });
      expect(vf.code).toBe(0);
      const rb = await runCli(['rollback', 'split-name', '--store', 'sqlite:./data.db', ...chaos], {
        cwd: dir,
      });
      expect(rb.code).toBe(0);
      const chaosEntries = (await new AuditLog(store).entries()).filter(
        (e) => e.command === 'chaos',
      );
      expect(chaosEntries.map((e) => e.params)).toEqual(
        ['backfill', 'verify', 'rollback'].map((job) => ({
          job,
          spec: chaos[1],
          seed: 42,
        })),
      );
      expect(chaosEntries.every((e) => e.migration === '20261120-split-name')).toBe(true);
      // the dashboard's view of it: the newest job run under chaos
      const tail = new AuditTail(store, new AuditLog(store));
      await tail.refresh();
      expect(tail.chaos('20261120-split-name')).toMatchObject({
        job: 'rollback',
        spec: chaos[1],
        seed: 42,
      });
    } finally {
      await store.close();
    }
  });

  it('connect({ chaos }): the runtime store gets the faults, audited; refused on production', async () => {
    await seeded(5);
    const store = `sqlite:${path.join(dir, 'data.db')}`;
    const yard = await connect({
      store,
      migrationsDir: path.join(dir, 'migrations'),
      chaos: 'error=read:100%',
      chaosSeed: 3,
    });
    try {
      await expect(yard.collection('users').get('u000001')).rejects.toThrow(
        /injected: get(Many)? failed/,
      );
    } finally {
      await yard.close();
    }
    const s = await openStore(store);
    const entries = await new AuditLog(s).entries();
    await s.close();
    expect(entries.filter((e) => e.command === 'chaos').map((e) => e.params)).toEqual([
      { job: 'runtime', spec: 'error=read:100%', seed: 3 },
    ]);
    fs.writeFileSync(
      path.join(dir, 'switchyard.config.json'),
      JSON.stringify({ store: 'sqlite:./data.db', production: true }),
    );
    await expect(
      connect({ config: await loadConfig(dir), cwd: dir, chaos: 'latency=1ms' }),
    ).rejects.toMatchObject({ code: 'E_CHAOS_REFUSED', exitCode: 2 });
  });
});
