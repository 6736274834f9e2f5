/** Every migration of the project, one row each; a click shows its detail. */
import type { MigrationView } from '../api.js';
import { ago, percent } from '../format.js';
import { stageText } from './side-by-side-card.js';
import { Badge, Bar, Empty, toneOf } from './ui.js';

export function MigrationsTable(props: {
  migrations: MigrationView[];
  selected: string | null;
  now: number;
  onSelect: (id: string) => void;
}) {
  if (props.migrations.length === 0)
    return (
      <Empty>
        No migrations yet: switchyard create &lt;name&gt; --collection &lt;collection&gt;
      </Empty>
    );
  return (
    <table class="table migrations" data-testid="migrations">
      <thead>
        <tr>
          <th>migration</th>
          <th>collection</th>
          <th>kind</th>
          <th>stage / status</th>
          <th>versions</th>
          <th class="wide">progress</th>
          <th>last action</th>
        </tr>
      </thead>
      <tbody>
        {props.migrations.map((m) => {
          const p = m.progress;
          const last = m.lastAction;
          return (
            <tr
              key={m.id}
              data-testid={`migration-row-${m.id}`}
              data-status={m.status}
              class={m.id === props.selected ? 'selected' : ''}
              onClick={() => props.onSelect(m.id)}
            >
              <td class="mono">
                <button type="button" class="link" onClick={() => props.onSelect(m.id)}>
                  {m.id}
                </button>
              </td>
              <td>{m.collection}</td>
              <td>{m.kind === 'in-place' ? 'in place' : 'side by side'}</td>
              <td>
                {m.sideBySide && (
                  <Badge text={stageText(m.sideBySide)} tone={toneOf(m.sideBySide.stage)} />
                )}{' '}
                <Badge text={m.status} testid={`status-${m.id}`} />
              </td>
              <td>
                v{m.from} → v{m.to}
              </td>
              <td class="wide">
                {p ? (
                  <div class="row-progress">
                    <Bar value={p.done} max={p.total} done={p.total > 0 && p.done >= p.total} />
                    <span class="muted">{percent(p.done, p.total)}</span>
                  </div>
                ) : (
                  ''
                )}
              </td>
              <td class="last-action">
                {last ? (
                  <>
                    <span>{last.actor}</span> · <span>{last.command}</span>{' '}
                    <span class="muted">
                      {last.outcome} · {ago(last.at, props.now)}
                    </span>
                  </>
                ) : (
                  ''
                )}
              </td>
            </tr>
          );
        })}
      </tbody>
    </table>
  );
}
