"""Translation sets from the user's own images: ``paired-folder`` and ``unpaired-folder`` (``data.root=DIR``).

* ``paired-folder``: ``DIR/A`` and ``DIR/B`` hold the two domains' images with matching file names (relative
  paths; row i is the pair of one name), or ``DIR`` holds images that each show the A image on the left half and
  the B image on the right (the layout of pix2pix's datasets, Isola et al. 2016).
* ``unpaired-folder``: ``DIR/A`` and ``DIR/B`` hold any images of each domain. When one domain has fewer
  images, its list is repeated to the other's length (each domain is shuffled on its own, so every image of
  both is used).

When ``DIR/train`` and ``DIR/test`` exist, each laid out as above, ``data.split``-dependent loading takes them
(training reads ``train``, evaluation ``test``); otherwise ``DIR`` itself is both, and the task metrics are then
measured on the training images. Images are read like ``imagefolder``'s (centre square, resized once to
``data.resolution``), with ``data.channels`` 1 or 3 (default 3) for both domains. The sets have no classes, so
evaluation reports what needs none: L1 / PSNR / SSIM for pairs, the cycle error for two-way translators.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Tuple

import numpy as np
import torch

from ..errors import DataError
from .imagefolder import EXTENSIONS, MIN_RESOLUTION, collect_images, read_image
from .images import check_channels, to_float_images

def split_dir(root, split: str, name: str) -> Path:
    """``root/<split>`` when ``root`` has ``train`` and ``test`` sub-directories, else ``root``."""
    if root is None or str(root) == "":
        raise DataError(f"{name} reads your images: set data.root=DIR (see gankit.data.folders)")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"{name}: {base} is not a directory (set data.root=DIR)")
    if (base / "train").is_dir() and (base / "test").is_dir():
        return base / ("test" if split == "test" else "train")
    return base


def _to_tensor(images: List[np.ndarray], resolution: int, channels: int) -> torch.Tensor:
    u8 = np.stack([im.reshape(resolution, resolution, channels) for im in images])
    return to_float_images(torch.from_numpy(u8).permute(0, 3, 1, 2), resolution, channels)


def read_folder_set(name: str, root, split: str, resolution: int, channels, size) -> Tuple[torch.Tensor, torch.Tensor, int]:
    """``(x_A, x_B, channels)`` of a folder set, both ``(N, C, R, R)`` in [-1, 1] with the same N."""
    check_channels(channels, name)
    if not isinstance(resolution, int) or resolution < MIN_RESOLUTION:
        raise DataError(f"{name}: data.resolution must be an integer >= {MIN_RESOLUTION}, got {resolution!r}")
    channels = 3 if channels is None else channels
    mode = "L" if channels == 1 else "RGB"
    base = split_dir(root, split, name)
    a_dir, b_dir = base / "A", base / "B"
    if name == "paired-folder" and not (a_dir.is_dir() and b_dir.is_dir()):  # side by side
        files = collect_images(base)
        if not files:
            raise DataError(f"{name}: no images in {base}: give A/ and B/ sub-directories with matching names, or "
                            f"images holding A (left half) and B (right half) ({', '.join(EXTENSIONS)})")
        files = files[:size] if size is not None else files
        halves = [read_image(f, resolution, mode, halves=True) for f in files]
        return _to_tensor([h[0] for h in halves], resolution, channels), \
            _to_tensor([h[1] for h in halves], resolution, channels), channels
    if not (a_dir.is_dir() and b_dir.is_dir()):
        raise DataError(f"{name}: {base} needs the sub-directories A/ and B/ (one per domain)")
    fa, fb = collect_images(a_dir), collect_images(b_dir)
    for d, f in ((a_dir, fa), (b_dir, fb)):
        if not f:
            raise DataError(f"{name}: no images in {d} ({', '.join(EXTENSIONS)})")
    if name == "paired-folder":
        names_a = {p.relative_to(a_dir).as_posix(): p for p in fa}
        names_b = {p.relative_to(b_dir).as_posix(): p for p in fb}
        common = sorted(set(names_a) & set(names_b))
        lonely = sorted(set(names_a) ^ set(names_b))
        if lonely:
            raise DataError(f"{name}: every image needs its partner of the same name in A/ and B/; '{lonely[0]}' "
                            f"has none ({len(lonely)} without a partner)")
        fa, fb = [names_a[k] for k in common], [names_b[k] for k in common]
    else:  # unpaired: the shorter list repeated to the longer's length
        n = max(len(fa), len(fb))
        fa, fb = (fa * -(-n // len(fa)))[:n], (fb * -(-n // len(fb)))[:n]
    if size is not None:
        fa, fb = fa[:size], fb[:size]
    xa = _to_tensor([read_image(f, resolution, mode) for f in fa], resolution, channels)
    xb = _to_tensor([read_image(f, resolution, mode) for f in fb], resolution, channels)
    return xa, xb, channels
