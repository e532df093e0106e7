"""Scatter plots of 2-D samples (toy mixtures) rendered off-screen with matplotlib's Agg canvas.

``matplotlib.figure.Figure`` + ``FigureCanvasAgg`` are used instead of ``pyplot``, so no
global backend is selected or changed and no figure is left registered anywhere.
"""
from __future__ import annotations

import io
from typing import Optional

import torch

from ..io import atomic_write_bytes

__all__ = ["save_scatter"]


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
) -> None:
    """Write a PNG scatter plot of 2-D ``samples`` (N, 2) to ``path``, atomically.

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

    fig = Figure(figsize=(5, 5), dpi=100)
    FigureCanvasAgg(fig)
    try:
        ax = fig.add_subplot(1, 1, 1)
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
