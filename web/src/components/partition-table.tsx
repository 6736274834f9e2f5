/** One row per partition of a backfill or a verify: progress, counts, owner, lease. */
import type { PartitionView } from '../api.js';
import { duration, int } from '../format.js';
import { Bar } from './ui.js';

export function PartitionTable(props: { partitions: PartitionView[] }) {
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
            <td class="num" data-testid="partition-number">
              {p.index + 1}
            </td>
            <td class="wide">
              <Bar
                value={p.scanned}
                max={p.estimate}
                done={p.done}
                label={`partition ${p.index + 1}`}
              />
            </td>
            <td class="num-text">
              {int(p.scanned)}
              {!p.done && p.estimate > 0 ? ` / ${p.counted ? '' : '~'}${int(p.estimate)}` : ''}
            </td>
            <td class="num">{int(p.conflicts)}</td>
            <td class="num">{int(p.errors)}</td>
            <td class="one-line" data-testid="partition-owner">
              {p.done ? 'done' : (p.owner ?? '–')}
            </td>
            <td class="num-text">
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
