/**
 * The store of a side-by-side migration's target when the migration names one (`target.store`),
 * opened with the project's base directory for relative SQLite paths; undefined when the target
 * lives in the migration's own store. The caller closes what it got.
 */
import type { Migration } from '../migration/migration.js';
import type { Store } from '../store/contract.js';
import { openStore } from '../store/open-store.js';

export async function openTargetStore(
  m: Migration,
  options: { baseDir?: string } = {},
): Promise<Store | undefined> {
  const url = m.target?.store;
  if (url === undefined) return undefined;
  return openStore(url, options.baseDir !== undefined ? { baseDir: options.baseDir } : {});
}
