"""Image-to-image translation data derived offline from MNIST and Fashion-MNIST: domains, paired and unpaired sets.

A **domain** is a deterministic (or seeded) function of a base dataset's grayscale images in ``[-1, 1]``:

* ``image``: the images themselves (the base's channels: 1 for MNIST and Fashion-MNIST, 3 for photographs);
* ``inverted``: white background, black strokes, ``-x`` (1 channel);
* ``edges``: the outline of the shape, a morphological gradient of the image thresholded at its mid grey
  (a 3 x 3 dilation minus a 3 x 3 erosion), the "edges -> photo" input of pix2pix (Isola et al. 2016,
  arXiv 1611.07004, Sec. 4) made without an edge detector (1 channel);
* ``colourised``: the strokes coloured by a hue that runs from red at the top row through green to blue at the
  bottom, a fixed function of the pixel's position and intensity, so a paired translator can learn it
  (3 channels);
* ``coloured``: the strokes in one random saturated colour per image (seeded), black background; the colour
  is not a function of the digit, as in the unpaired MNIST <-> coloured MNIST setting (3 channels);
* ``lowres``: the image downsampled x4 (bicubic, antialiased), stored at full size by repeating pixels
  (super-resolution's input; :func:`low_of` recovers the small image).

Super-resolution also has natural images: ``lowres2photos`` takes seeded RGB patches of the photographs bundled
with scikit-image (:data:`PHOTOS`; training patches from the left three quarters of each photograph, test
patches from the right quarter).

Every colour used has its largest channel at 1, so :func:`canonical` recovers the grey image of a coloured
one as the maximum over channels; that is how the reference classifiers of the base dataset read translated
images (class preservation, gankit.metrics.translation).

A **translation set** is registered as a dataset named ``<A>2<B>``. It loads as one tensor whose channels are
domain A's then domain B's, ``(N, C_A + C_B, H, W)``, and labels ``(N, 2)`` (the class of the A image and of
the B image), with ``DataInfo.domains = ((name_A, C_A), (name_B, C_B))``:

* **paired** sets (``DataInfo.paired``): row i holds the same image in both domains (pix2pix);
* **unpaired** sets: the A images and the B images come from two disjoint halves of the base split (a seeded
  split, the same at every run with the same seed), so no image appears in both domains; the loader shuffles
  each domain on its own (:class:`UnpairedLoader`), so rows carry no correspondence (CycleGAN's setting).
  Across two base datasets (``mnist2fashion``) each domain uses the whole of its own split.

Keeping both domains in one tensor keeps the trainer, the checkpointed loader state and the memory checks
unchanged: a translator's step splits the channels (:func:`split_domains`).
"""
from __future__ import annotations

from typing import Dict, Optional, Tuple

import torch
import torch.nn.functional as F

from ..errors import DataError
from .base import DATASETS, DataInfo, Loaded
from .loader import DeviceLoader

#: domain -> channels (None: the base's own, 1 for MNIST, 3 for photographs)
DOMAIN_CHANNELS: Dict[str, Optional[int]] = {"image": None, "inverted": 1, "edges": 1, "colourised": 3, "coloured": 3,
                                             "lowres": None}
#: the super-resolution factor of the ``lowres`` domain (SRGAN's x4)
SR_FACTOR = 4


def lowres(x: torch.Tensor, factor: int = SR_FACTOR) -> torch.Tensor:
    """Low-resolution images for super-resolution: ``x`` downsampled by ``factor`` with an antialiased bicubic
    filter (SRGAN, Ledig et al. 2016, arXiv 1609.04802, Sec. 3: "a bicubic kernel with downsampling factor r"),
    clamped to [-1, 1], then stored at the original size by repeating each pixel ``factor`` x ``factor`` times
    (so both domains of a set have one size; :func:`low_of` takes the small image back exactly)."""
    small = F.interpolate(x, scale_factor=1 / factor, mode="bicubic", antialias=True, align_corners=False)
    return F.interpolate(small.clamp(-1, 1), scale_factor=factor, mode="nearest")


def low_of(x: torch.Tensor, factor: int = SR_FACTOR) -> torch.Tensor:
    """The small image of a stored ``lowres`` one (every ``factor``-th pixel)."""
    return x[..., ::factor, ::factor]


def bicubic_up(small: torch.Tensor, factor: int = SR_FACTOR) -> torch.Tensor:
    """The bicubic baseline of super-resolution: ``small`` upsampled by ``factor``, clamped to [-1, 1]."""
    return F.interpolate(small, scale_factor=factor, mode="bicubic", align_corners=False).clamp(-1, 1)


def edges(x: torch.Tensor) -> torch.Tensor:
    """Outline of grayscale images ``(N, 1, H, W)`` in [-1, 1]: dilation minus erosion (3 x 3) of the shape
    thresholded at 0, in {-1, 1}."""
    shape = (x > 0).float()
    dilated = F.max_pool2d(shape, 3, 1, 1)
    eroded = -F.max_pool2d(-shape, 3, 1, 1)
    return (dilated - eroded) * 2 - 1


def hue_rgb(hue: torch.Tensor) -> torch.Tensor:
    """Saturated colours (largest channel 1) of hues in [0, 1), ``(..., 3)``: the HSV wheel at S = V = 1."""
    h = (hue % 1.0) * 6
    k = torch.stack([(5 + h) % 6, (3 + h) % 6, (1 + h) % 6], -1)
    return 1 - torch.clamp(torch.minimum(k, 4 - k), 0, 1)


def colourised(x: torch.Tensor) -> torch.Tensor:
    """Strokes coloured by row: hue 0 (red) at the top to 2/3 (blue) at the bottom; ``(N, 3, H, W)``."""
    h = x.shape[-2]
    rows = hue_rgb(torch.linspace(0, 2 / 3, h)).t()[:, :, None]  # (3, H, 1)
    ink = (x + 1) / 2  # (N, 1, H, W) in [0, 1]
    return ink * rows * 2 - 1


def coloured(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Each image's strokes in one random saturated colour (hue uniform in [0, 1)); ``(N, 3, H, W)``."""
    colour = hue_rgb(torch.rand(x.shape[0], generator=generator))[:, :, None, None]  # (N, 3, 1, 1)
    return (x + 1) / 2 * colour * 2 - 1


def make_domain(name: str, x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
    """Images of base grayscale ``x`` (``(N, 1, H, W)``) in domain ``name``."""
    if name == "image":
        return x
    if name == "inverted":
        return -x
    if name == "edges":
        return edges(x)
    if name == "colourised":
        return colourised(x)
    if name == "coloured":
        return coloured(x, generator)
    if name == "lowres":
        return lowres(x)
    raise DataError(f"unknown domain '{name}' (domains: {', '.join(DOMAIN_CHANNELS)})")


def canonical(name: str, x: torch.Tensor) -> Optional[torch.Tensor]:
    """Images of domain ``name`` mapped back to the base dataset's grey images (what its reference classifier
    reads), or None where the domain loses the image (``edges``)."""
    if name == "image":
        return x
    if name == "inverted":
        return -x
    if name in ("coloured", "colourised"):
        return x.amax(1, keepdim=True)
    return None


#: registered translation sets: name -> (paired, (base A, domain A), (base B, domain B))
TRANSLATION_SETS: Dict[str, Tuple[bool, Tuple[str, str], Tuple[str, str]]] = {
    "edges2mnist": (True, ("mnist", "edges"), ("mnist", "image")),
    "edges2fashion": (True, ("fashion-mnist", "edges"), ("fashion-mnist", "image")),
    "mnist2colourised": (True, ("mnist", "image"), ("mnist", "colourised")),
    "mnist2inverted": (False, ("mnist", "image"), ("mnist", "inverted")),
    "mnist2coloured": (False, ("mnist", "image"), ("mnist", "coloured")),
    "mnist2fashion": (False, ("mnist", "image"), ("fashion-mnist", "image")),
    "mnist2edges": (False, ("mnist", "image"), ("mnist", "edges")),
    "lowres2mnist": (True, ("mnist", "lowres"), ("mnist", "image")),
    "lowres2fashion": (True, ("fashion-mnist", "lowres"), ("fashion-mnist", "image")),
    "lowres2photos": (True, ("photos", "lowres"), ("photos", "image")),
    # the user's own images (gankit.data.folders): DIR/A and DIR/B, or side-by-side pairs
    "paired-folder": (True, ("folder", "A"), ("folder", "B")),
    "unpaired-folder": (False, ("folder", "A"), ("folder", "B")),
}
#: the super-resolution sets (A: the low-resolution images, B: the originals)
SR_SETS = tuple(n for n, v in TRANSLATION_SETS.items() if v[1][1] == "lowres")

#: the photographs bundled with scikit-image (skimage.data, no download): the training patches come from the left
#: three quarters of each, the test patches from the right quarter
PHOTOS = ("astronaut", "chelsea", "coffee", "rocket", "immunohistochemistry", "hubble_deep_field", "retina")
PHOTO_PATCHES = {"train": 20000, "test": 2000}


def photo_patches(split: str, resolution: int, size: Optional[int], generator: torch.Generator) -> torch.Tensor:
    """Seeded random ``resolution`` x ``resolution`` RGB patches of :data:`PHOTOS` in [-1, 1], ``(N, 3, R, R)``: as
    many from each photograph, from its left three quarters (train) or its right quarter (test)."""
    try:
        import skimage.data
    except ImportError:
        raise DataError("lowres2photos reads the photographs bundled with scikit-image; install it "
                        "(pip install scikit-image)") from None
    n = PHOTO_PATCHES[split] if size is None else size
    per = -(-n // len(PHOTOS))
    parts = []
    for name in PHOTOS:
        img = torch.from_numpy(getattr(skimage.data, name)()[..., :3].copy()).permute(2, 0, 1).float() / 127.5 - 1
        w = img.shape[-1]
        cut = (3 * w) // 4
        region = img[..., :cut] if split == "train" else img[..., cut:]
        h, w = region.shape[-2:]
        if h < resolution or w < resolution:
            raise DataError(f"lowres2photos: data.resolution={resolution} is larger than the {split} part of the "
                            f"photograph '{name}' ({h} x {w})")
        top = torch.randint(0, h - resolution + 1, (per,), generator=generator)
        left = torch.randint(0, w - resolution + 1, (per,), generator=generator)
        parts += [region[:, t:t + resolution, l:l + resolution] for t, l in zip(top.tolist(), left.tolist())]
    return torch.stack(parts[:n])


def base_of(info: DataInfo, side: int) -> str:
    """The base dataset (``mnist``, ``fashion-mnist``) of domain ``side`` (0: A, 1: B) of a translation set."""
    return TRANSLATION_SETS[info.name][1 + side][0]


def domain_slices(info: DataInfo):
    """The channel slice of each domain of a set of two or more domains, in order."""
    out, start = [], 0
    for _, c in info.domains:
        out.append(slice(start, start + c))
        start += c
    return out


def split_domains(x: torch.Tensor, info: DataInfo) -> Tuple[torch.Tensor, torch.Tensor]:
    """``(x_A, x_B)`` from a translation batch ``(N, C_A + C_B, H, W)``."""
    a, b = domain_slices(info)
    return x[:, a], x[:, b]


def load_translation_set(name: str, *, root=None, resolution: int = 28, channels=None, download: bool = False,
                         split: str = "train", size=None, seed: int = 0, **_ignored) -> Loaded:
    from .mnist import load_mnist_family

    paired, (base_a, dom_a), (base_b, dom_b) = TRANSLATION_SETS[name]
    if base_a == "folder":  # the user's images
        from .folders import read_folder_set

        xa, xb, c = read_folder_set(name, root, split, resolution, channels, size)
        x = torch.cat([xa, xb], 1).contiguous()
        info = DataInfo(name=name, kind="images", shape=tuple(x.shape[1:]), num_classes=0,
                        domains=((dom_a, c), (dom_b, c)), paired=paired)
        return x, torch.zeros(len(x), 2, dtype=torch.long), info
    if channels is not None:
        raise DataError(f"{name}: the channels of a translation set are its domains' ({name.replace('2', ' -> ')}); "
                        f"leave data.channels unset")
    gen = torch.Generator().manual_seed(seed * 1000003 + (0 if split == "train" else 1))
    if name in SR_SETS and resolution % SR_FACTOR:
        raise DataError(f"{name}: data.resolution must be a multiple of the x{SR_FACTOR} factor, got {resolution}")
    if base_a == "photos":  # natural RGB patches; no classes
        hr = photo_patches(split, resolution, size, gen)
        x = torch.cat([make_domain(dom_a, hr, gen), hr], 1).contiguous()
        info = DataInfo(name=name, kind="images", shape=tuple(x.shape[1:]), num_classes=0,
                        domains=((dom_a, 3), (dom_b, 3)), paired=True)
        return x, torch.zeros(len(x), 2, dtype=torch.long), info
    # data.size keeps the first `size` rows; the base sets are read only as far as those need
    need = None if size is None else (size if paired or base_a != base_b else 2 * size)
    kw = dict(root=root, resolution=resolution, channels=1, download=download, split=split, size=need)
    xa, ya, _ = load_mnist_family(base_a, **kw)
    if base_b == base_a:
        xb, yb = xa, ya
    else:
        xb, yb, _ = load_mnist_family(base_b, **kw)
    if not paired and base_a == base_b:  # two disjoint halves of one split
        perm = torch.randperm(len(xa), generator=gen)
        half = len(xa) // 2
        ia, ib = perm[:half], perm[half:2 * half]
        xa, ya, xb, yb = xa[ia], ya[ia], xb[ib], yb[ib]
    n = min(len(xa), len(xb))
    if size is not None:
        n = min(n, size)
    xa, ya, xb, yb = xa[:n], ya[:n], xb[:n], yb[:n]
    a = make_domain(dom_a, xa, gen)
    b = make_domain(dom_b, xb, gen)
    x = torch.cat([a, b], 1).contiguous()
    y = torch.stack([ya, yb], 1)
    info = DataInfo(name=name, kind="images", shape=tuple(x.shape[1:]), num_classes=10,
                    domains=((dom_a, a.shape[1]), (dom_b, b.shape[1])), paired=paired)
    return x, y, info


def _register(name: str) -> None:
    paired, (ba, da), (bb, db) = TRANSLATION_SETS[name]
    how = "paired" if paired else "unpaired"

    def loader(**kwargs) -> Loaded:
        return load_translation_set(name, **kwargs)

    loader.__doc__ = (f"your images, DIR/A -> DIR/B ({how}; data.root=DIR; gankit.data.folders)" if ba == "folder"
                      else f"{ba} {da} -> {bb} {db} ({how}; gankit.data.domains)")
    DATASETS.add(name, loader)


for _name in TRANSLATION_SETS:
    _register(_name)


class UnpairedLoader:
    """Seeded, resumable batches of an unpaired set of two or more domains: each domain's images are shuffled by a
    loader of their own (seeds ``seed``, ``seed + 1``, ...), so a batch's rows are independent draws per domain.
    Batches have the set's layout (the domains' channels one after the other; labels ``(N, domains, ...)``)."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor, info: DataInfo, batch_size: int, device, seed: int):
        self.streams = [DeviceLoader(x[:, s], y[:, k], batch_size, device, seed + k)
                        for k, s in enumerate(domain_slices(info))]
        self.batch_size = batch_size

    @property
    def a(self) -> DeviceLoader:
        return self.streams[0]

    @property
    def b(self) -> DeviceLoader:
        return self.streams[1]

    def shard(self, rank: int, world: int) -> None:
        for s in self.streams:
            s.shard(rank, world)

    def next(self) -> Tuple[torch.Tensor, torch.Tensor]:
        parts = [s.next() for s in self.streams]
        return torch.cat([p[0] for p in parts], 1), torch.stack([p[1] for p in parts], 1)

    def __iter__(self) -> "UnpairedLoader":
        return self

    def __next__(self):
        return self.next()

    @property
    def epoch(self) -> int:
        return self.a.epoch

    @property
    def steps_per_epoch(self) -> int:
        return self.a.steps_per_epoch

    @property
    def _keys(self) -> Tuple[str, ...]:
        return tuple("abcdefghijklmnopqrstuvwxyz"[k] for k in range(len(self.streams)))

    def state_dict(self) -> dict:
        return {k: s.state_dict() for k, s in zip(self._keys, self.streams)}

    def load_state_dict(self, state: dict) -> None:
        if not isinstance(state, dict) or set(state) != set(self._keys):
            raise DataError(f"data loader state is not an unpaired one of {len(self.streams)} domains (expected one "
                            f"stream per domain); resume with the same data.name")
        for k, s in zip(self._keys, self.streams):
            s.load_state_dict(state[k])


def is_translation(name) -> bool:
    return name in TRANSLATION_SETS


__all__ = ["DOMAIN_CHANNELS", "SR_SETS", "TRANSLATION_SETS", "bicubic_up", "low_of", "lowres", "UnpairedLoader", "canonical", "edges", "hue_rgb", "make_domain",
           "split_domains", "base_of", "is_translation"]
