"""Mode-coverage metrics for 2-D (or any-D) Gaussian-mixture toy datasets.

The protocol is the one used for the 2D-ring / 2D-grid experiments of

* VEEGAN -- A. Srivastava, L. Valkov, C. Russell, M. U. Gutmann, C. Sutton,
  "VEEGAN: Reducing Mode Collapse in GANs using Implicit Variational Learning",
  NeurIPS 2017, arXiv:1705.07761 (Section 5.1), which introduced *high-quality
  samples* and *modes captured*, and
* PacGAN -- Z. Lin, A. Khetan, G. Fanti, S. Oh, "PacGAN: The power of two samples in
  generative adversarial networks", NeurIPS 2018, arXiv:1712.04086 (Section 5,
  Table 1), which reuses those two measures on 2,500 generated samples and adds the
  reverse KL divergence between the generated and the true distribution over modes.

Rule implemented by :func:`toy_mode_metrics` (all counts on one set of ``N`` samples):

1. every sample is assigned to its nearest mode centre (Euclidean distance);
2. it is *high quality* (HQ) if that distance is ``<= hq_threshold * sigma``
   (``hq_threshold = 3``: "within three standard deviations of the nearest mode");
   non-finite samples (NaN/Inf, e.g. from a diverged generator) are never HQ;
3. a mode is *captured* if at least ``min_count`` HQ samples are assigned to it.
   VEEGAN states the rule as "the number of mixture components whose mean is nearest
   to at least one high quality sample", with 2,500 samples; PacGAN's reference code
   (``MetricLogger`` in github.com/fjxmlzn/PacGAN) counts the modes with a non-zero
   HQ count, i.e. the same ``>= 1`` rule. The default therefore reproduces that rule at
   the protocol's ``N = 2500`` (``min_count = 1``) and keeps the same *fraction*
   of samples (1/2500) for other ``N``: ``min_count = max(1, ceil(N / 2500))``.
   Pass ``min_count`` explicitly for a stricter rule (e.g. ``min_count=20``);
4. ``high_quality_pct = 100 * (#HQ samples) / N``;
5. ``reverse_kl = KL(p_gen || p_true) = sum_k p_gen[k] * log(p_gen[k] / p_true[k])``
   where ``p_gen`` is the histogram of **HQ samples only** over the ``K`` modes,
   normalised by the number of HQ samples (low-quality samples are excluded, as in
   PacGAN's reference code), and ``p_true`` is uniform (``1/K``). Modes with no HQ
   sample contribute 0 (``0 log 0 = 0``), so the value lies in ``[0, log K]``: 0 for a
   perfectly balanced generator, ``log K`` when every HQ sample sits in one mode. It is
   computed in float64. With no HQ sample at all ``p_gen`` is undefined and
   ``reverse_kl`` is ``nan``. Modes below ``min_count`` still enter the histogram.
"""
from __future__ import annotations

import math
from typing import Optional

import torch

from ..registry import Registry

__all__ = ["METRICS", "PROTOCOL_NUM_SAMPLES", "default_min_count", "toy_mode_metrics", "toy_eval"]

#: Registry of metrics by name (``gankit list`` and config validation read it).
METRICS: Registry = Registry("metric")

#: Number of generated samples the VEEGAN / PacGAN protocol evaluates.
PROTOCOL_NUM_SAMPLES = 2500
#: HQ samples a mode needs at ``PROTOCOL_NUM_SAMPLES`` to count as captured.
PROTOCOL_MIN_COUNT = 1


def default_min_count(num_samples: int) -> int:
    """``max(1, ceil(num_samples * 1 / 2500))``: the protocol's ">= 1 HQ sample out of 2,500",
    kept as the same fraction of samples when ``num_samples`` differs (integer arithmetic)."""
    n = int(num_samples)
    return max(1, -(-n * PROTOCOL_MIN_COUNT // PROTOCOL_NUM_SAMPLES))


def _as_points(x: torch.Tensor, name: str) -> torch.Tensor:
    if not isinstance(x, torch.Tensor):
        x = torch.as_tensor(x)
    if x.dim() != 2:
        raise ValueError(f"{name} must have shape (N, D); got {tuple(x.shape)}")
    return x.detach().to(device="cpu", dtype=torch.float64)


def toy_mode_metrics(
    samples: torch.Tensor,
    modes: torch.Tensor,
    sigma: float,
    *,
    hq_threshold: float = 3.0,
    min_count: Optional[int] = None,
) -> dict:
    """Modes captured, % high-quality samples and reverse KL over modes (VEEGAN / PacGAN).

    Follows Srivastava et al. 2017 (arXiv:1705.07761, Sec. 5.1) and Lin et al. 2018
    (arXiv:1712.04086, Sec. 5); the exact rule is in this module's docstring.

    Args:
        samples: generated points, shape ``(N, D)`` (``D = 2`` for the ring/grid toys).
        modes: mixture-component centres, shape ``(K, D)``.
        sigma: standard deviation of each (isotropic) mixture component.
        hq_threshold: a sample is high quality if within ``hq_threshold * sigma`` of its
            nearest centre (3 in the papers).
        min_count: HQ samples a mode needs to count as captured; ``None`` means
            :func:`default_min_count` (``1`` at ``N = 2500``).

    Returns:
        ``{"modes_captured": int, "num_modes": K, "high_quality_pct": float in [0, 100],
        "reverse_kl": float, "num_samples": N, "hq_counts": list of K ints,
        "protocol": {...}}``. ``hq_counts[k]`` is the number of HQ samples assigned to mode k.
    """
    x = _as_points(samples, "samples")
    m = _as_points(modes, "modes")
    n, k = x.shape[0], m.shape[0]
    if k == 0:
        raise ValueError("modes must contain at least one centre")
    if x.shape[1] != m.shape[1]:
        raise ValueError(f"samples have dimension {x.shape[1]} but modes have {m.shape[1]}")
    if n == 0:
        raise ValueError("samples must contain at least one point")
    if not torch.isfinite(m).all():
        raise ValueError("modes must be finite")
    sigma = float(sigma)
    hq_threshold = float(hq_threshold)
    if not (math.isfinite(sigma) and sigma > 0):
        raise ValueError(f"sigma must be a positive finite number; got {sigma}")
    if not (math.isfinite(hq_threshold) and hq_threshold > 0):
        raise ValueError(f"hq_threshold must be a positive finite number; got {hq_threshold}")
    if min_count is None:
        min_count = default_min_count(n)
    elif isinstance(min_count, bool) or int(min_count) != min_count or min_count < 1:
        raise ValueError(f"min_count must be a positive integer; got {min_count!r}")
    min_count = int(min_count)

    finite = torch.isfinite(x).all(dim=1)
    x_safe = torch.where(finite[:, None], x, torch.zeros((), dtype=x.dtype))
    # Exact pairwise distances (no matmul trick), so a sample at a centre is at distance 0.
    dist = torch.cdist(x_safe, m, compute_mode="donot_use_mm_for_euclid_dist")  # (N, K)
    nearest_dist, nearest = dist.min(dim=1)
    hq = finite & (nearest_dist <= hq_threshold * sigma)

    counts = torch.bincount(nearest[hq], minlength=k)  # (K,) int64
    num_hq = int(counts.sum())
    captured = int((counts >= min_count).sum())

    if num_hq == 0:
        reverse_kl = float("nan")
    else:
        p = counts.to(torch.float64) / num_hq
        # KL(p || uniform) = sum_k p_k log p_k + log K, with 0 log 0 = 0.
        plogp = torch.where(p > 0, p * torch.log(torch.where(p > 0, p, torch.ones_like(p))),
                            torch.zeros_like(p))
        reverse_kl = float(plogp.sum() + math.log(k))
        reverse_kl = max(reverse_kl, 0.0)  # clip float round-off below the true minimum 0

    return {
        "modes_captured": captured,
        "num_modes": k,
        "high_quality_pct": 100.0 * num_hq / n,
        "reverse_kl": reverse_kl,
        "num_samples": n,
        "hq_counts": counts.tolist(),
        "protocol": {
            "hq_threshold": hq_threshold,
            "sigma": sigma,
            "min_count": min_count,
            "num_samples": n,
            "reference": "VEEGAN (arXiv:1705.07761) Sec. 5.1; PacGAN (arXiv:1712.04086) Sec. 5",
            "rule": (
                "each sample is assigned to its nearest mode centre (Euclidean); it is high "
                f"quality if within {hq_threshold:g}*sigma of that centre (non-finite samples "
                f"never are); a mode is captured if it has at least {min_count} high-quality "
                "sample(s); reverse_kl = KL(p_gen || uniform) over modes, p_gen = histogram of "
                "high-quality samples only, empty modes contribute 0 (0 log 0 = 0); "
                "high_quality_pct = 100 * #high-quality / num_samples"
            ),
        },
    }


def toy_eval(samples: torch.Tensor, modes: torch.Tensor, sigma: float) -> dict:
    """Alias of :func:`toy_mode_metrics` with the protocol defaults."""
    return toy_mode_metrics(samples, modes, sigma)


METRICS.add("toy_modes", toy_mode_metrics)
