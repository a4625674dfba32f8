"""Lesson 7: instance discrimination, the contrastive task (SimCLR, Chen et al. 2020; Wu et al. 2018).

Every image is its own class. Two random views of each image in a batch are made by the
augmentation pipeline; the pseudo label of a view is the position of the *other* view of the same
image among the 2N views of the batch, and the network must find it among the 2N - 1 others by
cosine similarity of their projections divided by a temperature. The cross-entropy of those
similarities is SimCLR's NT-Xent loss (Eq. 1, averaged over both views of each pair as in its
Algorithm 1), so the task fits the course's interface as it is: `make_batch` returns the views and
the index of each view's partner, and the network returns one row of similarities per view.
Chance is 1 / (2N - 1).
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
from ..notebook.widgets import explorer, explorer_images, image_slider
from .registry import register_task

AUGMENTATIONS = ("crop", "flip", "jitter", "blur", "noise")
# SimCLR's Appendix B.9 temperature for CIFAR-10 (its Table 5: 0.1 on ImageNet, with far larger batches)
TEMPERATURE = 0.5
MIN_CROP_AREA = 0.25  # SimCLR crops 8% to 100% of a 224 px image; a 28 px image keeps a quarter at least
MASKED = -1e4  # a view's similarity with itself: never the answer


# 1. labels ----------------------------------------------------------------------------------------

def check_augmentations(augmentations) -> tuple[str, ...]:
    """The augmentations as a tuple of names from AUGMENTATIONS, or a ValueError naming the bad one."""
    if isinstance(augmentations, str) or not isinstance(augmentations, (tuple, list)):
        raise ValueError(f"augmentations must be a tuple of names from {AUGMENTATIONS}, got {augmentations!r}")
    unknown = [a for a in augmentations if a not in AUGMENTATIONS]
    if unknown:
        raise ValueError(f"augmentations must be names from {AUGMENTATIONS}, got unknown {unknown}")
    return tuple(augmentations)


def _uniform(n, low, high, generator, device):
    return low + (high - low) * torch.rand(n, generator=generator, device=device)


def augment(X: torch.Tensor, generator: torch.Generator | None = None, augmentations=AUGMENTATIONS) -> torch.Tensor:
    """One random view of each image of X (N, C, H, W) in [0, 1], all randomness from `generator`.

    crop: a random square crop of 25% to 100% of the area, resized back (bilinear); flip: left-right
    with probability 1/2; jitter: brightness and contrast (and saturation on colour images) scaled by
    0.6 to 1.4, with probability 0.8; blur: a Gaussian blur of random strength, probability 1/2;
    noise: Gaussian noise of standard deviation up to 0.1, probability 1/2. Applied in that order
    (SimCLR's: crop and flip, colour distortion, blur).
    """
    X = to_float(check_images(X))
    augmentations = check_augmentations(augmentations)
    check_generator(generator, X.device)
    N, C, H, W = X.shape
    dev = X.device
    out = X
    if "crop" in augmentations or "flip" in augmentations:
        scale = torch.ones(N, device=dev)
        shift = torch.zeros(N, 2, device=dev)
        if "crop" in augmentations:
            scale = _uniform(N, MIN_CROP_AREA, 1.0, generator, dev).sqrt()  # side of the crop / side of the image
            shift = (1 - scale)[:, None] * _uniform(2 * N, -1.0, 1.0, generator, dev).view(N, 2)
        mirror = torch.ones(N, device=dev)
        if "flip" in augmentations:
            mirror = torch.where(torch.rand(N, generator=generator, device=dev) < 0.5, -1.0, 1.0)
        theta = torch.zeros(N, 2, 3, device=dev)
        theta[:, 0, 0], theta[:, 1, 1] = scale * mirror, scale
        theta[:, :, 2] = shift
        grid = F.affine_grid(theta, (N, C, H, W), align_corners=False)
        out = F.grid_sample(out, grid, mode="bilinear", padding_mode="border", align_corners=False)
    if "jitter" in augmentations:
        on = (torch.rand(N, generator=generator, device=dev) < 0.8).float().view(N, 1, 1, 1)
        b, c, s = (1 + on * _uniform(N, -0.4, 0.4, generator, dev).view(N, 1, 1, 1) for _ in range(3))
        jittered = out * b
        mean = jittered.mean((1, 2, 3), keepdim=True)
        jittered = (jittered - mean) * c + mean
        if C == 3:
            gray = to_grayscale(jittered)
            jittered = (jittered - gray) * s + gray
        out = jittered.clamp(0, 1)
    if "blur" in augmentations:
        kernel = torch.tensor([0.25, 0.5, 0.25], device=dev)  # a Gaussian of sigma about 0.7 px, applied twice
        weight = (kernel[:, None] * kernel[None, :]).expand(C, 1, 3, 3).contiguous()
        blurred = out
        for _ in range(2):
            blurred = F.conv2d(F.pad(blurred, (1, 1, 1, 1), mode="replicate"), weight, groups=C)
        strength = (torch.rand(N, generator=generator, device=dev) < 0.5).float() * torch.rand(
            N, generator=generator, device=dev)
        out = torch.lerp(out, blurred, strength.view(N, 1, 1, 1))
    if "noise" in augmentations:
        sigma = (torch.rand(N, generator=generator, device=dev) < 0.5).float() * _uniform(N, 0.0, 0.1, generator, dev)
        out = (out + sigma.view(N, 1, 1, 1) * torch.randn(out.shape, generator=generator, device=dev)).clamp(0, 1)
    return out.contiguous()


def partner_index(num_images: int, device=None) -> torch.Tensor:
    """The pseudo labels of 2N views stacked [first views; second views]: view i's partner is i + N, and back."""
    check_int("num_images", num_images)
    n = torch.arange(num_images, device=device)
    return torch.cat([n + num_images, n])


def two_views(X: torch.Tensor, generator: torch.Generator | None = None,
              augmentations=AUGMENTATIONS) -> tuple[torch.Tensor, torch.Tensor]:
    """Two random views of each image, stacked (2N, C, H, W), and each view's partner index (2N,).

    views[i] and views[i + N] come from image i: that is the pseudo label, the image's identity in
    the batch (Dosovitskiy et al. 2014's surrogate classes, with the batch as the other classes).
    """
    X = to_float(check_images(X))
    views = augment(torch.cat([X, X]), generator, augmentations)
    return views, partner_index(len(X), X.device)


# 2. batch transform -------------------------------------------------------------------------------

@register_task(in_course=False)
@dataclasses.dataclass
class ContrastiveTask(PretextTask):
    """Find the other view of the same image among the 2N - 1 other views of the batch (NT-Xent)."""

    # labels are positions in a batch of views: the largest batch of views a label can index
    num_classes: int = 1024
    min_size: int = dataclasses.field(default=8, init=False)
    temperature: float = TEMPERATURE
    projection_dim: int = 64
    augmentations: tuple = AUGMENTATIONS

    name = "contrastive"
    # 2 views of 128 images: 256 inputs a step, as rotation's 4 x 64 (its quick preset's images and epochs)
    presets = {"quick": dict(num_images=4000, batch_size=128, lr=0.1), "full": dict(num_epochs=100, batch_size=256)}

    def __post_init__(self):
        self.augmentations = check_augmentations(self.augmentations)
        if not (isinstance(self.temperature, (int, float)) and self.temperature > 0):
            raise ValueError(f"temperature must be a positive number, got {self.temperature!r}")
        check_int("projection_dim", self.projection_dim)
        self.min_size = 8

    def make_batch(self, X, generator):
        if 2 * len(X) > self.num_classes:
            raise ValueError(f"X holds {len(X)} images, {2 * len(X)} views, but the labels index at most "
                             f"num_classes={self.num_classes} views: use batches of at most {self.num_classes // 2}")
        return two_views(X, generator, self.augmentations)

    def build_net(self, trunk):
        return ContrastiveNet(trunk, self.projection_dim, self.temperature)


# 3. network: trunk, projection head, similarities of every view with every other --------------------

class ContrastiveNet(nn.Module):
    """Trunk (h), a two-layer projection head (g(h), SimCLR's nonlinear head), cosine similarities / temperature.

    `forward(views)` returns (2N, 2N) logits: row i holds view i's similarity with every view, its own
    masked out, so a cross-entropy against `partner_index` is NT-Xent. `embed(x)` returns the
    normalised projections z.
    """

    def __init__(self, trunk: nn.Module, projection_dim: int = 64, temperature: float = TEMPERATURE,
                 hidden: int | None = None):
        super().__init__()
        self.trunk, self.temperature = trunk, float(temperature)
        features = trunk.out_features
        hidden = features if hidden is None else check_int("hidden", hidden)
        self.head = nn.Sequential(nn.Linear(features, hidden), nn.ReLU(inplace=True),
                                  nn.Linear(hidden, check_int("projection_dim", projection_dim)))

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        return F.normalize(self.head(self.trunk(x)).float(), dim=1)

    def forward(self, views: torch.Tensor) -> torch.Tensor:
        return similarity_logits(self.embed(views), self.temperature)


def similarity_logits(z: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """Cosine similarities of every row of z with every other, divided by the temperature; the diagonal masked."""
    if not isinstance(z, torch.Tensor) or z.dim() != 2:
        raise ValueError(f"z must be a (views, features) tensor, got "
                         f"{tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__}")
    z = F.normalize(z.float(), dim=1)
    logits = z @ z.T / temperature
    return logits.masked_fill(torch.eye(len(z), dtype=torch.bool, device=z.device), MASKED)


def nt_xent(z1: torch.Tensor, z2: torch.Tensor, temperature: float = TEMPERATURE) -> torch.Tensor:
    """SimCLR's NT-Xent loss of N pairs (z1[i], z2[i]): Eq. 1 averaged over all 2N views (Algorithm 1)."""
    if not (isinstance(z1, torch.Tensor) and isinstance(z2, torch.Tensor)) or z1.shape != z2.shape or z1.dim() != 2:
        raise ValueError(f"z1 and z2 must be two (N, features) tensors of the same shape, got "
                         f"{getattr(z1, 'shape', type(z1).__name__)} and {getattr(z2, 'shape', type(z2).__name__)}")
    z = torch.cat([z1, z2])
    return F.cross_entropy(similarity_logits(z, temperature), partner_index(len(z1), z.device))


# evaluation helpers ----------------------------------------------------------------------------------

@torch.no_grad()
def partner_accuracy(net: nn.Module, X: torch.Tensor, batch_size: int = 128, seed: int = 0,
                     augmentations=AUGMENTATIONS) -> dict:
    """The pretext accuracy: how often the most similar view is the partner, in batches of `batch_size` images.

    Returns dict(accuracy, chance=1 / (2 * batch_size - 1), batch_size); a last short batch is dropped
    so every view has the same 2 * batch_size - 1 candidates.
    """
    check_int("batch_size", batch_size, 2)
    X = check_images(X)
    if len(X) < batch_size:
        raise ValueError(f"X must hold at least batch_size={batch_size} images, got {len(X)}")
    device = next(net.parameters()).device
    g = torch.Generator(device=device).manual_seed(seed)
    correct = seen = 0
    with evaluating(net):
        for start in range(0, len(X) - batch_size + 1, batch_size):
            views, y = two_views(to_float(X[start:start + batch_size].to(device)), g, augmentations)
            correct += int((net(views).argmax(1) == y).sum())
            seen += len(y)
    return dict(accuracy=correct / seen, chance=1 / (2 * batch_size - 1), batch_size=batch_size)


@torch.no_grad()
def embeddings(net: nn.Module, X: torch.Tensor, batch_size: int = 500) -> torch.Tensor:
    """The normalised projections z of whole images X (N, projection_dim), on the CPU."""
    X = check_images(X)
    device = next(net.parameters()).device
    with evaluating(net):
        return torch.cat([net.embed(to_float(X[i:i + batch_size]).to(device)).cpu()
                          for i in range(0, len(X), batch_size)])


# 4. visualisation ---------------------------------------------------------------------------------

def plot_views_and_neighbours(net: nn.Module, images: torch.Tensor, index: int = 0, num_views: int = 4,
                              num_neighbours: int = 5, seed: int = 0, augmentations=AUGMENTATIONS, titles=None):
    """Image `index` of `images`, `num_views` random views of it, and each view's nearest images in the embedding.

    Row v: view v, then the `num_neighbours` images of `images` whose projections are closest to the
    view's (cosine similarity printed); the image itself is green where it is found.
    """
    import matplotlib.pyplot as plt

    images = check_images(images)
    check_int("index", index, 0, len(images) - 1)
    check_int("num_views", num_views)
    check_int("num_neighbours", num_neighbours, 1, len(images))
    g = torch.Generator().manual_seed(seed)
    views = augment(to_float(images[index:index + 1]).expand(num_views, -1, -1, -1), g, augmentations)
    gallery = embeddings(net, images)
    device = next(net.parameters()).device
    with evaluating(net), torch.no_grad():
        z = net.embed(views.to(device)).cpu()
    sims = z @ gallery.T
    top = sims.topk(num_neighbours, dim=1)
    fig, axes = plt.subplots(num_views, num_neighbours + 2, figsize=(1.3 * (num_neighbours + 2), 1.4 * num_views),
                             squeeze=False)
    for v in range(num_views):
        imshow(axes[v, 0], images[index] if v == 0 else torch.zeros_like(to_float(images[index])))
        axes[v, 0].set_title("image" if v == 0 else "", fontsize=8)
        imshow(axes[v, 1], views[v])
        axes[v, 1].set_title(f"view {v + 1}", fontsize=8)
        for j, (s, i) in enumerate(zip(top.values[v].tolist(), top.indices[v].tolist())):
            ax = imshow(axes[v, j + 2], images[i])
            name = f"{titles[i]}\n" if titles is not None else ""
            ax.set_title(f"{name}{s:.2f}", fontsize=7, color="tab:green" if i == index else "black")
    fig.suptitle("Random views of one image and their nearest images in the contrastive embedding "
                 "(cosine similarity; green: the image itself)", fontsize=9)
    fig.tight_layout()
    return fig


def views_explorer(net: nn.Module, images: torch.Tensor | None = None, titles=None, num_views: int = 3,
                   augmentations=AUGMENTATIONS):
    """Pick an image of `images` (the gallery searched too) and a seed for its views; see plot_views_and_neighbours."""
    import ipywidgets as widgets

    images = explorer_images(images)

    def draw(image, seed):
        return plot_views_and_neighbours(net, images, image, num_views, seed=seed, augmentations=augmentations,
                                         titles=titles)

    return explorer(draw, image=image_slider(images), seed=widgets.IntSlider(0, 0, 9, description="views seed"))


def chance_level(batch_size: int) -> float:
    """The contrastive task's chance accuracy with `batch_size` images (2 * batch_size views): 1 / (2N - 1)."""
    return 1 / (2 * check_int("batch_size", batch_size, 2) - 1)


__all__ = ["AUGMENTATIONS", "TEMPERATURE", "ContrastiveNet", "ContrastiveTask", "augment", "chance_level",
           "check_augmentations", "embeddings", "nt_xent", "partner_accuracy", "partner_index",
           "plot_views_and_neighbours", "similarity_logits", "two_views", "views_explorer"]
