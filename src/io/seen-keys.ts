/**
 * Which keys an import has already written, in little memory: a 95-bit fingerprint of each key
 * (from its SHA-1) and the line it came on, about 40 bytes a key instead of the key itself, so a
 * file of millions of documents stays within the import's memory budget.
 *
 * The first 31 bits index a Map (small integers, cheap to hold); the other 64 are kept in typed
 * arrays beside the line. Keys whose first 31 bits are another's (a few hundred in a million) go
 * to a small second Map under their whole fingerprint. Two different keys are taken for one only
 * if all 95 bits are equal: odds far below 1 in 10^15 for a file of a million keys. That would
 * report a repeated key that is not one; what is written is unaffected.
 */
import { hash } from 'node:crypto';

export class SeenKeys {
  /** the first 31 bits of a fingerprint -> its slot */
  readonly #slots = new Map<number, number>();
  /** per slot: the other 64 bits, and the line */
  #a = new Uint32Array(1024);
  #b = new Uint32Array(1024);
  #line = new Uint32Array(1024);
  #size = 0;
  /** keys whose first 31 bits are taken by another key: whole fingerprint -> line */
  readonly #more = new Map<string, number>();

  /** The line `key` was first seen on; or undefined, and it is remembered as seen on `line`. */
  firstSeen(key: string, line: number): number | undefined {
    const fp = hash('sha1', key, 'buffer');
    const head = fp.readUInt32BE(0) >>> 1;
    const a = fp.readUInt32BE(4);
    const b = fp.readUInt32BE(8);
    const slot = this.#slots.get(head);
    if (slot === undefined) {
      this.#add(head, a, b, line);
      return undefined;
    }
    if (this.#a[slot] === a && this.#b[slot] === b) return this.#line[slot];
    const whole = `${head}:${a}:${b}`;
    const other = this.#more.get(whole);
    if (other !== undefined) return other;
    this.#more.set(whole, line);
    return undefined;
  }

  #add(head: number, a: number, b: number, line: number): void {
    if (this.#size === this.#a.length) {
      const grow = (x: Uint32Array) => {
        const y = new Uint32Array(x.length * 2);
        y.set(x);
        return y;
      };
      this.#a = grow(this.#a);
      this.#b = grow(this.#b);
      this.#line = grow(this.#line);
    }
    this.#a[this.#size] = a;
    this.#b[this.#size] = b;
    this.#line[this.#size] = line;
    this.#slots.set(head, this.#size++);
  }
}
