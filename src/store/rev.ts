import { randomBytes } from 'node:crypto';

/**
 * Fresh revision tokens for writes made by this process: a random per-process prefix and a
 * counter. Unique across processes without coordination; cheap (no syscall per write).
 */
const PREFIX = randomBytes(6).toString('base64url');
let counter = 0;

export function newRev(): string {
  counter += 1;
  return `${PREFIX}.${counter.toString(36)}`;
}
