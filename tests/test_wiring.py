"""How the GANs are wired together, pinned by concrete values so that a change in the wiring fails here.

What is pinned (one section each below):

1. the order and count of optimiser steps in one generator step (``n_critic`` D steps, then one G
   step), each on a fresh minibatch handed to that phase;
2. each phase changes only its own group's parameters (and every own parameter that got a gradient);
3. EMA of G: the exact update/copy convention of ``train.ema`` / ``train.ema_start`` (buffers copied),
   and sampling (GAN.sample, Run.sample, ``gankit sample``) from G_ema;
4. learning-rate schedules (linear: lr0 * (1 - t/steps) in the update of generator step t), TTUR;
5. initialisation statistics (DCGAN's N(0, 0.02) / N(1, 0.02) / 0; PyTorch's default elsewhere);
6. the layer lists of every named architecture, as explicit tables;
7. the noise prior of every named GAN and its z_dim;
8. the terms inside a step: BEGAN's k_t, EBGAN's pulling-away term, penalties added to the D loss;
9. every named GAN's preset: objective, penalties, n_critic, optimisers, and that they reach the GAN.

Everything runs on the CPU with tiny networks; only the image-data cases read MNIST.
"""
from __future__ import annotations

import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
from torch import nn

import gankit
from gankit.config import resolve
from gankit.data import DataInfo
from gankit.gans import GANS
from gankit.nn.attention import SelfAttention
from gankit.nn.conditioning import ConditionalBatchNorm, LabelInput, LinearConditionalBatchNorm
from gankit.nn.minibatch import MinibatchDiscrimination
from gankit.nn.virtual_batchnorm import VirtualBatchNorm
from gankit.nn.spectral import sn_layers
from gankit.objectives.energy import pulling_away_term
from gankit.penalties import PENALTIES
from gankit.train.loop import Trainer, prepare_run_dir, start

POINTS = DataInfo("ring8", "points", (2,), 0, torch.zeros(8, 2), 0.01)
MNIST = DataInfo("mnist", "images", (1, 28, 28), 10)
RGB32 = DataInfo("cifar10", "images", (3, 32, 32), 10)
FASHION32 = DataInfo("fashion-mnist", "images", (1, 32, 32), 10)

BASE = ["data=ring8", "data.size=64", "batch_size=8", "steps=10", "device=cpu", "train.progress=false",
        "model.hidden=8", "model.z_dim=4", "model.g_width=4", "model.d_width=4"]
ENERGY = ("ebgan", "began")
# for images only: dcgan by design, the class-conditional GANs because the 2-D sets have no labels, InfoGAN
# (DCGAN-style nets with a Q head on D's trunk), the semi-supervised GAN and Triple-GAN (classifiers of labelled images),
# VAE/GAN (its reconstruction losses and pictures are on images)
IMAGE_ONLY = ("dcgan", "cgan", "acgan", "projection", "infogan", "semisupervised-gan", "triplegan", "vaegan",
              "improved-gan", "sngan-resnet", "sagan", "ssgan", "biggan", "s2gan", "s2gan-co", "s3gan", "lapgan", "progan", "stylegan",
              "stackgan", "stackgan++")
# the ResNet GANs: presets on Fashion-MNIST at 32 x 32 (SAGAN's attention block sits on the 16 x 16 maps)
RESNET32 = ("sngan-resnet", "sagan", "ssgan", "biggan", "s2gan", "s2gan-co", "s3gan")
# every GAN whose preset trains on Fashion-MNIST at 32 x 32: the ResNet GANs and ProGAN (grown from 4 x 4 to 32 x 32)
AT32 = RESNET32 + ("progan", "stylegan")
# GANs that train on few labels: their presets keep 100 labels on MNIST, more than the tiny runs here hold
# (data.size=64 has at least 4 images of each digit)
FEW_LABELS = {"semisupervised-gan": ["data.labels=20"], "triplegan": ["data.labels=20"]}


pytestmark = pytest.mark.usefixtures("one_thread")  # tiny nets: one torch thread (tests/conftest.py)


def no_mlp_keys(name, over) -> list:
    """``over`` without the model keys the GAN does not have (e.g. the MLP width for the ResNet GANs, the widths
    of ProGAN, whose channels are set per stage)."""
    import dataclasses

    keys = {f.name for f in dataclasses.fields(GANS.get(name).Params)}
    return [o for o in over if not o.startswith("model.") or o.split("=")[0][len("model."):] in keys]


def make_trainer(tmp_path, name, *extra, out="run", base=BASE):
    base = no_mlp_keys(name, base)
    over = list(base) + (["model.code_dim=4"] if name in ENERGY else []) + FEW_LABELS.get(name, []) + list(extra)
    cfg = resolve(name, over + [f"out={tmp_path / out}"])
    return Trainer(cfg, prepare_run_dir(cfg, False))


def params(module) -> dict:
    """Named *parameters* (not buffers), detached copies."""
    return {n: p.detach().clone() for n, p in module.named_parameters()}


def buffers(module) -> dict:
    return {n: b.detach().clone() for n, b in module.named_buffers()}


# =============================================================================================
# 1. optimiser steps per generator step, fresh minibatches
# =============================================================================================
def record_optimiser_steps(tr) -> list:
    """The group of every optimiser step, in order (a post-step hook per optimiser)."""
    order = []
    for g, opt in tr.optims.items():
        opt.register_step_post_hook(lambda o, a, k, g=g: order.append(g))
    return order


def record_batches(tr):
    """Every batch the loader hands out, and every batch each phase call receives (in order)."""
    drawn, received = [], []
    nxt = tr.loader.next

    def counting_next():
        real, labels = nxt()
        drawn.append(real)
        return real, labels

    tr.loader.next = counting_next
    for ph in tr.phases:
        def wrapped(real, labels, fn=ph.fn, group=ph.group):
            received.append((group, real))
            return fn(real, labels)
        ph.fn = wrapped
    return drawn, received


def image_base(request):
    """BASE on tiny MNIST (skips, saying so, when MNIST is not available)."""
    root = request.getfixturevalue("mnist_root")
    return [b for b in BASE if b != "data=ring8"] + ["data=mnist", f"data.root={root}"]


# k None: the preset's n_critic for that data (WGAN / WGAN-GP: 5 on images, 1 in their 2-D sections)
@pytest.mark.parametrize("name, k, data", [
    ("gan", 1, "ring8"), ("gan", 3, "ring8"), ("wgan", None, "mnist"), ("wgan", None, "ring8"), ("wgan", 3, "ring8"),
    ("wgan-gp", None, "mnist"), ("wgan-gp", None, "ring8"), ("wgan-gp", 1, "ring8"), ("wgan-gp", 3, "ring8"),
    ("began", 1, "ring8"), ("began", 3, "ring8"), ("ebgan", 1, "ring8"), ("ebgan", 3, "ring8"),
    ("sngan", 1, "ring8"), ("sngan", 3, "ring8"), ("bigan", 1, "ring8"), ("bigan", 3, "ring8"),
    ("improved-gan", 1, "mnist"), ("improved-gan", 2, "mnist"),
    ("sngan-resnet", None, "mnist"), ("ssgan", None, "mnist"), ("biggan", None, "mnist"), ("sagan", None, "mnist"),
    ("lapgan", 1, "mnist"), ("lapgan", 2, "mnist"), ("progan", None, "mnist"), ("progan", 2, "mnist"),
    ("stylegan", None, "mnist"), ("stackgan", None, "mnist"), ("stackgan", 2, "mnist"), ("stackgan++", None, "mnist"),
    ("stackgan++", 3, "mnist"),
])
def test_n_critic_d_steps_then_one_g_step_each_on_a_fresh_minibatch(tmp_path, request, name, k, data):
    """Goodfellow et al. 2014, Algorithm 1: k D updates, then one G update; k = train.n_critic."""
    extra = [] if k is None else [f"train.n_critic={k}"]
    if k is None:
        k = PRESETS[name][2] if data == "mnist" else 1  # the preset's images n_critic; 1 in the 2-D sections
        assert resolve(name, [f"data={data}"]).train.n_critic == k
    tr = make_trainer(tmp_path, name, *extra, base=image_base(request) if data == "mnist" else BASE)
    assert [(p.group, p.repeat) for p in tr.phases] == [("d", k), ("g", 1)]
    order = record_optimiser_steps(tr)
    drawn, received = record_batches(tr)
    tr.train_step()
    assert order == ["d"] * k + ["g"]
    assert tr.step == 1
    # one loader draw per update, and each update gets the batch drawn for it
    assert len(drawn) == k + 1
    assert [g for g, _ in received] == ["d"] * k + ["g"]
    assert all(r is d for (_, r), d in zip(received, drawn))
    for i in range(len(drawn)):
        for j in range(i):
            assert not torch.equal(drawn[i], drawn[j]), f"update {i} reused the minibatch of update {j}"
    tr.train_step()
    assert order == (["d"] * k + ["g"]) * 2 and len(drawn) == 2 * (k + 1)


# =============================================================================================
# 2. each phase changes only its own group's parameters
# =============================================================================================
def instrumented_step(tr, nets=None):
    """One real ``Trainer.train_step``, with snapshots of the nets' *parameters* at the start of
    every phase call and at the end, and the parameters that received a gradient between two
    snapshots, as (net, name, nonzero). ``nets``: name -> module, by default ``{"g": G, "d": D}``
    (GANs with more nets pass theirs, e.g. BiGAN's E or Triple-GAN's C). Returns a list of
    (phase's group, before, after, grads) per update."""
    gan = tr.gan
    nets = nets or {"g": gan.G, "d": gan.D}
    got = set()
    handles = []
    for grp, net in nets.items():
        for n, p in net.named_parameters():
            def hook(p, key=(grp, n)):
                got.add(key + (p.grad is not None and bool(p.grad.ne(0).any()),))
            handles.append(p.register_post_accumulate_grad_hook(hook))
    states, groups, grads = [], [], []

    def snap():
        return {g: params(net) for g, net in nets.items()}

    originals = [ph.fn for ph in tr.phases]
    for ph in tr.phases:
        def wrapped(real, labels, fn=ph.fn, group=ph.group):
            if states:
                grads.append(set(got))
            got.clear()
            states.append(snap())
            groups.append(group)
            return fn(real, labels)
        ph.fn = wrapped
    try:
        tr.train_step()
    finally:
        for ph, fn in zip(tr.phases, originals):
            ph.fn = fn
        for h in handles:
            h.remove()
    grads.append(set(got))
    states.append(snap())
    return [(groups[i], states[i], states[i + 1], grads[i]) for i in range(len(groups))]


def check_phases_change_only_their_group(updates, n_critic):
    assert [u[0] for u in updates] == ["d"] * n_critic + ["g"]
    for i, (grp, before, after, grads) in enumerate(updates):
        other = "g" if grp == "d" else "d"
        for n in before[other]:
            assert torch.equal(before[other][n], after[other][n]), f"update {i} ({grp}) changed {other}.{n}"
        assert not [n for g, n, _ in grads if g == other], f"update {i} ({grp}) sent gradients to {other}"
        # every parameter of the group is trained (gets a gradient tensor) ...
        assert {n for g, n, _ in grads if g == grp} == set(before[grp]), f"update {i} ({grp})"
        # ... and every one whose gradient is not exactly zero moves. (Exact zeros happen: WGAN's
        # E D(G(z)) - E D(x) does not depend on the critic's last bias, nor, once clipping makes the
        # weights tiny, on hidden biases whose units have one sign for the whole batch.)
        own = sorted(n for g, n, nonzero in grads if g == grp and nonzero)
        assert len(own) >= len(before[grp]) // 2, f"update {i} ({grp}): {own}"
        unchanged = [n for n in own if torch.equal(before[grp][n], after[grp][n])]
        assert not unchanged, f"update {i} ({grp}) did not change {unchanged} although they had gradients"


@pytest.mark.parametrize("name", ["gan", "wgan", "wgan-gp", "began", "ebgan", "sngan", "dragan", "bigan"])
def test_each_phase_changes_only_its_own_parameters(tmp_path, name):
    tr = make_trainer(tmp_path, name)
    updates = instrumented_step(tr)
    check_phases_change_only_their_group(updates, tr.cfg.train.n_critic)


@pytest.mark.parametrize("name", ["sngan-resnet", "sagan", "ssgan", "biggan"])
def test_each_phase_changes_only_its_own_parameters_resnet_gans(tmp_path, request, name):
    """The ResNet GANs on images (their presets' n_critic); SS-GAN's rotation head is trained with D, in D's
    phases only (an update of it in G's phase, or a head left out of D's optimiser, fails)."""
    tr = make_trainer(tmp_path, name, base=image_base(request))
    nets = {"g": tr.gan.G, "d": nn.ModuleDict({"D": tr.gan.D, **({"rot": tr.gan.rotation} if name == "ssgan" else {})})}
    updates = instrumented_step(tr, nets)
    check_phases_change_only_their_group(updates, tr.cfg.train.n_critic)
    if name == "ssgan":
        assert {n for g, n, _ in updates[0][3] if n.startswith("rot.")} == {n for n in updates[0][1]["d"]
                                                                            if n.startswith("rot.")}


def test_each_phase_changes_only_its_own_parameters_dcgan_with_batchnorm(tmp_path, request):
    """On images with batch norm: G's forward in the D phase moves G's BN *buffers* (train mode) but
    never its parameters."""
    tr = make_trainer(tmp_path, "dcgan", "train.n_critic=2", base=image_base(request))
    g_buf = buffers(tr.gan.G)
    updates = instrumented_step(tr)
    check_phases_change_only_their_group(updates, 2)
    assert any(not torch.equal(g_buf[k], v) for k, v in buffers(tr.gan.G).items())


@pytest.mark.filterwarnings("ignore:Seems like `optimizer.step\\(\\)` has been overridden")
@pytest.mark.parametrize("group", ["d", "g"])
def test_a_no_op_optimiser_step_is_caught(tmp_path, group):
    """The check above compares parameters before and after: an optimiser that does nothing fails it."""
    tr = make_trainer(tmp_path, "gan", "train.n_critic=2")
    tr.optims[group].step = lambda *a, **k: None
    updates = instrumented_step(tr)
    with pytest.raises(AssertionError, match=f"\\({group}\\) did not change"):
        check_phases_change_only_their_group(updates, 2)


# =============================================================================================
# 3. EMA of the generator, and sampling from it
# =============================================================================================
@pytest.mark.parametrize("ema_start", [0, 2])
def test_ema_follows_the_update_and_copy_convention(tmp_path, ema_start):
    """loop.py / ema.py: after the updates of generator step t (0-based), G_ema <- G (parameters and
    buffers) while t < ema_start, else G_ema <- decay * G_ema + (1 - decay) * G for parameters and
    G_ema's buffers <- G's. G_ema starts as a copy of the initial G and is never optimised."""
    decay, steps = 0.9, 5
    tr = make_trainer(tmp_path, "gan", f"train.ema={decay}", f"train.ema_start={ema_start}", "model.g_norm=batch")
    G, E = tr.gan.G, tr.gan.G_ema
    assert E is not None and all(not p.requires_grad for p in E.parameters())
    assert {id(p) for ps in tr.params.values() for p in ps}.isdisjoint(id(p) for p in E.parameters())
    assert any(True for _ in E.buffers()), "the test needs a G with buffers (batch norm)"
    expected = {n: p.double() for n, p in params(G).items()}
    assert all(torch.equal(p, expected[n].float()) for n, p in params(E).items())
    for t in range(steps):
        tr.train_step()
        g = params(G)
        if t < ema_start:
            expected = {n: v.double() for n, v in g.items()}
        else:
            expected = {n: decay * expected[n] + (1 - decay) * g[n].double() for n in g}
        got = params(E)
        for n in g:
            assert torch.allclose(got[n].double(), expected[n], rtol=1e-6, atol=1e-7), (t, n)
            if t >= ema_start:  # an average, not a copy
                assert not torch.equal(got[n], g[n]), (t, n)
        for (n, b), (_, eb) in zip(G.named_buffers(), E.named_buffers()):
            assert torch.equal(b, eb), (t, n)


def ema_trainer(tmp_path):
    tr = make_trainer(tmp_path, "gan", "train.ema=0.5", "model.g_norm=batch", "optim.g.lr=0.01")
    for _ in range(3):
        tr.train_step()
    return tr


def expected_samples(gan, G, n, seed):
    was = G.training
    G.eval()
    with torch.no_grad():
        out = G(gan.sample_z(n, generator=torch.Generator().manual_seed(seed))).float()
    G.train(was)
    return out


def test_sample_uses_the_ema_generator(tmp_path):
    tr = ema_trainer(tmp_path)
    gan = tr.gan
    x = gan.sample(7, seed=3)
    assert torch.equal(x, expected_samples(gan, gan.G_ema, 7, 3))
    assert not torch.allclose(x, expected_samples(gan, gan.G, 7, 3), atol=1e-4)
    assert torch.equal(gan.sample(7, seed=3, ema=False), expected_samples(gan, gan.G, 7, 3))


def test_run_and_cli_sample_use_the_ema_generator(tmp_path):
    cfg = resolve("gan", BASE + ["train.ema=0.5", "model.g_norm=batch", "optim.g.lr=0.01",
                                 f"out={tmp_path / 'run'}"])
    tr = start(cfg)
    try:
        for _ in range(3):
            tr.train_step()
        tr.save_checkpoint()
    finally:
        tr.rundir.close()
        torch.use_deterministic_algorithms(tr._prev_deterministic)
    ema_state = {k: v.clone() for k, v in tr.gan.G_ema.state_dict().items()}
    run = gankit.load_run(tmp_path / "run")
    assert all(torch.equal(v, ema_state[k]) for k, v in run.gan.G_ema.state_dict().items())
    want = expected_samples(run.gan, run.gan.G_ema, 6, 2)
    x = run.sample(6, seed=2)
    assert torch.equal(x, want)
    assert not torch.allclose(x, expected_samples(run.gan, run.gan.G, 6, 2), atol=1e-4)
    run.save_samples(tmp_path / "api.npy", n=6, seed=2)
    assert np.array_equal(np.load(tmp_path / "api.npy"), want.numpy())
    r = subprocess.run([sys.executable, "-m", "gankit.cli", "sample", str(tmp_path / "run"), "--n", "6",
                        "--seed", "2", "--out", str(tmp_path / "cli.npy")], capture_output=True, text=True,
                       env={**os.environ, "OMP_NUM_THREADS": "1"})
    assert r.returncode == 0, r.stderr
    assert np.array_equal(np.load(tmp_path / "cli.npy"), want.numpy())


# =============================================================================================
# 4. learning-rate schedules and per-group rates
# =============================================================================================
def record_sgd_updates(tr):
    """Per optimiser step: (generator step t, group, lr in the optimiser, params before, grads, after)."""
    log, pending = [], {}
    for g, opt in tr.optims.items():
        def pre(o, a, k, g=g):
            ps = [p for grp in o.param_groups for p in grp["params"]]
            pending[g] = (tr.step, o.param_groups[0]["lr"], [p.detach().clone() for p in ps],
                          [None if p.grad is None else p.grad.detach().clone() for p in ps])

        def post(o, a, k, g=g):
            ps = [p for grp in o.param_groups for p in grp["params"]]
            t, lr, before, grads = pending.pop(g)
            log.append((t, g, lr, before, grads, [p.detach().clone() for p in ps]))
        opt.register_step_pre_hook(pre)
        opt.register_step_post_hook(post)
    return log


@pytest.mark.parametrize("schedule", ["linear", "constant"])
def test_schedules_give_the_lr_used_in_each_update_with_per_group_rates(tmp_path, schedule):
    """optim.py: LambdaLR stepped once per generator step after its updates; ``linear`` uses
    lr0 * max(0, 1 - t/steps) in every update of generator step t = 0, 1, ... (so lr0 in the first
    step and 0 after the last); ``constant`` lr0. Each group has its own rate (TTUR, Heusel et al. 2017)."""
    steps, lr0 = 4, {"g": 1e-2, "d": 4e-2}
    tr = make_trainer(tmp_path, "gan", f"steps={steps}", "train.n_critic=2",
                      *[f"optim.{g}.{k}" for g in "gd" for k in (f"lr={lr0[g]}", "name=sgd", f"schedule={schedule}")])
    assert [id(p) for p in tr.optims["g"].param_groups[0]["params"]] == [id(p) for p in tr.gan.G.parameters()]
    assert [id(p) for p in tr.optims["d"].param_groups[0]["params"]] == [id(p) for p in tr.gan.D.parameters()]

    def factor(t):
        return max(0.0, 1.0 - t / steps) if schedule == "linear" else 1.0

    log = record_sgd_updates(tr)
    for t in range(steps + 1):
        for g in "gd":  # the rate after t generator steps, in the optimiser and the scheduler
            assert tr.optims[g].param_groups[0]["lr"] == pytest.approx(lr0[g] * factor(t), rel=1e-12, abs=0)
            assert tr.scheds[g].get_last_lr()[0] == pytest.approx(lr0[g] * factor(t), rel=1e-12, abs=0)
        if t < steps:
            tr.train_step()
    assert [(t, g) for t, g, *_ in log] == [(t, g) for t in range(steps) for g in "ddg"]
    for t, g, lr, before, grads, after in log:
        assert lr == pytest.approx(lr0[g] * factor(t), rel=1e-12, abs=0), (t, g)
        assert all(gr is not None for gr in grads)
        for b, gr, a in zip(before, grads, after):  # plain SGD: p <- p - lr * grad, with that lr
            assert torch.allclose(a, b - lr * gr, rtol=1e-6, atol=1e-8), (t, g)
    if schedule == "linear":
        assert [lr for t, g, lr, *_ in log if g == "g"] == pytest.approx([1e-2, 7.5e-3, 5e-3, 2.5e-3], rel=1e-12)
        assert tr.optims["d"].param_groups[0]["lr"] == 0.0


# =============================================================================================
# 5. initialisation statistics
# =============================================================================================
def weight_of(m):
    w = getattr(getattr(m, "parametrizations", None), "weight", None)
    return (w.original if w is not None else m.weight).detach()


def check_normal(x, mean, std, what):
    n = x.numel()
    assert abs(x.mean().item() - mean) < 5 * std / math.sqrt(n), (what, x.mean().item())
    assert abs(x.std().item() - std) < 5 * std / math.sqrt(2 * n), (what, x.std().item())


def check_dcgan_init(net, what):
    """Radford et al. 2015 Sec. 4: weights N(0, 0.02); gankit also draws norm gains N(1, 0.02), biases 0."""
    weights = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    assert weights
    for m in weights:
        w = weight_of(m)
        if w.numel() >= 200:
            check_normal(w, 0.0, 0.02, f"{what} {m}")
        assert w.abs().max() < 0.02 * 7
        if m.bias is not None:
            assert torch.equal(m.bias, torch.zeros_like(m.bias)), m
    norms = [m for m in net.modules() if isinstance(m, (nn.BatchNorm2d, nn.BatchNorm1d, nn.GroupNorm))
             and m.weight is not None]  # conditional BN's own BN has no affine part (its gains: test_conditional)
    if norms:
        check_normal(torch.cat([m.weight.detach() for m in norms]), 1.0, 0.02, f"{what} norm gains")
        assert all(torch.equal(m.bias, torch.zeros_like(m.bias)) for m in norms)


def check_torch_default_init(net, what):
    """PyTorch's default for Linear/Conv: kaiming_uniform(a=sqrt(5)), i.e. weights and biases
    U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (std bound/sqrt(3)); no zero biases."""
    weights = [m for m in net.modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    assert weights
    for m in weights:
        w = weight_of(m)
        fan_in = nn.init._calculate_fan_in_and_fan_out(w)[0]
        bound = 1 / math.sqrt(fan_in)
        assert w.abs().max() <= bound + 1e-7, (what, m)
        if w.numel() >= 200:
            assert w.abs().max() > 0.95 * bound, (what, m)
            n = w.numel()
            assert abs(w.std().item() - bound / math.sqrt(3)) < 5 * bound / math.sqrt(3) / math.sqrt(2 * n), (what, m)
            assert abs(w.mean().item()) < 5 * bound / math.sqrt(3 * n)
        if m.bias is not None:
            assert m.bias.abs().max() <= bound + 1e-7 and bool(m.bias.ne(0).all()), (what, m)


def check_xavier_init(net, what):
    """Glorot-uniform weights, U(-b, b) with b = gain sqrt(6 / (fan_in + fan_out)), gain sqrt(2) on the residual
    branches' 3x3 convs (conv1 / conv2) and 1 elsewhere; zero biases."""
    layers = [(n, m) for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    assert layers
    for name, m in layers:
        w = weight_of(m)
        fan_in, fan_out = nn.init._calculate_fan_in_and_fan_out(w)
        gain = math.sqrt(2) if name.rsplit(".", 1)[-1] in ("conv1", "conv2") else 1.0
        bound = gain * math.sqrt(6 / (fan_in + fan_out))
        assert w.abs().max() <= bound + 1e-6, (what, name)
        if w.numel() >= 200:
            assert w.abs().max() > 0.9 * bound, (what, name)
            n = w.numel()
            assert abs(w.std().item() - bound / math.sqrt(3)) < 5 * bound / math.sqrt(3) / math.sqrt(2 * n), (what, name)
        if m.bias is not None:
            assert torch.equal(m.bias, torch.zeros_like(m.bias)), (what, name)


def check_ortho_init(net, what):
    """Orthogonal weights: the rows of W.view(out, -1) orthonormal (or its columns when out > in); zero biases."""
    layers = [(n, m) for n, m in net.named_modules() if isinstance(m, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear))]
    assert layers
    for name, m in layers:
        w = weight_of(m).detach().double()
        W = w.reshape(w.shape[0], -1)
        gram = W @ W.t() if W.shape[0] <= W.shape[1] else W.t() @ W
        assert torch.allclose(gram, torch.eye(gram.shape[0], dtype=gram.dtype), atol=1e-5), (what, name)
        if m.bias is not None:
            assert torch.equal(m.bias, torch.zeros_like(m.bias)), (what, name)


def data_of(info) -> list:
    """Settings that choose the preset section for ``info`` (points or images)."""
    if info.kind == "points":
        return ["data=ring8"]
    return ["data=mnist", f"data.resolution={info.shape[1]}", f"data.channels={info.shape[0]}"]


def build(name, info, *extra):
    over = no_mlp_keys(name, data_of(info) + ["model.g_width=16", "model.d_width=16", "model.hidden=64", "model.z_dim=16"])
    if name in ENERGY:
        over.append("model.code_dim=16")
    cfg = resolve(name, over + list(extra))
    torch.manual_seed(0)
    return GANS.get(name)(cfg, info)


@pytest.mark.parametrize("name, info, g_init, d_init", [
    ("dcgan", MNIST, "dcgan", "dcgan"),
    ("dcgan", RGB32, "dcgan", "dcgan"),
    ("wgan-gp", MNIST, "dcgan", "dcgan"),   # layer norm gains N(1, 0.02) too
    ("ebgan", MNIST, "dcgan", "dcgan"),
    ("sngan", MNIST, "dcgan", "torch"),     # D keeps PyTorch's init under SN (sngan.py)
    ("began", MNIST, "torch", "torch"),
    ("gan", POINTS, "torch", "torch"),
    ("gan", MNIST, "torch", "torch"),
    ("sngan", POINTS, "torch", "torch"),
    ("cgan", MNIST, "dcgan", "dcgan"),
    ("acgan", MNIST, "dcgan", "dcgan"),
    ("projection", MNIST, "dcgan", "dcgan"),  # the preset's DCGAN D (SN keeps the N(0, 0.02) init)
    ("infogan", MNIST, "dcgan", "dcgan"),   # the Q head too
    ("semisupervised-gan", MNIST, "dcgan", "dcgan"),  # the K-logit head too
    ("bigan", MNIST, "dcgan", "dcgan"),     # the encoder too (and D's z path and joint MLP)
    ("bigan", POINTS, "torch", "torch"),
    ("triplegan", MNIST, "dcgan", "dcgan"),  # the classifier C too
    ("vaegan", MNIST, "dcgan", "dcgan"),    # the encoder too
    ("improved-gan", MNIST, "dcgan", "dcgan"),  # D's output layer after the minibatch features too
    ("sngan-resnet", FASHION32, "xavier", "xavier"),
    ("sagan", FASHION32, "xavier", "xavier"),   # the attention convs too
    ("ssgan", FASHION32, "xavier", "xavier"),   # the rotation head: tests/test_network_family.py
    ("biggan", FASHION32, "ortho", "ortho"),    # the CBN projections and D's trunk too (embeddings keep theirs)
    ("lapgan", MNIST, "torch", "torch"),        # every level's nets
    ("stackgan", MNIST, "dcgan", "dcgan"),      # both stages, the conditioning augmentations, D's text layers
    ("stackgan++", MNIST, "dcgan", "dcgan"),
], ids=["dcgan-28", "dcgan-32rgb", "wgan-gp-28", "ebgan-28", "sngan-28", "began-28", "gan-points", "gan-28",
        "sngan-points", "cgan-28", "acgan-28", "projection-28", "infogan-28", "semisupervised-gan-28", "bigan-28",
        "bigan-points", "triplegan-28", "vaegan-28", "improved-gan-28", "sngan-resnet-32", "sagan-32", "ssgan-32",
        "biggan-32", "lapgan-28", "stackgan-28", "stackgan++-28"])
def test_initialisation_statistics(name, info, g_init, d_init):
    gan = build(name, info, "model.g_width=32", "model.d_width=32")
    checks = {"dcgan": check_dcgan_init, "torch": check_torch_default_init, "xavier": check_xavier_init,
              "ortho": check_ortho_init}
    nets = ((gan.G, g_init, "G"), (gan.D, d_init, "D")) + (((gan.E, d_init, "E"),) if hasattr(gan, "E") else ()) \
        + (((gan.C, d_init, "C"),) if hasattr(gan, "C") else ())
    for net, kind, what in nets:
        checks[kind](net.net if name == "biggan" and what == "D" else net, f"{name} {what}")


def test_dcgan_init_statistic_is_sharp_enough_to_see_003():
    """The tolerance above rejects N(0, 0.03) even for the smallest checked layer (200 weights)."""
    torch.manual_seed(1)
    with pytest.raises(AssertionError):
        check_normal(torch.randn(200) * 0.03, 0.0, 0.02, "0.03")


@pytest.mark.parametrize("name, info, extra", [
    ("sngan", MNIST, ["model.d_width=16"]), ("sngan", RGB32, ["model.d_width=8"]),
    ("sngan", POINTS, ["model.hidden=64"]), ("gan", POINTS, ["model.d_sn=true", "model.hidden=64"]),
], ids=["sngan-28", "sngan-32rgb", "sngan-points", "gan-d_sn-points"])
def test_spectrally_normalised_discriminators_start_near_sigma_one(name, info, extra):
    """Extends the DCGAN d_sn test in test_gans.py to the D's that keep PyTorch's init: SN's power
    iteration at registration (15 steps) leaves every layer's sigma(W_SN) within a few % of 1."""
    from gankit.nn.spectral import spectral_norms

    torch.manual_seed(0)
    D = GANS.get(name)(resolve(name, data_of(info) + extra), info).D
    sigmas = spectral_norms(D)
    n_weight = sum(isinstance(m, (nn.Conv2d, nn.Linear)) for m in D.modules())
    assert len(sigmas) == n_weight >= 4
    assert all(abs(s - 1) < 0.1 for s in sigmas.values()), sigmas


# =============================================================================================
# 6. layer lists
# =============================================================================================
def conv(cin, cout, k, s, p, bias=True, sn=False):
    return ("conv", cin, cout, k, s, p, bias, sn)


def deconv(cin, cout, k, s, p, bias=True, sn=False):
    return ("deconv", cin, cout, k, s, p, bias, sn)


def lin(cin, cout, bias=True, sn=False):
    return ("linear", cin, cout, bias, sn)


def bn2(c):
    return ("bn2d", c)


def bn1(c):
    return ("bn1d", c)


def ln(c):  # gankit's "layer" norm: GroupNorm with one group
    return ("groupnorm", 1, c)


def lrelu(slope):
    return ("lrelu", slope)


def cbn(c, k):  # class-conditional batch norm: BN without affine, per-class gain and bias
    return ("cbn", c, k)


def label(k, dim):  # the label appended to the input (one-hot: dim = k)
    return ("label", k, dim)


def emb(k, dim, sn=False):
    return ("embedding", k, dim, sn)


RELU, TANH, ELU = ("relu",), ("tanh",), ("elu", 1.0)


SKIP = object()


def layer_rows(net, one) -> list:
    """The rows of ``net``'s layers in registration order: ``one(m)`` gives a module's row, ``SKIP`` to leave it
    out, or None to descend into its children (a module without children it cannot describe fails)."""
    rows = []

    def walk(m):
        row = one(m)
        if row is SKIP:
            return
        if row is not None:
            rows.append(row)
            return
        kids = list(m.children())
        assert kids, f"unexpected layer {type(m).__name__}"
        for c in kids:
            walk(c)

    walk(net)
    return rows


def describe(net) -> list:
    """The layers of ``net`` in forward order (registration order for every net here), identities
    dropped, spectral norm as a flag on its layer."""
    sn = {id(m) for _, m, _ in sn_layers(net)}

    def one(m):
        if isinstance(m, nn.ConvTranspose2d):
            assert m.kernel_size[0] == m.kernel_size[1] and m.stride[0] == m.stride[1]
            return deconv(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0],
                          m.bias is not None, id(m) in sn)
        elif isinstance(m, nn.Conv2d):
            assert m.kernel_size[0] == m.kernel_size[1] and m.stride[0] == m.stride[1]
            return conv(m.in_channels, m.out_channels, m.kernel_size[0], m.stride[0], m.padding[0],
                        m.bias is not None, id(m) in sn)
        elif isinstance(m, nn.Linear):
            return lin(m.in_features, m.out_features, m.bias is not None, id(m) in sn)
        elif isinstance(m, nn.BatchNorm2d):
            return bn2(m.num_features)
        elif isinstance(m, nn.BatchNorm1d):
            return bn1(m.num_features)
        elif isinstance(m, nn.GroupNorm):
            return ("groupnorm", m.num_groups, m.num_channels)
        elif isinstance(m, nn.InstanceNorm2d):
            return ("instancenorm", m.num_features)
        elif isinstance(m, nn.LeakyReLU):
            return lrelu(m.negative_slope)
        elif isinstance(m, nn.ReLU):
            return RELU
        elif isinstance(m, nn.ELU):
            return ("elu", m.alpha)
        elif isinstance(m, nn.Tanh):
            return TANH
        elif isinstance(m, (nn.Identity, nn.Flatten, nn.Unflatten)):
            return SKIP
        elif isinstance(m, nn.Upsample):
            return ("upsample", m.scale_factor, m.mode)
        elif isinstance(m, VirtualBatchNorm):
            return ("vbn", m.channels)
        elif isinstance(m, MinibatchDiscrimination):
            return ("minibatch", m.in_features, m.kernels, m.kernel_dim)
        elif isinstance(m, SelfAttention):  # f, g (C/8), h (C/2), v back to C
            return ("attention", m.f.in_channels, m.f.out_channels, m.h.out_channels,
                    id(m.f) in sn and id(m.g) in sn and id(m.h) in sn and id(m.v) in sn)
        elif isinstance(m, LinearConditionalBatchNorm):  # BigGAN: gains and biases linear in a vector
            return ("lcbn", m.bn.num_features, m.cond_dim, id(m.gain) in sn and id(m.bias) in sn)
        elif isinstance(m, ConditionalBatchNorm):  # gains and biases per class
            return cbn(m.bn.num_features, m.gain.num_embeddings)
        elif isinstance(m, LabelInput):
            return label(m.num_classes, m.dim)
        elif isinstance(m, nn.Embedding):
            return emb(m.num_embeddings, m.embedding_dim, id(m) in sn)
        return None

    return layer_rows(net, one)


L2 = lrelu(0.2)
L1 = lrelu(0.1)
W, Z, H, C = 8, 10, 8, 4  # widths, z_dim, MLP hidden, code_dim used by the tables

# Radford et al. 2015, Fig. 1 and Sec. 3 (architecture guidelines): G = projection of z by a
# fractionally-strided conv, then stride-2 4x4 deconvolutions halving channels, BN + ReLU everywhere
# except the tanh output; D = stride-2 4x4 convolutions doubling channels, LeakyReLU(0.2), BN on every
# layer except the input one, no fully connected hidden layers. 28x28: base 7 map, two x2 stages;
# 32x32: base 4, three stages. Biases are dropped before BN.
DCGAN_G28 = [deconv(Z, 2 * W, 7, 1, 0, False), bn2(2 * W), RELU,
             deconv(2 * W, W, 4, 2, 1, False), bn2(W), RELU,
             deconv(W, 1, 4, 2, 1), TANH]
DCGAN_D28 = [conv(1, W, 4, 2, 1), L2,
             conv(W, 2 * W, 4, 2, 1, False), bn2(2 * W), L2,
             conv(2 * W, 1, 7, 1, 0)]
DCGAN_G32 = [deconv(Z, 4 * W, 4, 1, 0, False), bn2(4 * W), RELU,
             deconv(4 * W, 2 * W, 4, 2, 1, False), bn2(2 * W), RELU,
             deconv(2 * W, W, 4, 2, 1, False), bn2(W), RELU,
             deconv(W, 3, 4, 2, 1), TANH]
DCGAN_D32 = [conv(3, W, 4, 2, 1), L2,
             conv(W, 2 * W, 4, 2, 1, False), bn2(2 * W), L2,
             conv(2 * W, 4 * W, 4, 2, 1, False), bn2(4 * W), L2,
             conv(4 * W, 1, 4, 1, 0)]
# Gulrajani et al. 2017 Sec. 4 ("no critic batch normalization"; layer norm suggested): the DCGAN
# critic with GroupNorm(1, C) where DCGAN has BN; the conv before it keeps no bias. WGAN-GP sets
# model.d_norm=layer; DRAGAN gets the same from d_norm=auto (a per-sample gradient penalty is on).
WGANGP_D28 = [conv(1, W, 4, 2, 1), L2,
              conv(W, 2 * W, 4, 2, 1, False), ln(2 * W), L2,
              conv(2 * W, 1, 7, 1, 0)]

# Miyato et al. 2018, Table 3 (standard CNN; at w = 64, 32x32: G dense 4x4x512, deconv 256, 128, 64 with
# BN + ReLU, conv3x3 to 3 + tanh; D conv3x3 64, conv4x4/2 64, conv3x3 128, conv4x4/2 128, conv3x3 256,
# conv4x4/2 256, conv3x3 512, LeakyReLU(0.1), dense 1, no BN, SN on every weight layer). Here w = 8.
SNGAN_G32 = [lin(Z, 4 * 4 * 8 * W), bn2(8 * W), RELU,
             deconv(8 * W, 4 * W, 4, 2, 1), bn2(4 * W), RELU,
             deconv(4 * W, 2 * W, 4, 2, 1), bn2(2 * W), RELU,
             deconv(2 * W, W, 4, 2, 1), bn2(W), RELU,
             conv(W, 3, 3, 1, 1), TANH]
SNGAN_D32 = [conv(3, W, 3, 1, 1, sn=True), L1, conv(W, W, 4, 2, 1, sn=True), L1,
             conv(W, 2 * W, 3, 1, 1, sn=True), L1, conv(2 * W, 2 * W, 4, 2, 1, sn=True), L1,
             conv(2 * W, 4 * W, 3, 1, 1, sn=True), L1, conv(4 * W, 4 * W, 4, 2, 1, sn=True), L1,
             conv(4 * W, 8 * W, 3, 1, 1, sn=True), L1,
             lin(8 * W * 4 * 4, 1, sn=True)]
# the same at 28x28: two stride-2 stages from a 7x7 base
SNGAN_G28 = [lin(Z, 7 * 7 * 4 * W), bn2(4 * W), RELU,
             deconv(4 * W, 2 * W, 4, 2, 1), bn2(2 * W), RELU,
             deconv(2 * W, W, 4, 2, 1), bn2(W), RELU,
             conv(W, 1, 3, 1, 1), TANH]
SNGAN_D28 = [conv(1, W, 3, 1, 1, sn=True), L1, conv(W, W, 4, 2, 1, sn=True), L1,
             conv(W, 2 * W, 3, 1, 1, sn=True), L1, conv(2 * W, 2 * W, 4, 2, 1, sn=True), L1,
             conv(2 * W, 4 * W, 3, 1, 1, sn=True), L1,
             lin(4 * W * 7 * 7, 1, sn=True)]

# Zhao et al. 2016 (EBGAN), Sec. 2.3 / appendix: D is an auto-encoder (energy = reconstruction error),
# G the DCGAN generator. gankit's conv auto-encoder: 4x4 stride-2 convs doubling channels (BN + LeakyReLU
# 0.2, none on the input layer), a linear code, and the mirror decoder with a linear (not tanh) output.
EBGAN_D28 = [conv(1, W, 4, 2, 1), L2, conv(W, 2 * W, 4, 2, 1), bn2(2 * W), L2, lin(2 * W * 49, C),
             lin(C, 2 * W * 49), bn2(2 * W), L2, deconv(2 * W, W, 4, 2, 1), bn2(W), L2, deconv(W, 1, 4, 2, 1)]
# Berthelot et al. 2017 (BEGAN), Fig. 1: encoder/decoder with ELU, no batch norm, linear embedding
# N_h; G has the decoder's architecture (own weights) with tanh here. gankit departs from the figure
# in its resampling: 4x4 stride-2 (de)convolutions instead of 3x3 conv pairs + subsampling / nearest
# neighbour upsampling.
BEGAN_D28 = [conv(1, W, 4, 2, 1), ELU, conv(W, 2 * W, 4, 2, 1), ELU, lin(2 * W * 49, C),
             lin(C, 2 * W * 49), ELU, deconv(2 * W, W, 4, 2, 1), ELU, deconv(W, 1, 4, 2, 1)]
BEGAN_G28 = [lin(Z, 2 * W * 49), ELU, deconv(2 * W, W, 4, 2, 1), ELU, deconv(W, 1, 4, 2, 1), TANH]

# Goodfellow et al. 2014: MLP G (ReLU) and D (gankit: LeakyReLU 0.2 instead of maxout), depth 3 hidden
# layers by default, no norm; tanh output for images only. The gan preset's image section adds batch norm
# to G's hidden layers (without it G collapses to one image on MNIST; configs/gan.yaml).
MLP_G_POINTS = [lin(Z, H), RELU, lin(H, H), RELU, lin(H, H), RELU, lin(H, 2)]
MLP_D_POINTS = [lin(2, H), L2, lin(H, H), L2, lin(H, H), L2, lin(H, 1)]
MLP_G_MNIST = [lin(Z, H), bn1(H), RELU, lin(H, H), bn1(H), RELU, lin(H, H), bn1(H), RELU, lin(H, 784), TANH]
MLP_D_MNIST = [lin(784, H), L2, lin(H, H), L2, lin(H, H), L2, lin(H, 1)]
SNMLP_D_POINTS = [lin(2, H, sn=True), L1, lin(H, H, sn=True), L1, lin(H, H, sn=True), L1, lin(H, 1, sn=True)]
BEGAN_D_POINTS = [lin(2, H), ELU, lin(H, H), ELU, lin(H, H), ELU, lin(H, C),
                  lin(C, H), ELU, lin(H, H), ELU, lin(H, H), ELU, lin(H, 2)]
BEGAN_G_POINTS = [lin(Z, H), ELU, lin(H, H), ELU, lin(H, H), ELU, lin(H, 2)]
EBGAN_D_POINTS = [lin(2, H), L2, lin(H, H), L2, lin(H, H), L2, lin(H, C),
                  lin(C, H), L2, lin(H, H), L2, lin(H, H), L2, lin(H, 2)]

# Class-conditional GANs (K = 10 MNIST classes). CGAN (Mirza & Osindero 2014): the one-hot label appended to z
# and as 10 constant channels of D's input, DCGAN nets otherwise. AC-GAN (Odena et al. 2016): the same G; D is
# DCGAN's with a linear class head on the flattened last feature map next to the source head. Projection
# (Miyato & Koyama 2018): SNGAN's standard CNN with conditional BN in G, and an SN class embedding of D's
# flattened features (phi) next to its linear head (psi).
K = 10
CGAN_G28 = [label(K, K)] + [deconv(Z + K, 2 * W, 7, 1, 0, False)] + DCGAN_G28[1:]
CGAN_D28 = [label(K, K), conv(1 + K, W, 4, 2, 1)] + DCGAN_D28[1:]
ACGAN_D28 = DCGAN_D28 + [lin(2 * W * 49, K)]
# the projection preset (CPU budget): CGAN's G (the label appended to z), DCGAN's D with SN on every layer and the
# embedding; model.g_cond=cbn (the paper's) gives DCGAN's G with conditional BN
PROJECTION_G28 = CGAN_G28


def with_cbn(layers):  # a G's batch norms made class-conditional
    return [cbn(r[1], K) if r[0] == "bn2d" else r for r in layers]


PROJECTION_CBN_G28 = with_cbn(DCGAN_G28)
PROJECTION_D28 = [r[:-1] + (True,) if r[0] == "conv" else r for r in DCGAN_D28] + [emb(K, 2 * W * 49, sn=True)]
# ... and with the paper's SNGAN "standard CNN" (model.arch=sngan)
PROJECTION_SNGAN_G28 = with_cbn(SNGAN_G28)
PROJECTION_SNGAN_D28 = SNGAN_D28 + [emb(K, 4 * W * 49, sn=True)]
# CGAN with the paper's MLPs (model.arch=mlp): the label appended to z and to the flattened image
CGAN_G_MLP = [label(K, K), lin(Z + K, H), RELU, lin(H, H), RELU, lin(H, H), RELU, lin(H, 784), TANH]
CGAN_D_MLP = [label(K, K), lin(784 + K, H), L2, lin(H, H), L2, lin(H, H), L2, lin(H, 1)]
# InfoGAN (Chen et al. 2016): the 10-way categorical code one-hot appended to z and the 2 continuous codes;
# Q = FC - BN - LeakyReLU - FC (10 logits + 2 means) on D's flattened trunk (Appendix C)
INFOGAN_G28 = [label(K, K), deconv(Z + 2 + K, 2 * W, 7, 1, 0, False)] + DCGAN_G28[1:]
INFOGAN_D28 = DCGAN_D28 + [lin(2 * W * 49, H), bn1(H), L2, lin(H, K + 2)]
# ... with the paper's hidden FC layers (model.fc, Appendix C Table 1: FC 1024 in both nets; 1x1 (de)convs here)
FC = 12
INFOGAN_FC_G28 = [label(K, K), deconv(Z + 2 + K, FC, 1, 1, 0, False), bn2(FC), RELU,
                  deconv(FC, 2 * W, 7, 1, 0, False)] + DCGAN_G28[1:]
INFOGAN_FC_D28 = DCGAN_D28[:-1] + [conv(2 * W, FC, 7, 1, 0, False), bn2(FC), L2, conv(FC, 1, 1, 1, 0),
                                   lin(FC, H), bn1(H), L2, lin(H, K + 2)]
# Semi-supervised GAN (Salimans et al. 2016): DCGAN's G; D is DCGAN's without batch norm (its hidden conv keeps
# its bias) whose last layer gives the K class logits (the fake class's logit is fixed at 0)
SEMISUP_D28 = [conv(1, W, 4, 2, 1), L2, conv(W, 2 * W, 4, 2, 1), L2, conv(2 * W, K, 7, 1, 0)]
# BiGAN / ALI (Donahue et al. 2016; Dumoulin et al. 2016): DCGAN's G; the joint D(x, z) = DCGAN's D trunk whose last
# 7x7 conv gives H features of x, FC H - LeakyReLU - FC H on z, then LeakyReLU - FC H - LeakyReLU - FC 1 on both
# (the encoder's layers: tests/test_bigan.py)
BIGAN_JOINT = [lin(Z, H), L2, lin(H, H), L2, lin(2 * H, H), L2, lin(H, 1)]
BIGAN_D28 = DCGAN_D28[:-1] + [conv(2 * W, H, 7, 1, 0)] + BIGAN_JOINT
BIGAN_D_POINTS = MLP_D_POINTS[:-1] + [lin(H, H)] + BIGAN_JOINT
# Improved GAN (Salimans et al. 2016): DCGAN's G with virtual batch norm (Sec. 3.5); DCGAN's D whose output layer
# is a linear layer on the flattened features and B = 6 minibatch features of C = 3 dimensions (Sec. 3.2)
IMPROVED_G28 = [("vbn", r[1]) if r[0] == "bn2d" else r for r in DCGAN_G28]
IMPROVED_D28 = DCGAN_D28[:-1] + [("minibatch", 2 * W * 49, 6, 3), lin(2 * W * 49 + 6, 1)]

# The ResNets of Miyato et al. 2018 (Appendix B.4, Table 4; Gulrajani et al. 2017's blocks): at 32x32 G is a
# linear layer to 4x4xW, three up blocks [norm, conv3x3, norm, conv3x3, 1x1 shortcut conv] (ReLU and nearest
# upsampling are functional: tests/test_network_family.py checks the order by hand), BN, conv3x3 to the image,
# tanh; D an optimised down block, a down block, two blocks without resampling (no shortcut conv: same channels),
# then global sum pooling and a linear layer. SN on every D weight; here W = 8 channels throughout.
def gblock(cin, cout, norm, sn=False):
    return [norm(cin), conv(cin, cout, 3, 1, 1, sn=sn), norm(cout), conv(cout, cout, 3, 1, 1, sn=sn),
            conv(cin, cout, 1, 1, 0, sn=sn)]


def dblock(cin, cout, shortcut=True, sn=True):
    return [conv(cin, cout, 3, 1, 1, sn=sn), conv(cout, cout, 3, 1, 1, sn=sn)] + \
        ([conv(cin, cout, 1, 1, 0, sn=sn)] if shortcut else [])


def attention(c, sn):
    return [("attention", c, max(1, c // 8), max(1, c // 2), sn)]


RESNET_G32 = [lin(Z, 4 * 4 * W)] + gblock(W, W, bn2) * 3 + [bn2(W), conv(W, 1, 3, 1, 1)]
RESNET_D32 = dblock(1, W) + dblock(W, W) + dblock(W, W, False) + dblock(W, W, False) + [lin(W, 1, sn=True)]
# SAGAN (Zhang et al. 2018): the same nets with SN in G too and a self-attention block after the 16x16 maps:
# G's first up block (8 -> 16), D's optimised block (32 -> 16)
SAGAN_G32 = ([lin(Z, 4 * 4 * W, sn=True)] + gblock(W, W, bn2, sn=True) * 2 + attention(W, True)
             + gblock(W, W, bn2, sn=True) + [bn2(W), conv(W, 1, 3, 1, 1, sn=True)])
SAGAN_D32 = dblock(1, W) + attention(W, True) + dblock(W, W) + dblock(W, W, False) * 2 + [lin(W, 1, sn=True)]
# BigGAN (Brock et al. 2018): a shared class embedding, z (Z = 10) split 4 + 2 + 2 + 2 (the linear layer, then
# each up block), each block's norms linear in [z chunk, embedding] (SN'd projections), SN in G; the projection
# D (its embedding SN'd too)
E = 6


def lcbn(c):
    return ("lcbn", c, 2 + E, True)


BIGAN_SHARED = emb(10, E)
BIGGAN_G32 = [BIGAN_SHARED, lin(4, 4 * 4 * W, sn=True)] + gblock(W, W, lcbn, sn=True) * 3 + \
    [bn2(W), conv(W, 1, 3, 1, 1, sn=True)]
BIGGAN_D32 = RESNET_D32 + [emb(10, W, sn=True)]


# Denton et al. 2015 (LAPGAN), 28 -> 14 -> 7: G is the sampling chain, registered as the coarsest level's MLP
# (z -> 7x7, batch norm, ReLU, tanh) and then the finer levels' residual generators, finest first (3x3 convs on
# [coarse image, one noise plane], batch norm, ReLU, linear output); D is the list of the levels' discriminators,
# finest first (stride-2 3x3 convs on [residual, coarse image] down to 4x4, LeakyReLU 0.2, a linear layer), then
# the coarsest level's MLP.
LAPGAN_RES_G = [conv(2, W, 3, 1, 1), bn2(W), RELU, conv(W, W, 3, 1, 1), bn2(W), RELU, conv(W, 1, 3, 1, 1)]
LAPGAN_G28 = ([lin(Z, H), bn1(H), RELU, lin(H, H), bn1(H), RELU, lin(H, 49), TANH] + LAPGAN_RES_G * 2)
LAPGAN_D28 = ([conv(2, W, 3, 2, 1), L2, conv(W, 2 * W, 3, 2, 1), L2, conv(2 * W, 4 * W, 3, 2, 1), L2,
               lin(4 * W * 4 * 4, 1)]
              + [conv(2, W, 3, 2, 1), L2, conv(W, 2 * W, 3, 2, 1), L2, lin(2 * W * 4 * 4, 1)]
              + [lin(49, H), L2, lin(H, H), L2, lin(H, 1)])


# Zhang et al. 2016 / 2017 (StackGAN, StackGAN++) on 28 x 28, with c_dim 3 (CA: a linear layer to mu and log sigma^2),
# D's text compressed to 5, one residual block. The bag-of-words text embedding of MNIST's captions has 16 words.
# Upsampling blocks: nearest x2, 3x3 conv, batch norm, ReLU; residual blocks: conv-BN-ReLU-conv-BN, the sum, ReLU.
TXT, CD, NC = 16, 3, 5
UP2 = ("upsample", 2.0, "nearest")


def res_block(c):
    return [conv(c, c, 3, 1, 1, False), bn2(c), RELU, conv(c, c, 3, 1, 1, False), bn2(c), RELU]


def up_block(cin, cout):
    return [UP2, conv(cin, cout, 3, 1, 1, False), bn2(cout), RELU]


def text_d(side, unconditional=False):
    """Stride-2 3x3 convs to 4x4 (batch norm from the second), the compressed text joined by a 1x1 conv, 4x4 outputs."""
    layers, cin, ch = [], 1, W
    while side > 4:
        layers += [conv(cin, ch, 3, 2, 1, cin == 1)] + ([bn2(ch)] if cin != 1 else []) + [L2]
        cin, ch, side = ch, 2 * ch, (side + 1) // 2
    return layers + [lin(TXT, NC), L2, conv(cin + NC, cin, 1, 1, 0, False), bn2(cin), L2, conv(cin, 1, 4, 1, 0)] \
        + ([conv(cin, 1, 4, 1, 0)] if unconditional else [])


# Stage-I: CA, a linear layer from [z, c] to 2W x 7 x 7 (BN, ReLU), an upsampling block to 14x14, a 3x3 conv, tanh;
# Stage-II: CA, encoder to 7x7, joint conv on [h, c], residual blocks,
# two upsampling blocks to 28x28, a 3x3 conv and tanh. D: one per stage.
STACKGAN_G28 = ([lin(TXT, 2 * CD), lin(Z + CD, 2 * W * 49, False), bn2(2 * W), RELU] + up_block(2 * W, W)
                + [conv(W, 1, 3, 1, 1), TANH,
                 lin(TXT, 2 * CD), conv(1, W, 3, 1, 1), RELU, conv(W, 2 * W, 4, 2, 1, False), bn2(2 * W), RELU,
                 conv(2 * W + CD, 2 * W, 3, 1, 1, False), bn2(2 * W), RELU] + res_block(2 * W)
                + up_block(2 * W, W) + up_block(W, W // 2) + [conv(W // 2, 1, 3, 1, 1), TANH])
STACKGAN_D28 = text_d(14) + text_d(28)
# The tree: CA, a linear layer from [z, c] to 4W x 7 x 7 (BN, ReLU), two branches (joint conv on [h, c], a residual
# block, an upsampling block halving the channels), an image head (3x3 conv, tanh) per size; a D per size with
# conditional and unconditional heads.
STACKGANPP_G28 = ([lin(TXT, 2 * CD), lin(Z + CD, 4 * W * 49, False), bn2(4 * W), RELU]
                  + [conv(4 * W + CD, 4 * W, 3, 1, 1, False), bn2(4 * W), RELU] + res_block(4 * W)
                  + up_block(4 * W, 2 * W)
                  + [conv(2 * W + CD, 2 * W, 3, 1, 1, False), bn2(2 * W), RELU] + res_block(2 * W)
                  + up_block(2 * W, W)
                  + [conv(4 * W, 1, 3, 1, 1), TANH, conv(2 * W, 1, 3, 1, 1), TANH, conv(W, 1, 3, 1, 1), TANH])
STACKGANPP_D28 = text_d(7, True) + text_d(14, True) + text_d(28, True)
STACK_TINY = [f"model.c_dim={CD}", f"model.compressed={NC}", "model.res_blocks=1"]


@pytest.mark.parametrize("name, info, extra, g_layers, d_layers", [
    ("dcgan", MNIST, [], DCGAN_G28, DCGAN_D28),
    ("dcgan", RGB32, [], DCGAN_G32, DCGAN_D32),
    ("wgan-gp", MNIST, [], DCGAN_G28, WGANGP_D28),
    ("dragan", MNIST, [], DCGAN_G28, WGANGP_D28),
    ("sngan", RGB32, [], SNGAN_G32, SNGAN_D32),
    ("sngan", MNIST, [], SNGAN_G28, SNGAN_D28),
    ("ebgan", MNIST, [], DCGAN_G28, EBGAN_D28),
    ("began", MNIST, [], BEGAN_G28, BEGAN_D28),
    ("gan", POINTS, [], MLP_G_POINTS, MLP_D_POINTS),
    ("gan", MNIST, [], MLP_G_MNIST, MLP_D_MNIST),
    ("sngan", POINTS, [], MLP_G_POINTS, SNMLP_D_POINTS),
    ("began", POINTS, [], BEGAN_G_POINTS, BEGAN_D_POINTS),
    ("ebgan", POINTS, [], MLP_G_POINTS, EBGAN_D_POINTS),
    ("cgan", MNIST, [], CGAN_G28, CGAN_D28),
    ("cgan", MNIST, ["model.arch=mlp"], CGAN_G_MLP, CGAN_D_MLP),
    ("acgan", MNIST, [], CGAN_G28, ACGAN_D28),
    ("projection", MNIST, [], PROJECTION_G28, PROJECTION_D28),
    ("projection", MNIST, ["model.g_cond=cbn"], PROJECTION_CBN_G28, PROJECTION_D28),
    ("projection", MNIST, ["model.arch=sngan", "model.d_slope=0.1", "model.g_cond=cbn"],
     PROJECTION_SNGAN_G28, PROJECTION_SNGAN_D28),
    ("infogan", MNIST, [f"model.q_hidden={H}", "model.fc=0"], INFOGAN_G28, INFOGAN_D28),
    ("infogan", MNIST, [f"model.q_hidden={H}", f"model.fc={FC}"], INFOGAN_FC_G28, INFOGAN_FC_D28),
    ("semisupervised-gan", MNIST, [], DCGAN_G28, SEMISUP_D28),
    ("bigan", MNIST, [], DCGAN_G28, BIGAN_D28),
    ("bigan", POINTS, [], MLP_G_POINTS, BIGAN_D_POINTS),
    ("triplegan", MNIST, [], CGAN_G28, CGAN_D28),  # CGAN's G and D (the classifier C: tests/test_triplegan.py)
    ("vaegan", MNIST, [], DCGAN_G28, DCGAN_D28),   # DCGAN's G and D (the encoder: the ALI one, tests/test_bigan.py)
    ("improved-gan", MNIST, ["model.minibatch=6", "model.minibatch_dim=3"], IMPROVED_G28, IMPROVED_D28),
    ("improved-gan", MNIST, ["model.minibatch=0", "model.vbn=false"], DCGAN_G28, DCGAN_D28),
    ("sngan-resnet", FASHION32, [], RESNET_G32, RESNET_D32),
    ("ssgan", FASHION32, [], RESNET_G32, RESNET_D32),  # (the rotation head: tests/test_network_family.py)
    ("sagan", FASHION32, [], SAGAN_G32, SAGAN_D32),
    ("sagan", FASHION32, ["model.attention=0"], [lin(Z, 4 * 4 * W, sn=True)] + gblock(W, W, bn2, sn=True) * 3
     + [bn2(W), conv(W, 1, 3, 1, 1, sn=True)], RESNET_D32),
    ("biggan", FASHION32, [f"model.shared_dim={E}"], BIGGAN_G32, BIGGAN_D32),
    ("lapgan", MNIST, [], LAPGAN_G28, LAPGAN_D28),
    ("stackgan", MNIST, STACK_TINY, STACKGAN_G28, STACKGAN_D28),
    ("stackgan++", MNIST, STACK_TINY, STACKGANPP_G28, STACKGANPP_D28),
], ids=["dcgan-28", "dcgan-32rgb", "wgan-gp-28", "dragan-28", "sngan-32rgb", "sngan-28", "ebgan-28", "began-28", "gan-points",
        "gan-28", "sngan-points", "began-points", "ebgan-points", "cgan-28", "cgan-mlp-28", "acgan-28", "projection-28",
        "projection-cbn-28", "projection-sngan-28",
        "infogan-28", "infogan-fc-28", "semisupervised-gan-28", "bigan-28", "bigan-points", "triplegan-28",
        "vaegan-28", "improved-gan-28", "improved-gan-off-28", "sngan-resnet-32", "ssgan-32", "sagan-32",
        "sagan-no-attention-32", "biggan-32", "lapgan-28", "stackgan-28", "stackgan++-28"])
def test_layer_lists(name, info, extra, g_layers, d_layers):
    over = no_mlp_keys(name, data_of(info) + [f"model.g_width={W}", f"model.d_width={W}", f"model.z_dim={Z}",
                                              f"model.hidden={H}"])
    if name in ENERGY:
        over.append(f"model.code_dim={C}")
    gan = GANS.get(name)(resolve(name, over + extra), info)
    assert describe(gan.G) == g_layers
    assert describe(gan.D) == d_layers


def test_norm_layers_of_the_image_discriminators():
    over = ["data=mnist", "model.g_width=4", "model.d_width=4", "model.z_dim=4"]
    d = GANS.get("dcgan")(resolve("dcgan", over), MNIST).D
    mods = [m for m in d.net]
    assert not isinstance(mods[1], nn.BatchNorm2d) and isinstance(mods[0], nn.Conv2d)
    convs = [i for i, m in enumerate(mods) if isinstance(m, nn.Conv2d)]
    assert all(isinstance(mods[i + 1], nn.BatchNorm2d) for i in convs[1:-1])  # every hidden conv, not the first
    gp = GANS.get("wgan-gp")(resolve("wgan-gp", over), MNIST).D
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in gp.modules())
    sn = GANS.get("sngan")(resolve("sngan", over), MNIST).D
    assert not any(isinstance(m, (nn.modules.batchnorm._BatchNorm, nn.GroupNorm, nn.InstanceNorm2d, nn.LayerNorm))
                   for m in sn.modules())
    weight_layers = {id(m) for m in sn.modules() if isinstance(m, (nn.Conv2d, nn.Linear))}
    assert len(weight_layers) == 6 and weight_layers == {id(m) for _, m, _ in sn_layers(sn)}


# =============================================================================================
# 7. priors
# =============================================================================================
# z_dim on images (the presets' paper settings, else the GAN's default); every 2-D section uses z in R^8
Z_DIM = {"gan": 100, "dcgan": 100, "wgan": 100, "wgan-gp": 100, "lsgan": 100, "dragan": 100, "fgan": 100,
         "rgan": 100, "ragan": 100, "hinge-gan": 100, "sngan": 128, "ebgan": 100, "began": 64,
         "cgan": 100, "acgan": 100, "projection": 100, "infogan": 62, "semisupervised-gan": 100, "bigan": 50,
         "triplegan": 100, "vaegan": 32, "improved-gan": 100, "sngan-resnet": 128, "sagan": 128, "ssgan": 128,
         "biggan": 128, "s2gan": 128, "s2gan-co": 128, "s3gan": 128, "lapgan": 100, "progan": 128, "stylegan": 128, "stackgan": 100, "stackgan++": 100}
Z_DIM_POINTS = 2
# what sample_z draws besides the noise: InfoGAN's continuous codes (its categorical code is G's label), LAPGAN's
# noise planes of its finer levels (one 28x28 and one 14x14 plane on MNIST), the StackGANs' conditioning-augmentation
# noise (c_dim 32 per stage: two in StackGAN, one in StackGAN++)
CODES = {"infogan": 2, "lapgan": 28 * 28 + 14 * 14, "stackgan": 64, "stackgan++": 32}
UNIFORM = ("began", "infogan")  # U[-1, 1]: BEGAN's z; InfoGAN's noise (the authors' code) and continuous codes


#: the image-to-image translators and CoGAN train on translation or attribute sets and are scored by their own task
#: metrics: their wiring (presets, phases, nets, init) is tested in tests/test_translation.py, which checks that it
#: covers every one of them
TRANSLATORS = {n for n in GANS.names() if GANS.get(n).own_evaluation}


def test_every_named_gan_is_in_the_prior_table():
    assert set(GANS.names()) - TRANSLATORS == set(Z_DIM)


@pytest.mark.parametrize("name, info", [(n, i) for n in sorted(Z_DIM) for i in (MNIST, POINTS)
                                         if not (n in IMAGE_ONLY and i is POINTS)],
                         ids=lambda v: v if isinstance(v, str) else ("images" if v is MNIST else "points"))
def test_priors_and_z_dim(name, info):
    """N(0, I) for every GAN except BEGAN's U[-1, 1]^{N_z} (Berthelot et al. 2017, Sec. 4.1) and InfoGAN's
    U[-1, 1] noise and continuous codes (Chen et al. 2016, Sec. 7.2; github.com/openai/InfoGAN); z_dim
    from the preset's section for the data (or the GAN's default)."""
    if name in AT32 and info is MNIST:
        info = FASHION32
    cfg = resolve(name, no_mlp_keys(name, data_of(info) + ["model.g_width=4", "model.d_width=4", "model.hidden=4"])
                  + (["model.code_dim=4"] if name in ENERGY else []))
    gan = GANS.get(name)(cfg, info)
    assert gan.z_dim == (Z_DIM[name] if info is not POINTS else Z_DIM_POINTS)
    assert cfg.model["z_dim"] == gan.z_dim
    n = 20000
    torch.manual_seed(0)
    draws = [gan.sample_z(n), gan.sample_z(n, generator=torch.Generator().manual_seed(1))]
    assert not torch.equal(draws[0], draws[1])
    for z in draws:
        assert z.shape == (n, gan.z_dim + CODES.get(name, 0)) and z.dtype == torch.float32
        z = z.double().flatten()
        m = z.numel()
        if name in UNIFORM:
            assert z.min() >= -1 and z.max() <= 1 and z.min() < -0.999 and z.max() > 0.999
            assert abs(z.mean().item()) < 5 * math.sqrt(1 / 3 / m)
            assert abs(z.var().item() - 1 / 3) < 5 * math.sqrt(4 / 45 / m)  # Var(U^2) = 1/5 - 1/9
        else:
            assert abs(z.mean().item()) < 5 / math.sqrt(m)
            assert abs(z.var().item() - 1) < 5 * math.sqrt(2 / m)
            assert z.min() < -3.5 and z.max() > 3.5
            assert abs(((z ** 4).mean() - 3).item()) < 5 * math.sqrt(96 / m)  # kurtosis 3: normal, not uniform


# =============================================================================================
# 8. terms inside a step
# =============================================================================================
def test_began_k_t_by_hand_over_two_d_updates(tmp_path):
    """k_{t+1} = clip(k_t + lambda_k (gamma L(x) - L(G(z))), 0, 1) after every D update, from that
    update's batch means; the D loss of an update uses the k of the update before; G leaves k alone."""
    k0, lam, gamma = 0.5, 0.05, 0.7
    tr = make_trainer(tmp_path, "began", f"model.k_init={k0}", f"model.lambda_k={lam}", f"model.gamma={gamma}",
                      "train.n_critic=2")
    gan = tr.gan
    seen = []
    d_phase, g_phase = tr.phases

    def d_fn(real, labels, fn=d_phase.fn):
        loss, logs = fn(real, labels)
        seen.append(("d", gan.k.item(), loss.item(), {k: v.item() for k, v in logs.items()}))
        return loss, logs

    def g_fn(real, labels, fn=g_phase.fn):
        seen.append(("g", gan.k.item()))
        return fn(real, labels)

    d_phase.fn, g_phase.fn = d_fn, g_fn
    tr.train_step()
    assert [s[0] for s in seen] == ["d", "d", "g"]
    k = k0
    for _, k_now, loss, logs in seen[:2]:
        assert k_now == pytest.approx(k, rel=1e-6) and logs["k"] == pytest.approx(k, rel=1e-6)
        assert loss == pytest.approx(logs["l_real"] - k * logs["l_fake"], rel=1e-5)
        assert logs["M"] == pytest.approx(logs["l_real"] + abs(gamma * logs["l_real"] - logs["l_fake"]), rel=1e-5)
        k = min(max(k + lam * (gamma * logs["l_real"] - logs["l_fake"]), 0.0), 1.0)
    assert k != pytest.approx(k0, abs=1e-6)
    assert seen[2][1] == pytest.approx(k, rel=1e-6)  # the G update sees k after both D updates
    assert gan.k.item() == pytest.approx(k, rel=1e-6)  # and does not move it


def test_ebgan_pulling_away_term_is_added_to_the_g_loss_with_its_weight(tmp_path):
    """Zhao et al. 2016 eq. (6): L_G = E D(G(z)) + lambda_PT * PT(S), S the encoder codes of G's batch."""
    w = 0.3
    tr = make_trainer(tmp_path, "ebgan", f"model.pt_weight={w}", "model.code_dim=6")
    gan = tr.gan
    real, _ = tr.loader.next()
    torch.manual_seed(5)
    loss, logs = gan.g_step(real, None)
    torch.manual_seed(5)
    e, codes = gan.D.energy_and_code(gan.G(gan.sample_z(real.shape[0])))
    pt = pulling_away_term(codes)
    assert 0 < pt.item() < 1
    assert loss.item() == pytest.approx((e.mean() + w * pt).item(), rel=1e-6)
    assert logs["pt"].item() == pytest.approx(pt.item(), rel=1e-6)
    assert logs["g_loss"].item() == pytest.approx(e.mean().item(), rel=1e-6)
    gan.p.pt_weight = 0.0
    torch.manual_seed(5)
    loss0, logs0 = gan.g_step(real, None)
    assert "pt" not in logs0 and loss0.item() == pytest.approx(e.mean().item(), rel=1e-6)
    assert loss.item() - loss0.item() == pytest.approx(w * pt.item(), rel=1e-4)


@pytest.mark.parametrize("name, extra, terms", [
    ("gan", ["penalties={r1: 2.0, gp: 3.0}"], {"r1": 2.0, "gp": 3.0}),
    ("wgan-gp", [], {"gp": 0.1}),  # make_trainer runs on 2-D data: the presets' by_data.points weights
    ("dragan", [], {"dragan": 0.1}),
    ("began", ["penalties={r1: 0.5}"], {"r1": 0.5}),
    ("ebgan", ["penalties={r2: 1.5}"], {"r2": 1.5}),
], ids=["gan-r1+gp", "wgan-gp", "dragan", "began-r1", "ebgan-r2"])
def test_penalties_are_added_to_the_d_loss_with_their_weights(tmp_path, name, extra, terms):
    """GAN.add_penalties: D loss = objective (logged as d_loss) + sum of weight * penalty (each logged)."""
    tr = make_trainer(tmp_path, name, *extra)
    gan = tr.gan
    assert [(n, w) for n, _, w in gan.penalties] == list(terms.items())
    assert all(fn is PENALTIES.get(n) for n, fn, _ in gan.penalties)
    real, _ = tr.loader.next()
    torch.manual_seed(3)
    loss, logs = gan.d_step(real, None)
    assert set(terms) <= set(logs)
    assert all(logs[n].item() > 1e-6 for n in terms)
    expected = logs["d_loss"].item() + sum(w * logs[n].item() for n, w in terms.items())
    assert loss.item() == pytest.approx(expected, rel=1e-5)
    if name == "gan":  # the logged parts are the objective and the penalty themselves
        torch.manual_seed(3)
        with torch.no_grad():
            fake = gan.G(gan.sample_z(real.shape[0]))
        obj = gan.objective.d_loss(gan.D(real), gan.D(fake))
        assert logs["d_loss"].item() == pytest.approx(obj.item(), rel=1e-6)
        assert logs["r1"].item() == pytest.approx(PENALTIES.get("r1")(gan.D, real, fake).item(), rel=1e-5)


# =============================================================================================
# 9. the presets of the named GANs, and that they reach the GAN and the trainer
# =============================================================================================
ADAM = "adam"
# The images rows: name -> objective, penalties, n_critic, g optimiser, d optimiser, batch_size, steps,
# model subset; an optimiser is (name, lr, betas, schedule), betas None for RMSProp.
PRESETS = {
    "gan": ("nonsaturating", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
            64, 3000, {"z_dim": 100, "hidden": 256, "g_depth": 3, "d_depth": 3}),
    "dcgan": ("nonsaturating", {}, 1, (ADAM, 5e-4, (0.5, 0.999), "constant"), (ADAM, 5e-4, (0.5, 0.999), "constant"),
              64, 12000, {"z_dim": 100, "g_width": 16, "d_width": 16}),
    "wgan": ("wgan", {}, 5, ("rmsprop", 5e-5, None, "constant"), ("rmsprop", 5e-5, None, "constant"),
             64, 3000, {"d_clip": 0.01}),
    "wgan-gp": ("wgan", {"gp": 10.0}, 5, (ADAM, 1e-4, (0.0, 0.9), "constant"), (ADAM, 1e-4, (0.0, 0.9), "constant"),
                64, 3000, {"d_norm": "layer"}),
    "dragan": ("nonsaturating", {"dragan": 10.0}, 1, (ADAM, 1e-4, (0.5, 0.9), "constant"),
               (ADAM, 1e-4, (0.5, 0.9), "constant"), 64, 3000, {"d_norm": "auto"}),
    "lsgan": ("lsgan", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
              64, 3000, {}),
    "fgan": ("fgan-js", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
             64, 3000, {}),
    "rgan": ("rsgan", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
             64, 3000, {}),
    "ragan": ("rasgan", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
              64, 3000, {}),
    "hinge-gan": ("hinge", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
                  64, 3000, {}),
    "sngan": ("hinge", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
              64, 3000, {"z_dim": 128, "g_width": 64, "d_width": 64, "d_sn": True, "d_slope": 0.1}),
    "ebgan": ("ebgan", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
              64, 3000, {"z_dim": 100, "g_width": 64, "d_width": 64, "code_dim": 64, "margin": 0.5,
                         "pt_weight": 0.1, "d_norm": "batch"}),
    "began": ("began", {}, 1, (ADAM, 1e-4, (0.5, 0.999), "constant"), (ADAM, 1e-4, (0.5, 0.999), "constant"),
              16, 3000, {"z_dim": 64, "code_dim": 64, "g_width": 64, "d_width": 64, "gamma": 1.0,
                         "lambda_k": 0.05, "k_init": 0.0, "g_norm": "none"}),
    "cgan": ("nonsaturating", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
             64, 10000, {"arch": "dcgan", "z_dim": 100, "g_width": 16, "d_width": 16, "g_cond": "concat",
                         "d_cond": "concat", "label_dim": 0, "matching_aware": True}),
    "acgan": ("nonsaturating", {}, 1, (ADAM, 5e-4, (0.5, 0.999), "constant"), (ADAM, 5e-4, (0.5, 0.999), "constant"),
              64, 20000, {"arch": "dcgan", "z_dim": 100, "g_width": 16, "d_width": 16, "g_cond": "concat",
                          "class_weight": 1.0}),
    "projection": ("hinge", {}, 1, (ADAM, 2e-4, (0.0, 0.9), "constant"), (ADAM, 2e-4, (0.0, 0.9), "constant"),
                   64, 10000, {"arch": "dcgan", "z_dim": 100, "g_width": 16, "d_width": 16, "g_cond": "concat",
                              "d_cond": "projection", "d_sn": True, "d_slope": 0.2, "matching_aware": False}),
    "infogan": ("nonsaturating", {}, 1, (ADAM, 1e-3, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
                128, 10000, {"arch": "dcgan", "z_dim": 62, "categories": 10, "continuous": 2, "noise": "uniform",
                            "g_width": 64, "d_width": 64, "fc": 1024, "q_hidden": 128, "lambda_cat": 1.0, "lambda_cont": 1.0,
                            "cont_std": "fixed", "g_cond": "concat"}),
    "improved-gan": ("nonsaturating-ls", {}, 1, (ADAM, 5e-4, (0.5, 0.999), "constant"),
                     (ADAM, 5e-4, (0.5, 0.999), "constant"), 64, 12000,
                     {"z_dim": 100, "g_width": 16, "d_width": 16, "feature_matching": False, "minibatch": 100,
                      "minibatch_dim": 5, "historical": 0.0, "vbn": True, "vbn_size": 64}),
    "semisupervised-gan": ("nonsaturating", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"),
                           (ADAM, 2e-4, (0.5, 0.999), "constant"), 100, 6000,
                           {"arch": "dcgan", "z_dim": 100, "g_width": 32, "d_width": 32, "d_norm": "none",
                            "d_input_noise": 0.3, "d_noise": 0.0, "unsup_weight": 1.0}),
    "bigan": ("nonsaturating", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
              128, 6000, {"arch": "auto", "encoder": "deterministic", "prior": "normal", "z_dim": 50, "g_width": 32,
                          "d_width": 32, "e_width": 0, "hidden": 256, "d_dropout": 0.0}),
    "triplegan": ("nonsaturating", {}, 1, (ADAM, 3e-4, (0.5, 0.999), "constant"), (ADAM, 3e-4, (0.5, 0.999), "constant"),
                  100, 6000, {"arch": "dcgan", "z_dim": 100, "g_width": 16, "d_width": 16, "c_width": 32,
                              "g_cond": "concat", "d_cond": "concat", "c_norm": "none", "alpha": 0.5, "pseudo": "sample",
                              "alpha_p": 0.1, "alpha_p_start": 2000}),
    "vaegan": ("nonsaturating", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
               64, 6000, {"arch": "dcgan", "z_dim": 32, "g_width": 32, "d_width": 32, "e_width": 0, "gamma": 1e-3,
                          "gan_weight": 1.0, "pixel_sigma": 0.3}),
    # Miyato et al. 2018's ResNet setting: hinge, n_dis 5, Adam(2e-4, (0, 0.9)); widths 32 for the CPU
    "sngan-resnet": ("hinge", {}, 5, (ADAM, 2e-4, (0.0, 0.9), "constant"), (ADAM, 2e-4, (0.0, 0.9), "constant"),
                     64, 3000, {"z_dim": 128, "g_width": 32, "d_width": 32, "g_sn": False, "d_sn": True}),
    # Zhang et al. 2018: TTUR (G 1e-4, D 4e-4, betas (0, 0.9)), n_dis 1, SN in both, attention on the 16 x 16 maps
    "sagan": ("hinge", {}, 1, (ADAM, 1e-4, (0.0, 0.9), "constant"), (ADAM, 4e-4, (0.0, 0.9), "constant"),
              64, 6000, {"z_dim": 128, "g_width": 32, "d_width": 32, "attention": 16, "g_sn": True, "d_sn": True}),
    # Chen et al. 2019: non-saturating, n_dis 2, Adam(2e-4, (0, 0.999)), rotation weights 1 (D) and 0.2 (G)
    "ssgan": ("nonsaturating", {}, 2, (ADAM, 2e-4, (0.0, 0.999), "constant"), (ADAM, 2e-4, (0.0, 0.999), "constant"),
              64, 4000, {"z_dim": 128, "g_width": 32, "d_width": 32, "g_sn": False, "d_sn": True, "rotation_d": 1.0,
                         "rotation_g": 0.2}),
    # Brock et al. 2018: hinge, 2 D steps, Adam(G 5e-5, D 2e-4, betas (0, 0.999)), shared embedding, hierarchical z,
    # orthogonal regularisation 1e-4, SN in both
    "biggan": ("hinge", {}, 2, (ADAM, 5e-5, (0.0, 0.999), "constant"), (ADAM, 2e-4, (0.0, 0.999), "constant"),
               64, 4000, {"z_dim": 128, "g_width": 32, "d_width": 32, "shared_dim": 128, "hierarchical": True,
                          "attention": 0, "ortho": 1e-4, "g_sn": True, "d_sn": True}),
    # Lucic et al. 2019: BigGAN's settings with 10 % of the labels; the labeller: a classifier C pre-trained on
    # rotations then linear on the labelled images (s2gan), D's class head (s2gan-co), D's class head and the rotation
    # loss (s3gan)
    **{name: ("hinge", {}, 2, (ADAM, 5e-5, (0.0, 0.999), "constant"), (ADAM, 2e-4, (0.0, 0.999), "constant"), 64, 4000,
              {"z_dim": 128, "g_width": 32, "d_width": 32, "shared_dim": 128, "hierarchical": True, "attention": 0,
               "ortho": 1e-4, "g_sn": True, "d_sn": True, "class_weight": 1.0, "rotation_d": rot_d, "rotation_g": rot_g,
               **own})
       for name, rot_d, rot_g, own in (("s2gan", 0.0, 0.0, {"c_selfsup": 2000, "c_probe": 1000, "c_head": "linear"}),
                                       ("s2gan-co", 0.0, 0.0, {}), ("s3gan", 1.0, 0.2, {}))},
    # Denton et al. 2015: a GAN per pyramid level (28 -> 14 -> 7); Adam(2e-4, 0.5) in place of the paper's SGD
    "lapgan": ("nonsaturating", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
               64, 6000, {"levels": 3, "z_dim": 100, "hidden": 256, "depth": 2, "g_width": 32, "g_layers": 3,
                          "d_width": 32, "noise_planes": 1}),
    # Karras et al. 2017: WGAN-GP (lambda 10) + drift 0.001, n_critic 1, Adam(1e-3, (0, 0.99)); 24,000 images per
    # phase (paper 800k), channels min(64, 256 / side)
    "progan": ("wgan", {"gp": 10.0}, 1, (ADAM, 1e-3, (0.0, 0.99), "constant"), (ADAM, 1e-3, (0.0, 0.99), "constant"),
               64, 6000, {"z_dim": 128, "width_base": 256, "max_width": 64, "phase_images": 24000, "drift": 0.001,
                          "mbstd_group": 4}),
    # Karras et al. 2018: non-saturating + R1 (gamma 10), mapping 8 layers, mixing 0.9; ProGAN's growth and optimisers
    "stylegan": ("nonsaturating", {"r1": 10.0}, 1, (ADAM, 1e-3, (0.0, 0.99), "constant"),
                 (ADAM, 1e-3, (0.0, 0.99), "constant"), 64, 6000,
                 {"z_dim": 128, "w_dim": 128, "mapping_layers": 8, "mixing": 0.9, "w_avg_beta": 0.995,
                  "truncation_cutoff": 0, "width_base": 256, "max_width": 64, "phase_images": 24000, "drift": 0.0,
                  "progressive": True}),
    # Zhang et al. 2016: Adam(2e-4, 0.5), batch 64, KL weight 1, matching-aware D; Stage-I then Stage-II, half the
    # steps each (stage1_steps null)
    "stackgan": ("nonsaturating", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"), (ADAM, 2e-4, (0.5, 0.999), "constant"),
                 64, 6000, {"z_dim": 100, "c_dim": 32, "compressed": 32, "g_width": 32, "d_width": 32, "res_blocks": 2,
                            "kl_weight": 1.0, "matching_aware": True, "stage1_steps": None}),
    # Zhang et al. 2017: the same optimiser; three sizes, unconditional weight 1, no colour consistency for text
    "stackgan++": ("nonsaturating", {}, 1, (ADAM, 2e-4, (0.5, 0.999), "constant"),
                   (ADAM, 2e-4, (0.5, 0.999), "constant"), 64, 6000,
                   {"z_dim": 100, "c_dim": 32, "compressed": 32, "g_width": 16, "d_width": 32, "res_blocks": 2,
                    "kl_weight": 1.0, "matching_aware": True, "scales": 3, "uncond_weight": 1.0, "color_weight": 0.0}),
}
# GANs with optimiser groups and phases besides g and d: Triple-GAN's classifier C (group c, updated after D, before G)
# and VAE/GAN's encoder E (group e, updated after D, before G)
OWN_GROUPS = {"triplegan": {"c": (ADAM, 3e-4, (0.5, 0.999), "constant")},
              "vaegan": {"e": (ADAM, 2e-4, (0.5, 0.999), "constant")},
              "s2gan": {"c": (ADAM, 2e-4, (0.5, 0.999), "constant")}}


# S2GAN's C is trained before the GAN with optim.c (model.c_selfsup, the preset) and then fixed: no phase of its own
TRAINED_BEFORE = {"s2gan"}


def phases_of(name, n_critic):
    """The (group, repeat) of each phase of a named GAN, in order."""
    own = [] if name in TRAINED_BEFORE else [(g, 1) for g in OWN_GROUPS.get(name, {})]
    return [("d", n_critic)] + own + [("g", 1)]


def optimisers_of(name, og, od):
    """(group, optimiser row) for every optimiser group of a named GAN."""
    return [("g", og), ("d", od)] + list(OWN_GROUPS.get(name, {}).items())
# The 2-D rows (by_data.points of every preset but dcgan's): the same objective, n_critic 1, a shared
# optimiser setting and MLP nets 3 x 128 with z in R^2, batch 512, 8,000 steps; plus each GAN's own
# departures (POINTS_OWN: penalties, optimiser, model keys).
POINTS_OPTIM = (ADAM, 2e-3, (0.5, 0.999), "linear")
POINTS_MODEL = {"arch": "mlp", "z_dim": 2, "hidden": 128, "g_depth": 3, "d_depth": 3}
POINTS_OWN = {
    "wgan": {"model": {"d_clip": 0.01}},
    "wgan-gp": {"penalties": {"gp": 0.1}, "optim": (ADAM, 1e-3, (0.5, 0.9), "linear"), "model": {"d_norm": "layer"}},
    "dragan": {"penalties": {"dragan": 0.1}},
    "sngan": {"model": {"d_sn": True, "d_slope": 0.1}},
    "ebgan": {"model": {"code_dim": 8, "margin": 0.05, "pt_weight": 0.1}},
    "began": {"model": {"code_dim": 8, "gamma": 0.9, "lambda_k": 1.0, "k_init": 0.0}},
    "bigan": {"model": {"e_depth": 3, "encoder": "deterministic"}},
}
DEFAULT_DATA = {name: "ring8" if name == "gan" else "fashion-mnist" if name in AT32 else "mnist"
                for name in PRESETS}  # `gankit train NAME`


def preset_row(name, kind):
    objective, penalties, n_critic, og, od, batch, steps, model = PRESETS[name]
    if kind == "points":
        own = POINTS_OWN.get(name, {})
        optim = own.get("optim", POINTS_OPTIM)
        return (objective, own.get("penalties", penalties), 1, optim, optim, 512, 8000,
                {**POINTS_MODEL, **own.get("model", {})})
    return objective, penalties, n_critic, og, od, batch, steps, model


def test_every_named_gan_has_a_preset_row():
    assert set(GANS.names()) - TRANSLATORS == set(PRESETS)


@pytest.mark.parametrize("name, kind", [(n, k) for n in sorted(PRESETS) for k in ("images", "points")
                                         if not (n in IMAGE_ONLY and k == "points")])
def test_preset_settings(name, kind):
    """Each preset as its YAML states it, for images (data=mnist) and for 2-D points (data=ring8),
    the optimisers made from it, and the GAN built from it."""
    from gankit.train.optim import make_optimizer

    assert resolve(name).data.name == DEFAULT_DATA[name]
    objective, penalties, n_critic, og, od, batch, steps, model = preset_row(name, kind)
    cfg = resolve(name, ["data=mnist" if kind == "images" else "data=ring8"])
    assert cfg.gan == name and cfg.objective == objective and cfg.penalties == penalties
    assert (cfg.train.n_critic, cfg.batch_size, cfg.steps) == (n_critic, batch, steps)
    assert {k: cfg.model[k] for k in model} == model
    classes = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    assert set(cfg.optim) == {g for g, _ in optimisers_of(name, og, od)}
    for g, (oname, lr, betas, schedule) in optimisers_of(name, og, od):
        o = cfg.optim[g]
        assert (o.name, o.lr, o.schedule) == (oname, lr, schedule), g
        if betas is not None:
            assert tuple(o.betas) == betas, g
        assert o.weight_decay == 0.0 and o.momentum == 0.0
        opt = make_optimizer(o, [nn.Parameter(torch.zeros(1))])
        assert type(opt) is classes[oname] and opt.param_groups[0]["lr"] == lr
        if betas is not None:
            assert tuple(opt.param_groups[0]["betas"]) == betas
        else:
            assert (opt.param_groups[0]["alpha"], opt.param_groups[0]["momentum"]) == (0.99, 0.0)
    small = no_mlp_keys(name, ["model.g_width=4", "model.d_width=4", "model.hidden=4"])
    gan = GANS.get(name)(resolve(name, ["data=mnist" if kind == "images" else "data=ring8"] + small),
                         (FASHION32 if name in AT32 else MNIST) if kind == "images" else POINTS)
    assert gan.objective.name == objective
    assert {n: w for n, _, w in gan.penalties} == penalties
    assert [(p.group, p.repeat) for p in gan.phases()] == phases_of(name, n_critic)


@pytest.mark.parametrize("name", sorted(PRESETS))
def test_presets_reach_the_gan_and_the_optimisers(tmp_path, request, name):
    """Through a Trainer (2-D data; dcgan on tiny MNIST): the preset's objective, penalties,
    n_critic and per-group optimisers are the ones that train."""
    kind = "images" if name in IMAGE_ONLY else "points"
    objective, penalties, n_critic, og, od, *_ = preset_row(name, kind)
    if kind == "images":
        extra = ["data=mnist", f"data.root={request.getfixturevalue('mnist_root')}"]
    else:
        extra = ["data=ring8"]
    base = ["data.size=64", "batch_size=8", "device=cpu", "train.progress=false",
            "model.hidden=8", "model.g_width=4", "model.d_width=4"]
    tr = make_trainer(tmp_path, name, *extra, base=base)
    gan = tr.gan
    assert gan.objective.name == objective
    assert {n: w for n, _, w in gan.penalties} == penalties
    assert [(p.group, p.repeat) for p in tr.phases] == phases_of(name, n_critic)
    assert gan.z_dim == (Z_DIM[name] if kind == "images" else Z_DIM_POINTS)
    classes = {"adam": torch.optim.Adam, "rmsprop": torch.optim.RMSprop}
    trained = [(g, row) for g, row in optimisers_of(name, og, od) if g in ("g", "d") or name not in TRAINED_BEFORE]
    assert set(tr.optims) == {g for g, _ in trained}
    for g, (oname, lr, betas, schedule) in trained:
        opt = tr.optims[g]
        assert type(opt) is classes[oname], g
        assert len(opt.param_groups) == 1
        assert opt.param_groups[0]["lr"] == lr
        if betas is not None:
            assert tuple(opt.param_groups[0]["betas"]) == betas
        if oname == "rmsprop":
            assert opt.param_groups[0]["alpha"] == 0.99 and opt.param_groups[0]["momentum"] == 0.0
    if name == "wgan":
        assert gan.p.d_clip == 0.01
    if name == "began":
        assert (gan.p.gamma, gan.p.lambda_k, gan.k.item()) == (0.9, 1.0, 0.0)  # the 2-D section's
    if name == "ebgan":  # the 2-D section's margin
        assert (gan.p.margin, gan.p.pt_weight) == (0.05, 0.1)
        assert gan.objective.d_loss(torch.tensor([0.0]), torch.tensor([0.02])).item() == pytest.approx(0.03)
