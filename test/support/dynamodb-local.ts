/**
 * A throwaway DynamoDB for tests: Amazon's DynamoDB Local (a Java server) as a child process on a
 * free loopback port, in memory (`-inMemory`), stopped with the test file.
 *
 * Where it comes from: `scripts/fetch-dynamodb-local.sh` unpacks it into .cache/dynamodb-local
 * (.ci/run does it, and installs Java); SWITCHYARD_DYNAMODB_LOCAL=<dir> points at another copy.
 * `dynamoDbLocalUnavailable()` says why it cannot run here (no Java, not fetched), so a test file
 * can skip without printing anything (test/global-setup.ts prints the reason once per run); with
 * CI set, the files fail instead (`dynamoDescribe`).
 *
 * Without `-sharedDb` the server keeps one database per access key and region: stores opened with
 * different `prefix`es share one database (the default credentials), which is what the tests want.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { afterAll, beforeAll, describe, it } from 'vitest';
import { startServerProcess } from './server-process.js';

export interface DynamoDbLocal {
  readonly port: number;
  /** dynamodb://127.0.0.1:<port>?region=local */
  readonly url: string;
  /** the server's process id (its CPU time is in /proc/<pid>/stat; a new one after restart) */
  readonly pid: number;
  stop(): Promise<void>;
  /** kill -9 the server (with `dbPath`, what it acknowledged stays in the file) */
  kill9(): Promise<void>;
  /** kill -9 it if it runs and start it again on the same port (and the same `dbPath`) */
  restart(): Promise<void>;
}

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The folder holding DynamoDBLocal.jar. */
export function dynamoDbLocalDir(): string {
  return process.env.SWITCHYARD_DYNAMODB_LOCAL ?? path.join(root, '.cache', 'dynamodb-local');
}

let cachedReason: string | null | undefined;

/** Why DynamoDB Local cannot be started here, or null when it can. */
export function dynamoDbLocalUnavailable(): string | null {
  if (cachedReason !== undefined) return cachedReason;
  const java = spawnSync(process.env.SWITCHYARD_JAVA ?? 'java', ['-version'], {
    encoding: 'utf8',
  });
  if (java.status !== 0)
    cachedReason =
      'DynamoDB Local needs Java 17+, and `java` is not on PATH (apt-get install openjdk-17-jre-headless)';
  else if (!fs.existsSync(path.join(dynamoDbLocalDir(), 'DynamoDBLocal.jar')))
    cachedReason = `DynamoDB Local is not in ${dynamoDbLocalDir()} (run scripts/fetch-dynamodb-local.sh)`;
  else cachedReason = null;
  return cachedReason;
}

/** JVM flags: a small heap and quick start-up (the tests' tables are small). */
const JVM_FLAGS = ['-Xms64m', '-Xmx512m', '-XX:+UseSerialGC', '-XX:TieredStopAtLevel=1'];

/** Is something answering DynamoDB requests on this port? (an unsigned ListTables) */
async function answers(port: number): Promise<boolean> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}/`, {
      method: 'POST',
      headers: {
        'content-type': 'application/x-amz-json-1.0',
        'x-amz-target': 'DynamoDB_20120810.ListTables',
        authorization:
          'AWS4-HMAC-SHA256 Credential=local/20200101/local/dynamodb/aws4_request, SignedHeaders=host, Signature=0',
      },
      body: '{}',
      signal: AbortSignal.timeout(1000),
    });
    await res.arrayBuffer();
    return res.status === 200;
  } catch {
    return false;
  }
}

/**
 * Start DynamoDB Local. `jvmFlags` replaces the default flags (the bench runs it with the JVM's
 * defaults, full JIT). `dbPath` keeps the data in a file in that folder (`-dbPath`) instead of
 * memory, so it outlives a kill -9 and a restart (the server-restart tests).
 */
export async function startDynamoDbLocal(
  options: { jvmFlags?: readonly string[]; dbPath?: string } = {},
): Promise<DynamoDbLocal> {
  const why = dynamoDbLocalUnavailable();
  if (why !== null) throw new Error(why);
  const storage = options.dbPath === undefined ? ['-inMemory'] : ['-dbPath', options.dbPath];
  const server = await startServerProcess({
    name: 'DynamoDB Local',
    command: process.env.SWITCHYARD_JAVA ?? 'java',
    // prettier-ignore
    args: (port) => [...(options.jvmFlags ?? JVM_FLAGS), '-Djava.library.path=./DynamoDBLocal_lib', '-jar', 'DynamoDBLocal.jar', ...storage, '-port', String(port)],
    cwd: dynamoDbLocalDir(),
    ready: answers,
    // a few seconds on an idle machine; much longer when every core is busy
    pollMs: 100,
    polls: 600,
    attempts: 3,
  });
  return Object.assign(server, { url: `dynamodb://127.0.0.1:${server.port}?region=local` });
}

/**
 * One DynamoDB Local for the enclosing describe (or file): started before its tests, stopped
 * after them. Call it in the describe's body; the returned function gives the running server.
 * `timeoutMs`: the start's hook timeout (default: the configured hookTimeout).
 */
export function useDynamoDbLocal(
  options: { dbPath?: string; timeoutMs?: number } = {},
): () => DynamoDbLocal {
  let server: DynamoDbLocal | undefined;
  beforeAll(async () => {
    server = await startDynamoDbLocal(
      options.dbPath !== undefined ? { dbPath: options.dbPath } : {},
    );
  }, options.timeoutMs);
  afterAll(async () => {
    await server?.stop();
  });
  return () => server!;
}

/**
 * An SDK client of the server, as the application would have it, with the CLI's default
 * credentials (DynamoDB Local keeps a database per access key and region, so it sees the same
 * tables as `dynamodb://127.0.0.1:<port>?region=local`).
 */
export function dynamoDbLocalClient(
  server: Pick<DynamoDbLocal, 'port'>,
  region = 'local',
): DynamoDBClient {
  return new DynamoDBClient({
    endpoint: `http://127.0.0.1:${server.port}`,
    region,
    credentials: { accessKeyId: 'local', secretAccessKey: 'local' },
  });
}

/**
 * `describe` for a file's DynamoDB tests: runs them when DynamoDB Local can start; otherwise
 * skips them with the reason in the title (printed once per run by the global setup), or, with
 * CI set, fails with it.
 */
export function dynamoDescribe(name: string, body: () => void): void {
  const why = dynamoDbLocalUnavailable();
  if (why === null) {
    describe(name, body);
  } else if (process.env.CI) {
    describe(name, () => {
      it('has DynamoDB Local available', () => {
        throw new Error(`DynamoDB Local cannot run in CI: ${why}`);
      });
    });
  } else {
    describe.skip(`${name} (skipped: no DynamoDB Local)`, body);
  }
}
