"""Digits (scikit-learn, offline) and MNIST/CIFAR read from their on-disk formats, downloaded on request."""

from __future__ import annotations

import gzip
import pickle
from http.client import HTTPException
from pathlib import Path

import cv2
import numpy as np

from .core import DatasetNotAvailable, ImageSet, _finish, data_root

# Per-channel statistics of the training sets, as commonly reported for these data sets.
_MNIST_MEAN, _MNIST_STD = (0.1307,), (0.3081,)
_CIFAR10_MEAN, _CIFAR10_STD = (0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)
_CIFAR100_MEAN, _CIFAR100_STD = (0.5071, 0.4865, 0.4409), (0.2673, 0.2564, 0.2762)
# Measured on all 1 797 digits after the 28×28 conversion (measure_mean_std of both splits together).
_DIGITS_MEAN, _DIGITS_STD = (0.2242,), (0.3137,)

_DIGITS_TEST = 360     # held-out digits (20 %), stratified by class


def _digits_28(images: np.ndarray) -> np.ndarray:
    """8×8 digits (0..16) → 28×28 uint8 like MNIST: ×255/16, bilinear ×3 to 24×24, 2-px black frame."""
    scaled = np.clip(np.rint(images * (255.0 / 16.0)), 0, 255).astype(np.uint8)
    big = np.stack([cv2.resize(im, (24, 24), interpolation=cv2.INTER_LINEAR) for im in scaled])
    return np.pad(big, ((0, 0), (2, 2), (2, 2)))


def _load_digits(split: str, seed: int, n: int | None) -> ImageSet:
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    digits = load_digits()
    index = np.arange(len(digits.target))
    train, test = train_test_split(index, test_size=_DIGITS_TEST, stratify=digits.target,
                                   random_state=seed)
    index = np.sort(train if split == "train" else test)
    images, labels = _digits_28(digits.images[index]), digits.target[index]
    return _finish("digits", split, images[:, None], labels, tuple(str(d) for d in range(10)),
                   _DIGITS_MEAN, _DIGITS_STD, n, seed)


class _ArrayUnpickler(pickle.Unpickler):
    """Unpickle CIFAR's batches without running arbitrary code: only numpy's array rebuilders allowed."""

    _ALLOWED = {
        ("_codecs", "encode"),  # how Python 3's protocol-2 pickles store bytes; only encodes a string
        ("numpy.core.multiarray", "_reconstruct"), ("numpy._core.multiarray", "_reconstruct"),
        ("numpy", "ndarray"), ("numpy", "dtype"), ("numpy.core.multiarray", "scalar"),
        ("numpy._core.multiarray", "scalar"),
    }

    def find_class(self, module: str, name: str):
        if (module, name) not in self._ALLOWED:
            raise pickle.UnpicklingError(f"refusing to load {module}.{name} from a data file")
        return super().find_class(module, name)


def _unpickle(path: Path) -> dict[str, object]:
    with open(path, "rb") as f:
        raw = _ArrayUnpickler(f, encoding="bytes").load()
    return {k.decode() if isinstance(k, bytes) else k: v for k, v in raw.items()}


def _names(values) -> tuple[str, ...]:
    return tuple(v.decode() if isinstance(v, bytes) else str(v) for v in values)


_SOURCES = {
    "cifar10": ("cifar-10-batches-py", "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz", "163 MB"),
    "cifar100": ("cifar-100-python", "https://www.cs.toronto.edu/~kriz/cifar-100-python.tar.gz", "161 MB"),
    "mnist": ("MNIST/raw", "https://ossci-datasets.s3.amazonaws.com/mnist/ (four *-ubyte.gz files)", "11 MB"),
}
_MNIST_FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}


def _required_files(name: str, split: str) -> list[str]:
    if name == "cifar10":
        data = [f"data_batch_{i}" for i in range(1, 6)] if split == "train" else ["test_batch"]
        return data + ["batches.meta"]
    if name == "cifar100":
        return [split, "meta"]
    return list(_MNIST_FILES[split])


def _find(folder: Path, filename: str, gzipped_too: bool = False) -> Path | None:
    """``folder/filename``, else (MNIST) ``folder/filename.gz``, else ``None``."""
    for candidate in (folder / filename, folder / f"{filename}.gz")[: 1 + gzipped_too]:
        if candidate.is_file():
            return candidate
    return None


def _missing(name: str, split: str, root: Path) -> list[str]:
    folder = root / _SOURCES[name][0]
    return [f for f in _required_files(name, split) if _find(folder, f, name == "mnist") is None]


def _not_available(name: str, split: str, root: Path, missing: list[str], reason: str) -> DatasetNotAvailable:
    folder, url, size = _SOURCES[name]
    return DatasetNotAvailable(
        f"{name} ({split} split) is not available: {reason}. Missing {', '.join(missing)} in "
        f"{root / folder}. To get it ({size}, needs internet): labfree.data.load({name!r}, download=True"
        f"{'' if root == data_root() else f', root={str(root)!r}'}), or download {url} yourself and "
        f"unpack it so that the files are in {root / folder}. Offline, use load('shapes') or "
        f"load('digits') instead."
    )


def _download(name: str, root: Path) -> None:
    """Fetch a data set with torchvision (which checks its MD5 sums) into ``root``."""
    import torchvision.datasets as tvd

    cls = {"cifar10": tvd.CIFAR10, "cifar100": tvd.CIFAR100, "mnist": tvd.MNIST}[name]
    root.mkdir(parents=True, exist_ok=True)
    cls(str(root), train=True, download=True)  # one archive (CIFAR) or all four files (MNIST)


def _ensure(name: str, split: str, root: Path, download: bool) -> Path:
    missing = _missing(name, split, root)
    if missing and download:
        try:
            _download(name, root)
        except (OSError, RuntimeError, HTTPException) as err:
            raise _not_available(name, split, root, missing, f"the download failed ({err})") from err
        missing = _missing(name, split, root)
    if missing:
        reason = "the download did not produce these files" if download else "the files are not on disk"
        raise _not_available(name, split, root, missing, reason)
    return root / _SOURCES[name][0]


def _read_idx(path: Path) -> np.ndarray:
    """An IDX array (the MNIST format: big-endian header, ``uint8`` payload), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rb") as f:
        data = f.read()
    zero, dtype_code, ndim = data[0] << 8 | data[1], data[2], data[3]
    if zero != 0 or dtype_code != 0x08:
        raise ValueError(f"{path} is not an unsigned-byte IDX file (header {data[:4].hex()})")
    dims = np.frombuffer(data, dtype=">u4", count=ndim, offset=4).astype(np.int64)
    payload = np.frombuffer(data, dtype=np.uint8, offset=4 + 4 * ndim)
    if payload.size != int(np.prod(dims)):
        raise ValueError(f"{path} is truncated: header says {tuple(dims)}, found {payload.size} bytes")
    return payload.reshape(tuple(dims)).copy()  # a writable array: torch refuses to share read-only memory


def _load_mnist(split: str, root: Path, download: bool, seed: int, n: int | None) -> ImageSet:
    folder = _ensure("mnist", split, root, download)
    images_file, labels_file = (_find(folder, f, gzipped_too=True) for f in _MNIST_FILES[split])
    images, labels = _read_idx(images_file), _read_idx(labels_file)
    if len(images) != len(labels):
        raise ValueError(f"{images_file} has {len(images)} images but {labels_file} {len(labels)} labels")
    return _finish("mnist", split, images[:, None], labels, tuple(str(d) for d in range(10)),
                   _MNIST_MEAN, _MNIST_STD, n, seed)


def _load_cifar(name: str, split: str, scheme: str | None, root: Path, download: bool, seed: int,
                n: int | None) -> ImageSet:
    folder = _ensure(name, split, root, download)
    if name == "cifar10":
        batches = [_unpickle(folder / f) for f in _required_files(name, split)[:-1]]
        labels = np.concatenate([np.asarray(b["labels"]) for b in batches])
        classes = _names(_unpickle(folder / "batches.meta")["label_names"])
        mean, std = _CIFAR10_MEAN, _CIFAR10_STD
    else:
        batches = [_unpickle(folder / split)]
        labels = np.asarray(batches[0][f"{scheme}_labels"])
        classes = _names(_unpickle(folder / "meta")[f"{scheme}_label_names"])
        mean, std = _CIFAR100_MEAN, _CIFAR100_STD
    images = np.concatenate([np.asarray(b["data"], dtype=np.uint8) for b in batches]).reshape(-1, 3, 32, 32)
    return _finish(name, split, images, labels, classes, mean, std, n, seed, scheme=scheme)
