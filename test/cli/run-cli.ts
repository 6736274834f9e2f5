/** Run the CLI in-process with captured output. */
import { Writable } from 'node:stream';
import { main } from '../../src/cli/main.js';

export interface CliResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

export class Capture extends Writable {
  text = '';
  isTTY = false;
  override _write(
    chunk: Buffer | string,
    _enc: BufferEncoding,
    cb: (err?: Error | null) => void,
  ): void {
    this.text += chunk.toString();
    cb();
  }
}

export async function runCli(
  args: readonly string[],
  options: { env?: Record<string, string | undefined>; cwd?: string; tty?: boolean } = {},
): Promise<CliResult> {
  const stdout = new Capture();
  const stderr = new Capture();
  stderr.isTTY = options.tty === true;
  const code = await main(['node', 'switchyard', ...args], {
    stdout,
    stderr,
    env: options.env ?? {},
    cwd: options.cwd ?? process.cwd(),
  });
  return { code, stdout: stdout.text, stderr: stderr.text };
}
