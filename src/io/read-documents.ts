/**
 * Stream the documents of an NDJSON or JSON-array file (canonical or relaxed Extended JSON) in
 * constant memory, each with the line it starts on. The first malformed record throws an
 * InputError naming the file and line.
 */
import type { Doc } from '../core/values.js';
import { readDocumentEntries } from './read-document-entries.js';
import type { ReadRecordsOptions } from './read-records.js';

export interface LineDocument {
  readonly line: number;
  readonly doc: Doc;
}

export async function* readDocuments(
  file: string,
  options: ReadRecordsOptions = {},
): AsyncGenerator<LineDocument, void, undefined> {
  for await (const entry of readDocumentEntries(file, options)) {
    if (entry.error !== undefined) throw entry.error;
    yield { line: entry.line, doc: entry.doc };
  }
}
