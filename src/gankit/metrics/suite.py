"""Scoring images: one feature pass, every requested metric, a protocol record, cached references.

``score_images(fake, dataset="mnist")`` extracts the features (and logits) of the generated images
once, loads or computes the reference statistics of the real split (cached on disk under a key
made of everything that defines them), runs each requested metric from :data:`METRICS` on that
shared context and returns a flat ``dict`` of numbers plus ``"protocol"``: what was measured, how,
on how many samples, with which weights (SHA-256), seed and library version. Two scores are
comparable exactly when their protocols are equal.

Metric names: in the reference-classifier feature space the FID / KID / IS are reported as
``cfid`` / ``ckid`` / ``cis`` (MODELS.md's cFID, cKID, cIS), with Inception features as ``fid`` /
``kid`` / ``is``. Precision, recall, density and coverage keep their names; the protocol says
which feature space they were measured in.
"""
from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Dict, Optional, Sequence, Tuple

import torch

from ..errors import GankitError
from .features import Extractor, get_extractor
from .toy import METRICS

__all__ = ["ImageMetric", "Context", "score_images", "reference_features", "real_ceilings", "cache_dir",
           "DEFAULT_METRICS", "PROTOCOL_VERSION"]

#: Bump when anything that changes cached reference statistics changes.
PROTOCOL_VERSION = 1
DEFAULT_METRICS = ("fid", "kid", "is", "precision_recall", "density_coverage", "class_balance")
#: real-real neighbours stored with a cached reference (covers precision/recall k=3, density k=5)
DEFAULT_KNN = 5


@dataclass
class Reference:
    """Features of the real images a score compares against (cached on disk)."""

    features: torch.Tensor
    logits: torch.Tensor
    mu: torch.Tensor
    sigma: torch.Tensor
    protocol: dict
    key: str
    labels: Optional[torch.Tensor] = None
    knn_sq_radii: Optional[torch.Tensor] = None  # (N, k) real-real neighbours for precision/recall/density

    def radii(self, k: int) -> torch.Tensor:
        """The real k-NN squared radii up to ``k``, computed once per reference (and cached with it)."""
        if self.knn_sq_radii is None or self.knn_sq_radii.shape[1] < k:
            from .prdc import real_knn_sq_radii

            self.knn_sq_radii = real_knn_sq_radii(self.features, max(k, DEFAULT_KNN))
        return self.knn_sq_radii


@dataclass
class Context:
    """What the metrics of one call share: one feature pass over the generated images."""

    features: torch.Tensor
    logits: torch.Tensor
    ref: Optional[Reference]
    prefix: str
    options: dict
    labels: Optional[torch.Tensor] = None
    codes: Optional[torch.Tensor] = None
    num_codes: int = 0
    images: Optional[torch.Tensor] = None
    targets: Optional[torch.Tensor] = None
    classifier: Optional[Callable[[torch.Tensor], torch.Tensor]] = None  # the GAN's own classifier (images -> logits)
    encoder: Optional[Callable[[torch.Tensor], torch.Tensor]] = None  # the GAN's encoder (images -> latent features)
    decoder: Optional[Callable[[torch.Tensor], torch.Tensor]] = None  # its generator (latent codes -> images)
    _stats: Optional[Tuple[torch.Tensor, torch.Tensor]] = field(default=None, repr=False)
    _prdc: Optional[dict] = field(default=None, repr=False)
    _encoded: Optional[dict] = field(default=None, repr=False)

    def prdc(self) -> dict:
        """Precision, recall, density, coverage from one set of k-NN radii (shared by two metrics)."""
        if self._prdc is None:
            from .prdc import prdc

            k_pr, k_dc = self.options["k_pr"], self.options["k_dc"]
            self._prdc = prdc(self.ref.features, self.features, k_pr=k_pr, k_dc=k_dc,
                              real_sq_radii=self.ref.radii(max(k_pr, k_dc)))
        return self._prdc

    def real_split(self, split: str, size: Optional[int] = None):
        """``(x, y)``: the images (CPU) and labels of ``split`` of the scored dataset, at the shape of the scored
        images (the first ``size`` of them when given)."""
        from ..data import load_dataset

        o = self.options
        channels, res = o["shape"][0], o["shape"][-1]
        x, y, _ = load_dataset(o["dataset"], root=o["root"], split=split, resolution=res, channels=channels, size=size)
        return x, y

    def encoded(self) -> Optional[dict]:
        """The encoder's features of the first ``probe_size`` training images (all when None) and of every image
        of the scored split, with their labels (one batched pass each, shared by linear_probe and nn_accuracy).
        None when the data has no labels and the metrics were not asked for by name (they are then left out of
        the defaults)."""
        if self._encoded is None:
            o = self.options
            x_tr, y_tr = self.real_split("train", o["probe_size"])
            x_te, y_te = self.real_split(o["split"])
            if y_tr is None or y_te is None:
                if not o["explicit"]:
                    return None
                raise GankitError(f"linear_probe and nn_accuracy need the labels of '{o['dataset']}', which has none")
            bs = o["batch_size"]

            def encode(x):
                return torch.cat([self.encoder(x[i:i + bs]).float() for i in range(0, len(x), bs)])

            self._encoded = {"train_f": encode(x_tr), "train_y": y_tr, "test_f": encode(x_te), "test_y": y_te}
        return self._encoded

    def stats(self):
        if self._stats is None:
            from .frechet import feature_statistics

            self._stats = feature_statistics(self.features)
        return self._stats


@dataclass(frozen=True)
class ImageMetric:
    """A registered image metric: ``fn(ctx) -> {name: value}``; ``needs`` names what it reads."""

    name: str
    fn: Callable[[Context], dict]
    doc: str
    needs: Tuple[str, ...] = ()


def _register(name: str, doc: str, needs: Tuple[str, ...] = ("ref",)):
    def deco(fn):
        METRICS.add(name, ImageMetric(name, fn, doc, needs))
        return fn
    return deco


@_register("fid", "Fréchet distance of feature Gaussians (Heusel et al. 2017), float64, robust; cfid in classifier space")
def _fid(ctx: Context) -> dict:
    from .frechet import frechet_distance

    mu, sigma = ctx.stats()
    return {f"{ctx.prefix}fid": frechet_distance(mu, sigma, ctx.ref.mu, ctx.ref.sigma)}


@_register("kid", "kernel distance, unbiased MMD^2, cubic polynomial kernel, subsets (Binkowski et al. 2018)")
def _kid(ctx: Context) -> dict:
    from .kid import kernel_inception_distance

    o = ctx.options
    m, s = kernel_inception_distance(ctx.ref.features, ctx.features, subsets=o["kid_subsets"],
                                     subset_size=o["kid_subset_size"], seed=o["seed"])
    return {f"{ctx.prefix}kid": m, f"{ctx.prefix}kid_std": s}


@_register("is", "Inception Score exp(E KL(p(y|x) || p(y))), 10 splits (Salimans et al. 2016); cis in classifier space", ())
def _is(ctx: Context) -> dict:
    from .inception_score import inception_score

    if ctx.logits.dim() != 2:
        return {}
    m, s = inception_score(ctx.logits, splits=ctx.options["is_splits"])
    return {f"{ctx.prefix}is": m, f"{ctx.prefix}is_std": s}


@_register("class_balance", "share of the samples the reference classifier puts in each class: the smallest and "
           "largest in %, and KL(p(y) || uniform) over classes (0: balanced)", ())
def _class_balance(ctx: Context) -> dict:
    if ctx.logits.dim() != 2 or ctx.logits.shape[1] < 2:
        return {}
    k = ctx.logits.shape[1]
    p = torch.bincount(ctx.logits.argmax(1).cpu(), minlength=k).double() / len(ctx.logits)
    kl = (p[p > 0] * (p[p > 0] * k).log()).sum().item()
    return {"class_min_pct": 100 * p.min().item(), "class_max_pct": 100 * p.max().item(), "class_kl": kl,
            "class_pct": [round(100 * v, 2) for v in p.tolist()]}


@_register("precision_recall", "improved precision and recall, k-NN manifolds, k=3 (Kynkaanniemi et al. 2019)")
def _pr(ctx: Context) -> dict:
    r = ctx.prdc()
    return {"precision": float(r["precision"]), "recall": float(r["recall"])}


@_register("density_coverage", "density and coverage, k=5 (Naeem et al. 2020)")
def _dc(ctx: Context) -> dict:
    r = ctx.prdc()
    return {"density": float(r["density"]), "coverage": float(r["coverage"])}


@_register("class_accuracy", "accuracy of the reference classifier on conditional samples vs their labels", ("labels",))
def _class_accuracy(ctx: Context) -> dict:
    pred = ctx.logits.argmax(-1)
    if pred.dim() != 1:
        raise GankitError("class_accuracy needs one label per image")
    return {"class_accuracy": (pred == ctx.labels.to(pred.device)).double().mean().item()}


@_register("code_accuracy", "unsupervised categorical code (InfoGAN) vs the reference classifier's classes: accuracy "
                            "of the best one-to-one matching (Hungarian method)", ("codes",))
def _code_accuracy(ctx: Context) -> dict:
    from .matching import matched_accuracy

    pred = ctx.logits.argmax(-1)
    if pred.dim() != 1:
        raise GankitError("code_accuracy needs one code per image")
    r = matched_accuracy(ctx.codes, pred, ctx.num_codes or int(ctx.codes.max()) + 1, ctx.logits.shape[-1])
    return {"code_accuracy": r["accuracy"], "code_matching": r["matching"]}


@_register("classifier_error", "error of the GAN's own classifier of real images (the semi-supervised GAN's D, "
                                "Triple-GAN's C: argmax over the K classes) on every image of the real split (test "
                                "unless --split)", ("classifier",))
def _classifier_error(ctx: Context) -> dict:
    from ..data import load_dataset

    o = ctx.options
    channels, res = o["shape"][0], o["shape"][-1]
    x, y, _ = load_dataset(o["dataset"], root=o["root"], split=o["split"], resolution=res, channels=channels)
    if y is None:
        raise GankitError(f"classifier_error needs the labels of the {o['split']} split of '{o['dataset']}'")
    bs = o["batch_size"]
    pred = torch.cat([ctx.classifier(x[i:i + bs]).argmax(-1).cpu() for i in range(0, len(x), bs)])
    wrong = int((pred != y).sum())
    return {"classifier_error": wrong / max(len(y), 1), "classifier_errors": wrong, "classifier_images": len(y)}


@_register("linear_probe", "test accuracy of a logistic regression on the GAN's encoder features E(x) (BiGAN / ALI), "
                            "fitted on the training images (all by default; standardised, 100 L-BFGS iterations from 0)",
           ("encoder",))
def _linear_probe(ctx: Context) -> dict:
    from .representation import linear_probe_accuracy

    e = ctx.encoded()
    if e is None:
        return {}
    k = int(torch.cat([e["train_y"], e["test_y"]]).max()) + 1
    return {"linear_probe_accuracy": linear_probe_accuracy(e["train_f"], e["train_y"], e["test_f"], e["test_y"], k),
            "probe_train_images": len(e["train_y"]), "probe_test_images": len(e["test_y"])}


@_register("nn_accuracy", "1-nearest-neighbour test accuracy of the GAN's encoder features E(x) (Euclidean) against "
                           "those of the training images (all by default; BiGAN, Donahue et al. 2016, Table 1)", ("encoder",))
def _nn_accuracy(ctx: Context) -> dict:
    from .representation import nearest_neighbour_accuracy

    e = ctx.encoded()
    if e is None:
        return {}
    return {"nn_accuracy": nearest_neighbour_accuracy(e["train_f"], e["train_y"], e["test_f"], e["test_y"]),
            "probe_train_images": len(e["train_y"]), "probe_test_images": len(e["test_y"])}


@_register("recon_error", "mean |x - G(E(x))| over every pixel (in [-1, 1]) of every image of the real split, "
                           "through the GAN's encoder and generator (BiGAN / ALI)", ("encoder", "decoder"))
def _recon_error(ctx: Context) -> dict:
    from .representation import reconstruction_error

    x, _ = ctx.real_split(ctx.options["split"])
    err = reconstruction_error(x, lambda xb: ctx.decoder(ctx.encoder(xb)), chunk=ctx.options["batch_size"])
    return {"recon_error": err, "recon_images": len(x)}


@_register("stacked_mnist", "stacked MNIST: modes of 1,000 covered and KL to uniform, MNIST classifier per channel "
                            "(VEEGAN / PacGAN protocol)", ("stacked",))
def _stacked(ctx: Context) -> dict:
    from .stacked_mnist import stacked_mnist_modes

    if ctx.logits.dim() != 3:
        raise GankitError("stacked_mnist needs 3-channel stacked-MNIST images and the classifier features")
    r = stacked_mnist_modes(ctx.logits.argmax(-1))
    return {"stacked_modes": int(r["modes"]), "stacked_kl": float(r["kl"])}


@_register("psnr", "peak signal-to-noise ratio vs paired targets, dB, mean over images", ("targets",))
def _psnr(ctx: Context) -> dict:
    from .image_quality import psnr

    v = psnr(ctx.images, ctx.targets)
    return {"psnr": v[torch.isfinite(v)].mean().item() if torch.isfinite(v).any() else float("inf")}


@_register("ssim", "structural similarity (Wang et al. 2004), Gaussian window 11 / sigma 1.5, vs paired targets",
           ("targets",))
def _ssim(ctx: Context) -> dict:
    from .image_quality import ssim

    return {"ssim": ssim(ctx.images, ctx.targets).mean().item()}


# ---------------------------------------------------------------------------- references
def cache_dir() -> Path:
    """``$GANKIT_CACHE`` or ``~/.cache/gankit``: where reference statistics are cached."""
    return Path(os.environ.get("GANKIT_CACHE") or Path.home() / ".cache" / "gankit").expanduser()


def _protocol_key(protocol: dict) -> str:
    return hashlib.sha256(json.dumps(protocol, sort_keys=True).encode()).hexdigest()[:16]


def load_real_images(dataset: str, split: str, num: int, root=None, offset: int = 0):
    """The first ``num`` images (after ``offset``) of a registered dataset split, with labels."""
    from ..data import load_dataset

    x, y, info = load_dataset(dataset, root=root, split=split, size=offset + num)
    if info.kind != "images":
        raise GankitError(f"dataset '{dataset}' has no images to score")
    if len(x) < offset + num:
        raise GankitError(f"{dataset} {split} split has {len(x)} images; {offset + num} were asked for "
                          f"(lower --num-real)")
    return x[offset:], (y[offset:] if y is not None else None)


def reference_features(extractor: Extractor, dataset: str, split: str = "test", num_real: int = 10000,
                       root=None, cache: bool = True, batch_size: int = 500, offset: int = 0) -> Reference:
    """Features, logits, mean and covariance of the first ``num_real`` real images of ``split``.

    Cached in ``cache_dir()/refstats`` (safetensors) under the hash of the protocol: extractor name,
    weight hash and preprocessing, dataset, split, count, offset and :data:`PROTOCOL_VERSION`.
    """
    from safetensors.torch import load_file, save

    from ..io import atomic_write_bytes
    from .frechet import feature_statistics

    protocol = {"version": PROTOCOL_VERSION, "features": extractor.record(), "dataset": dataset,
                "split": split, "num_real": num_real, "offset": offset}
    key = _protocol_key(protocol)
    path = cache_dir() / "refstats" / f"{dataset}-{split}-{num_real}-{extractor.name}-{key}.safetensors"
    if cache and path.is_file():
        try:
            t = load_file(str(path), device=str(extractor.device))
            return Reference(t["features"], t["logits"], t["mu"], t["sigma"], protocol, key,
                             t.get("labels"), t.get("knn_sq_radii"))
        except Exception:  # a damaged cache entry is recomputed, never trusted
            pass
    x, y = load_real_images(dataset, split, num_real, root, offset)
    feats, logits = extractor(x, batch_size=batch_size)
    mu, sigma = feature_statistics(feats)
    ref = Reference(feats, logits, mu, sigma, protocol, key, y)
    if len(feats) > DEFAULT_KNN:
        ref.radii(DEFAULT_KNN)
    if cache:
        tensors = {"features": feats.cpu().contiguous(), "logits": logits.cpu().contiguous(),
                   "mu": mu.cpu().contiguous(), "sigma": sigma.cpu().contiguous()}
        if y is not None:
            tensors["labels"] = y.contiguous()
        if ref.knn_sq_radii is not None:
            tensors["knn_sq_radii"] = ref.knn_sq_radii.cpu().contiguous()
        atomic_write_bytes(path, save(tensors, metadata={"protocol": json.dumps(protocol, sort_keys=True)}))
    return ref


# ---------------------------------------------------------------------------- scoring
def _check_dataset(dataset) -> None:
    """An unknown reference dataset is named as such (before any extractor or weights are looked for)."""
    if dataset is not None:
        from ..data import DATASETS

        if not isinstance(dataset, str):
            raise GankitError(f"dataset must be a name (see `gankit list`), got {type(dataset).__name__}")
        DATASETS.get(dataset)


ENCODER_METRICS = ("linear_probe", "nn_accuracy", "recon_error")


def _resolve_metrics(metrics: Optional[Sequence[str]], labels, targets, dataset, codes=None, classifier=None,
                     encoder=None, decoder=None) -> list:
    if metrics is None:
        names = list(DEFAULT_METRICS)
        if dataset == "stacked-mnist":
            names = ["fid", "kid", "stacked_mnist"]
        if labels is not None:
            names.append("class_accuracy")
        if codes is not None:
            names.append("code_accuracy")
        if classifier is not None:
            names.append("classifier_error")
        if encoder is not None:
            names += [n for n in ENCODER_METRICS if decoder is not None or n != "recon_error"]
        if targets is not None:
            names += ["psnr", "ssim"]
    else:
        names = [m.strip() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if m.strip()]
    out = []
    for n in names:
        m = METRICS.get(n) if n in METRICS else None
        if m is None or not isinstance(m, ImageMetric):
            from ..registry import nearest

            image = [k for k, v in METRICS.items() if isinstance(v, ImageMetric)]
            raise GankitError(f"unknown image metric '{n}'{nearest(n, image)}; available: {', '.join(image)}")
        if "labels" in m.needs and labels is None:
            raise GankitError(f"metric '{n}' needs the labels the images were generated for")
        if "codes" in m.needs and codes is None:
            raise GankitError(f"metric '{n}' needs the categorical latent code of each image (an InfoGAN run)")
        if "classifier" in m.needs and classifier is None:
            raise GankitError(f"metric '{n}' needs a run whose GAN trains a classifier of real images "
                              f"(e.g. semisupervised-gan, triplegan)")
        if "classifier" in m.needs and dataset is None:
            raise GankitError(f"metric '{n}' needs the real dataset whose split the classifier is scored on")
        if "encoder" in m.needs and encoder is None:
            raise GankitError(f"metric '{n}' needs a run whose GAN learns an encoder of real images (e.g. bigan)")
        if "decoder" in m.needs and decoder is None:
            raise GankitError(f"metric '{n}' needs the generator that decodes the encoder's codes")
        if "encoder" in m.needs and dataset is None:
            raise GankitError(f"metric '{n}' needs the real dataset whose images are encoded")
        if "targets" in m.needs and targets is None:
            raise GankitError(f"metric '{n}' needs paired target images")
        if "stacked" in m.needs and dataset != "stacked-mnist":
            raise GankitError(f"metric '{n}' is for stacked-mnist only")
        out.append(m)
    return out


def score_images(fake: torch.Tensor, dataset: Optional[str] = None, *, features: str = "auto",
                 metrics: Optional[Sequence[str]] = None, split: str = "test", num_real: int = 10000,
                 labels: Optional[torch.Tensor] = None, targets: Optional[torch.Tensor] = None,
                 codes: Optional[torch.Tensor] = None, num_codes: int = 0,
                 classifier: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                 encoder: Optional[Callable[[torch.Tensor], torch.Tensor]] = None,
                 decoder: Optional[Callable[[torch.Tensor], torch.Tensor]] = None, probe_size: Optional[int] = None,
                 seed: int = 0, device="cpu", batch_size: int = 500, root=None, cache: bool = True,
                 inception_weights: Optional[str] = None, kid_subsets: int = 100, kid_subset_size: int = 1000,
                 k_pr: int = 3, k_dc: int = 5, is_splits: int = 10, extractor: Optional[Extractor] = None,
                 reference: Optional[Reference] = None, source: Optional[str] = None) -> dict:
    """Score generated images ``fake`` (float ``(N, C, H, W)`` in ``[-1, 1]``) against ``dataset``.

    Args:
        features: ``auto`` (the dataset's reference classifier, else Inception), ``classifier``
            or ``inception`` (needs ``inception_weights`` or ``$GANKIT_INCEPTION_WEIGHTS``).
        metrics: names from ``gankit list`` (default: fid, kid, is, precision_recall,
            density_coverage; + class_accuracy when ``labels`` is given).
        split, num_real: the reference images: the first ``num_real`` of that split.
        labels: the class each image was generated for (conditional GANs).
        codes, num_codes: the value of the categorical latent code each image was generated with, out
            of ``num_codes`` (InfoGAN); adds code_accuracy (best one-to-one matching of code values
            to the classifier's classes) and ``code_matching`` (the class of each code value).
        targets: paired ground-truth images for PSNR/SSIM.
        classifier: the GAN's own classifier of real images, ``images -> (N, K) logits`` (the semi-supervised
            GAN's D); adds classifier_error: its error on every image of ``split``, loaded at the shape of
            ``fake``.
        encoder, decoder: the GAN's encoder of real images, ``images -> (N, d)`` features, and its generator,
            ``codes -> images`` (BiGAN / ALI); add linear_probe and nn_accuracy (a logistic regression and a 1-NN
            classifier on the features of the first ``probe_size`` training images (default None: every
            training image, as the BiGAN authors' 1-NN protocol uses the whole training set), scored on every image of
            ``split``, which must be ``test``) and, with ``decoder``, recon_error (mean |x - decoder(encoder(x))|
            over ``split``).
        seed: seeds the KID subsets (and is recorded).
    Returns: ``{metric: value, ..., "protocol": {...}}``.
    """
    from .. import __version__

    if not isinstance(fake, torch.Tensor) or fake.dim() not in (2, 4):
        raise GankitError("fake must be a tensor of images (N, C, H, W)")
    _check_dataset(dataset)
    chosen = _resolve_metrics(metrics, labels, targets, dataset, codes, classifier, encoder, decoder)
    probing = [m.name for m in chosen if m.name in ("linear_probe", "nn_accuracy")]
    if probing and split != "test":
        raise GankitError(f"{', '.join(probing)} fit on the train split and score the test split; use split test "
                          f"(--split test), or leave them out with --metrics")
    if probing and probe_size is not None and (isinstance(probe_size, bool) or not isinstance(probe_size, int)
                                               or probe_size < 1):
        raise GankitError(f"probe_size must be a positive integer (or None: every training image), got {probe_size!r}")
    extractor = extractor or get_extractor(features, dataset, device, inception_weights)
    if labels is not None and len(labels) != len(fake):
        raise GankitError(f"{len(labels)} labels for {len(fake)} images")
    if codes is not None and len(codes) != len(fake):
        raise GankitError(f"{len(codes)} codes for {len(fake)} images")
    if targets is not None and targets.shape != fake.shape:
        raise GankitError(f"targets have shape {tuple(targets.shape)}, images {tuple(fake.shape)}")
    needs_ref = any("ref" in m.needs for m in chosen)
    if needs_ref and reference is None:
        if dataset is None:
            raise GankitError("name the real dataset to compare with (e.g. dataset='mnist' / --real mnist)")
        reference = reference_features(extractor, dataset, split, num_real, root, cache, batch_size)
    feats, logits = extractor(fake, batch_size=batch_size)
    prefix = "c" if extractor.name.startswith("classifier") else ""
    options = dict(seed=seed, kid_subsets=kid_subsets, kid_subset_size=kid_subset_size, k_pr=k_pr, k_dc=k_dc,
                   is_splits=is_splits, dataset=dataset, split=split, root=root, batch_size=batch_size,
                   shape=tuple(fake.shape[1:]), probe_size=probe_size, explicit=metrics is not None)
    ctx = Context(feats, logits, reference, prefix, options, labels=labels, codes=codes, num_codes=num_codes,
                  images=fake if targets is not None else None, targets=targets, classifier=classifier,
                  encoder=encoder, decoder=decoder)
    result: Dict[str, object] = {}
    for m in chosen:
        result.update(m.fn(ctx))
    result["protocol"] = {
        "features": extractor.record(),
        "dataset": dataset,
        "reference": (None if reference is None else
                      {"split": reference.protocol["split"], "num_real": reference.protocol["num_real"],
                       "offset": reference.protocol["offset"], "cache_key": reference.key}),
        "num_fake": len(fake),
        "fake_source": source,
        "metrics": [m.name for m in chosen],
        **({"classifier": {"split": split, "images": "all"}} if any(m.name == "classifier_error" for m in chosen) else {}),
        **({"encoder": _encoder_protocol(chosen, split, probe_size)}
           if any(m.name in ENCODER_METRICS for m in chosen) else {}),
        "options": {"kid_subsets": kid_subsets, "kid_subset_size": kid_subset_size, "kid_kernel": "(x.y/d + 1)^3",
                    "k_precision_recall": k_pr, "k_density_coverage": k_dc, "is_splits": is_splits},
        "seed": seed,
        "gankit": __version__,
        "torch": torch.__version__,
        "protocol_version": PROTOCOL_VERSION,
    }
    return result


def _encoder_protocol(chosen, split: str, probe_size: int) -> dict:
    """How the encoder metrics were measured (the protocol record of score_images)."""
    from .representation import PROBE_L2, PROBE_STEPS

    names = {m.name for m in chosen}
    out: dict = {"features": "posterior mean of E(x), eval mode", "scored": f"{split} (all images)"}
    if names & {"linear_probe", "nn_accuracy"}:
        out["fitted_on"] = "train (all images)" if probe_size is None else f"train[:{probe_size}]"
    if "linear_probe" in names:
        out["linear_probe"] = (f"multinomial logistic regression on standardised features, zero init, full-batch L-BFGS "
                               f"{PROBE_STEPS} iterations (strong Wolfe), L2 {PROBE_L2:g}")
    if "nn_accuracy" in names:
        out["nn_accuracy"] = "1-nearest neighbour, Euclidean distance"
    if "recon_error" in names:
        out["recon_error"] = "mean |x - G(E(x))| over pixels in [-1, 1]; G the sampling generator (EMA if any)"
    return out


def real_ceilings(dataset: str, *, features: str = "auto", num_real: int = 10000, device="cpu", root=None,
                  metrics: Optional[Sequence[str]] = None, seed: int = 0, cache: bool = True,
                  inception_weights: Optional[str] = None, batch_size: int = 500, **kw) -> dict:
    """The best a generator can hope for: the first ``num_real`` *training* images scored against the
    first ``num_real`` test images (cFID train-10k vs test-10k, ...), plus the IS of the test set
    itself and the classifier's accuracy on it."""
    from .inception_score import inception_score

    _check_dataset(dataset)
    extractor = get_extractor(features, dataset, device, inception_weights)
    ref = reference_features(extractor, dataset, "test", num_real, root, cache, batch_size)
    x_train, y_train = load_real_images(dataset, "train", num_real, root)
    result = score_images(x_train, dataset, metrics=metrics, split="test", num_real=num_real, seed=seed,
                          device=device, root=root, cache=cache, extractor=extractor, reference=ref,
                          batch_size=batch_size, labels=y_train if (metrics and "class_accuracy" in metrics) else None,
                          source=f"{dataset} train[:{num_real}]", **kw)
    prefix = "c" if extractor.name.startswith("classifier") else ""
    if ref.logits.dim() == 2:
        m, s = inception_score(ref.logits, splits=kw.get("is_splits", 10))
        result[f"test_{prefix}is"], result[f"test_{prefix}is_std"] = m, s
        if ref.labels is not None and extractor.name.startswith("classifier"):
            result["test_accuracy"] = (ref.logits.argmax(-1).cpu() == ref.labels.cpu()).double().mean().item()
    result["protocol"]["ceiling"] = f"{dataset} train[:{num_real}] vs test[:{num_real}]; test-set IS"
    return result
