r"""Kernel Inception Distance (KID): unbiased MMD^2 with a polynomial kernel, averaged over subsets.

Reference: M. Bińkowski, D. J. Sutherland, M. Arbel, A. Gretton, "Demystifying MMD GANs",
ICLR 2018, arXiv:1801.01401.

Kernel: ``k(x, y) = (gamma * <x, y> + coef0) ** degree`` with ``gamma = 1 / D`` by default
(``degree = 3``, ``coef0 = 1``: the KID kernel of the paper).

For one subset ``X = {x_1..x_m}`` of the real and ``Y = {y_1..y_m}`` of the fake features,

    MMD^2_u = 1/(m(m-1)) sum_{i != j} k(x_i, x_j) + 1/(m(m-1)) sum_{i != j} k(y_i, y_j)
              - 2/m^2 sum_{i, j} k(x_i, y_j),

the unbiased estimator (the diagonals of the within-set kernel matrices are excluded; the
cross term keeps all ``m^2`` pairs since ``x_i`` and ``y_j`` are independent). It can be slightly
negative when the two distributions are equal.

Protocol: ``subsets`` subsets of size ``m = min(subset_size, N_real, N_fake)`` are drawn without
replacement from each set (``torch.randperm`` with a CPU ``torch.Generator`` seeded by ``seed``:
for each subset, the real indices then the fake indices), so the result does not depend on the
device. Returned are the mean and the population standard deviation (``ddof = 0``, as in the
authors' and torch-fidelity's code) of the ``subsets`` MMD^2 values. Unlike torch-fidelity, a
``subset_size`` larger than the data is reduced to the data size instead of rejected.

Everything is computed in float64 on the device of the features, batched over as many subsets
at a time as fit in about 256 MiB per intermediate tensor.
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch

from ..errors import GankitError
from ._common import as_features, check_pair

__all__ = ["kernel_inception_distance", "mmd2_unbiased_poly"]

#: Elements (float64) one intermediate tensor of a subset chunk may hold (2**25 = 256 MiB).
_CHUNK_ELEMENTS = 1 << 25


def _offdiag_sum(k: torch.Tensor) -> torch.Tensor:
    return k.sum(dim=(-2, -1)) - torch.diagonal(k, dim1=-2, dim2=-1).sum(dim=-1)


def mmd2_unbiased_poly(x: torch.Tensor, y: torch.Tensor, degree: int, gamma: float, coef0: float) -> torch.Tensor:
    """Unbiased MMD^2 of batched equal-size samples ``x``, ``y`` of shape ``(..., m, D)`` -> ``(...)``."""
    m = x.shape[-2]
    kxx = (gamma * (x @ x.transpose(-2, -1)) + coef0) ** degree
    sxx = _offdiag_sum(kxx)
    del kxx
    kyy = (gamma * (y @ y.transpose(-2, -1)) + coef0) ** degree
    syy = _offdiag_sum(kyy)
    del kyy
    kxy = (gamma * (x @ y.transpose(-2, -1)) + coef0) ** degree
    sxy = kxy.sum(dim=(-2, -1))
    return (sxx + syy) / (m * (m - 1)) - 2.0 * sxy / (m * m)


def kernel_inception_distance(real, fake, subsets: int = 100, subset_size: int = 1000, degree: int = 3,
                              gamma: Optional[float] = None, coef0: float = 1.0,
                              seed: int = 0) -> Tuple[float, float]:
    """KID of ``(N, D)`` real and ``(M, D)`` fake features: ``(mean, std)`` of MMD^2 over subsets."""
    r = as_features(real, "real", min_rows=2)
    f = as_features(fake, "fake", min_rows=2)
    check_pair(r, f, "real", "fake")
    if int(subsets) != subsets or subsets < 1:
        raise GankitError(f"KID subsets must be a positive integer; got {subsets}")
    if int(subset_size) != subset_size or subset_size < 2:
        raise GankitError(f"KID subset_size must be an integer >= 2; got {subset_size}")
    if int(degree) != degree or degree < 1:
        raise GankitError(f"KID kernel degree must be a positive integer; got {degree}")
    subsets, degree = int(subsets), int(degree)
    n_r, n_f, d = r.shape[0], f.shape[0], r.shape[1]
    m = min(int(subset_size), n_r, n_f)
    gamma = 1.0 / d if gamma is None else float(gamma)
    coef0 = float(coef0)

    gen = torch.Generator(device="cpu").manual_seed(int(seed))
    idx = torch.empty(subsets, 2, m, dtype=torch.long)
    for s in range(subsets):  # index draws only; the MMD itself is batched below
        idx[s, 0] = torch.randperm(n_r, generator=gen)[:m]
        idx[s, 1] = torch.randperm(n_f, generator=gen)[:m]
    idx = idx.to(r.device)

    chunk = max(1, _CHUNK_ELEMENTS // (m * max(m, d)))
    values = []
    for start in range(0, subsets, chunk):
        sl = idx[start:start + chunk]
        x = r[sl[:, 0]].to(torch.float64)  # (c, m, D)
        y = f[sl[:, 1]].to(torch.float64)
        values.append(mmd2_unbiased_poly(x, y, degree, gamma, coef0))
    mmd = torch.cat(values)
    return float(mmd.mean()), float(mmd.std(correction=0))
