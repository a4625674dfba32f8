"""Lesson 4's budget study (experiments.budget_study): its summary, criterion and figure, from rows."""
import matplotlib

matplotlib.use("Agg")

import pytest  # noqa: E402

from pretext_lessons.experiments import budget_study as budget  # noqa: E402


def _rows(gain_by_images):
    rows = []
    for images, gain in gain_by_images.items():
        for seed in budget.STUDY_SEEDS[:3]:
            for split in budget.STUDY_SPLITS:
                noise = 0.004 * ((seed % 3) - 1) + 0.001 * (split - 5.5)
                rows.append(dict(task="rotation", images=images, epochs=3, seed=seed, split=split, k=10,
                                 pretext=0.7 + gain + noise, random=0.7, seconds=1.0))
    return rows


def test_the_criterion_picks_the_smallest_budget_that_shows():
    summary = budget.summarise(_rows({1000: 0.0, 4000: 0.02, 12000: 0.03}))
    assert [r["shows"] for r in summary] == [False, True, True]
    assert budget.smallest_showing(summary, 10)["images"] == 4000
    assert all(-100 <= r["low"] <= r["high"] <= 100 and len(r["seed_means"]) == 3 for r in summary)


def test_opposite_results_show_nothing_and_the_text_says_so():
    study = dict(settings={}, criterion=budget.CRITERION, rows=[], summary=budget.summarise(_rows({1000: -0.02})))
    assert budget.smallest_showing(study["summary"], 10) is None
    assert "no budget of the study shows" in budget.text(study)


def test_save_load_and_plot(tmp_path):
    rows = _rows({1000: 0.0, 4000: 0.02})
    study = dict(settings=dict(seeds=[100]), criterion=budget.CRITERION, rows=rows, summary=budget.summarise(rows))
    path = budget.save(study, tmp_path / "study.json")
    again = budget.load(path)
    assert again["summary"][1]["shows"] and budget.load(tmp_path / "none.json") is None
    assert budget.plot(again).axes
    (tmp_path / "bad.json").write_text("{}")
    with pytest.raises(ValueError, match="not a budget study"):
        budget.load(tmp_path / "bad.json")


def test_the_criterion_is_written_down_and_the_study_avoids_the_lessons_seeds():
    assert budget.CRITERION.startswith("CRITERION") and "above zero" in budget.CRITERION
    assert not set(budget.STUDY_SEEDS) & {0, 1, 2} and not set(budget.STUDY_SPLITS) & {0, 1, 2}


def test_the_quick_budget_line_follows_the_study_and_flips_with_it():
    shows = dict(settings={}, criterion=budget.CRITERION, rows=[], summary=budget.summarise(_rows({4000: 0.02})))
    hides = dict(settings={}, criterion=budget.CRITERION, rows=[], summary=budget.summarise(_rows({4000: -0.02})))
    up, down = budget.at_budget(shows, 4000, 3), budget.at_budget(hides, 4000, 3)
    assert len(up) == len(down) == 1
    assert up[0].endswith("shows by the criterion: rotation") and "no task shows" in down[0]
    assert "was not measured" in budget.at_budget(shows, 16000, 3)[0]
