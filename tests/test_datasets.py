"""The DATASET setting: names and folders, the offline colour folder, presets and checkpoints per dataset."""
import ast
import json
import re
from pathlib import Path

import pytest
import torch
from PIL import Image

from pretext_lessons.core import data, training
from pretext_lessons.core.data import make_photo_folder, resolve_dataset, use_dataset

ROOT = Path(__file__).resolve().parent.parent
# words that only fit Fashion-MNIST: no string a notebook prints may hold them, since the data may be anything
# (tests/test_colour_course.py checks the printed output of every lesson run on the colour folder too)
DATASET_BOUND = re.compile(r"garment|clothes|clothing", re.I)


@pytest.fixture(autouse=True)
def course_dataset(monkeypatch):
    """Each test starts on the default dataset and leaves no choice behind."""
    monkeypatch.setattr(data, "_CURRENT", [])
    monkeypatch.delenv(data.DATASET_VARIABLE, raising=False)
    monkeypatch.delenv("PRETEXT_LESSONS_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)


def write_folder(root, classes=("red", "green", "blue"), per_class=10, size=12, seed=0):
    """A flat ImageFolder: one sub-folder per class of random images tinted by class."""
    g = torch.Generator().manual_seed(seed)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i in range(per_class):
            pixels = torch.randint(0, 120, (size, size, 3), generator=g, dtype=torch.uint8)
            pixels[..., c % 3] += 120
            Image.fromarray(pixels.numpy()).save(root / name / f"{i}.png")
    return root


@pytest.fixture(scope="module")
def photos(tmp_path_factory):
    """The offline colour folder, small: 8 photos x (24 train + 12 test) crops of 32 px."""
    return make_photo_folder(tmp_path_factory.mktemp("photos") / "photos", per_class=24, test_per_class=12)


def test_the_default_is_fashion_mnist_with_its_geometry():
    ds = data.current_dataset()
    assert (ds.name, ds.channels, ds.size, ds.num_classes, ds.key) == ("fashion_mnist", 1, 28, 10, "fashion_mnist")
    assert not ds.colour and ds.classes == data.FASHION_MNIST_CLASSES


@pytest.mark.parametrize("name, channels, size", [("cifar10", 3, 32), ("CIFAR-10", 3, 32), ("stl10", 3, 96)])
def test_named_datasets_are_known_without_downloading(name, channels, size):
    ds = resolve_dataset(name)
    assert (ds.channels, ds.size, ds.num_classes) == (channels, size, 10) and ds.colour


@pytest.mark.parametrize("value, kind, message", [
    ("cifar100", ValueError, r"dataset must be 'fashion_mnist', 'cifar10', 'stl10' or a folder .* got 'cifar100'"),
    (10, TypeError, "dataset must be a name .* got int"),
    ("cifar10", ValueError, "size can only be changed for an image folder"),
])
def test_bad_dataset_values_are_named(value, kind, message):
    with pytest.raises(kind, match=message):
        resolve_dataset(value, size=64 if value == "cifar10" else None)


def test_a_folder_needs_class_sub_folders(tmp_path):
    (tmp_path / "only").mkdir()
    with pytest.raises(ValueError, match="one sub-folder per class .* got 1 sub-folder"):
        resolve_dataset(tmp_path)
    with pytest.raises(ValueError, match="size must be an integer of at least 8"):
        resolve_dataset(write_folder(tmp_path / "ok"), size=4)


def test_a_flat_folder_holds_out_every_fifth_image_of_each_class(tmp_path):
    ds = resolve_dataset(write_folder(tmp_path / "tints"), size=16)
    X, y = ds.load("train")
    X_test, y_test = ds.load("test")
    assert ds.classes == ("blue", "green", "red") and ds.key == "folder:tints@16"
    assert X.shape == (24, 3, 16, 16) and X.dtype == torch.uint8 and X_test.shape == (6, 3, 16, 16)
    assert torch.bincount(y).tolist() == [8, 8, 8] and torch.bincount(y_test).tolist() == [2, 2, 2]
    assert not any(torch.equal(a, b) for a in X_test for b in X)  # no test image is also a training image
    assert ds.num_train == 24


def test_the_photo_folder_has_one_class_per_photo_and_a_split(photos):
    ds = resolve_dataset(photos)
    assert ds.classes == tuple(sorted(data.FOLDER_PHOTOS)) and ds.colour and ds.size == data.FOLDER_SIZE
    X, y = ds.load("train")
    X_test, y_test = ds.load("test")
    assert X.shape == (8 * 24, 3, 32, 32) and X_test.shape == (8 * 12, 3, 32, 32)
    assert torch.bincount(y).tolist() == [24] * 8 and ds.num_train == 8 * 24
    # crops of different photos differ in colour: the class means are not all alike
    means = torch.stack([X[y == c].float().mean((0, 2, 3)) for c in range(8)])
    assert torch.cdist(means, means).max() > 30
    with pytest.raises(FileExistsError, match="root must be a new or empty folder"):
        make_photo_folder(photos)
    with pytest.raises(ValueError, match="per_class must be an integer of at least 1, got 0"):
        make_photo_folder(photos.parent / "other", per_class=0)


def test_use_dataset_sets_every_default_and_the_variable_wins(photos, monkeypatch, capsys):
    ds = use_dataset(photos)
    assert data.current_dataset() == ds
    X_train, y_train, X_test, _ = data.fewshot_split(k=3, seed=0, num_test=None)
    assert X_train.shape[1:] == (3, 32, 32) and len(X_train) == 3 * 8 and len(X_test) == 8 * 12
    assert data.pretrain_split(50).shape == (50, 3, 32, 32)
    assert data.class_examples()[1].tolist() == list(range(8))
    monkeypatch.setenv(data.DATASET_VARIABLE, str(photos))
    assert use_dataset("fashion_mnist") == ds
    assert "from $PRETEXT_LESSONS_DATASET" in capsys.readouterr().out


def test_presets_follow_the_dataset(photos):
    quick = training.resolve_preset("quick", dataset="fashion_mnist")
    assert quick == training.PRESETS["quick"]  # the default path is untouched
    assert training.resolve_preset("quick", dataset=photos)["num_images"] == 8 * 24  # capped at the split
    full = training.resolve_preset("full", dataset="cifar10")
    assert full["num_images"] == 50000 and full["width"] == training.DATASET_PRESETS["cifar10"]["full"]["width"]
    assert training.resolve_preset("full", dataset="cifar10", width=8)["width"] == 8  # overrides still win


def test_switching_the_dataset_never_loads_a_network_trained_on_another(tmp_path, monkeypatch, capsys):
    from pretext_lessons.tasks.rotation import RotationTask

    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path / "checkpoints"))
    # two folders with the same images under different names: only the dataset tells them apart
    first = write_folder(tmp_path / "first", size=16)
    second = write_folder(tmp_path / "second", size=16)
    small = dict(num_epochs=1, batch_size=8, width=4)
    task = RotationTask()
    use_dataset(first)
    training.train_or_load(task, preset="grading", progress=True, **small)
    use_dataset(second)
    capsys.readouterr()
    net, _ = training.train_or_load(task, preset="grading", progress=True, **small)
    assert "Loaded" not in capsys.readouterr().out
    names = sorted(p.name for p in (tmp_path / "checkpoints").glob("*.pt"))
    assert len(names) == 2 and any("first" in n for n in names) and any("second" in n for n in names)
    assert net.trunk.in_channels == 3
    use_dataset(first)
    training.train_or_load(task, preset="grading", progress=True, **small)
    assert "Loaded" in capsys.readouterr().out  # its own network is still found


@pytest.mark.slow
def test_a_pretext_task_trains_and_is_probed_layer_by_layer_on_the_photo_folder(photos, tmp_path, monkeypatch):
    from pretext_lessons.experiments import budgets, probing
    from pretext_lessons.experiments.table import RANDOM, best_layers
    from pretext_lessons.tasks.jigsaw import JigsawTask

    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    use_dataset(photos)
    task = JigsawTask(num_classes=10)
    net, history = training.train_or_load(task, preset="grading", progress=False, num_epochs=2, width=4)
    assert net.trunk.in_channels == 3 and len(history["val_acc"]) == 2  # held out: the folder's test split
    split = probing.downstream_split((4,), seed=0)
    rows = probing.probe_network(net, task, "cnn", 0, (4,), split)
    rows += probing.probe_network(budgets.random_net("cnn", 0, "grading"), RANDOM, "cnn", 0, (4,), split)
    assert {r["layer"] for r in rows} == set(net.trunk.layer_names)
    assert all(0 <= r["accuracy"] <= 1 for r in rows) and len(rows) == 2 * len(net.trunk.layer_names)
    best = {c.task: c for c in best_layers(rows)}
    assert set(best) == {"jigsaw", RANDOM}


def test_the_course_command_checks_the_dataset_before_starting_a_kernel(capsys):
    from pretext_lessons.__main__ import main

    with pytest.raises(ValueError, match="got 'no-such-dataset'"):
        main(["course", "01_rotation", "--dataset", "no-such-dataset"])


def test_tiles_and_patches_grow_with_the_dataset_s_images():
    from pretext_lessons.tasks.jigsaw import JigsawTask
    from pretext_lessons.tasks.relative_position import RelativePositionTask

    for name, scale in (("fashion_mnist", 1), ("cifar10", 1), ("stl10", 3)):
        use_dataset(name)
        jigsaw, pairs = JigsawTask(num_classes=10), RelativePositionTask()
        assert (jigsaw.tile, jigsaw.jitter) == (7 * scale, 2 * scale)
        assert (pairs.patch, pairs.gap, pairs.jitter) == (7 * scale, 2 * scale, scale)
        side = resolve_dataset(name).size
        assert jigsaw.min_size <= side and pairs.min_size <= side  # the arrangement fits the images
    assert JigsawTask(num_classes=10, tile=9, jitter=0).tile == 9  # an explicit geometry is kept


def test_a_notebook_built_for_some_datasets_falls_back_and_says_so(photos, monkeypatch, capsys):
    monkeypatch.setenv(data.DATASET_VARIABLE, str(photos))
    assert use_dataset("fashion_mnist", supported=("fashion_mnist",)).name == "fashion_mnist"
    assert "runs on fashion_mnist only" in capsys.readouterr().out
    assert data.current_dataset().name == "fashion_mnist"


def _string_literals(source: str) -> list[str]:
    lines = [line for line in source.splitlines() if not line.lstrip().startswith(("%", "!"))]  # IPython magics
    return [node.value for node in ast.walk(ast.parse("\n".join(lines)))
            if isinstance(node, ast.Constant) and isinstance(node.value, str)]


@pytest.mark.parametrize("folder", ["notebooks", "solutions"])
def test_no_notebook_prints_words_that_fit_fashion_mnist_only(folder):
    found = []
    for path in sorted((ROOT / folder).glob("*.ipynb")):
        for index, cell in enumerate(json.loads(path.read_text())["cells"]):
            if cell["cell_type"] == "code":
                found += [f"{path.name} cell {index}: {text[:80]!r}" for text in _string_literals("".join(cell["source"]))
                          if DATASET_BOUND.search(text)]
    assert found == [], "strings that say garments or clothes whatever the DATASET:\n" + "\n".join(found)
