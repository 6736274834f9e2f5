/** A side-by-side migration: its stage, runtime counters per side, the last gate. */
import type { SideBySideView } from '../api.js';
import { duration, int, ms, ratio } from '../format.js';
import { Badge, Card, Empty, PathCounts, Stat } from './ui.js';

export function stageText(s: SideBySideView): string {
  return s.stage === 'live' ? `live ${s.percent}%` : s.stage;
}

export function SideBySideCard(props: { s: SideBySideView }) {
  const { s } = props;
  const r = s.runtime;
  return (
    <Card title="Side by side" testid="side-by-side" aside={stageText(s)}>
      <p class="muted">
        old → new: {(s.targets ?? [s.target]).map((t) => t.collection).join(', ')}
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
                  <td class="one-line">{c.name}</td>
                  <td class="num">{c.value === null ? '–' : +c.value.toPrecision(4)}</td>
                  <td>{c.limit}</td>
                  <td>
                    <Badge
                      text={c.result ?? (c.passed ? 'pass' : 'fail')}
                      tone={c.passed ? 'ok' : 'bad'}
                    />
                  </td>
                  <td class="muted free">{c.note ?? ''}</td>
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
