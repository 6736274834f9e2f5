/**
 * The migration files, as a long-running process sees them: loaded once and kept, loaded again
 * when the directory's listing (names, sizes, modification times) changes, and after a failed
 * load (a file being edited, a loader hiccup), retried after `RETRY_MS` instead of being
 * remembered as failed for the life of the dashboard (`Project.migrations()` keeps its first
 * result). The listing is looked at no more than once per `LOOK_MS`.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import { isMigrationFile, loadMigrations } from '../migration/load-migrations.js';
import type { Migration } from '../migration/migration.js';

const RETRY_MS = 5_000;
const LOOK_MS = 5_000;

export class MigrationFiles {
  readonly #dir: string;
  readonly #versionField: string;
  #list: Migration[] | undefined;
  #error: unknown;
  #listing = '';
  #lookedAt = 0;
  #failedAt = 0;
  #loading: Promise<Migration[]> | undefined;

  constructor(dir: string, versionField: string) {
    this.#dir = dir;
    this.#versionField = versionField;
  }

  /** The migrations, or the reason they cannot be loaded now (thrown). */
  all(): Promise<Migration[]> {
    this.#loading ??= this.#get().finally(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  async #get(): Promise<Migration[]> {
    const now = Date.now();
    if (this.#list !== undefined && now - this.#lookedAt < LOOK_MS) return this.#list;
    if (this.#list === undefined && this.#error !== undefined && now - this.#failedAt < RETRY_MS)
      throw this.#error;
    this.#lookedAt = now;
    const listing = await this.#readListing();
    if (this.#list !== undefined && listing === this.#listing) return this.#list;
    try {
      this.#list = await loadMigrations(this.#dir, { versionField: this.#versionField });
      this.#listing = listing;
      this.#error = undefined;
      return this.#list;
    } catch (err) {
      this.#list = undefined;
      this.#error = err;
      this.#failedAt = Date.now();
      throw err;
    }
  }

  async #readListing(): Promise<string> {
    try {
      const names = (await fs.readdir(this.#dir)).filter(isMigrationFile).sort();
      const parts = await Promise.all(
        names.map(async (n) => {
          const s = await fs.stat(path.join(this.#dir, n));
          return `${n}:${s.size}:${s.mtimeMs}`;
        }),
      );
      return parts.join('|');
    } catch {
      return '';
    }
  }
}
