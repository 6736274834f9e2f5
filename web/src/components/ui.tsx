/** Small building blocks shared by the panels. */
import type { ComponentChildren } from 'preact';
import { int } from '../format.js';

export function Card(props: {
  title: string;
  testid?: string;
  aside?: ComponentChildren;
  children: ComponentChildren;
}) {
  return (
    <section class="card" data-testid={props.testid}>
      <header class="card-head">
        <h3>{props.title}</h3>
        {props.aside !== undefined && <div class="card-aside">{props.aside}</div>}
      </header>
      {props.children}
    </section>
  );
}

/** A progress bar; `value` of `max`, or indeterminate when max is 0. */
export function Bar(props: { value: number; max: number; done?: boolean; label?: string }) {
  const pct = props.max > 0 ? Math.min(100, (100 * props.value) / props.max) : 0;
  return (
    <div
      class={`bar${props.done ? ' bar-done' : ''}${props.max <= 0 ? ' bar-unknown' : ''}`}
      role="progressbar"
      aria-valuemin={0}
      aria-valuemax={100}
      aria-valuenow={Math.round(props.done ? 100 : pct)}
      aria-label={props.label}
    >
      <div class="bar-fill" style={{ width: `${props.done ? 100 : pct}%` }} />
    </div>
  );
}

export function Stat(props: {
  label: string;
  value: ComponentChildren;
  testid?: string;
  warn?: boolean;
}) {
  return (
    <div class={`stat${props.warn ? ' stat-warn' : ''}`}>
      <div class="stat-label">{props.label}</div>
      <div class="stat-value" data-testid={props.testid}>
        {props.value}
      </div>
    </div>
  );
}

const TONES: Record<string, string> = {
  backfilling: 'run',
  'rolling-back': 'run',
  paused: 'warn',
  canary: 'warn',
  failed: 'bad',
  backfilled: 'ok',
  verified: 'ok',
  complete: 'done',
  'rolled-back': 'done',
  pending: 'idle',
  off: 'idle',
  'dual-write': 'run',
  shadow: 'run',
  live: 'run',
  rampdown: 'run',
  running: 'run',
  done: 'ok',
  aborted: 'warn',
};

export function toneOf(state: string): string {
  return TONES[state] ?? 'idle';
}

export function Badge(props: { text: string; testid?: string; tone?: string }) {
  return (
    <span class={`badge badge-${props.tone ?? toneOf(props.text)}`} data-testid={props.testid}>
      {props.text}
    </span>
  );
}

export function Empty(props: { children: ComponentChildren }) {
  return <p class="empty">{props.children}</p>;
}

/** A titled table of field paths and their counts; nothing when there are none. */
export function PathCounts({
  title,
  paths,
}: {
  title: string;
  paths: { path: string; count: number }[];
}) {
  if (paths.length === 0) return null;
  return (
    <>
      <h4>{title}</h4>
      <table class="table">
        <tbody>
          {paths.map((p) => (
            <tr key={p.path}>
              <td class="mono free">{p.path}</td>
              <td class="num">{int(p.count)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </>
  );
}
