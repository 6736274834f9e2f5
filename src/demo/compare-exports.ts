/**
 * Compare two NDJSON exports line by line, byte for byte, in constant memory. Both must come
 * from a store that scans in key order (sqlite, memory), so line i of each is the same key when
 * the key sets are equal. Differing lines are identified by their documents' keys.
 */
import fs from 'node:fs';
import readline from 'node:readline';
import { keyOfDoc } from '../core/keys.js';
import { parseEJSON, type Doc } from '../core/values.js';

export interface ExportComparison {
  /** lines in each file */
  before: number;
  after: number;
  /** lines equal byte for byte */
  identical: number;
  /** keys whose lines differ (a key present on one side only counts too) */
  differingKeys: string[];
}

export async function compareExports(
  beforeFile: string,
  afterFile: string,
  keyField = '_id',
): Promise<ExportComparison> {
  const lines = (file: string) => {
    const rl = readline.createInterface({ input: fs.createReadStream(file), crlfDelay: Infinity });
    return rl[Symbol.asyncIterator]();
  };
  const a = lines(beforeFile);
  const b = lines(afterFile);
  const keyOf = (line: string) => keyOfDoc(parseEJSON(line) as Doc, keyField);
  const result: ExportComparison = { before: 0, after: 0, identical: 0, differingKeys: [] };
  const differing = new Set<string>();
  try {
    for (;;) {
      const [x, y] = await Promise.all([a.next(), b.next()]);
      if (x.done === true && y.done === true) break;
      if (x.done !== true) result.before += 1;
      if (y.done !== true) result.after += 1;
      if (x.done !== true && y.done !== true && x.value === y.value) {
        result.identical += 1;
        continue;
      }
      if (x.done !== true) differing.add(keyOf(x.value));
      if (y.done !== true) differing.add(keyOf(y.value));
    }
  } finally {
    await a.return?.();
    await b.return?.();
  }
  result.differingKeys = [...differing].sort();
  return result;
}
