/**
 * One key at a time: the calls of a process that write the same key run one after the other, in
 * the order they were made; calls on different keys run at once.
 *
 * Rules:
 * - `run(key, fn)` starts `fn` when every earlier call of `run` with the same key has settled
 *   (resolved or rejected: a failed write does not stop the ones after it);
 * - a key is forgotten once its last call settled, so memory follows the keys in flight only.
 */
import type { Key } from '../store/contract.js';

export class KeyQueue {
  readonly #tails = new Map<Key, Promise<unknown>>();

  run<T>(key: Key, fn: () => Promise<T>): Promise<T> {
    const before = this.#tails.get(key) ?? Promise.resolve();
    const result = before.then(fn, fn);
    const tail = result.then(
      () => undefined,
      () => undefined,
    );
    this.#tails.set(key, tail);
    void tail.then(() => {
      if (this.#tails.get(key) === tail) this.#tails.delete(key);
    });
    return result;
  }

  /** keys with a call queued or running (for tests) */
  get size(): number {
    return this.#tails.size;
  }
}
