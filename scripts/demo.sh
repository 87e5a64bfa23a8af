#!/usr/bin/env bash
# The log at work: create, append, checkpoint, prove, verify, then catch a tampered entry.
# Usage: scripts/demo.sh [DIR]   (make demo runs it with the project's virtualenv on PATH)
set -euo pipefail

out=${1:-demo-out}
rm -rf "$out"
mkdir -p "$out/entries"
log="$out/log"
step() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
run() { printf '$ %s\n' "$*" >&2; "$@"; }

step "1. Create an operation log and its signing key"
run safepassage log init "$log" --origin demo.safepassage.example/azovstal-2022

step "2. Append eight entries (one file each; each index is printed once it is on disk)"
i=0
for e in \
  '{"kind":"operation.opened","name":"Azovstal safe passage (demo)"}' \
  '{"kind":"party.joined","party":"un-ocha","role":"coordinator"}' \
  '{"kind":"party.joined","party":"icrc","role":"facilitator"}' \
  '{"kind":"party.joined","party":"ukraine","role":"party"}' \
  '{"kind":"party.joined","party":"russia","role":"party"}' \
  '{"kind":"site.declared","site":"azovstal","role":"pickup"}' \
  '{"kind":"site.declared","site":"zaporizhzhia","role":"reception"}' \
  '{"kind":"movement.notified","movement":"convoy-1"}'; do
  printf '%s' "$e" > "$out/entries/$i.json"
  i=$((i + 1))
done
run safepassage log append "$log" "$out"/entries/{0..7}.json

step "3. The signed checkpoint (C2SP tlog-checkpoint) every party can cosign"
run safepassage log checkpoint "$log" | tee "$out/checkpoint-8.txt"

step "4. More entries arrive; a new checkpoint"
printf '%s' '{"kind":"movement.acknowledged","movement":"convoy-1","party":"ukraine"}' > "$out/entries/8.json"
printf '%s' '{"kind":"movement.acknowledged","movement":"convoy-1","party":"russia"}' > "$out/entries/9.json"
run safepassage log append "$log" "$out/entries/8.json" "$out/entries/9.json"
run safepassage log checkpoint "$log"

step "5. Prove entry 3 is in the log (C2SP tlog-proof), against the first checkpoint"
run safepassage log prove "$log" 3 --size 8 | tee "$out/entry-3.tlog-proof"

step "6. Anyone holding the verifier key checks that proof offline"
vkey=$(safepassage log vkey "$log")
run safepassage log verify-proof "$out/entry-3.tlog-proof" "$out/entries/3.json" --vkey "$vkey"

step "7. Verify the whole log: every hash recomputed, every checkpoint checked"
run safepassage verify "$log" --vkey "$vkey"

step "8. Someone edits entry 3 in the database file (ukraine -> ukrainE)"
python3 - "$log/log.db" <<'PY'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
db.execute("UPDATE entries SET data = replace(data, 'ukraine', 'ukrainE') WHERE idx = 3")
db.commit()
PY
set +e
run safepassage verify "$log" --vkey "$vkey"
code=$?
set -e
if [ "$code" -ne 1 ]; then
  echo "expected verify to fail with exit code 1, got $code" >&2
  exit 1
fi
printf '\nverify exited with %s and named the altered entry: the tampering is caught.\n' "$code"
printf 'Everything this demo made is in %s/\n' "$out"
