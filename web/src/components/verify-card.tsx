/** The last verify of a migration (or the one running): counts, paths, samples with diffs. */
import type { VerifyView } from '../api.js';
import { ago, int, json } from '../format.js';
import { JobProgressStats } from './job-progress.js';
import { PartitionTable } from './partition-table.js';
import { Badge, Bar, Card, Empty, PathCounts, Stat } from './ui.js';

export function VerifyCard(props: { v: VerifyView; now: number }) {
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
        <JobProgressStats p={v.progress} label="verify progress" unit="items" />
      )}
      {v.running && (
        <>
          {v.progress === undefined && (
            <Bar value={scanned} max={estimate} label="verify progress" />
          )}
          <p class="muted">
            {checkedText(v.partitions)} checked, {v.partitions.filter((p) => p.done).length}/
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
                      <td class="mono free">{d.path}</td>
                      <td class="mono free">expected {json(d.expected)}</td>
                      <td class="mono free">actual {json(d.actual)}</td>
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

/** What a side's items are called: a verify walks documents and journal entries (or two collections). */
const SIDE_WORDS: Record<string, string> = {
  data: 'documents',
  journal: 'journal entries',
  source: 'source documents',
  target: 'target documents',
};

/** `1,000 documents, 1,000 journal entries`: each side counted apart, never summed as documents. */
function checkedText(partitions: VerifyView['partitions']): string {
  const by = new Map<string, number>();
  for (const p of partitions) {
    const words = SIDE_WORDS[p.side ?? 'data'] ?? `${p.side} items`;
    by.set(words, (by.get(words) ?? 0) + p.scanned);
  }
  if (by.size === 0) return '0 documents';
  return [...by].map(([words, n]) => `${int(n)} ${words}`).join(', ');
}
