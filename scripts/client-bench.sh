#!/usr/bin/env bash
# Client benchmark: fio's nbd engine (libnbd) and `rbd-cli bench` (rbd-client), one
# after the other, against the same rbd-server export over loopback TCP, in one run.
# The server is the same for both, so the ratio compares the clients.
#
# Jobs, each run by fio and then by rbd-cli, BENCH_RAMP s ramp + BENCH_RUNTIME s
# measured: randread-4k-qd32, randwrite-4k-qd32 (one connection each); with
# BENCH_SYNC=flush also randwrite-4k-qd32-flush8m. Where the server's acks are not
# durable, rbd-client keeps each acknowledged write until a FLUSH covers it and
# sends a FLUSH whenever 8 MiB (its default maxRetainedBytes / 8) wait for one;
# fio sends none. randwrite-4k-qd32-flush8m is the same work for both: fio with
# --fsync=2048 (a FLUSH after every 2048 writes of 4 KiB), rbd-cli as before.
# The export is a fresh sparse image; randwrite runs after randread, so fio's
# randwrite meets holes and rbd-cli's partly the blocks fio allocated.
# Latency is from submitting a request to its completion on both sides (fio's
# total latency, --lat_percentiles=1; rbd-cli's only latency).
#
# Usage: scripts/client-bench.sh     (build first: mvn -q -DskipTests package)
# Environment:
#   BENCH_RUNTIME   seconds measured per job and client (default 10)
#   BENCH_RAMP      unmeasured seconds before each measurement (default 2)
#   BENCH_SIZE      image size (default 1G)
#   BENCH_SYNC      rbd-server --sync: flush (default; writes reach the page cache,
#                   so the clients are what is measured) or always (durable)
#   BENCH_DIR       where the temp dir with the image goes (default ${TMPDIR:-/tmp})
#   BENCH_KEEP=1    keep the temp dir (fio and rbd-cli JSON, server log)
#
# Exit status: 0 ok, 1 a server, fio or rbd-cli run failed, 2 usage or not built,
# 77 skipped because fio (with the nbd engine), python3 or java is missing.
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(cd "$here/.." && pwd)
LOG_PREFIX=client-bench
RBD=$here/rbd-server
. "$here/lib/processes.sh"
. "$here/lib/servers.sh"
. "$here/lib/bench.sh"
RUNTIME=${BENCH_RUNTIME:-10}
RAMP=${BENCH_RAMP:-2}
SIZE=${BENCH_SIZE:-1G}
SYNC=${BENCH_SYNC:-flush}
JOBS="randread-4k-qd32 randwrite-4k-qd32"
[ "$SYNC" = flush ] && JOBS="$JOBS randwrite-4k-qd32-flush8m"

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
case ${1:-} in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "client-bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac
case $SYNC in always|flush) ;; *) echo "client-bench: BENCH_SYNC must be always or flush, not '$SYNC'" >&2; exit 2 ;; esac
for v in "$RUNTIME" "$RAMP"; do
  case $v in ''|*[!0-9]*) echo "client-bench: BENCH_RUNTIME and BENCH_RAMP are whole seconds, not '$v'" >&2; exit 2 ;; esac
done
[ "$RUNTIME" -gt 0 ] || { echo "client-bench: BENCH_RUNTIME must be more than 0" >&2; exit 2; }

require_tools fio python3 java
for m in rbd-server rbd-cli; do
  if ! ls "$root/$m/target/$m"-*-all.jar >/dev/null 2>&1; then
    echo "client-bench: $m is not built; run: (cd $root && mvn -q -DskipTests package)" >&2
    exit 2
  fi
done

tmp=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/rbd-client-bench.XXXXXX") || exit 2
IMG=$tmp/disk.img
RES=$tmp/results.tsv   # job client iops p99_us
: >"$RES"

cleanup() {
  stop_server
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "client-bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

truncate -s "$SIZE" "$IMG" || exit 2

job_rw() { case $1 in randread-*) echo randread ;; randwrite-*) echo randwrite ;; esac; }

# run_fio JOB: one fio run against $URI, appends "JOB fio IOPS P99" to $RES.
run_fio() {
  local job=$1 rw out=$tmp/fio-$1.json line
  rw=$(job_rw "$job")
  # Same options as scripts/bench.sh, plus total-latency percentiles.
  local flushes=0
  case $job in *-flush8m) flushes=2048 ;; esac
  fio_run "$out" $((RUNTIME + RAMP)) --name="$job" --ioengine=nbd --uri="$URI" \
      --rw="$rw" --bs=4k --iodepth=32 --numjobs=1 --size="$SIZE" --time_based --runtime="$RUNTIME" \
      --ramp_time="$RAMP" --group_reporting --randrepeat=0 --norandommap --lat_percentiles=1 \
      --fsync="$flushes" || return 1
  line=$(fio_figures "$out" "${rw#rand}" lat | cut -f1,4) || { echo "client-bench: cannot parse $out" >&2; return 1; }
  printf '%s\tfio\t%s\n' "$job" "$line" >>"$RES"
  echo "  $job  fio      $(echo "$line" | awk -F'\t' '{printf "%s IOPS  p99 %s us", $1, $2}')" >&2
}

# run_rbd_cli JOB: one rbd-cli bench run against $URI, appends "JOB rbd-cli IOPS P99" to $RES.
run_rbd_cli() {
  local job=$1 rw out=$tmp/rbd-cli-$1.json line
  rw=$(job_rw "$job")
  # --force: the export is this script's scratch image, and fio has already written to it
  if ! timeout $((RUNTIME + RAMP + 120)) "$here/rbd-cli" bench "$URI" --pattern "$rw" --bs 4k --qd 32 \
      --connections 1 --duration "${RUNTIME}s" --ramp "${RAMP}s" --force --json >"$out" 2>"$out.stderr"; then
    echo "client-bench: rbd-cli $job failed: $(tail -n 3 "$out.stderr" | tr '\n' ' ')" >&2
    return 1
  fi
  line=$(python3 - "$out" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
print("%.0f\t%.0f" % (d["iops"], d["latency_us"]["p99"]))
EOF
  ) || { echo "client-bench: cannot parse $out" >&2; return 1; }
  printf '%s\trbd-cli\t%s\n' "$job" "$line" >>"$RES"
  echo "  $job  rbd-cli  $(echo "$line" | awk -F'\t' '{printf "%s IOPS  p99 %s us", $1, $2}')" >&2
}

echo "rbd client bench  date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  cores: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(fio --version)  java: $(java -version 2>&1 | head -n1)"
echo "server: rbd-server --sync $SYNC, $SIZE sparse image in $tmp; per job and client: ${RAMP}s ramp + ${RUNTIME}s measured"

failed=0
start_rbd_server "$tmp/server.log" "$IMG" disk "$SYNC" || exit 1
URI=$SRV_URI
for job in $JOBS; do
  run_fio "$job" || failed=1
  run_rbd_cli "$job" || failed=1
done
stop_server

echo
python3 - "$RES" "$JOBS" <<'EOF'
import sys
rows = {}
for line in open(sys.argv[1]):
    job, client, iops, p99 = line.rstrip("\n").split("\t")
    rows[(job, client)] = (float(iops), float(p99))
fmt = "%-28s %10s %13s %12s %12s %15s"
print(fmt % ("pattern", "fio IOPS", "rbd-cli IOPS", "rbd-cli/fio", "fio p99 us", "rbd-cli p99 us"))
for job in sys.argv[2].split():
    f, r = rows.get((job, "fio")), rows.get((job, "rbd-cli"))
    ratio = "%.2f" % (r[0] / f[0]) if f and r and f[0] else "-"
    print(fmt % (job, "%.0f" % f[0] if f else "-", "%.0f" % r[0] if r else "-", ratio,
                 "%.0f" % f[1] if f else "-", "%.0f" % r[1] if r else "-"))
EOF
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ $failed -eq 0 ] || { echo "client-bench: some runs failed (see messages above)" >&2; exit 1; }
