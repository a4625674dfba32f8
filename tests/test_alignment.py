"""Lesson 4, layer alignment: the layer-wise probe, the table, and verdicts that follow from the numbers."""
import dataclasses
import math

import nbformat
import pytest
import torch

from pretext_lessons.experiments import alignment, budgets, probing
from pretext_lessons.experiments.network import Network
from pretext_lessons.experiments.table import (PIXELS, PROBE_KEYS, RANDOM, ROW_KEYS, SUPERVISED, best_layers, check_table,
                                                select)
from pretext_lessons.core import probe
from pretext_lessons.core.data import fewshot_split, pretrain_split, to_float
from pretext_lessons.core.models import make_backbone, trunk_of
from pretext_lessons.core.stats import compare, is_verdict_sentence
from pretext_lessons.notebook.execute import ROOT, execute_notebook, kernel_env
from pretext_lessons.core.task import PretextTask, SupervisedTask
from pretext_lessons.core.training import build_net, fit, resolve_preset
from pretext_lessons.tasks.rotation import RotationTask
from pretext_lessons.tasks.registry import classic_tasks, course_tasks

NOTEBOOK = ROOT / "notebooks" / "04_layer_alignment.ipynb"


@dataclasses.dataclass
class FlipTask(PretextTask):
    """A stand-in pretext task: was the image mirrored? Downstream, images are shown inverted."""

    num_classes: int = 2
    name = "flip"

    def make_batch(self, X, generator):
        y = torch.randint(0, 2, (len(X),), generator=generator, device=X.device)
        return torch.where(y.view(-1, 1, 1, 1) == 1, X.flip(-1), X), y

    def preprocess(self, X):
        return 1 - to_float(X)


def tiny_split(n_per_class=12, num_classes=4, seed=0):
    """Images whose brightness and a bar's position tell the class: separable at some layers, not trivially."""
    g = torch.Generator().manual_seed(seed)

    def make(n):
        y = torch.arange(num_classes).repeat_interleave(n)
        X = torch.rand(len(y), 1, 28, 28, generator=g) * 0.3
        for i, c in enumerate(y.tolist()):
            X[i, 0, 4 * c:4 * c + 4] += 0.6
        return (X.clamp(0, 1) * 255).to(torch.uint8), y

    X_train, y_train = make(n_per_class)
    X_test, y_test = make(n_per_class)
    return X_train, y_train, X_test, y_test


def curve_rows(task, accs_per_seed, arch="cnn", k=10, layers=None):
    layers = layers or [f"l{d}" for d in range(1, len(accs_per_seed[0]) + 1)]
    return [dict(task=task, arch=arch, seed=seed, layer=layer, depth=d, accuracy=a, k=k)
            for seed, accs in enumerate(accs_per_seed) for d, (layer, a) in enumerate(zip(layers, accs), start=1)]


# ---------- features and probes ----------

@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_pooled_sizes_are_the_probe_feature_widths(arch):
    sizes = probing.pooled_sizes(arch, width=8)
    net = make_backbone(arch, 1, width=8)
    feats = probe.layer_features(net, torch.rand(2, 1, 28, 28))
    assert list(sizes) == list(net.layer_names)
    for name, (shape, n) in sizes.items():
        assert feats[name].shape[1] == n
        full = math.prod(shape)
        assert n <= full
        if len(shape) == 3:  # maps are pooled to the side whose size comes closest to the target
            C, H = shape[0], shape[1]
            best = min(range(1, H + 1), key=lambda s: abs(C * s * s - probe.DEFAULT_POOLED_SIZE))
            assert abs(n - probe.DEFAULT_POOLED_SIZE) <= abs(C * best * best - probe.DEFAULT_POOLED_SIZE)


@pytest.mark.slow
def test_budgets_are_nested_prefixes_of_the_fewshot_split():
    X, y, X_test, y_test = probing.downstream_split((10, 30), seed=3, num_test=500)
    X10, y10, X10_test, y10_test = fewshot_split(k=10, seed=3, num_test=500)
    idx = probing.budget_indices(y, 10)
    assert torch.equal(X[idx], X10) and torch.equal(y[idx], y10)
    assert torch.equal(X_test, X10_test) and torch.equal(y_test, y10_test)
    assert torch.bincount(y[probing.budget_indices(y, 30)]).tolist() == [30] * 10


def test_labelled_subset_is_the_pretraining_split_with_its_labels():
    X, y = budgets.labelled_subset(300, seed=5)
    assert torch.equal(X, pretrain_split(300, seed=5))
    assert y.shape == (300,) and y.dtype == torch.int64


def test_probe_features_choose_C_by_cross_validation_then_test_once():
    X_train, y_train, X_test, y_test = tiny_split()
    net = make_backbone("cnn", 1, width=4)
    F_train, F_test = probe.layer_features(net, X_train), probe.layer_features(net, X_test)
    accs = probing.probe_features(F_train, y_train, F_test, y_test, ks=(3, 12))
    for k in (3, 12):
        idx = probing.budget_indices(y_train, k)
        scores = probe.cross_validate({n: f[idx] for n, f in F_train.items()}, y_train[idx], tol=probing.PROBE_TOL,
                                      rounds=probe.CV_ROUNDS)
        for name in F_train:
            C = probe.choose({name: scores[name]})[1]
            assert accs[k][name]["C"] == C and accs[k][name]["val_accuracy"] == scores[name][C]
            clf = probe.fit_linear(F_train[name][idx], y_train[idx], C, tol=probing.PROBE_TOL)
            assert accs[k][name]["accuracy"] == clf.score(F_test[name], y_test)


@pytest.mark.slow
def test_probe_choices_never_see_the_test_labels():
    X_train, y_train, X_test, y_test = tiny_split()
    shuffled = y_test[torch.randperm(len(y_test), generator=torch.Generator().manual_seed(0))]
    net = make_backbone("cnn", 1, width=4)
    rows = {}
    for name, labels in (("true", y_test), ("shuffled", shuffled)):
        rows[name] = (probing.probe_network(net, "flip", "cnn", ks=(4, 12), split=(X_train, y_train, X_test, labels))
                      + probing.probe_network(net, "flip", "cnn", seed=1, ks=(4, 12),
                                                split=(X_train, y_train, X_test, labels)))
    choices = lambda table: [(r["layer"], r["k"], r["C"], r["val_accuracy"]) for r in table]  # noqa: E731
    assert choices(rows["true"]) == choices(rows["shuffled"])
    chosen = lambda table: [(c.k, c.best.layer, c.earlier.layer) for c in best_layers(table)]  # noqa: E731
    assert chosen(rows["true"]) == chosen(rows["shuffled"])
    assert {c.chosen_on for c in best_layers(rows["true"])} == {"validation"}
    assert [r["accuracy"] for r in rows["true"]] != [r["accuracy"] for r in rows["shuffled"]]  # the test did change


@pytest.mark.slow
def test_splits_of_a_seed_share_its_test_images_and_their_features(monkeypatch):
    monkeypatch.setenv("PRETEXT_LESSONS_RESULTS_CACHE", "0")  # every call measures: the features are what is counted
    a, b = probing.downstream_split((10,), seed=2, num_test=300), probing.downstream_split((10,), 2, 300, split=1)
    assert torch.equal(a[2], b[2]) and torch.equal(a[3], b[3]) and not torch.equal(a[0], b[0])
    net = make_backbone("cnn", 1, width=4)
    cache, calls = {}, []
    net.register_forward_hook(lambda *args: calls.append(1))
    first = probing.probe_network(net, "r", "cnn", 2, (10,), a, feature_cache=cache)
    again = probing.probe_network(net, "r", "cnn", 2, (10,), b, split_index=1, feature_cache=cache)
    plain = probing.probe_network(net, "r", "cnn", 2, (10,), b, split_index=1)
    assert [r["accuracy"] for r in again] == pytest.approx([r["accuracy"] for r in plain], abs=1e-6)
    assert len(calls) == 3  # split 0: train and test in one pass; split 1 with the cache: train only
    assert {r["split"] for r in first} == {0}


def test_stratified_folds_spread_every_class():
    y = torch.arange(3).repeat_interleave(5)
    fold = probe.stratified_folds(y, 2, seed=4)
    for c in range(3):
        assert sorted(torch.bincount(fold[y == c], minlength=2).tolist()) == [2, 3]
    assert torch.equal(fold, probe.stratified_folds(y, 2, seed=4))
    assert probe.choose({"a": {0.1: 0.5, 1.0: 0.7}, "b": {0.01: 0.7, 1.0: 0.6}}) == ("a", 1.0)


def test_probe_network_computes_features_once_for_all_budgets():
    split = tiny_split()
    net = FlipTask().build_net(make_backbone("cnn", 1, width=4))
    calls = []
    net.trunk.register_forward_hook(lambda *args: calls.append(1))
    rows = probing.probe_network(net, FlipTask(), "cnn", seed=7, ks=(2, 5, 12), split=split)
    assert len(calls) == 1  # 96 images fit one batch: one forward pass, whatever the number of budgets
    assert [r["layer"] for r in rows if r["k"] == 2] == list(net.trunk.layer_names)
    assert [r["depth"] for r in rows if r["k"] == 5] == list(range(1, 7))
    assert {(r["task"], r["arch"], r["seed"]) for r in rows} == {("flip", "cnn", 7)}
    assert sorted({r["k"] for r in rows}) == [2, 5, 12]
    assert all(tuple(r) == ROW_KEYS + PROBE_KEYS and 0 <= r["accuracy"] <= 1 for r in rows)
    assert all(r["C"] in probe.C_GRID and r["split"] == 0 for r in rows)
    subset = probing.probe_network(net, FlipTask(), "cnn", ks=(2,), split=split, layers=["conv3", "fc2"])
    assert [(r["layer"], r["depth"]) for r in subset] == [("conv3", 3), ("fc2", 6)]  # depth in the whole trunk


@dataclasses.dataclass
class BlankTask(FlipTask):
    """A stand-in whose downstream view hides everything: a probe that honours preprocess is at chance."""

    name = "blank"

    def preprocess(self, X):
        return torch.zeros_like(to_float(X))


def test_probe_network_shows_images_as_the_task_says():
    split = tiny_split()
    net = make_backbone("cnn", 1, width=4)
    by_task = [r["accuracy"] for r in probing.probe_network(net, BlankTask(), "cnn", ks=(6,), split=split)]
    by_hand = [r["accuracy"] for r in probing.probe_network(net, "blank", "cnn", ks=(6,), split=split,
                                                              preprocess=lambda X: torch.zeros_like(X))]
    plain = [r["accuracy"] for r in probing.probe_network(net, "blank", "cnn", ks=(6,), split=split)]
    assert by_task == by_hand and max(by_task) <= 0.25 + 1e-6  # identical features: one class for all
    assert min(plain) > 0.5


def test_pixel_rows_are_one_layer_shared_by_every_arch():
    split = tiny_split()
    rows = probing.probe_pixels(seed=1, ks=(4, 12), archs=("cnn", "resnet"), split=split)
    assert len(rows) == 4 and {r["layer"] for r in rows} == {PIXELS} and {r["depth"] for r in rows} == {0}
    for k in (4, 12):
        accs = {r["arch"]: r["accuracy"] for r in rows if r["k"] == k}
        assert accs["cnn"] == accs["resnet"]
    assert max(r["accuracy"] for r in rows) > 0.9  # a bar's position separates these classes in pixel space


def test_random_net_depends_on_the_seed_only():
    a, b, c = budgets.random_net("resnet", 3), budgets.random_net("resnet", 3), budgets.random_net("resnet", 4)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters()))
    assert not all(torch.equal(p, q) for p, q in zip(a.parameters(), c.parameters()))
    assert not a.training


def test_fit_linear_with_a_tolerance_agrees_with_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(0)
    centres = torch.randn(5, 300, generator=g)
    y = torch.arange(5).repeat(40)
    F_ = centres[y] + 3 * torch.randn(len(y), 300, generator=g)  # overlapping classes, D > N / 4
    F_test = centres[y] + 3 * torch.randn(len(y), 300, generator=g)
    ours = probe.fit_linear(F_[:60], y[:60], C=0.5, tol=1e-4).predict(F_test)
    mean, std = F_[:60].mean(0), F_[:60].std(0, unbiased=False)
    sk = LogisticRegression(C=0.5, tol=1e-4, max_iter=200).fit(((F_[:60] - mean) / std).numpy(), y[:60].numpy())
    theirs = torch.from_numpy(sk.predict(((F_test - mean) / std).numpy()))
    assert (ours == theirs).float().mean() >= 0.97


def test_fit_linear_reaches_the_optimum_with_far_fewer_images_than_features():
    # the span-of-the-images shortcut (N <= D / 4) must still solve the full problem
    g = torch.Generator().manual_seed(2)
    y = torch.arange(4).repeat(10)
    F_ = torch.randn(4, 400, generator=g)[y] + torch.randn(40, 400, generator=g)
    clf = probe.fit_linear(F_, y, C=0.3)
    W = clf.linear.weight.detach().double().requires_grad_()
    b = clf.linear.bias.detach().double().requires_grad_()
    Z = ((F_ - clf.mean) / clf.std).double()
    loss = 0.3 * torch.nn.functional.cross_entropy(Z @ W.T + b, y, reduction="sum") + 0.5 * (W * W).sum()
    loss.backward()
    assert float(W.grad.abs().max()) < 1e-3 and float(b.grad.abs().max()) < 1e-3


def test_fit_linear_leaves_the_thread_count_as_it_was():
    before = torch.get_num_threads()
    probe.fit_linear(torch.randn(20, 5), torch.arange(4).repeat(5), tol=1e-4)
    assert torch.get_num_threads() == before


# ---------- the table and its verdicts ----------

def test_layers_are_chosen_on_validation_and_reported_on_test():
    table = curve_rows("rotation", [[0.60, 0.72, 0.50], [0.62, 0.70, 0.52], [0.61, 0.74, 0.49]])
    for row in table:  # validation prefers l1, the test l2: the choice must follow validation
        row.update(split=0, val_accuracy={"l1": 0.8, "l2": 0.7, "l3": 0.6}[row["layer"]], C=1.0)
    (curve,) = best_layers(table)
    assert curve.chosen_on == "validation" and curve.best.layer == "l1" and curve.earlier.layer == "l1"
    assert curve.best.mean == pytest.approx(0.61) and curve.best.min == 0.60 and curve.best.max == 0.62
    assert curve.last.layer == "l3" and curve.units == ((0, 0), (1, 0), (2, 0))
    assert curve.last_values == (0.50, 0.52, 0.49) and curve.seed_best == ("l1", "l1", "l1")
    assert curve.n_seeds == 3 and curve.n_splits == 1


def test_best_layer_mean_spread_and_last_layer_by_construction():
    table = curve_rows("rotation", [[0.60, 0.72, 0.50], [0.62, 0.70, 0.52], [0.61, 0.74, 0.49]])
    (best,) = best_layers(table)
    assert best.chosen_on == "test"  # no val_accuracy in these rows (as in published figures)
    assert best.best.layer == "l2" and best.last.layer == "l3" and not best.is_last
    assert best.best.mean == pytest.approx(0.72) and best.best.min == 0.70 and best.best.max == 0.74
    assert best.best.std == pytest.approx(0.02) and best.best.depth == 2 and best.last.depth == 3
    assert best.drop == pytest.approx(100 * (0.72 - (0.50 + 0.52 + 0.49) / 3)) and best.n_seeds == 3
    assert best.seed_best == ("l2", "l2", "l2")


def test_units_are_seed_and_split():
    table = curve_rows("jigsaw", [[0.5, 0.6], [0.52, 0.61]])
    second = [dict(row, split=1, accuracy=row["accuracy"] + 0.01) for row in table]
    (curve,) = best_layers(table + second)
    assert curve.units == ((0, 0), (0, 1), (1, 0), (1, 1)) and (curve.n_seeds, curve.n_splits) == (2, 2)


def test_pixel_rows_have_no_best_layer_and_tasks_stay_apart():
    table = (curve_rows("rotation", [[0.5, 0.6]]) + curve_rows("jigsaw", [[0.7, 0.4]])
             + [dict(task="pixels", arch="cnn", seed=0, layer="pixels", depth=0, accuracy=0.55, k=10)])
    best = {c.task: c.best.layer for c in best_layers(table)}
    assert best == {"rotation": "l2", "jigsaw": "l1"}


@pytest.mark.parametrize("curves, word", [
    ([[0.6, 0.72, 0.50], [0.62, 0.70, 0.52], [0.61, 0.74, 0.49]], "last layer lower"),
    ([[0.5, 0.6, 0.7], [0.52, 0.61, 0.72], [0.5, 0.6, 0.69]], "last layer higher"),
    ([[0.5, 0.70, 0.66], [0.5, 0.64, 0.69], [0.5, 0.69, 0.66]], "no difference shown"),
])
def test_alignment_verdict_is_the_helpers_sentence(curves, word):
    (curve,) = best_layers(curve_rows("rotation", curves))
    text = alignment.alignment_verdict(curve)
    expected = compare(curve.last_values, curve.earlier_values, text[9:text.index("]")], "last layer higher",
                       "last layer lower", seeds=[0, 1, 2], splits=[0, 0, 0])
    assert text == expected.sentence and word in text and is_verdict_sentence(text)
    assert text.startswith(f"Verdict [rotation, cnn, k=10: last layer l3 vs {curve.earlier.layer}")
    assert "3 seeds x 1 split, t over seeds" in text


def test_one_unit_is_not_decided():
    (curve,) = best_layers(curve_rows("rotation", [[0.5, 0.7, 0.6]]))
    text = alignment.alignment_verdict(curve)
    assert text.startswith("Not decided [rotation, cnn, k=10") and "1 common (seed, split) unit" in text


def test_random_verdicts_pair_the_chosen_layers_and_the_falls():
    pretext = curve_rows("rotation", [[0.60, 0.72, 0.50], [0.62, 0.70, 0.52], [0.61, 0.74, 0.49]])
    random = curve_rows("random", [[0.58, 0.66, 0.64], [0.60, 0.65, 0.63], [0.59, 0.67, 0.66]])
    best = best_layers(pretext + random)
    gain, fall = alignment.random_verdicts(best, "rotation", "cnn", 10)
    assert gain.startswith("Verdict [rotation vs random weights, cnn, k=10: each at its chosen layer (l2 vs l2)]")
    assert "pretext features better" in gain and "the pretext network's last layer falls more" in fall
    assert all(is_verdict_sentence(t) for t in (gain, fall))
    assert gain in alignment.verdicts(pretext + random)["random"]


@pytest.mark.parametrize("resnet_last, word", [(0.69, "keeps more"), (0.40, "keeps less"), (0.53, "no difference")])
def test_architecture_verdict_pairs_the_units_of_both_archs(resnet_last, word):
    cnn = curve_rows("rotation", [[0.6, 0.7, 0.50], [0.6, 0.7, 0.54], [0.6, 0.7, 0.52]], arch="cnn")
    resnet = curve_rows("rotation", [[0.6, 0.7, resnet_last + d] for d in (0.0, 0.02, -0.01)], arch="resnet")
    text = alignment.architecture_verdict(best_layers(cnn + resnet), "rotation", 10)
    assert word in text and is_verdict_sentence(text), text
    one_seed = alignment.architecture_verdict(best_layers(cnn + resnet[:3]), "rotation", 10)
    assert one_seed.startswith("Not decided [")


def pretext_case(downstream_order):
    """Three networks with pretext accuracies 0.9 > 0.6 > 0.3 and downstream best-layer accuracies given."""
    table, pretext = [], []
    for seed, (pre, down) in enumerate(zip([0.9, 0.6, 0.3], downstream_order)):
        table += curve_rows("rotation", [[down - 0.1, down]], k=10)
        for row in table[-2:]:
            row["seed"] = seed
        pretext.append(dict(task="rotation", arch="cnn", seed=seed, pretext_accuracy=pre))
    return table, pretext


def test_pretext_line_describes_the_rank_correlation_without_deciding():
    table, pretext = pretext_case([0.8, 0.7, 0.6])
    agrees = alignment.pretext_verdict(alignment.pretext_points(table, pretext, 10), "cnn")
    assert "rank correlation +1.00" in agrees and agrees.startswith("Described, not decided [")
    table, pretext = pretext_case([0.6, 0.7, 0.8])
    disagrees = alignment.pretext_verdict(alignment.pretext_points(table, pretext, 10, "last"), "cnn")
    assert "rank correlation -1.00" in disagrees and "not Kolesnikov et al.'s question" in disagrees


def test_verdicts_cover_every_curve_and_comparison():
    table = (curve_rows("rotation", [[0.6, 0.7, 0.5]] * 3, arch="cnn") + curve_rows("rotation", [[0.6, 0.7, 0.69]],
                                                                                    arch="resnet")
             + curve_rows("jigsaw", [[0.6, 0.5, 0.4]] * 3, arch="cnn"))
    for i, row in enumerate(table):
        row["seed"] = (i // 3) % 3 if row["arch"] == "cnn" else 0
    pretext = [dict(task=t, arch="cnn", seed=s, pretext_accuracy=0.5 + 0.1 * s) for t in ("rotation", "jigsaw")
               for s in range(3)]
    out = alignment.verdicts(table, pretext)
    assert len(out["alignment"]) == 3 and len(out["architecture"]) == 1 and len(out["pretext"]) == 2
    assert all(is_verdict_sentence(line) for line in out["alignment"][:1] + out["alignment"][2:])
    assert out["alignment"][1].startswith("Not decided") and out["architecture"][0].startswith("Not decided")


def test_selection_bias_is_test_chosen_minus_validation_chosen():
    table = curve_rows("rotation", [[0.60, 0.72, 0.50], [0.62, 0.70, 0.52]])
    for row in table:
        row.update(split=0, C=1.0, val_accuracy={"l1": 0.8, "l2": 0.7, "l3": 0.6}[row["layer"]])
    bias = alignment.selection_bias(table)
    assert [(b["seed"], b["test_chosen"], b["val_chosen"]) for b in bias] == [(0, "l2", "l1"), (1, "l2", "l1")]
    assert [b["bias"] for b in bias] == pytest.approx([0.12, 0.08])
    assert alignment.selection_bias(curve_rows("rotation", [[0.6, 0.7]])) == []  # no validation: nothing to say
    fig = alignment.plot_selection_bias(bias)
    assert len(fig.axes[0].collections) == 1


def test_width_control_pools_every_layer_to_the_last_layers_width():
    net = make_backbone("cnn", 1, width=4)
    fc_width = probing.pooled_sizes("cnn", width=4)["fc2"][1]
    rows = probing.width_control([("random", "cnn", 0, net), ("random", "resnet", 0, make_backbone("resnet", 1, 4))],
                                   ks=(4,), num_test=40, splits=(0,))
    assert {r["arch"] for r in rows} == {f"cnn@{fc_width}"}
    sizes = probing.pooled_sizes("cnn", width=4, target=fc_width)
    assert all(n <= 2 * fc_width for _, n in sizes.values())  # every layer within a factor 2 of the fc width


@pytest.fixture
def quick_preset(monkeypatch):
    monkeypatch.delenv("PRETEXT_LESSONS_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)


def test_budget_table_lists_every_network_with_its_budget(quick_preset):
    rows = budgets.budget_table(seeds={"cnn": (0, 1, 2), "resnet": (0,)}, budget=budgets.OWN)
    tasks = list(course_tasks())
    assert [r["network"] for r in rows[:len(tasks) + 1]] == [*tasks, "supervised"]
    rotation = rows[0]
    recipe = resolve_preset("quick", RotationTask(), arch="cnn")
    assert (rotation["images"], rotation["epochs"], rotation["seeds"]) == (recipe["num_images"], recipe["num_epochs"], 3)
    assert rotation["image_passes"] == recipe["num_images"] * recipe["num_epochs"]
    assert {r["seeds"] for r in rows if r["arch"] == "resnet"} == {1}


@pytest.mark.slow
def test_steps_in_the_budget_are_the_steps_fit_takes(quick_preset, monkeypatch):
    steps = []
    real_step = torch.optim.SGD.step
    monkeypatch.setattr(torch.optim.SGD, "step", lambda self, *a, **kw: steps.append(1) or real_step(self, *a, **kw))
    plan = budgets.training_plan({"rotation": RotationTask()}, {"cnn": (0,)})[0]
    fit(build_net(RotationTask(), "cnn", width=2), RotationTask(), pretrain_split(200), num_epochs=2,
        batch_size=plan["batch_size"], progress=False)
    assert len(steps) == max(1, 200 // plan["batch_size"]) * 2
    assert plan["steps"] == max(1, plan["images"] // plan["batch_size"]) * plan["epochs"]


@pytest.mark.parametrize("preset", ["quick", "full"])
def test_matched_budgets_give_every_compared_network_the_same_images_and_passes(quick_preset, preset):
    seeds = {"cnn": (0, 1, 2), "resnet": (0, 1)}
    plan = budgets.training_plan(seeds=seeds, preset=preset, widths={"rotation": (4, 8)})
    tasks = course_tasks()
    own = {(p["network"], p["arch"]): p["image_passes"] for p in budgets.training_plan(seeds=seeds, preset=preset,
                                                                                         budget=budgets.OWN)}
    classic = {(name, arch) for name in [*classic_tasks(), SUPERVISED] for arch in seeds}
    if preset == "full":  # the tasks' full recipes differ, but the comparison trains them all on one budget
        assert len({own[key] for key in classic}) > 1
    else:  # the lessons' quick recipes are the matched budget: lesson 4 reuses the networks lessons 1 to 3 trained
        assert {own[key] for key in classic} == {plan[0]["image_passes"]}
    assert {(p["images"], p["epochs"]) for p in plan} == {tuple(budgets.matched_budget(preset).values())}
    # nobody trains longer than its own lesson did
    assert all(p["image_passes"] <= own[(p["network"], p["backbone"])] for p in plan)
    for arch, arch_seeds in seeds.items():
        names = {p["network"] for p in plan if p["arch"] == arch}
        assert names == {*tasks, SUPERVISED}
        for seed in arch_seeds:  # the supervised reference has every seed the tasks have
            assert {p["network"] for p in plan if p["arch"] == arch and p["seed"] == seed} == names
    # the same images: what train_or_load draws for a pretext task is what the supervised reference is given
    n = plan[0]["images"] if preset == "quick" else 500
    for seed in (0, 2):
        X_sup, _ = budgets.labelled_subset(n, seed)
        assert torch.equal(pretrain_split(n, seed=seed), X_sup)


@pytest.mark.slow
def test_train_networks_follows_its_plan_and_labels_the_width_study(tmp_path, monkeypatch):
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("PRETEXT_LESSONS_GRADING", "1")  # the tiny preset: seconds
    tasks = {"rotation": RotationTask()}
    networks, pretext = budgets.train_networks(tasks, {"cnn": (0, 1)}, widths={"rotation": (4, 6)}, log=None)
    plan = budgets.training_plan(tasks, {"cnn": (0, 1)}, widths={"rotation": (4, 6)})
    assert [(n[1], n[2]) for n in networks if n[0] != RANDOM] == [(p["arch"], p["seed"]) for p in plan]
    # each is a Network record holding the budget its plan row gave it (random: its supervised twin's images)
    planned = {(p["network"], p["arch"], p["seed"]): dict(num_images=p["images"], num_epochs=p["epochs"]) for p in plan}
    assert all(isinstance(n, Network) for n in networks)
    assert all(n.budget == planned[(SUPERVISED if n.name == RANDOM else n.name, n.arch, n.seed)] for n in networks)
    widths = {p["arch"]: p["width"] for p in pretext}
    assert widths == {"cnn": 8, "cnn-w4": 4, "cnn-w6": 6}
    assert all(trunk_of(net).width == widths[arch] for _, arch, _, net in networks)
    assert {p["group"] for p in pretext if p["arch"] != "cnn"} == {budgets.WIDTH_STUDY}
    study = alignment.width_study(pretext)
    assert sorted({p["arch"] for p in study}) == ["cnn", "cnn-w4", "cnn-w6"] and len(study) == 6
    table = probing.probe_networks(networks, ks=(2,), num_test=60, splits=(0, 1))
    found = alignment.verdicts(table, pretext)
    (line,) = found["width_study"]
    assert line.startswith("Verdict [rotation, k=2, 3 networks (cnn, cnn-w4, cnn-w6)") and is_verdict_sentence(line)
    assert "2 seeds x 2 splits" in line
    # the study's narrow networks get no verdict of their own: the lesson's verdicts are about its main networks
    assert not [v for lines in found.values() for v in lines if "cnn-w" in v.split("]")[0] and v is not line]


def study_case(probe_of_width):
    """Three widths of one task over 3 seeds x 2 splits: pretext accuracy rises with width; the probe as given."""
    table, pretext = [], []
    for width, arch in ((4, "cnn-w4"), (8, "cnn-w8"), (16, "cnn")):
        for seed in range(3):
            pretext.append(dict(task="rotation", arch=arch, seed=seed, width=width, pretext_accuracy=0.5 + width / 100,
                                group=budgets.WIDTH_STUDY if arch != "cnn" else "cnn"))
            for split in range(2):
                acc = probe_of_width[width] + 0.01 * seed + 0.002 * split
                for depth, layer in enumerate(("l1", "l2"), start=1):
                    table.append(dict(task="rotation", arch=arch, seed=seed, split=split, layer=layer, depth=depth,
                                      k=10, accuracy=acc - 0.05 * (depth == 1), val_accuracy=0.5 + 0.1 * depth, C=1.0))
    return table, pretext


@pytest.mark.parametrize("probe_of_width, word", [({4: 0.5, 8: 0.6, 16: 0.7}, "goes with a better probe"),
                                                  ({4: 0.7, 8: 0.6, 16: 0.5}, "goes with a worse probe")])
def test_width_study_verdict_is_the_helpers_rank_correlation(probe_of_width, word):
    table, pretext = study_case(probe_of_width)
    study = alignment.width_study(pretext)
    points = alignment.width_study_points(table, study, 10)
    assert len(points) == 3 * 3 * 2 and {p["layer"] for p in points} == {"l2"}  # the layer chosen on validation
    line = alignment.width_study_verdict(table, study, 10)
    assert word in line and is_verdict_sentence(line) and "3 seeds x 2 splits" in line
    expected = compare([1.0 if "better" in word else -1.0] * 6, [0.0] * 6, line[9:line.index("]")],
                       "higher pretext accuracy goes with a better probe", "higher pretext accuracy goes with a worse probe",
                       seeds=[0, 0, 1, 1, 2, 2], splits=[0, 1] * 3, scale=1.0, unit="", measure="mean rank correlation")
    assert line == expected.sentence
    assert alignment.verdicts(table, pretext)["width_study"] == [line]
    fig = alignment.plot_width_study(points)
    assert len(fig.axes[0].collections) == 6  # per network: its seeds, and its mean


def test_width_study_needs_three_networks_and_two_units():
    table, pretext = study_case({4: 0.5, 8: 0.6, 16: 0.7})
    two = [p for p in pretext if p["arch"] != "cnn-w8"]
    assert alignment.width_study_verdict(table, alignment.width_study(two), 10).startswith("Not decided [")
    with pytest.raises(ValueError, match="one task"):
        alignment.width_study(pretext + [dict(pretext[0], task="jigsaw")])


def test_published_lines_are_labelled_and_computed():
    lines = alignment.published_lines()
    assert len(lines) == len(alignment.PUBLISHED)
    assert all(line.startswith("Published, not this run") for line in lines)
    assert "Best res4; the last layer, res5, is 8.26 points lower" in lines[0]


# ---------- plots, widget, record ----------

def test_plot_layers_draws_a_line_and_band_per_task_and_pixels_as_a_level():
    table = (curve_rows("rotation", [[0.6, 0.7, 0.5], [0.62, 0.7, 0.52]]) + curve_rows("random", [[0.5, 0.5, 0.4]])
             + [dict(task="pixels", arch="cnn", seed=0, layer="pixels", depth=0, accuracy=0.55, k=10)])
    fig = alignment.plot_layers(table, "cnn", 10)
    ax = fig.axes[0]
    labels = [line.get_label() for line in ax.get_lines()]
    assert labels == ["rotation (2 seeds)", "random (1 seed)", "pixels (1 seed)"]
    assert len(ax.collections) == 2  # one spread band per curve
    assert [t.get_text() for t in ax.get_xticklabels()] == ["l1", "l2", "l3"]
    fig = alignment.plot_layers(table, "cnn", 10, tasks=["rotation"], spread="std")
    assert [line.get_label() for line in fig.axes[0].get_lines()] == ["rotation (2 seeds)"]


def test_layer_explorer_has_controls_and_a_static_picture():
    table = curve_rows("rotation", [[0.6, 0.7]], k=10) + curve_rows("rotation", [[0.7, 0.8]], k=100)
    box = alignment.layer_explorer(table)
    assert [w.description for w in box.children[:3]] == ["arch", "labels/class", "tasks"]
    assert box.png.startswith(b"\x89PNG")


def test_read_record_returns_what_the_notebook_displayed():
    table = curve_rows("rotation", [[0.6, 0.7]])
    payload = {"table": table, "pretext": [], "settings": {"KS": [10]}}
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("record()", outputs=[
        nbformat.v4.new_output("display_data", data={alignment.JSON_MIME: payload, "text/plain": "Recorded"})])])
    assert alignment.read_record(nb) == payload
    with pytest.raises(ValueError, match="no alignment record"):
        alignment.read_record(nbformat.v4.new_notebook())


# ---------- bad input ----------

@pytest.mark.parametrize("call, message", [
    (lambda: check_table({"task": "x"}), "table must be a list"),
    (lambda: check_table([[1, 2]]), r"table\[0\] must be a dict"),
    (lambda: check_table([dict(task="x", arch="cnn", seed=0, layer="a", depth=1, k=10)]),
     r"missing \['accuracy'\]"),
    (lambda: check_table(curve_rows("x", [[1.5, 0.2]])), "must be a fraction in"),
    (lambda: select([], colour="red"), "columns must be among"),
    (lambda: probing.budget_indices([0, 1], 1), "y must be a 1-D tensor"),
    (lambda: probing.budget_indices(torch.tensor([0, 1, 1]), 0), "k must be a positive integer"),
    (lambda: probing.budget_indices(torch.tensor([0, 1, 1]), 2), "class 0 holds only 1"),
    (lambda: probing.downstream_split((0, 10)), "ks must be positive integers"),
    (lambda: probing.probe_network(make_backbone("cnn", 1, 4), 3, "cnn", split=tiny_split()), "task must be"),
    (lambda: probing.probe_features({"a": torch.zeros(2, 2)}, torch.zeros(2, dtype=torch.long),
                                      {"b": torch.zeros(2, 2)}, torch.zeros(2, dtype=torch.long)), "same layers"),
    (lambda: probing.pooled_sizes("cnn", image_size=0), "image_size must be a positive integer"),
    (lambda: probing.pooled_sizes("vgg"), "arch must be one of"),
    (lambda: budgets.labelled_subset(0), "num_images must be an integer between 1 and 60000"),
    (lambda: alignment.alignment_verdict({"task": "x"}), "best must be a Curve from best_layers"),
    (lambda: alignment.random_verdicts(best_layers(curve_rows("r", [[0.1, 0.2]])), "r", "cnn", 10),
     "must hold the curves of 'r' and 'random'"),
    (lambda: probing.probe_features({"a": torch.zeros(2, 2)}, torch.tensor([0, 1]), {"a": torch.zeros(2, 2)},
                                      torch.tensor([0, 1]), ks=(1,)), "ks must be at least 2"),
    (lambda: probe.stratified_folds(torch.tensor([0, 1, 1]), 2), "class 0 has 1"),
    (lambda: probe.cross_validate({}, torch.tensor([0, 1]), C_grid=(0,)), "C_grid must be positive"),
    (lambda: alignment.architecture_verdict(best_layers(curve_rows("r", [[0.1, 0.2]])), "r", 10),
     r"missing \['resnet'\]"),
    (lambda: alignment.pretext_points([], [dict(task="r", arch="cnn", seed=0, pretext_accuracy=0.5)], 10, "top"),
     "layer must be 'best' or 'last'"),
    (lambda: alignment.pretext_points([], [dict(task="r", arch="cnn", seed=0)], 10), "missing 'pretext_accuracy'"),
    (lambda: alignment.pretext_points([], [dict(task="r", arch="cnn", seed=0, pretext_accuracy=0.5)], 10),
     "no rows for task 'r'"),
    (lambda: alignment.pretext_verdict([], "x"), "at least 3 networks"),
    (lambda: budgets.training_plan(budget="cheap"), "budget must be one of"),
    (lambda: budgets.training_plan(widths={"colour": (4,)}), r"widths must name tasks among"),
    (lambda: alignment.width_study_points([], [dict(task="r", arch="cnn", seed=0, pretext_accuracy=0.5)], 10),
     "no curve for task 'r'"),
    (lambda: alignment.plot_width_study([]), "points must hold rows from width_study_points"),
    (lambda: alignment.plot_layers(curve_rows("r", [[0.1, 0.2]]), "resnet", 10), r"no rows for arch='resnet'"),
    (lambda: alignment.plot_layers(curve_rows("r", [[0.1, 0.2]]), spread="iqr"), "spread must be"),
    (lambda: probe.fit_linear(torch.randn(4, 3), torch.arange(4), tol=0), "tol must be None or a positive"),
    (lambda: probe.fit_linear(torch.randn(4, 3), torch.arange(4), max_iter=0), "max_iter must be a positive"),
])
def test_bad_input(call, message):
    with pytest.raises((ValueError, TypeError), match=message):
        call()


# ---------- the lesson notebook: its printed verdicts follow from its own table ----------

@pytest.fixture(scope="module")
def executed_lesson(tmp_path_factory):
    # the grading preset (set by this variable) trains tiny networks, so the whole lesson runs in minutes
    out = tmp_path_factory.mktemp("lesson04") / NOTEBOOK.name
    nb, _ = execute_notebook(NOTEBOOK, out, timeout=1200, env=kernel_env(PRETEXT_LESSONS_GRADING="1"))
    return nb


def printed_lines(nb):
    lines = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            if out.get("output_type") == "stream" and out.get("name") == "stdout":
                lines += out["text"].splitlines()
    return lines


@pytest.mark.slow
def test_lesson_summary_table_is_computed_from_its_table(executed_lesson):
    from pretext_lessons.experiments import summary

    record = alignment.read_record(executed_lesson)
    k = record["settings"]["KS"][0]
    questions = summary.lesson4_questions(record["table"], record["pretext"], k=k)
    printed = "\n".join(printed_lines(executed_lesson))
    assert summary.table_text(questions) in printed  # the one table, recomputed from the record
    for line in summary.taught_lines(questions):
        assert line in printed
    names = [f.question.question for f in questions]
    assert names[0].startswith("rotation - random, cnn,")  # the primary comparison
    assert any(n.startswith("jigsaw - random-jigsaw, cnn,") for n in names)  # the reference probed as jigsaw's net
    assert any(n.startswith("rotation - no_signal-rotation, cnn,") for n in names)
    assert any(n.startswith("random (calibrated) - random, initial statistics") for n in names)
    assert any("@" in n and "last layer's fall" in n for n in names)  # the width control
    assert any("rank correlation" in n for n in names)  # Kolesnikov et al.'s question
    # no old verdict sentence is printed: every decision is a row of the table
    assert not [line for line in printed_lines(executed_lesson) if line.startswith(("Verdict [", "Not decided ["))]


@pytest.mark.slow
def test_lesson_table_covers_the_tasks_baselines_archs_and_budgets(executed_lesson):
    record = alignment.read_record(executed_lesson)
    table, settings = record["table"], record["settings"]
    tasks = {r["task"] for r in table}
    assert {SUPERVISED, RANDOM, PIXELS} <= tasks
    assert set(classic_tasks()) <= tasks
    archs = {r["arch"] for r in table}
    assert {"cnn", "resnet"} < archs and [a for a in archs - {"cnn", "resnet"} if a.startswith("cnn@")]  # the control
    assert sorted({r["k"] for r in table}) == sorted(settings["KS"])
    cnn_seeds = {r["seed"] for r in table if r["arch"] == "cnn" and r["task"] == SUPERVISED}
    assert sorted(cnn_seeds) == sorted(settings["CNN_SEEDS"]) and len(cnn_seeds) >= 3
    widths = {f"cnn-w{w}" for ws in settings["STUDY"].values() for w in ws}
    studied = {r["task"] for r in table if r["arch"] in widths} - {PIXELS}
    assert widths <= archs and studied == set(settings["STUDY"])


@pytest.mark.parametrize("preset", ["quick", "full"])
@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_the_fixed_matched_budget_is_the_smallest_recipe_of_the_lessons_tasks(quick_preset, preset, arch):
    # fixed per preset, so a new task changes nothing; still the smallest of the classic recipes and the supervised
    # reference's, so no network trains beyond its own lesson and the quick networks are lessons 1 to 3's
    recipes = [resolve_preset(preset, task, arch=arch) for task in [*classic_tasks().values(), SupervisedTask()]]
    smallest = dict(num_images=min(r["num_images"] for r in recipes), num_epochs=min(r["num_epochs"] for r in recipes))
    assert budgets.matched_budget(preset, arch) == smallest
