#!/usr/bin/env bash
# Fetch Amazon's DynamoDB Local 1.25.1 into .cache/dynamodb-local (gitignored), for the DynamoDB
# tests and `npm run bench`. It ships in the npm package amplify-dynamodb-simulator 2.9.30
# (emulator/DynamoDBLocal.jar + emulator/DynamoDBLocal_lib with the sqlite4java native
# libraries). That package is NOT a dependency (it drags in the Amplify CLI): `npm pack` fetches
# only its tarball (56 MB, no dependencies), which is checked against the pinned integrity below
# and unpacked. Running it needs Java 17+ (Debian: openjdk-17-jre-headless).
#
#   scripts/fetch-dynamodb-local.sh      idempotent: does nothing when the right version is there
#
# SWITCHYARD_DYNAMODB_LOCAL=<dir> makes the tests and the bench use another copy instead.
set -euo pipefail
cd "$(dirname "$0")/.."

PKG=amplify-dynamodb-simulator@2.9.30
INTEGRITY='sha512-xTeeRLvzEfqyd5lh3bH4c0kHvSHHmmhD5ZDsHFKAQ5g2Zl6JqlFdutaQhCLHzxEp6Ry1o7TB6niIoXuQAnSewQ=='
DEST=.cache/dynamodb-local

if [ -f "$DEST/DynamoDBLocal.jar" ] && [ "$(cat "$DEST/.package" 2>/dev/null)" = "$PKG" ]; then
  echo "dynamodb-local: $PKG already in $DEST"
  exit 0
fi

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "dynamodb-local: npm pack $PKG (56 MB) ..."
(cd "$tmp" && npm pack "$PKG" --silent >/dev/null)
tgz=$(ls "$tmp"/*.tgz)
got="sha512-$(node -e "process.stdout.write(require('node:crypto').createHash('sha512').update(require('node:fs').readFileSync(process.argv[1])).digest('base64'))" "$tgz")"
if [ "$got" != "$INTEGRITY" ]; then
  echo "dynamodb-local: $PKG has integrity $got, expected $INTEGRITY; not installed" >&2
  exit 1
fi
tar -xzf "$tgz" -C "$tmp" package/emulator
rm -rf "$DEST"
mkdir -p "$(dirname "$DEST")"
mv "$tmp/package/emulator" "$DEST"
echo "$PKG" >"$DEST/.package"
echo "dynamodb-local: DynamoDB Local 1.25.1 (from $PKG) in $DEST"
