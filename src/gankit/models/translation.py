"""Networks of the image-to-image translators: U-Net and ResNet generators, the PatchGAN discriminator.

* :class:`UNetGenerator` -- pix2pix's generator (Isola et al. 2016, arXiv 1611.07004, Sec. 3.2.1 and
  Appendix 6.1.1): an encoder of 4 x 4 stride-2 convolutions (LeakyReLU 0.2, normalisation on every layer but
  the first), a decoder of 4 x 4 stride-2 transposed convolutions (ReLU), and a skip connection from each
  encoder layer to the decoder layer of the same size (channels concatenated). Dropout 0.5 on the first
  ``dropout_layers`` decoder layers is the only noise (kept on at test time in the paper; here a setting of the
  GAN). ``depth`` halvings take a ``2^depth`` image down to 1 x 1 (the paper: 8 for 256 x 256). ``skips=False``
  gives the same encoder-decoder without the skips (the paper's baseline; DiscoGAN's generator).
* :class:`ResnetGenerator` -- CycleGAN's generator (Zhu et al. 2017, arXiv 1703.10593, Appendix 7.2, after
  Johnson et al. 2016): c7s1-w, two stride-2 3 x 3 convs (2w, 4w), ``blocks`` residual blocks of two 3 x 3
  convs at 4w, two stride-2 transposed convs back, c7s1 to the output channels, tanh; reflection padding,
  instance norm.
* :class:`PatchDiscriminator` -- the PatchGAN (pix2pix Sec. 3.2.2, Appendix 6.1.2; CycleGAN's 70 x 70): 4 x 4
  convs, ``layers`` of them with stride 2 (width doubling, capped at 8w), then one stride-1 conv at the next
  width and a stride-1 conv to one score per patch. It returns the map of patch scores ``(N, 1, h, w)``; the
  objectives average over it like over a batch.

Widths and depths are parameters (DESIGN principle 4); normalisation comes from the layer factory.
"""
from __future__ import annotations

from typing import List

import torch
from torch import Tensor, nn

from ..nn.factory import LayerFactory


class UNetGenerator(nn.Module):
    """pix2pix's U-Net: ``in_ch`` -> ``out_ch`` images of side ``2^depth`` or larger (a multiple of it)."""

    def __init__(self, in_ch: int, out_ch: int, width: int = 64, depth: int = 5, dropout: float = 0.5,
                 dropout_layers: int = 3, norm: str = "batch", max_mult: int = 8, skips: bool = True):
        super().__init__()
        f = LayerFactory(norm=norm)
        self.skips = skips
        widths = [width * min(2 ** i, max_mult) for i in range(depth)]
        self.down = nn.ModuleList()
        cin = in_ch
        for i, w in enumerate(widths):
            last = i == depth - 1  # the innermost layer has no normalisation (its map can be 1 x 1)
            layers: List[nn.Module] = [] if i == 0 else [nn.LeakyReLU(0.2)]
            layers.append(nn.Conv2d(cin, w, 4, 2, 1, bias=(i == 0 or last or norm == "none")))
            if 0 < i and not last:
                layers.append(f.norm_layer(w))
            self.down.append(nn.Sequential(*layers))
            cin = w
        self.up = nn.ModuleList()
        for i in reversed(range(depth)):
            outermost = i == 0
            cin = widths[i] if (i == depth - 1 or not skips) else widths[i] * 2  # the innermost takes no skip
            cout = out_ch if outermost else widths[i - 1]
            layers = [nn.ReLU(), nn.ConvTranspose2d(cin, cout, 4, 2, 1, bias=outermost or norm == "none")]
            if outermost:
                layers.append(nn.Tanh())
            else:
                layers.append(f.norm_layer(cout))
                if depth - 1 - i < dropout_layers and dropout > 0:
                    layers.append(nn.Dropout(dropout))
            self.up.append(nn.Sequential(*layers))
        self.depth = depth

    def forward(self, x: Tensor) -> Tensor:
        skips = []
        for layer in self.down:
            x = layer(x)
            skips.append(x)
        x = self.up[0](skips.pop())
        for layer in self.up[1:]:
            skip = skips.pop()
            x = layer(torch.cat([x, skip], 1) if self.skips else x)
        return x


class ResidualBlock(nn.Module):
    """Two 3 x 3 convs with reflection padding and normalisation, ReLU between them, added to the input."""

    def __init__(self, ch: int, f: LayerFactory):
        super().__init__()
        self.body = nn.Sequential(nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), f.norm_layer(ch), nn.ReLU(),
                                  nn.ReflectionPad2d(1), nn.Conv2d(ch, ch, 3), f.norm_layer(ch))

    def forward(self, x: Tensor) -> Tensor:
        return x + self.body(x)


def resnet_encoder_layers(in_ch: int, width: int, blocks: int, f: LayerFactory, downs: int = 2,
                          pad: str = "reflect") -> List[nn.Module]:
    """The first half of CycleGAN's generator: c7s1-w, ``downs`` stride-2 3 x 3 convs doubling the width, then
    ``blocks`` residual blocks; its output has ``width * 2^downs`` channels."""
    # pad="zero": the first 7 x 7 conv pads with zeros (StarGAN's G): constant input channels (a target label)
    # then differ near the borders and survive the instance norm that follows, which removes any channel that
    # is constant over the image (as a reflection-padded conv of constant maps is)
    first = [nn.Conv2d(in_ch, width, 7, 1, 3)] if pad == "zero" else [nn.ReflectionPad2d(3), nn.Conv2d(in_ch, width, 7)]
    layers: List[nn.Module] = first + [f.norm_layer(width), nn.ReLU()]
    w = width
    for _ in range(downs):
        layers += [nn.Conv2d(w, 2 * w, 3, 2, 1), f.norm_layer(2 * w), nn.ReLU()]
        w *= 2
    return layers + [ResidualBlock(w, f) for _ in range(blocks)]


def resnet_decoder_layers(out_ch: int, width: int, blocks: int, f: LayerFactory, downs: int = 2) -> List[nn.Module]:
    """The second half: ``blocks`` residual blocks at ``width * 2^downs``, ``downs`` stride-2 transposed convs
    halving the width, c7s1 to ``out_ch``, tanh."""
    w = width * 2 ** downs
    layers: List[nn.Module] = [ResidualBlock(w, f) for _ in range(blocks)]
    for _ in range(downs):
        layers += [nn.ConvTranspose2d(w, w // 2, 3, 2, 1, output_padding=1), f.norm_layer(w // 2), nn.ReLU()]
        w //= 2
    return layers + [nn.ReflectionPad2d(3), nn.Conv2d(w, out_ch, 7), nn.Tanh()]


class ResnetGenerator(nn.Module):
    """CycleGAN's generator: c7s1-w, d2w, d4w, ``blocks`` x R4w, u2w, uw, c7s1-out, tanh."""

    def __init__(self, in_ch: int, out_ch: int, width: int = 64, blocks: int = 6, downs: int = 2,
                 norm: str = "instance", pad: str = "reflect"):
        super().__init__()
        f = LayerFactory(norm=norm)
        self.net = nn.Sequential(*resnet_encoder_layers(in_ch, width, blocks, f, downs, pad),
                                 *resnet_decoder_layers(out_ch, width, 0, f, downs))

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


class PatchDiscriminator(nn.Module):
    """PatchGAN: a score per overlapping patch, ``(N, 1, h, w)``; ``layers`` stride-2 convs (pix2pix's 70 x 70
    D has 3 at 256 x 256). ``norm``: batch (pix2pix) or instance (CycleGAN); the first layer has none."""

    def __init__(self, in_ch: int, width: int = 64, layers: int = 3, norm: str = "batch", max_mult: int = 8):
        super().__init__()
        f = LayerFactory(norm=norm)
        mods: List[nn.Module] = [nn.Conv2d(in_ch, width, 4, 2, 1), nn.LeakyReLU(0.2)]
        w = width
        for i in range(1, layers + 1):
            stride = 2 if i < layers else 1
            nxt = width * min(2 ** i, max_mult)
            mods += [nn.Conv2d(w, nxt, 4, stride, 1, bias=norm == "none"), f.norm_layer(nxt), nn.LeakyReLU(0.2)]
            w = nxt
        mods.append(nn.Conv2d(w, 1, 4, 1, 1))
        self.net = nn.Sequential(*mods)

    def forward(self, x: Tensor) -> Tensor:
        return self.net(x)


def receptive_field(layers: int) -> int:
    """The side of the input patch one PatchGAN score sees: 4 x 4 convs, ``layers`` of stride 2 (the first
    included), then two of stride 1 (pix2pix's 70 for 3 layers)."""
    strides = [2] * layers + [1, 1]
    size = 1
    for s in reversed(strides):
        size = (size - 1) * s + 4
    return size


class MultiDomainDiscriminator(nn.Module):
    """StarGAN's D (Choi et al. 2017, arXiv 1711.09020, Appendix, Table 5): ``layers`` 4 x 4 stride-2 convs with
    LeakyReLU 0.01 and no normalisation (widths doubling from ``width``), then two heads on the last map: D_src, a
    3 x 3 conv to one score per patch, and D_cls, a conv over the whole map to ``attributes`` logits.
    ``forward(x)`` returns ``(src (N, 1, h, w), cls (N, attributes))``."""

    def __init__(self, channels: int, side: int, attributes: int, width: int = 64, layers: int = 6):
        super().__init__()
        mods: List[nn.Module] = []
        cin = channels
        for i in range(layers):
            w = width * 2 ** i
            mods += [nn.Conv2d(cin, w, 4, 2, 1), nn.LeakyReLU(0.01)]
            cin = w
        final = side // 2 ** layers
        if final < 1:
            raise ValueError(f"{layers} halvings do not fit a {side} x {side} image")
        self.trunk = nn.Sequential(*mods)
        self.src = nn.Conv2d(cin, 1, 3, 1, 1, bias=False)
        self.cls = nn.Conv2d(cin, attributes, final, bias=False)

    def forward(self, x: Tensor):
        h = self.trunk(x)
        return self.src(h), self.cls(h).flatten(1)
