/**
 * Runs once before every test file: builds dist/ (tests that run `node bin/switchyard.js` as a
 * real child process need it). tsc emits even when a file has type errors (the typecheck is
 * `npm run lint`'s and the editor's job); a missing entry point fails the run here.
 *
 * It also prints, once for the whole run, why the DynamoDB tests are skipped when DynamoDB Local
 * cannot start here (no Java, not fetched), and why the MongoDB server tests are (no MONGODB_URL);
 * each test file then skips them without a word.
 */
import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { dynamoDbLocalUnavailable } from './support/dynamodb-local.js';
import { mongodbUnavailable } from './support/mongodb-server.js';
import { clearAloneLock } from './support/run-alone.js';

export default function setup(): void {
  clearAloneLock();
  const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
  try {
    execFileSync(
      process.execPath,
      [join(root, 'node_modules/typescript/bin/tsc'), '-p', 'tsconfig.build.json'],
      { cwd: root, stdio: 'pipe' },
    );
  } catch {
    // see above
  }
  if (!existsSync(join(root, 'dist/cli/main.js')))
    throw new Error('the build did not produce dist/cli/main.js');
  const noDynamo = dynamoDbLocalUnavailable();
  if (noDynamo !== null)
    console.log(`DynamoDB tests ${process.env.CI ? 'FAIL (CI is set)' : 'skipped'}: ${noDynamo}`);
  const noMongodb = mongodbUnavailable();
  if (noMongodb !== null)
    console.log(
      `MongoDB server tests skipped (the mongodb adapter suite and the mongodb conformance run): ${noMongodb}`,
    );
  const datasets = resolve(root, '../shared/datasets');
  if (!existsSync(datasets))
    console.log(
      `Sample-dataset tests skipped (test/datasets, plan-datasets, schema-datasets): ${datasets} is absent (MongoDB's sample datasets; see ../shared/datasets/SOURCES.md where it exists)`,
    );
}
