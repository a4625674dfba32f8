"""Results over seeds drawn as the course decides them: one dot per seed, the mean, its 95% interval, chance.

A table of accuracies per condition and seed hides what matters: how far apart the seeds are and
whether a difference is larger than that spread. `plot_seed_dots` draws each condition's seeds as
dots, their mean as a bar with the 95% t interval of `core.stats` (the same interval the verdicts
use), and the chance level as a line.
"""
from __future__ import annotations

import math

from ..core.stats import paired_interval
from ..core.profile import phase
from .plotting import figure_axes


def mean_interval(values, seeds=None) -> tuple[float, float, float]:
    """The mean of per-seed values and its 95% t interval (low = high = mean for a single value)."""
    values = [float(v) for v in values]
    if not values:
        raise ValueError("values must hold at least one number, got none")
    if len(values) < 2:
        return values[0], values[0], values[0]
    c = paired_interval(values, [0.0] * len(values), seeds=seeds)
    return c.mean, c.low, c.high


def per_seed_means(units, values) -> dict:
    """Values measured per (seed, split) unit, averaged over the splits of each seed: {seed: mean}."""
    per_seed = {}
    for (seed, _), value in zip(units, values):
        per_seed.setdefault(seed, []).append(float(value))
    return {seed: sum(v) / len(v) for seed, v in sorted(per_seed.items())}


@phase("plotting")
def plot_seed_dots(groups: dict, chance=None, ax=None, ylabel: str = "accuracy", title: str | None = None,
                   percent: bool = True, reference: dict | None = None):
    """One column per group: a dot per seed, the mean with its 95% interval, and chance.

    `groups` maps a name to its per-seed values (fractions). `chance` is one level for every group
    (a dashed line) or a dict of levels per group (a short dash under each). `reference` maps a
    label to per-seed values drawn as a shaded band across the plot (e.g. random weights).
    """
    import numpy as np

    if not isinstance(groups, dict) or not groups:
        raise ValueError(f"groups must be a non-empty dict of name -> per-seed values, got {type(groups).__name__}")
    fig, ax = figure_axes(ax, figsize=(1.6 + 1.3 * len(groups), 3.6))
    scale = 100 if percent else 1
    rng = np.random.default_rng(0)  # a fixed horizontal spread, so dots that tie stay visible
    for x, (name, values) in enumerate(groups.items()):
        values = [float(v) for v in values]
        mean, low, high = mean_interval(values)
        ax.scatter(x + rng.uniform(-0.12, 0.12, len(values)), [scale * v for v in values], s=22, color="tab:blue",
                   alpha=0.7, zorder=3, label="one seed" if x == 0 else None)
        ax.errorbar([x + 0.25], [scale * mean], yerr=[[scale * (mean - low)], [scale * (high - mean)]], fmt="s",
                    color="black", capsize=4, zorder=4, label="mean, 95% interval" if x == 0 else None)
        level = chance.get(name) if isinstance(chance, dict) else None
        if level is not None:
            ax.hlines(scale * level, x - 0.3, x + 0.4, colors="tab:red", linestyles=":", zorder=2,
                      label="chance" if x == 0 else None)
    if chance is not None and not isinstance(chance, dict):
        ax.axhline(scale * float(chance), color="tab:red", ls=":", label="chance")
    for label, values in (reference or {}).items():
        mean, low, high = mean_interval(values)
        ax.axhspan(scale * low, scale * high, color="gray", alpha=0.2)
        ax.axhline(scale * mean, color="gray", ls="--", label=f"{label} (mean, 95% interval)")
    ax.set_xticks(range(len(groups)), list(groups), rotation=20 if len(groups) > 3 else 0, ha="right"
                  if len(groups) > 3 else "center", fontsize=8)
    ax.set_xlim(-0.6, len(groups) - 0.4)
    ax.set_ylabel(ylabel + (" (%)" if percent else ""))
    if title:
        ax.set_title(title, fontsize=10)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7)
    if any(math.isnan(float(v)) for vals in groups.values() for v in vals):
        raise ValueError("groups must hold finite values (a NaN accuracy means an evaluation was skipped)")
    fig.tight_layout()
    return fig
