"""Finished or running runs as Python objects: load a run directory, sample, evaluate."""
from __future__ import annotations

import functools
import inspect
import io
import json
import os
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import torch

from .. import jsonutil
from ..config import Config, check_seed, load_run_config, recorded_hash, resolve
from ..errors import CheckpointError, GankitError
from ..gans import GANS
from ..memory import check_fits, sample_bytes
from . import checkpoint as ckpt
from . import rundir


#: what `gankit sample --out` / Run.save_samples write
SAMPLE_SUFFIXES = (".png", ".npy", ".npz")
#: generated images scored by `gankit eval` on a run (MODELS.md: 10k generated vs the 10k test images)
IMAGE_EVAL_SAMPLES = 10000


#: at most this many samples per case for a GAN's own metrics (:meth:`gankit.gans.base.GAN.own_metrics`)
OWN_METRICS_SAMPLES = 1000


def evaluate_gan(gan, info, n: int = 2500, seed: int = 0, *, features: str = "auto", metrics=None,
                 num_real: int = 10000, split: str = "test", root=None, inception_weights=None,
                 source: Optional[str] = None, truncation: Optional[float] = None,
                 **kw) -> dict:
    """Metrics for a trained GAN (EMA generator when there is one); ``truncation``: samples drawn with the
    truncation trick at that threshold (stamped in the result's source).

    2-D mixtures: the PacGAN/VEEGAN mode protocol on ``n`` samples. Images: ``n`` samples scored by
    :func:`gankit.metrics.score_images` against the first ``num_real`` images of ``split``.
    """
    if getattr(gan, "own_evaluation", False):  # image-to-image, CoGAN: the task's metrics (gankit.metrics.translation)
        name = gan.cfg.gan
        if metrics is not None:
            raise GankitError(f"GAN '{name}' is scored with its translation metrics (all of them); --metrics does not "
                              f"apply to it")
        if truncation is not None:
            raise GankitError(f"GAN '{name}' translates images; --truncation does not apply to it")
        if features not in ("auto", "classifier") or kw.get("inception_weights") or inception_weights:
            raise GankitError(f"GAN '{name}' is scored in the reference classifiers' features; --features "
                              f"{features} does not apply to it")
        if num_real != 10000:
            raise GankitError(f"GAN '{name}' is scored on its translation set's test split; --num-real does not "
                              f"apply to it")
        return gan.evaluate_task(n=n, seed=seed, split=split, root=root)
    scored = getattr(gan, "conditional", False) and _scores_classes(info, features, kw.get("extractor"))
    coded = scored and getattr(gan, "code_labels", False)  # InfoGAN: its categorical code, matched to classes
    labelled = scored and not coded
    classifies = getattr(gan, "classifies", False) and info.kind == "images"  # e.g. the semi-supervised GAN's D
    encodes = getattr(gan, "encodes", False) and info.kind == "images"  # e.g. BiGAN / ALI's E
    check_metrics(info, metrics, dataset=info.name, labels=labelled, codes=coded, classifier=classifies,
                  encoder=encodes)
    if info.kind == "points":
        from ..metrics import toy_mode_metrics

        samples = gan.sample(n, seed=seed, truncation=truncation).cpu()
        result = toy_mode_metrics(samples, info.modes, info.sigma)
        result["seed"] = seed
        result["dataset"] = info.name
        return result
    from ..metrics import score_images

    fake, labels = gan.sample_with_labels(n, seed=seed, truncation=truncation)
    if truncation is not None:
        source = (source or f"{type(gan).__name__} samples, noise seed {seed}") + f", truncation {truncation:g}"
    if labelled:
        kw.setdefault("labels", labels)  # a conditional GAN: class_accuracy joins the default metrics
    if coded:
        kw.setdefault("codes", labels)  # InfoGAN: code_accuracy joins them
        kw.setdefault("num_codes", gan.num_classes)
    if classifies:
        kw.setdefault("classifier", gan.classify)  # classifier_error on the real test split joins them
    if encodes:  # linear_probe, nn_accuracy and recon_error of E's features on the real test split join them
        kw.setdefault("encoder", gan.encode)
        kw.setdefault("decoder", gan.generate_from)
    result = score_images(fake, info.name, features=features, metrics=metrics, split=split, num_real=num_real,
                          seed=seed, device=str(fake.device), root=root, inception_weights=inception_weights,
                          source=source or f"{type(gan).__name__} samples, noise seed {seed}", **kw)
    if metrics is None:  # the default set: the GAN's own metrics join it (e.g. StackGAN's attribute tracking)
        result.update(gan.own_metrics(min(n, OWN_METRICS_SAMPLES), seed))
    return result


def _scores_classes(info, features: str, extractor=None) -> bool:
    """True when the features used are the dataset's reference classifier, whose classes are the data's
    labels (class accuracy of conditional samples is measured with it)."""
    from ..metrics.features import CLASSIFIER_DATASETS

    if info.name == "stacked-mnist":  # three digits per image: one label is not one class of the classifier
        return False
    if extractor is not None:
        return extractor.name.startswith("classifier") and extractor.num_logits == info.num_classes
    return features == "classifier" or (features == "auto" and info.name in CLASSIFIER_DATASETS)


def check_metrics(info, metrics, dataset=None, labels: bool = False, codes: bool = False,
                  classifier: bool = False, encoder: bool = False) -> None:
    """Refuse unknown or inapplicable ``metrics`` names before any work (2-D data: ``toy_modes`` only;
    ``labels``: the samples will come with the labels they were generated for; ``codes``: with the
    categorical latent code they were generated with; ``classifier``: the GAN has a classifier of real images;
    ``encoder``: the GAN has an encoder of real images and a generator decoding its codes)."""
    if metrics is None:
        return
    names = [m.strip() for m in (metrics.split(",") if isinstance(metrics, str) else metrics) if str(m).strip()]
    if info.kind == "points":
        from ..metrics import METRICS
        from ..registry import nearest

        for n in names:
            if n not in METRICS:
                raise GankitError(f"unknown metric '{n}'{nearest(n, list(METRICS))}; 2-D runs are scored with toy_modes")
            if n != "toy_modes":
                raise GankitError(f"metric '{n}' is for images; 2-D runs are scored with toy_modes")
        return
    from ..metrics.suite import _resolve_metrics

    _resolve_metrics(names, True if labels else None, None, dataset, True if codes else None,
                     True if classifier else None, True if encoder else None, True if encoder else None)


@functools.lru_cache(maxsize=1)
def _eval_options() -> frozenset:
    """The keyword arguments :meth:`Run.evaluate` passes on: score_images' own options."""
    from ..metrics.suite import score_images

    return frozenset(inspect.signature(score_images).parameters) - {"fake", "dataset", "seed", "device"}


class Run:
    """A run directory loaded for sampling and evaluation (weights from its newest checkpoint)."""

    def __init__(self, run_dir, device: str = "cpu", checkpoint: Optional[str] = None):
        from .loop import info_from_dict, resolve_device

        if not isinstance(run_dir, (str, os.PathLike)):
            raise GankitError(f"run_dir must be a path, got {type(run_dir).__name__}")
        self.dir = Path(run_dir)
        if not self.dir.exists():
            raise GankitError(f"run directory '{self.dir}' does not exist")
        if not self.dir.is_dir():
            raise GankitError(f"'{self.dir}' is a file, not a run directory")
        if not rundir.is_run_dir(self.dir):
            raise GankitError(f"'{self.dir}' is not a gankit run directory (no {rundir.MARKER} marker)")
        if not (self.dir / "config.yaml").is_file():
            raise GankitError(f"run '{self.dir}' was stopped before its config was written; it has nothing to load")
        self.config: Config = load_run_config(self.dir)
        for attempt in range(3):  # a live run may prune the newest-but-one between listing and loading
            found = [Path(checkpoint)] if checkpoint else ckpt.list_checkpoints(self.dir / "checkpoints")
            if not found:
                raise CheckpointError(f"run '{self.dir}' has no checkpoint yet (looked in "
                                      f"{self.dir / 'checkpoints'}); continue it with `gankit train --resume {self.dir}`")
            try:
                state = ckpt.load(found[-1], expected_hash=recorded_hash(self.dir) or self.config.hash)
                break
            except CheckpointError:
                if checkpoint or found[-1].exists() or attempt == 2:
                    raise
        self.checkpoint = found[-1]
        self.step = int(state["step"])
        self.info = info_from_dict(state["data_info"])
        self.device = resolve_device(device)
        self.gan = GANS.get(self.config.gan)(self.config, self.info)
        try:
            self.gan.load_state_dict(state["gan"])
        except RuntimeError as e:
            raise CheckpointError(f"checkpoint '{found[-1]}' does not fit the '{self.config.gan}' networks "
                                  f"({str(e).splitlines()[0][:100]})") from None
        self.gan.to(self.device).eval()

    @property
    def status(self) -> str:
        """``finished``, ``running`` (a live process holds it), ``interrupted``, ``diverged``, ``failed``."""
        return rundir.status(self.dir)

    def check_sample_size(self, n: int, what: str = "n") -> None:
        """Refuse ``n`` samples that cannot fit in memory, before drawing them."""
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise GankitError(f"{what} must be a positive integer, got {n!r}")
        check_fits(sample_bytes(self.info.shape, n, getattr(self.gan, "z_dim", 0)) * (2 if self.device.type == "cpu" else 1),
                   f"{n:,} samples", what, self.device)

    def sample(self, n: int = 64, seed: int = 0, label: Optional[int] = None,
               truncation: Optional[float] = None) -> torch.Tensor:
        """``n`` samples (EMA generator if any) on the CPU; identical for identical weights and seed.
        ``label``: one class (conditional runs) or categorical code value (InfoGAN) for all of them.
        ``truncation``: the truncation trick's threshold T (see :meth:`check_truncation`)."""
        return self.sample_with_labels(n, seed, label, truncation)[0]

    def check_truncation(self, truncation, what: str = "truncation") -> Optional[float]:
        """``truncation`` checked: None, or a threshold T > 0 for a run whose z ~ N(0, I) (BigGAN's truncation
        trick, Brock et al. 2018, Sec. 3.1: z redrawn until every |z_i| <= T; smaller T, less variety)."""
        if truncation is None:
            return None
        if isinstance(truncation, bool) or not isinstance(truncation, (int, float)) or not truncation > 0 \
                or truncation != truncation or truncation == float("inf"):
            raise GankitError(f"{what} must be a number > 0, got {truncation!r}"[:200])
        if not self.gan.latent_is_gaussian():
            raise GankitError(f"{what}: this {self.config.gan} run does not draw z from N(0, I); the truncation "
                              f"trick needs a Gaussian latent")
        return float(truncation)

    def check_label(self, label, what: str = "label") -> Optional[int]:
        """``label`` checked against the run: a class index of a class-conditional run, a value of
        InfoGAN's categorical code, or None (every class / code value in turn). ``what`` names it in
        the one-line error (``--class``, ``--code``)."""
        if label is None:
            return None
        if isinstance(label, bool) or not isinstance(label, (int, np.integer)):
            raise GankitError(f"{what} must be an integer, got {label!r}"[:200])
        gan = self.gan
        if not gan.conditional:
            raise GankitError(f"{what}: this {self.config.gan} run is unconditional; it has no classes or codes to fix")
        K = gan.num_classes
        if not 0 <= int(label) < K:
            kind = "code values" if gan.code_labels else "classes"
            raise GankitError(f"{what} must be between 0 and {K - 1} (the run's {K} {kind}), got {label}")
        return int(label)

    def caption_rows(self, caption: str, n: int, what: str = "caption") -> torch.Tensor:
        """``caption`` parsed for a text-conditioned run (stackgan, stackgan++): its row repeated ``n`` times; a
        one-line error for another run or a caption outside the run's vocabulary."""
        captioner = getattr(self.gan, "captioner", None)
        if captioner is None:
            raise GankitError(f"{what} needs a text-conditioned run (stackgan, stackgan++); this is a "
                              f"{self.config.gan} run")
        try:
            row = captioner.parse(caption)
        except ValueError as e:
            raise GankitError(f"{what}: {e}"[:400]) from None
        return torch.tensor([row], device=self.device).repeat(n, 1)

    def sample_with_labels(self, n: int = 64, seed: int = 0, label: Optional[int] = None,
                           truncation: Optional[float] = None, caption: Optional[str] = None):
        """``(x, y)`` on the CPU: ``n`` samples and the labels they were generated for (a conditional run:
        class indices; InfoGAN: its categorical code; all classes / code values in turn unless ``label``
        fixes one) or ``y`` None for an unconditional run. ``caption``: a text-conditioned run's samples all
        for that caption (``y``: its class). Same seed and weights -> same output."""
        check_seed(seed, "seed")
        label = self.check_label(label)
        truncation = self.check_truncation(truncation)
        self.check_sample_size(n)
        if caption is not None:
            if label is not None:
                raise GankitError("give a caption or a class, not both (the caption names the class)")
            rows = self.caption_rows(caption, n)
            x, y = self.gan.sample_with_labels(n, seed=seed, rows=rows, truncation=truncation)
            return x.cpu(), y.cpu()
        labels = None if label is None else torch.full((n,), label, dtype=torch.long, device=self.device)
        x, y = self.gan.sample_with_labels(n, seed=seed, labels=labels, truncation=truncation)
        return x.cpu(), (None if y is None else y.cpu())

    def save_samples(self, path, n: int = 64, seed: int = 0, overwrite: bool = False,
                     label: Optional[int] = None, truncation: Optional[float] = None,
                     caption: Optional[str] = None) -> Path:
        """``.npy``: the raw samples (2-D data: an N x 2 array); ``.npz``: arrays ``x`` (the samples,
        float32, images N x C x H x W in [-1, 1]) and, for a conditional or InfoGAN run, ``y`` (int64, the
        class or categorical code each was generated for; no ``y`` for an unconditional run);
        ``.png``: a grid (a column per class or code value when all are drawn) or a scatter plot.
        ``label``: one class / code value for all samples (see :meth:`check_label`); ``caption``: a
        text-conditioned run's caption for all samples. An existing file is kept unless ``overwrite`` (checked
        before sampling)."""
        from ..viz import save_image_grid, save_scatter

        path = Path(path)
        if path.suffix not in SAMPLE_SUFFIXES:
            raise GankitError(f"output '{path}' must end in .png, .npy or .npz")
        if path.is_dir():
            raise GankitError(f"output '{path}' is a directory; give a file name ending in .png, .npy or .npz")
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise GankitError(f"'{path}' already exists; choose another file or pass overwrite=True")
        if path.suffix == ".png" and self.info.kind != "points" and n > 4096:
            raise GankitError(f"a .png grid holds at most 4096 images, asked for {n}; write .npy or .npz for more")
        x, y = self.sample_with_labels(n, seed, label, truncation, caption)  # conditional: 0..K-1 in turn unless fixed
        if path.suffix in (".npy", ".npz"):
            buf = io.BytesIO()  # serialised first: a failing write then reports its OS cause
            if path.suffix == ".npy":
                np.save(buf, x.numpy())
            else:
                arrays = {"x": x.numpy().astype(np.float32)}
                if y is not None:
                    arrays["y"] = y.numpy().astype(np.int64)
                np.savez(buf, **arrays)
            ckpt.atomic_write_bytes(path, buf.getvalue())
        elif self.info.kind == "points":
            save_scatter(x, path, modes=self.info.modes, sigma=self.info.sigma, title=f"{self.config.gan} samples")
        else:  # a column per class / code value when all are drawn in turn
            save_image_grid(x, path, nrow=None if (y is None or label is not None) else self.gan.num_classes)
        return path

    # ------------------------------------------------------------ image-to-image runs
    def _translator(self, what: str):
        if not getattr(self.gan, "translates", False):
            if getattr(self.gan, "takes_domains", False):  # CoGAN
                raise GankitError(f"{what}: this {self.config.gan} run draws corresponding pairs from noise; it does not "
                                  f"translate given images (use gankit sample)")
            raise GankitError(f"{what} needs an image-to-image run (pix2pix, cyclegan, ...); this is a "
                              f"{self.config.gan} run")
        return self.gan

    def translate(self, x, to: Optional[str] = None) -> torch.Tensor:
        """Images ``x`` translated into domain ``to`` (``"b"``, the default, or ``"a"`` for the two-way translators;
        StarGAN and Fader: the target attributes, e.g. ``"red,thick"``); returns a CPU tensor in [-1, 1]. ``x``: a
        tensor or NumPy array, (N, C, H, W) or (N, H, W), floats in [-1, 1] or uint8 0-255 (checked as
        ``gankit translate`` checks a ``.npy`` input)."""
        gan = self._translator("translate")
        target = gan.target(to)
        x = self.check_translation_input(x, gan.input_channels(target), gan.input_sides, "the images")
        return gan.translate(x, target).cpu()

    @staticmethod
    def check_translation_input(arr, channels: int, sides, what: str) -> torch.Tensor:
        """``arr`` (array or tensor) as float images in [-1, 1]: one-line errors for no images, a wrong shape or
        range, non-finite values or another dtype than uint8 / floating point."""
        if isinstance(arr, torch.Tensor):
            arr = arr.detach().cpu().numpy()
        if not isinstance(arr, np.ndarray):
            raise GankitError(f"{what} must be a NumPy array or a tensor, got {type(arr).__name__}")
        shape = tuple(arr.shape)
        if arr.ndim == 3:
            arr = arr[:, None]
        if arr.ndim != 4 or arr.shape[1] != channels or arr.shape[2] != arr.shape[3] or arr.shape[3] not in sides:
            want = " or ".join(f"(N, {channels}, {s}, {s})" for s in sides)
            raise GankitError(f"{what} have shape {shape}; this run translates images of shape {want}")
        if arr.shape[0] == 0:
            raise GankitError(f"{what} hold no images (N = 0)")
        if arr.dtype == np.uint8:
            return torch.from_numpy(arr.astype(np.float32)) / 127.5 - 1
        if not np.issubdtype(arr.dtype, np.floating) or not np.isfinite(arr).all() or np.abs(arr).max() > 1 + 1e-6:
            raise GankitError(f"{what} must be uint8 images or finite floats in [-1, 1]")
        return torch.from_numpy(arr.astype(np.float32))

    def read_translation_input(self, source, to: Optional[str] = None) -> torch.Tensor:
        """The images to translate from ``source``: a ``.npy`` file ((N, C, H, W) or (N, H, W); floats in [-1, 1]
        or uint8 0-255) or a folder of image files (read as the source domain's channels, centre-cropped and
        resized to the run's resolution, in sorted order)."""
        from ..data.imagefolder import collect_images, read_image

        gan = self._translator("translate")
        channels, sides = gan.input_channels(gan.target(to)), gan.input_sides
        side = sides[-1]  # image files are read at the smallest side the run takes (a super-resolver's input)
        source = Path(source)
        if source.is_dir():
            files = collect_images(source)
            if not files:
                raise GankitError(f"no image files (.png, .jpg, .jpeg, .bmp, .webp) in '{source}'")
            u8 = np.stack([read_image(f, side, "L" if channels == 1 else "RGB") for f in files])
            u8 = u8[:, None] if channels == 1 else u8.transpose(0, 3, 1, 2)
            return torch.from_numpy(u8.astype(np.float32)) / 127.5 - 1
        if not source.exists():
            raise GankitError(f"input '{source}' does not exist")
        if source.suffix.lower() != ".npy" or not source.is_file():
            raise GankitError(f"--input must be a .npy file or a folder of images, got '{source}'")
        try:
            arr = np.load(source, allow_pickle=False)
        except (OSError, ValueError, EOFError) as e:
            why = " ".join(str(e).split()) or "the file is empty"
            raise GankitError(f"cannot read '{source}' as a NumPy array: {why}") from None
        if not isinstance(arr, np.ndarray):  # an .npz archive under a .npy name
            raise GankitError(f"'{source}' is an .npz archive, not a .npy array")
        return self.check_translation_input(arr, channels, sides, f"the images in '{source}'")

    def save_reconstructions(self, path=None, n: int = 32, seed: int = 0, overwrite: bool = False,
                             per_row: int = 8) -> Path:
        """A ``.png`` of ``n`` real images of the run's test split (chosen with ``seed``) in rows of ``per_row``,
        each row above the row of their reconstructions G(E(x)); only for runs whose GAN has an encoder
        (bigan, vaegan). Default ``path``: ``RUN/recon-seed<seed>.png``; an existing file is kept unless ``overwrite``."""
        from ..viz import save_image_grid

        check_seed(seed, "seed")
        if not getattr(self.gan, "encodes", False):
            raise GankitError(f"reconstructions need a run whose GAN has an encoder (bigan, vaegan); this is a "
                              f"{self.config.gan} run")
        if self.info.kind != "images":
            raise GankitError("reconstruction pictures are for image runs; this run is on 2-D points")
        if isinstance(n, bool) or not isinstance(n, int) or not 1 <= n <= 2048:
            raise GankitError(f"n must be an integer from 1 to 2048 (real images, each shown with its "
                              f"reconstruction), got {n!r}")
        path = Path(path) if path is not None else self.dir / f"recon-seed{seed}.png"
        if path.suffix != ".png":
            raise GankitError(f"output '{path}' must end in .png (a reconstruction picture)")
        if path.is_dir():
            raise GankitError(f"output '{path}' is a directory; give a file name ending in .png")
        if (path.exists() or path.is_symlink()) and not overwrite:
            raise GankitError(f"'{path}' already exists; choose another file or pass overwrite=True")
        images, nrow = self.gan.reconstruction_grid(self.gan.real_images(n, seed), per_row)
        save_image_grid(images, path, nrow=nrow)
        return path

    def save_pictures(self, directory=None, seed: int = 0, overwrite: bool = False) -> list:
        """The GAN's own pictures (InfoGAN: ``traversal-cont<i>.png``, one per continuous code) written
        into ``directory`` (default: the run's ``samples/``); returns their paths ([] for GANs without
        any). Existing files are kept unless ``overwrite`` (all checked before any is written)."""
        check_seed(seed, "seed")
        directory = Path(directory) if directory is not None else self.dir / "samples"
        return write_pictures(self.gan, directory, seed, overwrite)

    def evaluate(self, n: Optional[int] = None, seed: Optional[int] = None, write: bool = True,
                 out=None, overwrite: bool = False, truncation: Optional[float] = None, **kw) -> dict:
        """Score the run and write ``eval.json`` into it (or ``out``); 2-D data also gets
        ``eval_scatter.png``. Image runs: ``n`` defaults to 10,000 samples; keyword arguments
        (``features``, ``metrics``, ``num_real``, ``inception_weights`` ...) go to
        :func:`gankit.metrics.score_images`. An existing output (e.g. the ``eval.json`` written by
        training) is kept unless ``overwrite``; that is checked before any work. ``truncation``: score samples
        drawn with the truncation trick at that threshold (:meth:`check_truncation`)."""
        images = self.info.kind != "points"
        truncation = self.check_truncation(truncation)
        n = n or (IMAGE_EVAL_SAMPLES if images else self.config.train.eval_samples)
        seed = self.config.seed if seed is None else seed
        check_seed(seed, "seed")
        if isinstance(n, bool) or not isinstance(n, int) or n < 2:
            raise GankitError(f"n must be an integer ≥ 2, got {n!r}")
        self.check_sample_size(n)
        unknown = sorted(set(kw) - _eval_options())
        if unknown:
            from ..registry import nearest

            raise GankitError(f"evaluate() got an unknown argument '{unknown[0]}'"
                              f"{nearest(unknown[0], sorted(_eval_options()))}")
        path = Path(out) if out else self.dir / "eval.json"
        if write and path.is_dir():
            raise GankitError(f"out '{path}' is a directory; give a JSON file name")
        if write and not out and rundir.is_locked(self.dir):
            raise GankitError(f"run '{self.dir}' is still training and will write its own eval.json; "
                              f"give --out FILE (out=...) to score it now")
        if write and path.exists() and not overwrite:
            raise GankitError(f"'{path}' already exists; pass --overwrite (overwrite=True) to replace it "
                              f"or --out FILE (out=...) to write elsewhere")
        if images:
            kw.setdefault("root", self.config.data.root)
            kw.setdefault("inception_weights", self.config.train.inception_weights)
            kw.setdefault("source", f"{self.config.gan} run {self.dir} step {self.step}, EMA G if any, seed {seed}")
        if truncation is not None:
            kw["truncation"] = truncation
        result = evaluate_gan(self.gan, self.info, n=n, seed=seed, **kw)
        result["step"] = self.step
        result["checkpoint"] = self.checkpoint.name
        if write:
            ckpt.atomic_write_text(path, jsonutil.dumps(result, indent=2) + "\n")
            if not images and path == self.dir / "eval.json":
                self.save_samples(self.dir / "eval_scatter.png", n=n, seed=seed, overwrite=True)
        return result


def write_pictures(gan, directory, seed: int = 0, overwrite: bool = True) -> list:
    """Write ``gan.pictures(seed)`` as ``directory/<name>.png`` grids; returns the paths."""
    from ..viz import save_image_grid

    directory = Path(directory)
    pictures = gan.pictures(seed)
    paths = [directory / f"{name}.png" for name in pictures]
    if not overwrite:
        for p in paths:
            if p.exists() or p.is_symlink():
                raise GankitError(f"'{p}' already exists; choose another directory or pass overwrite=True")
    for (images, nrow), path in zip(pictures.values(), paths):
        save_image_grid(images, path, nrow=nrow)
    return paths


def load_run(run_dir, device: str = "cpu", checkpoint: Optional[str] = None) -> Run:
    return Run(run_dir, device=device, checkpoint=checkpoint)


def train(source=None, *overrides: str, resume: Optional[str] = None, overwrite: bool = False,
          callbacks: Iterable = (), **kw) -> Run:
    """Train a GAN and return its :class:`Run`.

    ``gankit.train("dcgan", "steps=3000", data="mnist")`` mirrors
    ``gankit train dcgan steps=3000 data=mnist``; ``gankit.train(resume="runs/d")`` mirrors
    ``gankit train --resume runs/d``. A callback is ``fn(trainer, step)``, called after every step.
    """
    from .loop import RunInterrupted, resume as resume_run, start

    callbacks = list(callbacks)
    for cb in callbacks:
        if not callable(cb):
            raise GankitError(f"callbacks must be functions fn(trainer, step), got {type(cb).__name__}")
    trainer = None
    try:
        if resume is not None:
            if source is not None:
                raise GankitError("pass either a config or resume=RUN_DIR, not both")
            items = list(overrides) + [f"{k}={json.dumps(v)}" for k, v in kw.items()]
            trainer = resume_run(resume, items, callbacks=callbacks)
        else:
            cfg = resolve(source, overrides, **kw)
            trainer = start(cfg, overwrite=overwrite, callbacks=callbacks)
        trainer.fit()
    except KeyboardInterrupt as e:
        if isinstance(e, RunInterrupted) or trainer is None:
            raise
        if trainer.rundir is not None:
            trainer.rundir.close()
        raise RunInterrupted(trainer.dir, trainer.step) from None
    finally:
        from . import distributed

        distributed.shutdown()
    return Run(trainer.dir, device=str(trainer.device))
