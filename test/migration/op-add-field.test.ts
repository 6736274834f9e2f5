import { describe, expect, it } from 'vitest';
import { ObjectId } from 'bson';
import { InputError } from '../../src/core/errors.js';
import type { Doc } from '../../src/core/values.js';
import { addField } from '../../src/migration/op-add-field.js';
import { applyChecked, refusal } from './helpers.js';

describe('addField', () => {
  it('adds a constant where absent, and leaves present values (even null) alone', () => {
    const op = addField('tier', 'free');
    expect(applyChecked(op, { name: 'Ada' })).toEqual({ name: 'Ada', tier: 'free' });
    expect(applyChecked(op, { tier: 'pro' })).toEqual({ tier: 'pro' });
    expect(applyChecked(op, { tier: null })).toEqual({ tier: null });
  });

  it('copies object values into each document', () => {
    const op = addField('prefs', { theme: 'dark' });
    const a = op.apply({});
    const b = op.apply({});
    expect(a.prefs).toEqual({ theme: 'dark' });
    expect(a.prefs).not.toBe(b.prefs);
  });

  it('computes the value from the document as given', () => {
    const op = addField('meta.keys', (doc) => Object.keys(doc).length);
    expect(applyChecked(op, { a: 1, b: 2 })).toEqual({ a: 1, b: 2, meta: { keys: 2 } });
  });

  it('adds to every object element with []', () => {
    const op = addField('items[].qty', (_doc, parent) => (parent as Doc).n ?? 0);
    expect(applyChecked(op, { items: [{ n: 2 }, { qty: 5 }, 'x', {}] })).toEqual({
      items: [{ n: 2, qty: 2 }, { qty: 5 }, 'x', { qty: 0 }],
    });
  });

  it('refuses to create through a non-object, and bad function results', () => {
    expect(refusal(addField('a.b', 1), { a: 'str' }).message).toMatch(
      /at 'a': cannot create a field inside a string/,
    );
    expect(
      refusal(
        addField('x', () => undefined as never),
        {},
      ).message,
    ).toMatch(/returned undefined/);
    const err = refusal(
      addField('x', () => {
        throw new Error('boom');
      }),
      {},
    );
    expect(err.message).toMatch(/the value function threw: boom/);
    expect((err.cause as Error).message).toBe('boom');
  });

  it('is lossy, with a reason', () => {
    const op = addField('id', new ObjectId());
    expect(op.lossy).toMatch(/already has the field/);
    expect(op.inverse()).toBeUndefined();
  });

  it('rejects bad arguments', () => {
    expect(() => addField('', 1)).toThrow(InputError);
    expect(() => addField('a[]', 1)).toThrow(/must end with a field name/);
    expect(() => addField('a', undefined as never)).toThrow(/'valueOrFn' is required/);
  });
});
