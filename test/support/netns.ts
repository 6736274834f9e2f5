/**
 * Several "hosts" on one machine, for tests: Linux network namespaces joined by veth pairs to a
 * bridge in a store namespace, on a private /24 (10.200.<x>.0/24, never routed anywhere else).
 * The test process itself is on the same /24 (10.200.<x>.254) through one more veth, so it can
 * seed and check the store; every host runs its commands with `ip netns exec`, in its own UTS
 * namespace too (`unshare --uts`), so `os.hostname()` differs per host as on real machines.
 *
 *   store namespace  10.200.<x>.1   (a bridge; the servers listen here)
 *   host k           10.200.<x>.<k+1>
 *   this process     10.200.<x>.254
 *
 * Rules:
 * - Every name carries a random run id (namespaces `sy<id>-...`, interfaces `sy<id>...`), so runs
 *   in parallel never meet; `destroy()` kills what runs in them (`ip netns pids`: only processes
 *   of this run's namespaces) and deletes them, and it runs on process exit too.
 * - `cut(host)` takes the host's bridge port down: packets both ways are dropped, no error is
 *   sent back (a pulled cable, not a refused connection). `heal(host)` brings it back.
 * - `slow(host)` adds netem delay where the kernel has sch_netem; otherwise a token bucket (tbf)
 *   of a low rate, which makes every request queue behind the link. It says which one it used.
 * - `netnsUnavailable()` says why none of this can run here (not root, no `ip`, no namespaces),
 *   so a test can skip with the reason; CI runs as root with iproute2 installed (.ci/run).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';

export interface TestNetwork {
  /** the store namespace's address, e.g. 10.200.37.1 */
  readonly storeAddress: string;
  /** host names, in order (also their hostnames) */
  readonly hosts: readonly string[];
  /** run a command in the store namespace */
  spawnInStore(command: string, args: readonly string[], cwd?: string): ChildProcess;
  /** run a command on a host (its namespace and its own hostname) */
  spawnOn(host: string, command: string, args: readonly string[], cwd?: string): ChildProcess;
  cut(host: string): void;
  heal(host: string): void;
  /** make the host's link slow; returns what it did, e.g. 'netem delay 200ms' */
  slow(host: string): string;
  destroy(): void;
}

function ip(args: readonly string[]): void {
  const r = spawnSync('ip', args, { encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`ip ${args.join(' ')}: ${(r.stderr || r.stdout).trim()}`);
}

function tc(ns: string, args: readonly string[]): boolean {
  return spawnSync('ip', ['netns', 'exec', ns, 'tc', ...args], { encoding: 'utf8' }).status === 0;
}

let cachedReason: string | null | undefined;

/** Why network namespaces cannot be built here, or null when they can. */
export function netnsUnavailable(): string | null {
  if (cachedReason !== undefined) return cachedReason;
  if (process.platform !== 'linux') cachedReason = 'network namespaces need Linux';
  else if (process.getuid?.() !== 0)
    cachedReason = 'network namespaces need root (ip netns add); run as root';
  else if (spawnSync('ip', ['-V']).status !== 0)
    cachedReason = 'the ip command is missing (apt-get install iproute2)';
  else if (spawnSync('unshare', ['--version']).status !== 0)
    cachedReason = 'the unshare command is missing (apt-get install util-linux)';
  else {
    const probe = `sy${randomBytes(3).toString('hex')}-probe`;
    const r = spawnSync('ip', ['netns', 'add', probe], { encoding: 'utf8' });
    if (r.status === 0) {
      spawnSync('ip', ['netns', 'del', probe]);
      cachedReason = null;
    } else cachedReason = `ip netns add failed: ${r.stderr.trim()}`;
  }
  return cachedReason;
}

/** A free 10.200.<x>.0/24 in this namespace (none of its addresses or routes use it). */
function freeSubnet(): number {
  const routes = spawnSync('ip', ['-4', 'route'], { encoding: 'utf8' }).stdout;
  for (let i = 0; i < 50; i++) {
    const x = 10 + Math.floor(Math.random() * 240);
    if (!routes.includes(`10.200.${x}.`)) return x;
  }
  throw new Error('no free 10.200.x.0/24 here');
}

export function createTestNetwork(hostCount: number): TestNetwork {
  const why = netnsUnavailable();
  if (why !== null) throw new Error(why);
  const id = randomBytes(2).toString('hex');
  const x = freeSubnet();
  const storeNs = `sy${id}-store`;
  const hosts = Array.from({ length: hostCount }, (_v, i) => `host${i + 1}`);
  const nsOf = (host: string) => `sy${id}-${host}`;
  // interface names stay under 15 characters: sy<id>b<k> (bridge side), sy<id>h<k> (host side)
  const bridgeSide = (k: number) => `sy${id}b${k}`;
  const namespaces = [storeNs, ...hosts.map(nsOf)];
  let destroyed = false;

  const destroy = (): void => {
    if (destroyed) return;
    destroyed = true;
    process.removeListener('exit', destroy);
    for (const ns of namespaces) {
      const pids = spawnSync('ip', ['netns', 'pids', ns], { encoding: 'utf8' }).stdout;
      for (const pid of pids.split(/\s+/).filter((p) => /^\d+$/.test(p))) {
        try {
          process.kill(Number(pid), 'SIGKILL');
        } catch {
          // gone already
        }
      }
      spawnSync('ip', ['netns', 'del', ns]);
    }
    // the root side of the test process's link (deleting it deletes its peer too)
    spawnSync('ip', ['link', 'del', `sy${id}r`]);
  };
  process.once('exit', destroy);

  try {
    ip(['netns', 'add', storeNs]);
    ip(['-n', storeNs, 'link', 'set', 'lo', 'up']);
    ip(['-n', storeNs, 'link', 'add', 'br0', 'type', 'bridge']);
    ip(['-n', storeNs, 'addr', 'add', `10.200.${x}.1/24`, 'dev', 'br0']);
    ip(['-n', storeNs, 'link', 'set', 'br0', 'up']);
    const plug = (k: number, otherEnd: string, otherNs: string | null, address: string) => {
      ip(['link', 'add', bridgeSide(k), 'type', 'veth', 'peer', 'name', otherEnd]);
      ip(['link', 'set', bridgeSide(k), 'netns', storeNs]);
      ip(['-n', storeNs, 'link', 'set', bridgeSide(k), 'master', 'br0']);
      ip(['-n', storeNs, 'link', 'set', bridgeSide(k), 'up']);
      const n = otherNs === null ? [] : ['-n', otherNs];
      if (otherNs !== null) ip(['link', 'set', otherEnd, 'netns', otherNs]);
      ip([...n, 'addr', 'add', `${address}/24`, 'dev', otherEnd]);
      ip([...n, 'link', 'set', otherEnd, 'up']);
    };
    hosts.forEach((host, i) => {
      ip(['netns', 'add', nsOf(host)]);
      ip(['-n', nsOf(host), 'link', 'set', 'lo', 'up']);
      plug(i + 1, `sy${id}h${i + 1}`, nsOf(host), `10.200.${x}.${i + 2}`);
    });
    // this process's own link, as bridge port 0
    plug(0, `sy${id}r`, null, `10.200.${x}.254`);
  } catch (err) {
    destroy();
    throw err;
  }

  const portOf = (host: string): number => {
    const k = hosts.indexOf(host);
    if (k < 0) throw new Error(`no host ${host}`);
    return k + 1;
  };
  return {
    storeAddress: `10.200.${x}.1`,
    hosts,
    spawnInStore(command, args, cwd) {
      return spawn('ip', ['netns', 'exec', storeNs, command, ...args], {
        ...(cwd !== undefined ? { cwd } : {}),
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    },
    spawnOn(host, command, args, cwd) {
      portOf(host);
      // prettier-ignore
      return spawn('ip', ['netns', 'exec', nsOf(host), 'unshare', '--uts', 'sh', '-c', 'hostname "$0" && exec "$@"', host, command, ...args], {
        ...(cwd !== undefined ? { cwd } : {}),
        env: { PATH: process.env.PATH ?? '', SWITCHYARD_ACTOR: 'ci' },
        stdio: ['ignore', 'pipe', 'pipe'],
      });
    },
    cut(host) {
      ip(['-n', storeNs, 'link', 'set', bridgeSide(portOf(host)), 'down']);
    },
    heal(host) {
      ip(['-n', storeNs, 'link', 'set', bridgeSide(portOf(host)), 'up']);
    },
    slow(host) {
      const k = portOf(host);
      const dev = `sy${id}h${k}`;
      // both directions: the host's side and its bridge port
      const sides: [string, string][] = [
        [nsOf(host), dev],
        [storeNs, bridgeSide(k)],
      ];
      if (
        sides.every(([ns, d]) =>
          tc(ns, ['qdisc', 'add', 'dev', d, 'root', 'netem', 'delay', '200ms']),
        )
      )
        return 'netem delay 200ms each way';
      // no sch_netem in this kernel: a slow line instead (every request waits its turn on it)
      for (const [ns, d] of sides) {
        tc(ns, ['qdisc', 'del', 'dev', d, 'root']);
        if (
          !tc(ns, [
            'qdisc',
            'add',
            'dev',
            d,
            'root',
            'tbf',
            'rate',
            '256kbit',
            'burst',
            '2kb',
            'latency',
            '2s',
          ])
        )
          throw new Error(`tc tbf on ${d} failed: no netem and no tbf in this kernel`);
      }
      return 'tbf rate 256kbit each way (this kernel has no netem)';
    },
    destroy,
  };
}
