#!/usr/bin/env bash
# The Azovstal demo: an operation recorded event by event through the application layer,
# cosigned by all four parties, its report computed from the log; then the same operation with
# a headcount that disagrees; then proof that a tampered event is caught.
# Usage: scripts/demo.sh [DIR]   (make demo runs it with the project's virtualenv on PATH)
set -euo pipefail

out=${1:-demo-out}
rm -rf "$out"
mkdir -p "$out"
op="$out/azovstal"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

step "1. Record the operation (parties, sites, route, pause, 74 vehicles, a convoy, 101 people) and print its report"
run safepassage demo "$op"

step "2. Anyone with the log's verifier key recomputes every hash and checks every checkpoint"
vkey=$(safepassage log vkey "$op/log")
run safepassage verify "$op" --vkey "$vkey"

step "3. A person's registration, proven in the log (C2SP tlog-proof) and checked offline"
index=$(python3 - "$op/log/log.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
for idx, data in db.execute("SELECT idx, data FROM entries ORDER BY idx"):
    if b'"kind":"person.registered"' in data:
        print(idx)
        break
PY
)
python3 - "$op/log/log.db" "$index" "$out/registration.json" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
data = db.execute("SELECT data FROM entries WHERE idx = ?", (int(sys.argv[2]),)).fetchone()[0]
open(sys.argv[3], "wb").write(data)
PY
run safepassage log prove "$op/log" "$index" > "$out/registration.tlog-proof"
run safepassage log verify-proof "$out/registration.tlog-proof" "$out/registration.json" --vkey "$vkey"

step "4. The same operation, but the headcount attested at Manhush disagrees with the manifest"
run safepassage demo "$out/azovstal-discrepancy" --with-discrepancy | sed -n '/^## Alerts/,$p'

step "5. Someone edits one event in a copy of the database file (the first registration's registrar)"
cp -r "$op" "$out/azovstal-tampered"
python3 - "$out/azovstal-tampered/log/log.db" "$index" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
idx = int(sys.argv[2])
data = db.execute("SELECT data FROM entries WHERE idx = ?", (idx,)).fetchone()[0]
db.execute("UPDATE entries SET data = ? WHERE idx = ?", (data.replace(b"icrc", b"icrx", 1), idx))
db.commit()
PY
set +e
run safepassage verify "$out/azovstal-tampered" --vkey "$vkey"
code=$?
set -e
if [ "$code" -ne 1 ]; then
  echo "expected verify to fail with exit code 1, got $code" >&2
  exit 1
fi
printf '\nverify exited with %s and named the altered entry: the tampering is caught.\n' "$code"

step "6. The query tables are only a cache of the log: drop them, rebuild them, ask them"
run safepassage rebuild "$op"
python3 - "$op/projections.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
rows = db.execute(
    "SELECT p.status, COALESCE(s.name, '-'), COUNT(*) FROM persons p"
    " LEFT JOIN sites s ON s.site = p.end_site GROUP BY 1, 2 ORDER BY 1, 2"
).fetchall()
print(f"{'status':<13} {'where':<40} people")
for status, where, count in rows:
    print(f"{status:<13} {where:<40} {count:>6}")
PY
step "7. Personal data stays in the vault: the log and the lists hold references only"
first=$(safepassage person list "$op" --format json | python3 -c 'import json,sys; print(json.load(sys.stdin)[0]["ref"])')
run safepassage person list "$op" --format json | python3 -c 'import json,sys; p=json.load(sys.stdin); print(len(p), "people listed; first:", json.dumps(p[0]))'
run safepassage person show "$op" "$first" --actor un-ocha/coordinator --purpose "demo: family tracing" --key-file "$op/keys/vault.key"
set +e
run safepassage person show "$op" "$first" --actor russia/liaison --purpose "curiosity" --key-file "$op/keys/vault.key"
set -e
run safepassage import registrations "$op" docs/examples/registrations.csv --actor icrc/registrar-1 --site azovstal

step "8. An evacuee's receipt (PDF + QR), checked offline with the operation's public keys"
run safepassage receipt make "$op" "$first" --stage arrival --actor icrc/registrar-1 --key-file "$op/keys/vault.key" --out "$out/receipts"
run safepassage receipt keys "$op" --out "$out/public-keys.json"
run safepassage receipt verify "$out/receipts/receipt-$first-arrival.png" --keys "$out/public-keys.json"

step "9. What is published: small cells suppressed (1-4 people as <5, complements withheld as x)"
run safepassage export figures "$op" --format csv --at 325

step "10. The web interface: staff, liaison officers and the public, in a browser"
accounts="$op/demo-accounts.txt"
(umask 077; : > "$accounts")
account() {  # ROLE PARTY ACTOR NAME: an account whose token goes to the demo's accounts file
  local token
  token=$(safepassage account create "$op" --role "$1" --party "$2" --actor "$3" --name "$4" | tail -n 1)
  printf '%-28s %-14s %s\n' "$4" "$1" "$token" >> "$accounts"
}
account coordinator un-ocha un-ocha/coordinator "Demo coordinator"
account registrar icrc icrc/registrar-1 "Demo registrar"
account party-liaison russia russia/liaison "Demo liaison (Russia)"
account party-liaison ukraine ukraine/liaison "Demo liaison (Ukraine)"
base="http://127.0.0.1:${PORT:-8000}"
printf 'The demo operation is in %s (left open; its keys, demo-only, in %s/keys).\n\n' "$op" "$op"
printf '  Dashboard (coordinator)   %s/dashboard\n' "$base"
printf '  Registration (registrar)  %s/register\n' "$base"
printf '  Liaison officers          %s/liaison\n' "$base"
printf '  Public report (no login)  %s/public\n\n' "$base"
printf 'Sign in at %s/login with a token (demo only; also in %s):\n' "$base" "$accounts"
cat "$accounts"
if [ "${SERVE:-1}" = "0" ]; then
  printf '\nSERVE=0: not serving. To serve it: safepassage serve %s --port %s --key-file %s/keys/vault.key\n' "$op" "${PORT:-8000}" "$op"
  exit 0
fi
printf '\nServing until Ctrl-C.\n'
exec safepassage serve "$op" --port "${PORT:-8000}" --key-file "$op/keys/vault.key"
