"""Tests for lesson 2: permutation sets, puzzles, the jigsaw task and its plots."""
import math

import matplotlib
import numpy as np
import pytest
import torch

from pretext_lessons.tasks import jigsaw, permutations as perms
from pretext_lessons.tasks.jigsaw import (JigsawTask, cut_tiles, make_puzzles, normalize_tiles, plot_puzzle,
                                    puzzle_geometry)
from pretext_lessons.core.models import make_backbone
from pretext_lessons.core.task import MultiPartNet, check_task_batch

matplotlib.use("Agg")


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def coordinate_images(N, size, channels=1):
    """Images whose pixel values are their own coordinates: value = row * size + col (+ channel offset)."""
    rows = torch.arange(size).view(size, 1) * size + torch.arange(size)
    X = rows.float().expand(N, channels, size, size).clone()
    X += torch.arange(channels).view(1, channels, 1, 1) * size * size
    return X


# ---------------------------------------------------------------- permutation sets

def test_all_permutations_are_every_permutation_once():
    P = perms.all_permutations(2)
    assert P.shape == (24, 4)
    perms.check_permutations(P)
    assert len(np.unique(P, axis=0)) == 24


@pytest.mark.parametrize("criterion", perms.CRITERIA)
def test_greedy_set_is_valid_distinct_and_deterministic(criterion):
    P = perms.greedy_permutations(12, grid=3, criterion=criterion, seed=3)
    assert P.shape == (12, 9)
    perms.check_permutations(P, 9)
    assert len(np.unique(P, axis=0)) == 12
    assert np.array_equal(P, perms.greedy_permutations(12, grid=3, criterion=criterion, seed=3))
    assert not np.array_equal(P, perms.greedy_permutations(12, grid=3, criterion=criterion, seed=4))


@pytest.mark.parametrize("criterion", perms.CRITERIA)
def test_each_greedy_step_picks_the_farthest_candidate(criterion):
    rng = np.random.default_rng(0)
    candidates = perms.all_permutations(3)[rng.choice(math.factorial(9), 300, replace=False)]
    chosen = perms.greedy_select(candidates, 15, criterion, first=5)
    assert chosen[0] == 5 and len(set(chosen.tolist())) == 15
    D = perms.hamming_distances(candidates, candidates)
    for step in range(1, 15):
        to_set = D[:, chosen[:step]]
        score = to_set.min(1) if criterion == "minimum" else to_set.sum(1).astype(float)
        score[chosen[:step]] = -1
        # the earliest of the best candidates: ties go to the first one
        assert chosen[step] == int(np.argmax(score)), f"step {step}"


def test_greedy_set_grows_by_prefix():
    assert np.array_equal(perms.greedy_permutations(8, grid=2, seed=1), perms.greedy_permutations(20, grid=2, seed=1)[:8])


def test_greedy_minimum_distance_beats_random_sets():
    greedy = perms.set_distances(perms.greedy_permutations(100, grid=3, criterion="minimum", seed=0))
    for seed in range(3):
        rand = perms.set_distances(perms.random_permutations(100, grid=3, seed=seed))
        assert greedy["min"] >= rand["min"] + 1, (greedy, rand)
    assert greedy["mean"] > 8  # random pairs differ on 9 - 1 = 8 positions on average


def test_hamming_and_set_distances_agree_with_counting():
    rng = np.random.default_rng(1)
    P = np.stack([rng.permutation(9) for _ in range(7)])
    Q = np.stack([rng.permutation(9) for _ in range(5)])
    D = perms.hamming_distances(P, Q)
    for i in range(7):
        for j in range(5):
            assert D[i, j] == sum(a != b for a, b in zip(P[i], Q[j]))
    pairs = [sum(a != b for a, b in zip(P[i], P[j])) for i in range(7) for j in range(i + 1, 7)]
    stats = perms.set_distances(P)
    assert stats["min"] == min(pairs) and stats["max"] == max(pairs)
    assert stats["mean"] == pytest.approx(np.mean(pairs))


def test_random_permutations_are_distinct_and_work_beyond_enumeration():
    P = perms.random_permutations(24, grid=2, seed=0)  # every permutation of 4: duplicates must be redrawn
    assert len(np.unique(P, axis=0)) == 24
    big = perms.random_permutations(50, grid=4, seed=0)
    perms.check_permutations(big, 16)


def test_permutation_set_is_cached_on_disk(tmp_path, monkeypatch):
    monkeypatch.setenv("PRETEXT_LESSONS_DATA", str(tmp_path))
    perms._permutation_set.cache_clear()
    P = perms.permutation_set(6, grid=2, seed=5)
    path = perms.permutation_file(6, grid=2, seed=5)
    assert path.is_file() and path.is_relative_to(tmp_path)
    assert np.array_equal(np.load(path), P)
    np.save(path, np.zeros((6, 4), dtype=np.int8))  # not permutations: must be recomputed with a warning
    perms._permutation_set.cache_clear()
    with pytest.warns(UserWarning, match="could not be used"):
        again = perms.permutation_set(6, grid=2, seed=5)
    assert np.array_equal(again, P)
    perms._permutation_set.cache_clear()


@pytest.mark.parametrize("call, error, words", [
    (lambda: perms.all_permutations(4), ValueError, "too many"),
    (lambda: perms.greedy_permutations(10, grid=4), ValueError, "too many"),
    (lambda: perms.all_permutations(1), ValueError, "grid"),
    (lambda: perms.greedy_permutations(25, grid=2), ValueError, "num"),
    (lambda: perms.greedy_permutations(0, grid=2), ValueError, "num"),
    (lambda: perms.greedy_permutations(5, grid=2, criterion="max"), ValueError, "criterion"),
    (lambda: perms.greedy_select(perms.all_permutations(2), 3, first=30), ValueError, "first"),
    (lambda: perms.random_permutations(25, grid=2), ValueError, "num"),
    (lambda: perms.permutation_set(5, grid=2, seed=1.5), TypeError, "seed"),
    (lambda: perms.check_permutations([[0, 1, 1]]), ValueError, "not a permutation"),
    (lambda: perms.check_permutations([[0.0, 1.0]]), TypeError, "integers"),
    (lambda: perms.check_permutations([0, 1, 2]), ValueError, "2-D"),
    (lambda: perms.check_permutations([[0, 1, 2]], 4), ValueError, "4 tiles"),
    (lambda: perms.set_distances([[0, 1]]), ValueError, "at least 2"),
])
def test_permutation_bad_input(call, error, words):
    with pytest.raises(error, match=words):
        call()


# ---------------------------------------------------------------- tiles and puzzles

def decode(tiles, size):
    """Row and column of every tile pixel of a coordinate image."""
    v = tiles.round().long()
    return torch.div(v, size, rounding_mode="floor"), v % size


@pytest.mark.parametrize("size, grid, tile, jitter", [(28, 3, 7, 2), (28, 3, 9, 0), (20, 2, 6, 3), (31, 3, 5, 1)])
def test_tiles_come_from_the_cells_of_the_permutation_and_stay_inside(size, grid, tile, jitter):
    X = coordinate_images(16, size)
    P = torch.as_tensor(perms.random_permutations(10, grid, seed=0))
    tiles, y = make_puzzles(X, gen(1), permutations=P, grid=grid, tile=tile, jitter=jitter, normalize=False)
    assert tiles.shape == (16, grid * grid, 1, tile, tile) and y.dtype == torch.int64
    geo = puzzle_geometry(size, size, grid, tile, jitter)
    rows, cols = decode(tiles[:, :, 0], size)
    # each tile is a contiguous t x t block of the image
    assert torch.equal(rows - rows[..., :1, :1], torch.arange(tile).view(tile, 1).expand(16, grid * grid, tile, tile))
    assert torch.equal(cols - cols[..., :1, :1], torch.arange(tile).expand(16, grid * grid, tile, tile))
    cells = P[y]  # tile at position i comes from cell perm[i]
    cell_r, cell_c = cells // grid, cells % grid
    top = geo["top"] + cell_r * geo["cell"]
    left = geo["left"] + cell_c * geo["cell"]
    dy, dx = rows[..., 0, 0] - top, cols[..., 0, 0] - left
    lo, hi = geo["base"], geo["base"] + jitter
    assert int(dy.min()) >= lo and int(dy.max()) <= hi and int(dx.min()) >= lo and int(dx.max()) <= hi
    if jitter:
        assert len(torch.unique(dy)) == jitter + 1  # all offsets get drawn on a batch this size
    assert int((rows[..., -1, -1] - top).max()) < geo["cell"] and int((cols[..., -1, -1] - left).max()) < geo["cell"]


def test_labels_match_the_applied_permutation():
    X = coordinate_images(8, 27)
    P = perms.greedy_permutations(20, grid=3, seed=0)
    y = torch.tensor([0, 3, 19, 7, 7, 1, 12, 5])
    tiles, y_out = make_puzzles(X, gen(0), permutations=P, tile=9, jitter=0, normalize=False, y=y)
    assert torch.equal(y_out, y)
    in_cell_order = cut_tiles(X, 3, 9, torch.zeros(8, 9, 2, dtype=torch.long))
    for n in range(8):
        assert torch.equal(tiles[n], in_cell_order[n, torch.as_tensor(P[y[n]])])


def test_make_puzzles_agrees_with_a_per_image_loop():
    X = torch.rand(6, 3, 30, 30)
    P = perms.greedy_permutations(10, grid=3, seed=2)
    tiles, y = make_puzzles(X, gen(4), permutations=P, tile=7, jitter=3, grayscale_p=0.0, normalize=False)
    g = gen(4)
    y_ref = torch.randint(10, (6,), generator=g)
    offsets = 0 + torch.randint(4, (6, 9, 2), generator=g)
    assert torch.equal(y, y_ref)
    for n in range(6):
        for i, k in enumerate(P[int(y[n])]):
            r, c = divmod(int(k), 3)
            oy, ox = offsets[n, k].tolist()
            expected = X[n, :, r * 10 + oy:r * 10 + oy + 7, c * 10 + ox:c * 10 + ox + 7]
            assert torch.equal(tiles[n, i], expected)


def test_per_tile_normalisation():
    X = torch.rand(5, 3, 28, 28)
    X[0] = 0.5  # flat image: flat tiles must not divide by zero
    tiles, _ = make_puzzles(X, gen(0), permutations=perms.random_permutations(4, 3), tile=7, jitter=2)
    assert torch.isfinite(tiles).all()
    assert torch.equal(tiles[0], torch.zeros_like(tiles[0]))
    mean, std = tiles[1:].mean((-2, -1)), tiles[1:].std((-2, -1), unbiased=False)
    assert torch.allclose(mean, torch.zeros_like(mean), atol=1e-5)
    assert torch.allclose(std, torch.ones_like(std), atol=1e-4)
    with pytest.raises(TypeError, match="float"):
        normalize_tiles(torch.zeros(2, 2, dtype=torch.long))


def test_random_grayscale_only_for_colour_images():
    X = torch.rand(200, 3, 27, 27)
    P = perms.random_permutations(4, 3)
    tiles, _ = make_puzzles(X, gen(0), permutations=P, tile=9, jitter=0, grayscale_p=0.3, normalize=False)
    gray = (tiles[:, :, 0] == tiles[:, :, 1]).flatten(1).all(1) & (tiles[:, :, 1] == tiles[:, :, 2]).flatten(1).all(1)
    assert 0.15 < gray.float().mean() < 0.45
    always, _ = make_puzzles(X, gen(0), permutations=P, tile=9, jitter=0, grayscale_p=1.0, normalize=False)
    assert torch.allclose(always[:, :, 0], always[:, :, 2])
    never, _ = make_puzzles(X, gen(0), permutations=P, tile=9, jitter=0, grayscale_p=0.0, normalize=False)
    assert not torch.allclose(never[:, :, 0], never[:, :, 2])
    one_channel, _ = make_puzzles(X[:, :1], gen(0), permutations=P, tile=9, jitter=0, grayscale_p=1.0, normalize=False)
    assert torch.equal(one_channel[:, :, 0], never[:, :, 0])


def test_uint8_and_float_images_give_the_same_puzzles():
    X = (torch.rand(4, 1, 28, 28) * 255).to(torch.uint8)
    P = perms.random_permutations(6, 3)
    a, ya = make_puzzles(X, gen(0), permutations=P)
    b, yb = make_puzzles(X.float() / 255, gen(0), permutations=P)
    assert torch.equal(ya, yb) and torch.allclose(a, b, atol=1e-5)


def test_default_set_and_global_random_state():
    X = torch.rand(4, 1, 28, 28)
    torch.manual_seed(5)
    a, ya = make_puzzles(X)
    torch.manual_seed(5)
    b, yb = make_puzzles(X, None, permutations=jigsaw.default_permutations())
    assert torch.equal(a, b) and torch.equal(ya, yb)  # generator None draws from torch's global state
    assert np.array_equal(jigsaw.default_permutations(), JigsawTask().permutations)
    # the task's batches are make_puzzles with the task's options
    task = JigsawTask()
    c, yc = task.make_batch(X, gen(2))
    d, yd = make_puzzles(X, gen(2))
    assert torch.equal(c, d) and torch.equal(yc, yd)


def test_default_geometry_is_the_papers_proportions():
    geo = puzzle_geometry(256, 256)
    assert (geo["cell"], geo["tile"], geo["jitter"]) == (85, 64, 21)
    geo = puzzle_geometry(28, 28)
    assert (geo["cell"], geo["tile"], geo["jitter"]) == (9, 7, 2)


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(X=torch.rand(2, 1, 20, 20), tile=7, jitter=2), ValueError, "at least 27"),
    (dict(X=torch.rand(2, 1, 2, 2)), ValueError, "at least 3x3"),
    (dict(tile=10), ValueError, "tile must fit"),
    (dict(tile=7, jitter=3), ValueError, "jitter must be at most"),
    (dict(tile=0), ValueError, "tile"),
    (dict(jitter=-1), ValueError, "jitter"),
    (dict(tile=7.0), ValueError, "tile must be a positive integer, got 7.0"),
    (dict(grid=1), ValueError, "grid"),
    (dict(generator=0), TypeError, "generator must be a torch.Generator or None, got int"),
    (dict(permutations=perms.random_permutations(3, 2)), ValueError, "9 tiles"),
    (dict(y=torch.tensor([0, 5])), ValueError, "y must index"),
    (dict(y=torch.tensor([0.0, 1.0])), TypeError, "y must be an int64"),
    (dict(grayscale_p=1.5), ValueError, "grayscale_p"),
    (dict(X=torch.rand(28, 28)), ValueError, "4 dimensions"),
    (dict(X=np.zeros((2, 1, 28, 28))), TypeError, "torch.Tensor"),
])
def test_make_puzzles_bad_input(kwargs, error, words):
    args = dict(X=torch.rand(2, 1, 28, 28), permutations=perms.random_permutations(4, 3), generator=gen(0))
    args.update(kwargs)
    with pytest.raises(error, match=words):
        make_puzzles(**args)


@pytest.mark.parametrize("offsets, order, error, words", [
    (torch.full((2, 9, 2), 3), None, ValueError, "offsets must lie in 0..2"),
    (torch.zeros(2, 9, 2), None, TypeError, "integer"),
    (torch.zeros(2, 4, 2, dtype=torch.long), None, ValueError, "shape"),
    (torch.zeros(2, 9, 2, dtype=torch.long), torch.zeros(2, 4, dtype=torch.long), ValueError, "order"),
])
def test_cut_tiles_bad_input(offsets, order, error, words):
    with pytest.raises(error, match=words):
        cut_tiles(torch.rand(2, 1, 28, 28), 3, 7, offsets, order)


def test_indistinguishable_pairs_agree_with_comparing_the_puzzles():
    g = gen(3)
    X = torch.zeros(12, 1, 27, 27)
    content = torch.rand(12, 9, generator=g) < 0.3  # a few cells with content, the rest flat (various greys)
    X += torch.rand(12, 1, 1, 1, generator=g)
    for n, k in content.nonzero().tolist():
        r, c = divmod(k, 3)
        X[n, 0, 9 * r:9 * r + 9, 9 * c:9 * c + 9] = torch.rand(9, 9, generator=g)
    assert torch.equal(jigsaw.flat_cells(X), ~content)
    P = perms.random_permutations(15, grid=3, seed=1)
    puzzles = torch.stack([make_puzzles(X, gen(0), permutations=P, tile=9, jitter=0, y=torch.full((12,), label))[0]
                           for label in range(len(P))], 1)  # (N, labels, 9, 1, 9, 9)
    i, j = np.triu_indices(len(P), k=1)
    alike = (puzzles[:, i] == puzzles[:, j]).flatten(2).all(2)
    result = jigsaw.indistinguishable_pairs(X, P)
    assert result["pairs"] == pytest.approx(float(alike.float().mean()))
    assert result["images"] == pytest.approx(float(alike.any(1).float().mean()))
    assert 0 < result["pairs"] < 1
    with pytest.raises(ValueError, match="at least 2"):
        jigsaw.indistinguishable_pairs(X, P[:1])


# ---------------------------------------------------------------- the task and its network

def test_task_batch_keeps_its_promises():
    from pretext_lessons.core.data import load_fashion_mnist

    task = JigsawTask()
    X = load_fashion_mnist("test")[0][:64]
    inputs, y = check_task_batch(task, X.float() / 255)
    assert inputs.shape == (64, 9, 1, 7, 7) and int(y.max()) < 100
    assert task.min_size == 27 and JigsawTask(tile=9, jitter=0).min_size == 27
    assert task.permutations.shape == (100, 9)
    assert perms.set_distances(task.permutations)["min"] >= 5
    assert task.config()["name"] == "jigsaw" and task.config()["tile"] == 7


@pytest.mark.parametrize("arch", ["cnn", "resnet"])
def test_context_free_network_shares_one_trunk(arch):
    task = JigsawTask(num_classes=24, grid=2, tile=9, jitter=2)
    net = task.build_net(make_backbone(arch, 1, 4))
    assert isinstance(net, MultiPartNet) and net.trunk.layer_names
    assert net.head[0].out_features == 4 * net.trunk.out_features  # the jigsaw's hidden width
    inputs, y = task.make_batch(torch.rand(3, 1, 28, 28), gen(0))
    assert net(inputs).shape == (3, 24)
    # permuting the tiles changes only the order of the concatenated features: the trunk is shared
    net.eval()
    f = net.trunk(inputs.flatten(0, 1)).view(3, 4, -1)
    g = net.trunk(inputs[:, [2, 0, 3, 1]].flatten(0, 1)).view(3, 4, -1)
    assert torch.allclose(f[:, [2, 0, 3, 1]], g, atol=1e-5)
    with pytest.raises(ValueError, match=r"parts must be \(N, 4, C, h, w\)"):
        net(torch.rand(3, 9, 1, 7, 7))


def test_preprocess_normalises_whole_images_like_tiles():
    X = torch.rand(4, 1, 28, 28)
    Z = JigsawTask().preprocess(X)
    assert Z.shape == X.shape
    assert torch.allclose(Z.mean((-2, -1)), torch.zeros(4, 1), atol=1e-5)
    assert torch.allclose(Z.std((-2, -1), unbiased=False), torch.ones(4, 1), atol=1e-4)
    assert torch.equal(JigsawTask(normalize=False).preprocess(X), X)


def test_fit_trains_the_context_free_network_on_puzzles():
    from pretext_lessons.core.training import fit

    task = JigsawTask(num_classes=10)
    X = (torch.rand(64, 1, 28, 28) * 255).to(torch.uint8)
    net = task.build_net(make_backbone("cnn", 1, 4))
    history = fit(net, task, X, num_epochs=4, batch_size=32, lr=0.05, progress=False, device="cpu")
    assert all(np.isfinite(history["loss"]))


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(num_classes=25, grid=2), ValueError, "num_classes"),
    (dict(num_classes=1), ValueError, "num_classes"),
    (dict(criterion="best"), ValueError, "criterion"),
    (dict(tile=0), ValueError, "tile"),
    (dict(grid=3.0), ValueError, "grid must be an integer >= 2, got 3.0"),
    (dict(grayscale_p=-0.1), ValueError, "grayscale_p"),
    (dict(grid=4, tile=5, jitter=1), ValueError, "too many"),
])
def test_task_bad_configuration(kwargs, error, words):
    with pytest.raises(error, match=words):
        JigsawTask(**kwargs)


def test_task_with_a_random_set_for_the_comparison():
    task = JigsawTask(num_classes=10, criterion="random", permutation_seed=4)
    assert np.array_equal(task.permutations, perms.random_permutations(10, grid=3, seed=4))
    big = JigsawTask(num_classes=20, grid=4, tile=5, jitter=1, criterion="random")
    inputs, y = check_task_batch(big, torch.rand(3, 1, 28, 28))
    assert inputs.shape == (3, 16, 1, 5, 5) and big.min_size == 24


def test_task_rejects_images_too_small_for_its_tiles():
    task = JigsawTask()
    with pytest.raises(ValueError, match="at least 27"):
        task.make_batch(torch.rand(2, 1, 24, 24), gen(0))


# ---------------------------------------------------------------- plots

def test_plot_puzzle_shows_the_permutation_and_its_distance():
    P = perms.greedy_permutations(10, grid=3, seed=0)
    image = torch.rand(1, 28, 28)
    fig = plot_puzzle(image, permutations=P, index=4, gap=2, jitter=1)
    assert len(fig.axes) == 2
    distance = int((P[4] != np.arange(9)).sum())
    assert f"permutation #4 = {P[4].tolist()}" in fig.axes[1].get_title()
    assert f"identity: {distance}" in fig.axes[1].get_title()
    assert len(fig.axes[0].patches) == 18  # 9 cells and 9 tiles outlined
    matplotlib.pyplot.close(fig)


def test_plot_puzzle_with_a_net_ranks_five_guesses():
    task = JigsawTask(num_classes=10)
    net = task.build_net(make_backbone("cnn", 1, 4))
    fig = plot_puzzle(torch.rand(1, 28, 28), net, permutations=task.permutations, index=2, gap=2, jitter=2)
    assert len(fig.axes) == 3 and len(fig.axes[2].patches) == 5
    matplotlib.pyplot.close(fig)
    wrong = JigsawTask(num_classes=12).permutations
    with pytest.raises(ValueError, match="12"):
        plot_puzzle(torch.rand(1, 28, 28), net, permutations=wrong)


def test_puzzle_probabilities_restore_the_mode_and_check_the_tiles():
    task = JigsawTask(num_classes=10)
    net = task.build_net(make_backbone("cnn", 1, 4)).train()
    tiles, _ = task.make_batch(torch.rand(5, 1, 28, 28), gen(0))
    probs = jigsaw.puzzle_probabilities(net, tiles, batch_size=2)
    assert probs.shape == (5, 10) and torch.allclose(probs.sum(1), torch.ones(5))
    assert net.training  # the network's mode is given back
    with torch.no_grad():
        direct = torch.softmax(net.eval()(tiles), 1)
    assert torch.allclose(probs, direct, atol=1e-5)
    with pytest.raises(ValueError, match=r"tiles must be puzzles \(N, g\*g, C, t, t\)"):
        jigsaw.puzzle_probabilities(net, tiles[0])


@pytest.mark.parametrize("kwargs, error, words", [
    (dict(index=10), ValueError, "index"),
    (dict(gap=9), ValueError, "gap"),
    (dict(gap=1, jitter=2), ValueError, "jitter"),
    (dict(image=torch.rand(2, 1, 28, 28)), ValueError, "one image"),
])
def test_plot_puzzle_bad_input(kwargs, error, words):
    args = dict(image=torch.rand(1, 28, 28), permutations=perms.random_permutations(10, 3), index=0)
    args.update(kwargs)
    with pytest.raises(error, match=words):
        plot_puzzle(**args)


def test_explorer_builds_sliders_for_the_puzzle():
    box = jigsaw.jigsaw_explorer(images=torch.rand(3, 1, 28, 28), permutations=perms.random_permutations(10, 3))
    names = {w.description for w in box.children if hasattr(w, "description")}
    assert {"image", "permutation", "gap (px)", "jitter (px)"} <= names
    matplotlib.pyplot.close("all")


# ---------------------------------------------------------------- how often neighbouring tiles touch

@pytest.mark.parametrize("tile, gap, jitter", [(7, 2, 2), (6, 3, 1), (5, 4, 4), (7, 0, 0)])
def test_touching_neighbours_equals_a_count_over_sampled_puzzles(tile, gap, jitter):
    n, size, grid = 20000, 28, 3
    identity = np.arange(grid * grid)[None]  # tile at position i comes from cell i
    tiles, _ = make_puzzles(coordinate_images(1, size).expand(n, 1, size, size), gen(4), permutations=identity,
                            grid=grid, tile=tile, jitter=jitter, gap=gap, normalize=False)
    rows, cols = decode(tiles[:, :, 0, 0, 0], size)  # each tile's top-left pixel, (n, 9)
    rows, cols = rows.view(n, grid, grid), cols.view(n, grid, grid)
    space_x = cols[:, :, 1:] - (cols[:, :, :-1] + tile)  # right neighbour's left edge minus left tile's right edge
    space_y = rows[:, 1:, :] - (rows[:, :-1, :] + tile)
    touch = torch.cat([(space_x == 0).flatten(1), (space_y == 0).flatten(1)], 1)  # (n, 12 neighbour pairs)
    exact = jigsaw.touching_neighbours(tile, gap, jitter, grid)
    assert exact["neighbour_pairs"] == touch.shape[1]
    assert int(torch.cat([space_x.flatten(), space_y.flatten()]).min()) == exact["min_space"]
    assert int(torch.cat([space_x.flatten(), space_y.flatten()]).max()) == exact["max_space"]
    for fraction, counted, count in ((exact["pairs"], touch.double().mean(), touch.numel()),
                                     (exact["puzzles"], touch.any(1).double().mean(), n)):
        sem = max(fraction * (1 - fraction) / count, 1 / count ** 2) ** 0.5
        assert abs(float(counted) - fraction) < 5 * sem + 1e-12


def test_touching_neighbours_of_the_two_published_recipes():
    reference = jigsaw.touching_neighbours(64, 21, 21)  # released code: 85 px cells, jitter up to 21
    assert (reference["min_space"], reference["max_space"]) == (0, 42)
    assert reference["pairs"] == pytest.approx(1 / 22 ** 2)
    assert jigsaw.touching_neighbours(64, 11, 11)["pairs"] == pytest.approx(1 / 12 ** 2)  # the paper's text
    with pytest.raises(ValueError, match="jitter must be at most the gap"):
        jigsaw.touching_neighbours(7, 1, 2)


def test_a_fixed_gap_keeps_the_tile_size_and_centres_the_cells():
    geo = puzzle_geometry(28, 28, tile=7, jitter=0, gap=0)
    assert (geo["cell"], geo["tile"], geo["gap"], geo["top"]) == (7, 7, 0, 3)
    task = JigsawTask(tile=7, jitter=0, gap=0)
    tiles, _ = task.make_batch(torch.rand(4, 1, 28, 28), gen(0))
    assert tiles.shape == (4, 9, 1, 7, 7) and task.min_size == 21
    with pytest.raises(ValueError, match="at least grid"):
        puzzle_geometry(20, 20, tile=7, gap=2)
    with pytest.raises(ValueError, match="jitter must be at most the gap"):
        JigsawTask(tile=7, jitter=2, gap=1)


def test_plot_mistake_distances_draws_the_set_and_the_mistakes():
    P = perms.permutation_set(10)
    y_true, y_pred = np.array([0, 1, 2, 3]), np.array([0, 2, 1, 3])
    fig = jigsaw.plot_mistake_distances(P, y_true, y_pred)
    labels = [t.get_text() for t in fig.axes[0].get_legend().get_texts()]
    assert any("mistakes" in t and "(2)" in t for t in labels) and any("all pairs" in t for t in labels)
    matplotlib.pyplot.close(fig)
    with pytest.raises(ValueError, match="equal length"):
        jigsaw.plot_mistake_distances(P, y_true, y_pred[:2])


def test_plot_puzzle_with_a_fixed_tile_draws_touching_tiles():
    fig = plot_puzzle(torch.rand(1, 28, 28), index=3, gap=0, jitter=0, tile=7)
    assert "cell 7 px, tile 7 px, gap 0" in fig.axes[0].get_title()
    matplotlib.pyplot.close(fig)
