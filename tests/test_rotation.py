"""Tests for lesson 1, rotation prediction (pretext_lessons.tasks.rotation)."""
import matplotlib
import numpy as np
import pytest
import torch

from pretext_lessons.tasks import rotation
from pretext_lessons.tasks.rotation import (RotationTask, image_for_net, plot_rotations, rotate_batch,
                                      rotation_confusions, rotation_probabilities, unrotate, upright_lookalike)
from pretext_lessons.core.task import check_task_batch
from pretext_lessons.core.training import build_net, resolve_preset


def reference_rotation(img: np.ndarray, r: int) -> np.ndarray:
    """Counter-clockwise quarter turns of one (H, W) image, spelled as RotNet's flips and transposes."""
    if r == 0:
        return img
    if r == 1:
        return np.flipud(np.transpose(img))
    if r == 2:
        return np.fliplr(np.flipud(img))
    return np.transpose(np.flipud(img))


def random_images(n=5, c=1, size=7, dtype=torch.uint8, seed=0):
    g = torch.Generator().manual_seed(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, (n, c, size, size), generator=g, dtype=torch.uint8)
    return torch.rand(n, c, size, size, generator=g, dtype=dtype)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
@pytest.mark.parametrize("c", [1, 3])
def test_all_rotations_match_per_image_reference(dtype, c):
    X = random_images(4, c, 6, dtype)
    inputs, y = rotate_batch(X)
    assert inputs.shape == (16, c, 6, 6) and inputs.dtype == dtype
    assert y.dtype == torch.int64 and y.tolist() == [0, 1, 2, 3] * 4
    for i in range(4):
        for r in range(4):
            for ch in range(c):
                expected = reference_rotation(X[i, ch].numpy(), r)
                assert np.array_equal(inputs[4 * i + r, ch].numpy(), expected), (i, r, ch)


def test_quarter_turn_four_times_is_identity():
    X = random_images(3, 3, 9, torch.float32)
    turned = X
    for _ in range(4):
        turned = rotate_batch(turned)[0][1::4]  # the 90-degree copy of each image
    assert torch.equal(turned, X)
    once = rotate_batch(X)[0][1::4]
    assert not torch.equal(once, X)


def test_rotations_are_permutations_of_pixels():
    X = random_images(2, 1, 5, torch.float32)
    inputs, _ = rotate_batch(X)
    for i in range(2):
        for r in range(4):
            assert torch.equal(inputs[4 * i + r].flatten().sort().values, X[i].flatten().sort().values)


@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_one_rotation_per_image(dtype):
    X = random_images(400, 1, 5, dtype)
    inputs, y = rotate_batch(X, torch.Generator().manual_seed(1), all_rotations=False)
    assert inputs.shape == X.shape and y.shape == (400,) and y.dtype == torch.int64
    counts = torch.bincount(y, minlength=4)
    assert counts.min() > 60, counts  # each label drawn about 100 times
    for i in range(0, 400, 37):
        expected = reference_rotation(X[i, 0].numpy(), int(y[i]))
        assert np.array_equal(inputs[i, 0].numpy(), expected)
    assert torch.equal(unrotate(inputs, y), X)
    again = rotate_batch(X, torch.Generator().manual_seed(1), all_rotations=False)
    other = rotate_batch(X, torch.Generator().manual_seed(2), all_rotations=False)
    assert torch.equal(again[0], inputs) and torch.equal(again[1], y)
    assert not torch.equal(other[1], y)


def test_rotation_index_rows_are_pixel_permutations():
    index = rotation.rotation_index(3, 4)
    assert index.shape == (4, 48) and index.dtype == torch.int64
    assert torch.equal(index[0], torch.arange(48))
    for row in index:
        assert torch.equal(row.sort().values, torch.arange(48))
    for r in range(1, 4):  # a turn keeps each pixel in its own channel
        assert torch.equal(index[r] // 16, torch.arange(48) // 16)


def test_empty_batch():
    inputs, y = rotate_batch(torch.zeros(0, 1, 4, 4))
    assert inputs.shape == (0, 1, 4, 4) and y.shape == (0,)


@pytest.mark.parametrize("bad, kwargs, error, words", [
    (torch.zeros(2, 1, 4, 5), {}, ValueError, ["X", "square", "4x5"]),
    (torch.zeros(1, 4, 4), {}, ValueError, ["X", "4 dimensions", "(1, 4, 4)"]),
    (np.zeros((2, 1, 4, 4)), {}, TypeError, ["X", "torch.Tensor", "ndarray"]),
    (torch.zeros(2, 1, 4, 4, dtype=torch.int32), {}, TypeError, ["X", "uint8", "int32"]),
    (torch.zeros(2, 2, 4, 4), {}, ValueError, ["X", "channels", "2"]),
    (torch.zeros(2, 1, 4, 4), {"all_rotations": "yes"}, TypeError, ["all_rotations", "'yes'"]),
    (torch.zeros(2, 1, 4, 4), {"generator": 42, "all_rotations": False}, TypeError, ["generator", "int"]),
])
def test_bad_input_names_the_argument(bad, kwargs, error, words):
    with pytest.raises(error) as info:
        rotate_batch(bad, **kwargs)
    for word in words:
        assert word in str(info.value), (word, str(info.value))


def test_one_rotation_per_image_from_the_global_state_without_a_generator():
    X = random_images(6, 1, 5)
    torch.manual_seed(4)
    a, ya = rotate_batch(X, all_rotations=False)
    torch.manual_seed(4)
    b, yb = rotate_batch(X, None, all_rotations=False)
    assert torch.equal(a, b) and torch.equal(ya, yb)


def test_unrotate_bad_labels():
    with pytest.raises(ValueError, match="y must be a tensor of 2 rotation labels"):
        unrotate(torch.zeros(2, 1, 4, 4), torch.zeros(3, dtype=torch.int64))


@pytest.mark.parametrize("all_rotations", [True, False])
def test_task_passes_check_task_batch(all_rotations):
    task = RotationTask(all_rotations=all_rotations)
    X = random_images(6, 1, 28, torch.float32)
    inputs, y = check_task_batch(task, X)
    assert len(inputs) == (24 if all_rotations else 6)
    assert task.name == "rotation" and task.num_classes == 4
    for arch in ("cnn", "resnet"):
        net = build_net(task, arch, 1, 4, seed=0)
        assert net(inputs).shape == (len(inputs), 4) and hasattr(net, "trunk")


def test_task_presets_and_config():
    task = RotationTask()
    for preset in ("quick", "full"):
        settings = resolve_preset(preset, task)
        assert settings == {**settings, **RotationTask.presets[preset]}
    assert task.config()["all_rotations"] is True
    assert task.config() != RotationTask(all_rotations=False).config()  # a different checkpoint
    with pytest.raises(ValueError, match="num_classes must be 4"):
        RotationTask(num_classes=8)


def test_probabilities_and_confusions_agree_with_a_loop():
    net = build_net(RotationTask(), "cnn", 1, 4, seed=0).eval()
    X = random_images(6, 1, 12, torch.uint8)
    probs = rotation_probabilities(net, X, batch_size=4)
    assert probs.shape == (6, 4, 4)
    assert torch.allclose(probs.sum(2), torch.ones(6, 4))
    with torch.no_grad():
        direct = torch.softmax(net(rotate_batch(X.float() / 255)[0]), 1).view(6, 4, 4)
    assert torch.allclose(probs, direct, atol=1e-5)
    y = torch.tensor([0, 2, 2, 1, 0, 2])
    counts = rotation_confusions(probs, y, num_classes=3)
    expected = torch.zeros(3, 4, 4)
    for i in range(6):
        for r in range(4):
            expected[y[i], r, probs[i, r].argmax()] += 1
    assert torch.equal(counts, expected)
    with pytest.raises(ValueError, match="probs must be"):
        rotation_confusions(probs[:, :3], y)
    with pytest.raises(ValueError, match="y must be 6 int64"):
        rotation_confusions(probs, y[:5])


def test_upright_lookalike_on_bars():
    bar = torch.zeros(1, 1, 6, 6)
    bar[0, 0, :, 2:4] = 1  # a vertical bar: the same after a half turn, a different image on its side
    reference = torch.zeros(1, 1, 6, 6)
    reference[0, 0, 1:5, 2:4] = 1  # a shorter vertical bar, the only "upright" example
    ratios = upright_lookalike(bar, reference)
    assert ratios.shape == (1, 3)
    assert ratios[0, 1] == 1  # upside down it is exactly as close to the reference
    assert ratios[0, 0] > 1 and ratios[0, 2] > 1


def test_upright_lookalike_agrees_with_a_loop():
    X = random_images(5, 1, 6, torch.uint8, seed=1)
    reference = random_images(9, 1, 6, torch.uint8, seed=2)
    ratios = upright_lookalike(X, reference, batch_size=2)
    R = reference.float().flatten(1) / 255
    for i in range(5):
        dist = [min(float(torch.dist(torch.from_numpy(reference_rotation(X[i, 0].numpy(), r).copy()).float().flatten() / 255, row))
                    for row in R) for r in range(4)]
        for r in range(1, 4):
            assert abs(float(ratios[i, r - 1]) - dist[r] / dist[0]) < 1e-4
    with pytest.raises(ValueError, match="X_reference must hold images shaped like"):
        upright_lookalike(X, random_images(2, 1, 7))
    with pytest.raises(ValueError, match="X_reference must hold at least one image"):
        upright_lookalike(X, reference[:0])


def test_plot_rotations_returns_figures_without_a_browser():
    image = random_images(1, 1, 28, torch.uint8)[0]
    fig = plot_rotations(image)
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 4
    net = build_net(RotationTask(), "cnn", 1, 4, seed=0)
    fig = plot_rotations(image[0], net=net)  # (H, W) works too
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 8
    with pytest.raises(ValueError, match="image must have the 1 channel"):
        plot_rotations(torch.rand(3, 28, 28), net=net)
    with pytest.raises(ValueError, match="image must be one image"):
        plot_rotations(torch.rand(2, 1, 28, 28))
    matplotlib.pyplot.close("all")


def test_image_for_net_turns_a_photo_into_a_small_gray_image():
    photo = torch.rand(3, 64, 64)
    image = image_for_net(photo, in_channels=1, size=28)
    assert image.shape == (1, 28, 28) and image.dtype == torch.float32
    assert 0 <= float(image.min()) and float(image.max()) <= 1
    gray = torch.full((3, 8, 8), 0.5)
    assert torch.allclose(image_for_net(gray, 1, 8), torch.full((1, 8, 8), 0.5))


def test_explorer_has_a_static_picture():
    X = random_images(3, 1, 28, torch.uint8)
    box = rotation.rotation_explorer(images=X)
    assert "image/png" in box._repr_mimebundle_()
    names = {w.description for w in box.children if hasattr(w, "description")}
    assert {"source", "image"} <= names
    matplotlib.pyplot.close("all")


def test_plot_error_vs_lookalike_one_point_per_class():
    import matplotlib.pyplot as plt

    fig = rotation.plot_error_vs_lookalike(torch.rand(10), 1 + torch.rand(10, 3))
    assert len(fig.axes[0].collections[0].get_offsets()) == 10
    plt.close(fig)
    with pytest.raises(ValueError, match="one entry per class"):
        rotation.plot_error_vs_lookalike(torch.rand(3), torch.rand(4))
