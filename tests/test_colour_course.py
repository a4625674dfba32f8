"""Every lesson (0 to 7) executes headless on the offline colour folder (DATASET set through the course's variable).

They run in the grading preset: this checks every code path on colour data (channels, sizes, class
names, the colour-only parts) in CI's time; the quick preset's time on the folder is a benchmark's
business (`python -m pretext_lessons course 01_rotation ... --dataset DIR`), not a test's.

The folder is made by `make_photo_folder` (crops of scikit-image's photos, one class per photo), and the
lessons run in order in the session's checkpoint folder, as the course command runs them with
`--dataset`. Each executed lesson must say it ran on that folder, print only verdicts made by
core.stats, keep a static picture for every widget, and print nothing that speaks of Fashion-MNIST's
garments as if they were the data. Seconds per lesson go to build/notebook-times.json under "photos/...".
"""
import pytest

from pretext_lessons.core.data import DATASET_VARIABLE, make_photo_folder
from pretext_lessons.notebook.execute import ROOT, execute_notebook, kernel_env
from test_datasets import DATASET_BOUND
from test_notebooks import (BUILD, GRADING_VARIABLES, children_cpu_seconds, load_average, record_time,
                            static_fallback_problems, verdict_problems)

pytestmark = pytest.mark.slow
LESSONS = ("00_introduction", "01_rotation", "02_jigsaw", "03_relative_position", "03b_chromatic_aberration",
           "04_layer_alignment", "05_downstream_tasks", "06_designing_pretext_tasks", "07_contrastive_and_masked")



@pytest.fixture(scope="session")
def photo_folder(tmp_path_factory):
    return make_photo_folder(tmp_path_factory.mktemp("colour") / "photos")


def printed(nb) -> str:
    return "\n".join(out.get("text", "") for cell in nb.cells for out in cell.get("outputs", [])
                     if out.get("output_type") == "stream")


@pytest.mark.parametrize("name", LESSONS)
def test_lesson_executes_on_the_colour_folder(name, photo_folder, monkeypatch):
    for variable in GRADING_VARIABLES:
        monkeypatch.delenv(variable, raising=False)
    env = kernel_env(**{DATASET_VARIABLE: str(photo_folder), "PRETEXT_LESSONS_GRADING": "1"})
    path = ROOT / "notebooks" / f"{name}.ipynb"
    out = BUILD / "executed" / "photos" / path.name
    load_before, cpu_before = load_average(), children_cpu_seconds()
    nb, seconds = execute_notebook(path, out, env=env)
    record_time(f"photos/notebooks/{path.name}", seconds, load_before, "ok", cpu_before)
    text = printed(nb)
    assert "dataset photos: colour images of 32x32 px, 8 classes" in text, f"{name} did not run on the folder"
    assert static_fallback_problems(nb) == [], f"{name}: widgets without a static picture (see {out})"
    assert verdict_problems(nb) == [], f"{name}: verdicts not made by core.stats.verdict (see {out})"
    wrong = sorted({line.strip() for line in text.splitlines() if DATASET_BOUND.search(line)})
    assert wrong == [], f"{name} printed Fashion-MNIST's words on the colour folder: {wrong[:3]} (see {out})"
