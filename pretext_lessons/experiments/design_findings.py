"""Lesson 6: the shortcut checks' verdicts as findings, shown as one table and one plot with seed dots.

Every check of lesson 6 that is repeated over seeds becomes a `summary.Finding`: the edge solver on
jigsaw puzzles (a seed is a draw of puzzles), the aberration experiment's cell classifiers (a seed is a
classifier trained per condition on the same patches) and the low-level probe of the dimming task (a
seed is a draw of pseudo labels). `summary.table_text` and `summary.plot_findings` show them, Holm-
corrected over their number. The layer-wise report of lesson 6 rests on one pretraining seed: it is
described there, and decided over seeds in lesson 4.
"""
from __future__ import annotations

from .aberration import GRAY
from .summary import Finding, finding

LENS = "aberration"  # aberration_experiment's condition: the lens, no fix
EDGE_TOUCHING, EDGE_GAP = "touching, {} tiles", "gap + jitter, {} tiles"  # edge_shortcut's conditions


def per_seed(values, seeds) -> dict:
    """One value per seed as a Finding's side: {(seed, 0): value} (one unit per seed, nothing to average)."""
    values, seeds = list(values), list(seeds)
    if len(values) != len(seeds):
        raise ValueError(f"values must hold one value per seed ({len(seeds)} seeds), got {len(values)}")
    return {(seed, 0): float(v) for seed, v in zip(seeds, values)}


def _check(results: dict, name: str, *conditions):
    missing = [c for c in conditions if c not in results]
    if missing:
        raise ValueError(f"{name} must hold the conditions {missing}; it holds {sorted(results)}")


def edge_findings(edge: dict, seeds, chance: float) -> list[Finding]:
    """The edge solver (`capstone.edge_shortcut`'s results): lesson 2's defences and what is left of the cue."""
    names = [EDGE_TOUCHING.format(t) for t in ("normalised", "raw")] + [EDGE_GAP.format(t) for t in ("normalised", "raw")]
    _check(edge, "edge", *names)
    side = {name: per_seed(edge[name], seeds) for name in names}
    level = per_seed([chance] * len(list(seeds)), seeds)
    out = [finding("edge solver, lesson 2's puzzles minus chance", side[EDGE_GAP.format("normalised")], level,
                   "above chance", "below chance")]
    for tiles in ("normalised", "raw"):
        out.append(finding(f"edge solver, {tiles} tiles: touching minus gap + jitter", side[EDGE_TOUCHING.format(tiles)],
                           side[EDGE_GAP.format(tiles)], "touching gives more away", "touching gives less away"))
    out.append(finding("edge solver, touching tiles: raw minus normalised", side[EDGE_TOUCHING.format("raw")],
                       side[EDGE_TOUCHING.format("normalised")], "normalising hides part of the cue",
                       "normalising gives more away"))
    return [f for f in out if f is not None]


def lens_findings(results: dict, seeds, chance: float = 1 / 9, images: str = "photos") -> list[Finding]:
    """The aberration experiment's conditions (`aberration_experiment`): the lens against chance, each other
    condition against the lens alone, and the lens recorded in gray against chance (where it was run)."""
    _check(results, "results", LENS)
    side = {name: per_seed(accs, seeds) for name, accs in results.items()}
    level = per_seed([chance] * len(list(seeds)), seeds)
    out = [finding(f"cell classifier, {images}: lens minus chance", side[LENS], level, "above chance", "below chance")]
    for name in results:
        if name != LENS:
            out.append(finding(f"cell classifier, {images}: {name} minus lens", side[name], side[LENS],
                               f"higher with {name}", f"lower with {name}"))
    if GRAY in results:
        out.append(finding(f"cell classifier, {images}: lens in gray minus chance", side[GRAY], level,
                           "above chance", "below chance"))
    return [f for f in out if f is not None]


def low_level_findings(name: str, accuracies, seeds, chance: float) -> list[Finding]:
    """`capstone.low_level_probe`'s accuracy on a task's pseudo labels, one per seed, against its chance."""
    f = finding(f"low-level statistics, {name} labels, minus chance", per_seed(accuracies, seeds),
                per_seed([chance] * len(list(seeds)), seeds), "above chance: the labels leak", "below chance")
    return [f] if f is not None else []
