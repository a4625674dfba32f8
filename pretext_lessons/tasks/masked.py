"""Lesson 7: masked-patch prediction, a small masked image model (after MAE, He et al. 2022, and context encoders, Pathak et al. 2016).

The image is cut into a grid x grid array of patches; a fixed share of them, drawn per image, is
replaced by a mask token (the constant MASK_VALUE, outside the images' [0, 1] range, the
counterpart of BEiT's [MASK] embedding), and the network must say what was there. Pixels are a
regression target; to keep the course's classification interface, each masked patch is pooled to
cells x cells gray values and each value is quantised into `levels` intensity classes (discrete
targets, as iGPT's colour palette and BEiT's visual tokens make them). The labels of one image are
those of its masked patches, flattened (`labels_per_input` of them, core/task.py), and the network
returns one row of `levels` logits per label.
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn
from torch.nn import functional as F

from ..core.data import check_images, to_float, to_grayscale
from ..core.models import evaluating
from ..core.task import PretextTask
from ..core.validate import check_generator, check_int
from ..notebook.plotting import imshow
from .registry import register_task

MASK_VALUE = -1.0  # the mask token: no image pixel takes it, so the head can find the masked patches


# 1. labels ----------------------------------------------------------------------------------------

def _check_geometry(grid, cells, levels, mask_ratio):
    check_int("grid", grid, 2)
    check_int("cells", cells)
    check_int("levels", levels, 2)
    if not (isinstance(mask_ratio, (int, float)) and 0 < mask_ratio < 1):
        raise ValueError(f"mask_ratio must be a number strictly between 0 and 1, got {mask_ratio!r}")
    return max(1, min(grid * grid - 1, round(mask_ratio * grid * grid)))


def patch_tokens(X: torch.Tensor, grid: int = 4, cells: int = 4, levels: int = 4) -> torch.Tensor:
    """The targets of every patch (N, grid * grid, cells * cells): pooled gray values quantised into 0..levels-1."""
    X = to_float(check_images(X))
    gray = F.adaptive_avg_pool2d(to_grayscale(X), grid * cells)[:, 0]  # (N, grid*cells, grid*cells)
    tokens = (gray * levels).floor().clamp(0, levels - 1).long()
    N = len(X)
    # (N, grid, cells, grid, cells) -> (N, grid, grid, cells, cells): patch-major, then its cells row by row
    return tokens.view(N, grid, cells, grid, cells).permute(0, 1, 3, 2, 4).reshape(N, grid * grid, cells * cells)


def patch_of_pixel(height: int, width: int, grid: int, device=None) -> torch.Tensor:
    """The patch number (row * grid + column) of every pixel of a height x width image (height, width)."""
    rows = (torch.arange(height, device=device) * grid) // height
    cols = (torch.arange(width, device=device) * grid) // width
    return rows[:, None] * grid + cols[None, :]


def mask_patches(X: torch.Tensor, generator: torch.Generator | None = None, grid: int = 4, cells: int = 4,
                 levels: int = 4, mask_ratio: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(inputs, y, mask): X with round(mask_ratio * grid^2) random patches per image set to MASK_VALUE,
    the quantised targets of the masked patches flattened (image by image, patch by patch, cell by cell),
    and the mask (N, grid * grid), True where a patch was masked."""
    X = to_float(check_images(X, min_size=grid))
    num_masked = _check_geometry(grid, cells, levels, mask_ratio)
    check_generator(generator, X.device)
    N, _, H, W = X.shape
    order = torch.rand(N, grid * grid, generator=generator, device=X.device).argsort(1)
    mask = torch.zeros(N, grid * grid, dtype=torch.bool, device=X.device)
    mask.scatter_(1, order[:, :num_masked], True)
    pixels = mask.gather(1, patch_of_pixel(H, W, grid, X.device).flatten()[None].expand(N, -1)).view(N, 1, H, W)
    inputs = torch.where(pixels, torch.full_like(X, MASK_VALUE), X)
    y = patch_tokens(X, grid, cells, levels)[mask].flatten()
    return inputs, y, mask


# 2. batch transform -------------------------------------------------------------------------------

@register_task(in_course=False)
@dataclasses.dataclass
class MaskedTask(PretextTask):
    """Say the quantised gray levels of the masked patches (a small masked image model)."""

    num_classes: int = 4  # intensity levels per cell
    min_size: int = dataclasses.field(default=4, init=False)
    grid: int = 4
    cells: int = 4
    mask_ratio: float = 0.5

    name = "masked"
    presets = {"quick": dict(num_images=4000, batch_size=128, lr=0.05)}

    def __post_init__(self):
        self.num_masked = _check_geometry(self.grid, self.cells, self.num_classes, self.mask_ratio)
        self.min_size = self.grid

    @property
    def labels_per_input(self) -> int:
        return self.num_masked * self.cells * self.cells

    def make_batch(self, X, generator):
        inputs, y, _ = mask_patches(X, generator, self.grid, self.cells, self.num_classes, self.mask_ratio)
        return inputs, y

    def build_net(self, trunk):
        return MaskedNet(trunk, self.grid, self.cells, self.num_classes)


# 3. network: trunk, a linear decoder of every patch's cells, the masked ones kept -----------------------

class MaskedNet(nn.Module):
    """Trunk, then one linear layer to (grid^2, cells^2, levels) logits; the rows of the masked patches returned.

    The masked patches are found in the input (their pixels hold MASK_VALUE), so `forward(inputs)`
    returns (N * masked patches * cells^2, levels) logits in the order of `mask_patches`'s labels.
    """

    def __init__(self, trunk: nn.Module, grid: int = 4, cells: int = 4, levels: int = 4):
        super().__init__()
        self.trunk, self.grid, self.cells, self.levels = trunk, grid, cells, levels
        self.head = nn.Linear(trunk.out_features, grid * grid * cells * cells * levels)

    def masked_patches(self, inputs: torch.Tensor) -> torch.Tensor:
        H, W = inputs.shape[-2:]
        # a patch's first pixel (row * H // grid, col * W // grid) lies in it: masked patches hold the token there
        starts_r = -((-torch.arange(self.grid, device=inputs.device) * H) // self.grid)
        starts_c = -((-torch.arange(self.grid, device=inputs.device) * W) // self.grid)
        corner = inputs[:, 0][:, starts_r][:, :, starts_c]
        return (corner == MASK_VALUE).flatten(1)

    def forward(self, inputs: torch.Tensor) -> torch.Tensor:
        logits = self.head(self.trunk(inputs)).view(len(inputs), self.grid * self.grid, self.cells * self.cells,
                                                     self.levels)
        return logits[self.masked_patches(inputs)].reshape(-1, self.levels)


# 4. visualisation ---------------------------------------------------------------------------------

@torch.no_grad()
def reconstruct(net: MaskedNet, X: torch.Tensor, generator: torch.Generator | None = None,
                mask_ratio: float = 0.5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(masked inputs, targets, predictions) as gray images: each cell's level, drawn at its centre value."""
    inputs, y, mask = mask_patches(X, generator, net.grid, net.cells, net.levels, mask_ratio)
    device = next(net.parameters()).device
    with evaluating(net):
        pred = net(inputs.to(device)).argmax(1).cpu()
    N, g, c = len(X), net.grid, net.cells
    full_target = patch_tokens(X, g, c, net.levels).float()
    full_pred = full_target.clone()
    full_pred[mask] = pred.view(-1, c * c).float()
    full_pred[~mask] = -1  # unmasked patches: shown as they were

    def image(tokens):
        picture = tokens.view(N, g, g, c, c).permute(0, 1, 3, 2, 4).reshape(N, 1, g * c, g * c)
        return torch.where(picture < 0, torch.nan, (picture + 0.5) / net.levels)

    return inputs, image(full_target), image(full_pred)


def plot_reconstructions(net: MaskedNet, X: torch.Tensor, seed: int = 0, mask_ratio: float = 0.5, num: int = 6):
    """Rows: the masked input, the quantised target, the network's answer for the masked patches."""
    import matplotlib.pyplot as plt

    X = to_float(check_images(X))[:num]
    inputs, target, pred = reconstruct(net, X, torch.Generator().manual_seed(seed), mask_ratio)
    fig, axes = plt.subplots(3, len(X), figsize=(1.3 * len(X), 4.2), squeeze=False)
    for i in range(len(X)):
        imshow(axes[0, i], inputs[i].clamp(0, 1) * (inputs[i] != MASK_VALUE))
        imshow(axes[1, i], target[i].nan_to_num(0))
        imshow(axes[2, i], torch.where(pred[i].isnan(), target[i], pred[i]))
    for row, label in enumerate(("masked input", "target levels", "predicted")):
        axes[row, 0].set_ylabel(label, fontsize=8)
    fig.suptitle("Masked patches (black) and the network's answer for them", fontsize=9)
    fig.tight_layout()
    return fig
