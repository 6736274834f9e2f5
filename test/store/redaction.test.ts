/**
 * Secret redaction over generated passwords that hold every character a URL parser would stop
 * at ('@', '/', ':', '%', '#', '?', spaces): store URLs valid or not, alone or inside free text,
 * in parse errors, connection errors and log lines. The passwords' letters are Cyrillic, which
 * appears nowhere else in these texts, so "no Cyrillic letter in the output" means no fragment
 * of a password with a letter in it was printed.
 */
import { Writable } from 'node:stream';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { CliContext } from '../../src/cli/cli-context.js';
import { createLogger } from '../../src/observe/logger.js';
import { redactDeep } from '../../src/observe/redact.js';
import { openStore } from '../../src/store/open-store.js';
import { parseStoreUrl, redactSecrets, redactUrl } from '../../src/store/store-url.js';

const MARKERS = /[жюяё]/;
const password = fc
  .array(fc.constantFrom('ж', 'ю', 'я', '@', '/', ':', '%', '#', '?', ' ', 'a', '1', '%40'), {
    minLength: 1,
    maxLength: 16,
  })
  .map((parts) => parts.join(''))
  .filter((p) => MARKERS.test(p));
const user = fc.constantFrom('', 'bob', 'app-user');
const scheme = fc.constantFrom(
  'redis',
  'redis+hash',
  'mongodb',
  'mongodb+srv',
  'dynamodb',
  'https',
);
const host = fc.constantFrom('127.0.0.1:6379', 'db.internal', 'h1:27017,h2:27017', '[::1]:6379');
const tail = fc.constantFrom('', '/0', '/db?replicaSet=rs&w=1', '?prefix=sy:');

const parts = fc.record({ scheme, user, password, host, tail });
/**
 * The same with a password that starts with a nonce of its own (ёNё): no password remembered
 * from an earlier case can occur in this case's text, so what is redacted is this case's doing
 * (an earlier one could blank more than this password: safe, but not the exact answer).
 */
let cases = 0;
const fresh = parts.map((p) => ({ ...p, password: `ё${++cases}ё${p.password}` }));
/** free text cannot tell where a password with a space ends, unless it was seen before */
const noSpace = fresh.filter((p) => !p.password.includes(' '));
const urlOf = (p: { scheme: string; user: string; password: string; host: string; tail: string }) =>
  `${p.scheme}://${p.user}:${p.password}@${p.host}${p.tail}`;

describe('redaction of generated passwords', () => {
  it('redactUrl leaves exactly the user, `***` and everything after the userinfo', () => {
    fc.assert(
      fc.property(fresh, (p) => {
        expect(redactUrl(urlOf(p))).toBe(`${p.scheme}://${p.user}:***@${p.host}${p.tail}`);
      }),
      { numRuns: 500 },
    );
  });

  it('a URL of no space or quote is redacted inside any text, seen before or not', () => {
    fc.assert(
      fc.property(
        parts.filter((p) => !p.password.includes(' ')),
        fc.constantFrom(
          (u: string) => `cannot connect to ${u}: ECONNREFUSED`,
          (u: string) => `'${u}'`,
          (u: string) => `(${u})`,
          (u: string) => `error:${u}\nnext line`,
        ),
        (p, wrap) => {
          const out = redactSecrets(wrap(urlOf(p)));
          expect(out).not.toMatch(MARKERS);
          expect(out).toContain('***');
        },
      ),
      { numRuns: 500 },
    );
  });

  it('once a store URL was parsed, no text shows its password, spaces and all (4 characters or more)', () => {
    fc.assert(
      fc.property(fresh, (p) => {
        const raw = urlOf(p);
        let redacted: string;
        try {
          redacted = parseStoreUrl(raw).redacted;
        } catch (err) {
          redacted = (err as Error).message;
        }
        expect(redacted).not.toMatch(MARKERS);
        for (const text of [
          `driver: auth failed for ${raw} (password ${p.password})`,
          `${p.password}`,
          encodeURIComponent(p.password),
          JSON.stringify({ url: raw }),
        ])
          expect(redactSecrets(text)).not.toMatch(MARKERS);
        const logged: string[] = [];
        createLogger({ destination: { write: (l: string) => logged.push(l) } }).warn(
          { url: raw, nested: [{ error: new Error(`connect to ${raw} failed`) }] },
          `retrying ${raw}`,
        );
        expect(logged.join('')).not.toMatch(MARKERS);
        expect(JSON.stringify(redactDeep({ [raw]: raw }))).not.toMatch(MARKERS);
      }),
      { numRuns: 300 },
    );
  });

  it('a URL inside a JSON string or a metrics label keeps its closing quote: the text still parses', () => {
    // a secret parameter's value as a URL carries it: no '&', space or quote (those are encoded)
    const value = password.map((p) => p.replace(/[& ]/g, '')).filter((p) => MARKERS.test(p));
    fc.assert(
      fc.property(
        noSpace,
        value,
        fc.constantFrom('token', 'password', 'secretAccessKey'),
        (p, secret, name) => {
          const raw = `${urlOf(p)}${p.tail.includes('?') ? '&' : '?'}${name}=${secret}`;
          const json = redactSecrets(JSON.stringify({ store: raw, n: 1 }));
          expect(json).not.toMatch(MARKERS);
          expect(JSON.parse(json)).toMatchObject({ n: 1 });
          const label = redactSecrets(`sy_up{store="${raw}",kind="x"} 1`);
          expect(label).not.toMatch(MARKERS);
          expect(label).toMatch(/^sy_up\{store="[^"]*",kind="x"\} 1$/);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('the CLI writes every stderr line redacted (messages, never data)', () => {
    fc.assert(
      fc.property(noSpace, (p) => {
        let written = '';
        const stderr = new Writable({
          write(chunk: Buffer, _enc, cb) {
            written += chunk.toString();
            cb();
          },
        });
        const ctx = new CliContext({ stdout: stderr, stderr, env: {}, cwd: '.' }, {});
        ctx.err(`switchyard export: cannot reach ${urlOf(p)} — waiting`);
        expect(written).not.toMatch(MARKERS);
        expect(written).toContain(`${p.scheme}://${p.user}:***@`);
      }),
      { numRuns: 100 },
    );
  });

  it('a Redis store that cannot be reached, or a URL that cannot be parsed, says so without the password', async () => {
    await fc.assert(
      fc.asyncProperty(fc.record({ user, password }), async ({ user: u, password: pw }) => {
        const err = await openStore(`redis://${u}:${pw}@127.0.0.1:1/0`).catch((e: unknown) => e);
        expect(err).toBeInstanceOf(Error);
        expect((err as Error).message).not.toMatch(MARKERS);
        expect((err as Error).message).toMatch(
          /^(field 'store': invalid store URL|cannot connect to)/,
        );
      }),
      { numRuns: 40 },
    );
  });

  it("the issue's examples: '@' and '/' in a password", () => {
    expect(redactUrl('redis://bob:se@cretpw@host')).toBe('redis://bob:***@host');
    const err = (() => {
      try {
        parseStoreUrl('redis://alice:pa/ss@host');
      } catch (e) {
        return e as Error;
      }
      return undefined;
    })();
    expect(err?.message).toContain("invalid store URL 'redis://alice:***@host'");
    expect(err?.message).toContain('must be percent-encoded');
    expect(err?.message).not.toContain('pa/ss');
    // no credentials, an '@' further on: the host is hidden too, never a password; and such a
    // store URL is refused (the '@' must be written %40)
    expect(redactUrl('redis://127.0.0.1:6379/0?prefix=me@app:')).not.toContain('6379');
    expect(() => parseStoreUrl('redis://127.0.0.1:6379/0?prefix=me@app:')).toThrow(
      /an '@' after the host/,
    );
    expect(() => parseStoreUrl('redis://alice:123/ss@host')).toThrow(/an '@' after the host/);
    expect(
      parseStoreUrl('redis://127.0.0.1:6379/0?prefix=me%40app:').url?.searchParams.get('prefix'),
    ).toBe('me@app:');
    // paths of stores without credentials are left alone
    expect(redactUrl('sqlite:./backups/users@2026.db')).toBe('sqlite:./backups/users@2026.db');
    expect(redactSecrets('actor dashboard:ci@test-host')).toBe('actor dashboard:ci@test-host');
  });
});
