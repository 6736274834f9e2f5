/**
 * `switchyard demo`: the whole life of a migration on generated data, in one directory, on the
 * embedded default (an SQLite file), with every claim checked as it goes:
 *
 *   1. generate N realistic users (seeded) as NDJSON and import them
 *   2. write switchyard.config.ts and a migration file (split a name, lower-case an email —
 *      lossy —, rename a nested field, with invariants)
 *   3. plan it on a sample
 *   4. backfill it (export the collection first, for step 7)
 *   5. verify --full: clean
 *   6. change a few documents behind Switchyard's back with plain SQL; verify names them
 *   7. roll back, export again and compare with the first export byte for byte: every document
 *      is restored exactly except the ones changed in step 6, kept as conflicts
 *   8. check the audit log's hash chain
 *
 * A check that does not hold stops the demo: the summary says which (ok: false). Narration goes
 * through a `DemoNarrator`, so the CLI prints it and tests can ignore it.
 */
import fs from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { canonicalString, fromStorageJSON, type Value } from '../core/values.js';
import { formatDiff, formatValue } from '../cli/format-value.js';
import { formatProgress } from '../cli/commands/backfill.js';
import { formatSeconds } from '../cli/job-events.js';
import { backfill, type BackfillResult } from '../engine/backfill.js';
import { plan } from '../engine/plan.js';
import { rollback, listConflicts } from '../engine/rollback.js';
import { verify, type VerifyReport } from '../engine/verify.js';
import { exportDocuments } from '../io/export-documents.js';
import { importDocuments } from '../io/import-documents.js';
import { Project } from '../project.js';
import type { AuditEntry } from '../state/audit-log.js';
import { openStore } from '../store/open-store.js';
import { compareExports } from './compare-exports.js';
import {
  DEMO_CONFIG,
  DEMO_DB,
  DEMO_MIGRATION_NAME,
  DEMO_USERS_FILE,
  demoMigration,
  prepareDemoDir,
  today,
} from './demo-files.js';
import { DEFAULT_DEMO_SEED, writeUsersFile } from './generate-users.js';

export const DEFAULT_DEMO_DOCS = 100_000;
export const DEFAULT_DEMO_DIR = 'switchyard-demo';
const COLLECTION = 'users';
const PLAN_SAMPLE = 500;

export interface DemoNarrator {
  /** a step begins */
  step(index: number, title: string): void;
  /** one short sentence (or an indented detail line) */
  say(text: string): void;
  /** a live progress line: rewritten in place on a terminal, an occasional line otherwise */
  progress(text: string): void;
  /** the live line is finished */
  progressDone(): void;
}

const SILENT: DemoNarrator = {
  step: () => {},
  say: () => {},
  progress: () => {},
  progressDone: () => {},
};

export interface DemoOptions {
  /** the directory (absolute, or relative to the working directory) */
  dir: string;
  /** how many users (default 100,000) */
  docs?: number;
  seed?: number;
  /** how many documents to change behind Switchyard's back (default 25; at most docs / 4, at least 1) */
  edits?: number;
  actor?: string;
  narrator?: DemoNarrator;
  /** how the directory is named in suggested commands (default: as given) */
  displayDir?: string;
}

export interface DemoStep {
  step: string;
  result: string;
  seconds: number;
}

export interface DemoSummary {
  ok: boolean;
  /** the check that did not hold, when not ok */
  failure?: string;
  dir: string;
  store: string;
  migration: string;
  docs: number;
  seed: number;
  /** a previous demo directory was wiped */
  reusedDir: boolean;
  steps: DemoStep[];
  plan?: {
    sampled: number;
    changed: number;
    failed: number;
    checkFailures: number;
    lossy: string[];
  };
  backfill?: {
    outcome: string;
    migrated: number;
    skipped: number;
    conflicts: number;
    errors: number;
    docsPerSecond: number;
  };
  verifyClean?: { ok: boolean; compared: number; matched: number; mismatched: number };
  edited?: { count: number; keys: string[]; paths: Record<string, string[]> };
  verifyDrift?: {
    ok: boolean;
    compared: number;
    matched: number;
    mismatched: number;
    keys: string[];
    paths: Record<string, number>;
  };
  rollback?: {
    restored: number;
    downcast: number;
    untouched: number;
    conflicts: number;
    conflictKeys: string[];
  };
  comparison?: {
    lines: number;
    identical: number;
    differing: number;
    differingKeys: string[];
    /** restored = N - edited, kept as conflicts = edited, and the kept ones hold the app's edits */
    asExpected: boolean;
  };
  audit?: { ok: boolean; entries: number };
  totalSeconds: number;
}

/** A demo check that did not hold. */
export class DemoCheckError extends Error {}

function check(ok: boolean, what: string): void {
  if (!ok) throw new DemoCheckError(what);
}

const n = (x: number) => x.toLocaleString('en-US');
const sameSet = (a: readonly string[], b: readonly string[]) =>
  a.length === b.length && [...a].sort().join('\n') === [...b].sort().join('\n');
const plural = (count: number, one: string, many = `${one}s`) =>
  `${n(count)} ${count === 1 ? one : many}`;

/** The edits made behind Switchyard's back: one or two fields of each chosen document. */
const EDITS: readonly { sql: string; paths: string[]; what: string }[] = [
  { sql: `json_set(doc, '$.first', 'Mallory')`, paths: ['/first'], what: "first = 'Mallory'" },
  {
    sql: `json_set(doc, '$.address.city', 'Atlantis')`,
    paths: ['/address/city'],
    what: "address.city = 'Atlantis'",
  },
  {
    sql: `json_set(doc, '$.visits', json_extract(doc, '$.visits') + 1000)`,
    paths: ['/visits'],
    what: 'visits + 1000',
  },
  {
    sql: `json_set(doc, '$.plan', 'enterprise-trial', '$.address.street', '1 Infinite Loop')`,
    paths: ['/plan', '/address/street'],
    what: "plan = 'enterprise-trial', address.street = '1 Infinite Loop'",
  },
];

export async function runDemo(options: DemoOptions): Promise<DemoSummary> {
  const started = Date.now();
  const say = options.narrator ?? SILENT;
  const dir = path.resolve(options.dir);
  const shownDir = options.displayDir ?? options.dir;
  const docs = options.docs ?? DEFAULT_DEMO_DOCS;
  const seed = options.seed ?? DEFAULT_DEMO_SEED;
  const editCount = Math.max(1, Math.min(options.edits ?? 25, Math.floor(docs / 4)));
  const id = `${today()}-${DEMO_MIGRATION_NAME}`;
  const dbFile = path.join(dir, DEMO_DB);
  const summary: DemoSummary = {
    ok: true,
    dir,
    store: `sqlite:${dbFile}`,
    migration: id,
    docs,
    seed,
    reusedDir: false,
    steps: [],
    totalSeconds: 0,
  };
  let current: DemoStep | undefined;
  const step = async (index: number, title: string, fn: () => Promise<string>) => {
    say.step(index, title);
    const t0 = Date.now();
    current = { step: `${index}. ${title}`, result: '', seconds: 0 };
    summary.steps.push(current);
    try {
      current.result = await fn();
    } finally {
      say.progressDone();
      current.seconds = Math.round((Date.now() - t0) / 100) / 10;
    }
  };
  /** progress lines at most every 250 ms, with a final one */
  const ticker = (label: string) => {
    let last = 0;
    return (text: string, force = false) => {
      const now = Date.now();
      if (!force && now - last < 250) return;
      last = now;
      say.progress(`${label} ${text}`);
    };
  };

  let project: Project | undefined;
  try {
    // 1 -------------------------------------------------------------------------------------
    await step(1, `generate and import ${n(docs)} users`, async () => {
      summary.reusedDir = prepareDemoDir(dir).reused;
      if (summary.reusedDir)
        say.say(`${shownDir} is a previous demo's directory: wiped it and started again.`);
      const usersFile = path.join(dir, DEMO_USERS_FILE);
      const t0 = Date.now();
      await writeUsersFile(usersFile, docs, seed);
      const mb = fs.statSync(usersFile).size / 1e6;
      say.say(
        `Generated ${plural(docs, 'user')} (seed ${seed}) in ${secs(t0)}: ObjectId ids, names (a few single names, a few with middle names), mixed-case emails, addresses, signup dates, visits, plans, tags.`,
      );
      say.say(`Wrote them as Extended JSON lines to ${DEMO_USERS_FILE} (${mb.toFixed(1)} MB).`);
      const store = await openStore(`sqlite:${dbFile}`);
      try {
        const tick = ticker('import');
        const imported = await importDocuments(store.collection(COLLECTION), usersFile, {
          fileName: DEMO_USERS_FILE,
          onProgress: (p) =>
            tick(
              p.phase === 'validate'
                ? `checking ${n(p.read)} records`
                : `${n(p.written)}/${n(p.total ?? docs)}`,
            ),
        });
        check(
          imported.imported === docs,
          `imported ${imported.imported} documents, expected ${docs}`,
        );
        say.say(
          `Imported them into the collection '${COLLECTION}' of ${DEMO_DB}, an SQLite file (the embedded default), in ${formatMs(imported.durationMs)}.`,
        );
      } finally {
        await store.close();
      }
      return `${n(docs)} users imported`;
    });

    // 2 -------------------------------------------------------------------------------------
    let migrationFile = '';
    await step(2, 'write the config and a migration', async () => {
      fs.writeFileSync(path.join(dir, 'switchyard.config.ts'), DEMO_CONFIG);
      fs.mkdirSync(path.join(dir, 'migrations'));
      migrationFile = path.join('migrations', `${id}.ts`);
      fs.writeFileSync(path.join(dir, migrationFile), demoMigration(id));
      say.say(`Wrote switchyard.config.ts (store: sqlite:./${DEMO_DB}) and ${migrationFile}:`);
      say.say(
        `  splitField('name', ['first', 'last'], ' ')   'Mary Ann Smith' -> Mary / Ann Smith`,
      );
      say.say(`  lowercase('email')                          lossy: the letter case is lost`);
      say.say(`  renameField('address.zip', 'address.postalCode')`);
      say.say(`  with invariants: first is not empty, email is lower-case, postalCode exists.`);
      project = await Project.open({
        cwd: dir,
        ...(options.actor !== undefined ? { actor: options.actor } : {}),
      });
      const m = await project.migration(id);
      check(m.lossy.length === 1, `expected one lossy step, found ${m.lossy.length}`);
      return 'config + migration written';
    });
    const p = project!;
    const migration = await p.migration(id);
    const ctx = {
      store: p.store,
      stateStore: p.stateStore,
      catalog: p.catalog,
      audit: p.audit,
      actor: p.actor,
    };
    const users = p.store.collection(COLLECTION);

    // 3 -------------------------------------------------------------------------------------
    await step(3, `plan on a sample of ${PLAN_SAMPLE}`, async () => {
      const r = await plan(p.store, migration, { sample: PLAN_SAMPLE, seed: 1, show: PLAN_SAMPLE });
      summary.plan = {
        sampled: r.sampled,
        changed: r.changed,
        failed: r.failed,
        checkFailures: r.checkFailures,
        lossy: r.lossy.map((l) => `${l.step}: ${l.reason}`),
      };
      say.say(
        `A dry run on ${n(r.sampled)} of ${n(r.total)} documents: ${n(r.changed)} would change, ${n(r.failed)} would fail, ${n(r.checkFailures)} would break an invariant. Nothing was written.`,
      );
      for (const l of r.lossy)
        say.say(
          `Lossy step: ${l.step} (${l.reason}). So the backfill journals every before-image, and rollback restores from the journal.`,
        );
      // show a name with a middle name: the rest goes to `last`
      const example =
        r.documents.find((d) =>
          d.diff?.some((e) => e.path === '/last' && String(e.after).includes(' ')),
        ) ?? r.documents.find((d) => d.status === 'changed');
      if (example?.diff !== undefined) {
        say.say(`For example, ${example.key}:`);
        for (const line of formatDiff(example.diff, '  ')) say.say(line);
      }
      check(r.failed === 0 && r.checkFailures === 0, `plan: ${r.failed} documents fail`);
      check(r.changed === r.sampled, `plan: only ${r.changed} of ${r.sampled} would change`);
      return `${n(r.changed)}/${n(r.sampled)} change, ${r.failed} fail, ${r.lossy.length} lossy step`;
    });

    // 4 -------------------------------------------------------------------------------------
    const beforeFile = path.join(dir, 'export-before.ndjson');
    await step(4, 'backfill', async () => {
      await exportTo(users, beforeFile);
      say.say(
        `First, an export of the collection as it is now (export-before.ndjson), to compare with at the end.`,
      );
      say.say(
        `Backfill: 16 partitions, 2 at a time; each batch journals its before-images, then writes every document conditional on the revision it read.`,
      );
      const tick = ticker('backfill');
      const t0 = Date.now();
      const result: BackfillResult = await backfill(ctx, migration, {
        batchSize: 1000,
        concurrency: 2,
        partitions: 16,
        progressIntervalMs: 500,
        reason: 'switchyard demo',
        onEvent: (e) => {
          if (e.type === 'progress') tick(formatProgress(e.progress), true);
        },
      });
      const pr = result.progress;
      const seconds = (Date.now() - t0) / 1000;
      const rate = Math.round(pr.migrated / Math.max(seconds, 0.001));
      summary.backfill = {
        outcome: result.outcome,
        migrated: pr.migrated,
        skipped: pr.skipped,
        conflicts: pr.conflicts,
        errors: pr.errors,
        docsPerSecond: rate,
      };
      say.progressDone();
      say.say(
        `${result.outcome}: ${n(pr.migrated)} documents migrated in ${seconds.toFixed(1)}s (${n(rate)}/s), ${n(pr.skipped)} skipped, ${n(pr.conflicts)} conflicts, ${n(pr.errors)} errors.`,
      );
      check(result.outcome === 'backfilled', `backfill ended ${result.outcome}: ${result.message}`);
      check(pr.migrated === docs, `backfill migrated ${pr.migrated} of ${docs}`);
      return `${n(pr.migrated)} migrated, ${n(rate)}/s`;
    });

    // 5 -------------------------------------------------------------------------------------
    await step(5, 'verify --full', async () => {
      const r = await verify(ctx, migration, {
        onProgress: progressOf(ticker('verify')),
      });
      summary.verifyClean = {
        ok: r.ok,
        compared: r.compared,
        matched: r.matched,
        mismatched: r.mismatched,
      };
      say.progressDone();
      say.say(
        `Compared all ${n(r.compared)} documents with what the migration should have written: ${r.ok ? 'every one matches' : 'DRIFT'}; none at the old version, no invariant broken. The migration is now verified.`,
      );
      check(r.ok && r.matched === docs, `verify is not clean: ${r.mismatched} mismatched`);
      return `clean: ${n(r.matched)}/${n(r.compared)} match`;
    });

    // 6 -------------------------------------------------------------------------------------
    const edited = new Map<string, { paths: string[]; text: string }>();
    await step(6, `change ${editCount} documents behind Switchyard's back`, async () => {
      say.say(
        `Now someone changes ${plural(editCount, 'document')} with plain SQL, through their own connection to ${DEMO_DB}:`,
      );
      const db = new Database(dbFile);
      try {
        const keyAt = db.prepare(`SELECT k FROM users ORDER BY k LIMIT 1 OFFSET ?`).pluck();
        const read = db.prepare(`SELECT doc FROM users WHERE k = ?`).pluck();
        const keys: string[] = [];
        for (let j = 0; j < editCount; j++)
          keys.push(keyAt.get(Math.floor(((j + 0.5) * docs) / editCount)) as string);
        db.transaction(() => {
          keys.forEach((k, j) => {
            const e = EDITS[j % EDITS.length]!;
            db.prepare(`UPDATE users SET doc = ${e.sql} WHERE k = ?`).run(k);
            edited.set(k, { paths: e.paths, text: read.get(k) as string });
          });
        })();
        for (const e of EDITS)
          say.say(`  UPDATE users SET doc = ${e.sql} WHERE k = '...'   (${e.what})`);
      } finally {
        db.close();
      }
      summary.edited = {
        count: edited.size,
        keys: [...edited.keys()],
        paths: Object.fromEntries([...edited].map(([k, v]) => [k, v.paths])),
      };
      const r: VerifyReport = await verify(ctx, migration, {
        maxSamples: Math.max(editCount, 10),
        onProgress: progressOf(ticker('verify')),
      });
      fs.writeFileSync(path.join(dir, 'verify-drift.json'), `${JSON.stringify(r, null, 2)}\n`);
      const found = r.samples.mismatched.map((m) => m.key);
      summary.verifyDrift = {
        ok: r.ok,
        compared: r.compared,
        matched: r.matched,
        mismatched: r.mismatched,
        keys: found,
        paths: r.paths,
      };
      say.progressDone();
      say.say(
        `Verify again: ${r.ok ? 'clean (?!)' : 'DRIFT'}. ${n(r.mismatched)} documents differ from what the migration wrote, ${n(r.matched)} match. It names each key and path (first 3 shown; all in verify-drift.json):`,
      );
      for (const m of r.samples.mismatched.slice(0, 3))
        for (const d of m.diffs)
          say.say(
            `  ${m.key} ${d.path}: expected ${formatValue(d.expected)}, found ${formatValue(d.actual)}`,
          );
      say.say(
        `Mismatches by path: ${Object.entries(r.paths)
          .map(([f, c]) => `${f} (${c})`)
          .join(', ')}.`,
      );
      const pathsRight = r.samples.mismatched.every(
        (m) =>
          sameSet(
            m.diffs.map((d) => d.path),
            edited.get(m.key)?.paths ?? [],
          ) && m.diffs.every((d) => d.expected !== undefined && d.actual !== undefined),
      );
      check(
        !r.ok && r.mismatched === editCount && r.matched === docs - editCount,
        `verify found ${r.mismatched} mismatched documents, expected ${editCount}`,
      );
      check(sameSet(found, [...edited.keys()]), 'verify did not name exactly the edited keys');
      check(pathsRight, 'verify did not name exactly the edited paths');
      say.say(`Exactly the ${plural(editCount, 'edited key')} and their paths; nothing else.`);
      return `drift: ${n(r.mismatched)} keys found, exactly the edited ones`;
    });

    // 7 -------------------------------------------------------------------------------------
    await step(7, 'roll back, compare with the first export', async () => {
      say.say(
        `Rollback: a document still as the migration wrote it gets its exact before-image from the journal; one changed since keeps the application's data and is reported as a conflict (the migration is lossy, so there is no exact down()).`,
      );
      const tick = ticker('rollback');
      const r = await rollback(ctx, migration, {
        reason: `switchyard demo: ${editCount} documents changed by hand`,
        batchSize: 1000,
        onProgress: (x) =>
          tick(
            `${n(x.done)}/${n(x.total)} ${n(x.rate)}/s | restored ${n(x.restored)} conflicts ${n(x.conflicts)}`,
          ),
      });
      const conflictKeys = (await listConflicts(p.stateStore, id, Math.max(editCount, 1) * 2)).map(
        (c) => c.key,
      );
      summary.rollback = {
        restored: r.restored,
        downcast: r.downcast,
        untouched: r.untouched,
        conflicts: r.conflicts,
        conflictKeys,
      };
      say.progressDone();
      say.say(
        `${r.outcome}: ${n(r.restored)} restored exactly, ${n(r.conflicts)} conflicts kept, ${n(r.downcast)} turned back with down(), ${n(r.untouched)} untouched.`,
      );
      const afterFile = path.join(dir, 'export-after.ndjson');
      await exportTo(users, afterFile);
      const cmp = await compareExports(path.join(dir, 'export-before.ndjson'), afterFile);
      // the documents kept must hold exactly the application's edits
      const keptNow = await users.getMany([...edited.keys()]);
      const keptRight = keptNow.every(
        (s, i) =>
          s !== null &&
          canonicalString(s.doc) ===
            canonicalString(fromStorageJSON([...edited.values()][i]!.text) as Value),
      );
      const asExpected =
        cmp.before === docs &&
        cmp.after === docs &&
        cmp.identical === docs - editCount &&
        sameSet(cmp.differingKeys, [...edited.keys()]) &&
        keptRight;
      summary.comparison = {
        lines: cmp.after,
        identical: cmp.identical,
        differing: cmp.differingKeys.length,
        differingKeys: cmp.differingKeys,
        asExpected,
      };
      say.say(
        `Exported again (export-after.ndjson) and compared it with export-before.ndjson, line by line: ${n(cmp.identical)} of ${n(cmp.before)} documents are identical byte for byte; ${plural(cmp.differingKeys.length, 'differs', 'differ')} — exactly the ${editCount} edited in step 6, still holding the application's edits.`,
      );
      check(
        r.restored === docs - editCount && r.conflicts === editCount && r.downcast === 0,
        `rollback restored ${r.restored} (expected ${docs - editCount}) and kept ${r.conflicts} conflicts (expected ${editCount})`,
      );
      check(sameSet(conflictKeys, [...edited.keys()]), 'the conflicts are not the edited keys');
      check(
        asExpected,
        `the export after the rollback differs from the one before in ${cmp.differingKeys.length} documents (${cmp.identical} identical of ${cmp.before}/${cmp.after} lines); expected exactly the ${editCount} edited`,
      );
      return `${n(r.restored)} restored exactly, ${n(r.conflicts)} kept as conflicts`;
    });

    // 8 -------------------------------------------------------------------------------------
    await step(8, 'check the audit log', async () => {
      const res = await p.audit.verify();
      summary.audit = { ok: res.ok, entries: res.entries };
      say.say(
        `${plural(res.entries, 'entry', 'entries')}, hash-chained; audit --verify: ${res.ok ? 'OK, the chain is intact' : `BROKEN at entry ${res.firstBad?.seq}`}. The last ones:`,
      );
      for (const e of await p.audit.entries({ limit: 6 })) say.say(`  ${auditLine(e)}`);
      check(res.ok, 'the audit log hash chain is broken');
      return `${res.entries} entries, chain intact`;
    });
  } catch (err) {
    if (!(err instanceof DemoCheckError)) throw err;
    summary.ok = false;
    summary.failure = err.message;
    if (current !== undefined) current.result = `FAILED: ${err.message}`;
  } finally {
    await (project as Project | undefined)?.close();
    summary.totalSeconds = Math.round((Date.now() - started) / 100) / 10;
  }
  return summary;

  function progressOf(tick: (text: string, force?: boolean) => void) {
    return (x: { done: number; total: number; rate: number; etaSeconds: number | null }) =>
      tick(
        `${n(x.done)}/${n(x.total)} ${n(x.rate)}/s ETA ${x.etaSeconds === null ? '?' : formatSeconds(x.etaSeconds)}`,
      );
  }
}

async function exportTo(
  collection: Parameters<typeof exportDocuments>[0],
  file: string,
): Promise<number> {
  const out = fs.createWriteStream(file);
  const count = await exportDocuments(collection, out);
  await new Promise<void>((resolve, reject) => {
    out.once('error', reject);
    out.end(resolve);
  });
  return count;
}

function auditLine(e: AuditEntry): string {
  return `#${e.seq} ${e.at.slice(11, 19)} ${e.actor} ${e.command}${e.migration !== undefined ? ` ${e.migration}` : ''}: ${e.outcome}${e.reason !== undefined ? ` (reason: ${e.reason})` : ''}`;
}

function secs(t0: number): string {
  return formatMs(Date.now() - t0);
}

function formatMs(ms: number): string {
  return `${(ms / 1000).toFixed(1)}s`;
}
