#!/usr/bin/env python3
"""Summarises bench/distributed.sh's results.jsonl as the Markdown table bench/README.md quotes."""
import json
import statistics
import sys


def main(path: str) -> None:
    rows = [json.loads(line) for line in open(path) if line.strip()]
    configs = sorted({(r["processes"], r["threads"]) for r in rows}, key=lambda c: (c[0], -c[1]))
    median = lambda key, c: statistics.median(r[key] for r in rows if (r["processes"], r["threads"]) == c)
    base_1x2, base_1x1 = median("seconds", (1, 2)), median("seconds", (1, 1))
    rounds = max(r["round"] for r in rows)
    print(f"{rounds} rounds, medians; speed-up = the one-process time / this one's\n")
    print("| processes × threads | seconds | images/s | speed-up vs 1 × 2 | vs 1 × 1 | in collectives per step (ms, rank 0) "
          "| collectives per step | kB per step | valid acc | largest weight difference from 1 × 1 |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for c in configs:
        diffs = [r["max_weight_diff"] for r in rows if (r["processes"], r["threads"]) == c and r["max_weight_diff"] is not None]
        diff = f"{max(diffs):.1e}" if diffs else "–"
        secs = median("seconds", c)
        print(f"| {c[0]} × {c[1]} | {secs:.1f} | {median('images_per_second', c):.0f} | {base_1x2 / secs:.2f} "
              f"| {base_1x1 / secs:.2f} | {median('communication_ms_per_step', c):.1f} "
              f"| {median('collectives_per_step', c):.0f} | {median('kilobytes_per_step', c):.0f} "
              f"| {median('valid_acc', c):.2f} | {diff} |")
    archs = {(r["processes"], r["threads"]): r["arch"] for r in rows if r["round"] == 1}
    same = len(set(archs.values())) == 1
    print(f"\nDerived architectures in round 1: {'all the same' if same else 'differ'}"
          + ("" if same else ": " + "; ".join(f"{p}×{t}: {a}" for (p, t), a in sorted(archs.items()))))


if __name__ == "__main__":
    main(sys.argv[1])
