/** The workers of a backfill: who holds which partitions, their leases and throttle. */
import type { MigrationView } from '../api.js';
import { duration, int, ms } from '../format.js';
import { Badge, Card, Empty } from './ui.js';

export function WorkersCard(props: { m: MigrationView }) {
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
                <td class="one-line">
                  <span data-testid="worker-name">{w.owner}</span>
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
                <td class="num-text">
                  {w.throttle
                    ? w.throttle.rate > 0
                      ? `${int(w.throttle.effectiveRate)} / ${int(w.throttle.rate)} docs/s (x${w.throttle.factor})`
                      : `unlimited (x${w.throttle.factor})`
                    : '–'}
                </td>
                <td class="num-text">
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
