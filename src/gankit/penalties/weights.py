"""Weight penalties: functions of D's weight matrices rather than of its input gradients.

They keep the penalty signature ``fn(D, real, fake)`` (the batch is ignored) so that they are
configured like any other penalty; each also has a ``module``-only form usable on G.

Which tensors are "weight matrices": every parameter of the module with two or more dimensions
(linear, convolution and embedding weights; biases and normalisation gains are excluded), viewed
as a matrix with one row per output unit -- ``W.reshape(out, -1)``, i.e. ``(out, in*k*k)`` for a
convolution. Transposed convolutions store their weight as ``(in, out, k, k)``; their output
dimension is moved to the front first (as PyTorch's spectral norm does with ``dim=1``). For a
layer wrapped in a parametrisation (e.g. spectral normalisation) the raw trainable tensor
(``parametrizations.weight.original``) is the one penalised, since that is what the optimiser
updates.
"""
from __future__ import annotations

from contextlib import nullcontext
from typing import Iterator, List, Tuple

import torch
from torch import Tensor, nn
from torch.utils.weak import WeakIdKeyDictionary

from ._registry import PENALTIES

_TRANSPOSED = (nn.ConvTranspose1d, nn.ConvTranspose2d, nn.ConvTranspose3d)


def _out_first_ids(module: nn.Module) -> set:
    """ids of the weight tensors whose output dimension is dim 1 (transposed convolutions)."""
    ids = set()
    for m in module.modules():
        if isinstance(m, _TRANSPOSED):
            plist = getattr(getattr(m, "parametrizations", None), "weight", None)
            w = getattr(plist, "original", None) if plist is not None else m.weight
            if w is not None:
                ids.add(id(w))
    return ids


def weight_matrices(module: nn.Module) -> Iterator[Tuple[str, nn.Parameter, Tensor]]:
    """``(name, parameter, matrix)`` for every weight of ``module`` with at least 2 dims, the
    matrix having one row per output unit (a differentiable view of the parameter)."""
    transposed = _out_first_ids(module)
    for name, p in module.named_parameters():
        if p.dim() < 2:
            continue
        w = p.movedim(1, 0) if id(p) in transposed else p
        yield name, p, w.reshape(w.shape[0], -1)


def _full_precision(module: nn.Module):
    """Autocast off (weight penalties need full-precision products; cheap anyway)."""
    p = next(module.parameters(), None)
    device = p.device.type if p is not None else "cpu"
    try:
        return torch.autocast(device, enabled=False)
    except RuntimeError:  # a device type autocast does not know
        return nullcontext()


def _work_dtype(w: Tensor) -> torch.dtype:
    return torch.float32 if w.dtype in (torch.float16, torch.bfloat16) else w.dtype


# --------------------------------------------------------------------- spectral-norm regulariser
# Persistent left singular vector estimate per weight tensor. Keyed weakly by the parameter's
# identity: the state dies with the parameter, is never saved in checkpoints (so adding the
# penalty does not change the state_dict) and is rebuilt, with a warm start, after a resume.
# (So a resumed run's sn-reg values differ slightly from an uninterrupted run's for a few steps.)
_U: WeakIdKeyDictionary = WeakIdKeyDictionary()
_WARM_START_ITERS = 15  # as torch.nn.utils.parametrizations.spectral_norm does on registration


def _normalize(x: Tensor, eps: float = 1e-12) -> Tensor:
    return x / x.norm().clamp_min(eps)


@torch.no_grad()
def _power_step(W: Tensor, u: Tensor, n: int) -> Tuple[Tensor, Tensor]:
    for _ in range(max(n, 1)):
        v = _normalize(W.t() @ u)
        u = _normalize(W @ v)
    return u, v


def layer_sigmas(module: nn.Module, n_power_iterations: int = 1) -> List[Tuple[str, Tensor]]:
    """Power-iteration estimates ``sigma = u^T W v`` of every weight matrix's largest singular value.

    Each call advances the persistent ``u`` of every matrix by ``n_power_iterations`` steps
    ``v <- W^T u / ||W^T u||, u <- W v / ||W v||`` (15 steps the first time a parameter is seen),
    without gradient, and returns ``sigma = u^T W v`` differentiable in W with ``u, v`` held
    constant, so ``d sigma / d W = u v^T``.
    """
    out = []
    with _full_precision(module):
        for name, p, W in weight_matrices(module):
            W = W.to(_work_dtype(W))
            u = _U.get(p)
            fresh = u is None or u.shape[0] != W.shape[0]
            if fresh:  # a private generator: starting the estimate never shifts the global RNG
                g = torch.Generator().manual_seed(W.shape[0] * 7919 + W.shape[1])
                u = _normalize(torch.randn(W.shape[0], generator=g, dtype=W.dtype).to(W.device))
            elif u.device != W.device or u.dtype != W.dtype:
                u = u.to(device=W.device, dtype=W.dtype)
            u, v = _power_step(W.detach(), u, _WARM_START_ITERS if fresh else n_power_iterations)
            _U[p] = u
            out.append((name, torch.dot(u, W @ v)))
    return out


def sn_reg_penalty(module: nn.Module, n_power_iterations: int = 1) -> Tensor:
    """Yoshida & Miyato 2017 spectral-norm regulariser of ``module``: 1/2 sum_l sigma(W_l)^2
    (see :func:`sn_reg`)."""
    sigmas = [s for _, s in layer_sigmas(module, n_power_iterations)]
    if not sigmas:
        p = next(module.parameters(), None)
        return torch.zeros((), device=p.device if p is not None else None)
    return 0.5 * torch.stack([s.pow(2) for s in sigmas]).sum()


@PENALTIES.register("sn-reg")
def sn_reg(D, real: Tensor, fake: Tensor) -> Tensor:
    """Spectral-norm regularisation, Yoshida & Miyato 2017, "Spectral Norm Regularization for
    Improving the Generalizability of Deep Learning" (arXiv 1705.10941).

        R(D) = 1/2 * sum_l sigma(W_l)^2,

    sigma(W) the largest singular value of each weight matrix ``W.reshape(out, -1)``, estimated by
    one power-iteration step per call with a persistent vector u per layer, then
    sigma = u^T W v with u, v treated as constants. Its gradient is therefore
    d R / d W_l = sigma_l u_l v_l^T, the paper's update (weight decay acting only on the top
    singular direction). Weight lambda (the paper's regularisation factor). The batch is unused.
    Unlike spectral *normalisation* (``d_sn``), this only discourages large sigma; it does not
    fix it to 1.
    """
    return sn_reg_penalty(D)


# --------------------------------------------------------------------- orthogonal regularisation
def orthogonal_penalty(module: nn.Module) -> Tensor:
    """BigGAN's orthogonal regulariser of ``module``: sum_l ||W_l W_l^T * (1 - I)||_F^2
    (see :func:`orthogonal`). Usable on G: ``loss_g = loss_g + beta * orthogonal_penalty(G)``."""
    terms = []
    with _full_precision(module):
        for _, _, W in weight_matrices(module):
            W = W.to(_work_dtype(W))
            gram = W @ W.t()
            off = gram - torch.diag_embed(torch.diagonal(gram))
            terms.append(off.pow(2).sum())
    if not terms:
        p = next(module.parameters(), None)
        return torch.zeros((), device=p.device if p is not None else None)
    return torch.stack(terms).sum()


@PENALTIES.register("orthogonal")
def orthogonal(D, real: Tensor, fake: Tensor) -> Tensor:
    """Orthogonal regularisation as modified in BigGAN, Brock et al. 2018, "Large Scale GAN
    Training for High Fidelity Natural Image Synthesis" (arXiv 1809.11096), eq. 3:

        R_beta(W) = beta * || W^T W * (1 - I) ||_F^2     (summed over layers, beta = 1e-4)

    i.e. only the off-diagonal entries of the filters' Gram matrix are penalised: filters are
    pushed to be mutually orthogonal while their norms are left free (the original orthogonal
    regulariser ||W^T W - I||_F^2 also fixes the norms to 1).

    Convention: the paper's W^T W is the Gram matrix of the *filters*. The authors' code (the
    ``ortho`` function of their BigGAN-PyTorch utilities) views each weight as
    ``W = param.view(out, -1)`` (rows are filters) and uses ``W W^T``; we do the same, so the Gram
    matrix is ``out x out``. Their code does not build the loss but adds the gradient
    ``2 * (W W^T * (1 - I)) W`` by hand, which is the gradient of *half* the squared norm; the
    exact derivative of the formula above is ``4 * (W W^T * (1 - I)) W``. We implement the
    formula as written, so weight 1e-4 here is twice as strong as ``strength=1e-4`` in that
    code; use 5e-5 to reproduce the code's update. BigGAN applies it to G; here it is
    registered for D (``fn(D, real, fake)``, batch unused) and :func:`orthogonal_penalty` serves G.
    """
    return orthogonal_penalty(D)
