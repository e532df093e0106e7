"""The Laplacian pyramid of an image batch, the data representation of LAPGAN (Denton, Chintala, Szlam & Fergus
2015, "Deep Generative Image Models using a Laplacian Pyramid of Adversarial Networks", arXiv 1506.05751, Sec. 3.1).

With d(.) a 2x downsampling and u(.) a 2x upsampling, the Gaussian pyramid is I_0 = I, I_{k+1} = d(I_k), and the
Laplacian pyramid keeps the coarsest image and the residual of every finer level:

    h_k = I_k - u(I_{k+1})   (k = 0 .. K-1),      h_K = I_K.

Reconstruction runs the other way, I_k = u(I_{k+1}) + h_k, and gives the image back exactly (up to float
rounding), whatever d and u are: the residuals hold whatever the coarse level misses. Here d is 2x2 average
pooling and u is bilinear upsampling (``align_corners=False``), so a level of size 28 is followed by 14 and 7, of
32 by 16 and 8; a level with an odd side cannot be halved and is refused.
"""
from __future__ import annotations

from typing import List, Sequence

import torch.nn.functional as F
from torch import Tensor


def downsample(x: Tensor) -> Tensor:
    """d(.): 2x2 average pooling of an (N, C, H, W) batch with even H and W."""
    if x.shape[-1] % 2 or x.shape[-2] % 2:
        raise ValueError(f"cannot halve an image of {x.shape[-2]}x{x.shape[-1]}: its sides must be even")
    return F.avg_pool2d(x, 2)


def upsample(x: Tensor) -> Tensor:
    """u(.): bilinear 2x upsampling (``align_corners=False``)."""
    return F.interpolate(x, scale_factor=2, mode="bilinear", align_corners=False)


def enlarge(x: Tensor, side: int) -> Tensor:
    """Images enlarged (nearest neighbour, so each pixel becomes a block) to ``side`` x ``side`` and clamped to
    [-1, 1]: how the multi-scale GANs show an image of a coarser level at the data's resolution."""
    if x.shape[-1] != side or x.shape[-2] != side:
        x = F.interpolate(x, size=(side, side), mode="nearest")
    return x.clamp(-1.0, 1.0)


def pyramid_sizes(size: int, levels: int) -> List[int]:
    """The side of each level, finest first: ``pyramid_sizes(28, 3) == [28, 14, 7]``; refuses odd sides."""
    sizes = [int(size)]
    for _ in range(levels - 1):
        if sizes[-1] % 2:
            raise ValueError(f"a {levels}-level pyramid of {size}x{size} images needs even sides down to the "
                             f"coarsest level, but {sizes[-1]} is odd")
        sizes.append(sizes[-1] // 2)
    return sizes


def gaussian_pyramid(x: Tensor, levels: int) -> List[Tensor]:
    """``[I_0, I_1, ..., I_K]`` (finest first; ``levels`` = K + 1 entries): I_0 = x, I_{k+1} = d(I_k)."""
    if levels < 1:
        raise ValueError(f"a pyramid has at least one level, got {levels}")
    pyramid_sizes(x.shape[-1], levels)  # the sides must halve
    out = [x]
    for _ in range(levels - 1):
        out.append(downsample(out[-1]))
    return out


def laplacian_pyramid(x: Tensor, levels: int) -> List[Tensor]:
    """``[h_0, h_1, ..., h_{K-1}, I_K]`` (finest first; ``levels`` = K + 1 entries): the residuals of the finer
    levels, h_k = I_k - u(I_{k+1}), and the coarsest image."""
    gauss = gaussian_pyramid(x, levels)
    return [gauss[k] - upsample(gauss[k + 1]) for k in range(levels - 1)] + [gauss[-1]]


def reconstruct(pyramid: Sequence[Tensor]) -> Tensor:
    """The image from its Laplacian pyramid ``[h_0, ..., h_{K-1}, I_K]``: I_k = u(I_{k+1}) + h_k."""
    image = pyramid[-1]
    for residual in reversed(pyramid[:-1]):
        image = upsample(image) + residual
    return image
