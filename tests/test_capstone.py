"""Lessons 0 and 6: the pipeline diagram, the shortcut checks (edge solver, low-level probe), the layer report."""
import dataclasses
import itertools

import matplotlib.pyplot as plt
import pytest
import torch
from torch.nn import functional as F

from pretext_lessons.core.stats import is_verdict_sentence
from pretext_lessons.experiments import budgets
from pretext_lessons.tasks.registry import course_tasks
from pretext_lessons.experiments.capstone import (BOX_KEYS, EDGE_CONDITIONS, central_crop, classic_networks,
                                                  edge_shortcut, edge_solver, layer_report, low_level_features,
                                                  low_level_probe, plot_pipeline, versus)
from pretext_lessons.core.data import load_fashion_mnist
from pretext_lessons.core.task import PretextTask
from pretext_lessons.core.training import build_net


@dataclasses.dataclass
class DimTask(PretextTask):
    """Labels readable from brightness alone."""

    num_classes: int = 4
    name = "dim_test"

    def make_batch(self, X, generator):
        y = torch.randint(0, self.num_classes, (len(X),), generator=generator, device=X.device)
        return X * (1 - y.float() / self.num_classes).view(-1, 1, 1, 1), y


@dataclasses.dataclass
class BlindTask(PretextTask):
    """Labels that nothing in the input predicts."""

    num_classes: int = 4
    name = "blind_test"

    def make_batch(self, X, generator):
        return X.clone(), torch.randint(0, self.num_classes, (len(X),), generator=generator, device=X.device)


def smooth_images(n, size=27, seed=0):
    g = torch.Generator().manual_seed(seed)
    coarse = torch.rand(n, 1, 4, 4, generator=g)
    return F.interpolate(coarse, size=(size, size), mode="bicubic", align_corners=True)


def touching_puzzles(X, permutations, y, grid=3):
    """Cut each image into grid x grid touching tiles; the tile at position i comes from cell permutations[y][i]."""
    n, c, h, w = X.shape
    t = h // grid
    cells = X.unfold(2, t, t).unfold(3, t, t)  # (n, c, grid, grid, t, t)
    cells = cells.permute(0, 2, 3, 1, 4, 5).reshape(n, grid * grid, c, t, t)
    order = permutations[y]  # (n, tiles)
    return torch.gather(cells, 1, order.view(n, -1, 1, 1, 1).expand_as(cells))


def test_plot_pipeline_draws_the_diagram_with_the_example_images():
    X = smooth_images(1, 28)[0]
    fig = plot_pipeline(X, X.flip(-1), y_tilde=1, highlight="g")
    assert len(fig.axes[0].child_axes) == 2  # the two pictures of the example
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "you design this" in texts and "task.make_batch(X, generator)" in texts
    plt.close(fig)


def test_plot_pipeline_rejects_an_unknown_box():
    with pytest.raises(ValueError, match=r"highlight must be one of .*'g'.*, got 'h'"):
        plot_pipeline(highlight="h")
    assert "g" in BOX_KEYS


def test_plot_pipeline_needs_both_images():
    with pytest.raises(ValueError, match="x and x_tilde must be given together"):
        plot_pipeline(x=torch.zeros(1, 28, 28))


def test_edge_solver_recovers_touching_puzzles_of_smooth_images():
    permutations = torch.tensor(list(itertools.islice(itertools.permutations(range(9)), 0, 40000, 400)))
    g = torch.Generator().manual_seed(1)
    y = torch.randint(0, len(permutations), (60,), generator=g)
    tiles = touching_puzzles(smooth_images(60, seed=2), permutations, y)
    accuracy = float((edge_solver(tiles, permutations) == y).float().mean())
    assert accuracy > 0.9, f"the edge solver found {accuracy:.0%} of touching puzzles of smooth images"


def test_edge_solver_knows_nothing_where_tiles_share_no_edge():
    permutations = torch.tensor(list(itertools.islice(itertools.permutations(range(9)), 0, 40000, 400)))
    g = torch.Generator().manual_seed(3)
    y = torch.randint(0, len(permutations), (300,), generator=g)
    tiles = torch.rand(300, 9, 1, 5, 5, generator=g)  # independent noise tiles: borders say nothing
    accuracy = float((edge_solver(tiles, permutations) == y).float().mean())
    assert accuracy < 0.05, f"the edge solver found {accuracy:.0%} of puzzles made of unrelated noise tiles"


def test_edge_solver_checks_its_inputs():
    P = torch.tensor([list(range(9)), list(range(8, -1, -1))])
    with pytest.raises(ValueError, match=r"tiles must be a tensor \(N, tiles, C, h, w\), got \(2, 9, 5, 5\)"):
        edge_solver(torch.zeros(2, 9, 5, 5), P)
    with pytest.raises(ValueError, match="tiles must hold grid\\*grid = 9 tiles per puzzle, got 4"):
        edge_solver(torch.zeros(2, 4, 1, 5, 5), P)
    with pytest.raises(ValueError, match="permutations must have 9 entries each \\(grid=3\\), got 4"):
        edge_solver(torch.zeros(2, 9, 1, 5, 5), torch.tensor([[0, 1, 2, 3]]))
    with pytest.raises(ValueError, match="permutations must be an integer array"):
        edge_solver(torch.zeros(2, 9, 1, 5, 5), P.float())


def test_edge_shortcut_keeps_the_tile_size_and_pairs_the_conditions_on_images_and_draws():
    X = load_fashion_mnist("test")[0][:80]
    out = edge_shortcut(X, seeds=(0, 1))
    assert list(out) == list(EDGE_CONDITIONS) and all(len(v) == 2 for v in out.values())
    # touching tiles: the borders continue, so the solver finds more puzzles than with a gap
    assert min(out["touching, raw tiles"]) > max(out["gap + jitter, raw tiles"])
    # the same seed on the same images gives the same puzzles: a condition run alone repeats its numbers
    again = edge_shortcut(X, seeds=(0, 1), conditions={"t": EDGE_CONDITIONS["touching, raw tiles"]})
    assert again["t"] == out["touching, raw tiles"]
    assert central_crop(X, 21).shape[-2:] == (21, 21) and torch.equal(central_crop(X, 21), X[..., 3:24, 3:24])
    with pytest.raises(ValueError, match="at least one image per seed"):
        edge_shortcut(X[:1], seeds=(0, 1))


def test_versus_is_the_helpers_verdict_against_a_condition_or_a_level():
    results = {"a": [0.30, 0.35, 0.32], "b": [0.05, 0.04, 0.06]}
    line = versus(results, "a", "b", "a minus b", "higher", "lower", seeds=(0, 1, 2))
    assert line.startswith("Verdict [a minus b]: higher") and "3 seeds x 1 split" in line and is_verdict_sentence(line)
    chance = versus(results, "b", 0.5, "b vs chance", "above chance", "below chance", seeds=(0, 1, 2))
    assert "below chance" in chance and is_verdict_sentence(chance)
    assert versus({"a": [0.3], "b": [0.1]}, "a", "b", "one", "h", "l", seeds=(0,)).startswith("Not decided [one]")
    with pytest.raises(ValueError, match="results must hold condition 'c'"):
        versus(results, "a", "c", "x", "h", "l", seeds=(0, 1, 2))
    with pytest.raises(ValueError, match="one value per seed"):
        versus(results, "a", "b", "x", "h", "l", seeds=(0, 1))


@pytest.mark.slow
def test_classic_networks_train_every_task_on_lesson_4s_matched_budget(monkeypatch, tmp_path):
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("PRETEXT_LESSONS_GRADING", "1")  # tiny networks
    calls = []
    import pretext_lessons.experiments.capstone as capstone

    real = capstone.train_or_load
    monkeypatch.setattr(capstone, "train_or_load", lambda task, **kw: calls.append((task.name, kw)) or real(task, **kw))
    networks = classic_networks(preset="quick", seed=1)
    budget = budgets.matched_budget(preset="quick")
    assert [t.name for t, _, _ in networks] == [n for n in course_tasks()]
    assert all(kw["num_images"] == budget["num_images"] and kw["num_epochs"] == budget["num_epochs"]
               and kw["seed"] == 1 for _, kw in calls)


def test_low_level_features_per_part():
    X = torch.rand(6, 1, 28, 28)
    F_ = low_level_features(X)
    assert F_.shape == (6, 10)
    torch.testing.assert_close(F_[:, 0], X.mean((1, 2, 3)))
    assert low_level_features(torch.rand(6, 9, 1, 7, 7)).shape == (6, 90)  # one set per tile
    assert low_level_features(torch.rand(6, 3, 20, 24)).shape == (6, 13)  # and the colour means


def test_low_level_features_checks_its_input():
    with pytest.raises(ValueError, match=r"inputs must be a tensor \(N, \.\.\., C, H, W\).*got \(6, 28, 28\)"):
        low_level_features(torch.zeros(6, 28, 28))


def test_low_level_probe_catches_a_brightness_shortcut_and_not_a_blind_task():
    X = (smooth_images(800, 28, seed=4) * 255).to(torch.uint8)
    dim = low_level_probe(DimTask(), X, seed=0)
    blind = low_level_probe(BlindTask(), X, seed=0)
    assert dim["accuracy"] > 0.8, f"brightness labels: low-level statistics found only {dim['accuracy']:.0%}"
    assert blind["accuracy"] < blind["chance"] + 0.1, f"labels independent of the input: {blind}"
    assert dim["num_images"] == 800 and 0.25 <= dim["chance"] < 0.5


def test_low_level_probe_checks_its_inputs():
    X = torch.zeros(20, 1, 8, 8)
    with pytest.raises(TypeError, match="task must be a PretextTask, got str"):
        low_level_probe("rotation", X)
    with pytest.raises(ValueError, match="train_fraction must be between 0 and 1, got 1.5"):
        low_level_probe(DimTask(), X, train_fraction=1.5)
    with pytest.raises(ValueError, match="X must be a tensor of at least 8 images, got 3"):
        low_level_probe(DimTask(), X[:3])


@pytest.mark.slow
def test_layer_report_has_the_baselines_and_one_row_per_layer_of_each_network():
    task = DimTask()
    net = build_net(task, "cnn", width=8, seed=0)
    table = layer_report([(task, net)], seed=0, k=2, preset="grading", num_splits=2)
    layers = list(net.trunk.layer_names)
    assert [r["layer"] for r in table if r["task"] == "dim_test"] == layers * 2
    assert [r["layer"] for r in table if r["task"] == "random"] == layers * 2
    assert [r["layer"] for r in table if r["task"] == "pixels"] == ["pixels"] * 2
    assert sorted({r["split"] for r in table}) == [0, 1]
    assert all(0 <= r["accuracy"] <= 1 and r["k"] == 2 for r in table)
    # the random baseline is the course's calibrated reference, probed on the same splits
    from pretext_lessons.experiments import probing
    from pretext_lessons.experiments.references import calibrated_random

    reference = calibrated_random(None, "cnn", 0, "grading", **budgets.matched_budget("grading"))
    expected = [r for j in range(2) for r in probing.probe_network(
        reference, "random", "cnn", 0, (2,), probing.downstream_split((2,), 0, split=j), split_index=j)]
    assert [r for r in table if r["task"] == "random"] == expected


def test_layer_report_checks_its_networks():
    with pytest.raises(TypeError, match=r"networks\[0\] must be a pair \(task, net\).*got str"):
        layer_report(["rotation"])


def test_random_with_statistics_is_the_untrained_network_with_the_inputs_batchnorm_statistics():
    from pretext_lessons.core.training import build_net
    from pretext_lessons.experiments.capstone import random_with_statistics
    from pretext_lessons.tasks.rotation import RotationTask

    task = RotationTask()
    X = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    net = random_with_statistics(task, seed=3, X=X, width=8, batch_size=16)
    fresh = build_net(task, "cnn", 1, 8, seed=3)
    weights = {k: v for k, v in net.state_dict().items() if "running" not in k and "num_batches" not in k}
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in weights.items())  # no gradient step
    norms = [m for m in net.modules() if isinstance(m, torch.nn.BatchNorm2d)]
    assert norms and not net.training
    assert all(not torch.allclose(m.running_mean, torch.zeros_like(m.running_mean)) for m in norms[:1])
    assert all(m.momentum == 0.1 for m in norms)


def test_shortcut_share_runs_from_chance_to_every_label():
    from pretext_lessons.experiments.capstone import shortcut_share

    assert shortcut_share({"accuracy": 0.25, "chance": 0.25}) == 0
    assert shortcut_share({"accuracy": 1.0, "chance": 0.25}) == 1
    assert abs(shortcut_share({"accuracy": 0.625, "chance": 0.25}) - 0.5) < 1e-12


# ---------- is a designed task worth having? (the capstone's graded check) ----------

@dataclasses.dataclass
class MirrorTask(PretextTask):
    """The capstone solution's task: which of the four mirrorings was applied."""

    num_classes: int = 4
    name = "mirror_test"

    def make_batch(self, X, generator):
        y = torch.randint(0, self.num_classes, (len(X),), generator=generator, device=X.device)
        inputs = torch.where((y % 2 == 1).view(-1, 1, 1, 1), X.flip(-1), X)
        return torch.where((y // 2 == 1).view(-1, 1, 1, 1), inputs.flip(-2), inputs), y


@dataclasses.dataclass
class ConstantTask(PretextTask):
    """One pseudo label for every image: nothing to learn."""

    num_classes: int = 2
    name = "constant_test"

    def make_batch(self, X, generator):
        return X.clone(), torch.zeros(len(X), dtype=torch.long, device=X.device)


def _rows(task, values):
    """Rows of one layer for `task`, one per (seed, split) unit, with the given test accuracies."""
    return [dict(task=task, arch="cnn", seed=0, split=j, layer="conv1", depth=1, k=10, accuracy=a, val_accuracy=a)
            for j, a in enumerate(values)]


def test_layer_verdicts_pair_the_task_with_its_baseline_unit_by_unit():
    from pretext_lessons.experiments.capstone import layer_verdicts

    rows = _rows("mine", [0.70, 0.62, 0.66]) + _rows("random", [0.68, 0.60, 0.64])
    verdicts = layer_verdicts(rows, "mine")
    assert list(verdicts) == ["conv1"] and verdicts["conv1"].outcome == "better"
    assert is_verdict_sentence(str(verdicts["conv1"]))
    shuffled = _rows("mine", [0.70, 0.62, 0.66]) + _rows("random", [0.60, 0.64, 0.68])  # other units' values
    assert layer_verdicts(shuffled, "mine")["conv1"].outcome == "not shown"
    with pytest.raises(ValueError, match=r"at least 2 units .* layer 'conv1', got 1"):
        layer_verdicts(_rows("mine", [0.7]) + _rows("random", [0.6]), "mine")


def test_probe_against_random_checks_its_arguments():
    from pretext_lessons.experiments.capstone import probe_against_random

    net = build_net(MirrorTask(), "cnn", 1, 8, seed=0)
    with pytest.raises(TypeError, match="task must be a PretextTask, got str"):
        probe_against_random(net, net, "mirror")
    with pytest.raises(ValueError, match="num_splits"):
        probe_against_random(net, net, MirrorTask(), num_splits=1)


@pytest.mark.slow
@pytest.mark.parametrize("task, worth", [(MirrorTask(), True), (ConstantTask(), False), (DimTask(), False)],
                         ids=["mirroring", "constant label", "brightness shortcut"])
def test_beats_random_credits_a_task_worth_training_and_no_other(task, worth, monkeypatch, tmp_path):
    # as the grader runs it: the grading preset (a width-8 network) on the check's own budget
    from pretext_lessons.experiments.capstone import beats_random

    monkeypatch.setenv("PRETEXT_LESSONS_GRADING", "1")
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    verdicts = beats_random(task)
    assert any(v.outcome == "better" for v in verdicts.values()) == worth, [str(v) for v in verdicts.values()]


@pytest.mark.slow
def test_capstone_suite_probes_your_task_beside_the_calibrated_random_reference_on_lesson_5s_images(
        monkeypatch, tmp_path):
    from pretext_lessons.experiments import downstream, suite
    from pretext_lessons.experiments.capstone import capstone_suite
    from pretext_lessons.experiments.network import Network
    from pretext_lessons.experiments.references import calibrated_random

    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    monkeypatch.setenv("PRETEXT_LESSONS_GRADING", "1")  # tiny networks and budgets
    sizes = dict(k=2, num_test=40, scenes_train=20, scenes_test=20, where_per_cell=2, where_test=32)
    monkeypatch.setattr(downstream, "SIZES", sizes)  # lesson 5's sizes, small enough for a test
    task = DimTask()
    net = build_net(task, "cnn", width=8, seed=0)
    table = capstone_suite([(task, net)], seed=0, preset="quick")
    assert {r["task"] for r in table} == {"dim_test", "random"} and {r["split"] for r in table} == {0}
    # the reference is lesson 5's: calibrated on the matched budget's images, probed on the same split
    budget = budgets.matched_budget("quick")
    reference = Network("random", "cnn", 0, calibrated_random(None, "cnn", 0, "quick", **budget), budget)
    expected = suite.probe_suite_networks([reference], sizes=sizes)
    assert [r for r in table if r["task"] == "random"] == expected
    with pytest.raises(TypeError, match=r"networks\[0\] must be \(task, net\)"):
        capstone_suite([net])
