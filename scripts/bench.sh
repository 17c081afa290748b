#!/usr/bin/env bash
# Benchmark: fio's nbd engine over loopback TCP against rbd-server and, in the same run, against nbdkit,
# nbd-server and qemu-nbd serving the same preallocated, random-filled image. Each server is started fresh
# per mode and stopped by its PID:
#
#   durable (a write reply means stable storage):
#     rbd-server --sync always | nbdkit --filter=fua file IMG fuamode=force
#     nbd-server with sync = true | qemu-nbd --cache=writethrough
#   flush (durable at FLUSH/FUA only, NBD's default):
#     rbd-server --sync flush | nbdkit file IMG | nbd-server (defaults) | qemu-nbd (cache=writeback)
#   (nbd-server also gets flush = true and fua = true in both modes, so clients may flush.)
#   tls (as flush, every connection inside TLS 1.3, the same certificates for every server, made with
#   scripts/make-pki.sh; fio connects to nbds://localhost:PORT/):
#     rbd-server --sync flush --tls require | nbdkit --tls=require file IMG |
#     qemu-nbd with a tls-creds-x509 object (nbd-server is not measured in this mode)
#     BENCH_TLS_ENGINE=jdk|openssl picks rbd-server's TLS engine (default: its own choice, BoringSSL).
#
# Parts of a run (--parts, default all):
#   jobs       every server: randread-4k-qd32, randwrite-4k-qd32, seqread-1m-qd8,
#              seqwrite-1m-qd8, randread-4k-qd32-4conn (4 fio jobs, each its own NBD
#              connection); BENCH_RAMP s ramp + BENCH_RUNTIME s measured each. The table has
#              IOPS, MB/s, p50/p99 per server, rbd/nbdkit, rbd/best of the three others, and
#              the performance targets (met/MISSED).
#   disk       the raw disk for reference: fio straight on the image file, random 4k writes
#              with an fdatasync after every write, after every 32, and libaio O_DIRECT
#              QD32 with an fdatasync after every 32; how close rbd's durable
#              randwrite-4k-qd32 gets to one fdatasync per 32 writes.
#   resources  randread-4k-64conn (64 fio jobs, each its own NBD connection, 4 in flight
#              each) against rbd-server and nbdkit in flush mode (else the first mode),
#              sampling the server's RSS and CPU, and for rbd-server the Java heap (jstat).
#   sweep      randread 4k (flush mode) and randwrite 4k (durable mode) at queue depths
#              1..64, rbd and nbdkit (not in tls mode), BENCH_SWEEP_RAMP + BENCH_SWEEP_RUNTIME s per point;
#              scripts/bench-chart.sh draws it from the JSON.
# A default run (all parts, default times) takes about 18 minutes on 2 cores, 15 without the sweep;
# --estimate tells for any choice of options and knobs.
#
# Usage: scripts/bench.sh [--json FILE] [--modes "durable flush tls"] [--jobs "JOB..."]
#                         [--servers "rbd nbdkit nbd-server qemu-nbd"]
#                         [--parts "jobs disk resources sweep"] [--sweep | --no-sweep]
#                         [--estimate]
#   --sweep runs only the sweep (--parts sweep), --no-sweep all but the sweep.
#   --estimate prints how long the run would take, and runs nothing.
# Environment:
#   BENCH_RUNTIME        seconds measured per job (default 10)
#   BENCH_RAMP           ramp-up seconds per job, not measured (default 2)
#   BENCH_WARMUP         seconds of unmeasured mixed I/O after each server start, before its
#                        first job (JIT warm-up; every server gets it; default 10, 0 disables)
#   BENCH_SWEEP_RUNTIME  seconds measured per sweep point (default 5)
#   BENCH_SWEEP_RAMP     ramp-up seconds per sweep point (default 1)
#   BENCH_SWEEP_QDS      sweep queue depths (default "1 2 4 8 16 32 64")
#   BENCH_JSON           results file (same as --json; default
#                        ${TMPDIR:-/tmp}/rbd-bench-YYYYmmdd-HHMMSS.json); the tables also go,
#                        as Markdown, to the same name with .md
#   BENCH_DIR            where the temp dir with the image goes (default ${TMPDIR:-/tmp});
#                        pick the file system to measure
#   BENCH_SIZE           image size (default 1G)
#   BENCH_KEEP=1         keep the temp dir (raw fio JSON, server logs, samples)
#   RBD_SERVER           server launcher (default scripts/rbd-server)
#   BENCH_TLS_ENGINE     rbd-server's TLS engine in tls mode: jdk or openssl (default: rbd-server's choice)
# nbd-server or qemu-nbd missing: their columns say SKIPPED (loudly, also in the JSON).
#
# Exit status: 0 ok (whether or not the targets are met), 1 a server or fio run failed,
# 2 usage/build problem, 77 skipped because fio (with the nbd engine) or nbdkit is missing.
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
RBD=${RBD_SERVER:-$here/rbd-server}
LOG_PREFIX=bench
. "$here/lib/processes.sh"
. "$here/lib/servers.sh"
. "$here/lib/bench.sh"
RUNTIME=${BENCH_RUNTIME:-10}
RAMP=${BENCH_RAMP:-2}
WARMUP=${BENCH_WARMUP:-10}
SWEEP_RUNTIME=${BENCH_SWEEP_RUNTIME:-5}
SWEEP_RAMP=${BENCH_SWEEP_RAMP:-1}
SWEEP_QDS=${BENCH_SWEEP_QDS:-1 2 4 8 16 32 64}
SIZE=${BENCH_SIZE:-1G}
JSON_OUT=${BENCH_JSON:-}
MODES="durable flush tls"
TLS_ENGINE=${BENCH_TLS_ENGINE:-}
ALL_JOBS="randread-4k-qd32 randwrite-4k-qd32 seqread-1m-qd8 seqwrite-1m-qd8 randread-4k-qd32-4conn"
JOBS=$ALL_JOBS
ALL_SERVERS="rbd nbdkit nbd-server qemu-nbd"
SERVERS=$ALL_SERVERS
ALL_PARTS="jobs disk resources sweep"
PARTS=$ALL_PARTS
ESTIMATE_ONLY=0
RES_JOB=randread-4k-64conn

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
die_usage() { echo "bench: $*" >&2; exit 2; }
while [ $# -gt 0 ]; do
  case $1 in
    --json) JSON_OUT=${2:?--json needs a file}; shift 2 ;;
    --json=*) JSON_OUT=${1#--json=}; shift ;;
    --modes) MODES=${2:?--modes needs a list}; shift 2 ;;
    --jobs) JOBS=${2:?--jobs needs a list}; shift 2 ;;
    --servers) SERVERS=${2:?--servers needs a list}; shift 2 ;;
    --parts) PARTS=${2:?--parts needs a list}; shift 2 ;;
    --sweep) PARTS=sweep; shift ;;
    --no-sweep) PARTS="jobs disk resources"; shift ;;
    --estimate) ESTIMATE_ONLY=1; shift ;;
    -h|--help) usage; exit 0 ;;
    *) echo "bench: unknown argument: $1" >&2; usage >&2; exit 2 ;;
  esac
done
[ -n "$JSON_OUT" ] || JSON_OUT=${TMPDIR:-/tmp}/rbd-bench-$(date +%Y%m%d-%H%M%S).json
case $JSON_OUT in /*) ;; *) JSON_OUT=$PWD/$JSON_OUT ;; esac
MD_OUT=${JSON_OUT%.json}.md

# in_list WORD LIST: WORD is one of the words of LIST.
in_list() { case " $2 " in *" $1 "*) return 0 ;; esac; return 1; }
# check_list WHAT LIST ALLOWED: every word of LIST is ALLOWED, in ALLOWED's order (prints that).
check_list() {
  local w out=
  for w in $2; do in_list "$w" "$3" || die_usage "unknown $1 '$w' (one of: $3)"; done
  for w in $3; do in_list "$w" "$2" && out="$out $w"; done
  [ -n "$out" ] || die_usage "no $1 selected (one of: $3)"
  echo "${out# }"
}
MODES=$(check_list mode "$MODES" "durable flush tls") || exit 2
case $TLS_ENGINE in ''|jdk|openssl) ;; *) die_usage "BENCH_TLS_ENGINE must be jdk or openssl, not '$TLS_ENGINE'" ;; esac
JOBS=$(check_list job "$JOBS" "$ALL_JOBS") || exit 2
SERVERS=$(check_list server "$SERVERS" "$ALL_SERVERS") || exit 2
PARTS=$(check_list part "$PARTS" "$ALL_PARTS") || exit 2
for v in RUNTIME RAMP WARMUP SWEEP_RUNTIME SWEEP_RAMP; do
  case ${!v} in ''|*[!0-9]*) die_usage "BENCH_$v must be whole seconds, not '${!v}'" ;; esac
done
[ "$RUNTIME" -gt 0 ] || die_usage "BENCH_RUNTIME must be more than 0"
[ "$SWEEP_RUNTIME" -gt 0 ] || die_usage "BENCH_SWEEP_RUNTIME must be more than 0"
for q in $SWEEP_QDS; do
  case $q in ''|*[!0-9]*|0) die_usage "BENCH_SWEEP_QDS are queue depths (1, 2, ...), not '$q'" ;; esac
done
# The resource job runs in flush mode (the first selected mode without it).
RES_MODE=flush
in_list flush "$MODES" || RES_MODE=${MODES%% *}
# The queue-depth sweep runs in the durable and flush modes only.
sweep_mode() { [ "$1" != tls ]; }

needed=(fio python3)
in_list rbd "$SERVERS" && needed+=(java)
in_list nbdkit "$SERVERS" && needed+=(nbdkit)
require_tools "${needed[@]}"
if in_list nbdkit "$SERVERS"; then
  nbdkit file --dump-plugin >/dev/null 2>&1 || skip_all "missing tool: nbdkit's file plugin (nbdkit-plugin-file) -- nothing was measured"
  nbdkit --filter=fua file --dump-plugin >/dev/null 2>&1 || skip_all "missing tool: nbdkit's fua filter -- nothing was measured"
fi
if in_list rbd "$SERVERS"; then
  [ -x "$RBD" ] || { echo "bench: server launcher $RBD not found" >&2; exit 2; }
  if [ -z "${RBD_SERVER:-}" ] && ! ls "$here"/../rbd-server/target/rbd-server-*-all.jar >/dev/null 2>&1; then
    echo "bench: rbd-server is not built; run: (cd $(cd "$here/.." && pwd) && mvn -q -B -DskipTests package)" >&2
    exit 2
  fi
fi
# The other servers are optional: a missing one is reported as SKIPPED.
declare -A missing_server=()
command -v nbd-server >/dev/null 2>&1 || missing_server[nbd-server]="not installed (Debian: apt-get install nbd-server)"
command -v qemu-nbd >/dev/null 2>&1 || missing_server[qemu-nbd]="not installed (Debian: apt-get install qemu-utils)"
# skipped_in MODE SERVER: why SERVER is not measured in MODE, if it is not (else nothing).
skipped_in() {
  if [ -n "${missing_server[$2]:-}" ]; then
    echo "${missing_server[$2]}"
  elif [ "$1" = tls ] && [ "$2" = nbd-server ]; then
    echo "not measured with TLS"
  elif [ "$1" = tls ] && [ -n "$no_pki" ]; then
    echo "$no_pki"
  fi
}
no_pki=
if in_list tls "$MODES" && ! command -v certtool >/dev/null 2>&1; then
  no_pki="certtool not installed, no certificates for TLS (Debian: apt-get install gnutls-bin)"
fi

# estimate_seconds: how long this run should take: the measured and ramp seconds plus what each fio run
# (about 1.2 s) and server start (about 2 s) cost besides, as measured on a 2-core machine.
estimate_seconds() {
  local mode server n_jobs n_qds t=0   # tenths of a second
  n_jobs=$(echo "$JOBS" | wc -w)
  n_qds=$(echo "$SWEEP_QDS" | wc -w)
  local bytes
  bytes=$(numfmt --from=iec "$SIZE" 2>/dev/null || numfmt --from=iec-i "$SIZE" 2>/dev/null || echo 1073741824)
  t=$((bytes / 1048576 / 20))          # filling the image, about 200 MiB/s
  in_list disk "$PARTS" && t=$((t + 5 * ((RUNTIME + RAMP) * 10 + 12)))
  for mode in $MODES; do
    for server in $SERVERS; do
      [ -n "$(skipped_in "$mode" "$server")" ] && continue
      local started=0
      if in_list jobs "$PARTS"; then started=1; t=$((t + n_jobs * ((RUNTIME + RAMP) * 10 + 12))); fi
      if in_list "$server" "rbd nbdkit"; then
        if in_list resources "$PARTS" && [ "$mode" = "$RES_MODE" ]; then
          started=1; t=$((t + (RUNTIME + RAMP) * 10 + 40))
        fi
        if in_list sweep "$PARTS" && sweep_mode "$mode"; then
          started=1; t=$((t + n_qds * ((SWEEP_RUNTIME + SWEEP_RAMP) * 10 + 12)))
        fi
      fi
      [ $started = 1 ] && t=$((t + 20 + WARMUP * 10 + 24))
    done
  done
  echo $(((t + 5) / 10))
}

if [ "$ESTIMATE_ONLY" = 1 ]; then
  est=$(estimate_seconds)
  echo "expected duration: about $((est / 60)) min $((est % 60)) s (modes: $MODES; servers: $SERVERS; parts: $PARTS)"
  exit 0
fi

tmp=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/rbd-bench.XXXXXX") || exit 2
IMG=$tmp/bench.img
RES=$tmp/results.tsv         # mode server job iops mbps p50 p99 (µs)
STATUS=$tmp/servers.tsv      # mode server status reason description
RAW=$tmp/disk.tsv            # name iops mbps p50 p99 sync_p50 sync_p99 fio-options
RESOURCES=$tmp/resources.tsv # mode server job key=value...
SWEEP=$tmp/sweep.tsv         # mode workload server qd iops mbps p50 p99
: >"$RES"; : >"$STATUS"; : >"$RAW"; : >"$RESOURCES"; : >"$SWEEP"
bg_pids=()                   # samplers running during the resource job

cleanup() {
  local p
  for p in "${bg_pids[@]}"; do stop_pid "$p"; done
  stop_server
  if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# server_desc MODE SERVER: how SERVER runs in MODE (for the report); start_server is the same in code.
server_desc() {
  case $1/$2 in
    durable/rbd)        echo "rbd-server export --sync always" ;;
    flush/rbd)          echo "rbd-server export --sync flush" ;;
    durable/nbdkit)     echo "nbdkit --filter=fua file IMG fuamode=force" ;;
    flush/nbdkit)       echo "nbdkit file IMG" ;;
    durable/nbd-server) echo "nbd-server, export with sync = true, flush = true, fua = true" ;;
    flush/nbd-server)   echo "nbd-server, export with flush = true, fua = true" ;;
    durable/qemu-nbd)   echo "qemu-nbd -f raw -t -e 128 --cache=writethrough IMG" ;;
    flush/qemu-nbd)     echo "qemu-nbd -f raw -t -e 128 IMG (cache=writeback, aio=threads)" ;;
    tls/rbd)            echo "rbd-server export --sync flush --tls require --tls-certificates PKI (engine: ${TLS_ENGINE:-default})" ;;
    tls/nbdkit)         echo "nbdkit --tls=require --tls-certificates=PKI file IMG" ;;
    tls/qemu-nbd)       echo "qemu-nbd -f raw -t -e 128 --object tls-creds-x509,dir=PKI,endpoint=server,verify-peer=off --tls-creds IMG" ;;
  esac
}

# start_server SERVER MODE: sets SRV_PID, SRV_URI.
start_server() {
  local log=$tmp/$1-$2.log
  case $2/$1 in
    durable/rbd)        start_rbd_server "$log" "$IMG" bench always ;;
    flush/rbd)          start_rbd_server "$log" "$IMG" bench flush ;;
    durable/nbdkit)     start_nbdkit "$log" --filter=fua file "$IMG" fuamode=force ;;
    flush/nbdkit)       start_nbdkit "$log" file "$IMG" ;;
    durable/nbd-server) start_nbd_server "$log" "$IMG" bench "$tmp" "sync = true" "flush = true" "fua = true" ;;
    flush/nbd-server)   start_nbd_server "$log" "$IMG" bench "$tmp" "flush = true" "fua = true" ;;
    durable/qemu-nbd)   start_qemu_nbd "$log" "$IMG" bench --cache=writethrough ;;
    flush/qemu-nbd)     start_qemu_nbd "$log" "$IMG" bench ;;
    tls/rbd)
      RBD_JAVA_OPTS="${RBD_JAVA_OPTS:-}${TLS_ENGINE:+ -Drbd.tls.provider=$TLS_ENGINE}" SRV_TLS=1 \
        start_rbd_server "$log" "$IMG" bench flush --tls require --tls-certificates "$PKI" ;;
    tls/nbdkit)         SRV_TLS=1 start_nbdkit "$log" --tls=require --tls-certificates="$PKI" file "$IMG" ;;
    tls/qemu-nbd)
      SRV_TLS=1 start_qemu_nbd "$log" "$IMG" bench --object "tls-creds-x509,id=tls0,dir=$PKI,endpoint=server,verify-peer=off" \
        --tls-creds tls0 ;;
  esac
}

# rbd_mode_ok MODE: the running rbd-server is alive and exports with the sync
# policy MODE needs (checked before every write job).
rbd_mode_ok() {
  local want=always
  [ "$1" = durable ] || want=flush
  kill -0 "$SRV_PID" 2>/dev/null || { echo "bench: rbd-server (pid $SRV_PID) is not running" >&2; return 1; }
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
    randread-4k-64conn)     echo "--rw=randread --bs=4k --iodepth=4 --numjobs=64" ;;
    sweep-randread-4k-qd*)  echo "--rw=randread --bs=4k --iodepth=${1#sweep-randread-4k-qd} --numjobs=1" ;;
    sweep-randwrite-4k-qd*) echo "--rw=randwrite --bs=4k --iodepth=${1#sweep-randwrite-4k-qd} --numjobs=1" ;;
  esac
}

# warm_up: unmeasured 4k random read/write and 1M sequential read/write
# against $SRV_URI, WARMUP seconds in total.
warm_up() {
  local half=$(( (WARMUP + 1) / 2 ))
  [ "$WARMUP" -gt 0 ] || return 0
  # shellcheck disable=SC2015 # the message is for either run failing
  fio_run "$tmp/warmup-4k.json" "$half" --name=warmup-4k --ioengine=nbd --uri="$SRV_URI" \
      --rw=randrw --bs=4k --iodepth=32 --size="$SIZE" --time_based --runtime="$half" &&
  fio_run "$tmp/warmup-1m.json" "$half" --name=warmup-1m --ioengine=nbd --uri="$SRV_URI" \
      --rw=rw --bs=1M --iodepth=8 --size="$SIZE" --time_based --runtime="$half" ||
  { echo "bench: warm-up fio against $SRV_URI failed" >&2; return 1; }
}

# fio_nbd MODE SERVER JOB RUNTIME RAMP: one fio run of JOB against $SRV_URI; prints its figures
# (fio_figures) and keeps its JSON as $tmp/fio-MODE-SERVER-JOB.json.
fio_nbd() {
  local mode=$1 server=$2 job=$3 out=$tmp/fio-$1-$2-$3.json dir
  case $job in *write*) dir='write' ;; *) dir='read' ;; esac
  if [ "$server" = rbd ] && [ $dir = write ]; then rbd_mode_ok "$mode" || return 1; fi
  # The nbd engine ignores --direct and friends; each fio job (numjobs)
  # opens its own NBD connection.
  # shellcheck disable=SC2046
  fio_run "$out" $(($4 + $5)) --name="$job" --ioengine=nbd --uri="$SRV_URI" \
      $(job_args "$job") --size="$SIZE" --time_based --runtime="$4" \
      --ramp_time="$5" --group_reporting --randrepeat=0 --norandommap || return 1
  fio_figures "$out" $dir || { echo "bench: cannot parse $out" >&2; return 1; }
}

# show_figures LINE: fio_figures' output for humans.
show_figures() {
  echo "$1" | awk -F'\t' '{printf "%s IOPS  %s MB/s  p50 %s us  p99 %s us", $1, $2, $3, $4}'
}

# run_job MODE SERVER JOB: appends to $RES.
run_job() {
  local line
  line=$(fio_nbd "$1" "$2" "$3" "$RUNTIME" "$RAMP") || return 1
  printf '%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$(echo "$line" | cut -f1-4)" >>"$RES"
  printf '  %-8s %-10s %-24s %s\n' "$1" "$2" "$3" "$(show_figures "$line")" >&2
}

# run_disk NAME FIO_OPTIONS: writes with fio straight on the image file (no server), appends to $RAW.
run_disk() {
  local name=$1 opts=$2 out=$tmp/disk-$1.json line
  # shellcheck disable=SC2086 # FIO_OPTIONS are words
  fio_run "$out" $((RUNTIME + RAMP)) --name="$name" --filename="$IMG" $opts \
      --size="$SIZE" --time_based --runtime="$RUNTIME" --ramp_time="$RAMP" --randrepeat=0 --norandommap || return 1
  line=$(fio_figures "$out" write) || { echo "bench: cannot parse $out" >&2; return 1; }
  printf '%s\t%s\t%s\n' "$name" "$line" "$opts" >>"$RAW"
  printf '  disk     %-34s %s  fdatasync p50 %s us  p99 %s us\n' "$name" "$(show_figures "$line")" \
      "$(echo "$line" | cut -f5)" "$(echo "$line" | cut -f6)" >&2
}

# sample_proc PID OUT STOP: every 0.5 s until the file STOP exists or PID is gone, a line
# "SECONDS RSS_KIB CPU_TICKS" (CPU_TICKS: PID's user + system time). No process per sample but sleep.
sample_proc() {
  local pid=$1 out=$2 stop=$3 k v rss stat
  while [ ! -e "$stop" ] && [ -r "/proc/$pid/status" ]; do
    rss=0
    while read -r k v _; do [ "$k" = VmRSS: ] && { rss=$v; break; }; done <"/proc/$pid/status"
    read -r stat <"/proc/$pid/stat" || break
    stat=${stat##*) }            # after "(comm)", which may hold spaces
    # shellcheck disable=SC2086 # split into the fields of proc(5), from field 3 on
    set -- $stat
    echo "$EPOCHREALTIME $rss $((${12} + ${13}))"
    sleep 0.5
  done >"$out"
}

# resource_figures DIR: from the samples in DIR (rss: sample_proc's, jstat: jstat -gc's), key=value
# pairs (tab-separated): the RSS peak, the server's CPU over the busiest RUNTIME seconds, and with
# jstat's figures the heap's peaks and the number of collections during the job.
resource_figures() {
  LC_ALL=C python3 - "$1" "$RUNTIME" "$(getconf CLK_TCK)" <<'EOF'
import os, sys
d, runtime, hz = sys.argv[1], float(sys.argv[2]), float(sys.argv[3])
out = {}
samples = []
for line in open(os.path.join(d, "rss")):
    f = line.split()
    if len(f) == 3:
        samples.append((float(f[0].replace(",", ".")), int(f[1]), int(f[2])))
if samples:
    out["rss_peak_kib"] = max(s[1] for s in samples)
    # CPU over the busiest RUNTIME seconds: the measured part, not fio forking its 64 jobs or reaping them.
    best = None
    for i, a in enumerate(samples):
        b = next((s for s in samples[i + 1:] if s[0] - a[0] >= runtime), samples[-1])
        if b[0] > a[0] and (b[0] - a[0] >= runtime or i == 0):
            rate = (b[2] - a[2]) / hz / (b[0] - a[0])
            best = rate if best is None else max(best, rate)
    if best is not None:
        out["cpu_percent"] = round(100.0 * best)
rows, header = [], None
path = os.path.join(d, "jstat")
for line in open(path) if os.path.exists(path) else []:
    f = line.split()
    if "EU" in f and "OU" in f:
        header = f
    elif header and len(f) == len(header):
        try:
            rows.append({k: float(v) for k, v in zip(header, f) if v not in ("-", "")})
        except ValueError:
            pass
if rows:
    used = [sum(r.get(k, 0) for k in ("S0U", "S1U", "EU", "OU")) for r in rows]
    committed = [sum(r.get(k, 0) for k in ("S0C", "S1C", "EC", "OC")) for r in rows]
    out["heap_used_peak_kib"] = round(max(used))
    out["heap_committed_peak_kib"] = round(max(committed))
    for key, col in (("young_gcs", "YGC"), ("full_gcs", "FGC")):
        if col in rows[0]:
            out[key] = int(rows[-1][col] - rows[0][col])
print("\t".join("%s=%s" % kv for kv in out.items()))
EOF
}

# run_resources MODE SERVER: RES_JOB against the running server while sampling it; appends to
# $RESOURCES.
run_resources() {
  local mode=$1 server=$2 pid=$SRV_PID dir=$tmp/resources-$1-$2 line jst='' sampler hwm_reset=0 hwm k v
  local figures ok=0
  mkdir -p "$dir"
  # Writing 5 to clear_refs resets VmHWM (the kernel's peak RSS), so afterwards it is this job's peak.
  { echo 5 >"/proc/$pid/clear_refs"; } 2>/dev/null && hwm_reset=1
  # scripts/rbd-server execs java, so the server's PID is the JVM's; one jstat samples it all along.
  if [ "$(basename "$(readlink "/proc/$pid/exe" 2>/dev/null)")" = java ]; then
    if command -v jstat >/dev/null 2>&1; then
      LC_ALL=C jstat -gc "$pid" 500 >"$dir/jstat" 2>&1 &
      jst=$!
      bg_pids+=("$jst")
    else
      echo "bench: no jstat (a JDK tool) on PATH: no heap figures for $server" >&2
    fi
  fi
  sample_proc "$pid" "$dir/rss" "$dir/stop" &
  sampler=$!
  bg_pids+=("$sampler")
  line=$(fio_nbd "$mode" "$server" "$RES_JOB" "$RUNTIME" "$RAMP") && ok=1
  touch "$dir/stop"
  wait "$sampler"
  [ -n "$jst" ] && stop_pid "$jst"
  bg_pids=()
  hwm=
  while read -r k v _; do [ "$k" = VmHWM: ] && hwm=$v; done <"/proc/$pid/status"
  figures=$(resource_figures "$dir") || { echo "bench: cannot read the samples in $dir" >&2; return 1; }
  if [ -n "$jst" ] && [[ $figures != *heap_used* ]]; then
    echo "bench: jstat gave no heap figures for $server: $(head -n 2 "$dir/jstat" | tr '\n' ' ')" >&2
  fi
  [ $ok = 1 ] || return 1
  printf '%s\t%s\t%s\tiops=%s\tmbps=%s\tp50_us=%s\tp99_us=%s\trss_hwm_kib=%s\thwm_reset=%s\t%s\n' \
      "$mode" "$server" "$RES_JOB" "$(echo "$line" | cut -f1)" "$(echo "$line" | cut -f2)" \
      "$(echo "$line" | cut -f3)" "$(echo "$line" | cut -f4)" "${hwm:--}" "$hwm_reset" "$figures" >>"$RESOURCES"
  printf '  %-8s %-10s %-24s %s\n' "$mode" "$server" "$RES_JOB" "$(show_figures "$line")" >&2
  printf '  %-8s %-10s %-24s VmHWM %s kB  %s\n' "$mode" "$server" "resources" "${hwm:--}" "$figures" >&2
}

# sweep_workload MODE: what the sweep measures in MODE.
sweep_workload() { if [ "$1" = flush ]; then echo randread-4k; else echo randwrite-4k; fi; }

# run_sweep MODE SERVER: the mode's sweep workload at every queue depth of SWEEP_QDS; appends to $SWEEP.
run_sweep() {
  local mode=$1 server=$2 workload qd line ok=1
  workload=$(sweep_workload "$mode")
  for qd in $SWEEP_QDS; do
    line=$(fio_nbd "$mode" "$server" "sweep-$workload-qd$qd" "$SWEEP_RUNTIME" "$SWEEP_RAMP") || { ok=0; continue; }
    printf '%s\t%s\t%s\t%s\t%s\n' "$mode" "$workload" "$server" "$qd" "$(echo "$line" | cut -f1-4)" >>"$SWEEP"
    printf '  %-8s %-10s %-24s %s\n' "$mode" "$server" "sweep $workload qd$qd" "$(show_figures "$line")" >&2
  done
  [ $ok = 1 ]
}


# ------------------------------------------------------------------ header --
cores=$(nproc)
cpu=$(grep -m1 'model name' /proc/cpuinfo 2>/dev/null | cut -d: -f2- | sed 's/^ *//')
fstype=$(df -T "$tmp" 2>/dev/null | awk 'NR == 2 {print $2}')
started=$(date -u +%Y-%m-%dT%H:%M:%SZ)
t_start=$(date +%s)
v_fio=$(fio --version)
v_nbdkit='' v_nbd_server='' v_qemu_nbd='' v_java=''
command -v nbdkit >/dev/null 2>&1 && v_nbdkit=$(nbdkit --version 2>/dev/null | head -n1)
command -v nbd-server >/dev/null 2>&1 && v_nbd_server=$(nbd-server -V 2>&1 | head -n1 | sed 's/^This is //')
command -v qemu-nbd >/dev/null 2>&1 && v_qemu_nbd=$(qemu-nbd --version 2>/dev/null | head -n1)
command -v java >/dev/null 2>&1 && v_java=$(java -version 2>&1 | head -n1)
echo "rbd bench  date: $started  cores: $cores  cpu: ${cpu:-?}"
echo "kernel: $(uname -r)  $v_fio  ${v_nbdkit:-nbdkit: none}  ${v_nbd_server:-nbd-server: none}  ${v_qemu_nbd:-qemu-nbd: none}  java: ${v_java:-none}"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
echo "load average at start: $load_start"
echo "image: $SIZE preallocated, filled with random data, in $tmp ($fstype)"
echo "per server start: ${WARMUP}s unmeasured warm-up; per job: ${RAMP}s ramp + ${RUNTIME}s measured; loopback TCP"
in_list sweep "$PARTS" && echo "per sweep point: ${SWEEP_RAMP}s ramp + ${SWEEP_RUNTIME}s measured; queue depths: $SWEEP_QDS"
echo "modes: $MODES  servers: $SERVERS  parts: $PARTS"
for s in $SERVERS; do
  if [ -n "${missing_server[$s]:-}" ]; then
    echo "SKIPPED $s: ${missing_server[$s]} -- its figures are missing from this run"
    echo "bench: SKIPPED $s: ${missing_server[$s]}" >&2
  fi
done

# --------------------------------------------------------------- the image --
# A preallocated image filled with data (reads then hit real blocks rather
# than unwritten extents; the file is in the page cache for every server).
fill_image "$IMG" "$SIZE" || exit 2

# ---------------------------------------------------------- certificates --
# One PKI for every server in tls mode; clients (fio, nbdinfo) find its CA where libnbd looks by default.
PKI=$tmp/pki
if in_list tls "$MODES" && [ -z "$no_pki" ]; then
  if "$here/make-pki.sh" "$PKI" >"$tmp/make-pki.log" 2>&1; then
    mkdir -p "$tmp/home/.pki/libnbd" && cp "$PKI/ca-cert.pem" "$tmp/home/.pki/libnbd/"
  else
    no_pki="make-pki.sh failed: $(tail -n 1 "$tmp/make-pki.log")"
  fi
fi

est=$(estimate_seconds)
echo "expected duration: about $((est / 60)) min $((est % 60)) s"

failed=0
home_orig=$HOME
# ---------------------------------------------------------------- raw disk --
# Before any server, so nothing else touches the image. The reference for durable writes: what the disk
# does with one sync per write, and with one per 32 (what group commit can reach at 32 in flight).
if in_list disk "$PARTS"; then
  echo "== raw disk: fio on $IMG" >&2
  run_disk psync-fdatasync1 "--rw=randwrite --bs=4k --ioengine=psync --fdatasync=1" || failed=1
  run_disk psync-fdatasync32 "--rw=randwrite --bs=4k --ioengine=psync --fdatasync=32" || failed=1
  run_disk libaio-direct-qd32-fdatasync32 \
    "--rw=randwrite --bs=4k --ioengine=libaio --direct=1 --iodepth=32 --fdatasync=32" || failed=1
  # the same for 1 MiB sequential writes, the reference of durable seqwrite-1m-qd8
  run_disk seq1m-psync-fdatasync8 "--rw=write --bs=1M --ioengine=psync --fdatasync=8" || failed=1
  run_disk seq1m-libaio-direct-qd8-fdatasync8 \
    "--rw=write --bs=1M --ioengine=libaio --direct=1 --iodepth=8 --fdatasync=8" || failed=1
fi

# -------------------------------------------------------------------- runs --
for mode in $MODES; do
  for server in $SERVERS; do
    want_jobs=0 want_resources=0 want_sweep=0
    in_list jobs "$PARTS" && want_jobs=1
    if in_list resources "$PARTS" && [ "$mode" = "$RES_MODE" ] && in_list "$server" "rbd nbdkit"; then
      want_resources=1
    fi
    in_list sweep "$PARTS" && in_list "$server" "rbd nbdkit" && sweep_mode "$mode" && want_sweep=1
    [ $want_jobs = 1 ] || [ $want_resources = 1 ] || [ $want_sweep = 1 ] || continue
    desc=$(server_desc "$mode" "$server")
    why_skipped=$(skipped_in "$mode" "$server")
    if [ -n "$why_skipped" ]; then
      printf '%s\t%s\tskipped\t%s\t%s\n' "$mode" "$server" "$why_skipped" "$desc" >>"$STATUS"
      continue
    fi
    # libnbd (fio's nbd engine, nbdinfo) finds the CA under $HOME in tls mode
    if [ "$mode" = tls ]; then export HOME="$tmp/home"; else export HOME="$home_orig"; fi
    echo "== $mode: starting $server" >&2
    if ! start_server "$server" "$mode"; then
      printf '%s\t%s\tfailed\t%s\t%s\n' "$mode" "$server" "did not start" "$desc" >>"$STATUS"
      failed=1; continue
    fi
    status=measured why=
    [ "$server" = rbd ] && { rbd_mode_ok "$mode" || { failed=1 status=failed why="wrong --sync mode"; }; }
    warm_up || { failed=1 status=failed why="warm-up failed"; }
    if [ $status = measured ] && [ $want_jobs = 1 ]; then
      for job in $JOBS; do
        run_job "$mode" "$server" "$job" || { failed=1 status=failed why="a job failed"; }
      done
    fi
    if [ $status = measured ] && [ $want_resources = 1 ]; then
      run_resources "$mode" "$server" || { failed=1 status=failed why="the resource job failed"; }
    fi
    if [ $status = measured ] && [ $want_sweep = 1 ]; then
      run_sweep "$mode" "$server" || { failed=1 status=failed why="a sweep point failed"; }
    fi
    stop_server
    printf '%s\t%s\t%s\t%s\t%s\n' "$mode" "$server" "$status" "$why" "$desc" >>"$STATUS"
  done
done
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# ------------------------------------------------------------------ report --
python3 "$here/lib/bench_report.py" "$tmp" "$JSON_OUT" "$MD_OUT" \
  date="$started" cores="$cores" cpu="${cpu:-}" kernel="$(uname -r)" runtime_s="$RUNTIME" ramp_s="$RAMP" \
  warmup_s="$WARMUP" sweep_runtime_s="$SWEEP_RUNTIME" sweep_ramp_s="$SWEEP_RAMP" image_size="$SIZE" \
  image_fs="$fstype" load_average_start="$load_start" load_average_end="$load_end" \
  duration_s=$(( $(date +%s) - t_start )) modes="$MODES" jobs="$JOBS" servers="$SERVERS" parts="$PARTS" \
  resource_mode="$RES_MODE" v_fio="$v_fio" v_nbdkit="$v_nbdkit" v_nbd_server="$v_nbd_server" \
  v_qemu_nbd="$v_qemu_nbd" v_java="$v_java" || failed=1
[ $failed -eq 0 ] || { echo "bench: some runs failed (see messages above)" >&2; exit 1; }
