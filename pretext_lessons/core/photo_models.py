"""torchvision's ResNets (weights=None) for photos at the papers' sizes, with the course's layer names.

`core.models` builds the laptop backbones; this module wraps torchvision's ResNet-18 and ResNet-50
so that the layer-wise probe reads them the same way: children `stem` (conv1, bn1, relu, maxpool),
`res2`..`res5` (torchvision's layer1..layer4, Goyal et al.'s names) and `pool` (global average
pooling, flattened), with `layer_names`, `in_channels`, `width` and `out_features` as the course's
backbones have them. `models.make_backbone("resnet18")` builds one.
"""
from __future__ import annotations

from collections import OrderedDict

from torch import nn

PHOTO_ARCHS = ("resnet18", "resnet50")
PHOTO_WIDTH = 64  # torchvision's ResNets: 64 channels out of the stem, 64..512 (x4 for ResNet-50's bottlenecks)


class PhotoResNet(nn.Sequential):
    """Torchvision's ResNet-18 or ResNet-50, randomly initialised, as stem, res2..res5, pool."""

    def __init__(self, arch: str = "resnet18", in_channels: int = 3, width: int = PHOTO_WIDTH):
        from torchvision import models

        if arch not in PHOTO_ARCHS:
            raise ValueError(f"arch must be one of {PHOTO_ARCHS}, got {arch!r}")
        if in_channels not in (1, 3):
            raise ValueError(f"in_channels must be 1 (grayscale) or 3 (colour), got {in_channels!r}")
        if width != PHOTO_WIDTH:
            raise ValueError(f"width must be {PHOTO_WIDTH} for torchvision's {arch} (its widths are fixed), got {width!r}")
        net = getattr(models, arch)(weights=None)
        if in_channels != 3:
            net.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False)
        super().__init__(OrderedDict(
            stem=nn.Sequential(net.conv1, net.bn1, net.relu, net.maxpool),
            res2=net.layer1, res3=net.layer2, res4=net.layer3, res5=net.layer4,
            pool=nn.Sequential(net.avgpool, nn.Flatten()),
        ))
        self.arch, self.in_channels, self.width = arch, in_channels, width
        self.out_features = net.fc.in_features
        self.layer_names = tuple(self._modules)
