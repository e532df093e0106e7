"""Finished or running runs as Python objects: load a run directory, sample, evaluate."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Iterable, Optional

import numpy as np
import torch

from ..config import Config, load_run_config, recorded_hash, resolve
from ..errors import CheckpointError, GankitError
from ..gans import GANS
from . import checkpoint as ckpt


#: generated images scored by `gankit eval` on a run (MODELS.md: 10k generated vs the 10k test images)
IMAGE_EVAL_SAMPLES = 10000


def evaluate_gan(gan, info, n: int = 2500, seed: int = 0, *, features: str = "auto", metrics=None,
                 num_real: int = 10000, split: str = "test", root=None, inception_weights=None,
                 source: Optional[str] = None, **kw) -> dict:
    """Metrics for a trained GAN (EMA generator when there is one).

    2-D mixtures: the PacGAN/VEEGAN mode protocol on ``n`` samples. Images: ``n`` samples scored by
    :func:`gankit.metrics.score_images` against the first ``num_real`` images of ``split``.
    """
    if info.kind == "points":
        from ..metrics import toy_mode_metrics

        samples = gan.sample(n, seed=seed).cpu()
        result = toy_mode_metrics(samples, info.modes, info.sigma)
        result["seed"] = seed
        result["dataset"] = info.name
        return result
    from ..metrics import score_images

    fake = gan.sample(n, seed=seed)
    return score_images(fake, info.name, features=features, metrics=metrics, split=split, num_real=num_real,
                        seed=seed, device=str(fake.device), root=root, inception_weights=inception_weights,
                        source=source or f"{type(gan).__name__} samples, noise seed {seed}", **kw)


class Run:
    """A run directory loaded for sampling and evaluation (weights from its newest checkpoint)."""

    def __init__(self, run_dir, device: str = "cpu", checkpoint: Optional[str] = None):
        from .loop import info_from_dict, resolve_device

        self.dir = Path(run_dir)
        if not self.dir.is_dir():
            raise GankitError(f"run directory '{self.dir}' does not exist")
        self.config: Config = load_run_config(self.dir)
        found = [Path(checkpoint)] if checkpoint else ckpt.list_checkpoints(self.dir / "checkpoints")
        if not found:
            raise CheckpointError(f"run '{self.dir}' has no checkpoint yet (looked in {self.dir / 'checkpoints'})")
        state = ckpt.load(found[-1], expected_hash=recorded_hash(self.dir) or self.config.hash)
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

    def sample(self, n: int = 64, seed: int = 0) -> torch.Tensor:
        """``n`` samples (EMA generator if any) on the CPU; identical for identical weights and seed."""
        return self.gan.sample(n, seed=seed).cpu()

    def save_samples(self, path, n: int = 64, seed: int = 0) -> Path:
        """``.npy``: the raw samples (2-D data: an N x 2 array); ``.png``: a grid or scatter plot."""
        from ..viz import save_image_grid, save_scatter

        path = Path(path)
        x = self.sample(n, seed)
        if path.suffix == ".npy":
            ckpt.atomic_write(path, lambda f: np.save(f, x.numpy()))
        elif path.suffix == ".png":
            if self.info.kind == "points":
                save_scatter(x, path, modes=self.info.modes, sigma=self.info.sigma, title=f"{self.config.gan} samples")
            else:
                save_image_grid(x, path)
        else:
            raise GankitError(f"output '{path}' must end in .png or .npy")
        return path

    def evaluate(self, n: Optional[int] = None, seed: Optional[int] = None, write: bool = True,
                 out=None, **kw) -> dict:
        """Score the run and write ``eval.json`` into it (or ``out``); 2-D data also gets
        ``eval_scatter.png``. Image runs: ``n`` defaults to 10,000 samples; keyword arguments
        (``features``, ``metrics``, ``num_real``, ``inception_weights`` ...) go to
        :func:`gankit.metrics.score_images`."""
        images = self.info.kind != "points"
        n = n or (IMAGE_EVAL_SAMPLES if images else self.config.train.eval_samples)
        seed = self.config.seed if seed is None else seed
        if images:
            kw.setdefault("root", self.config.data.root)
            kw.setdefault("inception_weights", self.config.train.inception_weights)
            kw.setdefault("source", f"{self.config.gan} run {self.dir} step {self.step}, EMA G if any, seed {seed}")
        result = evaluate_gan(self.gan, self.info, n=n, seed=seed, **kw)
        result["step"] = self.step
        result["checkpoint"] = self.checkpoint.name
        if write:
            path = Path(out) if out else self.dir / "eval.json"
            ckpt.atomic_write_text(path, json.dumps(result, indent=2) + "\n")
            if not images:
                self.save_samples(self.dir / "eval_scatter.png", n=n, seed=seed)
        return result


def load_run(run_dir, device: str = "cpu", checkpoint: Optional[str] = None) -> Run:
    return Run(run_dir, device=device, checkpoint=checkpoint)


def train(source=None, *overrides: str, resume: Optional[str] = None, overwrite: bool = False,
          callbacks: Iterable = (), **kw) -> Run:
    """Train a GAN and return its :class:`Run`.

    ``gankit.train("dcgan", "steps=3000", data="mnist")`` mirrors
    ``gankit train dcgan steps=3000 data=mnist``; ``gankit.train(resume="runs/d")`` mirrors
    ``gankit train --resume runs/d``. A callback is ``fn(trainer, step)``, called after every step.
    """
    from .loop import resume as resume_run, start

    if resume is not None:
        if source is not None:
            raise GankitError("pass either a config or resume=RUN_DIR, not both")
        items = list(overrides) + [f"{k}={json.dumps(v)}" for k, v in kw.items()]
        trainer = resume_run(resume, items, callbacks=callbacks)
    else:
        cfg = resolve(source, overrides, **kw)
        trainer = start(cfg, overwrite=overwrite, callbacks=callbacks)
    trainer.fit()
    return Run(trainer.dir, device=str(trainer.device))
