"""Grading reports: a readable summary per submission, JSON files and the CSV gradebook."""
from __future__ import annotations

import csv
import json
import os
import re
import threading
from pathlib import Path

from ..core.validate import check_paths
from .sandbox import UNSANDBOXED

STATUS_WORDS = {
    "graded": "graded",
    "invalid": "NOT GRADED: the file could not be read",
    "unknown_exercise": "NOT GRADED: not an exercise of this course",
    "wrong_exercise": "NOT GRADED: a submission for another exercise",
    "grader_error": "NOT GRADED: the grader could not run it",
}


def summary(report: dict) -> str:
    """A report as text a student or an instructor reads (no hidden test code, ever)."""
    lines = [f"Submission: {report['submission']}",
             f"Student: {report['student']}    Exercise: {report['exercise'] or 'unknown'}"
             + (f"    STUDENT_ID: {report['student_id']}" if report.get("student_id") else ""),
             f"Status: {STATUS_WORDS.get(report['status'], report['status'])}"]
    if report.get("message"):
        lines.append(f"  {report['message']}")
    if report.get("sandbox") == UNSANDBOXED:
        lines.append("Sandbox: UNSANDBOXED (graded with --no-sandbox: the submission could read the solutions)")
    lines.append(f"Autograded points: {report['points']:g} / {report['auto_points']:g}")
    if report["manual_points"]:
        lines.append(f"Graded by hand: {report['pending_points']:g} of {report['manual_points']:g} points pending")
    for name, q in report["questions"].items():
        if q["auto_points"]:
            lines.append(f"  {name}: {q['points']:g} / {q['auto_points']:g}  {q['status']}")
        for failure in q["failures"]:
            lines.append(f"      - {failure['cell']}: {failure['message']}")
        for gid in q["pending"]:
            lines.append(f"  {name}: {gid} pending manual grading ({q['manual_points']:g} points)")
        if q["manual_points"] and not q["pending"] and q["status"] != "not graded":
            lines.append(f"  {name}: 0 / {q['manual_points']:g}  written answer not given")
    if report.get("notes"):
        lines.append("Notes:")
        lines += [f"  - {note}" for note in report["notes"]]
    return "\n".join(lines) + "\n"


def slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "submission"


# gradebook.csv's columns before the per-question ones, and what each holds (the README's table is this one)
GRADEBOOK_COLUMNS = {
    "student": "the student: the rest of the file name, else the folder (see 3. Collect)",
    "student_id": "the STUDENT_ID the submission declared (its question data were drawn from it)",
    "exercise": "the exercise graded (empty when the file matched none)",
    "status": "graded, or why not: invalid, unknown_exercise, wrong_exercise, grader_error",
    "sandbox": "bubblewrap, or unsandboxed when graded with --no-sandbox",
    "points_earned": "autograded points the submission earned",
    "points_autograded": "the most autograded points the exercise gives",
    "points_pending": "points of written answers given and waiting to be graded by hand",
}
QUESTION_COLUMN = "one per question (q1, q2, ...): autograded points earned, or 'pending' for a written answer"
TAIL_COLUMNS = {"notes": "what the grader noted: replaced or deleted cells, processes ended, failed set-up cells",
                "submission": "the submitted file's path"}


def gradebook_rows(reports: list[dict]) -> tuple[list[str], list[dict]]:
    """The gradebook's columns (GRADEBOOK_COLUMNS, a column per question, TAIL_COLUMNS) and one row per submission, by path."""
    reports = sorted(reports, key=lambda r: str(r["submission"]))
    names = []
    for r in reports:
        names += [n for n in r["questions"] if n not in names]
    columns = [*GRADEBOOK_COLUMNS, *names, *TAIL_COLUMNS]
    rows = []
    for r in reports:
        row = {"student": r["student"], "student_id": r.get("student_id") or "", "exercise": r["exercise"] or "",
               "status": r["status"], "sandbox": r.get("sandbox", ""),
               "points_earned": r["points"], "points_autograded": r["auto_points"],
               "points_pending": r["pending_points"],
               "notes": "; ".join(r.get("notes", []) + ([r["message"]] if r.get("message") else []))[:500],
               "submission": r["submission"]}
        for n in names:
            q = r["questions"].get(n)
            row[n] = "" if q is None else ("pending" if q["status"] == "pending" else q["points"])
        rows.append(row)
    return columns, rows


def write_gradebook(reports: list[dict], path: Path) -> Path:
    """Write gradebook.csv (whole, through a temporary file: a reader never sees half of it)."""
    columns, rows = gradebook_rows(reports)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


class ReportWriter:
    """Writes each report (JSON and text) as its submission finishes, and the gradebook so far.

    Results survive whatever happens later in the batch: a grader stopped half-way leaves every
    finished submission's report and row behind.
    """

    def __init__(self, out: Path):
        self.out = Path(out)
        self.out.mkdir(parents=True, exist_ok=True)
        self.reports, self.used, self.lock = [], set(), threading.Lock()

    def add(self, report: dict) -> Path:
        with self.lock:
            base = slug(f"{report['student']}-{report['exercise']}"
                        if report["exercise"] and report["exercise"] not in report["student"] else report["student"])
            name, n = base, 1
            while name in self.used:
                n += 1
                name = f"{base}-{n}"
            self.used.add(name)
            path = self.out / f"{name}.json"
            path.write_text(json.dumps(report, indent=1, sort_keys=True) + "\n", encoding="utf-8")
            (self.out / f"{name}.txt").write_text(summary(report), encoding="utf-8")
            report["report"] = str(path)
            self.reports.append(report)
            write_gradebook(self.reports, self.out / "gradebook.csv")
            return path


def write_reports(reports: list[dict], out: Path) -> list[Path]:
    """Write REPORT.json and REPORT.txt per submission and gradebook.csv into `out`."""
    writer = ReportWriter(out)
    written = []
    for r in reports:
        path = writer.add(r)
        written += [path, path.with_suffix(".txt")]
    return written + [writer.out / "gradebook.csv"]


def is_report(data) -> bool:
    """Whether a JSON value is one of the grader's submission reports."""
    return isinstance(data, dict) and {"submission", "student", "status", "questions", "points"} <= set(data)


def merge_grades(folders, out) -> Path:
    """One gradebook.csv (and the class summary) in `out` from the reports of several shards' folders."""
    folders = check_paths("folders", folders, "dir", "folders of grading reports")
    reports, seen = [], {}
    for folder in folders:
        for path in sorted(folder.glob("*.json")):
            try:
                data = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            if not is_report(data):
                continue
            if data["submission"] in seen:
                raise ValueError(f"folders must hold each submission once; {data['submission']} is graded in both "
                                 f"{seen[data['submission']]} and {path}")
            seen[data["submission"]] = path
            reports.append(data)
    if not reports:
        raise ValueError(f"folders must hold grading reports (*.json); none found in {', '.join(map(str, folders))}")
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    write_class_summary(reports, out)
    return write_gradebook(reports, out / "gradebook.csv")


SUMMARY_PAGE, SUMMARY_PICTURE = "class_summary.md", "class_summary.png"
OUTCOMES = ("full marks", "partial", "zero, attempted", "untouched", "not graded", "pending (by hand)")
OUTCOME_COLOURS = ("#2a9d8f", "#e9c46a", "#e76f51", "#adb5bd", "#495057", "#8ecae6")
MOST_FREQUENT = 3  # failure messages listed per question


def failure_kind(message: str) -> str:
    """A failure message with its numbers blanked, so that per-student variants of one mistake group."""
    return re.sub(r"[-+]?\d+(?:[.,]\d+)*(?:e[-+]?\d+)?%?", "#", message).strip()


def outcome(report: dict, question: dict) -> str:
    """Which of OUTCOMES one question of one report had."""
    if report["status"] != "graded" or question["status"] == "not graded":
        return "not graded"
    if question.get("untouched"):
        return "untouched"
    if not question["auto_points"]:
        return "pending (by hand)" if question["pending"] else "zero, attempted"
    if question["points"] >= question["auto_points"]:
        return "full marks"
    return "partial" if question["points"] > 0 else "zero, attempted"


def class_summary(reports: list[dict]) -> dict:
    """Per exercise and question: each outcome's count, the score counts, the commonest failures.

    {exercise: {"submissions": n, "questions": {question: {"points": max, "outcomes": {outcome: n},
    "scores": {points: n}, "failures": [(message, n), ...], "untouched": n}}}, plus
    {"shared_ids": {student_id: [submissions]}} for STUDENT_IDs declared by more than one submission.
    """
    exercises: dict = {}
    ids: dict = {}
    for r in sorted(reports, key=lambda r: str(r["submission"])):
        if r.get("student_id"):
            ids.setdefault((r["exercise"], r["student_id"].strip().lower()), []).append(str(r["submission"]))
        ex = exercises.setdefault(r["exercise"] or "unknown", {"submissions": 0, "questions": {}})
        ex["submissions"] += 1
        for name, q in r["questions"].items():
            entry = ex["questions"].setdefault(name, {"points": q["auto_points"] + q["manual_points"],
                                                      "auto_points": q["auto_points"],
                                                      "outcomes": {o: 0 for o in OUTCOMES}, "scores": {},
                                                      "failures": {}, "untouched": 0})
            result = outcome(r, q)
            entry["outcomes"][result] += 1
            entry["untouched"] += result == "untouched"
            if result != "not graded" and q["auto_points"]:
                entry["scores"][q["points"]] = entry["scores"].get(q["points"], 0) + 1
            if result not in ("untouched", "not graded"):
                for kind in {failure_kind(f["message"]) for f in q["failures"]}:
                    entry["failures"][kind] = entry["failures"].get(kind, 0) + 1
    for ex in exercises.values():
        for entry in ex["questions"].values():
            entry["scores"] = dict(sorted(entry["scores"].items()))
            entry["failures"] = sorted(entry["failures"].items(), key=lambda kv: (-kv[1], kv[0]))[:MOST_FREQUENT]
    shared = {f"{sid} ({exercise})": paths for (exercise, sid), paths in sorted(ids.items()) if len(paths) > 1}
    return {"exercises": exercises, "shared_ids": shared}


def summary_page(summary_data: dict, picture: str = SUMMARY_PICTURE) -> str:
    """The class summary as a markdown page (the picture linked at the top)."""
    lines = ["# Class summary", "", f"![outcome per question]({picture})", "",
             "Per question: how many submissions got full marks, partial marks, zero although the answer "
             "was changed, or left it untouched; the autograded score counts; the most frequent failure "
             "messages (numbers blanked as `#`, so one mistake on different students' data counts once "
             "per submission).", ""]
    for exercise, ex in summary_data["exercises"].items():
        lines += [f"## {exercise} ({ex['submissions']} submissions)", "",
                  "| question | points | " + " | ".join(OUTCOMES) + " | autograded scores (points: submissions) |",
                  "| --- | --- | " + " | ".join("---" for _ in OUTCOMES) + " | --- |"]
        for name, q in ex["questions"].items():
            scores = ", ".join(f"{p:g}: {n}" for p, n in q["scores"].items()) or "by hand"
            lines.append(f"| {name} | {q['points']:g} | " + " | ".join(str(q["outcomes"][o]) for o in OUTCOMES)
                         + f" | {scores} |")
        lines.append("")
        for name, q in ex["questions"].items():
            if q["failures"]:
                lines.append(f"**{name}**, most frequent failures:")
                lines += [f"- {n}x {message.replace('|', '/')}" for message, n in q["failures"]]
                lines.append("")
    if summary_data["shared_ids"]:
        lines += ["## Submissions declaring the same STUDENT_ID", "",
                  "Their questions drew the same data; check them against your roster.", ""]
        lines += [f"- {sid}: {', '.join(paths)}" for sid, paths in summary_data["shared_ids"].items()]
        lines.append("")
    return "\n".join(lines)


def summary_picture(summary_data: dict, path: Path) -> Path:
    """One horizontal bar per question, split by outcome (share of submissions), saved as PNG."""
    from matplotlib.figure import Figure  # the grader's extra: the students' self-check never draws

    rows = [(f"{exercise} {name}", q["outcomes"], ex["submissions"])
            for exercise, ex in summary_data["exercises"].items() for name, q in ex["questions"].items()]
    fig = Figure(figsize=(8, 0.9 + 0.35 * max(1, len(rows))))
    ax = fig.add_subplot()
    labels = [label for label, _, _ in rows][::-1]
    left = [0.0] * len(rows)
    for name, colour in zip(OUTCOMES, OUTCOME_COLOURS):
        shares = [outcomes[name] / max(1, n) for _, outcomes, n in rows][::-1]
        ax.barh(labels, shares, left=left, color=colour, label=name)
        left = [a + b for a, b in zip(left, shares)]
    ax.set_xlim(0, 1)
    ax.set_xlabel("share of submissions")
    ax.legend(ncol=3, fontsize=7, loc="lower center", bbox_to_anchor=(0.5, 1.0), frameon=False)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    return path


def write_class_summary(reports: list[dict], out: Path) -> list[Path]:
    """Write class_summary.md and class_summary.png into `out` (next to gradebook.csv)."""
    out = Path(out)
    data = class_summary(reports)
    picture = summary_picture(data, out / SUMMARY_PICTURE)
    page = out / SUMMARY_PAGE
    page.write_text(summary_page(data, picture.name), encoding="utf-8")
    return [page, picture]
