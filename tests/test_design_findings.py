"""Lesson 6's findings: each check over seeds becomes one row of the table, decided by the course's helper."""
import pytest

from pretext_lessons.experiments import design_findings as df
from pretext_lessons.experiments.summary import verdict_rows

SEEDS = (0, 1, 2, 3)


def edge(touching, gap):
    return {"touching, normalised tiles": touching, "touching, raw tiles": [v + 0.05 for v in touching],
            "gap + jitter, normalised tiles": gap, "gap + jitter, raw tiles": gap}


def outcomes(findings):
    return {r["question"]: r["outcome"] for r in verdict_rows(findings, primary=None)}


def test_edge_findings_follow_the_data_both_ways():
    high = outcomes(df.edge_findings(edge([0.9, 0.92, 0.88, 0.91], [0.30, 0.31, 0.29, 0.30]), SEEDS, 1 / 100))
    low = outcomes(df.edge_findings(edge([0.20, 0.21, 0.19, 0.2], [0.30, 0.31, 0.29, 0.30]), SEEDS, 1 / 100))
    q = "edge solver, normalised tiles: touching minus gap + jitter"
    assert (high[q], low[q]) == ("better", "worse")
    assert high["edge solver, lesson 2's puzzles minus chance"] == "better"


def test_lens_findings_compare_every_condition_with_the_lens_and_gray_with_chance():
    results = {"aberration": [0.6, 0.62, 0.58], "projection": [0.12, 0.1, 0.11], "gray": [0.11, 0.12, 0.1]}
    got = outcomes(df.lens_findings(results, (0, 1, 2)))
    assert got["cell classifier, photos: lens minus chance"] == "better"
    assert got["cell classifier, photos: projection minus lens"] == "worse"
    assert "cell classifier, photos: lens in gray minus chance" in got


def test_one_seed_decides_nothing_and_bad_input_is_named():
    assert df.low_level_findings("dimming", [0.9], (0,), 0.25) == []
    with pytest.raises(ValueError, match="aberration"):
        df.lens_findings({"projection": [0.1, 0.2]}, (0, 1))
    with pytest.raises(ValueError, match="one value per seed"):
        df.per_seed([0.1, 0.2], (0,))
