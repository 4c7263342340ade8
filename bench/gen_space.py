#!/usr/bin/env python3
"""Writes a synthetic .cella space with about EDGES edges: one cell whose node i takes an edge
from each of the FAN_IN nodes before it, five candidate operations per edge. Used by
bench/frontend.sh to show that `cella check` grows linearly with the size of a space."""
import sys

edges = int(sys.argv[1])
fan_in = int(sys.argv[2]) if len(sys.argv) > 2 else 10
nodes = edges // fan_in + 1
lines = ["import std.ops", "opset ops = [none, skip_connect, nor_conv_1x1, nor_conv_3x3, avg_pool_3x3]",
         "cell big {", "  inputs 1", f"  nodes {nodes}"]
for dst in range(1, nodes + 1):
    for src in range(max(0, dst - fan_in), dst):
        lines.append(f"  edge {src} -> {dst} : ops")
lines += ["}", "network net(C = 16) {", "  stem conv(3, out = C) >> bn", "  stage big width C",
          "  head global_avg_pool >> linear(10)", "}"]
print("\n".join(lines))
