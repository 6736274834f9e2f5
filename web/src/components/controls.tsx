/**
 * The controls of one migration. Every button opens a confirmation that says what will happen
 * and asks for a reason (it goes to the audit log); nothing is sent before Confirm.
 */
import { useEffect, useRef, useState } from 'preact/hooks';
import {
  sendControl,
  type ControlAction,
  type ControlRequest,
  type ControlResponse,
  type MigrationView,
} from '../api.js';

type Field = 'rate' | 'batchSize' | 'percent';

interface Plan {
  action: ControlAction;
  title: string;
  explain: string;
  confirm: string;
  danger?: boolean;
  /** numeric inputs; `optional` ones may stay empty */
  fields: { name: Field; label: string; optional?: boolean; initial?: number }[];
  base: Partial<ControlRequest>;
}

const RUNNING = ['backfilling', 'paused'];
const ROLLBACKABLE = [
  'backfilling',
  'paused',
  'canary',
  'backfilled',
  'verified',
  'failed',
  'rolling-back',
];

export function Controls(props: {
  m: MigrationView;
  token: string;
  jobRunning: boolean;
  onResult: (r: ControlResponse) => void;
}) {
  const { m } = props;
  const [plan, setPlan] = useState<Plan | null>(null);
  const sbs = m.sideBySide;
  const expect = sbs
    ? {
        expect: {
          stage: sbs.stage,
          percent: sbs.percent,
          ...(sbs.changedAt !== undefined ? { changedAt: sbs.changedAt } : {}),
        },
      }
    : {};
  const missing = (action: 'backfill' | 'cutover') => approvalsMissing(m, action);
  const rate = m.control?.rate ?? (m.startedWith?.rate as number | null | undefined) ?? undefined;

  const buttons: { id: string; label: string; plan: Plan; enabled: boolean; why?: string }[] = [
    {
      id: 'pause',
      label: 'Pause',
      enabled: m.status === 'backfilling',
      why: 'only a running backfill can be paused',
      plan: {
        action: 'pause',
        title: `Pause ${m.id}`,
        explain:
          'Every worker finishes the batch it is in, keeps its leases and waits. Nothing is lost; resume continues from the checkpoints.',
        confirm: 'Pause',
        fields: [],
        base: {},
      },
    },
    {
      id: 'resume',
      label: 'Resume',
      enabled: m.status === 'paused' && missing('backfill') === undefined,
      why: missing('backfill') ?? 'only a paused backfill can be resumed',
      plan: {
        action: 'resume',
        title: `Resume ${m.id}`,
        explain:
          'Waiting workers continue from their checkpoints. If no worker is running, start one with switchyard backfill.',
        confirm: 'Resume',
        fields: [],
        base: {},
      },
    },
    {
      id: 'throttle',
      label: 'Change rate',
      enabled: RUNNING.includes(m.status),
      why: 'only for a running or paused backfill',
      plan: {
        action: 'throttle',
        title: `Change the rate of ${m.id}`,
        explain:
          'Documents per second for each worker process (and optionally the batch size). Every worker picks it up before its next batch.',
        confirm: 'Apply',
        fields: [
          { name: 'rate', label: 'docs/s per worker', ...(rate ? { initial: rate } : {}) },
          { name: 'batchSize', label: 'batch size', optional: true },
        ],
        base: {},
      },
    },
  ];
  if (sbs !== undefined) {
    if (sbs.stage === 'live')
      buttons.push({
        id: 'percent',
        label: 'Set live %',
        enabled: !m.fileMissing && missing('cutover') === undefined,
        why: missing('cutover') ?? 'the migration file is missing',
        plan: {
          action: 'stage',
          title: `Change the live percent of ${m.id}`,
          explain: `Now ${sbs.percent}% of keys are read from the new side. Keys are chosen by a sticky hash: raising the percent only adds keys.`,
          confirm: 'Apply',
          fields: [{ name: 'percent', label: 'percent of keys (0-100)', initial: sbs.percent }],
          base: { stage: 'live', ...expect },
        },
      });
    if (sbs.next !== null) {
      const blocked =
        sbs.next.blocked ?? (sbs.next.stage === 'live' ? missing('cutover') : undefined);
      buttons.push({
        id: 'advance',
        label: `Advance to ${sbs.next.stage}`,
        enabled: blocked === undefined,
        ...(blocked !== undefined ? { why: blocked } : {}),
        plan: {
          action: 'stage',
          title: `Advance ${m.id} from ${sbs.stage} to ${sbs.next.stage}`,
          explain: stageExplain(sbs.next.stage),
          confirm: `Advance to ${sbs.next.stage}`,
          danger: sbs.next.stage === 'complete',
          fields: sbs.next.needsPercent
            ? [{ name: 'percent', label: 'percent of keys (0-100)', initial: 1 }]
            : [],
          base: { stage: sbs.next.stage, ...expect },
        },
      });
    }
    const back = sbs.back;
    buttons.push({
      id: 'rollback',
      label: 'stage' in back ? `Roll back to ${back.stage}` : 'Roll back',
      enabled: 'stage' in back && !m.fileMissing,
      why: 'refused' in back ? back.refused : 'the migration file is missing',
      plan: {
        action: 'rollback',
        title: `Roll ${m.id} back`,
        explain:
          'stage' in back
            ? `Steps back from ${sbs.stage} to ${back.stage}${back.percent !== undefined ? ` ${back.percent}%` : ''}, where the old side is authoritative again. Nothing is lost: the old side got every write.`
            : '',
        confirm: 'Roll back',
        danger: true,
        fields: [],
        base: { ...expect },
      },
    });
  } else {
    buttons.push({
      id: 'rollback',
      label: 'Roll back',
      enabled: ROLLBACKABLE.includes(m.status) && !props.jobRunning && !m.fileMissing,
      why: props.jobRunning
        ? 'a rollback is running'
        : m.fileMissing
          ? 'the migration file is missing'
          : `nothing to roll back while ${m.status}`,
      plan: {
        action: 'rollback',
        title: `Roll ${m.id} back`,
        explain:
          'Runs in the dashboard process. Running backfill workers stop first. Every document still as the migration wrote it is restored exactly from the undo journal; one the application changed since is turned back with down() where exact, else kept and reported as a conflict. Stopping the dashboard stops the rollback after its batch; run it again to continue.',
        confirm: 'Roll back',
        danger: true,
        fields: [{ name: 'rate', label: 'docs/s (empty: unlimited)', optional: true }],
        base: {},
      },
    });
  }

  return (
    <div class="controls" data-testid="controls">
      {buttons.map((b) => (
        <button
          key={b.id}
          type="button"
          class={`btn${b.plan.danger ? ' btn-danger' : ''}`}
          data-testid={`btn-${b.id}`}
          disabled={!b.enabled}
          title={b.enabled ? b.plan.title : b.why}
          onClick={() => setPlan(b.plan)}
        >
          {b.label}
        </button>
      ))}
      {(m.approvals ?? [])
        .filter((a) => !a.ok)
        .map((a) => (
          <p key={a.action} class="form-error" data-testid={`approvals-${a.action}`}>
            {approvalsMissing(m, a.action)}
          </p>
        ))}
      {plan !== null && (
        <ConfirmDialog
          plan={plan}
          onCancel={() => setPlan(null)}
          onConfirm={async (body) => {
            const r = await sendControl(props.token, m.id, plan.action, body);
            props.onResult(r);
            setPlan(null);
          }}
        />
      )}
    </div>
  );
}

/** Why an action is refused for want of approvals (the config's), or undefined. */
function approvalsMissing(m: MigrationView, action: 'backfill' | 'cutover'): string | undefined {
  const a = m.approvals?.find((x) => x.action === action);
  if (a === undefined || a.ok) return undefined;
  const have = a.approvers.length === 0 ? 'none' : a.approvers.join(', ');
  const stale = a.stale > 0 ? `; ${a.stale} approval(s) of an earlier version do not count` : '';
  return `${action === 'backfill' ? 'Backfill' : 'Cut-over'} needs ${a.required} approval(s) of the file as it is now; approved by: ${have}${stale}. A reviewer runs: switchyard approve ${m.id}`;
}

function stageExplain(stage: string): string {
  switch (stage) {
    case 'dual-write':
      return 'The application writes both sides (old authoritative); failed new-side writes go to the repair queue. Then backfill the rest.';
    case 'shadow':
      return 'Reads go to both sides; the old answers, the new is compared and mismatches are counted by field path.';
    case 'live':
      return 'The new side answers reads for a sticky percentage of keys.';
    case 'rampdown':
      return 'The new side is authoritative; the old side is still written with down(doc), so stepping back loses nothing.';
    case 'complete':
      return 'Final: the old side is no longer written. Going back afterwards takes a new migration.';
    default:
      return '';
  }
}

function ConfirmDialog(props: {
  plan: Plan;
  onCancel: () => void;
  onConfirm: (body: ControlRequest) => Promise<void>;
}) {
  const { plan } = props;
  const dialog = useRef<HTMLDialogElement>(null);
  const [reason, setReason] = useState('');
  const [values, setValues] = useState<Record<string, string>>(() =>
    Object.fromEntries(plan.fields.map((f) => [f.name, f.initial?.toString() ?? ''])),
  );
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    const d = dialog.current;
    if (d !== null && !d.open) d.showModal();
  }, []);

  const numbers: Partial<Record<Field, number>> = {};
  let invalid: string | null = null;
  for (const f of plan.fields) {
    const raw = (values[f.name] ?? '').trim();
    if (raw === '') {
      if (!f.optional) invalid = `${f.label} is required`;
      continue;
    }
    const n = Number(raw);
    const ok = f.name === 'percent' ? n >= 0 && n <= 100 : Number.isInteger(n) && n > 0 && n <= 1e9;
    if (!ok) invalid = `${f.label}: ${raw} is not valid`;
    else numbers[f.name] = n;
  }
  if (reason.trim() === '') invalid ??= 'a reason is required';

  const submit = async (e: Event) => {
    e.preventDefault();
    if (invalid !== null || busy) return;
    setBusy(true);
    await props.onConfirm({ ...plan.base, ...numbers, reason: reason.trim() } as ControlRequest);
  };

  return (
    <dialog
      ref={dialog}
      class="confirm"
      data-testid="confirm-dialog"
      onCancel={(e) => {
        e.preventDefault();
        props.onCancel();
      }}
    >
      <form method="dialog" onSubmit={submit}>
        <h3>{plan.title}</h3>
        <p>{plan.explain}</p>
        {plan.fields.map((f) => (
          <label key={f.name} class="field">
            <span>{f.label}</span>
            <input
              type="number"
              inputMode="numeric"
              data-testid={`confirm-${f.name}`}
              value={values[f.name] ?? ''}
              onInput={(e) =>
                setValues({ ...values, [f.name]: (e.currentTarget as HTMLInputElement).value })
              }
            />
          </label>
        ))}
        <label class="field">
          <span>Reason (recorded in the audit log)</span>
          <textarea
            data-testid="confirm-reason"
            rows={2}
            required
            value={reason}
            onInput={(e) => setReason((e.currentTarget as HTMLTextAreaElement).value)}
          />
        </label>
        {invalid !== null && reason !== '' && <p class="form-error">{invalid}</p>}
        <div class="dialog-buttons">
          <button type="button" class="btn" data-testid="confirm-cancel" onClick={props.onCancel}>
            Cancel
          </button>
          <button
            type="submit"
            class={`btn ${plan.danger ? 'btn-danger' : 'btn-primary'}`}
            data-testid="confirm-ok"
            disabled={invalid !== null || busy}
          >
            {busy ? 'Sending…' : plan.confirm}
          </button>
        </div>
      </form>
    </dialog>
  );
}
