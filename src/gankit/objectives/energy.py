"""Energy-based objectives: the discriminator is an auto-encoder and its output is an *energy*,
a per-sample reconstruction error that is low on the data and high elsewhere.

``ebgan`` — Zhao, Mathieu & LeCun 2016, "Energy-based Generative Adversarial Network",
arXiv 1609.03126. With energies e = D(v) >= 0 and a margin m (Sec. 2.1, eqs. 1-2):

* D:  E D(x) + E max(0, m − D(G(z)))
* G:  E D(G(z))   (+ λ_PT · PT(S), the pulling-away term on the encoder codes S of the fake batch,
  Sec. 2.4: PT(S) = 1/(N(N−1)) Σ_{i≠j} (S_iᵀS_j / (‖S_i‖‖S_j‖))², the mean squared cosine
  similarity of distinct pairs; it is 0 for mutually orthogonal codes and 1 for identical ones)

``began`` — Berthelot, Schumm & Metz 2017, "BEGAN: Boundary Equilibrium Generative Adversarial
Networks", arXiv 1703.10717. With L(v) = the per-sample L1 reconstruction error (Sec. 3.4):

* D:  L(x) − k_t · L(G(z))
* G:  L(G(z))
* k_{t+1} = clip(k_t + λ_k (γ L(x) − L(G(z))), 0, 1)        (proportional control of γ = E L(G(z)) / E L(x))
* M = L(x) + |γ L(x) − L(G(z))|                          (global convergence measure, Sec. 3.4.1)

The functions below are pure: they take energies (per-sample tensors or their means) and return
losses. The ``ebgan`` and ``began`` GANs (:mod:`gankit.gans.energy`) compose them, owning the state
(BEGAN's k_t) and the hyper-parameters (``model.margin``, ``model.gamma`` ...).

Two names are registered as objectives so that they are listed and validated like the others:
``ebgan`` with the default margin :data:`EBGAN_MARGIN` (the ``ebgan`` GAN rebuilds it with
``model.margin``), and ``began`` with k fixed at its initial value k_0 = 0 (the ``began`` GAN replaces
that constant by its adaptive k_t). Both expect non-negative energies from D, not logits.
"""
from __future__ import annotations

from typing import Union

import torch.nn.functional as F
from torch import Tensor

from . import register_objective

Number = Union[float, Tensor]

#: Default EBGAN margin for energies measured as the per-element mean squared error of images in
#: [-1, 1] (see ``configs/ebgan.yaml`` for how it relates to the paper's m = 10 on MNIST).
EBGAN_MARGIN = 0.5


# ------------------------------------------------------------------------------- EBGAN
def ebgan_d_loss(e_real: Tensor, e_fake: Tensor, margin: float) -> Tensor:
    """E D(x) + E max(0, m − D(G(z))): pull real energies down, push fake ones up to the margin."""
    return e_real.mean() + F.relu(margin - e_fake).mean()


def ebgan_g_loss(e_fake: Tensor, e_real: Tensor = None) -> Tensor:
    """E D(G(z)): the generator wants low energies for its samples."""
    return e_fake.mean()


def pulling_away_term(codes: Tensor, eps: float = 1e-12) -> Tensor:
    """Zhao et al.'s pulling-away term of a batch of codes ``(N, ...)`` (flattened per sample):
    the mean over ordered pairs i ≠ j of the squared cosine similarity. 0 when N < 2."""
    s = codes.flatten(1)
    n = s.shape[0]
    if n < 2:
        return s.new_zeros(())
    s = s / s.norm(dim=1, keepdim=True).clamp_min(eps)
    sim2 = (s @ s.t()).pow(2)
    return (sim2.sum() - sim2.diagonal().sum()) / (n * (n - 1))


def make_ebgan(margin: float):
    """``(d_loss, g_loss)`` with the objective signature for a fixed margin."""

    def d_loss(e_real, e_fake):
        return ebgan_d_loss(e_real, e_fake, margin)

    d_loss.__doc__ = f"EBGAN D loss with margin {margin}: E D(x) + E max(0, {margin} − D(G(z)))"
    return d_loss, ebgan_g_loss


# ------------------------------------------------------------------------------- BEGAN
def began_d_loss(l_real: Tensor, l_fake: Tensor, k: Number) -> Tensor:
    """E L(x) − k · E L(G(z)) (``k`` a float or a 0-d tensor; it receives no gradient)."""
    return l_real.mean() - k * l_fake.mean()


def began_g_loss(l_fake: Tensor, l_real: Tensor = None) -> Tensor:
    """E L(G(z))."""
    return l_fake.mean()


def began_k_update(k: Number, l_real: Number, l_fake: Number, gamma: float, lambda_k: float) -> Number:
    """k_{t+1} = clip(k_t + λ_k (γ L(x) − L(G(z))), 0, 1), with the batch means of L. Tensor in,
    tensor out (no host synchronisation); plain floats give a float."""
    k_new = k + lambda_k * (gamma * l_real - l_fake)
    if isinstance(k_new, Tensor):
        return k_new.clamp(0.0, 1.0)
    return min(max(k_new, 0.0), 1.0)


def began_convergence(l_real: Number, l_fake: Number, gamma: float) -> Number:
    """M = L(x) + |γ L(x) − L(G(z))|; it falls as G's samples improve and the equilibrium holds."""
    return l_real + abs(gamma * l_real - l_fake)


register_objective("ebgan", *make_ebgan(EBGAN_MARGIN),
                   doc=f"Zhao 2016 energy-based: D E D(x) + E max(0, m − D(G(z))), margin {EBGAN_MARGIN}",
                   needs_energy=True)
register_objective("began", lambda l_real, l_fake: began_d_loss(l_real, l_fake, 0.0), began_g_loss,
                   doc="Berthelot 2017 BEGAN losses at k = 0 (the began GAN supplies its adaptive k_t)",
                   needs_energy=True)
