"""Conditioning on a class label: small parts that any architecture can use.

Every generator and discriminator in gankit has one calling convention, ``G(z, y=None)`` and
``D(x, y=None)``; an unconditional net ignores ``y``, a conditional one needs it. The ways of
conditioning are parts here, chosen by the named GAN or its config:

* :class:`LabelInput` — input concatenation (conditional GAN, Mirza & Osindero 2014, arXiv
  1411.1784): the one-hot code of y (or a learned embedding) appended to the input vector, or as
  constant feature maps to an image's channels. :class:`InputConditioned` puts it in front of a net.
* :class:`ConditionalBatchNorm` — batch norm whose gain and bias are looked up per class
  (de Vries et al. 2017, arXiv 1707.00683; Dumoulin et al. 2017, arXiv 1610.07629), as in the
  projection-discriminator paper's generator and BigGAN (Brock et al. 2018, arXiv 1809.11096).
  :class:`LabelSequential` is a ``Sequential`` that hands ``y`` to such layers; the layer factory
  makes them with ``norm="conditional"``.
* :class:`ProjectionDiscriminator` — D(x, y) = psi(phi(x)) + <embed(y), phi(x)> (Miyato & Koyama
  2018, "cGANs with Projection Discriminator", arXiv 1802.05637, Eq. 3).
* :class:`AuxClassifierDiscriminator` — a class head next to the real/fake head on the same trunk
  (AC-GAN, Odena et al. 2016, "Conditional Image Synthesis with Auxiliary Classifier GANs",
  arXiv 1610.09585).
* :class:`ClassifierDiscriminator` — D as a (K+1)-class classifier whose fake class has its logit fixed
  at 0, so that D(x) = Z(x) / (Z(x) + 1) with Z(x) = sum_k exp(l_k(x)) (the semi-supervised GAN, Salimans
  et al. 2016, "Improved Techniques for Training GANs", arXiv 1606.03498, Sec. 5).

A discriminator that the last three wrap exposes ``trunk(x)`` (its features, phi), ``head(h)`` (its
score from them, psi) and ``feature_dim`` (the size of ``trunk(x).flatten(1)``).
"""
from __future__ import annotations

from typing import Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

__all__ = ["Conditional", "LabelSequential", "LabelInput", "InputConditioned", "ConditionalBatchNorm", "LinearConditionalBatchNorm",
           "ProjectionDiscriminator", "AuxClassifierDiscriminator", "ClassifierDiscriminator", "LabelBound",
           "need_labels"]


def need_labels(y: Optional[Tensor], what: str) -> Tensor:
    if y is None:
        raise ValueError(f"{what} is conditional: call it with the class labels y")
    return y


class Conditional(nn.Module):
    """Marker: a layer called as ``layer(h, y)`` (see :class:`LabelSequential`)."""


class LabelSequential(nn.Sequential):
    """``nn.Sequential`` that passes the labels ``y`` to its :class:`Conditional` layers; without
    such layers it computes exactly what ``nn.Sequential`` does (same modules, same parameter names)."""

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:  # type: ignore[override]
        for m in self:
            x = m(x, y) if isinstance(m, Conditional) else m(x)
        return x


class LabelInput(nn.Module):
    """Appends the label to an input (Mirza & Osindero 2014, arXiv 1411.1784, Sec. 3.2: "y is fed
    into both the discriminator and generator as additional input layer").

    ``embed_dim=0``: the one-hot code of y (no parameters); ``embed_dim=d``: a learned d-dimensional
    embedding. A vector input ``(N, F)`` becomes ``(N, F + dim)``; an image ``(N, C, H, W)`` gets
    ``dim`` constant channels ``(N, C + dim, H, W)``, or with ``flat=True`` is flattened first
    (``(N, C*H*W + dim)``, for fully connected nets)."""

    def __init__(self, num_classes: int, embed_dim: int = 0, flat: bool = False):
        super().__init__()
        if num_classes < 2:
            raise ValueError(f"LabelInput needs at least 2 classes, got {num_classes}")
        self.num_classes, self.flat = num_classes, flat
        self.embed = nn.Embedding(num_classes, embed_dim) if embed_dim else None
        self.dim = embed_dim or num_classes

    def code(self, y: Tensor) -> Tensor:
        """``(N, dim)``: the one-hot code or the embedding of ``y``."""
        if self.embed is not None:
            return self.embed(y)
        return F.one_hot(y, self.num_classes).to(torch.get_default_dtype())

    def forward(self, x: Tensor, y: Tensor) -> Tensor:
        c = self.code(need_labels(y, "LabelInput")).to(x.dtype)
        if x.dim() == 4 and not self.flat:
            c = c[:, :, None, None].expand(-1, -1, x.shape[2], x.shape[3])
        elif x.dim() != 2:
            x = x.flatten(1)
        return torch.cat([x, c], 1)


class InputConditioned(nn.Module):
    """``net`` with the label appended to its input by ``label`` (a :class:`LabelInput`): build
    ``net`` for ``label.dim`` more input features / channels. ``y`` is passed on to ``net`` too."""

    def __init__(self, net: nn.Module, label: LabelInput):
        super().__init__()
        self.label, self.net = label, net  # registered in the order they run

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.net(self.label(x, need_labels(y, "this network")), y)


class ConditionalBatchNorm(Conditional):
    """Batch norm with a gain and a bias per class: ``gamma[y] * BN(h) + beta[y]``.

    The normalisation has no affine part of its own; the class embeddings start at gain 1 and bias
    0, so at initialisation this equals plain batch norm (gain 1, bias 0) for every label
    (de Vries et al. 2017, arXiv 1707.00683; the generator of Miyato & Koyama 2018, arXiv
    1802.05637; BigGAN, Brock et al. 2018, arXiv 1809.11096, makes the gains from a shared
    embedding). ``dims``: 2 for images ``(N, C, H, W)``, 1 for vectors ``(N, C)``."""

    def __init__(self, num_features: int, num_classes: int, dims: int = 2, eps: float = 1e-5, momentum: float = 0.1):
        super().__init__()
        bn = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.bn = bn(num_features, eps=eps, momentum=momentum, affine=False)
        self.gain = nn.Embedding(num_classes, num_features)
        self.bias = nn.Embedding(num_classes, num_features)
        nn.init.ones_(self.gain.weight)
        nn.init.zeros_(self.bias.weight)

    def forward(self, h: Tensor, y: Optional[Tensor] = None) -> Tensor:
        y = need_labels(y, "conditional batch norm")
        shape = (h.shape[0], h.shape[1]) + (1,) * (h.dim() - 2)
        return self.gain(y).view(shape) * self.bn(h) + self.bias(y).view(shape)


class LinearConditionalBatchNorm(Conditional):
    """Batch norm whose gain and bias are linear functions of a conditioning vector c:
    ``(1 + W_g c) * BN(h) + W_b c`` (BigGAN, Brock et al. 2018, arXiv 1809.11096, Sec. 3 and Appendix B:
    c is the shared class embedding concatenated with this block's chunk of z). The projections come from
    the layer factory (``sn``: spectrally normalised, as in BigGAN's G). Without SN they start at zero, so at
    initialisation this is plain batch norm for every c; with SN they keep PyTorch's init (a zero matrix has
    no spectral norm to divide by). A net's init scheme may replace either (BigGAN's is orthogonal for all,
    as in the authors' code)."""

    def __init__(self, num_features: int, cond_dim: int, dims: int = 2, sn: bool = False, eps: float = 1e-5,
                 momentum: float = 0.1):
        super().__init__()
        from .factory import LayerFactory

        bn = nn.BatchNorm2d if dims == 2 else nn.BatchNorm1d
        self.bn = bn(num_features, eps=eps, momentum=momentum, affine=False)
        make = LayerFactory(sn=sn)
        self.gain, self.bias = make.linear(cond_dim, num_features, bias=False), make.linear(cond_dim, num_features, bias=False)
        if not sn:
            nn.init.zeros_(self.gain.weight)
            nn.init.zeros_(self.bias.weight)
        self.cond_dim = cond_dim

    def forward(self, h: Tensor, c: Optional[Tensor] = None) -> Tensor:
        c = need_labels(c, "conditional batch norm").to(h.dtype)
        shape = (h.shape[0], h.shape[1]) + (1,) * (h.dim() - 2)
        return (1 + self.gain(c)).view(shape) * self.bn(h) + self.bias(c).view(shape)


class ProjectionDiscriminator(nn.Module):
    """Miyato & Koyama 2018 (arXiv 1802.05637, Eq. 3 and Fig. 1): D(x, y) = psi(phi(x)) +
    <V e_y, phi(x)>, the inner product of a learned class embedding with D's features.

    ``net`` supplies ``trunk`` (phi, flattened here), ``head`` (psi) and ``feature_dim``;
    ``embedding`` is an ``nn.Embedding(num_classes, net.feature_dim)``, spectrally normalised when
    D is (``LayerFactory(sn=True).embedding``). Initialised Glorot-uniform like the authors' code."""

    def __init__(self, net: nn.Module, embedding: nn.Module):
        super().__init__()
        self.net, self.embed = net, embedding

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        y = need_labels(y, "the projection discriminator")
        h = self.net.trunk(x)
        return self.net.head(h) + projection_term(h.flatten(1), self.embed(y))


def projection_term(phi: Tensor, embedded: Tensor) -> Tensor:
    """``<embed(y), phi(x)>`` per sample: ``(N, F), (N, F) -> (N,)``."""
    return (phi * embedded.to(phi.dtype)).sum(1)


class AuxClassifierDiscriminator(nn.Module):
    """AC-GAN's D (Odena et al. 2016, arXiv 1610.09585, Sec. 3): one trunk, two heads: the source
    head P(S = real | x) (``net.head``) and a class head P(C | x), here a linear layer on the
    flattened features ``classifier`` (``net.feature_dim -> num_classes``).

    ``D(x)`` (any ``y`` is ignored: AC-GAN's D never sees the label) is the source logit;
    :meth:`outputs` gives ``(source logits (N,), class logits (N, K))`` from one pass."""

    def __init__(self, net: nn.Module, classifier: nn.Module):
        super().__init__()
        self.net, self.classifier = net, classifier

    def outputs(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        h = self.net.trunk(x)
        return self.net.head(h), self.classifier(h.flatten(1))

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return self.net.head(self.net.trunk(x))


class ClassifierDiscriminator(nn.Module):
    """The semi-supervised GAN's D (Salimans et al. 2016, arXiv 1606.03498, Sec. 5): a classifier with
    K + 1 outputs, the K classes of the data and "generated", parametrised by K logits l_1..l_K only (the
    fake class's logit fixed at 0, which the softmax's shift invariance allows). Then

        p(y = k | x) = exp(l_k) / (Z(x) + 1),  D(x) = 1 - p(fake | x) = Z(x) / (Z(x) + 1),  Z = sum_k exp(l_k),

    so D's real/fake logit is log Z(x) = logsumexp_k l_k(x): ``D(x)`` returns it (one per sample), which is
    what the penalties and pictures of any D read. ``net`` is a discriminator with ``outputs=K``
    (``trunk``/``head``); :meth:`outputs` gives its features f(x) = ``trunk(x).flatten(1)`` (for feature
    matching) and the K class logits from one pass.

    ``input_noise`` / ``feature_noise``: standard deviations of additive Gaussian noise on the input image
    and on the features before the class head, in training mode only (the paper's MNIST D had noise 0.3 on
    its input and 0.5 before every layer; here it is before the first and the last layer). f(x) is taken
    before the feature noise."""

    def __init__(self, net: nn.Module, input_noise: float = 0.0, feature_noise: float = 0.0):
        super().__init__()
        self.net, self.input_noise, self.feature_noise = net, float(input_noise), float(feature_noise)

    def _noisy(self, x: Tensor, std: float) -> Tensor:
        from .noise import gaussian_noise

        return gaussian_noise(x, std, self.training)

    def outputs(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        """``(features (N, F), class logits (N, K))``."""
        h = self.net.trunk(self._noisy(x, self.input_noise))
        return h.flatten(1), self.net.head(self._noisy(h, self.feature_noise))

    def class_logits(self, x: Tensor) -> Tensor:
        return self.outputs(x)[1]

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:
        return torch.logsumexp(self.class_logits(x).float(), dim=1)


class LabelBound(nn.Module):
    """``D`` with its labels fixed: ``LabelBound(D, y)(x) == D(x, y)``, for the penalties, which
    call ``D(x)`` at points built from a batch whose samples all carry the labels ``y``."""

    def __init__(self, D: nn.Module, y: Optional[Tensor]):
        super().__init__()
        self.D, self.y = D, y

    def forward(self, x: Tensor) -> Tensor:
        return self.D(x, self.y)
