"""The course's references (experiments.references): calibrated random weights, the no-signal control, the supervised reference."""
import dataclasses

import numpy as np
import pytest
import torch
from scipy import stats as scipy_stats

from pretext_lessons.core.task import PretextTask
from pretext_lessons.core.training import build_net
from pretext_lessons.experiments.references import (NoSignal, calibrated_random, initial_statistics, no_signal_net,
                                                    probe_preprocess, supervised_reference, supervised_text)
from pretext_lessons.tasks.rotation import RotationTask


def _images(n=64, seed=0):
    return torch.randint(0, 256, (n, 1, 28, 28), dtype=torch.uint8, generator=torch.Generator().manual_seed(seed))


def test_calibrated_statistics_equal_an_independent_mean_and_variance_of_the_same_inputs():
    X = _images(64)
    task = RotationTask()
    net = calibrated_random(task, seed=3, X=X, width=8, batch_size=64)  # one batch: mean and variance exact
    inputs, _ = task.make_batch(X.float() / 255, torch.Generator().manual_seed(3))
    fresh = build_net(task, "cnn", 1, 8, seed=3)
    conv, norm = fresh.trunk.conv1[0], fresh.trunk.conv1[1]
    assert isinstance(norm, torch.nn.BatchNorm2d)
    with torch.no_grad():
        A = conv(inputs)
    mean, var = A.mean((0, 2, 3)), A.var((0, 2, 3), unbiased=True)
    calibrated = net.trunk.conv1[1]
    assert torch.allclose(calibrated.running_mean, mean, atol=1e-5)
    assert torch.allclose(calibrated.running_var, var, rtol=1e-4)
    assert calibrated.momentum == 0.1 and not net.training
    # the weights are train_or_load's starting weights: no gradient step
    weights = {k: v for k, v in net.state_dict().items() if "running" not in k and "num_batches" not in k}
    assert all(torch.equal(v, fresh.state_dict()[k]) for k, v in weights.items())


def test_equal_batches_average_to_the_mean_over_all_inputs():
    X = _images(64, seed=1)
    net = calibrated_random(None, seed=0, X=X, width=8, batch_size=16)
    conv = build_net(RotationTask(), "cnn", 1, 8, seed=0).trunk.conv1[0]
    with torch.no_grad():
        A = conv(X.float() / 255)
    assert torch.allclose(net.trunk.conv1[1].running_mean, A.mean((0, 2, 3)), atol=1e-5)
    plain = initial_statistics(net)
    assert torch.equal(plain.trunk.conv1[1].running_mean, torch.zeros(8))
    assert torch.equal(plain.trunk.conv1[1].running_var, torch.ones(8))


@dataclasses.dataclass
class ReadsTheImage(PretextTask):
    """A task whose label is read off the image: its mean brightness bin."""

    num_classes: int = 4
    name = "reads_the_image"

    def make_batch(self, X, generator):
        y = (X.mean((1, 2, 3)) * 4).clamp(max=3.999).long()
        return X, y


def test_no_signal_labels_are_independent_of_the_image():
    X = torch.cat([torch.full((50, 1, 8, 8), v) for v in (0.1, 0.3, 0.6, 0.9)])  # 50 images per brightness bin
    base, control = ReadsTheImage(), NoSignal(base=ReadsTheImage())
    table = np.zeros((4, 4))
    g = torch.Generator().manual_seed(0)
    for _ in range(40):
        _, y_true = base.make_batch(X, g)
        _, y_shuffled = control.make_batch(X, g)
        assert sorted(y_shuffled.tolist()) == sorted(y_true.tolist())  # same labels, same frequencies
        for t, s in zip(y_true.tolist(), y_shuffled.tolist()):
            table[t, s] += 1
    # the base labels are a function of the image; the control's are not: no association left
    assert scipy_stats.chi2_contingency(table).pvalue > 0.001
    assert abs(np.trace(table) / table.sum() - 0.25) < 0.03  # agreement at chance (4 balanced classes)


def test_no_signal_is_the_base_task_in_everything_but_the_link():
    base = RotationTask()
    control = NoSignal(base=base)
    assert control.name == "no_signal-rotation" and control.num_classes == base.num_classes
    assert control.config()["base"] == base.config() and control.config() != base.config()
    X = torch.rand(8, 1, 28, 28)
    assert torch.equal(control.preprocess(X), base.preprocess(X)) and probe_preprocess(control) == base.preprocess
    inputs_b, _ = base.make_batch(X, torch.Generator().manual_seed(1))
    inputs_c, _ = control.make_batch(X, torch.Generator().manual_seed(1))
    assert torch.equal(inputs_b, inputs_c)
    with pytest.raises(TypeError, match="base must be a pretext task"):
        NoSignal(base=control)
    with pytest.raises(TypeError, match="base must be a pretext task"):
        NoSignal()


@pytest.mark.slow
def test_no_signal_net_trains_to_chance_and_is_cached(tmp_path, monkeypatch):
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    net, history = no_signal_net(RotationTask(), seed=0, num_images=256, num_epochs=1, width=8)
    assert abs(history["val_acc"][-1] - 0.25) < 0.06  # a held-out pretext accuracy at chance: no signal to learn
    assert any(p.name.startswith("no_signal-rotation-cnn") for p in tmp_path.iterdir())


def test_supervised_reference_states_its_budget_and_stops(tmp_path, monkeypatch):
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    net, report = supervised_reference(seed=0, num_labels=300, ladder=(1, 2))
    assert report["labels"] == 300 and report["trained_on"] + report["held_out"] == 300
    assert [r["num_epochs"] for r in report["tried"]] in ([1], [1, 2])
    assert 0 <= report["held_out_accuracy"] <= 1 and report["num_epochs"] in (1, 2)
    text = supervised_text(report)
    assert "300 labels" in text and "held-out" in text


def test_probed_as_names_a_reference_and_shows_images_as_its_task():
    from pretext_lessons.experiments.references import ProbedAs
    from pretext_lessons.tasks.jigsaw import JigsawTask

    label = ProbedAs(base=JigsawTask())
    X = torch.rand(4, 1, 28, 28)
    assert label.name == "random-jigsaw" and torch.equal(label.preprocess(X), JigsawTask().preprocess(X))
    with pytest.raises(TypeError, match="never trained"):
        label.make_batch(X, torch.Generator())
