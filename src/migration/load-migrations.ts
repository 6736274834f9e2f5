/**
 * Loading migration files (TypeScript or JavaScript, no build step: jiti) and checking them:
 * the definition's fields, and that the migrations of one collection chain by version without
 * gaps or duplicates. Every error names the file and the field, and nothing has been changed.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { InputError } from '../core/errors.js';
import { parseInput } from '../core/input-schema.js';
import { loadModule } from '../core/load-module.js';
import { resolveId } from '../core/resolve-id.js';
import { isMigrationDefinition, type MigrationDefinition } from './define-migration.js';
import { migrationDefinitionSchema } from './definition-schema.js';
import { Migration } from './migration.js';

export const MIGRATION_EXTENSIONS = ['.ts', '.mts', '.cts', '.js', '.mjs', '.cjs'] as const;

export interface LoadOptions {
  /** the config's version field */
  versionField?: string;
}

export function isMigrationFile(name: string): boolean {
  return (
    (MIGRATION_EXTENSIONS as readonly string[]).includes(path.extname(name)) &&
    !name.endsWith('.d.ts') &&
    !name.startsWith('.') &&
    !name.startsWith('_')
  );
}

/** Load, validate and compile one migration file. */
export async function loadMigrationFile(
  file: string,
  options: LoadOptions = {},
): Promise<Migration> {
  const abs = path.resolve(file);
  let text: Buffer;
  try {
    text = fs.readFileSync(abs);
  } catch (err) {
    throw new InputError(
      `cannot read the migration file: ${(err as Error).message}`,
      { file },
      { cause: err },
    );
  }
  let mod: unknown;
  try {
    mod = await loadModule(abs);
  } catch (err) {
    throw new InputError(
      `the migration file does not load: ${(err as Error).message}`,
      { file },
      { cause: err },
    );
  }
  const def = pickDefinition(mod);
  if (def === undefined) {
    throw new InputError('the file has no migration: export default defineMigration({ ... })', {
      file,
    });
  }
  const checksum = createHash('sha256').update(text).digest('hex');
  const id = def.id ?? path.basename(abs, path.extname(abs));
  return compileMigration({ ...def, id }, { file, checksum }, options);
}

function pickDefinition(mod: unknown): MigrationDefinition | undefined {
  const candidates = [
    mod,
    (mod as { default?: unknown })?.default,
    (mod as { migration?: unknown })?.migration,
  ];
  for (const c of candidates) if (isMigrationDefinition(c)) return c;
  for (const c of candidates)
    if (c !== null && typeof c === 'object' && 'collection' in c) return c as MigrationDefinition;
  return undefined;
}

/** Validate a definition's fields and compile it. */
export function compileMigration(
  def: MigrationDefinition & { id: string },
  source: { file?: string; checksum?: string } = {},
  options: LoadOptions = {},
): Migration {
  const fail = (field: string, why: string): never => {
    throw new InputError(why, {
      ...(source.file !== undefined ? { file: source.file } : {}),
      field,
    });
  };
  parseInput(
    migrationDefinitionSchema,
    def,
    source.file !== undefined ? { file: source.file } : {},
  );
  const from = def.from ?? 1;
  const to = def.to ?? from + 1;
  if (to <= from) fail('to', `must be greater than from (${from})`);
  if (def.down !== undefined && def.up === undefined)
    fail('down', 'down() without up(): put the inverse of the operations in up()/down() together');
  if (def.targets !== undefined) splitProblems(def, fail);
  if (def.merge !== undefined) mergeProblems(def, fail);
  if (
    def.target !== undefined &&
    def.target.store === undefined &&
    def.target.collection === def.collection
  )
    fail(
      'target.collection',
      'is the source collection: leave target out for an in-place migration',
    );
  if (def.fanOut !== undefined) {
    if (def.target !== undefined)
      fail('fanOut', 'is in place only: a side-by-side migration (target) cannot fan out');
    if (def.fanOut.into === def.collection)
      fail('fanOut.into', `is the migrated collection (${def.collection}): name another one`);
    if (def.fanOut.parentField === '_id')
      fail('fanOut.parentField', 'must not be _id (the key of each emitted document)');
    if (def.fanOut.indexField === '_id')
      fail('fanOut.indexField', 'must not be _id (the key of each emitted document)');
    if (def.fanOut.parentField === (def.fanOut.indexField ?? 'index'))
      fail('fanOut.indexField', `is parentField too ('${def.fanOut.parentField}')`);
  }
  return new Migration(def, source, options);
}

/** What `merge` must not be, beyond its shape: reported through `fail` (merge-sources.ts). */
function mergeProblems(
  def: MigrationDefinition,
  fail: (field: string, msg: string) => never,
): void {
  const names = Object.keys(def.merge!);
  if (names.length === 0) fail('merge', 'names no collection: leave merge out, or name one');
  if (def.target === undefined)
    fail(
      'merge',
      def.targets !== undefined
        ? 'cannot be used with targets: a merge writes one target (target)'
        : 'is side by side only: add target: { collection } (the merged collection)',
    );
  if (def.target!.store !== undefined)
    fail('target.store', 'a merge writes its target in the data store (leave store out)');
  const seen = new Set<string>();
  for (const name of names) {
    const c = def.merge![name]!.collection;
    const field = `merge.${name}.collection`;
    if (c === def.collection) fail(field, `is the source collection (${c}): name the other one`);
    if (c === def.target!.collection) fail(field, `is the target collection (${c})`);
    if (seen.has(c)) fail(field, `names '${c}' twice`);
    seen.add(c);
    if (def.lookups !== undefined && name in def.lookups)
      fail(`merge.${name}`, `is also a lookup: ctx.lookups.${name} can be only one of them`);
  }
}

/** What `targets` (a split) must not be, beyond its shape: reported through `fail`. */
function splitProblems(
  def: MigrationDefinition,
  fail: (field: string, msg: string) => never,
): void {
  for (const f of ['target', 'up', 'down', 'operations'] as const)
    if (def[f] !== undefined)
      fail(
        f,
        `cannot be used with targets: give each target its own ${f === 'target' ? 'collection' : f}`,
      );
  const targets = def.targets!;
  const seen = new Set<string>();
  targets.forEach((t, i) => {
    if (t.up === undefined && (t.operations === undefined || t.operations.length === 0))
      fail(`targets[${i}].up`, 'is missing: each target needs up() or operations');
    if (t.down !== undefined && i > 0)
      fail(`targets[${i}].down`, 'only the first target has a down(): it answers reads');
    if ((t.store ?? '') !== (targets[0]!.store ?? ''))
      fail(`targets[${i}].store`, 'must be the same store as targets[0]: a split writes one store');
    if (t.store === undefined && t.collection === def.collection)
      fail(
        `targets[${i}].collection`,
        'is the source collection: a split writes other collections',
      );
    if (seen.has(t.collection))
      fail(
        `targets[${i}].collection`,
        `names '${t.collection}' twice: each target is its own collection`,
      );
    seen.add(t.collection);
  });
}

/**
 * Every migration in a directory, in file-name order, checked as a set: ids are unique and the
 * migrations of each collection chain by version (the next one's `from` is the previous `to`).
 */
export async function loadMigrations(dir: string, options: LoadOptions = {}): Promise<Migration[]> {
  let names: string[];
  try {
    names = fs.readdirSync(dir).filter(isMigrationFile).sort();
  } catch (err) {
    throw new InputError(
      `cannot read the migrations directory ${dir}: ${(err as Error).message}. Run 'switchyard init' or pass --migrations DIR`,
      { field: 'migrationsDir' },
      { cause: err },
    );
  }
  const migrations: Migration[] = [];
  for (const name of names) migrations.push(await loadMigrationFile(path.join(dir, name), options));
  checkMigrationSet(migrations);
  return migrations;
}

export function checkMigrationSet(migrations: readonly Migration[]): void {
  const ids = new Map<string, Migration>();
  for (const m of migrations) {
    const other = ids.get(m.id);
    if (other !== undefined)
      throw new InputError(
        `duplicate migration id '${m.id}' (also in ${other.file ?? 'another file'})`,
        { ...(m.file ? { file: m.file } : {}), field: 'id' },
      );
    ids.set(m.id, m);
  }
  const byCollection = new Map<string, Migration[]>();
  for (const m of migrations)
    byCollection.set(m.collection, [...(byCollection.get(m.collection) ?? []), m]);
  for (const [collection, list] of byCollection) {
    const sorted = [...list].sort((a, b) => a.from - b.from);
    for (const m of sorted) m.setBaseVersion(sorted[0]!.from);
    for (let i = 1; i < sorted.length; i++) {
      const prev = sorted[i - 1]!;
      const cur = sorted[i]!;
      const where = { ...(cur.file ? { file: cur.file } : {}), field: 'from' };
      if (cur.from === prev.from) {
        throw new InputError(
          `migrations ${prev.id} and ${cur.id} both start at version ${cur.from} of '${collection}': set from/to so they chain`,
          where,
        );
      }
      if (cur.from !== prev.to) {
        const kind = cur.from > prev.to ? 'gap' : 'overlap';
        throw new InputError(
          `version ${kind} in '${collection}': ${prev.id} goes ${prev.from}->${prev.to}, then ${cur.id} starts at ${cur.from}`,
          where,
        );
      }
    }
  }
}

/** One migration by id, or by an unambiguous part of its id (src/core/resolve-id.ts). */
export function findMigration(migrations: readonly Migration[], id: string): Migration {
  const found = resolveId(
    id,
    migrations.map((m) => m.id),
  );
  return migrations.find((m) => m.id === found)!;
}
