/**
 * Import says what it did with what it was given: bytes that are not UTF-8 are refused (or
 * skipped) by line instead of imported as U+FFFD; a key that comes twice is reported instead of
 * counted as two documents; a document nested past the limit is called that, not "malformed".
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { MAX_NESTING_DEPTH } from '../../src/core/values.js';
import { importDocuments } from '../../src/io/import-documents.js';
import { firstInvalid, Utf8Text } from '../../src/io/utf8-text.js';
import { SeenKeys } from '../../src/io/seen-keys.js';
import { MemoryStore } from '../../src/store/memory/memory-adapter.js';
import { runCli } from '../cli/run-cli.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-imp-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(content: string | Buffer): string {
  const p = join(dir, `f${n++}.ndjson`);
  writeFileSync(p, content);
  return p;
}

async function importError(path: string): Promise<InputError> {
  const err = await importDocuments(new MemoryStore().collection('c'), path).catch(
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(InputError);
  return err as InputError;
}

/** `{"_id":"b","name":"Jos<0xE9>"}`: Latin-1, not UTF-8 */
const LATIN1 = Buffer.concat([
  Buffer.from('{"_id":"a","name":"Ann"}\n{"_id":"b","name":"Jos'),
  Buffer.from([0xe9]),
  Buffer.from('"}\n{"_id":"c","name":"Zoë"}\n'),
]);

describe('import: bytes that are not UTF-8', () => {
  it('are refused naming the line and the byte; nothing is written', async () => {
    const store = new MemoryStore();
    const path = file(LATIN1);
    const err = await importDocuments(store.collection('c'), path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(InputError);
    expect((err as InputError).line).toBe(2);
    expect((err as Error).message).toMatch(
      /:2: not valid UTF-8: byte 0xE9\. The file must be UTF-8/,
    );
    expect(await store.collection('c').count()).toBe(0);
  });

  it('with --skip-invalid the line is left out and listed; the rest is imported exactly', async () => {
    const store = new MemoryStore();
    const s = await importDocuments(store.collection('c'), file(LATIN1), { skipInvalid: true });
    expect(s).toMatchObject({ imported: 2, skippedCount: 1 });
    expect(s.skipped[0]).toMatchObject({ line: 2 });
    expect(s.skipped[0]!.reason).toMatch(/^not valid UTF-8: byte 0xE9/);
    expect((await store.collection('c').get('c'))!.doc.name).toBe('Zoë');
    expect(await store.collection('c').get('b')).toBeNull();
  });

  it('in a JSON array, the element holding the line is the one refused', async () => {
    const path = file(
      Buffer.concat([
        Buffer.from('[\n  {"_id": "a"},\n  {\n    "_id": "b",\n    "x": "'),
        Buffer.from([0xff, 0xfe]),
        Buffer.from('"\n  }\n]\n'),
      ]),
    );
    const err = await importError(path);
    expect(err.line).toBe(3); // the element starts on line 3; the bad byte is on line 5
    expect(err.message).toMatch(/not valid UTF-8: byte 0xFF \(on line 5\)/);
  });

  it('a character cut by a read boundary is no error; a truncated one at the end is', async () => {
    const text = Buffer.from('{"_id":"é€😀"}\n');
    const seen: string[] = [];
    for (let size = 1; size <= text.length; size++) {
      const u = new Utf8Text();
      let out = '';
      for (let i = 0; i < text.length; i += size) out += u.push(text.subarray(i, i + size));
      out += u.end();
      expect(u.badLines.size).toBe(0);
      seen.push(out);
    }
    expect(new Set(seen)).toEqual(new Set([text.toString()]));
    const cut = new Utf8Text();
    cut.push(Buffer.from([0x7b, 0x0a, 0xe2, 0x82]));
    cut.end();
    expect([...cut.badLines.keys()]).toEqual([2]);
  });

  it('property: the bad lines are those TextDecoder refuses, whatever the chunking', () => {
    const arbLine = fc.oneof(
      fc.string({ maxLength: 12 }).map((s) => Buffer.from(s.replace(/\n/g, ' '))),
      fc
        .uint8Array({ maxLength: 8 })
        .map((b) => Buffer.from(b.map((x) => (x === 0x0a ? 0x20 : x)))),
    );
    fc.assert(
      fc.property(
        fc.array(arbLine, { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1, maxLength: 40 }),
        (lines, sizes) => {
          const bytes = Buffer.concat(
            lines.flatMap((l, i) => (i > 0 ? [Buffer.from('\n'), l] : [l])),
          );
          const fatal = new TextDecoder('utf-8', { fatal: true });
          const expected = lines.flatMap((l, i) => {
            try {
              fatal.decode(l);
              return [];
            } catch {
              return [i + 1];
            }
          });
          const u = new Utf8Text();
          let text = '';
          for (let at = 0, k = 0; at < bytes.length; at += sizes[k++ % sizes.length]!)
            text += u.push(bytes.subarray(at, at + sizes[k % sizes.length]!));
          text += u.end();
          expect([...u.badLines.keys()].sort((a, b) => a - b)).toEqual(expected);
          expect(text).toBe(bytes.toString('utf8'));
          for (const [line, bad] of u.badLines) {
            const l = lines[line - 1]!;
            expect(bad.byte).toBe(
              `0x${l[firstInvalid(l, 0, l.length)]!.toString(16).toUpperCase().padStart(2, '0')}`,
            );
          }
        },
      ),
      { numRuns: 500 },
    );
  });
});

describe('import: a key that comes twice', () => {
  it('is one document, and the summary says which key and lines', async () => {
    const store = new MemoryStore();
    const path = file(
      '{"_id":"a","v":1}\n{"_id":"b","v":1}\n{"_id":"a","v":2}\n{"_id":"a","v":3}\n',
    );
    const s = await importDocuments(store.collection('c'), path);
    expect(s).toMatchObject({ imported: 2, records: 4, duplicateCount: 2 });
    expect(s.duplicates).toEqual([{ key: 'a', lines: [1, 3, 4] }]);
    expect(await store.collection('c').count()).toBe(2);
    expect((await store.collection('c').get('a'))!.doc.v).toBe(3);
    const cli = await runCli(['--store', 'memory:', 'import', 'users', path]);
    expect(cli.code).toBe(0);
    expect(cli.stdout).toMatch(
      /^imported 2 documents into users from .*; 4 records, 2 of them repeating the key \(_id\) of an earlier one: the later record is kept/,
    );
    expect(cli.stdout).toMatch(/ {2}key "a" on lines 1, 3, 4: line 4 kept/);
  });

  it('two values that make the same key (1 and "1") are that too', async () => {
    const s = await importDocuments(
      new MemoryStore().collection('c'),
      file('{"_id":1}\n{"_id":"1"}\n'),
    );
    expect(s).toMatchObject({ imported: 1, records: 2, duplicates: [{ key: '1', lines: [1, 2] }] });
  });
});

describe('SeenKeys', () => {
  it('property: answers as a Map of every key to its first line would', () => {
    fc.assert(
      fc.property(fc.array(fc.string({ maxLength: 6 }), { maxLength: 300 }), (keys) => {
        const seen = new SeenKeys();
        const exact = new Map<string, number>();
        keys.forEach((key, i) => {
          expect(seen.firstSeen(key, i + 1)).toBe(exact.get(key));
          if (!exact.has(key)) exact.set(key, i + 1);
        });
      }),
      { numRuns: 300 },
    );
  });

  it('keys whose first 31 bits collide (12 pairs among k0..k199999) stay apart', () => {
    const seen = new SeenKeys();
    let repeated = 0;
    for (let i = 0; i < 200_000; i++) if (seen.firstSeen(`k${i}`, i + 1) !== undefined) repeated++;
    expect(repeated).toBe(0);
    // k35956 shares its first 31 bits with k12790: each is still known as itself
    expect(seen.firstSeen('k35956', 0)).toBe(35957);
    expect(seen.firstSeen('k12790', 0)).toBe(12791);
    expect(seen.firstSeen('k200000', 0)).toBeUndefined();
  });
});

describe('import: nesting', () => {
  const nested = (levels: number) => {
    let t = '{"leaf":1}';
    for (let i = 1; i < levels; i++) t = `{"a":${t}}`;
    return `{"_id":"x","d":${t}}`;
  };

  it(`a document nested deeper than ${MAX_NESTING_DEPTH} levels is called that`, async () => {
    const err = await importError(file(`${nested(5000)}\n`));
    expect(err.line).toBe(1);
    expect(err.message).toMatch(
      new RegExp(
        `:1: nested deeper than ${MAX_NESTING_DEPTH} levels of objects and arrays, the limit for a document`,
      ),
    );
    expect(err.message).not.toMatch(/malformed|call stack/);
    expect((await importError(file(`${nested(MAX_NESTING_DEPTH)}\n`))).message).toMatch(
      /nested deeper/,
    );
  });

  it('up to the limit imports, Extended JSON wrappers not counted as levels', async () => {
    const store = new MemoryStore();
    // the document is 1 level, its field `d` holds MAX - 1 more; a $date leaf at the bottom
    const deepest = nested(MAX_NESTING_DEPTH - 1).replace(
      '"leaf":1',
      '"leaf":{"$date":{"$numberLong":"0"}}',
    );
    const s = await importDocuments(store.collection('c'), file(`${deepest}\n`));
    expect(s.imported).toBe(1);
  });
});
