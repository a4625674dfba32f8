"""Backbones: named layers, any input size the tasks need, activations by name."""
import pytest
import torch

from pretext_lessons.core import models


@pytest.mark.parametrize("arch, names", [
    ("cnn", ("conv1", "conv2", "conv3", "conv4", "fc1", "fc2")),
    ("resnet", ("stem", "res2", "res3", "res4", "res5", "pool")),
])
@pytest.mark.parametrize("channels", [1, 3])
def test_backbones_read_tiles_and_whole_images(arch, names, channels):
    net = models.make_backbone(arch, channels, width=4).eval()
    assert net.layer_names == names
    for side in (7, 9, 28, 64):
        assert net(torch.rand(2, channels, side, side)).shape == (2, net.out_features)


def test_activations_by_name_match_a_manual_forward():
    net = models.make_backbone("cnn", 1, width=4).eval()
    X = torch.rand(5, 1, 28, 28)
    acts = models.activations(net, X, ["conv2", "fc2"], batch_size=2)
    with torch.no_grad():
        manual = net.conv2(net.conv1(X))
        assert torch.allclose(acts["conv2"], manual, atol=1e-6)
        assert torch.allclose(acts["fc2"], net(X), atol=1e-6)


def test_activations_leave_the_network_as_it_was():
    net = models.make_backbone("resnet", 1, width=4).train()
    models.activations(net, torch.rand(2, 1, 16, 16), "res3")
    assert net.training and not any(m._forward_hooks for m in net.modules())


def test_unknown_layer_lists_the_known_ones():
    net = models.make_backbone("cnn", 1, width=4)
    with pytest.raises(ValueError, match=r"layers \['conv9'\] are not in the network; known layers: \['conv1'"):
        models.activations(net, torch.rand(2, 1, 28, 28), ["conv9"])


@pytest.mark.parametrize("kwargs, message", [
    (dict(arch="vgg"), "arch must be one of"),
    (dict(in_channels=2), "in_channels must be 1 .* or 3 .*, got 2"),
    (dict(width=0), "width must be a positive integer, got 0"),
])
def test_bad_arguments(kwargs, message):
    with pytest.raises(ValueError, match=message):
        models.make_backbone(**kwargs)


def test_trunk_of_finds_the_backbone():
    from pretext_lessons.core.task import PretextNet

    trunk = models.make_backbone("cnn", 1, width=4)
    assert models.trunk_of(PretextNet(trunk, 4)) is trunk and models.trunk_of(trunk) is trunk


def test_multi_part_net_shares_its_trunk_over_the_parts():
    from pretext_lessons.core.task import MultiPartNet

    trunk = models.make_backbone("cnn", 1, width=4)
    net = MultiPartNet(trunk, 3, 5).eval()
    assert net.trunk is trunk and net.head[0].in_features == 3 * trunk.out_features
    assert net.head[0].out_features == 2 * trunk.out_features  # the default hidden width
    parts = torch.rand(4, 3, 1, 9, 9)
    with torch.no_grad():
        features = trunk(parts.flatten(0, 1)).view(4, -1)
        assert torch.allclose(net(parts), net.head(features), atol=1e-6)
    assert MultiPartNet(trunk, 3, 5, hidden=7).head[0].out_features == 7
    with pytest.raises(ValueError, match=r"parts must be \(N, 3, C, h, w\), 3 parts per input, got shape \(4, 2, 1, 9, 9\)"):
        net(torch.rand(4, 2, 1, 9, 9))
    with pytest.raises(ValueError, match="num_parts must be a positive integer, got 0"):
        MultiPartNet(trunk, 0, 5)


def test_check_generator_names_the_argument():
    from pretext_lessons.core.validate import check_generator

    g = torch.Generator()
    assert check_generator(g, "cpu") is g and check_generator(None, "cpu") is None
    with pytest.raises(TypeError, match="generator must be a torch.Generator or None, got int"):
        check_generator(0)
    with pytest.raises(ValueError, match=r"generator must live on the data's device \(cuda:0\), got one on cpu"):
        check_generator(g, "cuda:0")


def test_a_strided_block_on_a_one_pixel_map_computes_what_its_strided_convolutions_do():
    # the block avoids the strided form on 1 x 1 maps (bf16 autocast returned garbage gradients there):
    # in float32 both forms must give the same numbers
    from pretext_lessons.core.models import BasicBlock

    torch.manual_seed(0)
    block = BasicBlock(4, 8, stride=2).eval()
    x = torch.randn(5, 4, 1, 1)
    with torch.no_grad():
        out = torch.relu(block.bn1(block.conv1(x)))
        expected = torch.relu(block.bn2(block.conv2(out)) + block.shortcut(x))
        assert torch.allclose(block(x), expected, atol=1e-6)


def test_a_jigsaw_resnet_trains_to_finite_gradients_under_bf16_autocast():
    from pretext_lessons.core.data import pretrain_split, to_float
    from pretext_lessons.core.training import build_net
    from pretext_lessons.tasks.jigsaw import JigsawTask

    task = JigsawTask()
    net = build_net(task, "resnet", width=8, seed=0).train()
    opt = torch.optim.SGD(net.parameters(), lr=0.05, momentum=0.9)
    g = torch.Generator().manual_seed(0)
    X = pretrain_split(64 * 8, seed=0)
    for step in range(8):
        inputs, y = task.make_batch(to_float(X[64 * step:64 * (step + 1)]), g)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            loss = torch.nn.functional.cross_entropy(net(inputs).float(), y)
        opt.zero_grad()
        loss.backward()
        assert all(torch.isfinite(p.grad).all() and p.grad.abs().max() < 1e3 for p in net.parameters()), step
        opt.step()
