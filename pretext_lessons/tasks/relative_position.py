"""Lesson 3: relative patch position (Doersch, Gupta, Efros, ICCV 2015): where does the second patch sit?

A centre patch and one of its 8 neighbours are cut from an image; the network sees both and
names the neighbour's position (8 classes). The module has the course's four parts:

1. labels: `pair_positions` (where the two patches are) and `sample_pairs` (the patches);
2. batch transform: `RelativePositionTask`;
3. model head: `RelativePositionTask.build_net`, late fusion: a `MultiPartNet` with one shared
   trunk on each of the two patches, then fully connected layers;
4. visualisation: `plot_pairs` and `relative_position_explorer`, with `pair_probabilities`.

Labels, in row-major order around the centre (offsets in grid steps, (row, column)):

    0 top-left     1 top      2 top-right
    3 left         .          4 right
    5 bottom-left  6 bottom   7 bottom-right
"""
from __future__ import annotations

import dataclasses

import torch
from torch import nn

from ..core.data import check_images, resolve_dataset, to_float, to_grayscale
from ..core.models import trunk_of
from ..core.task import MultiPartNet, PretextTask
from ..core.training import probabilities
from ..core.validate import check_generator, check_int
from ..notebook.plotting import as_image, figure_axes, imshow
from ..notebook.widgets import explorer, explorer_images, image_slider
from .registry import register_task

NEIGHBOUR_OFFSETS = ((-1, -1), (-1, 0), (-1, 1), (0, -1), (0, 1), (1, -1), (1, 0), (1, 1))
POSITION_NAMES = ("top-left", "top", "top-right", "left", "right", "bottom-left", "bottom", "bottom-right")
# the label of the position seen in a left/right mirror (flip columns) and an up/down mirror (flip rows)
LEFT_RIGHT_MIRROR = (2, 1, 0, 4, 3, 7, 6, 5)
UP_DOWN_MIRROR = (5, 6, 7, 3, 4, 0, 1, 2)
# the smallest std a patch's normalisation divides by: a flat patch (background) keeps a flat look instead of
# blowing 1/255 noise up to unit variance
MIN_STD = 0.05


def neighbour_offsets(y: torch.Tensor) -> torch.Tensor:
    """The (row, column) offset in grid steps of each label's neighbour, shape (N, 2)."""
    if not isinstance(y, torch.Tensor) or y.dtype != torch.int64:
        raise TypeError(f"y must be an int64 tensor of labels, got {getattr(y, 'dtype', type(y).__name__)}")
    if y.numel() and (int(y.min()) < 0 or int(y.max()) > 7):
        raise ValueError(f"y must hold labels in 0..7, got values from {int(y.min())} to {int(y.max())}")
    return torch.tensor(NEIGHBOUR_OFFSETS, dtype=torch.int64, device=y.device)[y]


def footprint(patch: int, gap: int, jitter: int) -> int:
    """The side of the square a 3x3 arrangement of jittered patches can cover."""
    return 3 * patch + 2 * gap + 2 * jitter


def gap_closing(patch: int, gap: int, jitter: int) -> dict:
    """How often the gap between a centre patch and its neighbour closes, exactly, for a geometry.

    Each patch moves by its own uniform jitter in -jitter..jitter on each axis (as `pair_positions`
    draws it), so along the axis that separates them two patches are ``gap + (neighbour's shift -
    centre's shift)`` px apart. A side neighbour (top, left, right, bottom) shares an edge with the
    centre when that space is 0 or less; a diagonal one touches it at a corner when both axes'
    spaces are. Returns those two fractions, the fraction over all pairs (the 8 labels are equally
    likely), and the smallest and largest space. Exact: every draw of the two shifts is counted.
    """
    _check_geometry(patch, gap, jitter)
    shifts = torch.arange(-jitter, jitter + 1)
    space = gap + shifts[:, None] - shifts[None, :]  # neighbour's shift minus centre's, every pair of draws
    side = float((space <= 0).double().mean())
    diagonal = side * side  # the two axes' shifts are drawn independently
    return {"side": side, "diagonal": diagonal, "pairs": (4 * side + 4 * diagonal) / 8,
            "min_space": int(space.min()), "max_space": int(space.max())}


def _check_geometry(patch, gap, jitter):
    check_int("patch", patch, 1, hint=" (pixels)")
    check_int("gap", gap, 0, hint=" (pixels)")
    check_int("jitter", jitter, 0, hint=" (pixels)")


def centre_range(height: int, width: int, patch: int = 7, gap: int = 2, jitter: int = 1) -> tuple:
    """The lowest and highest (row, column) of the centre patch's top-left corner.

    The corner is drawn so that ALL 8 neighbours fit, whatever the label: were it drawn for the
    chosen neighbour only, a centre near the left edge would announce "the neighbour is on the
    right", a shortcut through the patch's absolute position.
    """
    _check_geometry(patch, gap, jitter)
    need = footprint(patch, gap, jitter)
    if min(height, width) < need:
        raise ValueError(f"images must be at least {need}x{need} pixels for patch={patch}, gap={gap}, "
                         f"jitter={jitter} (3*patch + 2*gap + 2*jitter), got {height}x{width}")
    step = patch + gap
    return (step + jitter, step + jitter), (height - patch - step - jitter, width - patch - step - jitter)


def pair_positions(num: int, height: int, width: int, generator: torch.Generator | None = None, patch: int = 7,
                   gap: int = 2, jitter: int = 1, corner=None, y=None,
                   device=None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The top-left corners (N, 2) of the centre patch and of its neighbour, and the labels (N,).

    The centre cell's corner is drawn uniformly where all 8 neighbours fit (or is `corner`, a
    (row, column) pair); the neighbour's cell is one grid step (patch + gap) away in the label's
    direction; each patch then moves by its own random jitter in -jitter..jitter on both axes.
    Labels are drawn uniformly unless given as `y`. The draws come from `generator` (None: torch's
    global random state), on `device` (default: the generator's, else the CPU).
    """
    check_generator(generator, device)
    num = check_int("num", num, 0)
    lo, hi = centre_range(height, width, patch, gap, jitter)
    if device is None:
        device = generator.device if generator is not None else torch.device("cpu")
    if corner is None:
        base = torch.stack([torch.randint(lo[i], hi[i] + 1, (num,), generator=generator, device=device)
                            for i in range(2)], 1)
    else:
        if not (len(corner) == 2 and all(lo[i] <= int(corner[i]) <= hi[i] for i in range(2))):
            raise ValueError(f"corner must be a (row, column) with rows in {lo[0]}..{hi[0]} and columns in "
                             f"{lo[1]}..{hi[1]} so that all 8 neighbours fit, got {tuple(corner)}")
        base = torch.tensor([int(c) for c in corner], device=device).expand(num, 2)
    if y is None:
        y = torch.randint(0, 8, (num,), generator=generator, device=device)
    elif not (isinstance(y, torch.Tensor) and y.shape == (num,)):
        raise ValueError(f"y must be None or a tensor of {num} labels, got {getattr(y, 'shape', type(y).__name__)}")
    shake = torch.randint(-jitter, jitter + 1, (num, 2, 2), generator=generator, device=device)
    centre = base + shake[:, 0]
    neighbour = base + (patch + gap) * neighbour_offsets(y) + shake[:, 1]
    return centre, neighbour, y


def crop_patches(X: torch.Tensor, corners: torch.Tensor, patch: int, index: torch.Tensor | None = None) -> torch.Tensor:
    """Cut a patch x patch square at each top-left corner (M, 2) of image index[m], all at once.

    One gather with index tensors, no loop over images: rows (M, p, 1) and columns (M, 1, p)
    broadcast to every pixel of every patch.
    """
    if index is None:
        index = torch.arange(len(corners), device=X.device)
    offsets = torch.arange(patch, device=X.device)
    rows = (corners[:, 0, None] + offsets)[:, :, None]
    cols = (corners[:, 1, None] + offsets)[:, None, :]
    # advanced indices around a slice put their broadcast shape first: (M, p, p, C)
    return X[index[:, None, None], :, rows, cols].permute(0, 3, 1, 2).contiguous()


def normalize_patches(P: torch.Tensor, min_std: float = MIN_STD) -> torch.Tensor:
    """Each patch (or image) over its last three dims (C, H, W) to zero mean and unit std."""
    mean = P.mean((-3, -2, -1), keepdim=True)
    std = P.std((-3, -2, -1), keepdim=True, unbiased=False).clamp_min(min_std)
    return (P - mean) / std


def drop_color(P: torch.Tensor, generator: torch.Generator | None = None, noise: float = 0.01) -> torch.Tensor:
    """Colour dropping: keep one random channel of each patch, the other two become noise.

    As Doersch et al.: the dropped channels are Gaussian noise around the kept channel's mean with
    1/100 of its std, so no comparison between channels (chromatic aberration) survives.
    """
    if not isinstance(P, torch.Tensor) or P.dim() < 3 or P.shape[-3] != 3:
        raise ValueError(f"P must be colour patches (..., 3, H, W) for colour dropping, got shape "
                         f"{tuple(getattr(P, 'shape', ()))}")
    check_generator(generator, P.device)
    lead, (h, w) = P.shape[:-3], P.shape[-2:]
    keep = torch.randint(0, 3, lead, generator=generator, device=P.device)
    kept = P.gather(-3, keep[..., None, None, None].expand(*lead, 1, h, w))
    mean = kept.mean((-2, -1), keepdim=True)
    std = kept.std((-2, -1), keepdim=True, unbiased=False)
    fill = mean + noise * std * torch.randn(P.shape, generator=generator, device=P.device, dtype=P.dtype)
    is_kept = torch.arange(3, device=P.device) == keep[..., None]
    return torch.where(is_kept[..., None, None], P, fill)



def pixelate(P: torch.Tensor, side: int) -> torch.Tensor:
    """Patches (..., C, H, W) shrunk to side x side pixels (antialiased), then enlarged back to H x W."""
    if not isinstance(P, torch.Tensor) or P.dim() < 3 or not P.is_floating_point():
        raise ValueError(f"P must be float patches (..., C, H, W), got "
                         f"{type(P).__name__} of shape {tuple(getattr(P, 'shape', ()))}")
    h, w = P.shape[-2:]
    if isinstance(side, bool) or not isinstance(side, int) or not 1 <= side <= min(h, w):
        raise ValueError(f"side must be an integer from 1 to the patch's side {min(h, w)}, got {side!r}")
    flat = P.reshape(-1, *P.shape[-3:])
    small = nn.functional.interpolate(flat, size=(side, side), mode="bilinear", antialias=True, align_corners=False)
    return nn.functional.interpolate(small, size=(h, w), mode="bilinear", align_corners=False).reshape(P.shape)


def random_pixelation(P: torch.Tensor, generator: torch.Generator | None = None, p: float = 1 / 3,
                      min_pixels: int | None = None) -> torch.Tensor:
    """Doersch et al.'s defence against fine-texture shortcuts, as their released code does it.

    cdoersch/deepcontext `train.py` (`prep_image`): a third of the patches are shrunk to a random
    side whose area is uniform between `min_pixels` and the patch's (one pixel less per side), then
    enlarged back, so that fine texture and exact pixel alignment cannot be relied on. The reference
    shrinks 96 px patches to as few as 100 pixels (10 x 10); `min_pixels=None` keeps that proportion.
    """
    if not isinstance(P, torch.Tensor) or P.dim() < 3 or not P.is_floating_point():
        raise ValueError(f"P must be float patches (..., C, H, W), got shape {tuple(getattr(P, 'shape', ()))}")
    if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p <= 1:
        raise ValueError(f"p must be a probability in [0, 1], got {p!r}")
    check_generator(generator, P.device)
    h, w = P.shape[-2:]
    largest = max(1, min(h, w) - 1) ** 2
    if min_pixels is None:
        min_pixels = min(largest, max(1, round(min(h, w) * 10 / 96)) ** 2)
    if isinstance(min_pixels, bool) or not isinstance(min_pixels, int) or not 1 <= min_pixels <= largest:
        raise ValueError(f"min_pixels must be an integer from 1 to {largest} for {h} x {w} patches "
                         f"(the reference: 100 for 96 px patches), got {min_pixels!r}")
    flat = P.reshape(-1, *P.shape[-3:])
    chosen = torch.rand(len(flat), generator=generator, device=P.device) < p
    area = min_pixels + torch.rand(len(flat), generator=generator, device=P.device) * (largest - min_pixels)
    sides = area.sqrt().long().tolist()
    out = flat.clone()
    for i in chosen.nonzero().flatten().tolist():
        out[i] = pixelate(flat[i], sides[i])
    return out.reshape(P.shape)


def sample_pairs(X: torch.Tensor, generator: torch.Generator | None = None, *, patch: int = 7, gap: int = 2,
                 jitter: int = 1, normalize: bool = True,
                 color_drop: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """A (centre, neighbour) pair per image, shape (N, 2, C, patch, patch), and its label in 0..7.

    All draws come from `generator` (None: torch's global random state).
    """
    check_images(X)
    check_generator(generator, X.device)
    _check_geometry(patch, gap, jitter)
    if color_drop and X.shape[1] != 3:
        raise ValueError(f"color_drop needs colour images (3 channels), got X with {X.shape[1]} channel(s)")
    X = to_float(X)
    N, C, H, W = X.shape
    centre, neighbour, y = pair_positions(N, H, W, generator, patch, gap, jitter, device=X.device)
    corners = torch.stack([centre, neighbour], 1).flatten(0, 1)  # centre, neighbour, centre, ...
    index = torch.arange(N, device=X.device).repeat_interleave(2)
    P = crop_patches(X, corners, patch, index).view(N, 2, C, patch, patch)
    if color_drop:
        P = drop_color(P, generator)
    if normalize:
        P = normalize_patches(P)
    return P, y


@register_task
@dataclasses.dataclass
class RelativePositionTask(PretextTask):
    """Predict where a neighbour patch sits around a centre patch (8 classes).

    The default is the lesson's geometry for 28 px Fashion-MNIST: 7 px patches, a 2 px gap and
    a 1 px jitter cover 3*7 + 2*2 + 2*1 = 27 px, so the 3x3 arrangement fits with a pixel to spare.
    The gap and jitter stop the network matching the edges of touching patches. The reference
    code (cdoersch/deepcontext, train.py) uses 96 px patches, a 48 px gap (half a patch) and up to
    7 px jitter on photos, so its gap never closes; the course's proportions differ (a gap of 2/7
    of a patch, jitter 1/7) and its gap closes on some pairs (`gap_closing` says how often). Each
    patch is normalised on its own.
    On larger images (the course's dataset, `use_dataset`) patch, gap and jitter left at None grow
    with the side: x2 from 56 px, x3 from 84 px (STL-10's 96 px).
    """

    num_classes: int = 8
    min_size: int = dataclasses.field(default=27, init=False)
    patch: int | None = None  # None: 7 px x the dataset's scale
    gap: int | None = None  # None: 2 px x the dataset's scale
    jitter: int | None = None  # None: 1 px x the dataset's scale
    normalize: bool = True
    color_drop: bool = False

    name = "relative_position"
    # Only what differs from the course's presets (training.PRESETS). Quick: the images of every task's
    # quick recipe (rotation's 4,000), so lesson 4's matched budget is this lesson's own recipe and
    # reuses its network; one pair of 7 px patches per image makes it the cheapest of the three.
    presets = {"quick": dict(num_images=4000), "full": dict(num_epochs=40, lr=0.05)}

    def __post_init__(self):
        scale = resolve_dataset().scale if None in (self.patch, self.gap, self.jitter) else 1
        self.patch = 7 * scale if self.patch is None else self.patch
        self.gap = 2 * scale if self.gap is None else self.gap
        self.jitter = 1 * scale if self.jitter is None else self.jitter
        _check_geometry(self.patch, self.gap, self.jitter)
        if self.num_classes != 8:
            raise ValueError(f"num_classes must be 8 (the neighbours of a patch), got {self.num_classes}")
        self.min_size = footprint(self.patch, self.gap, self.jitter)

    def make_batch(self, X, generator):
        return sample_pairs(X, generator, patch=self.patch, gap=self.gap, jitter=self.jitter, normalize=self.normalize,
                            color_drop=self.color_drop)

    def build_net(self, trunk):
        # late fusion: the trunk reads each patch alone, the two meet in the head
        return MultiPartNet(trunk, 2, self.num_classes, hidden=2 * trunk.out_features)

    def preprocess(self, X):
        # downstream the trunk sees a whole image: normalise it as training normalised a patch
        return normalize_patches(to_float(X)) if self.normalize else X


def mirror_confusion(y: torch.Tensor, y_hat: torch.Tensor) -> dict[str, float]:
    """How often a position is mistaken for its left/right mirror, its up/down mirror, or any other one."""
    y, y_hat = torch.as_tensor(y).long(), torch.as_tensor(y_hat).long()
    if y.shape != y_hat.shape or y.dim() != 1:
        raise ValueError(f"y and y_hat must be 1-D and of equal length, got {tuple(y.shape)} and {tuple(y_hat.shape)}")
    out = {}
    for name, mirror in (("left/right", LEFT_RIGHT_MIRROR), ("up/down", UP_DOWN_MIRROR)):
        m = torch.tensor(mirror, device=y.device)[y]
        has_mirror = m != y  # top and bottom have no left/right mirror, left and right no up/down mirror
        out[name] = float((y_hat[has_mirror] == m[has_mirror]).float().mean())
    # the rate at which one given wrong position is chosen: errors spread evenly over the 7 others
    out["any other"] = float((y_hat != y).float().mean()) / 7
    return out


def object_aspect(X: torch.Tensor, threshold: float = 0.1) -> torch.Tensor:
    """Height / width of the box around each image's object (its pixels brighter than `threshold`)."""
    X = to_float(check_images(X)).amax(1)
    on = X > threshold

    def extent(mask):  # rows (or columns) from the first to the last one holding the object
        idx = torch.arange(mask.shape[1], device=mask.device)
        first = torch.where(mask, idx, mask.shape[1]).min(1).values
        last = torch.where(mask, idx, -1).max(1).values
        return (last - first + 1).clamp_min(1).float()

    return extent(on.any(2)) / extent(on.any(1))


def plot_mirror_rates(aspect, rates, class_names, ax=None):
    """Each class's left/right and up/down mirror-confusion rates against its height / width.

    `aspect` (classes,) is the median height/width ratio of a class's objects; `rates` one
    `mirror_confusion` dict per class. The "any other" rate (one given wrong position, were mistakes
    spread evenly) is drawn as a grey tick: a mirror rate above it is a preference for that mirror.
    """
    aspect = torch.as_tensor(aspect).float()
    if not (len(aspect) == len(rates) == len(class_names)):
        raise ValueError(f"aspect, rates and class_names must hold one entry per class, got {len(aspect)}, "
                         f"{len(rates)} and {len(class_names)}")
    fig, ax = figure_axes(ax, figsize=(6, 3.8))
    x = aspect.tolist()
    for key, style in (("left/right", dict(color="tab:blue", marker="<")), ("up/down", dict(color="tab:orange",
                                                                                           marker="^"))):
        ax.scatter(x, [100 * r[key] for r in rates], label=f"{key} mirror", s=40, **style)
    ax.scatter(x, [100 * r["any other"] for r in rates], color="gray", marker="_", s=120, label="any other position")
    for xi, r, name in zip(x, rates, class_names):
        ax.annotate(name, (xi, 100 * max(r["left/right"], r["up/down"])), textcoords="offset points", xytext=(3, 4),
                    fontsize=7)
    ax.axvline(1, color="gray", ls=":")
    ax.set(xlabel="object height / width (median of the class; > 1 is tall)", ylabel="rate among visible neighbours (%)")
    ax.set_title("Mirror confusions against the object's shape", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def _task_geometry(patch, gap, jitter) -> tuple[int, int, int]:
    """patch, gap and jitter, each None replaced by the task's default on the course's dataset."""
    task = RelativePositionTask(patch=patch, gap=gap, jitter=jitter)
    return task.patch, task.gap, task.jitter


def plot_pairs(image, net=None, *, centre=None, patch: int | None = None, gap: int | None = None,
               jitter: int | None = None, neighbour: int | None = None, normalize: bool = True, seed: int = 0):
    """The 8 candidate neighbours of a centre patch with their labels, the gap and the jitter.

    `centre` is the (row, column) of the centre patch's middle pixel (default: the middle of the
    image). The left panel draws each cell (solid) and how far jitter can move it (dotted); the
    right one shows the jittered patches drawn with `seed`. With a trained `net`, each neighbour's
    title gives the probability of its true position, and a third panel shows the probabilities
    over the 8 positions for `neighbour` (default: the most uncertain one). `patch`, `gap` and
    `jitter` default to the task's (`RelativePositionTask()`: scaled to the course's dataset).
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    patch, gap, jitter = _task_geometry(patch, gap, jitter)
    image = as_image(image)
    C, H, W = image.shape
    lo, hi = centre_range(H, W, patch, gap, jitter)
    if centre is None:
        corner = ((lo[0] + hi[0]) // 2, (lo[1] + hi[1]) // 2)
    else:
        if len(centre) != 2:
            raise ValueError(f"centre must be a (row, column) pair, got {centre!r}")
        corner = (int(centre[0]) - patch // 2, int(centre[1]) - patch // 2)
        if not all(lo[i] <= corner[i] <= hi[i] for i in range(2)):
            raise ValueError(f"centre must keep all 8 neighbours inside the {H}x{W} image: rows "
                             f"{lo[0] + patch // 2}..{hi[0] + patch // 2}, columns {lo[1] + patch // 2}.."
                             f"{hi[1] + patch // 2}, got {tuple(centre)}")
    if neighbour is not None and neighbour not in range(8):
        raise ValueError(f"neighbour must be a label in 0..7 or None, got {neighbour!r}")
    g = torch.Generator().manual_seed(seed)
    # one draw per label: the same centre cell, each neighbour with its own jitter
    centre_tl, neighbour_tl, y = pair_positions(8, H, W, g, patch, gap, jitter, corner=corner, y=torch.arange(8))
    centre_tl = centre_tl[:1].expand(8, 2)
    corners = torch.stack([centre_tl, neighbour_tl], 1).flatten(0, 1)
    P = crop_patches(image[None], corners, patch, torch.zeros(16, dtype=torch.int64)).view(8, 2, C, patch, patch)
    probs = None
    if net is not None:
        probs = pair_probabilities(net, P, normalize=normalize)
        if neighbour is None:
            neighbour = int(probs[y, y].argmin())
    ncols = 2 if probs is None else 4
    fig = plt.figure(figsize=(3.2 * ncols, 3.4))
    grid = fig.add_gridspec(3, 3 * ncols)
    ax = imshow(fig.add_subplot(grid[:, 0:3]), image, rescale=True)
    ax.set_title(f"patch {patch}, gap {gap}, jitter {jitter}", fontsize=9)
    cells = [(corner[0] + dy * (patch + gap), corner[1] + dx * (patch + gap)) for dy, dx in NEIGHBOUR_OFFSETS]
    for k, (r, c) in enumerate([tuple(corner)] + cells):
        colour = "gold" if k == 0 else "tab:cyan"
        ax.add_patch(Rectangle((c - 0.5, r - 0.5), patch, patch, fill=False, ec=colour, lw=1.5))
        if jitter:  # the square the jittered patch stays inside
            ax.add_patch(Rectangle((c - jitter - 0.5, r - jitter - 0.5), patch + 2 * jitter, patch + 2 * jitter,
                                   fill=False, ec=colour, lw=0.8, ls=":"))
        if k:
            ax.text(c + patch / 2 - 0.5, r + patch / 2 - 0.5, str(k - 1), color="white", ha="center", va="center",
                    fontsize=10, fontweight="bold", bbox=dict(fc="black", alpha=0.5, lw=0, pad=1))
    # the jittered patches, laid out as they sit around the centre
    for slot, (dy, dx) in [(4, (0, 0))] + [(3 * (dy + 1) + dx + 1, (dy, dx)) for dy, dx in NEIGHBOUR_OFFSETS]:
        sub = fig.add_subplot(grid[slot // 3, 3 + slot % 3])
        if (dy, dx) == (0, 0):
            imshow(sub, P[0, 0], rescale=True)
            sub.set_title("centre", fontsize=8)
            continue
        k = NEIGHBOUR_OFFSETS.index((dy, dx))
        imshow(sub, P[k, 1], rescale=True)
        sub.set_title(f"{k}: {POSITION_NAMES[k]}" if probs is None else f"{k}: p={probs[k, k]:.2f}", fontsize=8,
                      color="black" if neighbour != k or probs is None else "tab:red")
    if probs is not None:
        ax = imshow(fig.add_subplot(grid[:, 6:9]), P[neighbour, 1], rescale=True)
        ax.set_title(f"neighbour {neighbour} ({POSITION_NAMES[neighbour]})", fontsize=9)
        ax = fig.add_subplot(grid[:, 9:12])
        board = torch.full((3, 3), float("nan"))
        for k, (dy, dx) in enumerate(NEIGHBOUR_OFFSETS):
            board[dy + 1, dx + 1] = probs[neighbour, k]
        ax.imshow(board.numpy(), cmap="Blues", vmin=0, vmax=1)
        for k, (dy, dx) in enumerate(NEIGHBOUR_OFFSETS):
            ax.text(dx + 1, dy + 1, f"{probs[neighbour, k]:.2f}", ha="center", va="center", fontsize=9,
                    color="white" if probs[neighbour, k] > 0.5 else "black",
                    fontweight="bold" if k == neighbour else "normal")
        ax.add_patch(Rectangle((NEIGHBOUR_OFFSETS[neighbour][1] + 0.5, NEIGHBOUR_OFFSETS[neighbour][0] + 0.5), 1, 1,
                               fill=False, ec="tab:red", lw=2))
        ax.text(1, 1, "centre", ha="center", va="center", fontsize=8)
        ax.set_xticks([])
        ax.set_yticks([])
        ax.set_title("the network's probabilities\n(red: true position)", fontsize=9)
    fig.tight_layout()
    return fig


def pair_probabilities(net: nn.Module, P: torch.Tensor, *, normalize: bool = False, batch_size: int = 500) -> torch.Tensor:
    """A pair network's probabilities (N, 8) over the positions, for pairs P (N, 2, C, p, p).

    With `normalize`, each patch is normalised first (for raw patches); a grayscale network reads
    colour patches as their brightness.
    """
    if not isinstance(P, torch.Tensor) or P.dim() != 5 or P.shape[1] != 2:
        raise ValueError(f"P must be pairs (N, 2, C, H, W), got shape {tuple(getattr(P, 'shape', ()))}")
    wanted = getattr(trunk_of(net), "in_channels", P.shape[2])
    if wanted != P.shape[2]:
        if wanted != 1:
            raise ValueError(f"net reads {wanted}-channel patches, but the image has {P.shape[2]} channel(s)")
        P = to_grayscale(P)  # a grayscale network reads a colour photo as its luma
    if normalize:
        P = normalize_patches(P)
    return probabilities(net, P, batch_size)


def relative_position_explorer(net=None, images: torch.Tensor | None = None, *, patch: int | None = None,
                               gap: int | None = None, jitter: int | None = None, normalize: bool = True):
    """Pick an image, move the centre patch, see the 8 neighbours (and a network's guesses).

    `images` (N, C, H, W) defaults to one test image per class of the course's dataset; `patch`, `gap`
    and `jitter` to the task's (scaled to the dataset).
    """
    import ipywidgets as widgets

    patch, gap, jitter = _task_geometry(patch, gap, jitter)
    _check_geometry(patch, gap, jitter)
    images = explorer_images(images, min_size=footprint(patch, gap, jitter))
    lo, hi = centre_range(*images.shape[-2:], patch, gap, jitter)
    half = patch // 2

    def show(image, row, column, neighbour, seed):
        return plot_pairs(images[image], net, centre=(row, column), patch=patch, gap=gap, jitter=jitter,
                          neighbour=None if neighbour == "least sure" else neighbour, normalize=normalize, seed=seed)

    choices = (["least sure"] if net is not None else []) + [(f"{k}: {n}", k) for k, n in enumerate(POSITION_NAMES)]
    return explorer(
        show,
        image=image_slider(images),
        row=widgets.IntSlider(value=(lo[0] + hi[0]) // 2 + half, min=lo[0] + half, max=hi[0] + half,
                              description="centre row"),
        column=widgets.IntSlider(value=(lo[1] + hi[1]) // 2 + half, min=lo[1] + half, max=hi[1] + half,
                                 description="centre col"),
        neighbour=widgets.Dropdown(options=choices, value="least sure" if net is not None else 0,
                                   description="neighbour", disabled=net is None),
        seed=widgets.IntSlider(value=0, min=0, max=20, description="jitter seed"),
    )
