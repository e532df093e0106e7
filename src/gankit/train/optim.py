"""Optimisers (Adam, RMSProp, SGD) per group and learning-rate schedules (constant, linear decay)."""
from __future__ import annotations

import torch

from ..config import OptimConfig


def make_optimizer(cfg: OptimConfig, params) -> torch.optim.Optimizer:
    # foreach kernels: one fused launch per group instead of one per parameter
    if cfg.name == "adam":
        return torch.optim.Adam(params, lr=cfg.lr, betas=cfg.betas, eps=cfg.eps, weight_decay=cfg.weight_decay,
                                foreach=True)
    if cfg.name == "rmsprop":
        return torch.optim.RMSprop(params, lr=cfg.lr, alpha=cfg.alpha, eps=cfg.eps, momentum=cfg.momentum,
                                   weight_decay=cfg.weight_decay, foreach=True)
    return torch.optim.SGD(params, lr=cfg.lr, momentum=cfg.momentum, weight_decay=cfg.weight_decay, foreach=True)


def make_scheduler(opt: torch.optim.Optimizer, cfg: OptimConfig, total_steps: int):
    """Stepped once per generator step. ``linear`` decays the rate linearly to 0 at ``total_steps``."""
    if cfg.schedule == "linear":
        return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: max(0.0, 1.0 - s / total_steps))
    return torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0)
