"""Grading reports: a readable summary per submission, JSON files and the CSV gradebook."""
from __future__ import annotations

import csv
import json
import os
import re
import threading
from pathlib import Path

from ..core.validate import check_paths

STATUS_WORDS = {
    "graded": "graded",
    "invalid": "NOT GRADED: the file could not be read",
    "unknown_exercise": "NOT GRADED: not an exercise of this course",
    "wrong_exercise": "NOT GRADED: a submission for another exercise",
    "grader_error": "NOT GRADED: the grader could not run it",
}


def summary(report: dict) -> str:
    """Lesson 0: a report as text a student or an instructor reads (no hidden test code, ever)."""
    lines = [f"Submission: {report['submission']}",
             f"Student: {report['student']}    Exercise: {report['exercise'] or 'unknown'}"
             + (f"    STUDENT_ID: {report['student_id']}" if report.get("student_id") else ""),
             f"Status: {STATUS_WORDS.get(report['status'], report['status'])}"]
    if report.get("message"):
        lines.append(f"  {report['message']}")
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


def gradebook_rows(reports: list[dict]) -> tuple[list[str], list[dict]]:
    """Lesson 0: the gradebook's columns and one row per submission (a column per question), by submission path."""
    reports = sorted(reports, key=lambda r: str(r["submission"]))
    names = []
    for r in reports:
        names += [n for n in r["questions"] if n not in names]
    columns = ["student", "student_id", "exercise", "status", "points", "auto_points", "pending_points", *names, "notes",
               "submission"]
    rows = []
    for r in reports:
        row = {"student": r["student"], "student_id": r.get("student_id") or "", "exercise": r["exercise"] or "", "status": r["status"],
               "points": r["points"], "auto_points": r["auto_points"], "pending_points": r["pending_points"],
               "notes": "; ".join(r.get("notes", []) + ([r["message"]] if r.get("message") else []))[:500],
               "submission": r["submission"]}
        for n in names:
            q = r["questions"].get(n)
            row[n] = "" if q is None else ("pending" if q["status"] == "pending" else q["points"])
        rows.append(row)
    return columns, rows


def write_gradebook(reports: list[dict], path: Path) -> Path:
    """Lesson 0: write gradebook.csv (whole, through a temporary file: a reader never sees half of it)."""
    columns, rows = gradebook_rows(reports)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    os.replace(tmp, path)
    return path


class ReportWriter:
    """Lesson 0: writes each report (JSON and text) as its submission finishes, and the gradebook so far.

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
    """Lesson 0: write REPORT.json and REPORT.txt per submission and gradebook.csv into `out`."""
    writer = ReportWriter(out)
    written = []
    for r in reports:
        path = writer.add(r)
        written += [path, path.with_suffix(".txt")]
    return written + [writer.out / "gradebook.csv"]


def is_report(data) -> bool:
    """Lesson 0: whether a JSON value is one of the grader's submission reports."""
    return isinstance(data, dict) and {"submission", "student", "status", "questions", "points"} <= set(data)


def merge_grades(folders, out) -> Path:
    """Lesson 0: one gradebook.csv in `out` from the reports of several shards' folders (`grade --shard`)."""
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
    return write_gradebook(reports, out / "gradebook.csv")
