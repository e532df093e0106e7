"""A directory of image files, optionally one sub-directory per class.

If the root's immediate (non-hidden) children are directories only, each one is a class: labels
follow the sorted directory names and each class directory is searched recursively. Otherwise the
whole tree is one unlabeled set (``y is None``). Images are converted to RGB (or L for
``channels=1``), centre-cropped to a square and resized once, at load time.

The ``split`` argument is not used: the root directory *is* the split.
"""
from __future__ import annotations

from pathlib import Path
from typing import List, Optional, Tuple

import numpy as np
import torch
from PIL import Image, ImageOps

from ..errors import DataError
from .base import DATASETS, DataInfo, Loaded, is_int
from .images import check_channels, to_float_images

EXTENSIONS = (".png", ".jpg", ".jpeg", ".bmp", ".webp")
MIN_RESOLUTION = 8


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def collect_images(folder: Path) -> List[Path]:
    """All image files under ``folder`` (recursive, hidden entries skipped), sorted by path."""
    return sorted(
        p for p in folder.rglob("*")
        if p.suffix.lower() in EXTENSIONS and p.is_file() and not _hidden(p, folder)
    )


def scan(root: Path) -> Tuple[List[Tuple[Path, Optional[int]]], List[str]]:
    """``([(file, label or None)], class_names)`` for ``root``."""
    children = [p for p in sorted(root.iterdir()) if not p.name.startswith(".")]
    dirs = [p for p in children if p.is_dir()]
    files_at_top = [p for p in children if p.is_file() and p.suffix.lower() in EXTENSIONS]
    if dirs and not files_at_top:
        items = [(f, label) for label, d in enumerate(dirs) for f in collect_images(d)]
        return items, [d.name for d in dirs]
    return [(f, None) for f in collect_images(root)], []


def square(im: Image.Image, resolution: int) -> np.ndarray:
    """The centre square of a PIL image, resized to ``resolution``, as uint8 pixels."""
    w, h = im.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    im = im.crop((left, top, left + side, top + side))
    if side != resolution:
        im = im.resize((resolution, resolution), Image.Resampling.BILINEAR)
    return np.asarray(im, dtype=np.uint8)


def read_image(path: Path, resolution: int, mode: str, halves: bool = False):
    """One image as ``(H, W)`` (mode L) or ``(H, W, 3)`` (RGB) uint8, square ``resolution``; ``halves``: the
    left and right halves of the image, each made square (a pair stored side by side), as a tuple."""
    try:
        with Image.open(path) as im:
            im = ImageOps.exif_transpose(im)
            if im.mode == "P" and "transparency" in im.info:
                im = im.convert("RGBA")
            im = im.convert(mode)
            if not halves:
                return square(im, resolution)
            w, h = im.size
            return square(im.crop((0, 0, w // 2, h)), resolution), square(im.crop((w // 2, 0, 2 * (w // 2), h)), resolution)
    except Exception as err:  # PIL raises many types for bad files (OSError, SyntaxError, ...)
        detail = " ".join(str(err).split()) or type(err).__name__
        raise DataError(f"cannot read image {path}: {detail}") from None


@DATASETS.register("imagefolder")
def imagefolder(*, root=None, resolution: int = 28, channels=None, size=None,
                **_ignored) -> Loaded:
    """Images from ``root`` (class sub-directories give labels), resized to ``resolution``."""
    if root is None or str(root) == "":
        raise DataError("imagefolder needs a directory: set data.root=DIR")
    base = Path(root).expanduser()
    if not base.is_dir():
        raise DataError(f"imagefolder: {base} is not a directory (set data.root=DIR)")
    if not is_int(resolution) or resolution < MIN_RESOLUTION:
        raise DataError(f"imagefolder: data.resolution must be an integer >= {MIN_RESOLUTION}, "
                        f"got {resolution!r}")
    check_channels(channels, "imagefolder")
    channels = 3 if channels is None else channels
    items, classes = scan(base)
    if not items:
        raise DataError(f"imagefolder: no images found in {base} "
                        f"(accepted extensions: {', '.join(EXTENSIONS)})")
    if size is not None:
        items = items[:size]
    mode = "L" if channels == 1 else "RGB"
    from ..memory import check_fits

    # uint8 pixels plus the float32 copy made from them
    check_fits(len(items) * resolution * resolution * channels * 5,
               f"{len(items)} images at {resolution}x{resolution}", "data.resolution or data.size")
    u8 = np.empty((len(items), resolution, resolution, channels), dtype=np.uint8)
    for i, (path, _) in enumerate(items):
        pixels = read_image(path, resolution, mode)
        u8[i] = pixels.reshape(resolution, resolution, channels)
    x = to_float_images(torch.from_numpy(u8).permute(0, 3, 1, 2), resolution, channels)
    y = torch.tensor([label for _, label in items], dtype=torch.int64) if classes else None
    info = DataInfo(name="imagefolder", kind="images", shape=(channels, resolution, resolution),
                    num_classes=len(classes))
    return x, y, info
