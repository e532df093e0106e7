"""StackGAN and StackGAN++: text-to-image generation in stages, on captioned MNIST / Fashion-MNIST.

* StackGAN: Zhang, Xu, Li, Zhang, Wang, Huang & Metaxas 2016, "StackGAN: Text to Photo-realistic Image Synthesis
  with Stacked Generative Adversarial Networks", arXiv 1612.03242.
* StackGAN++: Zhang et al. 2017, "StackGAN++: Realistic Image Synthesis with Stacked Generative Adversarial
  Networks", arXiv 1710.10916.

**Captions.** Every training image gets a caption from its label and its measured attributes
(:mod:`gankit.data.captions`: "a small thick slanted seven", "a dark sandal"), computed on the device from the
batch, and the fixed bag-of-words embedding phi of that caption conditions both players. Generated samples get
captions drawn with the data's frequencies (classes in turn, each attribute word with probability 1/3 each);
``gankit sample RUN --caption "a thin upright one"`` generates for a caption of the user's.

**Parts both share.** Conditioning augmentation c = mu(phi) + sigma(phi) * eps with KL(N(mu, sigma^2) || N(0, I))
added to G's loss, weight ``model.kl_weight`` (the paper's lambda = 1; :mod:`gankit.nn.text`). The KL is taken per
dimension of c (divided by ``model.c_dim``), as the authors' released code averages it. A matching-aware D
(``model.matching_aware``, Reed et al. 2016, arXiv 1605.05396, GAN-CLS; StackGAN Sec. 3.2): real images with a
wrong caption are scored as fake, L_D = 1/2 [L(D(x, phi), D(G(z, c), phi)) + L(D(x, phi), D(x, phi_wrong))], where
the wrong caption has another class (uniform among the others) and the attribute words of another image of the
batch. Real images are shown to a stage's D at its resolution (area downsampling).

**StackGAN** (``stackgan``). Stage-I G sketches a half-resolution image from [z, c_1]; Stage-II G refines it to the
data's resolution from the Stage-I image and its own c_2 (Sec. 3.3: no z). As in the paper, Stage-I is trained
first (``model.stage1_steps`` generator updates, Stage-I G against its D), then Stage-II with Stage-I fixed (its nets
get no gradient and run in eval mode). The stage is counted in G updates, kept in the checkpoint; the boundary
(default half of ``steps``) is fixed when the run starts, so a resume to more steps keeps it.

**StackGAN++** (``stackgan++``). A tree of generators trained jointly: one trunk of hidden features with an image
head at each of ``model.scales`` sizes (7 -> 14 -> 28 or 8 -> 16 -> 32), one D per size, and every D loss and G
loss the sum over sizes of a conditional and an unconditional term (Sec. 4.2, Eq. 7 and 8; the unconditional
weight ``model.uncond_weight``). The colour-consistency regulariser (Sec. 4.3) between consecutive sizes,
lambda_1 ||mu_i - mu_{i-1}||^2 + lambda_2 ||Sigma_i - Sigma_{i-1}||_F^2 over each sample's pixel mean and covariance
(lambda_1 = 1, lambda_2 = 5), has weight ``model.color_weight``: 0 by default, as the paper uses it for
unconditional generation and not for text-to-image (on grey images mu and Sigma are the pixel mean and variance).

One optimiser per player holds every stage's parameters: a parameter that gets no gradient is not moved by Adam
(its moments and step count are its own), so Stage-I's training and then Stage-II's are what separate optimisers
would do.

Nets (docs/gans/stackgan.md): :mod:`gankit.models.stack`, the paper's shapes at CPU widths.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...config import _rng
from ...errors import ConfigError
from ...data.captions import WORDS, Captioner, measure
from ...models.stack import StackedGenerator, TextDiscriminator, TreeGenerator
from ...nn import LayerFactory, eval_mode, init_dcgan
from ...nn.conditioning import need_labels
from ...nn.pyramid import enlarge
from ...nn.text import kl_to_standard_normal
from .. import GANS
from ..base import GAN, CountsGeneratorSteps, StepResult
from ..conditional.cgan import wrong_labels


@dataclass
class TextToImageParams:
    """``model.*`` shared by StackGAN and StackGAN++."""

    z_dim: int = field(default=100, metadata=_rng(1))
    c_dim: int = field(default=32, metadata=_rng(1))          # conditioning vector c (paper: 128)
    compressed: int = field(default=32, metadata=_rng(1))     # D's compressed text embedding (paper: 128)
    g_width: int = field(default=32, metadata=_rng(1))
    d_width: int = field(default=32, metadata=_rng(1))
    res_blocks: int = field(default=2, metadata=_rng(0))      # residual blocks (StackGAN Stage-II: 4; ++: 2 per branch)
    kl_weight: float = field(default=1.0, metadata=_rng(0.0))  # lambda of the KL term
    matching_aware: bool = True                               # real image + wrong caption scored as fake


@dataclass
class StackGANParams(TextToImageParams):
    """``model.*`` for StackGAN."""

    # G updates of Stage-I before Stage-II trains; null: half of the run's steps, fixed when the run starts
    stage1_steps: Optional[int] = field(default=None, metadata=_rng(0))


@dataclass
class StackGANppParams(TextToImageParams):
    """``model.*`` for StackGAN++."""

    scales: int = field(default=3, metadata=_rng(2))            # image sizes of the tree (28: 7, 14, 28)
    uncond_weight: float = field(default=1.0, metadata=_rng(0.0))  # the unconditional loss terms
    color_weight: float = field(default=0.0, metadata=_rng(0.0))   # colour-consistency regulariser (alpha)


def downscale(x: Tensor, side: int) -> Tensor:
    """Images resized to ``side`` x ``side`` by area averaging (the identity at their own size)."""
    return x if x.shape[-1] == side else F.interpolate(x, size=(side, side), mode="area")


def pixel_stats(x: Tensor) -> Tuple[Tensor, Tensor]:
    """Each image's pixel mean ``(N, C)`` and pixel covariance ``(N, C, C)`` over its H x W pixels."""
    p = x.flatten(2)
    mu = p.mean(2)
    d = p - mu.unsqueeze(2)
    return mu, d @ d.transpose(1, 2) / p.shape[2]


def color_consistency(images: Sequence[Tensor], mean_weight: float = 1.0, cov_weight: float = 5.0) -> Tensor:
    """StackGAN++ (arXiv 1710.10916, Sec. 4.3, Eq. 9) summed over consecutive sizes: the batch mean of
    ``mean_weight ||mu_i - mu_{i-1}||^2 + cov_weight ||Sigma_i - Sigma_{i-1}||_F^2``."""
    total = images[0].new_zeros(())
    for coarse, fine in zip(images[:-1], images[1:]):
        (mu_c, cov_c), (mu_f, cov_f) = pixel_stats(coarse), pixel_stats(fine)
        total = total + (mean_weight * (mu_f - mu_c).pow(2).sum(1) + cov_weight * (cov_f - cov_c).pow(2).sum((1, 2))).mean()
    return total


class TextToImageGAN(GAN):
    """What StackGAN and StackGAN++ share: captions, their embedding, matching-aware losses, caption sampling and the
    attribute metrics (not registered itself)."""

    needs_images = True
    conditional = True
    no_penalties_why = "its discriminators judge (image, caption) pairs, and the penalties differentiate a D of one image"

    def build(self, info):
        self.captioner = Captioner(info.name, int(info.shape[-1]))
        return self.build_nets(info, self.captioner.embed_dim)

    def build_nets(self, info, text_dim: int) -> Tuple[nn.Module, nn.Module]:
        raise NotImplementedError

    def g_factory(self) -> LayerFactory:
        return LayerFactory(norm="batch", act="relu")

    def d_factory(self) -> LayerFactory:
        return LayerFactory(norm="batch", act="lrelu")

    @property
    def latent_dim(self) -> int:
        return self.G.latent_dim

    # ------------------------------------------------------------ captions
    def captions_of(self, real: Tensor, labels: Optional[Tensor]) -> Tuple[Tensor, Tensor]:
        """``(phi, phi_wrong)``: the embeddings of the batch's captions and of mismatched ones."""
        rows = self.captioner.rows(real, need_labels(labels, f"GAN '{self.cfg.gan}'"))
        wrong = rows.roll(1, 0)
        wrong[:, 0] = wrong_labels(rows[:, 0], self.captioner.num_classes)
        return self.captioner.embed(rows), self.captioner.embed(wrong)

    def kl(self, mu: Tensor, logvar: Tensor) -> Tensor:
        """The conditioning augmentation's KL(N(mu, sigma^2) || N(0, I)) per dimension of c (divided by ``c_dim``),
        the normalisation of the authors' released code, which ``model.kl_weight`` = 1 refers to."""
        return kl_to_standard_normal(mu, logvar) / mu.shape[1]

    # ------------------------------------------------------------ losses at one scale
    def scale_d_loss(self, D: TextDiscriminator, real: Tensor, fake: Tensor, phi: Tensor, phi_wrong: Tensor,
                     uncond_weight: float = 0.0) -> Tensor:
        """One D's loss: conditional (matching-aware when set: the real features judged with the wrong captions
        too) plus ``uncond_weight`` times the unconditional."""
        obj = self.objective
        h_real, h_fake = D.features(real), D.features(fake)
        real_c = D.conditional(h_real, phi)
        loss = obj.d_loss(real_c, D.conditional(h_fake, phi))
        if self.p.matching_aware:
            loss = 0.5 * (loss + obj.d_loss(real_c, D.conditional(h_real, phi_wrong)))
        if uncond_weight and D.uncond_out is not None:
            loss = loss + uncond_weight * obj.d_loss(D.unconditional(h_real), D.unconditional(h_fake))
        return loss

    def scale_g_loss(self, D: TextDiscriminator, real: Tensor, fake: Tensor, phi: Tensor,
                     uncond_weight: float = 0.0) -> Tensor:
        obj = self.objective
        fake_c, fake_u = D.scores(fake, phi)
        real_c, real_u = D.scores(real, phi) if obj.g_needs_real else (None, None)
        loss = obj.g_loss(fake_c, real_c)
        if fake_u is not None and uncond_weight:
            loss = loss + uncond_weight * obj.g_loss(fake_u, real_u)
        return loss

    # ------------------------------------------------------------ sampling
    @torch.no_grad()
    def sample_with_labels(self, n: int, seed: int = 0, ema: bool = True, chunk: int = 1000,
                           labels: Optional[Tensor] = None, truncation: Optional[float] = None,
                           rows: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
        """``(x, classes)``: ``n`` samples for captions ``rows`` (``(n, 1 + A)``, see
        :class:`~gankit.data.captions.Captioner`), or for captions of class ``labels`` (default: classes in turn)
        with attribute words drawn at the data's frequencies. Same seed, same captions and noise."""
        z, gen = self.seeded_latent(n, seed, truncation)
        if rows is None:
            rows = self.captioner.random_rows(self.labels_to_sample(n, labels), gen)
        rows = torch.as_tensor(rows, device=self.device).long()
        if rows.shape != (n, self.captioner.row_width):
            raise ValueError(f"caption rows must have shape ({n}, {self.captioner.row_width}), got {tuple(rows.shape)}")
        return self.generate_from(z, self.captioner.embed(rows), ema, chunk), rows[:, 0]

    def sample_captions(self, captions: Sequence[str], per_caption: int = 1, seed: int = 0) -> Tuple[Tensor, Tensor]:
        """``(images, rows)``: ``per_caption`` samples of each caption text (``ValueError`` for a caption outside
        the vocabulary, naming it)."""
        rows = torch.tensor([self.captioner.parse(c) for c in captions]).repeat_interleave(per_caption, 0)
        x, _ = self.sample_with_labels(len(rows), seed=seed, rows=rows)
        return x, rows

    @torch.no_grad()
    def stage_images(self, n: int = 10, seed: int = 0) -> Tuple[List[Tensor], Tensor]:
        """``(every stage's images, caption rows)`` for ``n`` sampled captions (classes in turn)."""
        gen = torch.Generator().manual_seed(seed)
        z = self.sample_z(n, generator=gen)
        rows = self.captioner.random_rows(self.sample_labels(n), gen)
        with eval_mode(self.G_ema if self.G_ema is not None else self.G) as G:
            images = G.images(z, self.captioner.embed(rows))
        return [im.float() for im in images], rows

    def pictures(self, seed: int = 0) -> Dict[str, Tuple[Tensor, int]]:
        """``stages``: ten captions (one row each), every stage's image from coarse to fine, enlarged;
        ``attributes``: for each attribute a row of its low word then a row of its high word, classes in turn."""
        images, _ = self.stage_images(10, seed)
        side = int(self.info.shape[-1])
        stages = torch.stack([enlarge(im, side) for im in images], 1).flatten(0, 1)
        k = self.num_classes
        rows = torch.cat([self.captioner.word_rows(torch.arange(k), j, code)
                          for j in range(len(self.captioner.attributes)) for code in (1, 2)])
        attrs, _ = self.sample_with_labels(len(rows), seed=seed, rows=rows)
        return {"stages": (stages, len(images)), "attributes": (attrs, k)}

    # ------------------------------------------------------------ metrics
    @torch.no_grad()
    def own_metrics(self, n: int, seed: int = 0) -> Dict[str, float]:
        """Attribute tracking: for each attribute, ``n`` samples captioned with its low word and ``n`` with its high
        word (classes in turn, no other attribute word), measured as the data is. ``<word>_<attribute>``: the
        mean measurement of the samples captioned with that word; ``<attribute>_accuracy``: the share of those
        2n samples whose measurement falls in the third of the training data their word names (chance 1/3)."""
        out: Dict[str, float] = {}
        cap = self.captioner
        y = torch.arange(n) % self.num_classes
        for j, name in enumerate(cap.attributes):
            hits = 0
            for code in (1, 2):
                x, _ = self.sample_with_labels(n, seed=seed + code, rows=cap.word_rows(y, j, code))
                values = measure(x, (name,))
                out[f"{WORDS[name][code - 1]}_{name}"] = float(values.mean())
                hits += int((cap.codes_of(values, name) == code).sum())
            out[f"{name}_accuracy"] = hits / (2 * n)
        return out


class StackGAN(CountsGeneratorSteps, TextToImageGAN):
    """Zhang et al. 2016 (arXiv 1612.03242): Stage-I sketches at half resolution, then Stage-II refines; trained in
    that order."""

    Params = StackGANParams

    @classmethod
    def validate(cls, cfg) -> None:
        super().validate(cfg)
        stage1 = cfg.model.get("stage1_steps") if isinstance(cfg.model, dict) else None
        if isinstance(stage1, int) and not isinstance(stage1, bool) and stage1 >= cfg.steps:
            raise ConfigError(f"config: model.stage1_steps={stage1} is not below steps={cfg.steps}, so Stage-II would "
                              f"never train; lower model.stage1_steps, raise steps, or leave it null (half the run)")

    def build_nets(self, info, text_dim: int):
        p = self.p
        c, side = int(info.shape[0]), int(info.shape[-1])
        if side % 4 or side != int(info.shape[-2]):
            raise ConfigError(f"config: GAN '{self.cfg.gan}' needs square images whose side is a multiple of 4 "
                              f"(Stage-I works at half of it), got {tuple(info.shape)}")
        low = (c, side // 2, side // 2)
        G = StackedGenerator(p.z_dim, p.c_dim, text_dim, low, p.g_width, p.res_blocks, self.g_factory())
        D = nn.ModuleList([TextDiscriminator(low, p.d_width, text_dim, p.compressed, self.d_factory()),
                           TextDiscriminator(tuple(info.shape), p.d_width, text_dim, p.compressed, self.d_factory())])
        init_dcgan(G)
        init_dcgan(D)
        self.init_step_count()
        stage1 = p.stage1_steps if p.stage1_steps is not None else self.cfg.steps // 2
        # the boundary is fixed when the run starts and kept in the checkpoint: a resume to more steps keeps it
        self.register_buffer("stage1_at", torch.tensor(stage1, dtype=torch.long))
        self._stage1 = stage1
        return G, D

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        out = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self._stage1 = int(self.stage1_at)  # one read, at load time
        return out

    @property
    def stage(self) -> int:
        """0 while Stage-I trains (the first ``stage1_at`` G updates), then 1."""
        return 0 if self._steps < self._stage1 else 1

    def _fakes(self, latent: Tensor, phi: Tensor, stage: int, grad: bool) -> Tuple[Tensor, Tensor, Tensor]:
        """``(the stage's fake images, mu, logvar)``; in Stage-II the Stage-I image comes from the fixed Stage-I G."""
        low = None
        if stage == 1:
            with torch.no_grad(), eval_mode(self.G.sketch):
                low = self.G.stage_one(latent, phi)[0]
        with torch.set_grad_enabled(grad and torch.is_grad_enabled()):
            return self.G.stage_one(latent, phi) if low is None else self.G.stage_two(low, latent, phi)

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        stage = self.stage
        phi, phi_wrong = self.captions_of(real, labels)
        fake = self._fakes(self.sample_z(real.shape[0]), phi, stage, grad=False)[0]
        loss = self.scale_d_loss(self.D[stage], downscale(real, fake.shape[-1]), fake, phi, phi_wrong)
        return loss, {"d_loss": loss.detach()}

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        stage = self.stage
        phi, _ = self.captions_of(real, labels)
        fake, mu, logvar = self._fakes(self.sample_z(real.shape[0]), phi, stage, grad=True)
        adv = self.scale_g_loss(self.D[stage], downscale(real, fake.shape[-1]), fake, phi)
        kl = self.kl(mu, logvar)
        loss = adv + self.p.kl_weight * kl
        return loss, {"g_loss": loss.detach(), "kl": kl.detach()}


class StackGANpp(TextToImageGAN):
    """Zhang et al. 2017 (arXiv 1710.10916): a tree of generators at several sizes, trained jointly with conditional
    and unconditional losses."""

    Params = StackGANppParams

    def build_nets(self, info, text_dim: int):
        p = self.p
        c, side = int(info.shape[0]), int(info.shape[-1])
        step = 2 ** (p.scales - 1)
        coarse = side // step
        if side % step or side != int(info.shape[-2]) or coarse < 4:
            raise ConfigError(f"config: model.scales={p.scales} needs square images whose side halves "
                              f"{p.scales - 1} times to 4 or more, got {tuple(info.shape)}")
        G = TreeGenerator(p.z_dim, p.c_dim, text_dim, c, side, p.scales, p.g_width, p.res_blocks, self.g_factory())
        D = nn.ModuleList([TextDiscriminator((c, coarse * 2 ** i, coarse * 2 ** i), p.d_width, text_dim, p.compressed,
                                             self.d_factory(), unconditional=True) for i in range(p.scales)])
        init_dcgan(G)
        init_dcgan(D)
        return G, D

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        phi, phi_wrong = self.captions_of(real, labels)
        with torch.no_grad():
            images = self.G.images(self.sample_z(real.shape[0]), phi)
        terms = [self.scale_d_loss(D, downscale(real, im.shape[-1]), im, phi, phi_wrong, self.p.uncond_weight)
                 for D, im in zip(self.D, images)]
        loss = torch.stack(terms).sum()
        return loss, {"d_loss": loss.detach(), **{f"d_loss_{k}": t.detach() for k, t in enumerate(terms)}}

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        phi, _ = self.captions_of(real, labels)
        images, mu, logvar = self.G.outputs(self.sample_z(real.shape[0]), phi)
        adv = torch.stack([self.scale_g_loss(D, downscale(real, im.shape[-1]), im, phi, self.p.uncond_weight)
                           for D, im in zip(self.D, images)]).sum()
        kl = self.kl(mu, logvar)
        loss = adv + self.p.kl_weight * kl
        logs = {"kl": kl.detach()}
        if self.p.color_weight:
            cc = color_consistency(images)
            loss = loss + self.p.color_weight * cc
            logs["color"] = cc.detach()
        logs["g_loss"] = loss.detach()
        return loss, logs


GANS.add("stackgan", StackGAN)
GANS.add("stackgan++", StackGANpp)
