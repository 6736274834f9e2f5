/**
 * A merge side by side (issue 16 item 3): two (or more) source collections into one target. The
 * migration's own `collection` is the PRIMARY source: it drives the copy, and each target
 * document is `up(primary, ctx)`. Each collection of `merge` is a SECONDARY source, joined by key:
 *   merge: { profile: { collection: 'profiles' } }
 * gives `ctx.lookups.profile`, the `profiles` document whose key is the primary's `_id`, or null.
 *
 * Rules:
 * - A secondary source is a lookup by `_id` (engine/lookups.ts: one getMany per batch), so the
 *   copy, verify, plan and the runtime's up() read it the way they read any lookup.
 * - Joined by KEY only: a change to `profiles/k` re-derives the target document of the primary of
 *   key `k`, found without a read (catch-up: jobs/catchup/merged-feed.ts; the runtime:
 *   runtime/merge-follow.ts). A join by another field would need, for every change of the
 *   secondary, the primaries holding its key in that field: a query or a scan per change, as no
 *   store here has a secondary index to read it by.
 * - A secondary document without a primary (no `users/k`) yields no target document; verify
 *   counts it as an `orphan` (not drift).
 */
import type { LookupSpec } from './lookups.js';

/** One secondary source of a merge: its name in ctx.lookups and its collection. */
export interface MergedSource {
  readonly name: string;
  readonly collection: string;
}

/** the field of the primary document that holds its key (what a secondary joins on) */
export const MERGE_KEY_FIELD = '_id';

/** The lookups a merge's secondary sources amount to (by the primary's key). */
export function mergeLookups(sources: readonly MergedSource[]): Record<string, LookupSpec> {
  return Object.fromEntries(
    sources.map((s) => [s.name, { collection: s.collection, by: MERGE_KEY_FIELD }]),
  );
}
