/**
 * A split side by side (issue 16 item 3): each `discount` becomes a `promotion` (the first
 * target, which answers reads) and a `coupon` that refers to it. Shared by the split tests.
 */
import type { Doc } from '../../src/core/values.js';
import type { Store } from '../../src/store/contract.js';

export const SPLIT_ID = '20261201-split-discounts';

/** The migration file (plain object: the loader needs no import). */
export const SPLIT_MIGRATION_FILE = `export default {
  collection: 'discounts',
  targets: [
    {
      collection: 'promotions',
      up: (d) => ({ _id: d._id, percent: d.percent, until: d.until, code: d.code, note: d.note, kind: 'promotion' }),
      down: (p) => { const { kind, ...rest } = p; return rest; },
    },
    {
      collection: 'coupons',
      up: (d) => ({ _id: d._id, code: String(d.code).toUpperCase(), promotion: d._id }),
    },
  ],
};
`;

export const discountKey = (i: number): string => `d${String(i).padStart(6, '0')}`;

export function discountOf(i: number): Doc {
  return {
    _id: discountKey(i),
    code: `save${i}`,
    percent: i % 50,
    until: '2027-01-01',
    note: 'seed',
  };
}

export async function seedDiscounts(store: Store, n: number): Promise<void> {
  for (let i = 0; i < n; i += 500)
    await store.collection('discounts').write(
      Array.from({ length: Math.min(500, n - i) }, (_, j) => ({
        type: 'put' as const,
        key: discountKey(i + j),
        doc: discountOf(i + j),
      })),
    );
}

/** What each target must hold for a source document (the migration's up()s, stamped _sv 2). */
export function promotionOf(d: Doc): Doc {
  return {
    _id: d._id!,
    percent: d.percent!,
    until: d.until!,
    code: d.code!,
    note: d.note!,
    kind: 'promotion',
    _sv: 2,
  };
}
export function couponOf(d: Doc): Doc {
  return { _id: d._id!, code: String(d.code).toUpperCase(), promotion: d._id!, _sv: 2 };
}
