/**
 * What the backfill benchmarks share: the generated document (about 200 bytes) and the
 * transform every contender applies (split `name` into first/last, schema version 2).
 */
const first = ['Ada', 'Alan', 'Grace', 'Edsger', 'Barbara', 'Donald', 'Frances', 'Ken'];
const last = ['Lovelace', 'Turing', 'Hopper', 'Dijkstra', 'Liskov', 'Knuth', 'Allen', 'Thompson'];

export function makeDoc(i) {
  return {
    _id: `u${String(i).padStart(8, '0')}`,
    name: `${first[i % 8]} ${last[(i >> 3) % 8]}-${i}`,
    email: `user${i}@example.com`,
    city: `City ${i % 211}`,
    age: 18 + (i % 60),
    score: (i % 1000) / 8 + 0.25,
    tags: [`t${i % 7}`, `g${i % 3}`],
    active: i % 2 === 0,
  };
}

export function splitName(d) {
  const i = d.name.indexOf(' ');
  const out = { ...d, first: d.name.slice(0, i), last: d.name.slice(i + 1), _sv: 2 };
  delete out.name;
  return out;
}
