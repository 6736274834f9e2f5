/**
 * The one place the dashboard reaches into what other parts publish for it: the side-by-side
 * runtime counters (runtime/counters.ts), the last gate report (engine/gates.ts), the workers'
 * heartbeats (observe/worker-heartbeat.ts) and the Prometheus text (observe/metrics.ts). The
 * snapshot and the server call these functions only, so a change of those modules' shape is
 * absorbed here.
 */
import type { EngineContext } from '../engine/context.js';
import { readLastGate as readGate, type GateReport } from '../engine/gates.js';
import { METRICS_CONTENT_TYPE, renderProjectMetrics } from '../observe/metrics.js';
import {
  readWorkerHeartbeats,
  STALE_AFTER_MS,
  type WorkerHeartbeatDoc,
} from '../observe/worker-heartbeat.js';
import { readRuntimeWindow as readWindow, type RuntimeWindow } from '../runtime/counters.js';
import type { Store } from '../store/contract.js';

export type { GateReport, RuntimeWindow, WorkerHeartbeatDoc };
export { STALE_AFTER_MS as HEARTBEAT_STALE_AFTER_MS };

export function readRuntimeWindow(
  stateStore: Store,
  migrationId: string,
  windowMs: number,
): Promise<RuntimeWindow> {
  return readWindow(stateStore, migrationId, windowMs);
}

export function readLastGate(stateStore: Store, migrationId: string): Promise<GateReport | null> {
  return readGate(stateStore, migrationId);
}

/** Every worker heartbeat of the project, by migration id. */
export async function readHeartbeats(
  stateStore: Store,
): Promise<Map<string, WorkerHeartbeatDoc[]>> {
  const out = new Map<string, WorkerHeartbeatDoc[]>();
  for (const h of await readWorkerHeartbeats(stateStore)) {
    const list = out.get(h.migration) ?? [];
    list.push(h);
    out.set(h.migration, list);
  }
  return out;
}

/** The project's metrics in Prometheus text format, with their content type. */
export async function renderMetrics(
  ctx: EngineContext,
): Promise<{ body: string; contentType: string }> {
  return { body: await renderProjectMetrics(ctx), contentType: METRICS_CONTENT_TYPE };
}
