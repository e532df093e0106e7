"""Feature matching, Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved Techniques for
Training GANs", arXiv 1606.03498, Sec. 3.1.

Instead of maximising D's output, G matches the expected value of D's features f(x) on an intermediate layer:
``|| E_x f(x) - E_z f(G(z)) ||_2^2``, with D trained as usual. A pure function of D's features, used by the
semi-supervised GAN's G (:mod:`gankit.gans.conditional.semisupervised`) and available to any GAN whose D
exposes its features (``trunk``).
"""
from __future__ import annotations

from typing import Optional

from torch import Tensor


def feature_matching_loss(f_real: Tensor, f_fake: Tensor, rows: Optional[Tensor] = None) -> Tensor:
    """Salimans et al. 2016 (arXiv 1606.03498, Sec. 3.1): ``|| mean f(x) - mean f(G(z)) ||_2^2``, summed over the
    features; ``f_real`` (N, F) and ``f_fake`` (M, F) flattened features, ``rows`` (N,) bool the real rows to
    average (None: all)."""
    f_real, f_fake = f_real.float().flatten(1), f_fake.float().flatten(1)
    if rows is None:
        mean_real = f_real.mean(0)
    else:
        w = rows.to(f_real.dtype)
        mean_real = (f_real * w[:, None]).sum(0) / w.sum().clamp(min=1.0)
    return (mean_real - f_fake.mean(0)).pow(2).sum()
