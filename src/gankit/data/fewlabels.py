"""Few-label (semi-supervised) training data: ``data.labels=N`` keeps N labelled training images.

The selection is balanced and reproducible: N / K images of each of the K classes, drawn with a CPU
generator seeded by the run's seed (the same images on every device and at every resume), as in the
semi-supervised protocol of Salimans et al. 2016 (arXiv 1606.03498, Sec. 5: "100 labelled examples",
10 per class). The rest of the training set is used without its labels.

One batch is one object (DESIGN, "a batch is one object"): :class:`FewLabelLoader` hands the steps the
usual ``(x, y)`` pair, with the labels that are not known marked :data:`UNLABELLED` (-1):

    x = [batch_size unlabelled images; labelled_batch labelled images],  y = [-1, ..., -1; their labels].

So the trainer stays generic (it draws ``(real, labels)`` and passes them to each phase), the GAN's
step takes what it needs (``labels >= 0`` marks the labelled rows, with no host synchronisation), and
the loader's state (both streams) is checkpointed like any loader's. The labelled images are a small
tensor on the device; when fewer than ``labelled_batch`` are kept, each labelled epoch is the set
repeated, shuffled as one (the labelled stream cycles through the N images, like the authors' code).
GANs that train this way (``GAN.few_labels``) accept ``data.labels``; the others refuse it.
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch

from ..errors import ConfigError
from .base import is_int
from .loader import DeviceLoader

#: the label of an image whose label is not known (semi-supervised batches)
UNLABELLED = -1


def select_labelled(y: Optional[torch.Tensor], n: int, num_classes: int, seed: int, name: str = "the data") -> torch.Tensor:
    """Indices (int64, class by class) of ``n`` training images whose labels are kept: ``n / num_classes``
    of each class, the first of that class in a random permutation of the whole set drawn by a CPU
    generator seeded with ``seed``. Same ``(y, n, seed)``, same indices.

    Raises :class:`ConfigError` (one line, naming ``data.labels``) when the data has no labels, ``n`` is not
    a positive multiple of the number of classes, or a class has fewer than ``n / num_classes`` images."""
    if y is None or num_classes < 2:
        raise ConfigError(f"config: data.labels={n} keeps {n} labelled images, but '{name}' has no class labels")
    if not is_int(n) or n < 1 or n % num_classes:
        raise ConfigError(f"config: data.labels must be a positive multiple of the {num_classes} classes of '{name}' "
                          f"(the same number of each), got {n!r}")
    per = n // num_classes
    perm = torch.randperm(len(y), generator=torch.Generator().manual_seed(seed))
    shuffled = y[perm]
    picked = []
    for k in range(num_classes):
        of_k = perm[shuffled == k]
        if len(of_k) < per:
            raise ConfigError(f"config: data.labels={n} needs {per} images of each class, but class {k} has "
                              f"{len(of_k)} in the training set of '{name}'; lower data.labels (or raise data.size)")
        picked.append(of_k[:per])
    return torch.cat(picked)


class FewLabelLoader:
    """Seeded, resumable semi-supervised batches: ``batch_size`` images from the unlabelled rest of the
    training set (label :data:`UNLABELLED`), then ``labelled_batch`` (default ``batch_size``) of the ``n``
    labelled ones with their labels; see the module docstring. ``labelled_index``: the kept images."""

    def __init__(self, x: torch.Tensor, y: Optional[torch.Tensor], n: int, num_classes: int, batch_size: int,
                 device, seed: int, labelled_batch: Optional[int] = None, name: str = "the data"):
        idx = select_labelled(y, n, num_classes, seed, name)
        keep = torch.ones(len(x), dtype=torch.bool)
        keep[idx] = False
        rest = keep.nonzero().flatten()
        if len(rest) < batch_size:
            raise ConfigError(f"config: data.labels={n} leaves {len(rest)} unlabelled images of '{name}', fewer than "
                              f"one batch (batch_size={batch_size}); lower data.labels or batch_size")
        m = batch_size if labelled_batch is None else labelled_batch
        reps = math.ceil(m / n)  # a labelled epoch holds at least one batch
        self.labelled_index = idx
        self.batch_size = batch_size
        self.unlabelled = DeviceLoader(x[rest], None, batch_size, device, seed)
        self.labelled = DeviceLoader(x[idx].repeat(reps, *([1] * (x.dim() - 1))), y[idx].repeat(reps), m, device,
                                     seed + 1)  # its own stream of permutations

    def shard(self, rank: int, world: int) -> None:
        """Each stream's own slice per process (see :meth:`DeviceLoader.shard`)."""
        self.unlabelled.shard(rank, world)
        self.labelled.shard(rank, world)

    def next(self) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(x, y)``: the unlabelled batch then the labelled one; ``y`` is -1 on the unlabelled rows."""
        xu, _ = self.unlabelled.next()
        xl, yl = self.labelled.next()
        unknown = torch.full((xu.shape[0],), UNLABELLED, dtype=yl.dtype, device=yl.device)
        return torch.cat([xu, xl]), torch.cat([unknown, yl])

    def __iter__(self) -> "FewLabelLoader":
        return self

    def __next__(self) -> Tuple[torch.Tensor, torch.Tensor]:
        return self.next()

    @property
    def epoch(self) -> int:
        """Completed passes over the unlabelled images."""
        return self.unlabelled.epoch

    @property
    def steps_per_epoch(self) -> int:
        return self.unlabelled.steps_per_epoch

    def state_dict(self) -> dict:
        return {"unlabelled": self.unlabelled.state_dict(), "labelled": self.labelled.state_dict()}

    def load_state_dict(self, state: dict) -> None:
        from ..errors import DataError

        if not isinstance(state, dict) or set(state) != {"unlabelled", "labelled"}:
            raise DataError("data loader state is not a semi-supervised one (expected its unlabelled and labelled "
                            "streams); resume with the same data.labels")
        self.unlabelled.load_state_dict(state["unlabelled"])
        self.labelled.load_state_dict(state["labelled"])


def labels_from_fraction(fraction: float, size: int, num_classes: int) -> int:
    """``data.label_fraction`` as a number of labelled images: ``fraction * size`` rounded to a multiple of the
    classes (at least one image of each)."""
    k = max(1, int(num_classes))
    return max(k, round(fraction * size / k) * k)


def make_loader(x: torch.Tensor, y: Optional[torch.Tensor], info, batch_size: int, device, seed: int,
                labels: Optional[int] = None, label_fraction: Optional[float] = None):
    """The training loader: a :class:`DeviceLoader` over every image (``labels`` None), or a
    :class:`FewLabelLoader` keeping ``labels`` labelled images (or ``label_fraction`` of them)."""
    if label_fraction is not None:
        labels = labels_from_fraction(label_fraction, len(x), int(info.num_classes or 0))
    if labels is None and info.domains and not info.paired:  # two domains, each shuffled on its own
        from .domains import UnpairedLoader

        return UnpairedLoader(x, y, info, batch_size, device, seed)
    if labels is None:
        return DeviceLoader(x, y, batch_size, device, seed=seed)
    return FewLabelLoader(x, y, labels, int(info.num_classes or 0), batch_size, device, seed, name=info.name)
