#!/usr/bin/env bash
# Fleet benchmark: what an overlay per client costs against a plain export of the same image, with fio's nbd
# engine (one connection per fio job). Two kinds of overlay:
#
#   temp          overlays=temp: a temporary overlay per connection, its block map in memory
#   dir           overlays=DIR: a persistent overlay per client (NAME/CLIENT), its block map on disk and synced
#                 with the data, so durable like a plain export
#
#   boot storm    32 clients at once read the same 512 MiB of the image sequentially (1 MiB, QD4 each):
#                 a read-only plain export (`plain=COPY,ro`) against the overlay export, where each client opens
#                 golden/hostN and has an overlay of its own. Aggregate MB/s. Target: overlay/plain >= 0.9.
#                 Golden reads must never be copied into overlays: the disk space the overlays' data files take
#                 is printed (sampled from the server's open files half-way through the storm, so temporary
#                 overlays are seen too, and for dir also once the server stopped); it should stay near 0.
#   overlay write 4k random writes at QD32 from one client, durable (--sync always): a plain writable export
#                 (`plainrw=COPY2`) against a client's overlay. IOPS. Target: overlay/plain >= 0.8. Each round's
#                 writer is a client no earlier run used, so its overlay starts empty and every first write to a
#                 block allocates (and, for dir, changes the block map on disk).
#
# The plain and the overlay figures of a row come from the same server process: for each overlay kind one
# rbd-server serves the overlay export `golden` (the golden image), `plain` (a byte-identical copy of it,
# read-only) and `plainrw` (another copy, writable), so both sides share the JVM, its JIT state and its buffer
# pools. Separate processes per side differed by 5-20% from one start to the next whatever they served, which
# hid the overlays' own cost (docs/benchmarks.md). The server gets one unmeasured warm-up run of each of the four
# jobs (JIT, page cache), then BENCH_ROUNDS rounds, each measuring plain and overlay of both jobs, the side that
# goes first alternating from round to round. Prints each figure's median with every round's figure, and the ratio
# of the medians.
#
# Usage: scripts/fleet-bench.sh [--overlays temp|dir|both]   (default both)
# Environment:
#   BENCH_RUNTIME   seconds measured per run (default 10)
#   BENCH_WARMUP    seconds of unmeasured warm-up per job and export (default 8)
#   BENCH_ROUNDS    rounds per overlay kind (default 5)
#   BENCH_DIR       where the temp dir with the images and overlays goes (default ${TMPDIR:-/tmp})
# Exit status: 0 ok (whether or not the targets are met), 1 a server or fio run failed, 2 usage/build problem,
# 77 skipped because fio (with the nbd engine) is missing.
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
RBD=${RBD_SERVER:-$here/rbd-server}
LOG_PREFIX=fleet-bench
. "$here/lib/processes.sh"
. "$here/lib/servers.sh"
. "$here/lib/bench.sh"
RUNTIME=${BENCH_RUNTIME:-10}
WARMUP=${BENCH_WARMUP:-8}
ROUNDS=${BENCH_ROUNDS:-5}
CLIENTS=32
usage() { echo "fleet-bench: $1 (usage: fleet-bench.sh [--overlays temp|dir|both]; see --help)" >&2; exit 2; }
kinds=(temp dir)
while [ $# -gt 0 ]; do
  case $1 in
    -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;;
    --overlays)
      [ $# -ge 2 ] || usage "--overlays needs temp, dir or both"
      case $2 in
        temp|dir) kinds=("$2") ;;
        both) kinds=(temp dir) ;;
        *) usage "--overlays $2: expected temp, dir or both" ;;
      esac
      shift 2 ;;
    *) usage "unknown argument '$1'" ;;
  esac
done
for v in RUNTIME WARMUP ROUNDS; do
  case ${!v} in ''|*[!0-9]*) echo "fleet-bench: BENCH_$v must be whole seconds" >&2; exit 2 ;; esac
done

require_tools fio java
require_built rbd-server
tmp=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/rbd-fleet-bench.XXXXXX") || exit 2
cleanup() { stop_server; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

IMG=$tmp/golden.img
fill_image "$IMG" 1G || exit 2
# the plain exports' images: byte-identical copies (another file, since one server exports an image once)
if ! { cp "$IMG" "$tmp/plain.img" && cp "$IMG" "$tmp/plainrw.img"; }; then
  echo "fleet-bench: cannot copy the image" >&2; exit 2
fi

# job NAME SECONDS OUT EXPORT [CLIENT_PREFIX]: one fio run of job NAME against export EXPORT of the running
# server; with CLIENT_PREFIX, fio job i opens EXPORT/CLIENT_PREFIXi (a client's overlay of its own) instead, and
# the write job (one client) opens EXPORT/CLIENT_PREFIX.
job() {
  local name=$1 secs=$2 out=$3 uri=$base/$4 prefix=${5:-} n=1 i args=()
  case $name in
    boot) n=$CLIENTS
          args=(--ioengine=nbd --rw=read --bs=1M --iodepth=4 --size=512M) ;;
    write) args=(--ioengine=nbd --rw=randwrite --bs=4k --iodepth=32 --size=1G --randrepeat=0 --norandommap) ;;
  esac
  args+=(--time_based --runtime="$secs" --group_reporting)
  if [ -z "$prefix" ]; then
    args+=(--name="$name" --uri="$uri" --numjobs="$n")
  elif [ "$n" = 1 ]; then
    args+=(--name="$name" --uri="$uri/$prefix")
  else
    for ((i = 1; i <= n; i++)); do args+=(--name="$name$i" --uri="$uri/$prefix$i"); done
  fi
  fio_run "$out" "$secs" "${args[@]}"
}

# overlay_bytes PID: bytes of disk the overlay data files PID has open take, and how many files (temporary
# overlays are deleted files, so they are found through its descriptors; a file open twice counts once). Only
# the boot storm's clients (host1..host32) count for dir; the writers' overlays hold what they wrote.
overlay_bytes() {
  find "/proc/$1/fd" \( -lname '*/rbd-overlay-*.tmp*' -o -lname '*/host*.overlay' \) -exec stat -L -c '%d:%i %b %B' {} + \
    2>/dev/null | awk '!seen[$1]++ { sum += $2 * $3; n++ } END { printf "%d %d\n", sum, n }'
}

# await_temporary_overlays_closed PID: waits (at most 60 s) until PID has no temporary overlay open. Closing
# one is freeing its file, which after a write run is seconds of the kernel's time on an I/O thread of the
# server: it must not overlap the next measured run.
await_temporary_overlays_closed() {
  local i
  for ((i = 0; i < 600; i++)); do
    find "/proc/$1/fd" -lname '*/rbd-overlay-*.tmp*' 2>/dev/null | grep -q . || return 0
    sleep 0.1
  done
  echo "fleet-bench: temporary overlays still open 60 s after their clients left; measuring anyway" >&2
}

# run_side KIND JOB SIDE SECONDS OUT ROUND: one run of JOB (boot or write) against the plain side (SIDE=plain)
# or the overlay side of the running server of overlay kind KIND. Overlay boot clients are host1..host32 in
# every run (machines booting again over the overlays they have); the overlay writer of round ROUND is wrROUND
# (warm for the warm-up), so each measured writer starts with an empty overlay. Temporary overlays are closed
# before it returns.
run_side() {
  local kind=$1 jobname=$2 side=$3 secs=$4 out=$5 round=$6 name prefix=''
  if [ "$side" = plain ]; then
    name=plain; [ "$jobname" = write ] && name=plainrw
  else
    name=golden
    if [ "$kind" = dir ]; then
      prefix=host; [ "$jobname" = write ] && prefix=wr$round
    fi
  fi
  job "$jobname" "$secs" "$out" "$name" "$prefix" || return 1
  [ "$kind" = temp ] && [ "$side" = overlay ] && await_temporary_overlays_closed "$SRV_PID"
  return 0
}

# figure OUT JOB: the figure of a finished run (MB/s for boot, IOPS for write).
figure() {
  if [ "$2" = boot ]; then fio_figures "$1" read | cut -f2; else fio_figures "$1" write | cut -f1; fi
}

# measure_kind KIND: starts one rbd-server for overlay kind KIND (temp or dir) with the overlay export and the
# two plain ones, warms each job and side up, then runs ROUNDS rounds; appends each round's figures to
# boot[plain-KIND], boot[KIND], write[plain-KIND] and write[KIND]. For the boot storm it writes the overlays' disk
# space half-way through the first measured overlay run to $tmp/KIND-boot.alloc (and, for dir, once the server
# stopped, to $tmp/dir-boot.after). Runs in the current shell (the arrays), and stops its server on every path.
measure_kind() {
  local kind=$1 spec r jobname side sides sampler f key
  case $kind in
    temp) spec="$IMG,overlays=temp" ;;
    dir) mkdir -p "$tmp/overlays" && spec="$IMG,overlays=$tmp/overlays" ;;
  esac
  start_rbd_server "$tmp/$kind.log" "$spec" golden always "plain=$tmp/plain.img,ro" "plainrw=$tmp/plainrw.img" >&2 ||
    return 1
  base=${SRV_URI%/golden}
  if [ "$WARMUP" -gt 0 ]; then
    for jobname in boot write; do
      for side in plain overlay; do
        run_side "$kind" "$jobname" "$side" "$WARMUP" "$tmp/warmup.json" warm || { stop_server >&2; return 1; }
      done
    done
  fi
  for ((r = 1; r <= ROUNDS; r++)); do
    sides="plain overlay"; [ $((r % 2)) = 0 ] && sides="overlay plain"
    for jobname in boot write; do
      for side in $sides; do
        sampler=''
        if [ "$jobname/$side" = boot/overlay ] && [ "$r" = 1 ]; then
          (sleep $((RUNTIME / 2)) && overlay_bytes "$SRV_PID" >"$tmp/$kind-boot.alloc") >/dev/null &
          sampler=$!
        fi
        if ! run_side "$kind" "$jobname" "$side" "$RUNTIME" "$tmp/run.json" "$r" ||
           ! f=$(figure "$tmp/run.json" "$jobname"); then
          [ -n "$sampler" ] && stop_pid "$sampler"
          stop_server >&2
          return 1
        fi
        [ -n "$sampler" ] && wait "$sampler"
        key=$kind; [ "$side" = plain ] && key=plain-$kind
        if [ "$jobname" = boot ]; then boot[$key]+="$f "; else write[$key]+="$f "; fi
      done
    done
  done
  stop_server >&2
  if [ "$kind" = dir ]; then
    du -B1 -c "$tmp/overlays"/host*.overlay | tail -n 1 | cut -f1 >"$tmp/dir-boot.after"
  fi
}

echo "rbd fleet bench  date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  cores: $(nproc)  fio: $(fio --version)" \
  " overlays: ${kinds[*]}"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
row() { # LABEL UNIT PLAIN OVERLAY TARGET
  local ratio verdict
  ratio=$(awk -v a="$4" -v b="$3" 'BEGIN { printf "%.2f", a / b }')
  verdict=$(awk -v r="$ratio" -v t="$5" 'BEGIN { print (r >= t) ? "met " r ">=" t : "MISSED " r "<" t }')
  printf '%-62s %12s %12s %6s  %s\n' "$1 ($2)" "$3" "$4" "$ratio" "$verdict"
}
[ "$ROUNDS" -ge 1 ] || { echo "fleet-bench: BENCH_ROUNDS must be at least 1" >&2; exit 2; }
declare -A boot write
# median "F1 F2 ...": the middle figure (the lower middle of an even count).
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
for k in "${kinds[@]}"; do
  measure_kind "$k" || { echo "fleet-bench: a run failed (logs in $tmp were removed; rerun to see them)" >&2; exit 1; }
done
echo "rounds: $ROUNDS per overlay kind, plain and overlay from the same server (each figure below is the median;"
echo "the rounds' figures in order):"
for k in "${kinds[@]}"; do
  for key in "plain-$k" "$k"; do
    printf '  %-10s boot storm MB/s: %-34s 4k writes IOPS: %s\n' "$key" "${boot[$key]}" "${write[$key]}"
    boot[$key]=$(median "${boot[$key]}")
    write[$key]=$(median "${write[$key]}")
  done
done
printf '%-62s %12s %12s %6s  %s\n' "job" "rbd-plain" "rbd-overlay" "ratio" "target"
for k in "${kinds[@]}"; do
  row "boot storm, overlays=$k: $CLIENTS clients, 512 MiB, 1M QD4" "MB/s" "${boot[plain-$k]}" "${boot[$k]}" 0.9
done
for k in "${kinds[@]}"; do
  row "overlay write, overlays=$k: 4k random QD32, sync always" "IOPS" "${write[plain-$k]}" "${write[$k]}" 0.8
done
# kib FILE: "N KiB" (and "in M files" when FILE has a second count), or "?" when the sample is missing.
kib() {
  local b n
  if ! read -r b n <"$1" 2>/dev/null || [ -z "$b" ]; then echo "?"; return; fi
  echo "$((b / 1024)) KiB${n:+ in $n files}"
}
echo "overlay data on disk after the boot storm ($CLIENTS clients; golden reads must not be copied into overlays):"
for k in "${kinds[@]}"; do
  line="  overlays=$k: $(kib "$tmp/$k-boot.alloc") half-way through"
  [ "$k" = dir ] && line+=", $(kib "$tmp/dir-boot.after") once the server stopped"
  echo "$line"
done
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
