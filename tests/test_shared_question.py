"""One question asked in two lessons gets one answer: lesson 1's "does rotation beat random weights?" is asked on
lesson 4's units (seeds, label budget, labelled splits, test images), so the shared function prints the same verdict."""
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _settings(name: str) -> dict:
    """The constants of a lesson's settings cell (the lines before its import guard), evaluated."""
    cells = json.loads((ROOT / "notebooks" / name).read_text())["cells"]
    source = next("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    namespace: dict = {}
    exec(source.split("# Where the course is not installed")[0], namespace)  # constants only: no imports, no I/O
    return namespace


def test_lesson1_asks_rotation_against_random_on_lesson4s_units():
    one, four = _settings("01_rotation.ipynb"), _settings("04_layer_alignment.ipynb")
    assert tuple(one["SEEDS"]) == tuple(four["CNN_SEEDS"])
    assert one["K"] == four["KS"][0]
    assert one["NUM_SPLITS"] == four["NUM_SPLITS"]
    assert one["NUM_TEST"] == four["NUM_TEST"]
    assert one["PRESET"] == four["PRESET"]


def test_lesson1_decides_with_lesson4s_function_and_the_calibrated_reference():
    cells = json.loads((ROOT / "notebooks" / "01_rotation.ipynb").read_text())["cells"]
    code = "\n".join("".join(c["source"]) for c in cells if c["cell_type"] == "code")
    assert "summary.lesson4_findings(" in code and "calibrated_random(" in code
    assert "build_net(" not in code  # no uncalibrated random network left
