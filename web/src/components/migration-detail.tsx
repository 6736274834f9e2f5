/** Everything about one migration: progress, chart, partitions, workers, dead letters, verify, side by side. */
import type { ControlResponse, JobView, MigrationView, SeriesPoint } from '../api.js';
import { ago, duration, int, json, percent } from '../format.js';
import { AuditTable } from './audit-panel.js';
import { Controls } from './controls.js';
import { PartitionTable } from './partition-table.js';
import { RateChart } from './rate-chart.js';
import { SideBySideCard, stageText } from './side-by-side-card.js';
import { Badge, Bar, Card, Empty, Stat, toneOf } from './ui.js';
import { VerifyCard } from './verify-card.js';
import { WorkersCard } from './workers-card.js';
import { JobProgressStats } from './job-progress.js';

/** a backfill that has not published progress for this long is shown as not reporting */
const STALE_SECONDS = 10;

export function MigrationDetail(props: {
  m: MigrationView;
  jobs: JobView[];
  series: readonly SeriesPoint[];
  token: string;
  now: number;
  onResult: (r: ControlResponse) => void;
}) {
  const { m, now } = props;
  const job = props.jobs.find((j) => j.migration === m.id && j.state === 'running');
  const lastJob = props.jobs.filter((j) => j.migration === m.id).at(-1);
  return (
    <div class="detail" data-testid="migration-detail" data-migration={m.id}>
      <div class="detail-head">
        <h2>{m.id}</h2>
        <Badge text={m.status} testid="detail-status" />
        {m.sideBySide && (
          <Badge
            text={stageText(m.sideBySide)}
            tone={toneOf(m.sideBySide.stage)}
            testid="detail-stage"
          />
        )}
        <span class="muted">
          {m.kind} · {m.collection} · v{m.from} → v{m.to}
          {m.file !== undefined ? ` · ${m.file}` : ''}
        </span>
        {m.fileChanged && <Badge text="file changed since start" tone="bad" />}
        {m.fileMissing && <Badge text="file missing" tone="bad" />}
      </div>
      <Controls
        m={m}
        token={props.token}
        jobRunning={job !== undefined}
        onResult={props.onResult}
      />
      {m.chaos && (
        <p class="notice notice-bad" data-testid="chaos-notice">
          Chaos: {m.chaos.job} ran with injected faults {m.chaos.spec} (seed {m.chaos.seed}), by{' '}
          {m.chaos.actor} at {m.chaos.at}
        </p>
      )}
      {m.control?.paused && (
        <p class="notice" data-testid="paused-notice">
          Paused{m.control.by ? ` by ${m.control.by}` : ''}
          {m.control.reason ? `: ${m.control.reason}` : ''}
        </p>
      )}
      {m.status === 'backfilling' && m.progress?.window?.open === false && (
        <p class="notice" data-testid="window-notice">
          Waiting for a change window
          {m.progress.window.until !== undefined
            ? `: the next opens ${m.progress.window.until}`
            : ': none opens within 8 days'}
          . The workers keep their leases and go on by themselves.
        </p>
      )}
      <div class="grid">
        <ProgressCard m={m} now={now} />
        {(m.progress !== undefined || props.series.length > 0) && (
          <Card title="docs/s">
            <RateChart points={props.series} />
          </Card>
        )}
        {(job ?? lastJob) && <JobCard job={(job ?? lastJob)!} now={now} />}
        {m.rollback && m.status === 'rolling-back' && !job && (
          <Card title="Rollback (other processes)" testid="rollback-card">
            {m.rollback.progress !== undefined && (
              <JobProgressStats p={m.rollback.progress} label="rollback progress" />
            )}
            <Stat label="journal entries" value={int(m.rollback.journalLeft)} />
          </Card>
        )}
        <ThrottleCard m={m} />
        {m.sideBySide && <SideBySideCard s={m.sideBySide} />}
        {m.partitions.length > 0 && (
          <Card
            title="Partitions"
            testid="partitions"
            aside={`${m.partitions.filter((p) => p.done).length}/${m.partitions.length} done`}
          >
            <PartitionTable partitions={m.partitions} />
          </Card>
        )}
        <WorkersCard m={m} />
        <DeadLettersCard m={m} now={now} />
        {m.verify && <VerifyCard v={m.verify} now={now} />}
        <Card title="Audit log of this migration" testid="migration-audit">
          {m.audit.length === 0 ? (
            <Empty>No entries yet.</Empty>
          ) : (
            <AuditTable entries={m.audit} now={now} showMigration={false} />
          )}
        </Card>
      </div>
    </div>
  );
}

function ProgressCard(props: { m: MigrationView; now: number }) {
  const p = props.m.progress;
  if (p === undefined)
    return (
      <Card title="Progress" testid="progress">
        <Empty>No backfill has reported progress yet.</Empty>
      </Card>
    );
  const stale =
    props.m.status === 'backfilling' && p.ageSeconds !== null && p.ageSeconds > STALE_SECONDS;
  const running = props.m.status === 'backfilling';
  const finished = p.total > 0 && p.done >= p.total;
  return (
    <Card
      title="Backfill progress"
      testid="progress"
      aside={p.updatedAt !== undefined ? `updated ${ago(p.updatedAt, props.now)}` : undefined}
    >
      <Bar value={p.done} max={p.total} done={finished} label="backfill progress" />
      <div class="stats">
        <Stat
          label="done"
          value={
            <>
              <span data-testid="progress-done">{int(p.done)}</span> /{' '}
              <span data-testid="progress-total">{int(p.total)}</span>
            </>
          }
        />
        <Stat label="percent" value={percent(p.done, p.total)} testid="progress-percent" />
        <Stat label="rate" value={`${int(running ? p.rate : 0)} docs/s`} testid="progress-rate" />
        <Stat
          label="ETA"
          testid="eta"
          value={
            finished
              ? 'done'
              : props.m.status === 'paused'
                ? 'paused'
                : running
                  ? duration(p.etaSeconds)
                  : '–'
          }
        />
        <Stat label="migrated" value={int(p.migrated)} />
        <Stat label="skipped" value={int(p.skipped)} />
        <Stat label="conflicts" value={int(p.conflicts)} testid="progress-conflicts" />
        <Stat label="dead letters" value={int(p.deadLetters)} warn={(p.deadLetters ?? 0) > 0} />
        <Stat label="elapsed" value={duration(p.elapsedSeconds)} />
      </div>
      {stale && (
        <p class="notice notice-bad">
          No worker has reported for {duration(p.ageSeconds)}: the backfill may have stopped. Run
          switchyard backfill {props.m.id} to continue.
        </p>
      )}
    </Card>
  );
}

function ThrottleCard(props: { m: MigrationView }) {
  const { control, startedWith, progress } = props.m;
  if (control === undefined && startedWith === undefined) return null;
  return (
    <Card title="Throttle" testid="throttle">
      <div class="stats">
        <Stat
          label="rate (per worker)"
          testid="throttle-rate"
          value={
            control?.rate !== undefined
              ? `${int(control.rate)} docs/s`
              : typeof startedWith?.rate === 'number'
                ? `${int(startedWith.rate)} docs/s (--rate)`
                : 'unlimited'
          }
        />
        <Stat
          label="batch size"
          value={int(control?.batchSize ?? (startedWith?.batchSize as number | undefined))}
        />
        <Stat label="concurrency" value={int(startedWith?.concurrency as number | undefined)} />
        <Stat label="journal" value={startedWith?.journal === false ? 'off' : 'on'} />
      </div>
      {progress?.throttle !== undefined && <p class="muted">reported: {json(progress.throttle)}</p>}
    </Card>
  );
}

function DeadLettersCard(props: { m: MigrationView; now: number }) {
  const d = props.m.deadLetters;
  if (d === undefined) return null;
  return (
    <Card
      title="Dead letters"
      testid="dead-letters"
      aside={<span data-testid="dead-count">{int(d.count)}</span>}
    >
      {d.count === 0 ? (
        <Empty>None: every document transformed so far went through.</Empty>
      ) : (
        <>
          <table class="table">
            <thead>
              <tr>
                <th>key</th>
                <th>error</th>
                <th>v</th>
                <th>tries</th>
                <th>when</th>
              </tr>
            </thead>
            <tbody>
              {d.samples.map((x) => (
                <tr key={x.key} data-testid="dead-letter-row">
                  <td class="mono one-line clip" title={x.key} data-testid="dead-letter-key">
                    {x.key}
                  </td>
                  <td class="error-text">{x.error}</td>
                  <td class="num">{x.version}</td>
                  <td class="num">{x.attempts}</td>
                  <td class="one-line">{ago(x.at, props.now)}</td>
                </tr>
              ))}
            </tbody>
          </table>
          {d.count > d.samples.length && (
            <p class="muted">
              {int(d.count - d.samples.length)} more; after fixing the migration: switchyard
              backfill {props.m.id} --retry-dead
            </p>
          )}
        </>
      )}
    </Card>
  );
}

function JobCard(props: { job: JobView; now: number }) {
  const j = props.job;
  const p = j.progress;
  return (
    <Card
      title={`Rollback job ${j.id}`}
      testid="job"
      aside={<Badge text={j.state} testid="job-state" />}
    >
      {p && (
        <>
          <Bar value={p.done} max={p.total} done={j.state === 'done'} label="rollback progress" />
          <div class="stats">
            <Stat label="done" value={`${int(p.done)} / ${int(p.total)}`} />
            <Stat label="rate" value={`${int(p.rate)} docs/s`} />
            <Stat label="ETA" value={j.state === 'running' ? duration(p.etaSeconds) : '–'} />
            <Stat label="restored" value={int(p.restored)} />
            <Stat label="down()" value={int(p.downcast)} />
            <Stat label="conflicts kept" value={int(p.conflicts)} warn={p.conflicts > 0} />
          </div>
        </>
      )}
      <p class="muted">
        by {j.actor}, started {ago(j.startedAt, props.now)}: {j.reason}
      </p>
      {j.error !== undefined && <p class="notice notice-bad">{j.error}</p>}
    </Card>
  );
}
