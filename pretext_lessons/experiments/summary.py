"""Lessons 4 and 5: one summary table and one seed-dot figure per lesson, computed from the results table.

Every "better than random" and "falls more than random" question is asked against the course's
references (`experiments.references`): the calibrated random network, probed through the same
preprocessing as the network it is compared with (rows `random-<task>` where a task has its own
preprocessing, else the shared `random`), and, where the table has it, the no-signal control
(rows `no_signal-<task>`). Each question is a paired comparison over (seed, split) units through
`core.stats` (splits averaged within a seed, t over seeds on Fisher's z scale); one question is the
lesson's primary comparison, the others are Holm-corrected for their number.
"""
from __future__ import annotations

import dataclasses
import statistics
from collections import defaultdict

from ..core.stats import HOLM, Question, paired_interval, summary, summary_text
from ..core.task import PretextTask
from . import alignment, budgets, downstream, probing, suite
from . import table as results_table
from .network import Network
from .references import NO_SIGNAL, NoSignal, ProbedAs, calibrated_random, initial_statistics, no_signal_net

RANDOM = results_table.RANDOM
INITIAL = "random, initial statistics"  # the random reference with BatchNorm's initial statistics (mean 0, variance 1)


@dataclasses.dataclass(frozen=True)
class Finding:
    """A question, its comparison and the per-seed means of its differences (the figure's dots)."""

    question: Question
    seed_means: dict


def own_preprocess(task) -> bool:
    """Whether `task` shows whole images its own way (so its random reference must be probed that way too)."""
    if isinstance(task, NoSignal):
        task = task.base
    return isinstance(task, PretextTask) and type(task).preprocess is not PretextTask.preprocess


def random_name(task_name: str) -> str:
    """The rows of the random reference probed as `task_name`'s network is: `random-<task>`."""
    return f"{RANDOM}-{task_name}"


def no_signal_name(task_name: str) -> str:
    """The rows of `task_name`'s no-signal control."""
    return f"{NO_SIGNAL}-{task_name}"


# the networks ------------------------------------------------------------------------------------

def control_networks(tasks, seeds, preset: str = "quick", device=None, control_tasks=None) -> list:
    """The no-signal controls of `control_tasks` (default: every task of `tasks`), per arch and seed, on the
    matched budget: `Network`s.

    Every pretext network a lesson compares with random weights gets its control, so each "better than
    random" question has the control beside it. Trained once and cached by train_or_load, so lessons 4
    and 5 share them.
    """
    tasks = dict(tasks)
    control_tasks = tuple(tasks) if control_tasks is None else tuple(control_tasks)
    out = []
    for arch, arch_seeds in dict(seeds).items():
        budget = budgets.matched_budget(preset=preset, arch=arch)
        for name in control_tasks:
            if name not in tasks:
                raise ValueError(f"control_tasks must name tasks among {sorted(tasks)}, got {name!r}")
            for seed in arch_seeds:
                net, _ = no_signal_net(tasks[name], arch, seed, preset, device=device, **budget)
                out.append(Network(NoSignal(base=tasks[name]), arch, seed, net, budget))
    return out


def reference_networks(tasks, seeds, preset: str = "quick") -> list:
    """Per task with its own preprocessing, arch and seed, its calibrated random network: a `Network` of a ProbedAs.

    The weights are the task's network's starting weights and the BatchNorm statistics those of its
    inputs on the matched budget's images, so the reference differs from the trained network by the
    gradient steps alone; its `ProbedAs` label (rows `random-<task>`) shows it images through the
    task's preprocessing. Tasks that show whole images as they are (rotation) are compared with the
    shared `random` rows.
    """
    out = []
    for arch, arch_seeds in dict(seeds).items():
        budget = budgets.matched_budget(preset=preset, arch=arch)
        for name, task in dict(tasks).items():
            if own_preprocess(task):
                for seed in arch_seeds:
                    out.append(Network(ProbedAs(base=task), arch, seed,
                                       calibrated_random(task, arch, seed, preset, **budget), budget))
    return out


def probe_references(references, ks=(10,), num_test: int | None = 2000, splits=(0,)) -> list[dict]:
    """The results-table rows of reference or control networks (task, arch, seed, net), on `alignment`'s splits.

    Each is probed through its task's preprocessing; unlike `probing.probe_networks`, no raw-pixel
    rows are added (the lesson's table has them already).
    """
    rows = []
    for task, arch, seed, net in references:
        cache = {}
        for j in splits:
            split = probing.downstream_split(ks, seed, num_test, split=j)
            rows += probing.probe_network(net, task, arch, seed, ks, split, split_index=j, feature_cache=cache)
    return rows


probe_controls = probe_references  # the no-signal controls are probed the same way


def initial_statistics_rows(networks, ks=(10,), num_test: int | None = 2000, splits=(0,), arch: str = "cnn") -> list[dict]:
    """The shared random networks of `arch` probed again with BatchNorm's initial statistics (rows INITIAL)."""
    rows = []
    for task, net_arch, seed, net in networks:
        if task == RANDOM and net_arch == arch:
            plain = initial_statistics(net)
            for j in splits:
                split = probing.downstream_split(ks, seed, num_test, split=j)
                rows += probing.probe_network(plain, INITIAL, arch, seed, ks, split, split_index=j)
    return rows


# the questions -----------------------------------------------------------------------------------

def finding(question: str, a: dict, b: dict, better: str, worse: str, bounds=(-1.0, 1.0)):
    """A[u] - b[u] over the (seed, split) units both hold, as a Finding; None with fewer than 2 seeds."""
    units = sorted(set(a) & set(b))
    if len(units) < 2 or len({u[0] for u in units}) < 2:
        return None  # fewer than 2 seeds: no interval over seeds
    c = paired_interval([a[u] for u in units], [b[u] for u in units], seeds=[u[0] for u in units],
                        splits=[u[1] for u in units], bounds=bounds)
    per_seed = defaultdict(list)
    for u in units:
        per_seed[u[0]].append(a[u] - b[u])
    return Finding(Question(question, c, better, worse), {s: statistics.fmean(v) for s, v in per_seed.items()})


def _best(curve) -> dict:
    return dict(zip(curve.units, curve.best_values))


def _at(table, task: str, arch: str, k: int, layer: str) -> dict:
    return {(r["seed"], r.get("split", 0)): r["accuracy"]
            for r in results_table.select(table, task=task, arch=arch, k=k, layer=layer)}


def _fall(curve) -> dict:
    return {u: last - earlier for u, last, earlier in zip(curve.units, curve.last_values, curve.earlier_values)}


def reference_of(curves: dict, task: str) -> str | None:
    """The random reference a task's curve is compared with: `random-<task>` where present, else `random`."""
    base = task[len(NO_SIGNAL) + 1:] if task.startswith(NO_SIGNAL + "-") else task
    for name in (random_name(base), RANDOM):
        if name in curves:
            return name
    return None


def lesson4_findings(table, arch: str = "cnn", k: int = 10, primary_task: str = "rotation") -> list[Finding]:
    """The questions of the layer-alignment lesson for `arch` at `k`, primary first.

    Per pretext task: its chosen layer against the calibrated random reference's chosen layer
    (better than random?), against its no-signal control where the table has one (better than
    training on the inputs alone?), and the last layer's fall from the best earlier layer against
    the reference's fall (falls more than random?). The primary comparison is `primary_task`
    against random at the chosen layer.
    """
    curves = {c.task: c for c in results_table.best_layers(table, arch=arch, k=k)}
    tasks = sorted(_pretext_tasks(curves), key=lambda t: (t != primary_task, t))
    findings = []
    for task in tasks:
        ref = reference_of(curves, task)
        if ref is None:
            continue
        p, r = curves[task], curves[ref]
        f = finding(f"{task} - {ref}, {arch}, chosen layers ({p.best.layer} vs {r.best.layer})", _best(p), _best(r),
                     "pretext better", "pretext worse")
        if f:
            findings.append(f)
        control = no_signal_name(task)
        if control in curves:
            c = curves[control]
            f = finding(f"{task} - {control}, {arch}, chosen layers ({p.best.layer} vs {c.best.layer})", _best(p), _best(c),
                         "pretext better", "pretext worse")
            if f:
                findings.append(f)
            f = finding(f"{control} - {ref}, {arch}, chosen layers", _best(c), _best(r), "control better", "control worse")
            if f:
                findings.append(f)
        f = finding(f"{task} - {ref}, {arch}: last layer's fall ({p.last.layer} minus {p.earlier.layer})", _fall(p), _fall(r),
                     "falls less than random", "falls more than random", bounds=(-2.0, 2.0))
        if f:
            findings.append(f)
    supervised = curves.get(results_table.SUPERVISED)
    ref = curves.get(RANDOM)
    if supervised and ref:
        f = finding(f"{results_table.SUPERVISED} - {RANDOM}, {arch}, chosen layers (does the task tell features apart?)",
                     _best(supervised), _best(ref), "supervised better", "supervised worse")
        if f:
            findings.append(f)
    return findings


def _pretext_tasks(curves) -> list[str]:
    return [t for t in curves if t not in results_table.BASELINES and not t.startswith(RANDOM + "-")
            and not t.startswith(NO_SIGNAL + "-") and t != INITIAL]


def _last_layer_finding(c, what: str):
    """`what`'s last layer minus its best earlier layer on curve `c`, paired on its units."""
    return finding(f"{what}: last layer {c.last.layer} - best earlier {c.earlier.layer}",
                   dict(zip(c.units, c.last_values)), dict(zip(c.units, c.earlier_values)),
                   "last layer higher", "last layer lower")


def alignment_findings(table, arch: str = "cnn", k: int = 10) -> list[Finding]:
    """Per pretext task, its last layer minus its best earlier layer (chosen on the labelled images)."""
    curves = {c.task: c for c in results_table.best_layers(table, arch=arch, k=k)}
    out = []
    for task in sorted(_pretext_tasks(curves)):
        c = curves[task]
        f = _last_layer_finding(c, f"{task}, {arch}")
        if f:
            out.append(f)
    return out


def architecture_findings(table, k: int = 10, plain: str = "cnn", skip: str = "resnet") -> list[Finding]:
    """Per pretext task in both archs, the last layer's fall with skip connections minus without."""
    p = {c.task: c for c in results_table.best_layers(table, arch=plain, k=k)}
    s = {c.task: c for c in results_table.best_layers(table, arch=skip, k=k)}
    out = []
    for task in sorted(set(_pretext_tasks(p)) & set(_pretext_tasks(s))):
        f = finding(f"{task}: last layer's fall, {skip} - {plain}", _fall(s[task]), _fall(p[task]),
                     "skip connections keep more", "skip connections keep less", bounds=(-2.0, 2.0))
        if f:
            out.append(f)
    return out


def lesson4_all(table, archs=("cnn", "resnet"), k: int = 10, primary_task: str = "rotation") -> list[Finding]:
    """Every question of the lesson, the primary (`primary_task` - random on the first arch) first.

    Per arch: `lesson4_findings` (against the references) and `alignment_findings` (does the last
    layer fall?); then `architecture_findings` where both archs were probed.
    """
    findings = []
    for arch in archs:
        findings += lesson4_findings(table, arch, k, primary_task)
    for arch in archs:
        findings += alignment_findings(table, arch, k)
    if len(archs) >= 2:
        findings += architecture_findings(table, k, archs[0], archs[1])
    return findings


def initial_statistics_findings(table, arch: str = "cnn", k: int = 10) -> list[Finding]:
    """Per layer, the calibrated random network minus the same weights with BatchNorm's initial statistics."""
    layers = [r["layer"] for r in results_table.select(table, task=INITIAL, arch=arch, k=k)]
    out = []
    for layer in dict.fromkeys(layers):
        f = finding(f"{RANDOM} (calibrated) - {INITIAL}, {layer}", _at(table, RANDOM, arch, k, layer),
                     _at(table, INITIAL, arch, k, layer), "calibrated higher", "calibrated lower")
        if f:
            out.append(f)
    return out


def initial_statistics_finding(table, arch: str = "cnn", k: int = 10) -> Finding | None:
    """The one row lesson 4 shows of `initial_statistics_findings`: the last layer's, fixed before the run.

    The last layer is where the "falls more than random" questions are decided, so it is where a random
    reference with BatchNorm's initial statistics would mislead most.
    """
    rows = results_table.select(table, task=INITIAL, arch=arch, k=k)
    if not rows:
        return None
    last = max(rows, key=lambda r: r["depth"])["layer"]
    found = [f for f in initial_statistics_findings(table, arch, k) if f.question.question.endswith(f", {last}")]
    return found[0] if found else None


def width_study_finding(table, pretext, k: int = 10) -> Finding | None:
    """Kolesnikov et al.'s question (`alignment.width_study_rhos`) as a Finding: the mean rank correlation against 0."""
    study = alignment.width_study(pretext)
    if not study:
        return None
    _, units, rhos = alignment.width_study_rhos(table, study, k)
    if len(units) < 2 or len({u[0] for u in units}) < 2 or len(rhos) != len(units):
        return None
    c = paired_interval(rhos, [0.0] * len(rhos), seeds=[u[0] for u in units], splits=[u[1] for u in units],
                        bounds=(-1.0, 1.0))
    per_seed = defaultdict(list)
    for u, rho in zip(units, rhos):
        per_seed[u[0]].append(rho)
    return Finding(Question(alignment.width_study_question(table, study, k), c,
                            "higher pretext accuracy goes with a better probe",
                            "higher pretext accuracy goes with a worse probe", scale=1.0, unit="rank correlation"),
                   {s: statistics.fmean(v) for s, v in per_seed.items()})


def lesson4_questions(table, pretext=(), k: int = 10, archs=("cnn", "resnet"), primary_task: str = "rotation") -> list[Finding]:
    """Every question lesson 4's summary table answers, the primary first (rotation - calibrated random, cnn).

    `lesson4_all` for `archs` (the ones the table holds); for the width control's arch (`<arch>@<width>`),
    only whether each last layer falls more than the reference's; the calibrated random reference
    against the same weights with BatchNorm's initial statistics at the last layer; and Kolesnikov
    et al.'s width study where `pretext` holds one.
    """
    archs = tuple(a for a in archs if results_table.select(table, arch=a, k=k))
    findings = lesson4_all(table, archs, k, primary_task) if archs else []
    for arch in sorted({r["arch"] for r in table if "@" in str(r["arch"]) and r["k"] == k}):
        findings += [f for f in lesson4_findings(table, arch, k, primary_task) if "last layer's fall" in f.question.question]
    for extra in (initial_statistics_finding(table, archs[0] if archs else "cnn", k), width_study_finding(table, pretext, k)):
        if extra is not None:
            findings.append(extra)
    return findings


def table_text(findings, primary: int | None = 0, correction: str = HOLM) -> str:
    """The summary table of `findings` (`core.stats.summary_text`), the first one primary."""
    if not findings:
        return "No question could be decided: every comparison needs at least 2 seeds on both sides."
    return summary_text(summary([f.question for f in findings], primary, correction))


def verdict_rows(findings, primary: int | None = 0, correction: str = HOLM) -> list[dict]:
    """`core.stats.summary`'s rows for `findings` (what the table prints)."""
    return summary([f.question for f in findings], primary, correction) if findings else []


def plot_findings(findings, primary: int | None = 0, correction: str = HOLM, ax=None, title=None):
    """One row per question: a dot per pretraining seed (its splits averaged), the mean and its interval."""
    import matplotlib.pyplot as plt

    if not findings:
        raise ValueError("findings must hold at least one Finding (from lesson4_findings or lesson5_findings)")
    rows = verdict_rows(findings, primary, correction)  # roles and corrections over every question
    unit = findings[0].question.unit
    kept = [(f, r) for f, r in zip(findings, rows) if f.question.unit == unit]  # one axis: one unit
    findings, rows = [f for f, _ in kept], [r for _, r in kept]
    if ax is None:
        fig, ax = plt.subplots(figsize=(8, 0.45 * len(findings) + 1.2))
    else:
        fig = ax.figure
    colours = {"better": "C2", "worse": "C3", "not shown": "grey"}
    for i, (f, r) in enumerate(zip(findings, rows)):
        y = len(findings) - 1 - i
        dots = [f.question.scale * v for v in f.seed_means.values()]
        ax.scatter(dots, [y] * len(dots), s=18, color="black", alpha=0.6, zorder=3)
        ax.plot([r["low"], r["high"]], [y, y], color=colours[r["outcome"]], linewidth=3, alpha=0.7)
        ax.scatter([r["estimate"]], [y], marker="|", s=200, color=colours[r["outcome"]], zorder=4)
    ax.axvline(0, color="black", linewidth=0.8)
    ax.set_yticks(range(len(findings)))
    ax.set_yticklabels([("* " if r["role"] == "primary" else "") + r["question"] for r in rows][::-1], fontsize=8)
    ax.set_xlabel(f"difference, {findings[0].question.unit} (dots: one per seed; bar: 95% interval)")
    ax.set_title(title or "every question of the lesson (* primary)")
    ax.grid(axis="x", alpha=0.3)
    fig.tight_layout()
    return fig


def verdict_lines(findings, primary: int | None = 0, correction: str = HOLM, only: str | None = None) -> list[str]:
    """One sentence per question, printed by code from the table (nothing typed by hand).

    Roles and Holm corrections are those of the whole list; `only` keeps the questions starting with it.
    """
    lines = []
    for r in verdict_rows(findings, primary, correction):
        if only is not None and not r["question"].startswith(only):
            continue
        d = r.get("digits", 1)
        said = r["verdict"] if r["outcome"] != "not shown" else "not shown"
        lines.append(f"{r['role']}: {r['question']}: {said}, {r['estimate']:+.{d}f} {r['unit']} "
                     f"[{r['low']:+.{d}f}, {r['high']:+.{d}f}] over {r['seeds']} seeds.")
    return lines


def taught_lines(findings, primary: int | None = 0, correction: str = HOLM) -> list[str]:
    """Per pretext task and arch with a no-signal control: did it beat both references (the course's
    "the pretext task taught something")? One line each, from the verdicts (roles and Holm corrections
    of the whole list); then one line naming the tasks that have no control, for which it is not asked."""
    rows = {r["question"]: r for r in verdict_rows(findings, primary, correction)}
    lines, without = [], []
    for q, r in rows.items():
        if " - " not in q or ", chosen layers" not in q or q.startswith(("on ", NO_SIGNAL, results_table.SUPERVISED)):
            continue
        task, rest = q.split(" - ", 1)
        ref, arch = rest.split(", ")[:2]
        if ref.startswith(NO_SIGNAL) or not ref.startswith(RANDOM):
            continue
        control = next((c for name, c in rows.items() if name.startswith(f"{task} - {no_signal_name(task)}, {arch}, ")), None)
        if control is None:
            without.append(f"{task} ({arch})")
            continue
        both = r["outcome"] == "better" and control["outcome"] == "better"
        lines.append(f"{task}, {arch}: against {ref} {r['verdict']} ({r['estimate']:+.1f} points), against "
                     f"{no_signal_name(task)} {control['verdict']} ({control['estimate']:+.1f} points): "
                     + ("better than both, so the pretext task taught something here" if both else
                        "not better than both, so 'the pretext task taught something' is not shown here"))
    if without:
        lines.append(f"no no-signal control was trained for {', '.join(without)} (`summary.control_networks` was "
                     f"not given them), so 'taught something' is not asked for them; the table still compares them "
                     f"with random")
    return lines


def has_rows(table, name: str) -> bool:
    """Whether the table holds rows of the network `name`."""
    return any(r["task"] == name for r in table)


# lesson 5: the suite ------------------------------------------------------------------------------

def _suite_curves(table, downstream_name: str, arch: str) -> dict:
    if not results_table.select(table, downstream=downstream_name, arch=arch):
        return {}
    return {c.task: c for c in suite.curves(table, downstream_name, arch=arch)}


def _chosen_task(table, curves: dict, downstream_name: str, arch: str) -> str | None:
    tasks = _pretext_tasks(curves)
    if not tasks:
        return None

    def val(task):
        rows = results_table.select(table, task=task, downstream=downstream_name, arch=arch, layer=curves[task].best.layer)
        return statistics.fmean(r["val_score"] for r in rows)
    return max(sorted(tasks), key=val)


def lesson5_findings(table, arch: str = "cnn", reference: str = "classes", primary_downstream: str = "scenes",
                     primary_task: str = "jigsaw"):
    """Every question of the suite for `arch`, as Findings (the primary first), and the lines of the non-questions.

    The primary comparison is the seed figure's (Goyal et al.'s): `primary_task` minus its calibrated
    random reference on `primary_downstream`, each at its chosen layer; then the moves, then the rest.

    Per downstream task d other than `reference`: does the best pretext task move (the task chosen for
    d minus the one chosen for `reference`, on d)? does each pretext task's best layer move (its layer
    chosen for d minus the one chosen for `reference`, on d)? On every downstream task: each pretext
    task minus the calibrated random reference and minus its no-signal control, at chosen layers.
    A choice that does not move asks nothing: it is returned as a line in the second list.
    """
    names = [d for d in downstream.TASKS if results_table.select(table, downstream=d, arch=arch)]
    if reference not in names:
        raise ValueError(f"table must hold {reference!r} rows for arch {arch!r}; it holds {names}")
    ref_curves = _suite_curves(table, reference, arch)
    ref_task = _chosen_task(table, ref_curves, reference, arch)
    moves, others, lines = [], [], []
    for d in names:
        curves = _suite_curves(table, d, arch)
        if d != reference:
            own = _chosen_task(table, curves, d, arch)
            if own is not None and own != ref_task:
                a, b = curves[own], curves[ref_task]
                f = finding(f"on {d}: {own} (chosen for {d}) - {ref_task} (chosen for {reference}), {arch}",
                            _best(a), _best(b), "the best task moved, and the move pays",
                            "the best task moved, and the move costs")
                if f:
                    moves.append(f)
            elif own is not None:
                lines.append(f"on {d} ({arch}): {own} is chosen, as for {reference}: the best pretext task does not move.")
            for task in sorted(_pretext_tasks(curves)):
                if task not in ref_curves:
                    continue
                layer, ref_layer = curves[task].best.layer, ref_curves[task].best.layer
                if layer == ref_layer:
                    lines.append(f"on {d} ({arch}): {task}'s chosen layer is {layer}, as for {reference}: it does not move.")
                    continue
                at = lambda name: {(r["seed"], r["split"]): r["score"]  # noqa: E731
                                   for r in results_table.select(table, task=task, downstream=d, arch=arch, layer=name)}
                f = finding(f"on {d}: {task} at {layer} (chosen for {d}) - at {ref_layer} (chosen for {reference}), {arch}",
                            at(layer), at(ref_layer), "the layer moved, and the move pays",
                            "the layer moved, and the move costs")
                if f:
                    others.append(f)
        for task in sorted(_pretext_tasks(curves)):
            ref = reference_of(curves, task)
            if ref is not None:
                f = finding(f"on {d}: {task} - {ref}, {arch}, chosen layers", _best(curves[task]), _best(curves[ref]),
                            "pretext better", "pretext worse")
                if f:
                    others.append(f)
            control = no_signal_name(task)
            if control in curves:
                f = finding(f"on {d}: {task} - {control}, {arch}, chosen layers", _best(curves[task]),
                            _best(curves[control]), "pretext better", "pretext worse")
                if f:
                    others.append(f)
    first = [i for i, f in enumerate(others) if f.question.question.startswith(f"on {primary_downstream}: {primary_task} - ")
             and NO_SIGNAL not in f.question.question]
    primary = [others.pop(first[0])] if first else []
    return primary + moves + others, lines


def seed_figure_findings(table, task: str = "jigsaw", downstream_name: str = "scenes", archs=("resnet", "cnn")) -> list:
    """The seed figure's own question per arch: `task`'s last layer minus its best earlier layer (chosen on the
    labelled images) on `downstream_name`, paired on (seed, split). Goyal et al. saw res5 below res4."""
    out = []
    for arch in archs:
        c = _suite_curves(table, downstream_name, arch).get(task)
        if c is None:
            continue
        f = _last_layer_finding(c, f"on {downstream_name}: {task}, {arch}")
        if f:
            out.append(f)
    return out


def lesson5_all(table, fine_tuning=(), arch: str = "cnn", figure_archs=("resnet", "cnn"),
                primary_downstream: str = "scenes", primary_task: str = "jigsaw"):
    """Every question of lesson 5 in one list, the primary first, and the lines of the choices that did not move.

    The primary is `lesson5_findings`' for `arch`: `primary_task` minus its calibrated random reference on
    `primary_downstream`. Then the seed figure's last-layer questions on `figure_archs`
    (`seed_figure_findings`), the rest of `lesson5_findings`, and `fine_tuning` (Findings, e.g.
    `finetune.lesson_findings`): one family, the questions after the primary Holm-corrected for their number.
    """
    found, lines = lesson5_findings(table, arch, primary_downstream=primary_downstream, primary_task=primary_task)
    figure = seed_figure_findings(table, primary_task, primary_downstream, figure_archs)
    return found[:1] + figure + found[1:] + list(fine_tuning), lines
