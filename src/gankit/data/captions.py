"""Captions for MNIST and Fashion-MNIST, made from each image's label and measured attributes.

Text-to-image GANs (StackGAN, Zhang et al. 2016, arXiv 1612.03242; StackGAN++, 2017, arXiv 1710.10916) need
images with descriptions. gankit writes them: the class word and, for each of the dataset's attributes, a word when
the image's measurement lies in the lowest or highest third of the training split, nothing when it lies in the
middle third. "a small thick slanted seven", "an upright one", "a dark sandal".

**The measurements** (on ink m = (x + 1) / 2 in [0, 1], channels averaged):

* ``thickness``: 2 * sum(m) / sum(|grad m|_1), the ink's area over half its perimeter, which for a stroke of width
  w and length L >> w is about w (words: thin / thick);
* ``slant``: |mu_11 / mu_02|, the magnitude of the horizontal shear of the ink's second moments (upright / slanted);
* ``size``: the ink's radius of gyration sqrt((mu_20 + mu_02) / sum(m)) in pixels (small / large);
* ``brightness``: sum(m^2) / sum(m), the ink-weighted mean intensity (dark / bright).

All four are smooth functions of the pixels, so generated samples are measured the same way as real ones (the
attribute-tracking metric of the text-conditioned GANs). MNIST's captions use size, thickness and slant;
Fashion-MNIST's size and brightness.

**The thresholds** (:data:`TERTILES`) are the 1/3 and 2/3 quantiles of each measurement over the 60,000 training
images at each resolution, measured once and written here, so an image's caption never depends on a run (``tests/test_captions.py``
measures them again from the data and checks these numbers). About a third of the images have each word.

Lengths are in pixels of the data's resolution, and the resampling that makes 32 x 32 or 64 x 64 data blurs the
strokes, so the thresholds are fitted per resolution (28, 32 and 64, the MNIST family's) and an image is measured
at its own size.

**A caption as numbers** is a row of ints ``[class, code_1, ..., code_A]`` with code 0 (no word), 1 (the low word)
or 2 (the high word) per attribute; :meth:`Captioner.text` and :meth:`Captioner.parse` convert rows to text and
back. **The text embedding** is a fixed bag of words: the multi-hot vector over the vocabulary (class words, then
each attribute's low and high word), the "fixed bag-of-words embedding" the StackGAN issue allows in place of a
trained text encoder; each word of this vocabulary has one meaning, so no information of the caption is lost.
"""
from __future__ import annotations

import re
from typing import Dict, List, Optional, Sequence, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ..errors import ConfigError

#: attribute -> (low word, high word)
WORDS: Dict[str, Tuple[str, str]] = {
    "size": ("small", "large"),
    "thickness": ("thin", "thick"),
    "slant": ("upright", "slanted"),
    "brightness": ("dark", "bright"),
}

#: dataset -> its caption attributes, in the order their words are written
ATTRIBUTES: Dict[str, Tuple[str, ...]] = {
    "mnist": ("size", "thickness", "slant"),
    "fashion-mnist": ("size", "brightness"),
}

#: dataset -> the class words (one word each, so a caption parses without ambiguity)
CLASS_WORDS: Dict[str, Tuple[str, ...]] = {
    "mnist": ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    "fashion-mnist": ("t-shirt", "trouser", "pullover", "dress", "coat", "sandal", "shirt", "sneaker", "bag",
                      "boot"),
}

#: dataset -> resolution -> attribute -> (1/3 quantile, 2/3 quantile) of the measurement over the training split
#: at that resolution (see the module docstring; ``tests/test_captions.py`` recomputes them)
TERTILES: Dict[str, Dict[int, Dict[str, Tuple[float, float]]]] = {
    "mnist": {
        28: {"size": (6.3736, 7.0548), "thickness": (1.7667, 2.1824), "slant": (0.1219, 0.2825)},
        32: {"size": (7.3132, 8.0951), "thickness": (2.1492, 2.5814), "slant": (0.1213, 0.2811)},
        64: {"size": (14.6282, 16.1805), "thickness": (4.1890, 5.0822), "slant": (0.1211, 0.2807)},
    },
    "fashion-mnist": {
        28: {"size": (8.2514, 8.9508), "brightness": (0.6300, 0.7709)},
        32: {"size": (9.4405, 10.2407), "brightness": (0.5852, 0.7343)},
        64: {"size": (18.9069, 20.5055), "brightness": (0.5859, 0.7350)},
    },
}

ARTICLES = ("a", "an", "the")


def _ink(x: Tensor) -> Tensor:
    """Images in [-1, 1] ``(N, C, H, W)`` -> ink in [0, 1] ``(N, H, W)`` (channels averaged)."""
    return ((x.float() + 1) / 2).clamp(0, 1).mean(1)


def _moments(m: Tensor) -> Tuple[Tensor, Tensor, Tensor, Tensor]:
    """``(mass, mu_20, mu_02, mu_11)`` of ink maps ``(N, H, W)``: central moments normalised by the mass."""
    n, h, w = m.shape
    ys = torch.arange(h, dtype=m.dtype, device=m.device).view(1, h, 1)
    xs = torch.arange(w, dtype=m.dtype, device=m.device).view(1, 1, w)
    mass = m.sum((1, 2)).clamp_min(1e-6)
    cy = (m * ys).sum((1, 2)) / mass
    cx = (m * xs).sum((1, 2)) / mass
    dy, dx = ys - cy.view(n, 1, 1), xs - cx.view(n, 1, 1)
    mu20 = (m * dx * dx).sum((1, 2)) / mass
    mu02 = (m * dy * dy).sum((1, 2)) / mass
    mu11 = (m * dx * dy).sum((1, 2)) / mass
    return mass, mu20, mu02, mu11


def measure(x: Tensor, names: Sequence[str]) -> Tensor:
    """The measurements ``names`` (see the module docstring) of images ``x`` in [-1, 1]: ``(N, len(names))``."""
    m = _ink(x)
    mass, mu20, mu02, mu11 = _moments(m)
    out = []
    for name in names:
        if name == "thickness":
            tv = (m[:, 1:] - m[:, :-1]).abs().sum((1, 2)) + (m[:, :, 1:] - m[:, :, :-1]).abs().sum((1, 2))
            out.append(2 * mass / tv.clamp_min(1e-6))
        elif name == "slant":
            out.append((mu11 / mu02.clamp_min(1e-6)).abs())
        elif name == "size":
            out.append((mu20 + mu02).clamp_min(0).sqrt())
        elif name == "brightness":
            out.append((m * m).sum((1, 2)) / mass)
        else:
            raise ValueError(f"unknown attribute {name!r}; known: {', '.join(WORDS)}")
    return torch.stack(out, 1)


def fit_tertiles(x: Tensor, names: Sequence[str], chunk: int = 10000) -> Dict[str, Tuple[float, float]]:
    """The 1/3 and 2/3 quantiles of each measurement over images ``x`` (how :data:`TERTILES` was made)."""
    values = torch.cat([measure(x[i:i + chunk], names) for i in range(0, len(x), chunk)])
    q = torch.quantile(values.double(), torch.tensor([1 / 3, 2 / 3], dtype=torch.float64), dim=0)
    return {name: (float(q[0, j]), float(q[1, j])) for j, name in enumerate(names)}


class Captioner:
    """Captions of one dataset: rows of numbers from images, text from rows and back, the bag-of-words embedding."""

    def __init__(self, dataset: str, resolution: int = 28):
        if dataset not in ATTRIBUTES:
            raise ConfigError(f"config: captions are made for {' and '.join(ATTRIBUTES)} (from labels and measured "
                              f"attributes), not for '{dataset}'")
        if resolution not in TERTILES[dataset]:
            raise ConfigError(f"config: {dataset} captions are fitted at resolutions "
                              f"{', '.join(map(str, TERTILES[dataset]))}, not {resolution}")
        self.dataset, self.resolution = dataset, resolution
        self.attributes = ATTRIBUTES[dataset]
        self.classes = CLASS_WORDS[dataset]
        self.tertiles = torch.tensor([TERTILES[dataset][resolution][a] for a in self.attributes])  # (A, 2)
        self.vocabulary: List[str] = list(self.classes) + [w for a in self.attributes for w in WORDS[a]]

    @property
    def num_classes(self) -> int:
        return len(self.classes)

    @property
    def embed_dim(self) -> int:
        """The bag-of-words width: the vocabulary's size."""
        return len(self.vocabulary)

    @property
    def row_width(self) -> int:
        return 1 + len(self.attributes)

    # ------------------------------------------------------------ images -> rows
    def codes(self, values: Tensor, tertiles: Optional[Tensor] = None) -> Tensor:
        """Measurements ``(N, A)`` -> codes ``(N, A)``: 1 below the 1/3 quantile, 2 above the 2/3, else 0
        (``tertiles``: ``(A, 2)`` thresholds, default every attribute's)."""
        t = (self.tertiles if tertiles is None else tertiles).to(values.device, values.dtype)
        return (values < t[:, 0]).long() + 2 * (values > t[:, 1]).long()

    def codes_of(self, values: Tensor, name: str) -> Tensor:
        """Measurements of one attribute ``name`` (``(N,)`` or ``(N, 1)``) -> its codes ``(N,)``."""
        j = self.attributes.index(name)
        return self.codes(values.reshape(-1, 1), self.tertiles[j:j + 1]).flatten()

    def rows(self, x: Tensor, labels: Tensor) -> Tensor:
        """Caption rows ``(N, 1 + A)`` of images ``x`` with class ``labels`` (on the images' device, no host sync)."""
        return torch.cat([labels.long().view(-1, 1), self.codes(measure(x, self.attributes))], 1)

    # ------------------------------------------------------------ rows <-> text
    def text(self, row: Sequence[int]) -> str:
        """``[class, codes...]`` -> ``"a small thick seven"``."""
        row = [int(v) for v in row]
        if len(row) != self.row_width or not 0 <= row[0] < self.num_classes or any(c not in (0, 1, 2) for c in row[1:]):
            raise ValueError(f"a caption row of {self.dataset} is [class 0-{self.num_classes - 1}] + "
                             f"{len(self.attributes)} codes in 0, 1, 2; got {row}")
        words = [WORDS[a][c - 1] for a, c in zip(self.attributes, row[1:]) if c] + [self.classes[row[0]]]
        return ("an " if words[0][0] in "aeiou" else "a ") + " ".join(words)

    def parse(self, text: str) -> List[int]:
        """A caption -> its row. Words are matched case-insensitively; articles are skipped; one class word is
        needed and at most one word per attribute; an unknown word raises ``ValueError`` naming the vocabulary."""
        if not isinstance(text, str):
            raise ValueError(f"a caption is text, got {type(text).__name__}")
        row = [-1] + [0] * len(self.attributes)
        tokens = [t for t in re.split(r"[\s,.;!?]+", text.lower()) if t and t not in ARTICLES]
        for token in tokens:
            if token in self.classes:
                if row[0] >= 0:
                    raise ValueError(f"caption {text!r} names two classes ({self.classes[row[0]]}, {token}); name one")
                row[0] = self.classes.index(token)
                continue
            for j, a in enumerate(self.attributes):
                if token in WORDS[a]:
                    if row[1 + j]:
                        raise ValueError(f"caption {text!r} has two words for the {a} ({WORDS[a][row[1 + j] - 1]}, "
                                         f"{token})")
                    row[1 + j] = WORDS[a].index(token) + 1
                    break
            else:
                raise ValueError(f"caption {text!r}: unknown word {token!r}; the {self.dataset} captions use "
                                 f"{', '.join(self.vocabulary)}")
        if row[0] < 0:
            raise ValueError(f"caption {text!r} names no class; use one of {', '.join(self.classes)}")
        return row

    # ------------------------------------------------------------ rows -> embedding
    def embed(self, rows: Tensor) -> Tensor:
        """The fixed bag-of-words embedding ``(N, V)``: one for the class word and for each word the caption has."""
        rows = rows.long()
        out = F.one_hot(rows[:, 0], self.num_classes).float()
        parts = [out]
        for j in range(len(self.attributes)):
            parts.append(F.one_hot(rows[:, 1 + j], 3)[:, 1:].float())  # code 0 (no word) -> two zeros
        return torch.cat(parts, 1)

    def word_rows(self, labels: Tensor, attribute: int, code: int) -> Tensor:
        """Captions for ``labels`` naming one word, ``code`` (1 low, 2 high) of attribute number ``attribute``,
        and no other attribute word."""
        rows = torch.zeros(len(labels), self.row_width, dtype=torch.long, device=labels.device)
        rows[:, 0] = labels
        rows[:, 1 + attribute] = code
        return rows

    def random_rows(self, labels: Tensor, generator: torch.Generator) -> Tensor:
        """Captions for ``labels`` with each attribute's code drawn uniformly from {0, 1, 2} (the data's own
        frequencies, by the tertiles' construction) by a CPU ``generator``."""
        codes = torch.randint(0, 3, (len(labels), len(self.attributes)), generator=generator)
        return torch.cat([labels.long().view(-1, 1).cpu(), codes], 1).to(labels.device)
