/**
 * `switchyard check`: every migration judged against its collection's compatibility mode,
 * without running it and without writing anything.
 *
 * Per migration (a collection's migrations in chain order):
 *   1. the schema of its `from` version: the registry's (inferred, else predicted, else
 *      declared), else one inferred from sampled documents at `from`, else the one this check
 *      predicted for the previous migration of the chain; with none, the cautious reading
 *      (apply-effects.ts `assumeTouched`);
 *   2. the schema of `to`: predicted from the operations' declared effects; where some of it only
 *      running the code tells (a custom `up()`, `mapValue`), from running `up()` on the sampled
 *      documents, if there are any — otherwise those parts are reported as unknown;
 *   3. the changes between them (compare-schemas.ts), what each breaks, the class, and the
 *      findings that fail the mode (compatibility.ts); transitive modes also compare `to` with
 *      every earlier version whose schema is known.
 */
import type { Doc } from '../core/values.js';
import { DEFAULT_COMPATIBILITY, type CompatibilityMode } from '../migration/compatibility-mode.js';
import type { Migration } from '../migration/migration.js';
import { predictSchema, type EffectWarning, type Provenance } from './apply-effects.js';
import { SchemaSource, type CollectionSchema } from './collection-schema.js';
import { compareSchemas, type SchemaChange } from './compare-schemas.js';
import {
  classify,
  judgeChanges,
  modeRequires,
  violates,
  type ChangeClass,
  type Finding,
} from './compatibility.js';
import { SchemaBuilder } from './infer-schema.js';

/** Where the schema of a migration's `from` version came from. */
export type BaseSource =
  | 'registry:inferred'
  | 'registry:predicted'
  | 'registry:declared'
  | 'schemas file'
  | 'sample'
  | 'chain'
  | 'none';

export interface CheckPolicy {
  readonly compatibility: CompatibilityMode;
  readonly collections: Readonly<
    Record<
      string,
      {
        readonly compatibility?: CompatibilityMode;
        readonly consumers?: Readonly<Record<string, readonly string[]>>;
      }
    >
  >;
}

export interface CheckSources {
  /** a known schema of a collection's version, and where it came from */
  schema(
    collection: string,
    version: number,
  ): Promise<{ schema: CollectionSchema; source: BaseSource } | undefined>;
  /** sampled documents of the collection at a version (empty: none, or no data store) */
  sample(migration: Migration, version: number): Promise<Doc[]>;
}

export interface CheckFinding extends Finding {
  readonly severity: 'error' | 'warning';
  /** the version whose documents or readers it concerns (the `from` version unless transitive) */
  readonly against: number;
}

export interface MigrationCheck {
  readonly migration: string;
  readonly collection: string;
  readonly from: number;
  readonly to: number;
  readonly mode: CompatibilityMode;
  readonly modeFrom: 'migration' | 'collection' | 'config';
  readonly class: ChangeClass;
  readonly base: BaseSource;
  /** how the `to` schema was found */
  readonly judged: 'operations' | 'samples';
  readonly changes: readonly SchemaChange[];
  readonly findings: readonly CheckFinding[];
  /** documents an operation would refuse, seen in the `from` schema */
  readonly warnings: readonly EffectWarning[];
  readonly ok: boolean;
}

export interface CheckReport {
  readonly migrations: readonly MigrationCheck[];
  readonly ok: boolean;
  readonly errors: number;
  readonly warnings: number;
}

export async function checkMigrations(
  migrations: readonly Migration[],
  policy: CheckPolicy,
  sources: CheckSources,
): Promise<CheckReport> {
  const byCollection = new Map<string, Migration[]>();
  for (const m of migrations)
    byCollection.set(m.collection, [...(byCollection.get(m.collection) ?? []), m]);
  const out: MigrationCheck[] = [];
  for (const list of byCollection.values()) {
    const known = new Map<number, CollectionSchema>(); // version -> schema, for chains and transitive modes
    for (const m of [...list].sort((a, b) => a.from - b.from)) {
      out.push(await checkOne(m, policy, sources, known));
    }
  }
  return summarize(out);
}

/** A report of these checks: errors and warnings counted. */
export function summarize(migrations: readonly MigrationCheck[]): CheckReport {
  const all = migrations.flatMap((c) => c.findings);
  const errors = all.filter((f) => f.severity === 'error').length;
  return {
    migrations,
    ok: errors === 0,
    errors,
    warnings: all.length - errors + migrations.reduce((n, c) => n + c.warnings.length, 0),
  };
}

async function checkOne(
  m: Migration,
  policy: CheckPolicy,
  sources: CheckSources,
  known: Map<number, CollectionSchema>,
): Promise<MigrationCheck> {
  const collectionPolicy = policy.collections[m.collection] ?? {};
  const mode =
    m.compatibility ??
    collectionPolicy.compatibility ??
    policy.compatibility ??
    DEFAULT_COMPATIBILITY;
  const modeFrom =
    m.compatibility !== undefined
      ? 'migration'
      : collectionPolicy.compatibility !== undefined
        ? 'collection'
        : 'config';

  // 1. the `from` schema
  let base: CollectionSchema | undefined;
  let baseSource: BaseSource = 'none';
  const recorded = await sources.schema(m.collection, m.from);
  let samples: Doc[] | undefined;
  const sampled = async (): Promise<Doc[]> => (samples ??= await sources.sample(m, m.from));
  if (recorded !== undefined) {
    base = recorded.schema;
    baseSource = recorded.source;
  } else if ((await sampled()).length > 0) {
    base = build(m, await sampled(), m.from);
    baseSource = 'sample';
  } else if (known.has(m.from)) {
    base = known.get(m.from)!;
    baseSource = 'chain';
  }
  const assumeTouched = base === undefined;
  base ??= { collection: m.collection, version: m.from, source: SchemaSource.declared, paths: [] };
  known.set(m.from, base);

  // 2. the `to` schema
  const prediction = predictSchema(base, m.operations, m.to, { assumeTouched });
  let before: CollectionSchema = prediction.base;
  let after: CollectionSchema = prediction.schema;
  let provenance: ReadonlyMap<string, Provenance> = prediction.provenance;
  let judged: MigrationCheck['judged'] = 'operations';
  const unknownParts = m.hasCustomUp || prediction.opaque;
  if (unknownParts && (await sampled()).length > 0) {
    const docs = await sampled();
    const outputs: Doc[] = [];
    for (const d of docs) {
      try {
        outputs.push(m.up(d));
      } catch {
        // plan reports documents up() refuses
      }
    }
    before = build(m, docs, m.from);
    after = { ...build(m, outputs, m.to), source: SchemaSource.predicted };
    // keep the operations' intent (renames, defaults) but not their guesses about opaque paths
    provenance = new Map([...prediction.provenance].map(([p, v]) => [p, { ...v, opaque: false }]));
    judged = 'samples';
  }
  known.set(m.to, after);

  // 3. judge
  const ctx = {
    from: m.from,
    to: m.to,
    aliases: m.aliases,
    ...(collectionPolicy.consumers !== undefined ? { consumers: collectionPolicy.consumers } : {}),
  };
  const changes = compareSchemas(before, after, provenance);
  const findings: Finding[] = judgeChanges(changes, ctx);
  if (m.hasCustomUp && judged === 'operations')
    findings.push({
      path: '(document)',
      breaks: [],
      unknown: true,
      message: `a custom up() changes documents in ways only running it tells, and there are no documents at v${m.from} to run it on: check where the data store is reachable`,
    });
  const checked: CheckFinding[] = findings.map((f) => ({
    ...f,
    against: m.from,
    severity: violates(f, mode) ? 'error' : 'warning',
  }));
  const { transitive, directions } = modeRequires(mode);
  if (transitive) {
    for (const [v, schema] of [...known].sort(([a], [b]) => a - b)) {
      if (v >= m.from) continue;
      for (const f of judgeChanges(compareSchemas(schema, after), {
        ...ctx,
        from: v,
        consumers: {},
      }))
        if (f.breaks.some((d) => directions.includes(d)))
          checked.push({ ...f, against: v, severity: 'error' });
    }
  }
  return {
    migration: m.id,
    collection: m.collection,
    from: m.from,
    to: m.to,
    mode,
    modeFrom,
    class: classify(findings),
    base: baseSource,
    judged,
    changes,
    findings: checked,
    warnings: prediction.warnings,
    ok: checked.every((f) => f.severity !== 'error'),
  };
}

function build(m: Migration, docs: readonly Doc[], version: number): CollectionSchema {
  const b = new SchemaBuilder([m.versionField]);
  for (const d of docs) b.add(d);
  return b.build(m.collection, version);
}
