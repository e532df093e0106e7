"""Shared image post-processing: uint8 -> float in [-1, 1], one-time resize, channel count."""
from __future__ import annotations

from typing import Optional

import torch
import torch.nn.functional as F

from ..errors import DataError
from .base import is_int

# Images converted per step when resizing: bounds the float32 working memory.
CHUNK = 2048


def check_channels(channels: Optional[int], dataset: str) -> None:
    if channels is not None and (not is_int(channels) or channels not in (1, 3)):
        raise DataError(f"{dataset}: data.channels must be 1, 3 or null, got {channels!r}")


def to_float_images(u8: torch.Tensor, resolution: int, channels: int) -> torch.Tensor:
    """``(N, C, H, W)`` uint8 -> ``(N, channels, resolution, resolution)`` float32 in ``[-1, 1]``.

    Resizing is bilinear with antialiasing and done once, in chunks of :data:`CHUNK` images.
    A 1-channel input is repeated when ``channels`` is 3; the scaling is ``x / 127.5 - 1``.
    """
    n, c, h, w = u8.shape
    if channels != c and c != 1:
        raise DataError(f"cannot turn {c}-channel images into {channels} channels")
    out = torch.empty((n, channels, resolution, resolution), dtype=torch.float32)
    for start in range(0, n, CHUNK):
        chunk = u8[start:start + CHUNK].to(torch.float32)
        if (h, w) != (resolution, resolution):
            chunk = F.interpolate(
                chunk, size=(resolution, resolution), mode="bilinear",
                align_corners=False, antialias=True,
            )
        chunk = chunk.div_(127.5).sub_(1.0).clamp_(-1.0, 1.0)
        out[start:start + CHUNK] = chunk  # broadcasts 1 -> 3 channels without an extra copy
    return out
