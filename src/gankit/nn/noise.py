"""Additive Gaussian noise as a regulariser, in training mode only: the noise layers of the Improved-GAN
semi-supervised discriminator (Salimans et al. 2016, arXiv 1606.03498, Sec. 5 and the authors' MNIST nets:
std 0.3 on the input and 0.5 before every later layer)."""
from __future__ import annotations

import torch
from torch import Tensor, nn


def gaussian_noise(x: Tensor, std: float, training: bool) -> Tensor:
    """``x + std * N(0, I)`` when ``training`` and ``std > 0``, else ``x`` unchanged."""
    return x + std * torch.randn_like(x) if training and std > 0 else x


class GaussianNoise(nn.Module):
    """Adds N(0, std^2) noise to its input in training mode; the identity in eval mode."""

    def __init__(self, std: float):
        super().__init__()
        self.std = float(std)

    def forward(self, x: Tensor) -> Tensor:
        return gaussian_noise(x, self.std, self.training)

    def extra_repr(self) -> str:
        return f"std={self.std}"
