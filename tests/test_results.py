"""Measured results kept beside the checkpoints: read back only for exactly what they were measured on."""
import pytest
import torch

from pretext_lessons.core import results
from pretext_lessons.experiments import budgets, downstream, probing, suite


@pytest.fixture
def store(monkeypatch, tmp_path):
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    monkeypatch.delenv(results.RESULTS_VARIABLE, raising=False)
    return tmp_path / "results"


def counting(rows):
    calls = []

    def measure():
        calls.append(1)
        return [dict(r) for r in rows]
    return measure, calls


def test_rows_are_measured_once_per_key(store):
    measure, calls = counting([dict(layer="conv1", accuracy=0.5, C=0.1)])
    first = results.load_or_measure("probe", dict(net="a", split=0), measure)
    again = results.load_or_measure("probe", dict(net="a", split=0), measure)
    other = results.load_or_measure("probe", dict(net="b", split=0), measure)
    assert first == again == other and len(calls) == 2 and len(list(store.glob("*.json"))) == 2


def test_a_broken_file_is_measured_again_with_a_warning(store):
    measure, calls = counting([dict(accuracy=0.25)])
    results.load_or_measure("probe", dict(net="a"), measure)
    path, = store.glob("*.json")
    path.write_text("{ half written")
    with pytest.warns(UserWarning, match="measuring again"):
        assert results.load_or_measure("probe", dict(net="a"), measure) == [dict(accuracy=0.25)]
    assert len(calls) == 2


def test_rows_that_json_would_change_are_not_stored_and_the_switch_turns_it_off(store, monkeypatch):
    measure, calls = counting([dict(accuracy=float("nan"))])
    results.load_or_measure("probe", dict(net="a"), measure)
    results.load_or_measure("probe", dict(net="a"), measure)
    assert len(calls) == 2 and not list(store.glob("*.json"))
    monkeypatch.setenv(results.RESULTS_VARIABLE, "0")
    measure, calls = counting([dict(accuracy=0.5)])
    results.load_or_measure("probe", dict(net="a"), measure)
    results.load_or_measure("probe", dict(net="a"), measure)
    assert len(calls) == 2


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match="kind must be"):
        results.load_or_measure("no spaces", {}, list)
    with pytest.raises(TypeError, match="key must be a dict"):
        results.load_or_measure("probe", ["net"], list)
    with pytest.raises(TypeError, match="net must be a torch.nn.Module"):
        results.state_fingerprint("net")


def test_the_fingerprint_follows_every_weight():
    net = budgets.random_net("cnn", seed=0, preset="grading")
    same = budgets.random_net("cnn", seed=0, preset="grading")
    assert results.state_fingerprint(net) == results.state_fingerprint(same)
    with torch.no_grad():
        same.fc2[0].bias[3] += 1e-6
    assert results.state_fingerprint(net) != results.state_fingerprint(same)


def probe_calls(monkeypatch, module, name):
    calls, real = [], getattr(module, name)

    def spy(*args, **kwargs):
        calls.append(1)
        return real(*args, **kwargs)
    monkeypatch.setattr(module, name, spy)
    return calls


def test_probe_network_reads_back_its_rows_only_for_the_same_weights_and_data(store, monkeypatch):
    calls = probe_calls(monkeypatch, probing, "probe_features")
    net = budgets.random_net("cnn", seed=0, preset="grading")
    split = probing.downstream_split((2,), seed=0, num_test=60)
    first = probing.probe_network(net, "random", "cnn", 0, (2,), split)
    assert probing.probe_network(net, "random", "cnn", 0, (2,), split) == first and len(calls) == 1
    X_train, y_train, X_test, y_test = split
    probing.probe_network(net, "random", "cnn", 0, (2,), (X_train, y_train, X_test, y_test.roll(1)))
    assert len(calls) == 2  # other test labels: measured again
    with torch.no_grad():
        net.conv1[0].weight.mul_(2)
    probing.probe_network(net, "random", "cnn", 0, (2,), split)
    assert len(calls) == 3  # other weights: measured again


def test_a_preprocess_without_a_task_is_measured_every_time(store, monkeypatch):
    calls = probe_calls(monkeypatch, probing, "probe_features")
    net = budgets.random_net("cnn", seed=0, preset="grading")
    split = probing.downstream_split((2,), seed=0, num_test=60)
    for _ in range(2):
        probing.probe_network(net, "random", "cnn", 0, (2,), split, preprocess=lambda X: X)
    assert len(calls) == 2


def test_the_suite_reads_back_its_rows(store, monkeypatch):
    calls = probe_calls(monkeypatch, suite, "probe_single")
    net = budgets.random_net("cnn", seed=0, preset="grading")
    sizes = dict(k=2, num_test=40, scenes_train=40, scenes_test=40, where_per_cell=2, where_test=32)
    data = downstream.suite_data(0, 0, tasks=("classes",), sizes=sizes)
    first = suite.probe_suite(net, "random", "cnn", 0, 0, data)
    assert suite.probe_suite(net, "random", "cnn", 0, 0, data) == first and len(calls) == 1


def test_the_lens_study_reads_back_what_it_measured_and_equals_a_fresh_run(store, monkeypatch, capsys):
    from pretext_lessons.experiments import aberration

    photos = torch.rand(2, 3, 72, 72, generator=torch.Generator().manual_seed(0))
    settings = dict(seeds=(0, 1), conditions=("aberration", "projection"), num_train=256, num_test=128,
                    num_epochs=1, photos=photos)
    first = aberration.aberration_experiment(**settings)
    printed = capsys.readouterr().out
    assert len(list(store.glob("aberration-*.json"))) == 4  # one per seed and condition

    def no_training(*args, **kwargs):
        raise AssertionError("a stored accuracy was measured again")
    with monkeypatch.context() as m:
        m.setattr(aberration, "train_position_classifier", no_training)
        again = aberration.aberration_experiment(**settings)
        assert capsys.readouterr().out == printed  # the same progress lines, read from the store
        with pytest.raises(AssertionError, match="measured again"):  # another setting is another key
            aberration.aberration_experiment(**dict(settings, num_epochs=2))
        with pytest.raises(AssertionError, match="measured again"):  # other photos too
            aberration.aberration_experiment(**dict(settings, photos=photos.flip(-1)))
    monkeypatch.setenv(results.RESULTS_VARIABLE, "0")
    fresh = aberration.aberration_experiment(**settings)
    assert first == again == fresh
