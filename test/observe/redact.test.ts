/** Redaction of structured values: alert bodies and log fields keep their shape, lose their secrets. */
import { describe, expect, it } from 'vitest';
import { createLogger } from '../../src/observe/logger.js';
import { redactDeep } from '../../src/observe/redact.js';

describe('redactDeep', () => {
  it('redacts every string at any depth and keeps the rest as it was', () => {
    const input = {
      message: 'cannot connect to redis://app:hunter2@db:6379/0',
      details: {
        urls: ['mongodb://root:hunter2@h1,h2/db?replicaSet=rs', 'https://h/x?token=hunter2'],
        n: 3,
        ok: true,
        none: null,
      },
      at: new Date('2026-11-20T00:00:00Z'),
    };
    expect(redactDeep(input)).toEqual({
      message: 'cannot connect to redis://app:***@db:6379/0',
      details: {
        urls: ['mongodb://root:***@h1,h2/db?replicaSet=rs', 'https://h/x?token=***'],
        n: 3,
        ok: true,
        none: null,
      },
      at: '2026-11-20T00:00:00.000Z',
    });
    expect(input.message).toContain('hunter2'); // the input is not changed
  });

  it('a token parameter at the end of a string does not swallow the rest of the value', () => {
    // redacting the serialized JSON would eat the closing quote and everything after it
    const out = redactDeep({ a: 'see https://h/x?token=abc', b: 1 });
    expect(out).toEqual({ a: 'see https://h/x?token=***', b: 1 });
    expect(JSON.parse(JSON.stringify(out))).toEqual(out);
  });

  it('errors keep their message (redacted); cycles do not hang', () => {
    const err = new Error('auth failed for redis://u:hunter2@h');
    const cyclic: Record<string, unknown> = { err };
    cyclic.self = cyclic;
    const out = redactDeep(cyclic) as { err: { message: string }; self: unknown };
    expect(out.err.message).toBe('auth failed for redis://u:***@h');
    expect(out.self).toBe('[circular]');
  });
});

describe('createLogger', () => {
  it('writes log fields with their secrets redacted, whatever their shape', () => {
    const lines: string[] = [];
    const logger = createLogger({ destination: { write: (l: string) => lines.push(l) } });
    logger.warn({ url: 'https://h/x?token=hunter2', n: 1 }, 'retrying redis://u:hunter2@h');
    expect(lines).toHaveLength(1);
    const line = JSON.parse(lines[0]!) as Record<string, unknown>;
    expect(line).toMatchObject({
      url: 'https://h/x?token=***',
      n: 1,
      msg: 'retrying redis://u:***@h',
    });
    expect(lines[0]).not.toContain('hunter2');
  });
});
