"""Fine-tuning beside the probe (experiments.finetune): the probe is step 0, BatchNorm stays frozen, choices use labelled images only."""
import pytest
import torch

from pretext_lessons.core.models import make_backbone
from pretext_lessons.core.probe import fit_linear, layer_features
from pretext_lessons.experiments import finetune as ft


def _data(n_per_class=12, seed=0):
    """Two classes told apart by a bright square's position: learnable by a small CNN."""
    g = torch.Generator().manual_seed(seed)
    X = torch.rand(2 * n_per_class, 1, 28, 28, generator=g) * 0.2
    y = torch.arange(2).repeat_interleave(n_per_class)
    X[y == 0, :, 2:10, 2:10] += 0.8
    X[y == 1, :, 18:26, 18:26] += 0.8
    return X, y


def test_the_cut_network_at_step_zero_is_the_probe():
    torch.manual_seed(0)
    trunk = make_backbone("cnn", 1, 8).eval()
    X, y = _data()
    F_ = layer_features(trunk, X, ["conv2"])["conv2"]
    probe = fit_linear(F_, y, 1.0)
    cut = ft.CutNetwork(trunk, "conv2", probe)
    with torch.no_grad():
        assert torch.allclose(cut(X), probe(F_), atol=1e-4)
    same = ft.train_cut(cut, X, y, lr=0.01, steps=0)
    assert all(torch.equal(a, b) for a, b in zip(same.state_dict().values(), cut.state_dict().values()))


def test_fine_tuning_keeps_batchnorm_statistics_and_changes_weights():
    torch.manual_seed(0)
    trunk = make_backbone("cnn", 1, 8).eval()
    X, y = _data()
    F_ = layer_features(trunk, X, ["conv2"])["conv2"]
    cut = ft.CutNetwork(trunk, "conv2", fit_linear(F_, y, 1.0))
    tuned = ft.train_cut(cut, X, y, lr=0.05, steps=20)
    before, after = cut.state_dict(), tuned.state_dict()
    stats = [k for k in before if "running" in k]
    assert stats and all(torch.equal(before[k], after[k]) for k in stats)  # frozen running statistics
    assert any(not torch.equal(before[k], after[k]) for k in before if k.endswith("weight"))


@pytest.mark.slow
def test_fine_tune_split_chooses_on_labelled_images_only_and_reports_the_recipe():
    torch.manual_seed(0)
    trunk = make_backbone("cnn", 1, 8).eval()
    X, y = _data(12)
    X_test, y_test = _data(20, seed=1)
    r = ft.fine_tune_split(trunk, "random", X, y, X_test, y_test, recipes=(dict(lr=1e-3, steps=5), dict(lr=1e-2, steps=5)))
    assert r["layer"] in trunk.layer_names and (r["lr"], r["steps"]) in ((1e-3, 5), (1e-2, 5))
    assert 0 <= r["probe"] <= 1 and 0 <= r["fine_tuned"] <= 1 and len(r["cv"]) == 2
    # the test labels are read only after every choice: scrambling them changes the scores, not the choices
    scrambled = ft.fine_tune_split(trunk, "random", X, y, X_test, 1 - y_test,
                                   recipes=(dict(lr=1e-3, steps=5), dict(lr=1e-2, steps=5)))
    assert (scrambled["layer"], scrambled["C"], scrambled["lr"], scrambled["cv"]) == (r["layer"], r["C"], r["lr"], r["cv"])
    assert abs(scrambled["probe"] - (1 - r["probe"])) < 1e-9


def test_findings_pair_each_network_with_the_reference_and_its_probe():
    rows = []
    for seed in range(3):
        for task, tuned in (("random", 0.60), ("rotation", 0.66)):
            rows.append(dict(task=task, arch="cnn", seed=seed, k=10, layer="conv1", C=1.0, probe=0.62 + 0.001 * seed,
                             fine_tuned=tuned + 0.002 * seed, lr=1e-3, steps=100))
    found = {f.question.question: f for f in ft.findings(rows)}
    assert found["k=10: rotation fine-tuned - random fine-tuned"].question.comparison.low > 0
    assert found["k=10: random fine-tuned - its probe"].question.comparison.high < 0
    assert "rotation" in ft.rows_text(rows)


def test_a_feature_constant_on_the_labelled_images_cannot_blow_the_logits_up():
    torch.manual_seed(0)
    trunk = make_backbone("cnn", 1, 8).eval()
    X, y = _data()
    F_ = layer_features(trunk, X, ["fc2"])["fc2"]
    probe = fit_linear(F_, y, 1.0)
    cut = ft.CutNetwork(trunk, "fc2", probe)
    assert float(cut.classifier.std.min()) >= ft.STD_FLOOR * float(probe.std.median())
    tuned = ft.train_cut(cut, X, y, lr=0.05, steps=20)
    with torch.no_grad():
        assert torch.isfinite(tuned(X)).all()


def test_the_pretext_network_comes_before_its_no_signal_control():
    rows = [dict(task=t, arch="cnn", seed=s, k=10, layer="conv1", C=1.0, probe=0.6, fine_tuned=0.6 + 0.01 * s, lr=1e-3,
                 steps=100) for t in ("random", "rotation", "no_signal-rotation") for s in range(3)]
    assert ft.findings(rows)[0].question.question == "k=10: rotation fine-tuned - random fine-tuned"


@pytest.mark.slow
def test_test_images_never_reach_a_choice():
    torch.manual_seed(0)
    trunk = make_backbone("cnn", 1, 8).eval()
    X, y = _data(12)
    X_test, y_test = _data(20, seed=1)
    recipes = (dict(lr=1e-3, steps=5), dict(lr=1e-2, steps=5))
    r = ft.fine_tune_split(trunk, "random", X, y, X_test, y_test, recipes=recipes)
    noise = torch.rand(X_test.shape, generator=torch.Generator().manual_seed(3))  # other test images entirely
    other = ft.fine_tune_split(trunk, "random", X, y, noise, y_test, recipes=recipes)
    for key in ("layer", "C", "lr", "steps", "cv", "cv_probe"):
        assert other[key] == r[key], key
    assert other["probe"] != r["probe"] or other["fine_tuned"] != r["fine_tuned"]


def _ft_rows(gain, probe_gap=0.0, seeds=3, ks=(10, 100)):
    rows = []
    for seed in range(seeds):
        for k in ks:
            for task, tuned in (("random", 0.60), ("rotation", 0.60 + gain), ("no_signal-rotation", 0.60)):
                rows.append(dict(task=task, arch="cnn", seed=seed, k=k, layer="conv2", C=1.0,
                                 probe=tuned - probe_gap - 0.001 * seed, fine_tuned=tuned + 0.002 * seed,
                                 lr=1e-3, steps=100, cv_probe=0.62, cv_best=0.60, labelled=10 * k))
    return rows


def test_decision_lines_follow_the_outcome():
    from pretext_lessons.experiments import summary as sm

    up = ft.lesson_findings(_ft_rows(0.05))
    assert [f.question.question for f in up][:4] == ["k=100: rotation fine-tuned - random fine-tuned",
                                                     "k=100: rotation fine-tuned - no_signal-rotation fine-tuned",
                                                     "k=100: rotation fine-tuned - its probe",
                                                     "k=100: no_signal-rotation fine-tuned - random fine-tuned"]
    lines_up = ft.decision_lines(_ft_rows(0.05), sm.verdict_rows(up))
    assert lines_up[0].startswith("k=100: fine-tuning from rotation beats the same recipe from random")
    assert lines_up[1].startswith("k=100: it beats the same recipe from no_signal-rotation") and "better than both" in lines_up[1]
    down = ft.lesson_findings(_ft_rows(-0.05))
    lines_down = ft.decision_lines(_ft_rows(-0.05), sm.verdict_rows(down))
    assert lines_down[0].startswith("k=100: fine-tuning from rotation is below the same recipe from random")
    assert "not better than both" in lines_down[1]
    # fine-tuning below the probe: at the largest k it says so; at the smaller k it says why, from the folds
    below = _ft_rows(0.05, probe_gap=-0.04)
    lines = ft.decision_lines(below, sm.verdict_rows(ft.lesson_findings(below)))
    assert any(line.startswith("k=100: fine-tuning from rotation is below its linear probe") for line in lines)
    why = [line for line in lines if line.startswith("k=10: fine-tuning from rotation stays below its probe")]
    assert why and "62.0%" in why[0] and "every recipe already lost to the probe" in why[0]
    above = _ft_rows(0.05, probe_gap=0.04)
    lines = ft.decision_lines(above, sm.verdict_rows(ft.lesson_findings(above)))
    assert any("is not below its linear probe" in line for line in lines)
    assert not any("stays below" in line for line in lines)
    # rows with no fold scores (one recipe, nothing chosen): the line still says it stays below, without a why
    bare = [dict(r, cv_best=None, cv_probe=None) for r in below]
    lines = ft.decision_lines(bare, sm.verdict_rows(ft.lesson_findings(bare)))
    assert any(line.startswith("k=10: fine-tuning from rotation stays below its probe") and "why" not in line
               for line in lines)


@pytest.mark.slow
def test_fine_tune_rows_are_stored_and_read_back(tmp_path, monkeypatch):
    from pretext_lessons.experiments.references import NoSignal
    from pretext_lessons.tasks.rotation import RotationTask

    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    torch.manual_seed(0)
    trunk = make_backbone("cnn", 1, 8).eval()
    X, y = _data(12)
    X_test, y_test = _data(20, seed=1)
    recipes = (dict(lr=1e-3, steps=3), dict(lr=1e-2, steps=3))
    nets = [("random", "cnn", 0, trunk), (NoSignal(base=RotationTask()), "cnn", 0, trunk)]
    rows = ft.fine_tune_rows(nets, lambda seed, k: (X[:2 * k], y[:2 * k], X_test, y_test), ks=(6,), recipes=recipes)
    assert [r["task"] for r in rows] == ["random", "no_signal-rotation"]
    assert all(r["labelled"] == 12 and 0 <= r["cv_probe"] <= 1 for r in rows)  # each chose its own recipe
    assert list(tmp_path.rglob("finetune-*.json"))  # stored by load_or_measure
    assert ft.fine_tune_rows(nets, lambda seed, k: (X[:2 * k], y[:2 * k], X_test, y_test), ks=(6,),
                             recipes=recipes) == rows


def test_fine_tune_rows_choose_the_recipe_on_the_first_seed_and_keep_it(monkeypatch, tmp_path):
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    torch.manual_seed(0)
    nets = [("random", "cnn", seed, make_backbone("cnn", 1, 4).eval()) for seed in (0, 1, 2)]
    X, y = _data(6)
    X_test, y_test = _data(4, seed=1)
    grids = []
    real = ft.fine_tune_split

    def spy(net, task, *data_seed_recipes):
        grids.append([dict(r) for r in data_seed_recipes[-1]])
        return real(net, task, *data_seed_recipes)
    monkeypatch.setattr(ft, "fine_tune_split", spy)
    recipes = (dict(lr=1e-3, steps=2), dict(lr=5e-2, steps=3))
    rows = ft.fine_tune_rows(nets, lambda seed, k: (X, y, X_test, y_test), ks=(6,), recipes=recipes)
    first, *others = rows
    assert grids[0] == list(recipes) and all(g == [dict(lr=first["lr"], steps=first["steps"])] for g in grids[1:])
    assert first["chose"] and first["cv_best"] is not None
    assert all(not r["chose"] and r["cv_best"] is None and (r["lr"], r["steps"]) == (first["lr"], first["steps"])
               for r in others)
    assert 0 <= first["cv_probe"] <= 1 and all(r["cv_probe"] is None for r in others)  # folds only where chosen
    # one recipe: nothing to choose, no cross-validated scores at all
    one = real(nets[0][3], "random", X, y, X_test, y_test, 0, [dict(lr=1e-3, steps=2)])
    assert one["cv"] == [] and (one["lr"], one["steps"]) == (1e-3, 2) and one["cv_probe"] is None
