"""Lesson 7's explorer: an image, its random views and their nearest images in the contrastive embedding."""
import base64

import matplotlib.pyplot as plt
import pytest
import torch

from pretext_lessons.core.models import make_backbone
from pretext_lessons.tasks.contrastive import ContrastiveNet, plot_views_and_neighbours, views_explorer

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


@pytest.fixture(scope="module")
def net():
    torch.manual_seed(0)
    return ContrastiveNet(make_backbone("cnn", 1, 4)).eval()


@pytest.fixture(scope="module")
def gallery():
    return torch.rand(12, 1, 28, 28, generator=torch.Generator().manual_seed(0))


def test_the_plot_shows_each_view_beside_its_nearest_images(net, gallery):
    fig = plot_views_and_neighbours(net, gallery, index=3, num_views=2, num_neighbours=4,
                                    titles=[f"c{i}" for i in range(12)])
    assert len(fig.axes) == 2 * (4 + 2)
    similarities = [float(ax.get_title().split("\n")[-1]) for ax in fig.axes if ax.get_title().startswith("c")]
    assert len(similarities) == 8 and all(-1.0 <= s <= 1.0 for s in similarities)
    assert similarities[:4] == sorted(similarities[:4], reverse=True)  # nearest first
    plt.close(fig)


def test_the_plot_checks_its_arguments(net, gallery):
    with pytest.raises(ValueError, match="index must be an integer in 0..11, got 12"):
        plot_views_and_neighbours(net, gallery, index=12)
    with pytest.raises(ValueError, match="num_neighbours must be an integer in 1..12"):
        plot_views_and_neighbours(net, gallery, num_neighbours=13)


def test_the_explorer_redraws_and_carries_a_png(net, gallery):
    plt.close("all")
    box = views_explorer(net, gallery, num_views=2)
    bundle = box._repr_mimebundle_()
    assert WIDGET_VIEW in bundle and base64.b64decode(bundle["image/png"]).startswith(PNG_MAGIC)
    first = box.png
    box.children[0].value = 5  # another image
    assert box.png != first
    assert plt.get_fignums() == []
