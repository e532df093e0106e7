"""Memory checks: refuse a setting that cannot fit before allocating, in one line naming it.

Two mechanisms. :func:`check_fits` compares a cheap estimate with the memory available on the
device (``MemAvailable`` on Linux, free CUDA memory) before anything big is allocated.
:func:`oom_guard` turns an out-of-memory failure that still happens (an estimate can only be
rough) into a :class:`~gankit.errors.GankitError` naming what was being done and what to lower.
"""
from __future__ import annotations

import math
import os
from contextlib import contextmanager
from typing import Optional

import torch

from .errors import GankitError

_OOM_WORDS = ("out of memory", "can't allocate memory", "not enough memory", "cannot allocate memory",
              "failed to allocate", "allocation of", "bad_alloc")


def _fmt(nbytes: float) -> str:
    for unit in ("B", "KB", "MB", "GB", "TB", "PB"):
        if nbytes < 1024 or unit == "PB":
            return f"{nbytes:.3g} {unit}"
        nbytes /= 1024
    return f"{nbytes:.3g} PB"


def available_bytes(device="cpu") -> Optional[int]:
    """Free memory on ``device`` in bytes, or None when it cannot be told."""
    dev = torch.device(device)
    if dev.type == "cuda":
        try:
            return int(torch.cuda.mem_get_info(dev)[0])
        except Exception:
            return None
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def check_fits(nbytes: float, what: str, lower: str, device="cpu") -> None:
    """Raise one line if ``nbytes`` (an estimate) exceeds the memory available on ``device``."""
    free = available_bytes(device)
    if free is not None and nbytes > free:
        raise GankitError(f"{what} would need about {_fmt(nbytes)}, but only about {_fmt(free)} is free on "
                          f"{torch.device(device).type}; lower {lower}")


def is_oom(err: BaseException) -> bool:
    if isinstance(err, MemoryError) or type(err).__name__ == "OutOfMemoryError":
        return True
    if isinstance(err, RuntimeError):
        text = str(err).lower()
        return any(w in text for w in _OOM_WORDS)
    return False


@contextmanager
def oom_guard(what: str, lower: str):
    """Turn running out of memory inside the block into one line naming the setting to lower."""
    try:
        yield
    except (MemoryError, RuntimeError) as e:
        if not is_oom(e):
            raise
        raise GankitError(f"out of memory while {what}; lower {lower}") from None


def sample_bytes(shape, n: int, z_dim=0) -> int:
    """float32 bytes of ``n`` samples of ``shape`` and their noise vectors (what ``GAN.sample`` holds)."""
    return 4 * n * (math.prod(shape) + int(z_dim or 0))
