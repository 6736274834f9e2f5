/**
 * The text of a migration file written from a target plan (target-plan.ts): the operations with
 * a comment saying why each is there, `REVIEW:` comments (and commented-out calls) where a
 * person must decide, and the target paths no operation reaches. Values are written as
 * JavaScript where that is exact, else through `fromEJSONObject` so that an int stays an int and a
 * Date a Date.
 */
import { toStorageJSON, type Value } from '../core/values.js';
import type { TargetPlan } from './target-plan.js';

export interface MigrationSourceInput {
  readonly id: string;
  readonly collection: string;
  readonly from: number;
  readonly to: number;
  readonly plan: TargetPlan;
  /** the target schema file, as the user named it */
  readonly targetFile: string;
  /** documents the current schema was inferred from */
  readonly sampled: number;
  readonly author?: string;
}

export function migrationSource(input: MigrationSourceInput): string {
  const { plan } = input;
  const names = new Set(plan.steps.filter((s) => s.op !== undefined).map((s) => s.call.name));
  const code = plan.steps.map((s) => ({ ...s, text: call(s.call.name, s.call.args) }));
  const usesEJSON = code.some((c) => c.op !== undefined && c.text.includes('fromEJSONObject('));
  const imports = [
    'defineMigration',
    ...[...names].sort(),
    ...(usesEJSON ? ['fromEJSONObject'] : []),
  ];
  const reviews = plan.steps.filter((s) => s.review !== undefined).length;
  const header = [
    `${input.id}: ${input.collection} v${input.from} -> v${input.to}, toward ${input.targetFile}.`,
    `Written by \`switchyard create --to\` from the schema inferred from ${input.sampled} sampled documents.`,
    ...(reviews > 0 ? [`${reviews} step(s) marked REVIEW need a decision before this runs.`] : []),
    ...(plan.unreached.length > 0
      ? [
          'Not reached by any operation (do it in up()/down(), or change the target):',
          ...plan.unreached.map((u) => `  - ${u}`),
        ]
      : []),
    ...(plan.kept.length > 0
      ? [
          `Left as they are (not in the target, whose object is open): ${plan.kept.map((k) => `'${k}'`).join(', ')}.`,
        ]
      : []),
    `Prove it on a sample before it runs: switchyard plan ${input.id}`,
  ];
  const body: string[] = [];
  for (const s of code) {
    body.push(`    // ${s.why}`);
    if (s.review !== undefined) body.push(`    // REVIEW: ${s.review}`);
    body.push(s.op !== undefined ? `    ${s.text},` : `    // ${s.text},`);
  }
  return `import { ${imports.join(', ')} } from 'switchyard';

/**
${header.map((l) => ` * ${l}`.trimEnd()).join('\n')}
 */
export default defineMigration({
  collection: ${quote(input.collection)},
  from: ${input.from},
  to: ${input.to},${input.author !== undefined ? `\n  author: ${quote(input.author)},` : ''}
  rationale: ${quote(`reach the declared schema ${input.targetFile}`)},
  operations: [
${body.join('\n')}
  ],
});
`;
}

function call(name: string, args: readonly unknown[]): string {
  return `${name}(${args.map(literal).join(', ')})`;
}

/** A value as source code: exact JSON as itself, anything else through fromEJSONObject. */
function literal(v: unknown): string {
  if (v === undefined) return '/* a value */';
  if (typeof v === 'string') return quote(v);
  if (Array.isArray(v) && v.every((x) => typeof x === 'string'))
    return `[${v.map(quote).join(', ')}]`;
  const text = toStorageJSON(v as Value);
  if (!text.includes('"$')) return text;
  return `fromEJSONObject(${text})`;
}

function quote(s: string): string {
  return `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'").replace(/\n/g, '\\n')}'`;
}
