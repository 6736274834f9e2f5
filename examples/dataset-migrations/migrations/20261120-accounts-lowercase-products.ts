import { defineMigration, lowercase } from 'switchyard';

/** sample_analytics.accounts: product names lowercased inside the `products` array. */
export default defineMigration({
  collection: 'accounts',
  operations: [lowercase('products[]')],
  verify: {
    invariants: [
      (d) =>
        (d.products as string[]).every((p) => p === p.toLowerCase()) ||
        'a product is not lowercase',
    ],
  },
});
