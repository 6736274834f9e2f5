import { coerceType, defineMigration, mapElements, mapValue } from 'switchyard';

/**
 * sample_mflix movies, step 2: each history entry's date string ("2015-09-03 00:32:16.227000000",
 * not ISO 8601) becomes a Date. The string is first normalised to ISO (with an inverse that
 * restores the original spelling), then coerced; `plan` proves the round trip on real documents.
 */
const toIso = (s: unknown) => `${String(s).slice(0, 10)}T${String(s).slice(11, 23)}Z`;
const fromIso = (s: unknown) => `${String(s).slice(0, 10)} ${String(s).slice(11, 23)}000000`;

export default defineMigration({
  collection: 'movies',
  from: 2,
  to: 3,
  operations: [
    mapElements(
      'history',
      mapValue('lastupdated', toIso, fromIso),
      coerceType('lastupdated', 'date', { from: 'string' }),
    ),
  ],
  verify: {
    invariants: [
      (d) =>
        (d.history as { lastupdated: unknown }[]).every((h) => h.lastupdated instanceof Date) ||
        'a history date is not a Date',
    ],
  },
});
