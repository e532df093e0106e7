"""f-GAN, Nowozin, Cseke & Tomioka 2016, "f-GAN: Training Generative Neural Samplers using
Variational Divergence Minimization", arXiv 1606.00709.

For a convex f with f(1) = 0 the f-divergence D_f(P‖Q) = ∫ q f(p/q) has the variational lower bound
(Nguyen et al. 2010; f-GAN eq. 4)

    D_f(P‖Q) ≥ sup_T  E_P[T(x)] − E_Q[f*(T(x))],    f*(t) = sup_u { u t − f(u) },

tight at T*(x) = f'(p(x)/q(x)). The network outputs an unconstrained v(x); an output activation
g_f maps it into the domain of f*, T = g_f(v) (Table 2). The losses (both minimised) are

* D:  −( E_P[g_f(v_real)] − E_Q[f*(g_f(v_fake))] )
* G:  −E_Q[g_f(v_fake)]   (the "practical" generator of Sec. 3.2, maximising E_Q[T] as the
                           non-saturating GAN loss does)

Divergences (name: g_f(v); f*(t); f(u)), following Tables 1 and 2 of the paper:

==============  ======================  ==============================  ===========================
``tv``          ½ tanh v                t   (|t| ≤ ½)                    ½ |u − 1|
``kl``          v                       exp(t − 1)                      u log u
``reverse-kl``  −exp(−v)                −1 − log(−t)                    −log u
``pearson``     v                       t²/4 + t                        (u − 1)²
``neyman``      1 − exp(−v)             2 − 2 √(1 − t)                  (1 − u)² / u
``hellinger``   1 − exp(−v)             t / (1 − t)                     (√u − 1)²   (squared Hellinger)
``jeffrey``     v                       W(e^{1−t}) + 1/W(e^{1−t}) + t − 2   (u − 1) log u
``js``          log 2 − log(1 + e^{−v})  −log(2 − e^t)                  −(u + 1) log((1 + u)/2) + u log u
``gan``         −log(1 + e^{−v})        −log(1 − e^t)                   u log u − (u + 1) log(u + 1)
==============  ======================  ==============================  ===========================

Note on ``js``: the paper's generator f gives D_f = 2·JSD(P‖Q) with the usual
JSD = ½KL(P‖M) + ½KL(Q‖M), M = (P + Q)/2, although its Table 1 writes the divergence with the ½.
We follow the table's f, g_f and f* (which are mutually consistent), so the ``js`` bound is 2·JSD.
``gan`` gives D_f = 2·JSD − log 4, the Goodfellow et al. value; ``fgan-gan`` therefore coincides
with ``nonsaturating``.

W is the principal branch of the Lambert W function, implemented below with Halley iterations.
For numerical stability the D loss uses a closed form of f*(g_f(v)) per divergence (e.g.
``softplus(v)`` for ``gan``, ``e^v − 1`` for ``hellinger``); each equals the literal composition.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable, Dict, Optional

import torch
import torch.nn.functional as F
from torch import Tensor

from . import register_objective

LOG2 = math.log(2.0)
_INV_E = math.exp(-1.0)


# ---------------------------------------------------------------------------- Lambert W
def _halley_direct(z: Tensor, w: Tensor, iters: int = 8) -> Tensor:
    """Halley's method on w·e^w − z = 0 (used for −1/e ≤ z ≤ e, where e^w cannot overflow)."""
    for _ in range(iters):
        ew = torch.exp(w)
        f = w * ew - z
        wp1 = w + 1.0
        step = f / (ew * wp1 - (w + 2.0) * f / (2.0 * wp1))
        w = w - torch.where(torch.isfinite(step), step, torch.zeros_like(step))
    return w


def _halley_log(x: Tensor, iters: int = 6) -> Tensor:
    """Solve w + log w = x for x ≥ 1, i.e. w = W(e^x), without ever forming e^x."""
    lx = torch.log(x)
    w = x - lx + lx / x  # asymptotic expansion of W(e^x)
    for _ in range(iters):
        g = w + torch.log(w) - x
        g1 = 1.0 + 1.0 / w
        g2 = -1.0 / (w * w)
        w = w - 2.0 * g * g1 / (2.0 * g1 * g1 - g * g2)
    return w


def _direct_initial(z: Tensor) -> Tensor:
    # near the branch point: series in p = sqrt(2(ez + 1)) (Corless et al. 1996, eq. 4.22)
    p = torch.sqrt(torch.clamp(2.0 * (math.e * z + 1.0), min=0.0))
    near_branch = -1.0 + p - p * p / 3.0 + (11.0 / 72.0) * p ** 3
    # elsewhere: Winitzki's approximation, W(z) ≈ L (1 − log(1 + L)/(2 + L)), L = log(1 + z)
    L = torch.log1p(torch.clamp(z, min=-0.25))
    winitzki = L * (1.0 - torch.log1p(L) / (2.0 + L))
    return torch.where(z < -0.25, near_branch, winitzki)


def _lambert_w_value(z: Tensor) -> Tensor:
    big = z > math.e
    z_small = torch.where(big, torch.zeros_like(z), z)
    w_small = _halley_direct(z_small, _direct_initial(z_small))
    x_big = torch.log(torch.where(big, z, torch.full_like(z, math.e)))
    w_big = _halley_log(x_big)
    w = torch.where(big, w_big, w_small)
    w = torch.where(torch.isposinf(z), z, w)
    invalid = z < -_INV_E - 1e-16
    return torch.where(invalid, torch.full_like(w, float("nan")), w)


def _wright_omega_value(x: Tensor) -> Tensor:
    big = x > 1.0
    x_small = torch.where(big, torch.zeros_like(x), x)
    z = torch.exp(x_small)
    w_small = _halley_direct(z, _direct_initial(z))
    w_big = _halley_log(torch.where(big, x, torch.ones_like(x)))
    w = torch.where(big, w_big, w_small)
    return torch.where(torch.isposinf(x), x, w)


class _LambertW(torch.autograd.Function):
    @staticmethod
    def forward(ctx, z):
        w = _lambert_w_value(z)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * torch.exp(-w) / (1.0 + w)  # dW/dz = 1 / (e^W (1 + W))


class _WrightOmega(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x):
        w = _wright_omega_value(x)
        ctx.save_for_backward(w)
        return w

    @staticmethod
    def backward(ctx, grad):
        (w,) = ctx.saved_tensors
        return grad * w / (1.0 + w)  # dω/dx = ω / (1 + ω)


def lambert_w(z: Tensor) -> Tensor:
    """Principal branch W₀ of the Lambert W function (w e^w = z) for real z ≥ −1/e; NaN below.

    Halley iterations from a branch-point series (z < −1/4), Winitzki's approximation
    (−1/4 ≤ z ≤ e) or, for z > e, the log form w + log w = log z (no overflow up to float max).
    Differentiable: dW/dz = 1/(e^W (1 + W)), infinite at the branch point.
    """
    return _LambertW.apply(z)


def wright_omega(x: Tensor) -> Tensor:
    """ω(x) = W₀(e^x) for real x, computed without forming e^x (solves ω + log ω = x)."""
    return _WrightOmega.apply(x)


# ---------------------------------------------------------------------------- divergences
@dataclass(frozen=True)
class FDivergence:
    """One row of f-GAN Tables 1–2.

    ``activation`` g_f maps R into dom f*; ``conjugate`` is the Fenchel conjugate f*; ``f`` and
    ``f_prime`` are the generator function and its derivative (for u = p/q > 0);
    ``conjugate_of_activation`` is a numerically stable closed form of f*(g_f(v)).
    """

    name: str
    activation: Callable[[Tensor], Tensor]
    conjugate: Callable[[Tensor], Tensor]
    f: Callable[[Tensor], Tensor]
    f_prime: Callable[[Tensor], Tensor]
    conjugate_of_activation: Optional[Callable[[Tensor], Tensor]] = None

    def fake_term(self, v: Tensor) -> Tensor:
        """f*(g_f(v)), per sample."""
        if self.conjugate_of_activation is not None:
            return self.conjugate_of_activation(v)
        return self.conjugate(self.activation(v))


def _inf_outside(mask: Tensor, value: Tensor) -> Tensor:
    return torch.where(mask, value, torch.full_like(value, float("inf")))


def _jeffrey_conjugate(t: Tensor) -> Tensor:
    w = wright_omega(1.0 - t)  # W(e^{1−t})
    return w + 1.0 / w + t - 2.0


F_DIVERGENCES: Dict[str, FDivergence] = {}


def _add(div: FDivergence) -> FDivergence:
    F_DIVERGENCES[div.name] = div
    return div


_add(FDivergence(
    "tv",
    activation=lambda v: 0.5 * torch.tanh(v),
    conjugate=lambda t: _inf_outside(t.abs() <= 0.5, t),
    f=lambda u: 0.5 * (u - 1.0).abs(),
    f_prime=lambda u: 0.5 * torch.sign(u - 1.0),
    conjugate_of_activation=lambda v: 0.5 * torch.tanh(v),
))
_add(FDivergence(
    "kl",
    activation=lambda v: v,
    conjugate=lambda t: torch.exp(t - 1.0),
    f=lambda u: torch.xlogy(u, u),
    f_prime=lambda u: torch.log(u) + 1.0,
    conjugate_of_activation=lambda v: torch.exp(v - 1.0),
))
_add(FDivergence(
    "reverse-kl",
    activation=lambda v: -torch.exp(-v),
    conjugate=lambda t: -1.0 - torch.log(-t),
    f=lambda u: -torch.log(u),
    f_prime=lambda u: -1.0 / u,
    conjugate_of_activation=lambda v: v - 1.0,  # −1 − log(e^{−v})
))
_add(FDivergence(
    "pearson",
    activation=lambda v: v,
    conjugate=lambda t: 0.25 * t * t + t,
    f=lambda u: (u - 1.0) ** 2,
    f_prime=lambda u: 2.0 * (u - 1.0),
    conjugate_of_activation=lambda v: 0.25 * v * v + v,
))
_add(FDivergence(
    "neyman",
    activation=lambda v: -torch.expm1(-v),
    conjugate=lambda t: 2.0 - 2.0 * torch.sqrt(1.0 - t),
    f=lambda u: (1.0 - u) ** 2 / u,
    f_prime=lambda u: 1.0 - 1.0 / (u * u),
    conjugate_of_activation=lambda v: 2.0 - 2.0 * torch.exp(-0.5 * v),  # √(1 − t) = e^{−v/2}
))
_add(FDivergence(
    "hellinger",
    activation=lambda v: -torch.expm1(-v),
    conjugate=lambda t: _inf_outside(t < 1.0, t / (1.0 - t)),
    f=lambda u: (torch.sqrt(u) - 1.0) ** 2,
    f_prime=lambda u: 1.0 - 1.0 / torch.sqrt(u),
    conjugate_of_activation=torch.expm1,  # (1 − e^{−v}) / e^{−v} = e^v − 1
))
_add(FDivergence(
    "jeffrey",
    activation=lambda v: v,
    conjugate=_jeffrey_conjugate,
    f=lambda u: (u - 1.0) * torch.log(u),
    f_prime=lambda u: torch.log(u) + 1.0 - 1.0 / u,
    conjugate_of_activation=_jeffrey_conjugate,
))
_add(FDivergence(
    "js",
    activation=lambda v: LOG2 - F.softplus(-v),
    conjugate=lambda t: -torch.log(2.0 - torch.exp(t)),
    f=lambda u: -(u + 1.0) * torch.log((1.0 + u) / 2.0) + torch.xlogy(u, u),
    f_prime=lambda u: LOG2 + torch.log(u) - torch.log1p(u),
    conjugate_of_activation=lambda v: F.softplus(v) - LOG2,  # 2 − 2σ(v) = 2σ(−v)
))
_add(FDivergence(
    "gan",
    activation=lambda v: -F.softplus(-v),
    conjugate=lambda t: -torch.log(-torch.expm1(t)),
    f=lambda u: torch.xlogy(u, u) - (u + 1.0) * torch.log1p(u),
    f_prime=lambda u: torch.log(u) - torch.log1p(u),
    conjugate_of_activation=F.softplus,  # 1 − σ(v) = σ(−v)
))


# ---------------------------------------------------------------------------- objectives
def make_fgan(div: FDivergence):
    """Return ``(d_loss, g_loss)`` for the f-GAN objective of ``div``."""

    def d_loss(d_real, d_fake):
        return div.fake_term(d_fake).mean() - div.activation(d_real).mean()

    def g_loss(d_fake, d_real=None):
        return -div.activation(d_fake).mean()

    d_loss.__doc__ = f"f-GAN ({div.name}) D loss, −(E_P g_f(v) − E_Q f*(g_f(v)))"
    g_loss.__doc__ = f"f-GAN ({div.name}) G loss, −E_Q g_f(v)"
    return d_loss, g_loss


for _name, _div in F_DIVERGENCES.items():
    register_objective(f"fgan-{_name}", *make_fgan(_div), doc=f"Nowozin 2016 f-GAN, {_name} divergence")
del _name, _div
