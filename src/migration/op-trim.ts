import type { Operation } from './operation.js';
import { stringOperation } from './string-operation.js';

/**
 * Remove leading and trailing white space from the string at `path`
 * (`String.prototype.trim`). `null` and absent fields are left alone; any other non-string is
 * refused with an OperationError. With `[]`: `tags[]`, `emails[].address`.
 *
 * Lossy: 'ada ' and 'ada' both become 'ada'.
 *
 * @example trim('name')  // { name: '  Ada ' } → { name: 'Ada' }
 */
export function trim(path: string): Operation {
  return stringOperation('trim', path, 'trim', 'the removed white space is not kept', (s) =>
    s.trim(),
  );
}
