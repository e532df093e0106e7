"""Inference networks E: x -> z and the joint discriminator D(x, z) of the bidirectional GANs: BiGAN
(Donahue, Krähenbühl & Darrell 2016, arXiv 1605.09782) and ALI (Dumoulin et al. 2016, arXiv 1606.00704).

* :func:`reparametrise` — z = mean + exp(log-variance / 2) * eps, eps ~ N(0, I): a sample of a diagonal
  Gaussian that is differentiable in its mean and log-variance (Kingma & Welling 2013, arXiv 1312.6114,
  Sec. 2.4; ALI's encoder, Dumoulin et al. Sec. 2.1, Eq. 4).
* :class:`LatentEncoder` — wraps a network ``net`` mapping x to numbers per sample: ``z_dim`` of them for a
  deterministic encoder (BiGAN: z = E(x)), ``2 * z_dim`` for a stochastic one (ALI: the mean and the
  log-variance of q(z | x), z drawn by :func:`reparametrise`). The nets used are the discriminators of
  :mod:`gankit.models.dcgan` / :mod:`gankit.models.mlp` with ``outputs`` numbers, so an image encoder is
  DCGAN's D trunk (strided 4x4 convolutions, LeakyReLU, batch norm except on the input layer) whose last
  ``base x base`` convolution (a linear map of the flattened feature map) gives the code's parameters.
* :class:`JointDiscriminator` — D(x, z) = joint(cat(x_net(x), z_net(z))): one score (a logit) per pair.
  ``x_net`` and ``z_net`` each end in a linear map to ``hidden`` features; the joint MLP applies the
  activation to their concatenation, then (optional dropout) FC ``hidden``, activation, (dropout), FC 1.
  :func:`joint_discriminator` builds it from a DCGAN-style conv trunk on images (an MLP on flat data) and
  a one-hidden-layer MLP on z.

Calling conventions: ``E(x)`` returns z; ``D(x, z)`` returns ``(N,)`` logits. D's second argument is the
latent code, not a class label (the bidirectional GANs are unconditional).
"""
from __future__ import annotations

import math
from typing import Optional, Tuple

import torch
from torch import Tensor, nn

from ..nn import LayerFactory
from .dcgan import DCGANDiscriminator
from .mlp import MLPDiscriminator

#: the log-variance of a stochastic encoder is clamped to this range before exp (keeps sigma finite and
#: non-zero early in training: sigma in [0.0067, 148])
LOGVAR_RANGE = (-10.0, 10.0)


def reparametrise(mean: Tensor, logvar: Tensor, eps: Optional[Tensor] = None) -> Tensor:
    """``mean + exp(logvar / 2) * eps`` with ``eps ~ N(0, I)`` unless given: a draw of N(mean, diag(exp(logvar)))
    through which gradients reach ``mean`` and ``logvar``."""
    if eps is None:
        eps = torch.randn_like(mean)
    return mean + torch.exp(0.5 * logvar) * eps


class LatentEncoder(nn.Module):
    """E: x -> z. ``net(x)`` gives ``z_dim`` numbers per sample (deterministic) or ``2 * z_dim`` (stochastic:
    the mean, then the log-variance of a diagonal Gaussian q(z | x))."""

    def __init__(self, net: nn.Module, z_dim: int, stochastic: bool = False):
        super().__init__()
        self.net, self.z_dim, self.stochastic = net, int(z_dim), bool(stochastic)

    @property
    def out_dim(self) -> int:
        """How many numbers ``net`` gives per sample."""
        return self.z_dim * (2 if self.stochastic else 1)

    def distribution(self, x: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """``(mean, log-variance)`` of q(z | x), each ``(N, z_dim)``; the log-variance is None (a point mass)
        for a deterministic encoder."""
        out = self.net(x).reshape(x.shape[0], self.out_dim)
        if not self.stochastic:
            return out, None
        mean, logvar = out[:, :self.z_dim], out[:, self.z_dim:]
        return mean, logvar.clamp(*LOGVAR_RANGE)

    def forward(self, x: Tensor, eps: Optional[Tensor] = None) -> Tensor:
        """z ~ q(z | x): E(x) itself (deterministic) or a reparametrised draw (stochastic; with ``eps``: that
        noise)."""
        mean, logvar = self.distribution(x)
        return mean if logvar is None else reparametrise(mean, logvar, eps)

    def mean(self, x: Tensor) -> Tensor:
        """The posterior mean E[z | x] (E(x) itself for a deterministic encoder): the features used downstream."""
        return self.distribution(x)[0]


def image_encoder(in_shape: tuple, z_dim: int, width: int, factory: LayerFactory, stochastic: bool) -> LatentEncoder:
    """DCGAN's discriminator trunk (28x28: conv 4x4/2 w - act - conv 4x4/2 2w - norm - act) with its last
    ``base x base`` convolution giving the code's parameters."""
    out = z_dim * (2 if stochastic else 1)
    return LatentEncoder(DCGANDiscriminator(tuple(in_shape), width, factory, outputs=out), z_dim, stochastic)


def mlp_encoder(in_shape: tuple, z_dim: int, hidden: int, depth: int, factory: LayerFactory,
                stochastic: bool) -> LatentEncoder:
    """``depth`` hidden layers of ``hidden`` units, then a linear layer to the code's parameters."""
    out = z_dim * (2 if stochastic else 1)
    return LatentEncoder(MLPDiscriminator(tuple(in_shape), hidden, depth, factory, outputs=out), z_dim, stochastic)


class JointDiscriminator(nn.Module):
    """D(x, z) = ``joint(cat(x_net(x), z_net(z)))``, one logit per pair, shape ``(N,)``."""

    def __init__(self, x_net: nn.Module, z_net: nn.Module, joint: nn.Module):
        super().__init__()
        self.x_net, self.z_net, self.joint = x_net, z_net, joint

    def features(self, x: Tensor, z: Tensor) -> Tensor:
        """The concatenated ``(N, F_x + F_z)`` features the joint MLP scores."""
        return torch.cat([self.x_net(x).reshape(x.shape[0], -1), self.z_net(z).reshape(z.shape[0], -1)], 1)

    def forward(self, x: Tensor, z: Tensor) -> Tensor:
        return self.joint(self.features(x, z)).reshape(x.shape[0])


def joint_discriminator(in_shape: tuple, z_dim: int, *, arch: str = "dcgan", width: int = 64, hidden: int = 256,
                        depth: int = 3, x_factory: LayerFactory = LayerFactory(norm="batch", act="lrelu"),
                        factory: LayerFactory = LayerFactory(act="lrelu"), dropout: float = 0.0) -> JointDiscriminator:
    """The joint D of BiGAN / ALI.

    x path: ``arch="dcgan"``: DCGAN's D (``width`` base channels, layers from ``x_factory``) whose last
    ``base x base`` convolution maps the feature map to ``hidden`` features; ``arch="mlp"``: ``depth`` hidden
    layers of ``hidden`` units, then a linear map to ``hidden``. z path: FC ``hidden`` - act - FC ``hidden``.
    Joint: act - dropout - FC ``hidden`` - act - dropout - FC 1 (layers from ``factory``; no dropout layers
    when ``dropout`` is 0)."""
    if arch == "mlp":
        x_net: nn.Module = MLPDiscriminator((math.prod(in_shape),), hidden, depth, x_factory, outputs=hidden)
    else:
        x_net = DCGANDiscriminator(tuple(in_shape), width, x_factory, outputs=hidden)
    z_net = MLPDiscriminator((z_dim,), hidden, 1, factory, outputs=hidden)
    def drop() -> list:
        return [nn.Dropout(dropout)] if dropout > 0 else []

    joint = nn.Sequential(factory.activation(), *drop(), factory.linear(2 * hidden, hidden), factory.activation(),
                          *drop(), factory.linear(hidden, 1))
    return JointDiscriminator(x_net, z_net, joint)
