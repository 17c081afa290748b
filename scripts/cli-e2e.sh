#!/usr/bin/env bash
# End-to-end test of the built rbd-cli against a freshly started rbd-server,
# checked against a real NBD tool (nbdinfo), one line per check:
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
#   bench-json      rbd-cli bench randread 4k QD32 for 1 s runs against the
#                   server and prints sane JSON (its job, reads done, no writes,
#                   ordered latency percentiles). Behaviour only: how fast
#                   rbd-cli is next to fio is scripts/client-bench.sh's job,
#                   since a loaded machine must not fail a build
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
built() {  # MODULE: true when its runnable jar is there
  local jars=("$here/../$1/target/$1"-*-all.jar)
  [ -f "${jars[0]}" ]
}
for m in rbd-server rbd-cli; do
  if ! built "$m"; then
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
  local port _
  for _ in 1 2 3; do
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
  if ! got=$(set -o pipefail; timeout "$TMO" "$CLI" read "$URI" --offset 0 --length "$IMG_SIZE" 2>"$out" \
        | sha256sum | cut -d' ' -f1); then
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

# ------------------------------------------------------------- bench-json --
check_bench() {
  local name=bench-json out=$tmp/bench.json r
  need $name python3 || return
  if ! timeout "$TMO" "$CLI" bench "$URI" --pattern randread --bs 4k --qd 32 --duration 1s --ramp 0s \
      --json >"$out" 2>"$out.stderr"; then
    fail $name "rbd-cli bench failed: $(why "$out.stderr")"; return
  fi
  r=$(python3 - "$out" <<'EOF' 2>&1
import json, sys
d = json.load(open(sys.argv[1]))
lat = d["latency_us"]
bad = []
if (d["pattern"], d["bs"], d["qd"]) != ("randread", 4096, 32):
    bad.append("job %s bs %s qd %s, asked randread 4096 32" % (d["pattern"], d["bs"], d["qd"]))
if d["reads"] <= 0 or d["writes"] != 0 or d["ops"] != d["reads"]:
    bad.append("reads %s writes %s ops %s" % (d["reads"], d["writes"], d["ops"]))
if not d["iops"] > 0 or not d["duration_s"] > 0:
    bad.append("iops %s over %s s" % (d["iops"], d["duration_s"]))
if not 0 < lat["p50"] <= lat["p99"] <= lat["max"]:
    bad.append("latency percentiles out of order: %s" % lat)
print("; ".join(bad) if bad else "ok %d reads in %.1f s" % (d["reads"], d["duration_s"]))
EOF
  ) || { fail $name "rbd-cli's JSON: $r"; return; }
  case $r in ok*) pass "$name (${r#ok })" ;; *) fail $name "$r" ;; esac
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
