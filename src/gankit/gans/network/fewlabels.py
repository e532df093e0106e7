"""BigGAN with few labels, Lucic, Tschannen, Ritter, Zhai, Bachem & Gelly 2019, "High-Fidelity Image Generation
With Fewer Labels", arXiv 1903.02271: the labels of the unlabelled images are inferred, so a class-conditional
GAN trains when only some images keep theirs (``data.labels=N`` or ``data.label_fraction=F``).

* ``s2gan`` (Sec. 3.1, pre-trained approach): a classifier C (DCGAN's D with K outputs, its own optimiser group
  ``c``) labels the unlabelled images with ``argmax C(x)``. As in the paper, with ``model.c_selfsup=N`` C is
  trained *before* the GAN and then fixed: N steps of rotation prediction on every image (self-supervision), then
  ``model.c_probe`` steps of a linear classifier on those features from the labelled images
  (``model.c_head=kmeans``: k-means clusters of the features instead, :mod:`.selfsup_labeller`). With
  ``model.c_selfsup=0`` C instead learns from the labelled images alongside the GAN, in a phase after D's.
* ``s2gan-co`` (Sec. 3.2, co-training): a linear class head on D's features (part of D, trained in D's step by
  cross-entropy on the labelled images) labels the unlabelled ones.
* ``s3gan``: ``s2gan-co`` plus SS-GAN's rotation loss on D (Chen et al. 2019, arXiv 1811.11212; weights 1 on
  real images for D, 0.2 on fakes for G, :mod:`gankit.nn.rotation`).

Everything else is :mod:`BigGAN <gankit.gans.network.biggan>`'s (nets, projection D, orthogonal term, EMA,
truncation). D's real term scores the unlabelled images with their inferred labels; fakes are generated for
labels drawn uniformly from the K classes (in D's and G's steps). Without few labels every image keeps its label,
which D's real term then uses (and the class head / C still learn from them). ``gankit eval`` adds
``classifier_error``: the test error of the labeller (C, or D's class head).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ...config import _rng
from ...errors import ConfigError
from ...models import DCGANDiscriminator
from ...nn import LayerFactory, init_dcgan
from ...nn.conditioning import projection_term
from ...nn.rotation import RotationHead, add_rotation_term
from .. import GANS
from ..base import Phase, StepResult
from .biggan import BigGAN, BigGANParams
from .selfsup_labeller import ClusterLabeller, pretrain_labeller


@dataclass
class FewLabelParams(BigGANParams):
    """``model.*``: BigGAN's, the classifier's width (s2gan), the class head's weight, the rotation weights."""

    c_width: int = field(default=32, metadata=_rng(1))           # s2gan's C: DCGAN D with K outputs
    c_selfsup: int = field(default=0, metadata=_rng(0))          # s2gan: C's rotation pre-training steps (0: none)
    c_probe: int = field(default=1000, metadata=_rng(1))         # s2gan: then steps of its linear classifier
    c_head: Literal["linear", "kmeans"] = "linear"               # s2gan: linear classifier, or k-means clusters
    c_clusters: int = field(default=50, metadata=_rng(1))        # s2gan, c_head=kmeans: the number of clusters
    class_weight: float = field(default=1.0, metadata=_rng(0.0))  # weight of the head's cross-entropy in D's loss
    rotation_d: float = field(default=0.0, metadata=_rng(0.0))   # S3GAN: D's rotation loss weight
    rotation_g: float = field(default=0.0, metadata=_rng(0.0))   # S3GAN: G's rotation loss weight


class FewLabelBigGAN(BigGAN):
    """BigGAN whose unknown labels come from a classifier (s2gan), D's class head (s2gan-co) or D's class head
    with rotation self-supervision (s3gan)."""

    Params = FewLabelParams
    #: where the unknown labels come from: ``classifier`` (a separate C, group ``c``) or ``co`` (D's class head)
    labeller = "co"
    few_labels = True
    classifies = True
    no_penalties_why = "its D scores real images with inferred labels and fakes with labels of their own"

    def build(self, info):
        G, D = super().build(info)
        p, K = self.p, self.num_classes
        d_factory = LayerFactory(sn=p.d_sn, act="relu")
        self.class_head = d_factory.linear(D.net.feature_dim, K) if self.labeller == "co" else None
        self.rotation = RotationHead(D.net.feature_dim, d_factory) if (p.rotation_d or p.rotation_g) else None
        self.C, self.clusters = None, None
        if self.labeller == "classifier":
            self.C = DCGANDiscriminator(info.shape, p.c_width, self.c_factory, outputs=K)
            init_dcgan(self.C)
            if self.c_pretrained and p.c_head == "kmeans":  # its centroids are filled before the GAN starts
                self.clusters = ClusterLabeller(p.c_clusters, self.C.feature_dim, K)
        return G, D

    c_factory = LayerFactory(norm="batch", act="lrelu")  # C's layers (and its rotation head's while pre-training)

    @classmethod
    def validate(cls, cfg) -> None:
        super().validate(cfg)
        model = cfg.model if isinstance(cfg.model, dict) else {}
        selfsup = model.get("c_selfsup", 0)
        if selfsup and cls.labeller != "classifier":
            raise ConfigError(f"config: model.c_selfsup pre-trains s2gan's separate classifier; GAN '{cfg.gan}' labels "
                              f"images with D's class head (use gankit train s2gan)")
        if model.get("c_head", "linear") == "kmeans" and not selfsup:
            raise ConfigError("config: model.c_head=kmeans clusters the classifier's self-supervised features; it "
                              "needs model.c_selfsup > 0 (the rotation pre-training steps)")

    @property
    def c_pretrained(self) -> bool:
        """True when C is trained before the GAN (self-supervision, then its classifier) and fixed after."""
        return self.labeller == "classifier" and self.p.c_selfsup > 0

    def optim_groups(self) -> Dict[str, list]:
        groups = {"g": list(self.G.parameters()), "d": list(self.D.parameters())}
        for part in (self.class_head, self.rotation):  # heads on D's features are trained with D
            if part is not None:
                groups["d"] += list(part.parameters())
        if self.C is not None and not self.c_pretrained:  # a pre-trained C is fixed: no optimiser moves it
            groups["c"] = list(self.C.parameters())
        return groups

    def phases(self) -> List[Phase]:
        trains_c = self.C is not None and not self.c_pretrained
        c = [Phase("c", self.c_step)] if trains_c else []  # C's update needs nothing from D's
        return [Phase("d", self.d_step, self.cfg.train.n_critic)] + c + [Phase("g", self.g_step)]

    # ------------------------------------------------------------ labels
    def split(self, real: Tensor, labels: Optional[Tensor]) -> Tuple[Tensor, Optional[Tensor], Tensor, Tensor]:
        """``(x_u, y_u or None, x_l, y_l)``: with few labels the first ``batch_size`` rows (labels unknown) and
        the labelled rest; otherwise every row with its label, as both."""
        labels = self.labels_of(labels)
        if not self.cfg.data.few_labels:
            return real, labels, real, labels
        n = self.local_batch
        if real.shape[0] <= n:
            raise ValueError(f"GAN '{self.cfg.gan}' with few labels needs batches of {n} unlabelled images followed "
                             f"by labelled ones, got {real.shape[0]} rows")
        return real[:n], None, real[n:], labels[n:]

    def class_logits(self, x: Tensor, h: Optional[Tensor] = None) -> Tensor:
        """The labeller's logits of real images ``x`` (``h``: D's features of x when already computed)."""
        if self.C is not None and self.c_pretrained:
            self.C.eval()  # fixed: its batch statistics are the pre-trained ones
            return self.C(x) if self.clusters is None else self.clusters(self.C.trunk(x))
        if self.C is not None:
            return self.C(x)
        return self.class_head(self.D.net.trunk(x) if h is None else h)

    def uniform_labels(self, n: int) -> Tensor:
        return torch.randint(0, self.num_classes, (n,), device=self.device)

    # ------------------------------------------------------------ pre-training (s2gan, model.c_selfsup > 0)
    def pretrain(self, loader) -> Dict[str, float]:
        """Train C before the GAN (Lucic et al. 2019, Sec. 3.1): rotation prediction on the unlabelled images,
        then its linear classifier (or k-means clusters) from the labelled ones; C is fixed afterwards."""
        if not self.c_pretrained:
            return {}
        from ...train.optim import make_optimizer

        def batches():
            x_u, _, x_l, y_l = self.split(*loader.next())
            return x_u, x_l, y_l

        images = None
        if self.p.c_head == "kmeans":
            if hasattr(loader, "labelled_index"):  # few labels: the unlabelled rest, and the kept images once each
                k = len(loader.labelled_index)
                images = (loader.unlabelled.x, loader.labelled.x[:k], loader.labelled.y[:k])
            else:
                images = (loader.x, loader.x, loader.y)
        logs, clusters = pretrain_labeller(
            self.C, self.c_factory, batches, self.p.c_selfsup, self.p.c_probe,
            lambda ps: make_optimizer(self.cfg.optim["c"], ps), head=self.p.c_head, clusters=self.p.c_clusters,
            cluster_images=images, num_classes=self.num_classes, seed=self.cfg.seed)
        if clusters is not None:
            self.clusters.load_state_dict(clusters.state_dict())
        return logs

    # ------------------------------------------------------------ the steps
    def c_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        _, _, x_l, y_l = self.split(real, labels)
        logits = self.C(x_l).float()
        loss = F.cross_entropy(logits, y_l)
        return loss, {"c_loss": loss.detach(), "c_acc": (logits.argmax(1) == y_l).float().mean()}

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        x_u, y_u, x_l, y_l = self.split(real, labels)
        net = self.D.net
        h_u = net.trunk(x_u)
        if y_u is None:  # inferred: the labeller's most likely class (no gradient through the choice)
            with torch.no_grad():
                y_u = self.class_logits(x_u, h_u.detach()).argmax(1)
        d_real = net.head(h_u) + projection_term(h_u.flatten(1), self.D.embed(y_u))
        y_f = self.uniform_labels(x_u.shape[0])
        with torch.no_grad():
            fake = self.G(self.sample_z(x_u.shape[0]), y_f)
        loss = self.objective.d_loss(d_real, self.D(fake, y_f))
        logs = {"d_loss": loss.detach()}
        if self.class_head is not None:
            logits = self.class_head(h_u if x_l is x_u else net.trunk(x_l)).float()
            ce = F.cross_entropy(logits, y_l)
            logs.update(class_ce=ce.detach(), class_acc=(logits.argmax(1) == y_l).float().mean())
            loss = loss + self.p.class_weight * ce
        if self.rotation is not None:
            loss = add_rotation_term(loss, logs, net, self.rotation, x_u, self.p.rotation_d, "d")
        return loss, logs

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        n = self.local_batch
        y = self.uniform_labels(n)
        fake = self.G(self.sample_z(n), y)
        loss = self.objective.g_loss(self.D(fake, y), None)
        logs = {"g_loss": loss.detach()}
        loss = self.add_ortho(loss, logs)
        if self.rotation is not None:
            loss = add_rotation_term(loss, logs, self.D.net, self.rotation, fake, self.p.rotation_g, "g")
        return loss, logs

    @torch.no_grad()
    def classify(self, x: Tensor, chunk: int = 1000) -> Tensor:
        """The labeller's K class logits ``(N, K)`` of images ``x`` (eval mode, in chunks)."""
        parts_of = [m for m in (self.C, self.D, self.class_head, self.clusters) if m is not None]
        modes = [(m, m.training) for m in parts_of]
        for m in parts_of:
            m.eval()
        try:
            parts = [self.class_logits(x[i:i + chunk].to(self.device)).float() for i in range(0, len(x), chunk)]
        finally:
            for m, mode in modes:
                m.train(mode)
        return torch.cat(parts) if parts else torch.zeros(0, self.num_classes, device=self.device)


@dataclass
class S3GANParams(FewLabelParams):
    rotation_d: float = field(default=1.0, metadata=_rng(0.0))
    rotation_g: float = field(default=0.2, metadata=_rng(0.0))


class S2GAN(FewLabelBigGAN):
    """Lucic et al. 2019 (arXiv 1903.02271), S2GAN: labels of unlabelled images from a classifier of the few."""

    labeller = "classifier"
    optim_group_names = ("g", "d", "c")


class S2GANCO(FewLabelBigGAN):
    """Lucic et al. 2019, S2GAN-CO: labels from a class head on D's features trained jointly."""


class S3GAN(FewLabelBigGAN):
    """Lucic et al. 2019, S3GAN: S2GAN-CO plus the rotation loss of SS-GAN on D."""

    Params = S3GANParams


GANS.add("s2gan", S2GAN)
GANS.add("s2gan-co", S2GANCO)
GANS.add("s3gan", S3GAN)
