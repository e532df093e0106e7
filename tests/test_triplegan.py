"""Triple-GAN (Li, Xu, Zhu & Zhang 2017, arXiv 1703.02291): the `triplegan` GAN.

What is checked: D's, G's and C's losses against hand-computed values on small tensors (and the D loss against its
sigmoid form, the per-sample G cost against the objective's mean, C's REINFORCE surrogate against the exact
gradient of C's expected cost); C's pseudo-labels (sampled with the softmax's frequencies, or argmax); the steps
with stub nets: the labelled, unlabelled and generated rows go to the right terms, the pseudo-labels come from C,
R_P is switched on after model.alpha_p_start C updates, and gradients reach only the player of the step; one real
training step in which the d, c and g phases change only D's, C's and G's parameters (three optimiser groups, no
trainer change); C's layers; the preset and the one-line errors of bad settings; and evaluation: C's test error
(classifier_error) and G's class_accuracy, from the Python API, the final evaluation and `gankit eval`, with the
C-update count and C's optimiser kept across a resume.

Everything runs on the CPU at tiny width; the cases with real data read MNIST (GANKIT_DATA or ../shared/data)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest
import torch
import torch.nn.functional as F
from torch import nn

import gankit
from gankit.config import resolve
from gankit.data import UNLABELLED, DataInfo
from gankit.errors import ConfigError, GankitError
from gankit.gans import GANS
from gankit.gans.conditional.triplegan import (per_sample_g_loss, pseudo_labels, triplegan_c_loss, triplegan_d_loss,
                                               triplegan_g_loss)
from gankit.models import DCGANDiscriminator, MLPDiscriminator
from gankit.objectives import OBJECTIVES
from test_wiring import L2, conv, describe, image_base, instrumented_step, lin, make_trainer

NAME = "triplegan"
MNIST = DataInfo("mnist", "images", (1, 28, 28), 10)
TINY = ["model.g_width=4", "model.d_width=4", "model.c_width=4", "model.z_dim=4", "model.hidden=8"]
NS, MM = OBJECTIVES.get("nonsaturating"), OBJECTIVES.get("minimax")


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets: one torch thread (tests/conftest.py)


def one_line(e) -> str:
    msg = str(e.value)
    assert "\n" not in msg and len(msg) <= 300
    return msg


def build(*extra):
    torch.manual_seed(0)
    return GANS.get(NAME)(resolve(NAME, TINY + list(extra)), MNIST)


# =============================================================================================
# the losses
# =============================================================================================
def test_d_and_g_losses_by_hand():
    """D(x_l, y_l) = 1/2, 3/4; D(x_u, y_c) = 1/2; D(G(z, y), y) = 1/4, 3/4 (logits 0, log 3; 0; -log 3, log 3).
    D: -mean log D(data) - alpha log(1 - D(C's pair)) - (1 - alpha) mean log(1 - D(G's pairs));
    G: (1 - alpha) (-mean log D(G's pairs)), minimax (1 - alpha) mean log(1 - D(G's pairs))."""
    l3 = math.log(3.0)
    d_data, d_c, d_g = torch.tensor([0.0, l3]), torch.tensor([0.0]), torch.tensor([-l3, l3])
    real = (math.log(2) + math.log(4 / 3)) / 2      # -mean log D(data)
    fake_c = math.log(2)                           # -log(1 - 1/2)
    fake_g = (math.log(4 / 3) + math.log(4)) / 2   # -mean log(1 - D): D = 1/4, 3/4
    for alpha in (0.5, 0.25):
        want = real + alpha * fake_c + (1 - alpha) * fake_g
        for obj in (NS, MM):  # the same D loss for both
            assert triplegan_d_loss(obj, d_data, d_c, d_g, alpha).item() == pytest.approx(want, rel=1e-6)
        ns = (1 - alpha) * (math.log(4) + math.log(4 / 3)) / 2     # -mean log D(G's pairs)
        mm = (1 - alpha) * (math.log(3 / 4) + math.log(1 / 4)) / 2  # mean log(1 - D(G's pairs))
        assert triplegan_g_loss(NS, d_g, alpha).item() == pytest.approx(ns, rel=1e-6)
        assert triplegan_g_loss(MM, d_g, alpha).item() == pytest.approx(mm, rel=1e-6)
    # the same from sigmoids for random logits and batches of different sizes
    g = torch.Generator().manual_seed(0)
    a, b, c = (torch.randn(n, generator=g, dtype=torch.float64) * 3 for n in (4, 7, 5))
    want = (-torch.sigmoid(a).log().mean() - 0.3 * (1 - torch.sigmoid(b)).log().mean()
            - 0.7 * (1 - torch.sigmoid(c)).log().mean())
    assert triplegan_d_loss(NS, a, b, c, 0.3).item() == pytest.approx(want.item(), rel=1e-9)


def test_per_sample_g_loss_is_the_objectives_per_sample_term():
    d = torch.tensor([-2.0, 0.0, math.log(3.0), 30.0])
    p = torch.sigmoid(d.double())
    assert torch.allclose(per_sample_g_loss(NS, d).double(), -p.log(), rtol=1e-5)     # -log D
    assert torch.allclose(per_sample_g_loss(MM, d).double(), torch.sigmoid(-d.double()).log(), rtol=1e-5)  # log(1 - D)
    for obj in (NS, MM):
        assert per_sample_g_loss(obj, d).mean().item() == pytest.approx(obj.g_loss(d).item(), rel=1e-6)


def test_c_loss_by_hand():
    """K = 2. Unlabelled rows: logits (0, 0) with y_c = 1 and cost 2, (log 3, 0) with y_c = 0 and cost 1;
    labelled: (0, log 2) labelled 1; generated: (log 4, 0) generated for 0, (0, 0) for 1."""
    l2, l3, l4 = math.log(2.0), math.log(3.0), math.log(4.0)
    logits_u = torch.tensor([[0.0, 0.0], [l3, 0.0]], requires_grad=True)
    y_c, cost = torch.tensor([1, 0]), torch.tensor([2.0, 1.0])
    logits_l, y_l = torch.tensor([[0.0, l2]]), torch.tensor([1])
    logits_g, y_g = torch.tensor([[l4, 0.0], [0.0, 0.0]]), torch.tensor([0, 1])
    alpha, alpha_p = 0.5, 0.1
    loss, t = triplegan_c_loss(logits_u, y_c, cost, logits_l, y_l, logits_g, y_g, alpha, alpha_p)
    score = (math.log(1 / 2) * 2 + math.log(3 / 4) * 1) / 2  # mean log p_c(y_c | x_u) * cost
    r_l = -math.log(2 / 3)
    r_p = (-math.log(4 / 5) - math.log(1 / 2)) / 2
    assert loss.item() == pytest.approx(alpha * score + r_l + alpha_p * r_p, rel=1e-6)
    assert t["adv"].item() == pytest.approx(1.5) and t["sup"].item() == pytest.approx(r_l, rel=1e-6)
    assert t["pseudo"].item() == pytest.approx(r_p, rel=1e-6)
    assert t["loss"].item() == pytest.approx(alpha * 1.5 + r_l + alpha_p * r_p, rel=1e-6)
    assert not any(v.requires_grad for v in t.values())
    loss.backward()
    # d/dlogits of alpha/N sum_i cost_i log softmax_{y_i}: alpha/N cost_i (onehot(y_i) - softmax_i)
    p = torch.softmax(logits_u.detach(), 1)
    want = alpha / 2 * cost[:, None] * (F.one_hot(y_c, 2) - p)
    assert torch.allclose(logits_u.grad, want, atol=1e-6)
    # a 0-d tensor weight (R_P on or off by the step count) gives the same
    on, _ = triplegan_c_loss(logits_u, y_c, cost, logits_l, y_l, logits_g, y_g, alpha, torch.tensor(alpha_p))
    off, t0 = triplegan_c_loss(logits_u, y_c, cost, logits_l, y_l, logits_g, y_g, alpha, torch.tensor(0.0))
    assert on.item() == pytest.approx(loss.item()) and off.item() == pytest.approx(alpha * score + r_l, rel=1e-6)
    assert t0["loss"].item() == pytest.approx(alpha * 1.5 + r_l, rel=1e-6)


def test_alpha_zero_trains_c_on_the_labelled_images_alone():
    """model.alpha=0 model.alpha_p=0 is the baseline the issue asks for: C's loss is its cross-entropy on the
    labelled pairs only (the unlabelled and generated rows get no gradient), and the config accepts it."""
    logits_u = torch.tensor([[0.3, -0.2], [1.0, 0.5]], requires_grad=True)
    logits_l = torch.tensor([[0.2, 0.9], [1.5, -0.5]], requires_grad=True)
    logits_g = torch.tensor([[0.4, 0.1]], requires_grad=True)
    y = torch.tensor([1, 0])
    loss, _ = triplegan_c_loss(logits_u, torch.tensor([0, 1]), torch.tensor([2.0, 3.0]), logits_l, y,
                               logits_g, torch.tensor([1]), 0.0, 0.0)
    assert loss.item() == pytest.approx(F.cross_entropy(logits_l, y).item(), rel=1e-6)
    loss.backward()
    assert logits_u.grad is None or not logits_u.grad.any()
    assert logits_g.grad is None or not logits_g.grad.any()
    assert build("model.alpha=0", "model.alpha_p=0").p.alpha == 0.0


def test_reinforce_surrogate_estimates_the_gradient_of_cs_expected_cost():
    """With y_c drawn from p_c(y | x) (pseudo_labels, sample), the mean gradient of log p_c(y_c | x) c(x, y_c)
    is the gradient of E_{p_c} c = sum_y p_c(y | x) c(x, y) (REINFORCE): Monte Carlo against the exact one."""
    logits = torch.tensor([[0.5, -1.0, 1.5], [0.0, 2.0, -0.5]], requires_grad=True)
    costs = torch.tensor([[1.0, 3.0, 0.5], [2.0, 0.2, 4.0]])  # c(x_i, y)
    exact = torch.autograd.grad((torch.softmax(logits, 1) * costs).sum(1).mean(), logits)[0]
    n = 100_000  # the estimate's standard deviation is below 0.01 per entry
    big = logits.repeat(n, 1)
    y = pseudo_labels(big, "sample", torch.Generator().manual_seed(3))
    cost = costs.repeat(n, 1).gather(1, y[:, None]).squeeze(1)
    zero = torch.zeros(1, 3)
    surrogate, _ = triplegan_c_loss(big, y, cost, zero, torch.tensor([0]), zero, torch.tensor([0]), 1.0, 0.0)
    est = torch.autograd.grad(surrogate, logits)[0]  # the mean over the 2n rows: each row's half of the estimate
    assert torch.allclose(est, exact, atol=0.03), (est, exact)
    assert not torch.allclose(est, torch.zeros_like(est), atol=0.1)


def test_pseudo_labels_sample_with_the_softmax_frequencies_or_take_the_argmax():
    logits = torch.tensor([[math.log(0.2), math.log(0.5), math.log(0.3)]]).repeat(60_000, 1)
    y = pseudo_labels(logits, "sample", torch.Generator().manual_seed(0))
    freq = torch.bincount(y, minlength=3).double() / len(y)
    want = torch.tensor([0.2, 0.5, 0.3], dtype=torch.float64)
    assert torch.all((freq - want).abs() < 5 * (want * (1 - want) / len(y)).sqrt())
    assert torch.equal(y, pseudo_labels(logits, "sample", torch.Generator().manual_seed(0)))  # seeded: the same
    sharp = torch.tensor([[0.0, 200.0, 0.0], [300.0, 0.0, 0.0]])
    assert pseudo_labels(sharp, "sample").tolist() == [1, 0]  # (almost) one-hot: that class
    assert pseudo_labels(logits[:2], "argmax").tolist() == [1, 1]
    assert pseudo_labels(logits[:1].requires_grad_(), "sample").dtype == torch.int64


# =============================================================================================
# the steps, with stub nets
# =============================================================================================
K = 10


class StubC(nn.Module):
    """C's logits: s times the first K pixels."""

    def __init__(self):
        super().__init__()
        self.s = nn.Parameter(torch.tensor(3.0))

    def forward(self, x, y=None):
        return self.s * x.flatten(1)[:, :K]


class StubD(nn.Module):
    """D(x, y) = w * (the pixel of x at index y) + b."""

    def __init__(self):
        super().__init__()
        self.w, self.b = nn.Parameter(torch.tensor(2.0)), nn.Parameter(torch.tensor(0.1))

    def forward(self, x, y):
        return self.w * x.flatten(1).gather(1, y.long()[:, None]).squeeze(1) + self.b


class StubG(nn.Module):
    """G(z, y) = a * template[y] (z ignored)."""

    def __init__(self, templates):
        super().__init__()
        self.a = nn.Parameter(torch.tensor(0.5))
        self.register_buffer("t", templates)

    def forward(self, z, y):
        return self.a * self.t[y]


def stubbed(*extra):
    gan = build(*extra)
    g = torch.Generator().manual_seed(7)
    gan.C, gan.D, gan.G = StubC(), StubD(), StubG(torch.randn(K, 1, 28, 28, generator=g))
    return gan


def d_of(x, y, w=2.0, b=0.1):
    return w * x.flatten(1).gather(1, y[:, None]).squeeze(1) + b


def batch(n_u=3, n_l=3, seed=2):
    g = torch.Generator().manual_seed(seed)
    real = torch.randn(n_u + n_l, 1, 28, 28, generator=g)
    labels = torch.tensor([UNLABELLED] * n_u + [4, 0, 9, 2, 7][:n_l])
    return real, labels


@pytest.mark.parametrize("pseudo", ["argmax", "sample"])
def test_d_step_routes_labelled_unlabelled_and_generated_rows(pseudo):
    """D: the labelled rows with their labels are the data pairs, the unlabelled rows with C's labels C's pairs,
    G's samples for balanced labels (0, 1, 2 for 3 rows) G's pairs; C and G get no gradient."""
    gan = stubbed("batch_size=3", "data.labels=20", f"model.pseudo={pseudo}", "model.alpha=0.25")
    real, labels = batch()
    torch.manual_seed(5)
    loss, logs = gan.d_step(real, labels)
    x_u, x_l, y_l = real[:3], real[3:], labels[3:]
    torch.manual_seed(5)  # the same draw of the pseudo-labels
    y_c = pseudo_labels(3.0 * x_u.flatten(1)[:, :K], pseudo)
    y_g = torch.arange(3)
    want = (F.softplus(-d_of(x_l, y_l)).mean() + 0.25 * F.softplus(d_of(x_u, y_c)).mean()
            + 0.75 * F.softplus(d_of(0.5 * gan.G.t[y_g], y_g)).mean())
    assert loss.item() == pytest.approx(want.item(), rel=1e-6) and logs["d_loss"].item() == loss.item()
    loss.backward()
    assert gan.D.w.grad is not None and gan.C.s.grad is None and gan.G.a.grad is None
    # which rows are which: moving an unlabelled image changes only C's term, a labelled one only the data term
    moved = real.clone()
    moved[3:] += 1.0
    torch.manual_seed(5)
    l2, _ = gan.d_step(moved, labels)
    torch.manual_seed(5)
    want2 = (F.softplus(-d_of(moved[3:], y_l)).mean() + 0.25 * F.softplus(d_of(x_u, y_c)).mean()
             + 0.75 * F.softplus(d_of(0.5 * gan.G.t[y_g], y_g)).mean())
    assert l2.item() == pytest.approx(want2.item(), rel=1e-6)


def test_c_step_routes_rows_and_switches_r_p_on_after_its_start():
    """C: REINFORCE on the unlabelled rows with D's -log D of (x_u, y_c) as the fixed cost, cross-entropy on the
    labelled rows, and (from C update alpha_p_start on) alpha_p x cross-entropy on G's pairs; only C's gradient."""
    gan = stubbed("batch_size=3", "data.labels=20", "model.pseudo=argmax", "model.alpha_p=0.1",
                  "model.alpha_p_start=2")
    real, labels = batch()
    x_u, x_l, y_l = real[:3], real[3:], labels[3:]
    lu, ll = 3.0 * x_u.flatten(1)[:, :K], 3.0 * x_l.flatten(1)[:, :K]
    y_c = lu.argmax(1)
    cost = F.softplus(-d_of(x_u, y_c))
    y_g = torch.arange(3)
    lg = 3.0 * (0.5 * gan.G.t[y_g]).flatten(1)[:, :K]
    score = (F.log_softmax(lu, 1).gather(1, y_c[:, None]).squeeze(1) * cost).mean()
    r_l, r_p = F.cross_entropy(ll, y_l), F.cross_entropy(lg, y_g)
    for updates, w in ((0, 0.0), (1, 0.0), (2, 0.1), (5, 0.1)):
        gan.c_updates.fill_(updates)
        loss, logs = gan.c_step(real, labels)
        assert loss.item() == pytest.approx((0.5 * score + r_l + w * r_p).item(), rel=1e-5), updates
        assert logs["c_loss"].item() == pytest.approx((0.5 * cost.mean() + r_l + w * r_p).item(), rel=1e-5)
        assert logs["c_adv"].item() == pytest.approx(cost.mean().item(), rel=1e-6)
        assert logs["c_sup"].item() == pytest.approx(r_l.item(), rel=1e-6)
        assert logs["c_pseudo"].item() == pytest.approx(r_p.item(), rel=1e-6)
        assert logs["c_class_err"].item() == pytest.approx((ll.argmax(1) != y_l).float().mean().item())
    gan.C.s.grad = None
    loss.backward()
    assert gan.C.s.grad.abs().item() > 0 and gan.D.w.grad is None and gan.G.a.grad is None
    gan.after_step("d"), gan.after_step("g")
    assert gan.c_updates.item() == 5
    gan.after_step("c")
    assert gan.c_updates.item() == 6  # C's updates only
    # alpha_p = 0: no generated batch, no R_P term
    off = stubbed("batch_size=3", "data.labels=20", "model.pseudo=argmax", "model.alpha_p=0")
    loss, logs = off.c_step(real, labels)
    assert loss.item() == pytest.approx((0.5 * score + r_l).item(), rel=1e-5) and "c_pseudo" not in logs


def test_c_adv_expect_is_the_exact_expected_cost_over_every_label():
    """model.c_adv=expect: D scores each unlabelled image with all K labels and C's adversarial term is
    mean_i sum_y p_c(y | x_i) (-log D(x_i, y)), differentiated through p_c; its gradient is the exact one of
    which REINFORCE is an estimate. Pure function by hand (K = 2), then routed through c_step with stub nets."""
    logits_u = torch.tensor([[0.0, math.log(3.0)], [0.0, 0.0]], requires_grad=True)  # p_c = (1/4, 3/4), (1/2, 1/2)
    cost = torch.tensor([[2.0, 1.0], [4.0, 0.0]])
    logits_l, y_l = torch.tensor([[0.0, 0.0]]), torch.tensor([0])
    loss, t = triplegan_c_loss(logits_u, torch.tensor([0, 0]), cost, logits_l, y_l, logits_l, y_l, 0.5, 0.0)
    expected = (0.25 * 2 + 0.75 * 1 + 0.5 * 4 + 0.5 * 0) / 2  # 1.625
    assert t["adv"].item() == pytest.approx(expected) and loss.item() == pytest.approx(0.5 * expected + math.log(2))
    loss.backward()
    p = torch.softmax(logits_u.detach(), 1)
    want = 0.5 / 2 * p * (cost - (p * cost).sum(1, keepdim=True))  # softmax Jacobian times the costs
    assert torch.allclose(logits_u.grad, want, atol=1e-6)
    # in c_step: the costs come from D on every (x_u, y), no gradient reaches D or G
    gan = stubbed("batch_size=3", "data.labels=20", "model.c_adv=expect", "model.alpha_p=0")
    real, labels = batch()
    x_u, x_l, y_l = real[:3], real[3:], labels[3:]
    lu, ll = 3.0 * x_u.flatten(1)[:, :K], 3.0 * x_l.flatten(1)[:, :K]
    every = torch.stack([F.softplus(-d_of(x_u, torch.full((3,), y))) for y in range(K)], 1)  # (3, K)
    exact = (torch.softmax(lu, 1) * every).sum(1).mean()
    loss, logs = gan.c_step(real, labels)
    assert logs["c_adv"].item() == pytest.approx(exact.item(), rel=1e-5)
    assert loss.item() == pytest.approx((0.5 * exact + F.cross_entropy(ll, y_l)).item(), rel=1e-5)
    loss.backward()
    assert gan.C.s.grad.abs().item() > 0 and gan.D.w.grad is None and gan.G.a.grad is None


def test_g_step_and_full_supervision():
    """G: (1 - alpha) (-log D) of G's pairs, only G's gradient. Without data.labels every row is both labelled and
    unlabelled. The labels are needed; with data.labels the batch must hold more than the unlabelled part."""
    gan = stubbed("batch_size=3", "data.labels=20")
    real, labels = batch()
    loss, logs = gan.g_step(real, labels)
    y_g = torch.arange(3)
    want = 0.5 * F.softplus(-d_of(0.5 * gan.G.t[y_g], y_g)).mean()
    assert loss.item() == pytest.approx(want.item(), rel=1e-6) and logs["g_loss"].item() == loss.item()
    loss.backward()
    assert gan.G.a.grad.abs().item() > 0 and gan.C.s.grad is None
    with pytest.raises(ValueError, match="labels"):
        gan.d_step(real, None)
    with pytest.raises(ValueError, match="3 unlabelled images followed by labelled ones, got 3 rows"):
        gan.c_step(real[:3], labels[:3])
    full = stubbed("batch_size=3", "data=imagefolder", "model.pseudo=argmax")
    assert full.cfg.data.labels is None
    x, y = real[:3], torch.tensor([1, 5, 8])
    loss, _ = full.d_step(x, y)
    y_c = (3.0 * x.flatten(1)[:, :K]).argmax(1)
    want = (F.softplus(-d_of(x, y)).mean() + 0.5 * F.softplus(d_of(x, y_c)).mean()
            + 0.5 * F.softplus(d_of(0.5 * full.G.t[y_g], y_g)).mean())
    assert loss.item() == pytest.approx(want.item(), rel=1e-6)


def test_minimax_objective_gives_the_papers_log_one_minus_d():
    gan = stubbed("batch_size=3", "data.labels=20", "objective=minimax", "model.pseudo=argmax", "model.alpha_p=0")
    real, labels = batch()
    y_g = torch.arange(3)
    loss, _ = gan.g_step(real, labels)
    assert loss.item() == pytest.approx((-0.5 * F.softplus(d_of(0.5 * gan.G.t[y_g], y_g)).mean()).item(), rel=1e-6)
    _, logs = gan.c_step(real, labels)
    x_u = real[:3]
    y_c = (3.0 * x_u.flatten(1)[:, :K]).argmax(1)
    assert logs["c_adv"].item() == pytest.approx((-F.softplus(d_of(x_u, y_c))).mean().item(), rel=1e-6)


# =============================================================================================
# one real training step: each phase changes only its own group's parameters
# =============================================================================================


@pytest.mark.parametrize("extra", [[], ["model.arch=mlp", "model.pseudo=argmax", "train.n_critic=2"], ["model.c_adv=expect"]],
                         ids=["dcgan", "mlp-argmax-ncritic2", "dcgan-expect"])
def test_one_step_each_phase_changes_only_its_own_parameters(tmp_path, request, extra):
    """Three optimiser groups from the GAN (g, d, c; the trainer unchanged): the d phase(s) change D only, the c
    phase C only, the g phase G only; every parameter of the phase's net gets a gradient and those with a
    nonzero one move. Each phase receives 8 unlabelled + 8 labelled rows."""
    tr = make_trainer(tmp_path, NAME, "model.c_width=4", "model.alpha_p_start=0", *extra, base=image_base(request))
    gan = tr.gan
    k = tr.cfg.train.n_critic
    assert [(p.group, p.repeat) for p in tr.phases] == [("d", k), ("c", 1), ("g", 1)]
    assert set(tr.optims) == {"g", "d", "c"}
    for group, net in (("g", gan.G), ("d", gan.D), ("c", gan.C)):
        assert [id(p) for p in tr.optims[group].param_groups[0]["params"]] == [id(p) for p in net.parameters()]
    seen = []
    for ph in tr.phases:
        def counted(real, labels, fn=ph.fn):
            seen.append((real.shape[0], labels[:8].tolist(), bool((labels[8:] >= 0).all())))
            return fn(real, labels)
        ph.fn = counted
    updates = instrumented_step(tr, {"G": gan.G, "D": gan.D, "C": gan.C})
    assert seen == [(16, [UNLABELLED] * 8, True)] * (k + 2)
    owners = {"d": "D", "c": "C", "g": "G"}
    assert [u[0] for u in updates] == ["d"] * k + ["c", "g"]
    for group, before, after, grads in updates:
        for net in ("G", "D", "C"):
            if net == owners[group]:
                assert {n for m, n, _ in grads if m == net} == set(before[net]), (group, net)  # all trained
                moved = [n for m, n, nonzero in grads if m == net and nonzero]
                assert len(moved) >= len(before[net]) // 2, (group, net)
                unchanged = [n for n in moved if torch.equal(before[net][n], after[net][n])]
                assert not unchanged, f"{group} phase did not change {net}.{unchanged}"
            else:
                assert not [n for m, n, _ in grads if m == net], f"{group} phase sent gradients to {net}"
                for n in before[net]:
                    assert torch.equal(before[net][n], after[net][n]), f"{group} phase changed {net}.{n}"
    assert gan.c_updates.item() == 1
    logs = tr.meter.pop_means()
    assert {"d_loss", "g_loss", "c_loss", "c_adv", "c_sup", "c_pseudo", "c_class_err"} <= set(logs)
    assert all(math.isfinite(v) for v in logs.values())


# =============================================================================================
# networks, preset, settings
# =============================================================================================
def test_nets():
    """G and D are CGAN's; C is DCGAN's discriminator with K outputs and no normalisation (MLP: arch=mlp)."""
    W = 8
    gan = GANS.get(NAME)(resolve(NAME, [f"model.g_width={W}", f"model.d_width={W}", f"model.c_width={W}",
                                        "model.z_dim=10"]), MNIST)
    cgan = GANS.get("cgan")(resolve("cgan", [f"model.g_width={W}", f"model.d_width={W}", "model.z_dim=10"]), MNIST)
    assert describe(gan.G) == describe(cgan.G) and describe(gan.D) == describe(cgan.D)
    assert isinstance(gan.C, DCGANDiscriminator)
    assert describe(gan.C) == [conv(1, W, 4, 2, 1), L2, conv(W, 2 * W, 4, 2, 1), L2, conv(2 * W, K, 7, 1, 0)]
    x = torch.randn(5, 1, 28, 28)
    assert gan.C(x).shape == (5, K) and gan.D(x, torch.arange(5)).shape == (5,)
    assert gan.conditional and gan.classifies and gan.few_labels and gan.optim_group_names == ("g", "d", "c")
    gan.C.train()
    logits = gan.classify(x, chunk=2)
    assert torch.allclose(logits, gan.C(x), atol=1e-6) and gan.C.training  # eval mode, then back
    mlp = GANS.get(NAME)(resolve(NAME, ["model.arch=mlp", "model.hidden=8", "model.c_depth=2", "model.z_dim=4"]),
                         MNIST)
    assert isinstance(mlp.C, MLPDiscriminator) and describe(mlp.C) == [lin(784, 8), L2, lin(8, 8), L2, lin(8, K)]
    layer = GANS.get(NAME)(resolve(NAME, TINY + ["model.c_norm=layer"]), MNIST)
    assert any(isinstance(m, nn.GroupNorm) for m in layer.C.modules())


def test_preset():
    cfg = resolve(NAME)
    assert (cfg.data.name, cfg.data.labels, cfg.batch_size, cfg.objective, cfg.steps) == \
        ("mnist", 100, 100, "nonsaturating", 6000)
    m = cfg.model
    assert (m["arch"], m["alpha"], m["pseudo"], m["alpha_p"], m["alpha_p_start"]) == ("dcgan", 0.5, "sample", 0.1, 2000)
    for g in ("g", "d", "c"):
        assert (cfg.optim[g].name, cfg.optim[g].lr, cfg.optim[g].betas) == ("adam", 3e-4, (0.5, 0.999))
    assert resolve(NAME, ["data=fashion-mnist"]).data.labels == 100
    assert resolve(NAME, ["data=imagefolder"]).data.labels is None  # other data keeps every label
    assert resolve(NAME, ["optim.c.lr=1e-3"]).optim["c"].lr == 1e-3  # C's own group: its own rate (TTUR)


@pytest.mark.parametrize("over, match", [
    (["objective=hinge"], "objective must be nonsaturating or minimax, got 'hinge'"),
    (["penalties={r1: 1.0}"], "takes no penalties \\(r1\\)"),
    (["model.alpha=-0.1"], "model.alpha must be ≥ 0.0 and < 1.0, got -0.1"),
    (["model.alpha=1.0"], "model.alpha must be ≥ 0.0 and < 1.0"),
    (["model.alpha_p=-0.1"], "model.alpha_p must be ≥ 0.0"),
    (["model.alpha_p_start=-1"], "model.alpha_p_start must be ≥ 0"),
    (["model.pseudo=soft"], "model.pseudo must be one of sample, argmax"),
    (["model.c_adv=exact"], "model.c_adv must be one of reinforce, expect"),
    (["model.c_norm=batch"], "model.c_norm must be one of none, layer"),
    (["model.arch=sngan"], "model.arch must be one of dcgan, mlp"),
    (["optim.e.lr=1e-3"], "unknown optimiser group 'optim.e'.*valid: g, d, c"),
    (["data=ring8"], "needs image data"),
    (["data.labels=0"], "data.labels must be ≥ 1"),
], ids=["objective", "penalty", "alpha-negative", "alpha-1", "alpha-p", "alpha-p-start", "pseudo", "c-adv", "c-norm",
        "arch", "optim-group", "points", "labels"])
def test_bad_settings_give_one_line_config_errors(over, match):
    with pytest.raises(ConfigError, match=match) as e:
        resolve(NAME, over)
    assert one_line(e).startswith("config:")


def test_other_gans_name_triplegan_for_data_labels_and_unlabelled_data_is_refused():
    with pytest.raises(ConfigError, match="not used by GAN 'cgan'.*triplegan") as e:
        resolve("cgan", ["data.labels=100"])
    one_line(e)
    with pytest.raises(ConfigError, match="needs labelled data") as e:
        GANS.get(NAME)(resolve(NAME, TINY), DataInfo("imagefolder", "images", (1, 28, 28), 0))
    one_line(e)


# =============================================================================================
# evaluation: C's test error and G's class accuracy
# =============================================================================================
def test_evaluation_reports_cs_test_error_and_gs_class_accuracy(mnist_root):
    from gankit.data import load_dataset
    from gankit.metrics.suite import _resolve_metrics
    from gankit.train.run import evaluate_gan

    gan = build()
    r = evaluate_gan(gan, MNIST, n=30, metrics=["classifier_error", "class_accuracy"], root=str(mnist_root))
    x, y, _ = load_dataset("mnist", root=str(mnist_root), split="test")
    wrong = int((gan.classify(x).argmax(1) != y).sum())
    assert (r["classifier_errors"], r["classifier_images"]) == (wrong, 10000)
    assert r["classifier_error"] == pytest.approx(wrong / 10000) and 0 <= r["class_accuracy"] <= 1
    names = [m.name for m in _resolve_metrics(None, torch.zeros(1), None, "mnist", None, gan.classify)]
    assert {"classifier_error", "class_accuracy"} <= set(names)


def test_run_end_to_end_resume_and_gankit_eval(tmp_path, mnist_root):
    """Training's final evaluation and `gankit eval` report classifier_error and class_accuracy; a resume restores
    C's update count (R_P's switch) and C's optimiser."""
    from gankit.train.checkpoint import list_checkpoints, load

    out = tmp_path / "r"
    common = [f"data.root={mnist_root}", "data.size=64", "data.labels=20", "batch_size=8", "train.eval_samples=30",
              "train.progress=false", "train.grid_size=20", *TINY]
    gankit.train(NAME, *common, "steps=2", out=str(out))
    ev = json.loads((out / "eval.json").read_text())
    assert 0 <= ev["classifier_error"] <= 1 and ev["classifier_images"] == 10000 and "cfid" in ev
    assert 0 <= ev["class_accuracy"] <= 1
    state = load(list_checkpoints(out / "checkpoints")[-1])
    assert state["gan"]["c_updates"].item() == 2 and set(state["optim"]) == {"g", "d", "c"}
    assert any(k.startswith("C.") for k in state["gan"])
    run = gankit.train(resume=str(out), steps=3)
    assert run.gan.c_updates.item() == 3
    r = subprocess.run([sys.executable, "-m", "gankit.cli", "eval", str(out), "--n", "30", "--out",
                        str(tmp_path / "e.json"), "--data-root", str(mnist_root)], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert "classifier_error" in r.stdout and "class_accuracy" in r.stdout
    again = json.loads((tmp_path / "e.json").read_text())
    assert 0 <= again["classifier_error"] <= 1 and "classifier_error" in again["protocol"]["metrics"]
    with pytest.raises(GankitError):
        gankit.train(resume=str(out), steps=3)  # already finished
