#!/usr/bin/env bash
# Benchmark: fio's nbd engine against rbd-server and, in the same run, against
# nbdkit's file plugin serving the same preallocated image, over loopback TCP.
#
#   durable mode: rbd-server --sync always   vs  nbdkit --filter=fua file IMG fuamode=force
#   flush mode:   rbd-server --sync flush    vs  nbdkit file IMG
#
# Jobs (each --time_based for BENCH_RUNTIME seconds after BENCH_RAMP seconds
# of ramp-up, --output-format=json):
#   randread-4k-qd32, randwrite-4k-qd32, seqread-1m-qd8, seqwrite-1m-qd8,
#   randread-4k-qd32-4conn (4 fio jobs, each its own NBD connection)
#
# Usage: scripts/bench.sh [--json FILE] [--modes "durable flush"] [--jobs "..."]
# Environment:
#   BENCH_RUNTIME   seconds per job (default 10)
#   BENCH_RAMP      ramp-up seconds per job, not measured (default 2)
#   BENCH_WARMUP    seconds of unmeasured mixed I/O after each server start,
#                   before its first job (JIT warm-up; both servers get it;
#                   default 10, 0 disables)
#   BENCH_JSON      results file (same as --json; default
#                   ${TMPDIR:-/tmp}/rbd-bench-YYYYmmdd-HHMMSS.json)
#   BENCH_DIR       where the temp dir with the 1 GiB image goes
#                   (default ${TMPDIR:-/tmp}); pick the file system to measure
#   BENCH_SIZE      image size (default 1G)
#   BENCH_KEEP=1    keep the temp dir (raw fio JSON, server logs)
#   RBD_SERVER      server launcher (default scripts/rbd-server)
#
# Exit status: 0 ok, 1 a server or fio run failed, 2 usage/build problem,
# 77 skipped because fio (with the nbd engine) or nbdkit is missing.
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
RBD=${RBD_SERVER:-$here/rbd-server}
LOG_PREFIX=bench
. "$here/lib/processes.sh"
RUNTIME=${BENCH_RUNTIME:-10}
RAMP=${BENCH_RAMP:-2}
WARMUP=${BENCH_WARMUP:-10}
SIZE=${BENCH_SIZE:-1G}
JSON_OUT=${BENCH_JSON:-}
MODES="durable flush"
ALL_JOBS="randread-4k-qd32 randwrite-4k-qd32 seqread-1m-qd8 seqwrite-1m-qd8 randread-4k-qd32-4conn"
JOBS=$ALL_JOBS

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
while [ $# -gt 0 ]; do
  case $1 in
    --json) JSON_OUT=${2:?--json needs a file}; shift 2 ;;
    --json=*) JSON_OUT=${1#--json=}; shift ;;
    --modes) MODES=${2:?}; shift 2 ;;
    --jobs) JOBS=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$JSON_OUT" ] || JSON_OUT=${TMPDIR:-/tmp}/rbd-bench-$(date +%Y%m%d-%H%M%S).json
case $JSON_OUT in /*) ;; *) JSON_OUT=$PWD/$JSON_OUT ;; esac

skip_all() {  # loud: on stdout and stderr
  echo "SKIP bench: $*"
  echo "SKIP bench: $*" >&2
  exit 77
}
missing=()
for t in fio nbdkit python3 java; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
[ ${#missing[@]} -eq 0 ] || skip_all "missing tool: ${missing[*]} -- nothing was measured"
fio --enghelp=nbd >/dev/null 2>&1 || skip_all "missing tool: this fio ($(fio --version)) has no nbd ioengine -- nothing was measured"
nbdkit file --dump-plugin >/dev/null 2>&1 || skip_all "missing tool: nbdkit's file plugin (nbdkit-plugin-file) -- nothing was measured"
nbdkit --filter=fua file --dump-plugin >/dev/null 2>&1 || skip_all "missing tool: nbdkit's fua filter -- nothing was measured"
if [ ! -x "$RBD" ]; then
  echo "bench: server launcher $RBD not found" >&2; exit 2
fi
if [ -z "${RBD_SERVER:-}" ] && ! ls "$here"/../rbd-server/target/rbd-server-*-all.jar >/dev/null 2>&1; then
  echo "bench: rbd-server is not built; run: (cd $(cd "$here/.." && pwd) && mvn -q -B -DskipTests package)" >&2
  exit 2
fi
for m in $MODES; do
  case $m in durable|flush) ;; *) echo "bench: unknown mode $m (durable, flush)" >&2; exit 2 ;; esac
done
for j in $JOBS; do
  case " $ALL_JOBS " in *" $j "*) ;; *) echo "bench: unknown job $j ($ALL_JOBS)" >&2; exit 2 ;; esac
done

tmp=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/rbd-bench.XXXXXX") || exit 2
IMG=$tmp/bench.img
RES=$tmp/results.tsv         # mode server job iops mbps p50 p99 (µs)
: >"$RES"
srv_pid=
srv_name=

cleanup() {
  [ -n "$srv_pid" ] && stop_pid "$srv_pid"
  srv_pid=
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

start_server() {
  local kind=$1 mode=$2 port log=$tmp/$1-$2.log attempt
  for attempt in 1 2 3; do
    port=$(free_port) || return 1
    if [ "$kind" = rbd ]; then
      local sync=always
      [ "$mode" = flush ] && sync=flush
      "$RBD" export "bench=$IMG" --sync "$sync" --listen "127.0.0.1:$port" >>"$log" 2>&1 &
      srv_pid=$!
      URI=nbd://127.0.0.1:$port/bench
    else
      if [ "$mode" = durable ]; then
        nbdkit -f --exit-with-parent -i 127.0.0.1 -p "$port" --filter=fua file "$IMG" fuamode=force >>"$log" 2>&1 &
      else
        nbdkit -f --exit-with-parent -i 127.0.0.1 -p "$port" file "$IMG" >>"$log" 2>&1 &
      fi
      srv_pid=$!
      URI=nbd://127.0.0.1:$port/
    fi
    srv_name=$kind
    wait_ready "$srv_pid" "$URI" && return 0
    stop_pid "$srv_pid"; srv_pid=
  done
  echo "bench: $kind ($mode) did not become ready; log:" >&2
  tail -n 20 "$log" >&2
  return 1
}

# rbd_mode_ok MODE: the running rbd-server is alive and exports with the sync
# policy MODE needs (checked before every write job).
rbd_mode_ok() {
  local want=always
  [ "$1" = flush ] && want=flush
  kill -0 "$srv_pid" 2>/dev/null || { echo "bench: rbd-server (pid $srv_pid) is not running" >&2; return 1; }
  grep -q "export 'bench':.* sync=$want" "$tmp/rbd-$1.log" && return 0
  echo "bench: rbd-server is not in --sync $want mode; its log says: $(grep "export 'bench'" "$tmp/rbd-$1.log")" >&2
  return 1
}

job_args() {  # job_args JOB -> fio arguments
  case $1 in
    randread-4k-qd32)       echo "--rw=randread --bs=4k --iodepth=32 --numjobs=1" ;;
    randwrite-4k-qd32)      echo "--rw=randwrite --bs=4k --iodepth=32 --numjobs=1" ;;
    seqread-1m-qd8)         echo "--rw=read --bs=1M --iodepth=8 --numjobs=1" ;;
    seqwrite-1m-qd8)        echo "--rw=write --bs=1M --iodepth=8 --numjobs=1" ;;
    randread-4k-qd32-4conn) echo "--rw=randread --bs=4k --iodepth=32 --numjobs=4" ;;
  esac
}

# warm_up: unmeasured 4k random read/write and 1M sequential read/write
# against $URI, WARMUP seconds in total.
warm_up() {
  local half=$(( (WARMUP + 1) / 2 ))
  [ "$WARMUP" -gt 0 ] || return 0
  (cd "$tmp" && timeout $((half + 60)) fio --name=warmup-4k --ioengine=nbd --uri="$URI" \
      --rw=randrw --bs=4k --iodepth=32 --size="$SIZE" --time_based --runtime="$half" \
      --output-format=json --output=/dev/null) >/dev/null 2>&1 &&
  (cd "$tmp" && timeout $((half + 60)) fio --name=warmup-1m --ioengine=nbd --uri="$URI" \
      --rw=rw --bs=1M --iodepth=8 --size="$SIZE" --time_based --runtime="$half" \
      --output-format=json --output=/dev/null) >/dev/null 2>&1 ||
  { echo "bench: warm-up fio against $URI failed" >&2; return 1; }
}

# run_job MODE SERVER JOB: one fio run against $URI, appends to $RES.
run_job() {
  local mode=$1 server=$2 job=$3 out=$tmp/fio-$1-$2-$3.json dir line
  case $job in *write*) dir=write ;; *) dir=read ;; esac
  if [ "$server" = rbd ] && [ $dir = write ]; then rbd_mode_ok "$mode" || return 1; fi
  # The nbd engine ignores --direct and friends; each fio job (numjobs)
  # opens its own NBD connection.
  # shellcheck disable=SC2046
  # Runs in $tmp so nothing fio might write lands in the caller's directory.
  if ! (cd "$tmp" && exec timeout $((RUNTIME + RAMP + 120)) fio --name="$job" --ioengine=nbd --uri="$URI" \
      $(job_args "$job") --size="$SIZE" --time_based --runtime="$RUNTIME" \
      --ramp_time="$RAMP" --group_reporting --randrepeat=0 --norandommap \
      --output-format=json --output="$out") >"$out.stderr" 2>&1; then
    echo "bench: fio $job on $server ($mode) failed: $(tail -n 3 "$out.stderr" "$out" 2>/dev/null | tr '\n' ' ')" >&2
    return 1
  fi
  line=$(python3 - "$out" "$dir" <<'EOF'
import json, sys
d = json.load(open(sys.argv[1]))
j = d["jobs"][0]
if j.get("error"):
    sys.exit("fio job error %s" % j["error"])
s = j[sys.argv[2]]
pct = s.get("clat_ns", {}).get("percentile", {})
p = lambda k: pct.get(k, 0) / 1000.0
print("%.0f\t%.1f\t%.0f\t%.0f" % (s["iops"], s["bw_bytes"] / 1e6, p("50.000000"), p("99.000000")))
EOF
  ) || { echo "bench: cannot parse $out" >&2; return 1; }
  printf '%s\t%s\t%s\t%s\n' "$mode" "$server" "$job" "$line" >>"$RES"
  printf '  %-8s %-8s %-24s %s\n' "$mode" "$server" "$job" "$(echo "$line" | awk -F'\t' '{printf "%s IOPS  %s MB/s  p50 %s us  p99 %s us", $1, $2, $3, $4}')" >&2
}

# ------------------------------------------------------------------ header --
cores=$(nproc)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
fstype=$(df -T "$tmp" 2>/dev/null | awk 'NR == 2 {print $2}')
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
echo "rbd bench  date: $started  cores: $cores  cpu: ${cpu:-?}"
echo "kernel: $(uname -r)  $(fio --version)  $(nbdkit --version | head -n1)  java: $(java -version 2>&1 | head -n1)"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $load_start"
echo "image: $SIZE preallocated, filled with random data, in $tmp ($fstype)"
echo "per server start: ${WARMUP}s unmeasured warm-up; per job: ${RAMP}s ramp + ${RUNTIME}s measured; loopback TCP; modes: $MODES"

# A preallocated image filled with data (reads then hit real blocks rather
# than unwritten extents; the file is in the page cache for both servers).
if ! fallocate -l "$SIZE" "$IMG" 2>/dev/null; then
  truncate -s "$SIZE" "$IMG" || exit 2
fi
img_bytes=$(stat -c %s "$IMG")
if ! dd if=/dev/urandom of="$IMG" bs=1M count=$((img_bytes / 1048576)) conv=notrunc,fsync status=none; then
  echo "bench: cannot fill $IMG" >&2; exit 2
fi

# -------------------------------------------------------------------- runs --
failed=0
for mode in $MODES; do
  for server in rbd nbdkit; do
    echo "== $mode: starting $server" >&2
    if ! start_server "$server" "$mode"; then failed=1; continue; fi
    [ "$server" = rbd ] && { rbd_mode_ok "$mode" || failed=1; }
    warm_up || failed=1
    for job in $JOBS; do
      run_job "$mode" "$server" "$job" || failed=1
    done
    stop_pid "$srv_pid"; srv_pid=
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ report --
python3 - "$RES" "$JSON_OUT" "$started" "$cores" "${cpu:-}" "$RUNTIME" "$RAMP" "$SIZE" "$fstype" \
  "$(fio --version)" "$(nbdkit --version | head -n1)" "$(java -version 2>&1 | head -n1)" "$load_end" "$JOBS" "$MODES" \
  "$WARMUP" "$load_start" <<'EOF'
import json, sys
(res, out, started, cores, cpu, runtime, ramp, size, fstype,
 fio_v, nbdkit_v, java_v, load_end, jobs, modes, warmup, load_start) = sys.argv[1:]
rows = {}
for line in open(res):
    mode, server, job, iops, mbps, p50, p99 = line.rstrip("\n").split("\t")
    rows[(mode, server, job)] = dict(iops=float(iops), mbps=float(mbps),
                                     p50_us=float(p50), p99_us=float(p99))
servers = {
    "durable": {"rbd": "rbd-server --sync always",
                "nbdkit": "nbdkit --filter=fua file IMG fuamode=force"},
    "flush": {"rbd": "rbd-server --sync flush", "nbdkit": "nbdkit file IMG"},
}
results = []
for mode in modes.split():
    print()
    print("mode %s: %s  vs  %s" % (mode, servers[mode]["rbd"], servers[mode]["nbdkit"]))
    hdr = ("job", "rbd IOPS", "rbd MB/s", "rbd p50/p99 us",
           "nbdkit IOPS", "nbdkit MB/s", "nbdkit p50/p99 us", "rbd/nbdkit")
    fmt = "%-24s %9s %9s %15s %11s %11s %17s %10s"
    print(fmt % hdr)
    for job in jobs.split():
        r, n = rows.get((mode, "rbd", job)), rows.get((mode, "nbdkit", job))
        def cols(x):
            if not x:
                return ("-", "-", "-")
            return ("%.0f" % x["iops"], "%.1f" % x["mbps"], "%.0f/%.0f" % (x["p50_us"], x["p99_us"]))
        ratio = "%.2f" % (r["iops"] / n["iops"]) if r and n and n["iops"] else "-"
        print(fmt % ((job,) + cols(r) + cols(n) + (ratio,)))
        results.append(dict(mode=mode, job=job, rbd=r, nbdkit=n,
                            ratio_iops=(r["iops"] / n["iops"]) if r and n and n["iops"] else None))
doc = dict(date=started, cores=int(cores), cpu=cpu, runtime_s=int(runtime), ramp_s=int(ramp),
           warmup_s=int(warmup), load_average_start=load_start,
           image_size=size, image_fs=fstype, fio=fio_v, nbdkit=nbdkit_v, java=java_v,
           load_average_end=load_end, servers=servers, results=results)
with open(out, "w") as f:
    json.dump(doc, f, indent=2)
print()
print("load average at start: %s, at end: %s" % (load_start, load_end))
print("results written to %s" % out)
EOF
[ $failed -eq 0 ] || { echo "bench: some runs failed (see messages above)" >&2; exit 1; }
