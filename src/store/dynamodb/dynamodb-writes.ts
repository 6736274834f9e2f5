/**
 * Batched writes: unconditional ones as BatchWriteItem (25 a request), conditional ones as
 * PartiQL BatchExecuteStatement (25 a request, the default) or TransactWriteItems (100 a
 * request), several requests in flight. docs/stores/dynamodb.md, "Batches", says why PartiQL is
 * the default and what each costs.
 *
 * Rules (what makes retries safe; test/store/dynamodb-writes.test.ts checks them with injected
 * faults):
 * - every op of a batch ends as written or as a conflict, or the batch throws; nothing is
 *   dropped. Unprocessed items (BatchWriteItem) and statements that failed for throughput or an
 *   internal error (BatchExecuteStatement reports errors per statement) are sent again, with
 *   exponential back-off, up to the store's retry limit; then StoreThrottledError;
 * - a statement whose condition failed (ConditionalCheckFailed, DuplicateItem for an insert) is
 *   a conflict; the others of its request stand;
 * - a transaction is all or nothing: when it is cancelled, the CancellationReasons name the
 *   items whose condition failed (conflicts, with the item as it is when the server sends it)
 *   and the rest are sent again in a new transaction. Every transaction carries a
 *   ClientRequestToken, so a request the SDK sends again after a lost response is not applied
 *   twice;
 * - a write sent twice (a retry after a lost acknowledgement, by the SDK or by the caller) is
 *   harmless: an unconditional put writes the same item again; a conditional one finds the item
 *   changed by itself. When the server sends the item back (ALL_OLD) and it holds exactly what
 *   the write wrote (`appliedAlready`), the write is reported as written, not as a conflict:
 *   a transaction retried after a 500 whose first attempt had been applied (the server keeps no
 *   token for a request that failed), or a statement the SDK sent twice. Otherwise it conflicts,
 *   which the caller resolves by reading it again. Either way the condition keeps it from being
 *   applied twice.
 */
import { randomUUID } from 'node:crypto';
import {
  BatchExecuteStatementCommand,
  BatchWriteItemCommand,
  DeleteItemCommand,
  PutItemCommand,
  TransactWriteItemsCommand,
  UpdateItemCommand,
} from '@aws-sdk/client-dynamodb';
import { StoreError } from '../../core/errors.js';
import type { Key } from '../contract.js';
import { pool } from '../pool.js';
import { isThrottled } from '../store-errors.js';
import { writeUnits } from './dynamodb-capacity.js';
import {
  contentCondition,
  deleteStatement,
  Expr,
  insertStatement,
  updateExpression,
  updateStatement,
  type ItemChange,
  type Statement,
} from './dynamodb-conditions.js';
import { sameAttr, type AttrMap } from './dynamodb-values.js';

/** How conditional writes are batched. */
export const WriteMode = {
  /** PartiQL BatchExecuteStatement: 25 per request, each statement on its own (default) */
  partiql: 'partiql',
  /** TransactWriteItems: 100 per request, all or nothing, twice the write units */
  transactions: 'transactions',
} as const;
export type WriteMode = (typeof WriteMode)[keyof typeof WriteMode];

/** requests in flight per write call */
export const WRITE_CONCURRENCY = 16;
/** request size budget (TransactWriteItems allows 4 MB) */
const MAX_REQUEST_BYTES = 3_500_000;

const CONFLICT_CODES = new Set(['ConditionalCheckFailed', 'DuplicateItem']);
const RETRY_CODES = new Set([
  'ProvisionedThroughputExceeded',
  'ThrottlingError',
  'RequestLimitExceeded',
  'TransactionConflict',
  'InternalServerError',
  'None',
]);

/** What the writes need of the store and the table. */
export interface WriteChannel {
  readonly table: string;
  readonly keyNames: ReadonlySet<string>;
  /** send a command (its ConsumedCapacity recorded); raw: SDK errors passed on unwrapped */
  send(what: string, command: object, raw?: boolean): Promise<unknown>;
  wrap(what: string, err: unknown): StoreError;
  /** wait before retry `attempt`; StoreThrottledError once the retries are used up */
  retryWait(attempt: number, what: string): Promise<void>;
  /** record units the server did not report */
  estimate(read: number, write: number): void;
}

/** One conditional write, prepared. */
export interface ConditionalWrite {
  readonly key: Key;
  readonly keyAttrs: AttrMap;
  readonly kind: 'insert' | 'update' | 'delete';
  /** insert: the item; update: the whole new item */
  readonly item?: AttrMap;
  /** update: what changes */
  readonly change?: ItemChange;
  /** update, delete: the content the rev stands for */
  readonly read?: AttrMap;
  /** the larger of the item's size before and after, for chunks and unit estimates */
  readonly bytes: number;
}

/** ok, or a conflict with the item as the server sent it (undefined: it sent nothing). */
export type Decision = { readonly ok: true } | { readonly ok: false; readonly current?: AttrMap };

/**
 * Does `current` (the item a failed condition sent back) hold what `w` writes? Then `w` was
 * applied by an earlier attempt of the same request. Attributes another writer added since are
 * allowed, as they are after a write that succeeds at once. Deletes are never recognised (an
 * absent item may be another writer's delete): they stay conflicts.
 */
export function appliedAlready(w: ConditionalWrite, current: AttrMap | undefined): boolean {
  if (current === undefined || w.kind === 'delete' || w.item === undefined) return false;
  for (const k in w.item) {
    const now = current[k];
    if (now === undefined || !sameAttr(now, w.item[k]!)) return false;
  }
  if (w.kind === 'update')
    for (const k of w.change!.remove) if (current[k] !== undefined) return false;
  return true;
}

/** The decision for a write whose condition failed, with the item the server sent back. */
function conflictOrApplied(w: ConditionalWrite, item: AttrMap | undefined): Decision {
  if (appliedAlready(w, item)) return { ok: true };
  return { ok: false, ...(item ? { current: item } : {}) };
}

/** Chunks of at most `size` entries and MAX_REQUEST_BYTES. */
function chunks<T extends { bytes: number }>(entries: readonly T[], size: number): T[][] {
  const out: T[][] = [];
  let cur: T[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (cur.length > 0 && (cur.length >= size || bytes + e.bytes > MAX_REQUEST_BYTES)) {
      out.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(e);
    bytes += e.bytes;
  }
  if (cur.length > 0) out.push(cur);
  return out;
}

/** Unconditional puts and deletes: BatchWriteItem of 25, unprocessed items sent again. */
export async function writePlain(
  ch: WriteChannel,
  entries: readonly ({ put: AttrMap; bytes: number } | { del: AttrMap; bytes: number })[],
): Promise<void> {
  type Req = { PutRequest: { Item: AttrMap } } | { DeleteRequest: { Key: AttrMap } };
  await pool(
    chunks(entries, 25).map((chunk) => async () => {
      let pending: Req[] = chunk.map((e) =>
        'put' in e ? { PutRequest: { Item: e.put } } : { DeleteRequest: { Key: e.del } },
      );
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await ch.retryWait(attempt, `${pending.length} items of a BatchWriteItem`);
        let res: { UnprocessedItems?: Record<string, Req[]> };
        try {
          res = (await ch.send(
            `write to '${ch.table}'`,
            new BatchWriteItemCommand({
              RequestItems: { [ch.table]: pending } as ConstructorParameters<
                typeof BatchWriteItemCommand
              >[0]['RequestItems'],
              ReturnConsumedCapacity: 'TOTAL',
            }),
          )) as typeof res;
        } catch (err) {
          // throttled as a whole (after the SDK's own retries): the same items again, later
          if (isThrottled(err)) continue;
          throw err;
        }
        pending = res.UnprocessedItems?.[ch.table] ?? [];
      }
    }),
    WRITE_CONCURRENCY,
  );
}

/** Conditional writes, batched by `mode`; a decision per write, in order. */
export async function writeConditional(
  ch: WriteChannel,
  mode: WriteMode,
  writes: readonly ConditionalWrite[],
): Promise<Decision[]> {
  const decisions: Decision[] = new Array(writes.length);
  const indexed = writes.map((w, i) => ({ w, i, bytes: w.bytes }));
  const tasks: (() => Promise<void>)[] = [];
  if (mode === WriteMode.transactions) {
    for (const chunk of chunks(indexed, 100))
      tasks.push(() => sendTransaction(ch, chunk, decisions));
  } else {
    const batched = indexed.filter((e) => partiqlSafe(e.w));
    for (const chunk of chunks(batched, 25)) tasks.push(() => sendStatements(ch, chunk, decisions));
    for (const e of indexed) if (!partiqlSafe(e.w)) tasks.push(() => sendSingle(ch, e, decisions));
  }
  await pool(tasks, WRITE_CONCURRENCY);
  return decisions;
}

type Entry = { w: ConditionalWrite; i: number; bytes: number };

/** A statement or transaction item failed for a reason retrying cannot fix. */
function failed(ch: WriteChannel, w: ConditionalWrite, code?: string, message?: string) {
  return new StoreError(
    `dynamodb write to '${ch.table}' failed for key '${w.key}': ${code ?? 'unknown'}: ${message ?? ''}`,
  );
}

/**
 * PartiQL statements cannot name an attribute that starts with '#' or ':' (DynamoDB reads it as
 * an expression placeholder): such a write goes as a request of its own.
 */
function partiqlSafe(w: ConditionalWrite): boolean {
  const unsafe = (k: string) => k.startsWith('#') || k.startsWith(':');
  for (const m of [w.read, w.item])
    if (m !== undefined && Object.keys(m).some(unsafe)) return false;
  return true;
}

function statementOf(ch: WriteChannel, w: ConditionalWrite): Statement {
  switch (w.kind) {
    case 'insert':
      return insertStatement(ch.table, w.item!);
    case 'update':
      return updateStatement(ch.table, w.keyAttrs, w.read!, w.change!, ch.keyNames);
    case 'delete':
      return deleteStatement(ch.table, w.keyAttrs, w.read!, ch.keyNames);
  }
}

async function sendStatements(
  ch: WriteChannel,
  chunk: readonly Entry[],
  decisions: Decision[],
): Promise<void> {
  const statements = new Map(chunk.map((e) => [e, statementOf(ch, e.w)]));
  let pending = [...chunk];
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 0)
      await ch.retryWait(attempt, `${pending.length} statements of a BatchExecuteStatement`);
    let res: {
      Responses?: { Error?: { Code?: string; Message?: string; Item?: AttrMap } }[];
      ConsumedCapacity?: unknown;
    };
    try {
      res = (await ch.send(
        `write to '${ch.table}'`,
        new BatchExecuteStatementCommand({
          Statements: pending.map((e) => ({
            ...statements.get(e)!,
            ReturnValuesOnConditionCheckFailure: 'ALL_OLD',
          })) as ConstructorParameters<typeof BatchExecuteStatementCommand>[0]['Statements'],
          ReturnConsumedCapacity: 'TOTAL',
        }),
      )) as typeof res;
    } catch (err) {
      if (isThrottled(err)) continue;
      throw err;
    }
    // DynamoDB Local does not report the units of PartiQL batches: count them by the rules
    if (res.ConsumedCapacity === undefined)
      ch.estimate(
        0,
        pending.reduce((s, e) => s + writeUnits(e.bytes), 0),
      );
    const again: Entry[] = [];
    pending.forEach((e, k) => {
      const error = res.Responses?.[k]?.Error;
      if (error === undefined) decisions[e.i] = { ok: true };
      else if (CONFLICT_CODES.has(error.Code ?? ''))
        decisions[e.i] = conflictOrApplied(e.w, error.Item);
      else if (RETRY_CODES.has(error.Code ?? '')) again.push(e);
      else throw failed(ch, e.w, error.Code, error.Message);
    });
    pending = again;
  }
}

function transactItemOf(ch: WriteChannel, w: ConditionalWrite): object {
  const ex = new Expr();
  const common = { TableName: ch.table, ReturnValuesOnConditionCheckFailure: 'ALL_OLD' };
  switch (w.kind) {
    case 'insert': {
      const cond = [...ch.keyNames].map((k) => `attribute_not_exists(${ex.name(k)})`);
      return {
        Put: { ...common, Item: w.item, ConditionExpression: cond.join(' AND '), ...ex.params() },
      };
    }
    case 'update': {
      const update = updateExpression(ex, w.change!);
      const cond = contentCondition(ex, w.read!, w.change!.added, ch.keyNames);
      return {
        Update: {
          ...common,
          Key: w.keyAttrs,
          UpdateExpression: update,
          ConditionExpression: cond,
          ...ex.params(),
        },
      };
    }
    case 'delete': {
      const cond = contentCondition(ex, w.read!, [], ch.keyNames);
      return { Delete: { ...common, Key: w.keyAttrs, ConditionExpression: cond, ...ex.params() } };
    }
  }
}

/** One conditional write as its own PutItem / UpdateItem / DeleteItem. */
async function sendSingle(ch: WriteChannel, e: Entry, decisions: Decision[]): Promise<void> {
  const [[kind, input]] = Object.entries(transactItemOf(ch, e.w)) as [[string, object]];
  const Command = (
    kind === 'Put' ? PutItemCommand : kind === 'Update' ? UpdateItemCommand : DeleteItemCommand
  ) as new (input: never) => object;
  for (let attempt = 0; ;) {
    try {
      await ch.send(
        `write to '${ch.table}'`,
        new Command({ ...input, ReturnConsumedCapacity: 'TOTAL' } as never),
        true,
      );
      decisions[e.i] = { ok: true };
      return;
    } catch (err) {
      if (isThrottled(err)) {
        await ch.retryWait(++attempt, 'a write');
        continue;
      }
      if ((err as { name?: string })?.name !== 'ConditionalCheckFailedException')
        throw ch.wrap(`write to '${ch.table}'`, err);
      decisions[e.i] = conflictOrApplied(e.w, (err as { Item?: AttrMap }).Item);
      return;
    }
  }
}

async function sendTransaction(
  ch: WriteChannel,
  chunk: readonly Entry[],
  decisions: Decision[],
): Promise<void> {
  const items = new Map(chunk.map((e) => [e, transactItemOf(ch, e.w)]));
  let pending = [...chunk];
  let token = randomUUID();
  // waits only after throughput trouble: items sent again after a conflict go at once
  let wait = false;
  for (let attempt = 0; pending.length > 0;) {
    if (wait) await ch.retryWait(++attempt, `${pending.length} items of a transaction`);
    wait = true;
    try {
      await ch.send(
        `write to '${ch.table}'`,
        new TransactWriteItemsCommand({
          TransactItems: pending.map((e) => items.get(e)!) as ConstructorParameters<
            typeof TransactWriteItemsCommand
          >[0]['TransactItems'],
          ClientRequestToken: token,
          ReturnConsumedCapacity: 'TOTAL',
        }),
        true,
      );
      for (const e of pending) decisions[e.i] = { ok: true };
      return;
    } catch (err) {
      const name = (err as { name?: string })?.name;
      if (isThrottled(err) || name === 'TransactionConflictException') continue;
      // the same request is still being applied (a lost response), or the server failed (it
      // may have applied it): ask again, same token; an applied item is recognised if the token
      // was not kept (appliedAlready)
      if (name === 'TransactionInProgressException' || name === 'InternalServerError') continue;
      if (name !== 'TransactionCanceledException') throw ch.wrap(`write to '${ch.table}'`, err);
      const reasons =
        (err as { CancellationReasons?: { Code?: string; Message?: string; Item?: AttrMap }[] })
          .CancellationReasons ?? [];
      // a cancelled transaction is charged too (twice the units of its items)
      ch.estimate(
        0,
        pending.reduce((s, e) => s + 2 * writeUnits(e.bytes), 0),
      );
      const again: Entry[] = [];
      wait = false;
      pending.forEach((e, k) => {
        const r = reasons[k];
        const code = r?.Code ?? 'None';
        if (CONFLICT_CODES.has(code)) decisions[e.i] = conflictOrApplied(e.w, r?.Item);
        else if (RETRY_CODES.has(code)) {
          again.push(e);
          if (code !== 'None') wait = true;
        } else throw failed(ch, e.w, code, r?.Message);
      });
      // nothing of a cancelled transaction was applied: the rest go again as a new request
      pending = again;
      token = randomUUID();
    }
  }
}
