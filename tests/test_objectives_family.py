"""LSGAN, WGAN/hinge, f-GAN and relativistic objectives, each checked against its formula.

Expected values are written here from the papers' formulas with plain ``math`` on Python lists,
never by calling the module under test.
"""
import math

import numpy as np
import pytest
import scipy.special
import torch

from gankit.objectives import OBJECTIVES
from gankit.objectives.fgan import F_DIVERGENCES, lambert_w, wright_omega
from gankit.objectives.lsgan import make_lsgan

LOG2 = math.log(2.0)

# two fixed batches of raw D outputs (real, fake); values chosen so that every hinge / relu
# term is active for some samples and inactive for others
BATCHES = [
    ([0.5, -1.2, 2.0], [-0.3, 0.8, -2.5]),
    ([3.0, -0.5, 1.5, 0.2], [-1.0, 2.5, 0.1, -3.0]),
]


def mean(xs):
    xs = list(xs)
    return sum(xs) / len(xs)


def sig(x):
    return 1.0 / (1.0 + math.exp(-x))


def relu(x):
    return max(0.0, x)


def jeffrey_conj(t):
    w = scipy.special.lambertw(math.exp(1.0 - t)).real
    return w + 1.0 / w + t - 2.0


# the f-GAN paper's Table 2, written out independently: (g_f(v), f*(t))
FGAN_TABLE = {
    "tv": (lambda v: 0.5 * math.tanh(v), lambda t: t),
    "kl": (lambda v: v, lambda t: math.exp(t - 1.0)),
    "reverse-kl": (lambda v: -math.exp(-v), lambda t: -1.0 - math.log(-t)),
    "pearson": (lambda v: v, lambda t: t * t / 4.0 + t),
    "neyman": (lambda v: 1.0 - math.exp(-v), lambda t: 2.0 - 2.0 * math.sqrt(1.0 - t)),
    "hellinger": (lambda v: 1.0 - math.exp(-v), lambda t: t / (1.0 - t)),
    "jeffrey": (lambda v: v, jeffrey_conj),
    "js": (lambda v: LOG2 - math.log(1.0 + math.exp(-v)), lambda t: -math.log(2.0 - math.exp(t))),
    "gan": (lambda v: -math.log(1.0 + math.exp(-v)), lambda t: -math.log(1.0 - math.exp(t))),
}


def _ra(r, f):
    mr, mf = mean(r), mean(f)
    return [x - mf for x in r], [y - mr for y in f]


def expected(name, r, f):
    """(D loss, G loss) from the formula."""
    if name == "minimax":
        d = -mean(math.log(sig(x)) for x in r) - mean(math.log(1 - sig(y)) for y in f)
        return d, mean(math.log(1 - sig(y)) for y in f)
    if name == "nonsaturating":
        d = -mean(math.log(sig(x)) for x in r) - mean(math.log(1 - sig(y)) for y in f)
        return d, -mean(math.log(sig(y)) for y in f)
    if name == "lsgan":  # (a, b, c) = (0, 1, 1)
        return (0.5 * mean((x - 1) ** 2 for x in r) + 0.5 * mean(y ** 2 for y in f),
                0.5 * mean((y - 1) ** 2 for y in f))
    if name == "lsgan-chi2":  # (a, b, c) = (-1, 1, 0)
        return (0.5 * mean((x - 1) ** 2 for x in r) + 0.5 * mean((y + 1) ** 2 for y in f),
                0.5 * mean(y ** 2 for y in f))
    if name == "wgan":
        return mean(f) - mean(r), -mean(f)
    if name == "hinge":
        return mean(relu(1 - x) for x in r) + mean(relu(1 + y) for y in f), -mean(f)
    if name.startswith("fgan-"):
        g, conj = FGAN_TABLE[name[5:]]
        return -(mean(g(x) for x in r) - mean(conj(g(y)) for y in f)), -mean(g(y) for y in f)
    pairs = list(zip(r, f))
    if name == "rsgan":
        return (mean(-math.log(sig(x - y)) for x, y in pairs), mean(-math.log(sig(y - x)) for x, y in pairs))
    if name == "rlsgan":
        return mean((x - y - 1) ** 2 for x, y in pairs), mean((y - x - 1) ** 2 for x, y in pairs)
    if name == "rhinge":
        return mean(relu(1 - (x - y)) for x, y in pairs), mean(relu(1 - (y - x)) for x, y in pairs)
    rt, ft = _ra(r, f)  # C_r - mean C_f, C_f - mean C_r
    if name == "rasgan":
        d = -mean(math.log(sig(a)) for a in rt) - mean(math.log(1 - sig(b)) for b in ft)
        g = -mean(math.log(sig(b)) for b in ft) - mean(math.log(1 - sig(a)) for a in rt)
        return d, g
    if name == "ralsgan":
        return (mean((a - 1) ** 2 for a in rt) + mean((b + 1) ** 2 for b in ft),
                mean((b - 1) ** 2 for b in ft) + mean((a + 1) ** 2 for a in rt))
    if name == "rahinge":
        return (mean(relu(1 - a) for a in rt) + mean(relu(1 + b) for b in ft),
                mean(relu(1 - b) for b in ft) + mean(relu(1 + a) for a in rt))
    raise KeyError(name)


FAMILY = ["lsgan", "lsgan-chi2", "wgan", "hinge"] + [f"fgan-{n}" for n in FGAN_TABLE] + [
    "rsgan", "rlsgan", "rhinge", "rasgan", "ralsgan", "rahinge"]
RELATIVISTIC = {"rsgan", "rlsgan", "rhinge", "rasgan", "ralsgan", "rahinge"}


def test_family_registered():
    assert set(FAMILY + ["minimax", "nonsaturating"]) <= set(OBJECTIVES.names())
    assert set(F_DIVERGENCES) == set(FGAN_TABLE)
    for name in FAMILY:
        assert OBJECTIVES.get(name).g_needs_real == (name in RELATIVISTIC), name


@pytest.mark.parametrize("name", ["minimax", "nonsaturating"] + FAMILY)
@pytest.mark.parametrize("batch", range(len(BATCHES)))
def test_losses_match_formula(name, batch):
    r, f = BATCHES[batch]
    obj = OBJECTIVES.get(name)
    tr, tf = torch.tensor(r, dtype=torch.float64), torch.tensor(f, dtype=torch.float64)
    d_exp, g_exp = expected(name, r, f)
    d = obj.d_loss(tr, tf)
    g = obj.g_loss(tf, tr if obj.g_needs_real else None)
    assert d.dim() == 0 and g.dim() == 0
    assert math.isclose(d.item(), d_exp, rel_tol=1e-10, abs_tol=1e-12), (name, d.item(), d_exp)
    assert math.isclose(g.item(), g_exp, rel_tol=1e-10, abs_tol=1e-12), (name, g.item(), g_exp)


def test_make_lsgan_factory():
    d_loss, g_loss = make_lsgan(-2.0, 3.0, 0.5)
    r, f = BATCHES[0]
    d_exp = 0.5 * mean((x - 3) ** 2 for x in r) + 0.5 * mean((y + 2) ** 2 for y in f)
    g_exp = 0.5 * mean((y - 0.5) ** 2 for y in f)
    tr, tf = torch.tensor(r, dtype=torch.float64), torch.tensor(f, dtype=torch.float64)
    assert math.isclose(d_loss(tr, tf).item(), d_exp, rel_tol=1e-12)
    assert math.isclose(g_loss(tf, None).item(), g_exp, rel_tol=1e-12)


def test_relativistic_average_uses_batch_means():
    """Permuting the fakes changes the paired losses but not the average ones."""
    r = torch.tensor([0.5, -1.2, 2.0], dtype=torch.float64)
    f = torch.tensor([-0.3, 0.8, -2.5], dtype=torch.float64)
    fp = f[[2, 0, 1]]
    for name in ("rasgan", "ralsgan", "rahinge"):
        o = OBJECTIVES.get(name)
        assert torch.allclose(o.d_loss(r, f), o.d_loss(r, fp), rtol=1e-12)
        assert torch.allclose(o.g_loss(f, r), o.g_loss(fp, r), rtol=1e-12)
    for name in ("rsgan", "rlsgan", "rhinge"):
        o = OBJECTIVES.get(name)
        assert not torch.allclose(o.d_loss(r, f), o.d_loss(r, fp))


def test_fgan_gan_is_the_standard_gan():
    """f*(g_f(v)) = softplus(v) for the 'gan' row, so fgan-gan is Goodfellow's NS GAN."""
    r, f = (torch.tensor(x, dtype=torch.float64) for x in BATCHES[1])
    fg, ns = OBJECTIVES.get("fgan-gan"), OBJECTIVES.get("nonsaturating")
    assert torch.allclose(fg.d_loss(r, f), ns.d_loss(r, f), rtol=1e-12)
    assert torch.allclose(fg.g_loss(f, None), ns.g_loss(f, None), rtol=1e-12)


# ---------------------------------------------------------------------------- f-divergences
P = [0.1, 0.2, 0.3, 0.4]
Q = [0.25, 0.35, 0.15, 0.25]  # not a permutation of P, so KL and reverse KL differ


def _kl(a, b):
    return sum(x * math.log(x / y) for x, y in zip(a, b))


def _jsd(a, b):
    m = [(x + y) / 2 for x, y in zip(a, b)]
    return 0.5 * _kl(a, m) + 0.5 * _kl(b, m)


# the generator functions f(u) of Table 1, and each divergence's usual closed form on (P, Q)
OWN_F = {
    "tv": lambda u: 0.5 * abs(u - 1),
    "kl": lambda u: u * math.log(u),
    "reverse-kl": lambda u: -math.log(u),
    "pearson": lambda u: (u - 1) ** 2,
    "neyman": lambda u: (1 - u) ** 2 / u,
    "hellinger": lambda u: (math.sqrt(u) - 1) ** 2,
    "jeffrey": lambda u: (u - 1) * math.log(u),
    "js": lambda u: -(u + 1) * math.log((1 + u) / 2) + u * math.log(u),
    "gan": lambda u: u * math.log(u) - (u + 1) * math.log(u + 1),
}
CLOSED_FORM = {
    "tv": 0.5 * sum(abs(x - y) for x, y in zip(P, Q)),
    "kl": _kl(P, Q),
    "reverse-kl": _kl(Q, P),
    "pearson": sum((x - y) ** 2 / y for x, y in zip(P, Q)),
    "neyman": sum((x - y) ** 2 / x for x, y in zip(P, Q)),
    "hellinger": sum((math.sqrt(x) - math.sqrt(y)) ** 2 for x, y in zip(P, Q)),
    "jeffrey": _kl(P, Q) + _kl(Q, P),
    # the paper's f for JS yields twice the usual JSD (Table 1 writes the JSD with ½ factors)
    "js": 2 * _jsd(P, Q),
    "gan": 2 * _jsd(P, Q) - math.log(4),
}
# inverse of each activation, t -> v with g_f(v) = t (for tv, t = ±½ is reached only as v -> ±inf)
ACT_INVERSE = {
    "tv": lambda t: math.copysign(40.0, t),
    "kl": lambda t: t,
    "reverse-kl": lambda t: -math.log(-t),
    "pearson": lambda t: t,
    "neyman": lambda t: -math.log(1 - t),
    "hellinger": lambda t: -math.log(1 - t),
    "jeffrey": lambda t: t,
    "js": lambda t: -math.log(2 * math.exp(-t) - 1),
    "gan": lambda t: -math.log(math.exp(-t) - 1),
}
NAMES = list(FGAN_TABLE)


def _t(xs):
    return torch.tensor(xs, dtype=torch.float64)


@pytest.mark.parametrize("name", NAMES)
def test_bound_at_optimal_T_is_the_divergence(name):
    div = F_DIVERGENCES[name]
    p, q = _t(P), _t(Q)
    u = p / q
    own = sum(y * OWN_F[name](x / y) for x, y in zip(P, Q))
    assert math.isclose(own, CLOSED_FORM[name], rel_tol=1e-12)
    assert math.isclose((q * div.f(u)).sum().item(), own, rel_tol=1e-12)
    t_star = div.f_prime(u)
    bound = (p * t_star).sum() - (q * div.conjugate(t_star)).sum()
    assert math.isclose(bound.item(), CLOSED_FORM[name], rel_tol=1e-10), (bound.item(), CLOSED_FORM[name])


@pytest.mark.parametrize("name", NAMES)
def test_conjugate_identity_and_derivative(name):
    """f*(f'(u)) = u f'(u) − f(u) (Fenchel–Young equality), and f' is the derivative of the test's f."""
    div = F_DIVERGENCES[name]
    u = torch.logspace(-2, 2, 41, dtype=torch.float64)
    fp = div.f_prime(u)
    assert torch.allclose(div.conjugate(fp), u * fp - div.f(u), rtol=1e-10, atol=1e-12)
    own_f = torch.tensor([OWN_F[name](x) for x in u.tolist()], dtype=torch.float64)
    assert torch.allclose(div.f(u), own_f, rtol=1e-12, atol=1e-14)
    h = 1e-6
    for x, d in zip(u.tolist(), fp.tolist()):
        if name == "tv" and abs(x - 1) < 1e-9:
            continue
        num = (OWN_F[name](x + h) - OWN_F[name](x - h)) / (2 * h)
        assert math.isclose(num, d, rel_tol=1e-5, abs_tol=1e-6), (x, num, d)


DOMAIN_UPPER = {"reverse-kl": 0.0, "neyman": 1.0, "hellinger": 1.0, "gan": 0.0, "js": LOG2}


@pytest.mark.parametrize("name", NAMES)
def test_activation_lands_in_conjugate_domain(name):
    div = F_DIVERGENCES[name]
    v = torch.linspace(-20, 20, 401, dtype=torch.float64)
    t = div.activation(v)
    if name in DOMAIN_UPPER:
        assert (t < DOMAIN_UPPER[name]).all()
    if name == "tv":
        assert (t.abs() <= 0.5).all()
    own = torch.tensor([FGAN_TABLE[name][0](x) for x in v.tolist()], dtype=torch.float64)
    assert torch.allclose(t, own, rtol=1e-12, atol=1e-14)
    assert torch.isfinite(div.conjugate(t)).all()
    assert torch.isfinite(div.fake_term(v)).all()


@pytest.mark.parametrize("name", NAMES)
def test_stable_composition_equals_literal(name):
    div = F_DIVERGENCES[name]
    v = torch.linspace(-5, 5, 101, dtype=torch.float64)
    literal = div.conjugate(div.activation(v))
    assert torch.allclose(div.fake_term(v), literal, rtol=1e-10, atol=1e-12)
    own = torch.tensor([FGAN_TABLE[name][1](FGAN_TABLE[name][0](x)) for x in v.tolist()], dtype=torch.float64)
    assert torch.allclose(literal, own, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_fgan_d_loss_at_optimum_is_minus_divergence(name):
    """Samples = atoms weighted by p (real) and q (fake); D outputs v with g_f(v) = f'(p/q)."""
    t_star = [F_DIVERGENCES[name].f_prime(torch.tensor(x / y, dtype=torch.float64)).item() for x, y in zip(P, Q)]
    v = _t([ACT_INVERSE[name](t) for t in t_star])
    assert torch.allclose(F_DIVERGENCES[name].activation(v), _t(t_star), rtol=1e-10, atol=1e-12)
    reals = v.repeat_interleave(torch.tensor([round(x * 1000) for x in P]))
    fakes = v.repeat_interleave(torch.tensor([round(y * 1000) for y in Q]))
    loss = OBJECTIVES.get(f"fgan-{name}").d_loss(reals, fakes)
    assert math.isclose(loss.item(), -CLOSED_FORM[name], rel_tol=1e-9), (loss.item(), -CLOSED_FORM[name])


# ---------------------------------------------------------------------------- Lambert W
def test_lambert_w_matches_scipy():
    z = torch.cat([
        -math.exp(-1) + torch.logspace(-12, -1, 60, dtype=torch.float64),
        torch.linspace(-0.36, 5.0, 500, dtype=torch.float64),
        -torch.logspace(-300, -1, 100, dtype=torch.float64),
        torch.logspace(-300, 300, 600, dtype=torch.float64),
        torch.tensor([0.0, math.e, 1.7e308], dtype=torch.float64),
    ])
    w = lambert_w(z)
    ref = torch.from_numpy(scipy.special.lambertw(z.numpy()).real)
    assert torch.allclose(w, ref, rtol=1e-10, atol=1e-12)
    assert lambert_w(torch.tensor(math.e, dtype=torch.float64)).item() == pytest.approx(1.0, abs=1e-15)
    assert lambert_w(torch.tensor(-math.exp(-1), dtype=torch.float64)).item() == pytest.approx(-1.0, abs=1e-7)
    assert torch.isnan(lambert_w(torch.tensor(-0.5, dtype=torch.float64)))


def test_wright_omega_matches_scipy():
    x = torch.linspace(-700, 700, 1401, dtype=torch.float64)
    ref = torch.from_numpy(np.real(scipy.special.wrightomega(x.numpy())))
    assert torch.allclose(wright_omega(x), ref, rtol=1e-10, atol=0)
    small = torch.linspace(-5, 5, 41, dtype=torch.float64)  # and ω(x) = W(e^x)
    assert torch.allclose(wright_omega(small), lambert_w(small.exp()), rtol=1e-12)


def test_lambert_w_gradients():
    z = torch.tensor([-0.3, 0.0, 0.5, 2.0, 1e5], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambert_w, (z,))
    assert torch.autograd.gradgradcheck(lambert_w, (z,))
    x = torch.tensor([-5.0, 0.5, 3.0, 40.0], dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(wright_omega, (x,))
    one = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    (g,) = torch.autograd.grad(lambert_w(one), one)
    omega = 0.5671432904097838  # W(1), the omega constant
    assert g.item() == pytest.approx(omega / (1 + omega), rel=1e-12)
