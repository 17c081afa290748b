#!/usr/bin/env bash
# Start-up of short commands: `nbdinfo URI` (libnbd) and `rbd-cli info URI`, alternately, against one
# rbd-server export on loopback, then `rbd-cli --version` and `rbd-server --version` alone. Prints the median
# wall time of each, and the ratio nbdinfo / rbd-cli info (issue 14's target: at least 0.5, i.e. rbd-cli info
# within twice nbdinfo's time). Wall time is the whole process, JVM start-up included, as a user sees it.
# The machine may be shared with other work: compare medians of one run, not figures of different runs.
#
# Usage: scripts/startup-bench.sh [ROUNDS]   (default 10; build first: mvn -q -DskipTests package)
# Environment:
#   RBD_CLI      the rbd-cli launcher to time (default scripts/rbd-cli next to this script)
#   RBD_SERVER   the rbd-server launcher (default scripts/rbd-server next to this script)
#   RBD_JAVA_OPTS is passed on to both launchers, as always.
#
# Exit status: 0 ok (whether or not the target is met, as the other benchmark scripts), 1 a run failed,
# 2 usage or not built,
# 77 skipped because nbdinfo, python3 or java is missing.
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(cd "$here/.." && pwd)
LOG_PREFIX=startup-bench
RBD=${RBD_SERVER:-$here/rbd-server}
CLI=${RBD_CLI:-$here/rbd-cli}
TARGET=0.5
. "$here/lib/processes.sh"
. "$here/lib/servers.sh"
. "$here/lib/bench.sh"

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
ROUNDS=10
case ${1:-} in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *[!0-9]*|0) echo "startup-bench: ROUNDS is a whole number above 0, not '$1'" >&2; usage >&2; exit 2 ;;
  *) ROUNDS=$1 ;;
esac

for t in nbdinfo python3 java; do
  if ! command -v "$t" >/dev/null 2>&1; then
    echo "SKIP startup-bench: missing tool: $t -- nothing was measured"
    echo "SKIP startup-bench: missing tool: $t -- nothing was measured" >&2
    exit 77
  fi
done
require_built rbd-server rbd-cli

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rbd-startup-bench.XXXXXX") || exit 2
cleanup() {
  stop_server
  rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# timed NAME COMMAND...: runs COMMAND (output to $tmp/NAME.out), appends its wall time in seconds to
# $tmp/NAME.times; fails with COMMAND's messages when it fails.
timed() {
  local name=$1 start end
  shift
  start=$EPOCHREALTIME
  if ! "$@" >"$tmp/$name.out" 2>&1; then
    echo "startup-bench: $name failed: $(tail -n 3 "$tmp/$name.out" | tr '\n' ' ')" >&2
    return 1
  fi
  end=$EPOCHREALTIME
  python3 -c 'import sys; print("%.4f" % (float(sys.argv[2]) - float(sys.argv[1])))' "$start" "$end" \
      >>"$tmp/$name.times"
}

# median NAME: the median of $tmp/NAME.times, in seconds.
median() {
  python3 -c 'import statistics, sys; print("%.3f" % statistics.median(float(l) for l in open(sys.argv[1])))' \
      "$tmp/$1.times"
}

echo "rbd start-up bench  date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  cores: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(nbdinfo --version | head -n1)  java: $(java -version 2>&1 | head -n1)  rounds: $ROUNDS"

truncate -s 64M "$tmp/disk.img" || exit 2
start_rbd_server "$tmp/server.log" "$tmp/disk.img" disk always || exit 1
URI=$SRV_URI

failed=0
for ((i = 0; i < ROUNDS; i++)); do
  timed nbdinfo nbdinfo "$URI" || failed=1
  timed rbd-cli-info "$CLI" info "$URI" || failed=1
done
for ((i = 0; i < ROUNDS; i++)); do
  timed rbd-cli-version "$CLI" --version || failed=1
  timed rbd-server-version "$RBD" --version || failed=1
done
stop_server
[ $failed -eq 0 ] || { echo "startup-bench: some runs failed (see messages above)" >&2; exit 1; }

ref=$(median nbdinfo)
rbd=$(median rbd-cli-info)
echo
printf '%-22s %8s\n' "command" "median s"
printf '%-22s %8s\n' "nbdinfo URI" "$ref" "rbd-cli info URI" "$rbd" \
    "rbd-cli --version" "$(median rbd-cli-version)" "rbd-server --version" "$(median rbd-server-version)"
verdict=$(python3 -c 'import sys; r = float(sys.argv[1]) / float(sys.argv[2]); t = float(sys.argv[3])
print("%.2f %s" % (r, "met" if r >= t else "MISSED"))' "$ref" "$rbd" "$TARGET")
echo "ratio nbdinfo / rbd-cli info: ${verdict% *} (target >= $TARGET): ${verdict#* }"
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
