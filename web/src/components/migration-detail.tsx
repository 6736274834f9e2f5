/** Everything about one migration: progress, chart, partitions, workers, dead letters, verify, side by side. */
import type {
  ControlResponse,
  JobView,
  MigrationView,
  PartitionView,
  SeriesPoint,
  SideBySideView,
  VerifyView,
} from '../api.js';
import { ago, duration, int, json, ms, percent, ratio } from '../format.js';
import { AuditTable } from './audit-panel.js';
import { Controls } from './controls.js';
import { RateChart } from './rate-chart.js';
import { Badge, Bar, Card, Empty, Stat, toneOf } from './ui.js';

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
      {m.control?.paused && (
        <p class="notice" data-testid="paused-notice">
          Paused{m.control.by ? ` by ${m.control.by}` : ''}
          {m.control.reason ? `: ${m.control.reason}` : ''}
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

export function stageText(s: SideBySideView): string {
  return s.stage === 'live' ? `live ${s.percent}%` : s.stage;
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

/** What a verify's or rollback's workers published: a bar, done/total, rate, ETA. */
function JobProgressStats(props: { p: NonNullable<VerifyView['progress']>; label: string }) {
  const { p } = props;
  return (
    <>
      <Bar
        value={p.done}
        max={p.total}
        done={p.total > 0 && p.done >= p.total}
        label={props.label}
      />
      <div class="stats">
        <Stat label="done" value={`${int(p.done)} / ${int(p.total)}`} />
        <Stat label="rate" value={`${int(p.rate)} docs/s`} />
        <Stat label="ETA" value={p.paused === true ? 'paused' : duration(p.etaSeconds)} />
        <Stat label="workers" value={int(p.workers)} />
      </div>
    </>
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

function PartitionTable(props: { partitions: PartitionView[] }) {
  return (
    <table class="table partitions">
      <thead>
        <tr>
          <th>#</th>
          <th class="wide">progress</th>
          <th>scanned</th>
          <th>conflicts</th>
          <th>errors</th>
          <th>owner</th>
          <th>lease</th>
        </tr>
      </thead>
      <tbody>
        {props.partitions.map((p) => (
          <tr key={p.id} data-testid="partition-row">
            <td>{p.index + 1}</td>
            <td class="wide">
              <Bar
                value={p.scanned}
                max={p.estimate}
                done={p.done}
                label={`partition ${p.index + 1}`}
              />
            </td>
            <td class="num">
              {int(p.scanned)}
              {!p.done && p.estimate > 0 ? ` / ${p.counted ? '' : '~'}${int(p.estimate)}` : ''}
            </td>
            <td class="num">{int(p.conflicts)}</td>
            <td class="num">{int(p.errors)}</td>
            <td>{p.done ? 'done' : (p.owner ?? '–')}</td>
            <td class="num">
              {p.leaseMs === null || p.done
                ? ''
                : p.leaseMs > 0
                  ? `${(p.leaseMs / 1000).toFixed(0)}s (#${p.token})`
                  : `expired ${duration(-p.leaseMs / 1000)} ago`}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}

function WorkersCard(props: { m: MigrationView }) {
  const workers = props.m.workers;
  if (workers.length === 0 && !['backfilling', 'paused'].includes(props.m.status)) return null;
  return (
    <Card title="Workers and leases" testid="workers">
      {workers.length === 0 ? (
        <Empty>No worker holds a lease.</Empty>
      ) : (
        <table class="table">
          <thead>
            <tr>
              <th>worker</th>
              <th>state</th>
              <th>partitions</th>
              <th>lease</th>
              <th>rate now</th>
              <th>batch</th>
            </tr>
          </thead>
          <tbody>
            {workers.map((w) => (
              <tr key={w.owner}>
                <td>
                  {w.owner}
                  {w.pid !== null ? <span class="muted"> pid {w.pid}</span> : null}
                </td>
                <td>
                  {!w.live ? (
                    <Badge text="lease expired" tone="bad" />
                  ) : props.m.status === 'paused' ? (
                    <Badge text="waiting (paused)" tone="warn" />
                  ) : (
                    <Badge text="live" tone="ok" />
                  )}
                </td>
                <td>{w.partitions.map((i) => i + 1).join(', ') || '–'}</td>
                <td class="num">
                  {w.leaseMs === null
                    ? '–'
                    : w.leaseMs > 0
                      ? `${(w.leaseMs / 1000).toFixed(0)}s left`
                      : `expired ${duration(-w.leaseMs / 1000)} ago`}
                </td>
                <td class="num">
                  {w.throttle
                    ? w.throttle.rate > 0
                      ? `${int(w.throttle.effectiveRate)} / ${int(w.throttle.rate)} docs/s (x${w.throttle.factor})`
                      : `unlimited (x${w.throttle.factor})`
                    : '–'}
                </td>
                <td class="num">
                  {w.throttle ? `${int(w.throttle.batchSize)} docs` : ''}
                  {w.batchLatencyMs !== undefined && w.batchLatencyMs !== null
                    ? `, ${ms(w.batchLatencyMs)}`
                    : ''}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
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
                  <td class="mono">{x.key}</td>
                  <td class="error-text">{x.error}</td>
                  <td class="num">{x.version}</td>
                  <td class="num">{x.attempts}</td>
                  <td>{ago(x.at, props.now)}</td>
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

function SideBySideCard(props: { s: SideBySideView }) {
  const { s } = props;
  const r = s.runtime;
  return (
    <Card title="Side by side" testid="side-by-side" aside={stageText(s)}>
      <p class="muted">
        old → new: {s.target.collection}
        {s.target.store !== undefined ? ` on ${s.target.store}` : ''}
        {s.by !== undefined ? ` · stage set by ${s.by}` : ''}
      </p>
      <div class="stats">
        <Stat
          label="repair queue"
          value={int(s.repairQueue)}
          warn={s.repairQueue > 0}
          testid="repair-queue"
        />
        {r && (
          <Stat
            label="mismatch rate"
            value={ratio(r.mismatchRate)}
            warn={(r.mismatchRate ?? 0) > 0}
          />
        )}
        {r && <Stat label="discarded" value={int(r.discarded)} testid="discarded" />}
        {r && (
          <Stat
            label="fallbacks"
            value={int(r.fallbacks)}
            warn={r.fallbacks > 0}
            testid="fallbacks"
          />
        )}
        {r && <Stat label="error rate" value={ratio(r.errorRate)} warn={(r.errorRate ?? 0) > 0} />}
        {r && (
          <Stat
            label="p99 new/old"
            value={r.latencyRatio === null ? '–' : `${r.latencyRatio.toFixed(2)}x`}
          />
        )}
        {r && <Stat label="instances" value={int(r.instances)} />}
      </div>
      {r && (
        <table class="table">
          <thead>
            <tr>
              <th>side (last {duration(r.windowMs / 1000)})</th>
              <th>reads</th>
              <th>writes</th>
              <th>errors</th>
              <th>p50</th>
              <th>p99</th>
            </tr>
          </thead>
          <tbody>
            {(['old', 'new'] as const).map((side) => (
              <tr key={side}>
                <td>{side}</td>
                <td class="num">{int(r[side].reads)}</td>
                <td class="num">{int(r[side].writes)}</td>
                <td class="num">{int(r[side].errors)}</td>
                <td class="num">{ms(r[side].p50Ms)}</td>
                <td class="num">{ms(r[side].p99Ms)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      {r && <PathCounts title="Top mismatching paths" paths={r.paths} />}
      <h4>Last gate</h4>
      {s.gate === null ? (
        <Empty>No gate was checked yet.</Empty>
      ) : (
        <>
          <p>
            <Badge
              text={s.gate.result ?? (s.gate.passed ? 'pass' : 'fail')}
              tone={s.gate.passed ? 'ok' : s.gate.result === 'pending' ? 'warn' : 'bad'}
            />{' '}
            <span class="muted">
              {s.gate.at}
              {s.gate.stage !== undefined ? ` at ${s.gate.stage}` : ''} · window{' '}
              {duration(s.gate.windowMs / 1000)}
            </span>
          </p>
          <table class="table">
            <tbody>
              {s.gate.checks.map((c) => (
                <tr key={c.name}>
                  <td>{c.name}</td>
                  <td class="num">{c.value === null ? '–' : +c.value.toPrecision(4)}</td>
                  <td>{c.limit}</td>
                  <td>
                    <Badge
                      text={c.result ?? (c.passed ? 'pass' : 'fail')}
                      tone={c.passed ? 'ok' : 'bad'}
                    />
                  </td>
                  <td class="muted">{c.note ?? ''}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      {s.notes.map((n) => (
        <p class="muted" key={n}>
          {n}
        </p>
      ))}
    </Card>
  );
}

function VerifyCard(props: { v: VerifyView; now: number }) {
  const { v } = props;
  const scanned = v.partitions.reduce((n, p) => n + p.scanned, 0);
  const estimate = v.partitions.reduce((n, p) => n + p.estimate, 0);
  return (
    <Card
      title="Verify"
      testid="verify"
      aside={
        v.running ? (
          <Badge text="running" />
        ) : v.last ? (
          <Badge text={v.last.ok ? 'clean' : 'drift'} tone={v.last.ok ? 'ok' : 'bad'} />
        ) : undefined
      }
    >
      {v.running && v.progress !== undefined && (
        <JobProgressStats p={v.progress} label="verify progress" />
      )}
      {v.running && (
        <>
          {v.progress === undefined && (
            <Bar value={scanned} max={estimate} label="verify progress" />
          )}
          <p class="muted">
            {int(scanned)} documents checked, {v.partitions.filter((p) => p.done).length}/
            {v.partitions.length} partitions done
          </p>
          <PartitionTable partitions={v.partitions} />
        </>
      )}
      {v.last === undefined ? (
        <Empty>Not verified yet: switchyard verify &lt;id&gt; --full</Empty>
      ) : (
        <div class="stats">
          <Stat label={`last (${v.last.mode})`} value={ago(v.last.at, props.now)} />
          <Stat label="compared" value={int(v.last.compared)} />
          <Stat label="mismatched" value={int(v.last.mismatched)} warn={v.last.mismatched > 0} />
          <Stat label="missing" value={int(v.last.missing)} warn={v.last.missing > 0} />
          <Stat label="old version" value={int(v.last.oldVersion)} warn={v.last.oldVersion > 0} />
          <Stat
            label="invariants"
            value={int(v.last.invariantFailures)}
            warn={v.last.invariantFailures > 0}
          />
          <Stat
            label="schema"
            value={int(v.last.schemaFailures)}
            warn={v.last.schemaFailures > 0}
          />
        </div>
      )}
      <PathCounts title="Mismatches by field" paths={v.paths} />
      {v.samples.mismatched.length > 0 && (
        <>
          <h4>Samples</h4>
          {v.samples.mismatched.map((s) => (
            <div class="sample" key={s.key}>
              <div class="mono">{s.key}</div>
              <table class="table diff">
                <tbody>
                  {s.diffs.map((d) => (
                    <tr key={d.path}>
                      <td class="mono">{d.path}</td>
                      <td class="mono">expected {json(d.expected)}</td>
                      <td class="mono">actual {json(d.actual)}</td>
                    </tr>
                  ))}
                </tbody>
              </table>
            </div>
          ))}
        </>
      )}
      {v.samples.missing.length > 0 && <p class="muted">missing: {v.samples.missing.join(', ')}</p>}
      {v.samples.oldVersion.length > 0 && (
        <p class="muted">
          still at the old version:{' '}
          {v.samples.oldVersion.map((o) => `${o.key} (v${o.version})`).join(', ')}
        </p>
      )}
      {v.samples.checks.map((c) => (
        <p class="muted" key={c.key}>
          {c.key}: {c.failures.join('; ')}
        </p>
      ))}
    </Card>
  );
}

/** A titled table of field paths and their counts; nothing when there are none. */
function PathCounts({ title, paths }: { title: string; paths: { path: string; count: number }[] }) {
  if (paths.length === 0) return null;
  return (
    <>
      <h4>{title}</h4>
      <table class="table">
        <tbody>
          {paths.map((p) => (
            <tr key={p.path}>
              <td class="mono">{p.path}</td>
              <td class="num">{int(p.count)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
