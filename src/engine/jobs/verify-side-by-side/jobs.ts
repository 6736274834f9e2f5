/**
 * The two passes of a full side-by-side verify, as jobs on the runner. Both walk the partitions
 * of both sides (each store's own `split(n)`, tagged `source` or `target`), so the two stores'
 * key orders and partitionings never need to agree.
 *
 * 1. Summary (`<id>#verify`): each page goes into its partition's bucket summary (buckets.ts):
 *    the source side hashes `expected(doc)`, the target side the stored document (and checks it
 *    on its own). Memory and checkpoints: B buckets, never the documents. The bucket count B is
 *    decided by the planner (from the source's count) and is a plan parameter, the same for
 *    every worker and resumption. A document of either side that cannot be read (not JSON, a JSON
 *    array) is counted and named here, where it is scanned, and left out of the summary.
 * 2. Drill (`<id>#verify-drill`, only when some buckets differ): both sides are walked again; the
 *    documents of divergent buckets are looked up on the other side (`getMany`), which names
 *    every key that is missing, extra, different or whose up() fails; findings are rechecked
 *    (compare.ts) before they are counted. A key whose other side cannot be read is not a
 *    finding: that side's summary partition reports it. The divergent buckets are a plan parameter, with the
 *    summary plan's nonce: a drill plan of an older summary is replaced.
 *
 * Resume rules: a partition's summary or findings are checkpointed with its cursor, at most
 * every CHECKPOINT_MS (a summary is up to 160 KB) or when RECHECK_GROUP findings wait for their
 * rechecks (they are rechecked first: only settled counts are checkpointed). A killed worker
 * redoes at most that much; findings not yet rechecked are dropped with it and found again.
 * Sums and counts do not depend on the order of pages, so a resumed verify reports what an
 * uninterrupted one does.
 */
import type { Migration } from '../../../migration/migration.js';
import type { PartitionState, PlanState } from '../../../state/partitions.js';
import type { Collection, Key, Range, ScanPage, StoredDoc } from '../../../store/contract.js';
import { contentHash } from '../../../core/values.js';
import { JobPass, type BatchIo, type Job, type PartitionWork } from '../../runner/job.js';
import { sideRanges, type SideRange } from '../verify-in-place.js';
import { bucketOf, BucketSummary, type SummaryJSON } from './buckets.js';
import { sourceGetMany } from '../../mapped-target.js';
import type { Comparer, Unreadable } from './compare.js';
import { readEachWith, splitUnreadable, withUnreadable } from '../unreadable-items.js';
import {
  emptyChecks,
  emptyFindings,
  emptyUnreadable,
  type CompareOptions,
  type Finding,
  type Findings,
  type TargetChecks,
} from './compare.js';

/** How often a side-by-side pass checkpoints (a summary is up to 160 KB). */
export const CHECKPOINT_MS = 5000;
/** findings held before they are rechecked and folded into the counts (bounds memory) */
export const RECHECK_GROUP = 10_000;

export type Side = 'source' | 'target';

/** What a summary partition keeps. */
export interface SummaryData {
  docs: number;
  summary?: SummaryJSON;
  checks?: TargetChecks;
  /** documents of this partition that cannot be read (absent in a partition of an older version) */
  unreadable?: Unreadable;
}

abstract class TwoSided implements Job {
  readonly pass = JobPass.verify;
  readonly migration: string;
  readonly key: string;
  readonly checkpointEveryMs = CHECKPOINT_MS;
  protected readonly m: Migration;
  protected readonly source: Collection;
  protected readonly target: Collection;

  constructor(
    readonly comparer: Comparer,
    job: string,
  ) {
    this.m = comparer.m;
    this.source = comparer.source;
    this.target = comparer.target;
    this.migration = this.m.id;
    // a split's other targets are verified one after the other, each under its own key
    this.key =
      this.m.targetIndex === 0
        ? `${this.m.id}#${job}`
        : `${this.m.id}#${job}@${this.m.target!.collection}`;
  }

  abstract plan(n: number): Promise<{ ranges: Range[]; params?: Record<string, unknown> }>;
  abstract open(partition: PartitionState, plan: PlanState): PartitionWork;

  protected async ranges(n: number): Promise<Range[]> {
    const [s, t] = await Promise.all([this.source.split(n), this.target.split(n)]);
    return [...sideRanges('source', s), ...sideRanges('target', t)];
  }

  protected side(range: Range): Side {
    return (range as SideRange).side === 'target' ? 'target' : 'source';
  }

  scan(range: Range, cursor: string | null, limit: number): Promise<ScanPage> {
    const c = this.side(range) === 'target' ? this.target : this.source;
    return c.scan({ range, cursor, limit });
  }
}

export class SummaryJob extends TwoSided {
  constructor(
    comparer: Comparer,
    readonly bucketsFor: (sourceCount: number) => number,
  ) {
    super(comparer, 'verify');
  }

  async plan(n: number): Promise<{ ranges: Range[]; params: { buckets: number } }> {
    // sized by the source alone (counting a Redis or DynamoDB target costs a scan of its own)
    const buckets = this.bucketsFor(await this.source.count());
    return { ranges: await this.ranges(n), params: { buckets } };
  }

  /** A page; the documents it could not read ride along, marked (unreadable-items.ts). */
  override async scan(range: Range, cursor: string | null, limit: number): Promise<ScanPage> {
    return withUnreadable(await super.scan(range, cursor, limit));
  }

  open(partition: PartitionState, plan: PlanState): PartitionWork {
    const B = Number(plan.params?.buckets ?? 1);
    const saved = partition.data as SummaryData | undefined;
    const summary =
      saved?.summary !== undefined ? BucketSummary.fromJSON(saved.summary) : new BucketSummary(B);
    const checks = saved?.checks ?? emptyChecks();
    const unreadable = saved?.unreadable ?? emptyUnreadable();
    let docs = saved?.docs ?? 0;
    const target = this.side(partition.range) === 'target';
    const c = this.comparer;
    return {
      batch: async (all, io) => {
        const { readable: items, unreadable: bad } = splitUnreadable(all);
        for (const u of bad)
          c.noteUnreadable(unreadable, target ? 'target' : 'source', u.key, u.reason);
        docs += items.length;
        if (target)
          for (const { key, doc } of items) {
            summary.add(key, contentHash(c.strip(doc)));
            c.checkTarget(key, doc, checks);
          }
        else {
          // the page's lookups: one getMany per looked-up collection (engine/lookups.ts)
          const contexts = await c.contexts(
            items.map((s) => s.doc),
            io.retrying,
          );
          items.forEach(({ key, doc }, i) => summary.add(key, c.expectedHash(doc, contexts?.[i])));
        }
        return {};
      },
      data: async () => ({
        docs,
        summary: summary.toJSON(),
        ...(target ? { checks } : {}),
        ...(unreadable.count > 0 ? { unreadable } : {}),
      }),
    };
  }
}

/** What a drill partition keeps: its persistent findings. */
export type DrillData = Findings;

export class DrillJob extends TwoSided {
  constructor(
    comparer: Comparer,
    readonly drill: { summary: PlanState; buckets: number; divergent: number[] },
  ) {
    super(comparer, 'verify-drill');
  }

  async plan(n: number): Promise<{ ranges: Range[]; params: Record<string, unknown> }> {
    return {
      ranges: await this.ranges(n),
      params: {
        summary: this.drill.summary.nonce,
        buckets: this.drill.buckets,
        divergent: this.drill.divergent,
      },
    };
  }

  /** A drill plan of another summary run (or a finished one) gives way. */
  restartPlan(plan: PlanState): boolean {
    return plan.finished !== undefined || plan.params?.summary !== this.drill.summary.nonce;
  }

  open(partition: PartitionState, plan: PlanState): PartitionWork {
    const B = Number(plan.params?.buckets ?? this.drill.buckets);
    const wanted = new Set(
      (plan.params?.divergent as number[] | undefined) ?? this.drill.divergent,
    );
    const found: Findings = {
      ...emptyFindings(),
      ...(partition.data as Partial<Findings> | undefined),
    };
    const pending = new Map<Key, Finding>();
    const fromTarget = this.side(partition.range) === 'target';
    let io: BatchIo | undefined;
    return {
      batch: async (items, batchIo) => {
        io = batchIo;
        const mine = items.filter((s) => wanted.has(bucketOf(s.key, B)));
        if (mine.length === 0) return {};
        found.drilled += mine.length;
        await this.#lookUp(mine, fromTarget, pending, batchIo);
        return {};
      },
      due: () => pending.size >= RECHECK_GROUP,
      data: async () => {
        if (pending.size > 0) await this.comparer.settle(pending, found, B, io!.retrying);
        return found as unknown as Record<string, unknown>;
      },
    };
  }

  async #lookUp(
    mine: readonly StoredDoc[],
    fromTarget: boolean,
    pending: Map<Key, Finding>,
    io: BatchIo,
  ): Promise<void> {
    const c = this.comparer;
    const keys = mine.map((s) => s.key);
    // a key whose other side cannot be read: reported by that side's summary partition
    const there = await readEachWith(
      (ks) => (fromTarget ? sourceGetMany(this.source, ks) : c.targetGetMany(ks)),
      keys,
      io.retrying,
      () => undefined,
    );
    const contexts = fromTarget
      ? undefined
      : await c.contexts(
          mine.map((s) => s.doc),
          io.retrying,
        );
    mine.forEach((s, i) => {
      if (there[i] === undefined) return;
      const other = there[i]?.doc ?? null;
      // keys the source has were compared from the source side
      if (fromTarget && other !== null) return;
      const f = fromTarget
        ? c.classify(null, s.doc)
        : (c.refused(s.key) ?? c.classify(s.doc, other, contexts?.[i]));
      if (f !== null) pending.set(s.key, f);
    });
  }
}

export type { CompareOptions };
