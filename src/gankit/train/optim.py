"""Optimisers (Adam, RMSProp, SGD) per group and learning-rate schedules (constant, linear decay)."""
from __future__ import annotations

from typing import Dict

import torch

from ..config import OptimConfig


def kernel_options(params) -> Dict[str, bool]:
    """How the update runs: fused kernels (one launch for the whole group) when every parameter is on CUDA, else
    the foreach (multi-tensor) implementation, measured faster than per-parameter loops on the CPU."""
    on_cuda = bool(params) and all(p.is_cuda for p in params)
    return {"fused": True} if on_cuda else {"foreach": True}


def make_optimizer(cfg: OptimConfig, params) -> torch.optim.Optimizer:
    params = list(params)
    kw = kernel_options(params)
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay, **kw)
    if cfg.name == "rmsprop":  # no fused RMSprop kernel: foreach
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, **kw)


def make_scheduler(opt: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int):
    """Stepped once per generator step. ``linear`` decays the rate linearly to 0 at ``total_steps``."""
    if cfg.schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / total_steps))
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
