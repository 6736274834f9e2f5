/**
 * The page's only ways to the server: one event stream for everything it shows, and a POST per
 * control the operator confirms. The token comes from the URL fragment the CLI printed
 * (`#token=...`, never sent to the server by the browser), is kept in sessionStorage for reloads
 * of this tab, and is removed from the address bar.
 */
import type {
  ControlAction,
  ControlRequest,
  ControlResponse,
  DashboardSnapshot,
  HistoryEvent,
} from '../../src/dashboard/api-types.js';

export type * from '../../src/dashboard/api-types.js';

const TOKEN_KEY = 'switchyard-dashboard-token';

/** The token from the fragment (then hidden from the address bar), else this tab's saved one. */
export function takeToken(): string | null {
  const params = new URLSearchParams(location.hash.replace(/^#/, ''));
  const fromHash = params.get('token');
  if (fromHash !== null && fromHash !== '') {
    saveToken(fromHash);
    history.replaceState(null, '', location.pathname + location.search);
    return fromHash;
  }
  return sessionStorage.getItem(TOKEN_KEY);
}

export function saveToken(token: string): void {
  sessionStorage.setItem(TOKEN_KEY, token);
}

export function forgetToken(): void {
  sessionStorage.removeItem(TOKEN_KEY);
}

/** Whether the server takes this token: one request, made before the stream is opened. */
export async function checkToken(token: string): Promise<'ok' | 'unauthorized' | 'unreachable'> {
  try {
    const res = await fetch('/api/snapshot', {
      method: 'HEAD',
      headers: { authorization: `Bearer ${token}` },
      cache: 'no-store',
    });
    if (res.status === 401) return 'unauthorized';
    return res.ok ? 'ok' : 'unreachable';
  } catch {
    return 'unreachable';
  }
}

export type StreamState = 'connecting' | 'live' | 'reconnecting' | 'unauthorized';

export interface StreamHandlers {
  onSnapshot(s: DashboardSnapshot): void;
  onHistory(h: HistoryEvent): void;
  onProblem(message: string): void;
  onState(state: StreamState): void;
}

/**
 * Open the event stream. The browser reconnects by itself (the server asks for 2 s); a stream
 * the server refused is checked once: a rejected token ends it, anything else is retried after
 * a pause. Returns a function that closes it.
 */
export function openStream(token: string, h: StreamHandlers): () => void {
  let es: EventSource | undefined;
  let closed = false;
  let retry: ReturnType<typeof setTimeout> | undefined;
  const open = () => {
    if (closed) return;
    h.onState('connecting');
    es = new EventSource(`/api/events?token=${encodeURIComponent(token)}`);
    es.addEventListener('open', () => h.onState('live'));
    es.addEventListener('history', (e) => h.onHistory(JSON.parse((e as MessageEvent).data)));
    es.addEventListener('snapshot', (e) => {
      h.onState('live');
      h.onSnapshot(JSON.parse((e as MessageEvent).data));
    });
    es.addEventListener('problem', (e) =>
      h.onProblem(String(JSON.parse((e as MessageEvent).data).message)),
    );
    es.addEventListener('error', () => {
      if (closed || es === undefined) return;
      if (es.readyState !== EventSource.CLOSED) {
        h.onState('reconnecting');
        return;
      }
      es.close();
      void checkToken(token).then((r) => {
        if (closed) return;
        if (r === 'unauthorized') h.onState('unauthorized');
        else {
          h.onState('reconnecting');
          retry = setTimeout(open, 3000);
        }
      });
    });
  };
  open();
  return () => {
    closed = true;
    clearTimeout(retry);
    es?.close();
  };
}

export async function sendControl(
  token: string,
  migration: string,
  action: ControlAction,
  body: ControlRequest,
): Promise<ControlResponse> {
  try {
    const res = await fetch(`/api/migrations/${encodeURIComponent(migration)}/${action}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
      cache: 'no-store',
    });
    const text = await res.text();
    try {
      return JSON.parse(text) as ControlResponse;
    } catch {
      return { ok: false, status: res.status, message: text || res.statusText };
    }
  } catch (err) {
    return { ok: false, status: 0, message: `the dashboard did not answer: ${String(err)}` };
  }
}
