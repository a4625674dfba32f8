"""Lesson 7's tasks: contrastive views and NT-Xent, masked patches and their labels, and the opt-in registry."""
import math

import pytest
import torch
from torch.nn import functional as F

from pretext_lessons.core.models import make_backbone
from pretext_lessons.core.task import check_task_batch
from pretext_lessons.tasks import contrastive, masked, registry
from pretext_lessons.tasks.contrastive import ContrastiveNet, ContrastiveTask, nt_xent, partner_accuracy, two_views
from pretext_lessons.tasks.masked import MASK_VALUE, MaskedTask, mask_patches, patch_tokens


def images(n=16, c=1, size=28, seed=0):
    return torch.rand(n, c, size, size, generator=torch.Generator().manual_seed(seed))


def nt_xent_by_hand(z1, z2, tau):
    """SimCLR's Eq. 1, one term at a time: l(i, j) = -log exp(s_ij / tau) / sum_{k != i} exp(s_ik / tau), all 2N views."""
    z = torch.cat([z1, z2]).double()
    n = len(z1)
    total = 0.0
    for i in range(2 * n):
        j = (i + n) % (2 * n)
        sims = [float(z[i] @ z[k] / (z[i].norm() * z[k].norm())) / tau for k in range(2 * n)]
        denominator = sum(math.exp(s) for k, s in enumerate(sims) if k != i)
        total += -math.log(math.exp(sims[j]) / denominator)
    return total / (2 * n)


@pytest.mark.parametrize("channels", [1, 3])
def test_two_views_label_each_view_with_its_partner(channels):
    X = images(6, channels)
    views, y = check_task_batch(ContrastiveTask(), X, seed=3)
    assert views.shape == (12, channels, 28, 28) and y.dtype == torch.int64
    assert torch.equal(y[y], torch.arange(12))  # the partner's partner is the view itself
    assert (y != torch.arange(12)).all()
    assert views.min() >= 0 and views.max() <= 1
    assert not torch.equal(views[:6], views[6:])  # two different random views


def test_without_augmentations_the_views_are_the_images():
    X = images(4)
    views, _ = two_views(X, torch.Generator().manual_seed(0), augmentations=())
    assert torch.allclose(views[:4], X) and torch.allclose(views[4:], X)


def test_augmentations_are_checked_by_name():
    with pytest.raises(ValueError, match="unknown \\['rotate'\\]"):
        ContrastiveTask(augmentations=("crop", "rotate"))
    with pytest.raises(ValueError, match="temperature must be a positive"):
        ContrastiveTask(temperature=0)


def test_too_large_a_batch_is_refused():
    with pytest.raises(ValueError, match="at most num_classes=8 views"):
        ContrastiveTask(num_classes=8).make_batch(images(5), torch.Generator())


@pytest.mark.parametrize("tau", [0.1, 0.5, 1.0])
def test_nt_xent_is_simclr_eq_1_averaged_over_both_orders(tau):
    g = torch.Generator().manual_seed(1)
    z1, z2 = torch.randn(5, 7, generator=g), torch.randn(5, 7, generator=g)
    assert float(nt_xent(z1, z2, tau)) == pytest.approx(nt_xent_by_hand(z1, z2, tau), rel=1e-5)


def test_the_network_s_cross_entropy_is_nt_xent_of_its_projections():
    torch.manual_seed(0)
    task = ContrastiveTask(temperature=0.3)
    net = task.build_net(make_backbone("cnn", 1, 4))
    views, y = task.make_batch(images(6), torch.Generator().manual_seed(0))
    net.eval()
    logits = net(views)
    assert logits.shape == (12, 12)
    z = net.head(net.trunk(views)).detach()
    assert float(F.cross_entropy(logits, y).detach()) == pytest.approx(nt_xent_by_hand(z[:6], z[6:], 0.3), rel=1e-4)


def test_partner_accuracy_states_chance_and_finds_identical_views():
    torch.manual_seed(0)
    pixels = torch.nn.Flatten()
    pixels.out_features = 64  # a trunk that keeps the pixels: distinct images, distinct projections
    net = ContrastiveNet(pixels, projection_dim=32, hidden=64)
    out = partner_accuracy(net, images(20, size=8), batch_size=8, augmentations=())
    assert out["chance"] == pytest.approx(1 / 15)
    assert out["accuracy"] == 1.0  # with no augmentation the partner is the same picture: similarity 1
    assert contrastive.chance_level(128) == pytest.approx(1 / 255)


def test_mask_patches_masks_a_fixed_share_and_labels_what_was_under_the_mask():
    X = images(5, size=28)
    inputs, y, mask = mask_patches(X, torch.Generator().manual_seed(0), grid=4, cells=2, levels=3, mask_ratio=0.5)
    assert mask.sum(1).tolist() == [8] * 5
    assert len(y) == 5 * 8 * 4 and int(y.min()) >= 0 and int(y.max()) <= 2
    pixel_patch = masked.patch_of_pixel(28, 28, 4)
    for n in range(5):
        hidden = mask[n][pixel_patch]
        assert (inputs[n, 0][hidden] == MASK_VALUE).all()
        assert torch.equal(inputs[n, 0][~hidden], X[n, 0][~hidden])
    assert torch.equal(y, patch_tokens(X, 4, 2, 3)[mask].flatten())


def test_patch_tokens_quantise_each_cell_of_each_patch():
    X = torch.zeros(1, 1, 8, 8)
    X[0, 0, :4, 4:] = 1.0  # the top-right patch white
    tokens = patch_tokens(X, grid=2, cells=2, levels=4)
    assert tokens.shape == (1, 4, 4)
    assert tokens[0, 1].tolist() == [3, 3, 3, 3] and tokens[0, [0, 2, 3]].sum() == 0


def test_the_masked_network_finds_the_masked_patches_and_matches_the_labels():
    task = MaskedTask()
    X = images(6)
    inputs, y = check_task_batch(task, X, seed=2)
    assert len(y) == task.labels_per_input * 6
    torch.manual_seed(0)
    net = task.build_net(make_backbone("cnn", 1, 4))
    logits = net(inputs)
    assert logits.shape == (len(y), task.num_classes)
    _, _, mask = mask_patches(X, torch.Generator().manual_seed(2), task.grid, task.cells, task.num_classes,
                              task.mask_ratio)
    assert torch.equal(net.masked_patches(inputs), mask)


def test_lesson_7_tasks_are_registered_but_opt_in():
    assert {"contrastive", "masked"} <= set(registry.registered_tasks())
    assert not {"contrastive", "masked"} & set(registry.course_tasks())
    assert {"contrastive", "masked"} <= set(registry.course_tasks(extra=("contrastive", "masked")))
    assert not {"contrastive", "masked"} & set(registry.classic_tasks())


def test_register_task_with_and_without_arguments():
    import dataclasses

    from pretext_lessons.core.task import PretextTask

    @dataclasses.dataclass
    class Dummy(PretextTask):
        name = "dummy_opt_in_test"

    try:
        registry.register_task(in_course=False)(Dummy)
        assert "dummy_opt_in_test" not in registry.course_tasks()
        registry.register_task(Dummy)  # registered again, in the course: joins the grids
        assert "dummy_opt_in_test" in registry.course_tasks()
        with pytest.raises(TypeError, match="in_course must be True or False"):
            registry.register_task(in_course="yes")
    finally:
        registry.unregister_task("dummy_opt_in_test")


def test_pretext_predictions_of_the_contrastive_task_cover_a_short_last_batch():
    # 10 images in batches of 4: the last batch holds 2 images, 4 views, so 4 classes where the others have 8
    from pretext_lessons.core.training import pretext_accuracy, pretext_predictions
    task = ContrastiveTask(augmentations=())
    net = task.build_net(make_backbone("cnn", 1, 4)).eval()
    y, y_hat, probs = pretext_predictions(net, task, images(10), seed=0, batch_size=4)
    assert y.shape == y_hat.shape == (20,) and probs.shape == (20, task.num_classes)
    assert torch.equal(y, torch.cat([contrastive.partner_index(n) for n in (4, 4, 2)]))
    assert int(y_hat[-4:].max()) < 4  # a view of the last batch is matched within that batch
    assert torch.allclose(probs.sum(1), torch.ones(20))
    assert 0.0 <= pretext_accuracy(net, task, images(10), seed=0) <= 1.0
