"""Data lookup order, splits, photos, image folders and the torchvision paths, all offline."""
import gzip
import struct

import numpy as np
import pytest
import torch

from pretext_lessons.core import data


def write_idx(path, array, compress=True):
    """Write an idx file of unsigned bytes (the Fashion-MNIST format)."""
    array = np.asarray(array, dtype=np.uint8)
    raw = bytes([0, 0, 0x08, array.ndim]) + b"".join(struct.pack(">I", n) for n in array.shape) + array.tobytes()
    path.parent.mkdir(parents=True, exist_ok=True)
    if compress:
        with gzip.open(str(path) + ".gz", "wb") as f:
            f.write(raw)
    else:
        path.write_bytes(raw)


def make_fake_fashion(folder, n=30, value=0, compress=True):
    """A tiny Fashion-MNIST look-alike whose pixels all equal `value`, so we can tell copies apart."""
    rng = np.random.default_rng(0)
    for split, count in (("train", n), ("t10k", n // 3)):
        write_idx(folder / f"{split}-images-idx3-ubyte", np.full((count, 28, 28), value), compress)
        write_idx(folder / f"{split}-labels-idx1-ubyte", rng.integers(0, 10, count), compress)


@pytest.fixture
def places(tmp_path, monkeypatch):
    """Temporary folders standing in for the user cache and the Debian package."""
    cache, debian = tmp_path / "cache", tmp_path / "debian"
    monkeypatch.setenv("PRETEXT_LESSONS_DATA", str(cache))
    monkeypatch.setattr(data, "DEBIAN_FASHION_MNIST", debian)
    data._read_pair.cache_clear()
    yield cache / "fashion-mnist", debian
    data._read_pair.cache_clear()


def test_cache_folder_comes_before_the_debian_package(places):
    cache, debian = places
    make_fake_fashion(cache, value=1)
    make_fake_fashion(debian, value=2)
    X, y = data.load_fashion_mnist("train", download=False)
    assert X.shape == (30, 1, 28, 28) and X.dtype == torch.uint8 and y.dtype == torch.int64
    assert int(X.max()) == 1


def test_debian_package_is_used_when_the_cache_is_empty(places):
    _, debian = places
    make_fake_fashion(debian, value=2, compress=False)
    X, _ = data.load_fashion_mnist("test", download=False)
    assert len(X) == 10 and int(X.max()) == 2


def test_download_is_the_last_resort(places, monkeypatch):
    cache, _ = places
    calls = []

    def fake_download():
        calls.append(1)
        make_fake_fashion(cache / "FashionMNIST" / "raw", value=3)
        return cache / "FashionMNIST" / "raw"

    monkeypatch.setattr(data, "_download_fashion_mnist", fake_download)
    X, _ = data.load_fashion_mnist("train")
    assert calls == [1] and int(X.max()) == 3


def test_missing_data_lists_the_three_ways(places, monkeypatch):
    def no_network():
        raise OSError("network unreachable")

    monkeypatch.setattr(data, "_download_fashion_mnist", no_network)
    with pytest.raises(FileNotFoundError) as err:
        data.load_fashion_mnist("train")
    message = str(err.value)
    assert "apt-get install dataset-fashion-mnist" in message
    assert "PRETEXT_LESSONS_DATA" in message and "download" in message and "network unreachable" in message


def test_truncated_idx_file_is_reported(places):
    cache, _ = places
    make_fake_fashion(cache)
    path = cache / "train-images-idx3-ubyte.gz"
    with gzip.open(path) as f:
        raw = f.read()
    with gzip.open(path, "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(ValueError, match="truncated"):
        data.load_fashion_mnist("train", download=False)


def test_torchvision_reads_exactly_what_the_files_hold(places):
    """The images and labels written, bit for bit, through torchvision's reader; a .gz source is unpacked once
    into the cache's FashionMNIST/raw, where torchvision looks."""
    cache, debian = places
    make_fake_fashion(debian)
    rng = np.random.default_rng(1)
    pixels, labels = rng.integers(0, 256, (12, 28, 28)), rng.integers(0, 10, 12)
    write_idx(debian / "t10k-images-idx3-ubyte", pixels)
    write_idx(debian / "t10k-labels-idx1-ubyte", labels)
    X, y = data.load_fashion_mnist("test", download=False)
    assert X.dtype == torch.uint8 and y.dtype == torch.int64 and X.shape == (12, 1, 28, 28)
    assert torch.equal(X[:, 0], torch.from_numpy(pixels.astype(np.uint8))) and torch.equal(y, torch.from_numpy(labels))
    assert sorted(p.name for p in (cache / "FashionMNIST" / "raw").iterdir()) == sorted(
        stem for pair in data._FILES.values() for stem in pair)


def test_a_read_only_cache_unpacks_into_the_temporary_folder(places, monkeypatch, tmp_path):
    cache, debian = places
    make_fake_fashion(debian, value=4)
    monkeypatch.setattr(data.tempfile, "gettempdir", lambda: str(tmp_path / "tmp"))
    real_access = data.os.access
    monkeypatch.setattr(data.os, "access", lambda path, mode: False if str(path).startswith(str(cache)) else
                        real_access(path, mode))
    X, _ = data.load_fashion_mnist("train", download=False)
    assert int(X.max()) == 4 and list((tmp_path / "tmp").rglob("train-images-idx3-ubyte"))


def test_a_cut_gz_file_is_reported(places):
    cache, _ = places
    make_fake_fashion(cache)
    path = cache / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:-40])
    with pytest.raises(ValueError, match="truncated or not a gzip file"):
        data.load_fashion_mnist("train", download=False)


def test_a_folder_without_the_other_split_names_what_is_missing(places):
    cache, _ = places
    make_fake_fashion(cache)
    (cache / "t10k-labels-idx1-ubyte.gz").unlink()
    with pytest.raises(FileNotFoundError, match=r"not \['t10k-labels-idx1-ubyte'\]"):
        data.load_fashion_mnist("train", download=False)


def test_callers_cannot_spoil_the_cached_copy(places):
    cache, _ = places
    make_fake_fashion(cache, value=1)
    X, _ = data.load_fashion_mnist("train", download=False)
    X.zero_()
    assert int(data.load_fashion_mnist("train", download=False)[0].max()) == 1


def test_unknown_split_is_rejected():
    with pytest.raises(ValueError, match="split must be 'train' or 'test', got 'val'"):
        data.load_fashion_mnist("val")


def synthetic_labelled(n_per_class=20, num_classes=10):
    y = torch.arange(num_classes).repeat_interleave(n_per_class)
    X = (torch.arange(len(y)) % 251).to(torch.uint8).view(-1, 1, 1, 1).expand(-1, 1, 28, 28).clone()
    return X, y


def test_fewshot_split_has_k_per_class_and_repeats_from_a_seed():
    X, y = synthetic_labelled()
    X_test, y_test = X[:50], y[:50]
    a = data.fewshot_split(k=5, seed=3, num_test=None, data=(X, y, X_test, y_test))
    b = data.fewshot_split(k=5, seed=3, num_test=None, data=(X, y, X_test, y_test))
    c = data.fewshot_split(k=5, seed=4, num_test=None, data=(X, y, X_test, y_test))
    assert torch.bincount(a[1]).tolist() == [5] * 10
    assert all(torch.equal(u, v) for u, v in zip(a, b))
    assert not torch.equal(a[0], c[0])


def test_fewshot_split_rejects_k_larger_than_a_class():
    X, y = synthetic_labelled(n_per_class=4)
    with pytest.raises(ValueError, match="k=5 labels per class asked, but class 0 holds only 4"):
        data.fewshot_split(k=5, data=(X, y, X, y))
    with pytest.raises(ValueError, match="k must be a positive integer"):
        data.fewshot_split(k=0, data=(X, y, X, y))


def test_pretrain_split_is_a_seeded_subset():
    X, _ = synthetic_labelled()
    a, b = data.pretrain_split(50, seed=1, X=X), data.pretrain_split(50, seed=1, X=X)
    assert torch.equal(a, b) and len(a) == 50
    with pytest.raises(ValueError, match="num_images must be between 1 and 200, got 500"):
        data.pretrain_split(500, X=X)


@pytest.mark.parametrize("bad, message", [
    (np.zeros((2, 1, 8, 8)), "must be a torch.Tensor"),
    (torch.zeros(2, 8, 8), "must have 4 dimensions"),
    (torch.zeros(2, 1, 8, 8, dtype=torch.int32), "must be uint8 or floating point"),
    (torch.zeros(2, 2, 8, 8), "must have 1 or 3 channels, got 2"),
    (torch.zeros(2, 1, 4, 4), "^X must be at least 6x6 pixels per image, got 4x4$"),
])
def test_check_images_says_what_is_wrong(bad, message):
    with pytest.raises((TypeError, ValueError), match=message):
        data.check_images(bad, min_size=6)


def test_photos_come_from_scikit_image_offline():
    photo = data.load_photo("chelsea", size=64)
    assert photo.shape == (3, 64, 64) and 0 <= float(photo.min()) and float(photo.max()) <= 1
    assert data.load_photo("camera", size=32).shape == (3, 32, 32)  # grayscale photos get 3 channels
    with pytest.raises(ValueError, match="name must be one of"):
        data.load_photo("mona_lisa")


def test_image_folder(tmp_path):
    from PIL import Image

    for c, colour in (("cats", (200, 0, 0)), ("dogs", (0, 0, 200))):
        (tmp_path / c).mkdir()
        for i in range(3):
            Image.new("RGB", (40, 30), colour).save(tmp_path / c / f"{i}.png")
    X, y, classes = data.load_image_folder(tmp_path, size=16)
    assert X.shape == (6, 3, 16, 16) and X.dtype == torch.uint8
    assert classes == ["cats", "dogs"] and y.tolist() == [0, 0, 0, 1, 1, 1]
    assert int(X[0, 0].float().mean()) > 150 and int(X[-1, 2].float().mean()) > 150
    gray, _, _ = data.load_image_folder(tmp_path, size=16, grayscale=True)
    assert gray.shape == (6, 1, 16, 16)
    # the luma PIL's "L" mode gives these colours: 0.299 x 200 and 0.114 x 200, rounded
    assert {int(v) for v in gray[:3].unique()} == {60} and {int(v) for v in gray[3:].unique()} == {23}
    with pytest.raises(FileNotFoundError, match="one sub-folder per class"):
        data.load_image_folder(tmp_path / "nowhere")


def test_to_grayscale_is_pil_s_luma_and_keeps_gray_images():
    from PIL import Image

    rgb = torch.randint(0, 256, (3, 9, 7), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))
    pil = torch.from_numpy(np.asarray(Image.fromarray(rgb.permute(1, 2, 0).numpy(), "RGB").convert("L")).copy())
    ours = data.to_grayscale(rgb.float())
    assert ours.shape == (1, 9, 7) and (ours[0] - pil.float()).abs().max() <= 0.5 + 1e-4
    three = data.to_grayscale(rgb.float()[None, None], num_channels=3)  # leading dims kept, 3 equal channels
    assert three.shape == (1, 1, 3, 9, 7) and torch.equal(three[0, 0, 0], ours[0]) and torch.equal(three[0, 0, 2], ours[0])
    gray = torch.rand(2, 1, 5, 5)
    assert data.to_grayscale(gray) is gray and data.to_grayscale(gray, num_channels=3).shape == (2, 3, 5, 5)
    with pytest.raises(ValueError, match=r"C = 1 or 3, got shape \(2, 2, 5, 5\)"):
        data.to_grayscale(torch.rand(2, 2, 5, 5))


def test_cifar10_goes_through_torchvision(monkeypatch, tmp_path):
    import torchvision.datasets

    class FakeCIFAR10:  # stands in where the real class would download
        def __init__(self, root, train, download):
            self.data = np.full((4, 32, 32, 3), 7 if train else 9, dtype=np.uint8)
            self.targets = [0, 1, 2, 3]

    monkeypatch.setattr(torchvision.datasets, "CIFAR10", FakeCIFAR10)
    X, y = data.load_dataset("cifar10", "test", root=tmp_path)
    assert X.shape == (4, 3, 32, 32) and int(X.max()) == 9 and y.tolist() == [0, 1, 2, 3]


def test_stl10_goes_through_torchvision(monkeypatch, tmp_path):
    import torchvision.datasets

    class FakeSTL10:
        def __init__(self, root, split, download):
            self.data = np.zeros((2, 3, 96, 96), dtype=np.uint8)
            self.labels = np.array([4, 5])

    monkeypatch.setattr(torchvision.datasets, "STL10", FakeSTL10)
    X, y = data.load_dataset("stl10", "train", root=tmp_path)
    assert X.shape == (2, 3, 96, 96) and y.tolist() == [4, 5]


def test_unknown_dataset_name():
    with pytest.raises(ValueError, match="name must be one of 'fashion_mnist', 'cifar10', 'stl10', got 'imagenet'"):
        data.load_dataset("imagenet")


def test_the_grader_unpacks_the_debian_files_into_its_cache_before_any_sandbox_binds_it(places):
    from pretext_lessons.grading.grader import unpack_fashion_mnist

    cache, debian = places
    make_fake_fashion(debian, value=5)
    unpack_fashion_mnist()
    raw = cache / "FashionMNIST" / "raw"
    assert sorted(p.name for p in raw.iterdir()) == sorted(f"{s}-{k}-idx{n}-ubyte" for s in ("train", "t10k")
                                                          for k, n in (("images", 3), ("labels", 1)))


def test_the_grader_s_unpacking_leaves_missing_data_to_the_submissions(places):
    from pretext_lessons.grading.grader import unpack_fashion_mnist

    cache, _ = places
    unpack_fashion_mnist()  # nothing to unpack: no error here, each kernel reports it
    assert not (cache / "FashionMNIST").exists()


def test_the_decoded_tensors_are_kept_and_read_back_without_torchvision(places, monkeypatch):
    import builtins
    import os

    cache, debian = places
    make_fake_fashion(debian, value=5)
    X, y = data.load_fashion_mnist("test", download=False)
    kept = list((cache / "FashionMNIST" / "processed").glob("test-*.pt"))
    assert len(kept) == 1
    data._read_pair.cache_clear()
    real_import = builtins.__import__

    def no_torchvision(name, *args, **kwargs):
        if name.startswith("torchvision"):
            raise AssertionError("torchvision imported although the decoded tensors were kept")
        return real_import(name, *args, **kwargs)
    monkeypatch.setattr(builtins, "__import__", no_torchvision)
    again, labels = data.load_fashion_mnist("test", download=False)
    assert torch.equal(again, X) and torch.equal(labels, y)
    monkeypatch.setattr(builtins, "__import__", real_import)
    # new raw files (another version): read again, not the kept tensors of the old ones
    make_fake_fashion(cache / "FashionMNIST" / "raw", value=7, compress=False)
    raw_images = cache / "FashionMNIST" / "raw" / "t10k-images-idx3-ubyte"
    os.utime(raw_images, ns=(1, 1))
    data._read_pair.cache_clear()
    newer, _ = data.load_fashion_mnist("test", download=False)
    assert int(newer.max()) == 7
    # an unreadable kept file is read again from the raw files
    for path in (cache / "FashionMNIST" / "processed").glob("test-*.pt"):
        path.write_bytes(b"not a tensor file")
    data._read_pair.cache_clear()
    assert int(data.load_fashion_mnist("test", download=False)[0].max()) == 7
