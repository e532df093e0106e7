r"""Full-reference image quality: PSNR and SSIM, per image.

Images are ``(N, C, H, W)`` tensors; gankit images live in ``[-1, 1]``, hence the default
``data_range = 2``. Both functions compute in float64 on the input's device and return a float64
tensor of shape ``(N,)``.

PSNR: ``10 log10(R^2 / MSE)`` with ``MSE`` the mean squared difference over ``C, H, W`` and ``R``
the data range. Identical images (``MSE = 0``) give ``+inf``.

SSIM -- Z. Wang, A. C. Bovik, H. R. Sheikh, E. P. Simoncelli, "Image Quality Assessment: From
Error Visibility to Structural Similarity", IEEE Trans. Image Processing 13(4), 2004 (eq. 13):

    SSIM(x, y) = ((2 mu_x mu_y + C1)(2 s_xy + C2)) / ((mu_x^2 + mu_y^2 + C1)(s_x^2 + s_y^2 + C2)),
    C1 = (k1 R)^2,  C2 = (k2 R)^2,  k1 = 0.01, k2 = 0.03,

where the local means, variances and covariance are weighted by a normalised ``window_size x
window_size`` Gaussian window of standard deviation ``sigma`` (11 and 1.5 in the paper), i.e.
``mu_x = w * x`` and ``s_x^2 = w * x^2 - mu_x^2`` (population, not sample, moments). The window is
applied as two separable depthwise ``conv2d`` passes without padding, so the SSIM map covers
only the ``(H - window_size + 1) x (W - window_size + 1)`` positions where the window lies inside
the image; the score of an image is the mean of that map over positions and channels (per-channel
means, then averaged over channels). This matches
``skimage.metrics.structural_similarity(..., gaussian_weights=True, sigma=1.5,
use_sample_covariance=False)``, which filters the whole image with reflected borders but then
averages only over that same valid interior.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ..errors import GankitError
from ._common import as_tensor

__all__ = ["psnr", "ssim", "gaussian_window"]


def _pair(x, y):
    x = as_tensor(x, "x")
    y = as_tensor(y, "y")
    if x.dim() != 4:
        raise GankitError(f"images must have shape (N, C, H, W); got {tuple(x.shape)}")
    if x.shape != y.shape:
        raise GankitError(f"x and y must have the same shape; got {tuple(x.shape)} and {tuple(y.shape)}")
    if x.device != y.device:
        raise GankitError(f"x and y are on different devices: {x.device} vs {y.device}")
    return x.to(torch.float64), y.to(torch.float64)


def _check_range(data_range) -> float:
    r = float(data_range)
    if not (r > 0 and math.isfinite(r)):
        raise GankitError(f"data_range must be a positive number; got {data_range}")
    return r


def psnr(x, y, data_range: float = 2.0) -> torch.Tensor:
    """Peak signal-to-noise ratio in dB of each image pair, ``(N,)``; ``+inf`` where ``x == y``."""
    x, y = _pair(x, y)
    r = _check_range(data_range)
    mse = (x - y).pow(2).flatten(1).mean(dim=1)
    return 10.0 * torch.log10(r * r / mse)


def gaussian_window(window_size: int, sigma: float, dtype=torch.float64, device=None) -> torch.Tensor:
    """Normalised 1-D Gaussian ``exp(-t^2 / (2 sigma^2))``, ``t = -(size-1)/2 .. (size-1)/2``."""
    t = torch.arange(window_size, dtype=dtype, device=device) - (window_size - 1) / 2
    g = torch.exp(-(t * t) / (2.0 * sigma * sigma))
    return g / g.sum()


def ssim(x, y, data_range: float = 2.0, window_size: int = 11, sigma: float = 1.5, k1: float = 0.01,
         k2: float = 0.03) -> torch.Tensor:
    """Mean SSIM of each image pair over the valid interior and the channels, ``(N,)``."""
    x, y = _pair(x, y)
    r = _check_range(data_range)
    if isinstance(window_size, bool) or int(window_size) != window_size or window_size < 1 or window_size % 2 == 0:
        raise GankitError(f"window_size must be a positive odd integer; got {window_size}")
    window_size = int(window_size)
    if not float(sigma) > 0:
        raise GankitError(f"sigma must be positive; got {sigma}")
    n, c, h, w = x.shape
    if h < window_size or w < window_size:
        raise GankitError(f"images of {h}x{w} are smaller than the {window_size}x{window_size} SSIM window")

    g = gaussian_window(window_size, float(sigma), device=x.device)
    stack = torch.cat([x, y, x * x, y * y, x * y], dim=1)  # (N, 5C, H, W)
    ch = stack.shape[1]
    stack = F.conv2d(stack, g.view(1, 1, window_size, 1).expand(ch, 1, window_size, 1), groups=ch)
    stack = F.conv2d(stack, g.view(1, 1, 1, window_size).expand(ch, 1, 1, window_size), groups=ch)
    mu_x, mu_y, e_xx, e_yy, e_xy = stack.split(c, dim=1)
    var_x = e_xx - mu_x * mu_x
    var_y = e_yy - mu_y * mu_y
    cov = e_xy - mu_x * mu_y
    c1 = (float(k1) * r) ** 2
    c2 = (float(k2) * r) ** 2
    smap = ((2 * mu_x * mu_y + c1) * (2 * cov + c2)) / ((mu_x * mu_x + mu_y * mu_y + c1) * (var_x + var_y + c2))
    return smap.mean(dim=(2, 3)).mean(dim=1)
