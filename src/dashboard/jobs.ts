/**
 * Long controls the dashboard runs in its own process: today the in-place rollback. A job runs
 * in the background with an AbortSignal; its progress is kept for the snapshot; one job per
 * migration at a time. Closing the dashboard aborts running jobs and waits for them: a rollback
 * stops after its batch, and `switchyard rollback` (or the dashboard again) continues it.
 */
import { errorMessage } from '../core/errors.js';
import type { EngineContext } from '../engine/context.js';
import { rollback, type RollbackResult } from '../engine/rollback.js';
import type { Migration } from '../migration/migration.js';
import type { JobView } from './api-types.js';

interface Job {
  view: JobView;
  controller: AbortController;
  done: Promise<void>;
}

/** The newest finished jobs kept for the page. */
const KEEP_FINISHED = 20;

export class Jobs {
  readonly #jobs: Job[] = [];
  #seq = 0;

  running(migration: string): JobView | undefined {
    return this.#jobs.find((j) => j.view.migration === migration && j.view.state === 'running')
      ?.view;
  }

  list(): JobView[] {
    return this.#jobs.map((j) => ({ ...j.view }));
  }

  /**
   * Start a rollback of `m` as `ctx.actor`. Resolves once the job has started; `settled` resolves
   * when it ends (it never rejects: a failure is the job's state).
   */
  startRollback(
    ctx: EngineContext,
    m: Migration,
    options: { reason: string; rate?: number },
  ): { view: JobView; settled: Promise<void> } {
    const controller = new AbortController();
    const view: JobView = {
      id: String(++this.#seq),
      kind: 'rollback',
      migration: m.id,
      state: 'running',
      actor: ctx.actor,
      reason: options.reason,
      startedAt: new Date().toISOString(),
    };
    const done = rollback(ctx, m, {
      reason: options.reason,
      ...(options.rate !== undefined ? { rate: options.rate } : {}),
      signal: controller.signal,
      onProgress: (p) => {
        view.progress = {
          done: p.done,
          total: p.total,
          rate: p.rate,
          etaSeconds: p.etaSeconds,
          restored: p.restored,
          downcast: p.downcast,
          untouched: p.untouched,
          conflicts: p.conflicts,
        };
      },
    }).then(
      (r: RollbackResult) => {
        view.state = r.outcome === 'rolled-back' ? 'done' : 'aborted';
        view.result = { ...r };
        view.finishedAt = new Date().toISOString();
      },
      (err: unknown) => {
        view.state = 'failed';
        view.error = errorMessage(err);
        view.finishedAt = new Date().toISOString();
      },
    );
    this.#jobs.push({ view, controller, done });
    this.#prune();
    return { view, settled: done };
  }

  #prune(): void {
    const finished = this.#jobs.filter((j) => j.view.state !== 'running');
    for (const j of finished.slice(0, Math.max(0, finished.length - KEEP_FINISHED)))
      this.#jobs.splice(this.#jobs.indexOf(j), 1);
  }

  /** Ask every running job to stop, and wait for them. */
  async close(): Promise<void> {
    for (const j of this.#jobs) j.controller.abort();
    await Promise.all(this.#jobs.map((j) => j.done));
  }
}
