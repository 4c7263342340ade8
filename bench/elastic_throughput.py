#!/usr/bin/python3
"""Reference for bench/elastic_throughput.sh: the supernet of OFA's MobileNetV3 space at cella's
two-core profile (spaces/ofa_mbv3.cella with W=2, D=3, resolutions 20-28) written in PyTorch eager
as OFA's dynamic layers compute a child (first channels, kernel transformation 7->5->3, sliced
batch norms and squeeze-and-excitation), trained by BigNAS's sandwich step on random 1x28x28
batches of 64: the largest child on label-smoothed cross-entropy, three more on its detached
logits, gradient values clipped at 1, one SGD step. It replays the children cella's side drew
(CHILDREN_FILE, written by build/bench/elastic_throughput), so both run the same shapes. Prints
images per second as JSON. Run with Debian's python3-torch (the LibTorch cella links):
/usr/bin/python3 bench/elastic_throughput.py --threads 2 --children FILE."""
import argparse, json, resource, time
import torch
import torch.nn as nn
import torch.nn.functional as F

W, KERNELS, EXPANDS = 2, [3, 5, 7], [3, 4, 6]
# (width, stride, squeeze-and-excitation, h-swish) of the five elastic stages, 3 blocks at most.
STAGES = [(3 * W, 2, False, False), (5 * W, 2, True, False), (10 * W, 2, False, True),
          (14 * W, 1, True, True), (20 * W, 2, True, True)]


def make_divisible(v, divisor=8):
    new_v = max(divisor, int(v + divisor / 2) // divisor * divisor)
    return new_v + divisor if new_v < 0.9 * v else new_v


class SlicedBN(nn.BatchNorm2d):
    def forward(self, x, c=None):
        c = x.size(1)
        return F.batch_norm(x, self.running_mean[:c], self.running_var[:c], self.weight[:c], self.bias[:c],
                            self.training, self.momentum, self.eps)


class ElasticBlock(nn.Module):
    def __init__(self, cin, cout, stride, se, hswish):
        super().__init__()
        self.cin, self.cout, self.stride, self.se = cin, cout, stride, se
        self.act = F.hardswish if hswish else F.relu
        big = make_divisible(round(cin * EXPANDS[-1]))
        self.expand = nn.Parameter(torch.randn(big, cin, 1, 1) * 0.1)
        self.expand_bn = SlicedBN(big)
        self.depthwise = nn.Parameter(torch.randn(big, 1, 7, 7) * 0.1)
        self.t75 = nn.Parameter(torch.eye(25))
        self.t53 = nn.Parameter(torch.eye(9))
        self.depthwise_bn = SlicedBN(big)
        if se:
            s = make_divisible(big // 4)
            self.se_r, self.se_rb = nn.Parameter(torch.randn(s, big) * 0.1), nn.Parameter(torch.zeros(s))
            self.se_e, self.se_eb = nn.Parameter(torch.randn(big, s) * 0.1), nn.Parameter(torch.zeros(big))
        self.project = nn.Parameter(torch.randn(cout, big, 1, 1) * 0.1)
        self.project_bn = SlicedBN(cout)
        if stride == 1 and cin == cout:
            nn.init.zeros_(self.project_bn.weight)  # BigNAS's zero-initialised residual batch norm

    def filter(self, c, k):
        f = self.depthwise[:c]
        if k <= 5:
            f = F.linear(f[:, :, 1:6, 1:6].reshape(c, 25), self.t75).reshape(c, 1, 5, 5)
        if k == 3:
            f = F.linear(f[:, :, 1:4, 1:4].reshape(c, 9), self.t53).reshape(c, 1, 3, 3)
        return f

    def forward(self, x, k, e):
        c = make_divisible(round(self.cin * e))
        y = self.act(self.expand_bn(F.conv2d(x, self.expand[:c])))
        y = self.act(self.depthwise_bn(F.conv2d(y, self.filter(c, k), None, self.stride, k // 2, 1, c)))
        if self.se:
            s = make_divisible(c // 4)
            g = F.relu(F.linear(y.mean((2, 3)), self.se_r[:s, :c], self.se_rb[:s]))
            g = F.hardsigmoid(F.linear(g, self.se_e[:c, :s], self.se_eb[:c]))
            y = y * g[:, :, None, None]
        y = self.project_bn(F.conv2d(y, self.project[:, :c]))
        return x + y if self.stride == 1 and self.cin == self.cout else y


class Supernet(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(1, 2 * W, 3, 2, 1, bias=False), nn.BatchNorm2d(2 * W), nn.Hardswish())
        # OFA's first block: 3x3 depthwise, no expansion, a residual.
        self.first = nn.Sequential(nn.Conv2d(2 * W, 2 * W, 3, 1, 1, groups=2 * W, bias=False),
                                   nn.BatchNorm2d(2 * W), nn.ReLU(), nn.Conv2d(2 * W, 2 * W, 1, bias=False),
                                   nn.BatchNorm2d(2 * W))
        blocks, cin = [], 2 * W
        for width, stride, se, hswish in STAGES:
            stage = nn.ModuleList()
            for b in range(3):
                stage.append(ElasticBlock(cin, width, stride if b == 0 else 1, se, hswish))
                cin = width
            blocks.append(stage)
        self.stages = nn.ModuleList(blocks)
        self.head = nn.Sequential(nn.Conv2d(cin, 120 * W, 1, bias=False), nn.BatchNorm2d(120 * W), nn.Hardswish(),
                                  nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(120 * W, 160 * W, bias=False),
                                  nn.Hardswish(), nn.Dropout(0.1), nn.Linear(160 * W, 10))

    def forward(self, x, child):
        flat, r = child["flat"], child["resolution"]
        kernels, expands, depths = flat[:15], flat[15:30], flat[30:35]
        if x.size(-1) != r:
            x = F.interpolate(x, size=(r, r), mode="bicubic", align_corners=False)
        x = self.stem(x)
        x = x + self.first(x)
        for s, stage in enumerate(self.stages):
            for b in range(depths[s]):
                x = stage[b](x, kernels[3 * s + b], expands[3 * s + b])
        return self.head(x)


def smoothed_ce(logits, y, eps=0.1):
    logp = F.log_softmax(logits, 1)
    return ((1 - eps) * -logp.gather(1, y[:, None]).squeeze(1) - eps * logp.mean(1)).mean()


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--children", required=True)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    recorded = json.load(open(args.children))
    net = Supernet()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, weight_decay=3e-5, nesterov=True)
    x, y = torch.randn(64, 1, 28, 28), torch.randint(10, (64,))
    dropout = net.head[7]

    def step(children):
        net.train()
        opt.zero_grad(set_to_none=True)
        soft = None
        for i, child in enumerate(children):
            dropout.p = 0.1 if i == 0 else 0.0  # regularise the largest child only
            logits = net(x, child)
            if i == 0:
                loss, soft = smoothed_ce(logits, y), logits.detach()
            else:
                loss = -(F.softmax(soft, 1) * F.log_softmax(logits, 1)).sum(1).mean()
            loss.backward()
        torch.nn.utils.clip_grad_value_(net.parameters(), 1.0)
        opt.step()

    steps = recorded["steps"]
    for children in steps[:recorded["warmups"]]:
        step(children)
    t = time.perf_counter()
    for children in steps[recorded["warmups"]:]:
        step(children)
    seconds = time.perf_counter() - t
    timed = len(steps) - recorded["warmups"]
    print(json.dumps({"img_per_s": 64 * timed / seconds,
                      "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
