/**
 * Write documents as NDJSON (canonical Extended JSON, keys in stored order, one per line),
 * honouring backpressure: lines are gathered into chunks of about 64 KiB and the writer waits
 * for 'drain' whenever the stream asks it to, so memory stays flat however many documents flow.
 */
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import { toEJSON, type Doc } from '../core/values.js';

export interface WriteNdjsonOptions {
  /** gather lines into chunks of about this many characters before writing (default 64 KiB) */
  chunkSize?: number;
  /** called after each chunk with the number of documents written so far */
  onProgress?: (written: number) => void;
}

const DEFAULT_CHUNK_SIZE = 64 * 1024;

/** Write every document to `out`; resolves with the number written. Does not end `out`. */
export async function writeNdjson(
  out: Writable,
  docs: AsyncIterable<Doc> | Iterable<Doc>,
  options: WriteNdjsonOptions = {},
): Promise<number> {
  const chunkSize = options.chunkSize ?? DEFAULT_CHUNK_SIZE;
  let failure: Error | undefined;
  const onError = (err: Error): void => {
    failure ??= err;
  };
  out.on('error', onError);
  let buffer = '';
  let written = 0;
  const flush = async (): Promise<void> => {
    if (buffer === '') return;
    const ok = out.write(buffer);
    buffer = '';
    options.onProgress?.(written);
    if (!ok && failure === undefined) await waitForDrain(out);
    if (failure !== undefined) throw failure;
  };
  try {
    for await (const doc of docs) {
      buffer += toEJSON(doc) + '\n';
      written++;
      if (buffer.length >= chunkSize) await flush();
      if (failure !== undefined) throw failure;
    }
    await flush();
  } finally {
    out.off('error', onError);
  }
  return written;
}

async function waitForDrain(out: Writable): Promise<void> {
  // 'error' rejects `once`; 'close' without 'drain' means the stream went away
  const ac = new AbortController();
  try {
    await Promise.race([
      once(out, 'drain', { signal: ac.signal }),
      once(out, 'close', { signal: ac.signal }),
    ]);
  } finally {
    ac.abort();
  }
}
