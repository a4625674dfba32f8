"""Lesson 2: the shortcut and permutation-set studies (tiny budgets: the lesson runs the real ones)."""
import matplotlib
import pytest

from pretext_lessons.core.stats import is_verdict_sentence
from pretext_lessons.experiments import jigsaw_study
from pretext_lessons.tasks.jigsaw import JigsawTask

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def test_conditions_change_one_thing_and_keep_the_tile_size():
    shortcut = jigsaw_study.shortcut_conditions()
    standard = shortcut[jigsaw_study.STANDARD]
    assert {t.tile for t in shortcut.values()} == {standard.tile}
    no_gap = shortcut["no gap, no jitter"]
    assert (no_gap.gap, no_gap.jitter) == (0, 0) and no_gap.normalize
    assert shortcut["no per-tile normalisation"].normalize is False
    sets = jigsaw_study.permutation_conditions()
    assert sorted(t.num_classes for t in sets.values()) == [10, 100, 100, 1000]
    assert sets["100, greedy"].config() == standard.config()  # the same networks: loaded, not trained twice
    assert sets["100, random"].criterion == "random"


@pytest.mark.slow
def test_a_tiny_study_trains_probes_decides_and_plots(monkeypatch):
    monkeypatch.setenv("PRETEXT_LESSONS_GRADING", "1")  # the tiny grading preset
    conditions = {"a": JigsawTask(num_classes=10), "b": JigsawTask(num_classes=10, gap=0, jitter=0)}
    study = jigsaw_study.run_study(conditions, seeds=(0, 1), k=2, layers=("conv2", "fc1"), log=None,
                                   num_images=256, num_epochs=1)
    assert set(study.pretext) == {"a", "b"} and all(len(v) == 2 for v in study.pretext.values())
    assert study.chance == {"a": 0.1, "b": 0.1}
    assert len(study.probe_by_seed("a")) == 2 and len(study.probe_by_seed("random")) == 2
    for v in (jigsaw_study.pretext_verdict(study, "a", "b", "higher", "lower"),
              jigsaw_study.probe_verdict(study, "a", "b", "better", "worse")):
        assert is_verdict_sentence(v.sentence) and "2 seeds" in v.sentence
        expected = {"better": "this run agrees with the paper", "worse": "this run finds the opposite",
                    "not shown": "this run cannot tell (no difference shown at this size)"}[v.outcome]
        assert jigsaw_study.agreement(v, "better") == expected
        assert v.outcome == "not shown" or jigsaw_study.agreement(v, "worse") != expected  # the paper's direction counts
    assert "256 unlabelled images" in jigsaw_study.budget_text(study)
    assert "random" in jigsaw_study.study_table_text(study)
    fig = jigsaw_study.plot_study(study, "tiny")
    assert len(fig.axes) == 2
    plt.close(fig)
    # a second run loads every network from the checkpoint cache: the same pretext accuracies
    again = jigsaw_study.run_study(conditions, seeds=(0, 1), k=2, layers=("conv2", "fc1"), log=None,
                                   num_images=256, num_epochs=1)
    assert again.pretext == study.pretext
    # a second study reuses the conditions and random weights measured already: the same rows, no new probe
    other = jigsaw_study.run_study({"a again": JigsawTask(num_classes=10), "c": JigsawTask(num_classes=10, jitter=0)},
                                   seeds=(0, 1), k=2, layers=("conv2", "fc1"), log=None, reuse=study,
                                   num_images=256, num_epochs=1)
    assert other.pretext["a again"] == study.pretext["a"]
    strip = lambda rows, name: sorted((r["seed"], r["layer"], r["accuracy"]) for r in rows if r["task"] == name)  # noqa: E731
    assert strip(other.rows, "a again") == strip(study.rows, "a")
    assert strip(other.rows, "random") == strip(study.rows, "random") and strip(other.rows, "c")


def test_agreement_and_bad_input():
    class V:
        outcome = "worse"
    assert jigsaw_study.agreement(V, "worse") == "this run agrees with the paper"
    assert jigsaw_study.agreement(V, "better") == "this run finds the opposite"
    for outcome in ("better", "worse", "not shown"):  # every outcome against both directions of the paper
        for paper in ("better", "worse"):
            expected = ("this run cannot tell (no difference shown at this size)" if outcome == "not shown" else
                        "this run agrees with the paper" if outcome == paper else "this run finds the opposite")
            assert jigsaw_study.agreement(type("V", (), {"outcome": outcome}), paper) == expected, (outcome, paper)
    with pytest.raises(ValueError, match="paper must be"):
        jigsaw_study.agreement(V, "up")
    with pytest.raises(TypeError, match="conditions must map names to JigsawTask"):
        jigsaw_study.run_study({"x": object()})


def test_the_chance_verdict_pairs_each_seed_with_the_chance_level():
    study = jigsaw_study.Study({"learned": JigsawTask(num_classes=10), "guessing": JigsawTask(num_classes=10)},
                               (0, 1, 2), 10, [], {"learned": [0.90, 0.85, 0.95], "guessing": [0.11, 0.09, 0.10]},
                               {"learned": 0.1, "guessing": 0.1}, {})
    learned, guessing = jigsaw_study.chance_verdict(study, "learned"), jigsaw_study.chance_verdict(study, "guessing")
    assert learned.outcome == "better" and "learned above chance" in learned.sentence
    assert guessing.outcome == "not shown" and is_verdict_sentence(guessing.sentence) and "3 seeds" in guessing.sentence
    with pytest.raises(ValueError, match="name must be one of"):
        jigsaw_study.chance_verdict(study, "other")


def test_agreement_reads_the_verdict_against_the_paper_s_direction():
    from pretext_lessons.core.stats import compare

    better = compare([0.6, 0.7, 0.65], [0.5, 0.6, 0.56], "a vs b")
    worse = compare([0.5, 0.6, 0.56], [0.6, 0.7, 0.65], "a vs b")
    unclear = compare([0.6, 0.5, 0.7], [0.5, 0.6, 0.7], "a vs b")
    assert (better.outcome, worse.outcome, unclear.outcome) == ("better", "worse", "not shown")
    assert jigsaw_study.agreement(better, "better") == "this run agrees with the paper"
    assert jigsaw_study.agreement(worse, "better") == "this run finds the opposite"
    assert jigsaw_study.agreement(worse, "worse") == "this run agrees with the paper"
    assert jigsaw_study.agreement(unclear, "worse") == "this run cannot tell (no difference shown at this size)"
