#!/usr/bin/env python3
"""The report of scripts/bench.sh: tables on stdout, the same as Markdown, and the JSON results file.

Usage: bench_report.py TMPDIR JSON_OUT MD_OUT key=value...   (the keys are bench.sh's run facts)
Reads the TSV files bench.sh wrote into TMPDIR; a part that did not run has an empty file.
"""
import json
import os
import sys

FOREIGN = ("nbdkit", "nbd-server", "qemu-nbd")

# The performance targets: (mode, job) -> what rbd's IOPS are compared with, and the least ratio.
TARGETS = [
    ("durable", "randwrite-4k-qd32", "best_foreign", 2.0),
    ("durable", "seqwrite-1m-qd8", "best_foreign", 1.3),
    ("flush", "randread-4k-qd32", "nbdkit", 1.0),
    ("flush", "randread-4k-qd32-4conn", "nbdkit", 1.0),
    ("flush", "seqread-1m-qd8", "nbdkit", 1.0),
    ("flush", "randwrite-4k-qd32", "nbdkit", 1.0),
    ("tls", "randread-4k-qd32", "nbdkit", 1.0),
    ("tls", "seqread-1m-qd8", "nbdkit", 1.0),
]
# The raw-disk figure "how close we get" is measured against.
DISK_REFERENCE = "psync-fdatasync32"


def read_tsv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("\t") for line in f if line.strip()]


def num(text):
    """A figure from the TSV files: '-' or '' is unknown (None)."""
    if text in ("", "-"):
        return None
    value = float(text)
    return int(value) if value.is_integer() else value


def ratio(a, b):
    return a / b if a is not None and b else None


def fmt(value, spec="%.0f"):
    return "-" if value is None else spec % value


def fmt_ratio(value):
    return "-" if value is None else "%.2f" % value


def target_text(r, minimum):
    """'met 2.13>=2.0' or 'MISSED 1.42<2.0', with a third decimal where two would hide the verdict."""
    shown = "%.2f" % r
    if (float(shown) >= minimum) != (r >= minimum):
        shown = "%.3f" % r
    return ("met %s>=%s" % (shown, minimum)) if r >= minimum else ("MISSED %s<%s" % (shown, minimum))


class Table:
    """A table rendered both as aligned text and as Markdown."""

    def __init__(self, header, right):
        self.header, self.right, self.rows = header, right, []

    def add(self, *cells):
        self.rows.append([str(c) for c in cells])

    def text(self):
        widths = [max(len(r[i]) for r in [self.header] + self.rows) for i in range(len(self.header))]
        out = []
        for r in [self.header] + self.rows:
            cells = [c.rjust(w) if i in self.right else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths))]
            out.append("  ".join(cells).rstrip())
        return "\n".join(out)

    def markdown(self):
        lines = ["| " + " | ".join(self.header) + " |",
                 "|" + "|".join("---:" if i in self.right else "---" for i in range(len(self.header))) + "|"]
        lines += ["| " + " | ".join(c if c else " " for c in r) + " |" for r in self.rows]
        return "\n".join(lines)


class Report:
    def __init__(self):
        self.md = []

    def say(self, text="", md=None):
        print(text)
        self.md.append(text if md is None else md)

    def table(self, t):
        print(t.text())
        self.md += [t.markdown(), ""]


def main():
    tmp, json_out, md_out = sys.argv[1:4]
    meta = dict(a.split("=", 1) for a in sys.argv[4:])
    modes, jobs, servers = meta["modes"].split(), meta["jobs"].split(), meta["servers"].split()
    parts = meta["parts"].split()
    rep = Report()

    # ---- servers and the jobs table
    status = {}
    for mode, server, st, why, desc in read_tsv(os.path.join(tmp, "servers.tsv")):
        status[(mode, server)] = dict(command=desc, status=st, reason=why or None)
    figures = {}
    for mode, server, job, iops, mbps, p50, p99 in read_tsv(os.path.join(tmp, "results.tsv")):
        figures[(mode, server, job)] = dict(iops=num(iops), mbps=num(mbps), p50_us=num(p50), p99_us=num(p99))

    targets = {(m, j): (against, minimum) for m, j, against, minimum in TARGETS}
    target_results = {}
    results = []
    for mode in modes if "jobs" in parts else []:
        rep.say()
        rep.say("mode %s:" % mode, "**mode %s**\n" % mode)
        for server in servers:
            st = status.get((mode, server), dict(command="", status="not run", reason=None))
            rep.say("  %-10s %s%s" % (server, st["command"],
                                      "" if st["status"] == "measured" else "  [%s%s]" % (
                                          st["status"].upper(), ": " + st["reason"] if st["reason"] else "")),
                    "- %s: `%s`%s" % (server, st["command"], "" if st["status"] == "measured" else " **%s%s**" % (
                        st["status"].upper(), ": " + st["reason"] if st["reason"] else "")))
        rep.say("", "")
        t = Table(["job", "server", "IOPS", "MB/s", "p50/p99 µs", "rbd/nbdkit", "rbd/best other", "target"],
                  right={2, 3, 4, 5})
        for job in jobs:
            per = {s: figures.get((mode, s, job)) for s in servers}
            rbd = per.get("rbd")
            rbd_iops = rbd["iops"] if rbd else None
            nbdkit_iops = per["nbdkit"]["iops"] if per.get("nbdkit") else None
            measured_foreign = [s for s in FOREIGN if per.get(s)]
            best = max(measured_foreign, key=lambda s: per[s]["iops"]) if measured_foreign else None
            best_iops = per[best]["iops"] if best else None
            r_nbdkit, r_best = ratio(rbd_iops, nbdkit_iops), ratio(rbd_iops, best_iops)
            target = None
            if (mode, job) in targets:
                against, minimum = targets[(mode, job)]
                r = r_nbdkit if against == "nbdkit" else r_best
                target = dict(against=against, min_ratio=minimum, ratio=r,
                              status="not measured" if r is None else "met" if r >= minimum else "missed")
                if against == "best_foreign":
                    target["best_of"] = measured_foreign
                target_results[(mode, job)] = target
            if target is None:
                t_cell = ""
            elif target["ratio"] is None:
                t_cell = "not measured"
            else:
                t_cell = target_text(target["ratio"], target["min_ratio"])
                if target["against"] == "best_foreign" and len(measured_foreign) < len(FOREIGN):
                    t_cell += " (best of %d)" % len(measured_foreign)
            for i, s in enumerate(servers):
                x = per.get(s)
                st = status.get((mode, s), {}).get("status", "not run")
                if x:
                    cells = [fmt(x["iops"]), fmt(x["mbps"], "%.1f"),
                             "%s/%s" % (fmt(x["p50_us"]), fmt(x["p99_us"]))]
                else:
                    cells = ["SKIPPED" if st == "skipped" else "failed" if st == "failed" else "-", "", ""]
                first = i == 0
                t.add(job if first else "", s, *cells,
                      fmt_ratio(r_nbdkit) if first else "",
                      ("%s (%s)" % (fmt_ratio(r_best), best) if best and r_best is not None else "-") if first else "",
                      t_cell if first else "")
            results.append(dict(
                mode=mode, job=job,
                servers={s: per.get(s) for s in servers},
                rbd_vs_nbdkit=r_nbdkit,
                best_foreign=dict(server=best, iops=best_iops, of=measured_foreign) if best else None,
                rbd_vs_best_foreign=r_best,
                target=target))
        rep.table(t)
        rep.say("(IOPS, MB/s = 10^6 bytes/s, completion latency p50/p99; rbd/...: ratio of IOPS; best other: the "
                "best of %s measured in this mode)" % ", ".join(FOREIGN))

    # ---- raw disk
    disk_tests = []
    for name, iops, mbps, p50, p99, sp50, sp99, options in read_tsv(os.path.join(tmp, "disk.tsv")):
        disk_tests.append(dict(name=name, fio=options, iops=num(iops), mbps=num(mbps), p50_us=num(p50),
                               p99_us=num(p99), fdatasync_p50_us=num(sp50), fdatasync_p99_us=num(sp99)))
    rbd_durable = figures.get(("durable", "rbd", "randwrite-4k-qd32"))
    rbd_durable_iops = rbd_durable["iops"] if rbd_durable else None

    def rbd_job_for(d):  # the durable rbd job a raw-disk test is the reference of
        return "seqwrite-1m-qd8" if "--bs=1M" in d["fio"] else "randwrite-4k-qd32"

    def rbd_iops_for(d):
        f = figures.get(("durable", "rbd", rbd_job_for(d)))
        return f["iops"] if f else None
    disk = dict(tests=disk_tests, reference=DISK_REFERENCE, rbd_durable_randwrite_4k_qd32_iops=rbd_durable_iops,
                rbd_job={d["name"]: rbd_job_for(d) for d in disk_tests},
                rbd_vs={d["name"]: ratio(rbd_iops_for(d), d["iops"]) for d in disk_tests})
    if disk_tests:
        rep.say()
        rep.say("raw disk (fio straight on the image file, no server):",
                "**raw disk** (fio straight on the image file, no server)")
        rep.say("", "")
        t = Table(["test", "fio", "IOPS", "MB/s", "write p50/p99 µs", "fdatasync p50/p99 µs", "rbd durable job",
                   "rbd / this"], right={2, 3, 4, 5, 7})
        for d in disk_tests:
            t.add(d["name"], d["fio"], fmt(d["iops"]), fmt(d["mbps"], "%.1f"),
                  "%s/%s" % (fmt(d["p50_us"]), fmt(d["p99_us"])),
                  "%s/%s" % (fmt(d["fdatasync_p50_us"]), fmt(d["fdatasync_p99_us"])),
                  rbd_job_for(d), fmt_ratio(disk["rbd_vs"][d["name"]]))
        rep.table(t)
        ref = next((d for d in disk_tests if d["name"] == DISK_REFERENCE), None)
        if rbd_durable_iops is not None and ref and ref["iops"]:
            rep.say("how close rbd gets: durable randwrite-4k-qd32 %.0f IOPS = %.2f of the disk's %.0f IOPS with "
                    "one fdatasync per 32 writes (%s)" % (rbd_durable_iops, rbd_durable_iops / ref["iops"],
                                                          ref["iops"], DISK_REFERENCE))
        else:
            rep.say("how close rbd gets: not measured (needs rbd's durable randwrite-4k-qd32 and %s)"
                    % DISK_REFERENCE)

    # ---- resources under 64 connections
    resources = []
    for row in read_tsv(os.path.join(tmp, "resources.tsv")):
        mode, server, job = row[:3]
        r = dict(mode=mode, server=server, job=job)
        for kv in row[3:]:
            k, v = kv.split("=", 1)
            r[k] = v == "1" if k == "hwm_reset" else num(v)
        resources.append(r)
    if resources:
        rep.say()
        rep.say("resources under 64 connections (%s, mode %s: 64 fio jobs, each its own NBD connection, "
                "4 requests in flight each; peaks over the job):" % (resources[0]["job"], resources[0]["mode"]),
                "**resources under 64 connections** (`%s`, mode %s: 64 fio jobs, each its own NBD connection, "
                "4 requests in flight each; peaks over the job)" % (resources[0]["job"], resources[0]["mode"]))
        rep.say("", "")
        t = Table(["server", "IOPS", "p50/p99 µs", "RSS peak MiB", "VmHWM MiB", "heap used/committed MiB",
                   "GCs young/full", "server CPU %"], right={1, 2, 3, 4, 5, 6, 7})
        mib = lambda kib: None if kib is None else kib / 1024.0
        for r in resources:
            heap = "-" if r.get("heap_used_peak_kib") is None else "%s/%s" % (
                fmt(mib(r["heap_used_peak_kib"])), fmt(mib(r.get("heap_committed_peak_kib"))))
            gcs = "-" if r.get("young_gcs") is None else "%s/%s" % (fmt(r["young_gcs"]), fmt(r.get("full_gcs")))
            t.add(r["server"], fmt(r.get("iops")), "%s/%s" % (fmt(r.get("p50_us")), fmt(r.get("p99_us"))),
                  fmt(mib(r.get("rss_peak_kib"))),
                  fmt(mib(r.get("rss_hwm_kib"))) + ("" if r.get("hwm_reset") else "*"),
                  heap, gcs, fmt(r.get("cpu_percent")))
        rep.table(t)
        rep.say("(RSS peak: VmRSS sampled every 0.5 s; VmHWM: the kernel's peak RSS during the job, * = since the "
                "server started; heap: jstat -gc, sampled every 0.5 s; CPU: the busiest %s s, 100 = one core)" % meta["runtime_s"])

    # ---- queue-depth sweep
    sweep = []
    for mode, workload, server, qd, iops, mbps, p50, p99 in read_tsv(os.path.join(tmp, "sweep.tsv")):
        sweep.append(dict(mode=mode, workload=workload, server=server, qd=int(qd), iops=num(iops),
                          mbps=num(mbps), p50_us=num(p50), p99_us=num(p99)))
    if sweep:
        qds = sorted({p["qd"] for p in sweep})
        for mode, workload in sorted({(p["mode"], p["workload"]) for p in sweep}, key=lambda x: modes.index(x[0])):
            rep.say()
            rep.say("queue-depth sweep: %s, mode %s (IOPS and p99 µs per queue depth):" % (workload, mode),
                    "**queue-depth sweep**: %s, mode %s" % (workload, mode))
            rep.say("", "")
            t = Table(["server", "figure"] + ["QD%d" % q for q in qds], right=set(range(2, 2 + len(qds))))
            for server in [s for s in servers if any(p["server"] == s for p in sweep)]:
                pts = {p["qd"]: p for p in sweep if (p["mode"], p["workload"], p["server"]) == (mode, workload, server)}
                t.add(server, "IOPS", *[fmt(pts[q]["iops"]) if q in pts else "-" for q in qds])
                t.add("", "p99 µs", *[fmt(pts[q]["p99_us"]) if q in pts else "-" for q in qds])
            rep.table(t)

    # ---- targets
    target_list = []
    for mode, job, against, minimum in TARGETS:
        tr = target_results.get((mode, job))
        ran = "jobs" in parts and mode in modes and job in jobs
        target_list.append(dict(mode=mode, job=job, against=against, min_ratio=minimum,
                                ratio=tr["ratio"] if tr else None,
                                status=tr["status"] if tr else ("not measured" if ran else "not run")))
    counts = {k: sum(1 for x in target_list if x["status"] == k) for k in ("met", "missed", "not measured", "not run")}
    doc = dict(
        schema=2,
        date=meta["date"], cores=int(meta["cores"]), cpu=meta["cpu"], kernel=meta["kernel"],
        runtime_s=int(meta["runtime_s"]), ramp_s=int(meta["ramp_s"]), warmup_s=int(meta["warmup_s"]),
        sweep_runtime_s=int(meta["sweep_runtime_s"]), sweep_ramp_s=int(meta["sweep_ramp_s"]),
        image_size=meta["image_size"], image_fs=meta["image_fs"],
        load_average_start=meta["load_average_start"], load_average_end=meta["load_average_end"],
        duration_s=int(meta["duration_s"]),
        versions={"fio": meta["v_fio"], "nbdkit": meta["v_nbdkit"] or None,
                  "nbd-server": meta["v_nbd_server"] or None, "qemu-nbd": meta["v_qemu_nbd"] or None,
                  "java": meta["v_java"] or None},
        modes=modes, jobs=jobs, servers_selected=servers, parts=parts,
        servers={m: {s: status.get((m, s)) for s in servers} for m in modes},
        results=results,
        raw_disk=disk,
        resources=resources,
        sweep=sweep,
        targets=dict(met=counts["met"], missed=counts["missed"], not_measured=counts["not measured"],
                     not_run=counts["not run"], list=target_list),
    )
    with open(json_out, "w") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")

    rep.say()
    rep.say("load average at start: %s, at end: %s; %d s in all" % (
        meta["load_average_start"], meta["load_average_end"], int(meta["duration_s"])))
    judged = [x for x in target_list if x["status"] != "not run"]

    def note(x):
        tr = target_results.get((x["mode"], x["job"]))
        fewer = tr and tr["against"] == "best_foreign" and tr["ratio"] is not None and len(tr["best_of"]) < len(FOREIGN)
        return " (best of %d)" % len(tr["best_of"]) if fewer else ""

    detail = ", ".join("%s %s %s%s" % (x["mode"], x["job"], target_text(x["ratio"], x["min_ratio"])
                                       if x["status"] == "missed" else x["status"], note(x))
                       for x in judged if x["status"] != "met")
    rep.say("targets: %d met, %d missed, %d not measured (of %d in this run)%s" % (
        counts["met"], counts["missed"], counts["not measured"], len(judged), ": " + detail if detail else ""))
    with open(md_out, "w") as f:
        f.write("\n".join(rep.md).strip() + "\n")
    print("results written to %s (tables as Markdown: %s)" % (json_out, md_out))


if __name__ == "__main__":
    main()
