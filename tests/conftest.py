"""Shared test set-up: a private checkpoint cache, headless matplotlib, the course's data."""
import os

import matplotlib
import pytest

matplotlib.use("Agg")


@pytest.fixture(scope="session", autouse=True)
def private_checkpoints(tmp_path_factory):
    """Each test session trains into its own checkpoint folder (kernels started by tests inherit it)."""
    if "PRETEXT_LESSONS_CHECKPOINTS" not in os.environ:
        os.environ["PRETEXT_LESSONS_CHECKPOINTS"] = str(tmp_path_factory.mktemp("checkpoints"))
    os.environ.setdefault("MPLBACKEND", "Agg")
    yield
