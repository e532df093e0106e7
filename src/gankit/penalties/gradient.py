"""Gradient penalties: functions of ``grad_x D(x)`` at points built from the batch.

Every one has the penalty signature ``fn(D, real, fake) -> scalar`` and works for any input shape
(2-D points ``(N, d)`` or images ``(N, C, H, W)``): gradients are flattened per sample before the
norm is taken.
"""
from __future__ import annotations

import torch
from torch import Tensor

from ._registry import PENALTIES


#: the penalties built on each sample's own gradient ``grad_x D(x)``: they are wrong through a layer
#: that mixes the samples of a batch (batch norm), see :func:`gankit.gans.base.GAN.check_per_sample`
PER_SAMPLE = frozenset({"r1", "r2", "gp", "dragan"})


def _grad_norm_sq(D, x: Tensor) -> Tensor:
    """Per-sample ``||grad_x D(x)||_2^2``, kept in the graph so the penalty trains D. Computed in float32 even under
    bf16 autocast (``train.amp``): the penalty's forward and its double backward run with autocast off, so the
    gradient's norm (and its distance to 1 for WGAN-GP) keeps full precision."""
    x = x.detach()
    x = (x.float() if x.dtype in (torch.bfloat16, torch.float16) else x).requires_grad_(True)
    with torch.autocast(x.device.type, enabled=False):
        out = D(x)
        (g,) = torch.autograd.grad(out.sum(), x, create_graph=True)
        return g.flatten(1).pow(2).sum(1)


def _per_sample(shape, like: Tensor) -> Tensor:
    """U[0, 1] draws of shape ``(N, 1, ..., 1)``, broadcasting over one sample."""
    return torch.rand((shape[0],) + (1,) * (len(shape) - 1), device=like.device, dtype=like.dtype)


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
    eps = _per_sample(real.shape, real)
    x_hat = eps * real.detach() + (1 - eps) * fake.detach()
    return (_grad_norm_sq(D, x_hat).add(1e-12).sqrt() - 1).pow(2).mean()


def dragan_points(real: Tensor, scale: float = 0.5, interpolate: bool = True) -> Tensor:
    """The points where DRAGAN measures the gradient (see :func:`dragan`).

    Draws, in this order, ``u ~ U[0, 1]`` per element and (if ``interpolate``) ``alpha ~ U[0, 1]``
    per sample, and returns ``x + alpha * scale * std(x) * u`` (``alpha = 1`` without
    interpolation). ``std(x)`` is the population standard deviation (no Bessel correction) of
    every element of the real batch, as numpy's ``minibatch.std()`` in the authors' code.
    """
    x = real.detach()
    noise = scale * x.std(correction=0) * torch.rand_like(x)
    if interpolate:
        noise = _per_sample(x.shape, x) * noise
    return x + noise


@PENALTIES.register("dragan")
def dragan(D, real: Tensor, fake: Tensor) -> Tensor:
    """DRAGAN, Kodali et al. 2017, "On Convergence and Stability of GANs" (arXiv 1705.07215).

    A local gradient penalty around the real data:

        E_{x ~ P_real} (||grad_x D(x_hat)||_2 - 1)^2,
        x_hat = x + alpha * delta,  delta = 0.5 * std(x) * u,
        u ~ U[0, 1]^d per element,  alpha ~ U[0, 1] per sample.

    The paper states the perturbation as Gaussian, delta ~ N(0, cI); the authors' released code
    (``get_perturbed_batch`` in their notebook, also used by later re-implementations) instead
    forms ``x_p = x + 0.5 * x.std() * U[0, 1]`` with the std taken over the whole minibatch and
    then penalises the gradient at ``x + alpha * (x_p - x)``. We follow that code, interpolation
    included (:func:`dragan_points` with ``interpolate=False`` gives the plain ``x + delta``).
    Note the noise is one-sided (u >= 0), exactly as in the code. ``fake`` is unused.
    Weight lambda = 10 in the paper.
    """
    x_hat = dragan_points(real)
    return (_grad_norm_sq(D, x_hat).add(1e-12).sqrt() - 1).pow(2).mean()
