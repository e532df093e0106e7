"""What the image-to-image translators share: translation-set data, translating, pictures and evaluation.

A translator trains on a translation set (:mod:`gankit.data.domains`: domain A's and B's images stacked along
the channels, paired or unpaired) and maps images of one domain to the other. Its generators are held in
``self.G`` (one net, or an ``nn.ModuleDict`` with ``ab`` and ``ba``), its discriminators in ``self.D``, so the
trainer's ``g`` and ``d`` groups, EMA and checkpoints apply unchanged.

From outside a translator looks like every GAN: ``sample`` gives translations of the test split's first images
(with their classes as labels), the training picture has rows of inputs, outputs (and reconstructions for the
two-way translators), and ``gankit eval`` reports the task's metrics (:mod:`gankit.metrics.translation`).
:meth:`Translator.translate` applies the net to any images of the source domain (``gankit translate``).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
from torch import Tensor, nn

from ...config import Config
from ...data.domains import TRANSLATION_SETS, split_domains
from ...errors import ConfigError, GankitError
from ..base import GAN

#: test images a translator keeps for its pictures and samples (loaded once, on first use)
PICTURE_IMAGES = 10000


def to_rgb(x: Tensor) -> Tensor:
    """Grey images as three equal channels (to put grey and colour domains in one picture)."""
    return x.repeat(1, 3, 1, 1) if x.shape[1] == 1 else x


class Translator(GAN):
    """Base of the translators (not registered itself). Subclasses set ``directions`` and build the nets."""

    needs_images = True
    translates = True
    takes_domains = True
    own_evaluation = True
    #: the translations the GAN learns: ("ab",) one way (pix2pix), ("ab", "ba") both (CycleGAN)
    directions: Tuple[str, ...] = ("ab",)
    #: True when the GAN needs paired data (row i the same image in both domains)
    needs_pairs = False
    conditional = False

    @classmethod
    def validate(cls, cfg: Config) -> None:
        super().validate(cfg)
        name = cfg.data.name
        if name not in TRANSLATION_SETS:
            sets = [n for n, v in TRANSLATION_SETS.items() if v[0] or not cls.needs_pairs]
            raise ConfigError(f"config: GAN '{cfg.gan}' translates images between two domains; data.name must be a "
                              f"translation set ({', '.join(sets)}), got '{name}'")
        if cls.needs_pairs and not TRANSLATION_SETS[name][0]:
            paired = [n for n, v in TRANSLATION_SETS.items() if v[0]]
            raise ConfigError(f"config: GAN '{cfg.gan}' learns from paired images, but '{name}' is unpaired; paired "
                              f"sets: {', '.join(paired)}")

    @property
    def z_dim(self) -> int:
        return 0

    @property
    def domain_channels(self) -> Tuple[int, int]:
        return self.info.domains[0][1], self.info.domains[1][1]

    def split(self, real: Tensor) -> Tuple[Tensor, Tensor]:
        """``(x_A, x_B)`` of a batch."""
        return split_domains(real, self.info)

    # ------------------------------------------------------------ translating
    def generator(self, direction: str, ema: bool = True) -> nn.Module:
        G = self.G_ema if (ema and self.G_ema is not None) else self.G
        if isinstance(G, nn.ModuleDict):
            return G[direction]
        if direction != "ab":
            raise GankitError(f"GAN '{self.cfg.gan}' translates A -> B only")
        return G

    def target(self, to: Optional[str] = None) -> str:
        """The translation ``gankit translate --to`` names: ``b`` (default) or ``a``, as a direction ``ab``/``ba``."""
        to = (to or "b").lower()
        if to not in ("a", "b"):
            raise GankitError(f"the domain to translate into must be a or b, got '{to}'")
        direction = "ab" if to == "b" else "ba"
        if direction not in self.directions:
            raise GankitError(f"this {self.cfg.gan} run translates A -> B only (into {self.info.domains[1][0]}); it "
                              f"cannot translate into A")
        return direction

    def input_channels(self, target) -> int:
        """The channels of the images :meth:`translate` takes for ``target``."""
        return self.domain_channels[0 if target == "ab" else 1]

    def describe(self, target) -> str:
        return f"domain {target[1]} ({self.info.domains[0 if target == 'ba' else 1][0]})"

    @property
    def input_sides(self) -> Tuple[int, ...]:
        """The image sides the generators take (the run's resolution; a super-resolver also takes small images)."""
        return (self.info.shape[-1],)

    @torch.no_grad()
    def translate(self, x: Tensor, direction: str = "ab", ema: bool = True, chunk: int = 500) -> Tensor:
        """Images ``x`` of the source domain translated (``direction`` ``ab``: A -> B, ``ba``: B -> A), with the
        generator in eval mode, in chunks."""
        if direction not in self.directions:
            raise GankitError(f"GAN '{self.cfg.gan}' translates {' and '.join(self.directions)}, not '{direction}'")
        src = self.domain_channels[0 if direction == "ab" else 1]
        if x.dim() != 4 or x.shape[1] != src or x.shape[-2] != x.shape[-1] or x.shape[-1] not in self.input_sides:
            sides = " or ".join(f"(N, {src}, {s}, {s})" for s in self.input_sides)
            raise GankitError(f"images to translate {direction[0].upper()} -> {direction[1].upper()} must have shape "
                              f"{sides}, got {tuple(x.shape)}")
        G = self.generator(direction, ema)
        was = G.training
        G.eval()
        try:
            parts = [G(x[i:i + chunk].to(self.device)) for i in range(0, x.shape[0], chunk)]
        finally:
            G.train(was)
        if not parts:
            return x.new_zeros((0, self.domain_channels[1 if direction == "ab" else 0]) + tuple(x.shape[-2:]))
        return torch.cat(parts).float()

    def task_data(self, split: str = "test", root=None) -> Tuple[Tensor, Tensor]:
        """``(x, y)`` of the translation set's ``split`` (the first :data:`PICTURE_IMAGES`), on the GAN's device;
        loaded once per split."""
        from ...data import load_dataset

        cache: Dict[str, Tuple[Tensor, Tensor]] = self.__dict__.setdefault("_task_data", {})
        key = f"{split}:{root}"
        if key not in cache:
            d = self.cfg.data
            x, y, _ = load_dataset(d.name, root=d.root if root is None else root, resolution=d.resolution,
                                   split=split, size=PICTURE_IMAGES, seed=self.cfg.seed)
            cache[key] = (x.to(self.device), y.to(self.device))
        return cache[key]

    # ------------------------------------------------------------ sampling, pictures, evaluation
    @torch.no_grad()
    def sample_with_labels(self, n: int, seed: int = 0, ema: bool = True, chunk: int = 1000,
                           labels: Optional[Tensor] = None, truncation: Optional[float] = None):
        """Translations A -> B of ``n`` test images (the first ``n``; ``seed`` is not used: a translator draws no
        noise), with the source images' classes."""
        x, y = self.images_to_sample(n, labels, truncation)
        xa, _ = self.split(x)
        return self.translate(xa, "ab", ema, chunk), y[:, 0]

    def images_to_sample(self, n: int, labels=None, truncation=None) -> Tuple[Tensor, Tensor]:
        """The first ``n`` test images and their labels, what a translator's samples translate (a translator
        refuses labels and truncation, which only a generator from noise takes)."""
        if labels is not None or truncation is not None:
            raise GankitError(f"GAN '{self.cfg.gan}' translates images; it takes no labels or truncation")
        x, y = self.task_data()
        if n > len(x):
            raise GankitError(f"GAN '{self.cfg.gan}' samples by translating test images; at most {len(x)}, got {n}")
        return x[:n], y[:n]

    def sample_grid(self, n: int, seed: int = 0):
        """Rows of 8: A inputs, their translations (and, two-way, the reconstructions), then the same from B."""
        per = 8
        k = max(1, n // (per * 3 * len(self.directions))) * per
        x, _ = self.task_data()
        xa, xb = self.split(x[:k])
        rows = []
        for direction, src in zip(("ab", "ba"), (xa, xb)):
            if direction not in self.directions:
                continue
            out = self.translate(src, direction)
            row = [src, out]
            if len(self.directions) == 2:
                row.append(self.translate(out, "ba" if direction == "ab" else "ab"))
            if self.info.paired:
                row.append(xb if direction == "ab" else xa)
            for i in range(0, k, per):
                rows += [to_rgb(r[i:i + per]) for r in row]
        return torch.cat(rows), per

    def evaluate_task(self, n: int = 2500, seed: int = 0, split: str = "test", root=None) -> dict:
        from ...metrics.translation import translation_metrics

        return translation_metrics(self, self.info, n=n, seed=seed, split=split, root=root)
