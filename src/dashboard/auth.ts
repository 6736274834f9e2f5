/**
 * Who may talk to the dashboard. The rules (docs/guides/dashboard.md, "Security"):
 *
 * - The token: random (24 bytes, base64url) unless the operator gives one; compared in constant
 *   time. Every /api request needs it: `Authorization: Bearer <token>`, or for GET requests only
 *   (EventSource cannot send headers) `?token=`. State-changing requests take it from the header
 *   only, so a link or a form on another site can never carry it.
 * - Same origin: a state-changing request whose `Origin` is not this server's, or whose
 *   `Sec-Fetch-Site` is anything but same-origin (or none: typed by the user), is refused with
 *   403 before anything else happens. It must also be `application/json`, which a cross-site
 *   form cannot send without a CORS preflight this server never answers.
 * - DNS rebinding: bound to loopback, a request whose `Host` is not a loopback name with this
 *   server's port is refused (421), so a page on a hostile domain that resolves to 127.0.0.1
 *   cannot read even the token-free /metrics.
 * - Binding a non-loopback address needs an explicit token (the caller checks `isLoopbackHost`).
 */
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';

export const MIN_TOKEN_LENGTH = 16;

export function generateToken(): string {
  return randomBytes(24).toString('base64url');
}

/** 127.0.0.0/8, ::1 and localhost. */
export function isLoopbackHost(host: string): boolean {
  const h = host
    .trim()
    .toLowerCase()
    .replace(/^\[|\]$/g, '');
  if (h === 'localhost' || h === '::1' || h === '0:0:0:0:0:0:0:1') return true;
  if (/^::ffff:127\.\d+\.\d+\.\d+$/.test(h)) return true;
  return /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(h);
}

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/** Constant-time comparison (of digests, so lengths do not leak either). */
export function tokenMatches(given: string | null | undefined, token: string): boolean {
  if (typeof given !== 'string' || given === '') return false;
  return timingSafeEqual(digest(given), digest(token));
}

/** The token a request carries: the Bearer header, or `?token=` when `allowQuery`. */
export function requestToken(req: IncomingMessage, url: URL, allowQuery: boolean): string | null {
  const header = req.headers.authorization;
  if (typeof header === 'string') {
    const m = /^Bearer\s+(\S+)\s*$/i.exec(header);
    if (m) return m[1]!;
  }
  return allowQuery ? url.searchParams.get('token') : null;
}

/**
 * Whether the Host header names this server when it is bound to loopback (DNS rebinding
 * protection). Bound elsewhere, any Host is accepted: the token guards everything there.
 */
export function hostAllowed(req: IncomingMessage, boundLoopback: boolean, port: number): boolean {
  if (!boundLoopback) return true;
  const host = req.headers.host;
  if (typeof host !== 'string') return false;
  const m = /^(\[[^\]]+\]|[^:]+)(?::(\d+))?$/.exec(host.trim());
  if (!m) return false;
  if (m[2] !== undefined && Number(m[2]) !== port) return false;
  return isLoopbackHost(m[1]!);
}

/**
 * Why a state-changing request comes from another origin, or null when it does not. Requests
 * without Origin and Sec-Fetch-Site (curl, scripts) pass: they must still carry the token.
 */
export function crossOriginReason(req: IncomingMessage): string | null {
  const site = req.headers['sec-fetch-site'];
  if (typeof site === 'string' && site !== 'same-origin' && site !== 'none')
    return `Sec-Fetch-Site is ${site}`;
  const origin = req.headers.origin;
  if (typeof origin === 'string') {
    const own = `http://${req.headers.host ?? ''}`;
    if (origin.toLowerCase() !== own.toLowerCase())
      return `Origin ${origin} is not this dashboard (${own})`;
  }
  return null;
}
