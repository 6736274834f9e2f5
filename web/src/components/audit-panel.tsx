/** The audit log: the hash chain's state and the newest entries. */
import type { AuditChainView, AuditEntryView } from '../api.js';
import { ago, words } from '../format.js';
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
            <td class="one-line" title={e.at}>
              {ago(e.at, props.now)}
            </td>
            <td class="one-line" data-testid="audit-actor">
              {e.actor}
            </td>
            <td class="one-line">{e.command}</td>
            {props.showMigration && <td class="one-line">{e.migration ?? ''}</td>}
            <td
              class={
                e.outcome.startsWith('refused') || e.outcome.startsWith('failed')
                  ? 'error-text'
                  : 'free'
              }
            >
              {e.outcome}
            </td>
            <td class="free">{e.reason ?? ''}</td>
            <Params params={e.params} />
          </tr>
        ))}
      </tbody>
    </table>
  );
}

/** longer parameters are cut here; the cell's title holds them whole */
const PARAMS_SHOWN = 200;

function Params(props: { params: Record<string, unknown> | undefined }) {
  const text = props.params ? words(props.params) : '';
  const cut = text.length > PARAMS_SHOWN;
  return (
    <td class="muted free" data-testid="audit-params" title={cut ? text : undefined}>
      {cut ? `${text.slice(0, PARAMS_SHOWN - 1)}…` : text}
    </td>
  );
}
