"""The networks a comparison trains, and on what: pretraining budgets, training plans, the reference networks.

Budgets (`training_plan`): by default every network of a comparison trains on the same images for
the same number of passes (`matched_budget`, fixed per preset); `widths` adds one task at other
widths, for Kolesnikov et al.'s question (`alignment.width_study_verdict`). The references: random
weights (`random_net`) and the supervised network (`supervised_net`), trained with the true labels.
"""
from __future__ import annotations

import torch

from ..core.data import resolve_dataset
from ..core.models import make_backbone
from ..core.task import SupervisedTask
from ..core.training import grading, resolve_preset, set_seed, train_or_load
from ..core.validate import check_int
from ..tasks.registry import course_tasks
from .network import Network
from .references import calibrated_random
from .table import RANDOM, SUPERVISED


def random_net(arch: str = "cnn", seed: int = 0, preset: str = "quick") -> torch.nn.Module:
    """The baseline 'random': the architecture with random weights (the preset's width), frozen."""
    set_seed(seed)
    return make_backbone(arch, resolve_dataset().channels, resolve_preset(preset, arch=arch)["width"]).eval()


def labelled_subset(num_images: int, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """The images of `data.pretrain_split(num_images, seed)` with their true labels."""
    X, y = resolve_dataset().load("train")
    if not isinstance(num_images, int) or not 0 < num_images <= len(X):
        raise ValueError(f"num_images must be an integer between 1 and {len(X)}, got {num_images!r}")
    idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:num_images]  # as pretrain_split
    return X[idx], y[idx]


def supervised_net(arch: str = "cnn", seed: int = 0, preset: str = "quick", num_images: int | None = None,
                   progress: bool = True, **overrides):
    """The baseline 'supervised' (trained with the true labels), cached by train_or_load; (net, history).

    Without `num_images` and `num_epochs` it trains on the course's `matched_budget`, the budget of
    the pretext networks it is compared with, so lessons 1 to 5 share one supervised network per seed.
    """
    task = SupervisedTask(num_classes=resolve_dataset().num_classes)
    if num_images is None and overrides.get("num_epochs") is None:
        budget = matched_budget(preset=preset, arch=arch)
        num_images, overrides = budget["num_images"], {**overrides, "num_epochs": budget["num_epochs"]}
    num_images = num_images or resolve_preset(preset, task)["num_images"]
    X, y = labelled_subset(num_images, seed)
    return train_or_load(task, arch=arch, preset=preset, seed=seed, X=X, y=y, progress=progress, **overrides)


MATCHED = "matched"  # every network of a comparison on the same images, for the same number of passes
OWN = "own"  # each task with the recipe of its own lesson (as lessons 1 to 3 trained them)
BUDGETS = (MATCHED, OWN)
WIDTH_STUDY = "one task, several widths"  # the group of the pretext rows of Kolesnikov et al.'s question


def _check_budget(budget) -> str:
    if budget not in BUDGETS:
        raise ValueError(f"budget must be one of {BUDGETS}, got {budget!r}")
    return budget


# The matched budget of each preset: the images and epochs every network of a comparison trains for, on top
# of the preset (and the dataset's cap on images). Fixed, so a newly registered task changes no other network;
# each is the smallest recipe of the lessons' tasks and the supervised reference, so every network trains at
# or below what its own lesson trained and the quick networks are lessons 1 to 3's own (reused from the cache).
MATCHED_BUDGETS = {"quick": dict(num_images=4000, num_epochs=3), "full": dict(num_epochs=30), "grading": {}}


def matched_budget(preset: str = "quick", arch: str | None = None) -> dict:
    """The one budget a comparison trains every network on: images and epochs, fixed per preset.

    `MATCHED_BUDGETS[preset]` on top of the preset's settings for `arch` (under autograding, the
    grading preset's), the images capped at the dataset's training split.
    """
    resolve_preset(preset, arch=arch)  # checks preset and arch
    effective = "grading" if grading() else preset
    settings = resolve_preset(preset, arch=arch, **MATCHED_BUDGETS[effective])
    return dict(num_images=settings["num_images"], num_epochs=settings["num_epochs"])


def training_plan(tasks=None, seeds=None, preset: str = "quick", budget: str = MATCHED, widths=None) -> list[dict]:
    """Every network `train_networks` trains, one row each: name, task, arch, seed, width and its budget.

    `tasks` defaults to `course_tasks()`, `seeds` to {"cnn": (0,)} (arch -> seeds). `budget`:
    MATCHED trains every network, the supervised reference included, on the same images (the
    first `num_images` of `pretrain_split` for the seed) for the same number of epochs
    (`matched_budget`); OWN keeps each task's own recipe. `widths` (e.g. {"rotation": (4, 8)})
    adds networks of one task at other widths of the first arch, for Kolesnikov et al.'s question
    (their arch label is f"{arch}-w{width}"). Each row holds what its training used: images,
    epochs, image passes (one per image per epoch, whatever the task shows per image), batch
    size, optimiser steps.
    """
    tasks = course_tasks() if tasks is None else dict(tasks)
    seeds = {"cnn": (0,)} if seeds is None else dict(seeds)
    _check_budget(budget)
    widths = dict(widths or {})
    unknown = sorted(set(widths) - set(tasks))
    if unknown:
        raise ValueError(f"widths must name tasks among {sorted(tasks)}, got {unknown}")
    rows = []

    def add(name, task, arch, label, seed, **overrides):
        if budget == MATCHED:  # the preset's budget, whichever tasks are trained here
            overrides.update(matched_budget(preset, arch))
        s = resolve_preset(preset, task, arch=arch, **overrides)
        rows.append(dict(network=name, task=task, arch=label, backbone=arch, seed=seed, width=s["width"],
                         images=s["num_images"], epochs=s["num_epochs"], image_passes=s["num_images"] * s["num_epochs"],
                         batch_size=s["batch_size"], steps=max(1, s["num_images"] // s["batch_size"]) * s["num_epochs"],  # as `fit` steps
                         overrides=overrides))

    for arch, arch_seeds in seeds.items():
        for seed in arch_seeds:
            for name, task in tasks.items():
                add(name, task, arch, arch, seed)
            add(SUPERVISED, SupervisedTask(num_classes=resolve_dataset().num_classes), arch, arch, seed)
    if widths and seeds:
        arch = next(iter(seeds))
        for name, ws in widths.items():
            for width in ws:
                for seed in seeds[arch]:
                    add(name, tasks[name], arch, f"{arch}-w{width}", seed, width=check_int("widths", width))
    return rows


def train_networks(tasks=None, seeds=None, preset: str = "quick", device=None, log=print, budget: str = MATCHED,
                   widths=None, seconds: dict | None = None) -> tuple[list, list]:
    """Every network the study compares, per arch and seed: each task, the supervised reference, random weights.

    `tasks`, `seeds`, `budget` and `widths` as in `training_plan`, which says what each network
    trains on. Returns `networks`, a list of `Network`s (task or baseline name, arch, seed, net, budget), and
    `pretext`, one row (task, arch, seed, pretext_accuracy, group, width) per pretext network
    (group: the arch, or WIDTH_STUDY for the networks `widths` adds). Each network is loaded from
    the checkpoint cache when a lesson already trained it. Each network is a `network.Network`
    record (it unpacks as (task, arch, seed, net)) whose budget holds the images and epochs it read
    (random weights: the images their BatchNorm statistics were calibrated on). A dict `seconds` receives, per
    (name, arch, seed), the seconds its training took when it was trained (kept in its checkpoint).
    """
    networks, pretext = [], []
    for plan in training_plan(tasks, seeds, preset, budget, widths):
        name, arch, seed = plan["network"], plan["arch"], plan["seed"]
        budget = dict(num_images=plan["images"], num_epochs=plan["epochs"])
        if name == SUPERVISED:
            net, history = supervised_net(plan["backbone"], seed, preset, device=device, progress=False,
                                          **plan["overrides"])
            if seconds is not None:
                seconds[(name, arch, seed)] = sum(history.get("seconds", []))
            networks.append(Network(SUPERVISED, arch, seed, net, budget))
            if log:
                log(f"{SUPERVISED:<18} {arch:<8} seed {seed}: training accuracy {history['train_acc'][-1]:.1%}")
            # the random reference: the same starting weights, BatchNorm statistics from the same images
            networks.append(Network(RANDOM, arch, seed, calibrated_random(None, plan["backbone"], seed, preset,
                                                                          **plan["overrides"]), budget))
            continue
        net, history = train_or_load(plan["task"], arch=plan["backbone"], preset=preset, seed=seed, device=device,
                                     progress=False, **plan["overrides"])
        if seconds is not None:
            seconds[(name, arch, seed)] = sum(history.get("seconds", []))
        networks.append(Network(plan["task"], arch, seed, net, budget))
        pretext.append(dict(task=name, arch=arch, seed=seed, pretext_accuracy=history["val_acc"][-1],
                            group=arch if arch == plan["backbone"] else WIDTH_STUDY, width=plan["width"]))
        if log:
            log(f"{name:<18} {arch:<8} seed {seed}: pretext accuracy {history['val_acc'][-1]:.1%}")
    return networks, pretext


def budget_table(tasks=None, seeds=None, preset: str = "quick", budget: str = MATCHED, widths=None) -> list[dict]:
    """Each network's pretraining budget, from `training_plan`: one row per network and arch, seeds counted.

    Keys: network, arch, width, images, epochs, image_passes, batch_size, steps, seeds. Random
    weights have no budget. A pretext task that shows several inputs per image (rotation's four
    turns) still counts one pass per image.
    """
    rows = {}
    for plan in training_plan(tasks, seeds, preset, budget, widths):
        key = (plan["network"], plan["arch"])
        if key not in rows:
            rows[key] = dict({k: plan[k] for k in ("network", "arch", "width", "images", "epochs", "image_passes",
                                                   "batch_size", "steps")}, seeds=0)
        rows[key]["seeds"] += 1
    return list(rows.values())


def budget_table_text(rows) -> str:
    """`budget_table`'s rows as a text table."""
    lines = [f"{'network':<18} {'arch':<8} {'width':>5} {'images':>7} {'epochs':>6} {'image passes':>12} "
             f"{'batch':>5} {'steps':>6} {'seeds':>5}"]
    lines += [f"{b['network']:<18} {b['arch']:<8} {b['width']:>5} {b['images']:>7} {b['epochs']:>6} "
              f"{b['image_passes']:>12} {b['batch_size']:>5} {b['steps']:>6} {b['seeds']:>5}" for b in rows]
    return "\n".join(lines)
