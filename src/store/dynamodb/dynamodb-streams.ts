/**
 * The change feed of a DynamoDB table: its DynamoDB Stream (view type NEW_AND_OLD_IMAGES or
 * NEW_IMAGE), read with the DynamoDB Streams API (DescribeStream, GetShardIterator, GetRecords).
 *
 * A stream is a set of shards; a shard is split or closed over time and its children continue
 * it. The changes to one key are in one shard at a time, in order, and a child holds only what
 * came after its parent: so a child is read only once its parent has been read to its end.
 *
 * The position (opaque to catch-up, which keeps it in its state document) is JSON:
 *   { "stream": <the stream's ARN>, "shards": { <shard id>: <where to read on> }, "done": [ids] }
 * where a shard's place is
 *   "s:<sequence number>"   after that record
 *   "h"                      from the oldest record kept (TRIM_HORIZON): a shard that started
 *                            after the position was made
 *   "l:<epoch ms>:<iterator>" a LATEST iterator taken when the position was made ("from now").
 *                            Iterators expire after 15 minutes: an expired one is read from
 *                            TRIM_HORIZON instead, which may repeat changes (catch-up applies
 *                            them again, harmlessly) but never skips one.
 * and "done" lists closed shards read to their end (forgotten once the stream drops them).
 *
 * Resume rules: `changes(position)` reads on from exactly where `position` says, and returns
 * the position after the last change it returns; reading again from an older position repeats
 * changes, never skips one. A position of another stream (the stream was disabled and enabled
 * again) or one whose records were trimmed (older than 24 hours) is a ChangePositionError:
 * changes were lost, catch-up must start again from now.
 */
import { ChangePositionError } from '../store-errors.js';
import type { Change } from '../contract.js';
import { InputError } from '../../core/errors.js';
import { attrsToDoc, type AttrMap } from './dynamodb-values.js';
import { keyString, type TableInfo } from './dynamodb-table.js';

/** iterators older than this are not used (they expire after 15 minutes) */
const ITERATOR_TTL_MS = 10 * 60_000;
/** GetRecords returns at most 1000 records */
const MAX_RECORDS = 1000;

/** A table without a (usable) stream: bad input for catch-up, nothing was changed. */
export class NoStreamError extends InputError {
  override readonly code = 'E_DYNAMODB_NO_STREAM';
}

/** What the feed uses of the Streams API (the SDK's DynamoDBStreamsClient, commands built here). */
export interface StreamsApi {
  describeStream(input: {
    StreamArn: string;
    ExclusiveStartShardId?: string;
  }): Promise<{ StreamDescription?: { Shards?: Shard[]; LastEvaluatedShardId?: string } }>;
  getShardIterator(input: {
    StreamArn: string;
    ShardId: string;
    ShardIteratorType: 'TRIM_HORIZON' | 'LATEST' | 'AFTER_SEQUENCE_NUMBER';
    SequenceNumber?: string;
  }): Promise<{ ShardIterator?: string }>;
  getRecords(input: {
    ShardIterator: string;
    Limit?: number;
  }): Promise<{ Records?: StreamRecord[]; NextShardIterator?: string }>;
}

interface Shard {
  ShardId?: string;
  ParentShardId?: string;
  SequenceNumberRange?: { StartingSequenceNumber?: string; EndingSequenceNumber?: string };
}

interface StreamRecord {
  eventName?: string;
  dynamodb?: { Keys?: AttrMap; NewImage?: AttrMap; SequenceNumber?: string };
}

interface Position {
  stream: string;
  shards: Record<string, string>;
  done: string[];
}

function errorName(err: unknown): string {
  return (err as { name?: string })?.name ?? '';
}

/** Stop with a clear message when the table has no stream catch-up can read. */
export function requireStream(info: TableInfo): string {
  const how = `enable one with new images: aws dynamodb update-table --table-name ${info.name} --stream-specification StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES`;
  if (info.stream === null)
    throw new NoStreamError(
      `table '${info.name}' has no DynamoDB Stream, and catch-up reads the table's changes from it: ${how}`,
      { field: 'store' },
    );
  if (info.stream.viewType !== 'NEW_AND_OLD_IMAGES' && info.stream.viewType !== 'NEW_IMAGE')
    throw new NoStreamError(
      `the stream of table '${info.name}' has view type ${info.stream.viewType}; catch-up needs the new image of every change: ${how} (disable the stream first; a new stream starts from now)`,
      { field: 'store' },
    );
  return info.stream.arn;
}

export class StreamFeed {
  readonly #api: StreamsApi;
  readonly #info: TableInfo;
  /** fresh iterators from GetRecords: shard -> { place they continue from, iterator, when } */
  readonly #iterators = new Map<string, { place: string; iterator: string; at: number }>();

  constructor(api: StreamsApi, info: TableInfo) {
    this.#api = api;
    this.#info = info;
  }

  async #shards(arn: string): Promise<Shard[]> {
    const shards: Shard[] = [];
    let start: string | undefined;
    do {
      const res = await this.#api.describeStream({
        StreamArn: arn,
        ...(start !== undefined ? { ExclusiveStartShardId: start } : {}),
      });
      shards.push(...(res.StreamDescription?.Shards ?? []));
      start = res.StreamDescription?.LastEvaluatedShardId;
    } while (start !== undefined);
    return shards;
  }

  /** A position from now: closed shards done, open ones at a LATEST iterator. */
  async start(): Promise<string> {
    const arn = requireStream(this.#info);
    const pos: Position = { stream: arn, shards: {}, done: [] };
    const now = Date.now();
    for (const s of await this.#shards(arn)) {
      if (s.SequenceNumberRange?.EndingSequenceNumber !== undefined) pos.done.push(s.ShardId!);
      else {
        const it = await this.#api.getShardIterator({
          StreamArn: arn,
          ShardId: s.ShardId!,
          ShardIteratorType: 'LATEST',
        });
        pos.shards[s.ShardId!] = `l:${now}:${it.ShardIterator}`;
      }
    }
    return JSON.stringify(pos);
  }

  #parse(position: string, arn: string): Position {
    let pos: Position;
    try {
      pos = JSON.parse(position) as Position;
      if (
        typeof pos.stream !== 'string' ||
        typeof pos.shards !== 'object' ||
        !Array.isArray(pos.done)
      )
        throw new Error('not a stream position');
    } catch {
      throw new ChangePositionError(
        `not a DynamoDB Stream position of table '${this.#info.name}': ${position.slice(0, 80)}`,
      );
    }
    if (pos.stream !== arn)
      throw new ChangePositionError(
        `the stream of table '${this.#info.name}' is not the one catch-up was reading (it was disabled and enabled again: ${pos.stream} -> ${arn}); changes in between may be lost: start catch-up again (and backfill) from now`,
      );
    return pos;
  }

  /** An iterator for a shard at its place. */
  async #iterator(arn: string, shard: string, place: string): Promise<string> {
    const cached = this.#iterators.get(shard);
    if (cached !== undefined && cached.place === place && Date.now() - cached.at < ITERATOR_TTL_MS)
      return cached.iterator;
    if (place.startsWith('l:')) {
      const [, at, ...rest] = place.split(':');
      if (Date.now() - Number(at) < ITERATOR_TTL_MS) return rest.join(':');
    }
    const after = place.startsWith('s:') ? place.slice(2) : undefined;
    try {
      const res = await this.#api.getShardIterator({
        StreamArn: arn,
        ShardId: shard,
        ShardIteratorType: after !== undefined ? 'AFTER_SEQUENCE_NUMBER' : 'TRIM_HORIZON',
        ...(after !== undefined ? { SequenceNumber: after } : {}),
      });
      return res.ShardIterator!;
    } catch (err) {
      if (errorName(err) === 'TrimmedDataAccessException')
        throw new ChangePositionError(
          `the changes of table '${this.#info.name}' after catch-up's position were trimmed from the stream (it keeps 24 hours): start catch-up again (and backfill) from now`,
          { cause: err },
        );
      throw err;
    }
  }

  /** The changes after `position`, at most `limit`, and the position after them. */
  async read(position: string, limit: number): Promise<{ changes: Change[]; position: string }> {
    const arn = requireStream(this.#info);
    const pos = this.#parse(position, arn);
    const shards = await this.#shards(arn);
    const known = new Map(shards.map((s) => [s.ShardId!, s]));
    const done = new Set(pos.done.filter((id) => known.has(id)));
    // shards that started after the position was made: from their beginning
    for (const s of shards) {
      const id = s.ShardId!;
      if (pos.shards[id] === undefined && !done.has(id)) pos.shards[id] = 'h';
    }
    const changes: Change[] = [];
    const snapshot = () =>
      JSON.stringify({ stream: arn, shards: pos.shards, done: [...done] } satisfies Position);
    // a shard is read once its parent (if the stream still has it) is read to its end
    const readable = () =>
      Object.keys(pos.shards)
        .filter((id) => {
          const parent = known.get(id)?.ParentShardId;
          return parent === undefined || !known.has(parent) || done.has(parent);
        })
        .sort((a, b) =>
          (known.get(a)?.SequenceNumberRange?.StartingSequenceNumber ?? '').localeCompare(
            known.get(b)?.SequenceNumberRange?.StartingSequenceNumber ?? '',
            undefined,
            { numeric: true },
          ),
        );
    for (let progress = true; progress && changes.length < limit;) {
      progress = false;
      for (const shard of readable()) {
        if (changes.length >= limit) break;
        const place = pos.shards[shard]!;
        let res: Awaited<ReturnType<StreamsApi['getRecords']>>;
        try {
          res = await this.#api.getRecords({
            ShardIterator: await this.#iterator(arn, shard, place),
            Limit: Math.min(MAX_RECORDS, limit - changes.length),
          });
        } catch (err) {
          if (errorName(err) !== 'ExpiredIteratorException') throw err;
          // an iterator kept too long: from the place itself (or the horizon) on the next pass
          this.#iterators.delete(shard);
          if (place.startsWith('l:')) pos.shards[shard] = 'h';
          progress = true;
          continue;
        }
        for (const r of res.Records ?? []) {
          const d = r.dynamodb!;
          pos.shards[shard] = `s:${d.SequenceNumber}`;
          const image = r.eventName === 'REMOVE' ? undefined : d.NewImage;
          changes.push({
            position: snapshot(),
            key: keyString(this.#info, d.Keys!),
            doc:
              image === undefined
                ? null
                : attrsToDoc(image, this.#info.synthetic ? this.#info.keyNames : undefined),
          });
        }
        if (res.NextShardIterator === undefined || res.NextShardIterator === null) {
          // closed and read to its end: its children can be read now
          delete pos.shards[shard];
          done.add(shard);
          this.#iterators.delete(shard);
          progress = true;
          continue;
        }
        this.#iterators.set(shard, {
          place: pos.shards[shard]!,
          iterator: res.NextShardIterator,
          at: Date.now(),
        });
        if ((res.Records?.length ?? 0) > 0) progress = true;
      }
    }
    return { changes, position: snapshot() };
  }
}
