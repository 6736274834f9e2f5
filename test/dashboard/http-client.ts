/**
 * A plain node:http client for the dashboard tests: fetch() will not send every header a hostile
 * browser or script would (Host, Origin, Sec-Fetch-Site), and an event stream is read for a
 * while, then dropped.
 */
import http from 'node:http';

export interface Reply {
  status: number;
  headers: http.IncomingHttpHeaders;
  body: string;
  json<T = Record<string, unknown>>(): T;
}

export function request(
  port: number,
  method: string,
  pathname: string,
  options: { headers?: Record<string, string>; body?: string } = {},
): Promise<Reply> {
  return new Promise((resolve, reject) => {
    const req = http.request(
      { host: '127.0.0.1', port, method, path: pathname, headers: options.headers ?? {} },
      (res) => {
        let body = '';
        res.setEncoding('utf8');
        res.on('data', (c: string) => (body += c));
        res.on('end', () =>
          resolve({
            status: res.statusCode ?? 0,
            headers: res.headers,
            body,
            json: <T>() => JSON.parse(body) as T,
          }),
        );
      },
    );
    req.on('error', reject);
    if (options.body !== undefined) req.write(options.body);
    req.end();
  });
}

/**
 * POST a control as the page does (token header, same origin, JSON), with overrides; `raw`, when
 * given, is sent as the body instead of `body` as JSON.
 */
export function control(
  port: number,
  token: string | null,
  migration: string,
  action: string,
  body: unknown,
  headers: Record<string, string> = {},
  raw?: string,
): Promise<Reply> {
  return request(port, 'POST', `/api/migrations/${encodeURIComponent(migration)}/${action}`, {
    headers: {
      'content-type': 'application/json',
      origin: `http://127.0.0.1:${port}`,
      'sec-fetch-site': 'same-origin',
      ...(token !== null ? { authorization: `Bearer ${token}` } : {}),
      ...headers,
    },
    body: raw ?? JSON.stringify(body),
  });
}

/** Read an event stream until `until(text)` or `timeoutMs`; resolves with what was read. */
export function readEvents(
  port: number,
  pathname: string,
  until: (text: string) => boolean,
  timeoutMs = 15_000,
): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    let text = '';
    let status = 0;
    const req = http.get({ host: '127.0.0.1', port, path: pathname }, (res) => {
      status = res.statusCode ?? 0;
      res.setEncoding('utf8');
      res.on('data', (c: string) => {
        text += c;
        if (until(text)) finish();
      });
      res.on('end', finish);
    });
    const timer = setTimeout(finish, timeoutMs);
    function finish() {
      clearTimeout(timer);
      req.destroy();
      resolve({ status, text });
    }
    req.on('error', (err) => (status === 0 ? reject(err) : finish()));
  });
}

/** The `data:` of each `event: <name>` in a stream's text, parsed. */
export function eventsNamed(text: string, name: string): unknown[] {
  return text
    .split('\n\n')
    .filter((block) => block.startsWith(`event: ${name}\n`))
    .map((block) => JSON.parse(block.slice(block.indexOf('data: ') + 6)) as unknown);
}
