"""Lesson 4: the layer-alignment experiment: which layer of a pretext-trained network transfers best, and why.

The networks come from `budgets` (`train_networks`), their rows from `probing` (`probe_networks`, the
course's one probe protocol), the curves from `table` (`best_layers`). This module holds what lesson 4
reads in them: every verdict, computed from the table alone through `table.decide` (`verdicts`),
Kolesnikov et al.'s width study, the cost of choosing a layer on the test set, the published
per-layer figures, the plots, and the run's record.
"""
from __future__ import annotations

import json
import statistics
from collections import defaultdict


from ..core.stats import compare
from ..notebook.plotting import figure_axes
from ..notebook.widgets import explorer
from .budgets import WIDTH_STUDY
from .table import BASELINES, PIXELS, RANDOM, SUPERVISED, Curve, best_layers, check_table, decide, select, summarise, task_order
from .table import unit as _unit_of

JSON_MIME = "application/vnd.pretext-lessons.alignment+json"

# Published per-layer figures, for context only (each row names its source): not comparable in scale with ours.
PUBLISHED = (
    dict(task="rotation", arch="ResNet-50", setting="ImageNet linear probe, top-1 %",
         source="mmselfsup, rotation_pred README", layers=("stem", "res2", "res3", "res4", "res5"),
         accuracy=(12.15, 31.99, 44.57, 54.20, 45.94)),
    dict(task="relative_position", arch="ResNet-50", setting="ImageNet linear probe, top-1 %",
         source="mmselfsup, relative_loc README", layers=("stem", "res2", "res3", "res4", "res5"),
         accuracy=(15.11, 30.47, 42.83, 51.20, 40.96)),
    dict(task="rotation", arch="RotNet, 4 NIN blocks", setting="CIFAR-10, classifier on each frozen block, %",
         source="Gidaris et al. 2018, Table 1", layers=("block1", "block2", "block3", "block4"),
         accuracy=(85.07, 89.06, 86.21, 61.73)),
)



# verdicts, computed from the table through table.decide ---------------------------------------

def _check_curve(curve, name: str = "best") -> Curve:
    if not isinstance(curve, Curve):
        raise TypeError(f"{name} must be a Curve from best_layers(table), got {type(curve).__name__}")
    return curve



def alignment_verdict(best: Curve) -> str:
    """Is the last layer better or worse than the best earlier layer (chosen on the labelled images)?"""
    c = _check_curve(best)
    what = (f"{c.task}, {c.arch}, k={c.k}: last layer {c.last.layer} vs {c.earlier.layer}, the best earlier layer "
            f"on the labelled images")
    return decide(dict(zip(c.units, c.last_values)), dict(zip(c.units, c.earlier_values)), what,
                   "last layer higher", "last layer lower")


def _drops(c: Curve) -> dict:
    return {u: last - earlier for u, last, earlier in zip(c.units, c.last_values, c.earlier_values)}


def random_verdicts(best, task: str, arch: str, k: int) -> list[str]:
    """A pretext task against random weights of its arch: the chosen layers, then the last layer's fall.

    First: the pretext network at its chosen layer against random weights at theirs (does pretext
    training add anything?). Second: the last layer's change against the best earlier layer, pretext
    minus random (does the last layer fall beyond what the architecture and the probe alone give?).
    """
    curves = {c.task: c for c in best if c.arch == arch and c.k == k}
    if task not in curves or RANDOM not in curves:
        raise ValueError(f"best must hold the curves of {task!r} and {RANDOM!r} for arch {arch!r} and k={k}")
    p, r = _check_curve(curves[task]), curves[RANDOM]
    gain = decide(dict(zip(p.units, p.best_values)), dict(zip(r.units, r.best_values)),
                   f"{task} vs random weights, {arch}, k={k}: each at its chosen layer ({p.best.layer} vs "
                   f"{r.best.layer})", "pretext features better", "pretext features worse")
    fall = decide(_drops(p), _drops(r),
                   f"{task} vs random weights, {arch}, k={k}: last layer minus best earlier layer",
                   "the pretext network's last layer falls less", "the pretext network's last layer falls more")
    return [gain, fall]


def architecture_verdict(best, task: str, k: int, plain: str = "cnn", skip: str = "resnet") -> str:
    """The last layer's change against the best earlier layer, with (skip) minus without (plain) skips."""
    entries = {c.arch: c for c in best if c.task == task and c.k == k}
    missing = [arch for arch in (plain, skip) if arch not in entries]
    if missing:
        raise ValueError(f"best must hold task {task!r} at k={k} for archs {plain!r} and {skip!r}; missing {missing}")
    p, s = entries[plain], entries[skip]
    return decide(_drops(s), _drops(p),
                   f"{task}, k={k}: last layer minus best earlier layer, {skip} ({s.last.layer} vs "
                   f"{s.earlier.layer}) minus {plain} ({p.last.layer} vs {p.earlier.layer})",
                   "the last layer keeps more with skip connections",
                   "the last layer keeps less with skip connections")


def pretext_points(table, pretext, k: int, layer: str = "best") -> list[dict]:
    """Per network in `pretext` (rows task, arch, seed, pretext_accuracy, optional run): its downstream accuracy.

    layer="best" takes the layer chosen on the labelled images (cross-validated accuracy; the
    accuracy itself for rows without it), "last" the deepest layer; split 0 of the network's seed.
    """
    if layer not in ("best", "last"):
        raise ValueError(f"layer must be 'best' or 'last', got {layer!r}")
    points = []
    for p in pretext:
        for key in ("task", "arch", "seed", "pretext_accuracy"):
            if key not in p:
                raise ValueError(f"each pretext row must have task, arch, seed, pretext_accuracy; missing {key!r}")
        run = p.get("run", p["task"])
        rows = [r for r in select(table, task=run, arch=p["arch"], seed=p["seed"], k=k) if r.get("split", 0) == 0]
        if not rows:
            raise ValueError(f"the table holds no rows for task {run!r}, arch {p['arch']!r}, seed {p['seed']}, k={k}")
        by = lambda r: r["val_accuracy"] if r.get("val_accuracy") is not None else r["accuracy"]  # noqa: E731
        pick = max(rows, key=by) if layer == "best" else max(rows, key=lambda r: r["depth"])
        points.append(dict(p, run=run, k=k, layer=pick["layer"], downstream_accuracy=pick["accuracy"]))
    return points


def pretext_verdict(points, label: str) -> str:
    """The rank correlation of pretext and downstream accuracy over `points`, described, not decided.

    Across tasks whose chance levels differ (4 rotations, 100 permutations, 8 positions) this is a
    different question from Kolesnikov et al.'s (one task, a varying network), so no verdict is drawn.
    """
    if len(points) < 3:
        raise ValueError(f"points must hold at least 3 networks to compare rankings, got {len(points)}")
    rho = _rank_correlation([p["pretext_accuracy"] for p in points], [p["downstream_accuracy"] for p in points])
    runs = sorted({p["run"] for p in points}, key=task_order)
    return (f"Described, not decided [pretext vs downstream, {label}, k={points[0]['k']}]: over {len(points)} networks "
            f"of {len(runs)} task(s) ({', '.join(runs)}), rank correlation {rho:+.2f}. Pretext accuracies of tasks "
            f"with different numbers of classes are not on one scale, so this is not Kolesnikov et al.'s question "
            f"(one task, a varying network).")


def width_study(pretext) -> list[dict]:
    """The networks of Kolesnikov et al.'s question, from `train_networks`' pretext rows: one task, several networks.

    The rows of group WIDTH_STUDY (one task at other widths) and that task's networks of the
    other archs trained on every seed the study has; all of them labelled WIDTH_STUDY.
    """
    study = [p for p in pretext if p.get("group") == WIDTH_STUDY]
    if not study:
        return []
    tasks = sorted({p["task"] for p in study})
    if len(tasks) > 1:
        raise ValueError(f"the width study must hold one task, got {tasks}")
    seeds = {p["seed"] for p in study}
    others = defaultdict(list)
    for p in pretext:
        if p.get("group") != WIDTH_STUDY and p["task"] == tasks[0]:
            others[p["arch"]].append(p)
    for arch, rows in others.items():
        if {p["seed"] for p in rows} >= seeds:
            study += [dict(p, group=WIDTH_STUDY) for p in rows if p["seed"] in seeds]
    return study


def width_study_points(table, study, k: int) -> list[dict]:
    """Per network of the study and unit (seed, split): its pretext accuracy and the probe's test accuracy.

    The probe's layer is the one chosen for that network's curve on the labelled images
    (`best_layers`), the same layer for all its units.
    """
    curves = {(c.task, c.arch): c for c in best_layers(table, k=k)}
    points = []
    for p in study:
        curve = curves.get((p["task"], p["arch"]))
        if curve is None:
            raise ValueError(f"the table holds no curve for task {p['task']!r}, arch {p['arch']!r} at k={k}")
        for unit, accuracy in zip(curve.units, curve.best_values):
            if unit[0] == p["seed"]:
                points.append(dict(task=p["task"], arch=p["arch"], seed=unit[0], split=unit[1], k=k,
                                   width=p.get("width"), layer=curve.best.layer,
                                   pretext_accuracy=p["pretext_accuracy"], downstream_accuracy=accuracy))
    return points


def _rank_correlation(x, y) -> float:
    if len(set(x)) < 2 or len(set(y)) < 2:
        return 0.0  # a constant side ranks nothing: no agreement either way
    from scipy.stats import spearmanr  # imported here: scipy.stats is slow to import and few lessons need it

    return float(spearmanr(x, y).statistic)


def width_study_rhos(table, study, k: int) -> tuple[list[str], list[tuple], list[float]]:
    """Kolesnikov et al.'s quantity: per unit (seed, split) that holds every network of the study, the rank
    correlation between the networks' pretext accuracies and their probe accuracies; (networks, units, rhos)."""
    points = width_study_points(table, study, k)
    networks = sorted({p["arch"] for p in points}, key=lambda a: (a.split("-w")[0], len(a), a))
    by_unit = defaultdict(dict)
    for p in points:
        by_unit[(p["seed"], p["split"])][p["arch"]] = (p["pretext_accuracy"], p["downstream_accuracy"])
    units = sorted(u for u, nets in by_unit.items() if len(nets) == len(networks))
    if len(networks) < 3:
        return networks, units, []
    return networks, units, [_rank_correlation(*zip(*(by_unit[u][a] for a in networks))) for u in units]


def width_study_question(table, study, k: int) -> str:
    """What `width_study_verdict` asks, in words (the summary table's question)."""
    task = study[0]["task"] if study else "?"
    networks = sorted({p["arch"] for p in study}, key=lambda a: (a.split("-w")[0], len(a), a))
    return (f"{task}, k={k}, {len(networks)} networks ({', '.join(networks)}): rank correlation of pretext accuracy "
            f"with the probe's accuracy at the chosen layer, within each (seed, split)")


def width_study_verdict(table, study, k: int) -> str:
    """Kolesnikov et al.'s question: within each unit (seed, split), do the study's networks rank alike on both accuracies?

    Per unit, the rank correlation between the networks' pretext accuracies and their probe
    accuracies (`width_study_rhos`); the helper's interval over seeds decides whether it is
    above 0 (higher pretext accuracy goes with a better probe), below 0, or neither.
    """
    networks, units, rhos = width_study_rhos(table, study, k)
    points = width_study_points(table, study, k)
    task = points[0]["task"] if points else "?"
    what = (f"{task}, k={k}, {len(networks)} networks ({', '.join(networks)}): rank correlation of pretext accuracy "
            f"with the probe's accuracy at the chosen layer, within each (seed, split)")
    if len(networks) < 3 or len(units) < 2:
        return (f"Not decided [{what}]: {len(networks)} networks on {len(units)} common (seed, split) units; a rank "
                f"correlation needs 3 networks and an interval 2 units.")
    return compare(rhos, [0.0] * len(rhos), what, "higher pretext accuracy goes with a better probe",
                   "higher pretext accuracy goes with a worse probe", seeds=[u[0] for u in units],
                   splits=[u[1] for u in units], scale=1.0, unit="", measure="mean rank correlation").sentence


def plot_width_study(points, ax=None, title=None):
    """One dot per network and seed (mean over its splits): pretext accuracy against the probe's accuracy."""
    if not points:
        raise ValueError("points must hold rows from width_study_points(table, study, k); got none")
    fig, ax = figure_axes(ax, figsize=(5.5, 4))
    per_seed = defaultdict(list)
    for p in points:
        per_seed[(p["arch"], p["seed"], p["pretext_accuracy"])].append(p["downstream_accuracy"])
    networks = sorted({p["arch"] for p in points}, key=lambda a: (a.split("-w")[0], len(a), a))
    for i, arch in enumerate(networks):
        xs = [100 * x for (a, _, x) in per_seed if a == arch]
        ys = [100 * statistics.fmean(v) for (a, _, _), v in per_seed.items() if a == arch]
        ax.scatter(xs, ys, s=36, color=f"C{i}", label=f"{arch} ({len(xs)} seed{'s' if len(xs) != 1 else ''})")
        ax.scatter([statistics.fmean(xs)], [statistics.fmean(ys)], s=140, marker="+", color=f"C{i}")
    layers = {p["layer"] for p in points}
    ax.set_xlabel("pretext accuracy (held out), %")
    ax.set_ylabel("probe accuracy at the chosen layer, %" if len(layers) > 1 else f"probe accuracy at {layers.pop()}, %")
    ax.set_title(title or f"{points[0]['task']}: one task, several networks (k={points[0]['k']})")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def verdicts(table, pretext=(), plain: str = "cnn", skip: str = "resnet") -> dict[str, list[str]]:
    """Every verdict the lesson prints, recomputed from the table alone (the notebook prints these).

    'alignment': one per curve (task, arch, k); 'random': two per pretext curve with a random-weights
    curve beside it (`random_verdicts`); 'architecture': one per pretext task and k found in both
    archs; 'pretext': per group of `pretext` rows (default one group), chosen and last layer, at the
    smallest label budget (described, not decided); 'width_study': Kolesnikov et al.'s question
    (`width_study_verdict`) per label budget at which every network of the study was probed, when
    `pretext` holds a study (rows of group WIDTH_STUDY, whose extra archs get no other verdict).
    """
    study = width_study(pretext)
    study_only = {p["arch"] for p in pretext if p.get("group") == WIDTH_STUDY}
    every = best_layers(table)
    best = [c for c in every if c.arch not in study_only]
    out = {"alignment": [alignment_verdict(b) for b in best], "random": [], "architecture": [], "pretext": [],
           "width_study": []}
    for b in best:
        if b.task not in BASELINES and any(c.task == RANDOM and c.arch == b.arch and c.k == b.k for c in best):
            out["random"] += random_verdicts(best, b.task, b.arch, b.k)
    for k in sorted({c.k for c in best}):
        for task in sorted({c.task for c in best if c.task not in BASELINES}, key=task_order):
            archs = {c.arch for c in best if c.task == task and c.k == k}
            if {plain, skip} <= archs:
                out["architecture"].append(architecture_verdict(best, task, k, plain, skip))
    groups = defaultdict(list)
    for p in pretext:
        if p.get("group") != WIDTH_STUDY:
            groups[p.get("group", "all networks")].append(p)
    if best:
        k = min(c.k for c in best)
        for label, rows in groups.items():
            for layer in ("best", "last"):
                points = pretext_points(table, rows, k, layer)
                if len(points) >= 3:
                    out["pretext"].append(pretext_verdict(points, f"{label}, {layer} layer"))
    if study:
        probed = defaultdict(set)
        for c in every:
            probed[c.k].add((c.task, c.arch))
        for k in sorted(probed):
            if all((p["task"], p["arch"]) in probed[k] for p in study):
                out["width_study"].append(width_study_verdict(table, study, k))
    return out


def selection_bias(table, **where) -> list[dict]:
    """Per curve and unit, how much choosing the layer on the test set would have flattered it.

    `bias` is the best test accuracy over the layers minus the test accuracy of the layer chosen on
    validation (never negative): what a report that picks its layer on the test set adds.
    """
    groups = defaultdict(dict)
    for row in select(table, **where):
        if row.get("val_accuracy") is not None and row["task"] != PIXELS:
            groups[(row["task"], row["arch"], row["k"], _unit_of(row))][row["layer"]] = row
    out = []
    for (task, arch, k, unit), rows in groups.items():
        if len(rows) < 2:
            continue
        by_test = max(rows.values(), key=lambda r: r["accuracy"])
        by_val = max(sorted(rows.values(), key=lambda r: r["depth"]), key=lambda r: r["val_accuracy"])
        out.append(dict(task=task, arch=arch, k=k, seed=unit[0], split=unit[1], test_chosen=by_test["layer"],
                        val_chosen=by_val["layer"], bias=by_test["accuracy"] - by_val["accuracy"]))
    return out


def plot_selection_bias(bias, ax=None, title=None):
    """One dot per curve and unit: test-chosen minus validation-chosen accuracy, in points."""
    if not bias:
        raise ValueError("bias must hold rows from selection_bias(table); got none")
    fig, ax = figure_axes(ax, figsize=(6, 3.5))
    groups = sorted({(b["arch"], b["k"], b["task"]) for b in bias}, key=lambda g: (g[0], g[1], task_order(g[2])))
    for i, (arch, k, task) in enumerate(groups):
        values = [100 * b["bias"] for b in bias if (b["arch"], b["k"], b["task"]) == (arch, k, task)]
        ax.scatter([i] * len(values), values, s=18, alpha=0.7, color=f"C{i % 10}")
        ax.plot([i - 0.3, i + 0.3], [statistics.fmean(values)] * 2, color="black")
    ax.set_xticks(range(len(groups)), [f"{task}\n{arch}, k={k}" for arch, k, task in groups], fontsize=7,
                  rotation=60, ha="right")
    ax.set_ylabel("test-chosen minus\nvalidation-chosen, points")
    ax.set_title(title or "What choosing the layer on the test set would have added")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def of_arch(lines, arch: str) -> list[str]:
    """The verdict lines (from `verdicts`) about one arch: those whose bracket names it second."""
    return [line for line in lines if line.split("]")[0].split(", ")[1:2] == [arch]]


def published_table() -> list[dict]:
    """The published per-layer figures (PUBLISHED) as table rows (seed 0, k=None), to run best_layers on."""
    return [dict(task=p["task"], arch=p["arch"], seed=0, layer=layer, depth=depth, accuracy=acc / 100, k=None)
            for p in PUBLISHED for depth, (layer, acc) in enumerate(zip(p["layers"], p["accuracy"]), start=1)]


def published_lines() -> list[str]:
    """The published per-layer figures (context, not this run), each with its best and last layer."""
    best = {(c.task, c.arch): c for c in best_layers(published_table())}
    lines = []
    for p in PUBLISHED:
        b = best[(p["task"], p["arch"])]
        curve = ", ".join(f"{layer} {acc:.2f}" for layer, acc in zip(p["layers"], p["accuracy"]))
        lines.append(f"Published, not this run: {p['task']}, {p['arch']}, {p['setting']} ({p['source']}): {curve}. "
                     f"Best {b.best.layer}; the last layer, {b.last.layer}, is {b.drop:.2f} points lower.")
    return lines


# plots ----------------------------------------------------------------------------------------

STYLES = {SUPERVISED: dict(color="black", linestyle="-"), RANDOM: dict(color="grey", linestyle=":"),
          PIXELS: dict(color="grey", linestyle="--")}


def plot_layers(table, arch: str = "cnn", k: int = 10, tasks=None, spread: str = "range", ax=None, title=None):
    """Accuracy per layer, one line per task (mean over seeds) with a band for the spread over seeds.

    spread="range" shades min to max over seeds, "std" mean +- one standard deviation; raw pixels
    are a horizontal dashed line.
    """
    if spread not in ("range", "std"):
        raise ValueError(f"spread must be 'range' or 'std', got {spread!r}")
    rows = summarise(table, arch=arch, k=k)
    if not rows:
        raise ValueError(f"the table holds no rows for arch={arch!r}, k={k!r}; it holds archs "
                         f"{sorted({r['arch'] for r in table})} and budgets {sorted({r['k'] for r in table})}")
    available = sorted({r["task"] for r in rows}, key=task_order)
    tasks = available if tasks is None else [t for t in tasks if t in available]
    fig, ax = figure_axes(ax, figsize=(6, 4))
    ticks = {}
    for task in tasks:
        curve = sorted((r for r in rows if r["task"] == task), key=lambda r: r["depth"])
        style = STYLES.get(task, {})
        n = max(r["n"] for r in curve)
        label = f"{task} ({n} seed{'s' if n > 1 else ''})"
        if task == PIXELS:
            ax.axhline(curve[0]["mean"], label=label, **style)
            continue
        x = [r["depth"] for r in curve]
        mean = [r["mean"] for r in curve]
        lo = [r["min"] if spread == "range" else r["mean"] - r["std"] for r in curve]
        hi = [r["max"] if spread == "range" else r["mean"] + r["std"] for r in curve]
        line, = ax.plot(x, mean, marker="o", label=label, **style)
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.15)
        ticks.update({r["depth"]: r["layer"] for r in curve})
    ax.set_xticks(sorted(ticks), [ticks[d] for d in sorted(ticks)])
    ax.set_xlabel("layer (deeper to the right)")
    ax.set_ylabel(f"linear-probe accuracy, k={k} labels/class")
    ax.set_title(title or f"{arch}: accuracy per layer ({'min-max' if spread == 'range' else '±1 std'} over seeds)")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


def layer_explorer(table):
    """Switch architecture, label budget and tasks on the per-layer curves (a widget; a PNG outside Jupyter)."""
    import ipywidgets as widgets

    check_table(table)
    archs = sorted({r["arch"] for r in table})
    ks = sorted({r["k"] for r in table})
    tasks = sorted({r["task"] for r in table}, key=task_order)
    return explorer(lambda arch, k, tasks: plot_layers(table, arch, k, list(tasks)),
                    arch=widgets.Dropdown(options=archs, value=archs[0], description="arch"),
                    k=widgets.Dropdown(options=ks, value=ks[0], description="labels/class"),
                    tasks=widgets.SelectMultiple(options=tasks, value=tuple(tasks), description="tasks"))


def plot_pretext_vs_downstream(points, ax=None, title=None):
    """One dot per network: pretext accuracy against downstream accuracy."""
    fig, ax = figure_axes(ax, figsize=(5, 4))
    for run in sorted({p["run"] for p in points}, key=task_order):
        mine = [p for p in points if p["run"] == run]
        ax.scatter([100 * p["pretext_accuracy"] for p in mine], [100 * p["downstream_accuracy"] for p in mine],
                   label=run, s=40)
    ax.set_xlabel("pretext accuracy (held out), %")
    layers = {p["layer"] for p in points}
    layer = layers.pop() if len(layers) == 1 else "each network's best"
    ax.set_ylabel(f"downstream accuracy ({layer} layer), %")
    ax.set_title(title or "Does pretext accuracy predict downstream accuracy?")
    ax.legend(fontsize=8)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


# the run's record ------------------------------------------------------------------------------

def record(table, pretext=(), **settings) -> None:
    """Show the run's table and pretext accuracies as JSON, so the printed verdicts can be checked later."""
    from IPython.display import display

    payload = dict(table=check_table(table), pretext=list(pretext), settings=settings)
    text = json.dumps(payload, default=str)
    display({JSON_MIME: json.loads(text), "text/plain": f"Recorded {len(table)} table rows and {len(pretext)} "
                                                         f"pretext accuracies (the run's data, as JSON)."}, raw=True)


def read_record(nb) -> dict:
    """The record an executed lesson notebook displayed (see `record`)."""
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            data = out.get("data", {})
            if JSON_MIME in data:
                payload = data[JSON_MIME]
                return json.loads(payload) if isinstance(payload, str) else payload
    raise ValueError("nb holds no alignment record: execute the notebook first (its last cells call record())")
