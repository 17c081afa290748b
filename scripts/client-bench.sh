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
# Then the transfer rows of issue 14, against a second rbd-server export with --sync always
# (durable, the default), reference and rbd alternating (the first of each pair swaps every
# round), medians over BENCH_ROUNDS rounds, each row with the target and met/MISSED:
#   copy-in    nbdcopy FILE URI vs rbd-cli copy FILE URI: a BENCH_COPY_SIZE random file into
#              the export, wall time including start-up; ratio = nbdcopy time / rbd-cli time
#              (target >= 1.0). Two random files take turns, and every copy is verified with
#              cmp of the export's image against its source: a wrong copy fails the run.
#   copy-out   nbdcopy URI OUT vs rbd-cli copy URI OUT, OUT removed before each copy and
#              compared with cmp after it (target >= 1.0).
#   info       nbdinfo URI vs rbd-cli info URI, wall time, median of BENCH_INFO_RUNS runs per
#              round (target >= 0.5).
#   seqread-1m-qd8, seqwrite-1m-qd8   fio's nbd engine vs rbd-cli bench, MB/s, one connection,
#              BENCH_RAMP s ramp + BENCH_SEQ_RUNTIME s measured (target >= 1.0).
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
#   BENCH_ROUNDS    rounds of the transfer rows (default 3); medians are printed
#   BENCH_COPY_SIZE size of the copied file and the durable export (default 1G)
#   BENCH_SEQ_RUNTIME  seconds measured per sequential bench job and client (default 5)
#   BENCH_INFO_RUNS runs of nbdinfo and of rbd-cli info per round (default 3)
#   BENCH_ONLY      basic or transfer: only those rows (default: both)
#
# Exit status: 0 ok, 1 a server, fio or rbd-cli run failed, 2 usage or not built,
# 77 skipped because fio (with the nbd engine), nbdcopy, nbdinfo, python3 or java is missing.
# A transfer row that misses its target is reported (MISSED), not an error.
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
root=$(cd "$here/.." && pwd)
LOG_PREFIX="client-bench"
RBD=$here/rbd-server
. "$here/lib/processes.sh"
. "$here/lib/servers.sh"
. "$here/lib/bench.sh"
RUNTIME=${BENCH_RUNTIME:-10}
RAMP=${BENCH_RAMP:-2}
SIZE=${BENCH_SIZE:-1G}
SYNC=${BENCH_SYNC:-flush}
ROUNDS=${BENCH_ROUNDS:-3}
COPY_SIZE=${BENCH_COPY_SIZE:-1G}
SEQ_RUNTIME=${BENCH_SEQ_RUNTIME:-5}
INFO_RUNS=${BENCH_INFO_RUNS:-3}
ONLY=${BENCH_ONLY:-}
JOBS="randread-4k-qd32 randwrite-4k-qd32"
[ "$SYNC" = flush ] && JOBS="$JOBS randwrite-4k-qd32-flush8m"

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
case ${1:-} in
  -h|--help) usage; exit 0 ;;
  "") ;;
  *) echo "client-bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
esac
case $SYNC in always|flush) ;; *) echo "client-bench: BENCH_SYNC must be always or flush, not '$SYNC'" >&2; exit 2 ;; esac
case $ONLY in ''|basic|transfer) ;; *) echo "client-bench: BENCH_ONLY must be basic or transfer, not '$ONLY'" >&2; exit 2 ;; esac
for v in "$RUNTIME" "$RAMP" "$ROUNDS" "$SEQ_RUNTIME" "$INFO_RUNS"; do
  case $v in ''|*[!0-9]*) echo "client-bench: BENCH_RUNTIME, BENCH_RAMP, BENCH_ROUNDS, BENCH_SEQ_RUNTIME and BENCH_INFO_RUNS are whole numbers, not '$v'" >&2; exit 2 ;; esac
done
for v in "$RUNTIME" "$ROUNDS" "$SEQ_RUNTIME" "$INFO_RUNS"; do
  [ "$v" -gt 0 ] || { echo "client-bench: BENCH_RUNTIME, BENCH_ROUNDS, BENCH_SEQ_RUNTIME and BENCH_INFO_RUNS must be more than 0" >&2; exit 2; }
done
case $COPY_SIZE in [1-9]*[GMK]|[1-9]*) ;; *) echo "client-bench: BENCH_COPY_SIZE must be a size like 1G or 256M, not '$COPY_SIZE'" >&2; exit 2 ;; esac

require_tools fio python3 java nbdcopy nbdinfo cmp
require_built rbd-server rbd-cli

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

# now_ns: the clock in nanoseconds.
now_ns() { date +%s%N; }

# timed KIND LABEL COMMAND...: runs COMMAND (output to $tmp/LABEL.log), appends "KIND SECONDS" to $TRES.
timed() {
  local kind=$1 label=$2 t0 t1 secs
  shift 2
  t0=$(now_ns)
  if ! timeout 600 "$@" >"$tmp/$label.log" 2>&1; then
    echo "client-bench: $label failed: $(tail -n 3 "$tmp/$label.log" | tr '\n' ' ' | cut -c1-400)" >&2
    return 1
  fi
  t1=$(now_ns)
  secs=$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.3f", (b - a) / 1e9}')
  printf '%s\t%s\n' "$kind" "$secs" >>"$TRES"
  echo "  $label  ${secs}s" >&2
}

# same LABEL A B: a copy is a failure unless A and B are equal.
same() {
  if ! cmp -s "$2" "$3"; then
    echo "client-bench: $1: $2 and $3 differ after the copy: $(cmp "$2" "$3" 2>&1 | head -n1)" >&2
    return 1
  fi
}

# copy_in CLIENT LABEL SRC: copies SRC into the durable export and checks the export's image against it.
copy_in() {
  local client=$1 label=$2 src=$3
  case $client in
    ref) timed copy-in.ref "copy-in-nbdcopy-$label" nbdcopy "$src" "$DURI" || return 1 ;;
    rbd) timed copy-in.rbd "copy-in-rbd-cli-$label" "$here/rbd-cli" copy -q "$src" "$DURI" || return 1 ;;
  esac
  same "copy-in $client $label" "$src" "$DIMG"
}

# copy_out CLIENT LABEL EXPECTED: copies the durable export to a fresh file and compares it with EXPECTED.
copy_out() {
  local client=$1 label=$2 want=$3 out=$tmp/out.img
  rm -f "$out"
  case $client in
    ref) timed copy-out.ref "copy-out-nbdcopy-$label" nbdcopy "$DURI" "$out" || return 1 ;;
    rbd) timed copy-out.rbd "copy-out-rbd-cli-$label" "$here/rbd-cli" copy -q "$DURI" "$out" || return 1 ;;
  esac
  same "copy-out $client $label" "$want" "$out" || return 1
  rm -f "$out"
}

# info_runs CLIENT LABEL: BENCH_INFO_RUNS timed runs of nbdinfo or rbd-cli info.
info_runs() {
  local client=$1 label=$2 i
  for ((i = 0; i < INFO_RUNS; i++)); do
    case $client in
      ref) timed info.ref "info-nbdinfo-$label-$i" nbdinfo "$DURI" || return 1 ;;
      rbd) timed info.rbd "info-rbd-cli-$label-$i" "$here/rbd-cli" info "$DURI" || return 1 ;;
    esac
  done
}

# seq_bench CLIENT LABEL JOB: fio or rbd-cli bench, 1 MiB sequential at QD8 over one connection; MB/s to $TRES.
seq_bench() {
  local client=$1 label=$2 job=$3 rw out mbs
  case $job in seqread-*) rw="read" ;; *) rw="write" ;; esac
  out=$tmp/$job-$client-$label.json
  if [ "$client" = ref ]; then
    fio_run "$out" $((SEQ_RUNTIME + RAMP)) --name="$job" --ioengine=nbd --uri="$DURI" --rw="$rw" --bs=1M \
        --iodepth=8 --numjobs=1 --time_based --runtime="$SEQ_RUNTIME" --ramp_time="$RAMP" --group_reporting ||
      return 1
    mbs=$(fio_figures "$out" "$rw" | cut -f2) || { echo "client-bench: cannot parse $out" >&2; return 1; }
  else
    if ! timeout $((SEQ_RUNTIME + RAMP + 120)) "$here/rbd-cli" bench "$DURI" --pattern "$rw" --bs 1M --qd 8 \
        --connections 1 --duration "${SEQ_RUNTIME}s" --ramp "${RAMP}s" --force --json >"$out" 2>"$out.stderr"; then
      echo "client-bench: rbd-cli $job failed: $(tail -n 3 "$out.stderr" | tr '\n' ' ')" >&2
      return 1
    fi
    mbs=$(python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["mb_per_s"])' "$out") ||
      { echo "client-bench: cannot parse $out" >&2; return 1; }
  fi
  printf '%s.%s\t%s\n' "$job" "$client" "$mbs" >>"$TRES"
  echo "  round $label  $job  $client  $mbs MB/s" >&2
}

# transfer_round ROUND: every transfer row once, reference and rbd in this round's order.
transfer_round() {
  local round=$1 order="ref rbd" c job
  [ $((round % 2)) -eq 1 ] || order="rbd ref"
  for c in $order; do
    # the sources take turns, so a copy that did nothing cannot pass the check
    if [ "$LAST" = "$tmp/src-a.bin" ]; then LAST=$tmp/src-b.bin; else LAST=$tmp/src-a.bin; fi
    copy_in "$c" "$round" "$LAST" || return 1
  done
  for c in $order; do copy_out "$c" "$round" "$LAST" || return 1; done
  for c in $order; do info_runs "$c" "$round" || return 1; done
  for job in seqread-1m-qd8 seqwrite-1m-qd8; do
    for c in $order; do seq_bench "$c" "$round" "$job" || return 1; done
  done
  # the seqwrite jobs wrote their own data: a known file back (unmeasured) for the next round's copy-out
  TRES=$tmp/warmup.tsv copy_in ref "$round-restore" "$LAST" || return 1
}

echo "rbd client bench  date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  cores: $(nproc)  load: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "$(fio --version)  java: $(java -version 2>&1 | head -n1)  $(nbdcopy --version 2>/dev/null | head -n1)"

failed=0
if [ "$ONLY" != transfer ]; then
  echo "server: rbd-server --sync $SYNC, $SIZE sparse image in $tmp; per job and client: ${RAMP}s ramp + ${RUNTIME}s measured"
  truncate -s "$SIZE" "$IMG" || exit 2
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
fi

if [ "$ONLY" != basic ]; then
  DIMG=$tmp/durable.img
  TRES=$tmp/transfer.tsv   # row.client value
  : >"$TRES"
  echo
  echo "transfer rows: rbd-server --sync always, $COPY_SIZE image; $ROUNDS round(s), reference and rbd alternating;" \
    "seq jobs ${RAMP}s ramp + ${SEQ_RUNTIME}s measured"
  for f in src-a src-b; do
    head -c "$COPY_SIZE" /dev/urandom >"$tmp/$f.bin" || { echo "client-bench: cannot write $tmp/$f.bin" >&2; exit 2; }
  done
  truncate -s "$(stat -c %s "$tmp/src-a.bin")" "$DIMG" || exit 2
  if start_rbd_server "$tmp/durable-server.log" "$DIMG" durable always; then
    DURI=$SRV_URI
    # unmeasured: the image's blocks allocated and both sources in the page cache before any figure
    LAST=$tmp/src-a.bin
    TRES=$tmp/warmup.tsv copy_in ref warmup-b "$tmp/src-b.bin" &&
      TRES=$tmp/warmup.tsv copy_in ref warmup-a "$LAST" || failed=1
    for ((round = 1; round <= ROUNDS && failed == 0; round++)); do
      transfer_round "$round" || failed=1
    done
    stop_server
  else
    failed=1
  fi
  echo
  python3 - "$TRES" <<'EOF'
import statistics, sys
v = {}
for line in open(sys.argv[1]):
    k, x = line.split("\t")
    v.setdefault(k, []).append(float(x))
# row, unit, ratio as reference/rbd (times) or rbd/reference (rates), target
rows = [("copy-in", "s", "time", 1.0), ("copy-out", "s", "time", 1.0), ("info", "s", "time", 0.5),
        ("seqread-1m-qd8", "MB/s", "rate", 1.0), ("seqwrite-1m-qd8", "MB/s", "rate", 1.0)]
fmt = "%-16s %-5s %10s %10s %6s %7s  %s"
print(fmt % ("row", "unit", "reference", "rbd", "ratio", "target", ""))
for name, unit, kind, target in rows:
    ref, rbd = v.get(name + ".ref"), v.get(name + ".rbd")
    if not ref or not rbd:
        print(fmt % (name, unit, "-", "-", "-", ">= %.1f" % target, "not measured"))
        continue
    r, b = statistics.median(ref), statistics.median(rbd)
    ratio = r / b if kind == "time" else b / r
    cell = (lambda x: "%.3f" % x) if unit == "s" else (lambda x: "%.0f" % x)
    print(fmt % (name, unit, cell(r), cell(b), "%.2f" % ratio, ">= %.1f" % target,
                 ("met" if ratio >= target else "MISSED")))
print("medians; ratio = reference time / rbd time, or rbd MB/s / reference MB/s (above 1.0 rbd is faster)")
print("references: nbdcopy (copy-in, copy-out), nbdinfo (info), fio --ioengine=nbd (seq*); every figure:")
for name, *_ in rows:
    if v.get(name + ".ref") or v.get(name + ".rbd"):
        print("  %-16s reference %s | rbd %s" % (name, " ".join("%g" % x for x in v.get(name + ".ref", [])),
                                                  " ".join("%g" % x for x in v.get(name + ".rbd", []))))
EOF
fi
echo "load at end: $(cut -d' ' -f1-3 /proc/loadavg)"
[ $failed -eq 0 ] || { echo "client-bench: some runs failed (see messages above)" >&2; exit 1; }
