"""Lessons 0 and 6: the course around the pretext tasks: the pipeline diagram, shortcut checks, the capstone report."""
from __future__ import annotations

import matplotlib.pyplot as plt
import torch
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch

from ..core.data import to_float
from ..core.probe import fit_linear
from ..core.stats import Verdict, compare
from ..core.task import PretextTask
from ..core.training import train_or_load
from ..core.validate import check_int
from ..notebook.plotting import imshow
from ..tasks.jigsaw import JigsawTask
from ..tasks.registry import course_tasks
from . import budgets, probing
from .network import Network
from .table import RANDOM, select
from .suite import probe_suite_networks
from .references import calibrated_random

# (key, row, column, title, notation, code) of each box of the pipeline diagram
PIPELINE_BOXES = (
    ("D", 0, 0, "unlabelled images", r"$\mathcal{D} = \{x_i\}_{i=1}^{N}$", "X = pretrain_split(N)"),
    ("g", 0, 1, "transformation", r"$(\tilde{x}, \tilde{y}) = g(x)$", "task.make_batch(X, generator)"),
    ("f", 0, 2, "network", r"$f_\theta = h \circ \phi$", "net = task.build_net(trunk)"),
    ("loss", 0, 3, "pretext loss", r"$\ell(f_\theta(\tilde{x}), \tilde{y})$", "train_or_load(task, ...)"),
    ("few", 1, 1, "few labelled images", r"$\{(x_j, y_j)\}$, $k$ per class", "fewshot_split(k=10)"),
    ("phi", 1, 2, "frozen trunk", r"features $\phi_l(x_j)$ of layer $l$", "net.trunk"),
    ("linear", 1, 3, "linear classifier", r"accuracy per layer $l$", "linear_probe(net, ...)"),
)
BOX_KEYS = tuple(box[0] for box in PIPELINE_BOXES)


def plot_pipeline(x=None, x_tilde=None, y_tilde=None, highlight=None, highlight_label: str = "you design this"):
    """The pretext-task pipeline as a diagram: notation on top, the course's code underneath.

    Top row: pretext training on unlabelled images; bottom row: transfer with few labels. Give an
    image `x` and its transformed `x_tilde` (with pseudo label `y_tilde`) to draw them into the
    diagram; `highlight` (a box key, one of BOX_KEYS) frames one box in orange.
    """
    if highlight is not None and highlight not in BOX_KEYS:
        raise ValueError(f"highlight must be one of {BOX_KEYS} or None, got {highlight!r}")
    if (x is None) != (x_tilde is None):
        raise ValueError("x and x_tilde must be given together (an image and its transformed version), "
                         f"got x={'an image' if x is not None else None}, "
                         f"x_tilde={'an image' if x_tilde is not None else None}")
    fig, ax = plt.subplots(figsize=(12.5, 4.4))
    ax.set_xlim(0, 4)
    ax.set_ylim(0.3, 3)
    ax.axis("off")
    width, height = 0.82, 0.66
    centres = {}
    for key, row, col, title, notation, code in PIPELINE_BOXES:
        cx, cy = col + 0.5, 2.0 - 1.3 * row
        centres[key] = (cx, cy)
        hot = key == highlight
        colour = "tab:orange" if hot else ("tab:blue" if row == 0 else "tab:green")
        ax.add_patch(FancyBboxPatch((cx - width / 2, cy - height / 2), width, height,
                                    boxstyle="round,pad=0.02,rounding_size=0.05", linewidth=2.5 if hot else 1.2,
                                    edgecolor=colour,
                                    facecolor="#fff4e5" if hot else ("#eef4fb" if row == 0 else "#eef8ee")))
        ax.text(cx, cy + 0.21, title, ha="center", va="center", fontsize=10, weight="bold")
        ax.text(cx, cy + 0.0, notation, ha="center", va="center", fontsize=10.5)
        ax.text(cx, cy - 0.22, code, ha="center", va="center", fontsize=7.5, family="monospace", color="0.3")
        if hot:
            ax.text(cx + width / 2, cy - height / 2 - 0.04, highlight_label, ha="right", va="top", fontsize=9,
                    color="tab:orange", weight="bold")

    def arrow(a, b, text=None, **style):
        (x0, y0), (x1, y1) = centres[a], centres[b]
        if y0 == y1:
            start, end = (x0 + width / 2 + 0.01, y0), (x1 - width / 2 - 0.01, y1)
        else:  # from the bottom of a down to the top of b
            start, end = (x0, y0 - height / 2 - 0.01), (x1, y1 + height / 2 + 0.01)
        ax.add_patch(FancyArrowPatch(start, end, arrowstyle="-|>", mutation_scale=14, linewidth=1.3, **style))
        if text:
            mx, my = (start[0] + end[0]) / 2, (start[1] + end[1]) / 2
            if y0 == y1:
                ax.text(mx, my - 0.05, text, ha="center", va="top", fontsize=8.5, color="0.25")
            else:
                ax.text(mx + 0.04, my, text, ha="left", va="center", fontsize=8.5, color="0.25")

    arrow("D", "g", r"$x$")
    arrow("g", "f", r"$\tilde{x}$")
    arrow("f", "loss", r"$\tilde{y}$")
    arrow("few", "phi", r"$x_j$")
    arrow("phi", "linear", r"$y_j$")
    arrow("f", "phi", r"copy the trunk $\phi$, freeze it", linestyle="--", color="tab:gray")
    ax.text(0.02, 2.98, "1. pretext training: labels for free, computed from the images themselves", fontsize=10.5,
            color="tab:blue", va="top", weight="bold")
    ax.text(0.08, 0.7, "2. transfer:\nwhat the features\nare worth with\nfew human labels", fontsize=10.5,
            color="tab:green", va="center", weight="bold")
    if x is not None:
        # one example along the top row: the image above D, its transformed version above g
        tilde = r"$\tilde{x}$" + (f", $\\tilde{{y}}={int(y_tilde)}$" if y_tilde is not None else "")
        for img, key, label in ((x, "D", r"$x$"), (x_tilde, "g", tilde)):
            cx, cy = centres[key]
            inset = ax.inset_axes([cx + width / 2 - 0.26, cy + height / 2 + 0.04, 0.24, 0.42], transform=ax.transData)
            imshow(inset, img)
            inset.set_xlabel(label, fontsize=8.5, labelpad=1)
            inset.xaxis.set_label_position("top")
    fig.tight_layout()
    return fig


# ------------------------------------------------------------------------------------------------
# Lesson 6: catching shortcuts
# ------------------------------------------------------------------------------------------------

def _as_long(permutations) -> torch.Tensor:
    P = torch.as_tensor(permutations)
    if P.dim() != 2 or P.dtype.is_floating_point:
        raise ValueError(f"permutations must be an integer array (M, tiles), got shape {tuple(P.shape)} "
                         f"and dtype {P.dtype}")
    return P.long()


def edge_solver(tiles: torch.Tensor, permutations, grid: int = 3) -> torch.Tensor:
    """Solve jigsaw puzzles without learning: the permutation whose tile borders match best.

    `tiles` (N, grid*grid, C, h, w) as `JigsawTask.make_batch` returns them, where the tile at
    position i comes from cell `permutations[y][i]`. For each candidate permutation, the cost is the
    mean squared difference across every pair of borders it would put side by side; the cheapest
    one is the answer. If this solver beats chance, a network can solve the task from edges too.
    """
    if not isinstance(tiles, torch.Tensor) or tiles.dim() != 5:
        raise ValueError(f"tiles must be a tensor (N, tiles, C, h, w), got "
                         f"{tuple(tiles.shape) if isinstance(tiles, torch.Tensor) else type(tiles).__name__}")
    T = grid * grid
    if tiles.shape[1] != T:
        raise ValueError(f"tiles must hold grid*grid = {T} tiles per puzzle, got {tiles.shape[1]}")
    P = _as_long(permutations).to(tiles.device)
    if P.shape[1] != T:
        raise ValueError(f"permutations must have {T} entries each (grid={grid}), got {P.shape[1]}")
    t = tiles.float()
    # cost[n, a, b]: tile a placed left of (or above) tile b
    side = ((t[:, :, None, ..., -1] - t[:, None, :, ..., 0]) ** 2).flatten(3).mean(-1)
    below = ((t[:, :, None, ..., -1, :] - t[:, None, :, ..., 0, :]) ** 2).flatten(3).mean(-1)
    where = P.argsort(1)  # where[m, c]: the position holding cell c's tile under permutation m
    cells = torch.arange(T).view(grid, grid)
    pairs_side = torch.stack([cells[:, :-1].flatten(), cells[:, 1:].flatten()], 1)
    pairs_below = torch.stack([cells[:-1, :].flatten(), cells[1:, :].flatten()], 1)
    cost = torch.zeros(len(t), len(P), device=t.device)
    for C_, pairs in ((side, pairs_side), (below, pairs_below)):
        flat = (where[:, pairs[:, 0]] * T + where[:, pairs[:, 1]]).to(t.device)  # (M, pairs)
        cost += C_.flatten(1)[:, flat].sum(-1)
    return cost.argmin(1)


def central_crop(X: torch.Tensor, size: int) -> torch.Tensor:
    """The central size x size pixels of images X (N, C, H, W)."""
    check_int("size", size, 1, min(X.shape[-2:]))
    top, left = (X.shape[-2] - size) // 2, (X.shape[-1] - size) // 2
    return X[..., top:top + size, left:left + size]


# Lesson 6's edge-shortcut conditions: the tile size stays lesson 2's in all of them (7 px on
# Fashion-MNIST). "gap" is lesson 2's geometry (on Fashion-MNIST 9 px cells: 2 px between cells, each
# tile jittered by up to 2 px); "touching" cuts the tiles from cells of their own size (the central
# 3 x 3 tiles: 21 px), no gap, no jitter, so neighbours always share an edge. Each is run with and
# without the per-tile normalisation.
EDGE_CONDITIONS = {
    "gap + jitter, normalised tiles": dict(touching=False, normalize=True),
    "touching, normalised tiles": dict(touching=True, normalize=True),
    "gap + jitter, raw tiles": dict(touching=False, normalize=False),
    "touching, raw tiles": dict(touching=True, normalize=False),
}


def edge_shortcut(X: torch.Tensor, seeds=(0, 1, 2, 3), conditions=None, tile: int | None = None,
                  jitter: int | None = None) -> dict[str, list[float]]:
    """The edge solver's accuracy per condition (EDGE_CONDITIONS) and seed, on lesson 2's puzzles.

    `tile` and `jitter` default to lesson 2's (`JigsawTask()`: they grow with the dataset's images).
    Seed i takes its own share of X (the i-th of len(seeds) equal parts) and draws its puzzles
    from a generator seeded with seeds[i], the same in every condition: the conditions are paired
    on the same images and the same permutations, and differ only in the gap and jitter, or in the
    normalisation.
    """
    conditions = EDGE_CONDITIONS if conditions is None else dict(conditions)
    lesson = JigsawTask()
    tile = lesson.tile if tile is None else check_int("tile", tile)
    jitter = lesson.jitter if jitter is None else check_int("jitter", jitter, 0)
    seeds = [check_int("seeds", seed, 0) for seed in seeds]
    if not isinstance(X, torch.Tensor) or len(X) < len(seeds):
        raise ValueError(f"X must be a tensor holding at least one image per seed ({len(seeds)}), got "
                         f"{len(X) if isinstance(X, torch.Tensor) else type(X).__name__}")
    shares = torch.arange(len(X)) % len(seeds)
    out = {name: [] for name in conditions}
    for i, seed in enumerate(seeds):
        images = to_float(X[shares == i])
        for name, c in conditions.items():
            jigsaw = JigsawTask(tile=tile, jitter=0 if c["touching"] else jitter, normalize=c["normalize"])
            shown = central_crop(images, 3 * tile) if c["touching"] else images
            tiles, y = jigsaw.make_batch(shown, torch.Generator().manual_seed(seed))
            out[name].append(float((edge_solver(tiles, jigsaw.permutations) == y).float().mean()))
    return out


def versus(results: dict, a: str, b, what: str, better_word: str, worse_word: str, seeds) -> str:
    """The helper's verdict on condition `a` minus condition `b` (a name) or minus a level (a number: chance).

    `results` maps a condition to one accuracy per seed (as `edge_shortcut` and
    `aberration_experiment` return them); the seeds pair the two sides.
    """
    for name in [a] + ([b] if isinstance(b, str) else []):
        if name not in results:
            raise ValueError(f"results must hold condition {name!r}; it holds {sorted(results)}")
    seeds = list(seeds)
    other = results[b] if isinstance(b, str) else [float(b)] * len(results[a])
    if not (len(results[a]) == len(other) == len(seeds)):
        raise ValueError(f"results[{a!r}] must hold one value per seed ({len(seeds)}), got {len(results[a])}")
    if len(seeds) < 2:
        return f"Not decided [{what}]: {len(seeds)} seed, no interval; add seeds."
    return compare(results[a], other, what, better_word, worse_word, seeds=seeds).sentence


def low_level_features(inputs: torch.Tensor) -> torch.Tensor:
    """Statistics a network can read without understanding anything, per image or tile of a pretext input.

    Per part (an image, a tile, a patch): mean and spread of the intensity, horizontal and
    vertical gradient energy, the mean of each border row and column, the centre of mass, and
    the mean of each colour channel.
    """
    if not isinstance(inputs, torch.Tensor) or inputs.dim() < 4:
        raise ValueError(f"inputs must be a tensor (N, ..., C, H, W) as make_batch returns it, got "
                         f"{tuple(inputs.shape) if isinstance(inputs, torch.Tensor) else type(inputs).__name__}")
    X = inputs.detach().float().cpu()
    parts = X.reshape(len(X), -1, *X.shape[-3:])  # (N, parts, C, H, W)
    gray = parts.mean(2)
    H, W = gray.shape[-2:]
    mass = (gray - gray.amin((-1, -2), keepdim=True)) + 1e-6
    total = mass.sum((-1, -2))
    ys = torch.linspace(0, 1, H).view(H, 1)
    xs = torch.linspace(0, 1, W).view(1, W)
    stats = [gray.mean((-1, -2)), gray.std((-1, -2), unbiased=False),
             (gray[..., :, 1:] - gray[..., :, :-1]).abs().mean((-1, -2)) if W > 1 else torch.zeros_like(total),
             (gray[..., 1:, :] - gray[..., :-1, :]).abs().mean((-1, -2)) if H > 1 else torch.zeros_like(total),
             gray[..., 0, :].mean(-1), gray[..., -1, :].mean(-1), gray[..., :, 0].mean(-1), gray[..., :, -1].mean(-1),
             (mass * xs).sum((-1, -2)) / total, (mass * ys).sum((-1, -2)) / total]
    channels = parts.mean((-1, -2)) if parts.shape[2] > 1 else parts.new_zeros(*parts.shape[:2], 0)
    return torch.cat([torch.stack(stats, -1), channels], -1).flatten(1)


def low_level_probe(task, X: torch.Tensor, seed: int = 0, train_fraction: float = 0.75) -> dict:
    """How well a linear classifier on `low_level_features` predicts the task's pseudo labels.

    Returns held-out `accuracy`, `chance` (the most frequent held-out label's share) and the
    number of images used. Far above chance means the labels leak through low-level cues: a
    network will find that shortcut too.
    """
    if not isinstance(task, PretextTask):
        raise TypeError(f"task must be a PretextTask, got {type(task).__name__}")
    if not 0 < train_fraction < 1:
        raise ValueError(f"train_fraction must be between 0 and 1, got {train_fraction!r}")
    if not isinstance(X, torch.Tensor) or len(X) < 8:
        raise ValueError(f"X must be a tensor of at least 8 images, got "
                         f"{len(X) if isinstance(X, torch.Tensor) else type(X).__name__}")
    inputs, y = task.make_batch(to_float(X), torch.Generator(device=X.device).manual_seed(seed))
    F_ = low_level_features(inputs)
    y = y.cpu()
    n = int(train_fraction * len(y))
    clf = fit_linear(F_[:n], y[:n])
    y_test = y[n:]
    # a class never drawn in the training part cannot be predicted: score it honestly as a miss
    logits_ok = int(y_test.max()) < clf.linear.out_features
    accuracy = clf.score(F_[n:], y_test) if logits_ok else float(
        (clf.predict(F_[n:]) == y_test).float().mean())
    chance = float(torch.bincount(y_test).max()) / len(y_test)
    return {"accuracy": accuracy, "chance": chance, "num_images": len(y)}


# ------------------------------------------------------------------------------------------------
# Lesson 6: the layer-wise report of lesson 4, for the classic tasks and yours
# ------------------------------------------------------------------------------------------------

def classic_networks(preset: str = "quick", seed: int = 0, arch: str = "cnn", device=None,
                     budget: str = budgets.MATCHED) -> list[tuple]:
    """(task, net, history) for every registered task (lessons 1 to 3 and any you registered).

    `budget` as in `budgets.training_plan`: MATCHED (the default) trains every task on the same
    images for the same number of passes as lesson 4 did, so lesson 4's networks of `seed` are
    loaded from the cache; OWN, each task's own recipe, as lessons 1 to 3 trained them. Networks
    missing from the cache are trained (minutes on a CPU).
    """
    tasks = course_tasks()
    plans = [p for p in budgets.training_plan(tasks, {arch: (seed,)}, preset, budget) if p["network"] in tasks]
    return [(p["task"], *train_or_load(p["task"], arch=arch, preset=preset, seed=seed, device=device, progress=False,
                                       **p["overrides"]))
            for p in plans]


def layer_report(networks, seed: int = 0, k: int = 10, arch: str = "cnn", preset: str = "quick",
                 num_splits: int = 3) -> list[dict]:
    """Lesson 4's table (a row per task, layer and labelled split) for `networks`, with pixels and random weights.

    `networks` is a list of (task, net) or (task, net, history); each trunk is probed with a linear
    classifier on `k` labelled images per class, whole images shown as `task.preprocess` shows them,
    on `num_splits` labelled splits of `seed` (one pretraining seed: the verdicts' intervals then
    cover the labelled splits only, and say so). Random weights are the course's reference, as in
    lessons 4 and 5: calibrated on the matched budget's images (`references.calibrated_random`).
    """
    items = list(networks)
    for i, item in enumerate(items):
        if not (isinstance(item, tuple) and len(item) in (2, 3) and isinstance(item[0], PretextTask)):
            raise TypeError(f"networks[{i}] must be a pair (task, net) or a triple (task, net, history) with a "
                            f"PretextTask first, got {type(item).__name__}")
    check_int("num_splits", num_splits)
    random = calibrated_random(None, arch, seed, preset, **budgets.matched_budget(preset, arch))
    table = []
    for j in range(num_splits):
        split = probing.downstream_split((k,), seed, split=j)
        table += probing.probe_pixels(seed, (k,), (arch,), split, split_index=j)
        table += probing.probe_network(random, RANDOM, arch, seed, (k,), split, split_index=j)
        for task, net, *_ in items:
            table += probing.probe_network(net, task, arch, seed, (k,), split, split_index=j)
    return table


# ------------------------------------------------------------------------------------------------
# Lesson 6: is a designed task worth having? (the capstone's graded checks)
# ------------------------------------------------------------------------------------------------

# Lesson 6's baseline is the course's one random reference (references.calibrated_random): the
# task's untrained network with BatchNorm statistics set on its inputs, the same in every lesson.
random_with_statistics = calibrated_random


# The capstone's graded check trains the task on a budget of its own: the grading preset's four optimiser
# steps teach a network next to nothing, so its features would equal its untrained baseline's whatever the
# task. This one is lesson 4's matched budget of the quick preset on Fashion-MNIST (the images and epochs
# of its smallest recipe); the network keeps the width of whatever preset runs (8 under grading).
CHECK_BUDGET = dict(num_images=4000, num_epochs=3)
CHECK_SPLITS = 5  # labelled splits of one seed: the units the verdicts pair on
CHECK_LAYERS = 3  # the trunk's first layers are probed (the plain CNN's first convolutions)


def probe_against_random(net: torch.nn.Module, untrained: torch.nn.Module, task: PretextTask, arch: str = "cnn",
                         seed: int = 0, k: int = 10, num_splits: int = CHECK_SPLITS, layers=None) -> list[dict]:
    """Lesson 4's rows for a task's network and its untrained one (rows named `RANDOM`).

    Both trunks are probed on the same `num_splits` labelled splits of `seed` (k images per class), whole
    images shown as `task.preprocess` shows them; test features are computed once per network.
    """
    if not isinstance(task, PretextTask):
        raise TypeError(f"task must be a PretextTask, got {type(task).__name__}")
    check_int("num_splits", num_splits, 2)
    rows, cache = [], {}
    for j in range(num_splits):
        split = probing.downstream_split((k,), seed, split=j)
        rows += probing.probe_network(net, task, arch, seed, (k,), split, layers=layers, split_index=j,
                                        feature_cache=cache)
        rows += probing.probe_network(untrained, RANDOM, arch, seed, (k,), split, layers=layers,
                                        preprocess=task.preprocess, split_index=j, feature_cache=cache)
    return rows


def layer_verdicts(rows, task_name: str, baseline: str = RANDOM) -> dict[str, Verdict]:
    """Per layer, the `core.stats` verdict of `task_name`'s test accuracy against `baseline`'s, paired on (seed, split)."""
    verdicts = {}
    for layer in dict.fromkeys(r["layer"] for r in select(rows, task=task_name)):
        mine = {(r["seed"], r.get("split", 0)): r["accuracy"] for r in select(rows, task=task_name, layer=layer)}
        theirs = {(r["seed"], r.get("split", 0)): r["accuracy"] for r in select(rows, task=baseline, layer=layer)}
        units = [u for u in mine if u in theirs]
        if len(units) < 2:
            raise ValueError(f"rows must hold at least 2 units (seed, split) of {task_name!r} and {baseline!r} at "
                             f"layer {layer!r}, got {len(units)}")
        verdicts[layer] = compare([mine[u] for u in units], [theirs[u] for u in units],
                                  f"{task_name} vs its untrained network ({baseline}), {layer}",
                                  seeds=[s for s, _ in units], splits=[j for _, j in units])
    return verdicts


def beats_random(task: PretextTask, arch: str = "cnn", seed: int = 0, preset: str = "quick", k: int = 10,
                 num_splits: int = CHECK_SPLITS, num_layers: int = CHECK_LAYERS, device=None,
                 **overrides) -> dict[str, Verdict]:
    """Is the task worth training? Its network against `random_with_statistics`, one verdict per layer.

    The network trains on `CHECK_BUDGET` (overrides on top) and its untrained baseline gets the
    BatchNorm statistics of the same images, so the two differ by the gradient steps alone; a task
    worth having is "better" at some layer. A task whose label is constant, or read off a low-level
    cue, is not.
    """
    budget = {**CHECK_BUDGET, **overrides}
    net, _ = train_or_load(task, arch=arch, preset=preset, seed=seed, device=device, progress=False, **budget)
    untrained = random_with_statistics(task, arch=arch, seed=seed, preset=preset, **budget)
    layers = list(net.trunk.layer_names[:check_int("num_layers", num_layers, 1)])
    rows = probe_against_random(net, untrained, task, arch, seed, k, num_splits, layers)
    return layer_verdicts(rows, task.name)


def shortcut_share(result: dict) -> float:
    """How much of the way from chance to 100% a `low_level_probe` result goes (0: chance, 1: every label)."""
    return (result["accuracy"] - result["chance"]) / max(1e-9, 1 - result["chance"])


# your task on lesson 5's suite -------------------------------------------------------------------------

def capstone_suite(networks, arch: str = "cnn", seed: int = 0, preset: str = "quick", sizes: dict | None = None,
                   num_splits: int = 1) -> list[dict]:
    """The suite's table for the capstone's networks ((task, net) or (task, net, history)) and random weights.

    One pretraining seed and, by default, one labelled split: a description of where each task's
    layer lands, not a decision (lesson 5 decides such questions over seeds); more `num_splits` give
    each score more units, which cover split noise only. `sizes` defaults to lesson 5's (`downstream.SIZES`):
    the same downstream images as lesson 5's first split, so the rows of the networks lesson 5 already
    probed (the classic tasks and random weights of `seed`) are read from its stored results and only
    your task is probed. Random weights are the course's reference: calibrated on the matched budget's
    images, as in lessons 4 and 5.
    """
    entries = []
    for i, item in enumerate(networks):
        if not (isinstance(item, tuple) and len(item) in (2, 3)):
            raise TypeError(f"networks[{i}] must be (task, net) or (task, net, history), got {type(item).__name__}")
        entries.append(Network(item[0], arch, seed, item[1]))
    budget = budgets.matched_budget(preset, arch)
    entries.append(Network(RANDOM, arch, seed, calibrated_random(None, arch, seed, preset, **budget), budget))
    check_int("num_splits", num_splits)
    return probe_suite_networks(entries, splits=range(num_splits), sizes=sizes)
