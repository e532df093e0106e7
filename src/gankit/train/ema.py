"""Exponential moving average of generator weights (Yazici et al. 2018, arXiv 1806.04498; used
by ProGAN, BigGAN, StyleGAN): theta_ema <- decay * theta_ema + (1 - decay) * theta."""
from __future__ import annotations

from typing import Union

import torch
from torch import nn


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    blend_(ema, model, 1.0 - decay)


@torch.no_grad()
def blend_(target: nn.Module, source: nn.Module, weight: Union[float, torch.Tensor]) -> None:
    """``target``'s parameters moved towards ``source``'s, p <- p + weight (q - p), and its buffers copied;
    ``weight`` a float or a 0-d tensor (computed on the device, e.g. a bias-corrected rate)."""
    t_params, s_params = list(target.parameters()), list(source.parameters())
    if isinstance(weight, torch.Tensor):
        for a, b in zip(t_params, s_params):
            a.lerp_(b, weight.to(a.dtype))
    else:
        torch._foreach_lerp_(t_params, s_params, weight)
    for tb, sb in zip(target.buffers(), source.buffers()):
        tb.copy_(sb)


@torch.no_grad()
def ema_copy(ema: nn.Module, model: nn.Module) -> None:
    for e, m in zip(ema.state_dict().values(), model.state_dict().values()):
        e.copy_(m)
