import { defineMigration, nestFields, wrapInArray } from 'switchyard';

/** sample_geospatial.shipwrecks: the scalar `depth` ("" or a number) wrapped into an array of objects. */
export default defineMigration({
  collection: 'shipwrecks',
  operations: [nestFields(['depth'], 'soundings'), wrapInArray('soundings')],
});
