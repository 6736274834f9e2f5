/**
 * A split side by side (issue 16 item 3) as real CLI processes, on SQLite and a real
 * redis-server: plan shows both targets' diffs; at dual-write an application (a child process
 * writing through `connect()`) updates, creates and deletes discounts while `switchyard backfill`
 * is killed with SIGKILL twice and resumed; then both targets hold exactly up(source) of their
 * own, verify passes and names a tampered coupon by target, key and path, and rollback to off +
 * drop-target removes both targets, leaving the source export byte-identical.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { canonicalString } from '../../src/core/values.js';
import { openStore } from '../../src/store/open-store.js';
import { NO_REDIS_REASON, redisOrFailInCi, useRedisServer } from '../support/redis-server.js';
import { allDocs, tempDir } from './backfill-fixtures.js';
import { appWriterScript, startAppWriter } from '../support/app-writer.js';
import { projectCli } from '../support/project-cli.js';
import {
  couponOf,
  promotionOf,
  seedDiscounts,
  SPLIT_ID,
  SPLIT_MIGRATION_FILE,
} from './split-fixtures.js';

const N = 3000;
const hasRedis = redisOrFailInCi();
const redis = useRedisServer(hasRedis);

/** The application: updates, creations and deletes through the runtime until SIGTERM. */
const WRITER = appWriterScript({
  imports: ['connect'],
  setup: `const [url, migrations, n] = process.argv.slice(2);
const yard = await connect({ store: url, migrationsDir: migrations, refreshMs: 200 });
const discounts = yard.collection('discounts');
process.stdout.write('ready ' + yard.stage('${SPLIT_ID}').stage + '\\n');
const id = (i) => 'd' + String(i).padStart(6, '0');`,
  step: `  const i = Math.floor(Math.random() * Number(n));
  const r = Math.random();
  if (r < 0.6) await discounts.put({ _id: id(i), code: 'upd' + seq, percent: seq % 90, until: '2028-01-01', note: 'app-' + seq });
  else if (r < 0.8) await discounts.put({ _id: 'n' + String(seq).padStart(6, '0'), code: 'new' + seq, percent: 5, until: '2028-02-02', note: 'created' });
  else await discounts.delete(id(i));`,
  close: 'yard.close()',
});

let dir: string;
beforeEach(() => {
  dir = tempDir('sy-split-');
  fs.mkdirSync(path.join(dir, 'migrations'));
  fs.writeFileSync(path.join(dir, 'migrations', `${SPLIT_ID}.js`), SPLIT_MIGRATION_FILE);
  fs.writeFileSync(path.join(dir, 'writer.mjs'), WRITER);
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const { sy, exportOf, killMidway } = projectCli(() => dir);

const stores: [string, () => string, boolean][] = [
  ['sqlite', () => `sqlite:${path.join(dir, 'data.db')}`, true],
  ['redis', () => `${redis().url}/0?prefix=sp${Date.now()}:`, hasRedis],
];

describe('a split side by side as processes', () => {
  for (const [name, urlOf, available] of stores) {
    it.skipIf(!available)(
      `${name}${available ? '' : ` (skipped: ${NO_REDIS_REASON})`}: plan, kill -9 twice with the application writing, verify per target, drop both targets`,
      async () => {
        const url = urlOf();
        const store = await openStore(url);
        try {
          await seedDiscounts(store, N);
          const p = sy(url, 'plan', SPLIT_ID, '--sample', '20', '--show', '1');
          expect(p.code, p.err).toBe(0);
          expect(p.out).toContain('split of discounts into promotions, coupons');
          expect(p.out).toMatch(/plan \S+: discounts -> promotions v1 -> v2/);
          expect(p.out).toMatch(/plan \S+: discounts -> coupons v1 -> v2/);
          expect(p.out).toMatch(/\+ \/promotion: "d\d+"/);
          expect(p.out).toMatch(/\+ \/kind: "promotion"/);

          const st = sy(url, 'stage', SPLIT_ID, 'dual-write');
          expect(st.code, st.err).toBe(0);
          const writer = startAppWriter(dir, path.join(dir, 'writer.mjs'), [
            url,
            path.join(dir, 'migrations'),
            String(N),
          ]);
          await writer.ready('dual-write');

          const coupons = async () => (await allDocs(store, 'coupons')).size;
          for (let kill = 0; kill < 2; kill++) {
            const before = await coupons();
            await killMidway(
              url,
              ['backfill', SPLIT_ID, '--rate', '1500', '--batch-size', '100'],
              async () => (await coupons()) > before + 50,
              { polls: 400, settleMs: 200 },
            );
          }
          const killed = await allDocs(store, 'promotions');
          expect(killed.size).toBeGreaterThan(0);
          expect(killed.size).toBeLessThan(N); // really interrupted
          const done = sy(url, 'backfill', SPLIT_ID, '--batch-size', '200');
          expect(done.code, done.out + done.err).toBe(0);
          expect(done.out + done.err).toContain('promotions and coupons');
          await writer.stop();

          // each target holds exactly its own up() of every source document, and nothing else
          const source = await allDocs(store, 'discounts');
          const promotions = await allDocs(store, 'promotions');
          const coupon = await allDocs(store, 'coupons');
          expect([...promotions.keys()].sort()).toEqual([...source.keys()].sort());
          expect([...coupon.keys()].sort()).toEqual([...source.keys()].sort());
          const wrong: string[] = [];
          for (const [k, d] of source) {
            if (canonicalString(promotions.get(k)!) !== canonicalString(promotionOf(d)))
              wrong.push(`promotions ${k}`);
            if (canonicalString(coupon.get(k)!) !== canonicalString(couponOf(d)))
              wrong.push(`coupons ${k}`);
          }
          expect(wrong).toEqual([]);
          expect([...source.values()].some((d) => String(d.note).startsWith('app-'))).toBe(true);

          const v = sy(url, 'verify', SPLIT_ID, '--json');
          expect(v.code, v.out + v.err).toBe(0);
          const report = JSON.parse(v.out);
          expect(report).toMatchObject({ ok: true, mismatched: 0, missing: 0, extra: 0 });
          expect(
            report.targets.map((t: { target: { collection: string } }) => t.target.collection),
          ).toEqual(['promotions', 'coupons']);
          for (const t of report.targets)
            expect(t).toMatchObject({
              ok: true,
              compared: source.size,
              matched: source.size,
              targetDocs: source.size,
            });

          // a coupon changed behind Switchyard's back: named by target, key and path
          const victim = [...source.keys()].sort()[Math.floor(source.size / 2)]!;
          const cur = await store.collection('coupons').get(victim);
          await store
            .collection('coupons')
            .write([{ type: 'put', key: victim, doc: { ...cur!.doc, code: 'TAMPERED' } }]);
          const drift = sy(url, 'verify', SPLIT_ID, '--rechecks', '1');
          expect(drift.code, drift.out + drift.err).toBe(1);
          expect(drift.out).toMatch(/DRIFT FOUND/);
          const [, couponPart] = drift.out.split(
            /(?=verify \S+ \(side by side, stage dual-write: discounts -> coupons)/,
          );
          expect(drift.out).toMatch(/discounts -> promotions .*: OK/);
          expect(couponPart).toMatch(/^verify .*: DRIFT FOUND/);
          expect(couponPart).toContain(`${victim}: differs from up(source)`);
          // the application may have rewritten the victim's code, so expect whatever it held
          expect(couponPart).toContain(
            `/code: expected ${JSON.stringify(cur!.doc.code)}, found "TAMPERED"`,
          );
          const json = JSON.parse(sy(url, 'verify', SPLIT_ID, '--rechecks', '1', '--json').out);
          expect(json.paths).toEqual({ 'coupons: code': 1 });
          expect(json.samples.mismatched.map((m: { key: string }) => m.key)).toEqual([
            `coupons: ${victim}`,
          ]);
          await store.collection('coupons').write([{ type: 'put', key: victim, doc: cur!.doc }]);

          // rollback to off, then drop-target: both targets gone, the source untouched
          const before = exportOf(url, 'discounts');
          const rb = sy(url, 'rollback', SPLIT_ID, '--reason', 'test');
          expect(rb.code, rb.out + rb.err).toBe(0);
          const st2 = sy(url, 'stage', SPLIT_ID, 'off');
          expect([0, 1, 2]).toContain(st2.code);
          const dt = sy(url, 'drop-target', SPLIT_ID, '--yes', '--json');
          expect(dt.code, dt.out + dt.err).toBe(0);
          expect(JSON.parse(dt.out)).toMatchObject({
            collection: 'promotions',
            targets: [
              { collection: 'promotions', documents: source.size },
              { collection: 'coupons', documents: source.size },
            ],
          });
          const left = sy(url, 'collections');
          expect(left.code, left.err).toBe(0);
          expect(left.out).toMatch(/\bdiscounts\b/);
          expect(left.out).not.toMatch(/\b(promotions|coupons)\b/);
          expect(exportOf(url, 'discounts')).toBe(before);
        } finally {
          await store.close();
        }
      },
      300_000,
    );
  }
});
