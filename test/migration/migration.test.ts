import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ExitCode, InputError } from '../../src/core/errors.js';
import { defineMigration } from '../../src/migration/define-migration.js';
import { compileMigration, loadMigrations } from '../../src/migration/load-migrations.js';
import { TransformError } from '../../src/migration/migration.js';
import { addField, removeField, renameField, splitField } from '../../src/migration/index.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-migr-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const write = (name: string, text: string) => fs.writeFileSync(path.join(dir, name), text);

describe('a compiled migration', () => {
  const m = compileMigration({
    ...defineMigration({ collection: 'users', operations: [renameField('name', 'fullName')] }),
    id: 'm1',
  });

  it('moves documents from version 1 (absent) to 2 and back', () => {
    const up = m.up({ _id: 'a', name: 'Ada' });
    expect(up).toEqual({ _id: 'a', fullName: 'Ada', _sv: 2 });
    expect(m.isMigrated(up)).toBe(true);
    // back at the chain's first version: no version field (absent means that version)
    expect(m.down(up)).toEqual({ _id: 'a', name: 'Ada' });
    expect(m.sameAtFrom(m.down(up), { _id: 'a', name: 'Ada' })).toBe(true);
    expect(m.reversible).toBe(true);
    expect(m.provablyExact).toBe(true);
  });

  it('refuses documents at another version', () => {
    expect(() => m.up({ _sv: 2, fullName: 'x' })).toThrow(TransformError);
    expect(() => m.up({ _sv: 7 })).toThrow(/version 7, expected 1/);
    expect(() => m.down({ _sv: 1 })).toThrow(/expected 2/);
  });

  it('names lossy steps, and custom up without down', () => {
    const lossy = compileMigration({
      id: 'm2',
      collection: 'c',
      operations: [removeField('x'), addField('t', 'free')],
    });
    expect(lossy.reversible).toBe(false);
    expect(lossy.lossy.map((l) => l.step)).toHaveLength(2);
    expect(() => lossy.down({ _sv: 2 })).toThrow(/no exact inverse/);
    const custom = compileMigration({ id: 'm3', collection: 'c', up: (d) => ({ ...d, y: 1 }) });
    expect(custom.lossy).toEqual([
      { step: 'up (custom)', reason: 'a custom up() without a down()' },
    ]);
  });

  it('runs custom up/down after/before the operations', () => {
    const both = compileMigration({
      id: 'm4',
      collection: 'c',
      from: 3,
      to: 4,
      versionField: 'schema',
      operations: [splitField('name', ['first', 'last'], ' ')],
      up: (d) => {
        d.initials = `${String(d.first)[0]}${String(d.last)[0]}`;
      },
      down: (d) => {
        delete d.initials;
      },
    });
    const up = both.up({ name: 'Ada Lovelace', schema: 3 });
    expect(up).toEqual({ first: 'Ada', last: 'Lovelace', initials: 'AL', schema: 4 });
    expect(both.down(up)).toEqual({ name: 'Ada Lovelace' });
    expect(both.provablyExact).toBe(false); // a custom down is trusted, not proven
  });

  it('wraps errors thrown by user code with the original as cause', () => {
    const boom = compileMigration({
      id: 'm5',
      collection: 'c',
      up: () => {
        throw new RangeError('bad');
      },
    });
    try {
      boom.up({});
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(TransformError);
      expect((err as Error).message).toBe('m5 up: bad');
      expect((err as Error).cause).toBeInstanceOf(RangeError);
    }
  });

  it('checks invariants and the after-schema', () => {
    const checked = compileMigration({
      id: 'm6',
      collection: 'c',
      operations: [splitField('name', ['first', 'last'], ' ')],
      verify: {
        invariants: [
          (d) => (typeof d.first === 'string' && d.first.length > 0) || 'first is empty',
        ],
        schema: {
          type: 'object',
          required: ['first', 'last'],
          properties: { born: { type: 'string', format: 'date-time' } },
        },
      },
    });
    expect(checked.check({ first: 'Ada', last: 'L', born: new Date() })).toEqual([]);
    expect(checked.check({ first: '', born: 'yesterday' })).toEqual([
      'invariant 1: first is empty',
      "schema: / must have required property 'last'",
      'schema: /born must match format "date-time"',
    ]);
  });
});

describe('definition errors name the file and the field', () => {
  const cases: [string, Record<string, unknown>, string][] = [
    ['collection', { operations: [] }, 'collection'],
    ['to', { collection: 'c', from: 3, to: 2 }, 'to'],
    ['from', { collection: 'c', from: 1.5 }, 'from'],
    [
      'operations[1]',
      { collection: 'c', operations: [renameField('a', 'b'), { apply: 1 }] },
      'operations[1]',
    ],
    [
      'target.store',
      {
        collection: 'c',
        up: (d: unknown) => d,
        target: { collection: 'c2', store: 'nope://x:secret@h' },
      },
      'target.store',
    ],
    [
      'lookups.docOps.by',
      { collection: 'c', up: (d: unknown) => d, lookups: { docOps: { collection: 'docOps' } } },
      'lookups.docOps.by',
    ],
    [
      'lookups.docOps.collection',
      { collection: 'c', up: (d: unknown) => d, lookups: { docOps: { collection: '', by: 'x' } } },
      'lookups.docOps.collection',
    ],
    [
      'verify.invariants[0]',
      { collection: 'c', up: (d: unknown) => d, verify: { invariants: ['x'] } },
      'verify.invariants[0]',
    ],
    [
      'verify.schema',
      { collection: 'c', up: (d: unknown) => d, verify: { schema: { type: 'nonsense' } } },
      'verify.schema',
    ],
  ];
  it.each(cases)('%s', (_name, def, field) => {
    const err = definitionError(def, field);
    expect(err.message).toContain('migrations/x.ts');
    expect(err.message).not.toContain('secret');
  });
});

/** The InputError (exit 2) compiling `def` as migrations/x.ts gives, naming `field`. */
function definitionError(def: Record<string, unknown>, field: string): InputError {
  let err: InputError | undefined;
  try {
    compileMigration({ id: 'x', ...def } as never, { file: 'migrations/x.ts' });
  } catch (e) {
    err = e as InputError;
  }
  expect(err).toBeInstanceOf(InputError);
  expect(err!.exitCode).toBe(ExitCode.usage);
  expect(err!.field).toBe(field);
  return err!;
}

describe('the manifest fields (rationale, owner, author, aliases, compatibility) are checked, not refused', () => {
  const up = (d: unknown) => d;
  it('accepts them', () => {
    const m = compileMigration({
      id: 'x',
      collection: 'c',
      up,
      rationale: 'the mail service calls it mail',
      owner: 'team-identity',
      author: 'ada',
      aliases: { 'profile.mail': 'email', 'items[].sku': 'items[].code' },
      compatibility: 'FULL',
    } as never);
    expect(m.id).toBe('x');
  });
  const bad: [string, Record<string, unknown>, string, RegExp][] = [
    ['an empty owner', { owner: '  ' }, 'owner', /must be a non-empty string/],
    ['a rationale that is not a string', { rationale: 3 }, 'rationale', /non-empty string/],
    ['an unknown mode', { compatibility: 'SIDEWAYS' }, 'compatibility', /must be one of BACKWARD/],
    ['aliases that are a list', { aliases: ['a'] }, 'aliases', /must map new field paths/],
    ['an alias to the same path', { aliases: { a: 'a' } }, 'aliases.a', /the same path/],
    ['an alias that is no path', { aliases: { 'a.': 'b' } }, 'aliases.a.', /invalid field path/],
    ['an old path that is no path', { aliases: { a: 'b[' } }, 'aliases.a', /invalid field path/],
  ];
  it.each(bad)('%s', (_name, extra, field, message) => {
    expect(definitionError({ collection: 'c', up, ...extra }, field).message).toMatch(message);
  });
});

describe('unknown fields are errors, never ignored', () => {
  const unknown: [string, Record<string, unknown>, string, RegExp][] = [
    [
      'a misspelt verify',
      { collection: 'c', up: (d: unknown) => d, verfy: { invariants: [() => false] } },
      'verfy',
      /unknown field 'verfy': did you mean 'verify'\? \(known: id, description, collection/,
    ],
    [
      'a misspelt field inside verify',
      { collection: 'c', up: (d: unknown) => d, verify: { invarients: [() => false] } },
      'verify.invarients',
      /unknown field 'invarients': did you mean 'invariants'\? \(known: invariants, schema\)/,
    ],
    [
      'a misspelt field inside target',
      { collection: 'c', up: (d: unknown) => d, target: { collection: 'd', stor: 'memory:' } },
      'target.stor',
      /did you mean 'store'/,
    ],
    [
      'a field nothing resembles',
      { collection: 'c', up: (d: unknown) => d, retries: 3 },
      'retries',
      /unknown field 'retries' \(known: /,
    ],
  ];
  it.each(unknown)('%s', (_name, def, field, message) => {
    const err = definitionError({ ...defineMigration(def as never) }, field);
    expect(err.message).toMatch(/^migrations\/x\.ts, field '/);
    expect(err.message).toMatch(message);
  });

  it('an unknown field is reported before the problems it explains', () => {
    // `collecton` is why `collection` looks missing: say that, not "must name the collection"
    expect(() =>
      compileMigration({ id: 'x', collecton: 'users', up: (d: unknown) => d } as never),
    ).toThrow(/unknown field 'collecton': did you mean 'collection'\?/);
  });

  it('names the file of a migration file with a misspelt field', async () => {
    write(
      '20260101-typo.mjs',
      `export default { collection: 'users', up: (d) => d, verfy: { invariants: [() => false] } };`,
    );
    await expect(loadMigrations(dir)).rejects.toThrow(
      /20260101-typo\.mjs, field 'verfy': unknown field 'verfy': did you mean 'verify'\?/,
    );
  });
});

describe('loading a directory', () => {
  it('loads TypeScript and JavaScript files at run time, ids default to file names', async () => {
    write(
      '20260101-a.ts',
      `import { defineMigration, renameField } from 'switchyard';\nconst n: number = 1;\nexport default defineMigration({ collection: 'users', from: n, operations: [renameField('a', 'b')] });\n`,
    );
    write(
      '20260102-b.mjs',
      `import { defineMigration, addField } from 'switchyard';\nexport default defineMigration({ collection: 'users', from: 2, to: 3, operations: [addField('t', 'x')] });\n`,
    );
    write('notes.md', 'not a migration');
    const ms = await loadMigrations(dir);
    expect(ms.map((m) => [m.id, m.from, m.to])).toEqual([
      ['20260101-a', 1, 2],
      ['20260102-b', 2, 3],
    ]);
    expect(ms[0]!.checksum).toMatch(/^[0-9a-f]{64}$/);
    expect(ms[0]!.up({ a: 1 })).toEqual({ b: 1, _sv: 2 });
  });

  it("in a chain, a document without a version is at the chain's first version", async () => {
    write('a.mjs', `export default { collection: 'u', from: 1, to: 2, up: (d) => d };`);
    write('b.mjs', `export default { collection: 'u', from: 2, to: 3, up: (d) => d };`);
    const [a, b] = await loadMigrations(dir);
    expect(a!.versionOf({})).toBe(1);
    expect(b!.versionOf({})).toBe(1);
    expect(() => b!.up({ x: 1 })).toThrow(/version 1, expected 2/);
    expect(b!.up(a!.up({ x: 1 }))).toEqual({ x: 1, _sv: 3 });
  });

  it('a file that does not load names the file', async () => {
    write(
      'bad.ts',
      `import { defineMigration } from 'switchyard';\nexport default defineMigration({ collection: 'users', operations: [ ;\n`,
    );
    await expect(loadMigrations(dir)).rejects.toThrow(/bad\.ts.*does not load/);
  });

  it('a file without a migration names the file', async () => {
    write('empty.ts', `export const x = 1;\n`);
    await expect(loadMigrations(dir)).rejects.toThrow(/empty\.ts.*no migration/);
  });

  it('version gaps and duplicates are errors', async () => {
    write('a.mjs', `export default { collection: 'u', from: 1, to: 2, up: (d) => d };`);
    write('b.mjs', `export default { collection: 'u', from: 3, to: 4, up: (d) => d };`);
    await expect(loadMigrations(dir)).rejects.toThrow(
      /version gap in 'u': a goes 1->2, then b starts at 3/,
    );
    // (new names: Node caches a native .mjs module by path for the life of the process)
    fs.rmSync(path.join(dir, 'b.mjs'));
    write('c.mjs', `export default { collection: 'u', from: 1, to: 2, up: (d) => d };`);
    await expect(loadMigrations(dir)).rejects.toThrow(/both start at version 1/);
    fs.rmSync(path.join(dir, 'c.mjs'));
    write('d.mjs', `export default { collection: 'other', from: 1, to: 2, up: (d) => d };`);
    expect(await loadMigrations(dir)).toHaveLength(2);
  });

  it('a missing directory is a clear error', async () => {
    await expect(loadMigrations(path.join(dir, 'nope'))).rejects.toThrow(/switchyard init/);
  });
});
