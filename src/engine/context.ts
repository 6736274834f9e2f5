import type { AuditLog } from '../state/audit-log.js';
import type { Catalog } from '../state/catalog.js';
import type { Store } from '../store/contract.js';

/**
 * What every engine (backfill, verify, rollback, complete) works with: the data store, the state
 * store, the control plane on it, and who acts. A `Project` is one.
 */
export interface EngineContext {
  store: Store;
  stateStore: Store;
  catalog: Catalog;
  audit: AuditLog;
  actor: string;
}
