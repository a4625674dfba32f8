"""The notebook a submission is graded as: the solution's cells with the student's answers put in.

Test and locked cells always come from solutions/ (hidden tests included), so a student who
deleted or edited them changes nothing but gets a note; cells the student added (helpers,
experiments) run where they were, after the exercise cell that preceded them.
"""
from __future__ import annotations

import copy

from .catalog import Exercise
from .cells import grade_id, is_answer, is_test, source_hash
from .release import release_cell


def _extras(sub_cells, known: set, fixed_hashes: set) -> tuple[dict, dict]:
    """The student's cells by grade_id (first copy), and the cells they added, keyed by the exercise cell before them."""
    by_id, extras, anchor = {}, {}, None
    for cell in sub_cells:
        gid = grade_id(cell)
        if gid in known and gid not in by_id:
            by_id[gid] = cell
            anchor = gid
            continue
        if cell.get("cell_type") != "code" or source_hash(cell.get("source", "")) in fixed_hashes:
            continue  # markdown notes and untouched copies of the exercise's own cells change nothing
        extra = copy.deepcopy(cell)
        extra.metadata.pop("nbgrader", None)  # a pasted copy must not pose as the exercise's cell
        extra.metadata["grader_role"] = "added by the student"
        extras.setdefault(anchor, []).append(extra)
    return by_id, extras


def assemble(exercise: Exercise, submission) -> tuple[object, list[str]]:
    """The notebook to execute for `submission` and the notes about what was replaced or missing."""
    solution = exercise.solution
    known = {grade_id(c) for c in solution.cells if grade_id(c)}
    fixed = {source_hash(c.source) for c in exercise.released.cells if not is_answer(c)}
    by_id, extras = _extras(submission.get("cells", []), known, fixed)
    notes, cells = [], list(extras.get(None, []))
    for original, released in zip(solution.cells, exercise.released.cells):
        gid = grade_id(original)
        theirs = by_id.get(gid)
        cell = copy.deepcopy(original)
        if is_answer(original):
            if theirs is None:
                cell = release_cell(original)
                notes.append(f"answer cell {gid} is missing from the submission; graded as unanswered")
            else:
                cell.source = theirs.get("source", "")
        elif gid is not None and original.cell_type == "code":
            kind = "test cell" if is_test(original) else "cell"
            if theirs is None:
                notes.append(f"{kind} {gid} was deleted; the original was used")
            elif source_hash(theirs.get("source", "")) not in (source_hash(released.source),
                                                               source_hash(original.source)):
                notes.append(f"{kind} {gid} was edited; the original was used")
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
        cells.append(cell)
        cells += extras.get(gid, [])
    nb = copy.deepcopy(solution)
    nb.cells = cells
    return nb, notes
