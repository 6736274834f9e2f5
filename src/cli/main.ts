/**
 * The CLI entry point: `main(process.argv)` runs one command and resolves with the process exit
 * code (0 ok, 1 check failed, 2 usage/input error, 3 store/runtime failure). It never calls
 * process.exit, so tests run it in-process with their own streams.
 */
import { readFileSync } from 'node:fs';
import { CommanderError } from 'commander';
import { ExitCode, SwitchyardError } from '../core/errors.js';
import { startTracing } from '../observe/tracing.js';
import { redactSecrets } from '../store/store-url.js';
import { buildProgram } from './build-program.js';
import type { CliIo } from './cli-context.js';
import { COMMANDS } from './commands/index.js';

/**
 * Run the CLI. `argv` is in process.argv form: `[node, script, ...args]`.
 * `io` defaults to the process's streams, environment and working directory.
 */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  const { program, exitCode } = buildProgram(io, COMMANDS, readVersion());
  // OTLP traces when the standard OTEL_* environment asks for them (observe/tracing.ts)
  const tracing = await startTracing(io.env);
  try {
    await program.parseAsync([...argv], { from: 'node' });
    return exitCode();
  } catch (err) {
    return reportError(err, io);
  } finally {
    await tracing?.shutdown();
  }
}

function reportError(err: unknown, io: CliIo): number {
  if (err instanceof CommanderError) {
    // commander has printed the help or the usage error already
    if (err.code === 'commander.helpDisplayed' || err.code === 'commander.version')
      return ExitCode.ok;
    return ExitCode.usage;
  }
  if (err instanceof SwitchyardError) {
    io.stderr.write(`error: ${redactSecrets(err.message)}\n`);
    return err.exitCode;
  }
  if (isBrokenPipe(err)) return ExitCode.ok; // e.g. `switchyard export users | head`
  const text = err instanceof Error ? (err.stack ?? err.message) : String(err);
  io.stderr.write(`error: ${redactSecrets(text)}\n`);
  return ExitCode.runtime;
}

function isBrokenPipe(err: unknown): boolean {
  return err instanceof Error && (err as NodeJS.ErrnoException).code === 'EPIPE';
}

function processIo(): CliIo {
  return { stdout: process.stdout, stderr: process.stderr, env: process.env, cwd: process.cwd() };
}

function readVersion(): string {
  try {
    // src/cli/main.ts and dist/cli/main.js are both two levels below package.json
    const pkg = JSON.parse(
      readFileSync(new URL('../../package.json', import.meta.url), 'utf8'),
    ) as { version?: string };
    return pkg.version ?? '0.0.0';
  } catch {
    return '0.0.0';
  }
}
