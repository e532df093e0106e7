"""Minibatch discrimination, Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved
Techniques for Training GANs", arXiv 1606.03498, Sec. 3.2.

D sees each sample together with how close it is to the other samples of its minibatch, so a G that
collapses onto a few outputs gives itself away. With f(x_i) in R^A the features of an intermediate
layer and a learned tensor T in R^{A x B x C}:

    M_i = f(x_i) T                              in R^{B x C}
    c_b(x_i, x_j) = exp(-|| M_{i,b} - M_{j,b} ||_1)
    o(x_i)_b = sum_{j=1}^{n} c_b(x_i, x_j)      in R^B

and the next layer reads ``[f(x_i), o(x_i)]``. The sum runs over the whole minibatch as in the paper,
so it includes j = i, which adds exactly 1 to every o_b (the authors' code leaves that term out; the
next layer's bias absorbs the difference). Real and generated images are scored in separate
minibatches here, as the paper's discriminator sees them.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn


def minibatch_features(m: Tensor) -> Tensor:
    """``o`` ``(n, B)`` from ``M`` ``(n, B, C)``: o_ib = sum_j exp(-sum_c |M_ibc - M_jbc|) (j = i included)."""
    l1 = (m.unsqueeze(0) - m.unsqueeze(1)).abs().sum(3)  # (n, n, B): || M_{i,b} - M_{j,b} ||_1
    return torch.exp(-l1).sum(1)


class MinibatchDiscrimination(nn.Module):
    """``(n, A) -> (n, A + B)``: the input with the B minibatch features appended (``kernels`` = B,
    ``kernel_dim`` = C). T starts N(0, ``init_std``)."""

    def __init__(self, in_features: int, kernels: int = 100, kernel_dim: int = 5, init_std: float = 0.05):
        super().__init__()
        self.in_features, self.kernels, self.kernel_dim = in_features, kernels, kernel_dim
        self.T = nn.Parameter(torch.randn(in_features, kernels * kernel_dim) * init_std)

    @property
    def out_features(self) -> int:
        return self.in_features + self.kernels

    def forward(self, f: Tensor) -> Tensor:
        f = f.flatten(1)
        m = (f @ self.T).view(f.shape[0], self.kernels, self.kernel_dim)
        return torch.cat([f, minibatch_features(m)], 1)

    def extra_repr(self) -> str:
        return f"A={self.in_features}, B={self.kernels}, C={self.kernel_dim}"
