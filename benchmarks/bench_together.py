"""Seeds trained together or one after another: the course's quick CNN, several seeds in one grouped network.

Run:  .venv/bin/python benchmarks/bench_together.py [--seeds 3] [--steps 20] [--repeats 3] [--width 16]

"Together" is one network whose convolutions are grouped (groups = seeds: seed s's channels see
only seed s's channels), whose batch norms hold every seed's channels side by side (per-channel
statistics, so per seed) and whose fully connected layers are batched matrix products: seed s
reads its own batch from its own input channels, so each seed computes exactly what it would alone.
"One after another" is each seed's own PlainCNN stepping on its own batch. Both train with SGD
(Nesterov momentum, weight decay) and a 4-way head (rotation's), batch 128 per seed, and
print the median seconds of one step for all seeds and the ratio together / one-after-another
(below 1: together is faster). The same with the networks at their forward pass only (feature
extraction). Measured interleaved, in one run. Before timing, one training step both ways checks
that together computes what each seed computes alone (the largest difference of the seeds' logits
and weights is printed); at the end, the decision the course follows: seeds are trained together
only where the training step is faster together (ratio below 1), else one after another.
"""
from __future__ import annotations

import argparse
import statistics
import time

import torch
from torch import nn
from torch.nn import functional as F

from pretext_lessons.core.data import load_fashion_mnist, to_float
from pretext_lessons.core.models import PlainCNN


class GroupedCNN(nn.Module):
    """`num_seeds` PlainCNNs (with a linear head each) as one network; input (N, seeds * C, H, W), output (seeds, N, classes)."""

    def __init__(self, nets: list[nn.Sequential]):
        super().__init__()
        n, trunk = len(nets), nets[0][0]
        self.n = n
        convs = []
        for name in ("conv1", "conv2", "conv3", "conv4"):
            parts = [net[0]._modules[name] for net in nets]
            conv, bn = parts[0][0], parts[0][1]
            g = nn.Conv2d(conv.in_channels * n, conv.out_channels * n, 3, padding=1, bias=False, groups=n)
            b = nn.BatchNorm2d(bn.num_features * n)
            with torch.no_grad():
                g.weight.copy_(torch.cat([p[0].weight for p in parts]))
                b.weight.copy_(torch.cat([p[1].weight for p in parts]))
                b.bias.copy_(torch.cat([p[1].bias for p in parts]))
            layers = [g, b, nn.ReLU(inplace=True)]
            if len(parts[0]) == 4:
                layers.append(nn.MaxPool2d(2, ceil_mode=True))
            convs.append(nn.Sequential(*layers))
        self.convs = nn.Sequential(*convs).to(memory_format=torch.channels_last)
        linears = [[net[0].fc1[2] for net in nets], [net[0].fc2[0] for net in nets], [net[1] for net in nets]]
        self.weights = nn.ParameterList([nn.Parameter(torch.stack([l.weight.detach() for l in ls])) for ls in linears])
        self.biases = nn.ParameterList([nn.Parameter(torch.stack([l.bias.detach() for l in ls])) for ls in linears])
        self.width = trunk.width

    def forward(self, x):
        a = F.adaptive_avg_pool2d(self.convs(x), 2)  # (N, n * 4w, 2, 2)
        h = a.reshape(len(a), self.n, -1).transpose(0, 1)  # (n, N, 4w * 4), each seed's channels in PlainCNN's order
        for i, (W, b) in enumerate(zip(self.weights, self.biases)):
            h = torch.baddbmm(b[:, None, :], h, W.transpose(1, 2))
            if i < 2:
                h = F.relu(h)
        return h


def make_nets(num_seeds: int, width: int) -> list[nn.Sequential]:
    nets = []
    for seed in range(num_seeds):
        torch.manual_seed(seed)
        trunk = PlainCNN(1, width).to(memory_format=torch.channels_last)
        nets.append(nn.Sequential(trunk, nn.Linear(trunk.out_features, 4)))
    return nets


def same_computation(nets, together, x, y, one_after_another, grouped) -> tuple[float, float]:
    """One training step both ways from the same weights: the largest differences of the seeds' logits and first-layer weights.

    `one_after_another` and `grouped` are the benchmark's step functions: the step taken here is the
    timed networks' first (as a warm-up step would be).
    """
    n = len(nets)
    with torch.no_grad():
        alone = torch.stack([net.train()(x[s]) for s, net in enumerate(nets)])
        x_together = x.transpose(0, 1).reshape(x.shape[1], n * x.shape[2], *x.shape[3:])
        joint = together.train()(x_together.contiguous(memory_format=torch.channels_last))
    logits = float((alone - joint).abs().max())
    one_after_another(1), grouped(1)
    first = together.convs[0][0].weight.detach()
    w = torch.cat([net[0].conv1[0].weight.detach() for net in nets])
    return logits, float((first - w).abs().max())


def sgd(params):
    return torch.optim.SGD(params, lr=0.01, momentum=0.9, nesterov=True, weight_decay=5e-4)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--width", type=int, default=16)
    parser.add_argument("--batch-size", type=int, default=128)
    args = parser.parse_args()
    n, bs = args.seeds, args.batch_size
    X = to_float(load_fashion_mnist("train")[0][: n * bs * args.steps])
    batches = X.reshape(args.steps, n, bs, *X.shape[1:])  # step, seed, image
    g = torch.Generator().manual_seed(0)
    labels = torch.randint(0, 4, (args.steps, n, bs), generator=g)
    nets = make_nets(n, args.width)
    together = GroupedCNN(make_nets(n, args.width))
    opts = [sgd(net.parameters()) for net in nets]
    opt_together = sgd(together.parameters())

    def one_after_another(steps):
        start = time.perf_counter()
        for t in range(steps):
            for s, (net, opt) in enumerate(zip(nets, opts)):
                loss = F.cross_entropy(net(batches[t, s]), labels[t, s])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
        return (time.perf_counter() - start) / steps

    def grouped(steps):
        start = time.perf_counter()
        for t in range(steps):
            x = batches[t].transpose(0, 1).reshape(bs, n * X.shape[1], *X.shape[2:])
            x = x.contiguous(memory_format=torch.channels_last)
            logits = together(x)  # (n, bs, 4)
            # the sum of the seeds' mean losses: each seed's parameters get its own gradient
            loss = F.cross_entropy(logits.reshape(n * bs, -1), labels[t].reshape(-1), reduction="sum") / bs
            opt_together.zero_grad(set_to_none=True)
            loss.backward()
            opt_together.step()
        return (time.perf_counter() - start) / steps

    def forward_only(fn):
        def run(steps):
            start = time.perf_counter()
            with torch.no_grad():
                for t in range(steps):
                    fn(t)
            return (time.perf_counter() - start) / steps
        return run

    fwd_alone = forward_only(lambda t: [net.eval()(batches[t, s]) for s, net in enumerate(nets)])
    fwd_together = forward_only(lambda t: together.eval()(
        batches[t].transpose(0, 1).reshape(bs, n * X.shape[1], *X.shape[2:]).contiguous(memory_format=torch.channels_last)))
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; quick CNN width {args.width}, {n} seeds, "
          f"batch {bs} per seed, {args.steps} steps x {args.repeats} repeats")
    logits, weights = same_computation(nets, together, batches[0], labels[0], one_after_another, grouped)
    print(f"{'check':>14}: together against one after another after one training step: largest difference of "
          f"the seeds' logits {logits:.1e}, of their first-layer weights {weights:.1e} (float rounding only)")
    ratios = {}
    for label, alone_fn, together_fn, train in (("training step", one_after_another, grouped, True),
                                                ("forward pass", fwd_alone, fwd_together, False)):
        for net in nets:
            net.train(train)
        together.train(train)
        alone_fn(2)
        together_fn(2)  # warm-up
        a, t = [], []
        for _ in range(args.repeats):
            a.append(alone_fn(args.steps))
            t.append(together_fn(args.steps))
        a, t = statistics.median(a), statistics.median(t)
        ratios[label] = t / a
        print(f"{label:>14}: one after another {a * 1000:7.1f} ms, together (grouped) {t * 1000:7.1f} ms "
              f"for {n} seeds; together / one-after-another {t / a:.2f}")
    ratio = ratios["training step"]
    print("decision: " + (f"together is faster ({ratio:.2f}): worth training the course's seeds together, with a test "
                          f"that each seed's network equals the one trained alone" if ratio < 1 else
                          f"one after another stays ({ratio:.2f} >= 1: together is no faster here)"))


if __name__ == "__main__":
    main()
