"""Lesson 4's budget study: how much pretraining before a pretext task beats calibrated random features?

    PYTHONPATH=. .venv/bin/python benchmarks/bench_budget.py [--images 4000,12000,60000] [--epochs 3,6]
        [--tasks NAME,NAME (default: the classic tasks)] [--seeds 5] [--splits 2] [--ks 10,100] [--num-test 10000]
        [--no-supervised] [--out pretext_lessons/experiments/budget_study.json] [--checkpoints DIR]

For each task, pretraining budget (images x epochs) and seed of `budget.STUDY_SEEDS` (seeds the
lessons never use), the plain CNN (the quick preset's width) is trained on the task and probed at
every layer on labelled splits `budget.STUDY_SPLITS` (splits the lessons never use) at each k,
beside the calibrated random reference of the same starting weights and images, probed through
the task's preprocessing; the supervised reference (the same images with their labels, the same
epochs) gives the room any feature has. Layer and C are chosen on the labelled images.

The decision criterion is fixed before the study runs (it is printed first, and saved with the
results): see `pretext_lessons.experiments.budget_study.CRITERION`. The results go to a small JSON
(`--out`) that lesson 4 plots from (`budget.load`, `budget.plot`). Seconds per network are printed
and saved: on a busy machine they are inflated (compare them with each other, not with the bar).
"""
from __future__ import annotations

import os
import sys
import time

import torch

from pretext_lessons.core.models import evaluating
from pretext_lessons.core.task import SupervisedTask
from pretext_lessons.core.training import resolve_preset, train_or_load
from pretext_lessons.experiments import budget_study as budget, budgets, probing
from pretext_lessons.experiments.references import calibrated_random
from pretext_lessons.tasks.registry import classic_tasks, course_tasks


def arg(name: str, default, cast=str):
    args = sys.argv[1:]
    if name not in args:
        return default
    value = args[args.index(name) + 1]
    return tuple(cast(v) for v in value.split(",")) if isinstance(default, tuple) else cast(value)


def chosen(rows, task: str, k: int, split: int) -> float:
    """The test accuracy at the layer chosen on the labelled images (validation accuracy), for one split and k."""
    mine = [r for r in rows if r["task"] == task and r["k"] == k and r["split"] == split]
    return max(mine, key=lambda r: (r["val_accuracy"], -r["depth"]))["accuracy"]


def main() -> None:
    images = arg("--images", (4000, 12000, 60000), int)
    epochs = arg("--epochs", (3,), int)
    names = arg("--tasks", tuple(classic_tasks()))
    seeds = budget.STUDY_SEEDS[:arg("--seeds", len(budget.STUDY_SEEDS), int)]
    splits = budget.STUDY_SPLITS[:arg("--splits", len(budget.STUDY_SPLITS), int)]
    ks = arg("--ks", (10, 100), int)
    num_test = arg("--num-test", 10000, int)
    supervised = "--no-supervised" not in sys.argv[1:]
    out = arg("--out", str(budget.STUDY_FILE))
    if "--checkpoints" in sys.argv[1:]:
        os.environ["PRETEXT_LESSONS_CHECKPOINTS"] = arg("--checkpoints", "")
    tasks = {name: course_tasks()[name] for name in names}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} CPUs, load average "
          + ", ".join(f"{x:.1f}" for x in os.getloadavg()) + " (a busy machine inflates seconds)")
    print("Decision criterion (fixed before the run):\n  " + budget.CRITERION.replace("\n", "\n  "))
    settings = dict(images=images, epochs=epochs, tasks=names, seeds=seeds, splits=splits, ks=ks, num_test=num_test,
                    width=resolve_preset("quick", arch="cnn")["width"], arch="cnn", supervised=supervised)
    print("settings:", settings, flush=True)
    rows = []
    for n in images:
        for e in epochs:
            for seed in seeds:
                data = {j: probing.downstream_split(ks, seed, num_test, split=j) for j in splits}
                random = calibrated_random(None, "cnn", seed, "quick", num_images=n, num_epochs=e)
                ref_rows = [r for j in splits for r in probing.probe_network(random, "random", "cnn", seed, ks, data[j],
                                                                               split_index=j)]
                runs = dict(tasks)
                if supervised:
                    runs["supervised"] = SupervisedTask(num_classes=10)
                for name, task in runs.items():
                    start = time.perf_counter()
                    if name == "supervised":
                        X, y = budgets.labelled_subset(n, seed)
                        net, _ = train_or_load(task, "cnn", "quick", seed, X=X, y=y, progress=False, num_images=n,
                                               num_epochs=e)
                        ref = ref_rows
                    else:
                        net, _ = train_or_load(task, "cnn", "quick", seed, progress=False, num_images=n, num_epochs=e)
                        own = calibrated_random(task, "cnn", seed, "quick", num_images=n, num_epochs=e)
                        ref = [r for j in splits for r in probing.probe_network(
                            own, "random", "cnn", seed, ks, data[j], preprocess=task.preprocess, split_index=j)]
                    seconds = time.perf_counter() - start
                    with evaluating(net):
                        mine = [r for j in splits for r in probing.probe_network(net, name, "cnn", seed, ks, data[j],
                                                                                   split_index=j)]
                    for j in splits:
                        for k in ks:
                            rows.append(dict(task=name, images=n, epochs=e, seed=seed, split=j, k=k,
                                             pretext=chosen(mine, name, k, j), random=chosen(ref, "random", k, j),
                                             seconds=seconds))
                    last = [r for r in rows if r["task"] == name and r["seed"] == seed and r["images"] == n
                            and r["epochs"] == e]
                    print(f"{name:<18} {n:>6} images x {e} epochs, seed {seed}: "
                          + ", ".join(f"k={r['k']} split {r['split']}: {100 * (r['pretext'] - r['random']):+.1f}"
                                      for r in last) + f" points vs calibrated random ({seconds:.0f} s)", flush=True)
    study = dict(settings=settings, criterion=budget.CRITERION, rows=rows, summary=budget.summarise(rows))
    print()
    print(budget.text(study))
    print(f"\nsaved to {budget.save(study, out)}")


if __name__ == "__main__":
    main()
