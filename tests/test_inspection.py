"""Lessons 1-3: seeing what a network learned (filters, nearest neighbours, 2-D embedding) and seed-dot plots."""
import matplotlib
import pytest
import torch
from torch import nn

from pretext_lessons.core.training import build_net
from pretext_lessons.experiments import inspection
from pretext_lessons.notebook.seed_plots import mean_interval, per_seed_means, plot_seed_dots
from pretext_lessons.tasks.rotation import RotationTask

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


def net(seed=0):
    return build_net(RotationTask(), "cnn", width=8, seed=seed)


def test_first_filters_are_the_first_convolution_s_weights():
    n = net()
    W = inspection.first_filters(n)
    assert torch.equal(W, n.trunk.conv1[0].weight.detach())
    with pytest.raises(ValueError, match="Conv2d"):
        inspection.first_filters(nn.Linear(3, 4))


def test_nearest_neighbours_by_cosine_and_itself_first():
    F = torch.randn(30, 5)
    idx = inspection.nearest_neighbours(F, F, k=3)
    assert torch.equal(idx[:, 0], torch.arange(30))  # every row is most similar to itself
    centred = torch.nn.functional.normalize(F - F.mean(0), dim=1)
    second = (centred @ centred.T).fill_diagonal_(-2).argmax(1)
    assert torch.equal(idx[:, 1], second)
    with pytest.raises(ValueError, match="k must be at most"):
        inspection.nearest_neighbours(F[:2], F[:2], k=3)
    with pytest.raises(ValueError, match="same features"):
        inspection.nearest_neighbours(F, torch.randn(4, 6))


def test_same_class_rate_on_separated_and_mixed_clusters():
    y = torch.arange(4).repeat_interleave(20)
    separated = torch.randn(80, 8) * 0.01 + 10 * torch.eye(8)[y]
    assert inspection.same_class_rate(separated, y, k=5) == 1.0
    mixed = torch.randn(80, 8, generator=torch.Generator().manual_seed(0))
    assert inspection.same_class_rate(mixed, y, k=5) < 0.6


def test_pca_embedding_keeps_the_direction_of_largest_variance():
    g = torch.Generator().manual_seed(1)
    F = torch.randn(200, 6, generator=g)
    F[:, 2] *= 5  # after standardising, a second feature correlated with it makes it the main direction
    F[:, 4] = F[:, 2] + 0.01 * torch.randn(200, generator=g)
    Z = inspection.embed_2d(F, "pca")
    assert Z.shape == (200, 2)
    assert abs(torch.corrcoef(torch.stack([Z[:, 0], F[:, 2]]))[0, 1]) > 0.95
    with pytest.raises(ValueError, match="method must be one of"):
        inspection.embed_2d(F, "umap")


def test_features_plots_and_explorers():
    X, y = torch.rand(40, 1, 28, 28), torch.arange(40) % 10
    networks = {"a": net(0), "b": (net(1), None)}
    assert inspection.features(net(0), X, "fc2").shape == (40, 64)
    for fig in (inspection.plot_filters(networks), inspection.plot_neighbours(networks, X[0], X[1:], y[1:], y[0], k=4),
                inspection.plot_embedding(networks, X, y, "conv2")):
        assert fig.axes
        plt.close(fig)
    for box in (inspection.filters_explorer(networks), inspection.neighbours_explorer(networks, X, y, k=3),
                inspection.embedding_explorer(networks, X, y)):
        assert box.png
    with pytest.raises(ValueError, match="layer must be one of"):
        inspection.features(net(0), X, "conv9")
    with pytest.raises(TypeError, match="networks must be a non-empty dict"):
        inspection.plot_filters({})


def test_seed_dots_interval_is_the_helpers_and_the_plot_draws_every_seed():
    values = [0.5, 0.6, 0.7]
    mean, low, high = mean_interval(values)
    assert mean == pytest.approx(0.6) and low < 0.5 and high > 0.7
    from scipy import stats
    half = stats.t.ppf(0.975, 2) * stats.sem(values)
    assert (low, high) == pytest.approx((0.6 - half, 0.6 + half))
    assert mean_interval([0.4]) == (0.4, 0.4, 0.4)
    assert per_seed_means([(0, 0), (0, 1), (1, 0)], [0.2, 0.4, 0.9]) == pytest.approx({0: 0.3, 1: 0.9})
    fig = plot_seed_dots({"a": values, "b": [0.2, 0.3]}, chance={"a": 0.1, "b": 0.01}, reference={"r": [0.3, 0.4]})
    ax = fig.axes[0]
    assert sum(len(c.get_offsets()) for c in ax.collections if hasattr(c, "get_offsets")) >= 5
    plt.close(fig)
    with pytest.raises(ValueError, match="groups must be a non-empty dict"):
        plot_seed_dots({})


def test_a_network_record_is_read_as_its_module_and_its_task_s_preprocess():
    from pretext_lessons.experiments.network import Network
    from pretext_lessons.tasks.jigsaw import JigsawTask

    task = JigsawTask()
    module = build_net(task, "cnn", width=4, seed=0).eval()
    X = torch.rand(24, 1, 28, 28, generator=torch.Generator().manual_seed(0))
    y = torch.arange(24) % 2
    as_pair = inspection.plot_embedding({"jigsaw": (module, task.preprocess)}, X, y, "conv2", "pca")
    as_record = inspection.plot_embedding({"jigsaw": Network(task, "cnn", 0, module)}, X, y, "conv2", "pca")
    points = [[c.get_offsets().data.tolist() for c in fig.axes[0].collections] for fig in (as_pair, as_record)]
    assert points[0] == points[1] and points[0]
    plain = inspection.plot_embedding({"jigsaw": module}, X, y, "conv2", "pca")  # no preprocess: other points
    assert [c.get_offsets().data.tolist() for c in plain.axes[0].collections] != points[0]
    plt.close("all")
