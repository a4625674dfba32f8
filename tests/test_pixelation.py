"""Lesson 3: Doersch et al.'s random pixelation (downsampling then upsampling) of patches."""
import pytest
import torch

from pretext_lessons.tasks.relative_position import pixelate, random_pixelation


def fine_detail(P):
    """Energy of what a 3 x 3 box blur removes: the fine texture a shortcut could read."""
    blurred = torch.nn.functional.avg_pool2d(P.flatten(0, -4), 3, stride=1, padding=1, count_include_pad=False)
    return float(((P.flatten(0, -4) - blurred) ** 2).mean())


def test_pixelate_keeps_shape_and_removes_fine_detail_the_more_the_smaller():
    P = torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(0))
    kept = [fine_detail(pixelate(P, side)) for side in (4, 8, 16, 32)]
    assert pixelate(P, 8).shape == P.shape
    assert kept == sorted(kept) and kept[0] < 0.1 * kept[-1]
    assert torch.allclose(pixelate(P, 32), P, atol=1e-5)  # at full size nothing changes


def test_pixelate_keeps_a_flat_patch_flat():
    P = torch.full((2, 3, 12, 12), 0.25)
    assert torch.allclose(pixelate(P, 3), P, atol=1e-6)


def test_random_pixelation_touches_about_p_of_the_patches_and_leaves_the_rest():
    P = torch.rand(600, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    out = random_pixelation(P, torch.Generator().manual_seed(2), p=1 / 3, min_pixels=9)
    changed = (out - P).flatten(1).abs().amax(1) > 1e-6
    assert 0.25 < changed.float().mean() < 0.42
    assert torch.equal(out[~changed], P[~changed])
    assert torch.equal(random_pixelation(P, torch.Generator().manual_seed(2), p=1 / 3, min_pixels=9), out)


def test_random_pixelation_at_p_zero_and_one():
    P = torch.rand(20, 3, 10, 10, generator=torch.Generator().manual_seed(3))
    assert torch.equal(random_pixelation(P, p=0.0), P)
    changed = (random_pixelation(P, p=1.0, min_pixels=4) - P).flatten(1).abs().amax(1) > 1e-6
    assert bool(changed.all())


@pytest.mark.parametrize("kwargs, word", [(dict(p=1.5), "p must"), (dict(min_pixels=0), "min_pixels"),
                                          (dict(min_pixels=200), "min_pixels")])
def test_random_pixelation_bad_arguments_name_themselves(kwargs, word):
    with pytest.raises(ValueError, match=word):
        random_pixelation(torch.rand(2, 3, 10, 10), **kwargs)


def test_pixelate_bad_side():
    with pytest.raises(ValueError, match="side"):
        pixelate(torch.rand(1, 3, 8, 8), 9)
    with pytest.raises(ValueError, match="float"):
        pixelate(torch.zeros(1, 3, 8, 8, dtype=torch.uint8), 4)
