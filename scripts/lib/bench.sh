# shellcheck shell=bash
# Sourced by the benchmark scripts (bench.sh, client-bench.sh): loud skips, fio runs and the figures read
# from fio's JSON. Callers set LOG_PREFIX and tmp (the run's temp dir, where fio runs).

# skip_all MESSAGE: a loud skip, on stdout and stderr, with exit status 77.
skip_all() {
  echo "SKIP ${LOG_PREFIX:-bench}: $*"
  echo "SKIP ${LOG_PREFIX:-bench}: $*" >&2
  exit 77
}

# require_tools TOOL...: skips unless every TOOL is on PATH and fio has its nbd ioengine.
require_tools() {
  local t missing=()
  for t in "$@"; do command -v "$t" >/dev/null 2>&1 || missing+=("$t"); done
  [ ${#missing[@]} -eq 0 ] || skip_all "missing tool: ${missing[*]} -- nothing was measured"
  fio --enghelp=nbd >/dev/null 2>&1 ||
    skip_all "missing tool: this fio ($(fio --version)) has no nbd ioengine -- nothing was measured"
}

# require_built MODULE...: exits 2, saying how to build, unless each MODULE (rbd-server, rbd-cli) has its jar.
require_built() {
  local m root
  root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  for m in "$@"; do
    if ! ls "$root/$m/target/$m"-*-all.jar >/dev/null 2>&1; then
      echo "${LOG_PREFIX:-bench}: $m is not built; run: (cd $root && mvn -q -DskipTests package)" >&2
      exit 2
    fi
  done
}

# fio_run OUT SECONDS ARG...: one fio run with ARG..., JSON to OUT and its messages to OUT.stderr, killed
# after SECONDS + 120 s. Runs in $tmp so nothing fio might write lands in the caller's directory. On failure
# says why on stderr.
fio_run() {
  local out=$1 secs=$2
  shift 2
  if ! (cd "${tmp:?}" && exec timeout $((secs + 120)) fio "$@" --output-format=json --output="$out") >"$out.stderr" 2>&1; then
    echo "${LOG_PREFIX:-bench}: fio ${1#--name=} failed: $(tail -n 3 "$out.stderr" "$out" 2>/dev/null | tr '\n' ' ' | cut -c1-600)" >&2
    return 1
  fi
}

# fill_image IMG SIZE: IMG preallocated (fallocate, else sparse) and filled with random data, so that reads
# hit real blocks rather than unwritten extents, and the file is in the page cache. Fails with a message.
fill_image() {
  local img=$1 size=$2
  fallocate -l "$size" "$img" 2>/dev/null || truncate -s "$size" "$img" ||
    { echo "${LOG_PREFIX:-bench}: cannot create $img" >&2; return 1; }
  dd if=/dev/urandom of="$img" bs=1M count=$(( $(stat -c %s "$img") / 1048576 )) conv=notrunc,fsync status=none ||
    { echo "${LOG_PREFIX:-bench}: cannot fill $img" >&2; return 1; }
}

# fio_figures OUT read|write [clat|lat]: from fio's JSON in OUT, the first job's (or group's) IOPS, MB/s
# (10^6 bytes/s), p50 and p99 latency in µs (completion latency by default, total with lat) and the p50
# and p99 of its fdatasync calls (0 without), tab-separated. Fails on a job error.
fio_figures() {
  python3 - "$@" <<'EOF'
import json, sys
path, rw = sys.argv[1:3]
kind = sys.argv[3] if len(sys.argv) > 3 else "clat"
text = open(path).read()
job = json.loads(text[text.index("{"):])["jobs"][0]   # fio may print notes before the JSON
if job.get("error"):
    sys.exit("fio job error %s" % job["error"])
s = job[rw]
pct = (s.get(kind + "_ns") or {}).get("percentile") or s.get("clat_ns", {}).get("percentile") or {}
sync = ((job.get("sync") or {}).get("lat_ns") or {}).get("percentile") or {}
us = lambda d, k: d.get(k, 0) / 1000.0
print("%.0f\t%.1f\t%.0f\t%.0f\t%.0f\t%.0f" % (s["iops"], s["bw_bytes"] / 1e6, us(pct, "50.000000"),
      us(pct, "99.000000"), us(sync, "50.000000"), us(sync, "99.000000")))
EOF
}
