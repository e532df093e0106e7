"""ProGAN, Karras, Aila, Laine & Lehtinen 2017, "Progressive Growing of GANs for Improved Quality, Stability, and
Variation", arXiv 1710.10196.

G and D grow together from 4x4 to the data's resolution (:mod:`gankit.models.progressive`). The growth schedule
counts the real images shown (``batch_size`` per generator step): the first phase trains the 4x4 nets; after it,
each new stage is first **faded in** for ``model.phase_images`` images (alpha rising linearly from 0 to 1, the real
images faded the same way), then trained **stable** for as many; after the last stage the nets stay at the full
resolution (Sec. 2, App. A.1). The other parts of the paper: pixel-wise feature normalisation in G (Sec. 4.2),
the equalised learning rate (Sec. 4.1), the minibatch standard deviation in D (Sec. 3), and the WGAN-GP loss
(lambda 10) with the drift term eps_drift E[D(x)^2], eps_drift = 0.001 (App. A.1), n_critic 1.

The schedule is a function of the number of generator steps taken, which the GAN keeps as a buffer
(``grown_steps``, in the checkpoint) and as a Python mirror (so no step reads the device); a resume in the middle
of a fade-in continues with the same stage and alpha, bitwise (``tests/test_progan.py``).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch
from torch import Tensor

from ...config import _rng
from ...errors import ConfigError
from ...models.progressive import ProDiscriminator, ProGenerator, faded_real, stage_widths
from ...nn import eval_mode
from ...nn.pyramid import enlarge
from .. import GANS
from ..base import GAN, CountsGeneratorSteps, StepResult


@dataclass
class ProGANParams:
    """``model.*`` for ProGAN."""

    z_dim: int = field(default=128, metadata=_rng(1))             # paper: 512
    width_base: int = field(default=512, metadata=_rng(1))        # channels min(max_width, width_base / side)
    max_width: int = field(default=128, metadata=_rng(1))         # paper: 8192 / side, at most 512
    phase_images: int = field(default=32000, metadata=_rng(1))    # images per fade-in and per stable phase (paper 800k)
    drift: float = field(default=0.001, metadata=_rng(0.0))       # eps_drift
    mbstd_group: int = field(default=4, metadata=_rng(1))         # minibatch stddev group size


def growth(images: int, phase_images: int, stages: int) -> Tuple[int, float]:
    """``(stage, alpha)`` after ``images`` real images: phase 0 trains stage 0; then stage s is faded in during
    phase 2s - 1 (alpha = the fraction of that phase done) and trained stable during phase 2s; past the last
    stage's stable phase, ``(stages - 1, 1.0)``."""
    phase = images // phase_images
    if phase == 0:
        return 0, 1.0
    stage = (phase + 1) // 2
    if stage >= stages:
        return stages - 1, 1.0
    if phase % 2 == 1:
        return stage, (images - phase * phase_images) / phase_images
    return stage, 1.0


class ProGAN(CountsGeneratorSteps, GAN):
    """Karras et al. 2017 (arXiv 1710.10196): G and D grown from 4x4, new stages faded in."""

    Params = ProGANParams
    needs_images = True
    default_objective = "wgan"
    step_buffer = "grown_steps"  # the G updates so far (the name older checkpoints have)

    def __init__(self, cfg, info):
        super().__init__(cfg, info)
        self._apply_growth()  # G, its EMA copy and D start at the stage the schedule gives (4x4)

    def build(self, info):
        p = self.p
        res = int(info.shape[-1])
        try:
            widths = stage_widths(res, p.width_base, p.max_width)
        except ValueError as e:
            raise ConfigError(f"config: GAN '{self.cfg.gan}' {e} (e.g. data.resolution=32)") from None
        if info.shape[-1] != info.shape[-2]:
            raise ConfigError(f"config: GAN '{self.cfg.gan}' grows square images, got {tuple(info.shape)}")
        self.init_step_count()
        return self.make_generator(info, widths), ProDiscriminator(int(info.shape[0]), widths, p.mbstd_group)

    def make_generator(self, info, widths):
        """The growing G for ``widths`` channels per stage (StyleGAN overrides it)."""
        return ProGenerator(self.p.z_dim, int(info.shape[0]), widths)

    # ------------------------------------------------------------ the schedule
    @property
    def stages(self) -> int:
        return self.G.stages

    @property
    def growth_state(self) -> Tuple[int, float]:
        """``(stage, alpha)`` in use now."""
        return growth(self._steps * self.cfg.batch_size, self.p.phase_images, self.stages)

    def on_step_count(self) -> None:
        self._apply_growth()

    def _apply_growth(self) -> None:
        stage, alpha = self.growth_state
        for net in (self.G, self.D, self.G_ema):
            if net is not None:
                net.stage, net.alpha = stage, alpha

    # ------------------------------------------------------------ the steps
    def _real(self, real: Tensor) -> Tensor:
        stage, alpha = self.growth_state
        return faded_real(real, stage, alpha, self.G.resolution)

    def _fake(self, n: int) -> Tensor:
        stage, alpha = self.growth_state
        return self.G.at_stage(self.sample_z(n), stage, alpha)

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        real = self._real(real)
        with torch.no_grad():
            fake = self._fake(real.shape[0])
        d_real, d_fake = self.D(real), self.D(fake)
        loss = self.objective.d_loss(d_real, d_fake)
        logs: Dict[str, Tensor] = {"d_loss": loss.detach()}
        if self.p.drift:
            drift = d_real.float().pow(2).mean()
            logs["drift"] = drift.detach()
            loss = loss + self.p.drift * drift
        stage, alpha = self.growth_state
        logs["resolution"] = torch.tensor(float(4 * 2 ** stage))
        logs["alpha"] = torch.tensor(float(alpha))
        return self.add_penalties(loss, logs, real, fake)

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        fake = self._fake(real.shape[0])
        d_real = self.D(self._real(real)) if self.objective.g_needs_real else None
        loss = self.objective.g_loss(self.D(fake), d_real)
        return loss, {"g_loss": loss.detach()}

    # ------------------------------------------------------------ pictures
    @torch.no_grad()
    def stage_picture(self, n: int = 8, seed: int = 0) -> Tensor:
        """``n`` samples (rows) of the generator at every stage up to the current one with alpha 1, enlarged to the
        data's resolution: ``(n * (stage + 1), C, H, W)``. Stages below the current one use their own ``to_rgb``
        layers, which stop training once the next stage has faded in."""
        z = self.sample_z(n, generator=torch.Generator().manual_seed(seed))
        with eval_mode(self.G_ema if self.G_ema is not None else self.G) as G:
            cols = [enlarge(G.at_stage(z, s, 1.0).float(), G.resolution) for s in range(self.growth_state[0] + 1)]
        return torch.stack(cols, dim=1).flatten(0, 1)

    def pictures(self, seed: int = 0) -> Dict[str, Tuple[Tensor, int]]:
        """``stages``: eight samples, one row each, at every resolution reached (4x4 first)."""
        return {"stages": (self.stage_picture(seed=seed), self.growth_state[0] + 1)}


GANS.add("progan", ProGAN)
