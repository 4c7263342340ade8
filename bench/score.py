#!/usr/bin/env python3
"""Training-free scores on NAS-Bench-201 (bench/README.md, "Training-free scores").

  score.py run      score a fixed sample of NB201 architectures of NASLib's zero-cost table with
                    `cella score` at NB201's own size (C=16, N=5): the data-free scores on
                    CIFAR-10's shape, the data scores on Fashion-MNIST (CIFAR-10's images are not
                    on this machine); cached in bench/score/*.csv (delete a file to redo it)
  score.py report   Kendall tau-b of each score against NB201's CIFAR-10 accuracy, and against
                    NASLib's value of the same score (zc_nasbench201: the same proxies computed by
                    zero-cost-nas's code on CIFAR-10), with bootstrap intervals

Only the Python standard library is used.
"""
import argparse
import csv
import json
import os
import random
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
HERE = os.path.join(ROOT, "bench", "score")
NB201 = os.path.join(ROOT, "..", "shared", "data", "nb201")
sys.path.insert(0, os.path.join(ROOT, "bench"))
from ranking import kendall_tau_b, signs, fmt_ci  # noqa: E402

# cella's name -> NASLib's column in zc_nasbench201_flat.csv
NASLIB = {"params": "params", "macs": "flops", "synflow": "synflow", "snip": "snip", "grasp": "grasp",
          "jacob_cov": "jacov", "naswot": "nwot"}
RUNS = {"datafree": ("cifar10", "params,macs,synflow,zen"), "data": ("fashion_mnist", "snip,grasp,jacob_cov,naswot")}


def table():
    with open(os.path.join(NB201, "zc_nasbench201_flat.csv")) as f:
        return [r for r in csv.DictReader(f) if r["dataset"] == "cifar10"]


def sample(n, seed):
    rows = table()
    return random.Random(seed).sample(rows, n)


def run(args):
    os.makedirs(HERE, exist_ok=True)
    rows = sample(args.n, args.seed)
    archs = os.path.join(HERE, "archs.txt")
    with open(archs, "w") as f:
        f.write("\n".join(r["arch_str"] for r in rows) + "\n")
    for name, (data, proxies) in RUNS.items():
        out = os.path.join(HERE, f"{name}.csv")
        if os.path.exists(out):
            continue
        t0 = time.time()
        res = subprocess.run([os.path.join(ROOT, args.build, "cella"), "score", os.path.join(ROOT, "spaces", "nb201.cella"),
                              "--archs", archs, "--data", data, "--proxy", proxies, "--threads", str(args.threads),
                              "--json"], check=True, capture_output=True, text=True).stdout
        j = json.loads(res)
        with open(out, "w", newline="") as f:
            f.write(f"# written by bench/score.py run: cella score --data {data} --proxy {proxies}, NB201 at C=16 N=5, "
                    f"seed 0, batch 64; {time.time() - t0:.0f} s on {args.threads} thread(s)\n")
            w = csv.writer(f)
            w.writerow(["arch"] + j["proxies"])
            for r in j["rows"]:
                w.writerow([r["arch"]] + ["nan" if r[p] is None else repr(r[p]) for p in j["proxies"]])
        print(f"{name}: {len(j['rows'])} architectures in {time.time() - t0:.0f} s", flush=True)


def report(args):
    rows = {r["arch_str"]: r for r in sample(args.n, args.seed)}
    scores = {}
    for name in RUNS:
        with open(os.path.join(HERE, f"{name}.csv")) as f:
            for r in csv.DictReader(l for l in f if not l.startswith("#")):
                for k, v in r.items():
                    if k != "arch":
                        x = float(v)
                        scores.setdefault(k, {})[r["arch"]] = x if x == x else float("-inf")
    archs = [a for a in rows if all(a in s for s in scores.values())]
    n = len(archs)
    acc = [float(rows[a]["val_accuracy"]) for a in archs]
    sacc = signs(acc)
    rng = random.Random(2026)
    resamples = [[rng.randrange(n) for _ in range(n)] for _ in range(1000)]
    full = list(range(n))

    def boot(sx, sy):
        return kendall_tau_b(sx, sy, full), [kendall_tau_b(sx, sy, idx) for idx in resamples]

    print(f"{n} NB201 architectures (sample seed {args.seed}) of NASLib's zero-cost table; accuracy: NASLib's "
          "CIFAR-10 val_accuracy; 1000 bootstrap resamples, 95 % intervals\n")
    print("| score | input | Kendall tau-b with NB201's CIFAR-10 accuracy | NASLib's same score, tau-b with it | "
          "tau-b of cella's and NASLib's score |")
    print("|---|---|---|---|---|")
    for name in ["params", "macs", "synflow", "zen", "snip", "grasp", "jacob_cov", "naswot"]:
        s = signs([scores[name][a] for a in archs])
        data = "CIFAR-10's shape, no images" if name in RUNS["datafree"][1].split(",") else "64 Fashion-MNIST images"
        theirs = agree = "-"
        if name in NASLIB:
            t = signs([float(rows[a][NASLIB[name]]) for a in archs])
            theirs = fmt_ci(*boot(t, sacc))
            agree = fmt_ci(*boot(s, t))
        print(f"| {name} | {data} | {fmt_ci(*boot(s, sacc))} | {theirs} | {agree} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    p.add_argument("--n", type=int, default=200)
    p.add_argument("--seed", type=int, default=2026)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--threads", type=int, default=2)
    sub.add_parser("report")
    args = p.parse_args()
    {"run": run, "report": report}[args.cmd](args)
