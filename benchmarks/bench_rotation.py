"""Lesson 1 speed bars: rotation labels are never the bottleneck.

Prints, with baselines measured in the same run (median of several repeats, interleaved):
  (a) label generation time / one training step on the same batch (quick preset)   target <= 0.05
  (b) per-image PIL/torchvision pipeline time / vectorised rotate_batch time         target >= 10
      (uint8 images to rotated inputs and labels; also shown with the conversion to float)
With --train, also the quick preset's training bar: seconds to train (no cache) and held-out
rotation accuracy on the 10,000 Fashion-MNIST test images (targets <= 60 s, >= 95%), with the
load average, since a shared CPU inflates wall time.

Run: PYTHONPATH=. .venv/bin/python benchmarks/bench_rotation.py [--repeats 15] [--train] [--threads N]
"""
from __future__ import annotations

import argparse
import os
import statistics
import time

import torch
from torch.nn import functional as F
from torchvision.transforms import functional as TF

from common import timed
from pretext_lessons.core.data import load_fashion_mnist, to_float
from pretext_lessons.tasks.rotation import RotationTask, rotate_batch
from pretext_lessons.core.training import build_net, pretext_accuracy, resolve_preset, train_or_load


def per_image(X: torch.Tensor, to_float_tensor: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The usual Dataset.__getitem__ way: each image to PIL, rotated by torchvision, back to a tensor."""
    to_tensor = TF.to_tensor if to_float_tensor else TF.pil_to_tensor
    inputs, labels = [], []
    for img in X:
        pil = TF.to_pil_image(img)
        for r in range(4):
            inputs.append(to_tensor(TF.rotate(pil, 90 * r)))
            labels.append(r)
    return torch.stack(inputs), torch.tensor(labels)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--train", action="store_true", help="also time the quick preset's training")
    parser.add_argument("--threads", type=int, help="torch threads (default: torch's choice)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)

    task = RotationTask()
    settings = resolve_preset("quick", task)
    X_all, _ = load_fashion_mnist("train")
    X = X_all[:settings["batch_size"]]
    print(f"batch: {len(X)} Fashion-MNIST images -> {4 * len(X)} rotated inputs "
          f"(quick preset, width {settings['width']}), torch threads {torch.get_num_threads()}")

    # (a) the labels inside a training step, against the step itself
    net = build_net(task, "cnn", 1, settings["width"], seed=0).train()
    opt = torch.optim.SGD(net.parameters(), lr=settings["lr"], momentum=0.9, nesterov=True,
                          weight_decay=settings["weight_decay"])
    g = torch.Generator().manual_seed(0)

    X_float = to_float(X)

    def make_labels():  # what fit calls on each (already float) batch
        return task.make_batch(X_float, g)

    inputs, y = make_labels()

    def train_step():
        loss = F.cross_entropy(net(inputs), y)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    # (b) the same work image by image: uint8 images to rotated uint8 inputs and labels; then the
    # same with the conversion to float tensors that a training batch needs (to_tensor / to_float)
    pipelines = {
        "per_image": lambda: per_image(X, to_float_tensor=False),
        "vectorised": lambda: rotate_batch(X),
        "per_image_float": lambda: per_image(X, to_float_tensor=True),
        "vectorised_float": lambda: rotate_batch(to_float(X)),
    }
    for slow, fast in (("per_image", "vectorised"), ("per_image_float", "vectorised_float")):
        (a_inputs, a_y), (b_inputs, b_y) = pipelines[slow](), pipelines[fast]()
        if not (torch.equal(a_inputs, b_inputs) and torch.equal(a_y, b_y)):
            raise SystemExit(f"{slow} and {fast} disagree: the comparison would be unfair")

    steps = {"labels": make_labels, "step": train_step, **pipelines}
    for _ in range(3):  # warm-up: allocator, thread pool, lazy inits
        for fn in steps.values():
            fn()
    times = {name: [] for name in steps}
    for _ in range(args.repeats):  # interleaved, so a change in load hits every measurement alike
        for name, fn in steps.items():
            times[name].append(timed(fn))
    med = {k: statistics.median(v) for k, v in times.items()}
    for k, v in med.items():
        print(f"  {k:>16}: median {1e3 * v:8.3f} ms over {args.repeats} repeats")
    ratio_a = med["labels"] / med["step"]
    ratio_b = med["per_image"] / med["vectorised"]
    ratio_b_float = med["per_image_float"] / med["vectorised_float"]
    print(f"(a) label generation / training step = {ratio_a:.4f}   (target <= 0.05: "
          f"{'met' if ratio_a <= 0.05 else 'NOT met'})")
    print(f"(b) per-image PIL pipeline / vectorised, rotations and labels = {ratio_b:.1f}x   (target >= 10x: "
          f"{'met' if ratio_b >= 10 else 'NOT met'})")
    print(f"    the same, both converting to float tensors = {ratio_b_float:.1f}x")
    if os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1) and torch.get_num_threads() > 1:
        print(f"    note: load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; multi-threaded small "
              "ops wait for descheduled threads on a busy CPU, so also try --threads 1")
    if args.train:
        train_quick(task)
    return 0


def train_quick(task) -> None:
    """The quick preset from scratch (no checkpoint), as the lesson runs it, and its held-out accuracy."""
    load = os.getloadavg()[0]
    wall, cpu = time.perf_counter(), time.process_time()
    net, history = train_or_load(task, arch="cnn", preset="quick", seed=0, progress=False, cache=False)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    X_test, _ = load_fashion_mnist("test")
    accuracy = pretext_accuracy(net, task, X_test)
    print(f"(c) quick preset: trained in {wall:.1f} s wall, {cpu:.1f} s CPU, load average {load:.1f} -> "
          f"{os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs (target <= 60 s on an idle 2-core CPU)")
    print(f"    held-out rotation accuracy {accuracy:.2%} on {4 * len(X_test):,} rotated test images "
          f"(target >= 95%: {'met' if accuracy >= 0.95 else 'NOT met'})")


if __name__ == "__main__":
    raise SystemExit(main())
