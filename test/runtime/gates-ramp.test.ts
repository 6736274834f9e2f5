/**
 * Runtime counters published to the state store, gates over them, and the automatic ramp that
 * advances on passing gates and steps back on a breach.
 */
import { describe, expect, it } from 'vitest';
import { UsageError } from '../../src/core/errors.js';
import {
  evaluateGates,
  gatesFromThresholds,
  gateThreshold,
  parseDuration,
  parseGates,
  readLastGate,
} from '../../src/engine/gates.js';
import { thresholdsFor, type Threshold } from '../../src/engine/runner/thresholds.js';
import { advance, nextPosition, parseSteps } from '../../src/engine/ramp.js';
import { sideBySideState, Stage } from '../../src/engine/stages.js';
import {
  LATENCY_BUCKETS_MS,
  percentile,
  publishSample,
  readRuntimeWindow,
  type RuntimeSample,
} from '../../src/runtime/counters.js';
import type { Yard } from '../../src/runtime/yard.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import {
  closeAfterEach,
  fixture,
  moveTo,
  newStore,
  oldDoc,
  yardFor,
  type Fixture,
} from './yard-fixtures.js';

const open = closeAfterEach();

function sample(instance: string, at: number, over: Partial<RuntimeSample> = {}): RuntimeSample {
  const side = (reads: number, ms: number) => {
    const latency = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    latency[LATENCY_BUCKETS_MS.findIndex((b) => ms <= b)] = reads;
    return { reads, writes: 0, errors: 0, latency };
  };
  return {
    migration: 'm',
    instance,
    at,
    since: at - 1000,
    stage: 'shadow',
    percent: 0,
    old: side(100, 3),
    new: side(100, 6),
    compared: 100,
    mismatched: 2,
    candidateErrors: 0,
    paths: { fullName: 2 },
    ...over,
  };
}

describe('runtime counters', () => {
  it('percentile interpolates within a bucket and is null when empty', () => {
    const b = new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0);
    expect(percentile(b, 0.99)).toBeNull();
    b[LATENCY_BUCKETS_MS.indexOf(4)] = 10; // ten calls in (2, 4] ms
    expect(percentile(b, 0.5)).toBeCloseTo(3, 5);
    expect(percentile(b, 1)).toBeCloseTo(4, 5);
    b[b.length - 1] = 1000; // the open bucket reports its lower bound
    expect(percentile(b, 0.99)).toBe(LATENCY_BUCKETS_MS.at(-1));
  });

  it('a window sums the samples of every instance inside it, and nothing older', async () => {
    const state = new MemoryStore();
    const now = Date.now();
    await publishSample(state, sample('a', now - 500));
    await publishSample(state, sample('b', now - 200, { mismatched: 0, paths: {} }));
    await publishSample(state, sample('a', now - 120_000, { mismatched: 100 })); // too old
    const w = await readRuntimeWindow(state, 'm', 60_000, now);
    expect(w.instances).toBe(2);
    expect(w.compared).toBe(200);
    expect(w.mismatched).toBe(2);
    expect(w.mismatchRate).toBeCloseTo(0.01, 10);
    expect(w.old.reads).toBe(200);
    expect(w.latencyRatio).toBeGreaterThan(1.5); // new answers in (4, 8] ms, old in (2, 4]
    expect(w.paths).toEqual([{ path: 'fullName', count: 2 }]);
    const empty = await readRuntimeWindow(state, 'other', 60_000, now);
    expect(empty).toMatchObject({ mismatchRate: null, errorRate: null, latencyRatio: null });
  });

  it('the error rate counts failed operations over operations: a failed candidate read of ten keys is ten failed comparisons, not ten failures of one call', async () => {
    const state = new MemoryStore();
    const now = Date.now();
    // 100 control reads (6 failed), 94 candidate reads of 10 keys each: 88 compared (880
    // documents), 6 failed (60 candidate errors); 6% of every kind of operation failed
    const side = (reads: number, errors: number) => ({
      reads,
      writes: 0,
      errors,
      latency: new Array<number>(LATENCY_BUCKETS_MS.length + 1).fill(0),
    });
    await publishSample(
      state,
      sample('a', now - 100, {
        old: side(100, 6),
        new: side(94, 0),
        compared: 880,
        mismatched: 0,
        candidateErrors: 60,
        paths: {},
      }),
    );
    const w = await readRuntimeWindow(state, 'm', 60_000, now);
    // (6 + 60) / (194 calls + 880 compared + 60 failed comparisons) = 5.8%; failures over calls
    // alone said 34%
    expect(w.errorRate).toBeCloseTo(66 / 1134, 10);
  });

  it('a yard counts both sides and publishes deltas; publish failures keep the counts', async () => {
    const store = newStore('memory');
    const f = fixture(store);
    await moveTo(f, Stage.shadow);
    const yard = await yardFor(f, { publishMs: 0, instanceId: 'app-1' });
    open.push({ yard, store });
    const users = yard.collection('users');
    for (let i = 0; i < 5; i++) await users.put(oldDoc(i));
    await users.getMany(['u0', 'u1', 'u2']);
    await yard.idle();
    await yard.publish();
    let w = await readRuntimeWindow(store, f.migration.id, 60_000);
    expect(w.old).toMatchObject({ writes: 5, reads: 1, errors: 0 });
    expect(w.new).toMatchObject({ writes: 5, reads: 1 }); // the shadow's candidate read
    expect(w).toMatchObject({ compared: 3, mismatched: 0, instances: 1 });
    await yard.publish(); // nothing new: nothing double-counted
    w = await readRuntimeWindow(store, f.migration.id, 60_000);
    expect(w.old.writes).toBe(5);
    // the same calls, as Prometheus counters for the application's own /metrics
    const text = await yard.metricsRegistry().metrics();
    expect(text).toContain(
      'switchyard_runtime_writes_total{migration="m-rename",side="old",stage="shadow"} 5',
    );
    expect(text).toContain(
      'switchyard_runtime_comparisons_total{migration="m-rename",stage="shadow"} 3',
    );
  });
});

describe('gates', () => {
  it('parse the issue example and refuse what they cannot read, naming the flag', () => {
    expect(parseGates('mismatch<0.1%,errors<0.5%,p99<1.2x')).toEqual([
      { metric: 'mismatch', op: '<', limit: 0.001, unit: 'rate', text: 'mismatch<0.1%' },
      { metric: 'errors', op: '<', limit: 0.005, unit: 'rate', text: 'errors<0.5%' },
      { metric: 'p99', op: '<', limit: 1.2, unit: 'ratio', text: 'p99<1.2x' },
    ]);
    expect(parseGates('p50<=20ms')[0]).toMatchObject({ unit: 'ms', op: '<=', limit: 20 });
    for (const bad of ['', 'latency<2x', 'mismatch<2x', 'p99<5%', 'mismatch>1%', 'errors<150%'])
      expect(() => parseGates(bad)).toThrow(UsageError);
    expect(() => parseGates('nope')).toThrow(/--gate/);
    expect(parseDuration('5m', '--hold')).toBe(300_000);
    expect(parseDuration('250ms', '--hold')).toBe(250);
    expect(parseDuration('2', '--hold')).toBe(2000);
    expect(() => parseDuration('soon', '--hold')).toThrow(/--hold/);
    expect(parseSteps('1,5,25,50,100')).toEqual([1, 5, 25, 50, 100]);
    expect(() => parseSteps('5,1')).toThrow();
  });

  it('pass, fail, and pending when the window holds too little', () => {
    const gates = parseGates('mismatch<1%,errors<1%,p99<1.5x');
    const side = (p99: number | null, reads = 500) => ({
      reads,
      writes: 0,
      p50Ms: p99,
      p99Ms: p99,
    });
    const w = {
      windowMs: 1000,
      compared: 500,
      mismatchRate: 0.002,
      errorRate: 0,
      old: side(10),
      new: side(12),
    };
    expect(evaluateGates('m', gates, w).result).toBe('pass');
    const slow = evaluateGates('m', gates, { ...w, new: side(30) });
    expect(slow.result).toBe('fail');
    expect(slow.checks.find((c) => c.name === 'p99')).toMatchObject({ result: 'fail', value: 3 });
    expect(evaluateGates('m', gates, { ...w, mismatchRate: 0.05 }).result).toBe('fail');
    const quiet = evaluateGates('m', gates, { ...w, compared: 3 }, { minSamples: 100 });
    expect(quiet.result).toBe('pending');
    // a breach is a breach even when another check is still pending
    expect(evaluateGates('m', gates, { ...w, compared: 3, new: side(90) }).result).toBe('fail');
  });

  it("are the config's block thresholds: --gate is their shorthand, judged the same way", () => {
    // the shorthand, as thresholds: each gate judges one threshold metric
    expect(parseGates('mismatch<0.1%,errors<=0.5%,p99<1.2x,p50<=20ms').map(gateThreshold)).toEqual([
      { metric: 'shadowMismatchRate', above: 0.001, action: 'block', orEqual: true },
      { metric: 'runtimeErrorRate', above: 0.005, action: 'block', orEqual: false },
      { metric: 'newP99Ratio', above: 1.2, action: 'block', orEqual: true },
      { metric: 'newP50Ms', above: 20, action: 'block', orEqual: false },
    ]);
    // the config's block thresholds of this migration, as gates (written <=)
    const config: Threshold[] = [
      { metric: 'errorRate', above: 0.05, action: 'throttle' },
      { metric: 'shadowMismatchRate', above: 0.01, action: 'block' },
      { metric: 'newP99Ratio', above: 1.5, action: 'block', migration: 'other' },
      { metric: 'newP99Ms', above: 250, action: 'block', migration: 'm' },
    ];
    const gates = gatesFromThresholds(config, 'm')!;
    expect(gates).toEqual([
      { metric: 'mismatch', op: '<=', limit: 0.01, unit: 'rate', text: 'mismatch<=1%' },
      { metric: 'p99', op: '<=', limit: 250, unit: 'ms', text: 'p99<=250ms' },
    ]);
    expect(gatesFromThresholds(config.slice(0, 1), 'm')).toBeUndefined();
    // no job sees a block threshold
    expect(thresholdsFor(config, 'm', 'backfill')).toEqual(config.slice(0, 1));
    // a threshold fires strictly above its level: at exactly 1% the config's gate passes, the
    // shorthand written `<` fails (it blocks at its limit too), and above 1% both fail
    const side = (p99: number) => ({ reads: 500, writes: 0, p50Ms: p99, p99Ms: p99 });
    const w = {
      windowMs: 1000,
      compared: 500,
      mismatchRate: 0.01,
      errorRate: 0,
      old: side(10),
      new: side(12),
    };
    expect(evaluateGates('m', gates, w).result).toBe('pass');
    expect(evaluateGates('m', parseGates('mismatch<1%'), w).result).toBe('fail');
    expect(evaluateGates('m', gates, { ...w, mismatchRate: 0.0102 }).checks[0]).toMatchObject({
      name: 'mismatch',
      limit: '<=1%',
      result: 'fail',
    });
    expect(evaluateGates('m', gates, { ...w, new: side(251) }).result).toBe('fail');
    // not judged yet (too few comparisons): pending, as for a job's threshold not measured
    expect(evaluateGates('m', gates, { ...w, compared: 3, mismatchRate: 1 }).result).toBe(
      'pending',
    );
  });

  it('the ramp goes dual-write -> shadow -> live steps', () => {
    const s = (stage: Stage, percent = 0) => ({ stage, percent });
    expect(nextPosition(s(Stage.dualWrite), [1, 50])).toEqual({ stage: Stage.shadow });
    expect(nextPosition(s(Stage.shadow), [1, 50])).toEqual({ stage: Stage.live, percent: 1 });
    expect(nextPosition(s(Stage.live, 1), [1, 50])).toEqual({ stage: Stage.live, percent: 50 });
    expect(nextPosition(s(Stage.live, 50), [1, 50])).toBeNull();
    expect(nextPosition(s(Stage.rampdown, 100), [1, 50])).toBeNull();
  });
});

describe('an automatic ramp over live traffic', () => {
  const N = 200;

  async function world(tamper: (f: Fixture) => Promise<void>) {
    const store = newStore('sqlite');
    const f = fixture(store);
    await moveTo(f, Stage.dualWrite);
    const yard = await yardFor(f, { publishMs: 100, refreshMs: 50 });
    open.push({ yard, store });
    const users = yard.collection('users');
    for (let i = 0; i < N; i++) await users.put(oldDoc(i, { n: i }));
    await tamper(f);
    await moveTo(f, Stage.shadow);
    await yard.refresh();
    return { f, yard, users };
  }

  /** reads every key in batches until stopped: what an application does */
  function traffic(yard: Yard) {
    let stop = false;
    const users = yard.collection('users');
    const done = (async () => {
      while (!stop) {
        for (let i = 0; i < N && !stop; i += 20) {
          await users.getMany(Array.from({ length: 20 }, (_, j) => `u${i + j}`));
          await new Promise((r) => setTimeout(r, 2));
        }
      }
      await yard.idle();
    })();
    return async () => {
      stop = true;
      await done;
    };
  }

  const ramp = (f: Fixture, steps: number[]) =>
    advance(f, f.migration, {
      // latency is left out: on a loaded test machine a p99 ratio is noise (gates unit tests cover it)
      gates: parseGates('mismatch<0.5%,errors<1%'),
      windowMs: 30_000,
      holdMs: 1500,
      checkEveryMs: 200,
      minSamples: 50,
      steps,
      auto: true,
      readWindow: (id, ms) => readRuntimeWindow(f.stateStore, id, ms),
    });

  it('with tampered targets: mismatches on exactly those paths, and the ramp steps back', async () => {
    const { f, yard } = await world(async (fx) => {
      const target = fx.store.collection('users_v2');
      const ops = [3, 77, 150].map((i) => ({
        type: 'put' as const,
        key: `u${i}`,
        doc: { _id: `u${i}`, fullName: 'tampered', n: i, _sv: 2 },
      }));
      ops.push({
        type: 'put',
        key: 'u9',
        doc: { _id: 'u9', fullName: 'N9', n: 9, _sv: 2, extra: true } as never,
      });
      await target.write(ops);
    });
    const stop = traffic(yard);
    const result = await ramp(f, [1, 50]);
    await stop();
    expect(result.outcome).toBe('stepped-back');
    expect(sideBySideState(await f.catalog.get(f.migration.id)).stage).toBe(Stage.dualWrite);
    const byPath = yard.stats()[f.migration.id]!.byPath.map((p) => p.name);
    expect(byPath.sort()).toEqual(['extra', 'fullName']);
    const gate = await readLastGate(f.stateStore, f.migration.id);
    expect(gate).toMatchObject({ result: 'fail', stage: 'shadow' });
    const audit = await f.audit.entries();
    const back = audit.find((e) => e.command === 'advance' && e.outcome === 'ok');
    expect(back?.params).toMatchObject({ from: 'shadow', to: 'dual-write' });
    expect(back?.reason).toMatch(/gate failed at shadow: mismatch .*fail/);
    expect(audit.some((e) => e.command === 'gate' && e.outcome.startsWith('failed'))).toBe(true);
  });

  it('with a faithful target: the ramp walks shadow -> live 1% -> live 50% on passing gates', async () => {
    const { f, yard } = await world(async () => {});
    const stop = traffic(yard);
    const result = await ramp(f, [1, 50]);
    await stop();
    expect(result.outcome, result.message).toBe('done');
    expect(result.changes.map((c) => `${c.to.stage}:${c.to.percent}`)).toEqual([
      'live:1',
      'live:50',
    ]);
    const audit = await f.audit.entries();
    expect(audit.filter((e) => e.command === 'gate' && e.outcome === 'ok')).toHaveLength(2);
  });

  it('without traffic it holds where it is', async () => {
    const { f } = await world(async () => {});
    const result = await ramp(f, [1]);
    expect(result.outcome).toBe('held');
    expect(sideBySideState(await f.catalog.get(f.migration.id)).stage).toBe(Stage.shadow);
  });
});
