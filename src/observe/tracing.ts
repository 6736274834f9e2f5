/**
 * OpenTelemetry spans: one per runner batch (backfill, verify, rollback, catch-up: the runner
 * calls `traceBatch` once, for every job) and one per runtime dual write and shadow read.
 *
 * Rules:
 * - spans go through the global @opentelemetry/api tracer. With no SDK registered (the default)
 *   it is the API's no-op tracer: nothing is recorded, nothing is sent, the cost is a function
 *   call. An application that registers its own SDK gets Switchyard's runtime spans as children
 *   of its own request spans;
 * - the CLI registers an SDK (`startTracing`) only when the standard OTEL_* environment asks for
 *   OTLP (OTEL_EXPORTER_OTLP_ENDPOINT or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT set, or
 *   OTEL_TRACES_EXPORTER=otlp) and OTEL_SDK_DISABLED is not true; the exporter reads the rest of
 *   OTEL_EXPORTER_OTLP_* itself. The SDK is imported only then;
 * - attributes are ids, stage names, partition ids, buckets, counts and outcomes, never keys or
 *   document content; every string attribute and error message passes through secret redaction
 *   (a store URL with a password in an error never reaches a span).
 */
import {
  SpanStatusCode,
  trace,
  type Attributes,
  type ContextManager,
  type Span,
  type TracerProvider,
} from '@opentelemetry/api';
import { redactSecrets } from '../store/store-url.js';

export const TRACER_NAME = 'switchyard';

/** Span names, stable: dashboards and queries name them. */
export const SpanName = {
  batch: 'switchyard.batch',
  dualWrite: 'switchyard.dual-write',
  shadowRead: 'switchyard.shadow-read',
} as const;
export type SpanName = (typeof SpanName)[keyof typeof SpanName];

/** Attribute names (a `switchyard.` namespace, as OpenTelemetry asks of libraries). */
export const Attr = {
  migration: 'switchyard.migration.id',
  pass: 'switchyard.pass',
  stage: 'switchyard.stage',
  partition: 'switchyard.partition',
  bucket: 'switchyard.bucket',
  side: 'switchyard.side',
  outcome: 'switchyard.outcome',
} as const;

/** What a traced call ended as (`switchyard.outcome`). */
export const Outcome = { ok: 'ok', error: 'error' } as const;

function tracer() {
  return trace.getTracer(TRACER_NAME);
}

/**
 * Run `fn` inside an active span named `name`; `fn` may add attributes when it knows its result
 * (counts, matched). The outcome and, on a throw, the redacted error are recorded; the error is
 * rethrown unchanged.
 */
export function inSpan<T>(
  name: SpanName,
  attributes: Attributes,
  fn: (span: Span) => Promise<T>,
): Promise<T> {
  return tracer().startActiveSpan(name, { attributes: clean(attributes) }, async (span) => {
    try {
      const result = await fn(span);
      span.setAttribute(Attr.outcome, Outcome.ok);
      return result;
    } catch (err) {
      const message = redactSecrets(err instanceof Error ? err.message : String(err));
      span.setAttribute(Attr.outcome, Outcome.error);
      span.setStatus({ code: SpanStatusCode.ERROR, message });
      span.addEvent('exception', {
        'exception.type': err instanceof Error ? err.name : typeof err,
        'exception.message': message,
      });
      throw err;
    } finally {
      span.end();
    }
  });
}

/** Set numeric attributes (counts) on a span, under `switchyard.<prefix>.<name>`. */
export function setCounts(span: Span, prefix: string, counts: object): void {
  for (const [k, v] of Object.entries(counts))
    if (typeof v === 'number') span.setAttribute(`switchyard.${prefix}.${k}`, v);
}

function clean(attributes: Attributes): Attributes {
  const out: Attributes = {};
  for (const [k, v] of Object.entries(attributes))
    if (v !== undefined) out[k] = typeof v === 'string' ? redactSecrets(v) : v;
  return out;
}

/** Whether the environment asks for OTLP trace export (see the header). */
export function otlpRequested(env: NodeJS.ProcessEnv): boolean {
  if (env.OTEL_SDK_DISABLED?.trim().toLowerCase() === 'true') return false;
  const exporters = (env.OTEL_TRACES_EXPORTER ?? '').split(',').map((s) => s.trim());
  if (exporters.includes('none')) return false;
  return (
    exporters.includes('otlp') ||
    (env.OTEL_EXPORTER_OTLP_ENDPOINT ?? '') !== '' ||
    (env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT ?? '') !== ''
  );
}

/** A registered SDK: `shutdown()` flushes the spans still buffered and unregisters it. */
export interface Tracing {
  shutdown(): Promise<void>;
}

/**
 * Register the OpenTelemetry SDK with an OTLP/HTTP exporter when the environment asks for it
 * (undefined otherwise: the API stays a no-op). The service name comes from OTEL_SERVICE_NAME /
 * OTEL_RESOURCE_ATTRIBUTES, else `switchyard`.
 */
export async function startTracing(env: NodeJS.ProcessEnv): Promise<Tracing | undefined> {
  if (!otlpRequested(env)) return undefined;
  const [{ BasicTracerProvider, BatchSpanProcessor }, { OTLPTraceExporter }, resources, ctx] =
    await Promise.all([
      import('@opentelemetry/sdk-trace-base'),
      import('@opentelemetry/exporter-trace-otlp-http'),
      import('@opentelemetry/resources'),
      import('@opentelemetry/context-async-hooks'),
    ]);
  const detected = resources.detectResources({ detectors: [resources.envDetector] });
  const resource = resources
    .resourceFromAttributes({ 'service.name': TRACER_NAME })
    .merge(detected);
  const provider = new BasicTracerProvider({
    resource,
    spanProcessors: [new BatchSpanProcessor(new OTLPTraceExporter())],
  });
  return registerProvider(provider, new ctx.AsyncLocalStorageContextManager());
}

/**
 * Make `provider` the global tracer provider, with an async context manager so that spans opened
 * under a span are its children across awaits (tests register one with an in-memory exporter).
 */
export async function registerProvider(
  provider: TracerProvider & { shutdown(): Promise<void> },
  contextManager?: ContextManager,
): Promise<Tracing> {
  const api = await import('@opentelemetry/api');
  const cm =
    contextManager ??
    new (await import('@opentelemetry/context-async-hooks')).AsyncLocalStorageContextManager();
  api.context.setGlobalContextManager(cm.enable());
  api.trace.setGlobalTracerProvider(provider);
  return {
    async shutdown() {
      await provider.shutdown();
      api.trace.disable();
      api.context.disable();
    },
  };
}

/** The runner's hook: one span per batch of any job (pass, migration, partition, its counts). */
export function traceBatch<T extends object>(
  job: { readonly pass: string; readonly migration: string },
  partition: string,
  size: number,
  batch: () => Promise<T>,
): Promise<T> {
  const attributes = {
    [Attr.migration]: job.migration,
    [Attr.pass]: job.pass,
    [Attr.partition]: partition,
    'switchyard.batch.size': size,
  };
  return inSpan(SpanName.batch, attributes, async (span) => {
    const counts = await batch();
    setCounts(span, 'batch', counts);
    return counts;
  });
}
