#!/usr/bin/env bash
# nbd-server's "integrityhuge" test as a benchmark: nbd-tester-client's integrity test replays a trace of 250
# requests over one connection (about half of them WRITEs of up to 48 MiB at random, overlapping offsets, one in 16
# with FUA, one in 16 a FLUSH, the rest READs) and checks every byte read against what it wrote. It runs, on the
# same image size (50 MiB, as nbd-server's test suite uses), against
#   rbd      rbd-server export --sync always (the durable default), no --max-payload: the default must take it
#   nbdkit   nbdkit --filter=fua file IMG fuamode=force (durable: every write is FUA)
#   nbdkit-flush  nbdkit file IMG (durable at FLUSH/FUA only), with --flush-mode
# alternating, for several rounds, each on a fresh copy of the image, and prints the wall time of each run,
# the medians, rbd/nbdkit and whether the target (rbd's median <= nbdkit's) is met or MISSED.
#
# The tester: nbd-tester-client from nbd's source (tests/run/nbd-tester-client.c, NetworkBlockDevice/nbd; it
# needs glib). Debian does not package it. Point NBD_TESTER at a built one, or leave it in the cache directory
# ($INTEGRITY_CACHE/nbd-tester-client); without it the script skips, loudly, with exit 77 (1 under CI=true).
# The trace is made here, in the format of nbd's make-integrityhuge (a request header and its expected simple
# reply per transaction, then DISC) and with its distribution, from a fixed seed, so every run replays the same
# requests.
#
# Usage: scripts/integrity-bench.sh [--rounds N] [--servers "rbd nbdkit nbdkit-flush"] [--flush-mode]
#   --flush-mode  adds nbdkit-flush and rbd --sync flush (rbd-flush) to the servers
# Environment:
#   NBD_TESTER        nbd-tester-client to run (default: $INTEGRITY_CACHE/nbd-tester-client)
#   INTEGRITY_CACHE   where the tester and the trace are kept (default ${XDG_CACHE_HOME:-$HOME/.cache}/rbd-integrity)
#   INTEGRITY_SEED    the trace's seed (default 14)
#   BENCH_DIR         where the image goes (default ${TMPDIR:-/tmp}); pick the file system to measure
#   RBD_SERVER        server launcher (default scripts/rbd-server); RBD_JAVA_OPTS as for it
#   BENCH_KEEP=1      keep the temp dir (server and tester logs)
# Exit status: 0 every run passed the integrity check (whether or not the target is met), 1 a run failed or a
# server did not start, 2 usage, 77 skipped (no tester, or no nbdkit).
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
RBD=${RBD_SERVER:-$here/rbd-server}
LOG_PREFIX=integrity-bench
. "$here/lib/processes.sh"
. "$here/lib/servers.sh"

ROUNDS=3
SERVERS="rbd nbdkit"
while [ $# -gt 0 ]; do
  case $1 in
    --rounds) ROUNDS=${2:?--rounds needs a number}; shift 2 ;;
    --servers) SERVERS=${2:?--servers needs a list}; shift 2 ;;
    --flush-mode) SERVERS="$SERVERS rbd-flush nbdkit-flush"; shift ;;
    -h|--help) sed -n '2,/^set -u/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) echo "integrity-bench: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case $ROUNDS in ''|*[!0-9]*|0) echo "integrity-bench: --rounds wants a positive number" >&2; exit 2 ;; esac

skip() {
  echo "integrity-bench: SKIPPED: $*" >&2
  [ "${CI:-}" = true ] && exit 1
  exit 77
}

CACHE=${INTEGRITY_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/rbd-integrity}
TESTER=${NBD_TESTER:-$CACHE/nbd-tester-client}
[ -x "$TESTER" ] || skip "no nbd-tester-client at $TESTER: build tests/run/nbd-tester-client.c from nbd's source" \
  "(NetworkBlockDevice/nbd, it needs glib) and set NBD_TESTER, or put it there"
command -v nbdkit >/dev/null 2>&1 || skip "nbdkit is not installed"
command -v python3 >/dev/null 2>&1 || skip "python3 is needed to make the trace"
case " $SERVERS " in *" rbd"*) [ -x "$RBD" ] || { echo "integrity-bench: no rbd-server launcher at $RBD" >&2; exit 2; } ;; esac

mkdir -p "$CACHE" || exit 2
SEED=${INTEGRITY_SEED:-14}
TRACE=$CACHE/integrityhuge-$SEED.tr
IMAGE_SIZE=52428800 # nbd-server's test suite serves the trace from a 50 MiB file

# make_trace FILE: 250 transactions over the first 50,000,000 bytes, as make-integrityhuge draws them: a length
# of 1 KiB up to the whole range less 2 KiB in whole KiB, an offset where it fits; READ or WRITE at even odds,
# one in 16 a WRITE with FUA, one in 16 a FLUSH. Each is a 28-byte request and the 16-byte reply it expects.
make_trace() {
  python3 - "$1" "$SEED" <<'EOF'
import random, struct, sys
out, seed = sys.argv[1], int(sys.argv[2])
rnd = random.Random(seed)
filesize, REQ, REP = 50 * 1000 * 1000, 0x25609513, 0x67446698
READ, WRITE, DISC, FLUSH, FUA = 0, 1, 2, 3, 1 << 16
b = bytearray()
for cookie in range(250):
    length = (rnd.getrandbits(64) % (filesize - 0x800) & ~0x3ff) + 0x400
    offset = rnd.getrandbits(64) % (filesize - length) & ~0x3ff
    flags = rnd.getrandbits(64)
    command = READ if flags & 0x01 else WRITE
    if not flags & 0x0f:
        command = WRITE | FUA
    if not flags & 0xf0:
        offset, length, command = 0, 0, FLUSH
    b += struct.pack(">IIQQI", REQ, command, cookie, offset, length)
    b += struct.pack(">IIQ", REP, 0, cookie)
b += struct.pack(">IIQQI", REQ, DISC, 250, 0, 0)
with open(out + ".tmp", "wb") as f:
    f.write(b)
EOF
  mv "$1.tmp" "$1"
}
[ -s "$TRACE" ] || make_trace "$TRACE" || { echo "integrity-bench: could not make the trace" >&2; exit 2; }
read -r writes wbytes maxlen <<<"$(python3 - "$TRACE" <<'EOF'
import struct, sys
d = open(sys.argv[1], "rb").read()
w = n = m = 0
for i in range(0, len(d) - 28, 44):
    _, cmd, _, _, length = struct.unpack(">IIQQI", d[i:i + 28])
    if cmd & 0xffff == 1:
        w += 1; n += length; m = max(m, length)
print(w, n, m)
EOF
)"
echo "integrity-bench: trace $TRACE: $writes writes, $((wbytes >> 20)) MiB written, largest $((maxlen >> 20)) MiB;" \
  "image $((IMAGE_SIZE >> 20)) MiB in ${BENCH_DIR:-${TMPDIR:-/tmp}}"

WORK=$(mktemp -d "${BENCH_DIR:-${TMPDIR:-/tmp}}/rbd-integrity.XXXXXX") || exit 2
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
  stop_server
  if [ "${BENCH_KEEP:-}" = 1 ]; then echo "integrity-bench: kept $WORK" >&2; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_one SERVER ROUND: a fresh zero-filled, allocated image, the server, the tester; prints seconds or fails.
run_one() {
  local srv=$1 round=$2 img=$WORK/image log=$WORK/$1-$2 t0 t1 rc port
  rm -f "$img"
  fallocate -l "$IMAGE_SIZE" "$img" 2>/dev/null || head -c "$IMAGE_SIZE" /dev/zero >"$img"
  sync -f "$img" 2>/dev/null
  case $srv in
    rbd) start_rbd_server "$log.server.log" "$img" export1 always ;;
    rbd-flush) start_rbd_server "$log.server.log" "$img" export1 flush ;;
    nbdkit) start_nbdkit "$log.server.log" --filter=fua file "$img" fuamode=force ;;
    nbdkit-flush) start_nbdkit "$log.server.log" file "$img" ;;
    *) echo "integrity-bench: unknown server $srv" >&2; return 2 ;;
  esac || return 1
  port=${SRV_URI#*://*:}; port=${port%%/*}
  t0=$(date +%s.%N)
  # the tester's own CPU time goes to its log: on 2 cores it competes with the server
  { TIMEFORMAT='tester cpu: user %U s, sys %S s'; time NBD_TEST_SILENT=1 timeout 600 "$TESTER" -N export1 -i \
      -t "$TRACE" 127.0.0.1 "$port" >"$log.tester.log" 2>&1; } 2>"$log.tester.cpu"
  rc=$?
  t1=$(date +%s.%N)
  cat "$log.tester.cpu" >>"$log.tester.log"
  stop_server
  if [ $rc -ne 0 ]; then
    echo "integrity-bench: $srv round $round FAILED (tester exit $rc); its log:" >&2
    tail -n 15 "$log.tester.log" >&2
    tail -n 15 "$log.server.log" >&2
    return 1
  fi
  echo "$t0 $t1" | awk '{ printf "%.2f\n", $2 - $1 }'
  sed 's/^/  /' "$log.tester.cpu" >&2
}

declare -A times
failed=0
for ((r = 1; r <= ROUNDS; r++)); do
  order=$SERVERS
  # alternate which server goes first, so neither always runs on a disk the other just filled
  [ $((r % 2)) -eq 0 ] && order=$(echo "$SERVERS" | tr ' ' '\n' | tac | tr '\n' ' ')
  for s in $order; do
    if t=$(run_one "$s" "$r"); then
      times[$s]="${times[$s]:-} $t"
      printf 'integrity-bench: round %d %-13s %7.2f s\n' "$r" "$s" "$t"
    else
      failed=1
    fi
  done
done

median() { tr ' ' '\n' | grep . | sort -n | awk '{ a[NR] = $1 } END { if (NR) print (NR % 2 ? a[(NR + 1) / 2] : (a[NR / 2] + a[NR / 2 + 1]) / 2) }'; }
echo
printf '%-13s %-9s %s\n' server median "runs (s)"
for s in $SERVERS; do
  printf '%-13s %-9s %s\n' "$s" "$(echo "${times[$s]:-}" | median)" "${times[$s]:-FAILED}"
done
ratio() { # ratio A B: B's median over A's (above 1.0: A is faster), and the target
  local a b
  a=$(echo "${times[$1]:-}" | median) b=$(echo "${times[$2]:-}" | median)
  [ -n "$a" ] && [ -n "$b" ] || return 0
  awk -v a="$a" -v b="$b" -v n1="$1" -v n2="$2" 'BEGIN { printf "%s/%s speed: %.2fx (target >= 1.0: %s)\n", n1, n2, b / a, (a <= b ? "met" : "MISSED") }'
}
echo
ratio rbd nbdkit
ratio rbd-flush nbdkit-flush
exit $failed
