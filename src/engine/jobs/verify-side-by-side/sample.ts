/**
 * `verify --sample n` side by side: a uniform sample of n keys of each side (reservoir sampling of
 * both), compared with fresh reads of both sides and rechecked like the full run's findings; no
 * buckets, in this process, not resumable (it is one quick pass). A sampled key whose document
 * cannot be read on either side is named (`unreadable`), not compared.
 */
import type { Doc } from '../../../core/values.js';
import type { Key } from '../../../store/contract.js';
import { sampleCollection } from '../../sample.js';
import {
  emptyChecks,
  emptyFindings,
  emptyUnreadable,
  type Unreadable,
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
  unreadable: Unreadable;
  /** the target's sampled documents (its unique fields are checked among them) */
  targetSample: readonly { key: Key; doc: Doc }[];
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
  const unreadable = emptyUnreadable();
  const pending = new Map<Key, Finding>();
  const retrying = <T>(_what: string, fn: () => Promise<T>) => fn();
  for (let i = 0; i < keys.length; i += PAGE) {
    o.signal?.throwIfAborted();
    const chunk = keys.slice(i, i + PAGE);
    const [here, there] = await c.readBoth(chunk, retrying, (side, key, why) =>
      c.noteUnreadable(unreadable, side, key, why),
    );
    const contexts = await c.contexts(
      here.map((h) => h?.doc ?? null),
      retrying,
    );
    chunk.forEach((key, j) => {
      if (here[j] === undefined || there[j] === undefined) return; // named above
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
    unreadable,
    targetSample: fromTarget.sample,
    compared: keys.length,
  };
}
