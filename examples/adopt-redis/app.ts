/**
 * A users service with its own Redis data layer, written before Switchyard: each user is a JSON
 * string under `user:<id>` ({ name, email }). Nothing here knows about migrations; adopting
 * Switchyard is one change where the client is made (see README.md and
 * test/runtime/example-adopt-redis.test.ts, which takes it through every stage under load):
 *
 *   const redis = await wrapRedis(new Redis(url), yard, [
 *     { migration: 'users-v2', pattern: 'user:', type: 'string', target: { prefix: 'user2:' } },
 *   ]);
 *   createUsersService(redis).listen(8080);
 *
 * Routes: GET /users/:id -> 200 { name, email } or 404; PUT /users/:id with a JSON body -> 204;
 * DELETE /users/:id -> 204. A bad body is 400; anything that throws is 500.
 */
import http from 'node:http';
import type { Redis } from 'ioredis';

export function createUsersService(redis: Redis): http.Server {
  return http.createServer((req, res) => {
    handle(redis, req, res).catch((err: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: (err as Error).message }));
    });
  });
}

async function handle(redis: Redis, req: http.IncomingMessage, res: http.ServerResponse) {
  const m = /^\/users\/([\w-]+)$/.exec(req.url ?? '');
  if (m === null) return send(res, 404, { error: 'not found' });
  const key = `user:${m[1]}`;
  if (req.method === 'GET') {
    const text = await redis.get(key);
    return text === null ? send(res, 404, { error: 'no such user' }) : send(res, 200, text);
  }
  if (req.method === 'PUT') {
    let body: unknown;
    try {
      body = JSON.parse(await readBody(req));
    } catch {
      return send(res, 400, { error: 'the body is not JSON' });
    }
    await redis.set(key, JSON.stringify(body));
    return send(res, 204);
  }
  if (req.method === 'DELETE') {
    await redis.del(key);
    return send(res, 204);
  }
  return send(res, 405, { error: 'method not allowed' });
}

async function readBody(req: http.IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

function send(res: http.ServerResponse, status: number, body?: unknown): void {
  if (body === undefined) {
    res.writeHead(status).end();
    return;
  }
  res.writeHead(status, { 'content-type': 'application/json' });
  res.end(typeof body === 'string' ? body : JSON.stringify(body));
}
