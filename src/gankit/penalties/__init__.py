"""Penalties: pure functions adding a weighted term to the discriminator loss (DESIGN principle 1).

A penalty is ``fn(D, real, fake) -> scalar``; a GAN adds ``weight * fn(...)`` for every entry of
``config.penalties`` (``{name: weight}``), so adding a regulariser adds a term, never a branch.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ..registry import Registry

PENALTIES: Registry = Registry("penalty")


def _grad_norm_sq(D, x: Tensor) -> Tensor:
    x = x.detach().requires_grad_(True)
    out = D(x)
    (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
    return g.flatten(1).pow(2).sum(1)


@PENALTIES.register("r1")
def r1(D, real: Tensor, fake: Tensor) -> Tensor:
    """R1, Mescheder et al. 2018 (arXiv 1801.04406): 1/2 E_real ||grad_x D(x)||^2 (weight = gamma)."""
    return 0.5 * _grad_norm_sq(D, real).mean()


@PENALTIES.register("r2")
def r2(D, real: Tensor, fake: Tensor) -> Tensor:
    """R2, Mescheder et al. 2018: 1/2 E_fake ||grad_x D(x)||^2 (weight = gamma)."""
    return 0.5 * _grad_norm_sq(D, fake).mean()


@PENALTIES.register("gp")
def gradient_penalty(D, real: Tensor, fake: Tensor) -> Tensor:
    """WGAN-GP, Gulrajani et al. 2017 (arXiv 1704.00028): E (||grad D(x_hat)||_2 - 1)^2,
    x_hat = eps * real + (1 - eps) * fake with eps ~ U[0, 1] per sample (weight = lambda, 10 in the paper)."""
    eps = torch.rand((real.shape[0],) + (1,) * (real.dim() - 1), device=real.device, dtype=real.dtype)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    return (_grad_norm_sq(D, x_hat).add(1e-12).sqrt() - 1).pow(2).mean()
