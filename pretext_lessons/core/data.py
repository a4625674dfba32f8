"""Data for the course: Fashion-MNIST found offline, few-label splits, photos, image folders."""
from __future__ import annotations

import functools
import gzip
import os
from pathlib import Path

import numpy as np
import torch

DEBIAN_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")
FASHION_MNIST_CLASSES = (
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
)
_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
PHOTO_NAMES = ("astronaut", "chelsea", "coffee", "rocket", "camera", "cat")


def data_dir() -> Path:
    """Lesson 0: the course's cache folder ($PRETEXT_LESSONS_DATA or the user cache dir)."""
    env = os.environ.get("PRETEXT_LESSONS_DATA")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "pretext_lessons"


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        raw = f.read()
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not an idx file of unsigned bytes")
    ndim = raw[3]
    shape = tuple(int.from_bytes(raw[4 + 4 * i: 8 + 4 * i], "big") for i in range(ndim))
    data = np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim)
    if data.size != int(np.prod(shape)):
        raise ValueError(f"{path} is truncated: expected {np.prod(shape)} values, found {data.size}")
    return data.reshape(shape)


def _find_idx(folder: Path, stem: str) -> Path | None:
    for name in (stem, stem + ".gz"):
        if (folder / name).is_file():
            return folder / name
    return None


def _candidate_dirs() -> list[Path]:
    cache = data_dir() / "fashion-mnist"
    return [cache, cache / "FashionMNIST" / "raw", DEBIAN_FASHION_MNIST]


def _download_fashion_mnist() -> Path:
    from torchvision.datasets import FashionMNIST

    root = data_dir() / "fashion-mnist"
    FashionMNIST(root=str(root), train=True, download=True)
    FashionMNIST(root=str(root), train=False, download=True)
    return root / "FashionMNIST" / "raw"


def load_fashion_mnist(split: str = "train", download: bool = True) -> tuple[torch.Tensor, torch.Tensor]:
    """Lesson 0: Fashion-MNIST as uint8 images (N, 1, 28, 28) and int64 labels, found offline first."""
    if split not in _FILES:
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    image_stem, label_stem = _FILES[split]
    folders = _candidate_dirs()
    for folder in folders:
        images, labels = _find_idx(folder, image_stem), _find_idx(folder, label_stem)
        if images and labels:
            break
    else:
        images = labels = None
        download_error = None
        if download:
            try:
                folder = _download_fashion_mnist()
                images, labels = _find_idx(folder, image_stem), _find_idx(folder, label_stem)
            except Exception as err:  # no network, no torchvision mirror: say how to get the data
                download_error = err
        if not (images and labels):
            looked = "\n".join(f"  - {f}" for f in folders)
            raise FileNotFoundError(
                f"Fashion-MNIST ({split}) was not found. Looked in:\n{looked}\n"
                "Get it one of three ways:\n"
                f"  1. put the four idx files (optionally .gz) in {folders[0]} "
                "(or set PRETEXT_LESSONS_DATA to a folder holding fashion-mnist/);\n"
                "  2. on Debian/Ubuntu: sudo apt-get install dataset-fashion-mnist;\n"
                "  3. with internet: load_fashion_mnist(download=True) fetches it through torchvision."
                + (f"\nThe download failed: {download_error}" if download_error else "")
            )
    X, y = _read_pair(images, labels, images.stat().st_mtime_ns, labels.stat().st_mtime_ns)
    return X.clone(), y.clone()  # callers may modify what they get; the cached copy stays intact


@functools.lru_cache(maxsize=4)
def _read_pair(images: Path, labels: Path, *_mtimes) -> tuple[torch.Tensor, torch.Tensor]:
    # decompressing 26 MB is slow next to a lesson's other set-up, and lessons load the set many times
    X = torch.from_numpy(_read_idx(images).copy()).unsqueeze(1)
    y = torch.from_numpy(_read_idx(labels).astype(np.int64))
    if len(X) != len(y):
        raise ValueError(f"{images} holds {len(X)} images but {labels} holds {len(y)} labels")
    return X, y


def class_examples(split: str = "test") -> tuple[torch.Tensor, torch.Tensor]:
    """Lesson 0: the first Fashion-MNIST image of each class, in class order: uint8 (10, 1, 28, 28) and labels 0..9."""
    X, y = load_fashion_mnist(split)
    first = torch.stack([torch.nonzero(y == c)[0, 0] for c in range(len(FASHION_MNIST_CLASSES))])
    return X[first], y[first]


def to_float(X: torch.Tensor) -> torch.Tensor:
    """Lesson 0: uint8 images to float32 in [0, 1]; float images pass through unchanged."""
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"X must be a torch.Tensor, got {type(X).__name__}")
    return X.float().div_(255) if X.dtype == torch.uint8 else X.float()


def check_images(X, name: str = "X", min_size: int = 1, channels: tuple[int, ...] = (1, 3)) -> torch.Tensor:
    """Lesson 0: validate a batch of images (N, C, H, W) and say clearly what is wrong."""
    if not isinstance(X, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor of images (N, C, H, W), got {type(X).__name__}")
    if X.dim() != 4:
        raise ValueError(f"{name} must have 4 dimensions (N, C, H, W), got shape {tuple(X.shape)}")
    if not (X.dtype == torch.uint8 or X.dtype.is_floating_point):
        raise TypeError(f"{name} must be uint8 or floating point, got {X.dtype}")
    if X.shape[1] not in channels:
        raise ValueError(f"{name} must have {' or '.join(map(str, channels))} channels, got {X.shape[1]} "
                         f"(shape {tuple(X.shape)}; channels come second)")
    if min(X.shape[-2:]) < min_size:
        raise ValueError(f"{name} images must be at least {min_size}x{min_size} pixels, "
                         f"got {X.shape[-2]}x{X.shape[-1]}")
    return X


def pretrain_split(num_images: int | None = None, seed: int = 0, X: torch.Tensor | None = None) -> torch.Tensor:
    """Lesson 0: an unlabelled pretraining set: `num_images` images drawn from the training split by `seed`."""
    if X is None:
        X, _ = load_fashion_mnist("train")
    if num_images is None:
        return X
    if not 0 < num_images <= len(X):
        raise ValueError(f"num_images must be between 1 and {len(X)}, got {num_images}")
    idx = torch.randperm(len(X), generator=torch.Generator().manual_seed(seed))[:num_images]
    return X[idx]


def fewshot_split(k: int = 10, seed: int = 0, num_test: int | None = 2000,
                  data: tuple | None = None) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
    """Lesson 0: the downstream split: k labelled images per class to train on, a held-out test set."""
    if data is None:
        X, y = load_fashion_mnist("train")
        X_test, y_test = load_fashion_mnist("test")
    else:
        X, y, X_test, y_test = data
    if not isinstance(k, int) or k < 1:
        raise ValueError(f"k must be a positive integer (labels per class), got {k!r}")
    g = torch.Generator().manual_seed(seed)
    picked = []
    for c in torch.unique(y).tolist():
        members = torch.nonzero(y == c).flatten()
        if k > len(members):
            raise ValueError(f"k={k} labels per class asked, but class {c} holds only {len(members)} images")
        picked.append(members[torch.randperm(len(members), generator=g)[:k]])
    idx = torch.cat(picked)
    if num_test is not None and num_test < len(X_test):
        test_idx = torch.randperm(len(X_test), generator=g)[:num_test]
        X_test, y_test = X_test[test_idx], y_test[test_idx]
    return X[idx], y[idx], X_test, y_test


def load_photo(name: str = "astronaut", size: int | None = 256) -> torch.Tensor:
    """Lesson 0: a real colour photo shipped inside scikit-image, as a float (3, H, W) tensor in [0, 1]."""
    if name not in PHOTO_NAMES:
        raise ValueError(f"name must be one of {PHOTO_NAMES}, got {name!r}")
    import skimage.data

    img = torch.from_numpy(np.ascontiguousarray(getattr(skimage.data, name)()))
    if img.dim() == 2:
        img = img.unsqueeze(-1).expand(-1, -1, 3)
    X = img[..., :3].permute(2, 0, 1).float().div(255)
    if size is not None:
        side = min(X.shape[-2:])
        top, left = (X.shape[1] - side) // 2, (X.shape[2] - side) // 2
        X = X[:, top:top + side, left:left + side]
        X = torch.nn.functional.interpolate(X[None], size=(size, size), mode="bilinear",
                                            antialias=True, align_corners=False)[0].clamp_(0, 1)
    return X


def load_photos(size: int = 256) -> torch.Tensor:
    """Lesson 0: all the course's photos as one float batch (N, 3, size, size)."""
    return torch.stack([load_photo(name, size) for name in PHOTO_NAMES])


def load_image_folder(root, size: int = 32, grayscale: bool = False) -> tuple[torch.Tensor, torch.Tensor, list[str]]:
    """Lesson 0: your own images (one sub-folder per class) as uint8 tensors, labels and class names."""
    from torchvision import datasets, transforms

    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"root must be a folder with one sub-folder per class, got {root} (not a folder)")
    steps = [transforms.Resize(size), transforms.CenterCrop(size)]
    if grayscale:
        steps.append(transforms.Grayscale())
    steps.append(transforms.PILToTensor())
    ds = datasets.ImageFolder(str(root), transform=transforms.Compose(steps))
    X = torch.stack([img for img, _ in ds])
    y = torch.tensor(ds.targets, dtype=torch.int64)
    return X, y, ds.classes


def load_dataset(name: str = "fashion_mnist", split: str = "train", root=None) -> tuple[torch.Tensor, torch.Tensor]:
    """Lesson 0: a dataset by name: 'fashion_mnist' offline, 'cifar10' or 'stl10' through torchvision (downloads)."""
    name = name.lower().replace("-", "_")
    if name == "fashion_mnist":
        return load_fashion_mnist(split)
    if split not in ("train", "test"):
        raise ValueError(f"split must be 'train' or 'test', got {split!r}")
    from torchvision import datasets

    root = str(root or data_dir() / name)
    if name == "cifar10":
        ds = datasets.CIFAR10(root=root, train=split == "train", download=True)
        X = torch.from_numpy(np.asarray(ds.data)).permute(0, 3, 1, 2).contiguous()
        return X, torch.tensor(ds.targets, dtype=torch.int64)
    if name == "stl10":
        ds = datasets.STL10(root=root, split=split, download=True)
        return torch.from_numpy(np.asarray(ds.data)), torch.from_numpy(np.asarray(ds.labels)).long()
    raise ValueError(f"name must be one of 'fashion_mnist', 'cifar10', 'stl10', got {name!r}")
