#!/usr/bin/env bash
# Writes the bad-input files too big to commit into OUTDIR, at the same relative paths as the
# committed ones (export/line-50mb.txt, ...): a comment and two valid lines from the folder's
# _frame file, the bad line, then the frame's last two valid lines.
#   generate.sh OUTDIR [RELATIVE_PATH...]   (no path: every generated file)
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
out=$1
shift
all=(export/line-50mb.txt export/tags-over-8k.txt export/desired-over-32k.txt
     export/reported-over-32k.txt export/string-over-4k.txt events/tags-over-8k.jsonl)
[ $# -gt 0 ] || set -- "${all[@]}"

repeat() { head -c "$2" /dev/zero | tr '\0' "$1"; }  # repeat CHAR COUNT
strings() {  # strings N LEN: "s1":"xxx...","s2":"xxx..."  (N members of LEN bytes each)
  local i
  for ((i = 1; i <= $1; i++)); do
    [ "$i" -gt 1 ] && printf ','
    printf '"s%d":"' "$i"; repeat x "$2"; printf '"'
  done
}
device() {  # device TAGS DESIRED REPORTED: a device line with the given sections
  printf '{"id":"bad","status":"enabled","authentication":{"type":"sas"},"tags":{%s},' "$1"
  printf '"properties":{"desired":{%s},"reported":{%s}}}\n' "$2" "$3"
}
bad_line() {
  case "$1" in
    export/line-50mb.txt)
      printf '{"id":"huge","status":"enabled","tags":{"blob":"'
      repeat a 50000000
      printf '"}}\n' ;;
    export/tags-over-8k.txt) device "$(strings 3 3000)" '' '' ;;
    export/desired-over-32k.txt) device '' "$(strings 9 4000)" '' ;;
    export/reported-over-32k.txt) device '' '' "$(strings 9 4000)" ;;
    export/string-over-4k.txt) device '' "$(strings 1 4097)" '' ;;
    events/tags-over-8k.jsonl)
      printf '{"properties":{"hubName":"contoso-neu","deviceId":"ok-1","opType":"updateTwin",'
      printf '"iothub-message-schema":"twinChangeNotification",'
      printf '"operationTimestamp":"2026-11-20T11:00:00Z"},"systemProperties":{},'
      printf '"body":{"tags":{%s}}}\n' "$(strings 3 3000)" ;;
    *) echo "generate.sh: unknown file '$1'" >&2; return 1 ;;
  esac
}

for rel in "$@"; do
  dir=${rel%%/*}
  frame=$(ls "$here/$dir"/_frame.* | head -n 1)
  mkdir -p "$out/$dir"
  { head -n 3 "$frame"; bad_line "$rel"; tail -n 2 "$frame"; } > "$out/$rel"
done
