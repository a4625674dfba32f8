"""Grading reports: a readable summary per submission, JSON files and the CSV gradebook."""
from __future__ import annotations

import csv
import json
import re
from pathlib import Path

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
             f"Student: {report['student']}    Exercise: {report['exercise'] or 'unknown'}",
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


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", str(text)).strip("_") or "submission"


def gradebook_rows(reports: list[dict]) -> tuple[list[str], list[dict]]:
    """Lesson 0: the gradebook's columns and one row per submission (a column per question)."""
    names = []
    for r in reports:
        names += [n for n in r["questions"] if n not in names]
    columns = ["student", "exercise", "status", "points", "auto_points", "pending_points", *names, "notes",
               "submission"]
    rows = []
    for r in reports:
        row = {"student": r["student"], "exercise": r["exercise"] or "", "status": r["status"],
               "points": r["points"], "auto_points": r["auto_points"], "pending_points": r["pending_points"],
               "notes": "; ".join(r.get("notes", []) + ([r["message"]] if r.get("message") else []))[:500],
               "submission": r["submission"]}
        for n in names:
            q = r["questions"].get(n)
            row[n] = "" if q is None else ("pending" if q["status"] == "pending" else q["points"])
        rows.append(row)
    return columns, rows


def write_reports(reports: list[dict], out: Path) -> list[Path]:
    """Lesson 0: write REPORT.json and REPORT.txt per submission and gradebook.csv into `out`."""
    out.mkdir(parents=True, exist_ok=True)
    written, used = [], set()
    for r in reports:
        base = _slug(f"{r['student']}-{r['exercise']}" if r["exercise"] and r["exercise"] not in r["student"]
                     else r["student"])
        name, n = base, 1
        while name in used:
            n += 1
            name = f"{base}-{n}"
        used.add(name)
        (out / f"{name}.json").write_text(json.dumps(r, indent=1, sort_keys=True) + "\n", encoding="utf-8")
        (out / f"{name}.txt").write_text(summary(r), encoding="utf-8")
        r["report"] = str(out / f"{name}.json")
        written += [out / f"{name}.json", out / f"{name}.txt"]
    columns, rows = gradebook_rows(reports)
    with open(out / "gradebook.csv", "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=columns)
        writer.writeheader()
        writer.writerows(rows)
    return written + [out / "gradebook.csv"]
