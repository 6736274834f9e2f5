/**
 * Reading a table: pages of a Scan (one segment of a parallel scan, after a cursor), counts, and
 * items by key (BatchGetItem). Items come back as they are stored; what they mean as documents,
 * and their revs, is the collection's (dynamodb-collection.ts).
 *
 * Resume rules of `scanItems`: the cursor is DynamoDB's LastEvaluatedKey as JSON; Scan continues
 * after it in the table's (hash) order, so every item that exists for the whole scan is returned
 * once. See docs/stores/dynamodb.md.
 */
import { BatchGetItemCommand, ScanCommand, type AttributeValue } from '@aws-sdk/client-dynamodb';
import { StoreError } from '../../core/errors.js';
import type { Range } from '../contract.js';
import { pool } from '../pool.js';
import { keyOfItem, type TableInfo } from './dynamodb-table.js';
import { canonicalMap, keyFromJson, keyToJson, type AttrMap } from './dynamodb-values.js';
import { WRITE_CONCURRENCY, type WriteChannel } from './dynamodb-writes.js';

/** A part of the table for a parallel scan: Segment `segment` of `segments`. */
export interface SegmentRange extends Range {
  readonly segment: number;
  readonly segments: number;
}

/** What the reads need of the store and the table; `name` is the collection's, for messages. */
export interface ReadChannel extends Pick<WriteChannel, 'table' | 'send' | 'retryWait'> {
  readonly name: string;
}

/** `n` scan segments that together cover the table (at least 1, at most 1,000,000). */
export function splitSegments(n: number): Range[] {
  const segments = Math.min(1_000_000, Math.max(1, Math.floor(n)));
  return Array.from({ length: segments }, (_, segment): SegmentRange => ({
    id: `${segment + 1}/${segments}`,
    segment,
    segments,
  }));
}

/** Up to `limit` items of `range` after `cursor`, and the cursor after them (null: the end). */
export async function scanItems(
  ch: ReadChannel,
  range: Range | undefined,
  cursor: string | null | undefined,
  limit: number,
): Promise<{ items: AttrMap[]; cursor: string | null }> {
  const seg = segmentOf(range);
  let start: AttrMap | undefined = cursor == null ? undefined : decodeCursor(cursor);
  const items: AttrMap[] = [];
  do {
    const res = (await ch.send(
      `scan of '${ch.name}'`,
      new ScanCommand({
        TableName: ch.table,
        Limit: limit - items.length,
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
        ...(start ? { ExclusiveStartKey: start as Record<string, AttributeValue> } : {}),
        ...seg,
      }),
    )) as { Items?: AttrMap[]; LastEvaluatedKey?: AttrMap };
    for (const item of res.Items ?? []) items.push(item);
    start = res.LastEvaluatedKey;
  } while (start !== undefined && items.length < limit);
  return { items, cursor: start === undefined ? null : JSON.stringify(keyToJson(start)) };
}

/** How many items `range` (the whole table when undefined) holds: a Scan of counts. */
export async function countItems(ch: ReadChannel, range: Range | undefined): Promise<number> {
  const seg = segmentOf(range);
  let n = 0;
  let start: AttrMap | undefined;
  do {
    const res = (await ch.send(
      `count of '${ch.name}'`,
      new ScanCommand({
        TableName: ch.table,
        Select: 'COUNT',
        ConsistentRead: true,
        ReturnConsumedCapacity: 'TOTAL',
        ...(start ? { ExclusiveStartKey: start as Record<string, AttributeValue> } : {}),
        ...seg,
      }),
    )) as { Count?: number; LastEvaluatedKey?: AttrMap };
    n += res.Count ?? 0;
    start = res.LastEvaluatedKey;
  } while (start !== undefined);
  return n;
}

/**
 * Items by key, strongly consistent (BatchGetItem of 100, unprocessed keys asked again), by the
 * canonical form of their key (`canonicalMap`).
 */
export async function fetchItems(
  ch: ReadChannel,
  info: TableInfo,
  keys: readonly AttrMap[],
): Promise<Map<string, AttrMap>> {
  const wanted = new Map(keys.map((k) => [canonicalMap(k), k]));
  const found = new Map<string, AttrMap>();
  const all = [...wanted.values()];
  const chunks: AttrMap[][] = [];
  for (let i = 0; i < all.length; i += 100) chunks.push(all.slice(i, i + 100));
  await pool(
    chunks.map((chunk) => async () => {
      let pending: AttrMap[] = chunk;
      for (let attempt = 0; pending.length > 0; attempt++) {
        if (attempt > 0) await ch.retryWait(attempt, `${pending.length} keys of a BatchGetItem`);
        const res = (await ch.send(
          `getMany from '${ch.name}'`,
          new BatchGetItemCommand({
            RequestItems: {
              [ch.table]: {
                Keys: pending as Record<string, AttributeValue>[],
                ConsistentRead: true,
              },
            },
            ReturnConsumedCapacity: 'TOTAL',
          }),
        )) as {
          Responses?: Record<string, AttrMap[]>;
          UnprocessedKeys?: Record<string, { Keys?: AttrMap[] }>;
        };
        for (const item of res.Responses?.[ch.table] ?? [])
          found.set(canonicalMap(keyOfItem(info, item)), item);
        pending = res.UnprocessedKeys?.[ch.table]?.Keys ?? [];
      }
    }),
    WRITE_CONCURRENCY,
  );
  return found;
}

function segmentOf(range: Range | undefined): { Segment?: number; TotalSegments?: number } {
  if (range === undefined) return {};
  const { segment, segments } = range as SegmentRange;
  if (
    !Number.isInteger(segment) ||
    !Number.isInteger(segments) ||
    segment < 0 ||
    segment >= segments
  ) {
    throw new TypeError(`range ${range.id} is not a DynamoDB scan segment`);
  }
  return segments <= 1 ? {} : { Segment: segment, TotalSegments: segments };
}

function decodeCursor(cursor: string): AttrMap {
  try {
    return keyFromJson(JSON.parse(cursor));
  } catch {
    throw new StoreError(`not a DynamoDB scan cursor: ${cursor.slice(0, 80)}`);
  }
}
