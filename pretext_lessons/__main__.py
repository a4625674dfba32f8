"""The course's command line: `python -m pretext_lessons COMMAND` (or `pretext-lessons COMMAND`)."""
from __future__ import annotations

import argparse
import sys

from .grading import cli as grading_cli
from .notebook.execute import BUILD, run_course
from .notebook.html import write_html


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pretext-lessons", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    course = sub.add_parser("course", help="execute every lesson notebook headless into build/")
    course.add_argument("names", nargs="*", help="only these lessons (file stems), default all")
    sub.add_parser("html", help="write the executed lessons in build/notebooks as HTML pages with an index")
    grading_cli.add_commands(sub)  # release, grade
    args = parser.parse_args(argv)
    if args.command in grading_cli.COMMANDS:
        return grading_cli.run(args)
    if args.command == "html":
        print(f"wrote {write_html()}")
    if args.command == "course":
        times = run_course(names=args.names or None)
        total = sum(times.values())
        print(f"\nExecuted {len(times)} lessons in {total:.0f} s; executed copies are in {BUILD / 'notebooks'}.")
        print("Open the course in JupyterLab with:  make lab   (or: .venv/bin/jupyter lab notebooks/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
