/** Side-by-side stages through the CLI: stage, cutover, rollback (steps back), repair, status, audit. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { runCli } from './run-cli.js';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-stage-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

const cli = (args: string[]) => runCli(args, { cwd: dir, env: { SWITCHYARD_ACTOR: 'ops' } });

describe('side-by-side stages through the CLI', () => {
  it(
    'drop-target: needs --yes without a terminal, refused past off, drops the target at off',
    { timeout: 300_000 },
    async () => {
      await cli(['init']);
      fs.writeFileSync(
        path.join(dir, 'migrations', '20261120-users-v2.ts'),
        `import { defineMigration, renameField } from 'switchyard';\nexport default defineMigration({ collection: 'users', target: { collection: 'users_v2' }, operations: [renameField('name', 'fullName')] });\n`,
      );
      expect((await cli(['stage', 'users-v2', 'dual-write'])).code).toBe(0);
      const unconfirmed = await cli(['drop-target', 'users-v2']);
      expect(unconfirmed.code).toBe(2);
      expect(unconfirmed.stderr).toMatch(
        /drop-target needs confirmation: run it in a terminal, or pass --yes/,
      );
      const live = await cli(['drop-target', 'users-v2', '--yes']);
      expect(live.code).toBe(2);
      expect(live.stderr).toMatch(
        /is at stage dual-write: the application may still read or write users_v2/,
      );
      expect((await cli(['rollback', 'users-v2', '--reason', 'abandon'])).code).toBe(0);
      const dropped = await cli(['drop-target', 'users-v2', '--yes', '--reason', 'abandoned']);
      expect(dropped).toMatchObject({
        code: 0,
        stdout: expect.stringMatching(/users-v2: dropped users_v2 \(0 documents\)/),
      });
    },
  );

  it('moves forward one stage at a time, refuses jumps with the reason, steps back on rollback', async () => {
    await cli(['init']);
    fs.writeFileSync(
      path.join(dir, 'migrations', '20261120-users-v2.ts'),
      `import { defineMigration, renameField } from 'switchyard';\nexport default defineMigration({ collection: 'users', target: { collection: 'users_v2' }, operations: [renameField('name', 'fullName')] });\n`,
    );
    const jump = await cli(['stage', 'users-v2', 'live', '--percent', '10']);
    expect(jump.code).toBe(2);
    expect(jump.stderr).toMatch(/one at a time/);
    expect((await cli(['stage', 'users-v2', 'dual-write', '--reason', 'start'])).stdout).toMatch(
      /off -> dual-write/,
    );
    expect((await cli(['stage', 'users-v2', 'shadow'])).code).toBe(0);
    expect((await cli(['cutover', 'users-v2', '--percent', '25'])).stdout).toMatch(
      /shadow -> live 25%/,
    );
    expect((await cli(['cutover', 'users-v2'])).code).toBe(2);
    const status = await cli(['status']);
    expect(status.stdout).toMatch(/side-by-side\s+pending, stage live 25%/);
    const back = await cli(['rollback', 'users-v2', '--reason', 'mismatches']);
    expect(back.code).toBe(0);
    expect(back.stdout).toMatch(/stepped back from live to shadow/);
    const repair = await cli(['repair', 'users-v2', '--json']);
    expect(JSON.parse(repair.stdout)).toMatchObject({ repaired: 0, failed: 0 });
    const audit = JSON.parse((await cli(['audit', '--json'])).stdout).entries as {
      command: string;
      outcome: string;
      reason?: string;
    }[];
    const stages = audit
      .filter((e) => e.command === 'stage')
      .map((e) => e.outcome.replace(/:.*/, ''));
    // the jump (refused), dual-write, shadow, live 25%, the step back; the cutover without a
    // percent was a usage error before any state was touched, so it is not a state change
    expect(stages).toEqual(['refused', 'ok', 'ok', 'ok', 'ok']);
    expect(audit.some((e) => e.command === 'stage' && e.reason === 'mismatches')).toBe(true);
  }, 120_000);
});
