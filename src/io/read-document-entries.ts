/**
 * Documents of a file with their line numbers, where a record that does not parse is an entry
 * carrying its error instead of an exception, so a caller can skip it and go on. A file that
 * cannot be read or whose structure is broken (an unclosed JSON array) still throws.
 */
import { InputError } from '../core/errors.js';
import type { Doc } from '../core/values.js';
import { parseDocument } from './parse-document.js';
import { readRecords, type ReadRecordsOptions } from './read-records.js';

export type DocumentEntry =
  | { readonly line: number; readonly doc: Doc; readonly error?: undefined }
  | { readonly line: number; readonly doc?: undefined; readonly error: InputError };

export async function* readDocumentEntries(
  file: string,
  options: ReadRecordsOptions = {},
): AsyncGenerator<DocumentEntry, void, undefined> {
  const name = options.name ?? file;
  for await (const { line, text, badUtf8 } of readRecords(file, options)) {
    if (badUtf8 !== undefined) {
      const where = badUtf8.line === line ? '' : ` (on line ${badUtf8.line})`;
      yield {
        line,
        error: new InputError(
          `not valid UTF-8: byte ${badUtf8.byte}${where}. The file must be UTF-8 (convert it, e.g. iconv -f latin1 -t utf-8), or pass --skip-invalid to leave such records out`,
          { file: name, line },
        ),
      };
      continue;
    }
    let doc: Doc;
    try {
      doc = parseDocument(text);
    } catch (err) {
      yield { line, error: new InputError((err as Error).message, { file: name, line }) };
      continue;
    }
    yield { line, doc };
  }
}
