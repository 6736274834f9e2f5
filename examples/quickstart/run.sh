#!/usr/bin/env bash
# The quickstart: on the embedded default (an SQLite file), import 10,000 generated users,
# write a migration, and preview it with `plan` — a dry run that changes nothing.
# Everything happens in ./.quickstart (safe to delete).
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
sy() { node "$root/bin/switchyard.js" "$@"; }

rm -rf .quickstart && mkdir .quickstart && cd .quickstart
echo "== generate 10,000 users (NDJSON, Extended JSON)"
node -e '
const first = ["Ada","Alan","Grace","Edsger","Barbara","Donald","Frances","Ken","Margaret","Tim"];
const last = ["Lovelace","Turing","Hopper","Dijkstra","Liskov","Knuth","Allen","Thompson","Hamilton","Berners-Lee"];
const out = [];
for (let i = 0; i < 10000; i++) {
  const f = first[i % 10], l = last[Math.floor(i / 10) % 10];
  const id = (0x5ca4bbce00000000n + BigInt(i)).toString(16).padStart(24, "0");
  out.push(JSON.stringify({ _id: { $oid: id }, name: i % 97 === 0 ? f : `${f} ${l}`, email: `${f}.${l}${i}@Example.ORG`,
    signedUp: { $date: new Date(Date.UTC(2020, 0, 1) + i * 3600e3).toISOString() }, visits: { $numberInt: String(i % 50) } }));
}
require("fs").writeFileSync("users.ndjson", out.join("\n") + "\n");'

echo "== switchyard init"
sy init
echo "== switchyard import users users.ndjson"
sy import users users.ndjson
cat > migrations/20261120-split-name.ts <<'TS'
import { defineMigration, lowercase, splitField } from 'switchyard';

export default defineMigration({
  collection: 'users',
  operations: [splitField('name', ['first', 'last'], ' '), lowercase('email')],
  verify: { invariants: [(d) => typeof d.last === 'string' || 'no last name'] },
});
TS
echo "== switchyard status"
sy status
echo "== switchyard plan split-name --sample 200 --show 3"
sy plan split-name --sample 200 --show 3 --seed 42 || echo "(plan exit $?: some documents break an invariant — that is what plan is for)"
echo "== switchyard count users (unchanged: plan wrote nothing)"
sy count users
