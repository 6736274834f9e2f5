import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { JsonArraySplitter } from '../../src/io/json-array-splitter.js';

function split(text: string, chunkSizes: number[]): { line: number; text: string }[] {
  const s = new JsonArraySplitter('t.json');
  const out: { line: number; text: string }[] = [];
  let pos = 0;
  let i = 0;
  while (pos < text.length) {
    const size = chunkSizes.length > 0 ? chunkSizes[i++ % chunkSizes.length]! : text.length;
    out.push(...s.push(text.slice(pos, pos + size)));
    pos += size;
  }
  s.end();
  return out;
}

describe('JsonArraySplitter', () => {
  it('splits any JSON array into its elements, whatever the chunking and layout', () => {
    fc.assert(
      fc.property(
        fc.array(fc.jsonValue(), { maxLength: 8 }),
        fc.array(fc.integer({ min: 1, max: 17 }), { maxLength: 5 }),
        fc.constantFrom(0, 1, 2, '\t'),
        (values, chunks, indent) => {
          const text = JSON.stringify(values, null, indent);
          const parts = split(text, chunks);
          expect(parts.map((p) => JSON.parse(p.text) as unknown)).toEqual(JSON.parse(text));
          // each element starts on the line reported
          const lines = text.split('\n');
          for (const p of parts) expect(lines[p.line - 1]).toContain(p.text.split('\n')[0]!);
        },
      ),
      { numRuns: 300 },
    );
  });
});
