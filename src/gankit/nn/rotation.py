"""Rotation prediction, the self-supervised task of SS-GAN: Chen, Zhai, Ritter, Lucic & Houlsby 2019,
"Self-Supervised GANs via Auxiliary Rotation Loss", arXiv 1811.11212, Sec. 3 (after Gidaris et al. 2018).

An image rotated by r in {0, 90, 180, 270} degrees is scored by a 4-way head on D's features; D learns the
rotation of real images, G is rewarded when its images' rotations are recognisable:

    L_D += beta  * E_x    E_r [ -log Q_D(R = r | x^r) ],      (real images, beta = 1)
    L_G += alpha * E_G(z) E_r [ -log Q_D(R = r | G(z)^r) ],   (fakes, alpha = 0.2)

The expectation over r is estimated here with one rotation drawn uniformly per image (the authors' code
rotates every image four times: the same expectation at four times D's cost).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

ROTATIONS = 4


def rotate(x: Tensor, r: Tensor) -> Tensor:
    """Each image ``x[i]`` (N, C, H, W; square) rotated counter-clockwise by ``r[i] * 90`` degrees."""
    if x.shape[-1] != x.shape[-2]:
        raise ValueError(f"rotation needs square images, got {tuple(x.shape[-2:])}")
    every = torch.stack([torch.rot90(x, k, dims=(2, 3)) for k in range(ROTATIONS)])  # (4, N, C, H, W)
    return every[r, torch.arange(x.shape[0], device=x.device)]  # a gather: no host synchronisation


def random_rotations(n: int, device, generator: Optional[torch.Generator] = None) -> Tensor:
    """``n`` rotation labels drawn uniformly from {0, 1, 2, 3}."""
    return torch.randint(0, ROTATIONS, (n,), device=device, generator=generator)


class RotationHead(nn.Module):
    """A linear 4-way head on D's features ``trunk(x)`` (flattened), from the layer factory (SN when D has it)."""

    def __init__(self, feature_dim: int, factory):
        super().__init__()
        self.fc = factory.linear(feature_dim, ROTATIONS)

    def forward(self, h: Tensor) -> Tensor:
        return self.fc(h.flatten(1))


def rotation_loss(D: nn.Module, head: RotationHead, x: Tensor) -> Tuple[Tensor, Tensor]:
    """``(cross-entropy of the rotation head on randomly rotated x, its accuracy)``; D supplies ``trunk``."""
    r = random_rotations(x.shape[0], x.device)
    logits = head(D.trunk(rotate(x, r))).float()
    return F.cross_entropy(logits, r), (logits.argmax(1) == r).float().mean()


def add_rotation_term(loss: Tensor, logs: dict, D: nn.Module, head: RotationHead, x: Tensor, weight: float,
                      side: str) -> Tensor:
    """``loss + weight * rotation_loss(D, head, x)``, logging ``rot_<side>`` and the head's accuracy
    (``side``: ``d`` for D's step on real images, ``g`` for G's on fakes); ``loss`` unchanged when ``weight`` is 0."""
    if not weight:
        return loss
    rot, acc = rotation_loss(D, head, x)
    logs[f"rot_{side}"] = rot.detach()
    logs["rot_acc_real" if side == "d" else "rot_acc_fake"] = acc
    return loss + weight * rot
