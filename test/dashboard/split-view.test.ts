/**
 * A split side by side (`targets`) on the dashboard: the snapshot names every target, not only
 * the first, with each target's store redacted, and a one-target migration keeps `target` alone.
 */
import fs from 'node:fs';
import { afterAll, beforeAll, expect, it } from 'vitest';
import type { DashboardSnapshot } from '../../src/dashboard/api-types.js';
import { startDashboard, type DashboardServer } from '../../src/dashboard/server.js';
import type { Project } from '../../src/project.js';
import { openSqliteProject, sideBySideMigration, tempDir } from './dashboard-fixtures.js';
import { request } from './http-client.js';

const SPLIT = '20261201-split-discounts';
const SIDE = '20261121-users-v2';

const SPLIT_MIGRATION = `import { defineMigration } from 'switchyard';
export default defineMigration({
  collection: 'discounts',
  targets: [
    { collection: 'promotions', up: (d) => ({ _id: d._id, percent: d.percent }) },
    { collection: 'coupons', up: (d) => ({ _id: d._id, code: d.code, promotion: d._id }) },
  ],
});
`;

let dir: string;
let project: Project;
let server: DashboardServer;

beforeAll(async () => {
  dir = tempDir('sy-dash-split-');
  project = await openSqliteProject(dir, {
    [`${SPLIT}.mjs`]: SPLIT_MIGRATION,
    [`${SIDE}.mjs`]: sideBySideMigration(),
  });
  server = await startDashboard({ project, actor: 'dashboard:ci@test', port: 0, intervalMs: 300 });
}, 60_000);

afterAll(async () => {
  await server?.close();
  await project?.close();
  fs.rmSync(dir, { recursive: true, force: true });
});

it('names every target of a split; a one-target migration has none but its target', async () => {
  const r = await request(server.port, 'GET', '/api/snapshot', {
    headers: { authorization: `Bearer ${server.token}` },
  });
  const s = r.json<DashboardSnapshot>();
  const split = s.migrations.find((m) => m.id === SPLIT)!.sideBySide!;
  expect(split.target).toEqual({ collection: 'promotions' });
  expect(split.targets).toEqual([{ collection: 'promotions' }, { collection: 'coupons' }]);
  const side = s.migrations.find((m) => m.id === SIDE)!.sideBySide!;
  expect(side.target).toEqual({ collection: 'profiles_v2' });
  expect(side.targets).toBeUndefined();
});
