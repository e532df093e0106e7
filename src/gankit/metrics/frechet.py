r"""Fréchet distance between Gaussians fitted to features (FID).

Reference: M. Heusel, H. Ramsauer, T. Unterthiner, B. Nessler, S. Hochreiter, "GANs Trained by a
Two Time-Scale Update Rule Converge to a Local Nash Equilibrium", NeurIPS 2017, arXiv:1706.08500.

With ``mu_i`` the feature means and ``S_i`` the (unbiased, ``N - 1``) feature covariances,

    d^2 = ||mu_1 - mu_2||^2 + tr(S_1) + tr(S_2) - 2 tr((S_1 S_2)^{1/2}).

How the trace term is computed (float64 throughout, on the device of the inputs):
``S_1 S_2`` is similar to the symmetric positive semi-definite matrix
``M = S_1^{1/2} S_2 S_1^{1/2}`` (for PSD ``S_1``, ``S_2``), so

    tr((S_1 S_2)^{1/2}) = sum_k sqrt(lambda_k(M)).

``S_1^{1/2}`` comes from ``torch.linalg.eigh`` of the symmetrised ``S_1`` with its eigenvalues
clamped at 0, and the eigenvalues of the symmetrised ``M`` from ``torch.linalg.eigvalsh``. No
complex square root is ever taken, so rank-deficient covariances (fewer samples than features,
duplicated or constant/dead feature columns) give a finite, real result. Eigenvalues of ``M``
below ``D * eps * lambda_max(M)`` -- the usual numerical-rank cut-off (``eps`` of float64) -- are
indistinguishable from round-off and are set to 0 before the square root; otherwise every null
direction of a rank-deficient ``M`` would add a spurious ``sqrt(eps) * ||M||^{1/2}``.

The result is clamped at 0 only when it is negative by round-off (at most ``1e-6`` of the scale
``||mu_1 - mu_2||^2 + tr S_1 + tr S_2``); a clearly negative value means the "covariances" are not
positive semi-definite and raises :class:`~gankit.errors.GankitError` (so does a covariance with a
clearly negative diagonal entry).

Inputs may be torch tensors or numpy arrays (converted with ``torch.as_tensor``).
"""
from __future__ import annotations

from typing import Tuple

import torch

from ..errors import GankitError
from ._common import as_features, as_tensor, check_pair

__all__ = ["feature_statistics", "frechet_distance", "fid_from_features"]

#: Relative size of a negative result that is still treated as round-off and clamped to 0.
NEGATIVE_ROUNDOFF_RTOL = 1e-6


def feature_statistics(features) -> Tuple[torch.Tensor, torch.Tensor]:
    """Mean ``(D,)`` and unbiased covariance ``(D, D)`` (divisor ``N - 1``) of ``(N, D)`` features,
    in float64 on the input's device. Needs ``N >= 2``."""
    f = as_features(features, "features", min_rows=2).to(torch.float64)
    mu = f.mean(dim=0)
    centred = f - mu
    sigma = centred.T @ centred / (f.shape[0] - 1)
    return mu, sigma


def _sqrt_psd(s: torch.Tensor) -> torch.Tensor:
    """Symmetric square root of a symmetric matrix, negative eigenvalues clamped to 0."""
    w, v = torch.linalg.eigh(s)
    return (v * w.clamp(min=0).sqrt()) @ v.T


def _check_stats(mu, sigma, name: str) -> Tuple[torch.Tensor, torch.Tensor]:
    mu = as_tensor(mu, f"mu{name}")
    sigma = as_tensor(sigma, f"sigma{name}")
    if mu.dim() != 1:
        raise GankitError(f"mu{name} must have shape (D,); got {tuple(mu.shape)}")
    d = mu.shape[0]
    if d < 1:
        raise GankitError(f"mu{name} is empty")
    if tuple(sigma.shape) != (d, d):
        raise GankitError(f"sigma{name} must have shape ({d}, {d}) to match mu{name}; got {tuple(sigma.shape)}")
    mu = mu.to(torch.float64)
    sigma = sigma.to(device=mu.device, dtype=torch.float64)
    if not (bool(torch.isfinite(mu).all()) and bool(torch.isfinite(sigma).all())):
        raise GankitError(f"mu{name}/sigma{name} contain NaN or Inf values")
    diag = torch.diagonal(sigma)
    if bool((diag < -NEGATIVE_ROUNDOFF_RTOL * diag.abs().max()).any()):
        raise GankitError(f"sigma{name} has negative variances on its diagonal: not a covariance matrix")
    return mu, sigma


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Squared Fréchet distance between ``N(mu1, sigma1)`` and ``N(mu2, sigma2)`` (see module doc).

    Computed in float64 on ``mu1``'s device; returns a Python float."""
    mu1, sigma1 = _check_stats(mu1, sigma1, "1")
    mu2, sigma2 = _check_stats(mu2, sigma2, "2")
    if mu1.shape != mu2.shape:
        raise GankitError(f"statistics have different feature dimensions: {mu1.shape[0]} vs {mu2.shape[0]}")
    dev = mu1.device
    mu2, sigma1, sigma2 = mu2.to(dev), sigma1.to(dev), sigma2.to(dev)

    s1 = 0.5 * (sigma1 + sigma1.T)
    s2 = 0.5 * (sigma2 + sigma2.T)
    root1 = _sqrt_psd(s1)
    m = root1 @ s2 @ root1
    m = 0.5 * (m + m.T)
    ev = torch.linalg.eigvalsh(m)
    cutoff = ev.abs().max() * m.shape[0] * torch.finfo(torch.float64).eps
    ev = torch.where(ev > cutoff, ev, torch.zeros_like(ev))
    tr_covmean = ev.sqrt().sum()

    diff = mu1 - mu2
    mean_term = diff @ diff
    trace_term = torch.diagonal(s1).sum() + torch.diagonal(s2).sum()
    fid = float(mean_term + trace_term - 2.0 * tr_covmean)
    if fid < 0.0:
        scale = float(mean_term + trace_term.abs())
        if fid < -NEGATIVE_ROUNDOFF_RTOL * max(scale, 1e-300):
            raise GankitError(f"Fréchet distance is negative ({fid:.6g}): the covariances are not positive semi-definite")
        fid = 0.0
    return fid


def fid_from_features(real, fake) -> float:
    """:func:`frechet_distance` of the statistics of two ``(N, D)`` feature sets (``N >= 2`` each)."""
    r = as_features(real, "real", min_rows=2)
    f = as_features(fake, "fake", min_rows=2)
    check_pair(r, f, "real", "fake")
    mu1, s1 = feature_statistics(r)
    mu2, s2 = feature_statistics(f)
    return frechet_distance(mu1, s1, mu2, s2)
