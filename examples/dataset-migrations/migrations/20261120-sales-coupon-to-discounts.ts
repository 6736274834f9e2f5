import { defineMigration, mapValue, renameField } from 'switchyard';

/** sample_supplies.sales: the boolean `couponUsed` becomes an array of discounts. */
export default defineMigration({
  collection: 'sales',
  operations: [
    renameField('couponUsed', 'discounts'),
    mapValue(
      'discounts',
      (used) => (used === true ? ['coupon'] : []),
      (discounts) => (discounts as string[]).includes('coupon'),
    ),
  ],
  verify: {
    schema: {
      type: 'object',
      required: ['discounts'],
      properties: { discounts: { type: 'array', items: { enum: ['coupon'] } } },
    },
  },
});
