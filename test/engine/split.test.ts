/**
 * A split side by side (issue 16 item 3), in process: the definition's errors name the file and
 * the field (exit 2 from the CLI, nothing changed); catch-up carries source writes made with
 * plain SQL — during the copy and after it — to both targets; the runtime in rampdown (the first
 * target authoritative) derives the other target from down(doc).
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCliSync } from '../support/cli-process.js';
import { canonicalString, toStorageJSON, type Doc } from '../../src/core/values.js';
import { backfill } from '../../src/engine/backfill.js';
import { catchup } from '../../src/engine/catchup.js';
import { setStage, Stage } from '../../src/engine/stages.js';
import { verifySideBySide } from '../../src/engine/verify-side-by-side.js';
import { loadMigrations } from '../../src/migration/load-migrations.js';
import type { MigrationDefinition } from '../../src/migration/define-migration.js';
import { REFUSAL_FILE, refusalText } from '../support/compile-refusal.js';
import { connect } from '../../src/index.js';
import type { Store } from '../../src/store/contract.js';
import { allDocs, contextFor, sqliteAt, tempDir } from './backfill-fixtures.js';
import {
  couponOf,
  discountKey,
  discountOf,
  promotionOf,
  seedDiscounts,
  SPLIT_ID,
  SPLIT_MIGRATION_FILE,
} from './split-fixtures.js';

let dir: string;
const closing: { close(): unknown }[] = [];
beforeEach(() => {
  dir = tempDir('sy-split1-');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(path.join(dir, 'migrations', `${SPLIT_ID}.js`), SPLIT_MIGRATION_FILE);
});
afterEach(async () => {
  for (const c of closing.splice(0).reverse()) await c.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

/** both targets hold exactly their own up() of every source document, and nothing else */
async function expectSplitExact(store: Store): Promise<number> {
  const source = await allDocs(store, 'discounts');
  const promotions = await allDocs(store, 'promotions');
  const coupons = await allDocs(store, 'coupons');
  expect([...promotions.keys()].sort()).toEqual([...source.keys()].sort());
  expect([...coupons.keys()].sort()).toEqual([...source.keys()].sort());
  const wrong: string[] = [];
  for (const [k, d] of source) {
    if (canonicalString(promotions.get(k)!) !== canonicalString(promotionOf(d)))
      wrong.push(`promotions ${k}`);
    if (canonicalString(coupons.get(k)!) !== canonicalString(couponOf(d)))
      wrong.push(`coupons ${k}`);
  }
  expect(wrong).toEqual([]);
  return source.size;
}

describe('the split definition', () => {
  const up = (d: Doc) => d;
  const bad: [string, Partial<MigrationDefinition>, string, RegExp][] = [
    ['one target', { targets: [{ collection: 'a', up }] }, 'targets', /at least two targets/],
    [
      'a target without up()',
      { targets: [{ collection: 'a', up }, { collection: 'b' }] },
      'targets[1].up',
      /each target needs up\(\) or operations/,
    ],
    [
      'targets with up',
      {
        up,
        targets: [
          { collection: 'a', up },
          { collection: 'b', up },
        ],
      },
      'up',
      /cannot be used with targets/,
    ],
    [
      'a collection twice',
      {
        targets: [
          { collection: 'a', up },
          { collection: 'a', up },
        ],
      },
      'targets[1].collection',
      /names 'a' twice/,
    ],
    [
      'down on a later target',
      {
        targets: [
          { collection: 'a', up },
          { collection: 'b', up, down: up },
        ],
      },
      'targets[1].down',
      /only the first target has a down/,
    ],
    [
      'two stores',
      {
        targets: [
          { collection: 'a', up },
          { collection: 'b', up, store: 'sqlite:other.db' },
        ],
      },
      'targets[1].store',
      /must be the same store/,
    ],
    [
      'a misspelt field',
      { targets: [{ collection: 'a', up }, { collection: 'b', upp: up } as never] },
      'targets[1].upp',
      /upp/,
    ],
  ];
  for (const [name, def, field, message] of bad)
    it(`refuses ${name}, naming the file and ${field}`, () => {
      const text = refusalText('discounts', def);
      expect(text).toMatch(message);
      expect(text).toContain(REFUSAL_FILE);
      expect(text).toContain(field);
    });

  it('the CLI exits 2 naming the file and field, and changes nothing', () => {
    fs.writeFileSync(
      path.join(dir, 'migrations', `${SPLIT_ID}.js`),
      SPLIT_MIGRATION_FILE.replace(
        'up: (d) => ({ _id: d._id, code: String(d.code).toUpperCase(), promotion: d._id }),',
        '',
      ),
    );
    const db = path.join(dir, 'data.db');
    const r = runCliSync(dir, [
      '--store',
      `sqlite:${db}`,
      '--migrations',
      path.join(dir, 'migrations'),
      'backfill',
      SPLIT_ID,
    ]);
    expect(r.code, r.out + r.err).toBe(2);
    expect(r.err).toContain(`${SPLIT_ID}.js`);
    expect(r.err).toContain('targets[1].up');
    expect(fs.existsSync(db) ? fs.statSync(db).size : 0).toBeLessThan(100_000);
  });
});

describe('a split with catch-up (SQLite change feed)', () => {
  it('carries plain-SQL writes made during the copy and after it to both targets; verify exact per target', async () => {
    const file = path.join(dir, 'data.db');
    const store = sqliteAt(file);
    closing.push(store);
    const N = 1500;
    await seedDiscounts(store, N);
    const [m] = await loadMigrations(path.join(dir, 'migrations'));
    const ctx = contextFor(store);
    expect((await catchup(ctx, m!, { mode: 'until-idle' })).outcome).toBe('idle');

    // the application: its own connection, plain SQL, writing while the copy runs
    const app = new Database(file);
    app.pragma('busy_timeout = 10000');
    closing.push(app);
    const upd = app.prepare(`UPDATE discounts SET doc = json_set(doc, '$.code', ?) WHERE k = ?`);
    const del = app.prepare(`DELETE FROM discounts WHERE k = ?`);
    const ins = app.prepare(`INSERT OR REPLACE INTO discounts (k, doc) VALUES (?, ?)`);
    let stop = false;
    let writes = 0;
    const writer = (async () => {
      for (let seq = 0; !stop; seq++) {
        const i = Math.floor(Math.random() * N);
        const r = seq % 10;
        if (r < 6) upd.run(`app${seq}`, discountKey(i));
        else if (r < 8) del.run(discountKey(i));
        else {
          const d: Doc = { ...discountOf(N + seq), note: 'created' };
          ins.run(d._id, toStorageJSON(d));
        }
        writes++;
        await new Promise((res) => setTimeout(res, 1));
      }
    })();
    const bf = await backfill(ctx, m!, { batchSize: 25, rate: 600 });
    stop = true;
    await writer;
    expect(bf.outcome).toBe('backfilled');
    expect(writes).toBeGreaterThan(20);
    // the source changed after the copy: catch-up carries it to both targets
    // (keys the writer cannot have deleted: a new one, and one still there)
    const late: Doc = { ...discountOf(9_000_000), code: 'late' };
    ins.run(late._id, toStorageJSON(late));
    const gone = [...(await allDocs(store, 'discounts')).keys()][0]!;
    del.run(gone);
    const cu = await catchup(ctx, m!, { mode: 'until-idle' });
    expect(cu.outcome).toBe('idle');
    expect(cu.progress.changes).toBeGreaterThan(20); // statements that changed a row (a delete of a deleted key does not)
    const n = await expectSplitExact(store);
    expect((await allDocs(store, 'coupons')).get(discountKey(9_000_000))).toMatchObject({
      code: 'LATE',
    });
    expect((await allDocs(store, 'coupons')).has(gone)).toBe(false);

    const v = await verifySideBySide(ctx, m!, { rechecks: 1 });
    expect(v).toMatchObject({ ok: true, mismatched: 0, missing: 0, extra: 0 });
    expect(v.targets!.map((t) => [t.target.collection, t.compared, t.matched])).toEqual([
      ['promotions', n, n],
      ['coupons', n, n],
    ]);
  }, 120_000);
});

describe('a split through the runtime', () => {
  it('in rampdown a new-shape put reaches the source as down(doc) and the coupon as up(down(doc)); in complete the coupon follows the promotion', async () => {
    const file = path.join(dir, 'data.db');
    const store = sqliteAt(file);
    closing.push(store);
    await seedDiscounts(store, 20);
    const [m] = await loadMigrations(path.join(dir, 'migrations'));
    const ctx = contextFor(store);
    await setStage(ctx, m!, Stage.dualWrite);
    expect((await backfill(ctx, m!)).outcome).toBe('backfilled');
    for (const s of [Stage.shadow, Stage.live, Stage.rampdown])
      await setStage(ctx, m!, s, s === Stage.live ? { percent: 100 } : {});
    const yard = await connect({
      store: `sqlite:${file}`,
      migrationsDir: path.join(dir, 'migrations'),
      refreshMs: 0,
    });
    closing.push({ close: () => yard.close() });
    expect(yard.stage(SPLIT_ID).stage).toBe(Stage.rampdown);
    const discounts = yard.collection('discounts');
    await discounts.put(promotionOf({ ...discountOf(3), code: 'fromApp', note: 'new shape' }));
    await discounts.put({ ...discountOf(99), code: 'oldShape' });
    await discounts.delete(discountKey(4));
    expect(await expectSplitExact(store)).toBe(20);
    const coupons = await allDocs(store, 'coupons');
    expect(coupons.get(discountKey(3))).toMatchObject({ code: 'FROMAPP' });
    expect(coupons.get(discountKey(99))).toMatchObject({ code: 'OLDSHAPE' });
    expect((await allDocs(store, 'discounts')).get(discountKey(3))).toMatchObject({
      code: 'fromApp',
    });

    // complete: the source is no longer written; the coupon follows the promotion (up(down(doc)))
    await setStage(ctx, m!, Stage.complete);
    await yard.refresh();
    expect(yard.stage(SPLIT_ID).stage).toBe(Stage.complete);
    await discounts.put(promotionOf({ ...discountOf(5), code: 'afterComplete', note: 'x' }));
    await discounts.delete(discountKey(6));
    expect((await allDocs(store, 'discounts')).get(discountKey(5))).toMatchObject({
      code: 'save5',
    });
    const after = await allDocs(store, 'coupons');
    expect(after.get(discountKey(5))).toMatchObject({ code: 'AFTERCOMPLETE' });
    expect(after.has(discountKey(6))).toBe(false);
    expect((await allDocs(store, 'promotions')).has(discountKey(6))).toBe(false);
  }, 60_000);
});

describe('a split whose second target has keys of its own', () => {
  it('copies coupons under C#<key>, verifies exact per target, names a tampered coupon by both keys', async () => {
    const file = path.join(dir, 'data.db');
    const store = sqliteAt(file);
    closing.push(store);
    await seedDiscounts(store, 300);
    fs.writeFileSync(
      path.join(dir, 'migrations', `${SPLIT_ID}.js`),
      SPLIT_MIGRATION_FILE.replace(
        'up: (d) => ({ _id: d._id, code: String(d.code)',
        "up: (d) => ({ _id: 'C#' + d._id, code: String(d.code)",
      ).replace(
        "collection: 'coupons',",
        "collection: 'coupons', key: { up: (k) => 'C#' + k, down: (tk) => (tk.startsWith('C#') ? tk.slice(2) : undefined) },",
      ),
    );
    const [m] = await loadMigrations(path.join(dir, 'migrations'));
    const ctx = contextFor(store);
    await setStage(ctx, m!, Stage.dualWrite);
    expect((await backfill(ctx, m!)).outcome).toBe('backfilled');
    const coupons = await allDocs(store, 'coupons');
    expect([...coupons.keys()].sort()).toEqual(
      Array.from({ length: 300 }, (_, i) => `C#${discountKey(i)}`),
    );
    const couponAt = (i: number) => ({ ...couponOf(discountOf(i)), _id: `C#${discountKey(i)}` });
    expect(coupons.get(`C#${discountKey(5)}`)).toEqual(couponAt(5));
    expect((await allDocs(store, 'promotions')).has(discountKey(5))).toBe(true);
    const ok = await verifySideBySide(ctx, m!, { rechecks: 0 });
    expect(ok).toMatchObject({ ok: true, compared: 600, matched: 600 });

    await store
      .collection('coupons')
      .write([{ type: 'put', key: `C#${discountKey(9)}`, doc: { ...couponAt(9), code: 'X' } }]);
    const drift = await verifySideBySide(ctx, m!, { rechecks: 0 });
    expect(drift).toMatchObject({ ok: false, mismatched: 1 });
    expect(drift.samples.mismatched.map((s) => s.key)).toEqual([
      `coupons: ${discountKey(9)} -> C#${discountKey(9)}`,
    ]);
    expect(drift.targets![0]).toMatchObject({ ok: true, mismatched: 0 });
  }, 60_000);
});
