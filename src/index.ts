/**
 * Switchyard's public API. Everything a user or the CLI needs is exported from here; deep imports
 * are not part of the contract.
 */

// core: values, keys, diff, errors
export {
  canonicalEquals,
  canonicalString,
  cloneValue,
  fromEJSONObject,
  fromStorageJSON,
  hashValue,
  parseEJSON,
  toEJSON,
  toEJSONObject,
  toStorageJSON,
  typeOf,
  type Doc,
  type Value,
} from './core/values.js';
// the value types a document holds (bson's own classes, so `instanceof` and EJSON agree), for
// up()/down() and addField functions: `new ObjectId()`, `Long.fromString('…')`, ...
export {
  Binary,
  BSONRegExp,
  BSONSymbol,
  Code,
  DBRef,
  Decimal128,
  Double,
  Int32,
  Long,
  MaxKey,
  MinKey,
  ObjectId,
  Timestamp,
  UUID,
} from 'bson';
export { DEFAULT_KEY_FIELD, keyOf, keyOfDoc } from './core/keys.js';
export { diff, sameValue, type DiffEntry, type DiffOptions } from './core/diff.js';
export {
  CheckFailedError,
  ExitCode,
  InputError,
  StoreError,
  StoreUrlError,
  SwitchyardError,
  UsageError,
} from './core/errors.js';

// stores
export type {
  Change,
  Collection,
  CollectionCapabilities,
  Key,
  Range,
  Rev,
  ScanOptions,
  ScanPage,
  Store,
  StoredDoc,
  WriteOp,
  WriteResult,
} from './store/contract.js';
export { RESERVED_PREFIX } from './store/contract.js';
export { openStore, type OpenStoreOptions } from './store/open-store.js';
export { parseStoreUrl, redactSecrets, redactUrl } from './store/store-url.js';
export { MemoryStore } from './store/memory/memory-adapter.js';
export { SqliteStore } from './store/sqlite/sqlite-adapter.js';

// migrations: definitions and the operations catalogue
export * from './migration/index.js';
export {
  defineMigration,
  type Invariant,
  type MergeSource,
  type MigrationDefinition,
  type MigrationTarget,
  type Transform,
} from './migration/define-migration.js';
export { Migration, TransformError, type LossyStep } from './migration/migration.js';
export {
  compileMigration,
  loadMigrationFile,
  loadMigrations,
} from './migration/load-migrations.js';

// config
export { defineConfig } from './config/define-config.js';
export { loadConfig } from './config/load-config.js';
export type { ResolvedConfig, SwitchyardConfig } from './config/config-schema.js';

// import / export
export { readDocuments } from './io/read-documents.js';
export { writeNdjson } from './io/write-ndjson.js';
export { importDocuments, type ImportOptions, type ImportSummary } from './io/import-documents.js';
export { exportDocuments, type ExportOptions } from './io/export-documents.js';

// control plane
export {
  AuditLog,
  type AuditEntry,
  type AuditInput,
  type AuditVerifyResult,
} from './state/audit-log.js';
export { Catalog, MigrationStatus, type CatalogEntry } from './state/catalog.js';

export {
  approvalStatus,
  approve,
  requireApprovals,
  ApprovalRefusedError,
  ApprovalRequiredError,
  type ApprovalStatus,
} from './state/approvals.js';

// schemas: the registry, compatibility, declarative end states
export type { CollectionSchema, PathSchema, SchemaSource } from './schema/collection-schema.js';
export { inferSchemas, SchemaBuilder } from './schema/infer-schema.js';
export { fromJsonSchema, toJsonSchema } from './schema/json-schema.js';
export { predictSchema, type Prediction } from './schema/apply-effects.js';
export { compareSchemas, type SchemaChange } from './schema/compare-schemas.js';
export {
  ChangeClass,
  CompatibilityMode,
  classify,
  judgeChanges,
  type Finding,
} from './schema/compatibility.js';
export {
  checkMigrations,
  type CheckReport,
  type CheckSources,
  type MigrationCheck,
} from './schema/check-migrations.js';
export { SchemaRegistry, SchemaSlot, type RegistryEntry } from './schema/registry.js';
export { planToTarget, type TargetPlan } from './schema/target-plan.js';
export type { SchemaEffect } from './migration/schema-effect.js';

// engines
export { plan, type PlanOptions, type PlanReport } from './engine/plan.js';
export { Project, type ProjectOptions } from './project.js';

// runtime: the application's read/write path (side by side, readAs, validation)
export {
  connect,
  DEFAULT_REFRESH_MS,
  Yard,
  type CollectionOptions,
  type ConnectOptions,
  type YardOptions,
  type YardProject,
} from './runtime/yard.js';
export {
  castTo,
  YardCollection,
  type BackgroundErrorSink,
  type ReadOptions,
} from './runtime/yard-collection.js';
export { AppMigration, type MigrationFunctions } from './runtime/app-migration.js';
export { FunctionSide, type SideFunctions } from './runtime/function-side.js';
export { wrapRedis, type RedisRoute } from './runtime/clients/ioredis.js';
export { wrapDocumentClient, type DynamoRoute } from './runtime/clients/dynamodb-document.js';
export { InvalidDocumentError, type CheckFailure } from './runtime/version-chain.js';
export {
  drainQueue,
  drainRepairs,
  isPendingDelete,
  repairCollectionName,
  RepairQueue,
  type DrainOptions,
  type DrainResult,
  type RepairEntry,
} from './runtime/repair-queue.js';
export { CandidateTimeoutError, type ShadowOptions } from './runtime/shadow.js';
export type { MismatchSnapshot, NamedCount } from './runtime/experiment.js';
export {
  Stage,
  STAGE_RULES,
  setStage,
  sideBySideState,
  transition,
  rollbackTarget,
  StageRefusedError,
  type SideBySideState,
} from './engine/stages.js';
export { inLivePercent } from './runtime/sticky.js';
export {
  readRuntimeWindow,
  type RuntimeWindow,
  type SideWindow,
  LATENCY_BUCKETS_MS,
} from './runtime/counters.js';
export {
  parseGates,
  evaluateGates,
  readLastGate,
  gatesFromThresholds,
  gateThreshold,
  type Gate,
  type GateReport,
  type GateCheck,
} from './engine/gates.js';
export { errorBudgetThreshold, DEFAULT_ERROR_BUDGET_THRESHOLD } from './engine/error-budget.js';
export type { Threshold } from './engine/runner/thresholds.js';
export {
  verifySideBySide,
  type SideBySideVerifyOptions,
  type SideBySideVerifyReport,
} from './engine/verify-side-by-side.js';
export {
  renderProjectMetrics,
  collectProjectMetrics,
  METRICS_CONTENT_TYPE,
  createRuntimeMetrics,
  type RuntimeMetrics,
} from './observe/metrics.js';
export {
  AlertSink,
  AlertType,
  parseWebhookUrl,
  type AlertEvent,
  type AlertInput,
} from './observe/alerts.js';
export { WorkerHeartbeat } from './observe/worker-heartbeat.js';
export { BackfillAlerts } from './observe/job-alerts.js';
export {
  advance,
  DEFAULT_STEPS,
  type RampOptions,
  type RampResult,
  type RampOutcome,
} from './engine/ramp.js';
