/**
 * The control plane lives in reserved collections of a store (by default the data store; the
 * config's `state` URL moves it). Every collection name here starts with RESERVED_PREFIX.
 */
export const STATE_COLLECTIONS = {
  /** one document per migration: id, checksum, versions, status, timestamps */
  catalog: '_sy_migrations',
  /** the hash-chained audit log, keyed by zero-padded sequence number */
  audit: '_sy_audit',
  /** small singleton documents: the audit head, ... */
  meta: '_sy_meta',
  /** the schema registry: one document per collection and schema version (src/schema/registry.ts) */
  schemas: '_sy_schemas',
} as const;
