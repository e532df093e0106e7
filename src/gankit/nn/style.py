"""The style-based generator's layers (Karras, Laine & Aila 2018, "A Style-Based Generator Architecture for
Generative Adversarial Networks", arXiv 1812.04948, Sec. 2):

* **AdaIN**: each feature map is normalised per sample and then scaled and shifted by a style
  y = (y_s, y_b) = A(w), a learned affine map of the intermediate latent w:
  AdaIN(x_i, y) = y_{s,i} (x_i - mu(x_i)) / sigma(x_i) + y_{b,i}. The affine map is initialised so that y_s
  starts at 1 and y_b at 0 (the authors' bias init of 1 for the scales);
* **noise inputs**: per-pixel Gaussian noise, one image per sample, broadcast to all feature maps with a
  learned per-channel scale (initialised to zero);
* **style mixing** (Sec. 3.1): two latents w1, w2 give the per-layer styles, w1 before a crossover layer and
  w2 from it on;
* **truncation in W** (Sec. 3.1 / App. B): w' = w_avg + psi (w - w_avg), applied to the layers before a cutoff.
"""
from __future__ import annotations

from typing import Optional

import torch
from torch import Tensor, nn

from .progressive import EqualizedLinear


class AdaIN(nn.Module):
    """Adaptive instance normalisation of ``channels`` maps by a style computed from ``w`` (``w_dim`` numbers)."""

    def __init__(self, channels: int, w_dim: int, eps: float = 1e-8):
        super().__init__()
        self.affine = EqualizedLinear(w_dim, 2 * channels, gain=1.0)
        with torch.no_grad():  # y_s starts at 1, y_b at 0
            self.affine.bias[:channels] = 1.0
            self.affine.bias[channels:] = 0.0
        self.channels, self.eps = channels, eps

    def style(self, w: Tensor) -> tuple:
        """``(y_s, y_b)``, each (N, channels)."""
        y = self.affine(w)
        return y[:, :self.channels], y[:, self.channels:]

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        mu = x.mean(dim=(2, 3), keepdim=True)
        sigma = (x.var(dim=(2, 3), keepdim=True, unbiased=False) + self.eps).sqrt()
        ys, yb = self.style(w)
        return ys[:, :, None, None] * (x - mu) / sigma + yb[:, :, None, None]


class NoiseInjection(nn.Module):
    """x + s * noise, with noise ~ N(0, 1) of shape (N, 1, H, W) (fresh each call unless given) and s a learned
    per-channel scale starting at 0."""

    def __init__(self, channels: int):
        super().__init__()
        self.scale = nn.Parameter(torch.zeros(channels))

    def forward(self, x: Tensor, noise: Optional[Tensor] = None) -> Tensor:
        if noise is None:
            noise = torch.randn(x.shape[0], 1, x.shape[2], x.shape[3], device=x.device, dtype=x.dtype)
        return x + self.scale.view(1, -1, 1, 1) * noise


def mix_styles(w1: Tensor, w2: Tensor, layers: int, crossover: int) -> Tensor:
    """Per-layer latents ``(N, layers, w_dim)``: w1 for the layers before ``crossover``, w2 from it on."""
    if not 0 <= crossover <= layers:
        raise ValueError(f"crossover {crossover} must lie between 0 and {layers}")
    ws = w1.unsqueeze(1).repeat(1, layers, 1)
    ws[:, crossover:] = w2.unsqueeze(1)
    return ws


def truncate_w(ws: Tensor, w_avg: Tensor, psi: float, cutoff: Optional[int] = None) -> Tensor:
    """w_avg + psi (w - w_avg) for the layers before ``cutoff`` (all layers when None) of ``ws`` (N, layers, w_dim)."""
    out = ws.clone()
    stop = ws.shape[1] if cutoff is None else min(int(cutoff), ws.shape[1])
    out[:, :stop] = w_avg + psi * (ws[:, :stop] - w_avg)
    return out
