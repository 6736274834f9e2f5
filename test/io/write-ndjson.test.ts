import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { parseEJSON, type Doc } from '../../src/core/values.js';
import { writeNdjson } from '../../src/io/write-ndjson.js';

/** A writable that takes a while per chunk and has a tiny buffer, so backpressure kicks in. */
class SlowSink extends Writable {
  chunks: string[] = [];
  drains = 0;
  constructor() {
    super({ highWaterMark: 16 });
    this.on('drain', () => this.drains++);
  }
  override _write(chunk: Buffer, _enc: BufferEncoding, cb: (err?: Error | null) => void): void {
    this.chunks.push(chunk.toString());
    setImmediate(cb);
  }
}

describe('writeNdjson', () => {
  it('writes canonical EJSON, one document per line, in order, waiting for drain', async () => {
    const docs: Doc[] = Array.from({ length: 2000 }, (_, i) => ({
      _id: i,
      d: new Date(i),
      s: 'x'.repeat(i % 50),
    }));
    const sink = new SlowSink();
    let maxBuffered = 0;
    async function* source(): AsyncGenerator<Doc> {
      for (const d of docs) {
        maxBuffered = Math.max(maxBuffered, sink.writableLength);
        yield d;
      }
    }
    const n = await writeNdjson(sink, source(), { chunkSize: 256 });
    expect(n).toBe(2000);
    const lines = sink.chunks.join('').split('\n');
    expect(lines.pop()).toBe('');
    expect(lines).toHaveLength(2000);
    expect(lines[1]).toBe('{"_id":{"$numberInt":"1"},"d":{"$date":{"$numberLong":"1"}},"s":"x"}');
    expect(lines.map((l) => parseEJSON(l))).toEqual(docs);
    expect(sink.drains).toBeGreaterThan(0);
    // never more than about one chunk queued beyond the stream's own buffer
    expect(maxBuffered).toBeLessThan(1024);
  });

  it('rejects when the stream fails', async () => {
    const broken = new Writable({
      write(_c, _e, cb) {
        cb(new Error('disk full'));
      },
    });
    const docs = Array.from({ length: 10_000 }, (_, i) => ({ _id: i }));
    await expect(writeNdjson(broken, docs, { chunkSize: 64 })).rejects.toThrow('disk full');
  });
});
