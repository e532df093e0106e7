"""Objectives: pure functions of discriminator outputs -> scalar losses (DESIGN principle 1).

An :class:`Objective` pairs a discriminator loss ``d_loss(d_real, d_fake)`` with a generator loss
``g_loss(d_fake, d_real)``; both are minimised. ``d_real`` is passed to ``g_loss`` only when the
objective declares ``g_needs_real`` (relativistic losses), so other objectives cost no extra pass.
"""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Callable, Optional

import torch
from torch import Tensor

from ..registry import Registry


@dataclass(frozen=True)
class Objective:
    name: str
    d_loss: Callable[[Tensor, Tensor], Tensor]
    g_loss: Callable[[Tensor, Optional[Tensor]], Tensor]
    g_needs_real: bool = False
    doc: str = ""
    needs_energy: bool = False  # takes auto-encoder energies (EBGAN, BEGAN), not scores of a plain D


OBJECTIVES: Registry[Objective] = Registry("objective")


#: dtypes the losses never compute in
LOW_PRECISION = (torch.bfloat16, torch.float16)


def in_float32(fn: Callable) -> Callable:
    """``fn`` on its tensor arguments upcast to float32: under bf16 autocast (``train.amp``) D's scores arrive in
    bfloat16, and the losses' softplus, log-sum-exp and squares must not be computed at 8 bits of mantissa. Float32
    and float64 arguments are passed as they are."""
    @functools.wraps(fn)
    def wrapped(*args):
        return fn(*[a.float() if isinstance(a, Tensor) and a.dtype in LOW_PRECISION else a for a in args])

    return wrapped


def register_objective(name: str, d_loss, g_loss, *, g_needs_real: bool = False, doc: str = "",
                       needs_energy: bool = False) -> Objective:
    return OBJECTIVES.add(name, Objective(name, in_float32(d_loss), in_float32(g_loss), g_needs_real, doc,
                                          needs_energy))


from . import standard  # noqa: E402,F401  (registers the families)
from . import lsgan, wasserstein, fgan, relativistic  # noqa: E402,F401
from . import energy  # noqa: E402,F401
