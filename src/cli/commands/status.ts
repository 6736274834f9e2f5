import { readLastGate } from '../../engine/gates.js';
import { MigrationStatus, type CatalogEntry } from '../../state/catalog.js';
import { formatSeconds, verifySidesText } from '../job-events.js';
import { sideBySideState, type SideBySideState } from '../../engine/stages.js';
import { canaryOf, canaryText, type CanaryState } from '../../engine/canary.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { withProject } from '../open-project.js';

export interface StatusRow {
  id: string;
  collection: string;
  kind: 'in-place' | 'side-by-side';
  from: number;
  to: number;
  status: string;
  /** the file on disk changed since the migration started */
  changed: boolean;
  /** in the catalog, but its file is gone */
  missingFile: boolean;
  file?: string;
  updatedAt?: string;
  progress?: Record<string, unknown>;
  [extra: string]: unknown;
}

export const statusCommand = defineCommand<Record<string, never>>({
  spec: {
    name: 'status',
    summary: 'every migration: version span, status and progress',
    details: [
      'Lists the migration files and what the catalog in the state store knows of each. A migration not run yet is pending.',
      "A canary (backfill --limit/--filter) shows how many documents it migrated of the collection's, and which: `canary, canary: 100 of 20,000 documents migrated (the first 100 documents in scan order)`.",
      'A running backfill shows its progress with the rate (documents per second, a moving average over its workers) and the ETA; when no worker has reported for 30 s, it says so instead of an old rate. The last verify is shown only while it describes the current state: not after a later backfill run, a rollback or a pause.',
    ],
    arguments: [],
    options: [],
    examples: [{ command: 'switchyard status' }, { command: 'switchyard status --json' }],
  },

  async run(ctx: CliContext): Promise<number> {
    const now = Date.now();
    const rows = await withProject(ctx, async (project) => {
      const migrations = await project.migrations();
      const catalog = new Map((await project.catalog.list()).map((e) => [e.id, e]));
      const out: StatusRow[] = migrations.map((m) => {
        const entry = catalog.get(m.id);
        catalog.delete(m.id);
        return {
          id: m.id,
          collection: m.collection,
          kind: m.kind,
          from: m.from,
          to: m.to,
          status: entry?.status ?? 'pending',
          changed: entry !== undefined && entry.checksum !== m.checksum,
          missingFile: false,
          ...(m.file !== undefined ? { file: m.file } : {}),
          ...(entry !== undefined ? extraOf(entry) : {}),
        };
      });
      // side by side: the last gate verdict (advance / cutover --gate)
      for (const row of out) {
        if (row.kind !== 'side-by-side') continue;
        const gate = await readLastGate(project.stateStore, row.id);
        if (gate !== null) row.lastGate = gate;
      }
      for (const entry of catalog.values()) {
        out.push({
          ...extraOf(entry),
          id: entry.id,
          collection: entry.collection,
          kind: entry.kind,
          from: entry.from,
          to: entry.to,
          status: entry.status,
          changed: false,
          missingFile: true,
        });
      }
      return out;
    });
    for (const r of rows) if (r.lastVerify !== undefined) r.lastVerifyCurrent = verifyIsCurrent(r);
    if (ctx.json) {
      ctx.outJson({ migrations: rows });
      return 0;
    }
    if (rows.length === 0) {
      ctx.out('no migrations yet: switchyard create <name> --collection <collection>');
      return 0;
    }
    const table = rows.map((r) => [
      r.id,
      r.collection,
      `v${r.from}->v${r.to}`,
      r.kind,
      r.status +
        (r.stage !== undefined ? `, stage ${stageText(r.stage as SideBySideState)}` : '') +
        (r.canary !== undefined ? `, ${canaryText(r.canary as CanaryState)}` : '') +
        (r.lastVerifyCurrent === true ? verifyText(r.lastVerify) : '') +
        verifyingText(r.verifyProgress, now) +
        gateText(r.lastGate) +
        (r.changed ? ' (file changed!)' : '') +
        (r.missingFile ? ' (file missing)' : ''),
      progressText(r.progress, r.status, now),
    ]);
    printTable(ctx, ['MIGRATION', 'COLLECTION', 'VERSIONS', 'KIND', 'STATUS', 'PROGRESS'], table);
    return 0;
  },
});

function extraOf(entry: CatalogEntry): Partial<StatusRow> {
  return {
    updatedAt: entry.updatedAt,
    ...(entry.progress !== undefined ? { progress: entry.progress } : {}),
    ...(entry.file !== undefined ? { file: entry.file } : {}),
    ...(entry.kind === 'side-by-side' ? { stage: sideBySideState(entry) } : {}),
    ...(entry.lastVerify !== undefined ? { lastVerify: entry.lastVerify } : {}),
    ...(entry.verifyProgress !== undefined ? { verifyProgress: entry.verifyProgress } : {}),
    ...(entry.catchup !== undefined ? { catchup: entry.catchup } : {}),
    // in a canary (a subset migrated, the rest waiting): how many and which (engine/canary.ts)
    ...(canaryOf(entry) !== undefined ? { canary: canaryOf(entry) } : {}),
  };
}

function stageText(s: SideBySideState): string {
  return s.stage === 'live' ? `live ${s.percent}%` : s.stage;
}

/** After this long without a progress report, a backfilling migration has no running worker. */
export const STALE_PROGRESS_MS = 30_000;

/**
 * `1,200/5,000 (24.0%)`, and while a backfill runs `, 2,000 docs/s, ETA 2s` — or, when no worker
 * reported for STALE_PROGRESS_MS, `, no progress for 5m (is a worker running?)`; outside the change
 * windows, `, waiting for a change window (opens 2026-03-27T01:00:00.000Z)`.
 */
export function progressText(
  p: Record<string, unknown> | undefined,
  status?: string,
  now: number = Date.now(),
): string {
  if (p === undefined) return '';
  const n = (v: unknown) => Number(v ?? 0).toLocaleString('en-US');
  const done = Number(p.done ?? 0);
  const total = Number(p.total ?? 0);
  const pct = total > 0 ? ` (${((100 * done) / total).toFixed(1)}%)` : '';
  // capacity units consumed by the (last publishing) backfill process, on DynamoDB
  const cap = p.capacity as { read?: unknown; write?: unknown } | undefined;
  const units = cap !== undefined ? `, ${Number(cap.read)} RCU ${Number(cap.write)} WCU` : '';
  let live = '';
  if (status === MigrationStatus.backfilling) {
    const at = Date.parse(String(p.updatedAt ?? ''));
    const age = Number.isFinite(at) ? now - at : Infinity;
    const eta = typeof p.etaSeconds === 'number' ? formatSeconds(p.etaSeconds) : '?';
    const window = p.window as { open?: unknown; until?: unknown } | undefined;
    live =
      age > STALE_PROGRESS_MS
        ? `, no progress for ${Number.isFinite(age) ? formatSeconds(Math.round(age / 1000)) : 'a while'} (is a worker running?)`
        : window?.open === false
          ? `, waiting for a change window${typeof window.until === 'string' ? ` (opens ${window.until})` : ' (none opens within 8 days)'}`
          : `, ${n(p.rate)} docs/s, ETA ${eta}`;
  }
  const dead = Number(p.deadLetters ?? 0);
  const letters = dead > 0 ? `, ${n(dead)} dead letter${dead === 1 ? '' : 's'}` : '';
  return `${n(done)}/${n(total)}${pct}${units}${letters}${live}`;
}

/**
 * `, verifying: documents 50,000/100,000, journal entries 0/100,000` while a verify's workers
 * report (its two sides apart: the verify walks the documents and the journal), else ''.
 */
function verifyingText(v: unknown, now: number): string {
  if (v === null || typeof v !== 'object') return '';
  const p = v as Record<string, unknown>;
  const at = Date.parse(String(p.updatedAt ?? ''));
  const finished = Number(p.partitionsDone) >= Number(p.partitions);
  if (finished || !Number.isFinite(at) || now - at > STALE_PROGRESS_MS) return '';
  const sides = verifySidesText(p);
  return sides !== undefined ? `, verifying: ${sides}` : '';
}

/**
 * Whether the last verify still describes the migration: its status is one a verify leaves or
 * keeps (backfilled, verified, complete), and no backfill reported progress after it.
 */
function verifyIsCurrent(r: StatusRow): boolean {
  const v = r.lastVerify as { at?: unknown } | undefined;
  if (v === undefined) return false;
  const kept: string[] = [
    MigrationStatus.canary,
    MigrationStatus.backfilled,
    MigrationStatus.verified,
    MigrationStatus.complete,
  ];
  if (!kept.includes(r.status)) return false;
  const verifiedAt = Date.parse(String(v.at ?? ''));
  const progressAt = Date.parse(String(r.progress?.updatedAt ?? ''));
  return !(Number.isFinite(progressAt) && Number.isFinite(verifiedAt) && progressAt > verifiedAt);
}

export function printTable(ctx: CliContext, header: string[], rows: string[][]): void {
  const widths = header.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]) =>
    cells
      .map((c, i) => c.padEnd(widths[i]!))
      .join('  ')
      .trimEnd();
  ctx.out(line(header));
  for (const r of rows) ctx.out(line(r));
}

/** `, last verify ok` or `, last verify: drift (N mismatched)` */
function verifyText(v: unknown): string {
  if (typeof v !== 'object' || v === null) return '';
  const r = v as {
    ok?: unknown;
    mismatched?: unknown;
    missing?: unknown;
    extra?: unknown;
    unreadable?: unknown;
    uniqueCollisions?: unknown;
  };
  if (r.ok === true) return ', last verify ok';
  const n = [r.mismatched, r.missing, r.extra].reduce<number>((a, b) => a + (Number(b) || 0), 0);
  const u = Number(r.unreadable) || 0;
  // stored keys that are no readable document (not JSON, a Redis key of another type)
  const unreadable = u > 0 ? `, ${u} stored key${u === 1 ? '' : 's'} not a readable document` : '';
  const c = Number(r.uniqueCollisions) || 0;
  const shared = c > 0 ? `, ${c} unique value${c === 1 ? '' : 's'} shared` : '';
  return `, last verify: drift (${n} documents differ${unreadable}${shared})`;
}

/** `, last gate passed` / `failed` / `pending` */
function gateText(g: unknown): string {
  if (typeof g !== 'object' || g === null) return '';
  const r = (g as { result?: unknown }).result;
  return typeof r === 'string'
    ? `, last gate ${r === 'pass' ? 'passed' : r === 'fail' ? 'failed' : r}`
    : '';
}
