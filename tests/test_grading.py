"""Exercises and grading: release, metadata validation, self-check, our grader (issue 3)."""
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import nbformat
import pytest
import torch

from pretext_lessons.__main__ import main
from pretext_lessons.notebook.checks import expect, expect_close, expect_tensor
from pretext_lessons.grading import ExerciseFormatError, check, grade, out_of_sync, release, release_notebook
from pretext_lessons.grading import selfcheck
from pretext_lessons.grading.cells import (grade_id, questions, read_notebook, uses_student_id, validate,
                                           with_student_id)
from pretext_lessons.grading.nbgrader_course import make_course
from pretext_lessons.grading.release import SOLUTIONS, notebook_text
from pretext_lessons.grading.report import summary
from pretext_lessons.grading.scoring import MAX_MESSAGE, redact

FIXTURES = Path(__file__).parent / "fixtures" / "grading" / "solutions"
TOY = FIXTURES / "90_toy.ipynb"
OTHER = FIXTURES / "91_other.ipynb"
EXERCISE_NOTEBOOKS = sorted(SOLUTIONS.glob("*.ipynb"))
# generous: a busy laptop may take many seconds just to import torch in a fresh kernel
CELL_TIMEOUT, NOTEBOOK_TIMEOUT = 40, 400


def toy():
    return read_notebook(TOY)


def cell_of(nb, gid):
    return next(c for c in nb.cells if grade_id(c) == gid)


def hidden_lines(nb):
    lines, inside = [], False
    for c in nb.cells:
        for line in c.source.split("\n"):
            if "BEGIN HIDDEN TESTS" in line:
                inside = True
            elif "END HIDDEN TESTS" in line:
                inside = False
            elif inside and line.strip():
                lines.append(line.strip())
    return lines


# ---------- release ----------

def test_release_replaces_code_solutions_with_an_indented_stub():
    out = release_notebook(toy())
    q1 = cell_of(out, "q1").source
    assert "    # YOUR CODE HERE\n    raise NotImplementedError()" in q1
    assert "bincount" not in q1 and "BEGIN SOLUTION" not in q1
    assert q1.startswith("def count_labels(y, num_classes):")  # the code around the region stays


def test_release_replaces_written_answers_and_keeps_the_prompt():
    written = cell_of(release_notebook(toy()), "q3_written").source
    assert "YOUR ANSWER HERE" in written and "undecidable" not in written
    assert written.startswith("**q3.**")


def test_release_removes_hidden_tests_and_keeps_visible_ones():
    out = release_notebook(toy())
    text = notebook_text(out)
    for line in hidden_lines(toy()):
        assert line not in text
    assert "expect_tensor(flip_batch(torch.zeros(2, 1, 3, 3))" in cell_of(out, "q2_hidden").source
    assert "HIDDEN TESTS" not in text


def test_release_clears_outputs_and_keeps_metadata():
    nb = toy()
    q1_tests = cell_of(nb, "q1_tests")
    q1_tests.outputs = [nbformat.v4.new_output("stream", text="hello")]
    q1_tests.execution_count = 7
    q1_tests.metadata["scrolled"] = True
    out = release_notebook(nb)
    for before, after in zip(nb.cells, out.cells):
        assert after.get("id") == before.get("id")
        kept = {k: v for k, v in after.metadata["nbgrader"].items() if k not in ("checksum", "cell_type")}
        assert kept == before.metadata["nbgrader"]
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
    assert "scrolled" not in cell_of(out, "q1_tests").metadata
    assert cell_of(out, "q1_tests").metadata["editable"] is False
    assert q1_tests.outputs, "the solutions notebook itself must stay untouched"


def test_release_is_deterministic_and_removes_stale_notebooks(tmp_path):
    first = release(FIXTURES, tmp_path / "a")
    (tmp_path / "b").mkdir()
    (tmp_path / "b" / "99_gone.ipynb").write_text("{}")
    second = release(FIXTURES, tmp_path / "b")
    assert [p.name for p in first] == [p.name for p in second] == ["90_toy.ipynb", "91_other.ipynb"]
    for a, b in zip(first, second):
        assert a.read_bytes() == b.read_bytes()
    assert not (tmp_path / "b" / "99_gone.ipynb").exists()


def test_out_of_sync_names_each_difference(tmp_path):
    src, out = tmp_path / "solutions", tmp_path / "exercises"
    shutil.copytree(FIXTURES, src)
    release(src, out)
    assert out_of_sync(src, out) == []
    nb = read_notebook(src / "90_toy.ipynb")
    cell_of(nb, "q1_tests").source += "\nexpect(True, 'one more check')"
    nbformat.write(nb, src / "90_toy.ipynb")
    (out / "91_other.ipynb").unlink()
    (out / "92_extra.ipynb").write_text("{}")
    problems = out_of_sync(src, out)
    assert any(p.startswith("90_toy.ipynb: differs") for p in problems)
    assert any(p.startswith("91_other.ipynb: missing") for p in problems)
    assert any(p.startswith("92_extra.ipynb: has no solution") for p in problems)
    assert main(["release", "--check", "--solutions", str(src), "--exercises", str(out)]) == 1
    assert main(["release", "--solutions", str(src), "--exercises", str(out)]) == 0
    assert main(["release", "--check", "--solutions", str(src), "--exercises", str(out)]) == 0


def test_exercises_folder_is_in_sync_with_solutions():
    problems = out_of_sync()
    assert not problems, ("exercises/ is out of sync with solutions/; run  python -m pretext_lessons release\n"
                          + "\n".join(problems))


# ---------- metadata validation ----------

def _set(gid, **changes):
    def change(nb):
        cell_of(nb, gid).metadata["nbgrader"].update(changes)
    return change


def _source(gid, text):
    def change(nb):
        cell_of(nb, gid).source = text
    return change


def _drop(gid, key):
    def change(nb):
        del cell_of(nb, gid).metadata["nbgrader"][key]
    return change


FAULTS = {
    "schema_version": (_set("q1", schema_version=2), "cell 3 (q1): schema_version must be 3"),
    "duplicate grade_id": (_set("q2", grade_id="q1"), "cell 6 (q1): grade_id already used by cell 3"),
    "points missing": (_drop("q1_tests", "points"), "cell 4 (q1_tests): a graded cell needs positive points"),
    "points zero": (_set("q2_tests", points=0), "cell 7 (q2_tests): a graded cell needs positive points"),
    "required key": (_drop("q2", "locked"), "cell 6 (q2): nbgrader metadata lacks locked"),
    "grade_id characters": (_set("setup", grade_id="set up!"), "cell 1 (set up!): grade_id must be letters"),
    "solution never closed": (_source("q1", "def f():\n    ### BEGIN SOLUTION\n    return 1"),
                              "cell 3 (q1): '### BEGIN SOLUTION' is never closed"),
    "end without begin": (_source("q1", "def f():\n    return 1\n    ### END SOLUTION"),
                          "cell 3 (q1): line 3: '### END SOLUTION' without a '### BEGIN SOLUTION'"),
    "nested solution": (_source("q1", "### BEGIN SOLUTION\n### BEGIN SOLUTION\nx = 1\n### END SOLUTION"),
                        "cell 3 (q1): line 2: '### BEGIN SOLUTION' inside an open region"),
    "hidden never closed": (_source("q1_tests", "f()\n### BEGIN HIDDEN TESTS\nf()"),
                            "cell 4 (q1_tests): '### BEGIN HIDDEN TESTS' is never closed"),
    "solution in a test cell": (_source("q1_tests", "### BEGIN SOLUTION\nf()\n### END SOLUTION"),
                                "cell 4 (q1_tests): '### BEGIN SOLUTION' in a cell that is not an answer cell"),
    "hidden in an ungraded cell": (_source("setup", "import torch\n### BEGIN HIDDEN TESTS\nx = 1\n### END HIDDEN TESTS"),
                                   "cell 1 (setup): '### BEGIN HIDDEN TESTS' in a cell that is not graded"),
    "test without visible code": (_source("q2_hidden", "# kept back\n### BEGIN HIDDEN TESTS\nf()\n### END HIDDEN TESTS"),
                                  "cell 8 (q2_hidden): a test cell with no visible code"),
    "locked answer": (_set("q1", locked=True), "cell 3 (q1): an answer cell must not be locked"),
}


@pytest.mark.parametrize("fault", sorted(FAULTS))
def test_validation_names_notebook_cell_and_problem(fault):
    change, expected = FAULTS[fault]
    nb = toy()
    change(nb)
    with pytest.raises(ExerciseFormatError) as err:
        release_notebook(nb, "90_toy.ipynb")
    assert f"90_toy.ipynb: {expected}" in str(err.value)


def test_validation_reports_every_problem_at_once():
    nb = toy()
    _set("q1", schema_version=1)(nb)
    _drop("q2_tests", "points")(nb)
    with pytest.raises(ExerciseFormatError) as err:
        validate(nb, "toy")
    assert len(err.value.problems) == 2


def test_validation_rejects_markers_without_metadata_and_notebooks_without_grades():
    nb = toy()
    del cell_of(nb, "q1").metadata["nbgrader"]
    with pytest.raises(ExerciseFormatError, match=r"cell 3: has solution or hidden-test markers but no nbgrader"):
        validate(nb, "toy")
    empty = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# nothing")])
    with pytest.raises(ExerciseFormatError, match="no graded cell"):
        validate(empty, "empty")


def test_release_refuses_an_invalid_solutions_folder(tmp_path):
    nb = toy()
    _set("q1", schema_version=2)(nb)
    nbformat.write(nb, tmp_path / "90_toy.ipynb")
    with pytest.raises(ExerciseFormatError, match="90_toy.ipynb: cell 3"):
        release(tmp_path, tmp_path / "out")
    assert not (tmp_path / "out").exists()
    assert main(["release", "--solutions", str(tmp_path), "--exercises", str(tmp_path / "out")]) == 2


def test_release_needs_an_existing_solutions_folder(tmp_path):
    with pytest.raises(FileNotFoundError, match="solutions must be a folder"):
        release(tmp_path / "nowhere", tmp_path / "out")


# ---------- every exercise notebook ----------

def _first_cell_problems(path):
    nb = read_notebook(path)
    first = nb.cells[0]
    problems = [] if first.cell_type == "markdown" else ["the first cell is not markdown"]
    for name, q in questions(nb).items():
        rows = [line for line in first.source.lower().split("\n") if re.search(rf"\b{name}\b", line)]
        if not any(f"{q.points:g}" in row for row in rows):
            problems.append(f"the first cell does not state {name}'s {q.points:g} points")
    if "check(" not in first.source:
        problems.append("the first cell does not show how to self-check (check(...))")
    return problems


@pytest.mark.parametrize("path", [TOY] + EXERCISE_NOTEBOOKS, ids=lambda p: p.stem)
def test_first_cell_states_points_per_question_and_self_check(path):
    assert _first_cell_problems(path) == []


# ---------- self-check ----------

def _student_namespace(**answers):
    ns = {"torch": torch, "expect": expect, "expect_close": expect_close, "expect_tensor": expect_tensor}
    ns.update(answers)
    return ns


def test_check_passes_correct_answers(released_toy):
    ns = _student_namespace(count_labels=lambda y, n: torch.bincount(y, minlength=n), flip_batch=lambda X: X.flip(-1))
    result = check(exercise=released_toy, namespace=ns)
    assert result.passed, repr(result)
    assert "q1: passes its visible tests" in repr(result)
    assert "q3: nothing to check here; it is graded by hand" in repr(result)


def test_check_gives_actionable_messages(released_toy):
    ns = _student_namespace(count_labels=lambda y, n: torch.bincount(y, minlength=n).float(),
                            flip_batch=lambda X: X.flip(-2))
    result = check(exercise=released_toy, namespace=ns)
    text = repr(result)
    assert not result.passed
    assert "q1_tests: count_labels(...): expected dtype torch.int64, got torch.float32" in text
    assert "q2_tests: flip_batch(X): differs from the expected values" in text


def test_check_explains_unanswered_and_undefined(released_toy):
    def stub(X):
        raise NotImplementedError()

    text = repr(check("q2", released_toy, namespace=_student_namespace(flip_batch=stub)))
    assert "not answered yet" in text and "q1" not in text
    text = repr(check("q1", released_toy, namespace=_student_namespace()))
    assert "not answered yet: name 'count_labels' is not defined; set it in the answer cell" in text


def test_check_points_at_the_students_line(released_toy):
    def count_labels(y, n):
        return torch.bincount(y, minlength="four")

    text = repr(check("q1", released_toy, namespace=_student_namespace(count_labels=count_labels)))
    assert "your code raised TypeError" in text and "in count_labels, line" in text


def test_check_runs_visible_tests_only_and_leaves_the_namespace_alone(released_toy):
    # flipping twice is not the identity for this answer, which only the hidden test checks
    def flip_batch(X):
        return X.flip(-1) if X.shape[-1] == 3 else X * 0

    ns = _student_namespace(flip_batch=flip_batch, X="the student's own X")
    result = check("q2", released_toy, namespace=ns)
    assert result.passed, repr(result)
    assert ns["X"] == "the student's own X"
    assert "hidden tests may check more" in repr(result)


def test_check_finds_the_notebook_from_the_session(released_toy, monkeypatch):
    monkeypatch.setattr(selfcheck, "EXERCISES", released_toy.parent)
    ns = _student_namespace(count_labels=lambda y, n: torch.bincount(y, minlength=n))
    for session in ("/home/student/course/exercises/90_toy.ipynb", "exercises/90_toy-Copy1.ipynb"):
        monkeypatch.setenv("JPY_SESSION_NAME", session)
        result = check("q1", namespace=ns)
        assert result.passed and result.exercise == "90_toy"
    assert check("q1", "90_toy", namespace=ns).passed


def test_check_rejects_bad_arguments(released_toy, monkeypatch):
    monkeypatch.setattr(selfcheck, "EXERCISES", released_toy.parent)
    monkeypatch.delenv("JPY_SESSION_NAME", raising=False)
    with pytest.raises(ValueError, match=r"question must be one of \['q1', 'q2', 'q3'\].*got 'q9'"):
        check("q9", released_toy, namespace={})
    with pytest.raises(TypeError, match="question must be a question name like 'q1', got int"):
        check(1, released_toy, namespace={})
    with pytest.raises(ValueError, match=r"exercise must be one of \['90_toy', '91_other'\], got 'nope'"):
        check("q1", "nope", namespace={})
    with pytest.raises(TypeError, match="exercise must be an exercise name.*got int"):
        check("q1", 5, namespace={})
    with pytest.raises(ValueError, match="exercise must be given"):
        check("q1", namespace={})
    with pytest.raises(TypeError, match="namespace must be a dict of variables, got list"):
        check("q1", released_toy, namespace=[])


# ---------- the grader ----------

def _answer(nb, gid, body):
    cell_of(nb, gid).source = body


def _write(nb, path):
    path.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, path)
    return path


WRONG_COUNT = "def count_labels(y, num_classes):\n    return torch.zeros(num_classes, dtype=torch.int64)"
RIGHT_FLIP = "def flip_batch(X):\n    return X.flip(-1)"


def _submissions(folder: Path, released: Path) -> dict:
    """One submission per way a notebook can go wrong, named by what it tests."""
    subs = {"solution": _write(toy(), folder / "ann" / "90_toy.ipynb")}
    subs["untouched"] = Path(shutil.copy(released, folder / "ben-90_toy.ipynb"))

    nb = read_notebook(released)
    # an endless loop that even swallows the interrupt: the kernel has to be restarted
    _answer(nb, "q1", "def count_labels(y, num_classes):\n    import time\n    while True:\n        try:\n"
                      "            time.sleep(0.1)\n        except BaseException:\n            pass")
    _answer(nb, "q2", RIGHT_FLIP)
    subs["loop"] = _write(nb, folder / "cam-90_toy.ipynb")

    nb = read_notebook(released)  # tests edited and deleted, a helper cell of the student's own
    _answer(nb, "q1", WRONG_COUNT)
    cell_of(nb, "q1_tests").source = "pass  # tests? what tests?"
    nb.cells.remove(cell_of(nb, "q2_tests"))
    helper = nbformat.v4.new_code_cell("def mirror(X):\n    return X.flip(-1)")
    nb.cells.insert(nb.cells.index(cell_of(nb, "q2")), helper)
    _answer(nb, "q2", "def flip_batch(X):\n    return mirror(X)")
    cell_of(nb, "q3_written").source = "**q3.** ...\n\nA flipped photo still looks like a photo."
    subs["tampered"] = _write(nb, folder / "dee-90_toy.ipynb")

    nb = read_notebook(released)  # an exception, and a question's answer cell deleted
    nb.cells.remove(cell_of(nb, "q1"))
    _answer(nb, "q2", "def flip_batch(X):\n    raise ValueError('boom: I give up')")
    subs["exception"] = _write(nb, folder / "eve-90_toy.ipynb")

    nb = read_notebook(released)  # the kernel dies in q1; q2 tries to print the hidden test's code
    _answer(nb, "q1", "def count_labels(y, num_classes):\n    import os\n    os._exit(3)")
    _answer(nb, "q2", "def flip_batch(X):\n    import inspect\n    if not X.any():\n        return X\n"
                      "    raise ValueError(''.join(''.join(f.code_context or []) for f in inspect.stack()))")
    subs["crash_and_peek"] = _write(nb, folder / "fay-90_toy.ipynb")

    subs["not_json"] = folder / "gil-90_toy.ipynb"
    subs["not_json"].write_text('{"cells": [ this is not json')
    subs["wrong_exercise"] = Path(shutil.copy(OTHER, folder / "hal-90_toy.ipynb"))
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print('my holiday photos')")])
    subs["unknown"] = _write(nb, folder / "ivy.ipynb")
    return subs


@pytest.fixture(scope="module")
def graded(tmp_path_factory, released_toy):
    folder = tmp_path_factory.mktemp("submissions")
    subs = _submissions(folder, released_toy)
    out = tmp_path_factory.mktemp("reports")
    reports = grade(list(subs.values()), out=out, jobs=2, solutions=FIXTURES,
                    cell_timeout=CELL_TIMEOUT, timeout=NOTEBOOK_TIMEOUT)
    return dict(zip(subs, reports)), out


@pytest.mark.slow
def test_grader_gives_the_solution_full_marks_and_the_release_zero(graded):
    reports, _ = graded
    full, zero = reports["solution"], reports["untouched"]
    assert full["status"] == zero["status"] == "graded"
    assert full["points"] == full["auto_points"] == 5 and full["notes"] == []
    assert full["questions"]["q3"]["status"] == "pending" and full["pending_points"] == 2
    assert zero["points"] == 0 and zero["notes"] == []
    assert zero["questions"]["q1"]["failures"][0]["message"].startswith("not answered yet")
    assert zero["questions"]["q3"]["status"] == "unanswered" and zero["pending_points"] == 0
    assert (full["student"], zero["student"]) == ("ann", "ben")


@pytest.mark.slow
def test_grader_stops_an_infinite_loop_and_grades_the_rest(graded):
    report = graded[0]["loop"]
    q1, q2 = report["questions"]["q1"], report["questions"]["q2"]
    assert q1["points"] == 0 and f"longer than {CELL_TIMEOUT} s" in q1["failures"][0]["message"]
    assert q2["points"] == 3 and q2["status"] == "passed"


@pytest.mark.slow
def test_grader_stops_at_the_notebook_time_limit_and_reports_what_did_not_run(released_toy, tmp_path):
    nb = read_notebook(released_toy)
    _answer(nb, "q1", "def count_labels(y, num_classes):\n    import time\n    time.sleep(3600)")
    _answer(nb, "q2", RIGHT_FLIP)
    path = _write(nb, tmp_path / "slow-90_toy.ipynb")
    # the notebook's limit is shorter than a cell's, so it is what stops the sleeping test (however fast q2 is)
    limit = CELL_TIMEOUT // 2
    report = grade([path], solutions=FIXTURES, cell_timeout=CELL_TIMEOUT, timeout=limit)[0]
    assert report["status"] == "graded" and report["points"] == 0
    messages = [f["message"] for f in report["questions"]["q2"]["failures"]]
    assert messages and all(f"the notebook's time limit of {limit} s was used up" in m for m in messages)


@pytest.mark.slow
def test_grader_uses_the_original_tests_when_they_were_edited_or_deleted(graded):
    report = graded[0]["tampered"]
    assert report["questions"]["q1"]["points"] == 0
    assert "count_labels([0, 1, 1, 3], 4): expected [1, 2, 0, 1], got [0, 0, 0, 0]" in \
        report["questions"]["q1"]["failures"][0]["message"]
    assert report["questions"]["q2"]["points"] == 3  # the student's helper cell ran before the answer
    assert "test cell q1_tests was edited; the original was used" in report["notes"]
    assert "test cell q2_tests was deleted; the original was used" in report["notes"]
    assert report["questions"]["q3"]["status"] == "pending"
    assert "still looks like a photo" in report["questions"]["q3"]["written_answers"]["q3_written"]


@pytest.mark.slow
def test_grader_reports_an_exception_and_a_missing_question(graded):
    report = graded[0]["exception"]
    assert "answer cell q1 is missing from the submission; graded as unanswered" in report["notes"]
    assert report["questions"]["q1"]["points"] == 0
    messages = [f["message"] for f in report["questions"]["q2"]["failures"]]
    assert messages and all(m == "ValueError: boom: I give up" for m in messages)


@pytest.mark.slow
def test_grader_survives_a_dying_kernel_and_never_shows_hidden_tests(graded):
    reports, out = graded
    report = reports["crash_and_peek"]
    assert "kernel died" in report["questions"]["q1"]["failures"][0]["message"]
    q2 = report["questions"]["q2"]
    assert q2["points"] == 0 and len(q2["failures"]) == 2  # graded after the restart
    text = json.dumps(report) + summary(report) + Path(report["report"]).with_suffix(".txt").read_text()
    leaked = [line for line in hidden_lines(toy()) if len(line) >= 12 and line in text]
    assert leaked == []
    # the peek ran and its message reached the report: tests are evaluated from a string the kernel has no
    # source of, so the stack's code context is empty, and scoring.redact masks any hidden line that would show
    assert any(f["message"].startswith("ValueError") for f in q2["failures"]), q2["failures"]


def test_redact_masks_every_verbatim_hidden_line_and_cuts_long_messages():
    hidden = ["assert flip_batch(X).shape == X.shape", "assert count_labels(y, 3) == [1, 2]"]
    message = "Traceback: assert flip_batch(X).shape == X.shape\nAssertionError"
    assert redact(message, hidden) == "Traceback: [hidden test code]\nAssertionError"
    assert redact("nothing hidden here", hidden) == "nothing hidden here"
    assert redact("x" * (MAX_MESSAGE + 50), hidden).endswith(" [...]")


@pytest.mark.slow
def test_grader_reports_files_it_cannot_grade(graded):
    reports, _ = graded
    bad = reports["not_json"]
    assert bad["status"] == "invalid" and "not valid notebook JSON" in bad["message"]
    assert bad["exercise"] == "90_toy" and bad["auto_points"] == 5 and bad["points"] == 0
    wrong = reports["wrong_exercise"]
    assert wrong["status"] == "wrong_exercise" and wrong["identified_as"] == "91_other"
    assert "a submission for 91_other, not 90_toy" in wrong["message"]
    assert reports["unknown"]["status"] == "unknown_exercise" and reports["unknown"]["exercise"] is None


@pytest.mark.slow
def test_grader_writes_reports_and_a_gradebook(graded):
    reports, out = graded
    import csv

    rows = list(csv.DictReader(open(out / "gradebook.csv")))
    by_path = sorted(reports.values(), key=lambda r: r["submission"])  # the gradebook's order: shards merge to it
    assert [r["student"] for r in rows] == [r["student"] for r in by_path]
    ann = next(r for r in rows if r["student"] == "ann")
    assert (float(ann["points_earned"]), float(ann["q1"]), ann["q3"]) == (5.0, 2.0, "pending")
    assert (float(ann["points_autograded"]), float(ann["points_pending"]), ann["sandbox"]) == (5.0, 2.0, "bubblewrap")
    for report in reports.values():
        saved = json.loads(Path(report["report"]).read_text())
        assert saved["points"] == report["points"]
        assert Path(report["report"]).with_suffix(".txt").read_text() == summary(report)


def test_failures_of_the_exercises_own_cells_become_notes():
    from pretext_lessons.grading.assemble import assemble
    from pretext_lessons.grading.catalog import load_exercise
    from pretext_lessons.grading.scoring import fixed_cell_errors

    exercise = load_exercise(TOY)
    executed, _ = assemble(exercise, toy())
    for cell in executed.cells:
        if cell.cell_type == "code":
            cell.metadata["grader"] = {"status": "ok"}
    cell_of(executed, "setup").metadata["grader"] = {"status": "error", "ename": "ModuleNotFoundError",
                                                     "evalue": "No module named 'pretext_lessons'"}
    cell_of(executed, "q1_tests").metadata["grader"] = {"status": "error", "ename": "CheckFailed", "evalue": "no"}
    assert fixed_cell_errors(exercise, executed) == [
        "cell setup (part of the exercise, not an answer) failed: ModuleNotFoundError: No module named "
        "'pretext_lessons'"]


def test_grade_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="submissions must name at least one of the notebook files, got none"):
        grade([], solutions=FIXTURES)
    with pytest.raises(FileNotFoundError, match="submissions must be notebook files; not found"):
        grade([tmp_path / "missing.ipynb"], solutions=FIXTURES)
    with pytest.raises(ValueError, match="jobs must be a positive integer, got 0"):
        grade([TOY], jobs=0, solutions=FIXTURES)
    with pytest.raises(ValueError, match="cell_timeout must be a positive number of seconds, got -1"):
        grade([TOY], cell_timeout=-1, solutions=FIXTURES)
    with pytest.raises(ValueError, match="timeout must be a positive number of seconds, got 'long'"):
        grade([TOY], timeout="long", solutions=FIXTURES)
    with pytest.raises(ValueError, match=r"exercise must be one of \['90_toy', '91_other'\], got '01_nope'"):
        grade([TOY], exercise="01_nope", solutions=FIXTURES)


def test_make_course_rejects_bad_arguments(tmp_path):
    with pytest.raises(ValueError, match="course_id must be letters, digits, '-' or '_', got 'my course'"):
        make_course(tmp_path, FIXTURES, course_id="my course")
    with pytest.raises(ValueError, match="timeout must be a positive integer of seconds, got 0"):
        make_course(tmp_path, FIXTURES, timeout=0)
    with pytest.raises(ValueError, match=r"names must be exercises in solutions/.*got \['99_x'\]"):
        make_course(tmp_path, FIXTURES, names=["99_x"])


# ---------- every real exercise: solution full marks, release zero (our grader) ----------

@pytest.mark.slow
@pytest.mark.parametrize("path", EXERCISE_NOTEBOOKS, ids=lambda p: p.stem)
def test_exercise_solution_gets_full_marks_and_release_zero(path, graded_course):
    full, zero = graded_course[(path.stem, False)], graded_course[(path.stem, True)]
    assert full["status"] == "graded" and full["auto_points"] > 0
    assert full["points"] == full["auto_points"], summary(full)
    assert zero["points"] == 0, summary(zero)
    assert full["notes"] == []
    # an untouched release sets no STUDENT_ID and no answer: exercise cells that need them fail, and the notes say why
    assert all("STUDENT_ID" in note or "not answered yet" in note for note in zero["notes"]), zero["notes"]


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in EXERCISE_NOTEBOOKS if uses_student_id(read_notebook(p))],
                         ids=lambda p: p.stem)
def test_two_students_with_their_own_data_both_get_full_marks(path, tmp_path):
    submissions = []
    for student in ("alice", "bob"):
        nb = with_student_id(read_notebook(path), f"{student}-id")
        submissions.append(_write(nb, tmp_path / student / path.name))
    reports = grade(submissions, jobs=2, cell_timeout=300, timeout=900)
    for student, report in zip(("alice", "bob"), reports):
        assert report["student_id"] == f"{student}-id"
        assert report["points"] == report["auto_points"] > 0, summary(report)


@pytest.mark.slow
def test_check_works_inside_a_notebook_kernel(released_toy, tmp_path):
    """A student's released notebook: answers filled in, then check() in a cell, in a real kernel."""
    from pretext_lessons.notebook.execute import execute_notebook

    nb = read_notebook(released_toy)
    _answer(nb, "q1", "def count_labels(y, num_classes):\n    return torch.bincount(y, minlength=num_classes + 1)")
    _answer(nb, "q2", RIGHT_FLIP)
    nb.cells.append(nbformat.v4.new_code_cell(
        "from pretext_lessons.grading import check\n"
        f"result = check(exercise={str(released_toy)!r})\n"
        "print(result)\n"
        "assert not result.passed"))
    nb.cells.append(nbformat.v4.new_code_cell("X = 'mine'\ncheck('q2', %r)\nassert X == 'mine'" % str(released_toy)))
    path = _write(nb, tmp_path / "student.ipynb")
    root = str(Path(__file__).resolve().parent.parent)  # the package, installed or not
    executed, _ = execute_notebook(path, timeout=CELL_TIMEOUT * 3, env={"PYTHONPATH": root}, allow_errors=True)
    errors = [f"{o.ename}: {o.evalue}" for c in executed.cells[-2:] for o in c.outputs if o.output_type == "error"]
    assert errors == []  # check() itself ran, and left the student's X alone
    printed = "".join(o.get("text", "") for o in executed.cells[-2].outputs)
    assert "q1_tests: count_labels(...): expected shape (4), got (5,)" in printed
    assert "q2: passes its visible tests" in printed
    assert "q3: nothing to check here; it is graded by hand" in printed


@pytest.mark.slow
def test_check_works_from_a_pip_install(tmp_path):
    """The course built as a wheel and installed outside the repository: check() finds its visible tests there."""
    wheels, site, source = tmp_path / "wheels", tmp_path / "site", tmp_path / "source"
    # built from a copy: a build folder left in the clone (setuptools reuses it) must not slip into the wheel
    root = SOLUTIONS.parent
    shutil.copytree(root / "pretext_lessons", source / "pretext_lessons",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))
    for name in ("pyproject.toml", "README.md", "LICENSE"):
        shutil.copy(root / name, source / name)
    for args in (lambda: ["wheel", "--no-deps", "--no-build-isolation", "-w", str(wheels), str(source)],
                 lambda: ["install", "--no-deps", "--target", str(site), *map(str, wheels.glob("*.whl"))]):
        done = subprocess.run([sys.executable, "-m", "pip", "-q", *args()], cwd=tmp_path, text=True,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
        assert done.returncode == 0, done.stdout[-3000:]
    script = ("import pretext_lessons\n"
              "from pretext_lessons.grading import check\n"
              "print(pretext_lessons.__file__)\n"
              "print(repr(check('q1', '01_rotation', namespace={})))\n")
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run([sys.executable, "-c", script], cwd=tmp_path, env=dict(env, PYTHONPATH=str(site)),
                          text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    installed, result = done.stdout.split("\n", 1)
    assert installed.startswith(str(site)), installed
    assert "q1: 0 of" in result and "not answered yet" in result, result


# ---------- a class in shards ----------

def test_shards_split_the_sorted_submissions_without_overlap(tmp_path):
    from pretext_lessons.grading.grader import shard_of

    paths = [tmp_path / name for name in ("d.ipynb", "a.ipynb", "c/x.ipynb", "b.ipynb", "e.ipynb")]
    shards = [shard_of(paths, f"{k}/3") for k in (1, 2, 3)]
    assert sorted(p for s in shards for p in s) == sorted(paths)
    assert shards[0] == sorted(paths, key=str)[0::3]
    assert shard_of(list(reversed(paths)), "2/3") == shards[1]  # the order given does not matter


@pytest.mark.parametrize("shard, message", [("0/3", "1 <= K <= N, got '0/3'"), ("4/3", "1 <= K <= N, got '4/3'"),
                                            ("a/b", "whole numbers, e.g. 3/20, got 'a/b'"),
                                            ("3", "whole numbers, e.g. 3/20, got '3'")])
def test_grade_rejects_a_bad_shard(shard, message):
    with pytest.raises(ValueError, match=re.escape(f"shard must be K/N with {message}")):
        grade([TOY], shard=shard, solutions=FIXTURES)


def test_merge_grades_rejects_missing_empty_and_overlapping_folders(tmp_path):
    from pretext_lessons.grading.report import merge_grades

    with pytest.raises(FileNotFoundError, match="folders must be folders of grading reports; not found"):
        merge_grades([tmp_path / "nowhere"], tmp_path / "out")
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="folders must hold grading reports"):
        merge_grades([tmp_path / "empty"], tmp_path / "out")
    report = {"submission": "a.ipynb", "student": "a", "exercise": "90_toy", "status": "invalid", "questions": {},
              "points": 0, "auto_points": 5, "pending_points": 0, "notes": [], "message": ""}
    for name in ("s1", "s2"):
        (tmp_path / name).mkdir()
        (tmp_path / name / "a-90_toy.json").write_text(json.dumps(report))
    with pytest.raises(ValueError, match="folders must hold each submission once; a.ipynb is graded in both"):
        merge_grades([tmp_path / "s1", tmp_path / "s2"], tmp_path / "out")


@pytest.mark.slow
def test_grading_in_two_shards_and_merging_gives_the_whole_gradebook(tmp_path, released_toy):
    folder = tmp_path / "subs"
    nb = read_notebook(released_toy)
    _answer(nb, "q1", WRONG_COUNT)
    _answer(nb, "q2", RIGHT_FLIP)
    paths = [_write(toy(), folder / "ann" / "90_toy.ipynb"), Path(shutil.copy(released_toy, folder / "ben-90_toy.ipynb")),
             _write(nb, folder / "cam-90_toy.ipynb"), folder / "gil-90_toy.ipynb"]
    paths[-1].write_text("not a notebook")
    options = dict(solutions=FIXTURES, cell_timeout=CELL_TIMEOUT, timeout=NOTEBOOK_TIMEOUT, jobs=2)
    whole = grade(paths, out=tmp_path / "whole", **options)
    assert {r["status"] for r in whole} == {"graded", "invalid"}
    for k in (1, 2):
        assert main(["grade", *map(str, paths), "--shard", f"{k}/2", "--out", str(tmp_path / f"shard{k}"),
                     "--solutions", str(FIXTURES), "--jobs", "2", "--cell-timeout", str(CELL_TIMEOUT)]) == 0
    assert main(["merge-grades", str(tmp_path / "shard1"), str(tmp_path / "shard2"),
                 "--out", str(tmp_path / "merged")]) == 0
    merged = (tmp_path / "merged" / "gradebook.csv").read_text()
    assert merged == (tmp_path / "whole" / "gradebook.csv").read_text()
    assert len(merged.strip().split("\n")) == 1 + len(paths)


def test_release_cell_gives_the_students_version_of_one_cell_as_the_notebook_release_does():
    from pretext_lessons.grading.release import release_cell

    nb = toy()
    for gid in ("q1", "q2_hidden", "q3_written"):
        original = cell_of(nb, gid)
        before = original.source
        assert release_cell(original).source == cell_of(release_notebook(toy()), gid).source
        assert original.source == before


# ---------- the instructor's class summary ----------

def _report(student, q1_points, q1_messages=(), untouched=False, student_id=None, status="graded"):
    q1 = {"points": q1_points, "auto_points": 2.0, "manual_points": 0.0, "status": "x", "untouched": untouched,
          "failures": [{"cell": "q1_tests", "points": 2, "message": m} for m in q1_messages], "pending": [],
          "written_answers": {}}
    q3 = {"points": 0.0, "auto_points": 0.0, "manual_points": 2.0, "status": "pending", "untouched": untouched,
          "failures": [], "pending": [] if untouched else ["q3_written"], "written_answers": {}}
    return {"submission": f"{student}.ipynb", "student": student, "student_id": student_id, "exercise": "90_toy",
            "status": status, "questions": {"q1": q1, "q3": q3}, "points": q1_points}


def test_class_summary_counts_outcomes_scores_and_groups_failures_across_variants():
    from pretext_lessons.grading.report import class_summary

    reports = [_report("a", 2.0, student_id="A1"), _report("b", 0.0, ["expected 0.123, got 0.5"], student_id="a1 "),
               _report("c", 0.0, ["expected 0.9, got 1"]), _report("d", 1.0, ["partial credit"]),
               _report("e", 0.0, ["not answered yet"], untouched=True), _report("f", 0.0, status="invalid")]
    data = class_summary(reports)
    q1 = data["exercises"]["90_toy"]["questions"]["q1"]
    assert q1["outcomes"]["full marks"] == 1 and q1["outcomes"]["partial"] == 1
    assert q1["outcomes"]["zero, attempted"] == 2 and q1["untouched"] == 1 and q1["outcomes"]["not graded"] == 1
    assert q1["scores"] == {0.0: 3, 1.0: 1, 2.0: 1}
    # one mistake on two students' own numbers is one failure, twice; untouched answers count apart
    assert q1["failures"][0] == ("expected #, got #", 2)
    assert all("not answered" not in m for m, _ in q1["failures"])
    q3 = data["exercises"]["90_toy"]["questions"]["q3"]
    assert q3["outcomes"]["pending (by hand)"] == 4 and q3["untouched"] == 1
    assert list(data["shared_ids"].values()) == [["a.ipynb", "b.ipynb"]]  # "A1" and "a1 " are one id


def test_class_summary_writes_a_page_and_a_picture(tmp_path):
    from pretext_lessons.grading.report import write_class_summary

    page, picture = write_class_summary([_report("a", 2.0), _report("b", 0.0, ["boom | 3"])], tmp_path)
    text = page.read_text()
    assert "## 90_toy (2 submissions)" in text and "| q1 | 2 | 1 | 0 | 1 | 0 | 0 | 0 | 0: 1, 2: 1 |" in text
    assert "- 1x boom / #" in text  # a '|' in a message cannot break the table
    assert picture.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and f"]({picture.name})" in text


@pytest.mark.slow
def test_grading_a_class_leaves_a_summary_next_to_the_gradebook(graded):
    reports, out = graded
    text = (out / "class_summary.md").read_text()
    assert (out / "class_summary.png").stat().st_size > 0
    row = next(line for line in text.splitlines() if line.startswith("| q1 |"))
    counts = dict(zip(["full marks", "partial", "zero, attempted", "untouched", "not graded", "pending (by hand)"],
                      map(int, row.split("|")[3:9])))
    toy_reports = [r for r in reports.values() if r["exercise"] == "90_toy"]
    assert counts["full marks"] == sum(r["questions"]["q1"]["status"] == "passed" for r in toy_reports)
    assert counts["untouched"] >= 1  # ben handed in the release as it came
    assert counts["not graded"] == sum(r["status"] != "graded" for r in toy_reports)
