import { readLastGate } from '../../engine/gates.js';
import type { CatalogEntry } from '../../state/catalog.js';
import { sideBySideState, type SideBySideState } from '../../engine/stages.js';
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
    ],
    arguments: [],
    options: [],
    examples: [{ command: 'switchyard status' }, { command: 'switchyard status --json' }],
  },

  async run(ctx: CliContext): Promise<number> {
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
        verifyText(r.lastVerify) +
        gateText(r.lastGate) +
        (r.changed ? ' (file changed!)' : '') +
        (r.missingFile ? ' (file missing)' : ''),
      progressText(r.progress),
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
    ...(entry.catchup !== undefined ? { catchup: entry.catchup } : {}),
  };
}

function stageText(s: SideBySideState): string {
  return s.stage === 'live' ? `live ${s.percent}%` : s.stage;
}

export function progressText(p: Record<string, unknown> | undefined): string {
  if (p === undefined) return '';
  const done = Number(p.done ?? 0);
  const total = Number(p.total ?? 0);
  const pct = total > 0 ? ` (${((100 * done) / total).toFixed(1)}%)` : '';
  // capacity units consumed by the (last publishing) backfill process, on DynamoDB
  const cap = p.capacity as { read?: unknown; write?: unknown } | undefined;
  const units = cap !== undefined ? `, ${Number(cap.read)} RCU ${Number(cap.write)} WCU` : '';
  return `${done}/${total}${pct}${units}`;
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
  const r = v as { ok?: unknown; mismatched?: unknown; missing?: unknown; extra?: unknown };
  if (r.ok === true) return ', last verify ok';
  const n = [r.mismatched, r.missing, r.extra].reduce<number>((a, b) => a + (Number(b) || 0), 0);
  return `, last verify: drift (${n} documents differ)`;
}

/** `, last gate passed` / `failed` / `pending` */
function gateText(g: unknown): string {
  if (typeof g !== 'object' || g === null) return '';
  const r = (g as { result?: unknown }).result;
  return typeof r === 'string'
    ? `, last gate ${r === 'pass' ? 'passed' : r === 'fail' ? 'failed' : r}`
    : '';
}
