/**
 * Declarative end state: the operations that take a collection from its current schema
 * (inferred from its documents) to a target schema (declared as JSON Schema), chosen from the
 * operations catalogue — the way Atlas plans a migration from a database to a desired schema.
 *
 * In order: renames (declared with `x-renamedFrom`, else proposed where a field left and one
 * arrived in the same object with compatible types — and, to be sure, the same example values),
 * nests and unnests, unwraps, coercions, wraps, additions with the target's `default`, and
 * removals. A field the target does not list is removed only where the target's object is
 * closed (`additionalProperties: false`); in an open object it is left alone, as a schema
 * registry's open content model allows it.
 *
 * What is not certain is marked for review (a `REVIEW` comment in the file), and what no
 * operation of the catalogue reaches is listed as not reached: the file states both, and
 * `switchyard plan` proves the rest on a sample.
 */
import { fromEJSONObject, type Value } from '../core/values.js';
import {
  addField,
  coerceType,
  COERCE_TYPES,
  nestFields,
  removeField,
  renameField,
  unnestField,
  unwrapArray,
  wrapInArray,
  type CoerceType,
} from '../migration/index.js';
import type { Operation } from '../migration/operation.js';
import { predictSchema } from './apply-effects.js';
import {
  childPath,
  isUnder,
  lastName,
  parentPath,
  pathMap,
  showTypes,
  UNKNOWN_TYPE,
  type CollectionSchema,
  type PathSchema,
} from './collection-schema.js';

export interface PlannedStep {
  /** the operation; undefined for a step only proposed (written commented out) */
  readonly op?: Operation;
  /** the factory and its arguments, to write as code */
  readonly call: { readonly name: string; readonly args: readonly unknown[] };
  /** why this step: a comment above it */
  readonly why: string;
  /** what a reviewer must decide, when the step is a guess */
  readonly review?: string;
}

export interface TargetPlan {
  readonly steps: readonly PlannedStep[];
  /** target paths and types the steps do not reach */
  readonly unreached: readonly string[];
  /** current fields left alone because the target's object is open */
  readonly kept: readonly string[];
}

const COERCE_PREFERENCE: readonly CoerceType[] = [
  'int',
  'double',
  'long',
  'decimal',
  'string',
  'bool',
  'date',
  'objectId',
];

export interface PlanOptions {
  /**
   * The values found at a current path in the sampled documents (canonical Extended JSON text),
   * to tell whether a target field's examples are that field's values: a rename, surely.
   * Without it, the current schema's few examples are compared.
   */
  values?: (path: string) => ReadonlySet<string>;
}

export function planToTarget(
  current: CollectionSchema,
  target: CollectionSchema,
  options: PlanOptions = {},
): TargetPlan {
  const cur = pathMap(current);
  const valuesMatch = (from: string, t: PathSchema): boolean =>
    options.values === undefined
      ? sameExamples(cur.get(from)!, t)
      : (t.examples ?? []).some((e) => options.values!(from).has(JSON.stringify(e)));
  const tgt = pathMap(target);
  const steps: PlannedStep[] = [];
  const consumed = new Set<string>(); // current paths moved elsewhere
  const produced = new Set<string>(); // target paths that a step makes
  const movedTo = new Map<string, string>(); // target path -> current path it comes from
  const step = (
    name: string,
    args: readonly unknown[],
    make: (() => Operation) | undefined,
    why: string,
    review?: string,
  ): void => {
    steps.push({
      ...(make !== undefined ? { op: make() } : {}),
      call: { name, args },
      why,
      ...(review !== undefined ? { review } : {}),
    });
  };
  const topLevelOnly = (paths: Iterable<string>, set: Set<string>): string[] =>
    [...paths].filter((p) => !(set.has(parentPath(p)) && parentPath(p) !== ''));
  const leaving = new Set([...cur.keys()].filter((p) => !tgt.has(p)));
  const arriving = new Set([...tgt.keys()].filter((p) => !cur.has(p)));

  // 1. renames
  const rename = (from: string, to: string, why: string, review?: string): void => {
    if (scopeOf(from) !== scopeOf(to)) {
      step(
        'renameField',
        [from, to],
        undefined,
        why,
        `'${from}' and '${to}' are in different arrays: move them in up()/down()`,
      );
      return;
    }
    step('renameField', [from, to], () => renameField(from, to), why, review);
    for (const p of cur.keys()) if (isUnder(p, from)) consumed.add(p);
    for (const p of tgt.keys()) if (isUnder(p, to)) produced.add(p);
    movedTo.set(to, from);
  };
  for (const p of target.paths)
    if (p.renamedFrom !== undefined && cur.has(p.renamedFrom) && arriving.has(p.path))
      rename(p.renamedFrom, p.path, `declared: x-renamedFrom '${p.renamedFrom}'`);
  // 2. nests: a new object whose fields are current siblings of it
  for (const o of topLevelOnly(arriving, arriving)) {
    if (produced.has(o) || !tgt.get(o)!.types.includes('object')) continue;
    const up = parentPath(o);
    const names = [...tgt.keys()]
      .filter((p) => parentPath(p) === o && !p.endsWith('[]'))
      .map((p) => lastName(p)!)
      .filter(
        (k) =>
          cur.has(childPath(up, k)) &&
          !tgt.has(childPath(up, k)) &&
          !consumed.has(childPath(up, k)),
      );
    if (names.length === 0) continue;
    const fields = names.map((k) => childPath(up, k));
    step(
      'nestFields',
      [fields, o],
      () => nestFields(fields, o),
      `${fields.map((f) => `'${f}'`).join(', ')} move into the new object '${o}'`,
    );
    for (const f of fields) {
      for (const p of cur.keys()) if (isUnder(p, f)) consumed.add(p);
      for (const p of tgt.keys()) if (isUnder(p, childPath(o, lastName(f)!))) produced.add(p);
      movedTo.set(childPath(o, lastName(f)!), f);
    }
    produced.add(o);
  }

  // 3. unnests: a current object whose fields all move up beside it
  for (const o of topLevelOnly(leaving, leaving)) {
    if (consumed.has(o) || !cur.get(o)!.types.includes('object')) continue;
    const up = parentPath(o);
    const names = [...cur.keys()]
      .filter((p) => parentPath(p) === o && !p.endsWith('[]'))
      .map((p) => lastName(p)!);
    if (
      names.length === 0 ||
      !names.every((k) => tgt.has(childPath(up, k)) && !cur.has(childPath(up, k)))
    )
      continue;
    const review = cur.get(o)!.types.some((t) => t !== 'object')
      ? `'${o}' is not always an object (${showTypes(cur.get(o)!.types)}): those documents are refused`
      : undefined;
    step(
      'unnestField',
      [o, { fields: names }],
      () => unnestField(o, { fields: names }),
      `the fields of '${o}' move up beside it`,
      review,
    );
    for (const p of cur.keys()) if (isUnder(p, o)) consumed.add(p);
    for (const k of names) {
      for (const p of tgt.keys()) if (isUnder(p, childPath(up, k))) produced.add(p);
      movedTo.set(childPath(up, k), childPath(o, k));
    }
  }

  // renames proposed: a field left and another arrived (after the nests and unnests)
  const ambiguous = new Set<string>(); // fields that may have been renamed: not removed outright
  const gone = topLevelOnly(leaving, leaving).filter((p) => !consumed.has(p));
  const come = topLevelOnly(arriving, arriving).filter((p) => !produced.has(p));
  const proposals = new Map<string, string[]>();
  for (const to of come) {
    const t = tgt.get(to)!;
    if (t.default !== undefined) continue; // a field the target gives a default is a new one
    const fits = gone.filter((from) => {
      const c = cur.get(from)!;
      return scopeOf(from) === scopeOf(to) && typesFit(c.types, t.types);
    });
    const sameValues = fits.filter((from) => valuesMatch(from, t));
    const sameParent = fits.filter((from) => parentPath(from) === parentPath(to));
    // among several, one that is as required as the new field is the likelier
    const alike = sameParent.filter((from) => cur.get(from)!.required === t.required);
    proposals.set(to, sameValues.length > 0 ? sameValues : alike.length === 1 ? alike : sameParent);
  }
  for (const [to, froms] of proposals) {
    const from = froms[0];
    if (froms.length !== 1 || consumed.has(from!)) {
      if (froms.length > 1)
        for (const f of froms) {
          ambiguous.add(f);
          step(
            'renameField',
            [f, to],
            undefined,
            `types of '${f}' fit '${to}'`,
            `one of ${froms.map((x) => `'${x}'`).join(', ')} may have become '${to}': keep the right one`,
          );
        }
      continue;
    }
    const competing = [...proposals].filter(([, fs]) => fs.includes(from!)).length > 1;
    const confident = valuesMatch(from!, tgt.get(to)!);
    if (competing) {
      ambiguous.add(from!);
      step(
        'renameField',
        [from, to],
        undefined,
        `types of '${from}' fit '${to}'`,
        `'${from}' fits several new fields: keep the right one`,
      );
      continue;
    }
    rename(
      from!,
      to,
      confident
        ? `'${from}' left and '${to}' arrived with the same types and example values`
        : `'${from}' left and '${to}' arrived in the same object with fitting types`,
      confident
        ? undefined
        : (tgt.get(to)!.examples ?? []).length === 0
          ? 'a guess from types alone (the target gives no examples to compare): is it a rename, or a removal and a new field?'
          : "a guess from types alone (the target's examples are not among the field's values): is it a rename, or a removal and a new field?",
    );
  }

  // 4-6. unwraps, coercions, wraps: paths in both (after the moves)
  const shared = [...tgt.keys()].filter(
    (p) => cur.has(movedTo.get(p) ?? p) && !(arriving.has(p) && !produced.has(p)),
  );
  const wraps: string[] = [];
  for (const p of shared) {
    const c = cur.get(movedTo.get(p) ?? p)!;
    const t = tgt.get(p)!;
    const unwrap =
      c.types.includes('array') && !t.types.includes('array') && !t.types.includes(UNKNOWN_TYPE);
    const wrap = !c.types.includes('array') && t.types.length === 1 && t.types[0] === 'array';
    if (unwrap) {
      const len = c.counts?.arrayLength;
      const sure = c.types.length === 1 && len !== undefined && len.min === 1 && len.max === 1;
      step(
        'unwrapArray',
        [p],
        () => unwrapArray(p),
        `'${p}' is an array now, not in the target`,
        sure
          ? undefined
          : `'${p}' holds ${len === undefined ? 'arrays of unknown length' : `arrays of ${len.min} to ${len.max} elements`}${c.types.length > 1 ? ` and ${showTypes(c.types.filter((x) => x !== 'array'))}` : ''}: only one-element arrays can be unwrapped, the others are refused`,
      );
      coerce(p, cur.get(`${movedTo.get(p) ?? p}[]`)?.types ?? [], t.types);
      continue;
    }
    if (wrap) {
      coerce(p, c.types, tgt.get(`${p}[]`)?.types ?? [UNKNOWN_TYPE]);
      wraps.push(p);
      continue;
    }
    coerce(p, c.types, t.types);
  }
  for (const p of wraps)
    step('wrapInArray', [p], () => wrapInArray(p), `'${p}' becomes an array in the target`);

  function coerce(path: string, from: readonly string[], to: readonly string[]): void {
    if (to.includes(UNKNOWN_TYPE)) return;
    const off = from.filter((x) => x !== 'null' && x !== UNKNOWN_TYPE && !to.includes(x));
    if (off.length === 0) return;
    const into = COERCE_PREFERENCE.find((x) => to.includes(x));
    if (into === undefined || off.some((x) => x === 'object' || x === 'array')) return; // not reached
    const sources = from.filter((x) => x !== 'null' && x !== into);
    if (sources.length === 1 && (COERCE_TYPES as readonly string[]).includes(sources[0]!)) {
      const f = sources[0] as CoerceType;
      step(
        'coerceType',
        [path, into, { from: f }],
        () => coerceType(path, into, { from: f }),
        `'${path}' holds ${f}, the target wants ${into}`,
      );
    } else
      step(
        'coerceType',
        [path, into],
        () => coerceType(path, into),
        `'${path}' holds ${showTypes(from)}, the target wants ${into}`,
        `several types become ${into}: the original types are not kept (lossy; rollback uses the journal)`,
      );
  }

  // 7. additions: new fields the target gives a default, or requires
  const added: string[] = [];
  for (const p of tgt.keys()) {
    const t = tgt.get(p)!;
    if (produced.has(p) || p.endsWith('[]') || added.some((a) => isUnder(p, a))) continue;
    const c = cur.get(movedTo.get(p) ?? p);
    if (c !== undefined && (c.required || !t.required)) continue;
    const parent = parentPath(p);
    const parentNew = parent !== '' && arriving.has(parent) && !produced.has(parent);
    if (t.default !== undefined) {
      const value = fromEJSONObject(t.default) as Value;
      step(
        'addField',
        [p, value],
        () => addField(p, value),
        `the target gives '${p}' the default ${JSON.stringify(t.default)}`,
      );
      added.push(p);
    } else if (t.required && !parentNew && !hasDefaultBelow(tgt, p)) {
      step(
        'addField',
        [p, undefined],
        undefined,
        `the target requires '${p}'`,
        `the target gives no default for '${p}': add one ("default" in the target) or compute it`,
      );
    }
  }

  // 8. removals, where the target's object is closed
  const kept: string[] = [];
  for (const p of topLevelOnly(leaving, leaving)) {
    if (consumed.has(p)) continue;
    const parent = parentPath(p);
    const closed = parent === '' ? target.closed === true : tgt.get(parent)?.closed === true;
    if (!closed) {
      kept.push(p);
      continue;
    }
    if (p.endsWith('[]')) continue;
    if (ambiguous.has(p)) {
      step(
        'removeField',
        [p],
        undefined,
        `'${p}' is not in the target`,
        `remove '${p}' only if it was not renamed (see above)`,
      );
      continue;
    }
    step(
      'removeField',
      [p],
      () => removeField(p),
      `'${p}' is not in the target, whose object lists all its fields`,
    );
  }

  // what the steps reach
  const ops = steps.flatMap((s) => (s.op !== undefined ? [s.op] : []));
  const reached = pathMap(predictSchema(current, ops, target.version).schema);
  const unreached: string[] = [];
  for (const t of target.paths) {
    const r = reached.get(t.path);
    if (r === undefined) {
      if (t.required && (parentPath(t.path) === '' || reached.has(parentPath(t.path))))
        unreached.push(
          `'${t.path}' (${showTypes(t.types)}) is required, but nothing puts it there`,
        );
      continue;
    }
    if (t.types.includes(UNKNOWN_TYPE) || r.types.includes(UNKNOWN_TYPE)) continue;
    const bad = r.types.filter((x) => !t.types.includes(x));
    if (bad.length > 0)
      unreached.push(
        `'${t.path}' would still hold ${showTypes(bad)}; the target allows ${showTypes(t.types)}`,
      );
  }
  return { steps, unreached, kept };
}

/** The array part of a path, up to its last `[]` ('' for none). */
function scopeOf(path: string): string {
  const i = path.lastIndexOf('[]');
  return i < 0 ? '' : path.slice(0, i + 2);
}

function typesFit(from: readonly string[], to: readonly string[]): boolean {
  if (to.includes(UNKNOWN_TYPE)) return true;
  return from.filter((t) => t !== 'null').every((t) => to.includes(t));
}

function sameExamples(c: PathSchema, t: PathSchema): boolean {
  if (c.examples === undefined || t.examples === undefined || t.examples.length === 0) return false;
  const mine = new Set(c.examples.map((e) => JSON.stringify(e)));
  return t.examples.some((e) => mine.has(JSON.stringify(e)));
}

function hasDefaultBelow(tgt: ReadonlyMap<string, PathSchema>, path: string): boolean {
  return [...tgt.values()].some(
    (p) => p.path !== path && isUnder(p.path, path) && p.default !== undefined,
  );
}
