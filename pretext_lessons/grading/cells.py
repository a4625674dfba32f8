"""Exercise notebooks: nbgrader's cell metadata, the questions it defines, and its validation."""
from __future__ import annotations

import ast
import copy
import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

import nbformat

BEGIN_SOLUTION, END_SOLUTION = "BEGIN SOLUTION", "END SOLUTION"
BEGIN_HIDDEN, END_HIDDEN = "BEGIN HIDDEN TESTS", "END HIDDEN TESTS"
SCHEMA_VERSION = 3
GRADE_ID = re.compile(r"^[A-Za-z0-9_-]+$")
REQUIRED_KEYS = ("schema_version", "grade", "locked", "solution")


class ExerciseFormatError(ValueError):
    """An exercise notebook whose metadata or markers are wrong; lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))


def meta(cell) -> dict:
    """The cell's nbgrader metadata ({} when it has none)."""
    value = cell.get("metadata", {}).get("nbgrader", {})
    return value if isinstance(value, dict) else {}


def grade_id(cell) -> str | None:
    """The cell's nbgrader grade_id, or None."""
    return meta(cell).get("grade_id")


def is_answer(cell) -> bool:
    """A cell the student writes in (nbgrader `solution`)."""
    return bool(meta(cell).get("solution"))


def is_test(cell) -> bool:
    """An autograded test cell (graded code that is not an answer)."""
    m = meta(cell)
    return bool(m.get("grade")) and not m.get("solution") and cell.get("cell_type") == "code"


def is_manual(cell) -> bool:
    """An answer graded by hand (a graded answer cell, usually markdown)."""
    m = meta(cell)
    return bool(m.get("grade")) and bool(m.get("solution"))


def question_of(gid: str) -> str:
    """The question a grade_id belongs to: the part before the first `_` (q1_tests -> q1)."""
    return gid.split("_", 1)[0]


def source_hash(source: str) -> str:
    """A checksum of a cell's source, blind to trailing white space."""
    text = "\n".join(line.rstrip() for line in source.strip().splitlines())
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def points_of(cell) -> float:
    """The points a graded cell is worth (0 for others)."""
    m = meta(cell)
    return float(m.get("points", 0) or 0) if m.get("grade") else 0.0


@dataclass
class Question:
    """One graded question: its answer cells, test cells, manual cells and points."""

    name: str
    answers: list[str] = field(default_factory=list)
    tests: list[str] = field(default_factory=list)
    manual: list[str] = field(default_factory=list)
    auto_points: float = 0.0
    manual_points: float = 0.0

    @property
    def points(self) -> float:
        return self.auto_points + self.manual_points


# What a graded cell asks of the student (issue 16), in a cell's metadata "pretext_lessons": {"kind": ...,
# "needs_idea": true/false}; needs_idea false marks an item a student passes without the lesson's idea.
ITEM_KINDS = ("implementation", "change-the-experiment", "predict-then-run", "read-a-result", "statistics", "written",
              "control")
ITEM_KEY = "pretext_lessons"


def item_kind(cell) -> tuple[str, bool]:
    """A graded cell's (kind, needs_idea) from its metadata; a ValueError names the cell when it is missing."""
    item = cell.get("metadata", {}).get(ITEM_KEY, {})
    kind, needs_idea = item.get("kind"), item.get("needs_idea")
    if kind not in ITEM_KINDS or not isinstance(needs_idea, bool):
        raise ValueError(f"graded cell {grade_id(cell)!r} must have metadata {ITEM_KEY!r} with 'kind' one of "
                         f"{ITEM_KINDS} and 'needs_idea' true or false, got {item!r}")
    return kind, needs_idea


def questions(nb) -> dict[str, Question]:
    """The notebook's questions in order, keyed by question name (q1, q2, ...)."""
    found: dict[str, Question] = {}
    for cell in nb["cells"]:
        gid = grade_id(cell)
        if gid is None or not (is_answer(cell) or is_test(cell)):
            continue
        q = found.setdefault(question_of(gid), Question(question_of(gid)))
        if is_manual(cell):
            q.manual.append(gid)
            q.manual_points += points_of(cell)
        elif is_answer(cell):
            q.answers.append(gid)
        else:
            q.tests.append(gid)
            q.auto_points += points_of(cell)
    return {name: q for name, q in found.items() if q.tests or q.manual}


def points_table(nb) -> str:
    """A markdown table of the notebook's questions and points, for its first cell."""
    rows = ["| question | points | graded |", "| --- | --- | --- |"]
    for name, q in questions(nb).items():
        how = [w for w, p in (("by tests", q.auto_points), ("by hand", q.manual_points)) if p]
        rows.append(f"| {name} | {q.points:g} | {' and '.join(how)} |")
    return "\n".join(rows)


SOLUTION, HIDDEN = "solution", "hidden"
_MARKERS = ((BEGIN_SOLUTION, "begin", SOLUTION), (END_SOLUTION, "end", SOLUTION),
            (BEGIN_HIDDEN, "begin", HIDDEN), (END_HIDDEN, "end", HIDDEN))
_BEGIN = {SOLUTION: BEGIN_SOLUTION, HIDDEN: BEGIN_HIDDEN}
_END = {SOLUTION: END_SOLUTION, HIDDEN: END_HIDDEN}


@dataclass(frozen=True)
class Line:
    """One line of a cell as the markers place it: its region (None, solution, hidden) and marker role."""

    number: int
    text: str
    region: str | None
    marker: str | None  # "begin", "end" or None for a line of content


def parse_markers(source: str) -> tuple[list[Line], list[str]]:
    """The one reader of nbgrader's BEGIN/END SOLUTION and BEGIN/END HIDDEN TESTS markers.

    Returns every line with its region, and the marker problems found (nested, unbalanced).
    """
    lines, problems, open_region = [], [], None
    for number, text in enumerate(source.split("\n"), 1):
        found = next(((edge, region) for marker, edge, region in _MARKERS if marker in text), None)
        if found is None:
            lines.append(Line(number, text, open_region, None))
            continue
        edge, region = found
        if edge == "begin":
            if open_region is not None:
                problems.append(f"line {number}: '### {_BEGIN[region]}' inside an open region (nested markers)")
            open_region = region
        elif open_region != region:
            problems.append(f"line {number}: '### {_END[region]}' without a '### {_BEGIN[region]}' before it")
        else:
            open_region = None
        lines.append(Line(number, text, region, edge))
    if open_region is not None:
        problems.append(f"'### {_BEGIN[open_region]}' is never closed by '### {_END[open_region]}'")
    return lines, problems


def has_region(source: str, region: str) -> bool:
    """Whether a cell opens a region of this kind (SOLUTION or HIDDEN)."""
    return any(line.marker == "begin" and line.region == region for line in parse_markers(source)[0])


def remove_hidden_tests(source: str) -> str:
    """Drop every `### BEGIN HIDDEN TESTS` .. `### END HIDDEN TESTS` region, markers included."""
    return "\n".join(line.text for line in parse_markers(source)[0] if line.region != HIDDEN)


def hidden_code(source: str) -> list[str]:
    """The lines inside the hidden-test regions of a cell (markers left out)."""
    return [line.text for line in parse_markers(source)[0] if line.region == HIDDEN and line.marker is None]


def has_code(source: str) -> bool:
    """Whether a cell holds more than comments and blank lines."""
    return any(line.strip() and not line.strip().startswith("#") for line in source.split("\n"))


def cell_problems(cell, index: int) -> list[str]:
    """What is wrong with one cell's metadata or markers (empty when nothing)."""
    raw = cell.get("metadata", {}).get("nbgrader")
    source = cell.get("source", "")
    where = f"cell {index}" + (f" ({raw.get('grade_id')})" if isinstance(raw, dict) and raw.get("grade_id") else "")
    problems = []
    if raw is None:
        if has_region(source, SOLUTION) or has_region(source, HIDDEN):
            problems.append(f"{where}: has solution or hidden-test markers but no nbgrader metadata")
        return problems
    if not isinstance(raw, dict):
        return [f"{where}: metadata.nbgrader must be a dict, got {type(raw).__name__}"]
    missing = [k for k in REQUIRED_KEYS if k not in raw]
    if missing:
        problems.append(f"{where}: nbgrader metadata lacks {', '.join(missing)}")
    if raw.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"{where}: schema_version must be {SCHEMA_VERSION}, got {raw.get('schema_version')!r}")
    for key in ("grade", "locked", "solution"):
        if key in raw and not isinstance(raw[key], bool):
            problems.append(f"{where}: {key} must be true or false, got {raw[key]!r}")
    gid = raw.get("grade_id")
    if not isinstance(gid, str) or not GRADE_ID.match(gid):
        problems.append(f"{where}: grade_id must be letters, digits, '_' or '-', got {gid!r}")
    if raw.get("grade"):
        pts = raw.get("points")
        if isinstance(pts, bool) or not isinstance(pts, (int, float)) or pts <= 0:
            problems.append(f"{where}: a graded cell needs positive points, got {pts!r}")
    if raw.get("solution") and raw.get("locked"):
        problems.append(f"{where}: an answer cell must not be locked")
    problems += [f"{where}: {p}" for p in parse_markers(source)[1]]
    if has_region(source, SOLUTION) and not raw.get("solution"):
        problems.append(f"{where}: '### {BEGIN_SOLUTION}' in a cell that is not an answer cell (solution: false)")
    if has_region(source, HIDDEN) and not raw.get("grade"):
        problems.append(f"{where}: '### {BEGIN_HIDDEN}' in a cell that is not graded (grade: false)")
    if is_test(cell) and not has_code(remove_hidden_tests(source)):
        problems.append(f"{where}: a test cell with no visible code once hidden tests are removed passes on the "
                        f"released stubs (nbgrader validate --invert fails); keep a visible check above the "
                        f"hidden region, e.g. one call of the function")
    return problems


def validate(nb, name: str = "notebook") -> None:
    """Raise ExerciseFormatError naming notebook, cell and problem for every fault found."""
    problems, seen = [], {}
    kernel = nb.get("metadata", {}).get("kernelspec", {}).get("language", "python")
    if kernel != "python":
        problems.append(f"kernelspec language must be python, got {kernel!r}")
    for index, cell in enumerate(nb.get("cells", [])):
        problems += cell_problems(cell, index)
        gid = grade_id(cell)
        if isinstance(gid, str):
            if gid in seen:
                problems.append(f"cell {index} ({gid}): grade_id already used by cell {seen[gid]}")
            seen.setdefault(gid, index)
    graded = [c for c in nb.get("cells", []) if meta(c).get("grade")]
    if not graded:
        problems.append("no graded cell (grade: true): nothing to grade")
    if problems:
        raise ExerciseFormatError([f"{name}: {p}" for p in problems])


def read_notebook(path) -> object:
    """Read a notebook file (nbformat 4) without validating its cells."""
    return nbformat.read(Path(path), as_version=4)


STUDENT_ID = "STUDENT_ID"  # the name an exercise's `student` answer cell assigns (notebook.checks.variant_seed)


def declared_student_id(nb) -> str | None:
    """The `STUDENT_ID = "..."` a notebook's answer cells set first (None when none sets a plain string).

    Read from the cell's text, never by running it, so the grader knows the id a submission's
    question data were drawn from before it executes anything.
    """
    for cell in nb.get("cells", []):
        if cell.get("cell_type") != "code" or not is_answer(cell):
            continue
        try:
            tree = ast.parse(cell.get("source", ""))
        except SyntaxError:
            continue
        for node in tree.body:
            if (isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == STUDENT_ID
                                                     for t in node.targets)):
                value = node.value
                if isinstance(value, ast.Constant) and isinstance(value.value, str) and value.value.strip():
                    return value.value.strip()
                return None
    return None


def uses_student_id(nb) -> bool:
    """Whether an exercise draws question data from a `STUDENT_ID` (it has an answer cell setting it)."""
    return any(cell.get("cell_type") == "code" and is_answer(cell) and STUDENT_ID in cell.get("source", "")
               for cell in nb.get("cells", []))


def with_student_id(nb, student_id: str):
    """A copy of a notebook whose `STUDENT_ID` cell sets `student_id` (one student's answer key)."""
    if not isinstance(student_id, str) or not student_id.strip():
        raise ValueError(f"student_id must be a non-empty string, got {student_id!r}")
    out = copy.deepcopy(nb)
    cells = [c for c in out.cells if c.cell_type == "code" and is_answer(c) and STUDENT_ID in c.source]
    if not cells:
        raise ValueError(f"nb must have an answer cell that sets {STUDENT_ID}; this notebook has none")
    cells[0].source = f"{STUDENT_ID} = {student_id!r}"
    return out
