"""Shared test set-up: a private checkpoint cache, headless matplotlib, the course's data, the graded course."""
import os
from pathlib import Path

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session", autouse=True)
def private_checkpoints(tmp_path_factory):
    """Each test session trains into its own checkpoint folder (kernels started by tests inherit it)."""
    if "PRETEXT_LESSONS_CHECKPOINTS" not in os.environ:
        os.environ["PRETEXT_LESSONS_CHECKPOINTS"] = str(tmp_path_factory.mktemp("checkpoints"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    yield


def sandbox_for_tests() -> bool:
    """The grader's sandbox where bubblewrap works; without it, unsandboxed outside CI (under CI=true: required)."""
    from pretext_lessons.grading.sandbox import bwrap_status

    in_ci = os.environ.get("CI", "").lower() not in ("", "0", "false")
    return bwrap_status()[0] is not None or in_ci


@pytest.fixture(scope="session")
def graded_course(tmp_path_factory):
    """Every solutions notebook and its untouched release graded once by our grader, executed copies kept.

    Shared by the tests that need a solution executed (tests/test_notebooks.py reads the executed
    notebooks, tests/test_grading.py the scores), so each solution runs once per session here;
    (exercise, released) -> report, with report["executed"] the executed notebook's path.
    """
    from pretext_lessons.grading import grade, release
    from pretext_lessons.grading.release import SOLUTIONS

    sources = sorted(SOLUTIONS.glob("*.ipynb"))
    if not sources:
        return {}
    released = tmp_path_factory.mktemp("exercises")
    release(SOLUTIONS, released)
    executed = tmp_path_factory.mktemp("executed")
    paths = [p for s in sources for p in (s, released / s.name)]
    reports = grade(paths, jobs=2, cell_timeout=300, timeout=900, executed_dir=executed, sandbox=sandbox_for_tests())
    return {(Path(r["submission"]).stem, Path(r["submission"]).parent == released): r for r in reports}


@pytest.fixture(scope="session")
def released_toy(tmp_path_factory):
    """The grading tests' toy exercise (tests/fixtures/grading) released as a student gets it: its path."""
    from pretext_lessons.grading import release

    out = tmp_path_factory.mktemp("released_toy")
    release(Path(__file__).parent / "fixtures" / "grading" / "solutions", out)
    return out / "90_toy.ipynb"
