/** The operations catalogue: each factory returns an {@link Operation}. */
export type { Operation, OperationSpec, Fail } from './operation.js';
export { defineOperation } from './operation.js';
export {
  OperationError,
  SkippedDocumentError,
  type OperationErrorDetails,
} from './operation-error.js';
export { ON_INVALID, type OnInvalid } from './on-invalid.js';
export { composeOperations, type ComposedOperations } from './operations.js';
export { addField, type AddFieldFn } from './op-add-field.js';
export {
  coerceType,
  COERCE_TYPES,
  type CoerceType,
  type CoerceTypeOptions,
} from './op-coerce-type.js';
export { copyField } from './op-copy-field.js';
export { joinFields, type JoinFieldsOptions } from './op-join-fields.js';
export { lowercase } from './op-lowercase.js';
export { mapElements } from './op-map-elements.js';
export { mapValue, type MapValueFn } from './op-map-value.js';
export { nestFields } from './op-nest-fields.js';
export { objectToArray, type ObjectToArrayOptions } from './op-object-to-array.js';
export {
  arrayToObject,
  ON_DUPLICATE,
  type ArrayToObjectOptions,
  type OnDuplicate,
} from './op-array-to-object.js';
export type { EntryOptions } from './entries.js';
export { removeCopy } from './op-remove-copy.js';
export {
  removeField,
  REMOVE_WHEN,
  type RemoveFieldOptions,
  type RemoveWhen,
} from './op-remove-field.js';
export { renameField, type ConflictOptions } from './op-rename-field.js';
export { ON_CONFLICT, type OnConflict } from './on-conflict.js';
export { splitField } from './op-split-field.js';
export { trim } from './op-trim.js';
export { unnestField, type UnnestFieldOptions } from './op-unnest-field.js';
export { unwrapArray } from './op-unwrap-array.js';
export { wrapInArray, type WrapInArrayOptions } from './op-wrap-in-array.js';
