#!/usr/bin/env bash
# Chart of the queue-depth sweep in a scripts/bench.sh JSON results file: IOPS and p99 latency
# against queue depth (1..64, log2 axis) for each server in the sweep (rbd and nbdkit), one row per
# sweep workload (randread 4k in flush mode, randwrite 4k in durable mode), as a PNG.
#
# Usage: scripts/bench-chart.sh BENCH.json OUT.png
#
# Exit status: 0 ok, 1 no sweep in the file or gnuplot failed, 2 usage, 77 skipped because gnuplot
# (Debian: gnuplot-nox) or python3 is missing.
set -u

usage() { awk 'NR > 1 && !/^#/ {exit} NR > 1 {sub(/^# ?/, ""); print}' "$0"; }
case ${1:-} in -h|--help) usage; exit 0 ;; esac
[ $# -eq 2 ] || { usage >&2; exit 2; }
json=$1 png=$2
[ -r "$json" ] || { echo "bench-chart: cannot read $json" >&2; exit 2; }
for t in gnuplot python3; do
  if ! command -v "$t" >/dev/null 2>&1; then
    echo "SKIP bench-chart: missing tool: $t -- no chart drawn"
    echo "SKIP bench-chart: missing tool: $t -- no chart drawn" >&2
    exit 77
  fi
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/rbd-bench-chart.XXXXXX") || exit 2
trap 'rm -rf "$tmp"' EXIT

# One data file per workload and server ("qd iops p99_us"), and the gnuplot script that draws them.
python3 - "$json" "$tmp" "$png" <<'EOF' || exit 1
import json, os, sys
path, tmp, png = sys.argv[1:4]
d = json.load(open(path))
sweep = d.get("sweep") or []
if not sweep:
    sys.exit("bench-chart: %s has no queue-depth sweep (run scripts/bench.sh with the sweep part)" % path)
mode_order = {"flush": 0, "durable": 1}
rows = sorted({(p["mode"], p["workload"]) for p in sweep}, key=lambda r: (mode_order.get(r[0], 9), r[1]))
servers = [s for s in ("rbd", "nbdkit") if any(p["server"] == s for p in sweep)]
servers += sorted({p["server"] for p in sweep} - set(servers))
colors = {"rbd": "#1f5fbf", "nbdkit": "#e07b00"}
qds = sorted({p["qd"] for p in sweep})

def q(text):
    return '"%s"' % text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")

g = []
w, h = 1400, 520 * len(rows) + 80
g.append("set terminal pngcairo size %d,%d font 'DejaVu Sans,11' noenhanced" % (w, h))
g.append("set output %s" % q(png))
title = "rbd bench %s - %s cores - %s" % (d.get("date", "?"), d.get("cores", "?"), d.get("cpu") or "?")
sub = "%s s ramp + %s s measured per point, fio nbd engine over loopback TCP, %s image on %s" % (
    d.get("sweep_ramp_s", "?"), d.get("sweep_runtime_s", "?"), d.get("image_size", "?"), d.get("image_fs", "?"))
g.append("set multiplot layout %d,2 title %s font ',14'" % (len(rows), q(title + "\n" + sub)))
g.append("set logscale x 2")
g.append("set xrange [%g:%g]" % (min(qds) / 1.25, max(qds) * 1.25))
g.append("set xtics (%s)" % ", ".join('"%d" %d' % (x, x) for x in qds))
g.append("set xlabel 'queue depth (requests in flight, one connection)'")
g.append("set grid xtics ytics mytics lc rgb '#dddddd'")
g.append("set key top left box opaque")
g.append("set style data linespoints")
for mode, workload in rows:
    plots = {}
    for s in servers:
        pts = sorted((p["qd"], p["iops"], p["p99_us"]) for p in sweep
                     if (p["mode"], p["workload"], p["server"]) == (mode, workload, s)
                     and p["iops"] is not None)
        if not pts:
            continue
        f = os.path.join(tmp, "%s-%s-%s.dat" % (mode, workload, s))
        with open(f, "w") as out:
            out.writelines("%d %s %s\n" % pt for pt in pts)
        plots[s] = f
    style = lambda s: "lw 2 pt 7 ps 1.2 lc rgb %s" % q(colors.get(s, "#555555"))
    g.append("set title %s" % q("%s, %s mode: IOPS" % (workload, mode)))
    g.append("unset logscale y")
    g.append("set yrange [0:*]")
    g.append("set ylabel 'thousand IOPS'")
    g.append("set format y '%g'")
    g.append("plot " + ", ".join("%s using 1:($2/1000) title %s %s" % (q(f), q(s), style(s)) for s, f in plots.items()))
    g.append("set title %s" % q("%s, %s mode: p99 latency" % (workload, mode)))
    g.append("set logscale y 10")
    g.append("set yrange [*:*]")
    g.append("set ylabel 'p99 completion latency, ms (log scale)'")
    g.append("set format y '%g'")
    g.append("plot " + ", ".join("%s using 1:($3/1000) title %s %s" % (q(f), q(s), style(s)) for s, f in plots.items()))
g.append("unset multiplot")
open(os.path.join(tmp, "chart.gp"), "w").write("\n".join(g) + "\n")
EOF

if ! gnuplot "$tmp/chart.gp" 2>"$tmp/gnuplot.err"; then
  echo "bench-chart: gnuplot failed: $(tail -n 5 "$tmp/gnuplot.err")" >&2
  exit 1
fi
echo "bench-chart: wrote $png"
