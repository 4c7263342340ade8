#!/usr/bin/python3
"""Reference for bench/throughput.sh: the NAS-Bench-201 search supernet (C=16, N=5) written in
PyTorch eager, trained on random 1x28x28 batches of 64, for one sampled path per step and for
all candidates at once (DARTS-style weights). Prints images per second and peak memory as JSON.
Run with Debian's python3-torch: /usr/bin/python3 bench/throughput.py --threads 2."""
import argparse, json, random, resource, time
import torch
import torch.nn as nn

OPS = ["none", "skip_connect", "nor_conv_1x1", "nor_conv_3x3", "avg_pool_3x3"]


class ReLUConvBN(nn.Sequential):
    def __init__(self, c, k, affine):
        super().__init__(nn.ReLU(), nn.Conv2d(c, c, k, 1, k // 2, bias=False), nn.BatchNorm2d(c, affine=affine))


class Zero(nn.Module):
    def forward(self, x):
        return x.mul(0.0)


def make_op(name, c):
    if name == "none":
        return Zero()
    if name == "skip_connect":
        return nn.Identity()
    if name == "nor_conv_1x1":
        return ReLUConvBN(c, 1, False)
    if name == "nor_conv_3x3":
        return ReLUConvBN(c, 3, False)
    return nn.AvgPool2d(3, 1, 1, count_include_pad=False)


class Cell(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.edges = nn.ModuleList([nn.ModuleList([make_op(o, c) for o in OPS]) for _ in range(6)])

    def forward(self, x, mix):
        nodes, e = [x], 0
        for i in range(1, 4):
            acc = 0
            for j in range(i):
                for k, w in mix[e]:
                    if OPS[k] == "none":
                        continue
                    y = self.edges[e][k](nodes[j])
                    acc = acc + (y if w is None else y * w)
                e += 1
            nodes.append(acc if torch.is_tensor(acc) else torch.zeros_like(x))
        return nodes[3]


class ResBlock(nn.Module):
    def __init__(self, cin, cout):
        super().__init__()
        self.a = nn.Sequential(nn.ReLU(), nn.Conv2d(cin, cout, 3, 2, 1, bias=False), nn.BatchNorm2d(cout))
        self.b = nn.Sequential(nn.ReLU(), nn.Conv2d(cout, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout))
        self.s = nn.Sequential(nn.AvgPool2d(2, 2), nn.Conv2d(cin, cout, 1, bias=False))

    def forward(self, x):
        return self.s(x) + self.b(self.a(x))


class Supernet(nn.Module):
    def __init__(self, c=16, n=5, classes=10):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c))
        layers = []
        for stage, width in enumerate([c, 2 * c, 4 * c]):
            if stage:
                layers.append(ResBlock(width // 2, width))
            layers += [Cell(width) for _ in range(n)]
        self.layers = nn.ModuleList(layers)
        self.head = nn.Sequential(nn.BatchNorm2d(4 * c), nn.ReLU())
        self.fc = nn.Linear(4 * c, classes)

    def forward(self, x, mix):
        x = self.stem(x)
        for l in self.layers:
            x = l(x, mix) if isinstance(l, Cell) else l(x)
        return self.fc(self.head(x).mean((2, 3)))


def run(mode, steps, threads):
    torch.manual_seed(0)
    random.seed(0)
    net = Supernet()
    opt = torch.optim.SGD(net.parameters(), lr=0.025, momentum=0.9, weight_decay=3e-4)
    alpha = (1e-3 * torch.randn(6, 5)).requires_grad_()
    x, y = torch.randn(64, 1, 28, 28), torch.randint(0, 10, (64,))
    count = [0]
    def step():
        # The same path sequence as bench/throughput.cpp, so both do identical work.
        count[0] += 1
        if mode == "path":
            mix = [[((count[0] * 7 + e * 3) % 5, None)] for e in range(6)]
        else:
            w = alpha.softmax(-1).detach()
            mix = [[(k, w[e, k]) for k in range(5)] for e in range(6)]
        opt.zero_grad(set_to_none=True)
        loss = nn.functional.cross_entropy(net(x, mix), y)
        loss.backward()
        nn.utils.clip_grad_norm_(net.parameters(), 5.0)
        opt.step()
    for _ in range(3):
        step()
    t = time.perf_counter()
    for _ in range(steps):
        step()
    return 64 * steps / (time.perf_counter() - t)


if __name__ == "__main__":
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=30)
    a = ap.parse_args()
    torch.set_num_threads(a.threads)
    out = {"path": run("path", a.steps, a.threads), "all": run("all", max(5, a.steps // 3), a.threads)}
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(json.dumps(out))
