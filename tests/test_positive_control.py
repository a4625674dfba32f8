"""Lesson 5's positive control (experiments.positive_control): a downstream task whose aligned pretext task is known."""
import pytest
import torch

from pretext_lessons.experiments import positive_control as pc

LAYERS = ("conv1", "conv2", "fc2")


def test_turn_and_the_split_are_balanced_and_deterministic():
    X = torch.arange(16, dtype=torch.uint8).reshape(1, 1, 4, 4).repeat(4, 1, 1, 1)
    y = torch.arange(4)
    T = pc.turn(X, y)
    assert torch.equal(T[0], X[0]) and torch.equal(T[1], torch.rot90(X[1], 1, dims=(-2, -1)))
    a = pc.orientation_split(seed=0, split=0, k=5, num_test=40)
    b = pc.orientation_split(seed=0, split=1, k=5, num_test=40)
    assert torch.bincount(a[1]).tolist() == [5] * 4 and torch.bincount(a[3]).tolist() == [10] * 4
    assert torch.equal(a[2], b[2]) and not torch.equal(a[0], b[0])  # the splits of a seed share their test images
    assert torch.equal(a[0], pc.orientation_split(seed=0, split=0, k=5, num_test=40)[0])



def test_a_dataset_with_fewer_test_images_gives_all_of_them_and_bad_num_test_is_named(monkeypatch):
    import types

    pool = torch.randint(0, 255, (50, 1, 8, 8), dtype=torch.uint8)
    held = torch.randint(0, 255, (30, 1, 8, 8), dtype=torch.uint8)
    small = types.SimpleNamespace(load=lambda split: (pool if split == "train" else held, None))
    monkeypatch.setattr(pc, "resolve_dataset", lambda: small)
    assert len(pc.orientation_split(num_test=2000, k=2)[3]) == 30  # as core.data.fewshot_split caps it
    assert len(pc.orientation_split(num_test=None, k=2)[3]) == 30
    assert len(pc.orientation_split(num_test=12, k=2)[3]) == 12
    with pytest.raises(ValueError, match="num_test"):
        pc.orientation_split(num_test=0, k=2)

def _rows(task_acc, layer_acc, seeds=4):
    rows = []
    for task, base in task_acc.items():
        for seed in range(seeds):
            for depth, layer in enumerate(LAYERS, start=1):
                acc = base + layer_acc.get(task, {}).get(layer, 0.0) + 0.002 * seed
                rows.append(dict(task=task, arch="cnn", seed=seed, split=0, layer=layer, depth=depth, accuracy=acc,
                                 val_accuracy=acc, C=1.0, k=10))
    return rows


def test_the_control_finds_the_task_and_the_layer_moving():
    classes = _rows({"rotation": 0.70, "jigsaw": 0.72, "random": 0.69}, {t: {"fc2": -0.1} for t in ("rotation", "jigsaw", "random")})
    orientation = _rows({"rotation": 0.50, "jigsaw": 0.45, "random": 0.40}, {"rotation": {"fc2": 0.45}})
    found = pc.control_findings(orientation, classes)
    names = [f.question.question for f in found]
    assert names[0].startswith("orientation: rotation (chosen here) - jigsaw (chosen for the classes)")
    assert any("rotation at fc2 (chosen here) - at conv1" in n for n in names)
    assert all(f.question.comparison.low > 0 for f in found)


def test_the_no_signal_control_sits_beside_random():
    classes = _rows({"rotation": 0.70, "jigsaw": 0.72, "random": 0.69}, {})
    orientation = _rows({"rotation": 0.80, "jigsaw": 0.45, "random": 0.40, "no_signal-rotation": 0.42}, {})
    names = [f.question.question for f in pc.control_findings(orientation, classes)]
    assert any(n.startswith("orientation: rotation - random") for n in names)
    assert any(n.startswith("orientation: rotation - no_signal-rotation") for n in names)
    # a control that is not a pretext task is never chosen as the best task
    assert not any("no_signal-rotation (chosen" in n for n in names)


def test_the_opposite_outcome_prints_the_opposite_verdict():
    from pretext_lessons.experiments import summary as sm

    classes = _rows({"rotation": 0.70, "jigsaw": 0.72, "random": 0.69}, {})
    up = _rows({"rotation": 0.80, "jigsaw": 0.45, "random": 0.40}, {})
    down = _rows({"rotation": 0.30, "jigsaw": 0.45, "random": 0.40}, {})

    def against_random(rows):
        found = pc.control_findings(rows, classes)
        return [r["outcome"] for r in sm.verdict_rows(found) if r["question"].startswith("orientation: rotation - random")]
    assert against_random(up) == ["better"] and against_random(down) == ["worse"]


def test_variance_sources_state_both():
    orientation = _rows({"rotation": 0.9}, {})
    s = pc.variance_sources(orientation, "rotation", num_test=2000)
    assert s["test_se"] == pytest.approx(100 * (0.903 * 0.097 / 2000) ** 0.5, rel=0.01)
    assert s["seeds"] == 4 and s["seed_sd"] > 0
    assert "standard error" in pc.variance_text([s])


@pytest.mark.slow
def test_a_rotation_network_moves_on_orientation(tmp_path, monkeypatch):
    """The real thing, small: a briefly trained rotation network leads random weights on orientation at a deeper layer."""
    monkeypatch.setenv("PRETEXT_LESSONS_CHECKPOINTS", str(tmp_path))
    from pretext_lessons.core.training import train_or_load
    from pretext_lessons.experiments import alignment, references
    from pretext_lessons.tasks.rotation import RotationTask

    networks = []
    for seed in (0, 1):
        net, _ = train_or_load(RotationTask(), seed=seed, num_images=2000, num_epochs=2, width=8, progress=False)
        networks += [(RotationTask(), "cnn", seed, net),
                     (alignment.RANDOM, "cnn", seed, references.calibrated_random(None, "cnn", seed, num_images=2000,
                                                                                   width=8))]
    rows = pc.probe_orientation(networks, splits=(0, 1), num_test=1000)
    curves = {c.task: c for c in alignment.best_layers(rows)}
    assert curves["rotation"].best.mean > curves["random"].best.mean + 0.1
    assert curves["rotation"].best.depth > curves["random"].best.depth
