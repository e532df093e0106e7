"""The semi-supervised GAN, Salimans, Goodfellow, Zaremba, Cheung, Radford & Chen 2016, "Improved
Techniques for Training GANs", arXiv 1606.03498, Sec. 5 (with feature matching, Sec. 3.1).

D is a classifier with K + 1 outputs, the K classes of the data and "generated"; with the fake class's
logit fixed at 0 it has K logits l_1..l_K and D(x) = Z(x) / (Z(x) + 1), Z = sum_k exp(l_k)
(:class:`~gankit.nn.ClassifierDiscriminator`). Its loss is a supervised and an unsupervised part:

    L_D = L_supervised + w L_unsupervised,
    L_supervised   = -E_{(x, y) labelled} log p(y | x, y < K + 1)    = mean cross-entropy of softmax(l(x)) and y,
    L_unsupervised = -E_{x unlabelled} log D(x) - E_z log(1 - D(G(z)))
                   = mean softplus(-lse(l(x))) + mean softplus(lse(l(G(z)))),   lse = logsumexp over the K logits,

(the stable forms of log D = lse - softplus(lse) and log(1 - D) = -softplus(lse)); w = ``model.unsup_weight``,
1 in the paper's equation. G is trained by feature matching on D's last hidden layer f (Sec. 3.1):

    L_G = || mean_x f(x) - mean_z f(G(z)) ||_2^2   (summed over the features).

Data: ``data.labels=N`` keeps N labelled training images, N / K per class, chosen with the run's seed, and
uses the rest unlabelled (:mod:`gankit.data.fewlabels`): each batch the steps receive is the unlabelled
batch followed by a labelled one, the unknown labels marked -1. The supervised term reads the labelled
rows, the unsupervised term and feature matching the unlabelled ones. Without ``data.labels`` every
training image is labelled and serves both terms (the fully supervised baseline).

Nets: the paper's MNIST nets were MLPs with weight normalisation (D: 1000-500-250-250-250 units, Gaussian
noise of std 0.3 on the input and 0.5 before every other layer; G: 500-500 softplus units with batch norm).
Here, by default, the DCGAN nets at 28x28 (``model.arch=dcgan``; ``mlp`` for fully connected ones of
constant width): D = conv 4x4/2 (w) - LeakyReLU - conv 4x4/2 (2w) - LeakyReLU, whose 2w x 7 x 7 map is f,
then one linear layer (a 7x7 conv) to the K logits; G is DCGAN's with batch norm. They are the nets of the
library's other MNIST GANs, and convolutions reach a small error at a width that trains on a CPU. D has
no normalisation by default (``model.d_norm=layer`` for layer norm; batch norm is not offered: it would
mix the labelled, unlabelled and generated batches and, in training mode, fix every channel's batch mean
to its bias, which is what feature matching compares). Gaussian noise on D's input and features
(``model.d_input_noise``, ``model.d_noise``) is the paper's regulariser, placed before D's first and last
layer here.

Departures from the authors' code (github.com/openai/improved-gan, mnist_svhn_cifar10/
train_mnist_feature_matching.py), each a setting or a constant factor: it halves L_unsupervised
(``model.unsup_weight=0.5`` reproduces it), averages the squared feature differences instead of summing
them (a constant factor that Adam's step size largely ignores), draws z ~ U(0, 1)^100 (here N(0, I)),
uses all 60,000 training images as the unlabelled set (here the rest) and reports the test error of a
running average of D's weights (here D's own weights; ``model.d_average=0.9999`` evaluates an average).

The paper's nets are settings: ``model.arch=mlp``, ``model.d_widths=[1000,500,250,250,250]``,
``model.g_widths=[500,500]``, ``model.g_act=softplus``, ``model.d_wn=true`` (weight norm in D with
data-dependent init, Salimans & Kingma 2016; g fixed in the hidden layers as in the authors' ``nn.DenseLayer``),
``model.d_slope=0`` (ReLU), ``model.d_input_noise=0.6`` (their 0.3 on [0, 1] images), ``model.d_hidden_noise=0.5``,
``model.d_noise=0.5``, Adam(3e-3, beta1 0.5); docs/gans/semisupervised.md has the command and its results.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass, field
from typing import Literal, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ...config import _rng
from ...errors import ConfigError
from ...models import DCGANDiscriminator, DCGANGenerator, MLPDiscriminator, MLPGenerator
from ...nn import (ClassifierDiscriminator, LayerFactory, WeightNormLinear, eval_mode, init_dcgan,
                   init_weight_norm_from_data)
from ...train.ema import blend_, ema_copy
from ...objectives.feature_matching import feature_matching_loss
from .. import GANS
from ..base import GAN, StepResult


@dataclass
class SemiSupervisedParams:
    """``model.*`` for the semi-supervised GAN."""

    arch: Literal["dcgan", "mlp"] = "dcgan"                # DCGAN nets (28x28: two stride-2 stages) or MLPs
    z_dim: int = field(default=100, metadata=_rng(1))
    g_width: int = field(default=64, metadata=_rng(1))     # conv nets: base channels
    d_width: int = field(default=64, metadata=_rng(1))
    hidden: int = field(default=256, metadata=_rng(1))     # MLP width and hidden layers
    g_depth: int = field(default=3, metadata=_rng(1))
    d_depth: int = field(default=3, metadata=_rng(1))
    g_widths: Tuple[int, ...] = field(default=(), metadata=_rng(1))  # MLPs: hidden widths (empty: hidden x depth)
    d_widths: Tuple[int, ...] = field(default=(), metadata=_rng(1))
    g_act: Literal["relu", "softplus"] = "relu"            # G's hidden activation (the paper's MLP: softplus)
    d_norm: Literal["none", "layer"] = "none"              # no batch norm in D (see the module docstring)
    d_wn: bool = False                                     # MLP D: weight norm, initialised from a data batch,
    #                                                        g fixed in the hidden layers (the authors' code)
    d_average: float = field(default=0.0, metadata=_rng(0.0, 1.0, hi_open=True))  # classify with an EMA of D's
    #                                                        weights of this decay (0: D's own; authors: 0.9999)
    d_slope: float = field(default=0.2, metadata=_rng(0.0, 1.0))           # LeakyReLU slope in D (0: ReLU)
    d_input_noise: float = field(default=0.0, metadata=_rng(0.0))          # std of Gaussian noise on D's input
    d_hidden_noise: float = field(default=0.0, metadata=_rng(0.0))         # ... before D's later hidden layers (MLP)
    d_noise: float = field(default=0.0, metadata=_rng(0.0))                # ... on D's features before its head
    unsup_weight: float = field(default=1.0, metadata=_rng(0.0))           # w of L_unsupervised


def _masked_mean(v: Tensor, mask: Optional[Tensor]) -> Tensor:
    """Mean of ``v`` over the rows where ``mask`` is True (all rows when None; 0 when none), with no host sync."""
    if mask is None:
        return v.mean()
    m = mask.to(v.dtype)
    return (v * m).sum() / m.sum().clamp(min=1.0)


def semisupervised_d_terms(logits_real: Tensor, labels: Tensor, logits_fake: Tensor,
                           unlabelled: Optional[Tensor] = None) -> Tuple[Tensor, Tensor]:
    """``(L_supervised, L_unsupervised)`` of Salimans et al. 2016 (arXiv 1606.03498, Sec. 5) for D's K class
    logits (the fake class's logit being 0).

    ``logits_real`` (N, K) are D's logits on real images whose ``labels`` (N,) are class indices, or -1 where
    the label is not known: L_supervised is the mean cross-entropy over the known rows (0 if none).
    ``unlabelled`` (N,) bool marks the real rows that enter L_unsupervised (None: all of them);
    ``logits_fake`` (M, K) are D's logits on generated images. With lse = logsumexp over K,
    L_unsupervised = mean softplus(-lse(real)) + mean softplus(lse(fake)) = -E log D(x) - E log(1 - D(G(z)))."""
    logits_real, logits_fake = logits_real.float(), logits_fake.float()
    known = labels >= 0
    ce = F.cross_entropy(logits_real, labels.clamp(min=0), reduction="none")
    sup = _masked_mean(ce, known)
    unsup = (_masked_mean(F.softplus(-torch.logsumexp(logits_real, 1)), unlabelled)
             + F.softplus(torch.logsumexp(logits_fake, 1)).mean())
    return sup, unsup


@torch.no_grad()
def average_weights(avg: torch.nn.Module, net: torch.nn.Module, decay: float, n: Tensor) -> None:
    """One update of the exponential average of ``net``'s parameters in ``avg`` (buffers copied), bias-corrected
    as if it had started at zero: after n updates ``avg`` = sum_s a^(n-s) w_s / sum_s a^(n-s), the weighted mean
    of the iterates w_1..w_n, so that the first update copies ``net`` and the average never leans towards the
    initial weights. (The Improved-GAN authors' code starts the average at zero, uncorrected, and reads its test
    error from it.) ``n`` is a 0-d tensor counting the updates, incremented here on the device (no host sync)."""
    n.add_(1.0)
    blend_(avg, net, (1.0 - decay) / -torch.expm1(n * math.log(decay)))  # 1 - a^n, accurate for a near 1


def class_error(logits: Tensor, labels: Tensor) -> Tensor:
    """Share of the known labels (``labels >= 0``) that ``argmax(logits)`` gets wrong (0 if none), on the device."""
    known = labels >= 0
    return _masked_mean((logits.argmax(1) != labels).float(), known)


class SemiSupervisedGAN(GAN):
    """Salimans et al. 2016 (arXiv 1606.03498, Sec. 5): a (K+1)-class D trained on labelled, unlabelled and
    generated images; G trained by feature matching."""

    Params = SemiSupervisedParams
    needs_images = True
    few_labels = True
    classifies = True

    objectives = ("nonsaturating",)
    objectives_why = "trains D with the (K+1)-class log loss and G by feature matching (Salimans et al. 2016)"

    # ------------------------------------------------------------ networks
    def build(self, info):
        K = self.num_classes
        if K < 2:
            raise ConfigError(f"config: GAN '{self.cfg.gan}' learns to classify the data's classes and needs labelled "
                              f"data, but '{info.name}' has no class labels")
        p = self.p
        d_factory = LayerFactory(norm=p.d_norm, act="lrelu", slope=p.d_slope, wn=p.d_wn)
        g_factory = LayerFactory(norm="batch", act=p.g_act)
        if p.arch != "mlp":
            mlp_only = [k for k in ("g_widths", "d_widths", "d_hidden_noise") if getattr(p, k)]
            if mlp_only:
                raise ConfigError(f"config: model.{mlp_only[0]} sets the MLP nets; add model.arch=mlp")
        if p.arch == "mlp":
            G = MLPGenerator(p.z_dim, info.shape, p.g_widths or p.hidden, None if p.g_widths else p.g_depth,
                             g_factory, tanh=True)
            net = MLPDiscriminator(info.shape, p.d_widths or p.hidden, None if p.d_widths else p.d_depth,
                                   d_factory, outputs=K, noise=p.d_hidden_noise)
            for layer in [m for m in net.modules() if isinstance(m, WeightNormLinear)][:-1]:
                layer.fix_scale()  # hidden layers: g set by the data init, then fixed; the head's g trains
        else:
            if p.d_wn:
                raise ConfigError("config: model.d_wn (weight normalisation) is offered for the MLP nets; add "
                                  "model.arch=mlp")
            G = DCGANGenerator(p.z_dim, info.shape, p.g_width, g_factory)
            net = DCGANDiscriminator(tuple(info.shape), p.d_width, d_factory, outputs=K)
            init_dcgan(G)
            init_dcgan(net)
        D = ClassifierDiscriminator(net, p.d_input_noise, p.d_noise)
        # the classifier that is evaluated: an average of D's weights (in the checkpoint), or D itself
        self.D_avg = copy.deepcopy(D).requires_grad_(False) if p.d_average > 0 else None
        if self.D_avg is not None:  # n, for the average's bias correction (only then: older checkpoints still load)
            self.register_buffer("d_average_updates", torch.zeros(()))
        return G, D

    def after_step(self, group: str) -> None:
        if group == "d" and self.D_avg is not None:
            average_weights(self.D_avg, self.D, self.p.d_average, self.d_average_updates)

    @property
    def classifier_net(self):
        """The net :meth:`classify` reads: the average of D's weights with ``model.d_average``, else D."""
        return self.D_avg if self.D_avg is not None else self.D

    def init_from_data(self, real: Tensor) -> None:
        """With ``model.d_wn``: weight norm's data-dependent init of D on a batch of real images (Salimans &
        Kingma 2016, Sec. 3; as the authors' Improved-GAN code does), in eval mode (no noise)."""
        if not self.p.d_wn:
            return
        with eval_mode(self.D):
            init_weight_norm_from_data(self.D, real)
        if self.D_avg is not None:
            ema_copy(self.D_avg, self.D)

    # ------------------------------------------------------------ the steps
    def _rows(self, labels: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor]]:
        """``(labels, the real rows of the unsupervised terms)``: with ``data.labels`` the unlabelled rows
        (label -1), else every row (None)."""
        if labels is None:
            raise ValueError(f"GAN '{self.cfg.gan}' needs the batch's labels (-1 where unknown)")
        labels = labels.long()
        return labels, (labels < 0) if self.cfg.data.labels is not None else None

    def generate(self) -> Tensor:
        """A batch of ``batch_size`` fakes (as many as unlabelled images in a batch)."""
        return self.G(self.sample_z(self.local_batch))

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        labels, unlabelled = self._rows(labels)
        with torch.no_grad():
            fake = self.generate()
        _, l_real = self.D.outputs(real)
        _, l_fake = self.D.outputs(fake)
        sup, unsup = semisupervised_d_terms(l_real, labels, l_fake, unlabelled)
        loss = sup + self.p.unsup_weight * unsup
        logs = {"d_loss": unsup.detach(), "d_class": sup.detach(), "d_class_err": class_error(l_real.detach(), labels)}
        # the penalties take as many real images as fakes: the unlabelled rows, which a few-label batch puts first
        return self.add_penalties(loss, logs, real[:fake.shape[0]], fake)

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        _, unlabelled = self._rows(labels)
        with torch.no_grad():  # D is frozen in this phase; only the fakes' features carry G's gradient
            f_real, _ = self.D.outputs(real)
        f_fake, _ = self.D.outputs(self.generate())
        loss = feature_matching_loss(f_real, f_fake, unlabelled)
        return loss, {"g_loss": loss.detach()}

    # ------------------------------------------------------------ the classifier
    @torch.no_grad()
    def classify(self, x: Tensor, chunk: int = 1000) -> Tensor:
        """D's K class logits ``(N, K)`` (float, on the GAN's device) of images ``x``, in eval mode (no noise)
        and in chunks; ``argmax`` is the predicted class (the fake class is never predicted for real data
        here: only the K real classes are compared, as in the paper's test error)."""
        with eval_mode(self.classifier_net) as D:
            parts = [D.class_logits(x[i:i + chunk].to(self.device)).float() for i in range(0, len(x), chunk)]
        return torch.cat(parts) if parts else torch.zeros(0, self.num_classes, device=self.device)


GANS.add("semisupervised-gan", SemiSupervisedGAN)
