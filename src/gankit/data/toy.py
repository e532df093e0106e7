"""2-D Gaussian mixtures used to measure mode collapse.

Both follow the protocol of VEEGAN (Srivastava et al., 2017, arXiv 1705.07761) as reused by
PacGAN (Lin, Khetan, Fanti and Oh, 2018, "PacGAN: The power of two samples in generative
adversarial networks", arXiv 1712.04086):

* ``ring8``: 8 Gaussians with means ``(cos(2*pi*k/8), sin(2*pi*k/8))`` on the unit circle,
  standard deviation 0.01 (variance 1e-4);
* ``grid25``: 25 Gaussians with means on the grid ``{-4, -2, 0, 2, 4}^2``, standard deviation
  0.05 (variance 0.0025).

Every sample picks its mode uniformly. The points are drawn once, with a ``torch.Generator``
seeded by ``seed``, into a fixed tensor of ``size`` points, so a run is reproducible and the
mode-coverage metrics can read the true centres from ``DataInfo.modes`` / ``DataInfo.sigma``.
"""
from __future__ import annotations

import math

import torch

from .base import DATASETS, DataInfo, Loaded

DEFAULT_SIZE = 100_000
# The test split is an independent draw: same seed, shifted generator stream.
_TEST_SEED_OFFSET = 1_000_000_007


def ring8_modes(radius: float = 1.0) -> torch.Tensor:
    """The 8 ring centres, shape ``(8, 2)``, counter-clockwise from ``(radius, 0)``."""
    angles = torch.arange(8, dtype=torch.float64) * (2.0 * math.pi / 8)
    return (radius * torch.stack([angles.cos(), angles.sin()], dim=1)).float()


def grid25_modes(spacing: float = 2.0) -> torch.Tensor:
    """The 25 grid centres, shape ``(25, 2)``, row-major over ``{-4, -2, 0, 2, 4}^2``."""
    axis = (torch.arange(5, dtype=torch.float32) - 2.0) * spacing
    gx, gy = torch.meshgrid(axis, axis, indexing="ij")
    return torch.stack([gx.reshape(-1), gy.reshape(-1)], dim=1)


def sample_mixture(modes: torch.Tensor, sigma: float, size: int, seed: int) -> torch.Tensor:
    """``size`` points from the isotropic mixture with uniform weights over ``modes``."""
    gen = torch.Generator(device="cpu")
    gen.manual_seed(seed)
    which = torch.randint(modes.shape[0], (size,), generator=gen)
    noise = torch.randn(size, 2, generator=gen)
    return modes[which] + sigma * noise


def _toy(name: str, modes: torch.Tensor, sigma: float, split: str, size, seed: int) -> Loaded:
    n = DEFAULT_SIZE if size is None else size
    stream = seed if split == "train" else seed + _TEST_SEED_OFFSET
    x = sample_mixture(modes, sigma, n, stream)
    info = DataInfo(name=name, kind="points", shape=(2,), num_classes=0, modes=modes, sigma=sigma)
    return x, None, info


@DATASETS.register("ring8")
def ring8(*, split: str = "train", size=None, seed: int = 0, **_ignored) -> Loaded:
    """8 Gaussians on the unit circle, sigma 0.01 (PacGAN, Lin et al. 2018, arXiv 1712.04086)."""
    return _toy("ring8", ring8_modes(), 0.01, split, size, seed)


@DATASETS.register("grid25")
def grid25(*, split: str = "train", size=None, seed: int = 0, **_ignored) -> Loaded:
    """25 Gaussians on {-4,-2,0,2,4}^2, sigma 0.05 (PacGAN, Lin et al. 2018, arXiv 1712.04086)."""
    return _toy("grid25", grid25_modes(), 0.05, split, size, seed)
