#!/usr/bin/env bash
# Profiles rbd-server under one fio job with async-profiler and writes a flame graph.
#
# Starts rbd-server on a fresh, preallocated image filled with random data, warms it up with unmeasured I/O of
# the same job, attaches async-profiler for the measured part only, runs the fio job (nbd engine, loopback
# TCP), then writes OUT.html (an interactive flame graph, open it in a browser) and OUT.collapsed (one line per
# stack with its sample count, for grep and sort) and prints the hottest frames.
#
# Usage: scripts/profile.sh [--sync always|flush] [--event cpu|wall|alloc|lock] [--runtime S] OUT -- FIO_ARGS...
#   e.g. scripts/profile.sh --sync always docs/profiles/seqwrite-1m-qd8 -- --rw=write --bs=1M --iodepth=8
# Environment:
#   PROFILE_SIZE     image size (default 1G)
#   PROFILE_WARMUP   seconds of unmeasured warm-up with the same job (default 10)
#   PROFILE_DIR      where the temp dir with the image goes (default ${TMPDIR:-/tmp})
#   RBD_JAVA_OPTS    extra JVM options for the server
# async-profiler (tools.profiler:async-profiler:4.1, from Maven Central) is fetched with Maven on first use.
# Exit status: 0 ok, 1 a run failed, 2 usage/build problem, 77 fio, java or the profiler is not available.
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
LOG_PREFIX=profile
. "$here/lib/processes.sh"
AP_VERSION=4.1
SYNC=always
EVENT=cpu
RUNTIME=20
WARMUP=${PROFILE_WARMUP:-10}
SIZE=${PROFILE_SIZE:-1G}

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
while [ $# -gt 0 ]; do
  case $1 in
    --sync) SYNC=${2:?}; shift 2 ;;
    --event) EVENT=${2:?}; shift 2 ;;
    --runtime) RUNTIME=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) echo "profile: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) OUT=$1; shift ;;
  esac
done
[ -n "${OUT:-}" ] && [ $# -gt 0 ] || { usage >&2; exit 2; }
OUT=${OUT%.html}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
mkdir -p "$(dirname "$OUT")" || exit 2

for t in fio java jcmd python3 unzip; do
  command -v "$t" >/dev/null 2>&1 || { echo "SKIP profile: missing tool: $t"; exit 77; }
done
jar=$(ls "$here"/../rbd-server/target/rbd-server-*-all.jar 2>/dev/null | head -n 1)
[ -n "$jar" ] || { echo "profile: rbd-server is not built; run: mvn -q -DskipTests package" >&2; exit 2; }

tmp=$(mktemp -d "${PROFILE_DIR:-${TMPDIR:-/tmp}}/rbd-profile.XXXXXX") || exit 2
srv_pid=
cleanup() { [ -n "$srv_pid" ] && stop_pid "$srv_pid"; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# the agent library for this machine, out of the Maven Central jar
case $(uname -m) in x86_64) arch=linux-x64 ;; aarch64) arch=linux-arm64 ;; *) echo "SKIP profile: no async-profiler for $(uname -m)"; exit 77 ;; esac
ap_jar=${HOME}/.m2/repository/tools/profiler/async-profiler/$AP_VERSION/async-profiler-$AP_VERSION.jar
if [ ! -f "$ap_jar" ]; then
  mvn -q dependency:get -Dartifact="tools.profiler:async-profiler:$AP_VERSION" >&2 ||
    { echo "SKIP profile: cannot fetch tools.profiler:async-profiler:$AP_VERSION"; exit 77; }
fi
unzip -q -o "$ap_jar" "$arch/libasyncProfiler.so" -d "$tmp" || exit 2
lib=$tmp/$arch/libasyncProfiler.so

# jcmd splits NAME=VALUE arguments; a quoted string reaches the agent whole
profiler() { jcmd "$srv_pid" JVMTI.agent_load "$lib" "\"$1\"" >"$tmp/jcmd.out" 2>&1 &&
  grep -q "return code: 0" "$tmp/jcmd.out" || { echo "profile: async-profiler '$1' failed: $(cat "$tmp/jcmd.out")" >&2; return 1; }; }

img=$tmp/img
fallocate -l "$SIZE" "$img" 2>/dev/null || truncate -s "$SIZE" "$img" || exit 2
dd if=/dev/urandom of="$img" bs=1M count=$(( $(stat -c %s "$img") / 1048576 )) conv=notrunc,fsync status=none || exit 2

port=$(free_port) || exit 1
# DebugNonSafepoints: frames of inlined methods are attributed where they run, not at the next safepoint
java -XX:+UnlockDiagnosticVMOptions -XX:+DebugNonSafepoints ${RBD_JAVA_OPTS:-} -jar "$jar" \
  export "disk=$img" --sync "$SYNC" --listen "127.0.0.1:$port" >"$tmp/server.log" 2>&1 &
srv_pid=$!
uri=nbd://127.0.0.1:$port/disk
wait_ready "$srv_pid" "$uri" || { echo "profile: rbd-server did not start:" >&2; tail "$tmp/server.log" >&2; exit 1; }

fio_run() {  # fio_run SECONDS OUTPUT ARGS...
  local secs=$1 out=$2; shift 2
  (cd "$tmp" && timeout $((secs + 60)) fio --name=profile --ioengine=nbd --uri="$uri" --size="$SIZE" \
    --time_based --runtime="$secs" --randrepeat=0 --norandommap --group_reporting --output-format=json \
    --output="$out" "$@") >"$tmp/fio.err" 2>&1 || { echo "profile: fio failed: $(tail -n 3 "$tmp/fio.err")" >&2; return 1; }
}
if [ "$WARMUP" -gt 0 ]; then fio_run "$WARMUP" /dev/null "$@" || exit 1; fi
profiler "start,event=$EVENT,interval=1ms" || exit 1
fio_run "$RUNTIME" "$tmp/fio.json" "$@" || exit 1
title="rbd-server --sync $SYNC, fio $*, $(nproc) cores, event $EVENT"
# collapsed stacks first (the session goes on), then the flame graph as it stops
profiler "dump,file=$OUT.collapsed,collapsed" || exit 1
profiler "stop,file=$OUT.html,flamegraph,title=${title//,/ }" || exit 1

python3 - "$tmp/fio.json" "$OUT.collapsed" <<'EOF'
import collections, json, sys
d = json.load(open(sys.argv[1]))["jobs"][0]
for k in ("read", "write"):
    s = d[k]
    if s["io_bytes"]:
        p99 = s["clat_ns"]["percentile"]["99.000000"] / 1000
        print("fio %s: %.0f IOPS, %.1f MB/s, p99 %.0f us" % (k, s["iops"], s["bw_bytes"] / 1e6, p99))
self_t, total = collections.Counter(), 0
for line in open(sys.argv[2]):
    stack, _, n = line.rstrip("\n").rpartition(" ")
    n = int(n)
    total += n
    self_t[stack.split(";")[-1]] += n
print("%d samples; hottest frames (self time):" % total)
for frame, n in self_t.most_common(15):
    print("  %5.1f%%  %s" % (100.0 * n / total, frame))
EOF
echo "flame graph: $OUT.html"
