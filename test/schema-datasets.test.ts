/**
 * Declarative migrations on real documents: MongoDB's sample_mflix movies (1,000 documents,
 * relaxed Extended JSON with dates both as ISO strings and as $numberLong). A target schema is
 * derived from the inferred one — the workflow `schema infer --json-schema`, edit, `create --to`
 * — and the written migration must plan cleanly and, where every step is exact, round-trip on
 * every document. Skips, visibly, when ../shared/datasets is absent.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { runCli } from './cli/run-cli.js';

const DATASETS = path.resolve(import.meta.dirname, '../../shared/datasets');
const present = fs.existsSync(DATASETS);

type Node = {
  bsonType?: unknown;
  required?: string[];
  properties?: Record<string, Node>;
  items?: Node;
  examples?: unknown[];
  [k: string]: unknown;
};

describe.skipIf(!present)(
  `create --to on the sample datasets${present ? '' : ' (skipped: ../shared/datasets is absent)'}`,
  () => {
    let dir: string;
    let inferred: Node;
    const cli = (args: string[]) => runCli(args, { cwd: dir, env: { SWITCHYARD_ACTOR: 'alice' } });
    const target = (name: string, edit: (s: Node) => void): string => {
      const s = structuredClone(inferred);
      edit(s);
      fs.writeFileSync(path.join(dir, name), JSON.stringify(s, null, 1));
      return name;
    };
    const file = (id: string) => fs.readFileSync(path.join(dir, 'migrations', `${id}.ts`), 'utf8');
    const rename = (obj: Node, from: string, to: string) => {
      obj.properties![to] = obj.properties![from]!;
      delete obj.properties![from];
      obj.required = obj.required?.map((r) => (r === from ? to : r));
    };

    beforeAll(async () => {
      dir = fs.mkdtempSync(path.join(os.tmpdir(), 'sy-schema-ds-'));
      fs.writeFileSync(
        path.join(dir, 'switchyard.config.ts'),
        "export default { store: 'sqlite:./movies.db' };\n",
      );
      fs.mkdirSync(path.join(dir, 'migrations'));
      const imported = await cli([
        'import',
        'movies',
        path.join(DATASETS, 'sample_mflix_subset/movies.json'),
      ]);
      expect(imported.code).toBe(0);
      const r = await cli(['schema', 'infer', 'movies', '--sample', '1000', '--json-schema']);
      expect(r.code).toBe(0);
      inferred = JSON.parse(r.stdout) as Node;
    }, 120_000);
    afterAll(() => {
      if (dir) fs.rmSync(dir, { recursive: true, force: true });
    });

    it('the inferred schema keeps the Extended JSON types of the data apart', () => {
      const p = inferred.properties!;
      expect(p._id!.bsonType).toBe('objectId');
      expect(p.released!.bsonType).toBe('date');
      expect(p.year!.bsonType).toBe('int');
      expect(p.imdb!.properties!.rating!.bsonType).toEqual(['double', 'int', 'string']);
      expect(p.tomatoes!.properties!.lastUpdated!.bsonType).toBe('date');
    });

    it('exact steps only: the written migration plans on every document and round-trips', async () => {
      const t = target('exact.schema.json', (s) => {
        rename(s, 'num_mflix_comments', 'comments');
        const p = s.properties!;
        p.meta = {
          bsonType: 'object',
          additionalProperties: false,
          required: ['year'],
          properties: { runtime: p.runtime!, year: p.year! },
        };
        delete p.runtime;
        delete p.year;
        s.required = [...s.required!.filter((r) => r !== 'runtime' && r !== 'year'), 'meta'];
        p.rated = { bsonType: 'array', items: p.rated! };
        p.awards!.properties!.wins!.bsonType = 'long';
      });
      const c = await cli([
        'create',
        'exact',
        '--collection',
        'movies',
        '--to',
        t,
        '--sample',
        '1000',
        '--json',
      ]);
      expect(c.code).toBe(0);
      const created = JSON.parse(c.stdout);
      expect(created).toMatchObject({ from: 1, to: 2, review: 0, unreached: [] });
      const src = file(created.id);
      expect(src).toMatch(/renameField\('num_mflix_comments', 'comments'\)/);
      expect(src).toMatch(/nestFields\(\['runtime', 'year'\], 'meta'\)/);
      expect(src).toMatch(/wrapInArray\('rated'\)/);
      expect(src).toMatch(/coerceType\('awards\.wins', 'long', \{"from":"int"\}\)/);
      const plan = JSON.parse(
        (await cli(['plan', created.id, '--sample', '1000', '--json'])).stdout,
      );
      expect(plan).toMatchObject({
        sampled: 1000,
        changed: 1000,
        failed: 0,
        checkFailures: 0,
        reversible: true,
        lossy: [],
      });
      expect(plan.roundTrip).toEqual({ checked: 1000, exact: 1000, differs: 0, failed: 0 });
      fs.rmSync(path.join(dir, 'migrations', `${created.id}.ts`));
    });

    it('adds, removals where the target is closed, declared and guessed renames marked for review', async () => {
      const t = target('full.schema.json', (s) => {
        const p = s.properties!;
        p.status = { bsonType: 'string', default: 'active' };
        s.required!.push('status');
        delete p.poster; // closed root: removed
        p.tomatoes!.additionalProperties = true; // open: what it lacks stays
        delete p.tomatoes!.properties!.website;
        p.summary = { ...p.plot!, 'x-renamedFrom': 'plot', examples: [] };
        delete p.plot;
        // 'type' leaves and 'kind' arrives with no examples to compare: a guess
        p.kind = { bsonType: 'string' };
        delete p.type;
        s.required = s.required!.map((r) => (r === 'type' ? 'kind' : r));
      });
      const c = await cli([
        'create',
        'full',
        '--collection',
        'movies',
        '--to',
        t,
        '--sample',
        '1000',
        '--json',
      ]);
      expect(c.code).toBe(0);
      const created = JSON.parse(c.stdout);
      expect(created).toMatchObject({ review: 1, kept: ['tomatoes.website'] });
      const src = file(created.id);
      expect(src).toMatch(
        /\/\/ declared: x-renamedFrom 'plot'\n\s+renameField\('plot', 'summary'\)/,
      );
      expect(src).toMatch(/REVIEW: a guess from types alone .*\n\s+renameField\('type', 'kind'\)/);
      expect(src).toMatch(/addField\('status', 'active'\)/);
      expect(src).toMatch(/removeField\('poster'\)/);
      expect(src).not.toMatch(/removeField\('tomatoes\.website'\)/);
      expect(src).toMatch(
        /Left as they are \(not in the target, whose object is open\): 'tomatoes.website'/,
      );
      const plan = JSON.parse(
        (await cli(['plan', created.id, '--sample', '1000', '--json'])).stdout,
      );
      expect(plan).toMatchObject({ changed: 1000, failed: 0, checkFailures: 0, reversible: false });
      expect(plan.lossy.map((l: { step: string }) => l.step)).toEqual([
        `add 'status' = "active" where absent`,
        "remove 'poster'",
      ]);
      // and check judges it: renames without aliases are sideways
      const check = await cli(['check', created.id]);
      expect(check.code).toBe(1);
      expect(check.stdout).toMatch(/is sideways; mode BACKWARD/);
    });

    it('a target that is not a schema this can follow: exit 2, no file written', async () => {
      const before = fs.readdirSync(path.join(dir, 'migrations'));
      const t = target('bad.schema.json', (s) => {
        s.properties!.year = { anyOf: [{ bsonType: 'int' }, { bsonType: 'string' }] };
      });
      const r = await cli(['create', 'bad', '--collection', 'movies', '--to', t]);
      expect(r.code).toBe(2);
      expect(r.stderr).toMatch(
        /bad\.schema\.json, field '\/properties\/year\/anyOf': .*'anyOf' is not supported/,
      );
      fs.writeFileSync(path.join(dir, 'broken.json'), '{ not json');
      const broken = await cli(['create', 'bad', '--collection', 'movies', '--to', 'broken.json']);
      expect(broken.code).toBe(2);
      expect(broken.stderr).toMatch(/broken\.json, field '--to': cannot read the target schema/);
      expect(fs.readdirSync(path.join(dir, 'migrations'))).toEqual(before);
    });
  },
);
