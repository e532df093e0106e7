"""Triple-GAN, Li, Xu, Zhu & Zhang 2017, "Triple Generative Adversarial Nets", arXiv 1703.02291.

Three players share one game on (image, label) pairs: a classifier C: x -> p_c(y | x), a conditional generator
G: (z, y) -> x and a discriminator D(x, y) that tells pairs from the data p(x, y) from the pairs C makes
(x ~ p(x), y ~ p_c(y | x)) and those G makes (y ~ p(y), x = G(z, y)). With D(x, y) = sigmoid(l(x, y)), the
practical objective (Eq. 5, with C's supervised and pseudo-discriminative terms) is

    min_{C, G} max_D  E_p log D(x, y) + alpha E_{p_c} log(1 - D(x, y)) + (1 - alpha) E_{p_g} log(1 - D(G(z, y), y))
                      + R_L + alpha_P R_P,
    R_L = E_{(x, y) labelled} -log p_c(y | x),     R_P = E_{p_g} -log p_c(y | G(z, y)).

The three steps (pure functions below, each composing the registered objective's ``d_loss`` / ``g_loss``):

* D (:func:`triplegan_d_loss`): ``alpha L(l(x_l, y_l), l(x_u, y_c)) + (1 - alpha) L(l(x_l, y_l), l(G(z, y_g), y_g))``
  with L the objective's D loss, which for the log loss is -log D(x_l, y_l) - alpha log(1 - D(x_u, y_c))
  - (1 - alpha) log(1 - D(G(z, y_g), y_g)): Eq. 5 with its two "fake" terms weighted alpha and 1 - alpha.
* G (:func:`triplegan_g_loss`): ``(1 - alpha) g_loss(l(G(z, y_g), y_g))``, by default the non-saturating
  -log D (the authors' code); ``objective=minimax`` gives the paper's log(1 - D).
* C (:func:`triplegan_c_loss`): ``alpha A + R_L + alpha_P R_P``. A is the expected G loss of C's own pairs,
  E_{x_u} sum_y p_c(y | x_u) c(x_u, y) with c = -log D (``minimax``: log(1 - D)); the labels are discrete, so its
  gradient is the paper's REINFORCE (score-function) estimate: for y_c drawn from p_c(y | x_u), C minimises
  mean log p_c(y_c | x_u) * c(x_u, y_c) with c held fixed (no gradient reaches D). R_L is C's cross-entropy
  on the labelled pairs, R_P its cross-entropy on G's pairs (G held fixed).

``model.c_adv=expect`` replaces the REINFORCE estimate of C's adversarial term by its exact value, D scoring each
unlabelled image with every one of the K labels: sum_y p_c(y | x_u) c(x_u, y), differentiated through p_c (K times
D's work in C's step; the authors' script offers it as "integrate").

Pseudo-labels (``model.pseudo``): ``sample`` draws y_c ~ p_c(y | x_u) (Gumbel-max; the paper's Algorithm 1),
afresh in each step (in C's step one draw serves both log p_c and D's cost); ``argmax`` takes the most likely
class (the authors' MNIST script, whose C term weights -log D(x_u, argmax) by p_c(argmax | x_u) and differentiates
through that probability; here the same REINFORCE form is used for both). R_P is switched on after
``model.alpha_p_start`` C updates (a buffer counted on the device and kept in checkpoints; the authors' MNIST script
switches it on after 300 of 1,000 epochs, once G's samples are good).

Networks (``model.arch=dcgan``, MNIST 28x28): G and D are CGAN's (:mod:`.base`, :mod:`.cgan`: the label's one-hot
code appended to z, and as constant channels of D's input or a projection term, ``model.d_cond``); C is DCGAN's
discriminator with ``outputs=K`` (conv 4x4/2 ``c_width`` - LeakyReLU - conv 4x4/2 - LeakyReLU - a 7x7 conv to the K
logits), without normalisation by default (``model.c_norm=none`` or ``layer``; not batch norm, whose running
statistics, used when C classifies test images, would average over the generated batches C trains on as well as
the real ones). ``model.arch=mlp``: fully connected G, D and C.

Optimiser groups: C has a group of its own, ``c`` (``optim.c.*``), next to ``g`` and ``d``: a GAN declares its
groups (``optim_group_names``) and phases, and the generic trainer makes one optimiser per group and runs the
phases in order (D, then C, then G; each on a fresh batch), so no trainer change is needed.

Data: ``data.labels=N`` (:mod:`gankit.data.fewlabels`): each batch is ``batch_size`` unlabelled images then the
labelled batch; D and C read x_u from the first ``batch_size`` rows and (x_l, y_l) from the rest, by position
(no host synchronisation). Without ``data.labels`` every image is labelled and serves as both. G's labels are
balanced, 0, 1, ..., K-1 in turn, ``batch_size`` of them (as the authors' code draws them).

Evaluation: ``classifies`` (``gankit eval`` reports C's test error, ``classifier_error``) and ``conditional``
(the reference classifier's ``class_accuracy`` of G's samples against their labels).

Penalties are refused: they differentiate D in its image input alone, at points between real and generated
images that carry different labels here.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Dict, List, Literal, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor

from ...config import _rng
from ...models import DCGANDiscriminator, MLPDiscriminator
from ...nn import LayerFactory, init_dcgan
from .. import GANS
from ..base import Phase, StepResult
from .base import ConditionalGAN, ConditionalParams
from .cgan import CGAN
from .semisupervised import class_error

#: the objectives Triple-GAN's log-loss game can be played with (D's loss is the same; G's and C's differ)
OBJECTIVES = ("nonsaturating", "minimax")


@dataclass
class TripleGANParams(ConditionalParams):
    """``model.*`` for Triple-GAN (G's and D's settings are the conditional GANs')."""

    arch: Literal["dcgan", "mlp"] = "dcgan"                # DCGAN-style G, D and C, or MLPs
    d_cond: Literal["concat", "projection"] = "concat"     # label into D: input channels, or a projection term
    c_width: int = field(default=32, metadata=_rng(1))     # C's base channels (dcgan)
    c_depth: int = field(default=3, metadata=_rng(1))      # C's hidden layers of width `hidden` (mlp)
    c_norm: Literal["none", "layer"] = "none"              # normalisation in C (no batch norm: see the docstring)
    # (C's LeakyReLU slope is d_slope)
    # weight of C's pairs vs G's; 0 (with alpha_p 0): C learns from the labelled images alone (the baseline)
    alpha: float = field(default=0.5, metadata=_rng(0.0, 1.0, False, True))
    pseudo: Literal["sample", "argmax"] = "sample"         # C's labels of unlabelled images: drawn, or argmax
    # C's adversarial gradient: REINFORCE on the pseudo-labels, or the exact expectation over the K labels
    c_adv: Literal["reinforce", "expect"] = "reinforce"
    alpha_p: float = field(default=0.1, metadata=_rng(0.0))                 # weight of R_P (0: off)
    alpha_p_start: int = field(default=0, metadata=_rng(0))                 # C updates before R_P is on


# ------------------------------------------------------------------ the losses (pure functions)
def pseudo_labels(logits: Tensor, mode: str = "sample", generator: Optional[torch.Generator] = None) -> Tensor:
    """C's labels of images from its logits ``(N, K)``: ``sample`` draws y ~ softmax(logits) by the Gumbel-max
    trick (argmax of logits + Gumbel noise; no host synchronisation), ``argmax`` the most likely class."""
    logits = logits.detach().float()
    if mode == "argmax":
        return logits.argmax(1)
    u = torch.rand(logits.shape, generator=generator, device="cpu" if generator is not None else logits.device)
    u = u.to(logits.device).clamp_(min=torch.finfo(torch.float32).tiny)
    return (logits - torch.log(-torch.log(u))).argmax(1)


def per_sample_g_loss(objective, d: Tensor) -> Tensor:
    """The objective's G loss of each sample: ``g_loss`` applied to one logit at a time (``(N,) -> (N,)``), so that
    its mean is ``objective.g_loss(d)``: -log D (nonsaturating) or log(1 - D) (minimax)."""
    return torch.vmap(lambda v: objective.g_loss(v.unsqueeze(0)))(d.float())


def triplegan_d_loss(objective, d_data: Tensor, d_c: Tensor, d_g: Tensor, alpha: float) -> Tensor:
    """D's loss from its logits on the labelled data pairs, C's pairs and G's pairs:
    ``alpha L(data, C) + (1 - alpha) L(data, G)``, L = ``objective.d_loss``; for the log loss
    -E log D(x_l, y_l) - alpha E log(1 - D(x_u, y_c)) - (1 - alpha) E log(1 - D(G(z, y), y))."""
    return alpha * objective.d_loss(d_data, d_c) + (1 - alpha) * objective.d_loss(d_data, d_g)


def triplegan_g_loss(objective, d_g: Tensor, alpha: float) -> Tensor:
    """G's loss: ``(1 - alpha) g_loss(D's logits on G's pairs)``."""
    return (1 - alpha) * objective.g_loss(d_g)


def triplegan_c_loss(logits_u: Tensor, y_c: Optional[Tensor], cost_c: Tensor, logits_l: Tensor, y_l: Tensor,
                     logits_g: Tensor, y_g: Tensor, alpha: float, alpha_p) -> Tuple[Tensor, Dict[str, Tensor]]:
    """C's loss and its terms.

    ``logits_u`` (N, K): C's logits on the unlabelled images, ``y_c`` (N,) the pseudo-labels drawn from them and
    ``cost_c`` (N,) the G loss of each pair (x_u, y_c) under D (e.g. -log D; no gradient is taken through it);
    ``logits_l``/``y_l``: C on the labelled pairs; ``logits_g``/``y_g``: C on G's pairs; ``alpha_p``: R_P's weight
    (a float or a 0-d tensor). Returns ``(surrogate, terms)``: the surrogate
    ``alpha mean(log p_c(y_c | x_u) cost_c) + R_L + alpha_p R_P`` has the REINFORCE gradient of C's loss, and
    ``terms`` holds ``adv`` = mean cost_c (the estimate of E_{p_c} cost), ``sup`` = R_L, ``pseudo`` = R_P and
    ``loss`` = alpha adv + R_L + alpha_p R_P (C's loss itself), all detached.

    ``cost_c`` of shape (N, K), the cost of each image with every label (``y_c`` unused, may be None): the adversarial term is
    then the exact expectation ``mean_i sum_y p_c(y | x_i) cost_c[i, y]``, differentiated through p_c, with no
    sampling noise (the authors' script's "integrate" option)."""
    cost_c = cost_c.detach().float()
    if cost_c.dim() == 2:  # the cost of every label (N, K): the exact expectation E_{p_c} cost (model.c_adv=expect)
        score = (F.softmax(logits_u.float(), 1) * cost_c).sum(1).mean()
        adv = score.detach()
    else:
        log_p = F.log_softmax(logits_u.float(), 1).gather(1, y_c.long()[:, None]).squeeze(1)
        score = (log_p * cost_c).mean()
        adv = cost_c.mean()
    r_l = F.cross_entropy(logits_l.float(), y_l.long())
    r_p = F.cross_entropy(logits_g.float(), y_g.long())
    surrogate = alpha * score + r_l + alpha_p * r_p
    terms = {"adv": adv, "sup": r_l.detach(), "pseudo": r_p.detach(),
             "loss": (alpha * adv + r_l + alpha_p * r_p).detach()}
    return surrogate, terms


# ------------------------------------------------------------------ the GAN
class TripleGAN(ConditionalGAN):
    """Li et al. 2017 (arXiv 1703.02291): a classifier C, a conditional generator G and a discriminator of
    (x, y) pairs; C and G both play against D, and C also learns from the labelled pairs and from G's."""

    Params = TripleGANParams
    optim_group_names = ("g", "d", "c")
    few_labels = True
    classifies = True

    objectives = OBJECTIVES
    objectives_why = "plays Triple-GAN's log-loss game (Li et al. 2017)"
    no_penalties_why = "they differentiate D in its image input alone, but its D judges (x, y) pairs"

    # ------------------------------------------------------------ networks
    build_d = CGAN.build_d  # D(x, y): CGAN's label channels (or projection), on DCGAN's or the MLP's D

    def build(self, info):
        G, D = super().build(info)  # CGAN's conditional G and D
        p, K = self.p, self.num_classes
        factory = LayerFactory(norm=p.c_norm, act="lrelu", slope=p.d_slope)
        if p.arch == "mlp":
            self.C = MLPDiscriminator(info.shape, p.hidden, p.c_depth, factory, outputs=K)
        else:
            self.C = DCGANDiscriminator(tuple(info.shape), p.c_width, factory, outputs=K)
            init_dcgan(self.C)
        # C's updates so far: R_P is on once alpha_p_start are done (state of the GAN, saved in checkpoints)
        self.register_buffer("c_updates", torch.zeros((), dtype=torch.long))
        return G, D

    def optim_groups(self) -> Dict[str, list]:
        return {"g": list(self.G.parameters()), "d": list(self.D.parameters()), "c": list(self.C.parameters())}

    def phases(self) -> List[Phase]:
        return [Phase("d", self.d_step, self.cfg.train.n_critic), Phase("c", self.c_step), Phase("g", self.g_step)]

    def after_step(self, group: str) -> None:
        if group == "c":
            self.c_updates += 1

    # ------------------------------------------------------------ the steps
    def split(self, real: Tensor, labels: Optional[Tensor]) -> Tuple[Tensor, Tensor, Tensor]:
        """``(x_u, x_l, y_l)``: with ``data.labels`` the first ``batch_size`` rows (unlabelled) and the rest
        (labelled, with their labels); without it every row is both."""
        labels = self.labels_of(labels)
        if not self.cfg.data.few_labels:
            return real, real, labels
        n = self.local_batch
        if real.shape[0] <= n:
            raise ValueError(f"GAN '{self.cfg.gan}' with data.labels needs batches of {n} unlabelled images followed "
                             f"by labelled ones, got {real.shape[0]} rows")
        return real[:n], real[n:], labels[n:]

    def generated(self, n: int) -> Tuple[Tensor, Tensor]:
        """``(G(z, y), y)`` for ``n`` balanced labels and fresh z."""
        y = self.sample_labels(n)
        return self.G(self.sample_z(n), y), y

    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        x_u, x_l, y_l = self.split(real, labels)
        with torch.no_grad():  # C's and G's outputs are inputs of D here
            y_c = pseudo_labels(self.C(x_u), self.p.pseudo)
            x_g, y_g = self.generated(self.local_batch)
        d_data, d_c, d_g = self.D(x_l, y_l), self.D(x_u, y_c), self.D(x_g, y_g)
        loss = triplegan_d_loss(self.objective, d_data, d_c, d_g, self.p.alpha)
        return loss, {"d_loss": loss.detach()}

    def c_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        x_u, x_l, y_l = self.split(real, labels)
        logits_u = self.C(x_u)
        y_c = None if self.p.c_adv == "expect" else pseudo_labels(logits_u, self.p.pseudo)  # no draw when unused
        with torch.no_grad():  # D and G are fixed in C's step
            if y_c is None:  # D on every (x_u, y): cost (N, K)
                n, k = x_u.shape[0], self.num_classes
                every = torch.arange(k, device=x_u.device).repeat(n)
                cost_c = per_sample_g_loss(self.objective, self.D(x_u.repeat_interleave(k, 0), every)).view(n, k)
            else:
                cost_c = per_sample_g_loss(self.objective, self.D(x_u, y_c))
            if self.p.alpha_p > 0:
                x_g, y_g = self.generated(self.local_batch)
        logits_l = self.C(x_l)
        if self.p.alpha_p > 0:
            logits_g = self.C(x_g)
            w = self.p.alpha_p * (self.c_updates >= self.p.alpha_p_start).float()
        else:  # R_P off: no generated batch, its term weighs 0
            logits_g, y_g, w = logits_l, y_l, 0.0
        loss, t = triplegan_c_loss(logits_u, y_c, cost_c, logits_l, y_l, logits_g, y_g, self.p.alpha, w)
        logs = {"c_loss": t["loss"], "c_adv": t["adv"], "c_sup": t["sup"],
                "c_class_err": class_error(logits_l.detach(), y_l)}
        if self.p.alpha_p > 0:
            logs["c_pseudo"] = t["pseudo"]
        return loss, logs

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        x_g, y_g = self.generated(self.local_batch)
        loss = triplegan_g_loss(self.objective, self.D(x_g, y_g), self.p.alpha)
        return loss, {"g_loss": loss.detach()}

    # ------------------------------------------------------------ the classifier
    @torch.no_grad()
    def classify(self, x: Tensor, chunk: int = 1000) -> Tensor:
        """C's K class logits ``(N, K)`` (float, on the GAN's device) of images ``x``, in eval mode and in chunks."""
        was_training = self.C.training
        self.C.eval()
        try:
            parts = [self.C(x[i:i + chunk].to(self.device)).float() for i in range(0, len(x), chunk)]
        finally:
            self.C.train(was_training)
        return torch.cat(parts) if parts else torch.zeros(0, self.num_classes, device=self.device)


GANS.add("triplegan", TripleGAN)
