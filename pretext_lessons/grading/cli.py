"""The `release`, `grade`, `merge-grades`, `questions` and `student` sub-commands of `python -m pretext_lessons`."""
from __future__ import annotations

import argparse
from pathlib import Path

from .catalog import catalog, kinds_table
from .cells import ExerciseFormatError
from .grader import MEMORY_GB, grade
from .nbgrader_course import make_course
from .release import RELEASE_COMMAND, out_of_sync, release
from .student_copy import write_student_copy
from .report import SUMMARY_PAGE, SUMMARY_PICTURE, merge_grades, summary

COMMANDS = ("release", "grade", "merge-grades", "questions", "student")


def add_commands(sub) -> None:
    """Add `release`, `grade`, `merge-grades`, `questions` and `student` to the course's argument parser."""
    rel = sub.add_parser("release", help="write exercises/ from solutions/ (as nbgrader generate_assignment)")
    rel.add_argument("--check", action="store_true", help="only check that exercises/ is in sync; exit 1 if not")
    rel.add_argument("--solutions", help="folder of solutions notebooks (default: solutions/)")
    rel.add_argument("--exercises", help="folder to write (default: exercises/)")
    rel.add_argument("--nbgrader-course", metavar="DIR",
                     help="also write an nbgrader course folder (nbgrader_config.py, source/<exercise>/)")
    rel.add_argument("--course-id", default="pretext-lessons", help="nbgrader course id (default pretext-lessons)")
    gr = sub.add_parser("grade", help="grade submitted notebooks against solutions/ (JSON, summaries, gradebook.csv)")
    gr.add_argument("submissions", nargs="+", help="submitted .ipynb files")
    gr.add_argument("--jobs", type=int, default=1, help="submissions graded at once (default 1)")
    gr.add_argument("--out", default="build/grades", help="folder for the reports (default build/grades)")
    gr.add_argument("--exercise", help="the exercise all submissions are for (default: from file names and cells)")
    gr.add_argument("--solutions", help="folder of solutions notebooks (default: solutions/)")
    gr.add_argument("--cell-timeout", type=float, default=120.0, help="seconds per cell (default 120)")
    gr.add_argument("--timeout", type=float, default=600.0, help="seconds per notebook (default 600)")
    gr.add_argument("--memory", type=float, default=MEMORY_GB, metavar="GB",
                    help=f"address space per kernel in GB; beyond it a cell is reported out of memory "
                         f"(default {MEMORY_GB:g}; 0: no limit)")
    gr.add_argument("--shard", metavar="K/N", help="grade only shard K of N (every N-th submission by sorted path); "
                                                   "merge the shards' reports with merge-grades")
    gr.add_argument("--no-warm-up", dest="warm_up", action="store_false",
                    help="let each submission train the networks of the exercise's fixed cells itself (by default "
                         "the grader trains them once, in its own run of the release, and gives each submission a "
                         "copy, when an exercise has 3 submissions or more)")
    sb = gr.add_mutually_exclusive_group()
    sb.add_argument("--sandbox", dest="sandbox", action="store_const", const=True, default=True,
                    help="grade in the bubblewrap sandbox (the default; grading stops when it cannot start)")
    sb.add_argument("--no-sandbox", dest="sandbox", action="store_const", const=False,
                    help="grade without the sandbox (only where nothing a submission may read is at stake); "
                         "every report and the gradebook then say 'unsandboxed'")
    qs = sub.add_parser("questions", help="list each exercise's graded items: kind, points, autograded share, "
                                          "share passing without the lesson's idea")
    qs.add_argument("--solutions", help="folder of solutions notebooks (default: solutions/)")
    st = sub.add_parser("student", help="write the students' copy of the course: lessons, released exercises, the "
                                        "package and the set-up; no solutions, no history")
    st.add_argument("out", help="a new or empty folder")
    mg = sub.add_parser("merge-grades", help="merge the reports of several `grade --shard` runs into one gradebook")
    mg.add_argument("folders", nargs="+", help="report folders of the shards (each grade's --out)")
    mg.add_argument("--out", default="build/grades", help="folder for the merged gradebook.csv (default build/grades)")


def run(args: argparse.Namespace) -> int:
    """Run a parsed `release`, `grade`, `merge-grades` or `questions` command; returns the exit status."""
    commands = {"release": _release, "grade": _grade, "merge-grades": _merge, "questions": _questions,
                "student": _student}
    try:
        return commands[args.command](args)
    except (ExerciseFormatError, ValueError, FileNotFoundError, RuntimeError) as err:
        print(f"error: {err}")
        return 2


def _release(args) -> int:
    if args.check:
        problems = out_of_sync(args.solutions, args.exercises)
        for p in problems:
            print(p)
        print(f"exercises/ is out of sync: run  {RELEASE_COMMAND}" if problems else "exercises/ is in sync")
        return 1 if problems else 0
    written = release(args.solutions, args.exercises)
    print(f"released {len(written)} exercise notebooks: " + ", ".join(p.name for p in written))
    if args.nbgrader_course:
        dest = make_course(args.nbgrader_course, args.solutions, course_id=args.course_id)
        print(f"nbgrader course folder: {dest}  (cd there, then: nbgrader generate_assignment <exercise>)")
    return 0


def _grade(args) -> int:
    reports = grade(args.submissions, out=args.out, jobs=args.jobs, exercise=args.exercise,
                    solutions=args.solutions, cell_timeout=args.cell_timeout, timeout=args.timeout,
                    progress=len(args.submissions) > 1, sandbox=args.sandbox, memory_gb=args.memory,
                    shard=args.shard, warm_up=args.warm_up)
    if len(reports) == 1:
        print(summary(reports[0]), end="")
    print(f"reports (JSON and text) and the gradebook: {Path(args.out) / 'gradebook.csv'}; per question: "
          f"{Path(args.out) / SUMMARY_PAGE} and {SUMMARY_PICTURE}")
    return 0


def _questions(args) -> int:
    print(kinds_table(catalog(args.solutions)), end="")
    return 0


def _student(args) -> int:
    files = write_student_copy(args.out)
    print(f"wrote the students' copy of the course to {args.out} ({len(files)} files): lessons, released exercises, "
          f"the package and the set-up; no solutions/, no history. Hand it out as a folder or an archive; students "
          f"run `make setup` then `make lab` in it.")
    return 0


def _merge(args) -> int:
    path = merge_grades(args.folders, args.out)
    print(f"merged gradebook: {path}; class summary: {path.with_name(SUMMARY_PAGE)}")
    return 0
