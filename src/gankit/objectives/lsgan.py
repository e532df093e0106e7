"""Least-squares GAN, Mao et al. 2016, "Least Squares Generative Adversarial Networks", arXiv 1611.04076.

D outputs an unbounded score D(x) (no sigmoid). With target codes ``a`` (fake), ``b`` (real) and
``c`` (the value G wants D to assign to fakes), Mao et al. eq. (2):

* D:  ½ E (D(x) − b)² + ½ E (D(G(z)) − a)²
* G:  ½ E (D(G(z)) − c)²

Two settings are registered:

* ``lsgan``       (a, b, c) = (0, 1, 1)  — "0-1 coding", the one used for most experiments (eq. 9).
* ``lsgan-chi2``  (a, b, c) = (−1, 1, 0) — satisfies b − c = 1 and b − a = 2, under which
  minimising the G objective minimises the Pearson χ² divergence between P_data + P_g and 2 P_g
  (Sec. 3.2.2, eq. 8).
"""
from . import register_objective


def make_lsgan(a: float, b: float, c: float):
    """Return ``(d_loss, g_loss)`` for the least-squares objective with codes (a, b, c)."""

    def d_loss(d_real, d_fake):
        return 0.5 * (d_real - b).pow(2).mean() + 0.5 * (d_fake - a).pow(2).mean()

    def g_loss(d_fake, d_real=None):
        return 0.5 * (d_fake - c).pow(2).mean()

    d_loss.__doc__ = f"LSGAN D loss, ½E(D(x)−{b})² + ½E(D(G(z))−{a})²"
    g_loss.__doc__ = f"LSGAN G loss, ½E(D(G(z))−{c})²"
    return d_loss, g_loss


register_objective("lsgan", *make_lsgan(0.0, 1.0, 1.0), doc="Mao 2016 least squares, (a,b,c)=(0,1,1)")
register_objective("lsgan-chi2", *make_lsgan(-1.0, 1.0, 0.0),
                   doc="Mao 2016 least squares, (a,b,c)=(-1,1,0): Pearson chi^2 setting")
