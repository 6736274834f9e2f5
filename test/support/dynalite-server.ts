/**
 * A throwaway DynamoDB for tests: dynalite (a dev dependency) in this process, in memory, on a
 * free loopback port, with tables becoming ACTIVE / deleted at once.
 */
import { createRequire } from 'node:module';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';

/** What the tests use of dynalite (it ships no types). */
type Dynalite = (options: {
  createTableMs?: number;
  deleteTableMs?: number;
  updateTableMs?: number;
  maxItemSizeKb?: number;
}) => Server;

export interface DynaliteServer {
  readonly port: number;
  /** dynamodb://127.0.0.1:<port>?region=local */
  readonly url: string;
  /** dynalite's version */
  readonly version: string;
  stop(): Promise<void>;
}

const require = createRequire(import.meta.url);

export async function startDynalite(): Promise<DynaliteServer> {
  const dynalite = require('dynalite') as Dynalite;
  const { version } = require('dynalite/package.json') as { version: string };
  const server = dynalite({ createTableMs: 0, deleteTableMs: 0, updateTableMs: 0 });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = server.address() as AddressInfo;
  return {
    port,
    url: `dynamodb://127.0.0.1:${port}?region=local`,
    version,
    async stop() {
      server.closeAllConnections?.();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
