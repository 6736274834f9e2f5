/**
 * Capacity units for long passes, on stores that meter them (Collection.consumedCapacity:
 * DynamoDB): what the pass consumed on the collections it reads and writes, and the budget the
 * throttle holds it to (`--max-rcu` / `--max-wcu`: units per second, or a percentage of the
 * table's provisioned capacity).
 *
 * Rules:
 * - reads are budgeted on the source collection, writes on the one written (the source in
 *   place, the target side by side); Switchyard's own state tables are not budgeted;
 * - a percentage needs a provisioned table (an on-demand one has no capacity to take a share
 *   of) and is resolved once, at the start;
 * - a budget on a store that does not meter capacity is refused (bad input).
 */
import { UsageError } from '../core/errors.js';
import type { Collection, ConsumedCapacity } from '../store/contract.js';
import type { CapacityBudget, Throttle } from './throttle.js';

/** what the progress shows of capacity (units; a budget of 0 is none) */
export interface CapacityProgress {
  /** units this process consumed on the pass's collections since it started */
  read: number;
  write: number;
  /** the budget in force now (configured x the adaptive factor), units per second */
  readBudget: number;
  writeBudget: number;
}

/** `--max-rcu` / `--max-wcu`: units per second, or `<p>%` of the table's provisioned units. */
export type CapacityLimit = number | `${number}%`;

export class PassCapacity {
  readonly #collections: Collection[];
  #start: ConsumedCapacity = { read: 0, write: 0 };

  constructor(...collections: Collection[]) {
    this.#collections = [...new Set(collections)].filter(
      (c) => typeof c.consumedCapacity === 'function',
    );
    this.#start = this.totals();
  }

  /** Does any of the collections meter capacity? */
  get metered(): boolean {
    return this.#collections.length > 0;
  }

  /** The running totals of the collections (the store's, since it was opened). */
  totals(): ConsumedCapacity {
    let read = 0;
    let write = 0;
    let throttled = 0;
    for (const c of this.#collections) {
      const u = c.consumedCapacity!();
      read += u.read;
      write += u.write;
      throttled += u.throttled ?? 0;
    }
    return { read, write, throttled };
  }

  progress(throttle: Throttle): CapacityProgress | undefined {
    if (!this.metered) return undefined;
    const t = this.totals();
    const budget = throttle.effectiveCapacity;
    return {
      read: round(t.read - this.#start.read),
      write: round(t.write - this.#start.write),
      readBudget: round(budget.read),
      writeBudget: round(budget.write),
    };
  }
}

function round(n: number): number {
  return Math.round(n * 10) / 10;
}

/**
 * The budget for `--max-rcu` (on `source`) and `--max-wcu` (on `dest`), percentages resolved
 * against the tables' provisioned capacity. UsageError (exit 2) for what cannot be honoured.
 */
export async function capacityBudget(
  limits: { maxRcu?: CapacityLimit | undefined; maxWcu?: CapacityLimit | undefined },
  source: Collection,
  dest: Collection,
): Promise<CapacityBudget> {
  const budget: CapacityBudget = {};
  for (const [kind, flag, limit, c] of [
    ['read', '--max-rcu', limits.maxRcu, source],
    ['write', '--max-wcu', limits.maxWcu, dest],
  ] as const) {
    if (limit === undefined) continue;
    if (typeof c.consumedCapacity !== 'function')
      throw new UsageError(
        `${flag} needs a store that meters capacity units (dynamodb); '${c.name}' is not in one`,
        { field: flag },
      );
    const text = String(limit);
    const pct = /^(\d+(?:\.\d+)?)%$/.exec(text);
    const n = pct !== null ? Number(pct[1]) : Number(limit);
    if (!Number.isFinite(n) || n <= 0 || (pct !== null && n > 100))
      throw new UsageError(
        `${flag} must be capacity units per second (a positive number) or a percentage of the table's provisioned capacity (like 50%), got '${text}'`,
        { field: flag },
      );
    if (pct === null) {
      budget[kind] = n;
      continue;
    }
    const provisioned = (await c.provisionedCapacity?.()) ?? null;
    if (provisioned === null || provisioned[kind] <= 0)
      throw new UsageError(
        `${flag} ${text}: '${c.name}' is on demand, so it has no provisioned ${kind} capacity to take a share of: give ${flag} in units per second`,
        { field: flag },
      );
    budget[kind] = (provisioned[kind] * n) / 100;
  }
  return budget;
}
