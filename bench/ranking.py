#!/usr/bin/env python3
"""Ranking benchmark of the splitting methods on a small NAS-Bench-201 over Fashion-MNIST.

  ranking.py standalone   train the fixed sample of architectures stand-alone (cached in
                          bench/ranking/standalone.csv; rows already there are skipped)
  ranking.py methods      run each search of bench/ranking.cella and evaluate every sampled
                          architecture with inherited weights (bench/ranking/methods.csv, and
                          methods.csv.summary: derived architecture, wall time, epochs)
  ranking.py derived      train each search's derived architecture stand-alone (cached too)
  ranking.py report       the table of bench/README.md (Kendall tau-b, noise ceiling)

bench/README.md gives the protocol and the commands. Only the Python standard library is used.
"""
import argparse
import csv
import itertools
import json
import os
import random
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where the results are cached (RANKING_CACHE overrides it, to run a new protocol beside the old).
HERE = os.environ.get("RANKING_CACHE", os.path.join(ROOT, "bench", "ranking"))
# RANKING_SPACE: a copy of the space to train with, so edits to spaces/ during a long run change nothing.
SPACE = os.environ.get("RANKING_SPACE", os.path.join(ROOT, "spaces", "nb201.cella"))
PLAN = os.path.join(ROOT, "bench", "ranking.cella")
NET = ["--set", "C=8", "--set", "N=1"]
STANDALONE = os.path.join(HERE, "standalone.csv")
METHODS = os.path.join(HERE, "methods.csv")  # and methods.csv.summary
ARCHS = os.path.join(HERE, "archs.txt")
SEARCHES = ["one_shot", "few_shot", "gm_nas", "hep_nas"]


def cella(build):
    return os.path.join(ROOT, build, "cella")


def sample_archs(build, n, seed):
    """The fixed sample: n architectures drawn uniformly without replacement from the space's
    isomorphism classes (`cella enumerate --unique`: one representative per class), so no two
    of them are the same network."""
    if os.path.exists(ARCHS):
        return [l.strip() for l in open(ARCHS) if l.strip()]
    classes = subprocess.run([cella(build), "enumerate", SPACE, "--unique"],
                             check=True, capture_output=True, text=True).stdout.split()
    archs = random.Random(seed).sample(classes, n)
    os.makedirs(HERE, exist_ok=True)
    with open(ARCHS, "w") as f:
        f.write("\n".join(archs) + "\n")
    return archs


def read_csv(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return list(csv.DictReader(l for l in f if not l.startswith("#")))


def append_row(path, header, row):
    new = not os.path.exists(path)
    with open(path, "a") as f:
        w = csv.DictWriter(f, fieldnames=header)
        if new:
            f.write("# written by bench/ranking.py; the command is in bench/README.md\n")
            w.writeheader()
        w.writerow(row)


STANDALONE_HEADER = ["arch", "seed", "epochs", "subset", "test_acc", "params", "seconds"]


def retrain_all(args, jobs):
    """Trains (arch, seed) pairs stand-alone with the protocol's settings, skipping cached ones."""
    done = {(r["arch"], r["seed"], r["epochs"], r["subset"]) for r in read_csv(STANDALONE)}
    jobs = [(a, s) for a, s in jobs if (a, str(s), str(args.epochs), str(args.subset)) not in done]
    print(f"{len(jobs)} stand-alone runs to do", flush=True)

    def run(job):
        arch, seed = job
        out = f"/tmp/cella-ranking/standalone-{seed}-{abs(hash(arch))}"
        t = time.time()
        r = subprocess.run([cella(args.build), "retrain", SPACE, *NET, "--arch", arch, "--epochs", str(args.epochs),
                            "--set", f"data.subset={args.subset}", "--set", "retrain.lr=0.05",
                            "--set", "retrain.nesterov=true", "--seed", str(seed), "--threads", str(args.threads),
                            "--out", out, "--json"], capture_output=True, text=True)
        if r.returncode != 0:
            sys.exit(f"retrain failed for {arch}: {r.stderr.strip().splitlines()[-1:]}")
        res = json.loads(r.stdout)
        return {"arch": arch, "seed": seed, "epochs": args.epochs, "subset": args.subset,
                "test_acc": f"{res['test_acc']:.2f}", "params": res["params"], "seconds": f"{time.time() - t:.1f}"}

    with ThreadPoolExecutor(args.workers) as pool:
        for i, row in enumerate(pool.map(run, jobs)):
            append_row(STANDALONE, STANDALONE_HEADER, row)
            print(f"[{i + 1}/{len(jobs)}] seed {row['seed']} {row['test_acc']}% {row['seconds']} s {row['arch']}", flush=True)


def standalone(args):
    archs = sample_archs(args.build, args.n, args.sample_seed)
    retrain_all(args, [(a, s) for s in args.seeds for a in archs])


def derived(args):
    """The architecture each search derived, trained stand-alone with the search's seed."""
    retrain_all(args, [(r["derived"], int(r["seed"])) for r in read_csv(METHODS + ".summary")])


def inherited(args, name, seed, out, node=None):
    """Every sampled architecture evaluated with the search's sub-supernet that holds it, or with
    node `node` of its split tree (0: the supernet as it was when first split), into methods.csv
    (method `NAME@root` for node 0)."""
    extra = ["--node", str(node)] if node is not None else []
    e = subprocess.run([cella(args.build), "eval", PLAN, "--weights", out, "--archs", ARCHS, "--json",
                        "--threads", str(args.threads), *extra], capture_output=True, text=True)
    if e.returncode != 0:
        sys.exit(f"eval of {name} failed: {e.stderr.strip().splitlines()[-3:]}")
    for row in json.loads(e.stdout):
        append_row(METHODS, ["method", "seed", "arch", "node", "valid_acc"],
                   {"method": name + ("@root" if node == 0 else ""), "seed": seed, "arch": row["arch"], "node": row["node"],
                    "valid_acc": f"{row['valid_acc']:.2f}"})


def roots(args):
    """`inherited(node=0)` for finished searches whose run directories are still there."""
    have = {(r["method"], r["seed"]) for r in read_csv(METHODS)}
    for r in read_csv(METHODS + ".summary"):
        if r["method"] != "one_shot" and (r["method"] + "@root", r["seed"]) not in have:
            inherited(args, r["method"], int(r["seed"]), f"/tmp/cella-ranking/{r['method']}-s{r['seed']}", node=0)


def methods(args):
    """Each search of bench/ranking.cella per seed, then every sampled architecture evaluated
    with the weights of the sub-supernet that holds it (`cella eval --weights RUN --archs`)."""
    summary_header = ["method", "seed", "derived", "selected_valid_acc", "seconds", "phases", "epochs_of_training"]
    done = {(r["method"], r["seed"]) for r in read_csv(METHODS + ".summary")}
    for seed in args.seeds:
        for name in args.searches:
            if (name, str(seed)) in done:
                continue
            out = f"/tmp/cella-ranking/{name}-s{seed}"
            subprocess.run(["rm", "-rf", out], check=True)
            t = time.time()
            r = subprocess.run([cella(args.build), "search", PLAN, "-I", os.path.join(ROOT, "spaces"), *NET, "--search", name,
                                "--seed", str(seed), "--threads", str(args.threads), "--out", out],
                               capture_output=True, text=True)
            seconds = time.time() - t
            if r.returncode != 0:
                sys.exit(f"search {name} failed: {r.stderr.strip().splitlines()[-3:]}")
            result = json.load(open(os.path.join(out, "result.json")))
            tree = json.load(open(os.path.join(out, "tree.json")))
            epochs = sum(len(n["curve"]) for n in tree["nodes"])
            inherited(args, name, seed, out)
            if name != "one_shot":
                inherited(args, name, seed, out, node=0)
            phases = ";".join(f"{k}={v:.0f}" for k, v in sorted(result["phases_seconds"].items()))
            append_row(METHODS + ".summary", summary_header,
                       {"method": name, "seed": seed, "derived": result["arch"], "selected_valid_acc": f"{result['valid_acc']:.2f}",
                        "seconds": f"{seconds:.0f}", "phases": phases, "epochs_of_training": epochs})
            print(f"{name} seed {seed}: {seconds:.0f} s, {epochs} epochs of training, derived {result['arch']}", flush=True)


def same_group_tau(x, y, groups):
    """Kendall's tau-a over the pairs that share a group (a sub-supernet): how well each
    sub-supernet ranks its own architectures, leaving out the offsets between sub-supernets."""
    conc = disc = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        if groups[i] != groups[j]:
            continue
        d = (x[i] - x[j]) * (y[i] - y[j])
        conc += d > 0
        disc += d < 0
    total = sum(1 for i, j in itertools.combinations(range(len(x)), 2) if groups[i] == groups[j])
    return (conc - disc) / total if total else float("nan")


def kendall_tau_b(x, y):
    """Kendall's tau-b (ties in either variable handled as scipy.stats.kendalltau does)."""
    conc = disc = tx = ty = 0
    for i, j in itertools.combinations(range(len(x)), 2):
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
    denom = ((conc + disc + tx) * (conc + disc + ty)) ** 0.5
    return (conc - disc) / denom if denom else float("nan")


def report(args):
    archs = [l.strip() for l in open(ARCHS) if l.strip()]
    sa = {}
    for r in read_csv(STANDALONE):
        sa.setdefault(r["arch"], {})[int(r["seed"])] = float(r["test_acc"])
    seeds = sorted({s for v in sa.values() for s in v})
    sample = [a for a in archs if all(s in sa.get(a, {}) for s in seeds[:2])]
    per_seed = {s: [sa[a][s] for a in sample] for s in seeds}
    mean = [statistics.mean(sa[a].values()) for a in sample]
    ceiling = kendall_tau_b(per_seed[seeds[0]], per_seed[seeds[1]])
    print(f"{len(sample)} architectures, stand-alone seeds {seeds}: accuracy {min(mean):.2f}-{max(mean):.2f} %, "
          f"median {statistics.median(mean):.2f} %")
    print(f"noise ceiling: tau-b between stand-alone seeds {seeds[0]} and {seeds[1]} = {ceiling:.3f}\n")
    rows = read_csv(METHODS)
    summary = read_csv(METHODS + ".summary")
    print("| method | tau-b vs mean stand-alone (per search seed) | tau-b vs one stand-alone seed (mean) | "
          "tau within a sub-supernet | sub-supernets used | epochs of training | wall time (s) | "
          "derived architecture: stand-alone test acc (%) |")
    print("|---|---|---:|---:|---:|---:|---:|---|")
    for name in SEARCHES + [n + "@root" for n in SEARCHES[1:]]:
        taus, single, within, nodes, walls, epochs, derived_acc = [], [], [], set(), [], [], []
        for s in sorted({int(r["seed"]) for r in rows if r["method"] == name}):
            inherited = {r["arch"]: float(r["valid_acc"]) for r in rows if r["method"] == name and int(r["seed"]) == s}
            nodes |= {(s, r["node"]) for r in rows if r["method"] == name and int(r["seed"]) == s}
            x = [inherited[a] for a in sample]
            taus.append(kendall_tau_b(x, mean))
            owner = {r["arch"]: r["node"] for r in rows if r["method"] == name and int(r["seed"]) == s}
            within.append(same_group_tau(x, mean, [owner[a] for a in sample]))
            single += [kendall_tau_b(x, per_seed[k]) for k in seeds[:2]]
            for m in summary:
                if m["method"] == name.split("@")[0] and int(m["seed"]) == s and "@" not in name:
                    walls.append(float(m["seconds"]))
                    epochs.append(int(m["epochs_of_training"]))
                    acc = sa.get(m["derived"], {}).get(s)
                    rank = sum(v > acc for v in mean) if acc is not None else None
                    derived_acc.append("pending" if acc is None else f"{acc:.2f} (above {len(mean) - rank} of {len(mean)} sampled)")
        if not taus:
            continue
        n_nodes = len(nodes) / max(1, len(taus))
        label = name.replace("@root", ": its supernet when first split")
        print(f"| {label} | {statistics.mean(taus):.3f} ({', '.join(f'{t:.3f}' for t in taus)}) | {statistics.mean(single):.3f} | "
              f"{statistics.mean(within):.3f} | "
              f"{n_nodes:.1f} | {statistics.mean(epochs) if epochs else '-'} | {statistics.mean(walls) if walls else '-'} | "
              f"{'; '.join(derived_acc) or '-'} |")


if __name__ == "__main__":
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--build", default="build")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("standalone", "derived"):
        s = sub.add_parser(name)
        s.add_argument("--n", type=int, default=60)
        s.add_argument("--sample-seed", type=int, default=2026)
        s.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[0, 1])
        s.add_argument("--epochs", type=int, default=6)
        s.add_argument("--subset", type=int, default=10000)
        s.add_argument("--workers", type=int, default=2)
        s.add_argument("--threads", type=int, default=1)
    m = sub.add_parser("methods")
    m.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[0, 1])
    m.add_argument("--searches", type=lambda v: v.split(","), default=SEARCHES)
    m.add_argument("--threads", type=int, default=1)
    r = sub.add_parser("roots")
    r.add_argument("--threads", type=int, default=1)
    sub.add_parser("report")
    args = p.parse_args()
    {"standalone": standalone, "derived": derived, "methods": methods, "roots": roots, "report": report}[args.cmd](args)
