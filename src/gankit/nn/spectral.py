"""Spectral normalisation diagnostics.

Spectral normalisation (Miyato et al. 2018, "Spectral Normalization for Generative Adversarial
Networks", arXiv 1802.05957) is a layer option in gankit: ``LayerFactory(sn=True)`` wraps each
weight layer with :func:`torch.nn.utils.parametrizations.spectral_norm`, which replaces the
weight by ``W_SN = W / sigma_hat(W)``, sigma_hat = u^T W v estimated by one power-iteration step
per training-mode forward with a persistent u (15 steps when the layer is wrapped). Architectures
expose it as the model setting ``d_sn: true``.

What is normalised is the weight *reshaped to a matrix* ``(out, -1)`` -- ``(out, in*k*k)`` for a
convolution, with the output dimension moved first for a transposed convolution -- exactly as in
Miyato et al. This is not the spectral norm of the convolution viewed as a linear operator on
images, which can be larger (by up to a factor of about k for a k x k kernel); SN as published
bounds the former, and so do these helpers report the former.
"""
from __future__ import annotations

from typing import Dict, Iterator, Optional, Tuple

import torch
from torch import Tensor, nn
from torch.nn.utils import parametrize

try:  # the parametrisation class of torch.nn.utils.parametrizations.spectral_norm
    from torch.nn.utils.parametrizations import _SpectralNorm
except ImportError:  # pragma: no cover - renamed in some future torch
    _SpectralNorm = None

__all__ = ["largest_singular_value", "spectral_norms", "sn_layers", "normalised_weight"]


def _as_matrix(weight: Tensor, dim: int = 0) -> Tensor:
    w = weight.movedim(dim, 0) if dim != 0 else weight
    return w.reshape(w.shape[0], -1)


def largest_singular_value(weight: Tensor, dim: int = 0) -> float:
    """Exact largest singular value sigma_1 of ``weight`` viewed as the matrix ``(out, -1)``,
    ``dim`` being the output dimension (1 for transposed convolutions), computed with
    :func:`torch.linalg.svdvals` in float64 on a detached copy."""
    m = _as_matrix(weight.detach(), dim).to(torch.float64)
    return float(torch.linalg.svdvals(m)[0])


def _is_sn(p: nn.Module) -> bool:
    if _SpectralNorm is not None and isinstance(p, _SpectralNorm):
        return True
    return all(hasattr(p, a) for a in ("_u", "_v", "dim", "n_power_iterations"))


def _sn_dim(m: nn.Module) -> Optional[int]:
    """The output dim of ``m``'s spectrally normalised weight, or None if ``m`` has no SN."""
    if parametrize.is_parametrized(m, "weight"):
        for p in m.parametrizations.weight:
            if _is_sn(p):
                return int(p.dim)
    for hook in m._forward_pre_hooks.values():  # legacy torch.nn.utils.spectral_norm
        if type(hook).__name__ == "SpectralNorm" and getattr(hook, "name", None) == "weight":
            return int(hook.dim)
    return None


def sn_layers(module: nn.Module) -> Iterator[Tuple[str, nn.Module, int]]:
    """``(name, layer, dim)`` for every spectrally normalised layer inside ``module``
    (``name`` is ``""`` when ``module`` itself is one)."""
    for name, m in module.named_modules():
        dim = _sn_dim(m)
        if dim is not None:
            yield name, m, dim


@torch.no_grad()
def refresh_power_iteration(module: nn.Module, iterations: int = 100) -> None:
    """Re-estimate u and v of every spectrally normalised layer in ``module`` for its *current*
    weight. Needed after re-initialising weights that are already wrapped (e.g. DCGAN's N(0, 0.02)
    init after the layer factory applied SN): otherwise the stored vectors belong to the old
    weight and the first forward passes divide by a wrong sigma (Miyato et al. 2018 keep u
    from step to step on the assumption that W changes slowly)."""
    for _, m, _ in sn_layers(module):
        if parametrize.is_parametrized(m, "weight"):
            original = m.parametrizations.weight.original
            if original.is_meta:  # built on the meta device (parameter counts): no values to iterate on
                continue
            for p in m.parametrizations.weight:
                if _SpectralNorm is not None and isinstance(p, _SpectralNorm):
                    p._power_method(p._reshape_weight_to_matrix(original), iterations)


@torch.no_grad()
def normalised_weight(layer: nn.Module) -> Tensor:
    """The weight ``layer`` currently uses, W / sigma_hat, *without* advancing its power iteration
    (the parametrisation is evaluated in eval mode, which reuses the stored u and v)."""
    if parametrize.is_parametrized(layer, "weight"):
        plist = layer.parametrizations.weight
        modes = [(m, m.training) for m in plist.modules()]
        plist.eval()
        try:
            return layer.weight.detach().clone()
        finally:
            for m, mode in modes:
                m.training = mode
    # legacy hook-based SN: weight_orig / (u^T W v) with the stored u, v
    dim = _sn_dim(layer)
    w = layer.weight_orig
    u, v = layer.weight_u, layer.weight_v
    sigma = torch.dot(u, _as_matrix(w, dim) @ v)
    return (w / sigma).detach().clone()


def spectral_norms(module: nn.Module) -> Dict[str, float]:
    """``{layer name: sigma_1}``: the exact largest singular value of the effective, normalised
    weight (reshaped ``(out, -1)``) of every spectrally normalised layer in ``module``.

    After the power iteration has converged every value is 1 (up to the estimate's error); a value
    well away from 1 means u has not converged yet (e.g. just after initialisation with few
    training-mode forwards) or the weight changes faster than one step per update can track.
    Reading the values changes no state.
    """
    return {name: largest_singular_value(normalised_weight(m), dim) for name, m, dim in sn_layers(module)}
