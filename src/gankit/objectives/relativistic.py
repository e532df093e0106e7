"""Relativistic discriminators, Jolicoeur-Martineau 2018, "The relativistic discriminator: a key
element missing from standard GAN", arXiv 1807.00734.

C is the raw critic (no sigmoid). A relativistic D judges whether real data is *more realistic*
than fake data rather than whether it is real, and G is trained to make fakes more realistic than
reals, so the generator loss needs C(x_r) too (``g_needs_real=True``).

Relativistic paired (RpGAN, Sec. 4.1–4.2, Appendix): real and fake samples are paired by batch
index, C_r = C(x_r)_i, C_f = C(x_f)_i.

* ``rsgan``   D: −E log σ(C_r − C_f) = E softplus(−(C_r − C_f));  G: E softplus(−(C_f − C_r))
* ``rlsgan``  D: E (C_r − C_f − 1)²;                              G: E (C_f − C_r − 1)²
* ``rhinge``  D: E max(0, 1 − (C_r − C_f));                        G: E max(0, 1 − (C_f − C_r))

Relativistic average (RaGAN, Sec. 4.3, Appendix): each sample is compared with the batch mean of
the other kind, D̃(x_r) = C_r − E C_f, D̃(x_f) = C_f − E C_r.

* ``rasgan``  D: E softplus(−D̃(x_r)) + E softplus(D̃(x_f))
              (= −E log σ(D̃(x_r)) − E log(1 − σ(D̃(x_f))));
              G: E softplus(−D̃(x_f)) + E softplus(D̃(x_r))
* ``ralsgan`` D: E (D̃(x_r) − 1)² + E (D̃(x_f) + 1)²;   G: E (D̃(x_f) − 1)² + E (D̃(x_r) + 1)²
* ``rahinge`` D: E max(0, 1 − D̃(x_r)) + E max(0, 1 + D̃(x_f));
              G: E max(0, 1 − D̃(x_f)) + E max(0, 1 + D̃(x_r))

These are the paper's equations: no ½ factors, and RaLSGAN uses the targets +1 / −1 (not the
0-1 LSGAN codes). The author's reference code divides the two-term RaGAN losses by 2; that only
rescales the loss (and the gradient), it does not move the optimum.
"""
import torch.nn.functional as F

from . import register_objective


# --------------------------------------------------------------- paired (RpGAN)
def rsgan_d_loss(d_real, d_fake):
    return F.softplus(-(d_real - d_fake)).mean()


def rsgan_g_loss(d_fake, d_real):
    return F.softplus(-(d_fake - d_real)).mean()


def rlsgan_d_loss(d_real, d_fake):
    return (d_real - d_fake - 1.0).pow(2).mean()


def rlsgan_g_loss(d_fake, d_real):
    return (d_fake - d_real - 1.0).pow(2).mean()


def rhinge_d_loss(d_real, d_fake):
    return F.relu(1.0 - (d_real - d_fake)).mean()


def rhinge_g_loss(d_fake, d_real):
    return F.relu(1.0 - (d_fake - d_real)).mean()


# --------------------------------------------------------------- average (RaGAN)
def _ra(d_real, d_fake):
    """(D̃(x_r), D̃(x_f)) = (C_r − mean C_f, C_f − mean C_r)."""
    return d_real - d_fake.mean(), d_fake - d_real.mean()


def rasgan_d_loss(d_real, d_fake):
    r, f = _ra(d_real, d_fake)
    return F.softplus(-r).mean() + F.softplus(f).mean()


def rasgan_g_loss(d_fake, d_real):
    r, f = _ra(d_real, d_fake)
    return F.softplus(-f).mean() + F.softplus(r).mean()


def ralsgan_d_loss(d_real, d_fake):
    r, f = _ra(d_real, d_fake)
    return (r - 1.0).pow(2).mean() + (f + 1.0).pow(2).mean()


def ralsgan_g_loss(d_fake, d_real):
    r, f = _ra(d_real, d_fake)
    return (f - 1.0).pow(2).mean() + (r + 1.0).pow(2).mean()


def rahinge_d_loss(d_real, d_fake):
    r, f = _ra(d_real, d_fake)
    return F.relu(1.0 - r).mean() + F.relu(1.0 + f).mean()


def rahinge_g_loss(d_fake, d_real):
    r, f = _ra(d_real, d_fake)
    return F.relu(1.0 - f).mean() + F.relu(1.0 + r).mean()


_DOC = "Jolicoeur-Martineau 2018"
register_objective("rsgan", rsgan_d_loss, rsgan_g_loss, g_needs_real=True, doc=f"{_DOC} relativistic standard GAN")
register_objective("rlsgan", rlsgan_d_loss, rlsgan_g_loss, g_needs_real=True, doc=f"{_DOC} relativistic least squares")
register_objective("rhinge", rhinge_d_loss, rhinge_g_loss, g_needs_real=True, doc=f"{_DOC} relativistic hinge")
register_objective("rasgan", rasgan_d_loss, rasgan_g_loss, g_needs_real=True,
                   doc=f"{_DOC} relativistic average standard GAN")
register_objective("ralsgan", ralsgan_d_loss, ralsgan_g_loss, g_needs_real=True,
                   doc=f"{_DOC} relativistic average least squares (targets +1/-1)")
register_objective("rahinge", rahinge_d_loss, rahinge_g_loss, g_needs_real=True, doc=f"{_DOC} relativistic average hinge")
