/**
 * What a command runs with: its output streams, the global options and lazy access to the
 * config and the store. Commands print through it, so tests can run them in-process.
 * stderr carries messages only, never data: every line written there goes through secret
 * redaction (store-url.ts `redactSecrets`), as log lines do. stdout carries data (documents,
 * counts) and is written as given.
 */
import type { Writable } from 'node:stream';
import { loadConfig } from '../config/load-config.js';
import type { ResolvedConfig } from '../config/config-schema.js';
import type { Store } from '../store/contract.js';
import { openStore } from '../store/open-store.js';
import { redactSecrets } from '../store/store-url.js';

export interface CliIo {
  readonly stdout: Writable & { isTTY?: boolean };
  readonly stderr: Writable & { isTTY?: boolean };
  readonly env: Readonly<Record<string, string | undefined>>;
  readonly cwd: string;
}

export interface GlobalOptions {
  readonly store?: string;
  readonly config?: string;
  readonly json?: boolean;
  readonly quiet?: boolean;
  /** the migrations directory (overrides the config) */
  readonly migrations?: string;
  /** who acts, for the audit log (else $SWITCHYARD_ACTOR, else the OS user) */
  readonly actor?: string;
}

export const STORE_ENV = 'SWITCHYARD_STORE';

export class CliContext {
  readonly io: CliIo;
  readonly options: GlobalOptions;
  #config: Promise<ResolvedConfig> | undefined;

  constructor(io: CliIo, options: GlobalOptions) {
    this.io = io;
    this.options = options;
  }

  get json(): boolean {
    return this.options.json === true;
  }

  get quiet(): boolean {
    return this.options.quiet === true;
  }

  /** Progress goes to stderr, only on a terminal, and not with --quiet. */
  get showProgress(): boolean {
    return !this.quiet && this.io.stderr.isTTY === true;
  }

  config(): Promise<ResolvedConfig> {
    this.#config ??= loadConfig(
      this.io.cwd,
      this.options.config !== undefined ? { file: this.options.config } : {},
    );
    return this.#config;
  }

  /** --store, then $SWITCHYARD_STORE, then the config file's store, then the default. */
  async storeUrl(): Promise<string> {
    if (this.options.store !== undefined) return this.options.store;
    const fromEnv = this.io.env[STORE_ENV];
    if (fromEnv !== undefined && fromEnv !== '') return fromEnv;
    return (await this.config()).store;
  }

  /** Open the store, run `fn` with it, and close it whatever happens. */
  async withStore<T>(fn: (store: Store) => Promise<T>): Promise<T> {
    const store = await openStore(await this.storeUrl(), { baseDir: this.io.cwd });
    try {
      return await fn(store);
    } finally {
      await store.close();
    }
  }

  /** A line on stdout. */
  out(text: string): void {
    this.io.stdout.write(`${text}\n`);
  }

  /** A line on stderr, secrets redacted. */
  err(text: string): void {
    this.io.stderr.write(`${redactSecrets(text)}\n`);
  }

  /** A JSON value on stdout (with --json). */
  outJson(value: unknown): void {
    this.out(JSON.stringify(value, null, 2));
  }

  /** A human summary line on stdout, unless --quiet. */
  info(text: string): void {
    if (!this.quiet) this.out(text);
  }
}
