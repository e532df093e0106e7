"""Feature extractors: the one batched pass that every image metric of a call shares.

An extractor turns images (gankit's convention: float ``(N, C, H, W)`` in ``[-1, 1]``) into
``(features, logits)``: features feed FID / KID / precision-recall / density-coverage, logits
(softmax) feed the Inception Score, class accuracy and mode counts. Two kinds exist:

* ``classifier`` — gankit's reference classifier of the dataset (MNIST, Fashion-MNIST;
  :mod:`gankit.metrics.reference`): 128-d penultimate features, 10 logits. Scores in this space
  are written cFID, cKID, cIS. Preprocessing: 8-bit quantisation (exactly what saving a PNG does,
  so scoring a run and scoring its exported images agree), then an antialiased bilinear resize to
  28x28 when the images have another size. Stacked MNIST (3 channels) is classified channel by
  channel with the MNIST classifier.
* ``inception`` — the FID Inception-v3 (Heusel et al. 2017, arXiv 1706.08500; weights
  ``pt_inception-2015-12-05-6726825d.pth`` from a local file): 2048-d pool features, 1008 logits.
  Preprocessing: 8-bit quantisation, grey repeated to RGB, TF1-compatible bilinear resize to 299.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Optional, Tuple

import torch
import torch.nn.functional as F

from ..errors import GankitError

__all__ = ["Extractor", "get_extractor", "quantize_8bit", "FEATURE_KINDS"]

FEATURE_KINDS = ("classifier", "inception")
CLASSIFIER_DATASETS = {"mnist": "mnist", "fashion-mnist": "fashion-mnist", "stacked-mnist": "mnist"}


def quantize_8bit(x: torch.Tensor) -> torch.Tensor:
    """``[-1, 1]`` floats rounded to the 256 levels a PNG stores (and clamped), still in ``[-1, 1]``."""
    return torch.round((x.clamp(-1, 1) + 1) * 127.5) / 127.5 - 1


@dataclass
class Extractor:
    """A named, hashed feature extractor. Call it on images to get ``(features, logits)``."""

    name: str
    weights_sha256: str
    preprocessing: str
    feature_dim: int
    num_logits: int
    forward: Callable[[torch.Tensor], Tuple[torch.Tensor, torch.Tensor]] = field(repr=False)
    device: torch.device = field(default_factory=lambda: torch.device("cpu"))
    channels: Optional[int] = None  # the channel count inputs must have (None: 1 or 3)

    def check(self, images: torch.Tensor, what: str = "images") -> None:
        if images.dim() != 4:
            raise GankitError(f"{what} must be a batch of images (N, C, H, W), got shape {tuple(images.shape)}")
        if self.channels is not None and images.shape[1] != self.channels:
            raise GankitError(f"the {self.name} features need {self.channels}-channel images, "
                              f"{what} have {images.shape[1]}")

    @torch.inference_mode()
    def __call__(self, images: torch.Tensor, batch_size: int = 500) -> Tuple[torch.Tensor, torch.Tensor]:
        """``(features float32 (N, D), logits float32 (N, K))`` on the extractor's device."""
        self.check(images)
        feats, logits = [], []
        for i in range(0, len(images), batch_size):
            f, l = self.forward(images[i:i + batch_size].to(self.device, non_blocking=True).float())
            feats.append(f.float())
            logits.append(l.float())
        if not feats:
            raise GankitError("no images to score")
        return torch.cat(feats), torch.cat(logits)

    def record(self) -> dict:
        return {"name": self.name, "weights_sha256": self.weights_sha256, "preprocessing": self.preprocessing,
                "feature_dim": self.feature_dim}


def _classifier_extractor(dataset: str, device) -> Extractor:
    from .reference import load_reference_classifier

    base = CLASSIFIER_DATASETS.get(dataset)
    if base is None:
        raise GankitError(f"no reference classifier for dataset '{dataset}' (there are: mnist, fashion-mnist, "
                          f"stacked-mnist); use features=inception with the FID Inception weights")
    net = load_reference_classifier(base, device=device)
    stacked = dataset == "stacked-mnist"

    def forward(x: torch.Tensor):
        x = quantize_8bit(x)
        if x.shape[-2:] != (28, 28):
            x = F.interpolate(x, size=(28, 28), mode="bilinear", align_corners=False, antialias=True)
        if stacked:  # (N, 3, H, W) -> every channel classified as its own digit
            n = x.shape[0]
            f, l = net.features_and_logits(x.reshape(n * 3, 1, 28, 28))
            return f.reshape(n, -1), l.reshape(n, 3, -1)
        return net.features_and_logits(x)

    pre = "8-bit quantisation; antialiased bilinear resize to 28x28 if needed"
    if stacked:
        pre += "; each of the 3 channels classified separately (features concatenated)"
    return Extractor(name=f"classifier-{base}", weights_sha256=net.sha256, preprocessing=pre,
                     feature_dim=net.feature_dim * (3 if stacked else 1), num_logits=net.num_classes,
                     forward=forward, device=torch.device(device), channels=3 if stacked else 1)


def _inception_extractor(device, weights: Optional[str]) -> Extractor:
    from .inception import load_inception, to_inception_input

    net = load_inception(weights, device=device)

    def forward(x: torch.Tensor):
        return net(to_inception_input(x))

    return Extractor(name="inception-v3-fid", weights_sha256=net.weights_sha256,
                     preprocessing="8-bit quantisation; grey to RGB; TF1-compatible bilinear resize to 299x299; "
                                   "(x - 128) / 128",
                     feature_dim=2048, num_logits=1008, forward=forward, device=torch.device(device))


def get_extractor(kind: str, dataset: Optional[str] = None, device="cpu",
                  inception_weights: Optional[str] = None) -> Extractor:
    """``kind``: ``classifier`` (needs ``dataset``), ``inception``, or ``auto`` (the dataset's
    classifier when it has one, else Inception)."""
    if kind == "auto":
        kind = "classifier" if dataset in CLASSIFIER_DATASETS else "inception"
    if kind == "classifier":
        return _classifier_extractor(dataset, device)
    if kind == "inception":
        return _inception_extractor(device, inception_weights)
    from ..registry import nearest

    raise GankitError(f"unknown features '{kind}'{nearest(kind, FEATURE_KINDS + ('auto',))}; "
                      f"choose one of: auto, {', '.join(FEATURE_KINDS)}")
