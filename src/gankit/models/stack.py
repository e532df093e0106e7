"""The nets of the stacked text-to-image GANs, at CPU widths.

StackGAN (Zhang et al. 2016, arXiv 1612.03242, Sec. 3 and Fig. 2):

* :class:`SketchGenerator`, Stage-I G: [z, c] through a fully connected layer to a small map, then upsampling blocks
  to a low-resolution image;
* :class:`RefinerGenerator`, Stage-II G: the Stage-I image encoded by strided convolutions, the conditioning vector
  c replicated over the map and concatenated, residual blocks (:class:`ResidualBlock`), then upsampling blocks
  (nearest-neighbour x2, 3x3 conv, batch norm, ReLU; :class:`UpBlock`) to twice the Stage-I size;
* :class:`TextDiscriminator`: stride-2 convolutions down to a map of 4x4 or less, the text embedding compressed
  by a fully connected layer, replicated over the map and concatenated, a 1x1 convolution, then a logit.

StackGAN++ (Zhang et al. 2017, arXiv 1710.10916, Sec. 4): :class:`TreeGenerator`, one trunk of hidden features
h_0 = F_0([z, c]), h_i = F_i(h_{i-1}, c) with a 3x3-conv image head G_i(h_i) at every scale, and the same
discriminator with an extra unconditional head on the image features (``unconditional=True``).
"""
from __future__ import annotations

from typing import List, Optional, Tuple

import torch
from torch import Tensor, nn

from ..nn import LayerFactory
from ..nn.text import ConditioningAugmentation
from .dcgan import plan
from .pyramid import strided_stages


def replicate(v: Tensor, side: int) -> Tensor:
    """A vector per sample ``(N, D)`` as constant maps ``(N, D, side, side)``."""
    return v[:, :, None, None].expand(-1, -1, side, side)


class ResidualBlock(nn.Module):
    """x + BN(conv3x3(ReLU(BN(conv3x3(x))))), then ReLU (StackGAN's Stage-II residual blocks)."""

    def __init__(self, channels: int, factory: LayerFactory):
        super().__init__()
        self.body = nn.Sequential(factory.conv(channels, channels, 3, 1, 1, bias=False), factory.norm_layer(channels),
                                  factory.activation(), factory.conv(channels, channels, 3, 1, 1, bias=False),
                                  factory.norm_layer(channels))
        self.act = factory.activation()

    def forward(self, x: Tensor) -> Tensor:
        return self.act(x + self.body(x))


class UpBlock(nn.Sequential):
    """Nearest-neighbour x2, 3x3 conv, batch norm, ReLU."""

    def __init__(self, cin: int, cout: int, factory: LayerFactory):
        super().__init__(nn.Upsample(scale_factor=2, mode="nearest"), factory.conv(cin, cout, 3, 1, 1, bias=False),
                         factory.norm_layer(cout), factory.activation())


def sketch_layers(z_in: int, ch: int, side: int, factory: LayerFactory) -> Tuple[nn.Sequential, int]:
    """``(layers, channels out)``: a linear layer from a ``z_in`` vector to ``ch`` maps on DCGAN's base map of
    ``side`` (7 for 7, 14, 28, ...; else 4), batch norm, ReLU, then upsampling blocks halving the channels up to
    ``side`` x ``side`` (StackGAN's Stage-I G and StackGAN++'s F_0: FC, then upsampling blocks)."""
    base, ups = (side, 0) if side in (4, 7) else plan(side)
    layers: List[nn.Module] = [nn.Linear(z_in, ch * base * base, bias=False), nn.Unflatten(1, (ch, base, base)),
                               factory.norm_layer(ch), factory.activation()]
    for _ in range(ups):
        layers.append(UpBlock(ch, max(1, ch // 2), factory))
        ch = max(1, ch // 2)
    return nn.Sequential(*layers), ch


def image_head(ch: int, channels: int, factory: LayerFactory) -> nn.Sequential:
    """A 3x3 conv from ``ch`` feature maps to the image's ``channels``, then tanh (every stage's image)."""
    return nn.Sequential(factory.conv(ch, channels, 3, 1, 1), nn.Tanh())


class SketchGenerator(nn.Module):
    """Stage-I G: ``(z (N, z_dim), c (N, c_dim)) -> image (N, C, s, s)``: :func:`sketch_layers` from [z, c] with
    ``2 width`` channels at the base map, then a 3x3 conv and tanh."""

    def __init__(self, z_dim: int, c_dim: int, out_shape: tuple, width: int, factory: LayerFactory):
        super().__init__()
        self.body, ch = sketch_layers(z_dim + c_dim, 2 * width, int(out_shape[-1]), factory)
        self.head = image_head(ch, int(out_shape[0]), factory)

    def forward(self, z: Tensor, c: Tensor) -> Tensor:
        return self.head(self.body(torch.cat([z, c], 1)))


class RefinerGenerator(nn.Module):
    """Stage-II G: ``(low (N, C, s, s), c (N, c_dim)) -> image (N, C, 2s, 2s)``, s even: encoded to s/2 with
    ``2 width`` channels, joined with c, ``res_blocks`` residual blocks, two upsampling blocks, a 3x3 conv, tanh."""

    def __init__(self, channels: int, c_dim: int, width: int, res_blocks: int, factory: LayerFactory):
        super().__init__()
        w2 = 2 * width
        self.encode = nn.Sequential(factory.conv(channels, width, 3, 1, 1), factory.activation(),
                                    factory.conv(width, w2, 4, 2, 1, bias=False), factory.norm_layer(w2),
                                    factory.activation())
        self.joint = nn.Sequential(factory.conv(w2 + c_dim, w2, 3, 1, 1, bias=False), factory.norm_layer(w2),
                                   factory.activation())
        self.residual = nn.Sequential(*[ResidualBlock(w2, factory) for _ in range(res_blocks)])
        self.up = nn.Sequential(UpBlock(w2, width, factory), UpBlock(width, max(1, width // 2), factory),
                                *image_head(max(1, width // 2), channels, factory))

    def forward(self, low: Tensor, c: Tensor) -> Tensor:
        h = self.encode(low)
        h = self.joint(torch.cat([h, replicate(c, h.shape[-1])], 1))
        return self.up(self.residual(h))


class TextDiscriminator(nn.Module):
    """``D(x, phi)``: stride-2 3x3 convs (``width``, ``2 width``, ...; batch norm after the first, LeakyReLU) to a
    map of side 4 or less; ``phi`` compressed to ``compressed`` numbers (linear, LeakyReLU) and joined as constant
    maps; a 1x1 conv, then a conv over the whole map to one logit. ``unconditional``: a second logit from the image
    features alone (StackGAN++'s unconditional loss); :meth:`scores` gives both."""

    def __init__(self, in_shape: tuple, width: int, text_dim: int, compressed: int, factory: LayerFactory,
                 unconditional: bool = False):
        super().__init__()
        channels, side = int(in_shape[0]), int(in_shape[-1])
        layers: List[nn.Module] = []
        cin = channels
        for i in range(strided_stages(side)):
            cout = width * 2 ** i
            layers.append(factory.conv(cin, cout, 3, 2, 1, bias=i == 0))
            if i > 0:
                layers.append(factory.norm_layer(cout))
            layers.append(factory.activation())
            cin, side = cout, (side + 1) // 2
        self.trunk = nn.Sequential(*layers)
        self.side = side
        self.text = nn.Sequential(nn.Linear(text_dim, compressed), nn.LeakyReLU(factory.slope))
        self.joint = nn.Sequential(factory.conv(cin + compressed, cin, 1, 1, 0, bias=False), factory.norm_layer(cin),
                                   factory.activation())
        self.cond_out = factory.conv(cin, 1, side, 1, 0)
        self.uncond_out: Optional[nn.Module] = factory.conv(cin, 1, side, 1, 0) if unconditional else None

    def features(self, x: Tensor) -> Tensor:
        """The image features h (the map before the text joins)."""
        return self.trunk(x)

    def conditional(self, h: Tensor, phi: Tensor) -> Tensor:
        """The conditional logit ``(N,)`` of features ``h`` with text embeddings ``phi``."""
        joint = self.joint(torch.cat([h, replicate(self.text(phi), self.side)], 1))
        return self.cond_out(joint).flatten()

    def unconditional(self, h: Tensor) -> Optional[Tensor]:
        """The unconditional logit ``(N,)`` of features ``h`` (None without that head)."""
        return self.uncond_out(h).flatten() if self.uncond_out is not None else None

    def scores(self, x: Tensor, phi: Tensor) -> Tuple[Tensor, Optional[Tensor]]:
        """``(conditional logit (N,), unconditional logit (N,) or None)`` from one pass over the image."""
        h = self.features(x)
        return self.conditional(h, phi), self.unconditional(h)

    def forward(self, x: Tensor, phi: Tensor) -> Tensor:
        return self.conditional(self.features(x), phi)


class TreeGenerator(nn.Module):
    """StackGAN++'s G: ``G(latent, phi)``, ``latent = [z, eps]``; :meth:`outputs` gives the images at ``scales``
    sizes, coarse to fine, and the conditioning augmentation's (mu, logvar).

    One conditioning augmentation c = mu + sigma eps is shared by every branch. F_0: :func:`sketch_layers` from
    [z, c] with ``width * 2**(scales-1)`` channels at the base map to the coarsest size; F_i: [h_{i-1}, c] through a
    3x3 conv, ``res_blocks`` residual blocks and an upsampling block halving the channels; every scale's image is
    :func:`image_head` of h_i."""

    def __init__(self, z_dim: int, c_dim: int, text_dim: int, channels: int, size: int, scales: int, width: int,
                 res_blocks: int, factory: LayerFactory):
        super().__init__()
        ch = width * 2 ** (scales - 1)
        self.ca = ConditioningAugmentation(text_dim, c_dim)
        self.root, ch = sketch_layers(z_dim + c_dim, ch, size // 2 ** (scales - 1), factory)
        self.branches = nn.ModuleList()
        self.heads = nn.ModuleList([image_head(ch, channels, factory)])
        for _ in range(scales - 1):
            self.branches.append(nn.Sequential(factory.conv(ch + c_dim, ch, 3, 1, 1, bias=False),
                                               factory.norm_layer(ch), factory.activation(),
                                               *[ResidualBlock(ch, factory) for _ in range(res_blocks)],
                                               UpBlock(ch, ch // 2, factory)))
            ch //= 2
            self.heads.append(image_head(ch, channels, factory))
        self.z_dim, self.c_dim = z_dim, c_dim

    @property
    def latent_dim(self) -> int:
        """z, then the conditioning augmentation's noise eps."""
        return self.z_dim + self.c_dim

    def outputs(self, latent: Tensor, phi: Tensor) -> Tuple[List[Tensor], Tensor, Tensor]:
        """``(images coarse to fine, mu, logvar)`` for ``latent = [z, eps]`` and text embeddings ``phi``."""
        c, mu, logvar = self.ca(phi, latent[:, self.z_dim:])
        h = self.root(torch.cat([latent[:, :self.z_dim], c], 1))
        images = [self.heads[0](h)]
        for branch, head in zip(self.branches, self.heads[1:]):
            h = branch(torch.cat([h, replicate(c, h.shape[-1])], 1))
            images.append(head(h))
        return images, mu, logvar

    def images(self, latent: Tensor, phi: Tensor) -> List[Tensor]:
        return self.outputs(latent, phi)[0]

    def forward(self, latent: Tensor, phi: Tensor) -> Tensor:
        return self.outputs(latent, phi)[0][-1]


class StackedGenerator(nn.Module):
    """StackGAN's two generators as one ``G(latent, phi)``: ``latent = [z, eps_1, eps_2]``, each stage with its own
    conditioning augmentation (Sec. 3.2 and 3.3: Stage-II takes no z, only the Stage-I image and its own c)."""

    def __init__(self, z_dim: int, c_dim: int, text_dim: int, low_shape: tuple, width: int, res_blocks: int,
                 factory: LayerFactory):
        super().__init__()
        self.ca1 = ConditioningAugmentation(text_dim, c_dim)
        self.sketch = SketchGenerator(z_dim, c_dim, low_shape, width, factory)
        self.ca2 = ConditioningAugmentation(text_dim, c_dim)
        self.refine = RefinerGenerator(int(low_shape[0]), c_dim, width, res_blocks, factory)
        self.z_dim, self.c_dim = z_dim, c_dim

    @property
    def latent_dim(self) -> int:
        return self.z_dim + 2 * self.c_dim

    def stage_one(self, latent: Tensor, phi: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """``(Stage-I image, mu_1, logvar_1)``."""
        c, mu, logvar = self.ca1(phi, latent[:, self.z_dim:self.z_dim + self.c_dim])
        return self.sketch(latent[:, :self.z_dim], c), mu, logvar

    def stage_two(self, low: Tensor, latent: Tensor, phi: Tensor) -> Tuple[Tensor, Tensor, Tensor]:
        """``(Stage-II image, mu_2, logvar_2)`` refining the Stage-I image ``low``."""
        c, mu, logvar = self.ca2(phi, latent[:, self.z_dim + self.c_dim:])
        return self.refine(low, c), mu, logvar

    def images(self, latent: Tensor, phi: Tensor) -> List[Tensor]:
        low = self.stage_one(latent, phi)[0]
        return [low, self.stage_two(low, latent, phi)[0]]

    def forward(self, latent: Tensor, phi: Tensor) -> Tensor:
        return self.images(latent, phi)[-1]
