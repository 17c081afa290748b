#!/usr/bin/env bash
# Fleet benchmark: what a temporary overlay per client (overlays=temp) costs against a plain export of the same
# image, both served by rbd-server in the same run, with fio's nbd engine (one connection per fio job).
#
#   boot storm    32 clients at once read the same 512 MiB of the image sequentially (1 MiB, QD4 each):
#                 a read-only plain export (`NAME=IMG,ro`) against an overlays=temp export, where each client has
#                 an overlay of its own. Aggregate MB/s. Target: overlay/plain >= 0.9.
#   overlay write 4k random writes at QD32 from one client, durable (--sync always): a plain writable export
#                 against an overlays=temp export. IOPS. Target: overlay/plain >= 0.8.
#
# Each server gets an unmeasured warm-up run of the job (JIT) before the measured one. Prints the plain figure,
# the overlay figure and the ratio of each job from this run.
#
# Usage: scripts/fleet-bench.sh
# Environment:
#   BENCH_RUNTIME   seconds measured per job (default 10)
#   BENCH_WARMUP    seconds of unmeasured warm-up per server and job (default 8)
#   BENCH_DIR       where the temp dir with the image goes (default ${TMPDIR:-/tmp})
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
case ${1:-} in -h|--help) awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; exit 0 ;; esac 2>/dev/null
[ $# -eq 0 ] || { echo "fleet-bench: no arguments expected (see --help)" >&2; exit 2; }
for v in RUNTIME WARMUP; do
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

# job NAME SECONDS OUT: one fio run of job NAME against $SRV_URI.
job() {
  case $1 in
    boot) fio_run "$3" "$2" --name=boot --ioengine=nbd --uri="$SRV_URI" --rw=read --bs=1M --iodepth=4 --numjobs=32 \
            --size=512M --time_based --runtime="$2" --group_reporting ;;
    write) fio_run "$3" "$2" --name=write --ioengine=nbd --uri="$SRV_URI" --rw=randwrite --bs=4k --iodepth=32 \
             --size=1G --time_based --runtime="$2" --randrepeat=0 --norandommap --group_reporting ;;
  esac
}

# measure JOB KIND SYNC: starts rbd-server with a plain or an overlay export, warms up, measures; prints the figure
# (MB/s for boot, IOPS for write).
measure() {
  local jobname=$1 kind=$2 sync=$3 spec field rw="read"
  case $kind/$jobname in
    plain/boot) spec="$IMG,ro" ;;
    plain/write) spec="$IMG" ;;
    overlay/*) spec="$IMG,overlays=temp" ;;
  esac
  start_rbd_server "$tmp/$kind-$jobname.log" "$spec" kiosk "$sync" >&2 || return 1
  if [ "$WARMUP" -gt 0 ]; then job "$jobname" "$WARMUP" "$tmp/$kind-$jobname-warmup.json" || return 1; fi
  job "$jobname" "$RUNTIME" "$tmp/$kind-$jobname.json" || return 1
  stop_server >&2
  [ "$jobname" = write ] && rw="write"
  field=2; [ "$jobname" = write ] && field=1
  fio_figures "$tmp/$kind-$jobname.json" "$rw" | cut -f"$field"
}

echo "rbd fleet bench  date: $(date -u +%Y-%m-%dT%H:%M:%SZ)  cores: $(nproc)  fio: $(fio --version)"
echo "load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
failed=0
row() { # LABEL UNIT PLAIN OVERLAY TARGET
  local ratio verdict
  ratio=$(awk -v a="$4" -v b="$3" 'BEGIN { printf "%.2f", a / b }')
  verdict=$(awk -v r="$ratio" -v t="$5" 'BEGIN { print (r >= t) ? "met " r ">=" t : "MISSED " r "<" t }')
  printf '%-44s %12s %12s %6s  %s\n' "$1 ($2)" "$3" "$4" "$ratio" "$verdict"
}
boot_plain=$(measure boot plain flush) || failed=1
boot_overlay=$(measure boot overlay flush) || failed=1
write_plain=$(measure write plain always) || failed=1
write_overlay=$(measure write overlay always) || failed=1
[ "$failed" = 0 ] || { echo "fleet-bench: a run failed (logs in $tmp were removed; rerun to see them)" >&2; exit 1; }
printf '%-44s %12s %12s %6s  %s\n' "job" "plain" "overlay" "ratio" "target"
row "boot storm: 32 clients, same 512 MiB, 1M QD4" "MB/s" "$boot_plain" "$boot_overlay" 0.9
row "overlay write: 4k random, QD32, --sync always" "IOPS" "$write_plain" "$write_overlay" 0.8
echo "load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
