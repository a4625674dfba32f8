"""The training engine: the task interface, determinism, the checkpoint cache, resuming, presets."""
import dataclasses
import warnings

import pytest
import torch

from pretext_lessons.core import training
from pretext_lessons.core.task import PretextTask, SupervisedTask, check_task_batch


@dataclasses.dataclass
class FlipTask(PretextTask):
    """Predict whether the image was mirrored: the smallest useful task."""

    num_classes: int = 2
    name = "flip-test"

    def make_batch(self, X, generator):
        y = torch.randint(0, 2, (len(X),), generator=generator, device=X.device)
        return torch.where(y[:, None, None, None] == 1, X.flip(-1), X), y


def images(n=256, seed=0):
    g = torch.Generator().manual_seed(seed)
    X = torch.randint(0, 256, (n, 1, 12, 12), generator=g, dtype=torch.uint8)
    X[:, :, :, :4] = 255  # a bright left edge makes flips learnable
    return X


SMALL = dict(num_epochs=2, batch_size=64, lr=0.05, width=4)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    return tmp_path


def same_numbers(a, b) -> bool:
    """Equal lists of floats, NaN (an epoch not validated) equal to NaN."""
    return len(a) == len(b) and all(x == y or (x != x and y != y) for x, y in zip(a, b))


@pytest.mark.slow
def test_two_cpu_runs_give_identical_numbers(cache):
    X = images()
    net1, h1 = training.train_or_load(FlipTask(), X=X, X_val=X[:64], seed=3, progress=False, cache=False, **SMALL)
    net2, h2 = training.train_or_load(FlipTask(), X=X, X_val=X[:64], seed=3, progress=False, cache=False, **SMALL)
    assert h1["loss"] == h2["loss"] and same_numbers(h1["val_acc"], h2["val_acc"])
    for (k, a), b in zip(net1.state_dict().items(), net2.state_dict().values()):
        assert torch.equal(a, b), k
    _, h3 = training.train_or_load(FlipTask(), X=X, X_val=X[:64], seed=4, progress=False, cache=False, **SMALL)
    assert h3["loss"] != h1["loss"]


def test_the_task_is_learned(cache):
    X = images(512)
    net, history = training.train_or_load(FlipTask(), X=X, X_val=images(128, seed=1), progress=False,
                                          cache=False, **{**SMALL, "num_epochs": 4})
    assert history["val_acc"][-1] > 0.9
    assert history["loss"][-1] < history["loss"][0]


def test_second_run_loads_the_checkpoint(cache, monkeypatch, capsys):
    X = images()
    net1, h1 = training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=False, **SMALL)
    assert len(list(cache.glob("flip-test-cnn-*.pt"))) == 1 and not list(cache.glob("*.partial.pt"))

    def no_training(*args, **kwargs):
        raise AssertionError("fit was called although a checkpoint exists")

    monkeypatch.setattr(training, "fit", no_training)
    net2, h2 = training.train_or_load(FlipTask(), X=X, X_val=X[:64], **SMALL)
    assert "Loaded" in capsys.readouterr().out
    assert h1["loss"] == h2["loss"] and h1["seconds"] == h2["seconds"]
    assert all(torch.equal(a, b) for a, b in zip(net1.state_dict().values(), net2.state_dict().values()))


@pytest.mark.slow
def test_any_change_of_configuration_is_a_cache_miss(cache):
    X = images()
    training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=False, **SMALL)
    training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=False, **{**SMALL, "lr": 0.02})
    training.train_or_load(FlipTask(), X=X, X_val=X[:64], seed=1, progress=False, **SMALL)
    X2 = X.clone()
    X2[0, 0, 0, 0] ^= 1
    training.train_or_load(FlipTask(), X=X2, X_val=X[:64], progress=False, **SMALL)
    assert len(list(cache.glob("flip-test-cnn-*.pt"))) == 4


@pytest.mark.slow
def test_corrupt_checkpoint_is_retrained_with_a_warning(cache):
    X = images()
    _, h1 = training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=False, **SMALL)
    path, = cache.glob("flip-test-cnn-*.pt")
    path.write_bytes(path.read_bytes()[:200])
    with pytest.warns(UserWarning, match="could not be used"):
        _, h2 = training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=False, **SMALL)
    assert h2["loss"] == h1["loss"]  # retrained to the same numbers, and cached again
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=False, **SMALL)


def test_mismatched_checkpoint_is_retrained(cache):
    X = images()
    training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=False, **SMALL)
    path, = cache.glob("flip-test-cnn-*.pt")
    state = torch.load(path, weights_only=False)
    state["config"]["lr"] = 123.0  # a file that does not describe what its name promises
    torch.save(state, path)
    with pytest.warns(UserWarning, match="configuration differs"):
        training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=False, **SMALL)


def test_an_interrupted_run_resumes_to_the_same_result(cache, monkeypatch):
    X = images()
    settings = {**SMALL, "num_epochs": 3}
    # progress=True: the held-out accuracy is measured after every epoch, where the stop comes
    _, full = training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=True, cache=False, **settings)

    real_fit = training.fit
    epochs_run = []

    def interrupted_fit(net, task, X, **kwargs):
        original = training.pretext_accuracy

        def accuracy_then_stop(*a, **k):
            epochs_run.append(1)
            if len(epochs_run) == 2:
                raise KeyboardInterrupt  # the student pressed stop during epoch 2's evaluation
            return original(*a, **k)

        monkeypatch.setattr(training, "pretext_accuracy", accuracy_then_stop)
        try:
            return real_fit(net, task, X, **kwargs)
        finally:
            monkeypatch.setattr(training, "pretext_accuracy", original)

    monkeypatch.setattr(training, "fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=True, **settings)
    partial, = cache.glob("*.partial.pt")
    assert torch.load(partial, weights_only=False)["epoch"] == 1
    monkeypatch.setattr(training, "fit", real_fit)
    _, resumed = training.train_or_load(FlipTask(), X=X, X_val=X[:64], progress=True, **settings)
    assert resumed["loss"] == full["loss"] and resumed["val_acc"] == full["val_acc"]
    assert not list(cache.glob("*.partial.pt"))


@pytest.mark.slow
def test_supervised_reference_training(cache):
    X = images(256)
    y = torch.arange(256) % 2
    X[y == 1, :, 6:, 6:] = 0  # class 1 has a dark corner: easy to learn
    net, history = training.train_or_load(SupervisedTask(num_classes=2), X=X, y=y, progress=False,
                                          **{**SMALL, "num_epochs": 3})
    assert history["train_acc"][-1] > 0.6
    with pytest.raises(ValueError, match="y must be a tensor of 256 labels"):
        training.train_or_load(SupervisedTask(num_classes=2), X=X, y=y[:10], progress=False, **SMALL)


def test_check_task_batch_catches_broken_tasks():
    X = images(8).float() / 255
    check_task_batch(FlipTask(), X)

    @dataclasses.dataclass
    class OutOfRange(FlipTask):
        def make_batch(self, X, generator):
            return X, torch.full((len(X),), 2)

    with pytest.raises(ValueError, match="expected labels in 0..1, got labels from 2 to 2"):
        check_task_batch(OutOfRange(), X)

    @dataclasses.dataclass
    class Unseeded(FlipTask):
        def make_batch(self, X, generator):
            return X, torch.randint(0, 2, (len(X),))

    with pytest.raises(ValueError, match="not deterministic"):
        check_task_batch(Unseeded(), X)

    @dataclasses.dataclass
    class WrongDtype(FlipTask):
        def make_batch(self, X, generator):
            return X, torch.zeros(len(X), dtype=torch.int32)

    with pytest.raises(TypeError, match="y must be a 1-D int64 tensor"):
        check_task_batch(WrongDtype(), X)


def test_task_config_names_every_field_and_the_code():
    config = FlipTask().config()
    assert {k: v for k, v in config.items() if k != "code"} == {
        "task": "FlipTask", "name": "flip-test", "num_classes": 2, "min_size": 1}

    @dataclasses.dataclass
    class FlipTask2(FlipTask):  # the same fields, another make_batch: a student's edit
        def make_batch(self, X, generator):
            y = torch.randint(0, 2, (len(X),), generator=generator, device=X.device)
            return torch.where(y[:, None, None, None] == 0, X.flip(-1), X), y

    assert FlipTask2().config()["code"] != config["code"]
    assert FlipTask().config()["code"] == config["code"]


def test_bad_arguments_are_named(cache):
    X = images(16)
    with pytest.raises(ValueError, match="preset must be one of"):
        training.resolve_preset("fast")
    with pytest.raises(ValueError, match=r"unknown settings \['epochs'\]"):
        training.resolve_preset("quick", epochs=3)
    with pytest.raises(TypeError, match="task must be a PretextTask"):
        training.train_or_load("rotation")
    with pytest.raises(ValueError, match="arch must be one of"):
        training.train_or_load(FlipTask(), arch="vgg", X=X, progress=False, **SMALL)
    with pytest.raises(ValueError, match="^X must be at least 32x32 pixels per image, got 12x12$"):
        training.train_or_load(dataclasses.replace(FlipTask(), min_size=32), X=X, progress=False, **SMALL)
    net = training.build_net(FlipTask(), width=4)
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        training.fit(net, FlipTask(), X, batch_size=0, progress=False)
    with pytest.raises(TypeError, match="seed must be an int"):
        training.set_seed("0")


def test_grading_shrinks_the_preset(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("PRETEXT_LESSONS_GRADING", raising=False)
    assert training.resolve_preset("quick") == training.PRESETS["quick"]
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    assert training.resolve_preset("quick") == training.PRESETS["grading"]


def test_task_presets_override_the_defaults():
    @dataclasses.dataclass
    class Slow(FlipTask):
        presets = {"quick": {"num_epochs": 9}}

    assert training.resolve_preset("quick", Slow())["num_epochs"] == 9
    assert training.resolve_preset("quick", Slow(), num_epochs=2)["num_epochs"] == 2


def test_backbone_presets_beat_the_task_and_yield_to_overrides(monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("PRETEXT_LESSONS_GRADING", raising=False)

    @dataclasses.dataclass
    class Wide(FlipTask):
        presets = {"quick": {"width": 32, "num_epochs": 9}}

    monkeypatch.setitem(training.ARCH_PRESETS, "quick", {"resnet": {"width": 5}})
    assert training.resolve_preset("quick", Wide(), "cnn")["width"] == 32
    resnet = training.resolve_preset("quick", Wide(), "resnet")
    assert resnet["width"] == 5 and resnet["num_epochs"] == 9
    assert training.resolve_preset("quick", Wide(), "resnet", width=7)["width"] == 7
    with pytest.raises(ValueError, match="arch must be one of"):
        training.resolve_preset("quick", arch="vgg")


def test_train_or_load_builds_the_backbone_at_its_preset_width(cache, monkeypatch):
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    monkeypatch.delenv("PRETEXT_LESSONS_GRADING", raising=False)
    monkeypatch.setitem(training.ARCH_PRESETS, "quick", {"resnet": {"width": 3}})
    net, _ = training.train_or_load(FlipTask(), arch="resnet", X=images(16), progress=False,
                                    **{k: v for k, v in SMALL.items() if k != "width"})
    assert net.trunk.width == 3


def test_device_choice():
    assert training.try_device("cpu").type == "cpu"
    expected = "cuda" if torch.cuda.is_available() else None
    assert training.try_device().type in {expected, "mps", "cpu"}
    assert training.autocast_dtype(torch.device("cpu"), amp=False) is None
    with pytest.raises(ValueError, match="amp must be"):
        training.autocast_dtype(torch.device("cpu"), amp="yes")


def test_probabilities_batch_by_batch_in_eval_mode_and_give_the_mode_back():
    net = torch.nn.Sequential(torch.nn.Linear(3, 4), torch.nn.Dropout(0.5)).train()
    X = torch.rand(7, 3)
    probs = training.probabilities(net, X, batch_size=3)
    assert net.training
    with torch.no_grad():
        assert torch.allclose(probs, torch.softmax(net[0](X), 1), atol=1e-6)  # no dropout: eval mode
    doubled = training.probabilities(net, X, batch_size=2, transform=lambda batch: torch.cat([batch, batch]))
    assert doubled.shape == (14, 4)
    with pytest.raises(ValueError, match="inputs must hold at least one input"):
        training.probabilities(net, X[:0])
    with pytest.raises(ValueError, match="batch_size must be a positive integer, got 0"):
        training.probabilities(net, X, batch_size=0)


def test_a_silent_run_validates_after_the_last_epoch_only(cache):
    X = images()
    _, shown = training.train_or_load(FlipTask(), X=X, X_val=X[:64], seed=3, progress=True, cache=False, **SMALL)
    _, silent = training.train_or_load(FlipTask(), X=X, X_val=X[:64], seed=3, progress=False, cache=False, **SMALL)
    assert all(a == a for a in shown["val_acc"])
    assert all(a != a for a in silent["val_acc"][:-1]) and silent["val_acc"][-1] == shown["val_acc"][-1]
    with pytest.raises(ValueError, match="validate must be one of"):
        training.fit(training.build_net(FlipTask(), width=4), FlipTask(), X, validate="sometimes")
