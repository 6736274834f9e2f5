/**
 * Documents of a collection for schema work, sampled uniformly (engine/sample.ts: one streaming
 * pass, memory for the sample only), with the version each one is at.
 */
import fs from 'node:fs';
import type { Doc } from '../core/values.js';
import { sampleCollection } from '../engine/sample.js';
import { DEFAULT_FROM_VERSION, type Migration } from '../migration/migration.js';
import type { Store } from '../store/contract.js';
import { versionOfDoc } from './infer-schema.js';

export const DEFAULT_SCHEMA_SAMPLE = 1000;

export interface VersionedSample {
  /** documents in the collection */
  readonly total: number;
  readonly docs: readonly { readonly doc: Doc; readonly version: number }[];
}

export async function sampleVersions(
  store: Store,
  collection: string,
  options: { size: number; seed?: number; versionField: string; baseVersion: number },
): Promise<VersionedSample> {
  const { sample, seen } = await sampleCollection(store.collection(collection), {
    size: options.size,
    ...(options.seed !== undefined ? { seed: options.seed } : {}),
  });
  return {
    total: seen,
    docs: sample.map((s) => ({
      doc: s.doc,
      version: versionOfDoc(s.doc, options.versionField, options.baseVersion),
    })),
  };
}

/** The version of a collection's unversioned documents: the first `from` of its chain, else 1. */
export function baseVersionOf(migrations: readonly Migration[], collection: string): number {
  const mine = migrations.filter((m) => m.collection === collection);
  return mine.length === 0 ? DEFAULT_FROM_VERSION : Math.min(...mine.map((m) => m.baseVersion));
}

/** The project's migrations, or none when the migrations directory does not exist (yet). */
export async function migrationsIfAny(project: {
  migrationsDir: string;
  migrations(): Promise<Migration[]>;
}): Promise<Migration[]> {
  return fs.existsSync(project.migrationsDir) ? project.migrations() : [];
}
