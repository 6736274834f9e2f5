import { defineMigration, nestFields, wrapInArray } from 'switchyard';

/** sample_mflix movies, step 1: the `lastupdated` string moves into a `history` array of objects. */
export default defineMigration({
  collection: 'movies',
  from: 1,
  to: 2,
  operations: [nestFields(['lastupdated'], 'history'), wrapInArray('history')],
});
