"""StyleGAN, Karras, Laine & Aila 2018, "A Style-Based Generator Architecture for Generative Adversarial Networks",
arXiv 1812.04948.

G is the style-based generator (:mod:`gankit.models.style`): a mapping network z -> w, a learned constant 4x4
input, AdaIN styles per layer from w, per-pixel noise with learned scales, style mixing regularisation in
training (probability 0.9) and the truncation trick in W at sampling (w_avg tracked as a running mean). D is
ProGAN's. Like the paper (Sec. 2, "we use the progressive growing"), the nets grow from 4x4 with ProGAN's
schedule and fade-in, which this class inherits from :class:`~gankit.gans.multiscale.progan.ProGAN`
(``model.progressive=false`` trains at the full resolution from the start). The loss is the non-saturating one
with R1 (gamma 10; App. C, the FFHQ setting), without ProGAN's drift term.

Sampling: ``gankit sample RUN --truncation PSI`` and ``Run.sample(truncation=PSI)`` apply psi in W (not BigGAN's
truncation of z); :meth:`StyleGAN.style_mixing` (``gankit sample RUN --style-mix K``) makes the style-mixing grid.
"""
from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from ...config import _rng
from ...models.style import StyleGenerator, style_mixing_grid
from ...nn import eval_mode
from ...nn.pyramid import enlarge
from .. import GANS
from .progan import ProGAN, ProGANParams


@dataclass
class StyleGANParams(ProGANParams):
    """``model.*`` for StyleGAN: ProGAN's growth settings and the style-based generator's."""

    drift: float = field(default=0.0, metadata=_rng(0.0))              # not in StyleGAN
    w_dim: int = field(default=128, metadata=_rng(1))                  # paper: 512
    mapping_layers: int = field(default=8, metadata=_rng(1))           # paper: 8
    mixing: float = field(default=0.9, metadata=_rng(0.0, 1.0))        # style mixing probability (paper: 0.9)
    w_avg_beta: float = field(default=0.995, metadata=_rng(0.0, 1.0))  # running mean of w (the authors' 0.995)
    truncation_cutoff: int = field(default=0, metadata=_rng(0))        # psi on layers before it (0: all layers)
    progressive: bool = True                                           # grow from 4x4 (False: full size from the start)


class StyleGAN(ProGAN):
    """Karras et al. 2018 (arXiv 1812.04948): style-based G, ProGAN's D and growth, NS loss + R1."""

    Params = StyleGANParams
    default_objective = "nonsaturating"

    def make_generator(self, info, widths):
        p = self.p
        return StyleGenerator(p.z_dim, p.w_dim, int(info.shape[0]), widths, p.mapping_layers, p.mixing,
                              p.w_avg_beta, p.truncation_cutoff or None)

    @property
    def growth_state(self) -> Tuple[int, float]:
        if not self.p.progressive:
            return self.stages - 1, 1.0
        return super().growth_state

    # ------------------------------------------------------------ sampling in W
    def _generator(self, ema: bool = True):
        return self.G_ema if (ema and self.G_ema is not None) else self.G

    @contextlib.contextmanager
    def _seeded(self, seed: int):
        """The per-pixel noise inputs drawn from ``seed`` (same seed -> same images), the caller's random state
        restored afterwards."""
        with torch.random.fork_rng(devices=[self.device] if self.device.type == "cuda" else []):
            torch.manual_seed(seed)
            yield

    @torch.no_grad()
    def sample_with_labels(self, n: int, seed: int = 0, ema: bool = True, chunk: int = 1000,
                           labels: Optional[Tensor] = None, truncation: Optional[float] = None):
        """As for every GAN; ``truncation`` is psi of the truncation trick in W: w' = w_avg + psi (w - w_avg)."""
        G = self._generator(ema)
        G.psi = truncation
        try:
            with self._seeded(seed):
                return super().sample_with_labels(n, seed, ema, chunk, labels, truncation=None)
        finally:
            G.psi = None

    @torch.no_grad()
    def style_mixing(self, rows: int = 4, cols: int = 5, crossover: Optional[int] = None, seed: int = 0,
                     psi: Optional[float] = None) -> Tuple[Tensor, int]:
        """``(images, images per row)`` of the style-mixing grid (Fig. 3): ``rows`` sources whose styles are used
        before layer ``crossover`` (default: half the active layers, the coarse ones) and ``cols`` sources for the
        rest; seeds ``seed`` (rows) and ``seed + 1`` (columns). The top-left image is blank."""
        stage = self.growth_state[0]
        active = 2 * (stage + 1)
        crossover = active // 2 if crossover is None else int(crossover)
        if not 0 < crossover < active:
            raise ValueError(f"crossover must be between 1 and {active - 1} (the run has {active} style layers in use), "
                             f"got {crossover}")
        a = self.sample_z(rows, generator=torch.Generator().manual_seed(seed))
        b = self.sample_z(cols, generator=torch.Generator().manual_seed(seed + 1))
        with eval_mode(self._generator()) as G, self._seeded(seed):
            grid = style_mixing_grid(G, a, b, crossover, stage, psi)
        return grid.float(), cols + 1

    @torch.no_grad()
    def psi_sweep(self, n: int = 6, psis=(1.0, 0.7, 0.5, 0.3, 0.0), seed: int = 0) -> Tuple[Tensor, int]:
        """``n`` samples (rows) at each psi (columns): psi 0 gives every row the image of w_avg."""
        z = self.sample_z(n, generator=torch.Generator().manual_seed(seed))
        stage = self.growth_state[0]
        with eval_mode(self._generator()) as G, self._seeded(seed):
            cols = [enlarge(G.synthesis(G.styles(z, psi=psi), stage).float(), G.resolution) for psi in psis]
        return torch.stack(cols, 1).flatten(0, 1), len(psis)

    def pictures(self, seed: int = 0) -> Dict[str, Tuple[Tensor, int]]:
        """``stages`` (as ProGAN), ``style-mixing`` (coarse styles from the rows, fine from the columns) and
        ``psi`` (rows of samples at psi 1, 0.7, 0.5, 0.3, 0)."""
        out = super().pictures(seed)
        if 2 * (self.growth_state[0] + 1) > 1:
            out["style-mixing"] = self.style_mixing(seed=seed)
        out["psi"] = self.psi_sweep(seed=seed)
        return out


GANS.add("stylegan", StyleGAN)
