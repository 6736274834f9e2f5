/**
 * Raw records of a document file, streamed: NDJSON (one document per line, blank lines ignored)
 * or a JSON array (one-line or pretty-printed). The format is told by the first non-blank
 * character: `[` starts a JSON array, anything else is NDJSON. Only the record being read is
 * held in memory. The file must be UTF-8: a record on a line that is not carries `badUtf8`
 * (utf8-text.ts), so it is refused or skipped by line instead of imported with U+FFFD in it.
 */
import { createReadStream } from 'node:fs';
import { InputError, errorMessage } from '../core/errors.js';
import { JsonArraySplitter } from './json-array-splitter.js';
import { Utf8Text, type BadUtf8Line } from './utf8-text.js';

export interface RawRecord {
  /** the 1-based line the record starts on */
  readonly line: number;
  /** the record's source text, trimmed */
  readonly text: string;
  /** the first of its lines that is not valid UTF-8 (its text holds U+FFFD there) */
  readonly badUtf8?: BadUtf8Line;
}

export type DocumentFileFormat = 'ndjson' | 'json-array';

export interface ReadRecordsOptions {
  /** how many bytes to read at a time (default 256 KiB) */
  chunkSize?: number;
  /** how errors name the file (default: the path as given) */
  name?: string;
}

const DEFAULT_CHUNK_SIZE = 256 * 1024;

export async function* readRecords(
  file: string,
  options: ReadRecordsOptions = {},
): AsyncGenerator<RawRecord, void, undefined> {
  const name = options.name ?? file;
  const stream = createReadStream(file, { highWaterMark: options.chunkSize ?? DEFAULT_CHUNK_SIZE });
  const utf8 = new Utf8Text();
  let format: DocumentFileFormat | undefined;
  let splitter: JsonArraySplitter | undefined;
  // blank text read before the format is known
  let head = '';
  // NDJSON state: the unfinished last line of the previous chunks, and its line number
  let partial: string[] = [];
  let line = 1;
  /** the record, with the first line of it that is not UTF-8 */
  const checked = (r: RawRecord): RawRecord => {
    if (utf8.badLines.size === 0) return r;
    const last = r.line + (r.text.match(/\n/g)?.length ?? 0);
    for (let l = r.line; l <= last; l++) {
      const bad = utf8.badLines.get(l);
      if (bad !== undefined) return { ...r, badUtf8: bad };
    }
    return r;
  };
  function* records(piece: string): Generator<RawRecord, void, undefined> {
    let chunk = piece;
    if (format === undefined) {
      const first = firstSignificantChar(chunk);
      if (first === undefined) {
        head += chunk;
        return;
      }
      format = first === '[' ? 'json-array' : 'ndjson';
      if (format === 'json-array') splitter = new JsonArraySplitter(name);
      chunk = head + chunk;
      head = '';
    }
    if (splitter !== undefined) {
      for (const r of splitter.push(chunk)) yield checked(r);
      return;
    }
    let pos = 0;
    for (;;) {
      const nl = chunk.indexOf('\n', pos);
      if (nl < 0) break;
      let text: string;
      if (partial.length === 0) {
        text = chunk.slice(pos, nl).trim();
      } else {
        partial.push(chunk.slice(pos, nl));
        text = partial.join('').trim();
        partial = [];
      }
      if (text !== '') yield checked({ line, text });
      line++;
      pos = nl + 1;
    }
    if (pos < chunk.length) partial.push(chunk.slice(pos));
  }
  try {
    for await (const piece of stream as AsyncIterable<Buffer>) yield* records(utf8.push(piece));
    yield* records(utf8.end());
  } catch (err) {
    if (err instanceof InputError) throw err;
    throw new InputError(
      `cannot read the file: ${errorMessage(err)}`,
      { file: name },
      { cause: err },
    );
  } finally {
    stream.destroy();
  }
  if (splitter !== undefined) {
    splitter.end();
    return;
  }
  const text = partial.join('').trim();
  if (text !== '') yield checked({ line, text });
}

function firstSignificantChar(chunk: string): string | undefined {
  const m = /[^\s\uFEFF]/.exec(chunk);
  return m?.[0];
}
