"""BiGAN, Donahue, Krähenbühl & Darrell 2016, "Adversarial Feature Learning", arXiv 1605.09782, and ALI,
Dumoulin, Belghazi, Poole, Mastropietro, Lamb, Arjovsky & Courville 2016, "Adversarially Learned Inference",
arXiv 1606.00704: one GAN, the two papers being the two settings of ``model.encoder``.

Besides G: z -> x an encoder E: x -> z is learned, and D judges joint pairs: (x, E(x)) with x from the data
against (G(z), z) with z from the prior (BiGAN Sec. 3, Eq. 3; ALI Sec. 2, Eq. 1):

    min_{G, E} max_D  V(D, E, G) = E_x log D(x, E(x)) + E_z log(1 - D(G(z), z)).

At the optimum the two joint distributions are equal, so E inverts G (BiGAN Theorems 1-2): E's features of
real images serve downstream tasks and G(E(x)) reconstructs x.

* ``model.encoder=deterministic`` (BiGAN): z = E(x).
* ``model.encoder=stochastic`` (ALI): E gives the mean and log-variance of a Gaussian q(z | x) and z is
  drawn with the reparametrisation trick, z = mu(x) + sigma(x) * eps (ALI Sec. 2.1, Eq. 4), so D's gradient
  reaches mu and sigma. Features and reconstructions use the mean mu(x).

The steps (:func:`bigan_d_loss`, :func:`bigan_ge_loss`, both compositions of the registered objective's
``d_loss``): D minimises -V; G and E, one optimiser group ``g`` holding both nets' parameters, minimise
with the default ``nonsaturating`` objective D's loss with the labels flipped,

    L_GE = -E_z log D(G(z), z) - E_x log(1 - D(x, E(x))),

the non-saturating form both papers train with (BiGAN Sec. 3.4: "inverse" objective; ALI Algorithm 1).
``objective=minimax`` gives the saturating L_GE = V itself. Every step draws a fresh z (and, for ALI, fresh
eps); D's step holds G's and E's outputs fixed.

Networks (parts in :mod:`gankit.models.encoder`; ``model.arch=auto``: DCGAN-style on images, MLPs on 2-D
points): G is DCGAN's generator (batch norm, ReLU, tanh); E is DCGAN's discriminator trunk whose last
``7 x 7`` convolution (at 28x28) gives the code's parameters (``model.e_width``, 0 = ``d_width``); D = a
DCGAN conv trunk on x ending in ``hidden`` features, FC ``hidden`` - LeakyReLU - FC ``hidden`` on z, and on
their concatenation LeakyReLU - (dropout ``model.d_dropout``) - FC ``hidden`` - LeakyReLU - (dropout) - FC 1.
The prior is N(0, I) (``model.prior=uniform``: U(-1, 1), the BiGAN paper's). The papers' own nets and
settings, and where the preset departs from them, are in ``configs/bigan.yaml`` and docs/gans/bigan.md.

Evaluation (``encodes``): :meth:`BiGAN.encode` gives E's features of real images, from which ``gankit eval``
reports a linear probe's and a 1-nearest-neighbour classifier's test accuracy and the reconstruction
error mean |x - G(E(x))| (:mod:`gankit.metrics.representation`). The picture ``samples/recon.png`` (and
``gankit sample RUN --recon``) shows rows of test images above rows of their reconstructions.

Penalties are refused: they differentiate D in its image input alone, while this D judges (x, z) pairs.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, Literal, Optional, Tuple

import torch
from torch import Tensor

from ...config import _rng
from ...models import DCGANGenerator, MLPGenerator
from ...models.encoder import image_encoder, joint_discriminator, mlp_encoder, reparametrise
from ...nn import LayerFactory, init_dcgan
from .. import GANS
from ..base import GAN, StepResult

#: the objectives G and E can be trained with, and how their loss is made from D's
OBJECTIVES = ("nonsaturating", "minimax")


@dataclass
class BiGANParams:
    """``model.*`` for BiGAN / ALI."""

    arch: Literal["auto", "dcgan", "mlp"] = "auto"           # auto: dcgan on images, mlp on 2-D points
    encoder: Literal["deterministic", "stochastic"] = "deterministic"  # BiGAN's E(x) or ALI's Gaussian q(z | x)
    prior: Literal["normal", "uniform"] = "normal"           # z ~ N(0, I) or U(-1, 1)^z_dim
    z_dim: int = field(default=50, metadata=_rng(1))
    g_width: int = field(default=64, metadata=_rng(1))       # conv nets: base channels of G, D's x trunk, E
    d_width: int = field(default=64, metadata=_rng(1))
    e_width: int = field(default=0, metadata=_rng(0))        # 0: d_width (E mirrors D's trunk)
    hidden: int = field(default=256, metadata=_rng(1))       # MLP width; D's x and z features and joint layer
    g_depth: int = field(default=3, metadata=_rng(1))        # MLP hidden layers (arch=mlp)
    d_depth: int = field(default=3, metadata=_rng(1))
    e_depth: int = field(default=3, metadata=_rng(1))
    d_norm: Literal["auto", "batch", "layer", "none"] = "auto"  # D's x trunk; auto: batch (dcgan), none (mlp)
    e_norm: Literal["auto", "batch", "layer", "none"] = "auto"  # E's hidden layers; the same auto
    d_slope: float = field(default=0.2, metadata=_rng(0.0, 1.0))          # LeakyReLU slope in D and E
    d_dropout: float = field(default=0.0, metadata=_rng(0.0, 1.0, hi_open=True))  # in D's joint MLP


def bigan_d_loss(objective, d_enc: Tensor, d_gen: Tensor) -> Tensor:
    """D's loss: the encoder's pairs (x, E(x)) are the "real" ones, the generator's (G(z), z) the "fake" ones;
    ``d_enc`` / ``d_gen`` are D's logits on them. Standard objective: -E log D(x, E(x)) - E log(1 - D(G(z), z))."""
    return objective.d_loss(d_enc, d_gen)


def bigan_ge_loss(objective, d_enc: Tensor, d_gen: Tensor) -> Tensor:
    """G's and E's joint loss. ``nonsaturating``: D's loss with the labels flipped (the generator's pairs scored
    as real, the encoder's as fake), -E log D(G(z), z) - E log(1 - D(x, E(x))); ``minimax``: minus D's loss,
    E log D(x, E(x)) + E log(1 - D(G(z), z)) (saturating)."""
    if objective.name == "minimax":
        return -objective.d_loss(d_enc, d_gen)
    return objective.d_loss(d_gen, d_enc)


class BiGAN(GAN):
    """Donahue et al. 2016 (arXiv 1605.09782) / Dumoulin et al. 2016 (arXiv 1606.00704): G, an encoder E and
    a discriminator of (x, z) pairs; ``model.encoder`` picks BiGAN's deterministic or ALI's Gaussian E."""

    Params = BiGANParams
    encodes = True

    objectives = OBJECTIVES
    objectives_why = "trains G and E against a joint D with the standard GAN loss"
    no_penalties_why = "they differentiate D in its image input alone, but its D judges (x, z) pairs"

    # ------------------------------------------------------------ networks
    def build(self, info):
        p = self.p
        arch = self.pick_arch(info, "dcgan")
        stochastic = p.encoder == "stochastic"
        images = info.kind == "images"

        def norm(setting: str) -> str:
            return ("none" if arch == "mlp" else "batch") if setting == "auto" else setting

        e_factory = LayerFactory(norm=norm(p.e_norm), act="lrelu", slope=p.d_slope)
        x_factory = LayerFactory(norm=norm(p.d_norm), act="lrelu", slope=p.d_slope)
        mlp_factory = LayerFactory(act="lrelu", slope=p.d_slope)
        if arch == "mlp":
            G = MLPGenerator(p.z_dim, info.shape, p.hidden, p.g_depth, LayerFactory(act="relu"), tanh=images)
            self.E = mlp_encoder(info.shape, p.z_dim, p.hidden, p.e_depth, e_factory, stochastic)
        else:
            G = DCGANGenerator(p.z_dim, info.shape, p.g_width, LayerFactory(norm="batch", act="relu"))
            self.E = image_encoder(info.shape, p.z_dim, p.e_width or p.d_width, e_factory, stochastic)
        D = joint_discriminator(info.shape, p.z_dim, arch=arch, width=p.d_width, hidden=p.hidden, depth=p.d_depth,
                                x_factory=x_factory, factory=mlp_factory, dropout=p.d_dropout)
        if arch == "dcgan":  # DCGAN's N(0, 0.02) init (the MLPs keep PyTorch's, as elsewhere in gankit)
            for net in (G, self.E, D):
                init_dcgan(net)
        return G, D

    def optim_groups(self) -> Dict[str, list]:
        """``g``: G's and E's parameters (one optimiser, one objective); ``d``: D's."""
        return {"g": list(self.G.parameters()) + list(self.E.parameters()), "d": list(self.D.parameters())}

    # ------------------------------------------------------------ the prior
    def latent_is_gaussian(self) -> bool:
        return self.p.prior == "normal"

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        if self.p.prior == "normal":
            return super().sample_z(n, generator)
        device = "cpu" if generator is not None else self.device  # CPU generator: the same draws on every device
        return (torch.rand(n, self.p.z_dim, generator=generator, device=device) * 2 - 1).to(self.device)

    # ------------------------------------------------------------ the steps (labels unused)
    def scores(self, real: Tensor) -> Tuple[Tensor, Tensor, Dict[str, Tensor]]:
        """D's logits on the encoder's pairs (real, E(real)) and on the generator's (G(z), z) for fresh z (and,
        for a stochastic E, fresh eps), and what to log about E."""
        z = self.sample_z(real.shape[0])
        mean, logvar = self.E.distribution(real)
        logs = {}
        if logvar is None:
            z_enc = mean
        else:
            z_enc = reparametrise(mean, logvar)
            logs["e_sigma"] = torch.exp(0.5 * logvar.detach()).mean()
        return self.D(real, z_enc), self.D(self.G(z), z), logs

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        with torch.no_grad():  # G's and E's outputs are inputs of D here
            z = self.sample_z(real.shape[0])
            fake, z_enc = self.G(z), self.E(real)
        loss = bigan_d_loss(self.objective, self.D(real, z_enc), self.D(fake, z))
        return loss, {"d_loss": loss.detach()}

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        d_enc, d_gen, logs = self.scores(real)
        loss = bigan_ge_loss(self.objective, d_enc, d_gen)
        return loss, {"g_loss": loss.detach(), **logs}

    def d_score(self, x: Tensor) -> Tensor:
        """D's logit on the pair (x, E's mean for x), with E in eval mode (the 2-D pictures' background)."""
        was_training = self.E.training
        self.E.eval()
        try:
            return self.D(x, self.E.mean(x))
        finally:
            self.E.train(was_training)

    # ------------------------------------------------------------ the encoder
    @torch.no_grad()
    def encode(self, x: Tensor, chunk: int = 1000) -> Tensor:
        """E's features ``(N, z_dim)`` (float, on the GAN's device) of images ``x``: the posterior mean (E(x) for
        BiGAN, mu(x) for ALI), in eval mode and in chunks of ``chunk``."""
        was_training = self.E.training
        self.E.eval()
        try:
            parts = [self.E.mean(x[i:i + chunk].to(self.device)).float() for i in range(0, len(x), chunk)]
        finally:
            self.E.train(was_training)
        return torch.cat(parts) if parts else torch.zeros(0, self.z_dim, device=self.device)

    @torch.no_grad()
    def reconstruct(self, x: Tensor, chunk: int = 1000) -> Tensor:
        """G(E(x)) for images ``x``: E's mean, then the generator that samples (the EMA one when there is one)."""
        return self.generate_from(self.encode(x, chunk), chunk=chunk)

    def reconstruction_grid(self, x: Tensor, per_row: int = 8) -> Tuple[Tensor, int]:
        """``(images, per_row)``: ``x`` in rows of ``per_row`` images, each row followed by the row of their
        reconstructions G(E(x)) (a last, shorter row is padded with blank images)."""
        x = x.to(self.device).float()
        r = self.reconstruct(x)
        rows = []
        for i in range(0, len(x), per_row):
            a, b = x[i:i + per_row], r[i:i + per_row]
            pad = per_row - len(a)
            if pad:
                blank = torch.full((pad,) + tuple(a.shape[1:]), -1.0, device=a.device)
                a, b = torch.cat([a, blank]), torch.cat([b, blank])
            rows += [a, b]
        return torch.cat(rows), per_row

    def real_images(self, n: int, seed: int = 0) -> Tensor:
        """``n`` real images of the run's data, chosen with ``seed`` from its test split (its train split when
        it has no test split), at the run's resolution and channels."""
        from ...data import load_dataset
        from ...errors import DataError

        d = self.cfg.data
        shape = tuple(self.info.shape)
        try:
            x, _, _ = load_dataset(d.name, root=d.root, split="test", resolution=shape[-1], channels=shape[0])
        except DataError:
            x, _, _ = load_dataset(d.name, root=d.root, split="train", resolution=shape[-1], channels=shape[0],
                                   size=d.size)
        idx = torch.randperm(len(x), generator=torch.Generator().manual_seed(seed))[:n]
        return x[idx]

    def pictures(self, seed: int = 0) -> Dict[str, Tuple[Tensor, int]]:
        """``recon``: 32 test images (chosen with ``seed``) in rows of 8, each row above its reconstructions."""
        return {"recon": self.reconstruction_grid(self.real_images(32, seed), 8)}


GANS.add("bigan", BiGAN)
