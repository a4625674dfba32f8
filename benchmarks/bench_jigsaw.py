"""Lesson 2 benchmark: permutation sets, tile making against a training step, vectorised against a loop.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_jigsaw.py [--train]

With --train, also the quick preset's training bar: seconds to train one network (no cache) and
its held-out pretext accuracy against chance (1 / number of permutations).

Every speed figure is printed as a ratio against a baseline measured in the same run, so a busy
machine shifts both sides alike; the absolute seconds are printed too, with the load average.
The tile section runs at torch's default thread count and at one thread: on an oversubscribed
CPU, every multi-threaded small operation waits for a descheduled thread, which distorts both sides.
"""
from __future__ import annotations

import os
import sys
import time

import numpy as np
import torch

from common import batch_against_step, sgd_step_seconds, timed
from pretext_lessons.tasks.jigsaw import JigsawTask, make_puzzles
from pretext_lessons.tasks.permutations import (all_permutations, greedy_permutations, random_permutations,
                                          set_distances)
from pretext_lessons.core.models import make_backbone
from pretext_lessons.core.task import PretextNet
from pretext_lessons.core.training import resolve_preset, train_or_load

SPINE_IMAGES_PER_S = 2300  # the spine's whole-image PlainCNN at width 16 on the course's unloaded 2-core CPU


def greedy_recomputing(num: int, seed: int = 0) -> np.ndarray:
    """The reference script's way: every step recomputes the distances to the whole chosen set."""
    candidates = all_permutations(3)
    shuffled = candidates[np.random.default_rng(seed).permutation(len(candidates))]
    columns = np.ascontiguousarray(shuffled.T)
    chosen = [0]
    for _ in range(num - 1):
        total = np.zeros(len(shuffled), dtype=np.int32)
        for c in chosen:
            for i in range(9):
                total += columns[i] != columns[i, c]
        total[chosen] = -1
        chosen.append(int(np.argmax(total)))
    return shuffled[chosen].astype(np.int64)


def loop_puzzles(X, permutations, generator, tile, jitter):
    """A per-image, per-tile Python loop making the same puzzles as `make_puzzles` (same random draws)."""
    N, K, grid = len(X), 9, 3
    cell = X.shape[-1] // grid
    y = torch.randint(len(permutations), (N,), generator=generator)
    offsets = (cell - tile - jitter) // 2 + torch.randint(jitter + 1, (N, K, 2), generator=generator)
    puzzles = []
    for n in range(N):
        tiles = []
        for k in permutations[int(y[n])].tolist():
            r, c = divmod(k, grid)
            dy, dx = offsets[n, k].tolist()
            t = X[n, :, r * cell + dy:r * cell + dy + tile, c * cell + dx:c * cell + dx + tile]
            mean, std = t.mean((-2, -1), keepdim=True), t.std((-2, -1), keepdim=True, unbiased=False)
            tiles.append((t - mean) / std.clamp_min(1 / 255))
        puzzles.append(torch.stack(tiles))
    return torch.stack(puzzles), y


def bench_permutation_sets():
    print("\n== Permutation sets (3x3 grid, 9! = 362,880 candidates) ==")
    all_permutations(3)  # enumeration is shared by every set; not part of the per-set time
    for num, bar in ((100, 5), (1000, 60)):
        for criterion in ("minimum", "average"):
            seconds = timed(lambda: greedy_permutations(num, 3, criterion, seed=0))
            d = set_distances(greedy_permutations(num, 3, criterion, seed=0))
            print(f"greedy {criterion:>7}, {num:>4} permutations: {seconds:6.2f} s (bar {bar} s, "
                  f"{seconds / bar:.2f} of it); Hamming distance min {d['min']}, mean {d['mean']:.3f}")
        rand = [set_distances(random_permutations(num, 3, seed=s)) for s in range(3)]
        print(f"random sets,      {num:>4} permutations (seeds 0-2): min "
              f"{[r['min'] for r in rand]}, mean {[round(r['mean'], 3) for r in rand]}")
    num = 100
    reference = timed(lambda: greedy_recomputing(num))
    running = timed(lambda: greedy_permutations(num, 3, "average", seed=0))
    same = np.array_equal(greedy_recomputing(num), greedy_permutations(num, 3, "average", seed=0))
    print(f"running sum vs recomputing every step ({num} permutations, average criterion): "
          f"{reference:.2f} s / {running:.2f} s = {reference / running:.1f}x faster (same set: {same})")


def bench_tiles(batch_size: int = 128, repeat: int = 30):
    print(f"\n== Tiles for a batch of {batch_size} Fashion-MNIST images (quick preset network, width 16), "
          f"{torch.get_num_threads()} thread(s) ==")
    task = JigsawTask()
    X, inputs, y, make, step_seconds = batch_against_step(task, batch_size, repeat)
    print(f"making the puzzles: {make * 1e3:.2f} ms; one training step on them: {step_seconds * 1e3:.1f} ms; "
          f"ratio {make / step_seconds:.3f} (target <= 0.05)")
    whole_seconds = sgd_step_seconds(PretextNet(make_backbone("cnn", 1, 16), 4), X, y % 4, repeat)
    ratio = (make + step_seconds) / whole_seconds
    quick = resolve_preset("quick", task)
    puzzles = quick["num_images"] * quick["num_epochs"]
    print(f"a jigsaw step (puzzles made + trained) costs {ratio:.2f}x a training step of the same trunk on the "
          f"whole 28 px images ({whole_seconds * 1e3:.1f} ms); the quick preset's {puzzles:,} puzzles are worth "
          f"{puzzles * ratio:,.0f} whole images, {puzzles * ratio / SPINE_IMAGES_PER_S:.0f} s at the spine's "
          f"unloaded {SPINE_IMAGES_PER_S:,} images/s (bar 90 s, plus {quick['num_epochs']} held-out evaluations of "
          f"2,000 puzzles)")
    P = task.permutations
    loop = timed(lambda: loop_puzzles(X, P, torch.Generator().manual_seed(1), task.tile, task.jitter), 5)
    options = dict(permutations=P, grid=3, tile=task.tile, jitter=task.jitter)
    vector = timed(lambda: make_puzzles(X, torch.Generator().manual_seed(1), **options), repeat)
    a, ya = loop_puzzles(X, P, torch.Generator().manual_seed(1), task.tile, task.jitter)
    b, yb = make_puzzles(X, torch.Generator().manual_seed(1), **options)
    same = torch.equal(ya, yb) and torch.allclose(a, b, atol=1e-4)
    print(f"per-image loop: {loop * 1e3:.1f} ms; vectorised: {vector * 1e3:.2f} ms; "
          f"{loop / vector:.0f}x faster (target >= 10x; same puzzles: {same})")


def train_quick() -> None:
    """The quick preset's network, trained without the cache: wall seconds and held-out accuracy."""
    task = JigsawTask()
    start, load = time.perf_counter(), os.getloadavg()[0]
    _, history = train_or_load(task, arch="cnn", preset="quick", seed=0, progress=False, cache=False)
    wall, acc, chance = time.perf_counter() - start, history["val_acc"][-1], 1 / task.num_classes
    print(f"\n== Quick preset training ==\ntrained in {wall:.1f} s wall (bar 90 s; load average {load:.1f} -> "
          f"{os.getloadavg()[0]:.1f}); held-out pretext accuracy {acc:.1%} = {acc / chance:.0f}x chance "
          f"(target >= 10x); per epoch: " + ", ".join(f"{a:.1%}" for a in history["val_acc"]))


if __name__ == "__main__":
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, "
          f"load average {load} (a busy machine inflates absolute times; ratios compare like with like)")
    bench_permutation_sets()
    for threads in sorted({torch.get_num_threads(), 1}, reverse=True):
        torch.set_num_threads(threads)
        bench_tiles()
    if "--train" in sys.argv[1:]:
        torch.set_num_threads(os.cpu_count() or 1)
        train_quick()
