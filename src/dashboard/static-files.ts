/**
 * The page: files built by `npm run build` (vite, web/ -> dist/web/) and shipped in the package.
 * Served from that one directory only (no path may leave it), with a strict Content Security
 * Policy: scripts, styles and connections from this origin only, so the page can load nothing
 * from a CDN or anywhere else at run time.
 */
import { readFile, stat } from 'node:fs/promises';
import type { ServerResponse } from 'node:http';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** dist/web/ of this package (src/dashboard/ and dist/dashboard/ are both two levels down). */
export const DEFAULT_WEB_ROOT = fileURLToPath(new URL('../../dist/web/', import.meta.url));

export const CONTENT_SECURITY_POLICY = [
  "default-src 'none'",
  "script-src 'self'",
  "style-src 'self'",
  "img-src 'self' data:",
  "font-src 'self'",
  "connect-src 'self'",
  "base-uri 'none'",
  "form-action 'none'",
  "frame-ancestors 'none'",
].join('; ');

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.json': 'application/json; charset=utf-8',
  '.map': 'application/json; charset=utf-8',
  '.txt': 'text/plain; charset=utf-8',
  '.woff2': 'font/woff2',
};

const NOT_BUILT = `<!doctype html><meta charset="utf-8"><title>switchyard dashboard</title>
<p>The dashboard page is not built. In a clone of switchyard run <code>npm run build</code>
(the published package ships it prebuilt). The API is up: <code>/api/snapshot</code>,
<code>/api/events</code>, <code>/metrics</code>.</p>`;

/**
 * Serve `pathname` from `root`: `/` is index.html. Resolves false when there is no such file
 * (the caller answers 404).
 */
export async function serveStatic(
  root: string,
  pathname: string,
  res: ServerResponse,
  head: boolean,
): Promise<boolean> {
  let rel: string;
  try {
    rel = decodeURIComponent(pathname);
  } catch {
    return false;
  }
  if (rel === '/' || rel === '/index.html') rel = '/index.html';
  if (rel.includes('\0')) return false;
  const file = path.resolve(root, `.${rel}`);
  if (file !== path.resolve(root) && !file.startsWith(path.resolve(root) + path.sep)) return false;
  let body: Buffer;
  try {
    if (!(await stat(file)).isFile()) return false;
    body = await readFile(file);
  } catch {
    if (rel !== '/index.html') return false;
    res.writeHead(503, { 'content-type': 'text/html; charset=utf-8' });
    res.end(head ? undefined : NOT_BUILT);
    return true;
  }
  const type = TYPES[path.extname(file).toLowerCase()] ?? 'application/octet-stream';
  // hashed asset names change with their content; index.html must always be fetched again
  const cache = rel.startsWith('/assets/') ? 'public, max-age=31536000, immutable' : 'no-cache';
  res.writeHead(200, {
    'content-type': type,
    'content-length': body.length,
    'cache-control': cache,
  });
  res.end(head ? undefined : body);
  return true;
}
