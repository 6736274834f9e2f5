/**
 * Capacity units: what requests consumed, and what a full pass would.
 *
 * Every request this adapter sends asks for `ReturnConsumedCapacity: TOTAL`; `CapacityMeter`
 * adds up what comes back, per table, as read and write units. Where the server sends nothing
 * back (DynamoDB Local answers BatchExecuteStatement without it) the adapter records its own
 * estimate by DynamoDB's rules instead:
 *
 *   write: 1 unit per started KB of the item (the larger of before and after for an update),
 *          also for a write whose condition failed; twice that inside a transaction;
 *   read:  1 unit per started 4 KB, strongly consistent; half that eventually consistent;
 *          a Scan page is charged on the sum of its items' sizes.
 *
 * It also counts, per table, the requests DynamoDB throttled (whole requests, unprocessed items
 * or statements) that the adapter sent again itself: the engine's throttle slows down on them
 * as on a throttling error it sees.
 *
 * `estimatePass` turns a sample (item sizes before and after the migration) into the units and
 * the on-demand price of a full backfill, for `plan`.
 */
import type { ConsumedCapacity, PassEstimate } from '../contract.js';

/** DynamoDB on-demand list prices (USD per million request units, us-east-1, from Nov 2024). */
export const ON_DEMAND_PRICES = {
  region: 'us-east-1',
  writePerMillion: 0.625,
  readPerMillion: 0.125,
} as const;

/** Write units of writing an item of this many bytes. */
export function writeUnits(bytes: number): number {
  return Math.max(1, Math.ceil(bytes / 1024));
}

/** Read units of reading this many bytes in one request. */
export function readUnits(bytes: number, consistent = true): number {
  const units = Math.max(1, Math.ceil(bytes / 4096));
  return consistent ? units : units / 2;
}

/** A ConsumedCapacity entry of a response (one per table). */
interface Consumed {
  TableName?: string;
  CapacityUnits?: number;
  ReadCapacityUnits?: number;
  WriteCapacityUnits?: number;
}

export class CapacityMeter {
  readonly #tables = new Map<string, { read: number; write: number; throttled: number }>();

  /** Add what a response reports; `kind` says which units a bare CapacityUnits are. */
  record(consumed: unknown, kind: 'read' | 'write'): boolean {
    if (consumed === undefined || consumed === null) return false;
    const list = (Array.isArray(consumed) ? consumed : [consumed]) as Consumed[];
    let any = false;
    for (const c of list) {
      if (c.TableName === undefined) continue;
      const read = c.ReadCapacityUnits ?? (kind === 'read' ? (c.CapacityUnits ?? 0) : 0);
      const write = c.WriteCapacityUnits ?? (kind === 'write' ? (c.CapacityUnits ?? 0) : 0);
      this.add(c.TableName, read, write);
      any = true;
    }
    return any;
  }

  add(table: string, read: number, write: number, throttled = 0): void {
    const t = this.#tables.get(table) ?? { read: 0, write: 0, throttled: 0 };
    t.read += read;
    t.write += write;
    t.throttled += throttled;
    this.#tables.set(table, t);
  }

  /** The units consumed on a table so far (by this process), and how often it was throttled. */
  of(table: string): ConsumedCapacity {
    const t = this.#tables.get(table);
    return { read: t?.read ?? 0, write: t?.write ?? 0, throttled: t?.throttled ?? 0 };
  }
}

/**
 * Units of a full pass over `items` items, from a sample of (size before, size after or null when
 * the item does not change). Conditional writes cost like plain ones; `transactions` doubles them.
 */
export function estimatePass(
  sample: readonly { before: number; after: number | null }[],
  items: number,
  options: {
    provisioned: { read: number; write: number } | null;
    transactions: boolean;
    journal: boolean;
  },
): PassEstimate {
  const n = Math.max(1, sample.length);
  const avgBytes = sample.reduce((s, x) => s + x.before, 0) / n;
  const changing = sample.filter((x) => x.after !== null);
  const perWrite = changing.reduce((s, x) => s + writeUnits(Math.max(x.before, x.after!)), 0) / n;
  const perJournal = changing.reduce((s, x) => s + writeUnits(x.before + 100), 0) / n;
  const read = Math.ceil((items * avgBytes) / 4096);
  const write = Math.ceil(items * perWrite * (options.transactions ? 2 : 1));
  const journal = options.journal ? Math.ceil(items * perJournal) : 0;
  const p = options.provisioned;
  return {
    items,
    readUnits: read,
    writeUnits: write,
    journalWriteUnits: journal,
    billing: p === null ? 'on-demand' : p,
    costUsd:
      p === null
        ? ((write + journal) / 1e6) * ON_DEMAND_PRICES.writePerMillion +
          (read / 1e6) * ON_DEMAND_PRICES.readPerMillion
        : null,
    secondsAtProvisioned: p !== null && p.write > 0 ? Math.ceil(write / p.write) : null,
    priceNote: `on-demand list prices, ${ON_DEMAND_PRICES.region}: $${ON_DEMAND_PRICES.writePerMillion} per million write units, $${ON_DEMAND_PRICES.readPerMillion} per million read units${options.transactions ? '; transactions (writes=transactions) cost twice the write units' : ''}`,
  };
}
