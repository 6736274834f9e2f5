import fs from 'node:fs';
import path from 'node:path';
import { randomInt } from 'node:crypto';
import { parseGuards, parseMaxErrors } from '../../engine/runner/guards.js';
import { MAX_STORE_RETRIES } from '../../engine/runner/retry.js';
import { loadMigrations, findMigration } from '../../migration/load-migrations.js';
import { resolveActor } from '../../state/actor.js';
import { redactUrl } from '../../store/store-url.js';
import { CHAOS_OPTIONS, chaosFrom, type ChaosCliOptions } from '../chaos-options.js';
import type { CliContext } from '../cli-context.js';
import { defineCommand } from '../command-definition.js';
import { rehearse, type StepResult } from '../rehearse/rehearsal.js';
import { duration, renderRunbook } from '../rehearse/runbook.js';
import { DEFAULT_LEASE_TTL_MS } from '../worker-options.js';

interface RehearseCliOptions extends ChaosCliOptions {
  sample?: number;
  scratch?: string;
  seed?: number;
  batchSize: number;
  guard?: string;
  maxErrors?: string;
  runbook?: string;
  keep?: boolean;
}

export const DEFAULT_REHEARSAL_BATCH_SIZE = 100;

function stepLine(s: StepResult): string {
  const time = s.status === 'skipped' ? '' : ` ${duration(s.ms)}`;
  const full =
    s.extrapolatedMs !== undefined ? ` (full collection: ~${duration(s.extrapolatedMs)})` : '';
  return `${s.status === 'ok' ? 'ok  ' : s.status === 'failed' ? 'FAIL' : 'skip'} ${s.step}${time}${full}: ${s.detail}`;
}

export const rehearseCommand = defineCommand<RehearseCliOptions>({
  spec: {
    name: 'rehearse',
    summary: 'run a migration end to end on a copy, under chaos, and write the runbook',
    details: [
      'Copies a sample of the collection (--sample, a seeded uniform sample; default every document) into an empty scratch store (--scratch; default a new SQLite file in a temporary directory, removed afterwards), then on the copy: plan, backfill (the real CLI in a child process, killed with SIGKILL once at a random moment between 20% and 80% of the documents, then run again to resume), verify, rollback, and a check that the copy is back byte for byte (its export has the same sha256 as before the backfill). --chaos applies to the backfill, verify and rollback.',
      'Each step is timed; the passes over every document (backfill, verify, rollback) are extrapolated linearly to the full collection. --runbook writes a Markdown runbook: the exact commands to run, pause, throttle, roll back and step back this migration, with the measured times and the thresholds in force.',
      "The original collection is only read: nothing is written to the project's store or its state store, and a --scratch that names either is refused (exit 2). The scratch store must hold no collection. In-place migrations only. Exit 0 when every step passed, 1 when one failed (the report says which), 2 for bad input.",
    ],
    arguments: [{ name: 'id', description: 'the migration id (or an unambiguous part of it)' }],
    options: [
      {
        flags: '--sample <n>',
        description: 'how many documents to copy (a seeded uniform sample)',
        defaultDescription: 'every document',
        positiveInt: true,
      },
      {
        flags: '--scratch <store-url>',
        description: "an empty store for the copy and its state (never the project's store)",
        defaultDescription: 'a new SQLite file in a temporary directory',
      },
      {
        flags: '--seed <n>',
        description: 'the seed of the sample and of the kill moment, to repeat a rehearsal',
        defaultDescription: 'drawn at random, and printed',
        wholeNumber: true,
      },
      {
        flags: '--batch-size <n>',
        description: "documents per batch of the rehearsal's backfill (the runbook uses it too)",
        defaultValue: DEFAULT_REHEARSAL_BATCH_SIZE,
        positiveInt: true,
      },
      {
        flags: '--guard <limits>',
        description:
          "guards of the rehearsal's backfill, as backfill takes them (and in the runbook)",
      },
      {
        flags: '--max-errors <n|p%>',
        description: "the error budget of the rehearsal's backfill, as backfill takes it",
      },
      ...CHAOS_OPTIONS,
      { flags: '--runbook <path>', description: 'write the runbook (Markdown) to this file' },
      {
        flags: '--keep',
        description: 'keep the temporary scratch directory (its path is printed)',
      },
    ],
    examples: [
      {
        command:
          'switchyard rehearse 20261120-split-name --sample 5000 --chaos "latency=5ms,error=write:2%,throttle=1%" --runbook runbook.md',
      },
      {
        command: 'switchyard rehearse split-name --scratch redis://127.0.0.1:6379/15 --json',
        comment: 'on an empty Redis database, to time the store the migration will run on',
      },
    ],
  },

  async run(ctx: CliContext, [id], options): Promise<number> {
    // every flag checked before anything is opened: bad input changes nothing
    const chaos = chaosFrom(ctx, options);
    if (options.guard !== undefined) parseGuards(options.guard, undefined);
    if (options.maxErrors !== undefined) parseMaxErrors(options.maxErrors, undefined);
    const backfillFlags = [
      ...(options.guard !== undefined ? ['--guard', options.guard] : []),
      ...(options.maxErrors !== undefined ? ['--max-errors', options.maxErrors] : []),
    ];
    const config = await ctx.config();
    const migrationsDir =
      ctx.options.migrations !== undefined
        ? path.resolve(ctx.io.cwd, ctx.options.migrations)
        : config.migrationsDir;
    const migration = findMigration(
      await loadMigrations(migrationsDir, { versionField: config.versionField }),
      id!,
    );
    const seed = options.seed ?? randomInt(1, 2 ** 31);
    const actor = resolveActor(ctx.options.actor ?? ctx.io.env.SWITCHYARD_ACTOR);
    const storeUrl = await ctx.storeUrl();
    if (!ctx.quiet) ctx.err(`rehearsal seed ${seed} (repeat with --seed ${seed})`);
    const report = await rehearse({
      migration,
      migrationsDir,
      versionField: config.versionField,
      originalUrl: storeUrl,
      ...(config.state !== undefined ? { stateUrl: config.state } : {}),
      ...(options.scratch !== undefined ? { scratchUrl: options.scratch } : {}),
      ...(options.sample !== undefined ? { sample: options.sample } : {}),
      ...(chaos !== undefined ? { chaos } : {}),
      seed,
      batchSize: options.batchSize,
      backfillFlags,
      actor,
      cwd: ctx.io.cwd,
      keep: options.keep === true,
      onStep: (s) => {
        if (!ctx.json) ctx.info(stepLine(s));
      },
    });
    if (options.runbook !== undefined) {
      const storeFlags =
        ctx.options.store !== undefined ? `--store ${redactUrl(ctx.options.store)}` : '';
      const file = path.resolve(ctx.io.cwd, options.runbook);
      fs.writeFileSync(
        file,
        renderRunbook(report, {
          migration,
          storeFlags,
          backfillFlags,
          thresholds: config.thresholds.filter(
            (t) => t.migration === undefined || t.migration === migration.id,
          ),
          batchSize: options.batchSize,
          leaseTtlMs: DEFAULT_LEASE_TTL_MS,
          maxStoreRetries: MAX_STORE_RETRIES,
          ...(config.approvals !== undefined
            ? {
                approvals: `${config.approvals.required} before ${config.approvals.for.join(' and ')}${config.approvals.forbidAuthor ? ' (not by the author)' : ''}`,
              }
            : {}),
          at: new Date(),
          actor,
        }),
      );
      if (!ctx.json) ctx.info(`runbook written to ${options.runbook}`);
    }
    if (ctx.json) ctx.outJson(report);
    else {
      ctx.info(
        report.ok
          ? `rehearsal passed: ${report.copied} of ${report.total} documents, the copy back byte for byte`
          : 'rehearsal FAILED: see the steps above',
      );
      if (report.scratchDir !== undefined) ctx.info(`scratch kept in ${report.scratchDir}`);
    }
    return report.ok ? 0 : 1;
  },
});
