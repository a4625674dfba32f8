"""Lesson 5's downstream suite: average precision, the multi-label probe, held-out images, the canvases, the verdicts."""
import hashlib
import random
import statistics

import pytest
import torch

from pretext_lessons.core import data as course_data
from pretext_lessons.core.data import load_fashion_mnist, make_photo_folder, pretrain_split, resolve_dataset, use_dataset
from pretext_lessons.core.multilabel import average_precision, fit_multilabel, mean_average_precision
from pretext_lessons.core.stats import is_verdict_sentence
from pretext_lessons.core.training import resolve_preset
from pretext_lessons.experiments import budgets, probing, suite, transfer
from pretext_lessons.experiments import downstream as ds
from pretext_lessons.experiments.table import RANDOM, SUPERVISED
from pretext_lessons.tasks.registry import course_tasks

SMALL = dict(k=4, num_test=60, scenes_train=40, scenes_test=40, where_per_cell=2, where_test=32)


@pytest.fixture(autouse=True)
def course_dataset(monkeypatch):
    """Each test starts on the default dataset and leaves no choice behind."""
    monkeypatch.setattr(course_data, "_CURRENT", [])
    monkeypatch.delenv(course_data.DATASET_VARIABLE, raising=False)


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The offline colour folder, small: 8 photos x (40 train + 20 test) crops of 32 px."""
    return make_photo_folder(tmp_path_factory.mktemp("photos") / "photos", per_class=40, test_per_class=20)


# 1. average precision ---------------------------------------------------------------------------------------

@pytest.mark.parametrize("trial", range(8))
def test_map_agrees_with_scikit_learn(trial):
    from sklearn.metrics import average_precision_score

    g = torch.Generator().manual_seed(trial)
    N, L = int(torch.randint(2, 300, (1,), generator=g)), int(torch.randint(1, 12, (1,), generator=g))
    scores = torch.randn(N, L, generator=g)
    if trial % 2:  # ties: many equal scores, which AP must take in together
        scores = torch.round(scores * 2) / 2
    labels = (torch.rand(N, L, generator=g) < 0.3).long()
    labels[int(torch.randint(N, (1,), generator=g))] = 1  # every class has a positive
    ours = mean_average_precision(scores, labels)
    theirs = average_precision_score(labels.numpy(), scores.numpy(), average="macro")
    assert abs(ours - theirs) <= 1e-6


def test_average_precision_by_hand():
    # positives at ranks 1 and 3: precision 1/1 and 2/3, each gaining half the recall
    assert average_precision([0.9, 0.8, 0.7, 0.6], [1, 0, 1, 0]) == pytest.approx((1 + 2 / 3) / 2)
    # a tie between a positive and a negative at the top: both enter together, precision 1/2
    assert average_precision([0.5, 0.5], [1, 0]) == pytest.approx(0.5)


@pytest.mark.parametrize("scores, labels, message", [
    ([0.1, 0.2], [0, 0], "at least one positive"),
    ([0.1, 0.2], [0, 2], "0 or 1"),
    ([0.1, float("nan")], [0, 1], "finite"),
    ([0.1, 0.2, 0.3], [0, 1], "match"),
])
def test_average_precision_names_bad_input(scores, labels, message):
    with pytest.raises(ValueError, match=message):
        average_precision(scores, labels)


def test_map_needs_a_positive_per_class_unless_told():
    scores, labels = torch.randn(5, 3), torch.tensor([[1, 0, 0]] * 5)
    with pytest.raises(ValueError, match=r"classes \[1, 2\]"):
        mean_average_precision(scores, labels)
    assert mean_average_precision(scores, labels, skip_empty=True) == pytest.approx(1.0)


def test_fit_multilabel_agrees_with_scikit_learn():
    from sklearn.linear_model import LogisticRegression

    g = torch.Generator().manual_seed(0)
    F_ = torch.randn(80, 12, generator=g)
    Y = (F_[:, :3] + 0.5 * torch.randn(80, 3, generator=g) > 0).long()
    clf = fit_multilabel(F_, Y, C=0.3)
    Z = ((F_.double() - F_.double().mean(0)) / F_.double().std(0, unbiased=False)).numpy()
    for j in range(3):
        ref = LogisticRegression(C=0.3, tol=1e-10, max_iter=10_000).fit(Z, Y[:, j].numpy())
        assert torch.allclose(clf.linear.weight[j].double(), torch.from_numpy(ref.coef_[0]), atol=2e-3)
        assert abs(float(clf.linear.bias[j].detach()) - float(ref.intercept_[0])) < 2e-3


def test_fit_multilabel_names_a_class_without_positives():
    with pytest.raises(ValueError, match=r"classes \[1\]"):
        fit_multilabel(torch.randn(6, 4), torch.tensor([[1, 0], [0, 0], [1, 0], [0, 0], [1, 0], [0, 0]]))


# 2. the data: held out, deterministic, the targets right ------------------------------------------------------

def _digest(x: torch.Tensor) -> bytes:
    return hashlib.blake2b(x.numpy().tobytes(), digest_size=12).digest()


@pytest.mark.parametrize("dataset", ["fashion_mnist", "photos"])
@pytest.mark.slow
def test_no_downstream_test_image_is_in_any_pretraining_set(dataset, request):
    """On Fashion-MNIST and on the colour folder: every test image of the suite (each image of a canvas) comes
    from the test split, by index, and no pretraining set of the course (each task and the supervised
    reference, seeds 0-2, quick and grading presets) holds an image with the same bytes."""
    source = use_dataset(request.getfixturevalue("photos") if dataset == "photos" else dataset)
    X_held, _ = source.load("test")
    X_pool, _ = source.load("train")
    pretraining = set()
    tasks = list(course_tasks().values()) + [None]
    for seed in (0, 1, 2):
        for preset in ("quick", "grading"):
            for task in tasks:
                n = resolve_preset(preset, task)["num_images"]
                pretraining.update(_digest(x) for x in pretrain_split(n, seed, X=X_pool))
    for seed in (0, 1, 2):
        data = ds.suite_data(seed, 0, sizes=None if dataset == "fashion_mnist" else SMALL)
        for name, d in data.items():
            assert len(d.test_sources) and int(d.test_sources.min()) >= 0, f"{name}: a test image not found in the test split"
            shown = {_digest(X_held[i]) for i in d.test_sources.tolist()}
            assert not shown & pretraining, f"{name}, seed {seed}: a test image is in a pretraining set"
        for name in ("classes", "coarse"):
            assert torch.equal(data[name].X_test, X_held[data[name].test_sources]), name


def test_splits_share_the_test_set_and_differ_in_labelled_images():
    for name in ds.TASKS:
        a, b = ds.downstream_data(name, 0, 0, SMALL), ds.downstream_data(name, 0, 1, SMALL)
        again = ds.downstream_data(name, 0, 0, SMALL)
        assert torch.equal(a.X_test, b.X_test) and torch.equal(a.y_test, b.y_test), name
        assert not torch.equal(a.X_train, b.X_train), name
        assert torch.equal(a.X_train, again.X_train) and torch.equal(a.y_train, again.y_train), name


def test_scene_labels_are_the_classes_of_the_images_drawn():
    X, y = load_fashion_mnist("test")
    canvases, picks, cells = ds.make_canvases(X, 30, torch.Generator().manual_seed(1))
    assert cells is None and canvases.shape == (30, 1, ds.CANVAS_SIZE, ds.CANVAS_SIZE)
    Y = ds._presence(y, picks)
    for i in range(30):
        drawn = picks[i][picks[i] >= 0]
        assert 1 <= len(drawn) <= ds.MAX_OBJECTS
        assert set(torch.nonzero(Y[i]).flatten().tolist()) == set(y[drawn].tolist())
        assert canvases[i].max() > 0


def test_where_label_is_the_cell_of_the_images_centre():
    X, _ = load_fashion_mnist("test")
    cells = torch.arange(ds.GRID * ds.GRID).repeat(3)
    canvases, _, got = ds.make_canvases(X, len(cells), torch.Generator().manual_seed(2), sides=ds.WHERE_SIDES,
                                        grid=ds.GRID, cells=cells)
    assert torch.equal(got, cells)
    cell = ds.CANVAS_SIZE / ds.GRID
    for canvas, c in zip(canvases, cells.tolist()):
        rows, cols = torch.nonzero(canvas[0] > 0, as_tuple=True)
        # the object's extent: its box centre lies in the labelled cell, up to the dark margin of the image
        centre_r, centre_c = (rows.min() + rows.max()) / 2, (cols.min() + cols.max()) / 2
        assert abs(float(centre_r) - (c // ds.GRID + 0.5) * cell) <= cell / 2 + 4
        assert abs(float(centre_c) - (c % ds.GRID + 0.5) * cell) <= cell / 2 + 4


@pytest.mark.parametrize("dataset", ["fashion_mnist", "cifar10", "stl10", "photos"])
def test_coarse_groups_cover_every_class_once(dataset, request):
    source = resolve_dataset(request.getfixturevalue("photos") if dataset == "photos" else dataset)
    groups = ds.coarse_groups(source)
    assert 2 <= len(groups) < source.num_classes
    assert sorted(c for _, members in groups for c in members) == list(range(source.num_classes))
    labels = ds.coarse_labels(torch.arange(source.num_classes), source)
    for g, (_, members) in enumerate(groups):
        assert set(torch.nonzero(labels == g).flatten().tolist()) == set(members)
    assert ds.coarse_labels(torch.tensor([0, 5, 1])).tolist() == [0, 1, 2]  # the default: Fashion-MNIST's groups


def test_a_folders_coarse_groups_order_its_classes_by_brightness(photos):
    source = resolve_dataset(photos)
    X, y = source.load("train")
    brightness = [float(X[y == c].float().mean()) for c in range(source.num_classes)]
    groups = [members for _, members in ds.coarse_groups(source)]
    for darker, brighter in zip(groups, groups[1:]):
        assert max(brightness[c] for c in darker) <= min(brightness[c] for c in brighter)


def test_the_suite_follows_the_datasets_geometry_and_classes(photos):
    assert ds.suite_geometry("fashion_mnist") == dict(canvas=ds.CANVAS_SIZE, sides=ds.OBJECT_SIDES,
                                                      where_sides=ds.WHERE_SIDES, overlay="brighter")
    source = use_dataset(photos)
    geometry = ds.suite_geometry()
    assert geometry["canvas"] == 2 * source.size and geometry["overlay"] == "paste"
    tasks = ds.suite_tasks()
    assert list(tasks) == list(ds.TASKS) and "Fashion-MNIST" not in " ".join(t.target for t in tasks.values())
    data = ds.suite_data(0, 0, sizes=SMALL)
    for name, d in data.items():
        side = source.size if name in ("classes", "coarse") else geometry["canvas"]
        assert d.X_test.shape[1:] == (3, side, side) and d.task.image_size == side, name
    assert data["scenes"].y_test.shape[1] == source.num_classes and data["classes"].label_names == source.classes


def test_pasted_images_cover_what_is_under_them():
    # images as large as the canvas: each one covers it all, so the overlay alone decides what shows
    X = torch.stack([torch.full((3, 8, 8), value, dtype=torch.uint8) for value in (200, 50, 120)])
    for overlay in ("paste", "brighter"):
        canvases, picks, _ = ds.make_canvases(X, 30, torch.Generator().manual_seed(4), size=8, sides=(8, 8),
                                              overlay=overlay)
        for canvas, drawn in zip(canvases, picks):
            values = X[drawn[drawn >= 0], 0, 0, 0]
            expected = values[-1] if overlay == "paste" else values.max()
            assert (canvas == expected).all(), (overlay, drawn)
    assert any(len(d[d >= 0]) > 1 for d in picks)


@pytest.mark.parametrize("call, message", [
    (lambda: ds.downstream_data("boxes"), "name must be one of"),
    (lambda: ds.downstream_data("classes", sizes=dict(num_images=3)), "sizes may only set"),
    (lambda: ds.downstream_data("where", sizes=dict(where_per_cell=1)), "where_per_cell"),
    (lambda: ds.make_canvases(torch.zeros(2, 1, 28, 28, dtype=torch.uint8), 2, torch.Generator(), sides=(5, 60)),
     "sides must be"),
    (lambda: ds.make_canvases(torch.zeros(2, 3, 8, 8, dtype=torch.uint8), 2, torch.Generator(), size=16, sides=(4, 8),
                              overlay="blend"), "overlay must be 'brighter' or 'paste'"),
])
def test_bad_arguments_are_named(call, message):
    with pytest.raises(ValueError, match=message):
        call()


# 3. the probe: choices on the labelled images only ---------------------------------------------------------------

@pytest.mark.slow
def test_the_test_labels_change_no_choice():
    net = budgets.random_net("cnn", 0)
    data = ds.suite_data(0, 0, sizes=SMALL)
    rows = suite.probe_suite(net, "random", "cnn", data=data, layers=["conv2", "fc2"])
    for d in data.values():
        d.y_test = d.y_test[torch.randperm(len(d.y_test), generator=torch.Generator().manual_seed(3))]
    shuffled = suite.probe_suite(net, "random", "cnn", data=data, layers=["conv2", "fc2"])
    assert len(rows) == len(shuffled) == len(ds.TASKS) * 2
    for a, b in zip(rows, shuffled):
        assert (a["downstream"], a["layer"], a["C"], a["val_score"]) == (b["downstream"], b["layer"], b["C"], b["val_score"])
    assert {r["metric"] for r in rows if r["downstream"] == "scenes"} == {"mAP"}
    assert all(0 <= r["score"] <= 1 for r in rows)


def test_canvas_features_keep_the_probes_width():
    # every map is pooled to about DEFAULT_POOLED_SIZE features on a canvas, as on a 28 px image, or kept
    # whole where it holds fewer (pooling cannot add features); vectors are unchanged
    import math

    from pretext_lessons.core.probe import DEFAULT_POOLED_SIZE

    for arch, width in (("cnn", 16), ("resnet", 8)):
        small = probing.pooled_sizes(arch, width=width)
        large = probing.pooled_sizes(arch, width=width, image_size=ds.CANVAS_SIZE)
        for layer, (shape, n) in large.items():
            if len(shape) == 1:
                assert n == small[layer][1] == shape[0], (arch, layer)
            else:
                assert abs(n - DEFAULT_POOLED_SIZE) <= 0.15 * DEFAULT_POOLED_SIZE or n == math.prod(shape), (arch, layer, n)
                assert n >= small[layer][1], (arch, layer)


# 4. verdicts, grid and plots on a made-up table -----------------------------------------------------------------

def _toy_table(seed=0):
    rng = random.Random(seed)
    layers = ("conv1", "conv2", "conv3", "fc1")
    rows = []
    for task, shift in (("rotation", 0.05), ("jigsaw", 0.02), (RANDOM, 0.0), (SUPERVISED, 0.1)):
        for d, peak in (("classes", 2), ("scenes", 3), ("where", 0)):
            for seed_ in range(3):
                for split in range(2):
                    for depth, layer in enumerate(layers, start=1):
                        v = 0.5 + shift - 0.05 * abs(depth - 1 - peak) + rng.gauss(0, 0.005)
                        rows.append(dict(task=task, arch="cnn", seed=seed_, split=split, downstream=d,
                                         metric=ds.TASKS[d].metric, layer=layer, depth=depth, score=v,
                                         val_score=v + rng.gauss(0, 0.002), C=1.0))
    return rows


def test_moves_and_figure_verdicts_are_computed_sentences():
    table = _toy_table()
    # the made-up table's truth: scenes peaks at fc1 and where at conv1, classes at conv3; rotation (+0.05) beats
    # jigsaw (+0.02) and random weights (0) everywhere, by far more than the noise (0.005)
    moves = {line.split(" on ")[1].split(":")[0]: line for line in suite.layer_moves(table, "cnn") if "rotation," in line}
    assert set(moves) == {"scenes", "where"}
    assert all(is_verdict_sentence(line) and "the move pays" in line for line in moves.values()), moves
    task_lines = suite.task_moves(table, "cnn")
    assert len(task_lines) == 2 and all(line.startswith("Described, not decided [cnn, on ") and "rotation, the pretext "
                                        "task chosen" in line and "does not move" in line for line in task_lines)
    last, versus_random = suite.figure_verdicts(table, "rotation", archs=("cnn",))
    assert is_verdict_sentence(last) and "last layer fc1 vs conv3" in last and "last layer higher" in last
    assert is_verdict_sentence(versus_random) and "pretext features better" in versus_random


def test_grid_picks_the_layer_on_validation_scores():
    table = _toy_table()
    for row in table:  # validation says conv1 everywhere, the test scores say otherwise
        row["val_score"] = 1.0 if row["layer"] == "conv1" else 0.0
    assert {c["layer"] for c in suite.grid(table, "cnn")} == {"conv1"}


def test_plots_and_explorer_draw():
    import matplotlib.pyplot as plt

    table = _toy_table()
    fig = suite.plot_grid(table, "cnn")  # a cell per pretext or reference network and downstream task: its layer and score
    cells = [c for c in suite.grid(table, "cnn") if c["task"] != RANDOM]
    assert sorted(t.get_text() for t in fig.axes[0].texts) == sorted(f"{c['layer']}\n{100 * c['score']:.1f}" for c in cells)
    plt.close(fig)
    fig = suite.plot_curves(table, "jigsaw", "scenes", "cnn")  # jigsaw and the two references, at their means
    lines = [line for line in fig.axes[0].get_lines() if line.get_marker() == "o"]
    assert len(lines) == 3
    for line, name in zip(lines, ("jigsaw", SUPERVISED, RANDOM)):
        means = [p["mean"] for p in suite.layer_intervals(table, name, "scenes", "cnn")]
        assert list(line.get_ydata()) == pytest.approx(means) and line.get_label().startswith(name)
    plt.close(fig)
    data = ds.downstream_data("scenes", sizes=SMALL)
    fig = ds.plot_canvases(data, num=5)
    assert len(fig.axes) == 5
    titles = [a.get_title() for a in fig.axes]
    assert titles == ["\n".join(data.label_names[i] for i in torch.nonzero(y).flatten().tolist()) for y in data.y_test[:5]]
    plt.close(fig)
    view = suite.curve_explorer(table)
    assert "image/png" in view._repr_mimebundle_()
    plt.close("all")


def test_layer_intervals_cover_the_seed_means():
    from scipy import stats

    table = _toy_table()
    points = suite.layer_intervals(table, "jigsaw", "classes", "cnn")
    assert [p["layer"] for p in points] == ["conv1", "conv2", "conv3", "fc1"]
    for p in points:  # the splits of a seed averaged first, then a t interval over the 3 seeds
        per_seed = [statistics.fmean(r["score"] for r in table if (r["task"], r["downstream"], r["layer"], r["seed"])
                                     == ("jigsaw", "classes", p["layer"], s)) for s in range(3)]
        assert p["values"] == pytest.approx(per_seed) and p["mean"] == pytest.approx(statistics.fmean(per_seed))
        low, high = stats.t.interval(0.95, 2, loc=statistics.fmean(per_seed), scale=stats.sem(per_seed))
        assert (p["low"], p["high"]) == pytest.approx((low, high))


# 5. the protocol comparison -----------------------------------------------------------------------

def test_protocol_rows_and_verdicts():
    nets = [("jigsaw", "resnet", s, budgets.random_net("resnet", s)) for s in (0, 1)]
    rows = transfer.protocol_rows(nets, sizes=SMALL)
    assert len(rows) == 2 * len(transfer.PROTOCOLS)
    for r in rows:
        assert r["drop"] == pytest.approx(r["last"] - r["earlier"])
    lines = transfer.protocol_verdicts(rows)
    assert len(lines) == len(transfer.PROTOCOLS) + 3
    assert all(is_verdict_sentence(line) for line in lines)
    with pytest.raises(ValueError, match="ResNets"):
        transfer.protocol_rows([("jigsaw", "cnn", 0, budgets.random_net("cnn", 0))], sizes=SMALL)
