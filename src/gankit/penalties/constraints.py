"""Hard constraints applied to parameters after an optimiser step (not loss terms)."""
from __future__ import annotations

from collections import defaultdict

import torch
from torch import nn


@torch.no_grad()
def clip_weights_(module: nn.Module, c: float) -> None:
    """Weight clipping, Arjovsky et al. 2017, "Wasserstein GAN" (arXiv 1701.07875), Algorithm 1:
    after every critic update, ``w <- clip(w, -c, c)`` for every parameter w of the critic
    (weights, biases and normalisation gains alike; c = 0.01 in the paper).

    Clipping keeps the critic in a compact set of parameters and so, crudely, K-Lipschitz for
    some K depending on c and the architecture. It is a projection, not a penalty: call it after
    ``optimizer.step()``, in place, outside autograd. Parameters already inside ``[-c, c]`` are
    left bit-for-bit unchanged. Implemented with two foreach ops per (device, dtype) group
    (``torch._foreach_clamp_min_`` then ``_foreach_clamp_max_``), falling back to a per-tensor
    ``clamp_`` where those are unavailable.
    """
    c = float(c)
    if not c > 0:
        raise ValueError(f"weight clipping bound c must be > 0, got {c}")
    groups = defaultdict(list)
    for p in module.parameters():
        if p.is_floating_point():
            groups[(p.device, p.dtype)].append(p)
    for params in groups.values():
        try:
            torch._foreach_clamp_min_(params, -c)
            torch._foreach_clamp_max_(params, c)
        except (AttributeError, RuntimeError, NotImplementedError):
            for p in params:
                p.clamp_(-c, c)
