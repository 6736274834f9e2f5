/**
 * The demo's data: deterministic (seeded), realistic user documents. The same seed and count
 * give the same documents, byte for byte, on every machine.
 *
 *   { _id: ObjectId, name: 'Ada Lovelace', email: 'Ada.Lovelace42@Example.com',
 *     address: { street, city, zip }, signedUp: Date, visits: int, plan: 'free', tags: [...] }
 *
 * About 1% of the names are a single name ('Cher'), about 5% have a middle name
 * ('Mary Ann Smith'), some last names have spaces ('van der Berg') or apostrophes, and the
 * emails come in mixed case — what a split and a lower-casing meet in real data.
 */
import fs from 'node:fs';
import { finished } from 'node:stream/promises';
import { ObjectId } from 'bson';
import type { Doc } from '../core/values.js';
import { writeNdjson } from '../io/write-ndjson.js';

export const DEFAULT_DEMO_SEED = 20261120;

/** `a|b|c` over several lines -> ['a', 'b', 'c'] */
function list(text: string): readonly string[] {
  return text
    .split(/[|\n]/)
    .map((s) => s.trim())
    .filter((s) => s !== '');
}

const FIRST = list(`
  Ada|Alan|Grace|Edsger|Barbara|Donald|Frances|Ken|Margaret|Tim|Radia|Linus|Hedy|John|
  Katherine|Dennis|Sophie|Guido|Annie|Leslie|José|Zoë|Łukasz|Siobhán|Chloé|Mohammed|Wei|
  Aarav|Fatima|Olga|Kenji|Amara|Lars|Priya|Mateo|Yuki|Noah|Emma|Liam|Ingrid|Jean-Luc|
  Anne-Marie|Björn|Nadia|Tariq|Mei|Diego|Aoife|Kwame|Elif
`);
const MIDDLE = list(`
  Ann|Marie|Lee|James|Rose|Kai|Jo|Louise|Ray|Elena
`);
const LAST = list(`
  Lovelace|Turing|Hopper|Dijkstra|Liskov|Knuth|Allen|Thompson|Hamilton|Berners-Lee|Perlman|
  Torvalds|Lamarr|McCarthy|Johnson|Ritchie|Wilson|van Rossum|Easley|Lamport|García|Müller|
  O'Brien|Nguyen|Smith|Kowalski|Okafor|Tanaka|Patel|Ivanova|Rossi|Andersson|Haddad|Chen|
  Silva|van der Berg|Dubois|Kim|Novak|Yilmaz|Murphy|Mensah|Sato|López
`);
const SINGLE = list(`
  Cher|Madonna|Prince|Björk|Pelé|Zendaya|Sting|Adele
`);
const DOMAINS = list(`
  Example.com|example.org|Mail.Example.net|EXAMPLE.IO|corp.example|Example.CO.UK
`);
const STREETS = list(`
  Main|Oak|Maple|Cedar|Elm|Pine|Lake|Hill|Church|Station|Mill|Park|River|Bridge|King|Queen
`);
const SUFFIXES = list(`
  St|Ave|Rd|Lane|Way|Blvd|Court
`);
const CITIES = list(`
  Springfield|Riverton|Fairview|Lisbon|Kraków|Zürich|Osaka|Lagos|Portland|Austin|Dublin|
  Montréal|São Paulo|Bengaluru|Helsinki|Nairobi
`);
const PLANS: readonly [string, number][] = [
  ['free', 0.7],
  ['pro', 0.2],
  ['team', 0.08],
  ['enterprise', 0.02],
];
const TAGS = ['beta', 'newsletter', 'mobile', 'churn-risk', 'vip', 'referral', 'early-adopter'];

/** sfc32: a small, fast, seedable generator (uniform floats in [0, 1)). */
export function seededRandom(seed: number): () => number {
  let a = 0x9e3779b9;
  let b = 0x243f6a88;
  let c = 0xb7e15162;
  let d = seed >>> 0;
  const next = (): number => {
    const t = (((a + b) | 0) + d) | 0;
    d = (d + 1) | 0;
    a = b ^ (b >>> 9);
    b = (c + (c << 3)) | 0;
    c = (c << 21) | (c >>> 11);
    c = (c + t) | 0;
    return (t >>> 0) / 4294967296;
  };
  for (let i = 0; i < 15; i++) next();
  return next;
}

const SIGNUP_FROM = Date.UTC(2019, 0, 1);
const SIGNUP_TO = Date.UTC(2026, 5, 30);

/** `n` user documents, in signup (and so `_id`) order. */
export function* generateUsers(n: number, seed = DEFAULT_DEMO_SEED): Generator<Doc> {
  const rand = seededRandom(seed);
  const pick = <T>(xs: readonly T[]): T => xs[Math.floor(rand() * xs.length)]!;
  // the ObjectId's 5 "process" bytes: fixed per seed, like one generating process
  const processBytes = Array.from({ length: 5 }, () => Math.floor(rand() * 256));
  const span = SIGNUP_TO - SIGNUP_FROM;
  for (let i = 0; i < n; i++) {
    const signedUp = new Date(
      SIGNUP_FROM + Math.floor(((i + rand()) * span) / Math.max(n, 1) / 1000) * 1000,
    );
    const id = Buffer.alloc(12);
    id.writeUInt32BE(Math.floor(signedUp.getTime() / 1000), 0);
    processBytes.forEach((byte, j) => id.writeUInt8(byte, 4 + j));
    id.writeUIntBE(i & 0xffffff, 9, 3);

    const r = rand();
    let name: string;
    let first: string;
    let last: string;
    if (r < 0.01) {
      name = first = pick(SINGLE);
      last = '';
    } else {
      first = pick(FIRST);
      last = pick(LAST);
      name = r < 0.06 ? `${first} ${pick(MIDDLE)} ${last}` : `${first} ${last}`;
    }
    const local = emailLocal(first, last, rand, i);
    const domain = pick(DOMAINS);
    const planRoll = rand();
    let acc = 0;
    let plan = PLANS[0]![0];
    for (const [p, w] of PLANS) {
      acc += w;
      if (planRoll < acc) {
        plan = p;
        break;
      }
    }
    const tags = TAGS.filter(() => rand() < 0.18);
    // visits: most users come back a few times, a few very often
    const visits = Math.floor(-Math.log(1 - rand()) * 25);
    yield {
      _id: new ObjectId(id),
      name,
      email: `${local}@${domain}`,
      address: {
        street: `${1 + Math.floor(rand() * 2999)} ${pick(STREETS)} ${pick(SUFFIXES)}`,
        city: pick(CITIES),
        zip: String(Math.floor(rand() * 100000)).padStart(5, '0'),
      },
      signedUp,
      visits,
      plan,
      tags,
    };
  }
}

function emailLocal(first: string, last: string, rand: () => number, i: number): string {
  const ascii = (s: string) =>
    s
      .normalize('NFD')
      .replace(/[\u0300-\u036f]/g, '')
      .replace(/Ł/g, 'L')
      .replace(/ł/g, 'l')
      .replace(/[^A-Za-z-]/g, '');
  const f = ascii(first);
  const l = ascii(last);
  const style = rand();
  if (l === '') return style < 0.5 ? `${f}${i % 1000}` : `${f.toUpperCase()}.${i}`; // Cher42, CHER.123
  if (style < 0.45) return `${f}.${l}${i % 1000}`; // Ada.Lovelace42
  if (style < 0.7) return `${f[0] ?? 'x'}${l}${i % 100}`; // ALovelace7
  if (style < 0.85) return `${f}.${l}`.toUpperCase() + String(i % 10000); // ADA.LOVELACE1234
  return `${f}_${l}${i}`.toLowerCase(); // ada_lovelace12345 (already lower-case)
}

/** Write `n` users as NDJSON (canonical Extended JSON) to `file`; resolves with the count. */
export async function writeUsersFile(
  file: string,
  n: number,
  seed = DEFAULT_DEMO_SEED,
): Promise<number> {
  const out = fs.createWriteStream(file);
  try {
    const written = await writeNdjson(out, generateUsers(n, seed));
    out.end();
    await finished(out);
    return written;
  } catch (err) {
    out.destroy();
    throw err;
  }
}
