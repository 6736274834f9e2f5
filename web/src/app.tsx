/**
 * The dashboard page: one event stream in, a snapshot at a time; the migrations table, the
 * selected migration's detail, the jobs and the audit log. The docs/s series are kept here: the
 * stream's `history` event seeds them, and each snapshot adds a point per migration.
 */
import { useEffect, useMemo, useRef, useState } from 'preact/hooks';
import {
  checkToken,
  forgetToken,
  openStream,
  saveToken,
  takeToken,
  type ControlResponse,
  type DashboardSnapshot,
  type SeriesPoint,
  type StreamState,
} from './api.js';
import { AuditPanel } from './components/audit-panel.js';
import { MigrationDetail } from './components/migration-detail.js';
import { MigrationsTable } from './components/migrations-table.js';
import { Card } from './components/ui.js';

const SERIES_POINTS = 900;
const ACTIVE = ['backfilling', 'paused', 'rolling-back'];

interface Toast {
  id: number;
  ok: boolean;
  message: string;
}

export function App() {
  const [token, setToken] = useState<string | null>(() => takeToken());
  const [auth, setAuth] = useState<'checking' | 'ok' | 'unauthorized' | 'unreachable'>('checking');
  const [stream, setStream] = useState<StreamState>('connecting');
  const [snapshot, setSnapshot] = useState<DashboardSnapshot | null>(null);
  const [problem, setProblem] = useState<string | null>(null);
  const [selected, setSelected] = useState<string | null>(null);
  const [toasts, setToasts] = useState<Toast[]>([]);
  const [now, setNow] = useState(Date.now());
  const series = useRef(new Map<string, SeriesPoint[]>());
  const [seriesVersion, setSeriesVersion] = useState(0);

  // the clock for "3s ago" (local only: nothing is fetched)
  useEffect(() => {
    const t = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(t);
  }, []);

  useEffect(() => {
    if (token === null) {
      setAuth('unauthorized');
      return;
    }
    let close: (() => void) | undefined;
    let cancelled = false;
    setAuth('checking');
    void checkToken(token).then((r) => {
      if (cancelled) return;
      setAuth(r);
      if (r !== 'ok') return;
      close = openStream(token, {
        onState: (s) => {
          setStream(s);
          if (s === 'unauthorized') setAuth('unauthorized');
        },
        onProblem: setProblem,
        onHistory: (h) => {
          series.current = new Map(Object.entries(h.series));
          setSeriesVersion((v) => v + 1);
        },
        onSnapshot: (s) => {
          setProblem(null);
          let added = false;
          for (const m of s.migrations) {
            const p = m.progress;
            if (p?.updatedAt === undefined) continue;
            added =
              addPoint(series.current, m.id, [Date.parse(p.updatedAt) / 1000, p.rate, p.done]) ||
              added;
          }
          for (const j of s.jobs)
            if (j.state === 'running' && j.progress)
              added =
                addPoint(series.current, j.migration, [
                  Date.parse(s.generatedAt) / 1000,
                  j.progress.rate,
                  j.progress.done,
                ]) || added;
          if (added) setSeriesVersion((v) => v + 1);
          setSnapshot(s);
        },
      });
    });
    return () => {
      cancelled = true;
      close?.();
    };
  }, [token]);

  const migrations = snapshot?.migrations ?? [];
  const current =
    migrations.find((m) => m.id === selected) ??
    migrations.find((m) => ACTIVE.includes(m.status)) ??
    migrations[0];
  const points = useMemo(
    () => (current ? [...(series.current.get(current.id) ?? [])] : []),
    [current?.id, seriesVersion],
  );

  const onResult = (r: ControlResponse) => {
    const toast = { id: Date.now() + Math.random(), ok: r.ok, message: r.message };
    setToasts((ts) => [...ts.slice(-3), toast]);
    setTimeout(() => setToasts((ts) => ts.filter((t) => t.id !== toast.id)), r.ok ? 6000 : 15000);
  };

  if (auth === 'unauthorized' || auth === 'unreachable' || token === null)
    return (
      <TokenForm
        problem={
          auth === 'unreachable'
            ? 'The dashboard did not answer. Is switchyard dashboard still running?'
            : token === null
              ? null
              : 'This token was not accepted (the dashboard prints a new one each time it starts).'
        }
        onToken={(t) => {
          saveToken(t);
          setToken(t);
        }}
      />
    );

  return (
    <div class="page">
      <header class="top">
        <h1>switchyard</h1>
        {snapshot && (
          <span class="muted project">
            store {snapshot.project.store}
            {snapshot.project.stateStore !== snapshot.project.store
              ? ` · state ${snapshot.project.stateStore}`
              : ''}{' '}
            · controls act as {snapshot.project.actor}
          </span>
        )}
        <span class={`conn conn-${stream}`} data-testid="connection">
          {stream === 'live' ? 'live' : stream}
        </span>
      </header>
      {problem !== null && <p class="notice notice-bad">The state could not be read: {problem}</p>}
      {snapshot?.errors.map((e) => (
        <p class="notice notice-bad" key={e}>
          {e}
        </p>
      ))}
      <div class="toasts" aria-live="polite">
        {toasts.map((t) => (
          <div key={t.id} class={`toast ${t.ok ? 'toast-ok' : 'toast-bad'}`} data-testid="toast">
            {t.message}
          </div>
        ))}
      </div>
      {snapshot === null ? (
        <p class="muted">Reading the state…</p>
      ) : (
        <main>
          <Card title="Migrations" testid="migrations-card">
            <MigrationsTable
              migrations={migrations}
              selected={current?.id ?? null}
              now={now}
              onSelect={setSelected}
            />
          </Card>
          {current && (
            <MigrationDetail
              key={current.id}
              m={current}
              jobs={snapshot.jobs}
              series={points}
              token={token}
              now={now}
              onResult={onResult}
            />
          )}
          <AuditPanel chain={snapshot.audit.chain} entries={snapshot.audit.recent} now={now} />
        </main>
      )}
    </div>
  );
}

function addPoint(map: Map<string, SeriesPoint[]>, key: string, point: SeriesPoint): boolean {
  const list = map.get(key) ?? [];
  const last = list[list.length - 1];
  if (last !== undefined && point[0] <= last[0]) return false;
  list.push(point);
  if (list.length > SERIES_POINTS) list.shift();
  map.set(key, list);
  return true;
}

function TokenForm(props: { problem: string | null; onToken: (t: string) => void }) {
  const [value, setValue] = useState('');
  return (
    <div class="page token-page">
      <h1>switchyard dashboard</h1>
      {props.problem !== null && <p class="notice notice-bad">{props.problem}</p>}
      <form
        class="token-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (value.trim() === '') return;
          forgetToken();
          props.onToken(value.trim());
        }}
      >
        <label class="field">
          <span>Token (printed by switchyard dashboard when it started)</span>
          <input
            type="password"
            autoComplete="off"
            data-testid="token-input"
            value={value}
            onInput={(e) => setValue((e.currentTarget as HTMLInputElement).value)}
          />
        </label>
        <button type="submit" class="btn btn-primary">
          Open
        </button>
      </form>
    </div>
  );
}
