"""Graded exercises: release (solutions/ -> exercises/), the students' self-check, the grader.

    from pretext_lessons.grading import check
    check("q1", "01_rotation")     # in an exercise notebook: the visible tests of q1
"""
from .cells import ExerciseFormatError, points_table, questions, validate
from .grader import grade
from .release import out_of_sync, release, release_notebook
from .report import merge_grades, summary
from .selfcheck import check

__all__ = ["ExerciseFormatError", "check", "grade", "merge_grades", "out_of_sync", "points_table", "questions",
           "release", "release_notebook", "summary", "validate"]
