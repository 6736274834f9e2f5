/**
 * The conditional ops of one `write()` on a DynamoDB collection (dynamodb-collection.ts): find
 * the content each rev stands for (remembered, or read back, many at once), decide what needs no
 * request (a stale rev conflicts; an unchanged document succeeds when it still holds what was
 * read), send the rest batched (dynamodb-writes.ts), and read the items of conflicts the server
 * did not send back.
 */
import type { Key, WriteOp, WriteResult } from '../contract.js';
import { diffItem } from './dynamodb-conditions.js';
import type { RememberedItems } from './dynamodb-remembered.js';
import type { TableInfo } from './dynamodb-table.js';
import { canonicalMap, itemRev, itemSize, type AttrMap } from './dynamodb-values.js';
import {
  appliedAlready,
  writeConditional,
  type ConditionalWrite,
  type WriteChannel,
  type WriteMode,
} from './dynamodb-writes.js';

/** What the conditional path needs of its collection. */
export interface ConditionalContext {
  readonly info: TableInfo;
  readonly channel: WriteChannel;
  readonly writeMode: WriteMode;
  /** the item behind each recent rev */
  readonly seen: RememberedItems;
  /** items by key, strongly consistent, by the canonical form of their key */
  fetch(keys: readonly AttrMap[]): Promise<Map<string, AttrMap>>;
  /** remember `item` (under its contract key, `key` when known); its rev */
  remember(item: AttrMap, key?: Key): string;
}

/**
 * Write the ops of `ops` at `indexes` (each with an `ifRev`) and set their `results`. `items`
 * holds each put's item (null for a delete), `keys` each op's key attributes.
 */
export async function writeConditionalOps(
  ctx: ConditionalContext,
  ops: readonly WriteOp[],
  items: readonly (AttrMap | null)[],
  keys: readonly AttrMap[],
  indexes: readonly number[],
  results: WriteResult[],
): Promise<void> {
  const { info } = ctx;
  // the canonical keys of the items read back (the ones ctx.fetch returns are matched by them)
  const canon = new Map<number, string>();
  const canonOf = (i: number) => {
    let c = canon.get(i);
    if (c === undefined) canon.set(i, (c = canonicalMap(keys[i]!)));
    return c;
  };
  // the content behind each rev; read back when not remembered (and for checks that need now)
  const reads = new Map<number, AttrMap>();
  const toRead = new Set<number>();
  for (const i of indexes) {
    const op = ops[i]!;
    const read = typeof op.ifRev === 'string' ? ctx.seen.get(op.key, op.ifRev) : undefined;
    if (read !== undefined) reads.set(i, read);
    if (
      (read === undefined && typeof op.ifRev === 'string') ||
      (op.ifRev === null && op.type === 'delete') ||
      (read !== undefined && op.type === 'put' && diffItem(read, items[i]!, info.keyNames) === null)
    )
      toRead.add(i);
  }
  const current = toRead.size > 0 ? await ctx.fetch([...toRead].map((i) => keys[i]!)) : new Map();
  const writes: ConditionalWrite[] = [];
  const sent: number[] = [];
  for (const i of indexes) {
    const op = ops[i]!;
    const now = toRead.has(i) ? (current.get(canonOf(i)) ?? null) : undefined;
    if (now !== undefined && now !== null) ctx.remember(now);
    if (op.ifRev === null) {
      if (op.type === 'delete') {
        // "delete if absent": nothing to do when absent, a conflict when present
        if (now === null) results[i] = { key: op.key, ok: true, rev: null };
        else results[i] = conflict(op.key, now!);
        continue;
      }
      writes.push({
        key: op.key,
        keyAttrs: keys[i]!,
        kind: 'insert',
        item: items[i]!,
        bytes: itemSize(items[i]!),
      });
      sent.push(i);
      continue;
    }
    // conditional on a rev: a stale rev conflicts without a request
    if (now !== undefined && (now === null || itemRev(now) !== op.ifRev)) {
      results[i] = conflict(op.key, now);
      continue;
    }
    const read = reads.get(i) ?? now!;
    const bytes = itemSize(read);
    if (op.type === 'delete') {
      writes.push({ key: op.key, keyAttrs: keys[i]!, kind: 'delete', read, bytes });
      sent.push(i);
      continue;
    }
    const next = items[i]!;
    const change = diffItem(read, next, info.keyNames);
    if (change === null) {
      // nothing changes, and the item (read just now) still holds what the rev stands for
      results[i] = { key: op.key, ok: true, rev: op.ifRev! };
      continue;
    }
    writes.push({
      key: op.key,
      keyAttrs: keys[i]!,
      kind: 'update',
      item: next,
      change,
      read,
      bytes: Math.max(bytes, itemSize(next)),
    });
    sent.push(i);
  }
  const decisions = await writeConditional(ctx.channel, ctx.writeMode, writes);
  const unknown: number[] = [];
  const writeOf = new Map(sent.map((i, k) => [i, writes[k]!]));
  decisions.forEach((d, k) => {
    const i = sent[k]!;
    const op = ops[i]!;
    if (d.ok) {
      // the condition held, so the item is now `next` (plus any attribute another writer
      // added meanwhile, which the update keeps: a later write on this rev keeps it too, from
      // the remembered item, or, read back, finds another rev and conflicts)
      results[i] = {
        key: op.key,
        ok: true,
        rev: op.type === 'put' ? ctx.remember(items[i]!, op.key) : null,
      };
    } else if (d.current !== undefined) {
      ctx.remember(d.current);
      results[i] = conflict(op.key, d.current);
    } else {
      unknown.push(i);
    }
  });
  if (unknown.length > 0) {
    const now = await ctx.fetch(unknown.map((i) => keys[i]!));
    for (const i of unknown) {
      const item = now.get(canonOf(i)) ?? null;
      if (item !== null) ctx.remember(item);
      // the server sent no item back: one that holds what we wrote was written by us
      results[i] =
        item !== null && appliedAlready(writeOf.get(i)!, item)
          ? { key: ops[i]!.key, ok: true, rev: ctx.remember(items[i]!, ops[i]!.key) }
          : conflict(ops[i]!.key, item);
    }
  }
}

function conflict(key: Key, current: AttrMap | null): WriteResult {
  return {
    key,
    ok: false,
    reason: 'conflict',
    currentRev: current === null ? null : itemRev(current),
  };
}
