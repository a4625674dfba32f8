"""Lesson 5 (full preset): pretext tasks on unlabelled photos at the papers' sizes, for torchvision's ResNets.

The laptop lessons train on 28 px images; this module trains a jigsaw (or rotation) ResNet-18 or
ResNet-50 (`core.photo_models`, weights=None) on an unlabelled photo set the user has, cached by
`training.train_or_load` like every other network of the course.

Geometry, attributed:

- jigsaw (Noroozi & Favaro 2016, the paper's text): a 225 px crop cut into 3 x 3 cells of 75 px, a
  64 px tile at a random offset in each cell (up to 11 px); 1,000 permutations (the paper found
  that more permutations, up to 1,000, transfer better), chosen greedily by minimum Hamming
  distance. The released reference code's 255 px crop, 85 px cells and 21 px jitter are the other
  recipe (`jigsaw.puzzle_geometry` takes either); per-tile normalisation and random grayscale
  (probability 0.3, bbrattoli/JigsawPuzzlePytorch; VISSL uses 0.66) are the course's jigsaw task's.
- rotation (Gidaris et al. 2018): the four rotations of a 224 px crop, all in one batch.
- Each photo is first resized to 256 px (the ImageNet convention the crops above come from; the
  course's assumption, not a number from the papers), then a random square crop is cut per image.
  STL-10's unlabelled images are 96 px, so they are upsampled to 256 px on the device.

The training budget (`PHOTO_PRESETS`) is the course's, sized for one GPU, not the papers' (they
trained on ImageNet's 1.3 million images for tens of epochs): the README's `full` section states
it beside the numbers it gave.
"""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import torch
from torch.nn import functional as F

from ..core.data import data_dir
from ..core.task import PretextTask
from ..core.training import train_or_load
from ..core.validate import check_int
from ..tasks.jigsaw import JigsawTask
from ..tasks.rotation import RotationTask

PHOTOS_VARIABLE = "PRETEXT_LESSONS_PHOTOS"  # an unlabelled photo set: "stl10" or a folder of images
PHOTO_TASKS = ("jigsaw", "rotation")
# Per preset: the backbone, the photo set's size and side as stored, the training recipe, and each task's geometry.
# `full` is the seed figure for one GPU; `tiny` proves the same path on a CPU in seconds (tests, the benchmark's --tiny).
PHOTO_PRESETS = {
    "full": dict(arch="resnet18", num_images=100_000, num_val=1_000, side=256,
                 train=dict(num_epochs=30, batch_size=256, lr=0.1, weight_decay=1e-4),
                 jigsaw=dict(resize=256, crop=225, tile=64, jitter=11, num_classes=1000),
                 rotation=dict(resize=256, crop=224)),
    "tiny": dict(arch="resnet18", num_images=24, num_val=8, side=48,
                 train=dict(num_epochs=1, batch_size=8, lr=0.05, weight_decay=1e-4),
                 jigsaw=dict(resize=96, crop=81, tile=24, jitter=3, num_classes=10),
                 rotation=dict(resize=64, crop=56)),
}
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".tif", ".tiff", ".webp", ".ppm")


def random_crops(X: torch.Tensor, crop: int, generator: torch.Generator) -> torch.Tensor:
    """One random crop x crop square per image of X (N, C, H, W), each at its own place."""
    N, C, H, W = X.shape
    check_int("crop", crop, 1, min(H, W))
    top = torch.randint(H - crop + 1, (N,), generator=generator, device=X.device)
    left = torch.randint(W - crop + 1, (N,), generator=generator, device=X.device)
    r = torch.arange(crop, device=X.device)
    rows, cols = top[:, None] + r, left[:, None] + r
    n = torch.arange(N, device=X.device)[:, None, None]
    return X.permute(0, 2, 3, 1)[n, rows[:, :, None], cols[:, None, :]].permute(0, 3, 1, 2).contiguous()


@dataclasses.dataclass
class PhotoTask(PretextTask):
    """A pretext task (`inner`) on photos: each batch resized to `resize` px, a random `crop` px square
    per image, then the inner task's batch. The network, the pseudo labels and `preprocess` are the inner task's."""

    inner: PretextTask | None = None
    resize: int = 256
    crop: int = 225

    def __post_init__(self):
        if not isinstance(self.inner, PretextTask):
            raise TypeError(f"inner must be a PretextTask, got {type(self.inner).__name__}")
        check_int("resize", self.resize, 1)
        check_int("crop", self.crop, max(1, self.inner.min_size), self.resize)
        self.num_classes = self.inner.num_classes
        self.min_size = 1  # any photo: it is resized first

    @property
    def name(self) -> str:
        return self.inner.name

    def make_batch(self, X, generator):
        size = (self.resize, self.resize)
        if tuple(X.shape[-2:]) != size:
            X = F.interpolate(X, size=size, mode="bilinear", antialias=self.resize < X.shape[-1], align_corners=False)
        return self.inner.make_batch(random_crops(X, self.crop, generator), generator)

    def build_net(self, trunk):
        return self.inner.build_net(trunk)

    def preprocess(self, X):
        return self.inner.preprocess(X)

    def config(self) -> dict:
        return {**super().config(), "inner": self.inner.config()}


def photo_task(name: str = "jigsaw", preset: str = "full") -> PhotoTask:
    """The preset's jigsaw or rotation task on photos (geometry in PHOTO_PRESETS, attributed in the module)."""
    settings = photo_preset(preset)
    if name not in PHOTO_TASKS:
        raise ValueError(f"name must be one of {PHOTO_TASKS}, got {name!r}")
    geometry = dict(settings[name])
    resize, crop = geometry.pop("resize"), geometry.pop("crop")
    inner = JigsawTask(**geometry) if name == "jigsaw" else RotationTask(**geometry)
    return PhotoTask(inner=inner, resize=resize, crop=crop)


def photo_preset(preset: str) -> dict:
    """The settings of a photo preset ('full' or 'tiny', PHOTO_PRESETS), with a clear error for any other."""
    if preset not in PHOTO_PRESETS:
        raise ValueError(f"preset must be one of {tuple(PHOTO_PRESETS)}, got {preset!r}")
    return PHOTO_PRESETS[preset]


# the photos ---------------------------------------------------------------------------------------

def default_photos() -> str:
    """The photo set used when none is named: $PRETEXT_LESSONS_PHOTOS, else STL-10's unlabelled split."""
    return os.environ.get(PHOTOS_VARIABLE) or "stl10"


def stl10_root() -> Path:
    """Where STL-10 is kept (the course's data folder, as `data.load_dataset('stl10')` keeps it)."""
    return data_dir() / "stl10"


def how_to_get_photos(photos=None) -> str:
    """One line saying how to get the unlabelled photos named by `photos`."""
    photos = photos or default_photos()
    if str(photos).lower().replace("-", "") == "stl10":
        return (f"unlabelled photos: STL-10's unlabelled split (100,000 images of 96 px, 2.6 GB download) is not in "
                f"{stl10_root()}; get it once with: python -c \"from torchvision.datasets import STL10; "
                f"STL10('{stl10_root()}', split='unlabeled', download=True)\", or set ${PHOTOS_VARIABLE} to a folder "
                f"of your own photos")
    return (f"unlabelled photos: {photos} is not a folder holding images; set ${PHOTOS_VARIABLE} to a folder of "
            f"photos (any layout, searched recursively) or to 'stl10'")


def photos_available(photos=None) -> bool:
    """Whether the photo set can be read without a download (STL-10's unlabelled file, or a folder of images)."""
    photos = photos or default_photos()
    if str(photos).lower().replace("-", "") == "stl10":
        return (stl10_root() / "stl10_binary" / "unlabeled_X.bin").is_file()
    root = Path(photos).expanduser()
    return root.is_dir() and any(f.suffix.lower() in _IMAGE_SUFFIXES for f in root.rglob("*"))


def load_photos(photos=None, num_images: int | None = None, side: int = 256, download: bool = False) -> torch.Tensor:
    """Unlabelled photos as uint8 (N, 3, s, s): STL-10's unlabelled split (96 px, as stored) or a folder's
    images (each resized so its short side is `side`, centre-cropped square), the first `num_images`."""
    photos = photos or default_photos()
    if num_images is not None:
        check_int("num_images", num_images)
    if str(photos).lower().replace("-", "") == "stl10":
        if not download and not photos_available("stl10"):
            raise FileNotFoundError(f"photos: {how_to_get_photos('stl10')} (or pass download=True)")
        from torchvision import datasets

        ds = datasets.STL10(str(stl10_root()), split="unlabeled", download=download)
        return torch.from_numpy(ds.data[:num_images]).contiguous()
    root = Path(photos).expanduser()
    if not photos_available(root):
        raise FileNotFoundError(f"photos must be 'stl10' or a folder of images, got {str(photos)!r}: "
                                f"{how_to_get_photos(photos)}")
    from PIL import Image
    from torchvision.transforms import functional as TF

    files = sorted(f for f in root.rglob("*") if f.suffix.lower() in _IMAGE_SUFFIXES)[:num_images]
    out = torch.empty(len(files), 3, side, side, dtype=torch.uint8)
    for i, f in enumerate(files):
        with Image.open(f) as img:
            img = TF.center_crop(TF.resize(img.convert("RGB"), side), side)
            out[i] = TF.pil_to_tensor(img)
    return out


# training -------------------------------------------------------------------------------------------

def pretrain_on_photos(task: str = "jigsaw", preset: str = "full", photos=None, seed: int = 0, arch: str | None = None,
                       device=None, progress: bool = True, **train):
    """(net, history) of `task` trained on the photos with the preset's recipe, cached by `train_or_load`.

    `photos`: a uint8 tensor (N, 3, s, s), 'stl10', or a folder (default `default_photos()`); the
    last `num_val` of them are held out for the pretext accuracy. `arch` defaults to the preset's
    ('resnet18'; 'resnet50' when the GPU allows). `train` overrides the preset's recipe entries.
    """
    settings = photo_preset(preset)
    recipe = dict(settings["train"])
    unknown = set(train) - set(recipe)
    if unknown:
        raise ValueError(f"unknown training settings {sorted(unknown)}; known: {sorted(recipe)}")
    recipe.update(train)
    X = photos if isinstance(photos, torch.Tensor) else load_photos(photos, settings["num_images"] + settings["num_val"],
                                                                  settings["side"])
    num_val = min(settings["num_val"], len(X) // 4)
    if len(X) - num_val < recipe["batch_size"]:
        raise ValueError(f"photos must hold at least batch_size + held-out = {recipe['batch_size'] + num_val} images "
                         f"for preset {preset!r}, got {len(X)}")
    return train_or_load(photo_task(task, preset), arch=arch or settings["arch"], preset="full", seed=seed,
                         X=X[:len(X) - num_val], X_val=X[len(X) - num_val:], device=device, progress=progress,
                         width=64, **recipe)
