/**
 * The dashboard's controls ask for the approvals the config requires, as the CLI does: resuming a
 * paused backfill needs 'backfill' approvals, moving a side-by-side migration to live needs
 * 'cutover' approvals. A refusal is 409 naming what is missing, changes nothing (catalog, audit
 * log), and the snapshot says why, so the page can show it next to the refused control.
 */
import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { APPROVAL_ACTIONS, type ResolvedConfig } from '../../src/config/config-schema.js';
import type { DashboardSnapshot, MigrationView } from '../../src/dashboard/api-types.js';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.js';
import { backfill, setPaused } from '../../src/engine/backfill.js';
import { setStage } from '../../src/engine/stages.js';
import { DEFAULT_COMPATIBILITY } from '../../src/migration/compatibility-mode.js';
import { Project } from '../../src/project.js';
import { approve } from '../../src/state/approvals.js';
import { seedUsers } from '../engine/backfill-fixtures.js';
import {
  SIMPLE_MIGRATION,
  sideBySideMigration,
  tempDir,
  waitFor,
  writeMigrations,
} from './dashboard-fixtures.js';
import { control, request } from './http-client.js';

const IN_PLACE = '20261120-split';
const SIDE = '20261121-users-v2';

let dir: string;
let project: Project;
let server: DashboardServer;

beforeAll(async () => {
  dir = tempDir('sy-dash-approvals-');
  const migrationsDir = writeMigrations(dir, {
    [`${IN_PLACE}.mjs`]: SIMPLE_MIGRATION,
    [`${SIDE}.mjs`]: sideBySideMigration(),
  });
  const config: ResolvedConfig = {
    file: undefined,
    store: `sqlite:${path.join(dir, 'data.db')}`,
    migrationsDir,
    state: undefined,
    versionField: '_sv',
    compatibility: DEFAULT_COMPATIBILITY,
    collections: {},
    approvals: { required: 1, forbidAuthor: false, for: APPROVAL_ACTIONS },
    windows: [],
    thresholds: [],
    production: false,
  };
  project = await Project.open({ config, cwd: dir, actor: 'ci' });
  await seedUsers(project.store, 300);
  // a backfill stopped after its first batch, then paused (as if from the CLI, approved then)
  const stop = new AbortController();
  await backfill(project, await project.migration(IN_PLACE), {
    batchSize: 50,
    partitions: 2,
    signal: stop.signal,
    onEvent: (e) => {
      if (e.type === 'batch') stop.abort();
    },
  });
  await setPaused(project, IN_PLACE, true, 'for the test');
  const side = await project.migration(SIDE);
  await setStage(project, side, 'dual-write');
  await setStage(project, side, 'shadow');
  server = await startDashboard({ project, actor: 'dashboard:ci@test', port: 0, intervalMs: 300 });
}, 120_000);

afterAll(async () => {
  await server?.close();
  await project?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

async function view(id: string): Promise<MigrationView> {
  const r = await request(server.port, 'GET', '/api/snapshot', {
    headers: { authorization: `Bearer ${server.token}` },
  });
  return r.json<DashboardSnapshot>().migrations.find((m) => m.id === id)!;
}

const reviewer = () => ({ audit: project.audit, actor: 'reviewer', policy: project.policy });

async function stateNow(): Promise<string> {
  return JSON.stringify({
    catalog: await project.catalog.list(),
    audit: await project.audit.entries(),
  });
}

describe('dashboard controls need the approvals the config requires', () => {
  it('refuses resuming a backfill without approvals (409, nothing changed), then resumes once approved', async () => {
    expect((await view(IN_PLACE)).approvals).toEqual([
      { action: 'backfill', required: 1, approvers: [], stale: 0, ok: false },
      { action: 'cutover', required: 1, approvers: [], stale: 0, ok: false },
    ]);
    const before = await stateNow();
    const refused = await control(server.port, server.token, IN_PLACE, 'resume', {
      reason: 'go on',
    });
    expect(refused.status).toBe(409);
    expect(refused.json<{ message: string }>().message).toMatch(
      /backfill of 20261120-split needs 1 approval .*it has none.*switchyard approve 20261120-split/,
    );
    expect(await stateNow()).toBe(before);

    await approve(reviewer(), await project.migration(IN_PLACE));
    // the snapshot is made every intervalMs: the next one says it
    await waitFor('the approval in the snapshot', async () => {
      const a = (await view(IN_PLACE)).approvals?.[0];
      return a?.ok === true && a.approvers.join() === 'reviewer';
    });
    const ok = await control(server.port, server.token, IN_PLACE, 'resume', { reason: 'go on' });
    expect(ok.status).toBe(200);
    expect((await project.catalog.get(IN_PLACE))?.status).toBe('backfilling');
  });

  it('refuses moving to live without cut-over approvals; other stages need none', async () => {
    expect((await view(SIDE)).approvals?.find((a) => a.action === 'cutover')?.ok).toBe(false);
    const before = await stateNow();
    const refused = await control(server.port, server.token, SIDE, 'stage', {
      reason: 'canary',
      stage: 'live',
      percent: 5,
    });
    expect(refused.status).toBe(409);
    expect(refused.json<{ message: string }>().message).toMatch(
      /cutover of 20261121-users-v2 needs 1 approval/,
    );
    expect(await stateNow()).toBe(before);
    // stepping back is never held up by approvals
    const back = await control(server.port, server.token, SIDE, 'rollback', { reason: 'back' });
    expect(back.status).toBe(200);
    expect((await project.catalog.get(SIDE))?.sideBySide).toMatchObject({ stage: 'dual-write' });
    const forward = await control(server.port, server.token, SIDE, 'stage', {
      reason: 'again',
      stage: 'shadow',
    });
    expect(forward.status).toBe(200);

    await approve(reviewer(), await project.migration(SIDE));
    const live = await control(server.port, server.token, SIDE, 'stage', {
      reason: 'canary',
      stage: 'live',
      percent: 5,
    });
    expect(live.status).toBe(200);
    expect((await project.catalog.get(SIDE))?.sideBySide).toMatchObject({
      stage: 'live',
      percent: 5,
    });
  });
});
