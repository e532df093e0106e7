"""BiGAN (Donahue et al. 2016, arXiv 1605.09782) and ALI (Dumoulin et al. 2016, arXiv 1606.00704): the `bigan` GAN.

What is checked: D's and G/E's losses against hand-computed values; the steps score (x, E(x)) against (G(z), z) with
fresh z (and fresh eps for ALI) and send gradients where they belong; one real training step in which the d phase
changes only D's parameters and the g phase only G's and E's (images and 2-D points, both encoders); the stochastic
encoder's reparametrisation (its formula, mean and variance, gradients); the nets' layers and the optimiser groups;
the encoder metrics against manual computations on small fixed features (a linear probe reaches 100 % on separable
data, 1-NN equals a brute-force count, the reconstruction error equals its formula) and through `evaluate_gan`;
the presets (bigan, ali) and the one-line errors of bad settings; and a run end to end: final evaluation, the
reconstruction picture, `gankit sample --recon` and `gankit eval`.

Everything runs on the CPU at tiny width; the cases with real data read MNIST (GANKIT_DATA or ../shared/data)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gankit
from gankit.config import resolve
from gankit.data import DataInfo
from gankit.errors import ConfigError, GankitError
from gankit.gans import GANS
from gankit.gans.representation.bigan import bigan_d_loss, bigan_ge_loss
from gankit.metrics.representation import linear_probe_accuracy, nearest_neighbour_accuracy, reconstruction_error
from gankit.models.encoder import LOGVAR_RANGE, LatentEncoder, reparametrise
from gankit.objectives import OBJECTIVES
from test_wiring import BASE, L2, H, W, Z, bn2, conv, describe, image_base, instrumented_step, lin, make_trainer

NAME = "bigan"
MNIST = DataInfo("mnist", "images", (1, 28, 28), 10)
POINTS = DataInfo("ring8", "points", (2,), 0, torch.zeros(8, 2), 0.01)
TINY = ["model.g_width=4", "model.d_width=4", "model.z_dim=4", "model.hidden=8"]
ENCODERS = ("deterministic", "stochastic")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets: one torch thread (tests/conftest.py)


def one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg and len(msg) <= 300
    return msg


def build(info, *extra):
    data = ["data=mnist"] if info.kind == "images" else ["data=ring8"]
    torch.manual_seed(0)
    return GANS.get(NAME)(resolve(NAME, data + TINY + list(extra)), info)


# =============================================================================================
# the losses
# =============================================================================================
def test_losses_by_hand():
    """D(x, E(x)) = 1/2, 3/4 and D(G(z), z) = 1/2, 1/4 (logits 0, log 3 and 0, -log 3):
    D: -mean log D(x, E(x)) - mean log(1 - D(G(z), z)) = -(log 1/2 + log 3/4) = log 8/3;
    G/E, non-saturating (labels flipped): -mean log D(G(z), z) - mean log(1 - D(x, E(x))) = log 2 + log 4 = log 8;
    G/E, minimax: mean log D(x, E(x)) + mean log(1 - D(G(z), z)) = -log 8/3."""
    d_enc = torch.tensor([0.0, math.log(3.0)])
    d_gen = torch.tensor([0.0, -math.log(3.0)])
    ns, mm = OBJECTIVES.get("nonsaturating"), OBJECTIVES.get("minimax")
    assert bigan_d_loss(ns, d_enc, d_gen).item() == pytest.approx(math.log(8 / 3), rel=1e-6)
    assert bigan_d_loss(mm, d_enc, d_gen).item() == pytest.approx(math.log(8 / 3), rel=1e-6)
    assert bigan_ge_loss(ns, d_enc, d_gen).item() == pytest.approx(math.log(8.0), rel=1e-6)
    assert bigan_ge_loss(mm, d_enc, d_gen).item() == pytest.approx(-math.log(8 / 3), rel=1e-6)
    # the same from sigmoids for random logits: the flipped loss is D's loss with the two kinds of pairs swapped
    g = torch.Generator().manual_seed(0)
    a, b = torch.randn(7, generator=g) * 3, torch.randn(5, generator=g) * 3
    want_d = -(torch.sigmoid(a).log().mean() + (1 - torch.sigmoid(b)).log().mean())
    want_ge = -(torch.sigmoid(b).log().mean() + (1 - torch.sigmoid(a)).log().mean())
    assert bigan_d_loss(ns, a, b).item() == pytest.approx(want_d.item(), rel=1e-5)
    assert bigan_ge_loss(ns, a, b).item() == pytest.approx(want_ge.item(), rel=1e-5)
    assert bigan_ge_loss(mm, a, b).item() == pytest.approx(-want_d.item(), rel=1e-5)


class StubD(nn.Module):
    """D(x, z) = w * mean(x) + sum(z)."""

    def __init__(self):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(2.0))

    def forward(self, x, z):
        return self.w * x.flatten(1).mean(1) + z.sum(1)


class StubG(nn.Module):
    """G(z) = an image whose every pixel is scale * z_0."""

    def __init__(self):
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(0.5))

    def forward(self, z, y=None):
        return (self.scale * z[:, :1]).view(-1, 1, 1, 1).expand(-1, 1, 28, 28)


@pytest.mark.parametrize("encoder", ENCODERS)
def test_steps_by_hand(encoder):
    """d_step scores (x, E(x)) against (G(z), z) for fresh z ~ N(0, I) and fresh eps, with G and E held fixed;
    g_step gives G and E the flipped loss, with gradients reaching both."""
    gan = build(MNIST, f"model.encoder={encoder}")
    zd, stochastic = gan.z_dim, encoder == "stochastic"
    lin_e = nn.Sequential(nn.Flatten(), nn.Linear(784, zd * (2 if stochastic else 1)))
    gan.D, gan.G, gan.E = StubD(), StubG(), LatentEncoder(lin_e, zd, stochastic)
    real = torch.randn(5, 1, 28, 28, generator=torch.Generator().manual_seed(1))

    def expected(order):
        torch.manual_seed(3)
        z = torch.randn(5, zd)
        mean, logvar = gan.E.distribution(real)
        z_enc = mean if logvar is None else reparametrise(mean, logvar, torch.randn(5, zd))
        d_enc = 2.0 * real.flatten(1).mean(1) + z_enc.sum(1)
        d_gen = 2.0 * 0.5 * z[:, 0] + z.sum(1)  # G(z) = 0.5 z_0 everywhere, D weighs its mean by 2
        return (F.softplus(-d_enc).mean() + F.softplus(d_gen).mean() if order == "d"
                else F.softplus(-d_gen).mean() + F.softplus(d_enc).mean())

    torch.manual_seed(3)
    loss, logs = gan.d_step(real, None)
    assert loss.item() == pytest.approx(expected("d").item(), rel=1e-5) and logs["d_loss"].item() == loss.item()
    loss.backward()
    assert gan.D.w.grad is not None and gan.G.scale.grad is None
    assert all(p.grad is None for p in gan.E.parameters())  # D's step holds G's and E's outputs fixed
    torch.manual_seed(3)
    loss, logs = gan.g_step(real, None)
    assert loss.item() == pytest.approx(expected("g").item(), rel=1e-5) and logs["g_loss"].item() == loss.item()
    assert ("e_sigma" in logs) == stochastic
    gan.D.w.grad = None
    loss.backward()
    assert gan.G.scale.grad.abs().item() > 0
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in gan.E.parameters())
    # the step draws fresh z (and eps): another call gives another loss
    assert gan.g_step(real, None)[0].item() != pytest.approx(loss.item(), rel=1e-6)


# =============================================================================================
# one real training step: the d phase changes D only, the g phase G and E only
# =============================================================================================


@pytest.mark.parametrize("data", ["mnist", "ring8"])
@pytest.mark.parametrize("encoder", ENCODERS)
def test_one_step_each_phase_changes_only_its_own_parameters(tmp_path, request, data, encoder):
    base = image_base(request) if data == "mnist" else BASE
    tr = make_trainer(tmp_path, NAME, f"model.encoder={encoder}", "model.d_dropout=0.2", base=base)
    gan = tr.gan
    assert [(p.group, p.repeat) for p in tr.phases] == [("d", 1), ("g", 1)]
    assert [id(p) for p in tr.optims["g"].param_groups[0]["params"]] == \
        [id(p) for p in list(gan.G.parameters()) + list(gan.E.parameters())]
    assert [id(p) for p in tr.optims["d"].param_groups[0]["params"]] == [id(p) for p in gan.D.parameters()]
    updates = instrumented_step(tr, {"G": gan.G, "E": gan.E, "D": gan.D})
    owners = {"d": ("D",), "g": ("G", "E")}
    assert [u[0] for u in updates] == ["d", "g"]
    for group, before, after, grads in updates:
        for net in ("G", "E", "D"):
            if net in owners[group]:
                assert {n for k, n, _ in grads if k == net} == set(before[net]), (group, net)  # all trained
                moved = [n for k, n, nonzero in grads if k == net and nonzero]
                assert len(moved) >= len(before[net]) // 2, (group, net)
                unchanged = [n for n in moved if torch.equal(before[net][n], after[net][n])]
                assert not unchanged, f"{group} phase did not change {net}.{unchanged}"
            else:
                assert not [n for k, n, _ in grads if k == net], f"{group} phase sent gradients to {net}"
                for n in before[net]:
                    assert torch.equal(before[net][n], after[net][n]), f"{group} phase changed {net}.{n}"
    logs = tr.meter.pop_means()
    assert {"d_loss", "g_loss"} <= set(logs) and all(math.isfinite(v) for v in logs.values())
    assert ("e_sigma" in logs) == (encoder == "stochastic")


# =============================================================================================
# the stochastic encoder
# =============================================================================================
def test_reparametrisation_formula_moments_and_gradients():
    mean = torch.tensor([[1.5, -2.0]], requires_grad=True)
    logvar = torch.tensor([[math.log(4.0), math.log(0.25)]], requires_grad=True)
    eps = torch.tensor([[0.3, -1.2]])
    z = reparametrise(mean, logvar, eps)
    assert torch.allclose(z, torch.tensor([[1.5 + 2.0 * 0.3, -2.0 + 0.5 * -1.2]]))
    z.sum().backward()
    assert torch.equal(mean.grad, torch.ones(1, 2))  # dz/dmean = 1
    assert torch.allclose(logvar.grad, 0.5 * torch.exp(0.5 * logvar.detach()) * eps)  # dz/dlogvar = sigma eps / 2
    # a draw of N(mean, diag(exp(logvar))): moments over many draws
    torch.manual_seed(0)
    n = 200_000
    draws = reparametrise(mean.detach().expand(n, 2), logvar.detach().expand(n, 2)).double()
    var = torch.tensor([4.0, 0.25], dtype=torch.float64)
    assert torch.all((draws.mean(0) - torch.tensor([1.5, -2.0], dtype=torch.float64)).abs() < 5 * (var / n).sqrt())
    assert torch.all((draws.var(0) - var).abs() < 5 * var * math.sqrt(2 / n))


def test_latent_encoder_splits_mean_and_log_variance():
    net = nn.Linear(3, 4)
    x = torch.randn(6, 3)
    enc = LatentEncoder(net, 2, stochastic=True)
    mean, logvar = enc.distribution(x)
    out = net(x)
    assert torch.equal(mean, out[:, :2]) and torch.equal(logvar, out[:, 2:].clamp(*LOGVAR_RANGE))
    eps = torch.randn(6, 2)
    assert torch.allclose(enc(x, eps), mean + torch.exp(0.5 * logvar) * eps)
    assert torch.equal(enc.mean(x), mean)
    torch.manual_seed(1)
    a = enc(x)
    assert not torch.equal(a, enc(x))  # a new draw each call
    with torch.no_grad():  # an extreme log-variance is clamped before exp
        net.bias[2:] = 1e4
    assert torch.all(enc.distribution(x)[1] == LOGVAR_RANGE[1])
    det = LatentEncoder(nn.Linear(3, 2), 2)
    m, lv = det.distribution(x)
    assert lv is None and torch.equal(det(x), m) and torch.equal(det.mean(x), m)


def test_encode_uses_the_posterior_mean_in_eval_mode():
    gan = build(MNIST, "model.encoder=stochastic")
    x = torch.rand(10, 1, 28, 28) * 2 - 1
    gan.train()
    f = gan.encode(x, chunk=3)
    assert f.shape == (10, gan.z_dim) and gan.E.training  # E's mode is put back
    gan.E.eval()
    with torch.no_grad():
        assert torch.allclose(f, gan.E.mean(x), atol=1e-6)
    assert torch.equal(gan.encode(x), gan.encode(x))  # no noise
    r = gan.reconstruct(x[:4])
    assert r.shape == (4, 1, 28, 28) and torch.allclose(r, gan.generate_from(gan.encode(x[:4])))


# =============================================================================================
# the nets
# =============================================================================================
@pytest.mark.parametrize("info, encoder, extra, layers", [
    (MNIST, "deterministic", [], [conv(1, W, 4, 2, 1), L2, conv(W, 2 * W, 4, 2, 1, False), bn2(2 * W), L2,
                                  conv(2 * W, Z, 7, 1, 0)]),
    (MNIST, "stochastic", ["model.e_width=6"], [conv(1, 6, 4, 2, 1), L2, conv(6, 12, 4, 2, 1, False), bn2(12), L2,
                                                conv(12, 2 * Z, 7, 1, 0)]),
    (POINTS, "deterministic", [], [lin(2, H), L2, lin(H, H), L2, lin(H, H), L2, lin(H, Z)]),
    (POINTS, "stochastic", ["model.e_depth=1"], [lin(2, H), L2, lin(H, 2 * Z)]),
], ids=["28-deterministic", "28-stochastic", "points-deterministic", "points-stochastic"])
def test_encoder_layers(info, encoder, extra, layers):
    """E is DCGAN's D trunk whose last 7x7 conv gives z (BiGAN) or its mean and log-variance (ALI) at width
    model.e_width (0: d_width); on 2-D points an MLP of e_depth hidden layers."""
    data = "data=mnist" if info.kind == "images" else "data=ring8"
    over = [data, f"model.g_width={W}", f"model.d_width={W}", f"model.z_dim={Z}", f"model.hidden={H}",
            f"model.encoder={encoder}"]
    gan = GANS.get(NAME)(resolve(NAME, over + extra), info)
    assert describe(gan.E) == layers
    x = torch.randn(3, *info.shape)
    assert gan.E(x).shape == (3, Z) and gan.D(x, gan.E(x)).shape == (3,)


def test_d_dropout_and_the_uniform_prior():
    gan = build(MNIST, "model.d_dropout=0.3", "model.prior=uniform")
    drops = [m for m in gan.D.joint if isinstance(m, nn.Dropout)]
    assert len(drops) == 2 and all(d.p == 0.3 for d in drops) and drops[0] is not drops[1]
    assert not any(isinstance(m, nn.Dropout) for m in build(MNIST).D.modules())
    z = gan.sample_z(20000, generator=torch.Generator().manual_seed(0))
    assert z.shape == (20000, 4) and z.min() >= -1 and z.max() <= 1 and z.min() < -0.999 and z.max() > 0.999
    assert torch.equal(z, gan.sample_z(20000, generator=torch.Generator().manual_seed(0)))


# =============================================================================================
# the metrics
# =============================================================================================
def test_linear_probe_reaches_100_percent_on_separable_data():
    g = torch.Generator().manual_seed(0)
    centres = torch.tensor([[4.0, 0, 0, 0, 0], [0, 4.0, 0, 0, 0], [0, 0, 4.0, 0, 0]])
    y_tr, y_te = torch.arange(60) % 3, torch.arange(30) % 3
    f_tr = centres[y_tr] + 0.3 * torch.randn(60, 5, generator=g)
    f_te = centres[y_te] + 0.3 * torch.randn(30, 5, generator=g)
    assert linear_probe_accuracy(f_tr, y_tr, f_te, y_te) == 1.0
    # separable by an oblique hyperplane (with a margin), features on very different scales: standardised first
    w = torch.tensor([1.0, -2.0, 0.5])
    pts = torch.randn(400, 3, generator=g)
    pts = pts[(pts @ w).abs() > 0.5][:200] * torch.tensor([1000.0, 1.0, 0.001])
    lab = ((pts / torch.tensor([1000.0, 1.0, 0.001])) @ w > 0).long()
    assert linear_probe_accuracy(pts[:150], lab[:150], pts[150:], lab[150:], num_classes=2) == 1.0
    # random labels: near chance on new data
    acc = linear_probe_accuracy(f_tr, torch.randint(3, (60,), generator=g), f_te, torch.randint(3, (30,), generator=g))
    assert acc < 0.8


def test_nearest_neighbour_accuracy_is_a_brute_force_count():
    g = torch.Generator().manual_seed(0)
    f_tr, f_te = torch.randn(50, 3, generator=g), torch.randn(37, 3, generator=g)
    y_tr, y_te = torch.randint(4, (50,), generator=g), torch.randint(4, (37,), generator=g)
    hits = 0
    for i in range(37):
        dists = [sum((f_te[i, k].item() - f_tr[j, k].item()) ** 2 for k in range(3)) for j in range(50)]
        hits += int(y_tr[dists.index(min(dists))].item() == y_te[i].item())
    assert 0 < hits < 37
    for chunk in (1, 7, 1000):
        assert nearest_neighbour_accuracy(f_tr, y_tr, f_te, y_te, chunk=chunk) == hits / 37
    assert nearest_neighbour_accuracy(f_tr, y_tr, f_tr, y_tr) == 1.0  # each point is its own neighbour


def test_reconstruction_error_is_its_formula():
    g = torch.Generator().manual_seed(0)
    x = torch.rand(10, 1, 4, 4, generator=g) * 2 - 1
    shift = torch.rand(1, 1, 4, 4, generator=g)
    for chunk in (3, 10, 100):
        err = reconstruction_error(x, lambda xb: xb * 0.5 + shift, chunk=chunk)
        assert err == pytest.approx((x - (x * 0.5 + shift)).abs().mean().item(), rel=1e-6)
    assert reconstruction_error(x, lambda xb: xb) == 0.0


def test_evaluation_reports_the_encoder_metrics(mnist_root):
    """evaluate_gan on a bigan: linear_probe, nn_accuracy and recon_error on E's features of train[:probe_size]
    and the whole test split, equal to the functions applied by hand; they join the default metrics; other GANs
    and other splits are refused."""
    from gankit.data import load_dataset
    from gankit.metrics.suite import _resolve_metrics
    from gankit.train.run import evaluate_gan

    gan = build(MNIST)
    gan.eval()
    metrics = ["linear_probe", "nn_accuracy", "recon_error"]
    r = evaluate_gan(gan, MNIST, n=30, metrics=metrics, root=str(mnist_root), probe_size=300)
    x_tr, y_tr, _ = load_dataset("mnist", root=str(mnist_root), split="train", size=300)
    x_te, y_te, _ = load_dataset("mnist", root=str(mnist_root), split="test")
    f_tr, f_te = gan.encode(x_tr), gan.encode(x_te)
    assert (r["probe_train_images"], r["probe_test_images"], r["recon_images"]) == (300, 10000, 10000)
    assert r["nn_accuracy"] == nearest_neighbour_accuracy(f_tr, y_tr, f_te, y_te)
    assert r["linear_probe_accuracy"] == pytest.approx(linear_probe_accuracy(f_tr, y_tr, f_te, y_te, 10), abs=2e-4)
    assert 0.1 < r["nn_accuracy"] <= 1 and 0.1 < r["linear_probe_accuracy"] <= 1  # an untrained E is better than chance
    assert r["recon_error"] == pytest.approx((x_te - gan.reconstruct(x_te)).abs().mean().item(), rel=1e-5)
    proto = r["protocol"]["encoder"]
    assert proto["fitted_on"] == "train[:300]" and proto["scored"] == "test (all images)"
    assert set(r["protocol"]["metrics"]) == set(metrics)
    names = [m.name for m in _resolve_metrics(None, None, None, "mnist", None, None, gan.encode, gan.generate_from)]
    assert set(metrics) <= set(names) and "fid" in names
    dcgan = GANS.get("dcgan")(resolve("dcgan", TINY[:3]), MNIST)
    with pytest.raises(GankitError, match="learns an encoder of real images") as e:
        evaluate_gan(dcgan, MNIST, n=30, metrics=["nn_accuracy"], root=str(mnist_root))
    one_line(e)
    with pytest.raises(GankitError, match="--split test") as e:
        evaluate_gan(gan, MNIST, n=30, metrics=["linear_probe"], root=str(mnist_root), split="train")
    one_line(e)


def test_unlabelled_data_leaves_the_probes_out_of_the_defaults(monkeypatch):
    """On data without labels linear_probe and nn_accuracy give nothing when they only came with the defaults,
    and a one-line error when asked for by name; recon_error needs no labels."""
    from gankit.metrics import METRICS
    from gankit.metrics.suite import Context

    x = torch.rand(6, 1, 4, 4) * 2 - 1
    monkeypatch.setattr(Context, "real_split", lambda self, split, size=None: (x, None))
    for explicit in (False, True):
        opts = dict(probe_size=10, split="test", batch_size=4, dataset="imagefolder", explicit=explicit)
        ctx = Context(torch.zeros(1, 1), torch.zeros(1, 1), None, "", opts, encoder=lambda xb: xb.flatten(1),
                      decoder=lambda f: f.view(-1, 1, 4, 4) * 0.5)
        if explicit:
            with pytest.raises(GankitError, match="need the labels of 'imagefolder'") as e:
                METRICS.get("nn_accuracy").fn(ctx)
            one_line(e)
        else:
            assert METRICS.get("linear_probe").fn(ctx) == {} and METRICS.get("nn_accuracy").fn(ctx) == {}
        r = METRICS.get("recon_error").fn(ctx)
        assert r["recon_error"] == pytest.approx((x * 0.5).abs().mean().item(), rel=1e-6) and r["recon_images"] == 6


# =============================================================================================
# presets and settings
# =============================================================================================
def test_presets():
    cfg = resolve(NAME)
    assert (cfg.data.name, cfg.batch_size, cfg.objective, cfg.model["z_dim"], cfg.model["encoder"]) == \
        ("mnist", 128, "nonsaturating", 50, "deterministic")
    assert cfg.optim["g"].lr == cfg.optim["d"].lr == 2e-4 and cfg.optim["g"].betas == (0.5, 0.999)
    ali = resolve("ali")
    assert ali.gan == NAME and (ali.model["encoder"], ali.model["d_dropout"]) == ("stochastic", 0.2)
    rest = {k: v for k, v in ali.to_dict().items() if k != "model"}
    assert rest == {k: v for k, v in cfg.to_dict().items() if k != "model"}
    assert {k: v for k, v in ali.model.items() if k not in ("encoder", "d_dropout")} == \
        {k: v for k, v in cfg.model.items() if k not in ("encoder", "d_dropout")}
    pts = resolve("ali", ["data=ring8"])
    assert (pts.model["arch"], pts.model["z_dim"], pts.model["encoder"], pts.batch_size) == \
        ("mlp", 2, "stochastic", 512)
    assert resolve(NAME, ["model.encoder=stochastic"]).model["encoder"] == "stochastic"
    paper = resolve("bigan-paper")  # the paper's fully connected nets and uniform prior, 12,000 steps
    assert paper.gan == NAME and paper.steps == 12000 and paper.batch_size == 128
    assert {k: paper.model[k] for k in ("arch", "prior", "hidden", "g_depth", "d_depth", "e_depth", "z_dim")} == \
        {"arch": "mlp", "prior": "uniform", "hidden": 1024, "g_depth": 2, "d_depth": 2, "e_depth": 2, "z_dim": 50}
    assert paper.optim["g"].lr == paper.optim["d"].lr == 2e-4 and paper.optim["g"].betas == (0.5, 0.999)


@pytest.mark.parametrize("over, match", [
    (["model.encoder=stochastc"], "model.encoder must be one of deterministic, stochastic.*did you mean 'stochastic'"),
    (["model.encoder=gaussian"], "model.encoder must be one of deterministic, stochastic"),
    (["objective=lsgan"], "objective must be nonsaturating or minimax, got 'lsgan'"),
    (["penalties={gp: 10}"], "takes no penalties \\(gp\\)"),
    (["model.d_dropout=1.0"], "model.d_dropout must be"),
    (["model.prior=laplace"], "model.prior must be one of normal, uniform"),
    (["data=ring8", "model.arch=dcgan"], "needs image data"),
    (["model.encoders=stochastic"], "unknown key 'model.encoders'.*did you mean 'model.encoder'"),
], ids=["typo", "unknown-encoder", "objective", "penalty", "dropout", "prior", "arch-on-points", "key"])
def test_bad_settings_give_one_line_config_errors(over, match):
    with pytest.raises(ConfigError, match=match) as e:
        resolve(NAME, over)
    assert one_line(e).startswith("config:")


# =============================================================================================
# a run end to end
# =============================================================================================
def test_run_end_to_end_recon_picture_sample_and_eval(tmp_path, mnist_root):
    """Training's final evaluation reports the encoder metrics with the usual ones and writes samples/recon.png;
    `gankit sample RUN --recon` writes the same kind of picture; `gankit eval` reports the same encoder metrics."""
    from PIL import Image

    from gankit.viz import make_image_grid

    out = tmp_path / "r"
    run = gankit.train(NAME, f"data.root={mnist_root}", "data.size=64", "batch_size=8", "steps=2",
                       "model.encoder=stochastic", "train.eval_samples=30", "train.progress=false",
                       "train.grid_size=16", *TINY, out=str(out))
    ev = json.loads((out / "eval.json").read_text())
    for k in ("linear_probe_accuracy", "nn_accuracy"):
        assert 0 <= ev[k] <= 1
    assert 0 < ev["recon_error"] < 2 and ev["probe_train_images"] == 60000 and "cfid" in ev  # every training image
    # the end-of-training picture: 32 test images in rows of 8, each row above its reconstructions
    side_w, side_h = 8 * 28 + 9 * 2, 8 * 28 + 9 * 2
    assert Image.open(out / "samples" / "recon.png").size == (side_w, side_h)
    x = run.gan.real_images(16, seed=4)
    images, nrow = run.gan.reconstruction_grid(x, 8)
    assert nrow == 8 and images.shape == (32, 1, 28, 28)
    assert torch.equal(images[:8], x[:8]) and torch.equal(images[16:24], x[8:])
    assert torch.allclose(images[8:16], run.gan.reconstruct(x[:8]), atol=1e-5)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    r = subprocess.run([sys.executable, "-m", "gankit.cli", "sample", str(out), "--recon", "--n", "16", "--seed", "4",
                        "--out", str(tmp_path / "recon.png")], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    got = np.asarray(Image.open(tmp_path / "recon.png"), dtype=np.int16)
    want = make_image_grid(images, nrow=8)[:, :, 0].numpy().astype(np.int16)
    assert got.shape == want.shape and np.abs(got - want).max() <= 1
    r = subprocess.run([sys.executable, "-m", "gankit.cli", "sample", str(out), "--recon", "--out",
                        str(tmp_path / "recon.npz")], capture_output=True, text=True, env=env)
    assert r.returncode == 2 and "must end in .png" in r.stderr
    r = subprocess.run([sys.executable, "-m", "gankit.cli", "eval", str(out), "--n", "30", "--out",
                        str(tmp_path / "e.json"), "--data-root", str(mnist_root)],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    assert "nn_accuracy" in r.stdout and "recon_error" in r.stdout
    again = json.loads((tmp_path / "e.json").read_text())
    assert again["nn_accuracy"] == ev["nn_accuracy"]  # the same E, the same images
    assert again["linear_probe_accuracy"] == pytest.approx(ev["linear_probe_accuracy"], abs=1e-3)
    assert again["recon_error"] == pytest.approx(ev["recon_error"], rel=1e-4)
    # --probe-size: the probes fitted on fewer training images, stamped in the protocol; a bad value is one line
    r = subprocess.run([sys.executable, "-m", "gankit.cli", "eval", str(out), "--n", "30", "--out",
                        str(tmp_path / "e2.json"), "--data-root", str(mnist_root), "--probe-size", "500",
                        "--metrics", "nn_accuracy"], capture_output=True, text=True, env=env)
    assert r.returncode == 0, r.stderr
    small = json.loads((tmp_path / "e2.json").read_text())
    assert small["probe_train_images"] == 500 and small["protocol"]["encoder"]["fitted_on"] == "train[:500]"
    assert again["protocol"]["encoder"]["fitted_on"] == "train (all images)"
    r = subprocess.run([sys.executable, "-m", "gankit.cli", "eval", str(out), "--probe-size", "0"],
                       capture_output=True, text=True, env=env)
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0 and "--probe-size must be" in r.stderr
    # reconstructions need an encoder
    plain = gankit.train("gan", "data=ring8", "data.size=64", "batch_size=8", "steps=1", "model.hidden=8",
                         "train.progress=false", out=str(tmp_path / "g"))
    with pytest.raises(GankitError, match="has an encoder") as e:
        plain.save_reconstructions(tmp_path / "x.png")
    one_line(e)
