"""Dataset description, the dataset registry and the single entry point :func:`load_dataset`.

Every dataset is a function registered in :data:`DATASETS` under its name. It is called with the
keyword arguments of :func:`load_dataset` (already validated where they are common to all datasets)
and returns ``(x, y, info)``: the whole dataset as one CPU tensor, ready to be moved to the training
device once (see :class:`gankit.data.DeviceLoader`).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

import torch

from ..errors import DataError
from ..registry import Registry

SPLITS = ("train", "test")


@dataclass(frozen=True)
class DataInfo:
    """What a model and the metrics need to know about a loaded dataset.

    Attributes:
        name: registered dataset name.
        kind: ``"points"`` (2-D toy mixtures) or ``"images"``.
        shape: shape of one sample: ``(2,)`` for points, ``(C, H, W)`` for images.
        num_classes: number of labels, 0 when the data is unlabeled.
        modes: toy mixtures only: the ``(K, 2)`` mode centres (excluded from ``==``).
        sigma: toy mixtures only: standard deviation of every mode.
        domains: translation sets only: ``((name_A, channels_A), (name_B, channels_B))``, the domains whose
            images are stacked along the channels (see :mod:`gankit.data.domains`); empty otherwise.
        paired: translation sets only: True when row i holds the same image in both domains.
        attributes: attribute sets only (``mnist-attributes``): the names of the binary attributes, whose
            values follow the class in each label row (see :mod:`gankit.data.attributes`); empty otherwise.
        attribute_groups: the attribute indices that form one-hot groups (e.g. the colour).
    """

    name: str
    kind: str
    shape: tuple
    num_classes: int
    modes: Optional[torch.Tensor] = field(default=None, compare=False)
    sigma: float = 0.0
    domains: tuple = ()
    paired: bool = False
    attributes: tuple = ()
    attribute_groups: tuple = ()


Loaded = Tuple[torch.Tensor, Optional[torch.Tensor], DataInfo]

#: name -> loader function ``fn(*, root, resolution, channels, download, split, size, seed)``.
DATASETS: Registry[Callable[..., Loaded]] = Registry("dataset")


def is_int(value) -> bool:
    """True for a real integer (``bool`` is rejected: YAML ``yes`` must not become 1)."""
    return isinstance(value, int) and not isinstance(value, bool)


def load_dataset(
    name: str,
    *,
    root: Optional[str] = None,
    resolution: int = 28,
    channels: Optional[int] = None,
    download: bool = False,
    split: str = "train",
    size: Optional[int] = None,
    seed: int = 0,
) -> Loaded:
    """Load a registered dataset entirely into memory.

    Args:
        name: one of ``DATASETS.names()`` (``ring8``, ``grid25``, ``mnist``, ``fashion-mnist``,
            ``imagefolder``); an unknown name raises the registry's ``ConfigError``.
        root: data directory (image datasets). MNIST-family falls back to ``$GANKIT_DATA`` and then
            ``./data``; ``imagefolder`` requires it.
        resolution: output side length of image datasets (MNIST family: 28, 32 or 64).
        channels: ``None`` for the native channel count, 1 (grayscale) or 3 (RGB).
        download: MNIST family only: fetch with torchvision when the files are not found.
        split: ``"train"`` or ``"test"``.
        size: toy mixtures: number of points to pre-sample (default 100 000); image datasets: keep
            at most the first ``size`` samples.
        seed: toy mixtures: seed of the sampling generator.

    Returns:
        ``(x, y, info)``: ``x`` float32 on the CPU, images ``(N, C, H, W)`` in ``[-1, 1]`` or points
        ``(N, 2)``; ``y`` int64 labels ``(N,)`` or ``None``; ``info`` a :class:`DataInfo`.
    """
    loader = DATASETS.get(name)
    if split not in SPLITS:
        raise DataError(f"data.split must be 'train' or 'test', got {split!r}")
    if size is not None and (not is_int(size) or size < 1):
        raise DataError(f"data.size must be a positive integer or null, got {size!r}")
    if not is_int(seed):
        raise DataError(f"data seed must be an integer, got {seed!r}")
    if not isinstance(download, bool):
        raise DataError(f"data.download must be true or false, got {download!r}")
    return loader(
        root=root,
        resolution=resolution,
        channels=channels,
        download=download,
        split=split,
        size=size,
        seed=seed,
    )
