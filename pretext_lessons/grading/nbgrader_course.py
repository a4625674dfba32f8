"""An nbgrader course folder built from solutions/: one assignment per exercise notebook."""
from __future__ import annotations

import shutil
from pathlib import Path

from .release import solution_paths

COURSE_ID = "pretext-lessons"
# nbgrader's default is 30 s per cell; a training cell on a busy laptop under the grading preset needs more
NBGRADER_CELL_TIMEOUT = 120

CONFIG = '''"""nbgrader configuration of the pretext-lessons course (written by `python -m pretext_lessons release --nbgrader-course`)."""
c = get_config()  # noqa: F821 - provided by nbgrader
c.CourseDirectory.course_id = {course_id!r}
# seconds per cell (nbgrader's default is 30); under autograding the lessons train a tiny network
c.Execute.timeout = {timeout}
c.Execute.interrupt_on_timeout = True
# where `nbgrader release_assignment` puts assignments and `nbgrader collect` finds submissions
c.Exchange.root = {exchange!r}
'''


def make_course(dest, solutions=None, course_id: str = COURSE_ID, names=None,
                timeout: int = NBGRADER_CELL_TIMEOUT, exchange=None) -> Path:
    """Write an nbgrader course folder: nbgrader_config.py and source/<exercise>/<exercise>.ipynb."""
    if not isinstance(course_id, str) or not course_id.replace("-", "").replace("_", "").isalnum():
        raise ValueError(f"course_id must be letters, digits, '-' or '_', got {course_id!r}")
    if isinstance(timeout, bool) or not isinstance(timeout, int) or timeout < 1:
        raise ValueError(f"timeout must be a positive integer of seconds, got {timeout!r}")
    dest = Path(dest)
    paths = solution_paths(solutions)
    if names is not None:
        unknown = sorted(set(names) - {p.stem for p in paths})
        if unknown:
            raise ValueError(f"names must be exercises in solutions/ ({[p.stem for p in paths]}), got {unknown}")
        paths = [p for p in paths if p.stem in names]
    exchange = Path(exchange) if exchange else dest / "exchange"
    dest.mkdir(parents=True, exist_ok=True)
    (dest / "nbgrader_config.py").write_text(
        CONFIG.format(course_id=course_id, timeout=timeout, exchange=str(exchange.resolve())), encoding="utf-8")
    for path in paths:
        folder = dest / "source" / path.stem
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, folder / path.name)
    return dest
