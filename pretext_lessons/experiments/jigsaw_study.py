"""Lesson 2: the jigsaw task's two classic experiments in miniature, decided with the course's statistics.

1. **Shortcuts** (Noroozi & Favaro's reason for the gap): the same 7 px tiles with the gap and
   jitter against tiles that touch (no gap, no jitter); and, in a second run, with against without
   per-tile normalisation. Only the named option changes.
2. **Permutation sets** (the paper's central table): sets of 10, 100 and 1,000 permutations chosen
   greedily by minimum Hamming distance, and a random set of 100. The paper found that more
   permutations (up to 1,000) and a larger minimum distance transfer better; a larger set is also a
   harder puzzle (more classes).

Every network of a study is trained with the same recipe, `MINIATURE` on top of the preset (the
budget is printed with the results), through `train_or_load`, so a second run loads them. Each
is measured twice: its held-out pretext accuracy, and a linear probe on its frozen trunk with
`k` labels per class (layer and cost chosen on the labelled images only, `probing.probe_network`),
against random weights of the same seed. Verdicts pair conditions by seed (`core.stats`).
"""
from __future__ import annotations

import dataclasses
import json

from ..core.stats import Verdict, compare
from ..core.training import build_net, resolve_preset, train_or_load
from ..notebook.seed_plots import per_seed_means, plot_seed_dots
from ..tasks.jigsaw import JigsawTask
from . import probing
from .table import RANDOM, best_layers

# Overrides of the preset for every network of a study: small enough that lesson 2 trains 3 seeds of
# 6 conditions (benchmarks/bench_jigsaw_study.py measures them against one network of the lesson).
MINIATURE = dict(num_images=3000, num_epochs=3)
PROBE_LAYERS = ("conv2", "conv4", "fc1", "fc2")
STANDARD = "gap + jitter"


def shortcut_conditions() -> dict[str, JigsawTask]:
    """The shortcut study's tasks: the lesson's puzzle, tiles that touch (same 7 px), no per-tile normalisation."""
    return {STANDARD: JigsawTask(),
            "no gap, no jitter": JigsawTask(gap=0, jitter=0),
            "no per-tile normalisation": JigsawTask(normalize=False)}


def permutation_conditions() -> dict[str, JigsawTask]:
    """The permutation-set study's tasks: 10, 100 and 1,000 greedy (max-minimum) permutations, 100 random."""
    return {"10, greedy": JigsawTask(num_classes=10),
            "100, greedy": JigsawTask(),
            "1000, greedy": JigsawTask(num_classes=1000),
            "100, random": JigsawTask(criterion="random")}


@dataclasses.dataclass
class Study:
    """What a study measured: probe rows (`table`'s format), pretext accuracy per seed, chance, budget."""

    conditions: dict
    seeds: tuple
    k: int
    rows: list
    pretext: dict
    chance: dict
    settings: dict

    @property
    def curves(self) -> dict:
        """Each condition's (and random weights') `Curve`: the layer chosen on the labelled images."""
        return {c.task: c for c in best_layers(self.rows, k=self.k)}

    def probe_by_seed(self, name: str) -> list[float]:
        """The chosen layer's test accuracy per seed (averaged over that seed's labelled splits)."""
        curve = self.curves[name]
        return list(per_seed_means(curve.units, curve.best_values).values())


def run_study(conditions: dict, seeds=(0, 1, 2), k: int = 10, splits=(0,), preset: str = "quick", device=None,
              layers=PROBE_LAYERS, log=print, reuse: Study | None = None, **overrides) -> Study:
    """Train (or load) every condition for every seed, probe each trunk and random weights, per split.

    `overrides` go to `train_or_load` on top of `MINIATURE` (e.g. num_images=...). With `reuse` (an
    earlier study with the same budget, seeds, k, splits and layers), a condition with the same
    task, and random weights, take that study's measurements instead of probing again.
    """
    if not conditions or not all(isinstance(t, JigsawTask) for t in conditions.values()):
        raise TypeError(f"conditions must map names to JigsawTask instances, got {conditions!r}")
    seeds = tuple(seeds)
    budget = {**MINIATURE, **overrides}
    settings = resolve_preset(preset, JigsawTask(), "cnn", **budget)
    same = {}  # name here -> name in `reuse`, for the conditions measured there already
    if reuse is not None and (reuse.settings, tuple(reuse.seeds), reuse.k) == (settings, seeds, k):
        earlier = {json.dumps(t.config(), sort_keys=True, default=str): n for n, t in reuse.conditions.items()}
        same = {name: earlier[key] for name, task in conditions.items()
                if (key := json.dumps(task.config(), sort_keys=True, default=str)) in earlier}
        same[RANDOM] = RANDOM
    rows, pretext = [], {name: [] for name in conditions}
    for name, old in same.items():
        rows += [{**row, "task": name} for row in reuse.rows if row["task"] == old and row["split"] in splits
                 and row["layer"] in layers]
        if name != RANDOM:
            pretext[name] = list(reuse.pretext[old])
    for seed in seeds:
        nets = {}
        for name, task in conditions.items():
            if name in same:
                continue
            net, history = train_or_load(task, arch="cnn", preset=preset, seed=seed, device=device, progress=False,
                                         **budget)
            nets[name] = (net, task)
            pretext[name].append(history["val_acc"][-1])
            if log:
                log(f"seed {seed}, {name:>26}: pretext accuracy {history['val_acc'][-1]:6.1%} "
                    f"(chance {1 / task.num_classes:.1%})")
        if RANDOM not in same:
            nets[RANDOM] = (build_net(JigsawTask(), "cnn", width=settings["width"], seed=seed), JigsawTask())
        for j in splits:
            split = probing.downstream_split((k,), seed, split=j)
            for name, (net, task) in nets.items():
                rows += probing.probe_network(net, name, "cnn", seed, (k,), split, layers=layers,
                                                preprocess=task.preprocess, split_index=j)
    chance = {name: 1 / task.num_classes for name, task in conditions.items()}
    return Study(dict(conditions), seeds, k, rows, pretext, chance, settings)


def pretext_verdict(study: Study, a: str, b: str, better: str, worse: str) -> Verdict:
    """Held-out pretext accuracy, condition a minus condition b, paired by seed."""
    return compare(study.pretext[a], study.pretext[b], f"pretext accuracy, {a} minus {b}", better, worse,
                   seeds=list(study.seeds))


def chance_verdict(study: Study, name: str) -> Verdict:
    """Was the puzzle learned at all? Held-out pretext accuracy minus its chance level, per seed."""
    if name not in study.chance:
        raise ValueError(f"name must be one of the study's conditions {sorted(study.chance)}, got {name!r}")
    return compare(study.pretext[name], [study.chance[name]] * len(study.pretext[name]),
                   f"pretext accuracy, {name} minus chance", "learned above chance", "below chance",
                   seeds=list(study.seeds))


def probe_verdict(study: Study, a: str, b: str, better: str, worse: str) -> Verdict:
    """Probe accuracy at each one's chosen layer, a minus b, paired by (seed, split)."""
    curves = study.curves
    ua, ub = dict(zip(curves[a].units, curves[a].best_values)), dict(zip(curves[b].units, curves[b].best_values))
    units = sorted(set(ua) & set(ub))
    return compare([ua[u] for u in units], [ub[u] for u in units],
                   f"probe accuracy at the chosen layer, k={study.k}, {a} minus {b}", better, worse,
                   seeds=[u[0] for u in units], splits=[u[1] for u in units])


def agreement(verdict: Verdict, paper: str) -> str:
    """Whether a verdict agrees with what the paper found ("better" or "worse" for a minus b)."""
    if paper not in ("better", "worse"):
        raise ValueError(f"paper must be 'better' or 'worse' (the paper's direction for a minus b), got {paper!r}")
    if verdict.outcome == "not shown":
        return "this run cannot tell (no difference shown at this size)"
    return "this run agrees with the paper" if verdict.outcome == paper else "this run finds the opposite"


def budget_text(study: Study) -> str:
    """The training budget every network of a study had."""
    s = study.settings
    return (f"every network: {s['num_images']:,} unlabelled images x {s['num_epochs']} epochs, width {s['width']}, "
            f"batch {s['batch_size']}, lr {s['lr']}; {len(study.seeds)} seeds; probe with k={study.k} labels per class")


def plot_study(study: Study, title: str = "", axes=None):
    """Pretext accuracy (with each condition's chance) and probe accuracy (with random weights), seed dots."""
    import matplotlib.pyplot as plt

    names = list(study.conditions)
    if axes is None:
        fig, axes = plt.subplots(1, 2, figsize=(4 + 2.2 * len(names), 3.8))
    else:
        fig = axes[0].figure
    plot_seed_dots({n: study.pretext[n] for n in names}, chance=study.chance, ax=axes[0],
                   ylabel="held-out pretext accuracy", title=f"{title}: the puzzle".lstrip(": "))
    plot_seed_dots({n: study.probe_by_seed(n) for n in names}, ax=axes[1],
                   ylabel=f"probe accuracy, k={study.k}", title=f"{title}: the features downstream".lstrip(": "),
                   reference={"random weights": study.probe_by_seed(RANDOM)})
    fig.tight_layout()
    return fig


def study_table_text(study: Study) -> str:
    """The study as a table: per condition, chance, pretext and probe accuracy per seed and their mean."""
    curves = study.curves
    head = f"{'condition':<26} {'chance':>7} {'pretext per seed':<24} {'probe per seed':<24} {'chosen layer':<12}"
    lines = [head, "-" * len(head)]
    for name in list(study.conditions) + [RANDOM]:
        pre = study.pretext.get(name)
        pre_text = " ".join(f"{100 * v:5.1f}" for v in pre) if pre else "-"
        probe = " ".join(f"{100 * v:5.1f}" for v in study.probe_by_seed(name))
        chance = f"{100 * study.chance[name]:6.1f}%" if name in study.chance else "-"
        lines.append(f"{name:<26} {chance:>7} {pre_text:<24} {probe:<24} {curves[name].best.layer:<12}")
    return "\n".join(lines)
