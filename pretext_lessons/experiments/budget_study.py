"""Lesson 4: how much pretraining before self-supervision beats random features? The budget study's measurements and figure.

The study (run once by `benchmarks/bench_budget.py`, saved to `STUDY_FILE`) trains each pretext task
on the plain CNN at several pretraining budgets (images x epochs) and, per budget, label budget k and
pretraining seed, probes it beside the calibrated random reference of the same starting weights and
images (`references.calibrated_random`, probed through the task's preprocessing): the difference at
the layers each chose on the labelled images is the quantity studied.

It uses seeds (`STUDY_SEEDS`) and labelled splits (`STUDY_SPLITS`) that the lessons never use, so
choosing the lessons' budget from it does not bias their verdicts.

CRITERION (fixed before the study runs): a task *shows* at a budget and k when the 95% interval of
pretext minus calibrated random, each at its chosen layer (t over the study's seeds, splits averaged
within a seed, on Fisher's z scale), lies above zero. The quick preset's budget is the smallest
(in image passes, images x epochs) at which at least one task shows at the lessons' primary k,
among the budgets whose measured training time fits the course's time bar; the primary k is the one
at which the supervised reference's lead over calibrated random (the room any feature has to show)
is largest relative to its interval. Where no budget shows, the figure shows why and lesson 4 says so.
"""
from __future__ import annotations

import json
import statistics
from collections import defaultdict
from pathlib import Path

from ..core.stats import paired_interval

STUDY_FILE = Path(__file__).with_name("budget_study.json")
STUDY_SEEDS = (100, 101, 102, 103, 104)  # pretraining seeds the lessons never use (they use 0, 1, 2)
STUDY_SPLITS = (5, 6)  # labelled split numbers the lessons never use (they use 0, 1, 2)
CRITERION = __doc__[__doc__.index("CRITERION"):__doc__.index("Where no budget")].strip()
COMMAND = "PYTHONPATH=. python benchmarks/bench_budget.py"  # run from the course's folder; its options: the benchmark's docstring


def summarise(rows) -> list[dict]:
    """Per (task, images, epochs, k): pretext minus calibrated random at the chosen layers, its interval, whether it shows.

    `rows` hold task, images, epochs, seed, split, k, pretext (accuracy at the chosen layer) and
    random (the reference's, at its chosen layer). Needs 2 seeds per group; groups with fewer are left out.
    """
    groups = defaultdict(list)
    for r in rows:
        groups[(r["task"], r["images"], r["epochs"], r["k"])].append(r)
    out = []
    for (task, images, epochs, k), rs in sorted(groups.items(), key=lambda kv: (kv[0][0], kv[0][1] * kv[0][2], kv[0][3])):
        if len({r["seed"] for r in rs}) < 2:
            continue
        c = paired_interval([r["pretext"] for r in rs], [r["random"] for r in rs], seeds=[r["seed"] for r in rs],
                            splits=[r["split"] for r in rs], bounds=(-1.0, 1.0))
        per_seed = defaultdict(list)
        for r in rs:
            per_seed[r["seed"]].append(r["pretext"] - r["random"])
        out.append(dict(task=task, images=images, epochs=epochs, image_passes=images * epochs, k=k,
                        mean=100 * c.mean, low=100 * c.low, high=100 * c.high, seeds=c.n_seeds, splits=c.n_splits,
                        seed_means=[100 * statistics.fmean(v) for v in per_seed.values()], shows=c.low > 0,
                        seconds=statistics.fmean(r.get("seconds", float("nan")) for r in rs)))
    return out


def smallest_showing(summary_rows, k: int) -> dict | None:
    """The criterion's budget: the row with the fewest image passes at which some task shows at k (None: none)."""
    showing = [r for r in summary_rows if r["k"] == k and r["shows"] and r["task"] != "supervised"]
    return min(showing, key=lambda r: (r["image_passes"], r["task"])) if showing else None


def save(study: dict, path=STUDY_FILE) -> Path:
    """Write the study (settings, criterion, rows, summary) as JSON."""
    path = Path(path)
    path.write_text(json.dumps(study, indent=1, sort_keys=True) + "\n")
    return path


def load(path=STUDY_FILE) -> dict | None:
    """The saved study, or None when it has not been run on this course."""
    path = Path(path)
    if not path.exists():
        return None
    study = json.loads(path.read_text())
    for key in ("settings", "criterion", "rows", "summary"):
        if key not in study:
            raise ValueError(f"{path} is not a budget study: it lacks {key!r}")
    return study


def plot(study: dict, ax=None, title=None):
    """Pretext minus calibrated random at the chosen layers against image passes, per task and k: seed dots and intervals."""
    import matplotlib.pyplot as plt

    rows = study["summary"]
    if not rows:
        raise ValueError("the study holds no summary rows (fewer than 2 seeds per budget?)")
    ks = sorted({r["k"] for r in rows})
    if ax is None:
        fig, axes = plt.subplots(1, len(ks), figsize=(6 * len(ks), 4), squeeze=False)
        axes = list(axes[0])
    else:
        fig, axes = ax.figure, [ax] * len(ks)
    tasks = sorted({r["task"] for r in rows})
    for a, k in zip(axes, ks):
        for i, task in enumerate(tasks):
            mine = sorted((r for r in rows if r["task"] == task and r["k"] == k), key=lambda r: r["image_passes"])
            if not mine:
                continue
            shift = 1 + 0.04 * (i - (len(tasks) - 1) / 2)  # tasks side by side on the log axis
            xs = [r["image_passes"] * shift for r in mine]
            a.plot(xs, [r["mean"] for r in mine], marker="o", color=f"C{i}", label=task)
            for x, r in zip(xs, mine):
                a.plot([x, x], [r["low"], r["high"]], color=f"C{i}", alpha=0.6)
                a.scatter([x] * len(r["seed_means"]), r["seed_means"], s=8, color=f"C{i}", alpha=0.4)
        a.axhline(0, color="black", linewidth=0.8)
        a.set_xscale("log")
        a.set_xlabel("pretraining: images x epochs")
        a.set_ylabel("pretext - calibrated random, points")
        a.set_title(title or f"k={k} labels per class ({rows[0]['seeds']} seeds; dots: seeds)")
        a.legend(fontsize=8)
        a.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def text(study: dict) -> str:
    """The study's summary as a table, then the criterion's answer per k (printed by code, not typed)."""
    lines = [f"{'task':<18} {'images':>7} {'epochs':>6} {'k':>4} {'pretext - random':>17} {'95% interval':<17} "
             f"{'seeds':>5} shows"]
    for r in study["summary"]:
        lines.append(f"{r['task']:<18} {r['images']:>7} {r['epochs']:>6} {r['k']:>4} {r['mean']:>+13.1f} pts "
                     f"[{r['low']:+5.1f}, {r['high']:+5.1f}]  {r['seeds']:>5} {'yes' if r['shows'] else 'no'}")
    for k in sorted({r["k"] for r in study["summary"]}):
        best = smallest_showing(study["summary"], k)
        lines.append(f"k={k}: " + (f"the smallest budget at which a task beats calibrated random is {best['images']} "
                                   f"images x {best['epochs']} epochs ({best['task']})" if best else
                                   "no budget of the study shows a task beating calibrated random"))
    return "\n".join(lines)


def at_budget(study: dict, images: int, epochs: int, label: str = "this budget") -> list[str]:
    """Per k and task, whether the task shows at `images` x `epochs` by CRITERION (lines printed by code).

    Says so plainly when the study did not measure that budget.
    """
    rows = [r for r in study["summary"] if r["images"] == images and r["epochs"] == epochs]
    if not rows:
        measured = sorted({(r["images"], r["epochs"]) for r in study["summary"]})
        return [f"{label} ({images} images x {epochs} epochs) was not measured by the study (it measured "
                + ", ".join(f"{i} x {e}" for i, e in measured) + ")"]
    lines = []
    for k in sorted({r["k"] for r in rows}):
        mine = [r for r in rows if r["k"] == k and r["task"] != "supervised"]
        shown = [r["task"] for r in mine if r["shows"]]
        lines.append(f"{label} ({images} images x {epochs} epochs), k={k}: "
                     + "; ".join(f"{r['task']} {r['mean']:+.1f} [{r['low']:+.1f}, {r['high']:+.1f}] points over "
                                 f"{r['seeds']} seeds" for r in mine)
                     + (f" -> shows by the criterion: {', '.join(shown)}" if shown else
                        " -> no task shows by the criterion at this budget"))
    return lines
