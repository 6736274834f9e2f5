import os from 'node:os';

/** Who is acting: --actor, else $SWITCHYARD_ACTOR, else the OS user. */
export function resolveActor(explicit?: string): string {
  if (explicit !== undefined && explicit.trim() !== '') return explicit.trim();
  const env = process.env.SWITCHYARD_ACTOR;
  if (env !== undefined && env.trim() !== '') return env.trim();
  try {
    return os.userInfo().username;
  } catch {
    return 'unknown';
  }
}
