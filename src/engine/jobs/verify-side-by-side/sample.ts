/**
 * `verify --sample n` side by side: a uniform sample of n keys of each side (reservoir sampling of
 * both), compared with fresh reads of both sides and rechecked like the full run's findings; no
 * buckets, in this process, not resumable (it is one quick pass).
 */
import type { Key } from '../../../store/contract.js';
import { sampleCollection } from '../../sample.js';
import { sourceGetMany } from '../../mapped-target.js';
import {
  emptyChecks,
  emptyFindings,
  type Comparer,
  type Finding,
  type Findings,
  type TargetChecks,
} from './compare.js';
import { RECHECK_GROUP } from './jobs.js';

const PAGE = 500;

export interface SampleOutcome {
  sourceDocs: number;
  targetDocs: number;
  findings: Findings;
  checks: TargetChecks;
  /** the keys compared */
  compared: number;
}

export async function samplePass(
  c: Comparer,
  o: { sample?: number; seed?: number; signal?: AbortSignal },
): Promise<SampleOutcome> {
  const seed = o.seed ?? Date.now();
  const common = { size: o.sample!, ...(o.signal ? { signal: o.signal } : {}) };
  const [fromSource, fromTarget] = await Promise.all([
    sampleCollection(c.source, { ...common, seed }),
    sampleCollection(c.target, { ...common, seed: seed + 1 }),
  ]);
  const keys = [...new Set([...fromSource.sample, ...fromTarget.sample].map((s) => s.key))];
  const findings = emptyFindings();
  const checks = emptyChecks();
  const pending = new Map<Key, Finding>();
  const retrying = <T>(_what: string, fn: () => Promise<T>) => fn();
  for (let i = 0; i < keys.length; i += PAGE) {
    o.signal?.throwIfAborted();
    const chunk = keys.slice(i, i + PAGE);
    const [here, there] = await Promise.all([
      sourceGetMany(c.source, chunk),
      c.targetGetMany(chunk),
    ]);
    const contexts = await c.contexts(
      here.map((h) => h?.doc ?? null),
      retrying,
    );
    chunk.forEach((key, j) => {
      const t = there[j]?.doc ?? null;
      if (t !== null) c.checkTarget(key, t, checks);
      const f =
        (here[j] !== null ? c.refused(key) : null) ??
        c.classify(here[j]?.doc ?? null, t, contexts?.[j]);
      if (f !== null) pending.set(key, f);
    });
    if (pending.size >= RECHECK_GROUP) await c.settle(pending, findings, 0, retrying);
  }
  await c.settle(pending, findings, 0, retrying);
  return {
    sourceDocs: fromSource.sample.length,
    targetDocs: fromTarget.sample.length,
    findings,
    checks,
    compared: keys.length,
  };
}
