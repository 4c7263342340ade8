#!/usr/bin/env python3
"""The specialisation benchmark on NAS-Bench-201's table (bench/README.md, "Specialisation").

Runs `cella specialize --table` for each tactic and seed, caches the run directories under
bench/specialize-runs/ (gitignored; delete one to redo it) and the summary in
bench/specialize/results.json, then prints the tables:

1. accuracy against multiply-accumulates: the hypervolume after n evaluations, mean and standard
   deviation over seeds, as a fraction of the hypervolume of the table's true front (every one of
   the 15,625 architectures validated), and how many evaluations each tactic needs to reach 95%,
   98% and 99% of it;
2. single objective: the best test accuracy after 50, 100, 200 and 500 queries for random search
   and regularized evolution.

Usage: python3 bench/specialize.py [--build build] [--seeds 5] [--single-seeds 20]
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


def hypervolumes(out):
    with open(os.path.join(out, "hypervolume.csv")) as f:
        rows = [r for r in csv.reader(f) if r and not r[0].startswith("#")][1:]
    return [float(r[1]) for r in rows]


def accuracies(out):
    with open(os.path.join(out, "evaluations.csv")) as f:
        return [float(r["accuracy"]) for r in csv.DictReader(f)]


def mean_sd(values):
    return statistics.mean(values), statistics.stdev(values) if len(values) > 1 else 0.0


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--build", default=os.path.join(ROOT, "build"))
    ap.add_argument("--seeds", type=int, default=5)
    ap.add_argument("--single-seeds", type=int, default=20)
    a = ap.parse_args()
    os.makedirs(RUNS, exist_ok=True)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)

    # The true front: every architecture of the table validated (random search with a budget of
    # the whole space; its last curve point is the hypervolume of the full table's front).
    full = os.path.join(RUNS, "full-table")
    specialize(a.build, full, ["--tactic", "random", "--budget", "15625"])
    true_hv = hypervolumes(full)[-1]
    front_size = sum(1 for _ in open(os.path.join(full, "front.csv"))) - 1

    multi = {}
    for tactic in TACTICS:
        curves, seconds = [], []
        for seed in range(a.seeds):
            out = os.path.join(RUNS, f"{tactic}-seed{seed}")
            seconds.append(specialize(a.build, out, ["--tactic", tactic, "--budget", str(BUDGET), "--seed", str(seed)]))
            curves.append(hypervolumes(out))
        multi[tactic] = {"curves": curves, "seconds": seconds}

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
    json.dump({"true_hypervolume": true_hv, "true_front": front_size, "multi": multi, "single": single},
              open(RESULTS, "w"), indent=1)

    print(f"true front of the table: {front_size} architectures, hypervolume {true_hv:.6g} "
          f"(accuracy % x M multiply-accumulates, reference accuracy 0, the supernet's MACs)\n")
    print("| tactic | " + " | ".join(f"HV/true after {n}" for n in POINTS) +
          " | evaluations to 95% / 98% / 99% (median) | wall time per run (s) |")
    print("|---|" + "---|" * len(POINTS) + "---|---:|")
    for tactic in TACTICS:
        curves = multi[tactic]["curves"]
        cells = []
        for n in POINTS:
            m, s = mean_sd([c[n - 1] / true_hv for c in curves])
            cells.append(f"{m:.4f} ± {s:.4f}")
        reach = []
        for frac in (0.95, 0.98, 0.99):
            hits = [next((i + 1 for i, v in enumerate(c) if v >= frac * true_hv), None) for c in curves]
            got = [h for h in hits if h is not None]
            reach.append(f"{statistics.median(got):.0f}" if len(got) == len(hits) else
                         f"{statistics.median(got):.0f} ({len(got)}/{len(hits)} seeds)" if got else f"> {BUDGET}")
        print(f"| {tactic} | " + " | ".join(cells) + f" | {' / '.join(reach)} | "
              f"{statistics.mean(multi[tactic]['seconds']):.1f} |")
    print()
    print("| tactic | " + " | ".join(f"best test accuracy after {q} queries" for q in QUERIES) + " |")
    print("|---|" + "---|" * len(QUERIES))
    for tactic, best in single.items():
        cells = []
        for k in range(len(QUERIES)):
            m, s = mean_sd([b[k] for b in best])
            cells.append(f"{m:.2f} ± {s:.2f}")
        print(f"| {tactic} ({len(best)} seeds) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    sys.exit(main())
