"""Each exercise's graded items: kind, points and the issue's bars, read from the solutions' cell metadata (issue 16)."""
import pytest

from pretext_lessons.__main__ import main
from pretext_lessons.grading.catalog import catalog
from pretext_lessons.grading.cells import ITEM_KINDS, item_kind

EXERCISES = catalog()
OVER_THE_BAR = set()  # exercises known to fail the one-third bar (none): each is marked as an expected failure


def test_every_graded_cell_names_its_kind():
    for name, ex in EXERCISES.items():
        items = ex.items()
        assert sum(i["points"] for i in items) == ex.auto_points + ex.manual_points, name
        assert all(i["kind"] in ITEM_KINDS for i in items), name


def test_a_graded_cell_without_a_kind_is_named():
    cell = {"cell_type": "code", "metadata": {"nbgrader": {"grade_id": "q9_tests", "grade": True, "points": 1}}}
    with pytest.raises(ValueError, match=r"graded cell 'q9_tests' must have metadata 'pretext_lessons'"):
        item_kind(cell)
    cell["metadata"]["pretext_lessons"] = {"kind": "plumbing", "needs_idea": False}
    with pytest.raises(ValueError, match="'kind' one of"):
        item_kind(cell)


def test_the_course_asks_every_kind_of_question():
    assert set().union(*(ex.balance()["kinds"] for ex in EXERCISES.values())) == set(ITEM_KINDS)


@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_each_lesson_meets_the_issues_bars(name):
    b = EXERCISES[name].balance()
    assert b["points"] >= 10, b
    assert b["auto_share"] >= 0.5, b
    assert len(b["kinds"]) >= 2, b
    if name in OVER_THE_BAR:
        pytest.xfail(f"{name}: {b['without_idea_points']:g} of {b['auto_points']:g} autograded points pass without "
                     f"the lesson's idea")
    assert b["without_idea_share"] <= 1 / 3 + 1e-12, b


def test_the_questions_command_lists_each_item_and_the_shares(capsys):
    assert main(["questions"]) == 0
    out = capsys.readouterr().out
    for name, ex in EXERCISES.items():
        assert f"\n{name}: " in f"\n{out}"
        items = out.split(f"{name}: ", 1)[1].split("\n")[1]
        assert all(f"{i['grade_id']} {i['kind']} {i['points']:g}" in items for i in ex.items()), items
    assert out.count("autograded without the lesson's idea") == len(EXERCISES)
