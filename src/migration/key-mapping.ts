/**
 * A side-by-side migration's key mapping (`target.key: { up, down }`): the target stores the
 * document of source key `k` under `up(k)`, and `down` gives the source key back. Keys are the
 * contract's string keys (core/keys.ts; on DynamoDB a partition key alone is its string, a
 * partition + sort key a JSON array of the two: `["USER#1","PROFILE"]`).
 *
 * Rules:
 * - Both functions are pure and deterministic (they run in every process, on every key, again on
 *   every rerun); they must return a non-empty string.
 * - The inverse is checked on every key mapped to the target: `down(up(k))` must be `k`. That
 *   proves the mapping injective on the data (two source keys mapping to one target key cannot
 *   both come back), so no target document is written by two source documents. A key that fails
 *   (up() throws, returns no key, or down() does not give it back) is refused with a
 *   KeyMappingError naming it: the copy and catch-up send that document to the dead letters.
 * - The other way, a target key is the document of source key `down(tk)` only if `up(down(tk))`
 *   is `tk` again; any other target key has no source key (verify reports it as extra).
 */
import { SwitchyardError } from '../core/errors.js';
import type { Key } from '../store/contract.js';

/** How a migration declares it: two pure functions on string keys. */
export interface KeyMappingDefinition {
  /** source key -> target key */
  up: (key: string) => string;
  /** target key -> source key: the inverse of `up` */
  down: (key: string) => string;
}

/** A source key the mapping cannot carry to the target (not mapped, or not invertible). */
export class KeyMappingError extends SwitchyardError {
  override readonly code = 'E_KEY_MAPPING';
  constructor(
    readonly migrationId: string,
    readonly key: Key,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(`${migrationId} target.key: ${message}`, options);
  }
}

export class KeyMapping {
  readonly #id: string;
  readonly #def: KeyMappingDefinition;

  constructor(migrationId: string, def: KeyMappingDefinition) {
    this.#id = migrationId;
    this.#def = def;
  }

  /** The target key of source key `key`, checked by the header's rules; a KeyMappingError if not. */
  toTarget(key: Key): Key {
    const mapped = this.#call('up', key);
    const back = this.#call('down', mapped, key);
    if (back !== key)
      throw new KeyMappingError(
        this.#id,
        key,
        `'${key}' maps to '${mapped}', whose down() is '${back}': the mapping is not invertible on this key (two source keys could share one target key), so '${key}' was not copied`,
      );
    return mapped;
  }

  /** The source key whose document target key `key` holds, or undefined when there is none. */
  toSource(key: Key): Key | undefined {
    try {
      const back = this.#call('down', key);
      return this.#call('up', back) === key ? back : undefined;
    } catch {
      return undefined;
    }
  }

  /** The KeyMappingError of `key`, or undefined when it maps. */
  problem(key: Key): KeyMappingError | undefined {
    try {
      this.toTarget(key);
      return undefined;
    } catch (err) {
      if (err instanceof KeyMappingError) return err;
      throw err;
    }
  }

  #call(fn: 'up' | 'down', key: Key, source: Key = key): Key {
    let out: unknown;
    try {
      out = this.#def[fn](key);
    } catch (err) {
      throw new KeyMappingError(
        this.#id,
        source,
        `${fn}('${key}') threw: ${(err as Error)?.message ?? String(err)}`,
        { cause: err },
      );
    }
    if (typeof out !== 'string' || out === '')
      throw new KeyMappingError(
        this.#id,
        source,
        `${fn}('${key}') returned ${typeof out === 'string' ? 'an empty string' : String(out)}, not a key`,
      );
    return out;
  }
}
