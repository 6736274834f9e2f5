/**
 * Bytes to text for document files, noting every line that is not valid UTF-8 instead of
 * silently turning its bytes into U+FFFD (what a decoding stream does).
 *
 * Rules:
 * - A chunk that is valid UTF-8 (checked natively, `buffer.isUtf8`) is decoded as is; only a
 *   chunk that is not takes the slow path, which finds its bad lines and the first bad byte of
 *   each. The text of a bad line still comes out (with U+FFFD), so line numbers and the JSON
 *   structure around it stay right; the caller refuses or skips the records on those lines.
 * - A character cut in two by a chunk boundary is held back until the next chunk; bytes still
 *   held at the end are a truncated character, and that line is bad.
 * - Lines are counted by `\n` bytes (a byte that never occurs inside a UTF-8 sequence), from 1.
 */
import { isUtf8 } from 'node:buffer';

export interface BadUtf8Line {
  readonly line: number;
  /** the first byte that is not UTF-8 there, as `0xFF` */
  readonly byte: string;
}

const NEWLINE = 0x0a;

export class Utf8Text {
  /** the line the next byte is on */
  #line = 1;
  #carry: Buffer = Buffer.alloc(0);
  readonly #bad = new Map<number, BadUtf8Line>();

  /** Bad lines seen so far (only lines up to the end of the text returned). */
  get badLines(): ReadonlyMap<number, BadUtf8Line> {
    return this.#bad;
  }

  /** The text of the next chunk (a character cut at its end is kept for the next one). */
  push(chunk: Buffer): string {
    const all = this.#carry.length > 0 ? Buffer.concat([this.#carry, chunk]) : chunk;
    const cut = all.length - incompleteTail(all);
    const body = cut === all.length ? all : all.subarray(0, cut);
    this.#carry = cut === all.length ? Buffer.alloc(0) : Buffer.from(all.subarray(cut));
    return this.#decode(body);
  }

  /** The rest of the text at the end of input. */
  end(): string {
    const rest = this.#carry;
    this.#carry = Buffer.alloc(0);
    return rest.length > 0 ? this.#decode(rest) : '';
  }

  #decode(body: Buffer): string {
    if (!isUtf8(body)) this.#findBad(body);
    else this.#line += countNewlines(body, 0, body.length);
    return body.toString('utf8');
  }

  #findBad(body: Buffer): void {
    let start = 0;
    while (start <= body.length) {
      let nl = body.indexOf(NEWLINE, start);
      if (nl < 0) nl = body.length;
      const at = firstInvalid(body, start, nl);
      if (at >= 0 && !this.#bad.has(this.#line))
        this.#bad.set(this.#line, {
          line: this.#line,
          byte: `0x${body[at]!.toString(16).toUpperCase().padStart(2, '0')}`,
        });
      if (nl === body.length) break;
      this.#line++;
      start = nl + 1;
    }
  }
}

/** How many bytes at the end of `buf` start a character that is not complete yet (0..3). */
function incompleteTail(buf: Buffer): number {
  for (let back = 1; back <= Math.min(3, buf.length); back++) {
    const b = buf[buf.length - back]!;
    if (b < 0x80) return 0;
    if (b >= 0xc0) return sequenceLength(b) > back ? back : 0;
  }
  return 0;
}

function sequenceLength(lead: number): number {
  if (lead >= 0xf0) return 4;
  if (lead >= 0xe0) return 3;
  return 2;
}

function countNewlines(buf: Buffer, from: number, to: number): number {
  let n = 0;
  for (let i = buf.indexOf(NEWLINE, from); i >= 0 && i < to; i = buf.indexOf(NEWLINE, i + 1)) n++;
  return n;
}

/** The index of the first byte in [from, to) that is not well-formed UTF-8, or -1. */
export function firstInvalid(buf: Buffer, from: number, to: number): number {
  let i = from;
  while (i < to) {
    const b = buf[i]!;
    if (b < 0x80) {
      i++;
      continue;
    }
    let need: number;
    let min: number;
    let max = 0xbf;
    if (b >= 0xc2 && b <= 0xdf) [need, min] = [1, 0x80];
    else if (b === 0xe0) [need, min] = [2, 0xa0];
    else if (b >= 0xe1 && b <= 0xef) [need, min, max] = [2, 0x80, b === 0xed ? 0x9f : 0xbf];
    else if (b === 0xf0) [need, min] = [3, 0x90];
    else if (b >= 0xf1 && b <= 0xf3) [need, min] = [3, 0x80];
    else if (b === 0xf4) [need, min, max] = [3, 0x80, 0x8f];
    else return i;
    if (i + need >= to) return i;
    const second = buf[i + 1]!;
    if (second < min || second > max) return i;
    for (let k = 2; k <= need; k++) if ((buf[i + k]! & 0xc0) !== 0x80) return i;
    i += need + 1;
  }
  return -1;
}
