"""Critic objectives without a sigmoid: Wasserstein GAN and the hinge loss.

``wgan`` — Arjovsky, Chintala & Bottou 2017, "Wasserstein GAN", arXiv 1701.07875 (Algorithm 1).
The critic f estimates W₁(P_r, P_g) = sup_{‖f‖_L ≤ 1} E_{P_r} f − E_{P_g} f (Kantorovich–Rubinstein):

* D:  E D(G(z)) − E D(x)        (the negative of the critic's estimate)
* G:  −E D(G(z))

The loss alone does not make the critic Lipschitz: pair it with weight clipping or a gradient
penalty (``penalties``), otherwise the critic's output grows without bound.

``hinge`` — Lim & Ye 2017, "Geometric GAN", arXiv 1705.02894; adopted by Miyato et al. 2018
(SNGAN, arXiv 1802.05957), SAGAN and BigGAN:

* D:  E max(0, 1 − D(x)) + E max(0, 1 + D(G(z)))
* G:  −E D(G(z))
"""
import torch.nn.functional as F

from . import register_objective


def wgan_d_loss(d_real, d_fake):
    return d_fake.mean() - d_real.mean()


def hinge_d_loss(d_real, d_fake):
    return F.relu(1.0 - d_real).mean() + F.relu(1.0 + d_fake).mean()


def critic_g_loss(d_fake, d_real=None):
    """−E D(G(z)), the generator loss shared by WGAN and hinge."""
    return -d_fake.mean()


register_objective("wgan", wgan_d_loss, critic_g_loss, doc="Arjovsky 2017 Wasserstein critic (needs a Lipschitz constraint)")
register_objective("hinge", hinge_d_loss, critic_g_loss, doc="Lim & Ye 2017 / Miyato 2018 hinge loss")
