#!/usr/bin/env bash
# Profiles rbd-server under one fio job with async-profiler and writes a flame graph.
#
# Starts rbd-server on a fresh, preallocated image filled with random data, warms it up with unmeasured I/O of
# the same job, attaches async-profiler for the measured part only, runs the fio job (nbd engine, loopback
# TCP), then writes OUT.html (an interactive flame graph, open it in a browser) and OUT.collapsed (one line per
# stack with its sample count, for grep and sort) and prints the hottest frames.
#
# Usage: scripts/profile.sh [--sync always|flush] [--event cpu|wall|alloc|lock] [--runtime S] [--tls] OUT -- FIO_ARGS...
#   e.g. scripts/profile.sh --sync always docs/profiles/seqwrite-1m-qd8 -- --rw=write --bs=1M --iodepth=8
#   --tls: the server requires TLS (certificates from scripts/make-pki.sh; fio finds the CA under a temp HOME)
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
RBD=$here/rbd-server
. "$here/lib/processes.sh"
. "$here/lib/servers.sh"
. "$here/lib/bench.sh"
AP_VERSION=4.1
SYNC=always
EVENT=cpu
RUNTIME=20
WARMUP=${PROFILE_WARMUP:-10}
SIZE=${PROFILE_SIZE:-1G}
TLS=

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
while [ $# -gt 0 ]; do
  case $1 in
    --sync) SYNC=${2:?}; shift 2 ;;
    --event) EVENT=${2:?}; shift 2 ;;
    --runtime) RUNTIME=${2:?}; shift 2 ;;
    --tls) TLS=1; shift ;;
    -h|--help) usage; exit 0 ;;
    --) shift; break ;;
    -*) echo "profile: unknown option $1" >&2; usage >&2; exit 2 ;;
    *) OUT=$1; shift ;;
  esac
done
if [ -z "${OUT:-}" ] || [ $# -eq 0 ]; then usage >&2; exit 2; fi
OUT=${OUT%.html}
case $OUT in /*) ;; *) OUT=$PWD/$OUT ;; esac
mkdir -p "$(dirname "$OUT")" || exit 2

require_tools fio java jcmd python3 unzip
require_built rbd-server

tmp=$(mktemp -d "${PROFILE_DIR:-${TMPDIR:-/tmp}}/rbd-profile.XXXXXX") || exit 2
cleanup() { stop_server; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# the agent library for this machine, out of the Maven Central jar
case $(uname -m) in x86_64) arch=linux-x64 ;; aarch64) arch=linux-arm64 ;; *) skip_all "no async-profiler for $(uname -m)" ;; esac
ap_jar=${HOME}/.m2/repository/tools/profiler/async-profiler/$AP_VERSION/async-profiler-$AP_VERSION.jar
if [ ! -f "$ap_jar" ]; then
  mvn -q dependency:get -Dartifact="tools.profiler:async-profiler:$AP_VERSION" >&2 ||
    skip_all "cannot fetch tools.profiler:async-profiler:$AP_VERSION"
fi
unzip -q -o "$ap_jar" "$arch/libasyncProfiler.so" -d "$tmp" || exit 2
lib=$tmp/$arch/libasyncProfiler.so

# jcmd splits NAME=VALUE arguments; a quoted string reaches the agent whole
profiler() {
  if ! { jcmd "$SRV_PID" JVMTI.agent_load "$lib" "\"$1\"" >"$tmp/jcmd.out" 2>&1 &&
         grep -q "return code: 0" "$tmp/jcmd.out"; }; then
    echo "profile: async-profiler '$1' failed: $(cat "$tmp/jcmd.out")" >&2; return 1
  fi
}

img=$tmp/img
fill_image "$img" "$SIZE" || exit 2
tls_args=()
if [ -n "$TLS" ]; then
  require_tools certtool
  "$here/make-pki.sh" "$tmp/pki" >"$tmp/make-pki.log" 2>&1 || { cat "$tmp/make-pki.log" >&2; exit 2; }
  mkdir -p "$tmp/home/.pki/libnbd" && cp "$tmp/pki/ca-cert.pem" "$tmp/home/.pki/libnbd/" || exit 2
  export HOME=$tmp/home SRV_TLS=1
  tls_args=(--tls require --tls-certificates "$tmp/pki")
fi
# DebugNonSafepoints: frames of inlined methods are attributed where they run, not at the next safepoint
RBD_JAVA_OPTS="-XX:+UnlockDiagnosticVMOptions -XX:+DebugNonSafepoints ${RBD_JAVA_OPTS:-}" \
  start_rbd_server "$tmp/server.log" "$img" disk "$SYNC" "${tls_args[@]}" || exit 1

# fio_job SECONDS OUT: the job against the server, no ramp (the warm-up is a run of its own)
fio_job() {
  fio_run "$2" "$1" --name=profile --ioengine=nbd --uri="$SRV_URI" --size="$SIZE" --time_based \
    --runtime="$1" --randrepeat=0 --norandommap --group_reporting "${FIO_ARGS[@]}"
}
FIO_ARGS=("$@")
if [ "$WARMUP" -gt 0 ]; then fio_job "$WARMUP" "$tmp/warmup.json" || exit 1; fi
profiler "start,event=$EVENT,interval=1ms" || exit 1
fio_job "$RUNTIME" "$tmp/fio.json" || exit 1
title="rbd-server --sync $SYNC${TLS:+ --tls require}, fio $*, $(nproc) cores, event $EVENT"
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
