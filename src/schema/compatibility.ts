/**
 * Compatibility of a schema change, after the schema registries of event streams (Confluent's
 * BACKWARD, FORWARD, FULL, NONE and their transitive variants), said of documents and readers:
 *
 *   - backward: readers written for the new version can read documents still at the old one
 *     (during the backfill, after a rollback, in a store the backfill has not reached). A removed
 *     field is fine; a new required field needs a default; a type may widen, not narrow.
 *   - forward: readers written for the old version can read migrated documents (the application
 *     not yet redeployed, other consumers). A new field is fine; a removed field must have been
 *     optional; a type may narrow, not widen.
 *
 * A migration is classified by what it keeps: `full` (both), `backward`, `forward`, or
 * `sideways` (neither: a rename or a type change without a read-time alias breaks both kinds of
 * reader — it needs an expand/contract pair of migrations, or a side-by-side migration).
 *
 * A read-time alias (`aliases: { fullName: 'name' }` in the migration) says readers of both
 * versions treat the two paths as one field, so renaming one to the other breaks nobody. Other
 * consumers (the config's `consumers`: an analytics pipeline reading the store directly) know
 * no aliases: removing, renaming or retyping a field one of them reads is an error in every mode,
 * NONE included, naming the consumer.
 */
import { showTypes, UNKNOWN_TYPE, isUnder } from './collection-schema.js';
import type { CompatibilityMode } from '../migration/compatibility-mode.js';
import { type SchemaChange } from './compare-schemas.js';

export {
  COMPATIBILITY_MODES,
  CompatibilityMode,
  DEFAULT_COMPATIBILITY,
  isCompatibilityMode,
} from '../migration/compatibility-mode.js';

export const Direction = { backward: 'backward', forward: 'forward' } as const;
export type Direction = (typeof Direction)[keyof typeof Direction];

export const ChangeClass = {
  full: 'full',
  backward: 'backward',
  forward: 'forward',
  sideways: 'sideways',
} as const;
export type ChangeClass = (typeof ChangeClass)[keyof typeof ChangeClass];

/** The directions a mode requires, and whether against every earlier version. */
export function modeRequires(mode: CompatibilityMode): {
  directions: readonly Direction[];
  transitive: boolean;
} {
  const transitive = mode.endsWith('_TRANSITIVE');
  const base = mode.replace('_TRANSITIVE', '');
  const directions: Direction[] =
    base === 'BACKWARD'
      ? ['backward']
      : base === 'FORWARD'
        ? ['forward']
        : base === 'FULL'
          ? ['backward', 'forward']
          : [];
  return { directions, transitive };
}

export interface Finding {
  readonly path: string;
  readonly message: string;
  /** the kinds of reader this change breaks */
  readonly breaks: readonly Direction[];
  /** a consumer of the config that reads the path: an error in every mode */
  readonly consumer?: string;
  /** a change whose effect only running the code tells, with no samples to run it on */
  readonly unknown?: boolean;
}

export interface JudgeContext {
  readonly from: number;
  readonly to: number;
  /** read-time aliases: new path -> old path */
  readonly aliases?: Readonly<Record<string, string>>;
  /** consumer name -> the field paths it reads */
  readonly consumers?: Readonly<Record<string, readonly string[]>>;
}

/** What each change breaks, and which consumers it hits. */
export function judgeChanges(changes: readonly SchemaChange[], ctx: JudgeContext): Finding[] {
  const aliases = ctx.aliases ?? {};
  const aliased = (newPath: string, oldPath: string): boolean => aliases[newPath] === oldPath;
  const aliasOf = (oldPath: string): string | undefined =>
    Object.entries(aliases).find(([, o]) => o === oldPath)?.[0];
  const vFrom = `v${ctx.from}`;
  const vTo = `v${ctx.to}`;
  const out: Finding[] = [];
  const push = (path: string, breaks: Direction[], message: string, unknown = false): void => {
    out.push({ path, message, breaks, ...(unknown ? { unknown } : {}) });
  };
  for (const c of changes) {
    switch (c.kind) {
      case 'added': {
        if (!c.required || c.default !== undefined) break;
        if (aliases[c.path] !== undefined) break;
        const how =
          c.computed === true
            ? 'computed per document'
            : c.derivedFrom !== undefined
              ? `derived from ${c.derivedFrom.map((p) => `'${p}'`).join(', ')}`
              : c.copiedFrom !== undefined
                ? `a copy of '${c.copiedFrom}'`
                : 'new';
        push(
          c.path,
          ['backward'],
          `adds required field '${c.path}' (${how}) without a default: ${vFrom} documents lack it, and ${vTo} readers have nothing to use instead`,
        );
        break;
      }
      case 'removed': {
        if (!c.required || aliasOf(c.path) !== undefined) break;
        push(
          c.path,
          ['forward'],
          `removes required field '${c.path}' without a read-time alias: ${vFrom} readers expect it in every document`,
        );
        break;
      }
      case 'renamed': {
        if (aliased(c.to, c.from)) break;
        const breaks: Direction[] = [];
        if (c.requiredAfter) breaks.push('backward');
        if (c.required) breaks.push('forward');
        if (breaks.length > 0)
          push(
            c.to,
            breaks,
            `renames '${c.from}' to '${c.to}' without a read-time alias: ${vFrom} readers look for '${c.from}', ${vTo} readers for '${c.to}' (declare aliases: { '${c.to}': '${c.from}' } if readers accept both)`,
          );
        break;
      }
      case 'retyped': {
        const unknownAfter = c.after.includes(UNKNOWN_TYPE);
        if (unknownAfter) {
          push(
            c.path,
            [],
            `changes '${c.path}' to a type only running the code tells (${showTypes(c.before)} before)`,
            true,
          );
          break;
        }
        const lost = c.before.filter((t) => !c.after.includes(t));
        const gained = c.after.filter((t) => !c.before.includes(t));
        if (lost.length > 0 && gained.length > 0 && !c.before.some((t) => c.after.includes(t))) {
          push(
            c.path,
            ['backward', 'forward'],
            `changes the type of '${c.path}' from ${showTypes(c.before)} to ${showTypes(c.after)}: neither version's readers expect the other's documents`,
          );
          break;
        }
        if (lost.length > 0)
          push(
            c.path,
            ['backward'],
            `narrows the type of '${c.path}' from ${showTypes(c.before)} to ${showTypes(c.after)}: ${vFrom} documents hold ${showTypes(lost)}, which ${vTo} readers do not expect`,
          );
        if (gained.length > 0)
          push(
            c.path,
            ['forward'],
            `widens the type of '${c.path}' from ${showTypes(c.before)} to ${showTypes(c.after)}: ${vTo} documents hold ${showTypes(gained)}, which ${vFrom} readers do not expect`,
          );
        break;
      }
      case 'now-required':
        if (c.default !== undefined) break;
        push(
          c.path,
          ['backward'],
          `makes '${c.path}' required without a default: ${vFrom} documents may lack it`,
        );
        break;
      case 'now-optional':
        push(
          c.path,
          ['forward'],
          `makes '${c.path}' optional: ${vFrom} readers expect it in every document`,
        );
        break;
      case 'opaque':
        push(
          c.path,
          [],
          `changes '${c.path}' in a way only running the code tells: check it where the data store is reachable, so samples settle it`,
          true,
        );
        break;
    }
  }
  out.push(...consumerFindings(changes, ctx.consumers ?? {}));
  return out;
}

/** Changes that alter a path some consumer reads (or a path inside it, or around it). */
function consumerFindings(
  changes: readonly SchemaChange[],
  consumers: Readonly<Record<string, readonly string[]>>,
): Finding[] {
  const out: Finding[] = [];
  for (const c of changes) {
    const [path, what] =
      c.kind === 'removed'
        ? [c.path, `removes '${c.path}'`]
        : c.kind === 'renamed'
          ? [c.from, `renames '${c.from}' to '${c.to}'`]
          : c.kind === 'retyped'
            ? [
                c.path,
                `changes the type of '${c.path}' (${showTypes(c.before)} -> ${showTypes(c.after)})`,
              ]
            : c.kind === 'now-optional'
              ? [c.path, `makes '${c.path}' optional`]
              : c.kind === 'opaque'
                ? [c.path, `rewrites '${c.path}'`]
                : [undefined, ''];
    if (path === undefined) continue;
    for (const [consumer, fields] of Object.entries(consumers)) {
      const hit = fields.find((f) => isUnder(path, f) || isUnder(f, path));
      if (hit === undefined) continue;
      out.push({
        path,
        consumer,
        breaks: [],
        message: `${what}, which consumer '${consumer}' reads${hit !== path ? ` (as '${hit}')` : ''}: change the consumer first, then take the field out of its list in the config`,
      });
    }
  }
  return out;
}

/** The class of a change from what its findings break. */
export function classify(findings: readonly Finding[]): ChangeClass {
  const backward = !findings.some((f) => f.breaks.includes('backward'));
  const forward = !findings.some((f) => f.breaks.includes('forward'));
  return backward && forward
    ? ChangeClass.full
    : backward
      ? ChangeClass.backward
      : forward
        ? ChangeClass.forward
        : ChangeClass.sideways;
}

/** Whether a finding fails the mode (consumer findings always do). */
export function violates(finding: Finding, mode: CompatibilityMode): boolean {
  if (finding.consumer !== undefined) return true;
  const { directions } = modeRequires(mode);
  return finding.breaks.some((d) => directions.includes(d));
}
