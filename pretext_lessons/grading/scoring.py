"""Points from an executed graded notebook: per question, with a message a student can act on per failure."""
from __future__ import annotations

from .catalog import Exercise
from .cells import grade_id, hidden_code, is_answer, points_of, source_hash

MIN_REDACTED_LINE = 12  # shorter hidden lines ("X = 1") are too common to tell anything
MAX_MESSAGE = 600  # a message is for reading; a dumped tensor or stack is cut


def hidden_lines(exercise: Exercise) -> list[str]:
    """The lines of the exercise's hidden tests, which no message may reveal."""
    lines = [line.strip() for cell in exercise.solution.cells for line in hidden_code(cell.source)
             if len(line.strip()) >= MIN_REDACTED_LINE]
    return sorted(set(lines), key=len, reverse=True)


def redact(message: str, hidden: list[str]) -> str:
    """`message` with any verbatim line of hidden test code replaced by [hidden test code], cut to size."""
    for line in hidden:
        message = message.replace(line, "[hidden test code]")
    return message if len(message) <= MAX_MESSAGE else message[:MAX_MESSAGE] + " [...]"


def failure_message(info: dict) -> str:
    """What went wrong in a cell, from its recorded error (never its source)."""
    ename, evalue = info.get("ename", ""), str(info.get("evalue", "")).strip()
    if info.get("status") in ("timeout", "died", "out_of_memory", "not_run") or ename == "CheckFailed":
        return evalue
    if ename == "NotImplementedError":
        return "not answered yet: the answer still raises NotImplementedError"
    if ename == "NameError":
        return f"not answered yet, or the answer cell above failed: NameError: {evalue}"
    if ename == "AssertionError":
        return evalue or "AssertionError: a test failed (it gives no message)"
    return f"{ename}: {evalue}" if evalue else ename


def earned(cell, info: dict, points: float) -> float:
    """Points for a test cell: all if it ran cleanly, a number it displays as partial credit (as nbgrader)."""
    if info.get("status") != "ok":
        return 0.0
    for out in cell.get("outputs", []):
        if out.get("output_type") == "execute_result":
            try:
                return min(max(float(out.get("data", {}).get("text/plain", "")), 0.0), points)
            except ValueError:
                pass
    return points


def score(exercise: Exercise, executed) -> dict:
    """Per question: points, maximum, status, failures (messages only) and written answers."""
    hidden = hidden_lines(exercise)
    cells = {grade_id(c): c for c in executed.cells
             if grade_id(c) and "grader_role" not in c.metadata}
    released = {grade_id(c): c for c in exercise.released.cells if grade_id(c)}
    result = {}
    for name, q in exercise.questions.items():
        failures, points = [], 0.0
        for gid in q.answers:
            info = cells.get(gid, {}).get("metadata", {}).get("grader", {})
            if info.get("status", "ok") != "ok" and info.get("ename") != "NotImplementedError":
                failures.append({"cell": gid, "points": 0,
                                 "message": "your answer cell: " + redact(failure_message(info), hidden)})
        for gid in q.tests:
            cell = cells.get(gid, {})
            info = cell.get("metadata", {}).get("grader", {"status": "not_run", "evalue": "not run"})
            worth = points_of(cell) if cell else 0.0
            got = earned(cell, info, worth)
            points += got
            if got < worth:
                failures.append({"cell": gid, "points": worth,
                                 "message": redact(failure_message(info) or "partial credit", hidden)})
        edited = [source_hash(cells.get(gid, {}).get("source", "")) != source_hash(released[gid].source)
                  for gid in q.answers if gid in released]
        answers, manual = {}, []
        for gid in q.manual:
            text = cells.get(gid, {}).get("source", "")
            answered = source_hash(text) != source_hash(released[gid].source)
            answers[gid] = text if answered else None
            manual.append(gid)
        if q.tests:
            status = "passed" if points >= q.auto_points else ("partial" if points > 0 else "failed")
        else:
            status = "pending" if any(answers.values()) else "unanswered"
        result[name] = {"points": points, "auto_points": q.auto_points, "manual_points": q.manual_points,
                        "status": status, "failures": failures,
                        "untouched": not any(edited) and not any(answers.values()),
                        "pending": [g for g in manual if answers[g] is not None], "written_answers": answers}
    return result


def fixed_cell_errors(exercise: Exercise, executed) -> list[str]:
    """Notes for the exercise's own cells (set-up, data, training) that failed, which cost later tests."""
    graded = {g for q in exercise.questions.values() for g in q.answers + q.tests + q.manual}
    hidden = hidden_lines(exercise)
    notes = []
    for cell in executed.cells:
        gid, info = grade_id(cell), cell.get("metadata", {}).get("grader", {})
        if (gid and gid not in graded and not is_answer(cell) and "grader_role" not in cell.metadata
                and info.get("status", "ok") != "ok"):
            notes.append(f"cell {gid} (part of the exercise, not an answer) failed: "
                         + redact(failure_message(info), hidden))
    return notes
