/**
 * The hand-written loops bench/backfill-dynamodb.js measures Switchyard against (its header says
 * what each does), and the request counter every contender's client goes through. Each takes the
 * DynamoDB Local URL, transforms the table 'users' with the bench's transform (splitName) and
 * returns how many items it transformed.
 */
import { splitName } from './docs.js';
import { sleep } from './support.js';

/** parallel Scan segments, as Switchyard's partitions */
const SEGMENTS = 4;
/** write requests in flight per segment */
const IN_FLIGHT = 8;

// ---------------------------------------------------------------- the SDK, counted

export const requests = { total: 0, byCommand: {} };

/** Count every HTTP request the client sends (inside the SDK's retries: each attempt counts). */
export function counted(client) {
  client.middlewareStack.add(
    (next, context) => (args) => {
      requests.total += 1;
      requests.byCommand[context.commandName] = (requests.byCommand[context.commandName] ?? 0) + 1;
      return next(args);
    },
    { step: 'finalizeRequest', priority: 'low', name: 'benchRequestCounter' },
  );
  return client;
}

async function documentClient(url) {
  const { DynamoDBClient } = await import('@aws-sdk/client-dynamodb');
  const { DynamoDBDocumentClient } = await import('@aws-sdk/lib-dynamodb');
  const base = new DynamoDBClient({
    endpoint: `http://127.0.0.1:${new URL(url).port}`,
    region: 'local',
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
  // the document client (un)marshals items: plain JS values in, attribute values on the wire
  return DynamoDBDocumentClient.from(counted(base));
}

/** send until nothing is left: `pendingOf(response)` is what must go again */
async function untilDone(what, send, first, pendingOf) {
  let pending = first;
  for (let attempt = 0; pending.length > 0; attempt++) {
    if (attempt > 12) throw new Error(`${what}: items stayed unprocessed`);
    if (attempt > 0) await sleep(Math.min(5000, 25 * 2 ** attempt) * (0.5 + Math.random() / 2));
    pending = pendingOf(await send(pending), pending);
  }
}

/** Parallel Scan (pages of 1,000); `writePage(items)` returns how many it transformed. */
async function scanAll(client, writePage) {
  const { ScanCommand } = await import('@aws-sdk/lib-dynamodb');
  let done = 0;
  const segment = async (seg) => {
    let start;
    do {
      const res = await client.send(
        new ScanCommand({
          TableName: 'users',
          Segment: seg,
          TotalSegments: SEGMENTS,
          Limit: 1000,
          ...(start ? { ExclusiveStartKey: start } : {}),
        }),
      );
      start = res.LastEvaluatedKey;
      // (not `done += await ...`: that reads `done` before the other segments add to it)
      const written = await writePage((res.Items ?? []).filter((item) => item._sv !== 2));
      done += written;
    } while (start !== undefined);
  };
  await Promise.all(Array.from({ length: SEGMENTS }, (_, s) => segment(s)));
  return done;
}

/** `items` in chunks of `size`, IN_FLIGHT chunks at a time */
async function inChunks(items, size, write) {
  const chunks = [];
  for (let i = 0; i < items.length; i += size) chunks.push(items.slice(i, i + size));
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(IN_FLIGHT, chunks.length) }, async () => {
      while (next < chunks.length) await write(chunks[next++]);
    }),
  );
  return items.length;
}

async function batchWrite(client, items) {
  const { BatchWriteCommand } = await import('@aws-sdk/lib-dynamodb');
  const puts = items.map((Item) => ({ PutRequest: { Item } }));
  await untilDone(
    'BatchWriteItem',
    (pending) => client.send(new BatchWriteCommand({ RequestItems: { users: pending } })),
    puts,
    (res) => res.UnprocessedItems?.users ?? [],
  );
}

/**
 * Scan + BatchExecuteStatement of 25 conditional UPDATEs: conditional on the field the transform
 * changes, or (`whole`) on the whole item as read, as Switchyard's conflict safety needs.
 */
async function partiqlLoop(url, whole) {
  const client = await documentClient(url);
  const { BatchExecuteStatementCommand } = await import('@aws-sdk/lib-dynamodb');
  const update =
    'UPDATE "users" SET "first" = ? SET "last" = ? SET "_sv" = ? REMOVE "name" WHERE "_key" = ? AND';
  const statement = `${update} "name" = ?`;
  const done = await scanAll(client, (items) =>
    inChunks(items, 25, (chunk) =>
      untilDone(
        'BatchExecuteStatement',
        (pending) =>
          client.send(new BatchExecuteStatementCommand({ Statements: pending })).then((res) => {
            const again = [];
            res.Responses.forEach((r, k) => {
              if (r.Error === undefined) return;
              if (r.Error.Code !== 'ProvisionedThroughputExceeded')
                throw new Error(`statement failed: ${r.Error.Code}: ${r.Error.Message}`);
              again.push(pending[k]);
            });
            return again;
          }),
        chunk.map((item) => {
          const { first, last } = splitName(item);
          const params = [first, last, 2, item._key];
          if (!whole) return { Statement: statement, Parameters: [...params, item.name] };
          const { _key, ...doc } = item;
          const cond = Object.keys(doc).map((k) => `"${k}" = ?`);
          cond.push('"first" IS MISSING', '"last" IS MISSING', '"_sv" IS MISSING');
          return {
            Statement: `${update} ${cond.join(' AND ')}`,
            Parameters: [...params, ...Object.values(doc)],
          };
        }),
        (again) => again,
      ),
    ),
  );
  client.destroy();
  return done;
}

// ---------------------------------------------------------------- the loops

export const handLoops = {
  async hand(url) {
    const client = await documentClient(url);
    const done = await scanAll(client, (items) =>
      inChunks(items, 25, (chunk) =>
        batchWrite(
          client,
          chunk.map(({ _key, ...doc }) => ({ ...splitName(doc), _key })),
        ),
      ),
    );
    client.destroy();
    return done;
  },

  async ddt(url) {
    const client = await documentClient(url);
    const { ScanCommand } = await import('@aws-sdk/lib-dynamodb');
    let done = 0;
    let start;
    do {
      const res = await client.send(
        new ScanCommand({ TableName: 'users', Limit: 25, ExclusiveStartKey: start }),
      );
      start = res.LastEvaluatedKey;
      const items = (res.Items ?? []).filter((item) => item._sv !== 2);
      if (items.length > 0)
        await batchWrite(
          client,
          items.map(({ _key, ...doc }) => ({ ...splitName(doc), _key })),
        );
      done += items.length;
    } while (start !== undefined);
    client.destroy();
    return done;
  },

  partiql: (url) => partiqlLoop(url, false),
  'partiql-whole': (url) => partiqlLoop(url, true),
  async tx(url) {
    const client = await documentClient(url);
    const { TransactWriteCommand } = await import('@aws-sdk/lib-dynamodb');
    const done = await scanAll(client, (items) =>
      inChunks(items, 100, (chunk) =>
        client.send(
          new TransactWriteCommand({
            TransactItems: chunk.map(({ _key, ...doc }) => ({
              Put: {
                TableName: 'users',
                Item: { ...splitName(doc), _key },
                ConditionExpression: '#n = :n',
                ExpressionAttributeNames: { '#n': 'name' },
                ExpressionAttributeValues: { ':n': doc.name },
              },
            })),
          }),
        ),
      ),
    );
    client.destroy();
    return done;
  },

  async 'tx-whole'(url) {
    const client = await documentClient(url);
    const { TransactWriteCommand } = await import('@aws-sdk/lib-dynamodb');
    const update = (item) => {
      const { _key, ...doc } = item;
      const { first, last, _sv } = splitName(doc);
      const names = { '#f': 'first', '#l': 'last', '#s': '_sv', '#n': 'name' };
      const values = { ':f': first, ':l': last, ':s': _sv };
      const cond = Object.keys(doc).map((k, i) => {
        names[`#c${i}`] = k;
        values[`:c${i}`] = doc[k];
        return `#c${i} = :c${i}`;
      });
      cond.push('attribute_not_exists(#f)', 'attribute_not_exists(#l)', 'attribute_not_exists(#s)');
      return {
        Update: {
          TableName: 'users',
          Key: { _key },
          UpdateExpression: 'SET #f = :f, #l = :l, #s = :s REMOVE #n',
          ConditionExpression: cond.join(' AND '),
          ExpressionAttributeNames: names,
          ExpressionAttributeValues: values,
        },
      };
    };
    const done = await scanAll(client, (items) =>
      inChunks(items, 100, (chunk) =>
        client.send(new TransactWriteCommand({ TransactItems: chunk.map(update) })),
      ),
    );
    client.destroy();
    return done;
  },
};
