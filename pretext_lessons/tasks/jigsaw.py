"""Lesson 2: jigsaw puzzles (Noroozi & Favaro, ECCV 2016) as a pretext task.

An image is cut into a g x g grid of cells; from each cell a smaller tile is cut at a random
offset (the gap and jitter that stop a network from matching edges); the tiles are shuffled by
one permutation of a fixed, far-apart set, and the network predicts which one.

Convention, used in labels, plots and exercises alike: with label y and ``perm = permutations[y]``,
the tile shown at position i comes from cell ``perm[i]`` (cells and positions are numbered row by
row, 0 at the top left). So ``puzzle = tiles_in_cell_order[perm]``.

Two recipes, attributed to their sources: the paper's text cuts a 225 px crop into 75 px cells and
a 64 px tile at a random offset in each (up to 11 px); the released reference code
(MehdiNoroozi/JigsawPuzzleSolver, train_val_cfn_jps.prototxt) uses a 255 px crop, 85 px cells and
a jitter of up to 21 px. Offsets are drawn per tile, so the space between two neighbouring tiles
varies (0 to 42 px in the reference code) and they *can* touch; `touching_neighbours` says how
often for any geometry. Fashion-MNIST images are 28 px; the course keeps the reference code's
proportions: the central 27 px make 9 px cells, tiles are 7 px and the jitter 2 px, so here
neighbouring tiles touch often. 7 px tiles reach the PlainCNN's fc1 as a 2 x 2 map, like a 28 px
image does after its adaptive pooling (tiles under 5 px shrink to 1 x 1 by conv2).
"""
from __future__ import annotations

import dataclasses
import math

import numpy as np
import torch
from torch import nn

from ..core.data import check_images, resolve_dataset, to_float, to_grayscale
from ..core.task import MultiPartNet, PretextTask
from ..core.training import probabilities
from ..core.validate import check_generator, check_int
from ..notebook.plotting import as_image, figure_axes, imshow
from ..notebook.widgets import explorer, explorer_images, image_slider
from .permutations import (CRITERIA, MAX_CANDIDATES, all_permutations, check_permutations, greedy_permutations, greedy_select,
                           hamming_distances, permutation_set, random_permutations, set_distances)
from .registry import register_task

__all__ = ["CRITERIA", "JigsawTask", "all_permutations", "check_permutations", "cut_tiles", "default_permutations",
           "flat_cells", "greedy_permutations", "greedy_select", "hamming_distances", "indistinguishable_pairs",
           "jigsaw_explorer", "make_puzzles", "plot_mistake_distances", "normalize_tiles", "permutation_set", "plot_puzzle", "puzzle_geometry",
           "puzzle_probabilities", "random_permutations", "set_distances", "touching_neighbours"]

GRAYSCALE_P = 0.3  # bbrattoli/JigsawPuzzlePytorch; VISSL and Kolesnikov et al. use 0.66
MIN_STD = 1 / 255  # the smallest std a tile's normalisation divides by (one grey level): a flat tile stays flat
FLAT_STD = 1 / 255  # a cell whose pixels vary by less than one grey level is flat (flat_cells)
LABEL_BOX = dict(facecolor="tab:orange", alpha=0.85, pad=1, lw=0)  # cell numbers readable on any background


# ----------------------------------------------------------------------------------------------
# 1. labels: cutting tiles and making puzzles
# ----------------------------------------------------------------------------------------------

def puzzle_geometry(height: int, width: int, grid: int = 3, tile: int | None = None,
                    jitter: int | None = None, gap: int | None = None) -> dict:
    """Where the puzzle sits in an image: cell and tile sides, gap, jitter, and the grid's corner.

    By default cells are ``min(height, width) // grid`` px, tile defaults to the reference code's
    proportion (64 of 85 px: about a quarter of the cell left as gap) and jitter to the whole gap.
    With `gap` (and `tile`) the cells are ``tile + gap`` px instead, centred in the image: the
    way to change the gap while the tile size stays fixed.
    """
    grid = check_int("grid", grid, 2)
    if gap is None:
        cell = min(height, width) // grid
        if cell < 1:
            raise ValueError(f"images must be at least {grid}x{grid} pixels for a grid of {grid}, got {height}x{width}")
        tile = cell - round(cell / 4) if tile is None else check_int("tile", tile, 1)
    else:
        if tile is None:
            raise ValueError(f"tile must be given with gap (cells are tile + gap px), got tile=None and gap={gap}")
        tile, gap = check_int("tile", tile, 1), check_int("gap", gap, 0)
        cell = tile + gap
        if grid * cell > min(height, width):
            raise ValueError(f"images must be at least grid * (tile + gap) = {grid * cell} px for grid={grid}, "
                             f"tile={tile}, gap={gap}; got {height}x{width}")
    jitter = None if jitter is None else check_int("jitter", jitter, 0)
    need = grid * (tile + (jitter or 0))
    needs = f"images must be at least {need} px for grid={grid}, tile={tile}" + (f" and jitter={jitter}" if jitter else "")
    if tile > cell:
        raise ValueError(f"tile must fit in a cell of {cell} px ({height}x{width} images, grid={grid}): "
                         f"{needs}; got tile={tile}")
    gap = cell - tile
    jitter = gap if jitter is None else jitter
    if jitter > gap:
        raise ValueError(f"jitter must be at most the gap cell - tile = {cell} - {tile} = {gap} px: {needs}; "
                         f"got jitter={jitter}")
    side = grid * cell
    return {"grid": grid, "cell": cell, "tile": tile, "gap": gap, "jitter": jitter,
            "top": (height - side) // 2, "left": (width - side) // 2,
            # a jitter smaller than the gap moves the tile around the centre of its cell
            "base": (gap - jitter) // 2}


def touching_neighbours(tile: int, gap: int, jitter: int, grid: int = 3) -> dict:
    """How often neighbouring tiles touch (share an edge), exactly, for a geometry.

    Each tile's offset in its cell is ``(gap - jitter) // 2`` plus a uniform draw in 0..jitter per
    axis, independently per tile (as `make_puzzles` draws it). Two horizontal neighbours are
    ``gap + (right offset - left offset)`` px apart; they touch when that is 0. Returns the
    fraction of neighbouring pairs that touch, the fraction of puzzles with at least one touching
    pair, and the smallest and largest space between neighbours. Exact: the offsets of the tiles
    of one row (along x) or one column (along y) are enumerated, and rows and columns are
    independent.
    """
    tile, grid = check_int("tile", tile, 1), check_int("grid", grid, 2)
    gap, jitter = check_int("gap", gap, 0), check_int("jitter", jitter, 0)
    if jitter > gap:
        raise ValueError(f"jitter must be at most the gap ({gap} px), got jitter={jitter}")
    draws = np.arange(jitter + 1)
    # space between the tiles of one line of `grid` cells, for every draw of their offsets
    line = np.stack(np.meshgrid(*[draws] * grid, indexing="ij"), -1).reshape(-1, grid)
    spaces = gap + line[:, 1:] - line[:, :-1]
    pair_touch = float((spaces == 0).mean())
    line_clear = float((spaces > 0).all(1).mean())
    # 2 * grid lines (rows along x, columns along y), each with its own independent offsets
    return {"pairs": pair_touch, "puzzles": 1 - line_clear ** (2 * grid),
            "min_space": int(spaces.min()), "max_space": int(spaces.max()),
            "neighbour_pairs": 2 * grid * (grid - 1)}


def cut_tiles(X: torch.Tensor, grid: int, tile: int, offsets: torch.Tensor, order: torch.Tensor | None = None,
              gap: int | None = None) -> torch.Tensor:
    """Cut one tile per cell, at `offsets` (N, g*g, 2) from each cell's corner; (N, g*g, C, t, t).

    ``offsets[n, k] = (dy, dx)`` places the tile of cell k. With `order` (N, g*g) the tile at
    position i comes from cell ``order[n, i]`` (cut and shuffle in one gather). `gap` as in
    `puzzle_geometry` (None: the cells fill the image). One gather over the whole batch, no Python
    loop per image.
    """
    check_images(X, channels=(1, 2, 3, 4))
    N, C, H, W = X.shape
    geo = puzzle_geometry(H, W, grid, tile, jitter=0, gap=gap)
    K, cell = geo["grid"] ** 2, geo["cell"]
    if not isinstance(offsets, torch.Tensor) or offsets.dtype.is_floating_point or offsets.dtype == torch.bool:
        raise TypeError(f"offsets must be an integer tensor (N, {K}, 2), got "
                        f"{getattr(offsets, 'dtype', type(offsets).__name__)}")
    if tuple(offsets.shape) != (N, K, 2):
        raise ValueError(f"offsets must have shape (N, {K}, 2) = {(N, K, 2)}, got {tuple(offsets.shape)}")
    if len(offsets) and (int(offsets.min()) < 0 or int(offsets.max()) > cell - tile):
        raise ValueError(f"offsets must lie in 0..{cell - tile} (cell {cell} px - tile {tile} px) so tiles stay "
                         f"inside their cells, got values from {int(offsets.min())} to {int(offsets.max())}")
    cells = torch.arange(K, device=X.device).expand(N, K)
    if order is not None:
        if not isinstance(order, torch.Tensor) or tuple(order.shape) != (N, K):
            raise ValueError(f"order must be a tensor (N, {K}) = {(N, K)} of cell indices, got "
                             f"{tuple(getattr(order, 'shape', ()))}")
        cells = order.to(X.device, torch.int64)
        offsets = offsets.gather(1, cells[..., None].expand(N, K, 2))
    offsets = offsets.to(X.device, torch.int64)
    # flat index of each cell's top-left pixel; integer arithmetic only: a float `/` in tile
    # coordinates silently cuts the wrong tiles (the bug of a Python 3 port of the reference code,
    # bbrattoli/JigsawPuzzlePytorch on GitHub, its issue #12)
    lines = torch.arange(grid, device=X.device) * cell
    origin = ((geo["top"] + lines[:, None]) * W + geo["left"] + lines).flatten()
    start = origin[cells] + offsets[..., 0] * W + offsets[..., 1]  # (N, K)
    ar = torch.arange(tile, device=X.device)
    flat = start[..., None, None] + (ar[:, None] * W + ar)  # (N, K, t, t) pixel indices
    tiles = X.reshape(N, C, H * W).gather(2, flat.reshape(N, 1, K * tile * tile).expand(N, C, -1))
    return tiles.view(N, C, K, tile, tile).transpose(1, 2).contiguous()


def normalize_tiles(T: torch.Tensor, min_std: float = MIN_STD) -> torch.Tensor:
    """Each tile (or image) to zero mean and unit std per channel, over its last two dims."""
    if not isinstance(T, torch.Tensor) or not T.dtype.is_floating_point:
        raise TypeError(f"T must be a float tensor (..., H, W), got {getattr(T, 'dtype', type(T).__name__)}")
    if T.dim() < 2:
        raise ValueError(f"T must have at least 2 dimensions (..., H, W), got shape {tuple(T.shape)}")
    x = T.reshape(-1, T.shape[-2] * T.shape[-1])
    # plain mean and mean of squares over short rows: cheaper than torch.std on many tiny tiles
    centred = x - x.mean(1, keepdim=True)
    std = (centred * centred).mean(1, keepdim=True).sqrt_().clamp_min_(min_std)
    return (centred / std).view(T.shape)


def _as_permutation_tensor(permutations, num_tiles: int, device) -> torch.Tensor:
    # validating a (100, 9) set costs microseconds: every batch checks it
    return torch.as_tensor(check_permutations(permutations, num_tiles), dtype=torch.int64, device=device)


def default_permutations(grid: int = 3) -> np.ndarray:
    """The permutation set of JigsawTask's default: 100 permutations chosen greedily by minimum distance."""
    return permutation_set(100, grid)


def make_puzzles(X: torch.Tensor, generator: torch.Generator | None = None, *, permutations=None, grid: int = 3,
                 tile: int = 7, jitter: int = 2, grayscale_p: float = GRAYSCALE_P, normalize: bool = True,
                 y: torch.Tensor | None = None, gap: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """A batch of puzzles: tiles (N, g*g, C, t, t) and the permutation index y of each.

    Each image gets a permutation drawn from `permutations` (default: `default_permutations(grid)`)
    unless `y` is given, one random offset per tile within the cell's gap, random grayscale for
    colour images, then each tile is normalised. The tile at position i comes from cell
    ``permutations[y][i]``. `gap` fixes the space between cells' tiles (cells of tile + gap px,
    centred); None lets the cells fill the image. All draws come from `generator` (None: torch's
    global random state).
    """
    check_images(X)
    check_generator(generator, X.device)
    if not 0 <= grayscale_p <= 1:
        raise ValueError(f"grayscale_p must be a probability in [0, 1], got {grayscale_p!r}")
    X = to_float(X)
    N, C, H, W = X.shape
    geo = puzzle_geometry(H, W, grid, tile, jitter, gap)
    K = geo["grid"] ** 2
    P = _as_permutation_tensor(default_permutations(grid) if permutations is None else permutations, K, X.device)
    dev = dict(generator=generator, device=X.device)
    if y is None:
        y = torch.randint(len(P), (N,), **dev)
    else:
        if not isinstance(y, torch.Tensor) or y.dtype != torch.int64 or tuple(y.shape) != (N,):
            raise TypeError(f"y must be an int64 tensor of shape ({N},), got "
                            f"{getattr(y, 'dtype', type(y).__name__)} {tuple(getattr(y, 'shape', ()))}")
        if N and (int(y.min()) < 0 or int(y.max()) >= len(P)):
            raise ValueError(f"y must index the {len(P)} permutations (0..{len(P) - 1}), "
                             f"got values from {int(y.min())} to {int(y.max())}")
        y = y.to(X.device)
    offsets = geo["base"] + torch.randint(geo["jitter"] + 1, (N, K, 2), **dev)
    tiles = cut_tiles(X, geo["grid"], geo["tile"], offsets, order=P[y], gap=geo["gap"])
    if C == 3 and grayscale_p > 0:
        gray = torch.rand(N, **dev) < grayscale_p
        tiles = torch.where(gray.view(N, 1, 1, 1, 1), to_grayscale(tiles, num_channels=3), tiles)
    if normalize:
        tiles = normalize_tiles(tiles)
    return tiles, y


def flat_cells(X: torch.Tensor, grid: int = 3, flat_std: float = FLAT_STD) -> torch.Tensor:
    """Which cells of each image are flat (N, g*g): after normalisation they are all zeros, alike."""
    check_images(X)
    X = to_float(X)
    N, C, H, W = X.shape
    geo = puzzle_geometry(H, W, grid, jitter=0)
    g, cell = geo["grid"], geo["cell"]
    crop = X[:, :, geo["top"]:geo["top"] + g * cell, geo["left"]:geo["left"] + g * cell]
    cells = crop.reshape(N, C, g, cell, g, cell).permute(0, 2, 4, 1, 3, 5).reshape(N, g * g, C, cell * cell)
    return (cells.std(-1, unbiased=False) < flat_std).all(-1)


def indistinguishable_pairs(X: torch.Tensor, permutations, grid: int = 3) -> dict:
    """How often two labels give the same puzzle because only flat cells moved.

    Two permutations move the cells at the positions where they differ; if all those cells are
    flat (background), both puzzles look the same and no network can tell the labels apart.
    Returns the fraction of (image, pair) cases that look alike and the fraction of images
    with at least one such pair.
    """
    P = check_permutations(permutations, grid * grid)
    if len(P) < 2:
        raise ValueError(f"permutations must hold at least 2 permutations, got {len(P)}")
    flat = flat_cells(X, grid).numpy()  # (N, K)
    i, j = np.triu_indices(len(P), k=1)
    differ = P[i] != P[j]  # (pairs, K) positions where the two puzzles show different cells
    # cell c sits at position argsort(P[i])[c]: it moves when that position differs
    moved = np.take_along_axis(differ, np.argsort(P[i], axis=1), axis=1)
    alike_cases, images_with_alike = 0, 0
    step = max(1, 2 ** 24 // moved.size)  # images per chunk: about 16 MB of booleans at a time
    for start in range(0, len(flat), step):
        # a pair looks alike on an image when every moved cell is flat there
        alike = ~(moved[None, :, :] & ~flat[start:start + step, None, :]).any(-1)  # (chunk, pairs)
        alike_cases += int(alike.sum())
        images_with_alike += int(alike.any(1).sum())
    return {"pairs": alike_cases / (len(flat) * len(i)), "images": images_with_alike / len(flat)}


# ----------------------------------------------------------------------------------------------
# 2. batch transform and 3. model head
# ----------------------------------------------------------------------------------------------

TASK_CRITERIA = CRITERIA + ("random",)


@register_task
@dataclasses.dataclass
class JigsawTask(PretextTask):
    """Solve a g x g jigsaw puzzle: which of `num_classes` far-apart permutations shuffled the tiles?

    The default is the lesson's Fashion-MNIST configuration: 3 x 3 cells of 9 px in the central
    27 px, 7 px tiles with 2 px jitter, 100 permutations chosen greedily by minimum Hamming distance.
    On larger images (the course's dataset, `use_dataset`) tile and jitter left at None grow with
    the side: x2 from 56 px, x3 from 84 px (STL-10's 96 px), so the puzzle keeps its proportions.
    `gap` (None: the cells fill the image) fixes the cells at tile + gap px, so the gap can change
    while the tile size stays the same.
    """

    num_classes: int = 100
    min_size: int = dataclasses.field(default=27, init=False)
    grid: int = 3
    tile: int | None = None  # None: 7 px x the dataset's scale
    jitter: int | None = None  # None: 2 px x the dataset's scale
    criterion: str = "minimum"
    permutation_seed: int = 0
    grayscale_p: float = GRAYSCALE_P
    normalize: bool = True
    gap: int | None = None

    name = "jigsaw"
    # Only what differs from the course's presets (training.PRESETS). Quick: the images of every task's
    # quick recipe (rotation's 4,000), so lesson 4's matched budget is this lesson's own recipe and
    # reuses its network (its step cost: benchmarks/bench_jigsaw.py).
    presets = {"quick": dict(num_images=4000), "full": dict(lr=0.05)}

    def __post_init__(self):
        grid = check_int("grid", self.grid, 2)
        scale = resolve_dataset().scale if self.tile is None or self.jitter is None else 1
        self.tile = 7 * scale if self.tile is None else self.tile
        self.jitter = 2 * scale if self.jitter is None else self.jitter
        check_int("tile", self.tile, 1)
        check_int("jitter", self.jitter, 0)
        limit = math.factorial(grid * grid)
        check_int("num_classes", self.num_classes, 2, limit, f" ({grid * grid}! permutations exist for grid={grid})")
        if self.criterion not in TASK_CRITERIA:
            raise ValueError(f"criterion must be one of {TASK_CRITERIA}, got {self.criterion!r}")
        if self.criterion != "random" and limit > MAX_CANDIDATES:
            raise ValueError(f"criterion={self.criterion!r} enumerates all ({grid * grid})! = {limit:,} permutations, "
                             f"too many for grid={grid}; use criterion='random' or grid <= 3")
        if not 0 <= self.grayscale_p <= 1:
            raise ValueError(f"grayscale_p must be a probability in [0, 1], got {self.grayscale_p!r}")
        if self.gap is not None:
            check_int("gap", self.gap, 0)
            if self.jitter > self.gap:
                raise ValueError(f"jitter must be at most the gap ({self.gap} px), got jitter={self.jitter}")
        self.min_size = grid * (self.tile + (self.jitter if self.gap is None else self.gap))
        self._device_permutations = {}

    @property
    def permutations(self) -> np.ndarray:
        """The task's permutation set (num_classes, g*g); label y means permutation `permutations[y]`."""
        if "numpy" not in self._device_permutations:
            if self.criterion == "random":
                P = random_permutations(self.num_classes, self.grid, self.permutation_seed)
            else:
                P = permutation_set(self.num_classes, self.grid, self.criterion, self.permutation_seed)
            self._device_permutations["numpy"] = P
        return self._device_permutations["numpy"].copy()

    def _permutations_on(self, device) -> torch.Tensor:
        key = str(device)
        if key not in self._device_permutations:
            self._device_permutations[key] = _as_permutation_tensor(self.permutations, self.grid ** 2,
                                                                    torch.device(device))
        return self._device_permutations[key]

    def make_batch(self, X, generator):
        return make_puzzles(X, generator, permutations=self._permutations_on(X.device), grid=self.grid, tile=self.tile,
                            jitter=self.jitter, grayscale_p=self.grayscale_p, normalize=self.normalize, gap=self.gap)

    def build_net(self, trunk):
        # the context-free network: the trunk never sees two tiles together, they meet in the head
        return MultiPartNet(trunk, self.grid ** 2, self.num_classes, hidden=4 * trunk.out_features)

    def preprocess(self, X):
        # the trunk only ever saw normalised tiles: show whole images the same way
        return normalize_tiles(to_float(X)) if self.normalize else to_float(X)


# ----------------------------------------------------------------------------------------------
# 4. visualisation
# ----------------------------------------------------------------------------------------------

def puzzle_probabilities(net: nn.Module, tiles: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """A jigsaw network's probabilities (N, num_classes) over the permutations, for puzzles (N, g*g, C, t, t).

    `tiles` as the network reads them, i.e. as `make_puzzles` returns them (normalised).
    """
    if not isinstance(tiles, torch.Tensor) or tiles.dim() != 5:
        raise ValueError(f"tiles must be puzzles (N, g*g, C, t, t) as make_puzzles returns them, got "
                         f"{tuple(tiles.shape) if isinstance(tiles, torch.Tensor) else type(tiles).__name__}")
    return probabilities(net, tiles, batch_size)


def plot_puzzle(image, net: nn.Module | None = None, *, permutations=None, index: int = 0, grid: int = 3,
                gap: int | None = None, jitter: int | None = None, seed: int = 0, tile: int | None = None):
    """An image with its cells and tiles, the puzzle for permutation `index`, and a net's top-5 guesses.

    `permutations` defaults to `default_permutations(grid)`. `gap` is the cell side minus the tile
    side, `jitter` the random part of each tile's offset (at most the gap); `seed` draws the
    offsets. With `tile`, the tile size is fixed and the cells are tile + gap px, centred. With
    `net` (a trained jigsaw network for the same permutation set), a third panel shows its five
    most likely permutations.
    """
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    image = as_image(image)
    C, H, W = image.shape
    cell = min(H, W) // check_int("grid", grid, 2)
    if cell < 1:
        raise ValueError(f"image must be at least {grid}x{grid} pixels for grid={grid}, got {H}x{W}")
    if tile is None:
        gap = round(cell / 4) if gap is None else check_int("gap", gap, 0, cell - 1, f" (cells are {cell} px)")
        geo = puzzle_geometry(H, W, grid, cell - gap, jitter)
    else:  # the tile size fixed, the cells tile + gap px
        geo = puzzle_geometry(H, W, grid, tile, jitter, gap=cell - tile if gap is None else gap)
    P = check_permutations(default_permutations(grid) if permutations is None else permutations, grid * grid)
    index = check_int("index", index, 0, len(P) - 1)
    perm = P[index]
    K, t = grid * grid, geo["tile"]

    offsets = geo["base"] + torch.randint(geo["jitter"] + 1, (1, K, 2), generator=torch.Generator().manual_seed(int(seed)))
    raw = cut_tiles(image[None], grid, t, offsets, order=torch.as_tensor(P[index:index + 1], dtype=torch.int64),
                    gap=geo["gap"])
    offsets = offsets[0]  # in cell order: outlines where each tile was cut

    ncols = 3 if net is not None else 2
    fig, axes = plt.subplots(1, ncols, figsize=(3.6 * ncols, 3.9))
    ax = imshow(axes[0], image)
    for k in range(K):
        r, c = divmod(k, grid)
        y0, x0 = geo["top"] + r * geo["cell"], geo["left"] + c * geo["cell"]
        ax.add_patch(Rectangle((x0 - 0.5, y0 - 0.5), geo["cell"], geo["cell"], fill=False, ec="white", lw=0.6, ls=":"))
        oy, ox = int(offsets[k, 0]), int(offsets[k, 1])
        ax.add_patch(Rectangle((x0 + ox - 0.5, y0 + oy - 0.5), t, t, fill=False, ec="tab:orange", lw=1.5))
        ax.text(x0 + ox, y0 + oy, str(k), color="black", fontsize=8, va="top", ha="left",
                bbox=LABEL_BOX)
    ax.set_title(f"cells (dotted) and tiles\ncell {geo['cell']} px, tile {t} px, gap {geo['gap']}, "
                 f"jitter {geo['jitter']}", fontsize=9)
    ax.axis("off")

    # the puzzle: tile i (from cell perm[i]) at position i, with thin white seams between tiles
    sep = max(1, t // 8)
    side = grid * t + (grid - 1) * sep
    mosaic = torch.ones(C, side, side)
    for i in range(K):
        r, c = divmod(i, grid)
        mosaic[:, r * (t + sep):r * (t + sep) + t, c * (t + sep):c * (t + sep) + t] = raw[0, i]
    ax = imshow(axes[1], mosaic)
    for i in range(K):
        r, c = divmod(i, grid)
        ax.text(c * (t + sep), r * (t + sep), str(int(perm[i])), color="black", fontsize=8, va="top",
                ha="left", bbox=LABEL_BOX)
    distance = int((perm != np.arange(K)).sum())
    ax.set_title(f"puzzle: permutation #{index} = {perm.tolist()}\nHamming distance to the identity: {distance}",
                 fontsize=9)
    ax.axis("off")

    if net is not None:
        # exactly the tiles shown, normalised as the net saw them in training
        probs = puzzle_probabilities(net, normalize_tiles(raw))[0]
        if len(probs) != len(P):
            raise ValueError(f"net predicts {len(probs)} classes but permutations holds {len(P)}: "
                             "use the permutation set the net was trained with")
        top_p, top_i = probs.topk(min(5, len(P)))
        ax = axes[2]
        colors = ["tab:green" if int(i) == index else "tab:gray" for i in top_i]
        ax.barh(range(len(top_i))[::-1], top_p.numpy(), color=colors)
        ax.set_yticks(range(len(top_i))[::-1],
                      [f"#{int(i)} (d={int((P[int(i)] != perm).sum())})" for i in top_i], fontsize=8)
        ax.set_xlim(0, 1)
        ax.set_xlabel("probability")
        ax.set_title("net's top-5 guesses\n(green: right; d: Hamming distance to it)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_mistake_distances(permutations, y_true, y_pred, ax=None):
    """Hamming distances between the true and the predicted permutation of each mistake, against the set's pairs.

    Both as fractions, so the shapes compare: if mistakes pile up at small distances, near labels
    are the hard ones.
    """
    P = check_permutations(permutations)
    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    if y_true.shape != y_pred.shape or y_true.ndim != 1:
        raise ValueError(f"y_true and y_pred must be 1-D and of equal length, got {y_true.shape} and {y_pred.shape}")
    wrong = y_true != y_pred
    d_wrong = (P[y_true[wrong]] != P[y_pred[wrong]]).sum(1)
    d_set = hamming_distances(P, P)[np.triu_indices(len(P), k=1)]
    fig, ax = figure_axes(ax, figsize=(5.5, 3.3))
    bins = np.arange(0.5, P.shape[1] + 1.5)
    ax.hist(d_set, bins=bins, density=True, alpha=0.4, color="gray", label=f"all pairs of the set (min {d_set.min()})")
    if wrong.any():
        ax.hist(d_wrong, bins=bins, density=True, histtype="step", lw=2, color="tab:red",
                label=f"mistakes: true vs predicted ({int(wrong.sum())})")
    ax.set_xlabel("Hamming distance (positions holding a different cell)")
    ax.set_ylabel("fraction")
    ax.set_title("Which permutations does the network confuse?", fontsize=10)
    ax.legend(fontsize=7)
    fig.tight_layout()
    return fig


def jigsaw_explorer(net: nn.Module | None = None, images: torch.Tensor | None = None, permutations=None,
                    grid: int = 3):
    """Sliders for the image, the permutation index, the gap, the jitter and the random draw.

    `images` (N, C, H, W) defaults to one test image per class of the course's dataset, `permutations` to
    `default_permutations(grid)` (the set `net`, if given, was trained with).
    """
    import ipywidgets as widgets

    grid = check_int("grid", grid, 2)
    images = explorer_images(images, min_size=2 * grid)
    P = check_permutations(default_permutations(grid) if permutations is None else permutations, grid * grid)
    cell = min(images.shape[-2:]) // grid

    def draw(image, index, gap, jitter, seed):
        # jitter cannot exceed the gap: the slider may ask for more, the plot uses what fits
        return plot_puzzle(images[image], net, permutations=P, index=index, grid=grid, gap=gap, jitter=min(jitter, gap),
                           seed=seed)

    slider = dict(continuous_update=False)
    return explorer(draw,
                    image=image_slider(images),
                    index=widgets.IntSlider(0, 0, len(P) - 1, description="permutation", **slider),
                    gap=widgets.IntSlider(round(cell / 4), 0, cell - 1, description="gap (px)", **slider),
                    jitter=widgets.IntSlider(round(cell / 4), 0, cell - 1, description="jitter (px)", **slider),
                    seed=widgets.IntSlider(0, 0, 20, description="draw", **slider))
