"""Lesson 3: the chromatic-aberration shortcut (Doersch et al. 2015) made concrete on real photos.

Lenses focus colours differently, so the colour channels of a photo are slightly displaced
relative to each other, in a way that depends on the distance and direction from the image
centre. The paper's description, which the simulation follows: in some cameras one channel,
commonly green, is shrunk toward the image centre relative to the others (red and blue, i.e.
magenta). `chromatic_aberration` scales green by 1 - strength about the centre and leaves red
and blue alone, so green and magenta part by `strength` times the distance to the centre: nothing
at the centre, most at the border. A network can read a patch's absolute position from that fringe.

The paper's two fixes: **projection** (`project_colors`): remove the green-magenta axis
a = [-1, 2, -1] from every pixel, B = I - a^T a / (a a^T), so any difference along that axis is
gone; and **colour dropping** (`tasks.relative_position.drop_color`): keep one channel, replace the
other two with faint noise. Projection removes the green-magenta part of the fringe exactly; the
shrunk green also moves a third of its edge into the gray (luminance) part, which projection
keeps, and the experiment measures whether a network still finds that.

The experiment: patches from photos whose content says nothing about position (random crops,
randomly flipped and turned by quarter turns BEFORE the lens acts), labelled by the grid cell they
came from; a small classifier names the cell, with and without each fix. One more condition,
"gray", records what a one-channel image (Fashion-MNIST's kind) keeps of the lens: the colours
summed to gray after the lens (`core.data.to_grayscale`), so no two channels can be compared; only
the brightness ghost of green's displacement is left. `image_geometry` fits the experiment into
a dataset's own small images (lesson 6 runs it on a colour dataset's images).

Strength: a real lens shrinks green by an order of a few thousandths (`REALISTIC_STRENGTH`,
approximate: a pixel or so at the border of a photo a few hundred pixels across). The
demonstration uses `DEMO_STRENGTH`, exaggerated on purpose so that 12 px patches of 60 px crops
show it; the lesson labels it so.
"""
from __future__ import annotations

import contextlib
import dataclasses
import functools
import sys

import torch
from torch import nn
from torch.nn import functional as F

from ..core import data as data_module
from ..core.data import check_images, load_photo, load_photos, pretrain_split, resolve_dataset, to_float, to_grayscale
from ..core.models import evaluating
from ..core.profile import phase
from ..core.results import load_or_measure, source_fingerprint
from ..core.stats import compare
from ..core.training import build_net, fingerprint, resolve_preset, train_or_load
from ..core.validate import check_generator, check_int
from ..notebook.plotting import imshow
from ..notebook.seed_plots import plot_seed_dots
from ..tasks import relative_position as relative_position_module
from ..tasks.relative_position import RelativePositionTask, drop_color, normalize_patches, sample_pairs
from . import probing
from .table import RANDOM, best_layers

CONDITIONS = ("aberration", "projection", "colour dropping", "no aberration")
GRAY = "gray"  # a further condition (not run by default): the lens, then the colours summed to gray
GREEN_MAGENTA = (-1.0, 2.0, -1.0)  # the colour axis along which green and magenta (red + blue) part
REALISTIC_STRENGTH = 0.003  # the order of a real lens (approximate, not measured here)
DEMO_STRENGTH = 0.05  # exaggerated for the demonstration: about 15 times a real lens


def _check_strength(strength):
    if isinstance(strength, bool) or not isinstance(strength, (int, float)):
        raise TypeError(f"strength must be a number (how much green is shrunk relative to red and blue), "
                        f"got {type(strength).__name__}")
    if not -0.5 < strength < 0.5:
        raise ValueError(f"strength must be between -0.5 and 0.5 (a real lens: about {REALISTIC_STRENGTH}), "
                         f"got {strength}")


def channel_scales(strength: float, dtype=torch.float32, device=None) -> torch.Tensor:
    """How much the lens scales red, green and blue about the centre: (1, 1 - strength, 1)."""
    _check_strength(strength)
    return torch.tensor([1.0, 1.0 - strength, 1.0], dtype=dtype, device=device)


def chromatic_aberration(X: torch.Tensor, strength: float = DEMO_STRENGTH) -> torch.Tensor:
    """Lateral chromatic aberration: green shrunk by 1 - strength about the centre, red and blue kept.

    A pixel r pixels from the centre sees green from r * strength pixels further out, so green
    edges move toward the centre (bilinear resampling; edges repeat the border).
    """
    X = to_float(check_images(X, channels=(3,)))
    N, C, H, W = X.shape
    scales = channel_scales(strength, X.dtype, X.device)
    # sampling grid in [-1, 1] with align_corners=True: 0 is the exact image centre
    rows = torch.linspace(-1, 1, H, device=X.device, dtype=X.dtype)
    cols = torch.linspace(-1, 1, W, device=X.device, dtype=X.dtype)
    base = torch.stack(torch.meshgrid(cols, rows, indexing="xy"), -1)  # (H, W, 2) as (x, y)
    # a channel scaled by s shows at output point p what the lens had at p / s
    grids = (base[None] / scales[:, None, None, None]).repeat(N, 1, 1, 1)  # (N*3, H, W, 2)
    out = F.grid_sample(X.reshape(N * C, 1, H, W), grids, mode="bilinear", padding_mode="border",
                        align_corners=True)
    return out.view(N, C, H, W)


def projection_matrix(dtype=torch.float32) -> torch.Tensor:
    """B = I - a^T a / (a a^T) with a = [-1, 2, -1]: removes the green-magenta part of a colour."""
    a = torch.tensor([GREEN_MAGENTA], dtype=dtype)
    return torch.eye(3, dtype=dtype) - a.T @ a / (a @ a.T)


def project_colors(X: torch.Tensor) -> torch.Tensor:
    """Doersch et al.'s projection: every pixel of colour images (..., 3, H, W) multiplied by B."""
    if not isinstance(X, torch.Tensor) or not X.dtype.is_floating_point or X.dim() < 3 or X.shape[-3] != 3:
        raise ValueError(f"X must be float colour images (..., 3, H, W), got "
                         f"{getattr(X, 'dtype', type(X).__name__)} of shape {tuple(getattr(X, 'shape', ()))}")
    B = projection_matrix(X.dtype).to(X.device)
    return torch.einsum("ij,...jhw->...ihw", B, X)


def apply_symmetry(X: torch.Tensor, t: torch.Tensor) -> torch.Tensor:
    """Square images under the symmetries t in 0..7 (bit 0 flips columns, bit 1 rows, bit 2 transposes)."""
    if X.shape[-1] != X.shape[-2]:
        raise ValueError(f"X must hold square images, got {X.shape[-2]}x{X.shape[-1]}")
    t = t.view(-1, *([1] * (X.dim() - 1))).to(X.device)
    X = torch.where(t % 2 == 1, X.flip(-1), X)
    X = torch.where(t // 2 % 2 == 1, X.flip(-2), X)
    return torch.where(t // 4 == 1, X.transpose(-1, -2), X)


def render_patches(photos: torch.Tensor, which: torch.Tensor, corners: torch.Tensor, t: torch.Tensor,
                   patch_corners: torch.Tensor, side: int, patch: int, strength: float) -> torch.Tensor:
    """Crop, symmetry, lens and cut in one resampling step, for patches (N, 3, patch, patch).

    Patch n is what `chromatic_aberration(apply_symmetry(crop, t[n]), strength)` shows at
    `patch_corners[n]`, where crop is the side x side square of photo `which[n]` at `corners[n]`;
    only the patch's own pixels are computed (one grid_sample per photo, not per patch).
    """
    num, H, W = len(which), photos.shape[-2], photos.shape[-1]
    half = (side - 1) / 2
    offsets = torch.arange(patch, dtype=photos.dtype)
    # q: each patch pixel relative to the view's centre, (N, p, p, 2) as (row, column)
    rows = (patch_corners[:, 0, None] + offsets - half)[:, :, None].expand(num, patch, patch)
    cols = (patch_corners[:, 1, None] + offsets - half)[:, None, :].expand(num, patch, patch)
    q = torch.stack([rows, cols], -1)
    scales = channel_scales(strength, photos.dtype)
    q = q[:, None] / scales[None, :, None, None, None]  # the lens: (N, 3, p, p, 2)
    # the symmetry, read backwards: transpose (swap row and column), then the flips negate
    swap = (t // 4 == 1).view(-1, 1, 1, 1, 1)
    q = torch.where(swap, q.flip(-1), q)
    signs = torch.stack([1 - 2 * (t // 2 % 2), 1 - 2 * (t % 2)], -1).to(photos.dtype)
    points = corners.to(photos.dtype)[:, None, None, None] + half + q * signs.view(-1, 1, 1, 1, 2)
    # grid_sample wants (x, y) in [-1, 1] (align_corners=True: -1 and 1 are the outer pixel centres)
    grid = torch.stack([2 * points[..., 1] / (W - 1) - 1, 2 * points[..., 0] / (H - 1) - 1], -1)
    out = torch.empty(num, 3, patch, patch, dtype=photos.dtype)
    for k in range(len(photos)):  # a loop over the few photos; every patch of a photo in one call
        sel = torch.nonzero(which == k).flatten()
        if len(sel) == 0:
            continue
        g = grid[sel].transpose(0, 1).reshape(3, len(sel) * patch, patch, 2)
        got = F.grid_sample(photos[k][:, None], g, mode="bilinear", padding_mode="border", align_corners=True)
        out[sel] = got.view(3, len(sel), patch, patch).transpose(0, 1)
    return out


def position_patches(photos: torch.Tensor, num: int, generator: torch.Generator | None = None,
                     strength: float = DEMO_STRENGTH, color_drop: bool = False, crop: int = 60, grid: int = 3,
                     patch: int = 12, margin: int = 4, normalize: bool = True,
                     project: bool = False, gray: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """`num` patches (N, 3, patch, patch) labelled by the grid cell they sit in (0..grid*grid-1).

    Each patch comes from its own crop of a random photo, turned by a random symmetry so the
    content carries no position, THEN seen through the lens (aberration about the crop's centre),
    then cut from a random cell of a grid x grid split of the crop. `margin` more pixels around
    the crop stay inside the photo, so the lens never reads beyond it. The fixes: `project`
    (Doersch et al.'s projection, `project_colors`) and `color_drop` (colour dropping); `gray`
    sums the colours to gray after the lens, as a one-channel image records them. All draws come
    from `generator` (None: torch's global random state).
    """
    photos = to_float(check_images(photos, name="photos", channels=(3,)))
    check_generator(generator)
    _check_strength(strength)
    for name, value in (("num", num), ("crop", crop), ("grid", grid), ("patch", patch)):
        check_int(name, value)
    check_int("margin", margin, 0)
    cell = crop // grid
    if patch > cell:
        raise ValueError(f"patch must fit in a grid cell: crop {crop} // grid {grid} = {cell} px, got patch={patch}")
    side = crop + 2 * margin
    H, W = photos.shape[-2:]
    if min(H, W) < side:
        raise ValueError(f"photos must be at least {side}x{side} (crop + 2 * margin), got {H}x{W}")

    def draw(high, size):
        device = generator.device if generator is not None else None
        return torch.randint(0, high, size, generator=generator, device=device).cpu()

    which = draw(len(photos), (num,))
    corners = torch.stack([draw(H - side + 1, (num,)), draw(W - side + 1, (num,))], 1)
    t = draw(8, (num,))
    y = draw(grid * grid, (num,))
    patch_corners = margin + torch.stack([y // grid, y % grid], 1) * cell + draw(cell - patch + 1, (num, 2))
    P = render_patches(photos.cpu(), which, corners, t, patch_corners, side, patch, strength)
    if gray:
        P = to_grayscale(P, num_channels=3)
    if project:
        P = project_colors(P)
    if color_drop:
        P = drop_color(P, generator)
    if normalize:
        P = normalize_patches(P)
    return P, y


def position_net(num_classes: int = 9, width: int = 16) -> nn.Module:
    """A small CNN that reads a colour patch and names its cell (a 5x5 first layer sees colour fringes)."""
    w = width
    return nn.Sequential(
        nn.Conv2d(3, w, 5, padding=2, bias=False), nn.BatchNorm2d(w), nn.ReLU(inplace=True), nn.MaxPool2d(2),
        nn.Conv2d(w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
        nn.Conv2d(2 * w, 2 * w, 3, padding=1, bias=False), nn.BatchNorm2d(2 * w), nn.ReLU(inplace=True),
        nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(2 * w, num_classes),
    )


@contextlib.contextmanager
def _threads(num_threads):
    # a 12 px patch network gains little from a second thread, and on a busy machine waiting for
    # that thread at every small operation costs far more than it saves
    before = torch.get_num_threads()
    if num_threads:
        torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def train_position_classifier(P: torch.Tensor, y: torch.Tensor, num_classes: int, num_epochs: int = 3,
                              batch_size: int = 128, lr: float = 1e-2, width: int = 16, seed: int = 0,
                              num_threads: int | None = 1) -> nn.Module:
    """Fit `position_net` on patches P and cells y with Adam; returns the trained network."""
    if not (isinstance(P, torch.Tensor) and P.dim() == 4 and isinstance(y, torch.Tensor) and y.shape == (len(P),)):
        raise ValueError(f"P must be patches (N, 3, H, W) and y their N cells, got shapes "
                         f"{tuple(getattr(P, 'shape', ()))} and {tuple(getattr(y, 'shape', ()))}")
    if len(P) < batch_size:
        raise ValueError(f"P must hold at least batch_size={batch_size} patches, got {len(P)}")
    with _threads(num_threads):
        return _train(P, y, num_classes, num_epochs, batch_size, lr, width, seed)


def _train(P, y, num_classes, num_epochs, batch_size, lr, width, seed):
    torch.manual_seed(seed)
    net = position_net(num_classes, width)
    opt = torch.optim.Adam(net.parameters(), lr=lr)
    steps = num_epochs * max(1, len(P) // batch_size)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=lr, total_steps=steps, pct_start=0.2)
    g = torch.Generator().manual_seed(seed)
    net.train()
    for _ in range(num_epochs):
        order = torch.randperm(len(P), generator=g)
        for start in range(0, len(P) - batch_size + 1, batch_size):
            idx = order[start:start + batch_size]
            loss = F.cross_entropy(net(P[idx]), y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
    return net.eval()


@torch.no_grad()
def accuracy(net: nn.Module, P: torch.Tensor, y: torch.Tensor, batch_size: int = 1000) -> float:
    """The fraction of patches whose cell `net` names correctly."""
    with evaluating(net):
        hits = sum(int((net(P[i:i + batch_size]).argmax(1) == y[i:i + batch_size]).sum())
                   for i in range(0, len(P), batch_size))
    return hits / len(P)


def aberration_experiment(seeds=(0, 1, 2), conditions=CONDITIONS, strength: float = DEMO_STRENGTH, num_train: int = 6000,
                          num_test: int = 2000, grid: int = 3, num_epochs: int = 3, photos=None,
                          progress: bool = True, num_threads: int | None = 1, geometry: dict | None = None
                          ) -> dict[str, list[float]]:
    """Held-out accuracy of the cell classifier per condition and seed (chance is 1 / grid**2).

    Conditions: "aberration" (the lens, colour kept), "projection" (the lens, then the
    green-magenta axis removed), "colour dropping" (the lens, one channel kept per patch), "no
    aberration" (a perfect lens, colour kept), and, when asked, "gray" (the lens, then the colours
    summed to gray: a one-channel image). `photos` (N, 3, H, W) default to the course's photos;
    `geometry` (crop, patch, margin: `image_geometry`) fits the crops into smaller images.
    Each seed's accuracy in each condition is kept beside the checkpoints (`results.load_or_measure`,
    keyed by the photos, the settings and this code), so a second run reads it instead of training again.
    """
    unknown = [c for c in conditions if c not in CONDITIONS + (GRAY,)]
    if unknown:
        raise ValueError(f"conditions must be among {CONDITIONS + (GRAY,)}, got {unknown}")
    photos = load_photos() if photos is None else photos
    geometry = dict(geometry or {})
    if set(geometry) - {"crop", "patch", "margin"}:
        raise ValueError(f"geometry may only set crop, patch and margin, got {sorted(geometry)}")
    table = {c: [] for c in conditions}
    photos_key = fingerprint(photos)
    with _threads(num_threads):
        for seed in seeds:
            _run_seed(table, photos, seed, conditions, strength, num_train, num_test, grid, num_epochs, progress,
                      geometry, photos_key)
    return table


def image_geometry(side: int, grid: int = 3) -> dict:
    """Crop, patch and margin of the aberration experiment in images of `side` px (its photos' proportions).

    On the photos a 60 px crop (a 4 px margin) holds 3 x 3 cells of 20 px and 12 px patches; here the
    crop is nearly the whole image, and each patch three fifths of its cell.
    """
    check_int("side", side, 3 * grid + 2)
    margin = max(1, round(side * 4 / 68))
    crop = (side - 2 * margin) // grid * grid
    return dict(crop=crop, patch=max(2, round(0.6 * crop / grid)), margin=margin)


def _run_seed(table, photos, seed, conditions, strength, num_train, num_test, grid, num_epochs, progress, geometry,
              photos_key=None):
    photos_key = fingerprint(photos) if photos_key is None else photos_key
    code = source_fingerprint(sys.modules[__name__], relative_position_module, data_module)
    for condition in conditions:
        s = 0.0 if condition == "no aberration" else strength
        key = dict(photos=photos_key, photos_shape=list(photos.shape), seed=seed, condition=condition, strength=s,
                   num_train=num_train, num_test=num_test, grid=grid, num_epochs=num_epochs, geometry=geometry,
                   code=code)
        measure = functools.partial(_measure_condition, photos, seed, condition, s, num_train, num_test, grid,
                                    num_epochs, geometry)
        table[condition].append(load_or_measure("aberration", key, measure))
        if progress:
            print(f"seed {seed}, {condition}: {table[condition][-1]:.1%}", flush=True)


@phase("training")
def _measure_condition(photos, seed, condition, s, num_train, num_test, grid, num_epochs, geometry) -> float:
    fix = dict(color_drop=condition == "colour dropping", project=condition == "projection",
               gray=condition == GRAY, **geometry)
    # the same crops, cells and symmetries in every condition of a seed: only the lens and the fix differ
    P, y = position_patches(photos, num_train, torch.Generator().manual_seed(1000 * seed + 1), s, grid=grid, **fix)
    P_test, y_test = position_patches(photos, num_test, torch.Generator().manual_seed(1000 * seed + 2), s,
                                      grid=grid, **fix)
    net = train_position_classifier(P, y, grid * grid, num_epochs=num_epochs, seed=seed, num_threads=None)
    return accuracy(net, P_test, y_test)


def format_table(table: dict[str, list[float]], chance: float, seeds=None) -> str:
    """The experiment's accuracies as a text table, one row per condition, mean last."""
    seeds = list(seeds) if seeds is not None else list(range(len(next(iter(table.values())))))
    head = f"{'condition':<16}" + "".join(f"{'seed ' + str(s):>9}" for s in seeds) + f"{'mean':>9}"
    lines = [head, "-" * len(head)]
    for condition, accs in table.items():
        lines.append(f"{condition:<16}" + "".join(f"{a:>9.1%}" for a in accs) + f"{sum(accs) / len(accs):>9.1%}")
    lines.append(f"{'chance':<16}" + " " * 9 * len(seeds) + f"{chance:>9.1%}")
    return "\n".join(lines)


def plot_aberration(photo="astronaut", strength: float = DEMO_STRENGTH, zoom: int = 40, size: int = 512):
    """A photo through an aberrated lens: close-ups of the centre and a corner, and green's shift field."""
    import matplotlib.pyplot as plt

    X = load_photo(photo, size) if isinstance(photo, str) else to_float(torch.as_tensor(photo))
    X = check_images(X[None] if X.dim() == 3 else X, name="photo", channels=(3,))[:1]
    seen = chromatic_aberration(X, strength)[0]
    H, W = seen.shape[-2:]
    if not 4 <= zoom <= min(H, W) // 2:
        raise ValueError(f"zoom must be between 4 and {min(H, W) // 2} pixels, got {zoom}")
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    views = [("through the lens", seen),
             ("centre (no fringe)", seen[:, H // 2 - zoom // 2:H // 2 + zoom // 2, W // 2 - zoom // 2:W // 2 + zoom // 2]),
             ("top-left corner (green-magenta fringes)", seen[:, :zoom, :zoom])]
    for ax, (title, img) in zip(axes, views):
        imshow(ax, img)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    # how far green moves (toward the centre) relative to red and blue: strength times the distance to the centre
    n = 9
    r = torch.linspace(0, H - 1, n)
    c = torch.linspace(0, W - 1, n)
    rr, cc = torch.meshgrid(r, c, indexing="ij")
    dy, dx = -strength * (rr - (H - 1) / 2), -strength * (cc - (W - 1) / 2)
    ax = axes[3]
    ax.quiver(cc, rr, dx, dy, torch.hypot(dx, dy), cmap="Greens", angles="xy")  # data coordinates: y points down
    ax.set_xlim(-W * 0.1, W * 1.1)
    ax.set_ylim(H * 1.1, -H * 0.1)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"green's shift: up to {strength * (H - 1) / 2:.1f} px at the edges", fontsize=9)
    fig.suptitle(f"Lateral chromatic aberration, strength {strength}: green x{1 - strength} about the centre, "
                 f"red and blue x1" + (" (exaggerated for the demonstration)" if strength > 2 * REALISTIC_STRENGTH
                                       else ""), fontsize=10)
    fig.tight_layout()
    return fig


# --------------------------------------------------------------------------------------------
# The defence downstream: relative position on images seen through the lens, with and without projection
# --------------------------------------------------------------------------------------------

DEFENCES = ("none", "projection")


def through_lens(X: torch.Tensor, strength: float = DEMO_STRENGTH) -> torch.Tensor:
    """Gray images (N, 1, H, W) as colour photos through the lens: three equal channels, then green shrunk.

    Each image is its own photo: the lens is centred on it. Colour images (N, 3, H, W) go through as they are.
    """
    X = to_float(check_images(X))
    if X.shape[1] == 1:
        X = X.expand(-1, 3, -1, -1)
    return chromatic_aberration(X, strength)


@dataclasses.dataclass
class LensRelativePositionTask(RelativePositionTask):
    """Relative position on the course's images photographed through an aberrated lens, with an optional defence.

    The images (gray ones as three equal channels) become photos through `through_lens` (the exaggerated `DEMO_STRENGTH` by
    default); with `defence="projection"`, every pixel is projected (`project_colors`) before the
    patches are cut, in training and downstream alike. Not one of the course's registered tasks:
    lesson 3's experiment only.
    """

    strength: float = DEMO_STRENGTH
    defence: str = "none"

    name = "relative_position_lens"
    presets = {"quick": dict(num_images=6000), "full": dict(num_epochs=40, lr=0.05)}

    def __post_init__(self):
        super().__post_init__()
        _check_strength(self.strength)
        if self.defence not in DEFENCES:
            raise ValueError(f"defence must be one of {DEFENCES}, got {self.defence!r}")

    def photograph(self, X):
        X = through_lens(X, self.strength)
        return project_colors(X) if self.defence == "projection" else X

    def make_batch(self, X, generator):
        return sample_pairs(self.photograph(X), generator, patch=self.patch, gap=self.gap, jitter=self.jitter,
                            normalize=self.normalize)

    def preprocess(self, X):
        X = self.photograph(X)
        return normalize_patches(X) if self.normalize else X


def defence_study(seeds=(0, 1), k: int = 10, splits=(0,), strength: float = DEMO_STRENGTH, preset: str = "quick",
                  layers=("conv2", "conv4", "fc1", "fc2"), device=None, log=print) -> dict:
    """Relative position through the lens, trained without and with projection; pretext and probe per seed.

    Returns {"pretext": {defence: [per seed]}, "rows": the probe's rows (`probing`) (tasks named "lens, no
    defence", "lens, projection" and random weights), "settings": the training budget, "seeds"}.
    """
    names = {"none": "lens, no defence", "projection": "lens, projection"}
    pretext, rows = {names[d]: [] for d in DEFENCES}, []
    settings = resolve_preset(preset, LensRelativePositionTask(strength=strength), "cnn")
    # gray images as three equal channels: the network reads colour photos, the lens acts in make_batch
    X_val = resolve_dataset().load("test")[0][:2000].expand(-1, 3, -1, -1)
    for seed in seeds:
        nets = {}
        X = pretrain_split(settings["num_images"], seed=seed).expand(-1, 3, -1, -1)
        for defence in DEFENCES:
            task = LensRelativePositionTask(strength=strength, defence=defence)
            net, history = train_or_load(task, arch="cnn", preset=preset, seed=seed, X=X, X_val=X_val, device=device,
                                         progress=False)
            nets[names[defence]] = (net, task)
            pretext[names[defence]].append(history["val_acc"][-1])
            if log:
                log(f"seed {seed}, {names[defence]:>17}: pretext accuracy {history['val_acc'][-1]:.1%}")
        plain = LensRelativePositionTask(strength=strength)
        nets[RANDOM] = (build_net(plain, "cnn", in_channels=3, width=settings["width"], seed=seed), plain)
        for j in splits:
            split = probing.downstream_split((k,), seed, split=j)
            for name, (net, task) in nets.items():
                rows += probing.probe_network(net, name, "cnn", seed, (k,), split, layers=layers,
                                                preprocess=task.preprocess, split_index=j)
    return {"pretext": pretext, "rows": rows, "settings": settings, "seeds": tuple(seeds), "k": k}


def defence_verdicts(study: dict) -> list[str]:
    """Projection minus no defence, in pretext accuracy (by seed) and at each one's chosen probe layer."""
    a, b = "lens, projection", "lens, no defence"
    seeds = list(study["seeds"])
    lines = [compare(study["pretext"][a], study["pretext"][b], f"relative-position pretext accuracy, {a} minus {b}",
                     "higher with projection", "lower with projection", seeds=seeds).sentence]
    curves = {c.task: c for c in best_layers(study["rows"], k=study["k"])}
    ua, ub = (dict(zip(curves[n].units, curves[n].best_values)) for n in (a, b))
    units = sorted(set(ua) & set(ub))
    lines.append(compare([ua[u] for u in units], [ub[u] for u in units],
                         f"probe accuracy at the chosen layer, k={study['k']}, {a} minus {b}",
                         "better features with projection", "worse features with projection",
                         seeds=[u[0] for u in units], splits=[u[1] for u in units]).sentence)
    return lines


def plot_results(table: dict, chance: float, title: str = "Which cell did the patch come from?", ax=None):
    """The cell classifier's accuracy per condition: a dot per seed, the mean with its 95% interval, chance."""
    return plot_seed_dots(table, chance=chance, ax=ax, ylabel="held-out accuracy", title=title)
