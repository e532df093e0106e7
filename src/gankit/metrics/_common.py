"""Input checks shared by the metric functions (one-line :class:`GankitError` messages)."""
from __future__ import annotations

import torch

from ..errors import GankitError

__all__ = ["as_tensor", "as_features", "check_pair"]


def as_tensor(x, name: str) -> torch.Tensor:
    """``x`` as a detached tensor; numpy arrays (and nested lists) are converted on the CPU."""
    if isinstance(x, torch.Tensor):
        return x.detach()
    try:
        return torch.as_tensor(x)
    except Exception as e:  # noqa: BLE001 - anything not convertible is a user error here
        raise GankitError(f"{name} must be a tensor or an array; got {type(x).__name__} ({e})") from None


def as_features(x, name: str, min_rows: int = 1) -> torch.Tensor:
    """A finite floating ``(N, D)`` feature matrix with ``N >= min_rows`` and ``D >= 1``."""
    t = as_tensor(x, name)
    if t.dim() != 2:
        raise GankitError(f"{name} must have shape (N, D); got {tuple(t.shape)}")
    if t.shape[1] < 1:
        raise GankitError(f"{name} must have at least one feature column; got shape {tuple(t.shape)}")
    if t.shape[0] < min_rows:
        raise GankitError(f"{name} needs at least {min_rows} samples; got {t.shape[0]}")
    if not (t.is_floating_point() or t.dtype in (torch.int8, torch.int16, torch.int32, torch.int64, torch.uint8,
                                                  torch.bool)):
        raise GankitError(f"{name} must be real-valued; got dtype {t.dtype}")
    if not t.is_floating_point():
        t = t.to(torch.float32)
    if not bool(torch.isfinite(t).all()):
        raise GankitError(f"{name} contains NaN or Inf values")
    return t


def check_pair(a: torch.Tensor, b: torch.Tensor, name_a: str, name_b: str) -> None:
    """Same feature dimension and same device."""
    if a.shape[1] != b.shape[1]:
        raise GankitError(f"{name_a} and {name_b} have different feature dimensions: {a.shape[1]} vs {b.shape[1]}")
    if a.device != b.device:
        raise GankitError(f"{name_a} and {name_b} are on different devices: {a.device} vs {b.device}")
