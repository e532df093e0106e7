"""Every loss is checked against its formula, written independently with probabilities."""
import math

import torch

from gankit.objectives import OBJECTIVES


def _logits():
    g = torch.Generator().manual_seed(0)
    return torch.randn(64, generator=g, dtype=torch.float64) * 3, torch.randn(64, generator=g, dtype=torch.float64) * 3


def test_registered():
    assert {"minimax", "nonsaturating"} <= set(OBJECTIVES.names())


def test_gan_d_loss_is_binary_cross_entropy():
    r, f = _logits()
    dr, df = torch.sigmoid(r), torch.sigmoid(f)
    expected = -(torch.log(dr).mean() + torch.log(1 - df).mean())
    for name in ("minimax", "nonsaturating"):
        assert torch.allclose(OBJECTIVES.get(name).d_loss(r, f), expected, rtol=1e-10)


def test_generator_losses():
    _, f = _logits()
    df = torch.sigmoid(f)
    assert torch.allclose(OBJECTIVES.get("minimax").g_loss(f, None), torch.log(1 - df).mean(), rtol=1e-10)
    assert torch.allclose(OBJECTIVES.get("nonsaturating").g_loss(f, None), -torch.log(df).mean(), rtol=1e-10)


def test_optimal_discriminator_value_is_jsd():
    """Goodfellow 2014, Thm 1: at D* = p/(p+q), the value is -log 4 + 2 JSD(p||q); the D loss is its negative."""
    p = torch.tensor([0.1, 0.2, 0.3, 0.4], dtype=torch.float64)
    q = torch.tensor([0.4, 0.3, 0.2, 0.1], dtype=torch.float64)
    d_star = p / (p + q)
    logit = torch.log(d_star) - torch.log1p(-d_star)
    # expectations under p and q are weighted means over the 4 atoms
    loss_real = (p * torch.nn.functional.softplus(-logit)).sum()
    loss_fake = (q * torch.nn.functional.softplus(logit)).sum()
    m = (p + q) / 2
    jsd = 0.5 * (p * (p / m).log()).sum() + 0.5 * (q * (q / m).log()).sum()
    assert math.isclose(-(loss_real + loss_fake).item(), -math.log(4) + 2 * jsd.item(), rel_tol=1e-12)
    # and the registered D loss on "samples" reproduces those expectations
    reals = logit.repeat_interleave((p * 1000).long())
    fakes = logit.repeat_interleave((q * 1000).long())
    assert math.isclose(OBJECTIVES.get("minimax").d_loss(reals, fakes).item(), (loss_real + loss_fake).item(), rel_tol=1e-12)


def test_minimax_saturates_where_nonsaturating_does_not():
    f = torch.tensor([-8.0], requires_grad=True)  # D confidently rejects the fake
    (gm,) = torch.autograd.grad(OBJECTIVES.get("minimax").g_loss(f, None), f)
    (gn,) = torch.autograd.grad(OBJECTIVES.get("nonsaturating").g_loss(f, None), f)
    assert abs(gm.item()) < 1e-3 < abs(gn.item())


def test_wgan_critic_at_the_1_lipschitz_optimum_recovers_w1():
    """Arjovsky et al. 2017: W1(P, Q) = sup_{|f|_L <= 1} E_P f - E_Q f. In 1-D the supremum is attained by
    the f with slope sign(F_Q - F_P) (integrate by parts: E_P f - E_Q f = int f'(t) (F_Q - F_P) dt), so the
    WGAN critic loss E_Q f - E_P f at that f must equal -W1, checked against scipy."""
    import numpy as np
    from scipy.stats import wasserstein_distance

    rng = np.random.default_rng(0)
    xp = rng.normal(0.0, 1.0, 300)
    xq = np.concatenate([rng.normal(2.0, 0.5, 200), rng.uniform(-3, 1, 150)])
    pts = np.unique(np.concatenate([xp, xq]))
    cdf_p = np.searchsorted(np.sort(xp), pts, side="right") / len(xp)
    cdf_q = np.searchsorted(np.sort(xq), pts, side="right") / len(xq)
    slope = np.sign(cdf_q - cdf_p)[:-1]
    f_at = np.concatenate([[0.0], np.cumsum(slope * np.diff(pts))])
    f = lambda x: torch.tensor(f_at[np.searchsorted(pts, x)], dtype=torch.float64)  # noqa: E731
    assert np.all(np.abs(np.diff(f_at)) <= np.diff(pts) + 1e-12)  # f is 1-Lipschitz
    d_loss = OBJECTIVES.get("wgan").d_loss(f(xp), f(xq))
    assert math.isclose(d_loss.item(), -wasserstein_distance(xp, xq), rel_tol=1e-9)
    # the generator loss -E_Q f is the part of the critic objective that depends on Q
    assert math.isclose(OBJECTIVES.get("wgan").g_loss(f(xq), None).item(), -f(xq).mean().item(), rel_tol=1e-12)
