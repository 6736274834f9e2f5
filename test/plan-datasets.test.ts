/**
 * Real-world migrations (examples/dataset-migrations) planned against MongoDB's sample datasets.
 * Skips, visibly, when ../shared/datasets is absent.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { plan } from '../src/engine/plan.js';
import { importDocuments } from '../src/io/import-documents.js';
import { loadMigrations } from '../src/migration/load-migrations.js';
import type { Migration } from '../src/migration/migration.js';
import type { Store } from '../src/store/contract.js';
import { openStore } from '../src/store/open-store.js';

const DATASETS = path.resolve(import.meta.dirname, '../../shared/datasets');
const MIGRATIONS = path.resolve(import.meta.dirname, '../examples/dataset-migrations/migrations');
const present = fs.existsSync(DATASETS);

describe.skipIf(!present)(
  `plan on the sample datasets${present ? '' : ' (skipped: ../shared/datasets is absent)'}`,
  () => {
    let dir: string;
    let store: Store;
    let migrations: Migration[];
    const byName = (part: string) => migrations.find((m) => m.id.includes(part))!;

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-plan-ds-'));
      store = await openStore(`sqlite:${path.join(dir, 'data.db')}`);
      const files: Record<string, string> = {
        accounts: 'sample_analytics/accounts.json',
        sales: 'sample_supplies/sales.json',
        theaters: 'sample_mflix/theaters.json',
        shipwrecks: 'sample_geospatial/shipwrecks.json',
        movies: 'sample_mflix_subset/movies.json',
      };
      for (const [collection, file] of Object.entries(files)) {
        await importDocuments(store.collection(collection), path.join(DATASETS, file));
      }
      migrations = await loadMigrations(MIGRATIONS);
    }, 120_000);
    afterAll(async () => {
      await store?.close();
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('lowercases product names inside the products array (lossy, named)', async () => {
      const r = await plan(store, byName('accounts-lowercase'), { sample: 300, seed: 1 });
      expect(r).toMatchObject({
        sampled: 300,
        total: 1746,
        failed: 0,
        checkFailures: 0,
        reversible: false,
      });
      expect(r.changed).toBe(300);
      expect(r.paths['products[]']).toBeGreaterThan(200);
      expect(r.lossy.map((l) => l.step)).toEqual(["lower-case 'products[]'"]);
    });

    it('turns a boolean into an array, and proves the user inverse on the sample', async () => {
      const r = await plan(store, byName('sales-coupon'), { sample: 500, seed: 2 });
      expect(r).toMatchObject({
        sampled: 500,
        changed: 500,
        failed: 0,
        checkFailures: 0,
        reversible: true,
      });
      expect(r.roundTrip).toEqual({ checked: 500, exact: 500, differs: 0, failed: 0 });
    });

    it('renames a field inside nested objects, exactly', async () => {
      const r = await plan(store, byName('theaters'), { sample: 400, seed: 3 });
      expect(r).toMatchObject({ total: 1564, changed: 400, failed: 0, reversible: true });
      expect(r.paths).toMatchObject({
        'location.address.street1': 400,
        'location.address.line1': 400,
      });
    });

    it('wraps a mixed-type scalar into an array of objects, exactly', async () => {
      const r = await plan(store, byName('shipwrecks'), { sample: 1000, seed: 4 });
      expect(r).toMatchObject({ total: 11095, failed: 0, reversible: true });
      expect(r.roundTrip.exact).toBe(r.changed);
      const doc = r.documents.find((d) => d.status === 'changed')!;
      expect(doc.diff!.map((d) => d.path)).toEqual(
        expect.arrayContaining(['/depth', '/soundings']),
      );
    });

    it('chains: moves a string into an array of objects, then turns it into a Date in each element', async () => {
      const step1 = byName('movies-1');
      const step2 = byName('movies-2');
      const r1 = await plan(store, step1, { sample: 200, seed: 5 });
      expect(r1).toMatchObject({ total: 1000, changed: 200, failed: 0, reversible: true });
      // step 2 plans documents at version 2: bring a copy of the collection there first
      const c = store.collection('movies');
      const v2 = store.collection('movies_v2');
      let cursor: string | null = null;
      do {
        const page = await c.scan({ cursor, limit: 250 });
        await v2.write(
          page.items.map((s) => ({ type: 'put' as const, key: s.key, doc: step1.up(s.doc) })),
        );
        cursor = page.cursor;
      } while (cursor !== null);
      const r2 = await plan(store, step2, { sample: 300, seed: 6, collection: 'movies_v2' });
      expect(r2).toMatchObject({ changed: 300, failed: 0, checkFailures: 0 });
      expect(r2.paths['history[].lastupdated']).toBe(300);
      const changed = r2.documents.find((d) => d.status === 'changed')!;
      expect(changed.diff![0]!.after).toBeInstanceOf(Date);
      // the normaliser's inverse restores the original spelling on every sampled document
      expect(r2.roundTrip).toEqual({ checked: 300, exact: 300, differs: 0, failed: 0 });
      // plan on a collection still at version 1 says so, per document
      const wrongVersion = await plan(store, step2, { sample: 10, seed: 7 });
      expect(wrongVersion.failed).toBe(10);
      expect(Object.keys(wrongVersion.errors)[0]).toMatch(/version 1, expected 2/);
    });
  },
);
