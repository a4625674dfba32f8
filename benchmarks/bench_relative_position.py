"""Lesson 3 benchmark: pair sampling against a training step, vectorised against a per-image loop.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_relative_position.py

Every speed figure is a ratio against a baseline measured in the same run, so a busy machine shifts
both sides alike; the absolute times and the load average are printed too. The sampling section runs
at torch's default thread count and at one thread: on an oversubscribed CPU every multi-threaded small
operation waits for a descheduled thread, which distorts both sides.
"""
from __future__ import annotations

import os

import torch

from common import batch_against_step, timed
from pretext_lessons.experiments.aberration import (apply_symmetry, chromatic_aberration,
                                        render_patches)
from pretext_lessons.core.data import load_photos, pretrain_split, to_float
from pretext_lessons.tasks.relative_position import (RelativePositionTask, crop_patches, normalize_patches,
                                               pair_positions, sample_pairs)


def loop_pairs(X, seed, patch=7, gap=2, jitter=1):
    """The same pairs as `sample_pairs` (same random draws), cut and normalised image by image in Python."""
    N, C, H, W = X.shape
    centre, neighbour, y = pair_positions(N, H, W, torch.Generator().manual_seed(seed), patch, gap, jitter)
    pairs = []
    for n in range(N):
        two = []
        for r, c in (centre[n].tolist(), neighbour[n].tolist()):
            p = X[n, :, r:r + patch, c:c + patch]
            mean, std = p.mean(), p.std(unbiased=False).clamp_min(0.05)
            two.append((p - mean) / std)
        pairs.append(torch.stack(two))
    return torch.stack(pairs), y


def bench_sampling(batch_size: int = 128, repeat: int = 30):
    print(f"\n== Pairs for a batch of {batch_size} Fashion-MNIST images (quick preset network, width 16), "
          f"{torch.get_num_threads()} thread(s) ==")
    _, _, _, make, step_seconds = batch_against_step(RelativePositionTask(), batch_size, repeat)
    print(f"sampling the pairs: {make * 1e3:.2f} ms; one training step on them: {step_seconds * 1e3:.1f} ms; "
          f"ratio {make / step_seconds:.3f} (target <= 0.05)")


def bench_loop(repeat: int = 5):
    print(f"\n== Vectorised sampling against a per-image Python loop (same draws, same pairs), "
          f"{torch.get_num_threads()} thread(s) ==")
    for batch_size in (128, 1024):
        X = to_float(pretrain_split(batch_size, seed=1))
        vectorised, _ = sample_pairs(X, torch.Generator().manual_seed(3))
        looped, _ = loop_pairs(X, seed=3)
        same = torch.allclose(vectorised, looped, atol=1e-5)
        fast = timed(lambda: sample_pairs(X, torch.Generator().manual_seed(3)), repeat)
        slow = timed(lambda: loop_pairs(X, seed=3), repeat)
        print(f"batch {batch_size:>5}: loop {slow * 1e3:8.2f} ms, vectorised {fast * 1e3:6.2f} ms: "
              f"{slow / fast:5.1f}x faster (target >= 10x); same pairs: {same}")


def bench_aberration(num: int = 2000, repeat: int = 3):
    print(f"\n== Aberrated patches for the shortcut experiment ({num} patches of 12 px from 68 px crops) ==")
    photos = load_photos()
    g = torch.Generator().manual_seed(0)
    side, patch = 68, 12
    which = torch.randint(0, len(photos), (num,), generator=g)
    corners = torch.randint(0, photos.shape[-1] - side + 1, (num, 2), generator=g)
    t = torch.randint(0, 8, (num,), generator=g)
    patch_corners = torch.randint(4, side - 4 - patch + 1, (num, 2), generator=g)

    def step_by_step():  # crop, symmetry, lens on the whole crop, cut: the way the lesson explains it
        views = chromatic_aberration(apply_symmetry(crop_patches(photos, corners, side, which), t), 0.05)
        return crop_patches(views, patch_corners, patch)

    def one_step():
        return render_patches(photos, which, corners, t, patch_corners, side, patch, 0.05)

    same = torch.allclose(step_by_step(), one_step(), atol=1e-4)
    slow, fast = timed(step_by_step, repeat), timed(one_step, repeat)
    print(f"step by step {slow * 1e3:.0f} ms, one resampling step {fast * 1e3:.0f} ms: {slow / fast:.1f}x faster; "
          f"same patches: {same}")
    P = normalize_patches(one_step())
    print(f"(patches {tuple(P.shape)})")


def main():
    print(f"load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs; torch {torch.__version__}")
    torch.manual_seed(0)
    default_threads = torch.get_num_threads()
    for threads in (default_threads, 1):
        torch.set_num_threads(threads)
        bench_sampling()
        bench_loop()
    torch.set_num_threads(default_threads)
    bench_aberration()


if __name__ == "__main__":
    main()
