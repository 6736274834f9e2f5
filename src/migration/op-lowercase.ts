import type { Operation } from './operation.js';
import { stringOperation } from './string-operation.js';

/**
 * Lower-case the string at `path` (`String.prototype.toLowerCase`, not locale-specific). `null`
 * and absent fields are left alone; any other non-string is refused with an OperationError.
 * With `[]`: `tags[]`, `emails[].address`.
 *
 * Lossy: 'Ada' and 'ADA' both become 'ada'.
 *
 * @example lowercase('email')  // { email: 'Ada@Example.com' } → { email: 'ada@example.com' }
 */
export function lowercase(path: string): Operation {
  return stringOperation(
    'lowercase',
    path,
    `lower-case`,
    'the original letter case is not kept',
    (s) => s.toLowerCase(),
  );
}
