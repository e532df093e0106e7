"""Exponential moving average of generator weights (Yazici et al. 2018, arXiv 1806.04498; used
by ProGAN, BigGAN, StyleGAN): theta_ema <- decay * theta_ema + (1 - decay) * theta."""
from __future__ import annotations

import torch
from torch import nn


@torch.no_grad()
def ema_update(ema: nn.Module, model: nn.Module, decay: float) -> None:
    e_params = list(ema.parameters())
    m_params = list(model.parameters())
    torch._foreach_lerp_(e_params, m_params, 1.0 - decay)
    for eb, mb in zip(ema.buffers(), model.buffers()):
        eb.copy_(mb)


@torch.no_grad()
def ema_copy(ema: nn.Module, model: nn.Module) -> None:
    for e, m in zip(ema.state_dict().values(), model.state_dict().values()):
        e.copy_(m)
