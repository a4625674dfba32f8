"""The voc07 downstream task on an offline fixture in PASCAL VOC 2007's format (built by the tests), and the seed figure's
photo pretraining, in the tiny preset on the CPU."""
import json
import math
import xml.etree.ElementTree as ET

import pytest
import torch

from pretext_lessons.experiments import voc07


@pytest.fixture(scope="module")
def fixture_root(tmp_path_factory):
    return voc07.make_voc_fixture(tmp_path_factory.mktemp("voc"), num_trainval=40, num_test=24, seed=3)


@pytest.fixture(scope="module")
def splits(fixture_root):
    size = voc07.VOC_PRESETS["tiny"]["size"]
    return voc07.load_voc07(fixture_root, "trainval", size), voc07.load_voc07(fixture_root, "test", size)


def _expected_labels(root, image_id):
    """Present: a non-difficult object of the class; ignored: only difficult objects of it (read from the XML here)."""
    tree = ET.parse(voc07.voc_folder(root) / "Annotations" / f"{image_id}.xml")
    easy, hard = set(), set()
    for obj in tree.getroot().iter("object"):
        j = voc07.VOC_CLASSES.index(obj.findtext("name"))
        (hard if obj.findtext("difficult") == "1" else easy).add(j)
    return easy, hard - easy


def test_fixture_reads_as_voc_with_difficult_objects_ignored(fixture_root, splits):
    train, test = splits
    assert train.X.shape == (40, 3, 64, 64) and train.X.dtype == torch.uint8
    assert test.labels.shape == (24, 20) and test.ignore.shape == (24, 20)
    listed = (voc07.voc_folder(fixture_root) / "ImageSets" / "Main" / "test.txt").read_text().split()
    assert list(test.ids) == listed
    ignored = 0
    for data in splits:
        for i, image_id in enumerate(data.ids):
            easy, hard_only = _expected_labels(fixture_root, image_id)
            assert set(torch.nonzero(data.labels[i]).flatten().tolist()) == easy
            assert set(torch.nonzero(data.ignore[i]).flatten().tolist()) == hard_only
            ignored += len(hard_only)
    assert ignored > 0, "the fixture must hold images whose only object of a class is difficult"


def test_map_equals_scikit_learn_with_ignored_images_left_out(splits):
    from sklearn.metrics import average_precision_score

    _, test = splits
    g = torch.Generator().manual_seed(0)
    scores = torch.randn(test.labels.shape, generator=g)
    scores[:5] = scores[5:10]  # ties between images
    classes = voc07.scorable(test.labels, test.ignore)
    assert len(classes) == len(voc07.FIXTURE_CLASSES)
    expected = [average_precision_score(test.labels[~test.ignore[:, j], j].numpy(),
                                        scores[~test.ignore[:, j], j].numpy()) for j in classes]
    assert voc07.voc_map(scores, test.labels, test.ignore) == pytest.approx(sum(expected) / len(expected), abs=1e-12)


def test_probe_on_the_fixture_scores_its_own_scores_as_scikit_learn_does(splits):
    from sklearn.metrics import average_precision_score

    train, test = splits
    g = torch.Generator().manual_seed(1)
    # features that carry the labels, plus noise: the probe must rank the test images well above chance
    F_train = train.labels.float() @ torch.randn(20, 32, generator=g) + 0.3 * torch.randn(40, 32, generator=g)
    F_test = test.labels.float() @ torch.randn(20, 32, generator=torch.Generator().manual_seed(1)) \
        + 0.3 * torch.randn(24, 32, generator=g)
    threads = torch.get_num_threads()
    got = voc07.probe_voc07(F_train, train, F_test, test, C_grid=(0.1, 1.0), folds=2, workers=2)
    assert torch.get_num_threads() == threads, "the probe must give the caller's thread count back"
    classes = [voc07.VOC_CLASSES.index(c) for c in got["aps"]]
    assert got["num_classes"] == len(classes) == len(voc07.FIXTURE_CLASSES)
    aps = [average_precision_score(test.labels[~test.ignore[:, j], j].numpy(),
                                   got["scores"][~test.ignore[:, j], j].numpy()) for j in classes]
    assert got["map"] == pytest.approx(sum(aps) / len(aps), abs=1e-12)
    assert got["map"] > 0.9
    assert set(got["C"].values()) <= {0.1, 1.0}


def test_eleven_point_ap_is_the_voc07_devkit_definition():
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6, 0.5, 0.4])
    labels = torch.tensor([1, 0, 1, 0, 0, 1])
    # precision at each rank: 1, 1/2, 2/3, 2/4, 2/5, 3/6; recall: 1/3, 1/3, 2/3, 2/3, 2/3, 1
    best = [max(p for p, r in zip([1, 1 / 2, 2 / 3, 2 / 4, 2 / 5, 3 / 6], [1 / 3, 1 / 3, 2 / 3, 2 / 3, 2 / 3, 1])
                if r >= t - 1e-12) for t in [i / 10 for i in range(11)]]
    assert voc07.ap_11_point(scores, labels) == pytest.approx(sum(best) / 11)
    assert voc07.ap_11_point(scores, labels) != pytest.approx(voc07.class_aps(scores[:, None], labels[:, None])[0])


def test_missing_folder_names_the_argument_and_how_to_get_the_data(tmp_path):
    with pytest.raises(FileNotFoundError) as err:
        voc07.load_voc07(tmp_path / "nowhere", "trainval")
    message = str(err.value)
    assert message.startswith("root must be a folder holding PASCAL VOC 2007")
    assert "VOCDetection" in message and "download=True" in message and "ImageSets/Main/trainval.txt" in message
    with pytest.raises(ValueError, match="split must be one of"):
        voc07.load_voc07(tmp_path, "val")


def test_lesson_plan_and_preflight_say_how_to_get_what_is_missing(tmp_path, fixture_root, monkeypatch):
    monkeypatch.delenv("PRETEXT_LESSONS_GRADING", raising=False)
    monkeypatch.delenv("NBGRADER_EXECUTION", raising=False)
    run, line = voc07.lesson_plan("full", voc_root=tmp_path / "none", photos=tmp_path / "no_photos")
    assert not run and "VOCDetection" in line and "\n" not in line
    run, line = voc07.lesson_plan("quick", voc_root=fixture_root)
    assert not run and 'PRESET = "full"' in line
    run, line = voc07.lesson_plan("full", voc_root=fixture_root, photos=tmp_path / "no_photos")
    assert not run and "PRETEXT_LESSONS_PHOTOS" in line
    photos = tmp_path / "photos"
    photos.mkdir()
    from PIL import Image
    Image.new("RGB", (40, 30), (10, 200, 30)).save(photos / "one.jpg")
    run, line = voc07.lesson_plan("full", voc_root=fixture_root, photos=photos)
    assert run
    assert voc07.preflight("quick", tmp_path / "none") == []
    lines = voc07.preflight("full", tmp_path / "none", photos=photos)
    assert len(lines) == 2 and "skipped" in lines[0] and "VOCDetection" in lines[1]
    assert voc07.preflight("full", fixture_root, photos=photos) == []
    monkeypatch.setenv("PRETEXT_LESSONS_GRADING", "1")
    assert not voc07.lesson_plan("full", voc_root=fixture_root, photos=photos)[0]


def test_course_command_with_the_full_preset_prints_how_to_get_the_data(tmp_path, monkeypatch, capsys):
    from pretext_lessons import __main__ as cli

    monkeypatch.setenv(voc07.VOC_VARIABLE, str(tmp_path / "no_voc"))
    monkeypatch.setenv("PRETEXT_LESSONS_PHOTOS", str(tmp_path / "no_photos"))
    ran = {}
    monkeypatch.setattr(cli, "run_course", lambda **kw: ran.update(kw) or {})
    assert cli.main(["course", "--preset", "full", "--out", str(tmp_path / "out")]) == 0
    out = capsys.readouterr().out
    assert "will be skipped" in out and "VOCDetection" in out and "PRETEXT_LESSONS_PHOTOS" in out
    assert "Traceback" not in out
    assert ran["preset"] == "full"


def test_photo_resnet_exposes_the_course_layer_names():
    from pretext_lessons.core.models import activations, make_backbone

    net = make_backbone("resnet18", 3, 64)
    assert net.layer_names == ("stem", "res2", "res3", "res4", "res5", "pool") and net.out_features == 512
    got = activations(net, torch.zeros(2, 3, 64, 64, dtype=torch.uint8), net.layer_names)
    assert [tuple(got[n].shape[1:]) for n in net.layer_names] == [(64, 16, 16), (64, 16, 16), (128, 8, 8),
                                                                    (256, 4, 4), (512, 2, 2), (512,)]
    assert make_backbone("resnet50", 3, 64).out_features == 2048
    with pytest.raises(ValueError, match="width must be 64"):
        make_backbone("resnet18", 3, 16)


def test_random_crops_cut_each_image_at_its_own_place():
    from pretext_lessons.experiments.photo_pretraining import random_crops

    X = torch.arange(4 * 2 * 10 * 10, dtype=torch.float32).view(4, 2, 10, 10)
    crops = random_crops(X, 6, torch.Generator().manual_seed(0))
    assert crops.shape == (4, 2, 6, 6)
    for x, c in zip(X, crops):
        top, left = divmod(int(c[0, 0, 0]) % 100, 10)
        assert torch.equal(c, x[:, top:top + 6, left:left + 6])


def test_photo_task_at_the_papers_jigsaw_geometry():
    from pretext_lessons.experiments.photo_pretraining import photo_task

    task = photo_task("jigsaw", "full")
    assert (task.crop, task.inner.tile, task.inner.jitter, task.inner.num_classes) == (225, 64, 11, 1000)
    assert task.name == "jigsaw" and task.config()["inner"]["task"] == "JigsawTask"
    tiny = photo_task("jigsaw", "tiny")
    tiles, y = tiny.make_batch(torch.rand(3, 3, 48, 48), torch.Generator().manual_seed(0))
    assert tiles.shape == (3, 9, 3, tiny.inner.tile, tiny.inner.tile) and y.shape == (3,)


def test_full_preset_pools_each_resnet18_layer_to_vissls_sizes():
    from pretext_lessons.core.models import make_backbone

    net = make_backbone("resnet18", 3, 64)
    got = voc07.voc_features(net, torch.zeros(1, 3, 224, 224, dtype=torch.uint8), target=voc07.VOC_PRESETS["full"]["target"])
    # VISSL's eval_resnet_8gpu_transfer_voc07_svm.yaml: 9216, 9216, 8192, 9216, 8192 (conv1, res2..res5)
    assert [got[n].shape[1] for n in ("stem", "res2", "res3", "res4", "res5")] == [9216, 9216, 8192, 9216, 8192]


@pytest.mark.slow
def test_seed_figure_runs_end_to_end_in_the_tiny_preset(fixture_root):
    g = torch.Generator().manual_seed(0)
    photos = (torch.rand(32, 3, 48, 48, generator=g) * 255).to(torch.uint8)
    rows = voc07.seed_figure("tiny", voc_root=fixture_root, photos=photos, tasks=("jigsaw",), progress=False, log=None)
    assert {r["task"] for r in rows} == {"jigsaw", voc07.RANDOM}
    assert [r["layer"] for r in rows if r["task"] == "jigsaw"] == ["stem", "res2", "res3", "res4", "res5", "pool"]
    assert all(0 <= r["map"] <= 1 and 0 <= r["map_11pt"] <= 1 and not math.isnan(r["val_map"]) for r in rows)
    assert all(r["num_classes"] == len(voc07.FIXTURE_CLASSES) for r in rows)
    assert "| stem |" in voc07.format_table(rows)
    lines = voc07.figure_lines(rows)
    assert any(line.startswith("Not decided [jigsaw, resnet18") for line in lines)
    voc07.plot_seed_figure(rows)


def test_set_preset_rewrites_every_lesson_settings_cell():
    import nbformat

    from pretext_lessons.notebook.execute import lesson_paths, set_preset

    for path in lesson_paths():
        nb = nbformat.read(path, as_version=4)
        assert set_preset(nb, "full"), f"{path.name} has no PRESET line in a code cell"
        line = next(l for c in nb.cells if c.cell_type == "code" for l in c.source.splitlines()
                    if l.startswith("PRESET"))
        assert line.startswith('PRESET = "full"') and "#" in line
    with pytest.raises(ValueError, match="preset must be one of"):
        set_preset(nbformat.v4.new_notebook(), "huge")


@pytest.mark.slow
def test_benchmark_runs_offline_on_the_fixture(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "benchmarks" / "bench_voc07.py"
    spec = importlib.util.spec_from_file_location("bench_voc07", path)
    bench = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(bench)
    out = tmp_path / "tiny.json"
    assert bench.main(["--tiny", "--json", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "| res4 |" in printed and "peak memory" in printed
    got = json.loads(out.read_text())
    assert {r["task"] for r in got["rows"]} == {"jigsaw", voc07.RANDOM} and got["memory"]["peak_rss_gb"] > 0
