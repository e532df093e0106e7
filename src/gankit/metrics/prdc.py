r"""k-nearest-neighbour manifold metrics: precision / recall and density / coverage.

References:

* Improved precision and recall -- T. Kynkäänniemi, T. Karras, S. Laine, J. Lehtinen, T. Aila,
  "Improved Precision and Recall Metric for Assessing Generative Models", NeurIPS 2019,
  arXiv:1904.06991.
* Density and coverage -- M. F. Naeem, S. J. Oh, Y. Uh, Y. Choi, J. Yoo, "Reliable Fidelity and
  Diversity Metrics for Generative Models", ICML 2020, arXiv:2002.09797.

Notation: real features ``X_1..X_N``, fake features ``Y_1..Y_M``, Euclidean distance ``d``.
``NND_k(X_i)`` is the distance from ``X_i`` to its k-th nearest neighbour among the *other* real
points (the point itself, at distance 0, is excluded by index, so exact duplicates elsewhere in
the set still count as neighbours at distance 0); ``B(c, r)`` is the closed ball ``d(., c) <= r``.

    precision = (1/M) sum_j 1[ exists i: Y_j in B(X_i, NND_k(X_i)) ]
    recall    = (1/N) sum_i 1[ exists j: X_i in B(Y_j, NND_k(Y_j)) ]     (fake manifold, same k)
    density   = 1/(k M) sum_j sum_i 1[ Y_j in B(X_i, NND_k(X_i)) ]
    coverage  = (1/N) sum_i 1[ exists j: Y_j in B(X_i, NND_k(X_i)) ]

Defaults follow the papers: ``k = 3`` for precision/recall, ``k = 5`` for density/coverage.
(Naeem et al.'s reference code tests ``d < r`` rather than ``d <= r``; the two differ only on
exact ties.)

Implementation: squared distances ``||a||^2 + ||b||^2 - 2 a.b`` (clamped at 0) in float32, in
row chunks of at most about 2**26 entries (256 MiB) so 10k x 10k sets at D = 2048 stay memory
bounded, and compared with squared radii (same ordering as the distances). Both sets are first
translated by the mean of the real features (distances are translation invariant); without that
the float32 expansion loses all precision on features with a large common offset (e.g. features
around 1e3 with unit spread). Everything runs on the device of the features.
"""
from __future__ import annotations

from typing import Dict, Optional

import torch

from ..errors import GankitError
from ._common import as_features, check_pair

__all__ = ["precision_recall", "density_coverage", "prdc", "knn_radii"]

#: Entries one float32 distance chunk may hold (2**26 = 256 MiB).
_CHUNK_ELEMENTS = 1 << 26


def _check_k(k, name: str) -> int:
    if isinstance(k, bool) or int(k) != k or k < 1:
        raise GankitError(f"{name} must be a positive integer; got {k}")
    return int(k)


def _rows_per_chunk(width: int, chunk_size: Optional[int]) -> int:
    if chunk_size is not None:
        if int(chunk_size) != chunk_size or chunk_size < 1:
            raise GankitError(f"chunk_size must be a positive integer; got {chunk_size}")
        return int(chunk_size)
    return max(1, _CHUNK_ELEMENTS // max(1, width))


def _sq_dists(a: torch.Tensor, b: torch.Tensor, b_sq: torch.Tensor) -> torch.Tensor:
    d = (a * a).sum(dim=1)[:, None] + b_sq[None, :] - 2.0 * (a @ b.T)
    return d.clamp_(min=0.0)


def _knn_sq_radii(x: torch.Tensor, x_sq: torch.Tensor, k: int, rows: int) -> torch.Tensor:
    """``(N, k)``: squared distances to the 1st..k-th nearest other point, ascending."""
    n = x.shape[0]
    out = torch.empty(n, k, dtype=x.dtype, device=x.device)
    for s in range(0, n, rows):
        e = min(s + rows, n)
        d = _sq_dists(x[s:e], x, x_sq)
        r = torch.arange(e - s, device=x.device)
        d[r, r + s] = float("inf")  # exclude the point itself
        out[s:e] = d.topk(k, dim=1, largest=False, sorted=True).values
    return out


def _prepare(real, fake):
    r = as_features(real, "real")
    f = as_features(fake, "fake")
    check_pair(r, f, "real", "fake")
    shift = r.to(torch.float64).mean(dim=0)
    r = (r.to(torch.float64) - shift).to(torch.float32)
    f = (f.to(torch.float64) - shift).to(torch.float32)
    return r, f


def _need_neighbours(n: int, k: int, name: str, kname: str) -> None:
    if n <= k:
        raise GankitError(f"{name} needs more than {kname}={k} samples for its k-NN radii; got {n}")


def knn_radii(features, k: int, chunk_size: Optional[int] = None) -> torch.Tensor:
    """``NND_k`` of every row of ``(N, D)`` features (distance to the k-th nearest other row), float32."""
    k = _check_k(k, "k")
    x = as_features(features, "features")
    _need_neighbours(x.shape[0], k, "features", "k")
    x = (x.to(torch.float64) - x.to(torch.float64).mean(dim=0)).to(torch.float32)
    rows = _rows_per_chunk(x.shape[0], chunk_size)
    return _knn_sq_radii(x, (x * x).sum(dim=1), k, rows)[:, k - 1].sqrt()


def real_knn_sq_radii(real, k: int, chunk_size: Optional[int] = None) -> torch.Tensor:
    """``(N, k)`` squared distances of every real feature to its 1st..k-th nearest other real feature,
    in the same centred float32 frame as :func:`prdc` uses. Pass them back as ``real_sq_radii`` to
    score many generated sets against one reference without recomputing the N x N neighbours."""
    k = _check_k(k, "k")
    r = as_features(real, "real")
    _need_neighbours(r.shape[0], k, "real", "k")
    r = (r.to(torch.float64) - r.to(torch.float64).mean(dim=0)).to(torch.float32)
    return _knn_sq_radii(r, (r * r).sum(dim=1), k, _rows_per_chunk(r.shape[0], chunk_size))


def _core(r: torch.Tensor, f: torch.Tensor, k_pr: Optional[int], k_dc: Optional[int],
          chunk_size: Optional[int], real_sq_radii: Optional[torch.Tensor] = None) -> Dict[str, float]:
    n, m = r.shape[0], f.shape[0]
    dev = r.device
    rows = _rows_per_chunk(max(n, m), chunk_size)
    r_sq = (r * r).sum(dim=1)
    f_sq = (f * f).sum(dim=1)
    k_max = max(k for k in (k_pr, k_dc) if k is not None)
    if real_sq_radii is not None and real_sq_radii.shape == (n, real_sq_radii.shape[1]) \
            and real_sq_radii.shape[1] >= k_max:
        real_radii = real_sq_radii.to(device=dev, dtype=r.dtype)  # precomputed for this reference
    else:
        real_radii = _knn_sq_radii(r, r_sq, k_max, rows)  # shared by precision and density/coverage
    if k_pr is not None:
        rad_pr = real_radii[:, k_pr - 1]
        fake_rad = _knn_sq_radii(f, f_sq, k_pr, rows)[:, k_pr - 1]
        prec_count = torch.zeros((), dtype=torch.long, device=dev)
        recalled = torch.zeros(n, dtype=torch.bool, device=dev)
    if k_dc is not None:
        rad_dc = real_radii[:, k_dc - 1]
        dens_count = torch.zeros((), dtype=torch.long, device=dev)
        covered = torch.zeros(n, dtype=torch.bool, device=dev)
    for s in range(0, m, rows):
        e = min(s + rows, m)
        d = _sq_dists(f[s:e], r, r_sq)  # (fake chunk, N)
        if k_pr is not None:
            prec_count += (d <= rad_pr[None, :]).any(dim=1).sum()
            recalled |= (d <= fake_rad[s:e, None]).any(dim=0)
        if k_dc is not None:
            inside = d <= rad_dc[None, :]
            dens_count += inside.sum()
            covered |= inside.any(dim=0)
    out: Dict[str, float] = {}
    if k_pr is not None:
        out["precision"] = int(prec_count) / m
        out["recall"] = int(recalled.sum()) / n
    if k_dc is not None:
        out["density"] = int(dens_count) / (k_dc * m)
        out["coverage"] = int(covered.sum()) / n
    return out


def precision_recall(real, fake, k: int = 3, *, chunk_size: Optional[int] = None) -> Dict[str, float]:
    """Improved precision and recall (Kynkäänniemi et al. 2019) of ``(N, D)`` real vs ``(M, D)`` fake."""
    k = _check_k(k, "k")
    r, f = _prepare(real, fake)
    _need_neighbours(r.shape[0], k, "real", "k")
    _need_neighbours(f.shape[0], k, "fake", "k")
    return _core(r, f, k, None, chunk_size)


def density_coverage(real, fake, k: int = 5, *, chunk_size: Optional[int] = None) -> Dict[str, float]:
    """Density and coverage (Naeem et al. 2020) of ``(N, D)`` real vs ``(M, D)`` fake features."""
    k = _check_k(k, "k")
    r, f = _prepare(real, fake)
    _need_neighbours(r.shape[0], k, "real", "k")
    return _core(r, f, None, k, chunk_size)


def prdc(real, fake, k_pr: int = 3, k_dc: int = 5, *, chunk_size: Optional[int] = None,
         real_sq_radii: Optional[torch.Tensor] = None) -> Dict[str, float]:
    """Precision, recall (``k_pr``), density and coverage (``k_dc``) in one pass; the real-real k-NN
    radii are computed once for both ``k``."""
    k_pr = _check_k(k_pr, "k_pr")
    k_dc = _check_k(k_dc, "k_dc")
    r, f = _prepare(real, fake)
    _need_neighbours(r.shape[0], max(k_pr, k_dc), "real", "k_pr/k_dc")
    _need_neighbours(f.shape[0], k_pr, "fake", "k_pr")
    return _core(r, f, k_pr, k_dc, chunk_size, real_sq_radii)
