#!/usr/bin/env python3
"""Kill-anywhere harness (bench/crash.sh): each case runs once uninterrupted, then KILLS times
killed with SIGKILL at a random moment and continued (`--resume`, or run again where the command
has none), and the continued run's results are compared with the uninterrupted run's. Each
finished case is cached (bench/crash/cache/CASE.json, gitignored), so a killed harness goes on
where it was; every case's summary is written to bench/crash/results.json.

A killed run is continued as a user would: with the command its run directory asks for. A kill
before the run directory exists leaves nothing, and the command is run again from the start.
"""
import json
import os
import random
import shutil
import shlex
import signal
import subprocess
import sys
import time

CELLA = os.environ.get("CELLA", "build/cella")
OUT = os.environ.get("OUT", "bench/crash")
KILLS = int(os.environ.get("KILLS", "10"))
SEED = int(os.environ.get("SEED", "1"))
ONLY = os.environ.get("CASES", "")

# Small synthetic runs, each 5-60 s alone on one thread, long enough that most kills land in
# training (after the first checkpoint), short enough that ten kills per case fit.
NB201 = ("spaces/nb201.cella --data synthetic --set C=6 --set N=1 --set data.subset=4000 "
         "--seed 3 --threads 1")
OFA = ("spaces/ofa_mbv3.cella --data synthetic --set W=2 --set D=3 --set R_min=20 --set R_max=28 "
       "--set data.subset=512 --samples 2 --threads 1")
ONE_SHOT = "--set split=none --set supernet.epochs=8"
# Commands are templates: {out} is the run directory, {base} the cache (for runs made from others).
CASES = [
    # name, command making a run into {out}, how it continues, the result files compared
    ("train_uniform", "train " + NB201 + " " + ONE_SHOT + " --set supernet.sampler=uniform --samples 5 --out {out}",
     "train --resume {out} --threads 1", ["result.json", "arch.txt"]),
    ("train_darts", "train " + NB201 + " " + ONE_SHOT + " --set supernet.weights=darts --out {out}",
     "train --resume {out} --threads 1", ["result.json", "arch.txt"]),
    ("train_gdas", "train " + NB201 + " " + ONE_SHOT + " --set supernet.weights=gdas --out {out}",
     "train --resume {out} --threads 1", ["result.json", "arch.txt"]),
    ("train_proxyless", "train spaces/proxyless.cella --data synthetic --set W=1 --set blocks=2 "
                        "--set supernet.epochs=6 --set data.subset=1000 --threads 1 --out {out}",
     "train --resume {out} --threads 1", ["result.json", "arch.txt"]),
    ("train_sandwich", "train " + OFA + " --set supernet.epochs=4 --out {out}",
     "train --resume {out} --threads 1", ["result.json", "arch.txt"]),
    ("train_shrinking", "train " + OFA + " --search ofa_shrinking --set supernet.epochs=6 "
                        "--set supernet.phases=[1,1,1,1,1,1] --out {out}",
     "train --resume {out} --threads 1", ["result.json", "arch.txt"]),
    ("search_exhaustive", "search tests/search/exhaustive.cella --smoke --threads 1 --out {out}",
     "search --resume {out} --threads 1", ["result.json", "arch.txt", "tree.json"]),
    ("search_gradient_match", "search spaces/nb201.cella --search gm_paper --smoke --threads 1 --out {out}",
     "search --resume {out} --threads 1", ["result.json", "arch.txt", "tree.json"]),
    ("search_hierarchical", "search spaces/nb201.cella --smoke --threads 1 --out {out}",
     "search --resume {out} --threads 1", ["result.json", "arch.txt", "tree.json"]),
    ("specialize", "specialize spaces/nb201.cella --data cifar10 --table ../shared/data/nb201/nats_bench.csv "
                   "--objectives accuracy,macs --tactic linas --budget 150 --population 20 "
                   "--inner-evaluations 600 --threads 1 --out {out}",
     "specialize --resume {out}", ["result.json", "evaluations.csv", "front.csv"]),
    ("train_2_processes", "launch -n 2 " + CELLA + " train " + NB201 + " " + ONE_SHOT +
     " --set supernet.sampler=uniform --samples 5 --out {out}",
     "launch -n 2 " + CELLA + " train --resume {out} --threads 1", ["result.json", "arch.txt"]),
]
# Made from a finished run. Extract has no --resume (it writes its run whole at the end): a killed
# one is run again.
DERIVED = [
    ("extract", "extract --weights {base}/train_sandwich/straight --threads 1 --out {out}", None,
     ["result.json", "arch.txt"]),
    ("retrain", "retrain " + NB201 + " --arch {base}/train_uniform/straight --epochs 3 --set retrain.drop_path=0.2 "
                "--out {out}", "retrain --resume {out} --threads 1", ["result.json", "arch.txt"]),
]

# Fields that measure time, not results.
VOLATILE = {"phases_seconds", "phases", "seconds", "communication_seconds", "collectives", "communication_bytes",
            "steps_timed", "replayed"}


def run(command, out, timeout=None):
    """Runs `cella COMMAND`; returns (exit code, seconds, output), killed with SIGKILL after
    `timeout` seconds if given (exit code None then)."""
    argv = [CELLA] + shlex.split(command.format(out=out, base=OUT + "/cache"))
    start = time.monotonic()
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        text, _ = proc.communicate(timeout=timeout)
        return proc.returncode, time.monotonic() - start, text.decode(errors="replace")
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the launcher's ranks too
        proc.communicate()
        return None, time.monotonic() - start, ""


def comparable(path):
    if not os.path.exists(path):
        return None
    text = open(path).read()
    if path.endswith(".json"):
        def strip(j):
            if isinstance(j, dict):
                return {k: strip(v) for k, v in j.items() if k not in VOLATILE}
            if isinstance(j, list):
                return [strip(v) for v in j]
            return j
        return strip(json.loads(text))
    return text


def case(name, make, resume, files, rng):
    cache = os.path.join(OUT, "cache", name)
    done = os.path.join(OUT, "cache", name + ".json")
    if os.path.exists(done):
        return json.load(open(done))
    straight = os.path.join(cache, "straight")
    shutil.rmtree(cache, ignore_errors=True)
    os.makedirs(cache)
    code, seconds, text = run(make, straight)
    missing = [f for f in files if not os.path.exists(os.path.join(straight, f))]
    if code != 0 or missing:
        raise SystemExit(f"{name}: the uninterrupted run failed (or lacks {missing}):\n{text}")
    want = {f: comparable(os.path.join(straight, f)) for f in files}
    rows = []
    for k in range(KILLS):
        out = os.path.join(cache, f"killed-{k}")
        at = rng.uniform(0.05, 0.95) * seconds
        code, _, text = run(make, out, timeout=at)
        resumed = code is None
        if code is None:
            if resume and os.path.exists(os.path.join(out, "config.json")):
                code, _, text = run(resume, out)
            else:
                # Nothing to continue (killed before the run existed, or a command without
                # --resume): a second run into the same directory must work.
                code, _, text = run(make, out)
        if code != 0:  # the continuation failed, or a run that was not killed did
            rows.append({"kill_at": round(at, 2), "resumed": resumed, "equal": False, "error": text[-2000:]})
            continue
        got = {f: comparable(os.path.join(out, f)) for f in files}
        differ = [f for f in files if got[f] != want[f]]
        rows.append({"kill_at": round(at, 2), "resumed": resumed, "equal": not differ, "differ": differ})
        shutil.rmtree(out, ignore_errors=True)
    result = {"case": name, "seconds": round(seconds, 1), "kills": len(rows),
              "killed_mid_run": sum(r["resumed"] for r in rows), "equal": sum(r["equal"] for r in rows),
              "rows": rows}
    json.dump(result, open(done, "w"), indent=2)
    return result


def full_disk():
    """A train run whose second checkpoint does not fit on its disk (a tmpfs with room for one and
    a half): a one-line error, the first checkpoint intact, and a resume, once the disk is
    larger, that ends as the uninterrupted run. Needs the right to mount (root)."""
    done = os.path.join(OUT, "cache", "full_disk.json")
    if os.path.exists(done):
        return json.load(open(done))
    make = CASES[0][1]
    base = os.path.join(OUT, "cache", "full_disk")
    shutil.rmtree(base, ignore_errors=True)
    os.makedirs(base)
    straight = os.path.join(base, "straight")
    code, _, text = run(make, straight)
    if code != 0:
        raise SystemExit(f"full_disk: the uninterrupted run failed:\n{text}")
    size = os.path.getsize(os.path.join(straight, "checkpoint.pt"))
    disk = os.path.join(base, "disk")
    os.makedirs(disk)
    if subprocess.call(["mount", "-t", "tmpfs", "-o", f"size={size * 3 // 2 // 1024 + 64}k", "tmpfs", disk]) != 0:
        return {"case": "full_disk", "skipped": "cannot mount a tmpfs (not root?)"}
    try:
        out = os.path.join(disk, "run")
        code, _, text = run(make, out)
        error = text[text.find("cella: error: "):] if "cella: error: " in text else ""
        subprocess.check_call(["mount", "-o", f"remount,size={size * 8 // 1024 + 1024}k", disk])
        rcode, _, rtext = run("train --resume {out} --threads 1", out)
        equal = rcode == 0 and all(comparable(os.path.join(out, f)) == comparable(os.path.join(straight, f))
                                   for f in CASES[0][3])
        result = {"case": "full_disk", "exit": code, "error": error.strip(), "one_line": error.count("\n") == 1,
                  "checkpoint_kept": os.path.exists(os.path.join(out, "checkpoint.pt")),
                  "resumed_equal": equal}
    finally:
        subprocess.call(["umount", disk])
    json.dump(result, open(done, "w"), indent=2)
    return result


def main():
    rng = random.Random(SEED)
    results = []
    for name, make, resume, files in CASES + DERIVED:
        if ONLY and name not in ONLY.split(","):
            continue
        r = case(name, make, resume, files, rng)
        results.append(r)
        print(f"{name:24} {r['seconds']:7.1f} s  {r['killed_mid_run']:2}/{r['kills']} killed mid-run  "
              f"{r['equal']:2}/{r['kills']} equal to the uninterrupted run", flush=True)
    if not ONLY or "full_disk" in ONLY.split(","):
        d = full_disk()
        print(f"full_disk: {json.dumps(d)}", flush=True)
        if "skipped" not in d and not (d["exit"] == 1 and d["one_line"] and d["checkpoint_kept"] and
                                       d["resumed_equal"]):
            results.append({"case": "full_disk", "equal": 0, "kills": 1})
    if not ONLY:  # the summary of every case; a run of some cases leaves it as it was
        json.dump(results, open(os.path.join(OUT, "results.json"), "w"), indent=1)
    failed = [r["case"] for r in results if r["equal"] != r["kills"]]
    if failed:
        print("differ:", ", ".join(failed))
        sys.exit(1)


if __name__ == "__main__":
    main()
