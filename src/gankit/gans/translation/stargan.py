"""StarGAN, Choi, Choi, Kim, Ha, Kim & Choo 2017, "StarGAN: Unified Generative Adversarial Networks for
Multi-Domain Image-to-Image Translation", arXiv 1711.09020.

One generator translates an image into any domain: G(x, c) takes the target attribute vector c as constant
input channels (Sec. 3.1). D has two heads on one trunk (:class:`gankit.models.translation.MultiDomainDiscriminator`):
D_src, real or fake per patch, and D_cls, the attributes. With the Wasserstein loss and a gradient penalty
(Sec. 3.3, Eq. 8, lambda_gp = 10) the objectives are (Eq. 5 and 6)

    L_D = -L_adv + lambda_cls L_cls^r,      L_cls^r = E -log D_cls(c' | x)       (the real image's attributes c')
    L_G =  L_adv + lambda_cls L_cls^f + lambda_rec L_rec,
    L_cls^f = E -log D_cls(c | G(x, c)),    L_rec = E |x - G(G(x, c), c')|_1      (cycle back with c'),

lambda_cls = 1, lambda_rec = 10. The attribute losses are a sigmoid cross-entropy per attribute, summed over the
attributes and averaged over the batch, as in the authors' code. Targets c are the attribute vectors of the same
batch in a random order (so every domain is a target in the data's proportions). Nets: the ResNet G of CycleGAN
with instance norm (Appendix, Table 4) and input channels for c; Adam(1e-4, beta1 0.5, beta2 0.999), five D
updates per G update (Sec. 4.3 / Appendix 7).

Data: ``mnist-attributes`` (:mod:`gankit.data.attributes`): colour (red, green, blue; one-hot), thick, rotated.

**Mask vector** (Sec. 3.2), for data whose parts carry different label sets (the paper: CelebA's attributes and
RaFD's expressions): ``model.label_sets="red,green,blue;thick,rotated"`` splits the attributes into sets, as if
each came from its own dataset. The label G receives is ``[c restricted to one set (the rest zero: unknown), m]``
with m the one-hot mask of that set; D's attribute loss reads only that set's attributes. Each iteration (its D
updates and G update) uses one set, drawn uniformly, as the paper alternates between datasets; here both "datasets"
are the same images with only one set's labels visible per iteration, so the mechanism, not a second dataset, is
what is exercised. ``gankit translate RUN --to blue`` then changes one set's attributes (all named ones must be
in one set) and is expected to keep the others; the evaluation scores that.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Optional

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...config import Config, _rng
from ...errors import ConfigError, GankitError
from ...models.translation import MultiDomainDiscriminator, ResnetGenerator
from .. import GANS
from ..base import GAN, StepResult
from .base import Translator, to_rgb

ATTRIBUTE_SETS = ("mnist-attributes",)


@dataclass
class StarGANParams:
    """``model.*`` of StarGAN."""

    g_width: int = field(default=64, metadata=_rng(1))
    d_width: int = field(default=64, metadata=_rng(1))
    blocks: int = field(default=6, metadata=_rng(0))
    d_layers: int = field(default=6, metadata=_rng(1))
    lambda_cls: float = field(default=1.0, metadata=_rng(0.0))
    lambda_rec: float = field(default=10.0, metadata=_rng(0.0))
    label_sets: str = ""  # the mask vector's label sets, e.g. "red,green,blue;thick,rotated" ("": one set, no mask)


class LabelSets:
    """StarGAN's mask vector (Choi et al. 2017, Sec. 3.2): the attributes split into label sets, parsed from
    ``"a,b;c,d"``. A one-hot group (the colours) must lie inside one set; an attribute may be in at most one."""

    def __init__(self, spec: str, attributes, groups):
        names = [a.lower() for a in attributes]
        self.sets = []
        for part in str(spec).split(";"):
            words = [w.strip().lower() for w in part.split(",") if w.strip()]
            unknown = [w for w in words if w not in names]
            if unknown or not words:
                raise ConfigError(f"config: model.label_sets: unknown attribute '{unknown[0] if unknown else part}'; "
                                  f"attributes: {', '.join(names)} (sets separated by ';', e.g. 'red,green,blue;thick')")
            self.sets.append(sorted(names.index(w) for w in words))
        flat = [i for s in self.sets for i in s]
        if len(flat) != len(set(flat)):
            raise ConfigError("config: model.label_sets: an attribute is in more than one set")
        if len(self.sets) < 2:
            raise ConfigError("config: model.label_sets needs at least two sets separated by ';' (one set: leave it "
                              "empty)")
        for group in groups:
            owners = {k for k, s in enumerate(self.sets) if set(group) & set(s)}
            if len(owners) > 1 or (owners and not set(group) <= set(self.sets[owners.pop()])):
                raise ConfigError(f"config: model.label_sets: the one-hot group "
                                  f"{', '.join(names[i] for i in group)} must be whole, in one set")
        self.names = names
        self.member = torch.zeros(len(self.sets), len(names))
        for k, s in enumerate(self.sets):
            self.member[k, s] = 1.0

    def __len__(self) -> int:
        return len(self.sets)

    def of(self, names) -> int:
        """The set holding all the given attribute indices (GankitError otherwise)."""
        owners = {k for k, s in enumerate(self.sets) for i in names if i in s}
        if len(owners) != 1 or not all(any(i in s for s in self.sets) for i in names):
            raise GankitError("with a mask vector (model.label_sets) the attributes to translate into must all be in "
                              "one label set: " + "; ".join(",".join(self.names[i] for i in s) for s in self.sets))
        return owners.pop()

    def g_input(self, c: Tensor, k: Tensor) -> Tensor:
        """``[c with the attributes outside set k[i] zeroed, one-hot mask of k[i]]`` per row (``k``: ``(N,)``)."""
        return torch.cat([c * self.members(k, c.device), F.one_hot(k, len(self.sets)).to(c.dtype)], 1)

    def members(self, k: Tensor, device) -> Tensor:
        """``(N, A)`` 1 where attribute a is in row i's set."""
        return self.member.to(device)[k]


class AttributeConditioned(nn.Module):
    """``G(x, c)``: the attribute vector c appended to the image as constant channels."""

    def __init__(self, net: nn.Module):
        super().__init__()
        self.net = net

    def forward(self, x: Tensor, c: Tensor) -> Tensor:
        maps = c.to(x.dtype)[:, :, None, None].expand(-1, -1, x.shape[-2], x.shape[-1])
        return self.net(torch.cat([x, maps], 1))


def attribute_loss(logits: Tensor, target: Tensor) -> Tensor:
    """Sigmoid cross-entropy summed over the attributes, averaged over the batch."""
    return F.binary_cross_entropy_with_logits(logits, target, reduction="sum") / logits.shape[0]


class StarGAN(Translator):
    """Choi et al. 2017 (arXiv 1711.09020): one G for every domain, D with a domain-classifier head, WGAN-GP."""

    Params = StarGANParams
    default_objective = "wgan"
    objectives = ("wgan",)
    objectives_why = "uses the Wasserstein loss of its paper (Eq. 8, with the gradient penalty)"
    directions = ()
    takes_domains = False  # its data is an attribute set, not a translation set

    @classmethod
    def validate(cls, cfg: Config) -> None:
        GAN.validate(cfg)
        if cfg.data.name not in ATTRIBUTE_SETS:
            raise ConfigError(f"config: GAN '{cfg.gan}' translates between attribute domains; data.name must be "
                              f"{' or '.join(ATTRIBUTE_SETS)}, got '{cfg.data.name}'")
        spec = cfg.model.get("label_sets") if isinstance(cfg.model, dict) else None
        if spec:  # fail before any work: the names are mnist-attributes'
            from ...data.attributes import ATTRIBUTES, GROUPS

            LabelSets(spec, ATTRIBUTES, GROUPS)

    @property
    def attributes(self):
        return self.info.attributes

    #: the mask vector's label sets (None: every attribute known, no mask)
    label_sets: Optional[LabelSets] = None

    def build(self, info):
        p, c, a = self.p, info.shape[0], len(info.attributes)
        if p.label_sets:
            self.label_sets = LabelSets(p.label_sets, info.attributes, info.attribute_groups)
        extra = len(self.label_sets) if self.label_sets else 0
        G = AttributeConditioned(ResnetGenerator(c + a + extra, c, p.g_width, p.blocks, norm="instance", pad="zero"))
        D = MultiDomainDiscriminator(c, info.shape[-1], a, p.d_width, p.d_layers)
        self._set: Optional[int] = None
        return G, D

    # ------------------------------------------------------------ the mask vector
    def current_set(self) -> Optional[int]:
        """This iteration's label set (drawn at its first D update from the CPU generator, kept until G's)."""
        if self.label_sets is None:
            return None
        if self._set is None:
            self._set = int(torch.randint(len(self.label_sets), (1,)))
        return self._set

    def g_label(self, c: Tensor, k: Optional[int]) -> Tensor:
        """What G reads: ``c``, or with a mask vector ``[c restricted to set k, mask k]``."""
        if k is None:
            return c
        return self.label_sets.g_input(c, torch.full((c.shape[0],), k, dtype=torch.long, device=c.device))

    def known(self, k: Optional[int]):
        """The attribute columns whose labels the iteration knows (all, or set k's)."""
        return slice(None) if k is None else self.label_sets.sets[k]

    # ------------------------------------------------------------ steps
    @staticmethod
    def split_labels(labels: Tensor):
        """``(classes, attribute vectors as floats)`` of a batch's label rows."""
        return labels[:, 0], labels[:, 1:].float()

    def targets(self, c_org: Tensor) -> Tensor:
        return c_org[torch.randperm(c_org.shape[0], device=c_org.device)]

    def d_step(self, real: Tensor, labels) -> StepResult:
        _, c_org = self.split_labels(labels)
        k = self.current_set()
        with torch.no_grad():
            fake = self.G(real, self.g_label(self.targets(c_org), k))
        src_r, cls_r = self.D(real)
        src_f, _ = self.D(fake)
        adv = self.objective.d_loss(src_r, src_f)
        cols = self.known(k)
        cls = attribute_loss(cls_r[:, cols], c_org[:, cols])
        loss = adv + self.p.lambda_cls * cls
        return self.add_penalties(loss, {"d_loss": adv.detach(), "d_cls": cls.detach()}, real, fake,
                                  D=lambda x: self.D(x)[0])

    def g_step(self, real: Tensor, labels) -> StepResult:
        _, c_org = self.split_labels(labels)
        k = self.current_set()
        self._set = None  # the next iteration draws its own set
        c_trg = self.targets(c_org)
        fake = self.G(real, self.g_label(c_trg, k))
        src_f, cls_f = self.D(fake)
        adv = self.objective.g_loss(src_f)
        cols = self.known(k)
        cls = attribute_loss(cls_f[:, cols], c_trg[:, cols])
        rec = (real - self.G(fake, self.g_label(c_org, k))).abs().mean()
        loss = adv + self.p.lambda_cls * cls + self.p.lambda_rec * rec
        return loss, {"g_loss": adv.detach(), "g_cls": cls.detach(), "rec": rec.detach()}

    # ------------------------------------------------------------ translating
    def target(self, to: Optional[str] = None) -> Tensor:
        """``--to red,thick``: the named attributes on, the others off (one colour of the one-hot group)."""
        if not to:
            raise GankitError(f"give the target attributes to translate into, comma-separated, from: "
                              f"{', '.join(self.attributes)} (e.g. --to red,thick)")
        names = [w.strip().lower() for w in str(to).split(",") if w.strip()]
        unknown = [w for w in names if w not in self.attributes]
        if unknown:
            raise GankitError(f"unknown attribute '{unknown[0]}'; attributes: {', '.join(self.attributes)}")
        c = torch.tensor([1.0 if a in names else 0.0 for a in self.attributes])
        if self.label_sets is not None:  # the named attributes' set; the others are left to G
            k = self.label_sets.of([self.attributes.index(a) for a in names])
            for group in self.info.attribute_groups:
                if set(group) <= set(self.label_sets.sets[k]) and int(c[list(group)].sum()) != 1:
                    raise GankitError(f"choose exactly one of {', '.join(self.attributes[i] for i in group)}")
            return self.label_sets.g_input(c[None], torch.tensor([k]))[0]
        for group in self.info.attribute_groups:
            if int(c[list(group)].sum()) != 1:
                raise GankitError(f"choose exactly one of {', '.join(self.attributes[i] for i in group)}")
        return c

    def input_channels(self, target) -> int:
        return self.info.shape[0]

    def describe(self, target) -> str:
        values = target.tolist()[:len(self.attributes)]
        on = [a for a, v in zip(self.attributes, values) if v]
        if self.label_sets is not None:
            k = int(target[len(self.attributes):].argmax())
            names = [self.attributes[i] for i in self.label_sets.sets[k]]
            return f"{'+'.join(on) or 'none'} of the label set {','.join(names)}"
        return f"the domain {'+'.join(on)}"

    @torch.no_grad()
    def translate(self, x: Tensor, target: Tensor = None, ema: bool = True, chunk: int = 500) -> Tensor:
        """Images ``x`` translated to attribute vectors ``target`` (one ``(A,)`` for all, or ``(N, A)``)."""
        if x.dim() != 4 or tuple(x.shape[1:]) != tuple(self.info.shape):
            raise GankitError(f"images to translate must have shape (N, {', '.join(map(str, self.info.shape))}), "
                              f"got {tuple(x.shape)}")
        target = torch.as_tensor(target, dtype=torch.float32, device=self.device)
        if target.dim() == 1:
            target = target.expand(x.shape[0], -1)
        G = self.G_ema if (ema and self.G_ema is not None) else self.G
        was = G.training
        G.eval()
        try:
            parts = [G(x[i:i + chunk].to(self.device), target[i:i + chunk]) for i in range(0, x.shape[0], chunk)]
        finally:
            G.train(was)
        return torch.cat(parts).float() if parts else x.new_zeros((0,) + tuple(self.info.shape))

    def seeded_targets(self, n: int, seed: int) -> Tensor:
        """``n`` attribute vectors drawn uniformly over the domains (seeded); with a mask vector, each restricted to
        a label set drawn uniformly, with its mask: what G reads."""
        from ...data.attributes import random_attributes

        g = torch.Generator().manual_seed(seed)
        c = random_attributes(n, g).float()
        if self.label_sets is not None:
            c = self.label_sets.g_input(c, torch.randint(len(self.label_sets), (n,), generator=g))
        return c.to(self.device)

    def expected_attributes(self, targets: Tensor, c_org: Tensor) -> Tensor:
        """The attributes a translation into ``targets`` should show: the target's, or with a mask vector the
        target's within its set and the source's outside it (those G was not asked to change)."""
        a = len(self.attributes)
        if self.label_sets is None:
            return targets[:, :a]
        inside = self.label_sets.members(targets[:, a:].argmax(1), targets.device)
        return targets[:, :a] * inside + c_org * (1 - inside)

    def source_label(self, targets: Tensor, c_org: Tensor) -> Tensor:
        """G's label for translating back to the source: ``c_org`` (with a mask vector: restricted to the target's
        set, with its mask)."""
        if self.label_sets is None:
            return c_org
        return self.label_sets.g_input(c_org, targets[:, len(self.attributes):].argmax(1))

    @torch.no_grad()
    def sample_with_labels(self, n: int, seed: int = 0, ema: bool = True, chunk: int = 1000,
                           labels: Optional[Tensor] = None, truncation: Optional[float] = None):
        """The first ``n`` test images, each translated into a random domain (seeded), with their classes."""
        x, y = self.images_to_sample(n, labels, truncation)
        return self.translate(x, self.seeded_targets(n, seed), ema, chunk), y[:, 0]

    def sample_grid(self, n: int, seed: int = 0):
        """A column per test image: the input, then its translation into each colour and with thick and rotated
        each switched (the others kept)."""
        per = 8
        x, y = self.task_data()
        x, c = x[:per], y[:per, 1:].float()
        rows = [x]
        for change in self.grid_changes(c):
            if self.label_sets is not None:  # each change in the set of the attribute it changes
                diff = (change != c).any(0).nonzero().flatten().tolist() or [0]
                try:
                    k = self.label_sets.of(diff)
                except GankitError:  # an attribute in no set: G cannot be asked for it
                    continue
                change = self.label_sets.g_input(change, torch.full((len(change),), k, dtype=torch.long))
            rows.append(self.translate(x, change))
        return torch.cat([to_rgb(r) for r in rows]), per

    def grid_changes(self, c: Tensor):
        """The targets of the picture: each colour of the one-hot group in turn, then each other attribute
        switched."""
        out = []
        grouped = {i for g in self.info.attribute_groups for i in g}
        for group in self.info.attribute_groups:
            for i in group:
                t = c.clone()
                t[:, list(group)] = 0
                t[:, i] = 1
                out.append(t)
        for i in range(len(self.attributes)):
            if i not in grouped:
                t = c.clone()
                t[:, i] = 1 - t[:, i]
                out.append(t)
        return out

    def evaluate_task(self, n: int = 2500, seed: int = 0, split: str = "test", root=None) -> dict:
        from ...metrics.translation import attribute_translation_metrics

        return attribute_translation_metrics(self, n=n, seed=seed, split=split, root=root)


GANS.add("stargan", StarGAN)
