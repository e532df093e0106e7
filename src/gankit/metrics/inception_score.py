r"""Inception Score (IS).

Reference: T. Salimans, I. Goodfellow, W. Zaremba, V. Cheung, A. Radford, X. Chen, "Improved
Techniques for Training GANs", NeurIPS 2016, arXiv:1606.03498.

For the class posteriors ``p(y|x_n)`` of the ``n`` samples of one split and their marginal
``p(y) = (1/n) sum_n p(y|x_n)``,

    IS = exp( (1/n) sum_n KL(p(y|x_n) || p(y)) ),
    KL(p || q) = sum_y p(y) (log p(y) - log q(y))    (terms with p(y) = 0 are 0).

The ``N`` samples are cut into ``splits`` consecutive chunks ``[i N // splits, (i+1) N // splits)``
(the convention of the original code and of torch-fidelity with its shuffling turned off; shuffle
beforehand if the order is not random). Returned are the mean and the population standard
deviation (``ddof = 0``, as ``numpy.std`` in those codes) of the per-split scores.

Computed in float64 on the input's device, batched over splits: ``log p(y|x)`` is
``log_softmax`` of the logits (or the log of the row-normalised probabilities with
``probs=True``), and ``log p(y)`` is a ``logsumexp`` over the split minus ``log n``, so tiny
probabilities neither underflow nor produce ``0 * log 0`` NaNs.
"""
from __future__ import annotations

import math
from typing import Tuple

import torch

from ..errors import GankitError
from ._common import as_tensor

__all__ = ["inception_score"]


def inception_score(logits, splits: int = 10, *, probs: bool = False) -> Tuple[float, float]:
    """IS ``(mean, std)`` over ``splits`` consecutive splits of ``(N, K)`` classifier outputs.

    ``logits`` are unnormalised log-probabilities; with ``probs=True`` they are class probabilities
    instead (non-negative, each row is renormalised to sum to 1)."""
    t = as_tensor(logits, "probs" if probs else "logits")
    name = "probs" if probs else "logits"
    if t.dim() != 2 or t.shape[1] < 1:
        raise GankitError(f"{name} must have shape (N, K); got {tuple(t.shape)}")
    if int(splits) != splits or splits < 1:
        raise GankitError(f"splits must be a positive integer; got {splits}")
    splits = int(splits)
    n = t.shape[0]
    if n < splits:
        raise GankitError(f"inception score needs at least one sample per split: {n} samples for {splits} splits")
    t = t.to(torch.float64)
    if probs:
        if not bool(torch.isfinite(t).all()) or bool((t < 0).any()):
            raise GankitError("probs must be finite and non-negative")
        row = t.sum(dim=1, keepdim=True)
        if bool((row <= 0).any()):
            raise GankitError("every row of probs must have a positive sum")
        logp = torch.log(t / row)
    else:
        if bool(torch.isnan(t).any()) or bool(torch.isposinf(t).any()):
            raise GankitError("logits contain NaN or +Inf values")
        if bool(torch.isneginf(t).all(dim=1).any()):
            raise GankitError("a row of logits is entirely -Inf")
        logp = torch.log_softmax(t, dim=1)

    dev = logp.device
    ids = torch.arange(splits + 1, device=dev)
    bounds = ids * n // splits
    starts, sizes = bounds[:-1], bounds[1:] - bounds[:-1]  # every size >= 1 since n >= splits
    width = int(sizes.max())
    offs = torch.arange(width, device=dev)
    valid = offs[None, :] < sizes[:, None]  # (S, L)
    rows = (starts[:, None] + offs[None, :]).clamp(max=n - 1)
    lp = logp[rows].masked_fill(~valid[..., None], -math.inf)  # (S, L, K)
    log_marg = torch.logsumexp(lp, dim=1) - torch.log(sizes.to(torch.float64))[:, None]  # (S, K)
    p = lp.exp()
    terms = torch.where(p > 0, p * (lp - log_marg[:, None, :]), torch.zeros_like(p))
    kl = terms.sum(dim=2).masked_fill(~valid, 0.0).sum(dim=1) / sizes.to(torch.float64)  # (S,)
    scores = kl.exp()
    return float(scores.mean()), float(scores.std(correction=0))
