"""VAE/GAN, Larsen, Sønderby, Larochelle & Winther 2015, "Autoencoding beyond pixels using a learned similarity
metric", arXiv 1512.09300.

A variational auto-encoder whose decoder is the GAN's generator G, and whose reconstruction error is measured in
a hidden layer of the discriminator instead of in pixels. Three nets: an encoder E giving a diagonal Gaussian
q(z | x) (z drawn with the reparametrisation trick), the decoder / generator G and the discriminator D, whose last
hidden map Dis_l(x) (``D.trunk``, the same accessor the semi-supervised GAN's feature matching reads) serves as
the learned similarity metric. The losses (paper Sec. 2, Eqs. 3-9; pure functions below):

* ``L_prior`` = KL(q(z | x) || N(0, I)) = 1/2 sum_j (mu_j^2 + sigma_j^2 - log sigma_j^2 - 1), summed over the
  latent dimensions and averaged over the batch (:func:`kl_prior`).
* ``L_llike^Dis_l`` = -log N(Dis_l(x) | Dis_l(x~), I) up to a constant = 1/2 sum_f (Dis_l(x)_f - Dis_l(x~)_f)^2,
  **summed** over D's hidden features f and averaged over the batch, x~ = G(z), z ~ q(z | x)
  (:func:`gaussian_nll`, Eq. 6: identity covariance, weight 1 in E's loss).
* ``L_GAN`` = log D(x) + log(1 - D(G(z_p))) + log(1 - D(G(E(x)))), z_p ~ N(0, I) (Eq. 9): D sees real images,
  samples of the prior and reconstructions. Composed from the registered objective: D minimises
  ``d_loss(D(x), D([G(z_p), x~]))``, which for the log loss is -E log D(x) - 1/2 E log(1 - D(G(z_p)))
  - 1/2 E log(1 - D(x~)): Eq. 9 with its two fake terms averaged, so that real and generated images weigh the
  same (:func:`vaegan_d_loss`).

The updates (Algorithm 1), each its own optimiser group and phase, in the order D, E, G, each on a fresh batch:

* D (``d``) minimises -L_GAN as above (only D's parameters move; the trainer freezes the other groups).
* E (``e``) minimises ``L_prior + L_llike^Dis_l``.
* G (``g``) minimises ``gamma L_llike^Dis_l + gan_weight L_GAN^G`` with L_GAN^G = ``g_loss(D([G(z_p), x~]))``,
  by default the non-saturating -1/2 (E log D(G(z_p)) + E log D(x~)); ``objective=minimax`` gives the paper's
  saturating -L_GAN. ``gamma`` (``model.gamma``) weighs reconstruction against fooling D (Sec. 2.2).

E and G train with different losses, hence two groups (``optim.e``, ``optim.g``), declared as Triple-GAN declares
its ``c``: the generic trainer makes one optimiser per group and runs the phases. Gradients of L_llike pass
through D's layers to E and G but never update D: in the E and G phases D's parameters are frozen by the trainer
(and no optimiser of theirs steps). Every pass of D takes one batch [x, G(z_p), x~] (E's phase: [x, x~]), so batch
norm normalises real and generated images together and Dis_l(x) and Dis_l(x~) are compared under the same
statistics.

``model.gan_weight=0`` is the plain VAE baseline (Kingma & Welling 2013, arXiv 1312.6114) with the same E and G:
the reconstruction term becomes the pixel-space Gaussian 1/2 sum_pixels (x - x~)^2 / sigma^2
(sigma = ``model.pixel_sigma``, images in [-1, 1]; summed over pixels, averaged over the batch), E minimises
L_prior + L_pixel and G minimises L_pixel (together the negative ELBO; ``gamma`` is unused), and neither E's nor
G's loss reads D. D is still trained by its own phase on real images against the VAE's samples and
reconstructions (its d_loss is a diagnostic of how far they are from the data), without any effect on E or G.

Networks (``model.arch=dcgan``, default): G is DCGAN's generator; E is DCGAN's discriminator trunk whose last 7x7
convolution (at 28x28) gives the mean and log-variance (:func:`gankit.models.encoder.image_encoder`, the ALI
encoder); D is DCGAN's discriminator, Dis_l its last ``2w x 7 x 7`` hidden map. ``model.arch=mlp``: fully
connected nets, Dis_l D's last hidden layer. The paper's own CelebA nets and settings, and where the preset
departs from them, are in ``configs/vaegan.yaml`` and docs/gans/vaegan.md.

Evaluation (``encodes``, as BiGAN): ``gankit eval`` reports recon_error mean |x - G(E(x))| (E's mean) on the test
images, the linear-probe and 1-NN accuracy of E's means, besides the sample metrics of prior samples G(z_p);
``samples/recon.png`` and ``gankit sample RUN --recon`` show test images above their reconstructions.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple

import torch
from torch import Tensor

from ...config import _rng
from ...models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ...models.encoder import image_encoder, mlp_encoder, reparametrise
from ...nn import LayerFactory, init_dcgan
from .. import GANS
from ..base import GAN, Phase, StepResult
from .bigan import BiGAN

#: the objectives the log-loss game L_GAN can be played with (D's loss is the same; G's differs)
OBJECTIVES = ("nonsaturating", "minimax")


@dataclass
class VAEGANParams:
    """``model.*`` for VAE/GAN."""

    arch: Literal["dcgan", "mlp"] = "dcgan"
    z_dim: int = field(default=32, metadata=_rng(1))
    g_width: int = field(default=32, metadata=_rng(1))       # conv nets: base channels of G, D and E
    d_width: int = field(default=32, metadata=_rng(1))
    e_width: int = field(default=0, metadata=_rng(0))        # 0: d_width (E mirrors D's trunk)
    hidden: int = field(default=256, metadata=_rng(1))       # MLP width (arch=mlp)
    g_depth: int = field(default=2, metadata=_rng(1))        # MLP hidden layers (arch=mlp)
    d_depth: int = field(default=2, metadata=_rng(1))
    e_depth: int = field(default=2, metadata=_rng(1))
    d_norm: Literal["auto", "batch", "layer", "none"] = "auto"  # auto: batch (dcgan), none (mlp)
    e_norm: Literal["auto", "batch", "layer", "none"] = "auto"
    d_slope: float = field(default=0.2, metadata=_rng(0.0, 1.0))  # LeakyReLU slope in D and E
    gamma: float = field(default=1e-3, metadata=_rng(0.0))        # weight of L_llike in G's loss (paper's gamma)
    gan_weight: float = field(default=1.0, metadata=_rng(0.0))    # weight of G's GAN term; 0: the plain VAE
    pixel_sigma: float = field(default=0.3, metadata=_rng(0.0, lo_open=True))  # the VAE's pixel Gaussian std


# ------------------------------------------------------------------ the losses (pure functions)
def kl_prior(mean: Tensor, logvar: Tensor) -> Tensor:
    """L_prior = KL(N(mean, diag(exp(logvar))) || N(0, I)) = 1/2 sum_j (mean^2 + exp(logvar) - logvar - 1), summed
    over the latent dimensions, averaged over the batch."""
    mean, logvar = mean.float(), logvar.float()
    return 0.5 * (mean.pow(2) + logvar.exp() - logvar - 1).sum(1).mean()


def gaussian_nll(target: Tensor, recon: Tensor, sigma: float = 1.0) -> Tensor:
    """-log N(target | recon, sigma^2 I) up to its constant: 1/2 sum (target - recon)^2 / sigma^2 over every
    feature (or pixel) of a sample, averaged over the batch (the paper's Eq. 6 with sigma = 1 on D's features)."""
    diff = (target.float() - recon.float()).flatten(1)
    return 0.5 * diff.pow(2).sum(1).mean() / (sigma * sigma)


def vaegan_d_loss(objective, d_real: Tensor, d_prior: Tensor, d_recon: Tensor) -> Tensor:
    """D's loss from its logits on real images, prior samples G(z_p) and reconstructions G(E(x)): the objective's
    ``d_loss`` with both kinds of fakes as the fake batch; for the log loss -E log D(x) - 1/2 E log(1 - D(G(z_p)))
    - 1/2 E log(1 - D(G(E(x)))) when the two fake batches are equally large."""
    return objective.d_loss(d_real, torch.cat([d_prior, d_recon]))


def vaegan_g_gan_loss(objective, d_prior: Tensor, d_recon: Tensor) -> Tensor:
    """G's GAN term: the objective's ``g_loss`` on both kinds of fakes (non-saturating:
    -1/2 (E log D(G(z_p)) + E log D(G(E(x)))); minimax: 1/2 (E log(1 - D(G(z_p))) + E log(1 - D(G(E(x))))))."""
    return objective.g_loss(torch.cat([d_prior, d_recon]))


# ------------------------------------------------------------------ the GAN
class VAEGAN(GAN):
    """Larsen et al. 2015 (arXiv 1512.09300): encoder E, decoder = generator G, discriminator D whose hidden layer
    measures the reconstruction error; ``model.gan_weight=0`` gives the plain VAE with the same E and G."""

    Params = VAEGANParams
    optim_group_names = ("g", "d", "e")
    needs_images = True
    encodes = True

    objectives = OBJECTIVES
    objectives_why = "plays VAE/GAN's log-loss game (Larsen et al. 2015)"

    # ------------------------------------------------------------ networks
    def build(self, info):
        p = self.p

        def norm(setting: str) -> str:
            return ("none" if p.arch == "mlp" else "batch") if setting == "auto" else setting

        d_factory = LayerFactory(norm=norm(p.d_norm), act="lrelu", slope=p.d_slope)
        e_factory = LayerFactory(norm=norm(p.e_norm), act="lrelu", slope=p.d_slope)
        g_factory = LayerFactory(norm="batch", act="relu")
        if p.arch == "mlp":
            G = MLPGenerator(p.z_dim, info.shape, p.hidden, p.g_depth, g_factory, tanh=True)
            D = MLPDiscriminator(info.shape, p.hidden, p.d_depth, d_factory)
            self.E = mlp_encoder(info.shape, p.z_dim, p.hidden, p.e_depth, e_factory, stochastic=True)
        else:
            G = DCGANGenerator(p.z_dim, info.shape, p.g_width, g_factory)
            D = DCGANDiscriminator(tuple(info.shape), p.d_width, d_factory)
            self.E = image_encoder(info.shape, p.z_dim, p.e_width or p.d_width, e_factory, stochastic=True)
            for net in (G, D, self.E):  # DCGAN's N(0, 0.02) init
                init_dcgan(net)
        return G, D

    def optim_groups(self) -> Dict[str, list]:
        return {"g": list(self.G.parameters()), "d": list(self.D.parameters()), "e": list(self.E.parameters())}

    def phases(self) -> List[Phase]:
        return [Phase("d", self.d_step, self.cfg.train.n_critic), Phase("e", self.e_step), Phase("g", self.g_step)]

    @property
    def plain_vae(self) -> bool:
        """True with ``model.gan_weight=0``: pixel-space reconstruction, E's and G's losses do not read D."""
        return self.p.gan_weight == 0

    # ------------------------------------------------------------ pieces of the steps
    def posterior(self, real: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """``(z, mean, logvar)``: a reparametrised draw z ~ q(z | real) and q's parameters."""
        mean, logvar = self.E.distribution(real)
        return reparametrise(mean, logvar), mean, logvar

    def features(self, x: Tensor) -> Tensor:
        """Dis_l(x): D's last hidden map, flattened ``(N, F)``."""
        return self.D.trunk(x).flatten(1)

    def recon_loss(self, real: Tensor, recon: Tensor) -> Tensor:
        """L_llike: in D's hidden layer (one pass of D's trunk over [real, recon]), or in pixels for the plain VAE."""
        if self.plain_vae:
            return gaussian_nll(real, recon, self.p.pixel_sigma)
        f = self.features(torch.cat([real, recon]))
        n = real.shape[0]
        return gaussian_nll(f[:n].detach(), f[n:])  # Dis_l(x) is the target; x~ carries the gradient

    def d_logits(self, real: Tensor, prior: Tensor, recon: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
        """One pass of D over [real, prior, recon]: ``(logits of real, of prior, of recon, features (3N, F))``."""
        h = self.D.trunk(torch.cat([real, prior, recon]))
        d = self.D.head(h)
        n, m = real.shape[0], prior.shape[0]
        return d[:n], d[n:n + m], d[n + m:], h.flatten(1)

    # ------------------------------------------------------------ the steps (labels unused)
    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        n = real.shape[0]
        with torch.no_grad():  # E's and G's outputs are inputs of D here
            prior = self.G(self.sample_z(n))
            recon = self.G(self.posterior(real)[0])
        d_real, d_prior, d_recon, _ = self.d_logits(real, prior, recon)
        loss = vaegan_d_loss(self.objective, d_real, d_prior, d_recon)
        return self.add_penalties(loss, {"d_loss": loss.detach()}, real, prior)

    def e_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        z, mean, logvar = self.posterior(real)
        prior_term = kl_prior(mean, logvar)
        llike = self.recon_loss(real, self.G(z))
        loss = prior_term + llike
        return loss, {"e_loss": loss.detach(), "kl": prior_term.detach(), "llike": llike.detach(),
                      "e_sigma": torch.exp(0.5 * logvar.detach()).mean()}

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        n = real.shape[0]
        with torch.no_grad():  # E is fixed in G's step
            z = self.posterior(real)[0]
        recon = self.G(z)
        if self.plain_vae:
            llike = gaussian_nll(real, recon, self.p.pixel_sigma)
            return llike, {"g_loss": llike.detach(), "g_llike": llike.detach()}
        prior = self.G(self.sample_z(n))
        d_real, d_prior, d_recon, h = self.d_logits(real, prior, recon)
        llike = gaussian_nll(h[:n].detach(), h[2 * n:])
        gan = vaegan_g_gan_loss(self.objective, d_prior, d_recon)
        loss = self.p.gamma * llike + self.p.gan_weight * gan
        return loss, {"g_loss": loss.detach(), "g_gan": gan.detach(), "g_llike": llike.detach()}

    # ------------------------------------------------------------ the encoder (BiGAN's: E's mean, G decodes)
    encode = BiGAN.encode
    reconstruct = BiGAN.reconstruct
    reconstruction_grid = BiGAN.reconstruction_grid
    real_images = BiGAN.real_images
    pictures = BiGAN.pictures


GANS.add("vaegan", VAEGAN)
