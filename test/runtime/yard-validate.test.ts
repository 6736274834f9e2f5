/**
 * Validation at the boundary, the runtime half (issue 13 item 12): with `validate`, a put that
 * fails a migration's invariants or JSON Schema is refused with an error naming the key and the
 * failure, and nothing is written on either side.
 */
import { describe, expect, it } from 'vitest';
import { ExitCode } from '../../src/core/errors.js';
import type { Doc } from '../../src/core/values.js';
import { Stage } from '../../src/engine/stages.js';
import { renameField, splitField } from '../../src/migration/index.js';
import { compileMigration } from '../../src/migration/load-migrations.js';
import { InvalidDocumentError } from '../../src/runtime/version-chain.js';
import {
  closeAfterEach,
  docsOf,
  fixture,
  moveTo,
  newStore,
  renameMigration,
  STORE_KINDS,
  yardFor,
} from './yard-fixtures.js';

const open = closeAfterEach();

const verify = {
  invariants: [(d: Doc) => typeof d.last === 'string' || 'last name missing'],
  schema: { type: 'object', required: ['email'], properties: { email: { format: 'email' } } },
};

const inPlace = () =>
  compileMigration({
    id: 'm-split',
    collection: 'users',
    operations: [splitField('name', ['first', 'last'], ' ')],
    verify,
  });

const sideBySide = () =>
  renameMigration({
    invariants: [(d: Doc) => String(d.fullName).trim() !== '' || 'fullName is blank'],
    schema: verify.schema,
  });

/** the InvalidDocumentError a put fails with */
async function refusal(p: Promise<unknown>): Promise<InvalidDocumentError> {
  const err = await p.then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InvalidDocumentError);
  return err as InvalidDocumentError;
}

describe.each(STORE_KINDS)('validated puts on %s', (kind) => {
  it('in place: a put of either shape is checked as the migration will have it; a failure writes nothing', async () => {
    const store = newStore(kind);
    const m = inPlace();
    const yard = await yardFor(fixture(store, m), { validate: true });
    open.push({ yard, store });
    const users = yard.collection('users');

    await users.put({ _id: 'ok', name: 'Ada Lovelace', email: 'ada@example.com' });
    await users.put({ _id: 'ok2', first: 'Alan', last: 'Turing', email: 'a@t.uk', _sv: 2 });

    // the old shape, checked on up(doc): 'Cher' has no last name
    const cher = await refusal(users.put({ _id: 'cher', name: 'Cher', email: 'cher@example.com' }));
    expect(cher.message).toBe(
      "put of 'cher' in 'users' refused, nothing written: m-split: invariant 1: last name missing",
    );
    expect(cher).toMatchObject({
      code: 'E_INVALID_DOCUMENT',
      exitCode: ExitCode.usage,
      key: 'cher',
      failures: [{ migration: 'm-split', failure: 'invariant 1: last name missing' }],
    });
    // the new shape, checked as it is: both failures named
    const bad = await refusal(users.put({ _id: 'bad', first: 'X', email: 'not-mail', _sv: 2 }));
    expect(bad.failures.map((f) => f.failure)).toEqual([
      'invariant 1: last name missing',
      'schema: /email must match format "email"',
    ]);
    // up() itself refuses (name is not a string): named, not thrown raw
    const odd = await refusal(users.put({ _id: 'odd', name: 42, email: 'o@x.io' }));
    expect(odd.message).toMatch(/^put of 'odd' in 'users' refused, nothing written: m-split up: /);

    expect((await docsOf(store, 'users')).map((d) => d._id)).toEqual(['ok', 'ok2']);
  });

  it('side by side in dual-write: refused before either side is written, nothing queued for repair', async () => {
    const store = newStore(kind);
    const f = fixture(store, sideBySide());
    await moveTo(f, Stage.dualWrite);
    const yard = await yardFor(f); // validation asked per collection
    open.push({ yard, store });
    const checked = yard.collection('users', { validate: true });

    await checked.put({ _id: 'u1', name: 'Ada', email: 'ada@example.com' });
    const err = await refusal(checked.put({ _id: 'u2', name: '  ', email: 'x' }));
    expect(err.failures).toEqual([
      { migration: 'm-rename', failure: 'invariant 1: fullName is blank' },
      { migration: 'm-rename', failure: 'schema: /email must match format "email"' },
    ]);
    expect(await docsOf(store, 'users')).toEqual([
      { _id: 'u1', name: 'Ada', email: 'ada@example.com' },
    ]);
    expect((await docsOf(store, 'users_v2')).map((d) => d._id)).toEqual(['u1']);
    expect(await store.collection('_sy_repair_m-rename').count()).toBe(0);

    // without validation (the default) the same put goes through, as before
    await yard.collection('users').put({ _id: 'u2', name: '  ', email: 'x' });
    expect((await docsOf(store, 'users')).map((d) => d._id)).toEqual(['u1', 'u2']);
  });

  it('the message lists at most five failures and says how many more', async () => {
    const store = newStore(kind);
    const m = compileMigration({
      id: 'm-many',
      collection: 'users',
      operations: [renameField('a', 'b')],
      verify: { invariants: Array.from({ length: 7 }, (_, i) => () => `rule ${i + 1}`) },
    });
    const yard = await yardFor(fixture(store, m), { validate: true });
    open.push({ yard, store });
    const err = await refusal(yard.collection('users').put({ _id: 'k', a: 1 }));
    expect(err.failures).toHaveLength(7);
    expect(err.message).toMatch(/m-many: invariant 5: rule 5; and 2 more$/);
  });
});
