/**
 * OpenTelemetry spans, recorded by the SDK's in-memory exporter registered as the global
 * provider: one span per runner batch (backfill, verify, rollback) and per runtime dual write
 * and shadow read, with their attributes; no secret in any attribute, status or event.
 */
import { context, trace } from '@opentelemetry/api';
import {
  BasicTracerProvider,
  InMemorySpanExporter,
  SimpleSpanProcessor,
  type ReadableSpan,
} from '@opentelemetry/sdk-trace-base';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { backfill } from '../../src/engine/backfill.js';
import { rollback } from '../../src/engine/rollback.js';
import { Stage } from '../../src/engine/stages.js';
import { verify } from '../../src/engine/verify.js';
import {
  Attr,
  otlpRequested,
  registerProvider,
  SpanName,
  traceBatch,
  type Tracing,
} from '../../src/observe/tracing.js';
import {
  contextFor,
  seedUsers,
  splitNameMigration,
  sqliteAt,
  tempDir,
} from '../engine/backfill-fixtures.js';
import {
  closeAfterEach,
  fixture,
  moveTo,
  newStore,
  oldDoc,
  yardFor,
} from '../runtime/yard-fixtures.js';

const SECRET = 's3cr3t-pw';
const URL_WITH_PASSWORD = `redis://admin:${SECRET}@127.0.0.1:6390/0`;

let exporter: InMemorySpanExporter;
let tracing: Tracing;

beforeEach(async () => {
  exporter = new InMemorySpanExporter();
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] });
  tracing = await registerProvider(provider);
});
afterEach(async () => {
  await tracing.shutdown();
});

const named = (name: string) => exporter.getFinishedSpans().filter((s) => s.name === name);
const sum = (spans: ReadableSpan[], attr: string) =>
  spans.reduce((n, s) => n + Number(s.attributes[attr] ?? 0), 0);

describe('runner batch spans', () => {
  it('backfill, verify and rollback: one span per batch with migration, pass, partition, counts', async () => {
    const store = sqliteAt(path.join(tempDir('sy-otel-'), 'db.sqlite'));
    try {
      await seedUsers(store, 250);
      const ctx = contextFor(store);
      const m = splitNameMigration();
      await backfill(ctx, m, { batchSize: 50, partitions: 2, journal: true });
      const batches = named(SpanName.batch).filter((s) => s.attributes[Attr.pass] === 'backfill');
      expect(batches.length).toBeGreaterThanOrEqual(5);
      for (const s of batches) {
        expect(s.attributes[Attr.migration]).toBe('m-split');
        expect(s.attributes[Attr.outcome]).toBe('ok');
        expect(typeof s.attributes[Attr.partition]).toBe('string');
      }
      expect(new Set(batches.map((s) => s.attributes[Attr.partition])).size).toBe(2);
      expect(sum(batches, 'switchyard.batch.migrated')).toBe(250);
      expect(sum(batches, 'switchyard.batch.size')).toBe(250);

      await verify(ctx, m, { batchSize: 100 });
      const verifying = named(SpanName.batch).filter((s) => s.attributes[Attr.pass] === 'verify');
      // verify walks the documents (and, with a journal, the journal's entries too)
      expect(sum(verifying, 'switchyard.batch.size')).toBeGreaterThanOrEqual(250);

      await rollback(ctx, m, { batchSize: 100 });
      const rolling = named(SpanName.batch).filter((s) => s.attributes[Attr.pass] === 'rollback');
      expect(rolling.length).toBeGreaterThan(0);
      expect(rolling.every((s) => s.attributes[Attr.migration] === 'm-split')).toBe(true);
    } finally {
      await store.close();
    }
  });

  it('a failing batch records outcome error, and a password in its error never reaches the span', async () => {
    const failing = traceBatch({ pass: 'backfill', migration: 'm' }, 'p0', 3, () =>
      Promise.reject(new Error(`connect ECONNREFUSED ${URL_WITH_PASSWORD}`)),
    );
    await expect(failing).rejects.toThrow(SECRET); // the caller's error is unchanged
    const [span] = named(SpanName.batch);
    expect(span!.attributes[Attr.outcome]).toBe('error');
    expect(span!.status.message).toContain('127.0.0.1');
    const seen = JSON.stringify({
      attributes: span!.attributes,
      status: span!.status,
      events: span!.events,
    });
    expect(seen).not.toContain(SECRET);
  });
});

describe('runtime spans', () => {
  const open = closeAfterEach();

  it('dual writes and shadow reads: migration, stage, bucket, side; children of the caller span', async () => {
    const f = fixture(newStore('sqlite'));
    await moveTo(f, Stage.dualWrite);
    const writer = await yardFor(f);
    open.push({ yard: writer });
    const users = writer.collection('users');
    const parent = trace.getTracer('app').startSpan('GET /users');
    await context.with(trace.setSpan(context.active(), parent), () => users.put(oldDoc(1)));
    parent.end();
    const [write] = named(SpanName.dualWrite);
    expect(write!.attributes).toMatchObject({
      [Attr.migration]: f.migration.id,
      [Attr.stage]: 'dual-write',
      [Attr.side]: 'old',
      [Attr.outcome]: 'ok',
      'switchyard.write.type': 'put',
    });
    expect(write!.attributes[Attr.bucket]).toBeGreaterThanOrEqual(0);
    expect(write!.parentSpanContext?.spanId).toBe(parent.spanContext().spanId);
    expect(JSON.stringify(write!.attributes)).not.toContain('u1'); // no keys

    await moveTo(f, Stage.shadow);
    const reader = await yardFor(f);
    open.push({ yard: reader });
    expect(await reader.collection('users').get(oldDoc(1)._id as string)).toEqual(oldDoc(1));
    await reader.idle();
    const [shadow] = named(SpanName.shadowRead);
    expect(shadow!.attributes).toMatchObject({
      [Attr.migration]: f.migration.id,
      [Attr.stage]: Stage.shadow,
      'switchyard.shadow.compared': 1,
      'switchyard.shadow.suspects': 0,
      [Attr.outcome]: 'ok',
    });
  });
});

describe('OTLP export is configured by the standard environment only', () => {
  it('asks for the SDK only when an OTLP endpoint or exporter is set and the SDK is not disabled', () => {
    expect(otlpRequested({})).toBe(false);
    expect(otlpRequested({ OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:4318' })).toBe(true);
    expect(
      otlpRequested({ OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:4318/v1/traces' }),
    ).toBe(true);
    expect(otlpRequested({ OTEL_TRACES_EXPORTER: 'otlp' })).toBe(true);
    expect(
      otlpRequested({ OTEL_TRACES_EXPORTER: 'none', OTEL_EXPORTER_OTLP_ENDPOINT: 'http://x' }),
    ).toBe(false);
    expect(otlpRequested({ OTEL_SDK_DISABLED: 'true', OTEL_TRACES_EXPORTER: 'otlp' })).toBe(false);
  });
});
