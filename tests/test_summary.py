"""Lessons 4 and 5's summary table (experiments.summary): the questions, their references, and verdicts that follow the data."""
import matplotlib

matplotlib.use("Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402

from pretext_lessons.experiments import summary as sm  # noqa: E402
from pretext_lessons.tasks.jigsaw import JigsawTask  # noqa: E402
from pretext_lessons.tasks.rotation import RotationTask  # noqa: E402

LAYERS = ("conv1", "conv2", "fc1")


def _table(gain):
    """rotation and jigsaw `gain` points above their random references at every layer; the control at random."""
    rng = np.random.default_rng(0)
    rows = []
    base = {"conv1": 0.70, "conv2": 0.68, "fc1": 0.60}
    nets = {"random": 0.0, "random-jigsaw": -0.01, "rotation": gain, "jigsaw": gain - 0.01,
            "no_signal-rotation": 0.0, "supervised": 0.10}
    for task, shift in nets.items():
        for seed in range(4):
            for split in range(2):
                noise = rng.normal(0, 0.003)
                for depth, layer in enumerate(LAYERS, start=1):
                    acc = base[layer] + shift + noise
                    rows.append(dict(task=task, arch="cnn", seed=seed, split=split, layer=layer, depth=depth,
                                     accuracy=acc, val_accuracy=acc, C=1.0, k=10))
    return rows


def test_questions_use_the_references_of_each_task_and_rotation_is_primary():
    findings = sm.lesson4_findings(_table(0.03))
    names = [f.question.question for f in findings]
    assert names[0].startswith("rotation - random, cnn,")
    assert any(n.startswith("jigsaw - random-jigsaw, cnn,") for n in names)  # probed through jigsaw's preprocessing
    assert any(n.startswith("rotation - no_signal-rotation") for n in names)
    assert any("last layer's fall" in n for n in names)
    rows = sm.verdict_rows(findings)
    assert rows[0]["role"] == "primary" and all(r["role"] == "Holm-corrected" for r in rows[1:])
    assert rows[0]["outcome"] == "better" and rows[0]["seeds"] == 4
    for r in rows:
        assert -200 <= r["low"] <= r["estimate"] + 1e-9 and r["estimate"] - 1e-9 <= r["high"] <= 200


def test_the_opposite_outcome_prints_the_opposite_verdict():
    up, down = sm.lesson4_findings(_table(0.03)), sm.lesson4_findings(_table(-0.03))
    text_up, text_down = sm.table_text(up), sm.table_text(down)
    first_up, first_down = text_up.splitlines()[1], text_down.splitlines()[1]
    assert "pretext better" in first_up and "pretext worse" in first_down
    none = sm.lesson4_findings(_table(0.0))
    assert sm.verdict_rows(none)[0]["outcome"] == "not shown"
    assert any(line.startswith("primary: rotation - random") for line in sm.verdict_lines(up))


def test_one_seed_gives_no_question():
    table = [r for r in _table(0.03) if r["seed"] == 0]
    assert sm.lesson4_findings(table) == []
    assert "No question could be decided" in sm.table_text([])


def test_plot_has_a_row_per_question():
    findings = sm.lesson4_findings(_table(0.03))
    fig = sm.plot_findings(findings)
    assert len(fig.axes[0].get_yticklabels()) == len(findings)
    with pytest.raises(ValueError, match="at least one Finding"):
        sm.plot_findings([])


def test_own_preprocess_and_names():
    from pretext_lessons.experiments.references import NoSignal

    assert sm.own_preprocess(JigsawTask()) and not sm.own_preprocess(RotationTask())
    assert sm.own_preprocess(NoSignal(base=JigsawTask()))
    assert sm.random_name("jigsaw") == "random-jigsaw" and sm.no_signal_name("rotation") == "no_signal-rotation"


def test_initial_statistics_findings_compare_per_layer():
    table = _table(0.0)
    for r in [r for r in table if r["task"] == "random"]:
        table.append(dict(r, task=sm.INITIAL, accuracy=r["accuracy"] + (0.05 if r["layer"] == "fc1" else 0.0)))
    found = {f.question.question.split(", ")[-1]: f for f in sm.initial_statistics_findings(table)}
    assert set(found) == set(LAYERS)
    assert found["fc1"].question.comparison.mean < -0.04


def test_the_lesson_table_adds_alignment_and_architecture_questions():
    table = _table(0.03)
    table += [dict(r, arch="resnet") for r in table]
    findings = sm.lesson4_all(table, ("cnn", "resnet"), 10)
    names = [f.question.question for f in findings]
    assert names[0].startswith("rotation - random, cnn,")
    assert "rotation, cnn: last layer fc1 - best earlier conv1" in names
    assert "rotation: last layer's fall, resnet - cnn" in names
    rows = sm.verdict_rows(findings)
    assert [r["outcome"] for r in rows if r["question"].startswith("rotation, cnn: last layer")] == ["worse"]


def _suite(move: bool):
    rows = []
    for d in ("classes", "scenes"):
        for task, base in (("rotation", 0.70), ("jigsaw", 0.68), ("random", 0.65), ("no_signal-rotation", 0.65)):
            if d == "scenes" and move and task == "jigsaw":
                base = 0.75
            for seed in range(3):
                for depth, layer in enumerate(LAYERS, start=1):
                    s = base + 0.003 * seed - (0.05 if layer == "fc1" else 0.0)
                    rows.append(dict(task=task, arch="cnn", seed=seed, split=0, downstream=d,
                                     metric="accuracy" if d == "classes" else "mAP", layer=layer, depth=depth,
                                     score=s, val_score=s, C=1.0))
    return rows


def test_lesson5_asks_the_move_first_and_says_when_nothing_moves():
    found, lines = sm.lesson5_findings(_suite(move=True))
    assert found[0].question.question.startswith("on scenes: jigsaw - random, cnn")  # the seed figure's question
    assert found[1].question.question.startswith("on scenes: jigsaw (chosen for scenes) - rotation (chosen for classes)")
    assert [r["outcome"] for r in sm.verdict_rows(found)][:2] == ["better", "better"]
    assert sm.verdict_lines(found, only="on scenes: jigsaw - random")[0].startswith("primary: ")
    assert any(f.question.question.startswith("on classes: rotation - no_signal-rotation") for f in found)
    still, lines = sm.lesson5_findings(_suite(move=False))
    assert not any("chosen for scenes" in f.question.question for f in still)
    assert any("does not move" in line for line in lines)


def test_lesson5_all_puts_the_primary_first_and_the_rest_in_one_holm_family():
    found, lines = sm.lesson5_all(_suite(move=True), figure_archs=("cnn",))
    names = [f.question.question for f in found]
    assert names[0].startswith("on scenes: jigsaw - random, cnn")
    assert names[1].startswith("on scenes: jigsaw, cnn: last layer")  # the seed figure's own question
    rows = sm.verdict_rows(found)
    assert rows[0]["role"] == "primary" and all(r["role"] == "Holm-corrected" for r in rows[1:])
    with_more, _ = sm.lesson5_all(_suite(move=True), found[:1], figure_archs=("cnn",))
    assert len(with_more) == len(found) + 1  # extra findings (fine-tuning) join the same family


def test_lesson5_opposite_outcome_prints_the_opposite_verdict():
    up, _ = sm.lesson5_findings(_suite(move=True))
    flipped = [dict(r, score=1 - r["score"], val_score=1 - r["val_score"]) if r["task"] == "jigsaw" else r
               for r in _suite(move=True)]
    down, _ = sm.lesson5_findings(flipped)
    first_up = sm.verdict_rows(up)[0]
    first_down = [r for r in sm.verdict_rows(down) if r["question"].startswith("on scenes: jigsaw - random")][0]
    assert first_up["outcome"] == "better" and first_down["outcome"] == "worse"


def _lesson4_table(gain, initial_shift=0.05):
    """`_table(gain)` on two archs, a width-control arch, and the random network with initial statistics."""
    table = _table(gain)
    table += [dict(r, arch="resnet") for r in _table(gain)]
    table += [dict(r, arch="cnn@128") for r in _table(gain)]
    table += [dict(r, task=sm.INITIAL, accuracy=r["accuracy"] + (initial_shift if r["layer"] == "fc1" else 0.0))
              for r in _table(gain) if r["task"] == "random"]
    return table


def test_lesson4_questions_hold_one_primary_and_flip_with_the_data():
    up, down = sm.lesson4_questions(_lesson4_table(0.03, 0.05)), sm.lesson4_questions(_lesson4_table(-0.03, -0.05))
    names = [f.question.question for f in up]
    assert names == [f.question.question for f in down]
    assert names[0].startswith("rotation - random, cnn,")
    assert any(n.startswith("rotation - random, cnn@128: last layer's fall") for n in names)
    assert names.count(f"random (calibrated) - {sm.INITIAL}, fc1") == 1  # one row, the last layer's
    rows_up, rows_down = sm.verdict_rows(up), sm.verdict_rows(down)
    assert [r["role"] for r in rows_up].count("primary") == 1
    assert rows_up[0]["outcome"] == "better" and rows_down[0]["outcome"] == "worse"
    initial_up = next(r for r in rows_up if r["question"].startswith("random (calibrated)"))
    initial_down = next(r for r in rows_down if r["question"].startswith("random (calibrated)"))
    assert initial_up["outcome"] == "worse" and initial_down["outcome"] == "better"
    assert sm.table_text(up).splitlines()[1].rstrip().endswith("pretext better")
    assert sm.table_text(down).splitlines()[1].rstrip().endswith("pretext worse")


def test_the_width_study_is_one_question_in_its_own_unit():
    from pretext_lessons.experiments.budgets import WIDTH_STUDY

    def study(sign):
        rows, pretext = [], []
        for i, (arch, acc) in enumerate((("cnn-w4", 0.6), ("cnn-w8", 0.7), ("cnn", 0.8))):
            for seed in range(3):
                group = {} if arch == "cnn" else {"group": WIDTH_STUDY}  # the lesson's own width joins the study
                pretext.append(dict(task="relative_position", arch=arch, seed=seed, pretext_accuracy=acc + 0.01 * seed,
                                    width=(4, 8, 16)[i], **group))
                for split in range(2):
                    probe = 0.7 + sign * 0.02 * i + 0.001 * split
                    for depth, layer in enumerate(("conv1", "fc1"), start=1):
                        score = probe - 0.05 * (depth - 1)
                        rows.append(dict(task="relative_position", arch=arch, seed=seed, split=split, layer=layer,
                                         depth=depth, accuracy=score, val_accuracy=score, C=1.0, k=10))
        return rows, pretext

    up, down = sm.width_study_finding(*study(+1)), sm.width_study_finding(*study(-1))
    assert up.question.unit == "rank correlation" and up.question.scale == 1.0
    assert up.question.comparison.mean > 0.99 and down.question.comparison.mean < -0.99
    assert -1 <= down.question.comparison.low <= up.question.comparison.high <= 1
    findings = sm.lesson4_findings(_table(0.03)) + [up]
    fig = sm.plot_findings(findings)  # the rank correlation does not share the points axis
    assert len(fig.axes[0].get_yticklabels()) == len(findings) - 1


def test_taught_something_needs_both_references_and_flips_with_the_data():
    up = sm.taught_lines(sm.lesson4_findings(_table(0.03)))
    down = sm.taught_lines(sm.lesson4_findings(_table(-0.03)))
    assert up[0].startswith("rotation, cnn:") and up[0].endswith("taught something here")
    assert down[0].startswith("rotation, cnn:") and down[0].endswith("is not shown here")
    assert "jigsaw (cnn)" in up[-1] and "not asked" in up[-1]  # no control trained for jigsaw
    # better than random but not than the control: not "taught"
    table = [dict(r, accuracy=r["accuracy"] + 0.03, val_accuracy=r["val_accuracy"] + 0.03)
             if r["task"] == "no_signal-rotation" else r for r in _table(0.03)]
    assert sm.taught_lines(sm.lesson4_findings(table))[0].endswith("is not shown here")


def test_control_networks_give_every_task_its_control_unless_told_otherwise(monkeypatch):
    trained = []

    def fake_no_signal_net(task, arch, seed, preset, device=None, **budget):  # records the call instead of training
        trained.append((task.name, arch, seed, tuple(sorted(budget))))
        return torch.nn.Identity(), {}
    monkeypatch.setattr(sm, "no_signal_net", fake_no_signal_net)
    tasks = {"rotation": RotationTask(), "jigsaw": JigsawTask()}
    found = sm.control_networks(tasks, {"cnn": (0, 1), "resnet": (0,)})
    assert sorted((n.name, n.arch, n.seed) for n in found) == sorted(
        (f"no_signal-{t}", arch, s) for arch, seeds in (("cnn", (0, 1)), ("resnet", (0,))) for t in tasks for s in seeds)
    assert all(budget == ("num_epochs", "num_images") for *_, budget in trained)  # the matched budget, every time
    assert [n.name for n in sm.control_networks(tasks, {"cnn": (0,)}, control_tasks=("jigsaw",))] == ["no_signal-jigsaw"]
    with pytest.raises(ValueError, match="control_tasks must name tasks among"):
        sm.control_networks(tasks, {"cnn": (0,)}, control_tasks=("relative_position",))
