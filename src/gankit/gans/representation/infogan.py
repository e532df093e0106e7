"""InfoGAN, Chen, Duan, Houthooft, Schulman, Sutskever & Abbeel 2016, "InfoGAN: Interpretable
Representation Learning by Information Maximizing Generative Adversarial Nets", arXiv 1606.03657.

G's input is noise z and a latent code c; no labels are used. The GAN objective gets a term that
maximises a variational lower bound of the mutual information I(c; G(z, c)) (Sec. 5, Eq. 4-6):

    L_I(G, Q) = E_{c ~ P(c), x ~ G(z, c)} [log Q(c | x)] + H(c)  <=  I(c; G(z, c)),
    min_{G, Q} max_D  V(D, G) - lambda L_I(G, Q).

Q(c | x) is a head on D's trunk (Sec. 6: "Q and D share all convolutional layers"; Appendix C: a
128-unit hidden layer with batch norm and LeakyReLU, then the code's parameters): here
:class:`~gankit.nn.AuxClassifierDiscriminator` with the Q head in place of a class head, so D's
source head and Q read the same features from one pass.

MNIST (Sec. 7.2): one 10-way categorical code c1 ~ Cat(K = 10, p = 0.1) and two continuous codes
c2, c3 ~ U(-1, 1), appended to 62 noise variables. Q is a softmax over K for c1 and a factored
Gaussian for the continuous codes, with its standard deviation fixed at 1 (the authors' code,
github.com/openai/InfoGAN, launchers/run_mnist_exp.py: ``Uniform(1, fix_std=True)``; ``model.cont_std=
learned`` lets Q predict log sigma too). lambda = 1 for both kinds (MODELS.md; the authors' code uses
one ``info_reg_coeff = 1.0``; with a fixed sigma the continuous term is a squared error of bounded scale,
so the smaller lambda the paper mentions for learned-variance codes is not needed). The noise is
U(-1, 1)^62 as in the authors' code (``model.noise=normal`` for N(0, I)).

How it is wired here: the categorical code is G's label, ``G(z, y=c1)`` (the one-hot appended to z,
the conditioning part of :mod:`gankit.nn.conditioning`), and the continuous codes are the last
``model.continuous`` entries of what :meth:`InfoGAN.sample_z` draws. So sampling, the picture with a row
per code value, and ``gankit sample --code c=K`` use the conditional path, while evaluation matches code
values to the reference classifier's classes (``code_accuracy``). Q has no optimiser group of its own:
its head is part of D and, as in the authors' code (Q's layers inside D's variable scope), D's
optimiser minimises ``d_loss - lambda L_I`` and G's minimises ``g_loss - lambda L_I``; both phases
draw fresh codes and score Q on the fakes they generate.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Dict, Literal, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ...config import _rng
from ...nn import AuxClassifierDiscriminator
from .. import GANS
from ..base import StepResult
from ..conditional.base import ConditionalGAN, ConditionalParams


@dataclass
class InfoGANParams(ConditionalParams):
    """``model.*`` for InfoGAN (z_dim: the noise only; the codes come on top)."""

    z_dim: int = field(default=62, metadata=_rng(1))
    categories: int = field(default=10, metadata=_rng(2))        # values of the categorical code c1
    continuous: int = field(default=2, metadata=_rng(0))         # continuous codes, each U(-1, 1)
    noise: Literal["uniform", "normal"] = "uniform"              # z ~ U(-1, 1)^z_dim or N(0, I)
    q_hidden: int = field(default=128, metadata=_rng(1))         # Q head: FC q_hidden - norm - LeakyReLU - FC
    lambda_cat: float = field(default=1.0, metadata=_rng(0.0))   # weight of the categorical code's L_I
    lambda_cont: float = field(default=1.0, metadata=_rng(0.0))  # weight of the continuous codes' L_I
    cont_std: Literal["fixed", "learned"] = "fixed"              # Q's Gaussian: sigma 1, or predicted log sigma


def mutual_information_bound(cat_logits: Optional[Tensor], cat: Optional[Tensor],
                             cont_mean: Optional[Tensor] = None, cont: Optional[Tensor] = None,
                             cont_log_std: Optional[Tensor] = None,
                             cont_low: float = -1.0, cont_high: float = 1.0) -> Tuple[Tensor, Tensor]:
    """``(L_cat, L_cont)``: Chen et al.'s lower bound L_I = E[log Q(c | x)] + H(c) (arXiv 1606.03657,
    Lemma 5.1), in nats, averaged over the batch, for each kind of code.

    * categorical: ``cat_logits`` (N, K) are Q's logits for the codes ``cat`` (N,) drawn uniformly,
      so H(c) = log K and L_cat = mean log softmax(cat_logits)[cat] + log K (at most log K);
    * continuous: Q(c | x) = prod_j N(c_j; cont_mean_j, sigma_j^2) with sigma = 1 or
      exp(``cont_log_std``), codes ``cont`` (N, d) drawn from U(cont_low, cont_high)^d, whose entropy is
      d log(cont_high - cont_low).

    A kind that is not given (None) contributes 0."""
    ref = cat_logits if cat_logits is not None else cont_mean
    zero = ref.new_zeros((), dtype=torch.float32) if ref is not None else torch.zeros(())
    l_cat = l_cont = zero
    if cat_logits is not None and cat_logits.shape[1] > 0:
        logp = F.log_softmax(cat_logits.float(), dim=1).gather(1, cat.long().view(-1, 1)).squeeze(1)
        l_cat = logp.mean() + math.log(cat_logits.shape[1])
    if cont_mean is not None and cont_mean.shape[1] > 0:
        mean, c = cont_mean.float(), cont.float()
        log_std = torch.zeros_like(mean) if cont_log_std is None else cont_log_std.float()
        logq = -0.5 * ((c - mean) * torch.exp(-log_std)) ** 2 - log_std - 0.5 * math.log(2 * math.pi)
        l_cont = logq.sum(1).mean() + mean.shape[1] * math.log(cont_high - cont_low)
    return l_cat, l_cont


class InfoGAN(ConditionalGAN):
    """Chen et al. 2016 (arXiv 1606.03657): a categorical and continuous latent codes, Q on D's trunk."""

    Params = InfoGANParams
    code_labels = True  # G's labels are the categorical code, not the data's classes
    eager_d_why = ("D is called through outputs (eager) and forward in one loss; a compiled forward's update of batch "
                   "norm's running statistics changes a tensor the eager call's backward keeps")

    # ------------------------------------------------------------ networks
    @property
    def num_classes(self) -> int:  # the values of the categorical code (no data labels are used)
        return self.p.categories

    @property
    def latent_dim(self) -> int:
        return self.p.z_dim + self.p.continuous

    def build_d(self, info, num_classes: int) -> nn.Module:
        net, f, p = self.d_net(info.shape), self.d_factory(), self.p
        out = num_classes + p.continuous * (2 if p.cont_std == "learned" else 1)
        q = nn.Sequential(f.linear(net.feature_dim, p.q_hidden), f.norm_layer(p.q_hidden, dims=1), f.activation(),
                          f.linear(p.q_hidden, out))
        return AuxClassifierDiscriminator(net, q)

    # ------------------------------------------------------------ codes
    def latent_is_gaussian(self) -> bool:
        return False  # the continuous codes are U(-1, 1) even with model.noise=normal

    def sample_z(self, n: int, generator: Optional[torch.Generator] = None) -> Tensor:
        """``(n, z_dim + continuous)``: the noise, then the continuous codes (U(-1, 1) each)."""
        device = "cpu" if generator is not None else self.device  # CPU generator: same draws on every device
        if self.p.noise == "uniform":
            noise = torch.rand(n, self.p.z_dim, generator=generator, device=device) * 2 - 1
        else:
            noise = torch.randn(n, self.p.z_dim, generator=generator, device=device)
        cont = torch.rand(n, self.p.continuous, generator=generator, device=device) * 2 - 1
        return torch.cat([noise, cont], 1).to(self.device)

    def draw(self, n: int) -> Tuple[Tensor, Tensor]:
        """Fresh ``(z with the continuous codes, categorical codes)`` for a training step."""
        return self.sample_z(n), torch.randint(self.p.categories, (n,), device=self.device)

    def info_terms(self, q_out: Tensor, z: Tensor, cat: Tensor) -> Tuple[Tensor, Tensor]:
        """L_I's two parts for Q's output ``q_out`` on G(z, cat)."""
        K, d = self.p.categories, self.p.continuous
        log_std = q_out[:, K + d:K + 2 * d] if self.p.cont_std == "learned" else None
        if log_std is not None:
            log_std = log_std.clamp(-5.0, 5.0)  # keeps exp(-log sigma) finite early in training
        return mutual_information_bound(q_out[:, :K], cat, q_out[:, K:K + d], z[:, self.p.z_dim:], log_std)

    def info_loss(self, q_out: Tensor, z: Tensor, cat: Tensor, logs: Dict[str, Tensor]) -> Tensor:
        l_cat, l_cont = self.info_terms(q_out, z, cat)
        logs["info_cat"], logs["info_cont"] = l_cat.detach(), l_cont.detach()
        return -(self.p.lambda_cat * l_cat + self.p.lambda_cont * l_cont)

    # ------------------------------------------------------------ the steps (labels unused)
    def d_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        z, cat = self.draw(real.shape[0])
        with torch.no_grad():
            fake = self.G(z, cat)
        src_fake, q_fake = self.D.outputs(fake)
        adv = self.objective.d_loss(self.D(real), src_fake)
        logs = {"d_loss": adv.detach()}
        loss = adv + self.info_loss(q_fake, z, cat, logs)
        return self.add_penalties(loss, logs, real, fake)

    def g_step(self, real: Tensor, labels: Optional[Tensor]) -> StepResult:
        z, cat = self.draw(real.shape[0])
        src_fake, q_fake = self.D.outputs(self.G(z, cat))
        d_real = self.D(real) if self.objective.g_needs_real else None
        adv = self.objective.g_loss(src_fake, d_real)
        logs = {"g_loss": adv.detach()}
        loss = adv + self.info_loss(q_fake, z, cat, {})
        return loss, logs

    # ------------------------------------------------------------ pictures
    @torch.no_grad()
    def traversal(self, code: int = 0, steps: int = 10, seed: int = 0, low: float = -2.0,
                  high: float = 2.0) -> Tensor:
        """Latent traversal (Chen et al. 2016, Fig. 2): ``(K * steps)`` images, row k = categorical code k,
        columns = continuous code ``code`` swept from ``low`` to ``high`` (beyond the training range
        [-1, 1], as in the paper), the other continuous codes 0 and one noise draw (``seed``) throughout."""
        d, K = self.p.continuous, self.p.categories
        if not 0 <= code < d:
            raise ValueError(f"continuous code index must be in [0, {d}), got {code}")
        z = self.sample_z(1, generator=torch.Generator().manual_seed(seed)).repeat(K * steps, 1)
        z[:, self.p.z_dim:] = 0
        z[:, self.p.z_dim + code] = torch.linspace(low, high, steps, device=z.device).repeat(K)
        y = torch.arange(K, device=z.device).repeat_interleave(steps)
        return self.generate_from(z, y)

    def pictures(self, seed: int = 0) -> Dict[str, Tuple[Tensor, int]]:
        """``traversal-cont<i>``: one traversal picture per continuous code (10 columns each)."""
        return {f"traversal-cont{i}": (self.traversal(i, 10, seed), 10) for i in range(self.p.continuous)}


GANS.add("infogan", InfoGAN)
