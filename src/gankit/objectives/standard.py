"""The original GAN objective, Goodfellow et al. 2014, "Generative Adversarial Nets", arXiv 1406.2661.

D outputs a logit l, D(x) = sigmoid(l). With log sigmoid(l) = -softplus(-l) and
log(1 - sigmoid(l)) = -softplus(l) the losses are computed stably from logits:

* D (both variants):   -E log D(x) - E log(1 - D(G(z))) = E softplus(-l_real) + E softplus(l_fake)
* G, ``minimax`` (saturating):  E log(1 - D(G(z)))        = -E softplus(l_fake)
* G, ``nonsaturating``:         -E log D(G(z))            = E softplus(-l_fake)

The minimax G loss saturates when D confidently rejects fakes (its gradient vanishes as
l_fake -> -inf); the paper proposes the non-saturating loss for that reason (Sec. 3).

``nonsaturating-ls`` adds one-sided label smoothing to D's loss (Salimans et al. 2016, arXiv 1606.03498,
Sec. 3.4): real images are scored against the target 0.9, generated ones against 0 (smoothing the fake
target too would reward D for keeping fakes where there is no data).
"""
import torch.nn.functional as F

from . import register_objective


def gan_d_loss(d_real, d_fake):
    return F.softplus(-d_real).mean() + F.softplus(d_fake).mean()


def minimax_g_loss(d_fake, d_real=None):
    return -F.softplus(d_fake).mean()


def nonsaturating_g_loss(d_fake, d_real=None):
    return F.softplus(-d_fake).mean()


def one_sided_smoothed_d_loss(d_real, d_fake, real_target: float = 0.9):
    """D's loss with one-sided label smoothing (Salimans et al. 2016, arXiv 1606.03498, Sec. 3.4): the real
    images' target is 0.9 instead of 1, the fakes' stays 0: -E[0.9 log D(x) + 0.1 log(1 - D(x))] - E log(1 - D(G(z)))."""
    a = real_target
    return (a * F.softplus(-d_real) + (1 - a) * F.softplus(d_real)).mean() + F.softplus(d_fake).mean()


register_objective("minimax", gan_d_loss, minimax_g_loss, doc="Goodfellow 2014, saturating G loss")
register_objective("nonsaturating", gan_d_loss, nonsaturating_g_loss, doc="Goodfellow 2014, non-saturating G loss")
register_objective("nonsaturating-ls", one_sided_smoothed_d_loss, nonsaturating_g_loss,
                   doc="non-saturating G loss; D with one-sided label smoothing, real target 0.9 (Salimans 2016)")
