#!/usr/bin/env python3
"""Ranking benchmark of the splitting methods on a small NAS-Bench-201 over Fashion-MNIST.

  ranking.py standalone   train the fixed sample of architectures stand-alone (cached in
                          bench/ranking-v2/standalone.csv; rows already there are skipped)
  ranking.py methods      run each search of bench/ranking.cella and evaluate every sampled
                          architecture with inherited weights (methods.csv), and with the root
                          supernet as it was when first split (method NAME@root); methods.csv.summary
                          has the derived architecture, wall time per phase, epochs and the root's
                          training curve (the pairing check)
  ranking.py derived      train each search's derived architecture stand-alone (cached too)
  ranking.py proxies      the training-free scores of the sample (`cella score`, every proxy, one
                          row per proxy, seed and architecture in proxies.csv; seeds there are skipped)
  ranking.py report       the tables of bench/README.md (Kendall tau-b and Spearman rho with
                          bootstrap intervals, paired differences to one-shot, noise ceiling)

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
HERE = os.environ.get("RANKING_CACHE", os.path.join(ROOT, "bench", "ranking-v2"))
# RANKING_SPACE, RANKING_PLAN: copies of the space and of the plans to train with, so edits during a
# long run change nothing (the plans import the space from RANKING_SPACE's folder).
SPACE = os.environ.get("RANKING_SPACE", os.path.join(ROOT, "spaces", "nb201.cella"))
PLAN = os.environ.get("RANKING_PLAN", os.path.join(ROOT, "bench", "ranking.cella"))
NET = ["--set", "C=8", "--set", "N=1"]
STANDALONE = os.path.join(HERE, "standalone.csv")
METHODS = os.path.join(HERE, "methods.csv")  # and methods.csv.summary
ARCHS = os.path.join(HERE, "archs.txt")
PROXIES = os.path.join(HERE, "proxies.csv")
# The two protocols of bench/ranking.cella; the first search of each is its one-shot control.
PROTOCOLS = {
    "continue": ["one_shot", "few_shot", "gm_nas", "hep_nas"],
    "restart": ["one_shot_restart", "few_shot_restart", "gm_nas_restart", "hep_nas_restart"],
}
SEARCHES = [name for names in PROTOCOLS.values() for name in names]
LABELS = {"one_shot": "one-shot", "few_shot": "Few-Shot NAS", "gm_nas": "GM-NAS", "hep_nas": "HEP-NAS"}


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


def drop_rows(path, header, keep):
    """Rewrites `path` with only the rows `keep` accepts (a search killed after its evaluations
    were written but before its summary runs again, and must not leave its rows twice)."""
    rows = read_csv(path)
    if all(keep(r) for r in rows):
        return
    with open(path, "w") as f:
        f.write("# written by bench/ranking.py; the command is in bench/README.md\n")
        w = csv.DictWriter(f, fieldnames=header)
        w.writeheader()
        w.writerows(r for r in rows if keep(r))


STANDALONE_HEADER = ["arch", "seed", "epochs", "subset", "test_acc", "params", "seconds"]


def retrain_all(args, jobs):
    """Trains (arch, seed) pairs stand-alone with the protocol's settings, skipping cached ones."""
    done = {(r["arch"], r["seed"], r["epochs"], r["subset"]) for r in read_csv(STANDALONE)}
    jobs = [(a, s) for a, s in jobs if (a, str(s), str(args.epochs), str(args.subset)) not in done]
    print(f"{len(jobs)} stand-alone runs to do", flush=True)

    def run(job):
        arch, seed = job
        out = f"/tmp/cella-ranking/standalone-{seed}-{abs(hash(arch))}"
        subprocess.run(["rm", "-rf", out], check=True)  # a killed run's leftovers: cella refuses a used directory
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


def methods(args):
    """Each search of bench/ranking.cella per seed, then every sampled architecture evaluated
    with the weights of the sub-supernet that holds it (`cella eval --weights RUN --archs`),
    and, for the searches that split, with the root as it was when first split (`--node 0`)."""
    summary_header = ["method", "seed", "derived", "selected_valid_acc", "seconds", "phases", "epochs_of_training",
                      "root_losses"]
    done = {(r["method"], r["seed"]) for r in read_csv(METHODS + ".summary")}
    for seed in args.seeds:
        for name in args.searches:
            if (name, str(seed)) in done:
                continue
            out = f"/tmp/cella-ranking/{name}-s{seed}"
            subprocess.run(["rm", "-rf", out], check=True)
            drop_rows(METHODS, ["method", "seed", "arch", "node", "valid_acc"],
                      lambda r: not (r["method"] in (name, name + "@root") and r["seed"] == str(seed)))
            t = time.time()
            r = subprocess.run([cella(args.build), "search", PLAN, "-I", os.path.dirname(SPACE), *NET, "--search", name,
                                "--seed", str(seed), "--threads", str(args.threads), "--out", out],
                               capture_output=True, text=True)
            seconds = time.time() - t
            if r.returncode != 0:
                sys.exit(f"search {name} failed: {r.stderr.strip().splitlines()[-3:]}")
            result = json.load(open(os.path.join(out, "result.json")))
            tree = json.load(open(os.path.join(out, "tree.json")))
            epochs = sum(len(n["curve"]) for n in tree["nodes"])
            inherited(args, name, seed, out)
            if len(tree["nodes"]) > 1:
                inherited(args, name, seed, out, node=0)
            phases = ";".join(f"{k}={v:.0f}" for k, v in sorted(result["phases_seconds"].items()))
            # The root's training losses, exactly as written: equal prefixes across the searches
            # of one protocol and seed show that they split the same supernet.
            root_losses = ";".join(repr(c["train_loss"]) for c in tree["nodes"][0]["curve"])
            append_row(METHODS + ".summary", summary_header,
                       {"method": name, "seed": seed, "derived": result["arch"],
                        "selected_valid_acc": f"{result['valid_acc']:.2f}", "seconds": f"{seconds:.0f}",
                        "phases": phases, "epochs_of_training": epochs, "root_losses": root_losses})
            print(f"{name} seed {seed}: {seconds:.0f} s, {epochs} epochs of training, derived {result['arch']}",
                  flush=True)


# ---- statistics (standard library only) ----------------------------------------------------------

def proxies(args):
    """Every training-free score of the sample, per seed (weights, and Zen-NAS's inputs, are drawn
    from it); the data proxies read one batch of 64 Fashion-MNIST training images."""
    archs = sample_archs(args.build, 60, 2026)
    done = {int(r["seed"]) for r in read_csv(PROXIES)} if os.path.exists(PROXIES) else set()
    header = ["proxy", "seed", "arch", "score"]
    for seed in args.seeds:
        if seed in done:
            continue
        t0 = time.time()
        out = subprocess.run([cella(args.build), "score", SPACE, *NET, "--archs", ARCHS, "--proxy", "all",
                              "--seed", str(seed), "--threads", str(args.threads), "--json"],
                             check=True, capture_output=True, text=True).stdout
        scored = json.loads(out)
        rows = scored["rows"]
        for r in rows:
            for name in scored["proxies"]:
                v = r[name]
                append_row(PROXIES, header, {"proxy": name, "seed": seed, "arch": r["arch"],
                                             "score": "nan" if v is None else repr(v)})
        print(f"proxies, seed {seed}: {len(rows)} architectures in {time.time() - t0:.0f} s", flush=True)


def sign(v):
    return (v > 0) - (v < 0)


def signs(x):
    """sign(x[i] - x[j]) for all i, j: the pairwise comparisons Kendall's tau counts."""
    return [[sign(a - b) for b in x] for a in x]


def kendall_tau_b(sx, sy, idx, same=None):
    """Kendall's tau-b of the items idx (repeats allowed, as in a bootstrap resample) from the
    comparison matrices of two series; ties in either series are handled as scipy.stats.kendalltau
    does, and a pair of copies of one item counts as tied in both (left out). With `same` (a
    series), only the pairs that are equal in it count: `same` = the parameter counts gives the
    tau over equal-size pairs, where size says nothing."""
    conc = disc = tx = ty = 0
    for a in range(len(idx)):
        i = idx[a]
        rx, ry = sx[i], sy[i]
        for b in range(a + 1, len(idx)):
            j = idx[b]
            if same is not None and same[i] != same[j]:
                continue
            dx, dy = rx[j], ry[j]
            if dx == 0:
                if dy != 0:
                    tx += 1
            elif dy == 0:
                ty += 1
            elif dx == dy:
                conc += 1
            else:
                disc += 1
    denom = ((conc + disc + tx) * (conc + disc + ty)) ** 0.5
    return (conc - disc) / denom if denom else float("nan")


def ranks(x):
    """Ranks from 1, ties given their average rank."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    r = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            r[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return r


def spearman_rho(x, y, idx):
    """Spearman's rho of the items idx: Pearson's correlation of the average ranks."""
    rx, ry = ranks([x[i] for i in idx]), ranks([y[i] for i in idx])
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    sxy = sum((a - mx) * (b - my) for a, b in zip(rx, ry))
    sxx = sum((a - mx) ** 2 for a in rx)
    syy = sum((b - my) ** 2 for b in ry)
    return sxy / (sxx * syy) ** 0.5 if sxx and syy else float("nan")


def same_group_tau(x, y, groups):
    """Kendall's tau-a over the pairs that share a group (a sub-supernet): how well each
    sub-supernet ranks its own architectures, leaving out the offsets between sub-supernets."""
    conc = disc = total = 0
    for i, j in itertools.combinations(range(len(x)), 2):
        if groups[i] != groups[j]:
            continue
        total += 1
        d = (x[i] - x[j]) * (y[i] - y[j])
        conc += d > 0
        disc += d < 0
    return (conc - disc) / total if total else float("nan")


def interval(values):
    """The central 95 % of bootstrap values (percentile interval)."""
    v = sorted(x for x in values if x == x)
    return v[int(0.025 * (len(v) - 1))], v[int(round(0.975 * (len(v) - 1)))]


def fmt_ci(point, values):
    if point != point and all(v != v for v in values):
        return "undefined (every pair tied)"
    lo, hi = interval(values)
    return f"{point:.3f} [{lo:.3f}, {hi:.3f}]"


def report(args):
    archs = [l.strip() for l in open(ARCHS) if l.strip()]
    sa = {}
    for r in read_csv(STANDALONE):
        sa.setdefault(r["arch"], {})[int(r["seed"])] = float(r["test_acc"])
    seeds = sorted({s for v in sa.values() for s in v})
    sample = [a for a in archs if all(s in sa.get(a, {}) for s in seeds[:2])]
    n = len(sample)
    # The ground truth: the mean over the seeds every sampled architecture has (--truth-seeds
    # picks some, to reproduce tables made before more seeds were trained).
    truth = args.truth_seeds or [s for s in seeds if all(s in sa[a] for a in sample)]
    if any(s not in sa[a] for a in sample for s in truth):
        sys.exit(f"--truth-seeds {truth}: not every sampled architecture has them")
    mean = [statistics.fmean(sa[a][s] for s in truth) for a in sample]
    per_seed = {s: [sa[a][s] for a in sample] for s in seeds[:2]}
    smean = signs(mean)
    # One set of resamples of the architectures for every statistic, so differences are paired.
    rng = random.Random(args.bootstrap_seed)
    full = list(range(n))
    resamples = [[rng.randrange(n) for _ in range(n)] for _ in range(args.bootstrap)]

    def boot(stat):
        return stat(full), [stat(idx) for idx in resamples]

    s0, s1 = (signs(per_seed[s]) for s in seeds[:2])
    ceiling, ceiling_boot = boot(lambda idx: kendall_tau_b(s0, s1, idx))
    print(f"{n} of {len(archs)} sampled architectures have stand-alone seeds {seeds[:2]}: accuracy "
          f"{min(mean):.2f}-{max(mean):.2f} %, median {statistics.median(mean):.2f} %")
    print(f"ground truth: the mean of stand-alone seeds {truth}")
    print(f"noise ceiling: tau-b between stand-alone seeds {seeds[0]} and {seeds[1]} = {fmt_ci(ceiling, ceiling_boot)}")
    print(f"bootstrap: {args.bootstrap} resamples of the architectures (seed {args.bootstrap_seed}), "
          "95 % percentile intervals in brackets\n")

    # The size baseline: every ranking is shown beside the parameter count's, and over the pairs of
    # equal size, where the count says nothing.
    size = {}
    for r in read_csv(STANDALONE):
        size[r["arch"]] = int(r["params"])
    size = [size[a] for a in sample]
    ssize = signs(size)
    equal = sum(1 for i, j in itertools.combinations(range(n), 2) if size[i] == size[j])
    params_tau = boot(lambda idx: kendall_tau_b(ssize, smean, idx))

    def versus_size(tau):
        """tau-b minus the parameter count's, paired over the same resamples."""
        return fmt_ci(tau[0] - params_tau[0], [a - b for a, b in zip(tau[1], params_tau[1])])

    def equal_size(sx_list):
        return boot(lambda idx: statistics.fmean(kendall_tau_b(m, smean, idx, size) for m in sx_list))

    # Reliability of the ground truth: the mean agreement of two single seeds (Spearman's rho over
    # all pairs; tau-b over the equal-size pairs, which stands in for a correlation there), stepped
    # up by Spearman-Brown to the mean of all k seeds, k·r / (1 + (k - 1)·r).
    all_seeds = truth
    k = len(all_seeds)
    by_seed = {s: [sa[a][s] for a in sample] for s in all_seeds}
    seed_signs = {s: signs(v) for s, v in by_seed.items()}
    seed_pairs = list(itertools.combinations(all_seeds, 2))
    step_up = lambda r: k * r / (1 + (k - 1) * r) if r == r and r > -1 / max(k - 1, 1) else float("nan")
    rho_single = boot(lambda idx: statistics.fmean(spearman_rho(by_seed[a], by_seed[b], idx) for a, b in seed_pairs))
    tau_eq_single = boot(lambda idx: statistics.fmean(
        kendall_tau_b(seed_signs[a], seed_signs[b], idx, size) for a, b in seed_pairs))
    print(f"### reliability of the stand-alone mean ({k} seeds: {all_seeds})\n")
    print(f"- over all pairs: Spearman rho between two seeds {fmt_ci(*rho_single)}; Spearman-Brown reliability of "
          f"the mean of the {k} {fmt_ci(step_up(rho_single[0]), [step_up(v) for v in rho_single[1]])}")
    print(f"- over the {equal} equal-size pairs: tau-b between two seeds {fmt_ci(*tau_eq_single)}; stepped up to "
          f"{k} seeds {fmt_ci(step_up(tau_eq_single[0]), [step_up(v) for v in tau_eq_single[1]])}\n")

    print(f"### training-free baselines\n")
    print(f"{len(set(size))} distinct parameter counts among the {n}; {equal} of the {n * (n - 1) // 2} pairs have "
          "equal counts. Scores from `ranking.py proxies` (the mean tau over its seeds).\n")
    print("| ranking | seeds | Kendall tau-b against the stand-alone mean | minus the parameter count's | "
          f"tau-b over the {equal} equal-size pairs |")
    print("|---|---:|---|---|---|")
    ceiling_equal = boot(lambda idx: kendall_tau_b(s0, s1, idx, size))
    print(f"| stand-alone seed {seeds[0]} against seed {seeds[1]} (noise ceiling) | 2 | {fmt_ci(ceiling, ceiling_boot)} | "
          f"- | {fmt_ci(*ceiling_equal)} |")
    scores = {}
    for r in read_csv(PROXIES) if os.path.exists(PROXIES) else []:
        v = float(r["score"])
        scores.setdefault(r["proxy"], {}).setdefault(int(r["seed"]), {})[r["arch"]] = v if v == v else float("-inf")
    order = ["params", "macs"] + sorted(k for k in scores if k not in ("params", "macs"))
    for name in order:
        if name == "params" or name not in scores:
            if name == "params":
                print(f"| parameter count | - | {fmt_ci(*params_tau)} | - | - |")
            continue
        runs = [v for v in scores[name].values() if all(a in v for a in sample)]
        sx = [signs([v[a] for a in sample]) for v in runs]
        tau = boot(lambda idx: statistics.fmean(kendall_tau_b(m, smean, idx) for m in sx))
        print(f"| {name} | {len(runs)} | {fmt_ci(*tau)} | {versus_size(tau)} | {fmt_ci(*equal_size(sx))} |")
    print()

    rows = read_csv(METHODS)
    summary = read_csv(METHODS + ".summary")
    acc, owner = {}, {}  # (method, seed) -> {arch: inherited accuracy}, {arch: node that evaluated it}
    for r in rows:
        acc.setdefault((r["method"], int(r["seed"])), {})[r["arch"]] = float(r["valid_acc"])
        owner.setdefault((r["method"], int(r["seed"])), {})[r["arch"]] = r["node"]

    def run_seeds(method):
        return sorted(s for (k, s) in acc if k == method and all(a in acc[(k, s)] for a in sample))

    def series_stats(method):
        """Seeds, tau and rho (point and bootstrap values, each the mean over the seeds), the
        per-seed taus and the inherited accuracies."""
        ss = run_seeds(method)
        xs = [[acc[(method, s)][a] for a in sample] for s in ss]
        sx = [signs(x) for x in xs]
        tau = lambda idx: statistics.fmean(kendall_tau_b(m, smean, idx) for m in sx)
        rho = lambda idx: statistics.fmean(spearman_rho(x, mean, idx) for x in xs)
        return ss, boot(tau), boot(rho), [kendall_tau_b(m, smean, full) for m in sx], xs, equal_size(sx)

    for protocol, names in PROTOCOLS.items():
        present = [m for m in names + [names[1] + "@root"] if run_seeds(m)]
        if not present:
            continue
        print(f"### protocol `{protocol}`\n")
        print("| method | seeds | Kendall tau-b | (per seed) | minus the parameter count's | tau-b over equal-size "
              "pairs | Spearman rho | tau-b minus one-shot's (same seeds) | "
              "tau within a sub-supernet | sub-supernets | epochs of training | wall time per phase (s) | "
              "derived architecture: stand-alone accuracy (%) |")
        print("|---|---:|---|---|---|---|---|---|---:|---:|---:|---|---|")
        control = series_stats(names[0]) if names[0] in present else None
        for m in present:
            ss, (tau, tau_b), (rho, rho_b), taus, xs, eq = series_stats(m)
            diff = "-"
            if control and m != names[0] and ss == control[0]:
                ctau, ctau_b = control[1]
                diff = fmt_ci(tau - ctau, [a - b for a, b in zip(tau_b, ctau_b)])
            within, nodes, walls, epochs, derived_acc = [], [], {}, [], []
            for s, x in zip(ss, xs):
                o = owner[(m, s)]
                within.append(same_group_tau(x, mean, [o[a] for a in sample]))
                nodes.append(len({o[a] for a in sample}))
            for r in summary:
                if r["method"] != m or int(r["seed"]) not in ss:
                    continue
                epochs.append(int(r["epochs_of_training"]))
                for kv in r["phases"].split(";"):
                    k, v = kv.split("=")
                    walls.setdefault(k, []).append(float(v))
                got = sa.get(r["derived"], {}).get(int(r["seed"]))
                derived_acc.append("pending" if got is None else f"{got:.2f} (above {sum(v < got for v in mean)} of {n})")
            base = m.split("@")[0].removesuffix("_restart")
            label = "the root when first split" if m.endswith("@root") else LABELS[base]
            wall = ", ".join(f"{k} {statistics.fmean(v):.0f}" for k, v in sorted(walls.items())) or "-"
            print(f"| {label} | {len(ss)} | {fmt_ci(tau, tau_b)} | {', '.join(f'{t:.3f}' for t in taus)} | "
                  f"{versus_size((tau, tau_b))} | {fmt_ci(*eq)} | {fmt_ci(rho, rho_b)} | {diff} | {statistics.fmean(within):.3f} | {statistics.fmean(nodes):.1f} | "
                  f"{statistics.fmean(epochs) if epochs else '-'} | {wall} | {'; '.join(derived_acc) or '-'} |")
        print()
        pairing(protocol, names, summary, acc)


def pairing(protocol, names, summary, acc):
    """Checks the paired design: within a protocol and seed, every search that splits evaluated
    its root (node 0 when first split) to the same accuracies on every architecture, and every
    search's root trained with the same losses up to the first split."""
    for seed in sorted({int(r["seed"]) for r in summary if r["method"] in names}):
        losses = {r["method"]: r["root_losses"].split(";") for r in summary
                  if r["method"] in names and int(r["seed"]) == seed and r.get("root_losses")}
        roots = {m: acc[(m + "@root", seed)] for m in names if (m + "@root", seed) in acc}
        shortest = min((len(v) for v in losses.values()), default=0)
        same_losses = len({tuple(v[:shortest]) for v in losses.values()}) <= 1
        same_roots = len({tuple(sorted(v.items())) for v in roots.values()}) <= 1
        print(f"pairing, protocol `{protocol}`, seed {seed}: the root training losses of {len(losses)} searches are "
              f"{'identical' if same_losses else 'DIFFERENT'} over their first {shortest} epochs; the root "
              f"evaluations of {len(roots)} searches are {'identical' if same_roots else 'DIFFERENT'}")
    print()


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
    x = sub.add_parser("proxies")
    x.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[0, 1, 2])
    x.add_argument("--threads", type=int, default=1)
    m = sub.add_parser("methods")
    m.add_argument("--seeds", type=lambda v: [int(x) for x in v.split(",")], default=[0, 1, 2])
    m.add_argument("--searches", type=lambda v: v.split(","), default=SEARCHES)
    m.add_argument("--threads", type=int, default=1)
    r = sub.add_parser("report")
    r.add_argument("--bootstrap", type=int, default=1000, help="resamples of the architectures")
    r.add_argument("--bootstrap-seed", type=int, default=2026)
    r.add_argument("--truth-seeds", type=lambda v: [int(x) for x in v.split(",")], default=None,
                   help="stand-alone seeds whose mean is the ground truth (default: every seed all have)")
    args = p.parse_args()
    {"standalone": standalone, "derived": derived, "methods": methods, "report": report,
     "proxies": proxies}[args.cmd](args)
