#!/usr/bin/env bash
# mergetool end to end: mergetool_e2e.sh CASE MERGETOOL DATA_DIR
# Every check prints what it expected; the script exits non-zero at the first that fails.
set -uo pipefail
case_name=$1
M=$2
DATA=$3
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"

fail() { echo "FAIL [$case_name]: $*" >&2; exit 1; }
expect_rc() {  # expect_rc WANT CMD...
  local want=$1; shift
  "$@" >out.txt 2>err.txt
  local rc=$?
  [ "$rc" = "$want" ] || { cat err.txt >&2; fail "'$*' exited $rc, expected $want"; }
}
init_pair() {
  expect_rc 0 "$M" init p --site weu-primary --fork-point 2026-01-01T00:00:00Z
  expect_rc 0 "$M" init s --site neu-secondary --fork-point 2026-01-01T00:00:00Z
  expect_rc 0 "$M" ingest p --format export --observed-at 2026-11-20T00:00:00Z "$DATA/primary.txt"
  expect_rc 0 "$M" ingest s --format export --base "$DATA/base.txt" \
    --observed-at 2026-11-20T01:00:00Z "$DATA/secondary.txt"
}

case "$case_name" in
errors)
  # Every subcommand: a missing store (exit 1, named), an unknown flag and a missing argument
  # (exit 2), and nothing written to stdout on an error.
  at="--observed-at 2026-11-20T00:00:00Z"
  for cmd in "ingest nostore --format export $at $DATA/primary.txt" "merge nostore nostore2" \
             "export nostore" "digest nostore" "diff nostore nostore2" "conflicts nostore" \
             "plan nostore --primary-export $DATA/primary.txt -o planout" "backup nostore bk" \
             "stats nostore" "conflicts nostore --json" "stats nostore --json"; do
    # shellcheck disable=SC2086
    expect_rc 1 "$M" $cmd
    grep -q "^mergetool: error: .*nostore" err.txt || fail "'$cmd' does not name the missing store"
    [ -s out.txt ] && fail "'$cmd' wrote to stdout on an error"
    [ -e nostore ] && fail "'$cmd' created the missing store"
  done
  [ -e planout ] && fail "plan wrote a plan for a missing store"
  expect_rc 1 "$M" restore nobackup st
  grep -q "^mergetool: error: .*nobackup" err.txt || fail "restore does not name the missing backup"
  [ -e st ] && fail "restore of a missing backup created a store"
  for cmd in "init" "ingest" "merge" "export" "digest" "diff" "conflicts" "plan" "backup" \
             "restore" "stats" "failback" "drill"; do
    # shellcheck disable=SC2086
    expect_rc 2 "$M" $cmd --no-such-flag x
    grep -q "^mergetool: error: " err.txt || fail "'$cmd --no-such-flag' has no error line"
  done
  expect_rc 2 "$M" init s
  expect_rc 2 "$M" ingest s "$DATA/primary.txt"
  grep -q -- "--format" err.txt || fail "ingest without --format does not say so"
  expect_rc 2 "$M" plan s -o x
  grep -q -- "--primary-export" err.txt || fail "plan without --primary-export does not say so"
  expect_rc 2 "$M" merge s
  expect_rc 2 "$M" diff s
  expect_rc 2 "$M" drill --devices abc
  expect_rc 2 "$M" failback --primary nodir --secondary nodir2 --work w
  grep -q "nodir" err.txt || fail "failback does not name the missing hub folder"
  expect_rc 0 "$M" init s --site neu-secondary
  expect_rc 1 "$M" ingest s --format export $at missing-file.txt
  grep -q "missing-file.txt" err.txt || fail "a missing input file is not named"
  expect_rc 0 "$M" init s --site neu-secondary  # idempotent for the owner
  expect_rc 1 "$M" init s --site weu-primary
  grep -q "belongs to site 'neu-secondary'" err.txt || fail "init for another site does not refuse"
  expect_rc 2 "$M" ingest s --format export --observed-at yesterday "$DATA/primary.txt"
  grep -q -- "--observed-at" err.txt || fail "a malformed time does not name its flag"
  expect_rc 2 "$M" init t --site x --fork-point 2026-13-45
  [ -e t ] && fail "init with a malformed --fork-point created a store"
  ;;
usage)
  expect_rc 2 "$M"
  expect_rc 2 "$M" injest x
  grep -q "mergetool: error: unknown command 'injest'; did you mean 'ingest'" err.txt ||
    fail "no suggestion for a misspelt command"
  expect_rc 0 "$M" --help
  grep -q "Exit codes" out.txt || fail "--help does not document the exit codes"
  [ -s err.txt ] && fail "--help wrote to stderr"
  expect_rc 0 "$M" --version
  grep -q "mergetool" out.txt || fail "--version"
  expect_rc 1 "$M" digest missing-store
  grep -q "^mergetool: error: .*missing-store" err.txt || fail "missing store error does not name it"
  expect_rc 2 "$M" ingest s --format nonsense x.txt
  expect_rc 2 "$M" init s
  ;;
ingest-rejects)
  expect_rc 0 "$M" init s --site neu-secondary
  { head -n 3 "$DATA/primary.txt"
    echo '{"id": "bad id with spaces", "status": "enabled"}'
    echo '{"id": "truncated-'
    echo '{"id": "dev-ok-1", "status": "sideways"}'
    echo '{"id": "dev-ok-2", "status": "enabled", "authentication": null}'
  } > input.txt
  expect_rc 3 "$M" ingest s --format export --observed-at 2026-11-20T00:00:00Z \
    --rejects rejects.txt input.txt
  grep -q "^mergetool: error: input.txt:4: " err.txt || fail "no FILE:LINE error for line 4"
  grep -q "^mergetool: error: input.txt:5: " err.txt || fail "no FILE:LINE error for line 5"
  grep -q "^mergetool: error: input.txt:6: " err.txt || fail "no FILE:LINE error for line 6"
  [ "$(grep -c '^# reject' rejects.txt)" = 3 ] || fail "rejects.txt does not hold 3 rejects"
  expect_rc 0 "$M" export s --kind devices
  # Every valid line around the bad ones was applied.
  valid=$(head -n 3 "$DATA/primary.txt" | grep -c '^{' || true)
  [ "$(grep -c '"id":"dev-ok-2"' out.txt)" = 1 ] || fail "the valid line after the bad ones is missing"
  [ "$(wc -l < out.txt)" -ge "$((valid))" ] || fail "valid lines before the bad ones are missing"
  if grep -q 'PrimarySecret' err.txt; then fail "a device key reached stderr"; fi
  ;;
export-order-free)
  expect_rc 0 "$M" init a --site neu-secondary
  expect_rc 0 "$M" init b --site neu-secondary
  expect_rc 0 "$M" ingest a --format export --observed-at 2026-11-20T00:00:00Z "$DATA/secondary.txt"
  # The same lines shuffled, every line twice, in two files.
  grep '^{' "$DATA/secondary.txt" | tr -d '\r' > lines.txt
  shuf --random-source=<(yes) lines.txt > shuffled.txt
  cat lines.txt shuffled.txt | shuf --random-source=<(yes 7) > twice.txt
  expect_rc 0 "$M" ingest b --format export --observed-at 2026-11-20T00:00:00Z shuffled.txt twice.txt
  expect_rc 0 "$M" export a -o a.jsonl
  expect_rc 0 "$M" export b -o b.jsonl
  [ -s a.jsonl ] || fail "empty export"
  cmp -s a.jsonl b.jsonl || fail "exports differ for shuffled and duplicated input"
  expect_rc 0 "$M" digest a; da=$(cat out.txt)
  expect_rc 0 "$M" digest b; db=$(cat out.txt)
  [ "$da" = "$db" ] || fail "digests differ: $da $db"
  ;;
merge-commutes)
  init_pair
  cp -r p p2; cp -r s s2
  expect_rc 0 "$M" merge p s
  expect_rc 0 "$M" merge s2 p2
  expect_rc 0 "$M" digest p; d1=$(cat out.txt)
  expect_rc 0 "$M" digest s2; d2=$(cat out.txt)
  [ "$d1" = "$d2" ] || fail "merge A B and merge B A differ: $d1 $d2"
  expect_rc 0 "$M" merge p s   # again: idempotent
  expect_rc 0 "$M" digest p
  [ "$(cat out.txt)" = "$d1" ] || fail "merging twice changed the state"
  expect_rc 0 "$M" export p -o p.jsonl
  expect_rc 0 "$M" export s2 -o s2.jsonl
  cmp -s p.jsonl s2.jsonl || fail "exports of the two merge orders differ"
  ;;
diff-and-conflicts)
  init_pair
  expect_rc 0 "$M" diff p s
  [ -s out.txt ] || fail "diff found nothing between diverged stores"
  expect_rc 0 "$M" diff p s --json
  python3 -c 'import json,sys; [json.loads(l) for l in open("out.txt")]' || fail "diff --json is not JSON lines"
  expect_rc 0 "$M" merge p s
  expect_rc 0 "$M" merge s p
  expect_rc 0 "$M" diff p s
  [ ! -s out.txt ] || fail "diff after merging both ways is not empty: $(head -3 out.txt)"
  expect_rc 0 "$M" conflicts p --json
  [ -s out.txt ] || fail "no conflicts reported for diverged exports"
  python3 - <<'PY' || fail "conflicts --json is malformed"
import json
for line in open("out.txt"):
    c = json.loads(line)
    assert {"key", "path", "rule", "winner", "losers"} <= set(c), c
    assert c["losers"], c
PY
  grep -q '"rule":"order"' out.txt || fail "the disable-wins conflict (rule order) is missing"
  # No key material in any output.
  keys=$(python3 -c '
import json,sys
for f in sys.argv[1:]:
    for l in open(f, encoding="utf-8-sig"):
        l=l.strip()
        if not l.startswith("{"): continue
        a=(json.loads(l).get("authentication") or {}).get("symmetricKey") or {}
        for k in a.values():
            if k: print(k)' "$DATA/primary.txt" "$DATA/secondary.txt" "$DATA/base.txt" | sort -u)
  [ -n "$keys" ] || fail "the fixtures hold no keys to look for"
  "$M" conflicts p > c.txt 2>&1; "$M" diff p s --json >> c.txt 2>&1; cat out.txt err.txt >> c.txt
  while read -r k; do
    if grep -qF "$k" c.txt; then fail "a device key appears in conflicts/diff output"; fi
  done <<< "$keys"
  ;;
plan-backup-stats)
  init_pair
  expect_rc 0 "$M" merge p s
  expect_rc 0 "$M" plan p --primary-export "$DATA/primary.txt" -o plan --json
  python3 -c 'import json; s=json.load(open("out.txt")); assert s["counts"]["create"] > 0, s; assert s["files"], s' ||
    fail "plan summary"
  [ -s plan/manifest.json ] || fail "no manifest"
  grep -q '"importMode":"updateIfMatchETag"' plan/devices-00001.txt || fail "no ETag-guarded update"
  expect_rc 0 "$M" plan p --primary-export "$DATA/primary.txt" -o plan2
  cmp -s plan/devices-00001.txt plan2/devices-00001.txt || fail "planning twice gave other bytes"
  # The fixture's importErrors.log has one line with a bad errorCode: exit 3, and a rejects file.
  expect_rc 3 "$M" plan p --primary-export "$DATA/primary_fresh.txt" -o retry \
    --retry "$DATA/importErrors.log" --previous-plan plan
  grep -q "importErrors.log:7: invalid-error-code" err.txt || fail "no FILE:LINE for the bad log line"
  [ "$(grep -c '^# reject' retry/rejects.txt)" = 1 ] || fail "retry/rejects.txt"
  ls retry/devices-*.txt >/dev/null 2>&1 || fail "the retry plan wrote no import file"
  expect_rc 0 "$M" digest p; d=$(cat out.txt)
  expect_rc 0 "$M" backup p backups --verify
  expect_rc 0 "$M" restore backups restored
  expect_rc 0 "$M" digest restored
  [ "$(cat out.txt)" = "$d" ] || fail "restored store has another digest"
  expect_rc 0 "$M" stats p --json
  python3 -c 'import json; s=json.load(open("out.txt")); assert s["devices"]["existing"] > 0, s' ||
    fail "stats --json"
  ;;
*) fail "unknown case" ;;
esac
echo "PASS [$case_name]"
