"""VAE/GAN (Larsen et al. 2015, arXiv 1512.09300): the `vaegan` GAN.

What is checked: one real training step on tiny MNIST in which each phase (d, e, g) changes only its own group's
parameters (D's parameters are not changed by the E and G phases); the KL term, the feature-space and pixel-space
reconstruction losses and D's / G's GAN terms against hand-computed values; with model.gan_weight=0 E's and G's
losses and gradients do not depend on D's weights (and with gan_weight > 0 they do); the optimiser groups and the
preset; the encoder mechanism (encode, recon picture); bad settings give one-line ConfigErrors.

Everything runs on the CPU at tiny width; the cases with real data read MNIST (GANKIT_DATA or ../shared/data)."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.config import resolve
from gankit.data import DataInfo
from gankit.errors import ConfigError
from gankit.gans import GANS
from gankit.gans.representation.vaegan import gaussian_nll, kl_prior, vaegan_d_loss, vaegan_g_gan_loss
from gankit.objectives import OBJECTIVES
from test_wiring import image_base, make_trainer, params

NAME = "vaegan"
MNIST = DataInfo("mnist", "images", (1, 28, 28), 10)
TINY = ["model.g_width=4", "model.d_width=4", "model.z_dim=4", "model.hidden=8"]

pytestmark = pytest.mark.usefixtures("one_thread")


def build(*extra):
    torch.manual_seed(0)
    return GANS.get(NAME)(resolve(NAME, ["data=mnist"] + TINY + list(extra)), MNIST)


def images(n=6, seed=1):
    return torch.rand(n, 1, 28, 28, generator=torch.Generator().manual_seed(seed)) * 2 - 1


# =============================================================================================
# the losses by hand
# =============================================================================================
def test_kl_prior_by_hand():
    mean = torch.tensor([[0.5, -1.0], [0.0, 2.0]])
    logvar = torch.tensor([[0.0, math.log(4.0)], [math.log(0.25), 0.0]])
    # 1/2 (mu^2 + s^2 - log s^2 - 1) per dimension, summed, averaged over 2 samples
    s0 = 0.5 * (0.25 + 1 - 0 - 1) + 0.5 * (1 + 4 - math.log(4) - 1)
    s1 = 0.5 * (0 + 0.25 - math.log(0.25) - 1) + 0.5 * (4 + 1 - 0 - 1)
    assert kl_prior(mean, logvar).item() == pytest.approx((s0 + s1) / 2, rel=1e-6)
    assert kl_prior(torch.zeros(3, 5), torch.zeros(3, 5)).item() == 0.0  # q = N(0, I)
    # against torch.distributions
    q = torch.distributions.Normal(mean, torch.exp(0.5 * logvar))
    ref = torch.distributions.kl_divergence(q, torch.distributions.Normal(0.0, 1.0)).sum(1).mean()
    assert kl_prior(mean, logvar).item() == pytest.approx(ref.item(), rel=1e-6)


def test_gaussian_nll_by_hand():
    a = torch.tensor([[1.0, 2.0, 3.0], [0.0, 0.0, 0.0]])
    b = torch.tensor([[1.0, 0.0, 4.0], [1.0, 1.0, 1.0]])
    # sample 0: (0 + 4 + 1) / 2 = 2.5; sample 1: 3 / 2 = 1.5; mean 2.0 (summed over features, not averaged)
    assert gaussian_nll(a, b).item() == pytest.approx(2.0)
    assert gaussian_nll(a, b, sigma=0.5).item() == pytest.approx(8.0)
    assert gaussian_nll(a[:, :, None, None], b[:, :, None, None]).item() == pytest.approx(2.0)  # maps are flattened


def test_feature_reconstruction_loss_by_hand():
    """L_llike = 1/2 sum_f (Dis_l(x) - Dis_l(x~))^2, averaged over the batch, Dis_l = D.trunk, one trunk pass."""
    gan = build()
    x, r = images(4, 1), images(4, 2)
    h = gan.D.trunk(torch.cat([x, r]))
    assert h.shape == (8, 8, 7, 7)  # 2w x 7 x 7 at width 4
    f = h.flatten(1)
    expected = 0.5 * ((f[:4] - f[4:]) ** 2).sum(1).mean()
    assert gan.recon_loss(x, r).item() == pytest.approx(expected.item(), rel=1e-5)
    # the plain VAE: pixels, sigma model.pixel_sigma
    vae = build("model.gan_weight=0", "model.pixel_sigma=0.5")
    pix = 0.5 * ((x - r) ** 2).flatten(1).sum(1).mean() / 0.25
    assert vae.recon_loss(x, r).item() == pytest.approx(pix.item(), rel=1e-5)


def test_gan_terms_by_hand():
    obj = OBJECTIVES.get("nonsaturating")
    dr, dp, dq = torch.tensor([0.3, -1.0]), torch.tensor([0.5, 2.0]), torch.tensor([-0.2, 0.1])
    logD = lambda v: F.logsigmoid(v)  # noqa: E731
    log1mD = lambda v: F.logsigmoid(-v)  # noqa: E731
    d = -(logD(dr).mean() + 0.5 * log1mD(dp).mean() + 0.5 * log1mD(dq).mean())
    assert vaegan_d_loss(obj, dr, dp, dq).item() == pytest.approx(d.item(), rel=1e-6)
    g = -0.5 * (logD(dp).mean() + logD(dq).mean())
    assert vaegan_g_gan_loss(obj, dp, dq).item() == pytest.approx(g.item(), rel=1e-6)
    mm = 0.5 * (log1mD(dp).mean() + log1mD(dq).mean())
    assert vaegan_g_gan_loss(OBJECTIVES.get("minimax"), dp, dq).item() == pytest.approx(mm.item(), rel=1e-6)


def test_steps_compose_the_terms():
    """E: KL + L_llike; G: gamma L_llike + gan_weight L_GAN^G (same noise, so the logs add up)."""
    gan = build("model.gamma=0.3", "model.gan_weight=2.0")
    x = images(4)
    torch.manual_seed(3)
    loss, logs = gan.e_step(x, None)
    assert loss.item() == pytest.approx((logs["kl"] + logs["llike"]).item(), rel=1e-5)
    assert logs["kl"].item() > 0 and logs["llike"].item() > 0
    loss, logs = gan.g_step(x, None)
    assert loss.item() == pytest.approx((0.3 * logs["g_llike"] + 2.0 * logs["g_gan"]).item(), rel=1e-5)
    vae = build("model.gan_weight=0")
    loss, logs = vae.g_step(x, None)
    assert "g_gan" not in logs and loss.item() == pytest.approx(logs["g_llike"].item())


# =============================================================================================
# one training step: each phase moves only its own group
# =============================================================================================
@pytest.mark.parametrize("extra", [[], ["model.gan_weight=0"]], ids=["vaegan", "plain-vae"])
def test_one_step_each_phase_changes_only_its_own_parameters(tmp_path, request, extra):
    tr = make_trainer(tmp_path, NAME, *extra, base=image_base(request))
    gan = tr.gan
    assert [(p.group, p.repeat) for p in tr.phases] == [("d", 1), ("e", 1), ("g", 1)]
    for g, net in (("g", gan.G), ("d", gan.D), ("e", gan.E)):
        assert [id(p) for p in tr.optims[g].param_groups[0]["params"]] == [id(p) for p in net.parameters()]
    nets = {"G": gan.G, "D": gan.D, "E": gan.E}
    owner = {"d": "D", "e": "E", "g": "G"}
    states, grads = [{k: params(v) for k, v in nets.items()}], []
    for ph in tr.phases:  # clear every gradient before each phase: what a phase leaves is its own

        def cleared(real, labels, fn=ph.fn):
            for p in gan.parameters():
                p.grad = None
            return fn(real, labels)
        ph.fn = cleared
    # record the nets with gradients and the parameters after each optimiser step
    for g, opt in tr.optims.items():
        opt.register_step_post_hook(lambda o, a, k, g=g: (
            grads.append((g, {name for name, net in nets.items() for p in net.parameters() if p.grad is not None})),
            states.append({k2: params(v) for k2, v in nets.items()})))
    tr.train_step()
    assert [g for g, _ in grads] == ["d", "e", "g"]
    for i, (group, got) in enumerate(grads):
        before, after = states[i], states[i + 1]
        assert got == {owner[group]}, f"{group} phase sent gradients to {got}"
        own = owner[group]
        changed = [n for n in before[own] if not torch.equal(before[own][n], after[own][n])]
        assert len(changed) >= len(before[own]) // 2, (group, changed)
        for net in nets:
            if net != own:
                same = all(torch.equal(before[net][n], after[net][n]) for n in before[net])
                assert same, f"{group} phase changed {net}'s parameters"
    logs = tr.meter.pop_means()
    assert {"d_loss", "e_loss", "g_loss", "kl", "llike"} <= set(logs)
    assert all(math.isfinite(v) for v in logs.values())


# =============================================================================================
# gan_weight=0: the plain VAE does not read D
# =============================================================================================
def grads_of(gan, fn, x, seed, net):
    for p in gan.parameters():
        p.grad = None
    torch.manual_seed(seed)
    loss, _ = fn(x, None)
    loss.backward()
    return loss.detach(), [p.grad.clone() for p in net.parameters()]


@pytest.mark.parametrize("gan_weight", [0.0, 1.0])
def test_plain_vae_updates_do_not_depend_on_d(gan_weight):
    gan = build(f"model.gan_weight={gan_weight}")
    x = images(6)
    base = {"e": grads_of(gan, gan.e_step, x, 7, gan.E), "g": grads_of(gan, gan.g_step, x, 7, gan.G)}
    with torch.no_grad():  # perturb every weight of D
        for p in gan.D.parameters():
            p.add_(torch.randn_like(p) * 0.5)
    now = {"e": grads_of(gan, gan.e_step, x, 7, gan.E), "g": grads_of(gan, gan.g_step, x, 7, gan.G)}
    for k in ("e", "g"):
        same = torch.equal(base[k][0], now[k][0]) and all(torch.equal(a, b) for a, b in zip(base[k][1], now[k][1]))
        assert same == (gan_weight == 0), (k, gan_weight)


def test_plain_vae_d_step_still_trains_d():
    gan = build("model.gan_weight=0")
    loss, logs = gan.d_step(images(4), None)
    loss.backward()
    assert any(p.grad is not None and p.grad.abs().sum() > 0 for p in gan.D.parameters())


# =============================================================================================
# the encoder mechanism, preset and settings
# =============================================================================================
def test_encode_and_reconstruct_use_the_posterior_mean():
    gan = build()
    x = images(5)
    e = gan.encode(x)
    gan.E.eval()
    with torch.no_grad():
        assert torch.allclose(e, gan.E.mean(x))
    gan.E.train()
    assert gan.reconstruct(x).shape == x.shape
    grid, per = gan.reconstruction_grid(x, 4)
    assert per == 4 and grid.shape == (16, 1, 28, 28)


def test_preset():
    cfg = resolve(NAME)
    assert (cfg.data.name, cfg.batch_size, cfg.objective, cfg.steps) == ("mnist", 64, "nonsaturating", 6000)
    assert {k: cfg.model[k] for k in ("z_dim", "g_width", "d_width", "gamma", "gan_weight")} == \
        {"z_dim": 32, "g_width": 32, "d_width": 32, "gamma": 1e-3, "gan_weight": 1.0}
    assert set(cfg.optim) == {"g", "d", "e"}
    assert all((o.name, o.lr, o.betas) == ("adam", 2e-4, (0.5, 0.999)) for o in cfg.optim.values())
    assert resolve(NAME, ["model.gan_weight=0"]).model["gan_weight"] == 0.0


@pytest.mark.parametrize("over, match", [
    (["objective=lsgan"], "objective must be nonsaturating or minimax, got 'lsgan'"),
    (["model.gamma=-1"], "model.gamma"),
    (["model.gan_weight=-0.5"], "model.gan_weight"),
    (["model.pixel_sigma=0"], "model.pixel_sigma"),
    (["model.arch=resnet"], "model.arch must be one of dcgan, mlp"),
    (["data=ring8"], "needs image data"),
    (["model.gama=1"], "unknown key 'model.gama'.*did you mean 'model.gamma'"),
    (["optim.c.lr=1e-3"], "optim.c"),
], ids=["objective", "gamma", "gan-weight", "sigma", "arch", "points", "key", "group"])
def test_bad_settings_give_one_line_config_errors(over, match):
    with pytest.raises(ConfigError, match=match) as e:
        resolve(NAME, over)
    msg = str(e.value)
    assert "\n" not in msg and len(msg) <= 300 and msg.startswith("config:")
