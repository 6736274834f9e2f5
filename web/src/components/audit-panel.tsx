/** The audit log: the hash chain's state and the newest entries. */
import type { AuditChainView, AuditEntryView } from '../api.js';
import { ago, json } from '../format.js';
import { Badge, Card, Empty } from './ui.js';

export function AuditPanel(props: {
  chain: AuditChainView;
  entries: AuditEntryView[];
  now: number;
}) {
  const { chain } = props;
  const state =
    chain.ok === null ? (
      <Badge text="not checked yet" tone="idle" testid="audit-chain" />
    ) : chain.ok ? (
      <Badge text={`chain intact · ${chain.entries} entries`} tone="ok" testid="audit-chain" />
    ) : (
      <Badge
        text={`BROKEN at entry ${chain.firstBad?.seq ?? '?'}`}
        tone="bad"
        testid="audit-chain"
      />
    );
  return (
    <Card title="Audit log" testid="audit" aside={state}>
      {chain.ok === false && chain.firstBad !== undefined && (
        <p class="notice notice-bad">
          Entry {chain.firstBad.seq} (key {chain.firstBad.key}): {chain.firstBad.problem}. Check
          with switchyard audit --verify.
        </p>
      )}
      {chain.checkedAt !== null && (
        <p class="muted">hash chain checked {ago(chain.checkedAt, props.now)}</p>
      )}
      {props.entries.length === 0 ? (
        <Empty>The audit log is empty.</Empty>
      ) : (
        <AuditTable entries={props.entries} now={props.now} showMigration />
      )}
    </Card>
  );
}

export function AuditTable(props: {
  entries: AuditEntryView[];
  now: number;
  showMigration: boolean;
}) {
  return (
    <table class="table audit-table">
      <thead>
        <tr>
          <th>#</th>
          <th>when</th>
          <th>actor</th>
          <th>command</th>
          {props.showMigration && <th>migration</th>}
          <th>outcome</th>
          <th>reason</th>
          <th>params</th>
        </tr>
      </thead>
      <tbody>
        {props.entries.map((e) => (
          <tr key={e.seq} data-testid="audit-row">
            <td class="num">{e.seq}</td>
            <td title={e.at}>{ago(e.at, props.now)}</td>
            <td>{e.actor}</td>
            <td>{e.command}</td>
            {props.showMigration && <td>{e.migration ?? ''}</td>}
            <td
              class={
                e.outcome.startsWith('refused') || e.outcome.startsWith('failed')
                  ? 'error-text'
                  : ''
              }
            >
              {e.outcome}
            </td>
            <td>{e.reason ?? ''}</td>
            <td class="mono muted">
              {e.params && Object.keys(e.params).length > 0 ? json(e.params) : ''}
            </td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
