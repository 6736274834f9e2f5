/**
 * A DynamoDB client that injects the faults DynamoDB itself produces, between the adapter and a
 * real server (DynamoDB Local), for tests that claim to survive them. Deterministic for a seed.
 *
 * - BatchWriteItem: only part of the items is sent; the rest come back as UnprocessedItems;
 * - BatchExecuteStatement: some statements are not sent; they come back with the error
 *   ProvisionedThroughputExceeded at their place (errors are per statement);
 * - TransactWriteItems: the transaction is cancelled, before it reaches the server, with
 *   TransactionConflict for every item;
 * - any write request: ProvisionedThroughputExceededException before it is sent (after the
 *   SDK's own retries, as the adapter would see it);
 * - any write request: sent and applied, then the answer is lost (a NetworkingError): the hard
 *   case, where the caller cannot know whether it was applied;
 * - TransactWriteItems, BatchExecuteStatement: replayed: applied once (a transaction under
 *   another ClientRequestToken, as when the server kept no token for a first attempt that
 *   failed with a 500), then sent as asked; the caller gets the second answer.
 */
import type { DynamoClient } from '../../src/store/dynamodb/dynamodb-adapter.js';
import { rng } from '../../src/store/faulty-store.js';

export interface DynamoFaultOptions {
  /** probability that an item / statement of a batch is left unprocessed */
  unprocessedRate?: number;
  /** probability that a transaction is cancelled with TransactionConflict */
  conflictRate?: number;
  /** probability that a write request is throttled as a whole */
  throttleRate?: number;
  /** probability that a write request is applied but its answer lost */
  lostAckRate?: number;
  /** probability that a transaction or statement batch is applied once before it is sent */
  replayRate?: number;
  /**
   * faults that happen whatever the dice say, at these write requests (1 is the first write
   * request sent while enabled; a lost acknowledgement at the first one from there that the
   * server answers), so a test that needs one of each does not depend on chance
   */
  lostAckAt?: readonly number[];
  conflictAt?: readonly number[];
  seed?: number;
}

export interface DynamoFaultStats {
  unprocessed: number;
  conflicts: number;
  throttled: number;
  lostAcks: number;
  replays: number;
}

const WRITES = new Set([
  'BatchWriteItemCommand',
  'BatchExecuteStatementCommand',
  'TransactWriteItemsCommand',
  'PutItemCommand',
  'UpdateItemCommand',
  'DeleteItemCommand',
]);

function named(name: string, message: string, extra: object = {}): Error {
  const err = Object.assign(new Error(message), extra);
  err.name = name;
  return err;
}

type Command = { constructor: new (input: never) => object; input: Record<string, unknown> };

export class FaultyDynamoClient implements DynamoClient {
  readonly stats: DynamoFaultStats = {
    unprocessed: 0,
    conflicts: 0,
    throttled: 0,
    lostAcks: 0,
    replays: 0,
  };
  enabled = true;
  readonly #random: () => number;

  constructor(
    readonly inner: DynamoClient,
    readonly options: DynamoFaultOptions,
  ) {
    this.#random = rng(options.seed ?? 1);
  }

  /** write requests sent while enabled */
  #writes = 0;

  /** a forced lost acknowledgement waits for a request the server answers */
  #lostAckDue = false;

  /**
   * Throw the dice for a fault of probability `p`; `forced`: it happens anyway; `yields`: a
   * forced fault of another kind is due, so this one does not get in its way. (The dice are
   * thrown either way, so forced faults do not shift the seeded ones.)
   */
  #roll(p: number | undefined, forced = false, yields = false): boolean {
    const hit = this.enabled && this.#random() < (p ?? 0);
    if (!this.enabled) return false;
    return forced || (hit && !yields);
  }

  async send(command: object): Promise<unknown> {
    const name = command.constructor.name;
    if (!WRITES.has(name)) return this.inner.send(command);
    const o = this.options;
    if (this.enabled) this.#writes += 1;
    if (this.enabled && o.lostAckAt?.includes(this.#writes)) this.#lostAckDue = true;
    const conflictNow = this.enabled && o.conflictAt?.includes(this.#writes) === true;
    if (this.#roll(o.throttleRate, false, this.#lostAckDue || conflictNow)) {
      this.stats.throttled += 1;
      throw named('ProvisionedThroughputExceededException', 'injected: throughput exceeded');
    }
    const c = command as unknown as Command;
    if (
      (name === 'TransactWriteItemsCommand' || name === 'BatchExecuteStatementCommand') &&
      this.#roll(o.replayRate)
    ) {
      this.stats.replays += 1;
      const token =
        name === 'TransactWriteItemsCommand'
          ? { ClientRequestToken: `replay-${this.stats.replays}` }
          : {};
      await this.inner.send(new c.constructor({ ...c.input, ...token } as never));
    }
    let res: unknown;
    if (name === 'BatchWriteItemCommand') res = await this.#batchWrite(c);
    else if (name === 'BatchExecuteStatementCommand') res = await this.#statements(c);
    else if (
      name === 'TransactWriteItemsCommand' &&
      this.#roll(o.conflictRate, conflictNow, this.#lostAckDue)
    ) {
      this.stats.conflicts += 1;
      const n = (c.input.TransactItems as unknown[]).length;
      throw named('TransactionCanceledException', 'injected: transaction cancelled', {
        CancellationReasons: Array.from({ length: n }, () => ({ Code: 'TransactionConflict' })),
      });
    } else res = await this.inner.send(command);
    if (this.#roll(o.lostAckRate, this.#lostAckDue)) {
      this.#lostAckDue = false;
      this.stats.lostAcks += 1;
      throw named('NetworkingError', 'injected: the request was applied, its answer lost');
    }
    return res;
  }

  async #batchWrite(c: Command): Promise<unknown> {
    const items = c.input.RequestItems as Record<string, unknown[]>;
    const sent: Record<string, unknown[]> = {};
    const kept: Record<string, unknown[]> = {};
    for (const [table, reqs] of Object.entries(items)) {
      for (const r of reqs) {
        const keep = this.#roll(this.options.unprocessedRate);
        (keep ? kept : sent)[table] ??= [];
        (keep ? kept : sent)[table]!.push(r);
        if (keep) this.stats.unprocessed += 1;
      }
    }
    const res =
      Object.keys(sent).length === 0
        ? {}
        : ((await this.inner.send(
            new c.constructor({ ...c.input, RequestItems: sent } as never),
          )) as {
            UnprocessedItems?: Record<string, unknown[]>;
          });
    const unprocessed = {
      ...(res as { UnprocessedItems?: Record<string, unknown[]> }).UnprocessedItems,
    };
    for (const [table, reqs] of Object.entries(kept))
      unprocessed[table] = [...(unprocessed[table] ?? []), ...reqs];
    return { ...res, UnprocessedItems: unprocessed };
  }

  async #statements(c: Command): Promise<unknown> {
    const all = c.input.Statements as unknown[];
    const dropped = all.map(() => this.#roll(this.options.unprocessedRate));
    const sent = all.filter((_, i) => !dropped[i]);
    const res =
      sent.length === 0
        ? { Responses: [] }
        : ((await this.inner.send(
            new c.constructor({ ...c.input, Statements: sent } as never),
          )) as {
            Responses?: unknown[];
          });
    let k = 0;
    const responses = all.map((_, i) => {
      if (!dropped[i]) return res.Responses![k++];
      this.stats.unprocessed += 1;
      return { Error: { Code: 'ProvisionedThroughputExceeded', Message: 'injected' } };
    });
    return { ...res, Responses: responses };
  }

  destroy(): void {
    this.inner.destroy();
  }
}
