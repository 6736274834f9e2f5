/**
 * Compatibility modes, after the schema registries of event streams (Confluent's): which readers
 * a schema change must keep working. The rules are in src/schema/compatibility.ts; the names live
 * here because a migration file (`compatibility:`) and the config (`compatibility`, per
 * collection) both name one.
 */
export const CompatibilityMode = {
  /** readers of the new version read documents at the old one */
  BACKWARD: 'BACKWARD',
  /** ... and at every earlier one */
  BACKWARD_TRANSITIVE: 'BACKWARD_TRANSITIVE',
  /** readers of the old version read documents at the new one */
  FORWARD: 'FORWARD',
  /** ... readers of every earlier version do */
  FORWARD_TRANSITIVE: 'FORWARD_TRANSITIVE',
  /** both */
  FULL: 'FULL',
  FULL_TRANSITIVE: 'FULL_TRANSITIVE',
  /** no check (consumers' fields are still checked) */
  NONE: 'NONE',
} as const;
export type CompatibilityMode = (typeof CompatibilityMode)[keyof typeof CompatibilityMode];
export const COMPATIBILITY_MODES: readonly CompatibilityMode[] = Object.values(CompatibilityMode);

/** As in Confluent's registry: the default mode. */
export const DEFAULT_COMPATIBILITY: CompatibilityMode = CompatibilityMode.BACKWARD;

export function isCompatibilityMode(v: unknown): v is CompatibilityMode {
  return (COMPATIBILITY_MODES as readonly unknown[]).includes(v);
}
