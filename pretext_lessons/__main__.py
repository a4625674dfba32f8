"""The course's command line: `python -m pretext_lessons COMMAND` (or `pretext-lessons COMMAND`)."""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .core.data import FOLDER_PHOTOS, FOLDER_SIZE, make_photo_folder
from .experiments.voc07 import preflight
from .grading import cli as grading_cli
from .notebook.execute import BUILD, PRESET_CHOICES, run_course
from .notebook.html import write_html
from .notebook.site import build_site


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="pretext-lessons", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    course = sub.add_parser("course", help="execute every lesson notebook headless into build/")
    course.add_argument("names", nargs="*", help="only these lessons (file stems), default all")
    course.add_argument("--dataset", default=None,
                        help="run every lesson on this dataset: fashion_mnist (default), cifar10, stl10, "
                             "or a folder of images with one sub-folder per class")
    course.add_argument("--out", default=None, help="where the executed lessons go (default build/notebooks)")
    course.add_argument("--preset", default=None, choices=PRESET_CHOICES,
                        help="run every lesson with this PRESET (default: each lesson's own, quick): full is closer "
                             "to the papers, for a GPU; lesson 5 then also runs the seed figure on PASCAL VOC 2007 "
                             "when its data are on disk, and says how to get them when not")
    photos = sub.add_parser("make-photo-folder",
                            help="write a labelled colour image folder offline: crops of scikit-image's photos")
    photos.add_argument("root", help="a new or empty folder")
    photos.add_argument("--per-class", type=int, default=600, help="training images per class (default 600)")
    photos.add_argument("--test-per-class", type=int, default=150, help="test images per class (default 150)")
    photos.add_argument("--size", type=int, default=FOLDER_SIZE, help=f"image side in px (default {FOLDER_SIZE})")
    photos.add_argument("--seed", type=int, default=0)
    site = sub.add_parser("html", help="the course as a website: the executed lessons in build/notebooks as pages with "
                                       "a sidebar, search and the syllabus as front page, in build/html")
    site.add_argument("--executed", default=None, help="the executed lessons (default build/notebooks)")
    site.add_argument("--out", default=None, help="where the site goes (default build/html)")
    site.add_argument("--plain", action="store_true",
                      help="plain pages with an index instead (nbconvert only, without the site extra)")
    grading_cli.add_commands(sub)  # release, grade
    args = parser.parse_args(argv)
    if args.command in grading_cli.COMMANDS:
        return grading_cli.run(args)
    if args.command == "html":
        if args.plain:
            print(f"wrote {write_html(args.executed, args.out)}")
        else:
            print(f"wrote {build_site(args.executed, args.out)}")
    if args.command == "make-photo-folder":
        root = make_photo_folder(args.root, args.per_class, args.test_per_class, args.size, args.seed)
        print(f"wrote {root}: {len(FOLDER_PHOTOS)} classes ({', '.join(FOLDER_PHOTOS)}), "
              f"{args.per_class} training and {args.test_per_class} test images each, {args.size} px.")
        print(f"Use it with DATASET = {str(root.resolve())!r} in a settings cell, or: "
              f"python -m pretext_lessons course --dataset {root}")
    if args.command == "course":
        out = Path(args.out) if args.out else BUILD / "notebooks"
        if args.preset:
            for line in preflight(args.preset):
                print(line)
        times = run_course(names=args.names or None, dataset=args.dataset, out_dir=out, preset=args.preset)
        total = sum(times.values())
        print(f"\nExecuted {len(times)} lessons in {total:.0f} s; executed copies are in {out}.")
        print("Open the course in JupyterLab with:  make lab   (or: .venv/bin/jupyter lab notebooks/)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
