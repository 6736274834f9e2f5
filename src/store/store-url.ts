/**
 * Store URLs are parsed here and nowhere else.
 *
 *   memory:                       the in-process reference store (lost on exit)
 *   sqlite:PATH                   an SQLite file (relative to the working directory)
 *   sqlite:///abs/path.db         the same, URL style
 *   sqlite::memory:               an in-memory SQLite database
 *
 * Other adapters (redis://, dynamodb://, mongodb://) register their schemes in open-store.ts.
 * Every message that shows a URL shows it through `redactUrl`.
 */
import { StoreUrlError } from '../core/errors.js';

export interface ParsedStoreUrl {
  /** the scheme without the colon: 'memory', 'sqlite', 'redis', ... */
  readonly scheme: string;
  /** the URL as given, password redacted */
  readonly redacted: string;
  /** sqlite: the file path, or ':memory:' */
  readonly path?: string;
  /** network stores: the WHATWG URL (not for mongodb:, whose URLs may list several hosts) */
  readonly url?: URL;
  /** mongodb: the URL as given, password included: only for handing to the driver */
  readonly raw?: string;
}

const REDACTED = '***';

/** The URL with any password replaced by `***`. Safe to call on any string. */
export function redactUrl(raw: string): string {
  // user:password@ in anything that looks like scheme://user:pass@host
  return raw
    .replace(
      /^([a-z][a-z0-9+.-]*:\/\/)([^/@:]*):([^/@]*)@/i,
      (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`,
    )
    .replace(
      /([?&](?:password|pass|pwd|secret|token|secretAccessKey|authMechanismProperties|tlsCertificateKeyFilePassword)=)[^&]*/gi,
      `$1${REDACTED}`,
    );
}

/** Redact every URL-looking substring of a free text (for error messages from drivers). */
export function redactSecrets(text: string): string {
  return text
    .replace(
      /([a-z][a-z0-9+.-]*:\/\/)([^/@:\s]*):([^/@\s]*)@/gi,
      (_m, scheme: string, user: string) => `${scheme}${user}:${REDACTED}@`,
    )
    .replace(
      /([?&](?:password|pass|pwd|secret|token|secretAccessKey|authMechanismProperties|tlsCertificateKeyFilePassword)=)[^&\s]*/gi,
      `$1${REDACTED}`,
    );
}

export const KNOWN_SCHEMES = [
  'memory',
  'sqlite',
  'redis',
  'redis+hash',
  'dynamodb',
  'mongodb',
  'mongodb+srv',
] as const;

export function parseStoreUrl(raw: string, field = 'store'): ParsedStoreUrl {
  const redacted = redactUrl(raw);
  const fail = (why: string): never => {
    throw new StoreUrlError(`invalid store URL '${redacted}': ${why}. ${FORMS}`, { field });
  };
  if (typeof raw !== 'string' || raw.trim() === '') fail('it is empty');
  const m = /^([a-z][a-z0-9+.-]*):(.*)$/i.exec(raw);
  if (!m) fail('it has no scheme');
  const scheme = m![1]!.toLowerCase();
  const rest = m![2]!;
  switch (scheme) {
    case 'memory':
      if (rest !== '' && rest !== '//') fail("'memory:' takes nothing after the colon");
      return { scheme, redacted };
    case 'sqlite': {
      let path = rest;
      if (path.startsWith('//')) {
        // sqlite:///abs/path or sqlite://./rel/path
        path = path.slice(2);
      }
      if (path === '') fail('it names no file (sqlite:PATH or sqlite::memory:)');
      return { scheme, redacted, path: decodeURIComponent(path) };
    }
    case 'mongodb':
    case 'mongodb+srv': {
      // several hosts (h1:27017,h2:27017) are no WHATWG URL; the driver parses the rest
      if (!/^\/\/[^/?#]*[^/?#@](?=[/?#]|$)/.test(rest)) fail('it names no host');
      return { scheme, redacted, raw };
    }
    default: {
      if (!(KNOWN_SCHEMES as readonly string[]).includes(scheme))
        fail(`unknown scheme '${scheme}:'`);
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return fail('it is not a valid URL');
      }
      if (url.hostname === '') fail('it names no host');
      return { scheme, redacted, url };
    }
  }
}

const FORMS =
  'Forms: memory:, sqlite:PATH, sqlite::memory:, redis://[user:pass@]host:port[/db], redis+hash://..., dynamodb://host:port?region=R, dynamodb://aws?region=R, mongodb://[user:pass@]host[:port][,host2...][/db][?options], mongodb+srv://...';
