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

/*
 * Redaction rules (a password must never be printed, whatever it contains; showing less than
 * could be shown is the price):
 * - Userinfo is everything between the scheme (and its slashes) and the LAST '@' of the URL,
 *   valid URL or not: a password may hold '@', '/', ':', '?', '#', '%' or spaces, and a URL
 *   parser would end the userinfo earlier and leave the rest in view. Of the userinfo, the part
 *   before the first ':' is the user name and is kept; the rest is the password: `***`. A
 *   userinfo without ':' is one secret as a whole (`https://<token>@host`): `***`. An '@' after
 *   the host (`?prefix=a@b`) makes the host disappear too; never a password.
 * - sqlite:, memory: and file: URLs carry no credentials: an '@' there is part of a path.
 * - Query parameters that name a secret (password, token, secretAccessKey, ...): their value.
 * - Every secret a URL was redacted of (and every store URL's password, when it is parsed) is
 *   remembered for the life of the process, and any later text that contains it, in any of its
 *   forms (as written, percent-decoded, percent-encoded), shows `***` instead. That covers free
 *   text where a URL's end cannot be told (a password with a space, echoed by a driver).
 *   Secrets shorter than MIN_REMEMBERED characters are not remembered (they would blank out
 *   common words); their URLs are still redacted by the rules above.
 */
const NO_USERINFO = new Set(['sqlite', 'memory', 'file']);
const SECRET_PARAM_NAME =
  '[?&;](?:password|pass|pwd|secret|token|secretAccessKey|authMechanismProperties|tlsCertificateKeyFilePassword)=';
/**
 * A secret parameter's value ends at the next '&'; in free text also at a space or a quote, as a
 * URL in free text does (URL_IN_TEXT), so a URL inside a JSON string or a Prometheus label keeps
 * its closing quote. A value holding a quote is still hidden whole once its URL was parsed or
 * redacted (remembered secrets, below).
 */
const SECRET_PARAM = new RegExp(`(${SECRET_PARAM_NAME})([^&]*)`, 'gi');
const SECRET_PARAM_IN_TEXT = new RegExp(`(${SECRET_PARAM_NAME})([^&\\s'"\`<>]*)`, 'gi');
/**
 * A URL in free text: `scheme://` followed by anything but a space or a quote, or a store (or
 * http) scheme with no slashes (`redis:u:p@h`); other `word:` are words.
 */
const URL_IN_TEXT =
  /\b(?:([a-z][a-z0-9+.-]*):(\/\/)|(redis|redis\+hash|mongodb|mongodb\+srv|dynamodb|https?):())([^\s'"`<>]*)/gi;
const MIN_REMEMBERED = 4;
const MAX_REMEMBERED = 200;
const remembered = new Set<string>();

/** Remember a secret (and its percent-encoded and -decoded forms) so no later text shows it. */
export function rememberSecret(secret: string): void {
  const forms = [secret, encodeURIComponent(secret)];
  try {
    forms.push(decodeURIComponent(secret));
  } catch {
    // not percent-encoded: the form as written is enough
  }
  for (const form of forms) {
    if (form.length < MIN_REMEMBERED || form.includes(REDACTED) || remembered.has(form)) continue;
    if (remembered.size >= MAX_REMEMBERED) remembered.delete(remembered.values().next().value!);
    remembered.add(form);
    rememberedPattern = null;
  }
}

type Span = readonly [start: number, end: number];

/**
 * The secret of a URL's userinfo, as a span of the text: `rest` (what follows `scheme:` and its
 * slashes) starts at `from`. Null when there is no userinfo or it is already redacted.
 */
function userinfoSecret(rest: string, from: number): Span | null {
  const at = rest.lastIndexOf('@');
  if (at < 0) return null;
  const colon = rest.slice(0, at).indexOf(':');
  const start = colon < 0 ? 0 : colon + 1;
  const secret = rest.slice(start, at);
  if (secret === REDACTED || secret === '') return null;
  rememberSecret(secret);
  return [from + start, from + at];
}

/** the spans of secret parameter values (remembered as they are found) */
function paramSecrets(text: string, pattern: RegExp, spans: Span[]): void {
  for (const m of text.matchAll(pattern)) {
    const value = m[2]!;
    if (value === '' || value === REDACTED) continue;
    rememberSecret(value);
    const start = m.index + m[1]!.length;
    spans.push([start, start + value.length]);
  }
}

/** any remembered secret (a quick test before looking for each one) */
let rememberedPattern: RegExp | null = null;

/** every occurrence of every remembered secret, overlapping ones included */
function rememberedSecrets(text: string, spans: Span[]): void {
  if (remembered.size === 0) return;
  rememberedPattern ??= new RegExp(
    [...remembered].map((x) => x.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')).join('|'),
  );
  if (!rememberedPattern.test(text)) return;
  for (const secret of remembered)
    for (let i = text.indexOf(secret); i >= 0; i = text.indexOf(secret, i + 1))
      spans.push([i, i + secret.length]);
}

/**
 * `text` with every span `***`: the spans are all found in the text as given and merged, so
 * one rule's redaction never hides a secret from another's (a remembered password that holds
 * a space, inside a URL whose userinfo the URL rule cuts at that space).
 */
function blank(text: string, spans: Span[]): string {
  if (spans.length === 0) return text;
  spans.sort((a, b) => a[0] - b[0]);
  let out = '';
  let pos = 0;
  for (const [start, end] of spans) {
    if (end <= pos) continue;
    if (start >= pos) out += text.slice(pos, start) + REDACTED;
    pos = end;
  }
  return out + text.slice(pos);
}

/** The URL with any password replaced by `***` (rules above). Safe to call on any string. */
export function redactUrl(raw: string): string {
  const spans: Span[] = [];
  const m = /^([a-z][a-z0-9+.-]*:\/*)([\s\S]*)$/i.exec(raw);
  if (m !== null && !NO_USERINFO.has(m[1]!.replace(/:\/*$/, '').toLowerCase())) {
    const span = userinfoSecret(m[2]!, m[1]!.length);
    if (span !== null) spans.push(span);
  }
  paramSecrets(raw, SECRET_PARAM, spans);
  rememberedSecrets(raw, spans);
  return blank(raw, spans);
}

/**
 * Redact every URL in a free text (messages from drivers, logs): each `scheme://...` (and
 * `redis:...`-like store URLs) up to the next space or quote, secret parameters, and every
 * remembered secret.
 */
export function redactSecrets(text: string): string {
  const spans: Span[] = [];
  for (const m of text.matchAll(URL_IN_TEXT)) {
    const scheme = (m[1] ?? m[3])!;
    if (NO_USERINFO.has(scheme.toLowerCase())) continue;
    const rest = m[5] ?? '';
    const span = userinfoSecret(rest, m.index + m[0].length - rest.length);
    if (span !== null) spans.push(span);
  }
  paramSecrets(text, SECRET_PARAM_IN_TEXT, spans);
  rememberedSecrets(text, spans);
  return blank(text, spans);
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
  const redacted = typeof raw === 'string' ? redactUrl(raw) : String(raw);
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
      const encodeHint =
        "in a user name or password, '/', '?', '#', '@', ':' and '%' must be percent-encoded: '/' is %2F, '@' is %40";
      let url: URL;
      try {
        url = new URL(raw);
      } catch {
        return fail(
          raw.includes('@') ? `it is not a valid URL (${encodeHint})` : 'it is not a valid URL',
        );
      }
      // an '@' after the host reads as the end of a password holding '/', '?' or '#': refuse it
      // rather than guess (and echo a part of the password as a path or a parameter)
      const authority = /^\/\/([^/?#]*)/.exec(rest)?.[1] ?? '';
      if (rest.lastIndexOf('@') > authority.length + 1)
        fail(`it has an '@' after the host (${encodeHint}; elsewhere too, write '@' as %40)`);
      if (url.hostname === '') fail('it names no host');
      return { scheme, redacted, url };
    }
  }
}

const FORMS =
  'Forms: memory:, sqlite:PATH, sqlite::memory:, redis://[user:pass@]host:port[/db], redis+hash://..., dynamodb://host:port?region=R, dynamodb://aws?region=R, mongodb://[user:pass@]host[:port][,host2...][/db][?options], mongodb+srv://...';
