"""Lesson 3: relative patch position and the chromatic-aberration shortcut."""
import matplotlib.pyplot as plt
import pytest
import torch

from pretext_lessons import check_task_batch, make_backbone
from pretext_lessons.core.data import to_grayscale
from pretext_lessons.core.task import MultiPartNet
from pretext_lessons.experiments.aberration import (CONDITIONS, GRAY, GREEN_MAGENTA, aberration_experiment, apply_symmetry,
                                                    chromatic_aberration, project_colors, projection_matrix,
                                        format_table, image_geometry, plot_aberration, position_patches,
                                                    render_patches)
from pretext_lessons.tasks.relative_position import (gap_closing, plot_mirror_rates, LEFT_RIGHT_MIRROR, NEIGHBOUR_OFFSETS, UP_DOWN_MIRROR,
                                               RelativePositionTask, centre_range, crop_patches, drop_color,
                                               footprint, mirror_confusion, neighbour_offsets, normalize_patches,
                                               object_aspect, pair_positions, pair_probabilities, plot_pairs,
                                               relative_position_explorer, sample_pairs)

GEOMETRIES = [(7, 2, 1), (7, 2, 0), (5, 0, 3), (3, 4, 2), (1, 0, 0)]


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def coordinate_images(n, size):
    """Images whose pixels say where they are: channel 0 the row, 1 the column, 2 the image index."""
    rows = torch.arange(size, dtype=torch.float32)[:, None].expand(size, size)
    cols = torch.arange(size, dtype=torch.float32)[None, :].expand(size, size)
    return torch.stack([torch.stack([rows, cols, torch.full((size, size), float(i))]) for i in range(n)])


# labels --------------------------------------------------------------------------------------

def test_offsets_table_is_the_documented_row_major_order():
    assert len(set(NEIGHBOUR_OFFSETS)) == 8 and (0, 0) not in NEIGHBOUR_OFFSETS
    assert all(dy in (-1, 0, 1) and dx in (-1, 0, 1) for dy, dx in NEIGHBOUR_OFFSETS)
    assert list(NEIGHBOUR_OFFSETS) == sorted(NEIGHBOUR_OFFSETS)  # row-major: top row first, left to right
    y = torch.arange(8)
    assert neighbour_offsets(y).tolist() == [list(o) for o in NEIGHBOUR_OFFSETS]
    for k, (dy, dx) in enumerate(NEIGHBOUR_OFFSETS):
        assert NEIGHBOUR_OFFSETS[LEFT_RIGHT_MIRROR[k]] == (dy, -dx)
        assert NEIGHBOUR_OFFSETS[UP_DOWN_MIRROR[k]] == (-dy, dx)


@pytest.mark.parametrize("patch,gap,jitter", GEOMETRIES)
def test_each_patch_comes_from_where_its_label_says(patch, gap, jitter):
    size = footprint(patch, gap, jitter) + 3
    X = coordinate_images(200, size)
    P, y = sample_pairs(X, gen(1), patch=patch, gap=gap, jitter=jitter, normalize=False)
    assert P.shape == (200, 2, 3, patch, patch) and y.shape == (200,)
    # each patch is a contiguous square of its own image
    rows, cols, index = P[:, :, 0], P[:, :, 1], P[:, :, 2]
    assert torch.equal(index, torch.arange(200.)[:, None, None, None].expand_as(index))
    assert torch.equal(rows - rows[..., :1, :1], torch.arange(float(patch))[:, None].expand(patch, patch).expand_as(rows))
    assert torch.equal(cols - cols[..., :1, :1], torch.arange(float(patch))[None, :].expand(patch, patch).expand_as(cols))
    # the neighbour sits one grid step away in the label's direction, give or take both jitters
    step = patch + gap
    moved = torch.stack([rows[:, 1, 0, 0] - rows[:, 0, 0, 0], cols[:, 1, 0, 0] - cols[:, 0, 0, 0]], 1).long()
    assert (moved - step * neighbour_offsets(y)).abs().max() <= 2 * jitter
    assert set(y.tolist()) == set(range(8))


@pytest.mark.parametrize("patch,gap,jitter", GEOMETRIES + [(4, 1, 6)])
def test_every_patch_stays_inside_the_image_and_jitter_covers_its_range(patch, gap, jitter):
    H, W = footprint(patch, gap, jitter) + 2, footprint(patch, gap, jitter) + 5
    lo, hi = centre_range(H, W, patch, gap, jitter)
    centre, neighbour, y = pair_positions(4000, H, W, gen(2), patch, gap, jitter)
    for corners in (centre, neighbour):
        assert corners.min() >= 0
        assert (corners[:, 0] <= H - patch).all() and (corners[:, 1] <= W - patch).all()
    # with the centre cell fixed, each patch's shift takes every value in -jitter..jitter
    corner = (lo[0], hi[1])
    centre, neighbour, y = pair_positions(4000, H, W, gen(3), patch, gap, jitter, corner=corner)
    shift = centre - torch.tensor(corner)
    assert set(shift.flatten().tolist()) == set(range(-jitter, jitter + 1))
    shift = neighbour - torch.tensor(corner) - (patch + gap) * neighbour_offsets(y)
    assert set(shift.flatten().tolist()) == set(range(-jitter, jitter + 1))


def test_the_centre_does_not_betray_the_label():
    # the centre cell is drawn where all 8 neighbours fit, so its place is independent of the label
    centre, _, y = pair_positions(8000, 40, 40, gen(4), 7, 2, 1)
    mean_row = [float(centre[y == k, 0].float().mean()) for k in range(8)]
    assert max(mean_row) - min(mean_row) < 0.5


def test_smallest_image_works_and_one_pixel_less_fails():
    need = footprint(7, 2, 1)
    assert need == 27 == RelativePositionTask().min_size
    P, _ = sample_pairs(torch.rand(5, 1, need, need), gen(), patch=7, gap=2, jitter=1)
    assert P.shape == (5, 2, 1, 7, 7)
    with pytest.raises(ValueError, match="at least 27x27"):
        sample_pairs(torch.rand(5, 1, need - 1, 40), gen(), patch=7, gap=2, jitter=1)


def test_uint8_and_colour_images_and_devices_of_the_generator():
    X = torch.randint(0, 256, (6, 3, 30, 30), dtype=torch.uint8)
    P, y = sample_pairs(X, gen(), normalize=False)
    assert P.dtype == torch.float32 and P.shape == (6, 2, 3, 7, 7) and y.dtype == torch.int64
    assert float(P.max()) <= 1 and float(P.min()) >= 0


def test_crop_patches_agrees_with_slicing():
    X = torch.rand(4, 3, 20, 20)
    corners = torch.tensor([[0, 0], [3, 11], [15, 2], [9, 9]])
    P = crop_patches(X, corners, 5)
    for n, (r, c) in enumerate(corners.tolist()):
        assert torch.equal(P[n], X[n, :, r:r + 5, c:c + 5])


def test_normalisation_per_patch_and_a_flat_patch_stays_flat():
    X = torch.rand(50, 1, 28, 28)
    X[0] = 0.3  # a blank background image
    P, _ = sample_pairs(X, gen(), normalize=True)
    mean, std = P.mean((-3, -2, -1)), P.std((-3, -2, -1), unbiased=False)
    assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-5)
    assert torch.allclose(std[1:], torch.ones_like(std[1:]), atol=1e-4)
    assert torch.equal(P[0], torch.zeros_like(P[0]))
    assert torch.allclose(normalize_patches(torch.full((2, 1, 4, 4), 0.5)), torch.zeros(2, 1, 4, 4))


def test_colour_dropping_keeps_exactly_one_channel():
    P = torch.rand(3000, 2, 3, 7, 7)
    out = drop_color(P, gen(5))
    same = (out == P).flatten(-2).all(-1)  # (N, 2, 3): which channels came through untouched
    assert torch.equal(same.sum(-1), torch.full((3000, 2), 1))
    kept = same.float().argmax(-1)
    assert set(kept.flatten().tolist()) == {0, 1, 2}
    assert not torch.equal(kept[:, 0], kept[:, 1])  # each patch of a pair draws its own channel
    # the dropped channels are faint noise around the kept channel's mean
    kept_values = P[same].view(3000, 2, 7, 7)
    noise = out[~same].view(3000, 2, 2, 7, 7)
    assert torch.allclose(noise.mean((-2, -1)), kept_values.mean((-2, -1))[:, :, None], atol=0.01)
    ratio = noise.std((-2, -1)).mean() / kept_values.std((-2, -1)).mean()
    assert 0.005 < float(ratio) < 0.02
    pairs, _ = sample_pairs(torch.rand(20, 3, 28, 28), gen(), color_drop=True, normalize=False)
    assert pairs.shape == (20, 2, 3, 7, 7)


# the task and its network --------------------------------------------------------------------

def test_task_passes_the_spine_check_and_is_deterministic():
    task = RelativePositionTask()
    assert task.name == "relative_position" and task.num_classes == 8
    assert set(task.presets) >= {"quick", "full"}
    X = torch.randint(0, 256, (64, 1, 28, 28), dtype=torch.uint8)
    inputs, y = check_task_batch(task, X, seed=3)
    assert inputs.shape == (64, 2, 1, 7, 7)
    other, _ = task.make_batch(X.float() / 255, gen(4))
    assert not torch.equal(other, inputs)


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_pair_network_fuses_late_and_keeps_its_trunk(arch):
    task = RelativePositionTask()
    trunk = make_backbone(arch, 1, 4)
    net = task.build_net(trunk)
    assert isinstance(net, MultiPartNet) and net.trunk is trunk
    assert net.head[0].out_features == 2 * trunk.out_features  # late fusion's hidden width
    P, _ = task.make_batch(torch.rand(10, 1, 28, 28), gen())
    assert net(P).shape == (10, 8)
    # late fusion: swapping the two patches changes the answer (the order carries the question)
    net.eval()
    assert not torch.allclose(net(P), net(P.flip(1)))
    # the trunk reads whole images downstream
    assert trunk(task.preprocess(torch.rand(3, 1, 28, 28))).shape == (3, trunk.out_features)
    with pytest.raises(ValueError, match=r"parts must be \(N, 2, C, h, w\)"):
        net(torch.rand(10, 1, 7, 7))


def test_preprocess_normalises_whole_images_as_patches_were():
    X = torch.rand(4, 1, 28, 28) * 0.5 + 0.2
    Z = RelativePositionTask().preprocess(X)
    assert torch.allclose(Z.mean((1, 2, 3)), torch.zeros(4), atol=1e-5)
    assert torch.allclose(Z.std((1, 2, 3), unbiased=False), torch.ones(4), atol=1e-4)
    assert torch.equal(RelativePositionTask(normalize=False).preprocess(X), X)


def test_task_configuration_errors():
    with pytest.raises(ValueError, match="num_classes must be 8"):
        RelativePositionTask(num_classes=4)
    with pytest.raises(ValueError, match=r"patch must be a positive integer \(pixels\), got 7.0"):
        RelativePositionTask(patch=7.0)
    with pytest.raises(ValueError, match=r"gap must be a non-negative integer \(pixels\), got -1"):
        RelativePositionTask(gap=-1)
    assert RelativePositionTask(patch=9, gap=3, jitter=2).min_size == 37


def test_bad_input_is_named():
    X = torch.rand(4, 1, 28, 28)
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        sample_pairs(X, 0)
    with pytest.raises(ValueError, match=r"generator must live on the data's device \(cuda\), got one on cpu"):
        pair_positions(3, 28, 28, gen(), device="cuda")
    with pytest.raises(TypeError, match="X must be a torch.Tensor"):
        sample_pairs(X.numpy(), gen())
    with pytest.raises(ValueError, match="4 dimensions"):
        sample_pairs(X[0], gen())
    with pytest.raises(ValueError, match="patch must be a positive integer"):
        sample_pairs(X, gen(), patch=0)
    with pytest.raises(ValueError, match="jitter must be a non-negative integer"):
        sample_pairs(X, gen(), jitter=-2)
    with pytest.raises(ValueError, match="at least 35x35 pixels for patch=9"):
        sample_pairs(X, gen(), patch=9, gap=2, jitter=2)
    with pytest.raises(ValueError, match="color_drop needs colour images"):
        sample_pairs(X, gen(), color_drop=True)
    with pytest.raises(ValueError, match=r"P must be colour patches \(\.\.\., 3, H, W\)"):
        drop_color(torch.rand(4, 2, 1, 7, 7), gen())
    with pytest.raises(ValueError, match="corner must be a"):
        pair_positions(3, 28, 28, gen(), corner=(0, 10))
    with pytest.raises(ValueError, match="y must hold labels in 0..7"):
        neighbour_offsets(torch.tensor([8]))
    with pytest.raises(TypeError, match="y must be an int64 tensor"):
        neighbour_offsets(torch.tensor([1.0]))
    with pytest.raises(ValueError, match="num must be a non-negative integer, got -1"):
        pair_positions(-1, 28, 28, gen())


def test_mirror_confusion_counts_mirrors():
    y = torch.arange(8).repeat(10)
    assert mirror_confusion(y, y) == {"left/right": 0.0, "up/down": 0.0, "any other": 0.0}
    rates = mirror_confusion(y, torch.tensor(LEFT_RIGHT_MIRROR)[y])
    assert rates["left/right"] == 1.0 and rates["up/down"] == 0.0
    rates = mirror_confusion(y, torch.tensor(UP_DOWN_MIRROR)[y])
    assert rates["up/down"] == 1.0 and rates["left/right"] == 0.0
    with pytest.raises(ValueError, match="equal length"):
        mirror_confusion(y, y[:3])


def test_object_aspect_measures_the_box_around_the_object():
    X = torch.zeros(3, 1, 28, 28)
    X[0, 0, 4:14, 10:15] = 1        # 10 rows by 5 columns
    X[1, 0, 20:22, 2:26] = 0.5      # 2 rows by 24 columns
    X[1, 0, 27, 27] = 0.05          # too faint to count
    assert torch.allclose(object_aspect(X), torch.tensor([2.0, 2 / 24, 1.0]))  # an empty image counts as 1 x 1


def test_sample_pairs_draws_from_the_global_state_without_a_generator():
    X = torch.rand(6, 1, 28, 28)
    torch.manual_seed(3)
    a, ya = sample_pairs(X)
    torch.manual_seed(3)
    b, yb = sample_pairs(X, None)
    assert torch.equal(a, b) and torch.equal(ya, yb)
    c, yc = RelativePositionTask().make_batch(X, gen(1))
    d, yd = sample_pairs(X, gen(1))
    assert torch.equal(c, d) and torch.equal(yc, yd)


def test_pair_probabilities_for_gray_and_colour_pairs():
    net = RelativePositionTask().build_net(make_backbone("cnn", 1, 4))
    net.train()
    P, _ = sample_pairs(torch.rand(6, 3, 28, 28), gen())
    probs = pair_probabilities(net, P)  # a gray network reads colour patches as their luma
    assert probs.shape == (6, 8) and torch.allclose(probs.sum(1), torch.ones(6))
    assert net.training  # the network's mode is given back
    gray = pair_probabilities(net, to_grayscale(P))
    assert torch.allclose(probs, gray, atol=1e-6)
    with pytest.raises(ValueError, match=r"P must be pairs \(N, 2, C, H, W\)"):
        pair_probabilities(net, P[:, 0])
    colour_net = RelativePositionTask().build_net(make_backbone("cnn", 3, 4))
    with pytest.raises(ValueError, match="net reads 3-channel patches"):
        pair_probabilities(colour_net, P.mean(2, keepdim=True))


# visualisation -------------------------------------------------------------------------------

def test_plot_pairs_without_and_with_a_network():
    image = torch.rand(1, 28, 28)
    fig = plot_pairs(image)
    assert len(fig.axes) == 1 + 9
    plt.close(fig)
    net = RelativePositionTask().build_net(make_backbone("cnn", 1, 4))
    fig = plot_pairs(image, centre=(13, 14), net=net, neighbour=2)
    assert len(fig.axes) == 1 + 9 + 2
    assert "neighbour 2" in fig.axes[10].get_title()
    plt.close(fig)
    # a colour photo shown to a grayscale network, at the reference geometry
    fig = plot_pairs(torch.rand(3, 420, 400), patch=96, gap=48, jitter=7, net=net)
    plt.close(fig)
    with pytest.raises(ValueError, match="centre must keep all 8 neighbours"):
        plot_pairs(image, centre=(3, 14))
    with pytest.raises(ValueError, match="neighbour must be a label in 0..7"):
        plot_pairs(image, net=net, neighbour=9)


def test_explorer_builds_widgets():
    box = relative_position_explorer(images=torch.rand(2, 1, 28, 28))
    names = {w.description for w in box.children if hasattr(w, "description")}
    assert {"image", "centre row", "centre col", "neighbour", "jitter seed"} <= names
    plt.close("all")
    with pytest.raises(ValueError, match=r"^images must be at least 27x27 pixels per image, got "):
        relative_position_explorer(images=torch.rand(2, 1, 20, 20))


# the chromatic-aberration experiment ---------------------------------------------------------

def test_aberration_is_the_identity_at_zero_strength():
    X = torch.rand(2, 3, 31, 40)
    assert torch.allclose(chromatic_aberration(X, 0.0), X, atol=1e-5)


@pytest.mark.parametrize("strength", [0.05, -0.08, 0.2])
def test_aberration_scales_green_relative_to_red_and_blue_about_the_centre(strength):
    X = torch.rand(1, 3, 41, 41)
    out = chromatic_aberration(X, strength)
    assert torch.allclose(out[:, :, 20, 20], X[:, :, 20, 20], atol=1e-5)  # the centre does not move
    assert torch.allclose(out[:, 0], X[:, 0], atol=1e-5) and torch.allclose(out[:, 2], X[:, 2], atol=1e-5)
    # a soft line 10 px right of (or below) the centre: red and blue stay at 10, green lands at 10 * (1 - s)
    bump = torch.exp(-((torch.arange(41.) - 30) / 2) ** 2 / 2)
    for line, axis in ((bump.expand(1, 3, 41, 41), -1), (bump[:, None].expand(1, 3, 41, 41), -2)):
        seen = chromatic_aberration(line, strength)[0]
        seen = seen[:, 20] if axis == -1 else seen[:, :, 20]
        where = (seen * torch.arange(41.)).sum(-1) / seen.sum(-1)
        assert torch.allclose(where - 20, torch.tensor([10, 10 * (1 - strength), 10]), atol=0.02)


def test_projection_removes_a_pure_green_magenta_shift_to_numerical_precision():
    X = torch.rand(4, 3, 16, 16, dtype=torch.float64)
    a = torch.tensor(GREEN_MAGENTA, dtype=torch.float64).view(1, 3, 1, 1)
    shifted = X + a * torch.randn(4, 1, 16, 16, dtype=torch.float64)  # any amount along green-magenta, per pixel
    assert torch.allclose(project_colors(shifted), project_colors(X), atol=1e-12)
    gray_and_red_blue = torch.tensor([[1.0, 1, 1], [1, 0, -1]], dtype=torch.float64).view(2, 3, 1, 1)
    assert torch.allclose(project_colors(gray_and_red_blue), gray_and_red_blue, atol=1e-12)  # the rest is kept
    B = projection_matrix(torch.float64)
    assert torch.allclose(B @ B, B, atol=1e-12) and torch.allclose(B, B.T)
    # the simulated lens moves green only; what projection leaves of that is the same in all three channels (gray)
    lens = chromatic_aberration(X, 0.1).double() - X  # the lens resamples in float32
    left = project_colors(lens)
    assert torch.allclose(left, lens[:, 1:2].expand_as(left) / 3, atol=1e-5)
    with pytest.raises(ValueError, match="X must be float colour images"):
        project_colors(torch.rand(2, 1, 4, 4))


def test_symmetries_are_the_eight_of_the_square():
    X = torch.rand(1, 3, 9, 9)
    views = [apply_symmetry(X, torch.tensor([t])) for t in range(8)]
    assert torch.equal(views[0], X)
    assert len({v.numpy().tobytes() for v in views}) == 8
    assert torch.equal(apply_symmetry(X, torch.tensor([4])), X.transpose(-1, -2))


@pytest.mark.parametrize("strength", [0.0, 0.05, -0.1])
def test_fast_rendering_agrees_with_crop_symmetry_lens_cut(strength):
    photos = torch.rand(3, 3, 50, 60)
    g = gen(6)
    n, side, patch, margin = 40, 30, 6, 4
    which = torch.randint(0, 3, (n,), generator=g)
    corners = torch.stack([torch.randint(0, 50 - side + 1, (n,), generator=g),
                           torch.randint(0, 60 - side + 1, (n,), generator=g)], 1)
    t = torch.randint(0, 8, (n,), generator=g)
    patch_corners = torch.randint(margin, side - margin - patch + 1, (n, 2), generator=g)
    fast = render_patches(photos, which, corners, t, patch_corners, side, patch, strength)
    views = chromatic_aberration(apply_symmetry(crop_patches(photos, corners, side, which), t), strength)
    assert torch.allclose(fast, crop_patches(views, patch_corners, patch), atol=1e-4)


def test_position_patches_shapes_labels_and_errors():
    photos = torch.rand(2, 3, 80, 80)
    P, y = position_patches(photos, 50, gen(), grid=4, crop=64, patch=12)
    assert P.shape == (50, 3, 12, 12) and y.dtype == torch.int64 and 0 <= int(y.min()) and int(y.max()) < 16
    P, y = position_patches(photos, 30, gen(), color_drop=True, normalize=False)
    assert torch.equal(((P - photos.mean()).abs().flatten(2).std(-1) > 0).sum(-1) >= 1, torch.ones(30, dtype=bool))
    with pytest.raises(ValueError, match="patch must fit in a grid cell"):
        position_patches(photos, 5, gen(), crop=30, grid=3, patch=12)
    with pytest.raises(ValueError, match="photos must be at least 68x68"):
        position_patches(torch.rand(2, 3, 60, 60), 5, gen())
    with pytest.raises(ValueError, match="photos must have 3 channels"):
        position_patches(torch.rand(2, 1, 80, 80), 5, gen())
    with pytest.raises(ValueError, match="strength must be between"):
        chromatic_aberration(torch.rand(1, 3, 8, 8), 0.7)
    with pytest.raises(TypeError, match="strength must be a number"):
        chromatic_aberration(torch.rand(1, 3, 8, 8), "strong")


@pytest.mark.slow
def test_a_small_classifier_reads_position_from_aberration_only():
    # fewer patches and epochs than the lesson, enough to separate "far above chance" from "chance"
    table = aberration_experiment(seeds=(0,), num_train=2500, num_test=600, num_epochs=3, progress=False)
    assert list(table) == list(CONDITIONS)
    chance = 1 / 9  # a 3x3 grid; 600 test patches put chance's spread near 1.3 points
    assert table["aberration"][0] > 1.8 * chance
    assert table["colour dropping"][0] < 1.5 * chance and table["no aberration"][0] < 1.5 * chance
    assert table["projection"][0] < table["aberration"][0]
    text = format_table(table, chance)
    assert "mean" in text and "colour dropping" in text
    with pytest.raises(ValueError, match="conditions must be among"):
        aberration_experiment(conditions=("blur",))


def test_image_geometry_keeps_the_photos_proportions_in_small_images():
    assert image_geometry(68) == dict(crop=60, patch=12, margin=4)  # the photos' experiment
    for side in (16, 32, 96):
        g = image_geometry(side)
        assert g["crop"] + 2 * g["margin"] <= side and 2 <= g["patch"] <= g["crop"] // 3
        P, y = position_patches(torch.rand(4, 3, side, side), 20, gen(), **g)
        assert P.shape == (20, 3, g["patch"], g["patch"]) and int(y.max()) < 9
    with pytest.raises(ValueError, match="side must be"):
        image_geometry(8)
    with pytest.raises(ValueError, match="geometry may only set"):
        aberration_experiment(seeds=(0,), geometry=dict(grid=2))


def test_the_gray_condition_leaves_no_two_channels_to_compare():
    photos = torch.rand(3, 3, 80, 80)
    P, _ = position_patches(photos, 30, gen(), normalize=False, gray=True)
    assert torch.allclose(P[:, 0], P[:, 1]) and torch.allclose(P[:, 1], P[:, 2])
    colour, _ = position_patches(photos, 30, gen(), normalize=False)
    assert not torch.allclose(colour[:, 0], colour[:, 1])
    assert GRAY not in CONDITIONS  # asked for by name: lesson 3's default run keeps its four conditions


def test_plot_aberration():
    fig = plot_aberration(torch.rand(3, 64, 64), strength=0.05, zoom=16)
    assert len(fig.axes) == 4
    plt.close(fig)
    with pytest.raises(ValueError, match="zoom must be between"):
        plot_aberration(torch.rand(3, 64, 64), zoom=50)


# how often the gap closes: the exact fraction against a count over sampled pairs -------------

@pytest.mark.parametrize("patch,gap,jitter", [(7, 2, 1), (5, 1, 2), (6, 3, 1)])
def test_gap_closing_equals_a_count_over_sampled_pairs(patch, gap, jitter):
    n, size = 20000, footprint(patch, gap, jitter) + 1
    P, y = sample_pairs(coordinate_images(1, size).expand(n, 3, size, size), gen(3), patch=patch, gap=gap,
                        jitter=jitter, normalize=False)
    top, left = P[:, :, 0, 0, 0], P[:, :, 1, 0, 0]  # each patch's top-left pixel, as cut
    dy, dx = neighbour_offsets(y).T
    # space along an axis that separates the two patches: from the nearer patch's far edge to the other's near edge
    space_y = (dy * (top[:, 1] - top[:, 0])).abs() - patch
    space_x = (dx * (left[:, 1] - left[:, 0])).abs() - patch
    side = (dy == 0) | (dx == 0)
    closed = torch.where(side, torch.where(dy == 0, space_x, space_y) <= 0, (space_x <= 0) & (space_y <= 0))
    exact = gap_closing(patch, gap, jitter)
    for fraction, counted in ((exact["pairs"], closed.double().mean()),
                              (exact["side"], closed[side].double().mean()),
                              (exact["diagonal"], closed[~side].double().mean())):
        sem = max(fraction * (1 - fraction) / n, 1 / n ** 2) ** 0.5
        assert abs(float(counted) - fraction) < 5 * sem + 1e-12


def test_gap_closing_never_in_the_reference_geometry_and_bad_input():
    assert gap_closing(96, 48, 7)["pairs"] == 0 and gap_closing(96, 48, 7)["min_space"] == 34
    assert gap_closing(7, 0, 0)["pairs"] == 1
    with pytest.raises(ValueError, match="gap"):
        gap_closing(7, -1, 1)


def test_plot_mirror_rates_one_point_per_class_and_rate():
    rates = [mirror_confusion(torch.tensor([0, 3, 1, 6]), torch.tensor([2, 4, 6, 6])) for _ in range(3)]
    fig = plot_mirror_rates(torch.tensor([0.5, 1.0, 2.0]), rates, ["a", "b", "c"])
    assert sum(len(c.get_offsets()) for c in fig.axes[0].collections) == 9
    plt.close(fig)
    with pytest.raises(ValueError, match="one entry per class"):
        plot_mirror_rates(torch.tensor([1.0]), rates, ["a"])
