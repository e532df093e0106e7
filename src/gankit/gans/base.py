"""The base of every named GAN.

A GAN subclass says which networks it builds (:meth:`GAN.build`) and, when the standard
alternation is not enough, which steps it takes (:meth:`GAN.phases`). The trainer runs the phases;
it never looks at objective or penalty names. The default steps are Goodfellow et al.'s
Algorithm 1 (arXiv 1406.2661): ``n_critic`` discriminator updates, then one generator update,
each on a fresh minibatch and fresh noise.
"""
from __future__ import annotations

import copy
import math
from dataclasses import dataclass
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import Tensor, nn

from ..config import POINT_DATASETS, Config, build_dataclass
from ..errors import ConfigError
from ..objectives import OBJECTIVES
from ..penalties import PENALTIES, PER_SAMPLE

StepResult = Tuple[Tensor, Dict[str, Tensor]]


def truncate(z: Tensor, threshold: float, generator: Optional[torch.Generator] = None) -> Tensor:
    """The truncation trick (Brock et al. 2018, arXiv 1809.11096, Sec. 3.1): every entry of ``z`` ~ N(0, I)
    whose magnitude is above ``threshold`` is redrawn from N(0, 1) until none is left, i.e. z follows the
    normal truncated to [-threshold, threshold]. ``generator``: a CPU generator (same draws on every device)."""
    if not threshold > 0:
        raise ValueError(f"truncation threshold must be > 0, got {threshold}")
    z = z.clone()
    while True:
        bad = z.abs() > threshold
        count = int(bad.sum())
        if count == 0:
            return z
        fresh = torch.randn(count, generator=generator) if generator is not None else torch.randn(count, device=z.device)
        z[bad] = fresh.to(device=z.device, dtype=z.dtype)


@dataclass
class Phase:
    """One optimiser update: ``fn(real, labels) -> (loss, logs)`` minimised by group ``group``,
    repeated ``repeat`` times per generator step, each time on a new minibatch."""

    group: str
    fn: Callable[[Tensor, Optional[Tensor]], StepResult]
    repeat: int = 1


class CountsGeneratorSteps:
    """Mixin for a GAN whose training changes with the number of generator updates (ProGAN's growth, StackGAN's
    stages). The count lives in a buffer (named ``step_buffer``, so it is in the checkpoint and a resume continues
    it) and in a Python mirror ``_steps`` (so no step reads the device); :meth:`on_step_count` runs after every
    change. Call :meth:`init_step_count` in ``build``."""

    step_buffer = "g_steps"

    def init_step_count(self) -> None:
        self.register_buffer(self.step_buffer, torch.zeros((), dtype=torch.long))
        self._steps = 0

    def on_step_count(self) -> None:
        """Hook: the count changed (after a G update, or a checkpoint loaded)."""

    def after_step(self, group: str) -> None:
        super().after_step(group)
        if group == "g":
            self._steps += 1
            getattr(self, self.step_buffer).add_(1)
            self.on_step_count()

    def load_state_dict(self, state_dict, strict: bool = True, assign: bool = False):
        out = super().load_state_dict(state_dict, strict=strict, assign=assign)
        self._steps = int(getattr(self, self.step_buffer))  # one read, at load time
        self.on_step_count()
        return out


class GAN(nn.Module):
    """Base class. Subclasses set ``Params`` (a dataclass: the ``model`` config section),
    ``default_objective`` and implement :meth:`build`."""

    Params: type
    optim_group_names: Tuple[str, ...] = ("g", "d")
    default_objective = "nonsaturating"
    needs_images = False
    energy_d = False  # True when D is an auto-encoder giving energies (EBGAN, BEGAN)
    #: True when the GAN trains on few labels (``data.labels=N``): its steps then receive batches whose
    #: unknown labels are ``gankit.data.UNLABELLED`` (see gankit.data.fewlabels); the other GANs refuse it
    few_labels = False
    #: True when the GAN trains a classifier of real images (:meth:`classify`; the semi-supervised GAN's D,
    #: Triple-GAN's C): evaluation then adds its error on the real test split (``classifier_error``)
    classifies = False
    #: True when the GAN learns an encoder of real images (:meth:`encode`; BiGAN / ALI's E): evaluation then adds
    #: the linear-probe and 1-NN test accuracy of its features and the reconstruction error of G(E(x))
    encodes = False
    #: True when the GAN trains on a translation set (two domains of images: the translators, CoGAN)
    takes_domains = False
    #: True when the GAN also trains on a set of more than two unpaired domains (``mnist-colours``: ComboGAN)
    takes_many_domains = False
    #: True when the GAN is scored by its own task metrics (:meth:`evaluate_task`; the translators, CoGAN) instead
    #: of the sample metrics
    own_evaluation = False

    def __init__(self, cfg: Config, info):
        super().__init__()
        self.cfg, self.info = cfg, info
        self.p = build_dataclass(self.Params, cfg.model, "model.")
        self.objective = OBJECTIVES.get(cfg.objective or self.default_objective)
        self.penalties = [(name, PENALTIES.get(name), w) for name, w in cfg.penalties.items() if w != 0]
        self.G, self.D = self.build(info)
        self.check_per_sample()
        self.G_ema = copy.deepcopy(self.G).requires_grad_(False) if cfg.train.ema else None

    @property
    def per_sample_penalties(self) -> List[str]:
        """The penalties in use that take each sample's own gradient (gp, dragan, r1, r2)."""
        return [name for name, _, _ in self.penalties if name in PER_SAMPLE]

    def check_per_sample(self) -> None:
        """Refuse a per-sample gradient penalty on a D with batch norm: there each sample's "own"
        gradient mixes in every other sample of the batch, and the penalty's extra forward pass
        moves the running statistics with off-data points (Gulrajani et al. 2017, arXiv 1704.00028,
        Sec. 4, replace batch norm in the critic by layer norm for this reason)."""
        names = self.per_sample_penalties
        if names and any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in self.D.modules()):
            raise ConfigError(f"config: penalty {', '.join(names)} needs each sample's own gradient of D, but D has "
                              f"batch norm, which mixes the samples of a batch; use model.d_norm=layer or none")

    # ------------------------------------------------------------ to override
    def build(self, info) -> Tuple[nn.Module, nn.Module]:
        raise NotImplementedError

    #: the objectives a GAN's own steps are written for (None: any registered one), and why, for the error
    objectives: Optional[Tuple[str, ...]] = None
    objectives_why: str = ""
    #: why a GAN refuses penalties (None: it takes them)
    no_penalties_why: Optional[str] = None
    #: why D must stay eager under ``train.compile`` (None: it may be compiled; see gankit.train.loop.compile_nets)
    eager_d_why: Optional[str] = None

    @classmethod
    def validate(cls, cfg: Config) -> None:
        """Cross-field checks that must fail before any work starts."""
        objective = OBJECTIVES.get(cfg.objective or cls.default_objective)
        if objective.needs_energy and not cls.energy_d:
            raise ConfigError(f"config: objective '{objective.name}' needs an auto-encoder discriminator; "
                              f"use `gankit train {objective.name}` instead of GAN '{cfg.gan}'")
        for name in cfg.penalties:
            PENALTIES.get(name)
        if cfg.data.labels is not None and cfg.data.label_fraction is not None:
            raise ConfigError(f"config: give data.labels={cfg.data.labels} or data.label_fraction="
                              f"{cfg.data.label_fraction}, not both")
        if cfg.data.label_fraction is not None and not cls.few_labels:
            from . import GANS

            takers = [n for n in GANS.names() if GANS.get(n).few_labels]
            raise ConfigError(f"config: data.label_fraction={cfg.data.label_fraction} (semi-supervised training) is not "
                              f"used by GAN '{cfg.gan}'; GANs that train on few labels: {', '.join(takers) or 'none'}")
        if cfg.data.labels is not None and not cls.few_labels:
            from . import GANS

            takers = [n for n in GANS.names() if GANS.get(n).few_labels]
            raise ConfigError(f"config: data.labels={cfg.data.labels} (semi-supervised training) is not used by GAN "
                              f"'{cfg.gan}'; GANs that train on few labels: {', '.join(takers) or 'none'}")
        if not cls.takes_many_domains:
            from ..data.multidomain import MULTI_DOMAIN_SETS

            if cfg.data.name in MULTI_DOMAIN_SETS:
                from . import GANS

                takers = [n for n in GANS.names() if GANS.get(n).takes_many_domains]
                raise ConfigError(f"config: '{cfg.data.name}' is a set of several unpaired domains; GAN '{cfg.gan}' "
                                  f"does not train on it. GANs that do: {', '.join(takers)}")
        if not cls.takes_domains:
            from ..data.domains import TRANSLATION_SETS

            if cfg.data.name in TRANSLATION_SETS:
                from . import GANS

                takers = [n for n in GANS.names() if GANS.get(n).takes_domains]
                raise ConfigError(f"config: '{cfg.data.name}' is a translation set (two domains of images); GAN "
                                  f"'{cfg.gan}' does not train on two domains. GANs that do: {', '.join(takers)}")
        arch = cfg.model.get("arch", "auto") if isinstance(cfg.model, dict) else "auto"
        if (cls.needs_images or arch not in ("auto", "mlp")) and cfg.data.name in POINT_DATASETS:
            raise ConfigError(f"config: GAN '{cfg.gan}' needs image data, but data.name is the 2-D set '{cfg.data.name}'")
        name = cfg.objective or cls.default_objective
        if cls.objectives is not None and name not in cls.objectives:
            raise ConfigError(f"config: GAN '{cfg.gan}' {cls.objectives_why}; objective must be "
                              f"{' or '.join(cls.objectives)}, got '{name}'")
        used = [p for p, w in cfg.penalties.items() if w != 0]
        if used and cls.no_penalties_why:
            raise ConfigError(f"config: GAN '{cfg.gan}' takes no penalties ({', '.join(used)}): {cls.no_penalties_why}")

    def pick_arch(self, info, image_arch: str) -> str:
        """``model.arch`` resolved: ``auto`` is ``mlp`` for 2-D points and ``image_arch`` for images;
        an image architecture asked for on points is a config error."""
        arch = getattr(self.p, "arch", "auto")
        if arch == "auto":
            return "mlp" if info.kind == "points" else image_arch
        if arch != "mlp" and info.kind != "images":
            raise ConfigError(f"config: model.arch={arch} needs image data, but '{info.name}' is 2-D points")
        return arch

    #: processes the global batch is split over (set by the trainer under torchrun; 1 in one process)
    world = 1

    @property
    def local_batch(self) -> int:
        """This process's share of ``batch_size`` (the global batch): the rows of each batch a step receives."""
        return self.cfg.batch_size // self.world

    @property
    def z_dim(self) -> int:
        return self.p.z_dim

    @property
    def latent_dim(self) -> int:
        """The width of what :meth:`sample_z` draws: ``z_dim``, plus any codes or noise the GAN appends to it
        (InfoGAN's continuous codes, LAPGAN's finer levels' noise planes, StackGAN's conditioning noise)."""
        return self.z_dim

    def optim_groups(self) -> Dict[str, List[nn.Parameter]]:
        return {"g": list(self.G.parameters()), "d": list(self.D.parameters())}

    def phases(self) -> List[Phase]:
        return [Phase("d", self.d_step, self.cfg.train.n_critic), Phase("g", self.g_step)]

    def after_step(self, group: str) -> None:
        """Hook after each optimiser step (e.g. weight clipping, BEGAN's k_t update)."""

    def init_from_data(self, real: Tensor) -> None:
        """Hook called once when a run starts (not on resume) with a seeded batch of training data, for nets
        initialised from data (e.g. weight norm's data-dependent init); the default does nothing."""

    def pretrain(self, loader) -> Dict[str, float]:
        """Hook called once before the first training step of a fresh run (not on resume) with the training
        loader, for parts trained before the GAN (e.g. S2GAN's self-supervised classifier); returns numbers to
        log at step 0. Its time counts as training time. The default does nothing."""
        return {}

    # ------------------------------------------------------------ the steps
    @property
    def device(self) -> torch.device:
        return next(self.G.parameters()).device

    def latent_is_gaussian(self) -> bool:
        """True when :meth:`sample_z` draws z ~ N(0, I) (what the truncation trick assumes)."""
        return True

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``(n, latent_dim)`` draws of N(0, I) (GANs with another prior override it)."""
        if generator is not None:  # CPU generator: identical noise on every device
            return torch.randn(n, self.latent_dim, generator=generator).to(self.device)
        return torch.randn(n, self.latent_dim, device=self.device)

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        with torch.no_grad():
            fake = self.G(self.sample_z(real.shape[0]))
        loss = self.objective.d_loss(self.D(real), self.D(fake))
        return self.add_penalties(loss, {"d_loss": loss.detach()}, real, fake)

    def add_penalties(self, loss: Tensor, logs: Dict[str, Tensor], real: Tensor, fake: Tensor,
                      D: Optional[nn.Module] = None) -> StepResult:
        """``loss + sum(weight * penalty(D, real, fake))``, each term logged under its name (``D``: the
        discriminator as the penalties call it, ``self.D`` unless given, e.g. bound to labels)."""
        D = self.D if D is None else D
        for name, fn, weight in self.penalties:
            term = fn(D, real, fake)
            logs[name] = term.detach()
            loss = loss + weight * term
        return loss, logs

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        d_fake = self.D(self.G(self.sample_z(real.shape[0])))
        d_real = self.D(real) if self.objective.g_needs_real else None
        loss = self.objective.g_loss(d_fake, d_real)
        return loss, {"g_loss": loss.detach()}

    def classify(self, x: Tensor, chunk: int = 1000) -> Tensor:
        """Class logits ``(N, K)`` of real images ``x`` from the GAN's classifier (only when ``classifies``)."""
        raise NotImplementedError(f"GAN '{self.cfg.gan}' has no classifier of real images")

    def own_metrics(self, n: int, seed: int = 0) -> Dict[str, float]:
        """Metrics of the GAN's own, added to its evaluation on images (e.g. the text-to-image GANs' attribute
        tracking), measured on ``n`` samples per case; the default has none."""
        return {}

    def evaluate_task(self, n: int = 2500, seed: int = 0, split: str = "test", root=None) -> dict:
        """The GAN's task metrics (only when ``own_evaluation``)."""
        raise NotImplementedError(f"GAN '{self.cfg.gan}' is scored by the sample metrics")

    def encode(self, x: Tensor, chunk: int = 1000) -> Tensor:
        """Latent features ``(N, d)`` of real images ``x`` from the GAN's encoder (only when ``encodes``)."""
        raise NotImplementedError(f"GAN '{self.cfg.gan}' has no encoder of real images")

    # ------------------------------------------------------------ pictures
    def d_score(self, x: Tensor) -> Tensor:
        """D's verdict on each sample of ``x``, higher meaning judged more real (a logit or a critic
        value here; energy GANs return minus the energy). Used for the background of 2-D pictures."""
        return self.D(x).reshape(x.shape[0], -1).mean(1)

    @torch.no_grad()
    def d_field(self, lim: float, n: int = 80) -> Tuple[Tensor, Tensor, Tensor]:
        """``(xs, ys, values)``: :meth:`d_score` on an ``n`` x ``n`` grid over ``[-lim, lim]^2``
        (2-D data only), with D in eval mode (no batch statistics or power iterations change)."""
        axis = torch.linspace(-lim, lim, n, device=self.device)
        gy, gx = torch.meshgrid(axis, axis, indexing="ij")
        was_training = self.D.training
        self.D.eval()
        try:
            values = self.d_score(torch.stack([gx.reshape(-1), gy.reshape(-1)], 1)).reshape(n, n)
        finally:
            self.D.train(was_training)
        return axis.cpu(), axis.cpu(), values.float().cpu()

    # ------------------------------------------------------------ sampling
    #: True when G takes class labels (``G(z, y)``): :meth:`sample` then draws labels too
    conditional = False
    #: True when those labels are a categorical latent code of the GAN's own (InfoGAN), not the data's
    #: classes: evaluation then matches code values to classes (code_accuracy) instead of class_accuracy
    code_labels = False

    @property
    def num_classes(self) -> int:
        return int(getattr(self.info, "num_classes", 0) or 0)

    def sample_labels(self, n: int) -> Optional[Tensor]:
        """The labels :meth:`sample` generates for: balanced classes in turn (0, 1, ..., K-1, 0, ...)
        for a conditional GAN, None for an unconditional one."""
        if not self.conditional:
            return None
        return torch.arange(n, device=self.device) % self.num_classes

    @torch.no_grad()
    def sample(self, n: int, seed: int = 0, ema: bool = True, chunk: int = 1000,
               truncation: Optional[float] = None) -> Tensor:
        """``n`` samples from the EMA generator when there is one; same seed -> same output.
        A conditional GAN generates them for :meth:`sample_labels` (see :meth:`sample_with_labels`)."""
        return self.sample_with_labels(n, seed, ema, chunk, truncation=truncation)[0]

    @torch.no_grad()
    def sample_with_labels(self, n: int, seed: int = 0, ema: bool = True, chunk: int = 1000,
                           labels: Optional[Tensor] = None,
                           truncation: Optional[float] = None) -> Tuple[Tensor, Optional[Tensor]]:
        """``(x, y)``: ``n`` samples and the labels they were generated for (``labels`` if given,
        else :meth:`sample_labels`; None for an unconditional GAN). The noise depends on the seed only.
        ``truncation`` T: z drawn from N(0, I) truncated to [-T, T] (:func:`truncate`; Gaussian latents only)."""
        z, gen = self.seeded_latent(n, seed, truncation)
        y = self.labels_to_sample(n, labels) if self.conditional else None
        return self.generate_from(z, y, ema, chunk), y

    def seeded_latent(self, n: int, seed: int, truncation: Optional[float] = None) -> Tuple[Tensor, torch.Generator]:
        """``(z, gen)``: ``n`` latents drawn by a CPU generator seeded with ``seed`` (truncated at ``truncation`` when
        given; Gaussian latents only), and that generator, for whatever else the sample draws after them."""
        gen = torch.Generator().manual_seed(seed)
        z = self.sample_z(n, generator=gen)
        if truncation is not None:
            if not self.latent_is_gaussian():
                raise ValueError(f"GAN '{self.cfg.gan}' does not draw z from N(0, I) here; the truncation trick "
                                 f"needs a Gaussian latent")
            z = truncate(z, truncation, gen)
        return z, gen

    def labels_to_sample(self, n: int, labels: Optional[Tensor] = None) -> Tensor:
        """``labels`` checked as ``n`` class indices (on the GAN's device), or :meth:`sample_labels` when None."""
        y = self.sample_labels(n) if labels is None else torch.as_tensor(labels, device=self.device).long()
        if y.shape != (n,) or (n and not (0 <= int(y.min()) and int(y.max()) < self.num_classes)):
            raise ValueError(f"labels must be {n} class indices in [0, {self.num_classes})")
        return y

    @torch.no_grad()
    def generate_from(self, z: Tensor, y: Optional[Tensor] = None, ema: bool = True, chunk: int = 1000) -> Tensor:
        """``G(z, y)`` for given inputs, from the EMA generator when there is one, in eval mode and in
        chunks of ``chunk`` (``y`` None: G is called without labels)."""
        G = self.G_ema if (ema and self.G_ema is not None) else self.G
        was_training = G.training
        G.eval()
        try:
            n = z.shape[0]
            if y is not None:
                parts = [G(z[i:i + chunk], y[i:i + chunk]) for i in range(0, n, chunk)]
            else:
                parts = [G(z[i:i + chunk]) for i in range(0, n, chunk)]
            out = torch.cat(parts) if n else z.new_zeros((0,) + tuple(self.info.shape))
        finally:
            G.train(was_training)
        return out.float()

    def pictures(self, seed: int = 0) -> Dict[str, Tuple[Tensor, int]]:
        """Pictures of the GAN's own written into ``samples/`` at the end of training, besides the
        sample grid: ``{file stem: (images, images per row)}`` (e.g. InfoGAN's latent traversals)."""
        return {}

    def sample_grid(self, n: int, seed: int = 0) -> Tuple[Tensor, Optional[int]]:
        """``(images, images per row)`` for a picture of about ``n`` samples: a conditional GAN gives
        one row per class (``ceil(n / K)`` samples each); an unconditional one ``n`` samples and None
        (the grid's square default)."""
        if not self.conditional:
            return self.sample(n, seed=seed), None
        per = max(1, math.ceil(n / self.num_classes))
        y = torch.arange(self.num_classes, device=self.device).repeat_interleave(per)
        return self.sample_with_labels(len(y), seed=seed, labels=y)[0], per
