/** Every CLI command, in the order help and docs list them. */
import type { CommandDefinition } from '../command-definition.js';
import { auditCommand } from './audit.js';
import { dashboardCommand } from './dashboard.js';
import { backfillCommand } from './backfill.js';
import { pauseCommand, resumeCommand } from './pause.js';
import { throttleCommand } from './throttle.js';
import { verifyCommand } from './verify.js';
import { rollbackCommand } from './rollback.js';
import { completeCommand } from './complete.js';
import { dropTargetCommand } from './drop-target.js';
import { cutoverCommand, stageCommand } from './stage.js';
import { advanceCommand } from './advance.js';
import { repairCommand } from './repair.js';
import { catchupCommand } from './catchup.js';
import { collectionsCommand } from './collections.js';
import { createCommand } from './create.js';
import { demoCommand } from './demo.js';
import { initCommand } from './init.js';
import { planCommand } from './plan.js';
import { statusCommand } from './status.js';
import { countCommand } from './count.js';
import { exportCommand } from './export.js';
import { importCommand } from './import.js';
import { approveCommand } from './approve.js';
import { checkCommand } from './check.js';
import { manifestCommand } from './manifest.js';
import { schemaCommand } from './schema.js';
import { rehearseCommand } from './rehearse.js';

export const COMMANDS: readonly CommandDefinition[] = [
  demoCommand,
  initCommand,
  createCommand,
  statusCommand,
  manifestCommand,
  schemaCommand,
  checkCommand,
  planCommand,
  approveCommand,
  backfillCommand,
  pauseCommand,
  resumeCommand,
  throttleCommand,
  verifyCommand,
  rollbackCommand,
  rehearseCommand,
  completeCommand,
  dropTargetCommand,
  stageCommand,
  cutoverCommand,
  advanceCommand,
  repairCommand,
  catchupCommand,
  auditCommand,
  dashboardCommand,
  importCommand,
  exportCommand,
  collectionsCommand,
  countCommand,
];
