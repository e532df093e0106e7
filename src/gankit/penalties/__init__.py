"""Penalties: pure functions adding a weighted term to the discriminator loss (DESIGN principle 1).

A penalty is ``fn(D, real, fake) -> scalar``; a GAN adds ``weight * fn(...)`` for every entry of
``config.penalties`` (``{name: weight}``), so adding a regulariser adds a term, never a branch.

Registered names (``gankit list`` shows them):

* gradient penalties (:mod:`.gradient`): ``r1``, ``r2``, ``gp``, ``dragan``;
* weight penalties (:mod:`.weights`): ``sn-reg``, ``orthogonal``.

Historical averaging (Salimans et al. 2016) needs the running sum of past parameters, so it is a module with
state rather than a registered function: :class:`.historical.HistoricalAverage`.

Hard constraints are not loss terms: weight clipping (:func:`.constraints.clip_weights_`) is
applied by a GAN's ``after_step`` hook. Spectral *normalisation* is a layer option
(``LayerFactory(sn=True)``); see :mod:`gankit.nn.spectral` for its diagnostics.
"""
from __future__ import annotations

from ._registry import PENALTIES
from .constraints import clip_weights_
from .historical import HistoricalAverage
from .gradient import PER_SAMPLE, _grad_norm_sq, dragan, gradient_penalty, r1, r2
from .weights import layer_sigmas, orthogonal, orthogonal_penalty, sn_reg, sn_reg_penalty, weight_matrices

__all__ = [
    "PENALTIES", "PER_SAMPLE", "r1", "r2", "gradient_penalty", "dragan", "sn_reg", "sn_reg_penalty", "layer_sigmas",
    "orthogonal", "orthogonal_penalty", "weight_matrices", "clip_weights_", "HistoricalAverage",
]
