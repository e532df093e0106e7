"""Auto-encoder discriminators for the energy-based GANs: EBGAN (Zhao et al. 2016, arXiv 1609.03126)
and BEGAN (Berthelot et al. 2017, arXiv 1703.10717).

* :class:`ConvEncoder` — strided 4x4 convolutions from the image down to a ``base x base`` map
  (``base, stages = plan(resolution)``: 7 x 7 for 28, 4 x 4 for 32 and 64), channels doubling from
  ``width``, then a linear layer to a code of ``code_dim`` numbers.
* :class:`ConvDecoder` — its mirror: a linear layer from the code to the ``base x base`` map, then
  4x4 stride-2 transposed convolutions halving the channels back to the image. BEGAN's generator is
  this decoder (the paper's G shares the decoder's architecture, not its weights).
* :class:`MLPDecoder` — the fully connected counterpart for 2-D points.
* :class:`ConvAutoEncoder` / :class:`MLPAutoEncoder` — encoder + decoder for images / 2-D points.
  ``forward(x)`` returns the reconstruction; ``reconstruct(x)`` returns ``(reconstruction, code)``.
* :class:`Energy` — wraps an auto-encoder into a discriminator with one output per sample, the
  reconstruction error averaged over elements: squared (``"l2"``, EBGAN's energy) or absolute
  (``"l1"``, BEGAN's L). ``energy_and_code(x)`` also returns the code (EBGAN's pulling-away term).

Layer choices come from a :class:`~gankit.nn.LayerFactory` (normalisation, activation, spectral
norm); ``act`` optionally overrides the activation with any module constructor (BEGAN uses ELU,
which the factory does not offer). The first encoder layer and the last decoder layer are never
normalised; the decoder output is linear (a reconstruction may overshoot [-1, 1]) unless
``tanh=True``.
"""
from __future__ import annotations

import math
from typing import Callable, Optional, Tuple

from torch import Tensor, nn

from ..errors import ConfigError
from ..nn import LayerFactory
from .dcgan import plan

Act = Optional[Callable[[], nn.Module]]


def _activation(factory: LayerFactory, act: Act) -> nn.Module:
    return act() if act is not None else factory.activation()


class ConvEncoder(nn.Module):
    def __init__(self, in_shape: tuple, width: int = 64, code_dim: int = 64,
                 factory: LayerFactory = LayerFactory(act="lrelu"), act: Act = None):
        super().__init__()
        channels, res, _ = in_shape
        base, stages = plan(res)
        ch = width
        layers = [factory.conv(channels, ch, 4, 2, 1), _activation(factory, act)]
        for _ in range(stages - 1):
            layers += [factory.conv(ch, ch * 2, 4, 2, 1), factory.norm_layer(ch * 2), _activation(factory, act)]
            ch *= 2
        self.net = nn.Sequential(*layers)
        self.fc = factory.linear(ch * base * base, code_dim)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc(self.net(x).flatten(1))


class ConvDecoder(nn.Module):
    def __init__(self, code_dim: int, out_shape: tuple, width: int = 64,
                 factory: LayerFactory = LayerFactory(act="lrelu"), act: Act = None, tanh: bool = False):
        super().__init__()
        channels, res, _ = out_shape
        self.base, stages = plan(res)
        self.bottom = width * 2 ** (stages - 1)
        ch = self.bottom
        self.fc = factory.linear(code_dim, ch * self.base * self.base)
        layers = [factory.norm_layer(ch), _activation(factory, act)]
        for _ in range(stages - 1):
            layers += [factory.deconv(ch, ch // 2, 4, 2, 1), factory.norm_layer(ch // 2), _activation(factory, act)]
            ch //= 2
        layers.append(factory.deconv(ch, channels, 4, 2, 1))
        if tanh:
            layers.append(nn.Tanh())
        self.net = nn.Sequential(*layers)

    def forward(self, code: Tensor, y: Optional[Tensor] = None) -> Tensor:  # y: the shared convention, unused
        return self.net(self.fc(code.flatten(1)).view(code.shape[0], self.bottom, self.base, self.base))


class ConvAutoEncoder(nn.Module):
    def __init__(self, in_shape: tuple, width: int = 64, code_dim: int = 64,
                 factory: LayerFactory = LayerFactory(act="lrelu"), act: Act = None):
        super().__init__()
        self.encoder = ConvEncoder(in_shape, width, code_dim, factory, act)
        self.decoder = ConvDecoder(code_dim, in_shape, width, factory, act)

    def reconstruct(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        code = self.encoder(x)
        return self.decoder(code), code

    def forward(self, x: Tensor) -> Tensor:
        return self.reconstruct(x)[0]


def _mlp(cin: int, hidden: int, depth: int, cout: int, factory: LayerFactory, act: Act) -> nn.Sequential:
    layers = []
    for i in range(depth):
        layers += [factory.linear(cin if i == 0 else hidden, hidden), factory.norm_layer(hidden, dims=1),
                   _activation(factory, act)]
    layers.append(factory.linear(hidden if depth else cin, cout))
    return nn.Sequential(*layers)


class MLPDecoder(nn.Module):
    """``depth`` hidden layers of ``hidden`` units from a code to a sample of shape ``out_shape``."""

    def __init__(self, code_dim: int, out_shape: tuple, hidden: int = 128, depth: int = 2,
                 factory: LayerFactory = LayerFactory(act="lrelu"), act: Act = None, tanh: bool = False):
        super().__init__()
        self.shape = tuple(out_shape)
        self.net = _mlp(code_dim, hidden, depth, math.prod(self.shape), factory, act)
        if tanh:
            self.net.append(nn.Tanh())

    def forward(self, code: Tensor, y: Optional[Tensor] = None) -> Tensor:  # y: unused
        return self.net(code.flatten(1)).view(code.shape[0], *self.shape)


class MLPAutoEncoder(nn.Module):
    """Fully connected auto-encoder for flat data (2-D points): ``depth`` hidden layers of
    ``hidden`` units on each side of a ``code_dim`` code."""

    def __init__(self, in_shape: tuple, hidden: int = 128, depth: int = 2, code_dim: int = 8,
                 factory: LayerFactory = LayerFactory(act="lrelu"), act: Act = None):
        super().__init__()
        self.encoder = _mlp(math.prod(in_shape), hidden, depth, code_dim, factory, act)
        self.decoder = MLPDecoder(code_dim, in_shape, hidden, depth, factory, act)

    def reconstruct(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        code = self.encoder(x.flatten(1))
        return self.decoder(code), code

    def forward(self, x: Tensor) -> Tensor:
        return self.reconstruct(x)[0]


DISTANCES = ("l1", "l2")


class Energy(nn.Module):
    """Discriminator D(v) = mean over elements of |v − AE(v)| (``"l1"``) or (v − AE(v))² (``"l2"``),
    one non-negative number per sample."""

    def __init__(self, autoencoder: nn.Module, distance: str = "l2"):
        super().__init__()
        if distance not in DISTANCES:
            raise ConfigError(f"config: energy distance '{distance}' must be one of {', '.join(DISTANCES)}")
        self.ae, self.distance = autoencoder, distance

    def energy_and_code(self, x: Tensor) -> Tuple[Tensor, Tensor]:
        recon, code = self.ae.reconstruct(x)
        diff = (recon - x).flatten(1)
        err = diff.abs() if self.distance == "l1" else diff.pow(2)
        return err.mean(1), code

    def forward(self, x: Tensor, y: Optional[Tensor] = None) -> Tensor:  # y: the shared convention, unused
        return self.energy_and_code(x)[0]

