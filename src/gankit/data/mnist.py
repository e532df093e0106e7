"""MNIST (LeCun et al., 1998) and Fashion-MNIST (Xiao, Rasul and Vollgraf, 2017, arXiv 1708.07747).

The original IDX files are parsed directly with numpy; torchvision is only used for the optional
online download. Inside a data root, each of these layouts is accepted, in this order:

* ``<root>/mnist/`` (``<root>/fashion-mnist/``) holding the IDX files, gzipped or not;
* torchvision's ``<root>/MNIST/raw/`` (``<root>/FashionMNIST/raw/``);
* the IDX files directly in ``<root>``.

The root is the ``root`` argument, else ``$GANKIT_DATA``, else ``./data``.
"""
from __future__ import annotations

import gzip
import os
import zlib
from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch

from ..errors import DataError
from .base import DATASETS, DataInfo, Loaded, is_int
from .images import check_channels, to_float_images

IMAGE_MAGIC = 2051  # 0x00000803: unsigned byte, 3 dimensions
LABEL_MAGIC = 2049  # 0x00000801: unsigned byte, 1 dimension
RESOLUTIONS = (28, 32, 64)
FILES = {
    "train": ("train-images-idx3-ubyte", "train-labels-idx1-ubyte"),
    "test": ("t10k-images-idx3-ubyte", "t10k-labels-idx1-ubyte"),
}
# dataset name -> (our folder name, torchvision class / folder name)
LAYOUTS = {
    "mnist": ("mnist", "MNIST"),
    "fashion-mnist": ("fashion-mnist", "FashionMNIST"),
}


def _one_line(err: BaseException) -> str:
    text = " ".join(str(err).split())
    return text or type(err).__name__


def read_idx(path: Path, magic: int) -> np.ndarray:
    """Parse an IDX file (optionally gzipped) of unsigned bytes; a read-only uint8 array.

    Raises :class:`DataError` naming ``path`` when the file is unreadable, truncated, corrupt or
    does not carry the expected ``magic`` number.
    """
    try:
        if path.name.endswith(".gz"):
            with gzip.open(path, "rb") as f:
                data = f.read()
        else:
            data = path.read_bytes()
    except (OSError, EOFError, zlib.error) as err:
        raise DataError(f"cannot read {path}: {_one_line(err)} (truncated or corrupt file; "
                        f"replace it with a fresh copy)") from None
    if len(data) < 4 or int.from_bytes(data[:4], "big") != magic:
        found = int.from_bytes(data[:4], "big") if len(data) >= 4 else None
        raise DataError(f"{path} is not an IDX file of the expected kind "
                        f"(magic number {found}, expected {magic}); replace it with a fresh copy")
    ndim = magic & 0xFF
    header = 4 + 4 * ndim
    if len(data) < header:
        raise DataError(f"{path} is truncated ({len(data)} bytes, header alone needs {header})")
    dims = [int.from_bytes(data[4 + 4 * i:8 + 4 * i], "big") for i in range(ndim)]
    expected = header + int(np.prod(dims, dtype=np.int64))
    if len(data) != expected:
        raise DataError(f"{path} is truncated or corrupt ({len(data)} bytes of data, header "
                        f"{'x'.join(map(str, dims))} needs {expected}); replace it with a fresh copy")
    return np.frombuffer(data, dtype=np.uint8, offset=header).reshape(dims)


def resolve_root(root: Optional[str]) -> Path:
    """``root`` if given, else ``$GANKIT_DATA`` if set and non-empty, else ``./data``."""
    if root is None or str(root) == "":
        root = os.environ.get("GANKIT_DATA") or "data"
    return Path(root).expanduser()


def candidate_dirs(root: Path, name: str) -> List[Path]:
    ours, tv = LAYOUTS[name]
    return [root / ours, root / tv / "raw", root]


def _find_file(folder: Path, stem: str) -> Optional[Path]:
    for path in (folder / stem, folder / f"{stem}.gz"):
        if path.is_file():
            return path
    return None


def find_split(root: Path, name: str, split: str) -> Optional[Tuple[Path, Path]]:
    """(images, labels) paths of ``split`` in the first layout holding both, else ``None``."""
    image_stem, label_stem = FILES[split]
    for folder in candidate_dirs(root, name):
        images, labels = _find_file(folder, image_stem), _find_file(folder, label_stem)
        if images is not None and labels is not None:
            return images, labels
    return None


def _download(root: Path, name: str, split: str) -> Tuple[np.ndarray, np.ndarray]:
    """Online path: let torchvision fetch and verify the files, then read them like any other."""
    try:
        import torchvision.datasets as tvd

        cls = getattr(tvd, LAYOUTS[name][1])
        root.mkdir(parents=True, exist_ok=True)
        ds = cls(str(root), train=(split == "train"), download=True)
    except Exception as err:  # network, permissions, checksum: all reported the same way
        raise DataError(f"{name}: download into {root} failed: {_one_line(err)}") from None
    found = find_split(root, name, split)
    if found is not None:
        return read_idx(found[0], IMAGE_MAGIC), read_idx(found[1], LABEL_MAGIC)
    return ds.data.numpy(), ds.targets.numpy()


def load_mnist_family(name: str, *, root=None, resolution: int = 28, channels=None,
                      download: bool = False, split: str = "train", size=None, **_ignored) -> Loaded:
    if not is_int(resolution) or resolution not in RESOLUTIONS:
        raise DataError(f"{name}: data.resolution must be one of 28, 32, 64, got {resolution!r}")
    check_channels(channels, name)
    base = resolve_root(root)
    found = find_split(base, name, split)
    if found is not None:
        images = read_idx(found[0], IMAGE_MAGIC)
        labels = read_idx(found[1], LABEL_MAGIC)
        where = found[0].parent
    elif download:
        images, labels = _download(base, name, split)
        where = base
    else:
        image_stem, label_stem = FILES[split]
        looked = ", ".join(str(d) for d in candidate_dirs(base, name))
        raise DataError(
            f"{name} {split} split not found ({image_stem}[.gz] and {label_stem}[.gz]); looked in "
            f"{looked}; provide it by setting GANKIT_DATA=DIR, data.root=DIR, or data.download=true"
        )
    if images.ndim != 3 or labels.ndim != 1 or images.shape[0] != labels.shape[0]:
        raise DataError(f"{name} {split} files in {where} do not match: images "
                        f"{tuple(images.shape)}, labels {tuple(labels.shape)}")
    if labels.size and int(labels.max()) > 9:
        raise DataError(f"{name} {split} labels in {where} are corrupt (value {int(labels.max())} > 9)")
    if size is not None:
        images, labels = images[:size], labels[:size]
    u8 = torch.from_numpy(np.array(images[:, None], dtype=np.uint8))  # writable copy, (N, 1, H, W)
    x = to_float_images(u8, resolution, 1 if channels is None else channels)
    y = torch.from_numpy(labels.astype(np.int64))
    info = DataInfo(name=name, kind="images", shape=tuple(x.shape[1:]), num_classes=10)
    return x, y, info


@DATASETS.register("mnist")
def mnist(**kwargs) -> Loaded:
    """MNIST digits: 60 000 train / 10 000 test, 28x28 grayscale, 10 classes."""
    return load_mnist_family("mnist", **kwargs)


@DATASETS.register("fashion-mnist")
def fashion_mnist(**kwargs) -> Loaded:
    """Fashion-MNIST (Xiao et al. 2017, arXiv 1708.07747): 60 000 / 10 000, 28x28, 10 classes."""
    return load_mnist_family("fashion-mnist", **kwargs)


#: samples composed when ``data.size`` is not given (train / test).
STACKED_DEFAULT_SIZE = {"train": 50000, "test": 10000}


@DATASETS.register("stacked-mnist")
def stacked_mnist(*, size=None, seed: int = 0, split: str = "train", channels=None, **kwargs) -> Loaded:
    """Stacked MNIST: three MNIST digits drawn independently as the R, G, B channels -> 1,000 modes.

    The mode-collapse benchmark of Metz et al. 2016 (Unrolled GANs, arXiv 1611.02163) and VEEGAN
    (Srivastava et al. 2017, arXiv 1705.07761). Sample ``i`` stacks digits chosen uniformly at
    random (a generator seeded by ``seed``) from the MNIST ``split``; its label is
    ``100 * d_R + 10 * d_G + d_B``. ``size`` defaults to 50,000 (train) / 10,000 (test).
    """
    if channels not in (None, 3):
        raise DataError(f"stacked-mnist has 3 channels (one digit each), got data.channels={channels!r}")
    x1, y1, _ = load_mnist_family("mnist", split=split, channels=1, **kwargs)
    n = STACKED_DEFAULT_SIZE[split] if size is None else size
    gen = torch.Generator().manual_seed(seed * 1000003 + (0 if split == "train" else 1))
    idx = torch.randint(0, len(x1), (n, 3), generator=gen)
    x = x1[idx.reshape(-1)].reshape(n, 3, *x1.shape[-2:])
    y = (y1[idx] * torch.tensor([100, 10, 1])).sum(1)
    info = DataInfo(name="stacked-mnist", kind="images", shape=tuple(x.shape[1:]), num_classes=1000)
    return x, y, info
