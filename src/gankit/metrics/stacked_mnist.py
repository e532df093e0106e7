r"""Mode counting for the stacked-MNIST protocol (1000 modes).

References:

* L. Metz, B. Poole, D. Pfau, J. Sohl-Dickstein, "Unrolled Generative Adversarial Networks",
  ICLR 2017, arXiv:1611.02163;
* A. Srivastava, L. Valkov, C. Russell, M. U. Gutmann, C. Sutton, "VEEGAN: Reducing Mode Collapse
  in GANs using Implicit Variational Learning", NeurIPS 2017, arXiv:1705.07761;
* Z. Lin, A. Khetan, G. Fanti, S. Oh, "PacGAN: The power of two samples in generative adversarial
  networks", NeurIPS 2018, arXiv:1712.04086.

A stacked-MNIST sample is three MNIST digits stacked as colour channels; a pretrained classifier
labels each channel, giving digits ``(d0, d1, d2)``. This module is the counting part only (the
classification is done elsewhere):

    mode id   = 100 d0 + 10 d1 + d2                          (0 .. 999)
    modes     = #{ mode : count(mode) >= 1 }
    p_gen     = count / N                                     (histogram over the 1000 modes)
    kl        = KL(p_gen || uniform) = sum_m p_gen(m) log(p_gen(m) / (1/1000))
              = log 1000 + sum_m p_gen(m) log p_gen(m),        with 0 log 0 = 0,

computed in float64; it lies in ``[0, log 1000]``. This is the "reverse KL" of the papers: the
generated distribution comes first.
"""
from __future__ import annotations

import math

import torch

from ..errors import GankitError
from ._common import as_tensor

__all__ = ["stacked_mnist_modes", "NUM_MODES"]

NUM_MODES = 1000


def stacked_mnist_modes(digits) -> dict:
    """``dict(modes, kl, num_samples)`` of ``(N, 3)`` integer digit labels in ``0..9``."""
    t = as_tensor(digits, "digits")
    if t.dim() != 2 or t.shape[1] != 3:
        raise GankitError(f"digits must have shape (N, 3); got {tuple(t.shape)}")
    if t.shape[0] < 1:
        raise GankitError("digits is empty")
    if t.is_floating_point() or t.is_complex() or t.dtype == torch.bool:
        raise GankitError(f"digits must be an integer tensor; got dtype {t.dtype}")
    t = t.to(torch.long)
    if bool(((t < 0) | (t > 9)).any()):
        raise GankitError("digits must lie in 0..9")
    ids = t[:, 0] * 100 + t[:, 1] * 10 + t[:, 2]
    counts = torch.bincount(ids, minlength=NUM_MODES)
    n = t.shape[0]
    p = counts.to(torch.float64) / n
    kl = float(torch.xlogy(p, p).sum()) + math.log(NUM_MODES)
    return {"modes": int((counts > 0).sum()), "kl": max(kl, 0.0), "num_samples": int(n)}
