"""Backbones with named layers you can tap, sized for a laptop CPU."""
from __future__ import annotations

import contextlib
from collections import OrderedDict

import torch
from torch import nn
from torch.nn import functional as F

from .data import check_images, to_float
from .photo_models import PHOTO_ARCHS, PhotoResNet
from .profile import phase
from .validate import check_int

ARCHS = ("cnn", "resnet") + PHOTO_ARCHS  # the last two: torchvision's ResNets for photos (core.photo_models)


def _conv_bn_relu(c_in: int, c_out: int, pool: bool) -> nn.Sequential:
    layers = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=False), nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    if pool:
        layers.append(nn.MaxPool2d(2, ceil_mode=True))
    return nn.Sequential(*layers)


class PlainCNN(nn.Sequential):
    """An AlexNet-era network (conv blocks, then fully connected layers), no skip connections.

    The adaptive pooling before `fc1` lets the same trunk read 9 px tiles and 28 px images,
    which the jigsaw and relative-position networks need.
    """

    def __init__(self, in_channels: int = 1, width: int = 16):
        _check_backbone_args(in_channels, width)
        w = width
        super().__init__(OrderedDict(
            conv1=_conv_bn_relu(in_channels, w, pool=True),
            conv2=_conv_bn_relu(w, 2 * w, pool=True),
            conv3=_conv_bn_relu(2 * w, 4 * w, pool=False),
            conv4=_conv_bn_relu(4 * w, 4 * w, pool=False),
            fc1=nn.Sequential(nn.AdaptiveAvgPool2d(2), nn.Flatten(), nn.Linear(16 * w, 8 * w), nn.ReLU(inplace=True)),
            fc2=nn.Sequential(nn.Linear(8 * w, 8 * w), nn.ReLU(inplace=True)),
        ))
        self.in_channels, self.width, self.out_features = in_channels, width, 8 * w
        self.layer_names = tuple(self._modules)


class BasicBlock(nn.Module):
    """Two 3x3 convolutions with a skip connection (He et al. 2016)."""

    def __init__(self, c_in: int, c_out: int, stride: int = 1):
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.shortcut = nn.Identity()
        if stride != 1 or c_in != c_out:
            self.shortcut = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride=stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x):
        if x.shape[-2:] == (1, 1) and self.conv1.stride != (1, 1):
            # On a 1 x 1 map (a 7 px jigsaw tile at res5) a strided convolution computes what an unstrided
            # one does; under bf16 autocast on CPUs with native bf16, the strided form's weight gradient
            # came back as garbage (1e24, then NaN training), so the unstrided form is used there.
            out = F.conv2d(x, self.conv1.weight, padding=1)
            skip = x if isinstance(self.shortcut, nn.Identity) else self.shortcut[1](F.conv2d(x, self.shortcut[0].weight))
        else:
            out, skip = self.conv1(x), self.shortcut(x)
        out = F.relu(self.bn1(out), inplace=True)
        return F.relu(self.bn2(self.conv2(out)) + skip, inplace=True)


class SmallResNet(nn.Sequential):
    """A small ResNet (stem, res2..res5, pool) for the Kolesnikov et al. comparison.

    The stem halves the image, as ResNets' stems do (He et al. 2016: a stride-2 convolution and a
    stride-2 max-pool before res2, at 224 px) and as the PlainCNN's conv1 does, so both networks'
    first layers see maps of the same size; at full resolution, the stem and res2 made a ResNet step
    cost several CNN steps (benchmarks/bench_fit.py --arch resnet).
    """

    def __init__(self, in_channels: int = 1, width: int = 16):
        _check_backbone_args(in_channels, width)
        w = width
        super().__init__(OrderedDict(
            stem=nn.Sequential(nn.Conv2d(in_channels, w, 3, stride=2, padding=1, bias=False), nn.BatchNorm2d(w),
                               nn.ReLU(inplace=True)),
            res2=BasicBlock(w, w),
            res3=BasicBlock(w, 2 * w, stride=2),
            res4=BasicBlock(2 * w, 4 * w, stride=2),
            res5=BasicBlock(4 * w, 8 * w, stride=2),
            pool=nn.Sequential(nn.AdaptiveAvgPool2d(1), nn.Flatten()),
        ))
        self.in_channels, self.width, self.out_features = in_channels, width, 8 * w
        self.layer_names = tuple(self._modules)


def _check_backbone_args(in_channels, width):
    if in_channels not in (1, 3):
        raise ValueError(f"in_channels must be 1 (grayscale) or 3 (colour), got {in_channels!r}")
    check_int("width", width)


def make_backbone(arch: str = "cnn", in_channels: int = 1, width: int = 16) -> nn.Module:
    """A backbone by name: 'cnn' (plain, AlexNet-like) or 'resnet' (skip connections)."""
    if arch not in ARCHS:
        raise ValueError(f"arch must be one of {ARCHS}, got {arch!r}")
    if arch in PHOTO_ARCHS:
        return PhotoResNet(arch, in_channels, width).to(memory_format=torch.channels_last)
    net = PlainCNN(in_channels, width) if arch == "cnn" else SmallResNet(in_channels, width)
    # channels-last weights let the CPU's convolution kernels run faster on these small maps
    # (benchmarks/bench_fit.py measures by how much); the numbers are the same up to rounding
    return net.to(memory_format=torch.channels_last)


def trunk_of(net: nn.Module) -> nn.Module:
    """The backbone inside a pretext network (its `trunk`), or the network itself."""
    return getattr(net, "trunk", net)


@phase("features")
@torch.no_grad()
def activations(net: nn.Module, X: torch.Tensor, layers, batch_size: int = 500, transform=None,
                device=None) -> dict[str, torch.Tensor]:
    """The activations of the named layers of `net` on images X, batch by batch, on the CPU.

    `transform` (optional) maps each layer's output batch to what is kept, e.g. pooling,
    so large feature maps are never stored whole.
    """
    check_images(X)
    layers = [layers] if isinstance(layers, str) else list(layers)
    modules = dict(net.named_modules())
    unknown = [name for name in layers if name not in modules or name == ""]
    if unknown:
        known = getattr(net, "layer_names", None) or [n for n in modules if n and "." not in n]
        raise ValueError(f"layers {unknown} are not in the network; known layers: {list(known)}")
    device = torch.device(device) if device is not None else next(net.parameters()).device
    caught: dict[str, torch.Tensor] = {}
    hooks = [modules[name].register_forward_hook(lambda m, i, o, name=name: caught.__setitem__(name, o))
             for name in layers]
    out: dict[str, list[torch.Tensor]] = {name: [] for name in layers}
    try:
        # inference mode skips autograd's bookkeeping (bench_fit.py measures it against no_grad); the
        # chunks are joined outside it, so callers get ordinary tensors they may use with autograd
        with evaluating(net), torch.inference_mode():
            for start in range(0, len(X), batch_size):
                net(to_float(X[start:start + batch_size]).to(device))
                for name in layers:
                    a = caught[name].float()
                    out[name].append((transform(a) if transform else a).cpu())
    finally:
        for h in hooks:
            h.remove()
    return {name: torch.cat(chunks) for name, chunks in out.items()}


@contextlib.contextmanager
def evaluating(net: nn.Module):
    """`with evaluating(net):` runs `net` in eval mode and restores its previous mode afterwards, even on error."""
    was_training = net.training
    net.eval()
    try:
        yield net
    finally:
        net.train(was_training)
