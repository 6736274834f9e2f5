import { InputError } from '../core/errors.js';

/**
 * An operation's option that is one of a few words (`onConflict`, `onInvalid`, `when`, ...):
 * the value, or `fallback` when it is undefined; anything else is an InputError naming the
 * operation, the option and the choices.
 */
export function choiceArg<T extends string, D extends T | undefined>(
  op: string,
  option: string,
  choices: readonly T[],
  value: unknown,
  fallback: D,
): T | D {
  if (value === undefined) return fallback;
  if (!(choices as readonly unknown[]).includes(value)) {
    throw new InputError(
      `${op}: '${option}' must be one of ${choices.join(', ')} (got ${JSON.stringify(value)})`,
      { field: option },
    );
  }
  return value as T;
}
