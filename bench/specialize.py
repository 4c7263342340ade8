#!/usr/bin/env python3
"""The specialisation benchmark on NAS-Bench-201's table (bench/README.md, "Specialisation").

Runs `cella specialize --table` for each tactic and seed, caches the run directories under
bench/specialize-runs/ (gitignored; delete one to redo it) and the summary in
bench/specialize/results.json, then prints the tables:

1. accuracy against multiply-accumulates: the hypervolume after n evaluations, mean and standard
   deviation over seeds, as a fraction of the hypervolume of the table's true front (every one of
   the 15,625 architectures validated), for two reference points (cella's default, accuracy 0 and
   the supernet's MACs; and accuracy 85 %, which counts only the front's useful part), and how
   many evaluations each tactic needs to reach 95 %, 98 % and 99 % of it;
2. single objective: the best test accuracy after 50, 100, 200 and 500 queries for random search
   and regularized evolution;
3. accuracy against latency timed here (batch 1, the threads given): the same hypervolumes, over
   fewer seeds and evaluations (every validation times a network);
4. latency itself: two timings of the same 100 random architectures (run-to-run spread) and how
   well multiply-accumulates and parameters rank them (Kendall tau-b);
   With --full-latency every architecture of the table is timed once, for the true latency front.
5. with --main-job: the main job's search (`cella search spaces/nb201.cella --set C=8 --set N=1`)
   specialised by its plan's `specialize` block (accuracy with its weights against latency).

Usage: python3 bench/specialize.py [--build build] [--seeds 5] [--single-seeds 20] [--latency-seeds 3]
       [--main-job] [--full-latency]
"""
import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TABLE = os.path.join(ROOT, "..", "shared", "data", "nb201", "nats_bench.csv")
RUNS = os.path.join(ROOT, "bench", "specialize-runs")
RESULTS = os.path.join(ROOT, "bench", "specialize", "results.json")
TACTICS = ["random", "evolution", "nsga2", "linas"]
BUDGET = 500
LATENCY_BUDGET = 150
LATENCY_POINTS = [25, 50, 100, 150]
POINTS = [50, 100, 200, 300, 500]
QUERIES = [50, 100, 200, 500]


def specialize(build, out, args):
    """Runs one specialisation unless its result is cached; returns its wall time in seconds."""
    if os.path.exists(os.path.join(out, "result.json")):
        return json.load(open(os.path.join(out, "timing.json")))["seconds"]
    if os.path.exists(out):
        subprocess.run(["rm", "-rf", out], check=True)
    cmd = [os.path.join(build, "cella"), "specialize", "spaces/nb201.cella", "--data", "cifar10",
           "--table", TABLE, "--out", out] + args
    start = time.time()
    subprocess.run(cmd, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    seconds = time.time() - start
    json.dump({"seconds": seconds, "command": cmd}, open(os.path.join(out, "timing.json"), "w"))
    return seconds


def accuracies(out):
    with open(os.path.join(out, "evaluations.csv")) as f:
        return [float(r["accuracy"]) for r in csv.DictReader(f)]


def rows(out):
    with open(os.path.join(out, "evaluations.csv")) as f:
        return list(csv.DictReader(f))


def hv2d(points, ref):
    """Hypervolume of (accuracy to maximise, cost to minimise) points up to ref = (acc, cost)."""
    pts = sorted((c, a) for a, c in points if a > ref[0] and c < ref[1])
    hv, best = 0.0, ref[0]
    for i, (c, a) in enumerate(pts):
        best = max(best, a)
        nxt = pts[i + 1][0] if i + 1 < len(pts) else ref[1]
        hv += (best - ref[0]) * (nxt - c)
    return hv


def hv_curve(points, ref, marks):
    return [hv2d(points[:n], ref) for n in marks]


def kendall_tau_b(x, y):
    n, conc, disc, tx, ty = len(x), 0, 0, 0, 0
    for i in range(n):
        for j in range(i + 1, n):
            dx, dy = x[i] - x[j], y[i] - y[j]
            if dx == 0 and dy == 0:
                continue
            if dx == 0:
                tx += 1
            elif dy == 0:
                ty += 1
            elif (dx > 0) == (dy > 0):
                conc += 1
            else:
                disc += 1
    return (conc - disc) / ((conc + disc + tx) * (conc + disc + ty)) ** 0.5


def mean_sd(values):
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--single-seeds", type=int, default=20)
    ap.add_argument("--latency-seeds", type=int, default=3)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--main-job", action="store_true")
    ap.add_argument("--full-latency", action="store_true", help="time all 15,625 architectures (about 45 minutes)")
    a = ap.parse_args()
    os.makedirs(RUNS, exist_ok=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)

    # The true front: every architecture of the table validated (random search with a budget of
    # the whole space; its last curve point is the hypervolume of the full table's front).
    full = os.path.join(RUNS, "full-table")
    specialize(a.build, full, ["--objectives", "accuracy,macs", "--tactic", "random", "--budget", "15625"])

    multi = {}
    for tactic in TACTICS:
        runs, seconds = [], []
        for seed in range(a.seeds):
            out = os.path.join(RUNS, f"{tactic}-seed{seed}")
            seconds.append(specialize(a.build, out, ["--objectives", "accuracy,macs", "--tactic", tactic,
                                                     "--budget", str(BUDGET), "--seed", str(seed)]))
            runs.append([(float(r["accuracy"]), float(r["macs_M"])) for r in rows(out)])
        multi[tactic] = {"points": runs, "seconds": seconds}
    table = [(float(r["accuracy"]), float(r["macs_M"])) for r in rows(full)]
    macs_ref = json.load(open(os.path.join(full, "result.json")))["reference"]["macs"]

    single = {}
    for tactic in ["random", "evolution"]:
        best = []
        for seed in range(a.single_seeds):
            out = os.path.join(RUNS, f"single-{tactic}-seed{seed}")
            specialize(a.build, out, ["--objectives", "accuracy", "--tactic", tactic, "--budget", str(BUDGET),
                                      "--seed", str(seed)])
            acc = accuracies(out)
            best.append([max(acc[:q]) for q in QUERIES])
        single[tactic] = best

    threads = ["--threads", str(a.threads)]
    latency_runs = {}
    for tactic in TACTICS:
        for seed in range(a.latency_seeds):
            out = os.path.join(RUNS, f"latency-{tactic}-seed{seed}")
            specialize(a.build, out, ["--objectives", "accuracy,latency", "--tactic", tactic, "--budget",
                                      str(LATENCY_BUDGET), "--seed", str(seed)] + threads)
            latency_runs.setdefault(tactic, []).append(
                [(float(r["accuracy"]), float(r["latency_ms"])) for r in rows(out)])
    repeats = []
    for rep in range(2):
        out = os.path.join(RUNS, f"latency-repeat{rep}")
        specialize(a.build, out, ["--objectives", "accuracy,latency,macs", "--tactic", "random", "--budget", "100",
                                  "--seed", "7"] + threads)
        repeats.append(rows(out))

    main_job = None
    if a.main_job:
        search = os.path.join(RUNS, "main-job-search")
        if not os.path.exists(os.path.join(search, "result.json")):
            subprocess.run(["rm", "-rf", search])
            subprocess.run([os.path.join(a.build, "cella"), "search", "spaces/nb201.cella", "--set", "C=8",
                            "--set", "N=1", "--out", search] + threads, cwd=ROOT, check=True,
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out = os.path.join(RUNS, "main-job-specialize")
        if not os.path.exists(os.path.join(out, "result.json")):
            subprocess.run(["rm", "-rf", out])
            start = time.time()
            subprocess.run([os.path.join(a.build, "cella"), "specialize", "--weights", search, "--out", out] +
                           threads, cwd=ROOT, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            json.dump({"seconds": time.time() - start}, open(os.path.join(out, "timing.json"), "w"))
        main_job = {"seconds": json.load(open(os.path.join(out, "timing.json")))["seconds"],
                    "front": [dict(r) for r in csv.DictReader(open(os.path.join(out, "front.csv")))],
                    "evaluations": len(rows(out))}

    json.dump({"multi": multi, "single": single, "latency": latency_runs,
               "latency_repeats": [[dict(r) for r in rep] for rep in repeats], "main_job": main_job},
              open(RESULTS, "w"))

    def hv_table(runs_by_tactic, true_points, ref, marks, what):
        true_hv = hv2d(true_points, ref)
        print(f"{what}; reference accuracy {ref[0]} %, cost {ref[1]:.4g}: true front hypervolume {true_hv:.6g}\n")
        print("| tactic | " + " | ".join(f"after {n}" for n in marks) +
              " | evaluations to 95% / 98% / 99% (median over seeds) |")
        print("|---|" + "---|" * len(marks) + "---|")
        for tactic, runs in runs_by_tactic.items():
            cells = []
            for n in marks:
                m, sd = mean_sd([hv2d(r[:n], ref) / true_hv for r in runs])
                cells.append(f"{m:.3f} ± {sd:.3f}")
            reach = []
            for frac in (0.95, 0.98, 0.99):
                hits = []
                for r in runs:
                    hit = None
                    for n in range(1, len(r) + 1):
                        if hv2d(r[:n], ref) >= frac * true_hv:
                            hit = n
                            break
                    hits.append(hit)
                got = [h for h in hits if h is not None]
                reach.append(f"{statistics.median(got):.0f}" if len(got) == len(hits) else
                             f"{statistics.median(got):.0f} ({len(got)}/{len(hits)} seeds)" if got
                             else f"> {len(runs[0])}")
            print(f"| {tactic} | " + " | ".join(cells) + f" | {' / '.join(reach)} |")
        print()

    print(f"## Accuracy (CIFAR-10 test, NAS-Bench-201 table) against multiply-accumulates, {a.seeds} seeds, "
          f"{BUDGET} evaluations\n")
    print(f"true front: {sum(1 for _ in open(os.path.join(full, 'front.csv'))) - 1} architectures\n")
    runs_by = {t: multi[t]["points"] for t in TACTICS}
    hv_table(runs_by, table, (0.0, macs_ref), POINTS, "cella's default reference")
    hv_table(runs_by, table, (85.0, macs_ref), POINTS, "the useful part of the front")
    print("wall time per run (s): " + ", ".join(
        f"{t} {statistics.mean(multi[t]['seconds']):.1f}" for t in TACTICS) + "\n")

    print(f"## Single objective: best test accuracy after n queries, {a.single_seeds} seeds\n")
    print("| tactic | " + " | ".join(f"{q} queries" for q in QUERIES) + " |")
    print("|---|" + "---|" * len(QUERIES))
    for tactic, best in single.items():
        cells = []
        for k in range(len(QUERIES)):
            m, sd = mean_sd([b[k] for b in best])
            cells.append(f"{m:.2f} ± {sd:.2f}")
        print(f"| {tactic} | " + " | ".join(cells) + " |")
    print()

    print(f"## Accuracy against latency timed here (batch 1, {a.threads} threads), {a.latency_seeds} seeds, "
          f"{LATENCY_BUDGET} evaluations\n")
    all_latency = [p for runs in latency_runs.values() for r in runs for p in r]
    lat_ref = 1.2 * max((l for _, l in all_latency), default=0)
    full_latency = os.path.join(RUNS, "full-table-latency")
    if a.full_latency:
        specialize(a.build, full_latency, ["--objectives", "accuracy,latency", "--tactic", "random", "--budget",
                                           "15625"] + threads)
    if os.path.exists(os.path.join(full_latency, "result.json")):
        # Every architecture of the table timed once, in another run than the tactics' (their
        # timings of the same architecture differ by the measurement's spread, below).
        table_latency = [(float(r["accuracy"]), float(r["latency_ms"])) for r in rows(full_latency)]
        lat_ref = 1.2 * max(l for _, l in table_latency + all_latency)
        hv_table(latency_runs, table_latency, (85.0, lat_ref), LATENCY_POINTS,
                 "the front of all 15,625 architectures, timed in one run")
    elif all_latency:
        # Without the hour it takes to time all 15,625 architectures, the union of every run's
        # points stands in for the true front.
        hv_table(latency_runs, all_latency, (85.0, lat_ref), LATENCY_POINTS,
                 "the union of all runs' points as the front")

    a0, a1 = repeats
    t0 = [float(r["latency_ms"]) for r in a0]
    t1 = [float(r["latency_ms"]) for r in a1]
    macs = [float(r["macs_M"]) for r in a0]
    params = [float(r["params_M"]) for r in a0]
    rel = sorted(abs(x - y) / ((x + y) / 2) for x, y in zip(t0, t1))
    print("## Latency measurement: 100 random architectures timed twice\n")
    print(f"- latency {min(t0):.3f}–{max(t0):.3f} ms; run-to-run difference: median {100 * statistics.median(rel):.1f} %, "
          f"90th percentile {100 * rel[int(0.9 * len(rel))]:.1f} %")
    print(f"- Kendall tau-b, first timing against the second: {kendall_tau_b(t0, t1):.3f}")
    print(f"- Kendall tau-b of latency with multiply-accumulates: {kendall_tau_b(macs, t0):.3f}, "
          f"with parameters: {kendall_tau_b(params, t0):.3f}\n")

    if main_job:
        print(f"## The main job's supernet: {main_job['evaluations']} evaluations in {main_job['seconds']:.0f} s\n")
        for r in main_job["front"]:
            print(f"- {float(r['accuracy']):.2f} %, {float(r['latency_ms']):.3f} ms: {r['arch']}")


if __name__ == "__main__":
    sys.exit(main())
