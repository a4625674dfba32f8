"""The per-phase profile (core/profile.py): off unless asked for, nested phases counted once, a table that adds up."""
import json
import sys
import time

import pytest
import torch

from pretext_lessons.core import profile
from pretext_lessons.core.probe import fit_linear


@pytest.fixture
def restore_profile():
    yield
    profile.configure("")


def spin(seconds: float) -> None:
    end = time.perf_counter() + seconds
    while time.perf_counter() < end:
        pass


def test_unset_means_off(tmp_path, monkeypatch, restore_profile):
    monkeypatch.delenv(profile.PROFILE_VARIABLE, raising=False)
    assert profile.configure() is None and not profile.enabled()
    with profile.phase("training"):
        spin(0.01)
    fit_linear(torch.randn(20, 3), torch.arange(20) % 2)
    assert profile.table() == {}
    assert list(tmp_path.iterdir()) == []


def test_nested_phases_add_up_to_the_outer_wall_time(tmp_path, monkeypatch, restore_profile):
    path = tmp_path / "profile.json"
    monkeypatch.setenv(profile.PROFILE_VARIABLE, str(path))
    assert profile.configure() == path
    clock = [100.0]  # a clock the test moves: exact seconds whatever the machine's load
    monkeypatch.setattr(profile.time, "perf_counter", lambda: clock[0])

    def spend(seconds):
        clock[0] += seconds

    @profile.phase("probes")
    def probe():
        spend(2)
        with profile.phase("features"):
            spend(3)
            with profile.phase("probes"):  # the same name nested: still counted once
                spend(1)
        spend(2)

    with profile.phase("training"):
        spend(2)
        probe()
        spend(1)
    written = json.loads(path.read_text())
    assert written == profile.table() == {"training": 3, "probes": 5, "features": 3}
    assert sum(written.values()) == clock[0] - 100.0


def test_package_entry_points_are_profiled(tmp_path, restore_profile):
    path = tmp_path / "profile.json"
    profile.configure(path)
    fit_linear(torch.randn(40, 5), torch.arange(40) % 2)
    assert set(json.loads(path.read_text())) == {"probes"}


def test_a_failing_phase_still_ends(tmp_path, restore_profile):
    profile.configure(tmp_path / "profile.json")
    with pytest.raises(ZeroDivisionError):
        with profile.phase("statistics"):
            1 / 0
    assert set(profile.table()) == {"statistics"} and profile._stack == []


def test_course_columns_add_up_to_the_lesson_time():
    sys.path.insert(0, "benchmarks")
    try:
        from bench_course import COLUMNS, lesson_profile
    finally:
        sys.path.remove("benchmarks")
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("from pretext_lessons import fit"),
                                         nbformat.v4.new_code_cell("fit(...)")])
    stamps = [("2026-01-01T00:00:01.000000Z", "2026-01-01T00:00:03.000000Z"),
              ("2026-01-01T00:00:03.000000Z", "2026-01-01T00:00:09.000000Z")]
    for cell, (a, b) in zip(nb.cells, stamps):
        cell.metadata["execution"] = {"iopub.execute_input": a, "shell.execute_reply": b}
    row = lesson_profile(nb, 10.0, {"training": 5.0, "plotting": 0.5})
    assert list(row) == list(COLUMNS)
    assert row["start+imports"] == pytest.approx(4.0)  # 2 s outside cells + the 2 s import cell
    assert sum(row.values()) == pytest.approx(10.0)


def test_features_come_out_of_inference_mode_as_ordinary_tensors():
    from pretext_lessons.core.models import PlainCNN, activations

    net = PlainCNN(1, 4).eval()
    X = torch.rand(6, 1, 28, 28)
    feats = activations(net, X, ["conv2", "fc2"], batch_size=4)
    with torch.no_grad():
        assert torch.allclose(feats["fc2"], net(X), atol=1e-6)  # batches of 4 and 2 against one of 6: rounding only
    assert not feats["fc2"].is_inference()
    w = torch.zeros(feats["fc2"].shape[1], requires_grad=True)
    (feats["fc2"] @ w).sum().backward()  # usable where gradients flow (an inference tensor is not)
    assert w.grad is not None
