"""Infinite, seeded, resumable minibatches from tensors kept on the training device.

The datasets gankit trains on fit in device memory, so the whole tensor is moved once and each
batch is an ``index_select`` with a slice of a per-epoch permutation: no worker processes, no
host-device copy and no host synchronisation per batch. Permutations come from a CPU
``torch.Generator`` so the batch order is the same on every device; its state, the current
permutation and the position are the whole loader state, which makes resuming exact.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from ..errors import DataError
from .base import is_int

_STATE_KEYS = ("generator", "perm", "pos", "epoch", "num_samples", "batch_size")


class DeviceLoader:
    """Infinite, seeded, shuffled minibatches from tensors resident on the training device.

    Every call of :meth:`next` returns exactly ``batch_size`` rows. An epoch is one random
    permutation of all rows; the incomplete tail of a permutation is dropped (drop_last) and a
    fresh permutation is drawn.
    """

    def __init__(self, x: torch.Tensor, y: Optional[torch.Tensor], batch_size: int, device,
                 seed: int):
        if not isinstance(x, torch.Tensor) or x.dim() < 1:
            raise DataError("DeviceLoader needs a data tensor with a leading sample dimension")
        n = int(x.shape[0])
        if y is not None and (not isinstance(y, torch.Tensor) or y.dim() < 1 or y.shape[0] != n):
            raise DataError(f"DeviceLoader: labels must be a tensor with {n} rows, like the data")
        if not is_int(batch_size) or batch_size < 1:
            raise DataError(f"batch_size must be a positive integer, got {batch_size!r}")
        if batch_size > n:
            raise DataError(f"batch_size {batch_size} is larger than the dataset ({n} samples); "
                            f"lower the batch size or use more data")
        if not is_int(seed):
            raise DataError(f"DeviceLoader seed must be an integer, got {seed!r}")
        self.device = torch.device(device)
        self.x = x.to(self.device)
        self.y = None if y is None else y.to(self.device)
        self.batch_size = batch_size
        self.num_samples = n
        self._gen = torch.Generator(device="cpu")
        self._gen.manual_seed(seed)
        self._epoch = 0
        self._shard = slice(None)  # this process's rows of each batch (see shard)
        self._new_permutation()

    def shard(self, rank: int, world: int) -> None:
        """Multi-process training: :meth:`next` returns rows ``[rank * b, (rank + 1) * b)`` of each global batch of
        ``batch_size`` rows (``b = batch_size / world``); the permutation and position, and so the state, stay those
        of the whole batch."""
        if self.batch_size % world:
            raise DataError(f"batch_size {self.batch_size} does not split evenly over {world} processes")
        b = self.batch_size // world
        self._shard = slice(rank * b, (rank + 1) * b)

    # -- iteration ---------------------------------------------------------------------------
    def _new_permutation(self) -> None:
        self._perm_cpu = torch.randperm(self.num_samples, generator=self._gen)
        self._perm = self._perm_cpu.to(self.device)
        self._pos = 0

    def next(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        """The next ``(x, y)`` batch (``y`` is ``None`` for unlabeled data)."""
        if self._pos + self.batch_size > self.num_samples:
            self._epoch += 1
            self._new_permutation()
        idx = self._perm[self._pos:self._pos + self.batch_size][self._shard]
        self._pos += self.batch_size
        xb = self.x.index_select(0, idx)
        yb = None if self.y is None else self.y.index_select(0, idx)
        return xb, yb

    def __iter__(self) -> "DeviceLoader":
        return self

    def __next__(self) -> Tuple[torch.Tensor, Optional[torch.Tensor]]:
        return self.next()

    @property
    def epoch(self) -> int:
        """Completed passes over the data before the current permutation (0 at the start)."""
        return self._epoch

    @property
    def steps_per_epoch(self) -> int:
        return self.num_samples // self.batch_size

    # -- checkpointing -----------------------------------------------------------------------
    def state_dict(self) -> dict:
        """Tensors and ints only, so it survives ``torch.load(..., weights_only=True)``."""
        return {
            "generator": self._gen.get_state(),
            "perm": self._perm_cpu.clone(),
            "pos": int(self._pos),
            "epoch": int(self._epoch),
            "num_samples": int(self.num_samples),
            "batch_size": int(self.batch_size),
        }

    def load_state_dict(self, state: dict) -> None:
        """Restore :meth:`state_dict`; the following batches are exactly those that would have come."""
        if not isinstance(state, dict) or any(k not in state for k in _STATE_KEYS):
            raise DataError(f"data loader state is incomplete (expected keys: {', '.join(_STATE_KEYS)})")
        if int(state["num_samples"]) != self.num_samples:
            raise DataError(f"data loader state is for {int(state['num_samples'])} samples, but the "
                            f"dataset has {self.num_samples}; resume with the same data settings")
        perm = state["perm"]
        pos = int(state["pos"])
        if (not isinstance(perm, torch.Tensor) or perm.dtype != torch.int64
                or tuple(perm.shape) != (self.num_samples,) or not 0 <= pos <= self.num_samples):
            raise DataError("data loader state is corrupt (bad permutation or position)")
        try:
            self._gen.set_state(state["generator"].to("cpu", torch.uint8))
        except (AttributeError, RuntimeError, TypeError) as err:
            raise DataError(f"data loader state is corrupt (generator: {' '.join(str(err).split())})") \
                from None
        self._perm_cpu = perm.to("cpu").clone()
        self._perm = self._perm_cpu.to(self.device)
        self._pos = pos
        self._epoch = int(state["epoch"])
