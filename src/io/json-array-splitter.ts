/**
 * An incremental splitter for a top-level JSON array: feed it text chunks, it hands back the
 * source text of each element with the line the element starts on. It keeps only the element
 * being read (never the whole array), so a file of a million documents streams in constant
 * memory.
 *
 * It tracks strings (with escapes) and bracket depth, nothing more: an element's text is only
 * parsed by the caller, so a malformed element is reported (and can be skipped) on its own while
 * the array structure around it stays intact. A broken structure (no `[`, text after `]`, an
 * unterminated array or string) is an InputError: nothing after it can be trusted.
 */
import { InputError } from '../core/errors.js';

export interface ArrayElement {
  /** the 1-based line the element starts on */
  readonly line: number;
  /** the element's source text, trimmed */
  readonly text: string;
}

const State = {
  beforeArray: 0,
  beforeElement: 1,
  inElement: 2,
  afterArray: 3,
} as const;
type State = (typeof State)[keyof typeof State];

const CH_QUOTE = 0x22;
const CH_BACKSLASH = 0x5c;
const CH_NEWLINE = 0x0a;
const CH_COMMA = 0x2c;
const CH_OPEN_SQUARE = 0x5b;
const CH_CLOSE_SQUARE = 0x5d;
const CH_OPEN_CURLY = 0x7b;
const CH_CLOSE_CURLY = 0x7d;
const CH_BOM = 0xfeff;

function isWhitespace(c: number): boolean {
  return c === 0x20 || c === 0x0a || c === 0x0d || c === 0x09;
}

export class JsonArraySplitter {
  readonly #file: string | undefined;
  #state: State = State.beforeArray;
  #line = 1;
  #depth = 0;
  #inString = false;
  #escape = false;
  /** pieces of the current element that came in earlier chunks */
  #pending: string[] = [];
  #elementLine = 0;
  /** an element was read since the last comma (a comma right after `[` or `,` is an error) */
  #afterComma = false;
  #elements = 0;

  constructor(file?: string) {
    this.#file = file;
  }

  /** Feed the next chunk; returns the elements it completed. */
  push(chunk: string): ArrayElement[] {
    const out: ArrayElement[] = [];
    let start = this.#state === State.inElement ? 0 : -1;
    const n = chunk.length;
    for (let i = 0; i < n; i++) {
      const c = chunk.charCodeAt(i);
      if (this.#state === State.inElement) {
        if (this.#inString) {
          if (this.#escape) this.#escape = false;
          else if (c === CH_BACKSLASH) this.#escape = true;
          else if (c === CH_QUOTE) this.#inString = false;
          else if (c === CH_NEWLINE) this.#fail('unterminated string', this.#line);
          continue;
        }
        if (c === CH_QUOTE) this.#inString = true;
        else if (c === CH_OPEN_CURLY || c === CH_OPEN_SQUARE) this.#depth++;
        else if (c === CH_CLOSE_CURLY || (c === CH_CLOSE_SQUARE && this.#depth > 0)) {
          this.#depth--;
          if (this.#depth < 0) this.#fail('unbalanced brackets', this.#elementLine);
        } else if (this.#depth === 0 && (c === CH_COMMA || c === CH_CLOSE_SQUARE)) {
          out.push(this.#finishElement(chunk.slice(start, i)));
          start = -1;
          if (c === CH_COMMA) {
            this.#state = State.beforeElement;
            this.#afterComma = true;
          } else {
            this.#state = State.afterArray;
          }
        } else if (c === CH_NEWLINE) this.#line++;
        continue;
      }
      if (c === CH_NEWLINE) {
        this.#line++;
        continue;
      }
      if (isWhitespace(c) || (c === CH_BOM && this.#state === State.beforeArray)) continue;
      switch (this.#state) {
        case State.beforeArray:
          if (c !== CH_OPEN_SQUARE) this.#fail('expected a JSON array (`[`)', this.#line);
          this.#state = State.beforeElement;
          this.#afterComma = false;
          break;
        case State.beforeElement:
          if (c === CH_CLOSE_SQUARE) {
            if (this.#afterComma) this.#fail('unexpected `]` after `,`', this.#line);
            this.#state = State.afterArray;
          } else if (c === CH_COMMA) {
            this.#fail('unexpected `,` (missing array element)', this.#line);
          } else {
            this.#state = State.inElement;
            this.#elementLine = this.#line;
            this.#depth = 0;
            start = i;
            // re-examine this character inside the element
            i--;
          }
          break;
        case State.afterArray:
          this.#fail('unexpected text after the end of the array', this.#line);
      }
    }
    if (this.#state === State.inElement && start >= 0) this.#pending.push(chunk.slice(start));
    return out;
  }

  /** Call at the end of input; throws if the array is not complete. */
  end(): void {
    if (this.#state === State.beforeArray)
      this.#fail('empty file: expected a JSON array', this.#line);
    if (this.#state !== State.afterArray) {
      const at = this.#state === State.inElement ? this.#elementLine : this.#line;
      this.#fail('unexpected end of file: the JSON array is not closed', at);
    }
  }

  /** how many elements were completed so far */
  get count(): number {
    return this.#elements;
  }

  #finishElement(last: string): ArrayElement {
    this.#pending.push(last);
    const text = this.#pending.join('').trim();
    this.#pending = [];
    this.#elements++;
    return { line: this.#elementLine, text };
  }

  #fail(message: string, line: number): never {
    throw new InputError(message, { file: this.#file, line });
  }
}
