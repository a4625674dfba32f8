"""Lesson 5's fine-tuning family on pretraining seeds the lessons never use: does its verdict hold out of sample?

    PYTHONPATH=. .venv/bin/python benchmarks/bench_finetune.py [--seeds 5] [--ks 10,100] [--num-test N]

Lesson 5's own code and settings (`finetune.fine_tune_rows` with `finetune.RECIPES`, `finetune.lesson_findings`,
`finetune.decision_lines`), run from the rotation network, the calibrated random network and rotation's
no-signal control of `budget_study.STUDY_SEEDS` (seeds no lesson uses), trained on the quick preset's
matched budget, with every test image (`--num-test` takes a random subset instead, e.g. lesson 5's former
1000). It prints the rows, the family's table (its first row is the primary), the lines the lesson prints,
and the seconds each phase took. The lesson's settings were fixed on its own seeds; this run says whether
their verdict holds on others.
"""
from __future__ import annotations

import argparse
import time

from pretext_lessons import course_tasks
from pretext_lessons.experiments import budget_study, budgets, finetune, probing, summary
from pretext_lessons.experiments.table import RANDOM


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=len(budget_study.STUDY_SEEDS),
                        help=f"how many of {budget_study.STUDY_SEEDS} (default: all)")
    parser.add_argument("--ks", default="10,100", help="labelled images per class, comma-separated (default 10,100)")
    parser.add_argument("--num-test", type=int, default=None, help="test images (default: every test image)")
    args = parser.parse_args()
    if not 2 <= args.seeds <= len(budget_study.STUDY_SEEDS):
        parser.error(f"--seeds must be between 2 and {len(budget_study.STUDY_SEEDS)}, got {args.seeds}")
    seeds = budget_study.STUDY_SEEDS[:args.seeds]
    ks = probing.check_ks(tuple(int(k) for k in args.ks.split(",")))
    tasks = course_tasks()
    start = time.perf_counter()
    rotation_only = {"rotation": tasks["rotation"]}
    networks, _ = budgets.train_networks(rotation_only, {"cnn": seeds}, "quick", None, log=None)
    controls = summary.control_networks(rotation_only, {"cnn": seeds}, "quick")
    tuned_from = [n for n in networks if n.name in ("rotation", RANDOM)] + controls
    trained = time.perf_counter() - start
    start = time.perf_counter()
    rows = finetune.fine_tune_rows(tuned_from, lambda seed, k: probing.downstream_split((k,), seed, args.num_test), ks=ks)
    tuned = time.perf_counter() - start
    print(f"seeds {seeds}, k {ks}, test images {'all' if args.num_test is None else args.num_test}; "
          f"networks ready in {trained:.0f} s, {len(rows)} fine-tunings in {tuned:.0f} s\n")
    print(finetune.rows_text(rows))
    family = finetune.lesson_findings(rows)
    print(f"\nprimary: {family[0].question.question}; the other {len(family) - 1} are Holm-corrected within the family\n")
    print(summary.table_text(family))
    print()
    for line in finetune.decision_lines(rows, summary.verdict_rows(family)):
        print(line)


if __name__ == "__main__":
    main()
