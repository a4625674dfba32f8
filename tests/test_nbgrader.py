"""The real nbgrader on a course folder built from solutions/: generate, autograde, validate --invert (issue 3)."""
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow  # nbgrader runs kernels: make check, not make test

nbgrader = pytest.importorskip("nbgrader", reason="nbgrader is not installed; install the instructor extra: "
                                                   "pip install -e '.[instructor]'")

import nbformat  # noqa: E402

from pretext_lessons.grading.cells import grade_id, read_notebook, uses_student_id, with_student_id  # noqa: E402
from pretext_lessons.grading.nbgrader_course import COURSE_ID, make_course  # noqa: E402
from pretext_lessons.grading.release import SOLUTIONS, notebook_text, release_notebook  # noqa: E402
from pretext_lessons.notebook.execute import kernel_env  # noqa: E402

FIXTURES = Path(__file__).parent / "fixtures" / "grading" / "solutions"
SOURCES = [FIXTURES / "90_toy.ipynb"] + sorted(SOLUTIONS.glob("*.ipynb"))


def nbgrader_cli(course: Path, *args) -> str:
    """Run an nbgrader command in the course folder; its output (logs and results, in order)."""
    # nbgrader calls `alembic` from PATH; kernels import the course's package
    env = dict(os.environ, **kernel_env(PYTHONUNBUFFERED="1", MPLBACKEND="Agg",
                                        PATH=os.pathsep.join([str(Path(sys.executable).parent),
                                                              os.environ.get("PATH", "")])))
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, text=True,
                          stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=3000)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-4000:]}"
    return done.stdout


@pytest.fixture(scope="module")
def course(tmp_path_factory):
    """A course folder with every exercise, released, with a full-marks and an untouched submission each."""
    root = tmp_path_factory.mktemp("course")
    make_course(root, FIXTURES, names=["90_toy"])
    if len(SOURCES) > 1:
        make_course(root, SOLUTIONS)
    nbgrader_cli(root, "generate_assignment", "*")
    for source in SOURCES:
        name = source.stem
        for student, notebook in (("full", source), ("blank", root / "release" / name / source.name)):
            folder = root / "submitted" / student / name
            folder.mkdir(parents=True)
            shutil.copyfile(notebook, folder / source.name)
        if uses_student_id(read_notebook(source)):  # a second student, with data of their own
            folder = root / "submitted" / "other" / name
            folder.mkdir(parents=True)
            nbformat.write(with_student_id(read_notebook(source), "another-student"), folder / source.name)
    nbgrader_cli(root, "autograde", "*")
    validated = nbgrader_cli(root, "validate", "--invert", *[f"release/{s.stem}/{s.name}" for s in SOURCES])
    return root, validated


def _scores(root: Path, assignment: str, student: str):
    from nbgrader.api import Gradebook

    with Gradebook(f"sqlite:///{root / 'gradebook.db'}", course_id=COURSE_ID) as gb:
        sub = gb.find_submission(assignment, student)
        return sub.code_score, sub.max_code_score


def _why(root: Path, source: Path, student: str) -> str:
    """The graded cells of an autograded notebook that lost points, with their errors (for a failure message)."""
    nb = read_notebook(root / "autograded" / student / source.stem / source.name)
    lines = []
    for cell in nb.cells:
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("grade"):
            for out in cell.outputs:
                if out.output_type == "error" or out.get("name") == "stderr":
                    text = out.get("text") or f"{out.get('ename')}: {out.get('evalue')}"
                    lines.append(f"{grade_id(cell)}: {text[:300]}")
    return "\n".join(lines) or "no error output (check the gradebook)"


def test_the_course_config_names_the_course_and_a_longer_cell_timeout(course):
    root, _ = course
    config = (root / "nbgrader_config.py").read_text()
    assert f"c.CourseDirectory.course_id = '{COURSE_ID}'" in config
    assert "c.Execute.timeout = 120" in config


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_nbgrader_releases_exactly_what_we_release(source, course):
    root, _ = course
    theirs = (root / "release" / source.stem / source.name).read_text(encoding="utf-8")
    assert theirs == notebook_text(release_notebook(read_notebook(source), source.name))


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_nbgrader_gives_the_solution_every_point_and_the_release_none(source, course):
    root, _ = course
    full, most = _scores(root, source.stem, "full")
    assert most > 0
    assert full == most, _why(root, source, "full")
    blank, _ = _scores(root, source.stem, "blank")
    assert blank == 0
    if uses_student_id(read_notebook(source)):  # another STUDENT_ID, other data: full marks too
        other, _ = _scores(root, source.stem, "other")
        assert other == most, _why(root, source, "other")


@pytest.mark.parametrize("source", SOURCES, ids=lambda p: p.stem)
def test_nbgrader_validate_invert_passes_on_the_release(source, course):
    _, output = course
    parts = output.split("Validating '")
    part = next(p for p in parts if p.startswith(str(Path(course[0]) / "release" / source.stem)))
    assert "Success! The notebook does not pass any tests." in part, part[-3000:]
