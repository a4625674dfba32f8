"""Lesson 1: rotation prediction (RotNet, Gidaris, Singh, Komodakis 2018).

The pseudo label is how far an image was turned: 0, 90, 180 or 270 degrees counter-clockwise
(labels 0..3). Rotations by multiples of 90 degrees are flips and transposes of the pixel grid,
so they are exact: no interpolation leaves a trace the network could read instead of the object.
"""
from __future__ import annotations

import dataclasses
import functools

import torch
from torch.nn import functional as F

from ..core.data import PHOTO_NAMES, check_images, load_photo, resolve_dataset, to_float, to_grayscale
from ..core.models import trunk_of
from ..core.task import PretextTask
from ..core.training import probabilities
from ..core.validate import check_generator
from ..notebook.plotting import as_image, figure_axes, imshow
from ..notebook.widgets import explorer, explorer_images, image_slider
from .registry import register_task

ANGLES = (0, 90, 180, 270)
ROTATION_NAMES = tuple(f"{a}°" for a in ANGLES)


# 1. labels ----------------------------------------------------------------------------------------

def _check_square(X, name: str = "X") -> torch.Tensor:
    check_images(X, name=name)
    if X.shape[-2] != X.shape[-1]:
        raise ValueError(f"{name} must hold square images (a quarter turn swaps height and width), "
                         f"got {X.shape[-2]}x{X.shape[-1]}; crop them square first")
    return X


@functools.lru_cache(maxsize=16)
def rotation_index(channels: int, size: int, device: str = "cpu") -> torch.Tensor:
    """Where each pixel of a rotated image comes from (4, channels * size * size), for turns 0..3.

    Made by torch.rot90 on a grid of pixel numbers, so it is the exact flip-and-transpose
    permutation: rotating a batch becomes one gather, a single pass over memory.
    """
    grid = torch.arange(channels * size * size).view(channels, size, size)
    return torch.stack([torch.rot90(grid, r, dims=(1, 2)).flatten() for r in range(4)]).to(device)


def rotate_batch(X: torch.Tensor, generator: torch.Generator | None = None, *,
                 all_rotations: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Rotated copies of square images X (N, C, H, W) and their labels 0..3 (0/90/180/270 degrees).

    all_rotations=True (RotNet's reference loader): the four rotations of every image, image by
    image: inputs[4 * i + r] is image i turned r quarter turns counter-clockwise, so N images give
    4N inputs. all_rotations=False (VISSL): one rotation per image, drawn from `generator` (None:
    torch's global random state). Rotations are exact (the pixels of torch.rot90: flips and
    transposes); the dtype of X is kept.
    """
    _check_square(X)
    if not isinstance(all_rotations, bool):
        raise TypeError(f"all_rotations must be True or False, got {all_rotations!r}")
    check_generator(generator, X.device)
    N, C, H, W = X.shape
    index = rotation_index(C, H, str(X.device))
    flat = X.reshape(N, C * H * W)
    if all_rotations:
        # one gather for the whole batch; the index lists an image's four turns one after the other
        inputs = flat.index_select(1, index.flatten()).view(4 * N, C, H, W)
        return inputs, torch.arange(4, device=X.device).repeat(N)
    y = torch.randint(0, 4, (N,), generator=generator, device=X.device)
    return flat.gather(1, index[y]).view(N, C, H, W), y


def unrotate(inputs: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """Turn rotated images back upright, given their labels (the inverse of rotate_batch)."""
    _check_square(inputs, "inputs")
    if not isinstance(y, torch.Tensor) or y.shape != (len(inputs),) or y.dtype != torch.int64:
        raise ValueError(f"y must be a tensor of {len(inputs)} rotation labels (int64), got "
                         f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
    N, C, H, W = inputs.shape
    back = rotation_index(C, H, str(inputs.device))[(4 - y) % 4]  # turning r times back is turning 4 - r times
    return inputs.reshape(N, C * H * W).gather(1, back).view(N, C, H, W)


# 2. batch transform -------------------------------------------------------------------------------

@register_task
@dataclasses.dataclass
class RotationTask(PretextTask):
    """Predict which of four rotations (0/90/180/270 degrees) an image was given."""

    num_classes: int = 4
    min_size: int = dataclasses.field(default=1, init=False)
    all_rotations: bool = True

    name = "rotation"
    # Only what differs from the course's presets (training.PRESETS). All four rotations of an image
    # share a batch, so a step sees 4 x batch_size inputs: fewer images and smaller batches make the
    # quick preset a lesson's run on a laptop CPU (its time and accuracy: benchmarks/bench_rotation.py
    # --train); full is the paper's scale, for a GPU.
    presets = {"quick": dict(num_images=4000, batch_size=64, lr=0.1), "full": dict(num_epochs=30)}

    def __post_init__(self):
        if self.num_classes != 4:
            raise ValueError(f"num_classes must be 4 for rotation prediction (0/90/180/270), got {self.num_classes}")
        self.min_size = 1  # a quarter turn needs no margin: any square image will do

    def make_batch(self, X, generator):
        return rotate_batch(X, generator, all_rotations=self.all_rotations)


# 3. model head: the default linear head of PretextTask (RotNet's 4-way linear layer on pooled features)

# evaluation helpers ----------------------------------------------------------------------------------

def rotation_probabilities(net, X: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """The net's probabilities (N, 4, 4): for each image, each of its rotations, each label."""
    _check_square(X)
    return probabilities(net, X, batch_size, transform=lambda batch: rotate_batch(to_float(batch))[0]).view(-1, 4, 4)


def rotation_confusions(probs: torch.Tensor, y: torch.Tensor, num_classes: int | None = None) -> torch.Tensor:
    """Counts (num_classes, 4, 4): per object class, true rotation x predicted rotation."""
    if not isinstance(probs, torch.Tensor) or probs.dim() != 3 or probs.shape[1:] != (4, 4):
        raise ValueError(f"probs must be (N, 4, 4) from rotation_probabilities, got "
                         f"{tuple(probs.shape) if isinstance(probs, torch.Tensor) else type(probs).__name__}")
    if not isinstance(y, torch.Tensor) or y.shape != (len(probs),) or y.dtype != torch.int64:
        raise ValueError(f"y must be {len(probs)} int64 class labels (one per image), got "
                         f"{tuple(y.shape) if isinstance(y, torch.Tensor) else type(y).__name__}")
    num_classes = num_classes or int(y.max()) + 1
    pred = probs.argmax(2)  # (N, 4)
    true = torch.arange(4).expand_as(pred)
    counts = torch.zeros(num_classes, 4, 4)
    counts.index_put_((y[:, None].expand_as(pred), true, pred), torch.ones(pred.shape), accumulate=True)
    return counts


@torch.no_grad()
def upright_lookalike(X: torch.Tensor, X_reference: torch.Tensor, batch_size: int = 256) -> torch.Tensor:
    """How upright each image's rotations look (N, 3): 90/180/270 degrees, near 1 = as upright as the original.

    For each image, the pixel distance from each rotated copy to its nearest upright reference
    image, divided by the same distance for the image itself. A ratio near 1 means the turned
    image resembles some real upright image as much as the original does, so its rotation label
    is hard to tell from the pixels. Use references that do not contain the images themselves.
    """
    X, X_reference = to_float(_check_square(X)), to_float(_check_square(X_reference, "X_reference"))
    if X.shape[1:] != X_reference.shape[1:]:
        raise ValueError(f"X_reference must hold images shaped like X's {tuple(X.shape[1:])}, "
                         f"got {tuple(X_reference.shape[1:])}")
    if len(X_reference) == 0:
        raise ValueError("X_reference must hold at least one image, got none")
    reference = X_reference.flatten(1)
    ratios = []
    for start in range(0, len(X), batch_size):
        chunk = X[start:start + batch_size]
        inputs, _ = rotate_batch(chunk)
        nearest = torch.cdist(inputs.flatten(1), reference).min(1).values.view(len(chunk), 4)
        ratios.append(nearest[:, 1:] / nearest[:, :1].clamp_min(1e-6))
    return torch.cat(ratios) if ratios else torch.zeros(0, 3)


# 4. visualisation ---------------------------------------------------------------------------------

def _square_image(image) -> torch.Tensor:
    return _check_square(as_image(image)[None], "image")[0]


def image_for_net(image, in_channels: int | None = None, size: int | None = None) -> torch.Tensor:
    """An image as a network trained on the course's dataset reads it: its channels, size x size, float."""
    in_channels = resolve_dataset().channels if in_channels is None else in_channels
    size = resolve_dataset().size if size is None else size
    image = _square_image(image)
    if image.shape[0] == 3 and in_channels == 1:
        image = to_grayscale(image)
    elif image.shape[0] == 1 and in_channels == 3:
        image = image.expand(3, -1, -1)
    if image.shape[-1] != size:
        image = F.interpolate(image[None], size=(size, size), mode="bilinear", antialias=True,
                              align_corners=False)[0].clamp(0, 1)
    return image


def plot_rotations(image, net=None, *, title: str | None = None):
    """An image's four rotations with their labels; with a net, its probabilities for each."""
    import matplotlib.pyplot as plt

    image = _square_image(image)
    inputs, y = rotate_batch(image[None])
    probs = None
    if net is not None:
        in_channels = getattr(trunk_of(net), "in_channels", image.shape[0])
        if image.shape[0] != in_channels:
            raise ValueError(f"image must have the {in_channels} channel(s) the net reads, got {image.shape[0]}; "
                             "convert it with image_for_net(image, in_channels)")
        probs = rotation_probabilities(net, image[None])[0]
    fig, axes = plt.subplots(2 if net is not None else 1, 4, figsize=(7.2, 4.2 if net is not None else 2.2),
                             squeeze=False, gridspec_kw={"height_ratios": [1, 0.7]} if net is not None else None)
    for r in range(4):
        ax = imshow(axes[0, r], inputs[r])
        ax.set_title(f"label {int(y[r])}: {ROTATION_NAMES[r]}", fontsize=9)
        if probs is None:
            continue
        guess = int(probs[r].argmax())
        ax.set_xlabel(f"predicted {ROTATION_NAMES[guess]}", fontsize=9,
                      color="tab:green" if guess == r else "tab:red")
        bar = axes[1, r]
        colours = ["tab:green" if j == r else "tab:gray" for j in range(4)]
        bar.bar(range(4), probs[r].tolist(), color=colours)
        bar.set_xticks(range(4), ROTATION_NAMES, fontsize=8)
        bar.set_ylim(0, 1)
        bar.set_yticks([0, 0.5, 1] if r == 0 else [])
        if r == 0:
            bar.set_ylabel("probability", fontsize=8)
    fig.suptitle(title or ("The four rotations and their pseudo labels" if net is None
                           else "The four rotations and the network's probabilities (green: the right label)"),
                 fontsize=10)
    fig.tight_layout()
    return fig


def plot_class_accuracy(confusions: torch.Tensor, class_names=None, ax=None,
                        title: str = "Rotation accuracy per class and rotation"):
    """A heat map of pretext accuracy per object class (rows) and rotation (columns); names: the dataset's classes."""
    class_names = resolve_dataset().classes if class_names is None else class_names

    if not isinstance(confusions, torch.Tensor) or confusions.dim() != 3 or confusions.shape[1:] != (4, 4):
        raise ValueError(f"confusions must be (num_classes, 4, 4) counts from rotation_confusions, got "
                         f"{tuple(confusions.shape) if isinstance(confusions, torch.Tensor) else type(confusions).__name__}")
    if len(class_names) != len(confusions):
        raise ValueError(f"class_names must name the {len(confusions)} classes, got {len(class_names)} names")
    acc = confusions.diagonal(dim1=1, dim2=2) / confusions.sum(2).clamp_min(1)
    overall = confusions.diagonal(dim1=1, dim2=2).sum(1) / confusions.sum((1, 2)).clamp_min(1)
    table = torch.cat([acc, overall[:, None]], 1)
    fig, ax = figure_axes(ax, figsize=(5.2, 0.9 + 0.36 * len(confusions)))
    ax.imshow(table.numpy(), cmap="RdYlGn", vmin=min(0.5, float(table.min())), vmax=1, aspect="auto")
    ax.set_xticks(range(5), ROTATION_NAMES + ("all",), fontsize=8)
    ax.set_yticks(range(len(class_names)), class_names, fontsize=8)
    ax.axvline(3.5, color="white", lw=3)
    for i in range(table.shape[0]):
        for j in range(5):
            ax.text(j, i, f"{table[i, j]:.1%}", ha="center", va="center", fontsize=7)
    ax.set_xlabel("rotation given")
    ax.set_title(title, fontsize=10)
    fig.tight_layout()
    return fig


def plot_error_vs_lookalike(class_error, lookalike, class_names=None, ax=None):
    """Each class's rotation error against its lookalike ratio (1 = a turned image as plausible as upright).

    `class_error` (classes,) is the network's error per class; `lookalike` (classes,) or (classes, 3)
    the median lookalike ratio of the class (per turn; the smallest, the most plausible turn, is drawn).
    """
    class_names = resolve_dataset().classes if class_names is None else class_names
    class_error, lookalike = torch.as_tensor(class_error).float(), torch.as_tensor(lookalike).float()
    closest = lookalike.min(1).values if lookalike.dim() == 2 else lookalike
    if len(closest) != len(class_error) or len(class_names) != len(class_error):
        raise ValueError(f"class_error, lookalike and class_names must hold one entry per class, got "
                         f"{len(class_error)}, {len(closest)} and {len(class_names)}")
    fig, ax = figure_axes(ax, figsize=(5.5, 3.8))
    ax.scatter(closest, 100 * class_error, color="tab:blue")
    for x, e, name in zip(closest.tolist(), class_error.tolist(), class_names):
        ax.annotate(name, (x, 100 * e), textcoords="offset points", xytext=(4, 3), fontsize=7)
    ax.axvline(1, color="gray", ls=":", label="ratio 1: turned looks as upright as the original")
    ax.set_xlabel("lookalike ratio of the most plausible turn (median over the class)")
    ax.set_ylabel("rotation error of the network (%)")
    ax.set_title("Rotation error against how upright the turned images look", fontsize=10)
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig


@functools.lru_cache(maxsize=len(PHOTO_NAMES))
def _photo(name: str) -> torch.Tensor:
    return load_photo(name)


def rotation_explorer(net=None, images: torch.Tensor | None = None, size: int | None = None):
    """Pick an image (by index) or a photo (by name) and see plot_rotations, with `net`'s probabilities.

    `images` (N, C, H, W) defaults to one test image per class of the course's dataset; a photo is
    shown as the net reads it (gray or colour as its trunk, `size` px: the dataset's by default).
    """
    import ipywidgets as widgets

    size = resolve_dataset().size if size is None else size
    names = resolve_dataset().classes if images is None else None
    images = explorer_images(images)
    in_channels = getattr(trunk_of(net), "in_channels", images.shape[1]) if net is not None else images.shape[1]
    sources = ("images",) + PHOTO_NAMES

    def draw(source, image):
        if source == "images":
            picked, what = images[image], f"image {image}" + (f" ({names[image]})" if names else "")
        else:
            picked, what = _photo(source), f"photo '{source}' as the net reads it ({size} px)"
        return plot_rotations(image_for_net(picked, in_channels, size), net, title=what)

    return explorer(draw, source=widgets.Dropdown(options=sources, value="images", description="source"),
                    image=image_slider(images))
