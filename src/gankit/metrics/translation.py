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


@torch.no_grad()
def attribute_logits(images: torch.Tensor, classifier) -> torch.Tensor:
    """The attribute classifier's logits ``(N, A)`` (images quantised and resized to its 28 x 28 input as in its
    training, :func:`gankit.metrics.reference.to_input`), in chunks."""
    from .reference import to_input

    x = to_input(images)
    return torch.cat([classifier(x[i:i + 1000]) for i in range(0, len(x), 1000)])


def attribute_predictions(images: torch.Tensor, classifier) -> torch.Tensor:
    """The attribute classifier's 0/1 predictions ``(N, A)``."""
    return (attribute_logits(images, classifier) > 0).float()


def attribute_translation_metrics(gan, n: int = 2500, seed: int = 0, split: str = "test", root=None,
                                  device: Optional[str] = None) -> Dict[str, object]:
    """Metrics of a multi-domain translator (StarGAN) on the first ``n`` test images of an attribute set, each
    translated into a random domain (seeded, uniform over the domains):

    * ``domain_accuracy``: the share of translations whose attributes, read by gankit's attribute classifier
      (``gankit classifier mnist-attributes``), are all the target's; ``attribute_accuracy_<name>`` per attribute;
      ``domain_accuracy_real``: the same classifier on the real test images (its ceiling);
    * ``class_preserved``: the MNIST reference classifier on the translations (grey: the largest channel) against
      the source digit; ``class_preserved_real``: on the real images;
    * ``rec_l1``: mean |x - G(G(x, c), c')| (translated back to the source attributes c').

    With StarGAN's mask vector (``model.label_sets``) each target changes one label set's attributes, and the
    expected attributes are the target's in that set and the source's outside it (kept)."""
    from .. import __version__
    from .reference import load_reference_classifier

    device = device or str(gan.device)
    x, y = gan.task_data(split, root)
    n = min(n, len(x))
    x, y = x[:n].to(device), y[:n].to(device)
    cls, c_org = y[:, 0], y[:, 1:].float()
    targets = gan.seeded_targets(n, seed)  # what G reads (with a mask vector: a label set's attributes + mask)
    out = gan.translate(x, targets)
    back = gan.translate(out, gan.source_label(targets, c_org))
    targets = gan.expected_attributes(targets, c_org)  # what the translations should show
    attr_net = load_reference_classifier("mnist-attributes", device=device)
    pred, pred_real = attribute_predictions(out, attr_net), attribute_predictions(x, attr_net)
    digits = get_extractor("classifier", "mnist", device)
    _, logits = digits(out.amax(1, keepdim=True))
    _, logits_real = digits(x.amax(1, keepdim=True))
    result: Dict[str, object] = {
        "dataset": gan.info.name, "images": n,
        "domain_accuracy": (pred == targets).all(1).double().mean().item(),
        "domain_accuracy_real": (pred_real == c_org).all(1).double().mean().item(),
        **{f"attribute_accuracy_{a}": (pred[:, i] == targets[:, i]).double().mean().item()
           for i, a in enumerate(gan.info.attributes)},
        "class_preserved": (logits.argmax(1).to(cls.device) == cls).double().mean().item(),
        "class_preserved_real": (logits_real.argmax(1).to(cls.device) == cls).double().mean().item(),
        "rec_l1": (back - x).abs().mean().item(),
    }
    result["protocol"] = {
        "split": split, "images": n, "seed": seed, "gankit_version": __version__,
        "targets": "one random domain per image, uniform over the domains (seeded)",
        "attribute_classifier": {"name": "classifier-mnist-attributes", "weights_sha256": attr_net.sha256},
        "class_classifier": {"name": digits.name, "weights_sha256": digits.weights_sha256},
    }
    return result


#: the domains a pair's B image can be computed from its A image (``image`` -> B), for the pair distance
DETERMINISTIC_DOMAINS = ("inverted", "edges", "colourised")


def pair_metrics(gan, n: int = 2500, seed: int = 0, split: str = "test", root=None,
                 device: Optional[str] = None) -> Dict[str, object]:
    """How well CoGAN's pairs from one z correspond, on ``n`` pairs (seeded):

    * ``pair_class_agreement``: both images read as the same digit by the reference classifier (each mapped back to
      grey, :func:`gankit.data.domains.canonical`), where both domains allow it;
    * ``pair_l1``: mean |f(x_A) - x_B| with f the map from domain A (``image``) to B (inverted, edges,
      colourised), and ``pair_l1_shuffled``: the same against another pair's B (images that do not correspond), a
      baseline the corresponding pairs should beat;
    * ``cfid_a``, ``cfid_b``: each domain's samples against its real test images, where it can be read by the
      classifier."""
    from .. import __version__
    from ..data.domains import make_domain

    device = device or str(gan.device)
    info = gan.info
    a, b = gan.pairs(n, seed)
    a, b = a.to(device), b.to(device)
    (dom_a, _), (dom_b, _) = info.domains
    base_a, base_b = base_of(info, 0), base_of(info, 1)
    result: Dict[str, object] = {"dataset": info.name, "pairs": n}
    extractors = {}
    grey = {}
    for side, (x, dom, base) in enumerate(((a, dom_a, base_a), (b, dom_b, base_b))):
        g = canonical(dom, x)
        if g is None or base not in CLASSIFIER_DATASETS:
            continue
        ext = extractors.setdefault(base, get_extractor("classifier", base, device))
        feats, logits = ext(g)
        grey[side] = logits.argmax(1)
        real, _ = gan.task_data(split, root)
        real = split_domains(real, info)[side][:n].to(device)
        result[f"cfid_{'ab'[side]}"] = fid_from_features(ext(canonical(dom, real))[0], feats)
    if len(grey) == 2 and base_a == base_b:
        result["pair_class_agreement"] = (grey[0] == grey[1]).double().mean().item()
    if dom_a == "image" and dom_b in DETERMINISTIC_DOMAINS:
        mapped = make_domain(dom_b, a, torch.Generator())
        result["pair_l1"] = (mapped - b).abs().mean().item()
        result["pair_l1_shuffled"] = (mapped - b.roll(1, 0)).abs().mean().item()
    result["protocol"] = {"pairs": n, "seed": seed, "split": split, "gankit_version": __version__,
                          "classifiers": {k: {"name": e.name, "weights_sha256": e.weights_sha256}
                                          for k, e in extractors.items()}}
    return result


def colour_domain_metrics(gan, n: int = 2500, seed: int = 0, split: str = "test", root=None,
                          device: Optional[str] = None) -> Dict[str, object]:
    """Metrics of a translator between the colour domains of ``mnist-colours`` (ComboGAN), for every ordered pair
    of domains ``i2j`` on the first ``n`` test images of domain i translated into domain j:

    * ``domain_accuracy_<i2j>``: the attribute classifier (``gankit classifier mnist-attributes``) reads colour j
      (the largest of its three colour outputs);
    * ``attributes_kept_<i2j>``: its thick and rotated verdicts both equal the source image's attributes;
    * ``class_preserved_<i2j>``: the MNIST reference classifier (on the largest channel) gives the source digit;
    * ``class_agreement_<i2j>``: it reads the translation as the same digit as the source image (free of the
      classifier's own errors on rotated digits, which bound ``class_preserved`` at ``class_preserved_real``);
    * ``cfid_<i2j>``: Fréchet distance to domain j's real test images in that classifier's features (grey);

    then each one's mean over the pairs (``domain_accuracy``, ...), and ``domain_accuracy_real``,
    ``attributes_kept_real``, ``class_preserved_real``: the same classifiers on the real images (their ceilings)."""
    from .. import __version__
    from .reference import load_reference_classifier

    device = device or str(gan.device)
    x, y = gan.task_data(split, root)
    n = min(n, len(x))
    x, y = x[:n].to(device), y[:n].to(device)
    attr_net = load_reference_classifier("mnist-attributes", device=device)
    digits = get_extractor("classifier", "mnist", device)
    names = gan.domain_names
    result: Dict[str, object] = {"dataset": gan.info.name, "images": n}
    grey_feats, read_as, real_scores = {}, {}, {"domain_accuracy": [], "attributes_kept": [], "class_preserved": []}

    def scores(images: torch.Tensor, colour: int, attrs: torch.Tensor, cls: torch.Tensor):
        logits = attribute_logits(images, attr_net)
        feats, digit_logits = digits(images.amax(1, keepdim=True))
        pred = digit_logits.argmax(1).to(cls.device)
        return ((logits[:, :3].argmax(1) == colour).double().mean().item(),
                ((logits[:, 3:] > 0).float() == attrs[:, 3:].float()).all(1).double().mean().item(),
                (pred == cls).double().mean().item(), feats, pred)

    for k in range(len(names)):
        dom, cls, attrs = gan.domain_images(x, k), y[:, k, 0], y[:, k, 1:]
        *real, grey_feats[k], read_as[k] = scores(dom, k, attrs, cls)
        for key, v in zip(real_scores, real):
            real_scores[key].append(v)
    per_pair = {"domain_accuracy": [], "attributes_kept": [], "class_preserved": [], "class_agreement": [], "cfid": []}
    for direction in gan.directions:
        i, j = gan.pair_of(direction)
        out = gan.translate(gan.domain_images(x, i), direction).to(device)
        dom_acc, kept, cls_acc, feats, pred = scores(out, j, y[:, i, 1:], y[:, i, 0])
        agree = (pred == read_as[i]).double().mean().item()
        for key, v in zip(per_pair, (dom_acc, kept, cls_acc, agree, fid_from_features(grey_feats[j], feats))):
            result[f"{key}_{direction}"] = v
            per_pair[key].append(v)
    result.update({k: sum(v) / len(v) for k, v in per_pair.items()})
    result.update({f"{k}_real": sum(v) / len(v) for k, v in real_scores.items()})
    result["protocol"] = {
        "split": split, "images": n, "seed": seed, "gankit_version": __version__,
        "translations": list(gan.directions),
        "attribute_classifier": {"name": "classifier-mnist-attributes", "weights_sha256": attr_net.sha256},
        "class_classifier": {"name": digits.name, "weights_sha256": digits.weights_sha256},
        "pairs": "every ordered pair of domains, the first n test images of the source domain",
    }
    return result
