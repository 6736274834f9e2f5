/**
 * The hash that links and seals the control plane's tamper-evident records: sha256 of a link (the
 * previous record's hash, or what the record is bound to) followed by the canonical form of the
 * record's body. The audit log chains its entries with it (audit-log.ts: the link is the previous
 * entry's hash); the undo journal seals each before-image with it (journal.ts: the link names the
 * migration and the key, so an entry moved to another key or another migration does not verify).
 *
 * What it proves: a record was not edited, moved or reordered by something that did not also
 * recompute the hashes. It is not a signature: the algorithm is public and no secret is involved,
 * so whoever can write the records can also write matching hashes.
 */
import { hash } from 'node:crypto';
import { canonicalString, type Value } from '../core/values.js';

/** The link of the first record of a chain. */
export const GENESIS_HASH = '0'.repeat(64);

/** sha256(link + canonical form of body), hex. */
export function chainHash(link: string, body: Value): string {
  return chainHashOfCanonical(link, canonicalString(body));
}

/** The same hash over a body already in its canonical form (a caller with a faster way to it). */
export function chainHashOfCanonical(link: string, canonical: string): string {
  // the one-shot hash: cheaper than createHash for one string (rollback hashes every entry)
  return hash('sha256', link + canonical, 'hex');
}
