"""The instructors' path of the README, run as written (issue 29), and every unanswered question's self-check.

`test_the_readme_instructor_commands_grade_a_class`: the README's instructor commands (section "For
instructors"), taken from the README itself between its `instructor-commands` markers, run with bash
from a temporary copy of the course (a fresh clone: no build/, only the venv linked in) on a class of
three (full, blank, partial) for exercises 1 and 4, through both graders; every grade is checked.
"""
import csv
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from pretext_lessons.grading.cells import grade_id, read_notebook
from pretext_lessons.notebook.execute import ROOT, execute_notebook, kernel_env

pytestmark = pytest.mark.slow

EXERCISES = ["01_rotation", "04_layer_alignment"]
MARKER = re.compile(r"<!-- instructor-commands: ([\w-]+) -->\n(.*?)<!-- /instructor-commands -->", re.S)


def readme_commands() -> dict:
    """The README's instructor command blocks by name (release, nbgrader, grade, merge): their shell lines."""
    blocks = {}
    for name, body in MARKER.findall((ROOT / "README.md").read_text()):
        lines = [line.strip() for line in body.splitlines() if line.startswith("    ") and line.strip()]
        blocks[name] = [line.split("  #")[0].strip() for line in lines if not line.strip().startswith("#")]
    return blocks


def test_the_readme_marks_its_instructor_commands():
    blocks = readme_commands()
    assert set(blocks) == {"release", "nbgrader", "grade", "merge", "nbgrader-grade"}, blocks
    assert all(blocks.values())


def _partial(source: Path, dest: Path, keep: str) -> None:
    """The solution with every answer cell but `keep`'s (and the student id) replaced by its released stub."""
    from pretext_lessons.grading.release import release_cell

    nb = read_notebook(source)
    for i, cell in enumerate(nb.cells):
        gid = grade_id(cell) or ""
        if cell.get("metadata", {}).get("nbgrader", {}).get("solution") and gid not in (keep, "student"):
            nb.cells[i] = release_cell(cell)
    import nbformat

    nbformat.write(nb, dest)


@pytest.fixture(scope="module")
def clone(tmp_path_factory):
    """A copy of the course as a fresh clone has it (tracked files; the venv linked), with the README's commands run."""
    root = tmp_path_factory.mktemp("clone") / "pretext-lessons"
    tracked = subprocess.run(["git", "ls-files"], cwd=ROOT, text=True, stdout=subprocess.PIPE, check=True).stdout
    for name in tracked.split():
        if (ROOT / name).is_file():
            (root / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(ROOT / name, root / name)
    (root / ".venv").symlink_to(Path(sys.prefix))
    blocks = readme_commands()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    # the clone's own package first: the venv's editable install may point at another checkout
    env = dict(env, PYTHONPATH=str(root), PATH=os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                                               if not p.startswith(sys.prefix)))
    log = []

    def bash(lines, cwd):
        script = "set -euo pipefail\n" + "\n".join(lines)
        done = subprocess.run(["bash", "-c", script], cwd=cwd, env=env, text=True, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, timeout=3000)
        log.append(done.stdout)
        assert done.returncode == 0, f"{lines} failed:\n{done.stdout[-4000:]}"
        return done.stdout

    def expand(lines):
        """A block's lines, those naming 01_rotation once per exercise, in place."""
        return [out for line in lines for out in ([line.replace("01_rotation", ex) for ex in EXERCISES]
                                                  if "01_rotation" in line else [line])]

    outputs = {"release": bash(blocks["release"], root), "nbgrader": bash(expand(blocks["nbgrader"]), root)}
    # the class hands in full marks, blank, and one question answered, per exercise, where collect puts them
    course = root.parent / "pretext-course"
    for ex in EXERCISES:
        source = root / "solutions" / f"{ex}.ipynb"
        for student in ("full", "blank", "partial"):
            folder = course / "submitted" / student / ex
            folder.mkdir(parents=True)
            if student == "full":
                shutil.copy(source, folder / f"{ex}.ipynb")
            elif student == "blank":
                shutil.copy(course / "release" / ex / f"{ex}.ipynb", folder / f"{ex}.ipynb")
            else:
                _partial(source, folder / f"{ex}.ipynb", "q1")
    for name in ("grade", "merge", "nbgrader-grade"):
        outputs[name] = bash(expand(blocks[name]), root)
    return root, course, outputs


def _nbgrader_scores(course: Path) -> dict:
    with open(course / "grades.csv") as f:
        return {(r["assignment"], r["student_id"]): (float(r["raw_score"]), float(r["max_score"]))
                for r in csv.DictReader(f)}


def test_both_graders_give_full_blank_and_partial_their_grades(clone):
    from pretext_lessons.grading.catalog import catalog

    root, course, _ = clone
    exercises = catalog(root / "solutions")
    ours = {}
    for report in (root / "build" / "grades").rglob("*.json"):
        data = json.loads(report.read_text())
        if "submission" in data:
            ours[(data["exercise"], data["student"])] = data
    rows = {(r["exercise"], r["student"]): r for r in csv.DictReader(open(root / "build" / "grades" / "all" /
                                                                           "gradebook.csv"))}
    theirs = _nbgrader_scores(course)
    for ex in EXERCISES:
        most = exercises[ex].auto_points
        q1 = exercises[ex].questions["q1"].auto_points
        manual = exercises[ex].manual_points
        expected = {"full": most, "blank": 0.0, "partial": q1}
        for student, points in expected.items():
            report = ours[(ex, student)]
            assert report["points"] == points and report["sandbox"] == "bubblewrap", (ex, student, report["questions"])
            row = rows[(ex, student)]
            assert float(row["points_earned"]) == points and float(row["points_autograded"]) == most
            # nbgrader's raw score counts the written answers too, ungraded (0) until graded by hand
            assert theirs[(ex, student)] == (points, most + manual), (ex, student, theirs)


def test_the_checksum_warnings_name_only_test_cells_with_hidden_tests(clone):
    """nbgrader warns for test cells whose hidden tests it removed (the README explains why); for no other cell."""
    from pretext_lessons.grading.cells import BEGIN_HIDDEN

    root, course, outputs = clone
    log = "\n".join(outputs.values())
    warned = set(re.findall(r"Checksum for grade cell (\S+) has changed", log))
    hidden = {grade_id(c) for ex in EXERCISES for c in read_notebook(root / "solutions" / f"{ex}.ipynb").cells
              if BEGIN_HIDDEN in c.source}
    assert warned <= hidden, warned - hidden


@pytest.mark.parametrize("exercise", sorted(p.stem for p in (ROOT / "exercises").glob("*.ipynb")))
def test_every_unanswered_question_self_checks_as_not_answered_yet(exercise, tmp_path):
    """The untouched release run top to bottom, then check() on every question: each says 'not answered yet'."""
    import nbformat

    nb = read_notebook(ROOT / "exercises" / f"{exercise}.ipynb")
    nb.cells.append(nbformat.v4.new_code_cell(
        "from pretext_lessons.grading import check\n"
        f"_result = check(exercise={exercise!r})\n"
        "for _q, _outs in _result.outcomes.items():\n"
        "    for _o in _outs:\n"
        "        print('SELF-CHECK', _q, _o.cell, _o.passed, _o.message.replace('\\n', ' '))\n"))
    path = tmp_path / f"{exercise}.ipynb"
    nbformat.write(nb, path)
    executed, _ = execute_notebook(path, allow_errors=True, timeout=600, env=kernel_env(PRETEXT_LESSONS_GRADING="1"))
    text = "".join(o.get("text", "") for o in executed.cells[-1].outputs)
    lines = [line for line in text.splitlines() if line.startswith("SELF-CHECK")]
    assert lines, executed.cells[-1].outputs
    wrong = [line for line in lines if " True " in line or "not answered yet" not in line]
    assert wrong == []
