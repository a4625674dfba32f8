"""What the benchmarks share: a median timer, and one batch of a task against one training step on it."""
from __future__ import annotations

import statistics
import time

import torch
from torch.nn import functional as F

from pretext_lessons.core.data import pretrain_split, to_float
from pretext_lessons.core.training import build_net


def timed(fn, repeat: int = 1) -> float:
    """Median seconds of `repeat` calls (after one warm-up call when repeating)."""
    if repeat > 1:
        fn()
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def sgd_step_seconds(net, inputs, y, repeat: int) -> float:
    """Median seconds of one SGD step (forward, cross-entropy, backward, update) of `net` on (inputs, y)."""
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9, nesterov=True)

    def step():
        loss = F.cross_entropy(net(inputs), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return timed(step, repeat)


def batch_against_step(task, batch_size: int = 128, repeat: int = 30):
    """A task's batch of Fashion-MNIST images: (X, inputs, y, seconds to make it, seconds of a quick-preset step)."""
    X = to_float(pretrain_split(batch_size, seed=0))
    g = torch.Generator().manual_seed(0)
    make = timed(lambda: task.make_batch(X, g), repeat)
    inputs, y = task.make_batch(X, g)
    step = sgd_step_seconds(build_net(task, "cnn", 1, 16, seed=0), inputs, y, repeat)
    return X, inputs, y, make, step
