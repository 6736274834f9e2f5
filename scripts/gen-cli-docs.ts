/**
 * Generate docs/cli/<command>.md and the generated part of docs/cli/README.md from the CLI's
 * typed specs. `npm run docs:cli` writes them; `npm run docs:cli -- --check` only reports
 * (exit 1) when they are out of date.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { COMMANDS } from '../src/cli/commands/index.js';
import { renderCliDocs, spliceOverview } from '../src/cli/render-cli-docs.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const docsDir = join(root, 'docs', 'cli');
const check = process.argv.includes('--check');

const docs = renderCliDocs(COMMANDS);
const files = new Map(docs.pages);
const readmePath = join(docsDir, 'README.md');
files.set('README.md', spliceOverview(readFileSync(readmePath, 'utf8'), docs.overview));

let stale = 0;
for (const [name, content] of files) {
  const path = join(docsDir, name);
  let current: string | undefined;
  try {
    current = readFileSync(path, 'utf8');
  } catch {
    current = undefined;
  }
  if (current === content) continue;
  stale++;
  if (check) console.error(`out of date: docs/cli/${name}`);
  else {
    writeFileSync(path, content);
    console.log(`wrote docs/cli/${name}`);
  }
}
if (check && stale > 0) {
  console.error('run `npm run docs:cli` to regenerate');
  process.exitCode = 1;
} else if (stale === 0) {
  console.log('docs/cli is up to date');
}
