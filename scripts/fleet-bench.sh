#!/usr/bin/env bash
# Fleet benchmark: what an overlay per client costs against a plain export of the same image, both served by
# rbd-server in the same run, with fio's nbd engine (one connection per fio job). Two kinds of overlay:
#
#   temp          overlays=temp: a temporary overlay per connection, its block map in memory
#   dir           overlays=DIR: a persistent overlay per client (NAME/CLIENT), its block map on disk and synced
#                 with the data, so durable like a plain export
#
#   boot storm    32 clients at once read the same 512 MiB of the image sequentially (1 MiB, QD4 each):
#                 a read-only plain export (`NAME=IMG,ro`) against an overlay export, where each client opens
#                 NAME/hostN and has an overlay of its own. Aggregate MB/s. Target: overlay/plain >= 0.9.
#                 Golden reads must never be copied into overlays: the disk space the overlays' data files take
#                 is printed (sampled from the server's open files half-way through the storm, so temporary
#                 overlays are seen too, and for dir also once the server stopped); it should stay near 0.
#   overlay write 4k random writes at QD32 from one client, durable (--sync always): a plain writable export
#                 against a client's overlay. IOPS. Target: overlay/plain >= 0.8. The measured client is not the
#                 warm-up's, so its overlay starts empty and every first write to a block allocates (and, for
#                 dir, changes the block map on disk).
#
# Each server gets an unmeasured warm-up run of the job (JIT) before the measured one. The plain figure of each
# job is measured once and each overlay kind is compared with it: prints the plain figure, the overlay figure and
# the ratio, from this run.
#
# Usage: scripts/fleet-bench.sh [--overlays temp|dir|both]   (default both)
# Environment:
#   BENCH_RUNTIME   seconds measured per job (default 10)
#   BENCH_WARMUP    seconds of unmeasured warm-up per server and job (default 8)
#   BENCH_ROUNDS    rounds of each job (default 3): each round measures the plain export and every overlay kind,
#                   each round in another order, and each figure printed is the median of its rounds (all of them
#                   are printed too). One round is quicker, but the page cache and the host move a single boot-storm
#                   figure by 20-40% between runs, and whichever server runs last is most exposed.
#   BENCH_DIR       where the temp dir with the image and overlays goes (default ${TMPDIR:-/tmp})
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
ROUNDS=${BENCH_ROUNDS:-3}
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
if ! ls "$here"/../rbd-server/target/rbd-server-*-all.jar >/dev/null 2>&1; then
  echo "fleet-bench: rbd-server is not built; run: mvn -q -DskipTests package" >&2; exit 2
fi
tmp=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/rbd-fleet-bench.XXXXXX") || exit 2
cleanup() { stop_server; rm -rf "$tmp"; }
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

IMG=$tmp/golden.img
fill_image "$IMG" 1G || exit 2

# job NAME SECONDS OUT [CLIENT_PREFIX]: one fio run of job NAME against $SRV_URI; with CLIENT_PREFIX, fio job i
# opens $SRV_URI/CLIENT_PREFIXi (a client's overlay of its own) instead of $SRV_URI.
job() {
  local name=$1 secs=$2 out=$3 prefix=${4:-} n=1 i args=()
  case $name in
    boot) n=$CLIENTS
          args=(--ioengine=nbd --rw=read --bs=1M --iodepth=4 --size=512M) ;;
    write) args=(--ioengine=nbd --rw=randwrite --bs=4k --iodepth=32 --size=1G --randrepeat=0 --norandommap) ;;
  esac
  args+=(--time_based --runtime="$secs" --group_reporting)
  if [ -z "$prefix" ]; then
    args+=(--name="$name" --uri="$SRV_URI" --numjobs="$n")
  else
    for ((i = 1; i <= n; i++)); do args+=(--name="$name$i" --uri="$SRV_URI/$prefix$i"); done
  fi
  fio_run "$out" "$secs" "${args[@]}"
}

# overlay_bytes PID: bytes of disk the overlay data files PID has open take, and how many files (temporary
# overlays are deleted files, so they are found through its descriptors; a file open twice counts once).
overlay_bytes() {
  find "/proc/$1/fd" \( -lname '*/rbd-overlay-*.tmp*' -o -lname '*.overlay' \) -exec stat -L -c '%d:%i %b %B' {} + \
    2>/dev/null | awk '!seen[$1]++ { sum += $2 * $3; n++ } END { printf "%d %d\n", sum, n }'
}

# await_temporary_overlays_closed PID: waits (at most 60 s) until PID has no temporary overlay open. Closing
# one is freeing its file, which after a write run is seconds of the kernel's time on an I/O thread of the
# server: the warm-up's must not overlap the measured run.
await_temporary_overlays_closed() {
  local i
  for ((i = 0; i < 600; i++)); do
    find "/proc/$1/fd" -lname '*/rbd-overlay-*.tmp*' 2>/dev/null | grep -q . || return 0
    sleep 0.1
  done
  echo "fleet-bench: the warm-up's temporary overlays still open after 60 s; measuring anyway" >&2
}

# measure JOB KIND SYNC: starts rbd-server with a plain export or one with overlays of KIND (temp or dir), warms
# up, measures; prints the figure (MB/s for boot, IOPS for write). It runs in a subshell of its own, so it stops
# what it started itself, also when a run fails. For the boot storm of an overlay export it writes the overlays'
# disk space half-way through the measured run to $tmp/KIND-boot.alloc (and, for dir, once the server stopped, to
# $tmp/dir-boot.after). The boot storm's clients are the same in warm-up and measured run (machines booting
# again over the overlays they have); the measured writer is a client the warm-up did not use.
measure() {
  local jobname=$1 kind=$2 sync=$3 spec field rw=read warm='' prefix='' sampler=''
  case $kind/$jobname in
    plain/boot) spec="$IMG,ro" ;;
    plain/write) spec="$IMG" ;;
    temp/*) spec="$IMG,overlays=temp" ;;
    # a fresh directory each time: the plain write job writes the image, so an earlier round's overlays are
    # (rightly) refused as made over a golden image that changed since
    dir/*) rm -rf "$tmp/overlays-$jobname" && mkdir -p "$tmp/overlays-$jobname" \
             && spec="$IMG,overlays=$tmp/overlays-$jobname" ;;
  esac
  if [ "$kind" != plain ]; then
    prefix=host warm=host
    [ "$jobname" = write ] && warm=warm
  fi
  start_rbd_server "$tmp/$kind-$jobname.log" "$spec" golden "$sync" >&2 || return 1
  if [ "$WARMUP" -gt 0 ]; then
    job "$jobname" "$WARMUP" "$tmp/$kind-$jobname-warmup.json" "$warm" || { stop_server >&2; return 1; }
    [ "$kind" = temp ] && await_temporary_overlays_closed "$SRV_PID"
  fi
  if [ "$jobname" = boot ] && [ "$kind" != plain ]; then
    (sleep $((RUNTIME / 2)) && overlay_bytes "$SRV_PID" >"$tmp/$kind-boot.alloc") >/dev/null &
    sampler=$!
  fi
  if ! job "$jobname" "$RUNTIME" "$tmp/$kind-$jobname.json" "$prefix"; then
    [ -n "$sampler" ] && stop_pid "$sampler"
    stop_server >&2
    return 1
  fi
  [ -n "$sampler" ] && wait "$sampler"
  stop_server >&2
  if [ "$kind/$jobname" = dir/boot ]; then
    du -B1 -c "$tmp/overlays-boot"/*.overlay | tail -n 1 | cut -f1 >"$tmp/dir-boot.after"
  fi
  [ "$jobname" = write ] && rw="write"
  field=2; [ "$jobname" = write ] && field=1
  fio_figures "$tmp/$kind-$jobname.json" "$rw" | cut -f"$field"
}

echo "rbd fleet bench  date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  cores: $(nproc)  fio: $(fio --version)" \
  " overlays: ${kinds[*]}"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
failed=0
row() { # LABEL UNIT PLAIN OVERLAY TARGET
  local ratio verdict
  ratio=$(awk -v a="$4" -v b="$3" 'BEGIN { printf "%.2f", a / b }')
  verdict=$(awk -v r="$ratio" -v t="$5" 'BEGIN { print (r >= t) ? "met " r ">=" t : "MISSED " r "<" t }')
  printf '%-62s %12s %12s %6s  %s\n' "$1 ($2)" "$3" "$4" "$ratio" "$verdict"
}
[ "$ROUNDS" -ge 1 ] || { echo "fleet-bench: BENCH_ROUNDS must be at least 1" >&2; exit 2; }
declare -A boot write
all=(plain "${kinds[@]}")
# rounds JOB SYNC: ROUNDS rounds of JOB over the plain export and every kind, round r starting at kind r (so no
# server always runs first or last); leaves "f1 f2 ..." per kind in the array named JOB.
rounds() {
  local job=$1 sync=$2 r i k f
  for ((r = 0; r < ROUNDS; r++)); do
    for ((i = 0; i < ${#all[@]}; i++)); do
      k=${all[$(((r + i) % ${#all[@]}))]}
      f=$(measure "$job" "$k" "$sync") || return 1
      if [ "$job" = boot ]; then boot[$k]+="$f "; else write[$k]+="$f "; fi
    done
  done
}
# median "F1 F2 ...": the middle figure (the lower middle of an even count).
median() { tr ' ' '\n' <<<"$1" | grep . | sort -g | awk '{ v[NR] = $1 } END { print v[int((NR + 1) / 2)] }'; }
rounds boot flush || failed=1
rounds write always || failed=1
[ "$failed" = 0 ] || { echo "fleet-bench: a run failed (logs in $tmp were removed; rerun to see them)" >&2; exit 1; }
echo "rounds: $ROUNDS (each figure below is the median; the rounds' figures in order):"
for k in "${all[@]}"; do
  printf '  %-6s boot storm MB/s: %-28s 4k writes IOPS: %s\n' "$k" "${boot[$k]}" "${write[$k]}"
  boot[$k]=$(median "${boot[$k]}")
  write[$k]=$(median "${write[$k]}")
done
printf '%-62s %12s %12s %6s  %s\n' "job" "rbd-plain" "rbd-overlay" "ratio" "target"
for k in "${kinds[@]}"; do
  row "boot storm, overlays=$k: $CLIENTS clients, 512 MiB, 1M QD4" "MB/s" "${boot[plain]}" "${boot[$k]}" 0.9
done
for k in "${kinds[@]}"; do
  row "overlay write, overlays=$k: 4k random QD32, sync always" "IOPS" "${write[plain]}" "${write[$k]}" 0.8
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
