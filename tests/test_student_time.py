"""The syllabus's student-time column is the estimate of scripts/student_time.py, kept in sync."""
import importlib.util
import json
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
spec = importlib.util.spec_from_file_location("student_time", ROOT / "scripts" / "student_time.py")
student_time = importlib.util.module_from_spec(spec)
spec.loader.exec_module(student_time)


def test_readme_syllabus_has_the_scripts_student_time_column():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert student_time.HEADER in readme
    assert student_time.rewrite(readme) == readme, "run: python scripts/student_time.py --write"


def lesson(tmp_path, words, code_lines, points):
    for folder in ("notebooks", "solutions"):
        (tmp_path / folder).mkdir(exist_ok=True)
    cells = [{"cell_type": "markdown", "metadata": {}, "source": " ".join(["word"] * words)},
             {"cell_type": "code", "metadata": {}, "source": "x = 1\n" * code_lines}]
    (tmp_path / "notebooks" / "00_x.ipynb").write_text(json.dumps({"cells": cells}))
    graded = {"cell_type": "code", "source": "",
              "metadata": {"nbgrader": {"grade": True, "points": points}}}
    (tmp_path / "solutions" / "00_x.ipynb").write_text(json.dumps({"cells": [graded]}))
    return student_time.estimate("00_x", tmp_path)


def test_estimate_follows_words_code_and_points(tmp_path):
    e = lesson(tmp_path, student_time.READING_WPM * 10, 40, 5)
    assert e["lesson"] == pytest.approx(10 + 40 * student_time.CODE_SECONDS_PER_LINE / 60)
    assert e["exercises"] == pytest.approx(5 * student_time.MINUTES_PER_POINT)
    more = lesson(tmp_path, student_time.READING_WPM * 20, 40, 7)
    assert more["lesson"] > e["lesson"] and more["exercises"] > e["exercises"]


def test_unknown_lesson_names_the_argument(tmp_path):
    with pytest.raises(FileNotFoundError, match="name must name a lesson"):
        student_time.estimate("99_nothing", tmp_path)


def test_a_lesson_in_two_parts_shares_its_exercise_notebook_by_part(tmp_path):
    for folder in ("notebooks", "solutions"):
        (tmp_path / folder).mkdir()
    prose = {"cell_type": "markdown", "metadata": {}, "source": "word " * 10}
    for name in ("03_a", "03b_b"):
        (tmp_path / "notebooks" / f"{name}.ipynb").write_text(json.dumps({"cells": [prose]}))

    def graded(points):
        return {"cell_type": "code", "source": "", "metadata": {"nbgrader": {"grade": True, "points": points}}}

    part = lambda letter: {"cell_type": "markdown", "metadata": {}, "source": f"# Part {letter}: x"}  # noqa: E731
    cells = [graded(1), part("A"), graded(2), part("B"), graded(4)]
    (tmp_path / "solutions" / "03_a.ipynb").write_text(json.dumps({"cells": cells}))
    assert student_time.estimate("03_a", tmp_path)["points"] == 3  # part A and the cells before it
    assert student_time.estimate("03b_b", tmp_path)["points"] == 4
    assert student_time.lessons(tmp_path) == ["03_a", "03b_b"]
