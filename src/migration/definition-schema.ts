/**
 * The shape of a migration definition (what `defineMigration({ ... })` takes), as a zod schema.
 * Strict at every level: a field the schema does not know (`verfy: { ... }`) is an error naming
 * the file and the field, never silently ignored, so a misspelt check cannot quietly not run.
 *
 * Adding a field to `MigrationDefinition` means adding it here too: `satisfies` below makes the
 * two lists the same, or the build fails. What needs two fields at once (to > from, a target that
 * is the source) is checked after the parse, in `compileMigration`.
 */
import { z } from 'zod';
import { fieldPathProblem } from '../core/input-schema.js';
import { parseStoreUrl } from '../store/store-url.js';
import { COMPATIBILITY_MODES } from './compatibility-mode.js';
import type { MigrationDefinition } from './define-migration.js';
import { uniqueEntryProblem } from './unique-fields.js';

const fn = (message: string) =>
  z.custom<(...args: never[]) => unknown>((v) => typeof v === 'function', { message });

const operation = z.custom<object>(
  (v) => {
    const o = v as Record<string, unknown> | null;
    return (
      o !== null &&
      typeof o === 'object' &&
      typeof o.apply === 'function' &&
      typeof o.describe === 'function' &&
      'lossy' in o
    );
  },
  { message: 'is not an operation: use the catalogue (renameField, addField, ...) or up()/down()' },
);

const nonEmpty = z
  .string({ error: 'must be a non-empty string' })
  .refine((v) => v.trim() !== '', 'must be a non-empty string');

/** new path -> old path: both valid field paths (`a.b`, `items[].sku`), and not the same. */
const aliases = z
  .record(z.string(), z.string({ error: 'must be a field path (the old name)' }), {
    error: "must map new field paths to old ones: { fullName: 'name' }",
  })
  .superRefine((a, ctx) => {
    for (const [to, from] of Object.entries(a)) {
      const problem = fieldPathProblem(to) ?? fieldPathProblem(from);
      if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [to], message: problem });
      else if (to === from)
        ctx.addIssue({ code: 'custom', path: [to], message: 'names the same path on both sides' });
    }
  });

const version = z
  .number({ error: 'must be a whole number >= 0' })
  .int('must be a whole number >= 0')
  .min(0, 'must be a whole number >= 0');

const targetShape = {
  collection: z
    .string({ error: 'must name the target collection' })
    .min(1, 'must name the target collection'),
  store: z
    .string({ error: 'must be a store URL' })
    .superRefine((url, ctx) => {
      try {
        parseStoreUrl(url, 'target.store');
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: (err as Error).message });
      }
    })
    .optional(),
  key: z
    .object(
      {
        up: fn('must be a function (key) => target key'),
        down: fn('must be a function (target key) => key, the inverse of up'),
      },
      { error: 'must be { up: (key) => targetKey, down: (targetKey) => key }' },
    )
    .strict()
    .optional(),
};

const target = z.object(targetShape, { error: 'must be { collection, store?, key? }' }).strict();

const splitTarget = z
  .object(
    {
      ...targetShape,
      operations: z
        .array(operation, {
          error: 'must be an array of operations (renameField(...), addField(...), ...)',
        })
        .optional(),
      up: fn('must be a function (doc) => the document of this target').optional(),
      down: fn('must be a function (doc) => doc').optional(),
    },
    { error: 'must be { collection, up, key?, store?, operations?, down? }' },
  )
  .strict();

const targets = z
  .array(splitTarget, { error: 'must be an array of targets: [{ collection, up }, ...]' })
  .min(2, 'must name at least two targets (one target: use target)');

const lookups = z.record(
  z
    .string()
    .regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, 'must be a name up() can read (ctx.lookups.<name>)'),
  z
    .object(
      {
        collection: z
          .string({ error: 'must name the collection to read' })
          .min(1, 'must name the collection to read'),
        by: z
          .string({ error: 'must be the field that holds the key (e.g. "doc_id")' })
          .regex(/^[^.]+(\.[^.]+)*$/, 'must be the field that holds the key (e.g. "doc_id")'),
      },
      { error: 'must be { collection, by }' },
    )
    .strict(),
  {
    error:
      "must be { <name>: { collection, by } }, e.g. { docOps: { collection: 'docOps', by: 'doc_id' } }",
  },
);

const merge = z.record(
  z
    .string()
    .regex(/^[A-Za-z_$][A-Za-z0-9_$]*$/, 'must be a name up() can read (ctx.lookups.<name>)'),
  z
    .object(
      {
        collection: z
          .string({ error: 'must name the secondary source collection' })
          .min(1, 'must name the secondary source collection')
          .refine((c) => !c.startsWith('_sy_'), 'must not be a reserved _sy_ collection'),
      },
      { error: 'must be { collection }' },
    )
    .strict(),
  {
    error: "must be { <name>: { collection } }, e.g. { profile: { collection: 'profiles' } }",
  },
);

const plainPath = (what: string) =>
  z.string({ error: `must be ${what}` }).regex(/^[^.[\]]+(\.[^.[\]]+)*$/, `must be ${what}`);

const fanOut = z
  .object(
    {
      path: plainPath('the array field whose elements move out (e.g. "auditLog")'),
      into: z
        .string({ error: 'must name the collection that receives the elements' })
        .min(1, 'must name the collection that receives the elements')
        .refine((c) => !c.startsWith('_sy_'), 'must not be a reserved _sy_ collection'),
      parentField: z
        .string({ error: 'must be the field that holds the parent\'s key (e.g. "userId")' })
        .regex(/^[^.[\]]+$/, 'must be the field that holds the parent\'s key (e.g. "userId")'),
      indexField: z
        .string({ error: 'must be a field name' })
        .regex(/^[^.[\]]+$/, 'must be a field name')
        .optional(),
      key: fn('must be a function (parentKey, element, index) => key').optional(),
    },
    {
      error:
        "must be { path, into, parentField, indexField?, key? }, e.g. { path: 'auditLog', into: 'auditLogs', parentField: 'userId' }",
    },
  )
  .strict();

const verify = z
  .object(
    {
      invariants: z
        .array(fn('must be a function (doc) => true | string'), {
          error: 'must be an array of functions',
        })
        .optional(),
      schema: z
        .record(z.string(), z.unknown(), { error: 'must be a JSON Schema object' })
        .optional(),
    },
    { error: 'must be { invariants?, schema? }' },
  )
  .strict();

const shape = {
  id: z
    .string({ error: 'must be letters, digits, ".", "_" or "-" (it defaults to the file name)' })
    .regex(
      /^[A-Za-z0-9][A-Za-z0-9._-]*$/,
      'must be letters, digits, ".", "_" or "-" (it defaults to the file name)',
    )
    .optional(),
  description: z.string({ error: 'must be a string' }).optional(),
  collection: z
    .string({ error: 'must name the collection to migrate' })
    .min(1, 'must name the collection to migrate'),
  from: version.optional(),
  to: version.optional(),
  versionField: z
    .string({ error: 'must be a field name' })
    .min(1, 'must be a field name')
    .optional(),
  provenance: z
    .string({ error: 'must be a field name' })
    .min(1, 'must be a field name')
    .refine((f) => f !== '_id', 'must not be _id')
    .optional(),
  unique: z
    .array(z.unknown(), {
      error: "must be an array of field paths or of arrays of them: ['email', ['tenant', 'slug']]",
    })
    .superRefine((entries, ctx) => {
      entries.forEach((e, i) => {
        const problem = uniqueEntryProblem(e);
        if (problem !== undefined) ctx.addIssue({ code: 'custom', path: [i], message: problem });
      });
    })
    .optional(),
  operations: z
    .array(operation, {
      error: 'must be an array of operations (renameField(...), addField(...), ...)',
    })
    .optional(),
  up: fn('must be a function (doc) => doc').optional(),
  down: fn('must be a function (doc) => doc').optional(),
  target: target.optional(),
  targets: targets.optional(),
  lookups: lookups.optional(),
  merge: merge.optional(),
  fanOut: fanOut.optional(),
  verify: verify.optional(),
  rationale: nonEmpty.optional(),
  owner: nonEmpty.optional(),
  author: nonEmpty.optional(),
  aliases: aliases.optional(),
  compatibility: z
    .enum(COMPATIBILITY_MODES as [string, ...string[]], {
      error: `must be one of ${COMPATIBILITY_MODES.join(', ')}`,
    })
    .optional(),
} satisfies Record<keyof MigrationDefinition, z.ZodType>;

export const migrationDefinitionSchema = z.object(shape, { error: 'must be an object' }).strict();
