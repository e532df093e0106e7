"""The style-based generator (Karras, Laine & Aila 2018, "A Style-Based Generator Architecture for Generative
Adversarial Networks", arXiv 1812.04948, Sec. 2, Fig. 1b), growable like ProGAN's (Sec. 2 uses the progressive
growing of ProGAN; :mod:`gankit.models.progressive`).

* **mapping network** f: z (pixel-normalised) -> w through ``mapping_layers`` equalised fully connected layers
  (LeakyReLU 0.2) whose learning rate is 100 times lower (``lr_mul`` 0.01, App. C);
* **synthesis network** g: a learned constant 4x4 input; per stage two layers, each (a 3x3 conv, except the
  first layer of the 4x4 stage) -> per-pixel noise with learned per-channel scales -> LeakyReLU -> AdaIN with
  the style of its own w; later stages start with nearest 2x upsampling; a 1x1 ``to_rgb`` per stage, faded in as
  in ProGAN. So there are 2 x stages style layers, each reading its own row of ``ws`` (N, layers, w_dim);
* **w_avg**, the running mean of w (a buffer, decay ``w_avg_beta`` per training forward), for the truncation
  trick in W: w' = w_avg + psi (w - w_avg) for the layers before ``truncation_cutoff`` (Sec. 3.1 / App. B);
* **style mixing** (Sec. 3.1): in training, with probability ``mixing``, two latents are mapped and the
  second one's w is used from a crossover layer drawn uniformly among the active layers.

``G(z)`` (sampling, evaluation) returns the current stage's image enlarged to the data's resolution and clamped to
[-1, 1], with ``psi`` (None: no truncation) applied; training uses :meth:`StyleGenerator.at_stage`.
"""
from __future__ import annotations

from typing import List, Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ..nn.progressive import EqualizedConv2d, EqualizedLinear, PixelNorm, fade_in
from ..nn.pyramid import enlarge
from ..nn.style import AdaIN, NoiseInjection, mix_styles, truncate_w


class MappingNetwork(nn.Module):
    """z -> w: pixel norm, then ``layers`` x (EqualizedLinear with lr_mul, LeakyReLU 0.2)."""

    def __init__(self, z_dim: int, w_dim: int, layers: int, lr_mul: float = 0.01):
        super().__init__()
        mods: List[nn.Module] = [PixelNorm()]
        for i in range(layers):
            mods += [EqualizedLinear(z_dim if i == 0 else w_dim, w_dim, lr_mul=lr_mul), nn.LeakyReLU(0.2)]
        self.net = nn.Sequential(*mods)

    def forward(self, z: Tensor) -> Tensor:
        return self.net(z)


class StyleLayer(nn.Module):
    """(conv 3x3 unless ``conv`` is False) -> noise -> LeakyReLU -> AdaIN(w)."""

    def __init__(self, cin: int, cout: int, w_dim: int, conv: bool = True):
        super().__init__()
        self.conv = EqualizedConv2d(cin, cout, 3, 1) if conv else None
        self.noise = NoiseInjection(cout)
        self.act = nn.LeakyReLU(0.2)
        self.adain = AdaIN(cout, w_dim)

    def forward(self, x: Tensor, w: Tensor) -> Tensor:
        if self.conv is not None:
            x = self.conv(x)
        return self.adain(self.act(self.noise(x)), w)


class StyleGenerator(nn.Module):
    def __init__(self, z_dim: int, w_dim: int, channels: int, widths: List[int], mapping_layers: int = 8,
                 mixing: float = 0.9, w_avg_beta: float = 0.995, truncation_cutoff: Optional[int] = None):
        super().__init__()
        self.z_dim, self.stages = z_dim, len(widths)
        self.resolution = 4 * 2 ** (self.stages - 1)
        self.layers = 2 * self.stages
        self.mapping = MappingNetwork(z_dim, w_dim, mapping_layers)
        self.const = nn.Parameter(torch.ones(1, widths[0], 4, 4))
        self.style_layers = nn.ModuleList()
        for s, w in enumerate(widths):
            cin = widths[0] if s == 0 else widths[s - 1]
            self.style_layers.append(StyleLayer(cin, w, w_dim, conv=s > 0))
            self.style_layers.append(StyleLayer(w, w, w_dim))
        self.to_rgb = nn.ModuleList([EqualizedConv2d(w, channels, 1, gain=1.0) for w in widths])
        self.register_buffer("w_avg", torch.zeros(w_dim))
        self.mixing, self.w_avg_beta = float(mixing), float(w_avg_beta)
        self.truncation_cutoff = truncation_cutoff
        self.stage, self.alpha, self.psi = self.stages - 1, 1.0, None

    # ------------------------------------------------------------ latents
    def styles(self, z: Tensor, z2: Optional[Tensor] = None, crossover: Optional[int] = None,
               psi: Optional[float] = None) -> Tensor:
        """Per-layer latents ``(N, layers, w_dim)``: f(z) everywhere, or f(z) before ``crossover`` and f(z2) from it
        on; in training mode the mean w moves w_avg; ``psi`` truncates towards w_avg (layers before the cutoff)."""
        w = self.mapping(z)
        if self.training:
            with torch.no_grad():
                self.w_avg.lerp_(w.detach().mean(0).to(self.w_avg.dtype), 1.0 - self.w_avg_beta)
        ws = mix_styles(w, self.mapping(z2), self.layers, crossover) if z2 is not None else \
            w.unsqueeze(1).repeat(1, self.layers, 1)
        if psi is not None:
            ws = truncate_w(ws, self.w_avg, psi, self.truncation_cutoff)
        return ws

    def mixed_styles(self, z: Tensor, stage: int) -> Tensor:
        """Training's latents with style mixing regularisation: with probability ``mixing`` a second latent takes
        over from a crossover layer drawn uniformly in [1, active layers), the same for the whole batch (as the
        authors' code draws it per minibatch)."""
        active = 2 * (stage + 1)
        if self.mixing > 0 and active > 1 and float(torch.rand(())) < self.mixing:
            crossover = int(torch.randint(1, active, ()))
            return self.styles(z, torch.randn_like(z), crossover)
        return self.styles(z)

    # ------------------------------------------------------------ synthesis
    def synthesis(self, ws: Tensor, stage: int, alpha: float = 1.0) -> Tensor:
        """The image at ``stage`` from per-layer latents ``ws``, stage ``stage`` faded in by ``alpha``."""
        x = self.const.expand(ws.shape[0], -1, -1, -1)
        x = self.style_layers[1](self.style_layers[0](x, ws[:, 0]), ws[:, 1])
        prev = x
        for s in range(1, stage + 1):
            prev = x
            x = F.interpolate(x, scale_factor=2, mode="nearest")
            x = self.style_layers[2 * s + 1](self.style_layers[2 * s](x, ws[:, 2 * s]), ws[:, 2 * s + 1])
        new = self.to_rgb[stage](x)
        if stage == 0 or alpha >= 1.0:
            return new
        old = F.interpolate(self.to_rgb[stage - 1](prev), scale_factor=2, mode="nearest")
        return fade_in(alpha, old, new)

    def at_stage(self, z: Tensor, stage: int, alpha: float = 1.0) -> Tensor:
        ws = self.mixed_styles(z, stage) if self.training else self.styles(z, psi=self.psi)
        return self.synthesis(ws, stage, alpha)

    def forward(self, z: Tensor, y=None) -> Tensor:
        return enlarge(self.at_stage(z, self.stage, self.alpha), self.resolution)


def style_mixing_grid(G: StyleGenerator, coarse_z: Tensor, fine_z: Tensor, crossover: int, stage: int,
                      psi: Optional[float] = None) -> Tensor:
    """The style-mixing figure (Karras et al. 2018, Fig. 3) as images ``((R + 1) * (C + 1), ...)``, in rows: a blank
    corner, then the C ``fine_z`` sources; each of the R rows starts with its ``coarse_z`` source, then the mixes
    that take the layers before ``crossover`` from that row's source and the rest from the column's."""
    def image(ws):
        return enlarge(G.synthesis(ws, stage), G.resolution)

    a = G.styles(coarse_z, psi=psi)
    b = G.styles(fine_z, psi=psi)
    rows = [torch.cat([torch.full_like(image(b[:1]), -1.0), image(b)])]
    for i in range(a.shape[0]):
        mixed = b.clone()
        mixed[:, :crossover] = a[i:i + 1, :crossover]
        rows.append(torch.cat([image(a[i:i + 1]), image(mixed)]))
    return torch.cat(rows)

