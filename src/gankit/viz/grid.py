"""Image grids written as PNG with Pillow (no torchvision needed)."""
from __future__ import annotations

import io
import math
from typing import Optional

import torch

from ..io import atomic_write_bytes

__all__ = ["make_image_grid", "save_image_grid"]


def make_image_grid(images: torch.Tensor, nrow: Optional[int] = None, padding: int = 2) -> torch.Tensor:
    """Tile ``images`` (N, C, H, W) in [-1, 1] into one uint8 image of shape (H_g, W_g, C).

    Layout convention (as torchvision's ``make_grid``): ``nrow`` is the number of images
    per row, ``ncols = min(nrow, N)`` columns and ``rows = ceil(N / nrow)`` rows, with
    ``padding`` pixels between images *and* around the border, so

        W_g = ncols * W + (ncols + 1) * padding,   H_g = rows * H + (rows + 1) * padding.

    Images fill the grid row by row; padding and unused cells are black (0).
    Values are clamped to [-1, 1] and mapped by ``round((x + 1) * 127.5)``: -1 -> 0, 1 -> 255.
    """
    if not isinstance(images, torch.Tensor):
        images = torch.as_tensor(images)
    if images.dim() != 4:
        raise ValueError(f"images must have shape (N, C, H, W); got {tuple(images.shape)}")
    n, c, h, w = images.shape
    if c not in (1, 3):
        raise ValueError(f"images must have 1 or 3 channels; got {c}")
    if n == 0 or h == 0 or w == 0:
        raise ValueError(f"images must be non-empty; got shape {tuple(images.shape)}")
    if nrow is None:
        nrow = math.ceil(math.sqrt(n))
    if isinstance(nrow, bool) or int(nrow) != nrow or nrow < 1:
        raise ValueError(f"nrow must be a positive integer; got {nrow!r}")
    if isinstance(padding, bool) or int(padding) != padding or padding < 0:
        raise ValueError(f"padding must be a non-negative integer; got {padding!r}")
    nrow, p = int(nrow), int(padding)
    ncols = min(nrow, n)
    rows = math.ceil(n / ncols)

    x = images.detach().to(device="cpu", dtype=torch.float32)
    x = torch.nan_to_num(x, nan=-1.0).clamp_(-1.0, 1.0)
    x = ((x + 1.0) * 127.5).round_().to(torch.uint8)

    # Blank cells complete the last row; each cell gets `p` pixels of padding on its top
    # and left, the grid one more band on its bottom and right.
    cells = torch.zeros(rows * ncols, c, h + p, w + p, dtype=torch.uint8)
    cells[:n, :, p:, p:] = x
    grid = cells.view(rows, ncols, c, h + p, w + p).permute(2, 0, 3, 1, 4)
    grid = grid.reshape(c, rows * (h + p), ncols * (w + p))
    out = torch.zeros(c, rows * (h + p) + p, ncols * (w + p) + p, dtype=torch.uint8)
    out[:, : rows * (h + p), : ncols * (w + p)] = grid
    return out.permute(1, 2, 0).contiguous()


def save_image_grid(images: torch.Tensor, path, nrow: Optional[int] = None, padding: int = 2) -> None:
    """Write ``images`` (N, C, H, W) in [-1, 1], C in {1, 3}, as one PNG grid at ``path``.

    ``nrow`` (images per row) defaults to ``ceil(sqrt(N))``; the pixel layout is described
    in :func:`make_image_grid`. One channel gives a greyscale ("L") PNG, three an RGB PNG.
    The file is written atomically (temporary file in the same directory + ``os.replace``).
    """
    from PIL import Image

    grid = make_image_grid(images, nrow=nrow, padding=padding).numpy()
    # A 2-D uint8 array becomes an "L" image, an (H, W, 3) uint8 array an "RGB" image.
    img = Image.fromarray(grid[:, :, 0] if grid.shape[2] == 1 else grid)
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())
