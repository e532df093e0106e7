"""Scatter plots of 2-D samples (toy mixtures) rendered off-screen with matplotlib's Agg canvas.

``matplotlib.figure.Figure`` + ``FigureCanvasAgg`` are used instead of ``pyplot``, so no
global backend is selected or changed and no figure is left registered anywhere.
"""
from __future__ import annotations

import io
from typing import Optional

import torch

from ..io import atomic_write_bytes

__all__ = ["save_scatter", "save_gif", "toy_frame", "toy_limit"]


def toy_limit(modes: torch.Tensor) -> float:
    """Half-width of a square view of a 2-D mixture: the modes with a quarter of margin."""
    return 1.25 * float(torch.as_tensor(modes).abs().max())


def _points(x, name: str) -> "torch.Tensor":
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if x.dim() != 2 or x.shape[1] != 2:
        raise ValueError(f"{name} must have shape (N, 2); got {tuple(x.shape)}")
    return x.detach().to(device="cpu", dtype=torch.float64)


def save_scatter(
    samples: torch.Tensor,
    path,
    modes: Optional[torch.Tensor] = None,
    sigma: Optional[float] = None,
    title: Optional[str] = None,
    lim: Optional[float] = None,
    field: Optional[tuple] = None,
    size: float = 5.0,
    dpi: int = 100,
) -> None:
    """Write a PNG scatter plot of 2-D ``samples`` (N, 2) to ``path``, atomically.

    ``field = (xs, ys, values)``, if given, shades the background with ``values`` (a 2-D array,
    ``values[i, j]`` at ``(xs[j], ys[i])``), e.g. the discriminator's output, with a colour bar; its
    colours span the 2nd to 98th percentile of the values. ``size`` (inches) and ``dpi`` set the
    picture's size.

    ``modes`` (K, 2), if given, are marked with red crosses; with ``sigma`` as well, a
    dashed circle of radius ``3 * sigma`` (the high-quality radius of
    :func:`gankit.metrics.toy_mode_metrics`) is drawn round each. Axes have equal aspect;
    ``lim`` fixes both to ``[-lim, lim]`` (otherwise matplotlib autoscales). Non-finite
    samples are skipped.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure
    from matplotlib.patches import Circle

    x = _points(samples, "samples")
    x = x[torch.isfinite(x).all(dim=1)].numpy()
    m = _points(modes, "modes").numpy() if modes is not None else None
    if sigma is not None and not float(sigma) > 0:
        raise ValueError(f"sigma must be positive; got {sigma}")
    if lim is not None and not float(lim) > 0:
        raise ValueError(f"lim must be positive; got {lim}")

    fig = Figure(figsize=(size * (1.2 if field is not None else 1.0), size), dpi=dpi)
    FigureCanvasAgg(fig)
    try:
        ax = fig.add_subplot(1, 1, 1)
        if field is not None:
            fx, fy, fv = (torch.as_tensor(a, dtype=torch.float64).cpu() for a in field)
            finite = fv[torch.isfinite(fv)]
            lo, hi = ((torch.quantile(finite, 0.02).item(), torch.quantile(finite, 0.98).item())
                      if finite.numel() else (0.0, 1.0))
            mesh = ax.pcolormesh(fx.numpy(), fy.numpy(), fv.numpy(), shading="auto", cmap="RdYlGn",
                                 vmin=lo, vmax=hi if hi > lo else lo + 1e-6, alpha=0.8, rasterized=True)
            fig.colorbar(mesh, ax=ax, fraction=0.046, pad=0.04).set_label("D's score (higher: judged real)")
        ax.scatter(x[:, 0], x[:, 1], s=4, c="tab:blue", alpha=0.4, linewidths=0, label="samples")
        if m is not None:
            ax.scatter(m[:, 0], m[:, 1], marker="x", s=40, c="red", linewidths=1.5, label="modes")
            if sigma is not None:
                for cx, cy in m:
                    ax.add_patch(Circle((cx, cy), 3.0 * float(sigma), fill=False, ec="red",
                                        ls="--", lw=0.8, alpha=0.7))
        if lim is not None:
            ax.set_xlim(-float(lim), float(lim))
            ax.set_ylim(-float(lim), float(lim))
        ax.set_aspect("equal")
        ax.grid(True, alpha=0.3)
        if title:
            ax.set_title(title)
        buf = io.BytesIO()
        fig.savefig(buf, format="png", bbox_inches="tight")
    finally:
        fig.clear()
    atomic_write_bytes(path, buf.getvalue())


def toy_frame(samples: torch.Tensor, path, modes: torch.Tensor, lim: float, field: tuple, size: int = 240) -> None:
    """A small picture for an animation, drawn directly into pixels (no axes; milliseconds, so a run can
    afford a frame every few steps): D's score ``field = (xs, ys, values)`` as the background (red: judged
    fake, green: judged real; colours span its 2nd-98th percentile), the true modes as black crosses and
    ``samples`` as blue dots, over ``[-lim, lim]^2`` with y upwards. Written as PNG to ``path``, atomically."""
    import numpy as np
    from matplotlib import colormaps
    from PIL import Image

    v = torch.as_tensor(field[2], dtype=torch.float64).cpu()
    finite = v[torch.isfinite(v)]
    lo, hi = (torch.quantile(finite, 0.02).item(), torch.quantile(finite, 0.98).item()) if finite.numel() else (0., 1.)
    v = ((v - lo) / (hi - lo if hi > lo else 1.0)).clamp(0, 1).nan_to_num(0.5).numpy()
    rgb = (colormaps["RdYlGn"](v)[..., :3] * 255 * 0.55 + 255 * 0.45).astype(np.uint8)  # pale background
    img = np.array(Image.fromarray(rgb[::-1]).resize((size, size), Image.BILINEAR))  # row 0 is the top: flip y

    def pixels(x):
        x = _points(x, "points")
        x = x[torch.isfinite(x).all(1)]
        col = ((x[:, 0] + lim) / (2 * lim) * (size - 1)).round().long()
        row = ((lim - x[:, 1]) / (2 * lim) * (size - 1)).round().long()
        keep = (col >= 0) & (col < size) & (row >= 0) & (row < size)
        return row[keep].numpy(), col[keep].numpy()

    r, c = pixels(samples)
    for dr, dc in ((0, 0), (0, 1), (1, 0), (1, 1)):  # 2x2 dots
        img[np.clip(r + dr, 0, size - 1), np.clip(c + dc, 0, size - 1)] = (31, 80, 180)
    r, c = pixels(modes)
    for d in range(-4, 5):  # crosses
        img[np.clip(r + d, 0, size - 1), np.clip(c + d, 0, size - 1)] = 0
        img[np.clip(r + d, 0, size - 1), np.clip(c - d, 0, size - 1)] = 0
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, format="PNG")
    atomic_write_bytes(path, buf.getvalue())


def save_gif(frames, path, duration_ms: int = 150) -> int:
    """Write the PNG files ``frames`` (in order) as one looping animated GIF at ``path``, atomically;
    returns the number of frames written (0: nothing to write, no file)."""
    from PIL import Image

    images = []
    for f in frames:
        with Image.open(f) as im:
            images.append(im.convert("RGB").quantize(colors=128))
    if not images:
        return 0
    size = images[0].size
    images = [im if im.size == size else im.resize(size) for im in images]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    atomic_write_bytes(path, buf.getvalue())
    return len(images)
