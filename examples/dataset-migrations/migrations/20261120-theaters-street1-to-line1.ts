import { defineMigration, renameField } from 'switchyard';

/** sample_mflix.theaters: a field renamed inside nested objects. */
export default defineMigration({
  collection: 'theaters',
  operations: [renameField('location.address.street1', 'location.address.line1')],
});
