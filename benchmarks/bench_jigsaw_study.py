"""Lesson 2 benchmark: the permutation-set study trains all its networks in <= 90 s on 2 cores, and loads them again.

    PYTHONPATH=. .venv/bin/python benchmarks/bench_jigsaw_study.py [--shortcut] [--keep DIR] [--seeds N]

Trains every network of `jigsaw_study.permutation_conditions()` (4 conditions x 3 seeds, with
`MINIATURE` on the quick preset) into an empty checkpoint folder, then loads them all again (the
second run of the lesson), and, as the baseline measured in the same run, one network of the
lesson's quick preset. Wall and CPU seconds (user + system) are printed for each, and the study
as a ratio of the baseline: on a busy machine both sides slow down alike. With --shortcut, the
shortcut study's two extra conditions too (the lesson trains those as well). With --keep DIR, the
networks are trained into the checkpoint folder DIR (which must not hold them yet) and kept there.
With --seeds N, only the first N seeds are trained and the study's time is extrapolated to 3 seeds
(every seed costs the same: the same images, epochs and sets), printed as such.
"""
from __future__ import annotations

import contextlib
import os
import sys
import tempfile
import time

import torch

from pretext_lessons.core.training import train_or_load
from pretext_lessons.experiments import jigsaw_study
from pretext_lessons.tasks.jigsaw import JigsawTask

SEEDS = (0, 1, 2)
BAR_SECONDS = 90


def clocks() -> tuple[float, float]:
    t = os.times()
    return time.perf_counter(), t.user + t.system


def train_all(conditions, seeds=SEEDS) -> tuple[float, float, dict]:
    """Wall and CPU seconds to train (or load) every condition x seed; the last held-out accuracy of each."""
    wall, cpu = clocks()
    accs = {}
    for seed in seeds:
        for name, task in conditions.items():
            _, history = train_or_load(task, seed=seed, progress=False, **jigsaw_study.MINIATURE)
            accs.setdefault(name, []).append(history["val_acc"][-1])
    end_wall, end_cpu = clocks()
    return end_wall - wall, end_cpu - cpu, accs


def main() -> None:
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()) + " (a busy machine inflates seconds; compare ratios)")
    conditions = jigsaw_study.permutation_conditions()
    if "--shortcut" in sys.argv[1:]:
        conditions.update({k: v for k, v in jigsaw_study.shortcut_conditions().items() if k != jigsaw_study.STANDARD})
    for task in conditions.values():
        task.permutations  # the greedy sets are computed once and cached on disk; not part of training
    args = sys.argv[1:]
    keep = args[args.index("--keep") + 1] if "--keep" in args else None
    seeds = SEEDS[:int(args[args.index("--seeds") + 1])] if "--seeds" in args else SEEDS
    scale = len(SEEDS) / len(seeds)
    with (tempfile.TemporaryDirectory() if keep is None else contextlib.nullcontext(keep)) as folder:
        os.environ["PRETEXT_LESSONS_CHECKPOINTS"] = folder
        wall0, cpu0 = clocks()
        train_or_load(JigsawTask(), seed=0, progress=False, cache=False)
        base_wall, base_cpu = (b - a for a, b in zip((wall0, cpu0), clocks()))
        wall, cpu, accs = train_all(conditions, seeds)
        again_wall, again_cpu, _ = train_all(conditions, seeds)
    if scale != 1:
        print(f"trained {len(seeds)} of {len(SEEDS)} seeds: the study's times below are x{scale:.0f} (extrapolated)")
        wall, cpu, again_wall, again_cpu = (scale * v for v in (wall, cpu, again_wall, again_cpu))
    n = len(conditions) * len(SEEDS)
    print(f"baseline, one network of lesson 2's quick preset: {base_wall:.1f} s wall, {base_cpu:.1f} s CPU")
    print(f"study, {n} networks ({len(conditions)} conditions x {len(SEEDS)} seeds, {jigsaw_study.MINIATURE} on the "
          f"quick preset): {wall:.1f} s wall, {cpu:.1f} s CPU = {wall / base_wall:.2f}x the baseline's wall time, "
          f"{cpu / base_cpu:.2f}x its CPU time")
    print(f"bar: {BAR_SECONDS} s on an idle 2-core machine; with the baseline at its idle time B, the study takes "
          f"{wall / base_wall:.2f} B (within the bar while B <= {BAR_SECONDS * base_wall / wall:.0f} s)")
    print(f"second run (every network cached): {again_wall:.1f} s wall, {again_cpu:.1f} s CPU")
    for name, values in accs.items():
        print(f"  {name:>28}: held-out pretext accuracy " + ", ".join(f"{v:.1%}" for v in values)
              + f" (chance {1 / conditions[name].num_classes:.1%})")


if __name__ == "__main__":
    main()
