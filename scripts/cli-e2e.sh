#!/usr/bin/env bash
# End-to-end test of the built rbd-cli against a freshly started rbd-server,
# checked against the real NBD tools (nbdinfo, fio's nbd engine), one line per
# check:
#
#   PASS name | FAIL name: reason | SKIP name: reason
#
# followed by exactly one summary line "N passed, N failed, N skipped".
# Exit status is non-zero when anything failed.
#
# Checks, each reported on its own:
#   copy-roundtrip  a 64 MiB image with random data and zero runs, copied into
#                   an empty export and out again by rbd-cli copy: cmp equal
#   read-sha256     rbd-cli read URI --offset 0 --length SIZE | sha256sum equals
#                   the image's sha256
#   info-json       rbd-cli info URI --json agrees with nbdinfo --json URI on
#                   the size and read-only
#   bench-vs-fio    rbd-cli bench randread 4k QD32 for 3 s and fio's nbd engine
#                   with the same job on the same export (5 s ramp each, each
#                   run twice, the better run counts): IOPS within 2x
#
# A check whose tool is missing is skipped (never passed). With
# RBD_INTEROP_REQUIRE_ALL=1 (CI) such a skip counts as a failure instead.
#
# Environment:
#   RBD_INTEROP_REQUIRE_ALL=1   missing tools are failures
#   RBD_INTEROP_KEEP=1          keep the temp dir (images, logs, tool output)
#   RBD_INTEROP_TIMEOUT=SECS    per tool call bound (default 60)
#   RBD_SERVER=PATH             server launcher (default: scripts/rbd-server)
#   RBD_CLI=PATH                rbd-cli launcher (default: scripts/rbd-cli)
#
# Build first: mvn -q -B -DskipTests package (repository root); mvn verify
# runs this script from rbd-cli's integration-test phase (-DskipInterop skips).
set -u

here=$(cd "$(dirname "$(readlink -f "${BASH_SOURCE[0]}")")" && pwd)
RBD=${RBD_SERVER:-$here/rbd-server}
CLI=${RBD_CLI:-$here/rbd-cli}
LOG_PREFIX=cli-e2e
. "$here/lib/processes.sh"
. "$here/lib/report.sh"
TMO=${RBD_INTEROP_TIMEOUT:-60}
MiB=1048576
IMG_SIZE=$((64 * MiB))
BENCH_SECONDS=3
BENCH_RAMP=5

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rbd-cli-e2e.XXXXXX") || { echo "FAIL setup: mktemp failed"; exit 1; }

srv_pid=

cleanup() {
  [ -n "$srv_pid" ] && stop_pid "$srv_pid"
  srv_pid=
  if [ "${RBD_INTEROP_KEEP:-0}" = 1 ]; then echo "cli-e2e: kept $tmp" >&2; else rm -rf "$tmp"; fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM


# ------------------------------------------------------------------ setup --
IMG=$tmp/in.img
for l in "$RBD" "$CLI"; do
  if [ ! -x "$l" ]; then fail setup "launcher $l not found/executable"; summary; exit 1; fi
done
for m in rbd-server rbd-cli; do
  if ! ls "$here/../$m"/target/"$m"-*-all.jar >/dev/null 2>&1; then
    fail setup "$m is not built (mvn -q -DskipTests package)"; summary; exit 1
  fi
done
# Random data with zero runs: 8 MiB at 16 MiB, 4 KiB at 40 MiB, the last 1 MiB.
if ! { head -c "$IMG_SIZE" /dev/urandom >"$IMG" \
       && dd if=/dev/zero of="$IMG" bs=1M seek=16 count=8 conv=notrunc status=none \
       && dd if=/dev/zero of="$IMG" bs=4k seek=$((40 * 256)) count=1 conv=notrunc status=none \
       && dd if=/dev/zero of="$IMG" bs=1M seek=63 count=1 conv=notrunc status=none; }; then
  fail setup "could not create the 64 MiB image in $tmp"; summary; exit 1
fi

start_server() {
  local attempt port
  for attempt in 1 2 3; do
    port=$(free_port) || return 1
    "$RBD" export "disk=$tmp/disk.img" --create 64M --listen "127.0.0.1:$port" >>"$tmp/server.log" 2>&1 &
    srv_pid=$!
    URI=nbd://127.0.0.1:$port/disk
    wait_ready "$srv_pid" "$URI" && return 0
    stop_pid "$srv_pid"; srv_pid=
  done
  return 1
}
if ! start_server; then
  fail server-start "rbd-server did not become ready within 30s: $(why "$tmp/server.log")"
  summary; exit 1
fi
pass "server-start (64 MiB image with zero runs; empty 64 MiB export at $URI)"

# --------------------------------------------------------- copy-roundtrip --
check_copy() {
  local name=copy-roundtrip out=$tmp/copy.txt
  need $name cmp || return
  if ! timeout "$TMO" "$CLI" copy "$IMG" "$URI" >"$out" 2>&1; then
    fail $name "rbd-cli copy file -> export failed: $(why "$out")"; return
  fi
  if ! timeout "$TMO" "$CLI" copy "$URI" "$tmp/out.img" >>"$out" 2>&1; then
    fail $name "rbd-cli copy export -> file failed: $(why "$out")"; return
  fi
  if ! cmp "$IMG" "$tmp/out.img" >>"$out" 2>&1; then
    fail $name "the copy differs: $(why "$out")"; return
  fi
  pass "$name ($(grep '^copied' "$out" | tail -n 1))"
}

# ------------------------------------------------------------ read-sha256 --
check_read() {
  local name=read-sha256 out=$tmp/read.txt want got
  need $name sha256sum || return
  want=$(sha256sum <"$IMG" | cut -d' ' -f1)
  got=$(set -o pipefail; timeout "$TMO" "$CLI" read "$URI" --offset 0 --length "$IMG_SIZE" 2>"$out" \
        | sha256sum | cut -d' ' -f1)
  if [ $? -ne 0 ]; then
    fail $name "rbd-cli read failed: $(why "$out")"
  elif [ "$got" != "$want" ]; then
    fail $name "sha256 of rbd-cli read is $got, the image's is $want"
  else
    pass $name
  fi
}

# -------------------------------------------------------------- info-json --
check_info() {
  local name=info-json ours=$tmp/info.json theirs=$tmp/nbdinfo.json r
  need $name nbdinfo python3 || return
  if ! timeout "$TMO" "$CLI" info "$URI" --json >"$ours" 2>"$ours.stderr"; then
    fail $name "rbd-cli info --json failed: $(why "$ours.stderr")"; return
  fi
  if ! timeout "$TMO" nbdinfo --json "$URI" >"$theirs" 2>&1; then
    fail $name "nbdinfo --json failed: $(why "$theirs")"; return
  fi
  r=$(python3 - "$ours" "$theirs" <<'EOF' 2>&1
import json, sys
ours = json.load(open(sys.argv[1]))
e = json.load(open(sys.argv[2]))["exports"][0]
bad = []
if ours.get("size") != e.get("export-size"):
    bad.append("size %r, nbdinfo says %r" % (ours.get("size"), e.get("export-size")))
if ours.get("read_only") != e.get("is_read_only"):
    bad.append("read_only %r, nbdinfo says %r" % (ours.get("read_only"), e.get("is_read_only")))
print("; ".join(bad) if bad else "ok size=%d read_only=%s" % (ours["size"], ours["read_only"]))
EOF
  ) || { fail $name "could not compare the JSON: $r"; return; }
  case $r in ok*) pass "$name (${r#ok })" ;; *) fail $name "$r" ;; esac
}

# ----------------------------------------------------------- bench-vs-fio --
# run_fio N / run_cli N: one measured run each, the IOPS appended to $tmp/iops-fio / $tmp/iops-cli.
run_fio() {
  local out=$tmp/fio-$1.json
  # The job of scripts/client-bench.sh, run in $tmp so nothing fio writes lands in $PWD.
  if ! (cd "$tmp" && exec timeout "$TMO" fio --name=randread-4k-qd32 --ioengine=nbd --uri="$URI" \
      --rw=randread --bs=4k --iodepth=32 --numjobs=1 --size="$IMG_SIZE" --time_based \
      --runtime="$BENCH_SECONDS" --ramp_time="$BENCH_RAMP" --group_reporting --randrepeat=0 --norandommap \
      --lat_percentiles=1 --output-format=json --output="$out") >"$out.stderr" 2>&1; then
    echo "fio failed: $(why "$out.stderr")"; return 1
  fi
  python3 -c '
import json, sys
j = json.load(open(sys.argv[1]))["jobs"][0]
if j.get("error"):
    sys.exit("fio job error %s" % j["error"])
print("%.0f" % j["read"]["iops"])' "$out" >>"$tmp/iops-fio" 2>"$out.parse" || { echo "fio's JSON: $(why "$out.parse")"; return 1; }
}

run_cli() {
  local out=$tmp/bench-$1.json
  if ! timeout "$TMO" "$CLI" bench "$URI" --pattern randread --bs 4k --qd 32 --duration "${BENCH_SECONDS}s" \
      --ramp "${BENCH_RAMP}s" --json >"$out" 2>"$out.stderr"; then
    echo "rbd-cli bench failed: $(why "$out.stderr")"; return 1
  fi
  python3 -c 'import json, sys; print("%.0f" % json.load(open(sys.argv[1]))["iops"])' "$out" \
    >>"$tmp/iops-cli" 2>"$out.parse" || { echo "rbd-cli's JSON: $(why "$out.parse")"; return 1; }
}

# Each client runs twice, alternating, and the better run of each counts: the cores may be shared, and one
# busy moment should not decide. The ramp is long enough for the JVM's JIT (a 3 s run of a cold client
# measures compilation); fio gets the same ramp.
check_bench() {
  local name=bench-vs-fio r i
  need $name fio python3 || return
  if ! fio --enghelp=nbd >/dev/null 2>&1; then
    skip_missing $name "missing tool: this fio has no nbd ioengine"; return
  fi
  for i in 1 2; do
    r=$(run_fio $i) || { fail $name "$r"; return; }
    r=$(run_cli $i) || { fail $name "$r"; return; }
  done
  r=$(python3 - "$tmp/iops-fio" "$tmp/iops-cli" <<'EOF' 2>&1
import sys
fio = [float(x) for x in open(sys.argv[1]).read().split()]
cli = [float(x) for x in open(sys.argv[2]).read().split()]
ratio = max(cli) / max(fio) if max(fio) else 0
print("%s rbd-cli %.0f IOPS, fio %.0f IOPS, ratio %.2f (runs: rbd-cli %s, fio %s)" % (
    "ok" if 0.5 <= ratio <= 2 else "bad", max(cli), max(fio), ratio,
    "/".join("%.0f" % x for x in cli), "/".join("%.0f" % x for x in fio)))
EOF
  ) || { fail $name "could not compare the figures: $r"; return; }
  case $r in
    ok*) pass "$name (${r#ok })" ;;
    *) fail $name "${r#bad }; want a ratio of 0.50 to 2.00" ;;
  esac
}

check_copy
check_read
check_info
check_bench

kill -0 "$srv_pid" 2>/dev/null || fail server-alive "rbd-server died during the run: $(why "$tmp/server.log")"
if [ $n_fail -gt 0 ]; then
  echo "--- last lines of server.log ---" >&2
  tail -n 15 "$tmp/server.log" >&2
fi
summary
[ $n_fail -eq 0 ]
