/**
 * Approvals: `switchyard approve <id>` records, in the audit log, that an actor approves a
 * migration as its file is now (its SHA-256): like a saved plan, what was reviewed is what runs,
 * so an approval of an earlier version of the file does not count. The config can require N
 * approvals by distinct actors before a backfill or a cut-over (`approvals`), and can forbid the
 * migration's author from approving it (`forbidAuthor`; the author is the migration's `author`).
 *
 * `requireApprovals` is the one check the commands that need approvals call before they change
 * anything. Both refusals are InputErrors (exit 2): nothing is written, not even to the audit log.
 */
import { InputError } from '../core/errors.js';
import type { ApprovalAction, ApprovalPolicy } from '../config/config-schema.js';
import type { Migration } from '../migration/migration.js';
import type { AuditEntry, AuditLog } from './audit-log.js';

export const APPROVE_COMMAND = 'approve';

/** An approval that may not be given: by the author where the config forbids it. */
export class ApprovalRefusedError extends InputError {
  override readonly code = 'E_APPROVAL_REFUSED';
}

/** An action that needs more approvals than the migration has. */
export class ApprovalRequiredError extends InputError {
  override readonly code = 'E_APPROVAL_REQUIRED';
}

export interface ApprovalContext {
  readonly audit: AuditLog;
  readonly actor: string;
  readonly policy: { readonly approvals: ApprovalPolicy | undefined };
}

export interface ApprovalStatus {
  /** approvals needed for the action (0: none) */
  readonly required: number;
  /** distinct actors who approved the file as it is now (the author excluded where forbidden) */
  readonly approvers: readonly string[];
  /** approvals of earlier versions of the file, which do not count */
  readonly stale: number;
  readonly ok: boolean;
}

/** Who approved the migration's current file, from the audit log. */
export async function approvalStatus(
  ctx: Pick<ApprovalContext, 'audit' | 'policy'>,
  migration: Migration,
  action?: ApprovalAction,
): Promise<ApprovalStatus> {
  const policy = ctx.policy.approvals;
  const required =
    policy === undefined || (action !== undefined && !policy.for.includes(action))
      ? 0
      : policy.required;
  const entries = (await ctx.audit.entries({ migration: migration.id })).filter(
    (e) => e.command === APPROVE_COMMAND && e.outcome === 'ok',
  );
  const current = (e: AuditEntry) => e.params?.checksum === migration.checksum;
  const approvers = [
    ...new Set(
      entries
        .filter(current)
        .map((e) => e.actor)
        .filter((a) => !(policy?.forbidAuthor === true && a === migration.author)),
    ),
  ];
  const stale = entries.filter((e) => !current(e)).length;
  return { required, approvers, stale, ok: approvers.length >= required };
}

/** Record the actor's approval of the migration's current file. */
export async function approve(
  ctx: ApprovalContext,
  migration: Migration,
  reason?: string,
): Promise<AuditEntry> {
  const where = {
    ...(migration.file !== undefined ? { file: migration.file } : {}),
    field: 'author',
  };
  if (ctx.policy.approvals?.forbidAuthor === true) {
    if (migration.author === undefined)
      throw new ApprovalRefusedError(
        `the config forbids authors approving their own migrations, and ${migration.id} names no author: add author: '<name>' to it`,
        where,
      );
    if (migration.author === ctx.actor)
      throw new ApprovalRefusedError(
        `${ctx.actor} wrote ${migration.id} and the config forbids authors approving their own migrations (approvals.forbidAuthor): another actor must approve it`,
        where,
      );
  }
  return ctx.audit.append({
    actor: ctx.actor,
    command: APPROVE_COMMAND,
    migration: migration.id,
    ...(reason !== undefined ? { reason } : {}),
    params: {
      checksum: migration.checksum,
      ...(migration.file !== undefined ? { file: migration.file } : {}),
    },
    outcome: 'ok',
  });
}

/** Whether the config requires approvals before `action`. */
export function approvalsNeeded(
  policy: { readonly approvals: ApprovalPolicy | undefined },
  action: ApprovalAction,
): boolean {
  return policy.approvals?.for.includes(action) === true;
}

/**
 * Refuse `action` on the migration unless its current file has the approvals the config
 * requires. Call it before changing anything.
 */
export async function requireApprovals(
  ctx: Pick<ApprovalContext, 'audit' | 'policy'>,
  migration: Migration,
  action: ApprovalAction,
): Promise<ApprovalStatus> {
  if (!approvalsNeeded(ctx.policy, action))
    return { required: 0, approvers: [], stale: 0, ok: true }; // nothing to read
  const status = await approvalStatus(ctx, migration, action);
  if (status.ok) return status;
  const have =
    status.approvers.length === 0
      ? 'none'
      : `${status.approvers.length} (${status.approvers.join(', ')})`;
  throw new ApprovalRequiredError(
    `${action} of ${migration.id} needs ${status.required} approval${status.required > 1 ? 's' : ''} by distinct actors of its file as it is now (sha256 ${migration.checksum.slice(0, 12)}); it has ${have}${status.stale > 0 ? `, and ${status.stale} approval(s) of an earlier version of the file, which do not count` : ''}. A reviewer runs: switchyard approve ${migration.id}`,
    { ...(migration.file !== undefined ? { file: migration.file } : {}), field: 'approvals' },
  );
}
