/**
 * The manifest: every change the migrations directory holds, for the people who review and
 * approve changes — what it does, why, whose it is, where it writes, its compatibility and where
 * it stands (status, approvals). Read-only: built from the migration files, the catalog, the audit
 * log and the compatibility check (check-migrations.ts, fed by the registry only: a manifest
 * samples no data; `switchyard check` does).
 */
import type { Migration } from '../migration/migration.js';
import type { CatalogEntry } from '../state/catalog.js';
import type { ApprovalStatus } from '../state/approvals.js';
import { redactUrl } from '../store/store-url.js';
import type { MigrationCheck } from './check-migrations.js';

export interface ManifestEntry {
  readonly id: string;
  readonly file?: string;
  readonly checksum: string;
  readonly collection: string;
  readonly from: number;
  readonly to: number;
  readonly kind: 'in-place' | 'side-by-side';
  readonly description?: string;
  readonly rationale?: string;
  readonly owner?: string;
  readonly author?: string;
  /** where it writes: collection and store URL (password redacted) */
  readonly targets: readonly { readonly collection: string; readonly store: string }[];
  readonly operations: readonly string[];
  readonly customUp: boolean;
  readonly reversible: boolean;
  readonly compatibility: {
    /** false: no schema of `from` was known, so the verdict is the cautious reading only */
    readonly judged: boolean;
    readonly class: MigrationCheck['class'];
    readonly mode: MigrationCheck['mode'];
    readonly ok: boolean;
    readonly errors: readonly string[];
  };
  /** the catalog's status; 'new' when it never ran */
  readonly status: string;
  readonly approvals: { readonly required: number; readonly approvers: readonly string[] };
}

export interface ManifestInput {
  readonly migrations: readonly Migration[];
  /** the data store's URL (targets of in-place migrations and of side-by-side ones without a store) */
  readonly storeUrl: string;
  readonly catalog: ReadonlyMap<string, CatalogEntry>;
  readonly checks: readonly MigrationCheck[];
  readonly approvals: ReadonlyMap<string, ApprovalStatus>;
}

export function buildManifest(input: ManifestInput): ManifestEntry[] {
  return input.migrations.map((m) => {
    const check = input.checks.find((c) => c.migration === m.id);
    const approvals = input.approvals.get(m.id);
    const target =
      m.target === undefined
        ? { collection: m.collection, store: redactUrl(input.storeUrl) }
        : { collection: m.target.collection, store: redactUrl(m.target.store ?? input.storeUrl) };
    return {
      id: m.id,
      ...(m.file !== undefined ? { file: m.file } : {}),
      checksum: m.checksum,
      collection: m.collection,
      from: m.from,
      to: m.to,
      kind: m.kind,
      ...(m.description !== undefined ? { description: m.description } : {}),
      ...(m.rationale !== undefined ? { rationale: m.rationale } : {}),
      ...(m.owner !== undefined ? { owner: m.owner } : {}),
      ...(m.author !== undefined ? { author: m.author } : {}),
      targets: [target],
      operations: m.operations.map((op) => op.describe()),
      customUp: m.hasCustomUp,
      reversible: m.reversible,
      compatibility: {
        judged: check !== undefined && check.base !== 'none',
        class: check?.class ?? 'sideways',
        mode: check?.mode ?? 'NONE',
        ok: check?.ok ?? false,
        errors: (check?.findings ?? []).filter((f) => f.severity === 'error').map((f) => f.message),
      },
      status: input.catalog.get(m.id)?.status ?? 'new',
      approvals: { required: approvals?.required ?? 0, approvers: approvals?.approvers ?? [] },
    };
  });
}
