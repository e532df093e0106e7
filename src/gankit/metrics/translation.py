"""Metrics of image-to-image translators, on the test split of a translation set (gankit.data.domains).

For each direction the translator offers (A -> B; and B -> A for the two-way ones), on the first ``n`` test
images of the source domain:

* ``class_preserved_<ab|ba>``: the share of translated images that the target's base dataset's reference
  classifier puts in the source image's class. The translated image is first mapped back to grey
  (:func:`gankit.data.domains.canonical`: inversion undone, colour reduced to its largest channel). Measured
  when both domains come from the same base dataset and the target is not ``edges``;
* ``cfid_<ab|ba>``: Fréchet distance between the classifier's features of the translated images and of real
  target-domain test images (both mapped back to grey; the same condition);
* ``cycle_l1_<ab|ba>`` (two-way translators): mean |x - F(G(x))|, on images in [-1, 1];
* paired sets: ``l1``, ``psnr`` (dB) and ``ssim`` (Wang et al. 2004) of the output against the true target
  image, averaged over the images;
* super-resolution sets: also ``psnr_bicubic``, ``ssim_bicubic``, ``l1_bicubic`` of the bicubic upsampling of
  the small image, and ``perceptual`` / ``perceptual_bicubic``: the mean distance to the original in a fixed
  feature space (:func:`perceptual_distance`).

The result carries its protocol (split, number of images, classifier and its weights' SHA-256, seed).
"""
from __future__ import annotations

from typing import Dict, Optional

import torch

from ..data.domains import SR_SETS, base_of, bicubic_up, canonical, low_of, split_domains
from .features import CLASSIFIER_DATASETS, get_extractor
from .frechet import fid_from_features
from .image_quality import psnr, ssim


def perceptual_distance(x: torch.Tensor, y: torch.Tensor, extractor) -> torch.Tensor:
    """Per image, the Euclidean distance between the penultimate features of ``x`` and ``y`` in ``extractor``'s
    fixed feature space (colour images: their channels' mean, the grey the reference classifiers read)."""
    if x.shape[1] == 3:
        x, y = x.mean(1, keepdim=True), y.mean(1, keepdim=True)
    fx, _ = extractor(x)
    fy, _ = extractor(y)
    return (fx - fy).norm(dim=1)


def sr_metrics(out: torch.Tensor, low: torch.Tensor, high: torch.Tensor, base: str, device) -> Dict[str, float]:
    """PSNR / SSIM of the super-resolved ``out`` and of the bicubic upsampling of the small image, both against the
    original ``high``; and the perceptual distance of each to ``high`` in the reference classifier's features (the
    MNIST classifier's for photographs: a fixed feature space, not a perceptual model of natural images)."""
    bicubic = bicubic_up(low_of(low))
    ext = get_extractor("classifier", base if base in CLASSIFIER_DATASETS else "mnist", device)
    return {"psnr_bicubic": psnr(bicubic, high).mean().item(), "ssim_bicubic": ssim(bicubic, high).mean().item(),
            "l1_bicubic": (bicubic - high).abs().mean().item(),
            "perceptual": perceptual_distance(out, high, ext).mean().item(),
            "perceptual_bicubic": perceptual_distance(bicubic, high, ext).mean().item(),
            "perceptual_features": ext.name}


def _grey(info, side: int, x: torch.Tensor) -> Optional[torch.Tensor]:
    return canonical(info.domains[side][0], x)


def translation_metrics(gan, info, n: int = 2500, seed: int = 0, split: str = "test", root=None,
                        device: Optional[str] = None) -> Dict[str, object]:
    """The task metrics above for translator ``gan`` (a :class:`gankit.gans.translation.Translator`)."""
    from .. import __version__

    x, y = gan.task_data(split, root)
    n = min(n, len(x))
    x, y = x[:n], y[:n]
    device = device or str(gan.device)
    xa, xb = split_domains(x, info)
    result: Dict[str, object] = {"dataset": info.name, "images": n}
    extractors = {}
    for direction in gan.directions:
        src, tgt = (0, 1) if direction == "ab" else (1, 0)
        source = (xa, xb)[src]
        target = (xa, xb)[tgt]
        out = gan.translate(source, direction).to(device)
        if info.paired and direction == "ab":
            result["l1"] = (out - target.to(device)).abs().mean().item()
            result["psnr"] = psnr(out, target.to(device)).mean().item()
            result["ssim"] = ssim(out, target.to(device)).mean().item()
        if len(gan.directions) == 2:
            back = gan.translate(out, "ba" if direction == "ab" else "ab").to(device)
            result[f"cycle_l1_{direction}"] = (back - source.to(device)).abs().mean().item()
        if info.name in SR_SETS:  # super-resolution: the bicubic baseline and a perceptual distance
            result.update(sr_metrics(out, source.to(device), target.to(device), base_of(info, tgt), device))
        grey_out, grey_real = _grey(info, tgt, out), _grey(info, tgt, target.to(device))
        base_src, base_tgt = base_of(info, src), base_of(info, tgt)
        if grey_out is None or base_src != base_tgt or base_tgt not in CLASSIFIER_DATASETS:
            continue
        if base_tgt not in extractors:
            extractors[base_tgt] = get_extractor("classifier", base_tgt, device)
        ext = extractors[base_tgt]
        f_out, logits = ext(grey_out)
        f_real, _ = ext(grey_real)
        pred = logits.argmax(-1).cpu()
        result[f"class_preserved_{direction}"] = (pred == y[:, src].cpu()).double().mean().item()
        result[f"cfid_{direction}"] = fid_from_features(f_real, f_out)
    result["protocol"] = {
        "split": split, "images": n, "seed": seed, "gankit_version": __version__,
        "translations": list(gan.directions),
        "classifiers": {k: {"name": e.name, "weights_sha256": e.weights_sha256} for k, e in extractors.items()},
        "class_preserved": "reference classifier of the target's base dataset on the translated image mapped "
                           "back to grey, against the source image's label",
    }
    return result
