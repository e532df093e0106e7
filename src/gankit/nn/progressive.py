"""The layers of progressive growing (Karras, Aila, Laine & Lehtinen 2017, "Progressive Growing of GANs for
Improved Quality, Stability, and Variation", arXiv 1710.10196), which StyleGAN reuses:

* **equalised learning rate** (Sec. 4.1): weights drawn N(0, 1) and scaled at run time by the He constant
  c = gain / sqrt(fan_in), so that Adam's per-parameter step sizes act alike on every layer;
  ``lr_mul`` (StyleGAN's mapping network, Karras et al. 2018, arXiv 1812.04948, App. C) also divides the
  stored weights and multiplies the run-time scale and the bias;
* **pixel-wise feature normalisation** (Sec. 4.2): b_{x,y} = a_{x,y} / sqrt(mean_j (a^j_{x,y})^2 + eps);
* **minibatch standard deviation** (Sec. 3): the standard deviation of every feature at every position over
  a group of samples, averaged into one number per group, appended as one constant feature map;
* **fade-in** (Sec. 2, Fig. 2): while a new block is added, its output is blended with the upsampled output
  of the net without it, (1 - alpha) u(old) + alpha new, alpha going from 0 to 1.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class EqualizedLinear(nn.Module):
    """y = x (c W)^T + lr_mul b with W ~ N(0, 1/lr_mul^2) stored and c = lr_mul * gain / sqrt(fan_in)."""

    def __init__(self, cin: int, cout: int, bias: bool = True, gain: float = math.sqrt(2.0), lr_mul: float = 1.0,
                 bias_init: float = 0.0):
        super().__init__()
        self.in_features, self.out_features = cin, cout
        self.weight = nn.Parameter(torch.randn(cout, cin) / lr_mul)
        self.bias = nn.Parameter(torch.full((cout,), float(bias_init) / lr_mul)) if bias else None
        self.scale = lr_mul * gain / math.sqrt(cin)
        self.lr_mul = lr_mul

    def effective_weight(self) -> Tensor:
        return self.weight * self.scale

    def forward(self, x: Tensor) -> Tensor:
        b = self.bias * self.lr_mul if self.bias is not None else None
        return F.linear(x, self.effective_weight(), b)

    def extra_repr(self) -> str:
        return f"{self.in_features}, {self.out_features}, scale={self.scale:.4g}, lr_mul={self.lr_mul}"


class EqualizedConv2d(nn.Module):
    """A convolution with the equalised learning rate: W ~ N(0, 1) stored, c W used, c = gain / sqrt(cin k^2)."""

    def __init__(self, cin: int, cout: int, k: int, padding: int = 0, bias: bool = True, gain: float = math.sqrt(2.0)):
        super().__init__()
        self.weight = nn.Parameter(torch.randn(cout, cin, k, k))
        self.bias = nn.Parameter(torch.zeros(cout)) if bias else None
        self.scale = gain / math.sqrt(cin * k * k)
        self.padding = padding

    def effective_weight(self) -> Tensor:
        return self.weight * self.scale

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, self.effective_weight(), self.bias, padding=self.padding)

    def extra_repr(self) -> str:
        o, i, k, _ = self.weight.shape
        return f"{i}, {o}, k={k}, padding={self.padding}, scale={self.scale:.4g}"


class PixelNorm(nn.Module):
    """Each pixel's feature vector scaled to unit root-mean-square over the channels (Karras et al. 2017, Sec. 4.2)."""

    def __init__(self, eps: float = 1e-8):
        super().__init__()
        self.eps = eps

    def forward(self, x: Tensor) -> Tensor:
        return x * torch.rsqrt(x.pow(2).mean(dim=1, keepdim=True) + self.eps)


class MinibatchStdDev(nn.Module):
    """Appends one feature map: for each group of ``group_size`` samples (the batch is split into consecutive
    groups when it divides; otherwise the whole batch is one group), the standard deviation (biased, over the
    group, + eps under the root) of every feature at every position, averaged over features and positions, the
    same value for every sample of the group and every pixel (Karras et al. 2017, Sec. 3)."""

    def __init__(self, group_size: int = 4, eps: float = 1e-8):
        super().__init__()
        self.group_size, self.eps = int(group_size), eps

    def forward(self, x: Tensor) -> Tensor:
        n, c, h, w = x.shape
        g = self.group_size if 0 < self.group_size <= n and n % self.group_size == 0 else n
        y = x.reshape(g, n // g, c, h, w)                       # sample i is in group i % (n // g)
        y = (y.var(dim=0, unbiased=False) + self.eps).sqrt()    # (n // g, c, h, w)
        y = y.mean(dim=(1, 2, 3))                               # one number per group
        y = y.repeat(g).view(n, 1, 1, 1).expand(n, 1, h, w)
        return torch.cat([x, y], dim=1)


def fade_in(alpha, old: Tensor, new: Tensor) -> Tensor:
    """(1 - alpha) old + alpha new, alpha in [0, 1] (a float or a 0-d tensor, e.g. a buffer kept on the device)."""
    return old + (new - old) * alpha
