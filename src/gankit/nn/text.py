"""Conditioning on a text embedding: StackGAN's conditioning augmentation and its KL term.

Zhang et al. 2016, "StackGAN: Text to Photo-realistic Image Synthesis with Stacked Generative Adversarial
Networks", arXiv 1612.03242, Sec. 3.1. A text embedding phi_t is high-dimensional and the captions are few, so
instead of feeding phi_t to G it draws a conditioning vector c from N(mu(phi_t), diag sigma(phi_t)^2), with mu and
log sigma^2 from one fully connected layer, and regularises that Gaussian towards N(0, I):

    c = mu + sigma * eps,  eps ~ N(0, I),      L_G += lambda * KL(N(mu, sigma^2) || N(0, I)),   lambda = 1.

eps is an input here, so the GAN can draw it with the rest of its noise (seeded sampling).
"""
from __future__ import annotations

from typing import Tuple

import torch
from torch import Tensor, nn


class ConditioningAugmentation(nn.Module):
    """``(phi (N, embed_dim), eps (N, c_dim)) -> (c, mu, logvar)``, each ``(N, c_dim)``."""

    def __init__(self, embed_dim: int, c_dim: int):
        super().__init__()
        self.c_dim = c_dim
        self.fc = nn.Linear(embed_dim, 2 * c_dim)

    def forward(self, phi: Tensor, eps: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        mu, logvar = self.fc(phi).chunk(2, dim=1)
        return mu + torch.exp(0.5 * logvar) * eps, mu, logvar


def kl_to_standard_normal(mu: Tensor, logvar: Tensor) -> Tensor:
    """KL(N(mu, exp(logvar)) || N(0, I)) = 1/2 sum_j (mu_j^2 + sigma_j^2 - 1 - log sigma_j^2), the mean over the
    batch (summed over the dimensions: the divergence itself)."""
    return 0.5 * (mu.pow(2) + logvar.exp() - 1 - logvar).sum(1).mean()
