/**
 * Where /metrics reads the application runtime's counters from: the lead's runtime counters
 * (src/runtime/counters.ts), published by every `connect()` instance to the state store. One
 * function, so the metrics do not depend on the runtime module's other exports.
 */
import { readRuntimeWindow, type RuntimeWindow } from '../runtime/counters.js';
import type { Store } from '../store/contract.js';

export type { RuntimeWindow };

/** The runtime counters of every application instance over the last `windowMs`, summed. */
export function readRuntime(
  stateStore: Store,
  migrationId: string,
  windowMs: number,
  now?: number,
): Promise<RuntimeWindow> {
  return readRuntimeWindow(stateStore, migrationId, windowMs, now);
}
