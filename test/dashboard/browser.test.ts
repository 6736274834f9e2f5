/**
 * The dashboard in a real browser (playwright-core driving Debian's chromium), against real
 * processes: 200,000 generated users in an SQLite file, `switchyard backfill` running as a child
 * process at a low rate, `switchyard dashboard` as another. The page must show the migration,
 * its progress advancing and its ETA; Pause (confirmed, with a reason) must stop the backfill —
 * the partitions' checkpointed counts stop moving, the catalog and the audit log say paused, by
 * the dashboard — and Resume must start it again. Screenshots go to test-results/ (CI keeps them).
 */
import fs from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { keyOfDoc } from '../../src/core/keys.js';
import { generateUsers } from '../../src/demo/generate-users.js';
import { AuditLog } from '../../src/state/audit-log.js';
import { Catalog } from '../../src/state/catalog.js';
import { Partitions } from '../../src/state/partitions.js';
import type { WriteOp } from '../../src/store/contract.js';
import { SqliteStore } from '../../src/store/sqlite/sqlite-adapter.js';
import {
  ensurePageBuilt,
  root,
  sleep,
  spawnCli,
  SPLIT_MIGRATION,
  tempDir,
  waitFor,
  writeMigrations,
  type CliChild,
} from './dashboard-fixtures.js';

const CHROMIUM = process.env.SWITCHYARD_CHROMIUM ?? '/usr/bin/chromium';
const hasChromium = fs.existsSync(CHROMIUM);
const DOCS = 200_000;
const ID = '20261120-split-name';
const RESULTS = path.join(root, 'test-results');

let dir: string;
let db: string;
let state: SqliteStore;
let backfill: CliChild | undefined;
let dashboard: CliChild | undefined;
let browser: Browser | undefined;
let page: Page;
let url: string;
const problems: string[] = [];

/** documents read so far, from the partitions' checkpoints (what the workers committed) */
async function scanned(): Promise<number> {
  const parts = await new Partitions(state).list(ID);
  return parts.reduce((n, p) => n + p.counts.scanned, 0);
}

async function shownDone(): Promise<number> {
  const text = (await page.getByTestId('progress-done').textContent()) ?? '';
  return Number(text.replace(/,/g, ''));
}

/** the labels of the chart's time axis, as uPlot last drew them */
async function xLabels(): Promise<string[]> {
  const labels = (await page.getByTestId('rate-chart').getAttribute('data-x-labels')) ?? '';
  return labels.split('|').filter((l) => l !== '');
}

async function confirmControl(button: string, reason: string): Promise<void> {
  await page.getByTestId(`btn-${button}`).click();
  const dialog = page.getByTestId('confirm-dialog');
  await dialog.waitFor({ state: 'visible' });
  // Confirm stays disabled until there is a reason
  expect(await page.getByTestId('confirm-ok').isDisabled()).toBe(true);
  await page.getByTestId('confirm-reason').fill(reason);
  await page.getByTestId('confirm-ok').click();
  await dialog.waitFor({ state: 'detached', timeout: 15_000 });
}

describe.skipIf(!hasChromium)(
  `the dashboard in chromium (${hasChromium ? CHROMIUM : `no chromium at ${CHROMIUM}: apt-get install chromium, or set SWITCHYARD_CHROMIUM`})`,
  () => {
    beforeAll(async () => {
      await ensurePageBuilt();
      dir = tempDir('sy-dash-browser-');
      db = path.join(dir, 'data.db');
      const migrations = writeMigrations(dir, { [`${ID}.mjs`]: SPLIT_MIGRATION });
      state = new SqliteStore(db, `sqlite:${db}`);
      const users = state.collection('users');
      let ops: WriteOp[] = [];
      for (const doc of generateUsers(DOCS)) {
        ops.push({ type: 'put', key: keyOfDoc(doc), doc });
        if (ops.length === 5000) {
          await users.write(ops);
          ops = [];
        }
      }
      if (ops.length > 0) await users.write(ops);
      expect(await users.count()).toBe(DOCS);

      const project = ['--store', `sqlite:${db}`, '--migrations', migrations];
      // ~2,000 docs/s: the 200,000 would take 100 s, far longer than this test
      backfill = spawnCli(
        [...project, '--json', 'backfill', 'split-name', '--rate', '2000', '--batch-size', '200'],
        dir,
      );
      await backfill.waitForJson('the backfill to report progress', (v) => v.event === 'progress');
      dashboard = spawnCli([...project, '--json', 'dashboard', '--port', '0'], dir);
      const listening = await dashboard.waitForJson(
        'the dashboard to listen',
        (v) => v.event === 'listening',
      );
      url = String(listening.url);
      expect(url).toMatch(/^http:\/\/127\.0\.0\.1:\d+\/#token=/);

      browser = await chromium.launch({
        executablePath: CHROMIUM,
        args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
      });
      page = await browser.newPage({ viewport: { width: 1440, height: 1600 } });
      page.setDefaultTimeout(20_000);
      const origin = new URL(url).origin;
      page.on('console', (m) => {
        if (m.type() === 'error') problems.push(`console: ${m.text()}`);
      });
      page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
      page.on('request', (r) => {
        if (!r.url().startsWith(origin) && !r.url().startsWith('data:'))
          problems.push(`request to ${r.url()}`);
      });
      fs.mkdirSync(RESULTS, { recursive: true });
    }, 180_000);

    afterAll(async () => {
      await browser?.close();
      await Promise.all([backfill?.kill(), dashboard?.kill()]);
      await state?.close();
      if (dir !== undefined) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('shows the migration, its progress advancing and its ETA', async () => {
      await page.goto(url);
      const row = page.getByTestId(`migration-row-${ID}`);
      await row.waitFor({ state: 'visible' });
      expect(await row.getAttribute('data-status')).toBe('backfilling');
      expect(await row.textContent()).toMatch(/in place.*backfilling.*v1 → v2/);
      // the token left the address bar (it is kept for this tab only)
      expect(page.url()).not.toContain('token');
      await page.getByTestId('progress-done').waitFor();
      expect(await page.getByTestId('progress-total').textContent()).toBe('200,000');
      const first = await shownDone();
      await waitFor('the shown progress to advance', async () => (await shownDone()) > first);
      const eta = await waitFor('an ETA', async () => {
        const t = (await page.getByTestId('eta').textContent()) ?? '';
        return /^\d+(s|m\d\ds|h\d\dm)$/.test(t) ? t : undefined;
      });
      expect(eta).not.toBe('0s');
      // the chart's time axis, seconds after the page opened: no label twice (06:21:07, 06:21:07)
      const ticks = await waitFor('the chart to draw a time axis', async () => {
        const t = await xLabels();
        return t.length > 1 ? t : undefined;
      });
      expect(ticks).toEqual([...new Set(ticks)]);
      expect(await page.getByTestId('partition-row').count()).toBe(16);
      expect(await page.getByTestId('connection').textContent()).toBe('live');
    });

    it('pauses the backfill from the page, and resumes it', async () => {
      await confirmControl('pause', 'dashboard test: pause');
      await waitFor(
        'the page to say paused',
        async () => (await page.getByTestId('detail-status').textContent()) === 'paused',
      );
      expect(await page.getByTestId('toast').last().textContent()).toMatch(/paused/);

      const catalog = new Catalog(state);
      const entry = (await catalog.get(ID))!;
      expect(entry.status).toBe('paused');
      expect(entry.control).toMatchObject({ paused: true, reason: 'dashboard test: pause' });
      expect(String((entry.control as { by: string }).by)).toMatch(/^dashboard:ci@/);
      const [last] = await new AuditLog(state).entries({ limit: 1 });
      expect(last).toMatchObject({
        command: 'pause',
        migration: ID,
        reason: 'dashboard test: pause',
        outcome: 'ok',
      });
      expect(last!.actor).toMatch(/^dashboard:ci@/);

      // stopped: the worker says so, and the committed counts stay the same (each lane first
      // finishes the batch it is in)
      await backfill!.waitForJson('the backfill to say paused', (v) => v.event === 'paused');
      const stopped = await waitFor(
        'the backfill to stop',
        async () => {
          const a = await scanned();
          await sleep(2500);
          const b = await scanned();
          await sleep(2500);
          const c = await scanned();
          return a === b && b === c ? c : undefined;
        },
        40_000,
        0,
      );
      expect(stopped).toBeLessThan(DOCS);
      await sleep(2000);
      expect(await scanned()).toBe(stopped);
      // and the page shows where it stopped, and no ETA
      await waitFor(
        'the page to show the stopped count',
        async () => (await shownDone()) === stopped,
      );
      expect(await page.getByTestId('eta').textContent()).toBe('paused');
      expect(await page.getByTestId('paused-notice').textContent()).toMatch(
        /Paused by dashboard:ci@.*: dashboard test: pause/,
      );
      await page.screenshot({ path: path.join(RESULTS, 'dashboard-paused.png'), fullPage: true });

      await confirmControl('resume', 'dashboard test: resume');
      await waitFor(
        'the page to say backfilling',
        async () => (await page.getByTestId('detail-status').textContent()) === 'backfilling',
      );
      expect((await catalog.get(ID))?.status).toBe('backfilling');
      await waitFor(
        'the backfill to advance again',
        async () => (await scanned()) > stopped + 1000,
      );
      await waitFor('the page to show it advancing', async () => (await shownDone()) > stopped);
      const [resumed] = await new AuditLog(state).entries({ limit: 1 });
      expect(resumed).toMatchObject({ command: 'resume', reason: 'dashboard test: resume' });
      // a few seconds of the chart after the resume, then the picture CI keeps
      await sleep(2000);
      await page.screenshot({ path: path.join(RESULTS, 'dashboard.png'), fullPage: true });
      expect(fs.statSync(path.join(RESULTS, 'dashboard.png')).size).toBeGreaterThan(10_000);
      expect(problems).toEqual([]);
    });

    it('at 1280 px, during the backfill, reads cleanly: nothing that is one word wraps, the chart labels differ, audit parameters are words', async () => {
      await page.setViewportSize({ width: 1280, height: 1600 });
      // a few chart points at 1280 px, with the backfill running (resumed above)
      await sleep(3000);
      await page.screenshot({ path: path.join(RESULTS, 'dashboard-1280.png'), fullPage: true });
      // how many lines each element's text takes, measured in the page
      const lineCounts = (testid: string) =>
        page.getByTestId(testid).evaluateAll((els) =>
          els.map((el) => {
            const range = el.ownerDocument.createRange();
            range.selectNodeContents(el);
            const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
            return { text: el.textContent, lines: tops.size };
          }),
        );
      const numbers = await lineCounts('partition-number');
      expect(numbers.map((n) => n.text)).toEqual(
        Array.from({ length: 16 }, (_, i) => String(i + 1)),
      );
      expect(numbers.filter((n) => n.lines !== 1)).toEqual([]);
      // worker names, in the workers table and as partition owners; actors in the audit log
      for (const testid of ['worker-name', 'partition-owner', 'audit-actor', 'dead-letter-key']) {
        const cells = await lineCounts(testid);
        expect(cells.length, testid).toBeGreaterThan(0);
        expect(
          cells.filter((c) => c.lines !== 1),
          testid,
        ).toEqual([]);
      }
      // nothing sticks out of its card (a table too wide for it)
      const overflowing = await page
        .locator('section.card')
        .evaluateAll((els) =>
          els
            .filter((el) => el.scrollWidth > el.clientWidth + 1)
            .map(
              (el) =>
                `${el.querySelector('h3')?.textContent}: ${el.scrollWidth}px in ${el.clientWidth}px`,
            ),
        );
      expect(overflowing).toEqual([]);
      // and no table cell anywhere breaks a word across lines (hyphens are places to break)
      const broken = await page.locator('td').evaluateAll((cells) => {
        const out: string[] = [];
        for (const cell of cells) {
          const walker = cell.ownerDocument.createTreeWalker(cell, 4 /* NodeFilter.SHOW_TEXT */);
          for (let node = walker.nextNode(); node !== null; node = walker.nextNode()) {
            for (const m of (node.textContent ?? '').matchAll(/[^\s-]+/g)) {
              const range = cell.ownerDocument.createRange();
              range.setStart(node, m.index);
              range.setEnd(node, m.index + m[0].length);
              const tops = new Set([...range.getClientRects()].map((r) => Math.round(r.top)));
              if (tops.size > 1) out.push(m[0]);
            }
          }
        }
        return out;
      });
      expect(broken).toEqual([]);
      // the time axis a minute in: no two labels alike either
      const ticks = await xLabels();
      expect(ticks.length).toBeGreaterThan(1);
      expect(ticks).toEqual([...new Set(ticks)]);
      // audit parameters are words, not JSON
      const params = await page
        .getByTestId('audit-params')
        .evaluateAll((els) => els.map((el) => el.textContent ?? ''));
      expect(params.some((p) => p !== '')).toBe(true);
      expect(params.filter((p) => /[{}"]/.test(p))).toEqual([]);
      expect(problems).toEqual([]);
    });
  },
);
