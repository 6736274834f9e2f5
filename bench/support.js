/**
 * What the store benchmarks share: child processes (each contender runs in its own, so its peak
 * RSS and CPU are its own), CPU seconds from /proc, medians, and the check every run ends with
 * (every document counted, a sample read back through the adapter exactly transformed).
 */
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { GCProfiler } from 'node:v8';
import { makeDoc, splitName } from './docs.js';

export const dist = (p) => new URL(`../dist/${p}`, import.meta.url).href;

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** JSON with sorted object keys: equal documents whatever their field order */
export function stable(v) {
  if (Array.isArray(v)) return `[${v.map(stable).join(',')}]`;
  if (v !== null && typeof v === 'object')
    return `{${Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${stable(v[k])}`)
      .join(',')}}`;
  return JSON.stringify(v);
}

/** the median of numbers (the mean of the middle two for an even count) */
export function median(xs) {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 === 1 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** CPU seconds (user + system) a process has used so far, from /proc (Linux); null elsewhere */
export function cpuOf(pid) {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) / 100; // utime + stime, in clock ticks (USER_HZ 100)
  } catch {
    return null;
  }
}

export function stopChild(child) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  const exited = new Promise((r) => child.once('exit', r));
  child.kill('SIGTERM');
  return exited;
}

/** Run `node [nodeArgs] script ...args`; resolves with the JSON of its last stdout line. */
export function runChild(script, args, nodeArgs = []) {
  return new Promise((resolve, reject) => {
    const c = spawn(process.execPath, [...nodeArgs, script, ...args], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    let out = '';
    c.stdout.on('data', (d) => (out += d));
    c.on('error', reject);
    c.on('close', (code) => {
      if (code !== 0)
        reject(new Error(`contender ${args.slice(1, 3).join(' ')} failed (exit ${code})`));
      else resolve(JSON.parse(out.trim().split('\n').pop()));
    });
  });
}

const MB = 1024 * 1024;

/**
 * What a process holds, as opposed to what V8 lets its heap grow to: peak RSS also counts garbage
 * not yet collected, and V8 lets the old generation grow to up to 4 times what survived the last
 * full GC before it collects again, more as a run goes on. `watchLiveHeap()` records, from now
 * until the returned function is called, the most heap in use right after a full (mark-compact)
 * GC, in MB (null when none happened). It triggers no GC (v8.GCProfiler); its records are read
 * and dropped every 2 s, so it holds next to nothing itself.
 */
export function watchLiveHeap() {
  let most = null;
  let profiler = new GCProfiler();
  profiler.start();
  const collect = () => {
    for (const gc of profiler.stop()?.statistics ?? [])
      if (gc.gcType === 'MarkSweepCompact')
        most = Math.max(most ?? 0, gc.afterGC.heapStatistics.usedHeapSize);
  };
  const timer = setInterval(() => {
    collect();
    profiler = new GCProfiler();
    profiler.start();
  }, 2000);
  return () => {
    clearInterval(timer);
    collect();
    return most === null ? null : Math.round(most / MB);
  };
}

/** Heap in use after a forced full GC, in MB (the child runs with --expose-gc; else null). */
export function heapAfterGc() {
  if (typeof globalThis.gc !== 'function') return null;
  globalThis.gc();
  return Math.round(process.memoryUsage().heapUsed / MB);
}

const SAMPLE = 200;

/** Every document counted, and a sample read back through the adapter exactly transformed. */
export async function checkSample(name, url, n, done) {
  if (done !== n) throw new Error(`${name}: transformed ${done} documents, expected ${n}`);
  const { openStore } = await import(dist('index.js'));
  const store = await openStore(url);
  try {
    const idx = [
      ...new Set([
        0,
        1,
        n - 1,
        ...Array.from({ length: SAMPLE }, (_, k) => Math.floor((k * n) / SAMPLE)),
      ]),
    ];
    const got = await store.collection('users').getMany(idx.map((i) => makeDoc(i)._id));
    idx.forEach((i, k) => {
      const want = stable(splitName(makeDoc(i)));
      const have = got[k] === null ? 'missing' : stable(got[k].doc);
      if (have !== want) throw new Error(`${name}: document ${i} is ${have}, expected ${want}`);
    });
  } finally {
    await store.close();
  }
}
