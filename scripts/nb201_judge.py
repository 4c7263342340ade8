#!/usr/bin/env python3
"""How good is a derived NAS-Bench-201 architecture, beyond its percentile?

  nb201_judge.py RUN_DIR [--table ../shared/data/nb201/nats_bench.csv] [--cella build/cella]

Looks the run's architecture (RUN_DIR/arch.txt) up in NAS-Bench-201's table (CIFAR-10 test
accuracy after 200 epochs, the mean over seeds) and judges it against what a user gets by size
alone: the best architecture with as many parameters or fewer, and the best of exactly its
parameter count (parameters at NAS-Bench-201's own size, C=16, N=5, counted by `cella score`).
The main job ran on Fashion-MNIST at C=8, N=1; the table is CIFAR-10's, so this says how the
architecture the search chose ranks where NAS-Bench-201 measured it, not on the main job's data.
Standard library only.
"""
import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("run")
    p.add_argument("--table", default=os.path.join(ROOT, "..", "shared", "data", "nb201", "nats_bench.csv"))
    p.add_argument("--cella", default=os.path.join(ROOT, "build", "cella"))
    args = p.parse_args()
    if not os.path.exists(args.table):
        print(f"nb201_judge: {args.table} not found; no NAS-Bench-201 table to judge against", file=sys.stderr)
        return 0
    arch = open(os.path.join(args.run, "arch.txt")).read().split()[0]
    with open(args.table) as f:
        acc = {r["ArchitectureString"]: float(r["CIFAR10TestAccuracy200Epochs"]) for r in csv.DictReader(f)}
    if arch not in acc:
        print(f"nb201_judge: {arch} is not a NAS-Bench-201 architecture", file=sys.stderr)
        return 1
    with tempfile.NamedTemporaryFile("w", suffix=".txt") as archs:
        archs.write("\n".join(acc) + "\n")
        archs.flush()
        out = subprocess.run([args.cella, "score", os.path.join(ROOT, "spaces", "nb201.cella"), "--data", "cifar10",
                              "--proxy", "params", "--archs", archs.name, "--json", "--threads", "1"],
                             check=True, capture_output=True, text=True).stdout
    params = {r["arch"]: int(r["params"]) for r in json.loads(out)["rows"]}
    mine, size = acc[arch], params[arch]
    below = sum(v < mine for v in acc.values())
    fewer = [a for a in acc if params[a] <= size]
    same = [a for a in acc if params[a] == size]
    best_fewer = max(fewer, key=lambda a: acc[a])
    best_same = max(same, key=lambda a: acc[a])
    best = max(acc, key=lambda a: acc[a])
    print(f"NAS-Bench-201 (CIFAR-10, 200 epochs) for the derived architecture {arch}:")
    print(f"  {mine:.2f} %, above {below} of {len(acc)} ({100 * below / len(acc):.1f} %); "
          f"{size:,} parameters at C=16, N=5")
    print(f"  the best of the {len(fewer):,} with as many parameters or fewer: {acc[best_fewer]:.2f} % "
          f"({params[best_fewer]:,} parameters) {best_fewer}")
    same_acc = sorted(acc[a] for a in same)
    print(f"  the best of the {len(same):,} with exactly as many: {acc[best_same]:.2f} % {best_same}; their median "
          f"{same_acc[len(same_acc) // 2]:.2f} %, and the derived one above {sum(v < mine for v in same_acc)} of them")
    print(f"  the derived architecture is {acc[best_fewer] - mine:.2f} points below the best it could have been at "
          f"its size; the best of the space: {acc[best]:.2f} % ({params[best]:,} parameters)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
