/**
 * The MongoDB server the MongoDB tests use: the one MONGODB_URL names. There is none to be had on
 * the machines this suite runs on, and the suite cannot start one, so without MONGODB_URL those
 * tests are skipped — also under CI — and test/global-setup.ts prints why, once per run.
 */

/** The MongoDB server URL from the environment, or undefined. */
export function mongodbUrl(): string | undefined {
  return process.env.MONGODB_URL?.trim() || undefined;
}

/** Why the MongoDB server tests cannot run here, or null when MONGODB_URL is set. */
export function mongodbUnavailable(): string | null {
  return mongodbUrl() === undefined
    ? 'set MONGODB_URL to a MongoDB server to run it; the suite cannot start one'
    : null;
}
