import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { InputError } from '../../src/core/errors.js';
import { canonicalString, type Doc } from '../../src/core/values.js';
import { readDocumentEntries } from '../../src/io/read-document-entries.js';
import { readDocuments } from '../../src/io/read-documents.js';

const dir = mkdtempSync(join(tmpdir(), 'sy-io-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

let n = 0;
function file(text: string): string {
  const p = join(dir, `f${n++}.json`);
  writeFileSync(p, text);
  return p;
}

async function readAll(path: string, chunkSize?: number): Promise<{ line: number; doc: Doc }[]> {
  const out: { line: number; doc: Doc }[] = [];
  for await (const e of readDocuments(path, chunkSize ? { chunkSize } : {})) out.push(e);
  return out;
}

async function readError(path: string): Promise<InputError> {
  try {
    await readAll(path);
  } catch (err) {
    expect(err).toBeInstanceOf(InputError);
    return err as InputError;
  }
  throw new Error('expected an InputError');
}

const CANONICAL = [
  '{"_id":{"$oid":"5ca4bbc7a2dd94ee5816238c"},"n":{"$numberInt":"1"},"d":{"$date":{"$numberLong":"226117231000"}}}',
  '{"_id":{"$oid":"5ca4bbc7a2dd94ee5816238d"},"price":{"$numberDecimal":"21.95"},"x":{"$numberDouble":"1.0"}}',
];

describe('readDocuments', () => {
  it('reads NDJSON with line numbers, ignoring blank lines and CRLF', async () => {
    const docs = await readAll(file(`${CANONICAL[0]}\r\n\n  \n${CANONICAL[1]}\n`));
    expect(docs.map((d) => d.line)).toEqual([1, 4]);
    expect(docs[0]!.doc['d']).toBeInstanceOf(Date);
    expect(canonicalString(docs[1]!.doc)).toContain('"$numberDecimal":"21.95"');
    expect(canonicalString(docs[1]!.doc)).toContain('"$numberDouble":"1.0"');
  });

  it('reads NDJSON without a final newline and with a BOM', async () => {
    const docs = await readAll(file(`\uFEFF${CANONICAL[0]}\n${CANONICAL[1]}`));
    expect(docs).toHaveLength(2);
  });

  it('reads relaxed Extended JSON as mongoexport writes it', async () => {
    const docs = await readAll(
      file(
        [
          '{"_id":{"$oid":"573a1390f29313caabcd42e8"},"released":{"$date":"1903-12-01T00:00:00.000Z"},"n":3,"f":1.5}',
          '{"_id":2,"old":{"$date":{"$numberLong":"-2208988800000"}},"bin":{"$binary":{"base64":"AQID","subType":"00"}}}',
          '{"_id":3,"legacy":{"$binary":"AQID","$type":"00"}}',
        ].join('\n'),
      ),
    );
    expect(docs).toHaveLength(3);
    expect((docs[0]!.doc['released'] as Date).toISOString()).toBe('1903-12-01T00:00:00.000Z');
    expect(canonicalString(docs[0]!.doc)).toContain('"f":{"$numberDouble":"1.5"}');
    expect(canonicalString(docs[1]!.doc)).toContain('"$binary":{"base64":"AQID","subType":"00"}');
    expect(canonicalString(docs[2]!.doc)).toContain('"$binary":{"base64":"AQID","subType":"00"}');
  });

  it('reads a one-line JSON array', async () => {
    const docs = await readAll(file(`[${CANONICAL.join(',')}]`));
    expect(docs.map((d) => d.line)).toEqual([1, 1]);
  });

  it('reads a pretty-printed JSON array, lines where elements start', async () => {
    const text = JSON.stringify(
      [
        { _id: 1, s: 'a, ] } { [ "quoted" \\' },
        { _id: 2, nested: { a: [1, [2, { b: '}' }]] } },
        { _id: 3 },
      ],
      null,
      2,
    );
    const docs = await readAll(file(`\n${text}\n`));
    expect(docs.map((d) => d.doc['_id'])).toEqual([1, 2, 3]);
    const lines = text.split('\n');
    const starts = lines.flatMap((l, i) => (l === '  {' ? [i + 2] : []));
    expect(docs.map((d) => d.line)).toEqual(starts);
    expect(docs[0]!.doc['s']).toBe('a, ] } { [ "quoted" \\');
  });

  it('reads the same array whatever the chunk boundaries', async () => {
    const docs = Array.from({ length: 50 }, (_, i) => ({
      _id: i,
      s: `é"\\${'x'.repeat(i)}`,
      a: [i, { b: i }],
    }));
    const path = file(JSON.stringify(docs, null, 1));
    for (const size of [1, 2, 3, 7, 64]) {
      const got = await readAll(path, size);
      expect(got.map((d) => d.doc)).toEqual(docs);
    }
  });

  it('reads an empty array and an empty file', async () => {
    expect(await readAll(file('[ ]'))).toEqual([]);
    expect(await readAll(file(''))).toEqual([]);
    expect(await readAll(file('\n\n'))).toEqual([]);
  });

  it('names the file and line of a malformed NDJSON line', async () => {
    const path = file(`${CANONICAL[0]}\n{"_id": 2, oops}\n${CANONICAL[1]}\n`);
    const err = await readError(path);
    expect(err.line).toBe(2);
    expect(err.file).toBe(path);
    expect(err.message).toContain(`${path}:2`);
  });

  it('names the line of a malformed array element', async () => {
    const path = file('[\n  {"_id": 1},\n  {"_id": 2,\n   "x": nope},\n  {"_id": 3}\n]');
    const err = await readError(path);
    expect(err.line).toBe(3);
  });

  it('rejects values that are not documents', async () => {
    expect((await readError(file('{"_id":1}\n[1,2]\n'))).message).toContain('not a document');
    expect((await readError(file('{"$oid":"5ca4bbc7a2dd94ee5816238c"}\n'))).message).toContain(
      'ObjectId',
    );
    expect((await readError(file('[{"_id":1}, 3]'))).message).toContain('not a document');
  });

  it('rejects a broken array structure', async () => {
    expect((await readError(file('[{"_id":1},\n{"_id":2}'))).message).toContain('not closed');
    expect((await readError(file('[{"_id":1}] x'))).message).toContain('after the end');
    expect((await readError(file('[{"_id":1},]'))).message).toContain('after `,`');
    expect((await readError(file('[{"_id":1}}]'))).message).toContain('unbalanced');
  });

  it('reports malformed records as entries so they can be skipped', async () => {
    const path = file(`${CANONICAL[0]}\nnot json\n${CANONICAL[1]}\n`);
    const entries = [];
    for await (const e of readDocumentEntries(path)) entries.push(e);
    expect(entries.map((e) => [e.line, e.error === undefined])).toEqual([
      [1, true],
      [2, false],
      [3, true],
    ]);
  });
});
