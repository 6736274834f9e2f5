/**
 * What the benchmarks share: the generated document (about 200 bytes), the transform every
 * contender applies (split `name` into first/last, schema version 2), and the migration doing it.
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

/** The benchmarks' migration (splitName as operations) and an engine context on one store. */
export function benchProject(sy, store) {
  const migration = sy.compileMigration({
    id: 'bench-split',
    collection: 'users',
    operations: [sy.splitField('name', ['first', 'last'], ' ')],
  });
  const ctx = {
    store,
    stateStore: store,
    catalog: new sy.Catalog(store),
    audit: new sy.AuditLog(store),
    actor: 'bench',
  };
  return { migration, ctx };
}

/** The pages of a keyset query (`... WHERE k > ? ORDER BY k LIMIT n`), as a plain loop walks them. */
export function* pages(select) {
  let cursor = '';
  for (;;) {
    const rows = select.all(cursor);
    if (rows.length === 0) return;
    yield rows;
    cursor = rows[rows.length - 1].k;
  }
}

/** A contender's last line to its parent: what it did, how long it took, its peak RSS. */
export function reportChild(name, done, seconds) {
  const peakRssMB = Math.round(process.resourceUsage().maxRSS / 1024);
  console.log(JSON.stringify({ name, done, seconds, peakRssMB }));
}
